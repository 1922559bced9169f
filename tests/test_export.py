"""`gapexplore export`: the newest GAP with what is needed to use it elsewhere."""

import re
import shutil
import subprocess
import sys

import pytest
from ase.io import read

from gapexplore import Explorer, ExploreSettings, load_potential
from gapexplore.cli import main


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / "run"
    assert main(["run", str(folder), "--candidates", "6", "--select", "3", "--iterations",
                 "1", "--gap", "light", "--soap", "fast", "--quiet", "--jobs", "1",
                 "--validate", "diamond"]) == 0
    return folder


def test_the_export_loads_in_a_fresh_process_from_the_export_alone(finished_run, tmp_path,
                                                                    capsys):
    destination = tmp_path / "gap_export"
    assert main(["results", str(finished_run)]) == 0   # iteration 0 relaxes nothing
    assert "the run has finished and no GAP relaxation converged" in capsys.readouterr().out
    assert main(["export", str(finished_run), str(destination)]) == 0
    assert "exported" in capsys.readouterr().out
    names = {p.name for p in destination.iterdir()}
    assert {"gap.xml", "train.xyz", "gap_fit_commands.txt", "settings.json", "settings.toml",
            "report.txt", "validation.csv", "use_with_ase.py", "lammps.in",
            "README.txt"} <= names
    report = (destination / "report.txt").read_text()   # names the export's own file
    assert "newest potential: gap.xml (here;" in report and "next:" not in report
    assert any(".sparseX." in name for name in names)
    # the training set is gap_fit's, with the labels under the names gap_fit reads
    training = read(destination / "train.xyz", ":")
    assert all("REF_energy" in a.info and "energy_sigma" in a.info for a in training)
    commands = (destination / "gap_fit_commands.txt").read_text().splitlines()
    fits = [line for line in commands if line.startswith("gap_fit ")]
    assert len(fits) == 3 and all("at_file=train.xyz" in line for line in fits)
    assert "soap" not in fits[0] and "soap" in fits[2] and "gp_file=gap.xml" in fits[2]
    label = re.search(r'<Potential label="([^"]+)"', (destination / "gap.xml").read_text())
    lammps = (destination / "lammps.in").read_text()
    assert "pair_style      quip" in lammps
    assert f'pair_coeff      * * gap.xml "IP GAP label={label.group(1)}" 14' in lammps
    # what the run's own GAP says of the structure the snippet computes: the lowest-energy
    # periodic cell of the training set
    atoms = min((a for a in training if a.pbc.all()),
                key=lambda a: a.info["REF_energy"] / len(a))
    atoms.calc = load_potential(next(finished_run.glob("iter_000/gap/gap.xml")))
    expected = atoms.get_potential_energy() / len(atoms)
    # moved away, with the run gone: the export alone, in a fresh Python
    moved = shutil.move(destination, tmp_path / "elsewhere" / "my_gap")
    shutil.rmtree(tmp_path / "elsewhere" / "my_gap" / "__pycache__", ignore_errors=True)
    copy_of_run = tmp_path / "run_moved"
    shutil.move(finished_run, copy_of_run)
    try:
        result = subprocess.run([sys.executable, "use_with_ase.py"], cwd=moved,
                                capture_output=True, text=True, timeout=120)
    finally:
        shutil.move(copy_of_run, finished_run)
    assert result.returncode == 0, result.stderr
    energy = float(re.search(r"GAP (\S+) eV/atom", result.stdout).group(1))
    assert energy == pytest.approx(expected, abs=1e-5)
    assert "GAP - reference" in result.stdout and "fitting tolerance" in result.stdout


def test_an_export_is_refused_before_anything_is_written(finished_run, tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(["export", str(finished_run), str(full)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    assert main(["export", str(tmp_path / "nothing"), str(tmp_path / "out")]) == 2
    assert "holds no gapexplore run" in capsys.readouterr().err
    fresh = tmp_path / "fresh"
    Explorer(fresh, ExploreSettings(n_candidates=6, n_select=3), n_jobs=1).generate()
    assert main(["export", str(fresh), str(tmp_path / "out")]) == 2
    assert "no fitted GAP yet" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
