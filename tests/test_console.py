"""The ``gapexplore`` console script as a user types it: in a scratch folder, with no
PYTHONPATH, the user's own modules beside them."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from ase.db import connect

GAPEXPLORE = str(Path(sys.executable).parent / "gapexplore")
TINY = ["--gap", "light", "--soap", "fast", "--atoms", "4", "8", "--candidates", "8",
        "--select", "6", "--iterations", "2", "--fmax", "0.1", "--max-steps", "30",
        "--seed", "5", "--quiet"]

#: A reference of the user's own that kills its process (os._exit) on about 5 % of
#: structures, chosen by a hash of the structure, and on two of the dimers (so that every
#: run meets it); it logs each calculation it finishes.
CRASHING = '''
import hashlib, os
from ase.calculators.calculator import Calculator, all_changes
from gapexplore.label import reference_calculator


def structure_hash(atoms):
    return hashlib.sha256(atoms.positions.round(6).tobytes()).hexdigest()[:16]


class Crashing(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self):
        super().__init__()
        self.sw = reference_calculator("sw-si")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        dimer = len(self.atoms) == 2 and not self.atoms.pbc.any()
        if int(structure_hash(self.atoms), 16) % 20 == 0 or (
                dimer and 3.0 < self.atoms.get_distance(0, 1) < 3.3):
            os._exit(3)
        self.sw.calculate(self.atoms, ["energy", "forces", "stress"], system_changes)
        self.results = dict(self.sw.results)
        self.results["free_energy"] = self.results["energy"]
        with open(os.environ["CALLS_LOG"], "a") as log:
            log.write(structure_hash(self.atoms) + "\\n")


def make():
    return Crashing()
'''


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return env | {"OPENBLAS_NUM_THREADS": "1"} | extra


def _gapexplore(folder, *args, timeout=600, **env):
    return subprocess.run([GAPEXPLORE, *args], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, env=_env(**env))


def test_version_help_and_traceback(tmp_path):
    from gapexplore import __version__

    version = _gapexplore(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"gapexplore {__version__}"
    main_help = _gapexplore(tmp_path, "--help").stdout
    assert "again (the GAP-RSS protocol of Bernstein, Csányi and Deringer" in main_help
    assert "examples:" in main_help and "gapexplore demo" in main_help
    run_help = _gapexplore(tmp_path, "run", "--help").stdout
    for group in ("what to explore (new runs):", "each iteration:", "when to stop",
                  "the potential and the selection:", "relaxations and time limits:",
                  "where the work runs:", "examples:"):
        assert group in run_help
    plain = _gapexplore(tmp_path, "status", "nowhere")
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert "nowhere holds no gapexplore run" in plain.stderr
    traced = _gapexplore(tmp_path, "-T", "status", "nowhere")
    assert traced.returncode == 2 and "Traceback (most recent call last)" in traced.stderr


def test_errors_name_the_flag_typed(tmp_path):
    result = _gapexplore(tmp_path, "run", "r", "--element", "Si", "--iterations", "0")
    assert result.returncode == 2
    assert "--iterations must be an int >= 1. Got 0 instead." in result.stderr
    assert "max_iterations" not in result.stderr and not (tmp_path / "r").exists()


def test_your_own_calculator_from_the_current_folder_and_its_own_import_error(tmp_path):
    (tmp_path / "broken.py").write_text("import no_such_package_here\n\ndef make():\n"
                                        "    return None\n")
    result = _gapexplore(tmp_path, "run", "r", "--element", "Si",
                         "--reference", "broken:make")
    assert result.returncode == 2
    assert "ModuleNotFoundError: No module named 'no_such_package_here'" in result.stderr
    missing = _gapexplore(tmp_path, "run", "r", "--element", "Si",
                          "--reference", "nomodule:make")
    assert missing.returncode == 2 and "no module named 'nomodule'" in missing.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("where", [["--jobs", "1"], ["--jobs", "2"],
                                   ["--dask-workers", "2"]])
def test_a_reference_that_kills_its_process_never_ends_the_run(tmp_path, where):
    """The user's own crashing reference, a module in the current folder: the run
    finishes, each crashing structure is a failed label with its reason, and no finished
    calculation is computed twice."""
    (tmp_path / "crashing.py").write_text(CRASHING)
    log = tmp_path / "calls.log"
    result = _gapexplore(tmp_path, "run", "r", "--element", "Si", "--reference",
                         "crashing:make", *TINY, *where, CALLS_LOG=str(log))
    assert result.returncode == 0, result.stderr
    rows = list(connect(tmp_path / "r" / "labels.db").select())
    failed = [row for row in rows if row.get("label_error")]
    assert len(failed) >= 2 and all("killed the process that ran it" in row.label_error
                                    for row in failed)
    calls = Counter(log.read_text().split())
    assert len(calls) == len(rows) - len(failed) and max(calls.values()) == 1
    status = _gapexplore(tmp_path, "status", "r")
    assert "finished after 2 iterations (--iterations 2 reached)" in status.stdout
    assert "next: gapexplore results r" in status.stdout
