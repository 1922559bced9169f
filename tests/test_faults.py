"""Faults a long run meets: kills, crashing or hanging references, damaged folders, bad input.

Each test injects one fault (a killed worker, a crashing or hanging reference, a damaged
file, a bad value) and checks that the run survives it or stops with a clear message.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from test_resume import _rows

from gapexplore import Chemistry, dimers, isolated_atom, keys
from gapexplore.cli import main
from gapexplore.core.errors import GapExploreError
from gapexplore.label import label_structures
from gapexplore.run import Explorer, ExploreSettings

HERE = Path(__file__).parent
TINY = ExploreSettings(element="Si", n_candidates=6, n_select=3, max_iterations=1, gap="light",
                       soap="fast", relax_fmax=0.1, relax_max_steps=20, seed=5)


def _env(log):
    return dict(os.environ, PYTHONPATH=f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                FAULTY_LOG=str(log), FAULTY_DELAY="0.15")


def _command(folder):
    """A small run of iteration 0 labelled by the logging SW reference, on 2 workers."""
    return [sys.executable, "-m", "gapexplore", "run", str(folder), "--element", "Si",
            "--candidates", "8", "--select", "4", "--iterations", "1", "--gap", "light",
            "--soap", "fast", "--reference", "faulty_references:counting_sw",
            "--jobs", "2", "--quiet"]


@pytest.mark.slow
def test_a_finished_reference_calculation_is_never_run_again(tmp_path):
    """SIGKILL of the whole process group in the middle of labelling, then a resume: only
    the calculations in flight at the kill (at most one per worker) may run twice."""
    folder, log = tmp_path / "run", tmp_path / "calls.log"
    command = _command(folder)
    first = subprocess.Popen(command, env=_env(log), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    start = time.time()
    while _rows(folder) < 6:
        assert first.poll() is None, first.stderr.read()
        assert time.time() - start < 120
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    stored = _rows(folder)
    assert stored < 4 + 22  # killed before the end of labelling
    done = subprocess.run(command, env=_env(log), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = Counter(log.read_text().split())
    repeated = sum(n - 1 for n in calls.values())
    assert len(calls) == 4 + 22 and repeated <= 2  # 2 workers: at most 2 were in flight
    record = json.loads((folder / "state.json").read_text())["iterations"][0]
    assert record["labelled"] + record["failed"] == 4 + 22  # resumed labels counted too


def test_a_reference_that_crashes_or_hangs_is_recorded_and_the_rest_finish():
    si = Chemistry.of("Si")
    structures = [isolated_atom(si)] + dimers(si)[-4:]
    start = time.monotonic()
    labels = label_structures(structures, _crashing(), n_jobs=2, timeout=3)
    assert time.monotonic() - start < 60
    errors = [a.info.get(keys.LABEL_ERROR) for a in labels]
    assert "killed its worker process" in errors[0]   # os._exit in the calculation
    assert "ran too long" in errors[-1] and "3 s" in errors[-1]  # the 5 Å dimer hangs
    assert errors[1:-1] == [None] * 3 and all(keys.REF_ENERGY in a.info for a in labels[1:-1])


def _crashing():
    sys.path.insert(0, str(HERE))
    from faulty_references import crashing_sw

    return crashing_sw


def test_the_controls_a_user_sets_survive_a_reopen(tmp_path):
    explorer = Explorer(tmp_path / "run", TINY, n_jobs=1)
    explorer.generate()
    explorer.n_select, explorer.n_candidates, explorer.kT = 2, 5, 0.25
    again = Explorer(tmp_path / "run", n_jobs=1)
    assert (again.n_select, again.n_candidates, again.kT) == (2, 5, 0.25)
    again.kT = None  # back to the schedule
    assert Explorer(tmp_path / "run").kT is None
    with pytest.raises(GapExploreError, match="'n_select' parameter of Explorer"):
        again.n_select = 0


def test_a_refused_process_writes_nothing(tmp_path):
    folder = tmp_path / "run"
    Explorer(folder, TINY, n_jobs=1).generate()
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    from gapexplore.run.store import RunStore

    with RunStore(folder).lock():
        result = subprocess.run([sys.executable, "-m", "gapexplore", "run", str(folder),
                                 "--iterations", "3", "--quiet"], capture_output=True,
                                text=True)
    assert result.returncode == 2 and "Another gapexplore process" in result.stderr
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert {k: v for k, v in after.items() if k != ".lock"} == \
        {k: v for k, v in before.items() if k != ".lock"}


_ORPHAN_SCRIPT = """
import sys, time
from gapexplore.core.parallel import map_ordered
from gapexplore.run.store import RunStore

def sleep(_):
    import os
    with open(sys.argv[2], "a") as handle:
        handle.write(f"{os.getpid()}\\n")
    time.sleep(120)

with RunStore(sys.argv[1]).lock():
    map_ordered(sleep, range(2), n_jobs=2)
"""


def test_workers_die_with_their_parent_and_do_not_hold_the_lock(tmp_path):
    """The OOM killer takes the main process alone: its workers must not live on as
    orphans that keep the run folder locked."""
    script, pids = tmp_path / "orphans.py", tmp_path / "pids"
    script.write_text(_ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path / "run"), str(pids)])
    start = time.time()
    while not pids.exists() or len(pids.read_text().split()) < 2:
        assert parent.poll() is None and time.time() - start < 60
        time.sleep(0.05)
    parent.kill()  # the main process alone
    parent.wait()
    workers = [int(p) for p in pids.read_text().split()]
    deadline = time.time() + 10
    while any(_alive(p) for p in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in workers)
    from gapexplore.run.store import RunStore

    with RunStore(tmp_path / "run").lock():  # free again
        pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is dead
        return handle.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.parametrize("options, message", [
    (["--seed", "-1"], "--seed must be an int >= 0. Got -1 instead."),
    (["--fmax", "-1"], "--fmax must be a finite float > 0.0. Got -1.0 instead."),
    (["--max-steps", "0"], "--max-steps must be an int >= 1. Got 0 instead."),
    (["--iterations", "0"], "--iterations must be an int >= 1. Got 0 instead."),
    (["--jobs", "0"], "--jobs must be an int >= 1. Got 0 instead."),
    (["--element", "Ge"], "no toy reference covers"),
    (["--reference", "no_such_module:calculator"], "importable 'module:function'"),
])
def test_bad_options_are_refused_before_anything_is_written(tmp_path, capsys, options,
                                                            message):
    folder = tmp_path / "run"
    assert main(["run", str(folder), "--quiet", *options]) == 2
    assert message in capsys.readouterr().err
    assert not folder.exists()  # so the corrected command starts afresh


def test_a_scalar_kT_in_a_settings_file_is_one_temperature(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text("kT = -0.1\n")
    assert main(["run", str(tmp_path / "run"), "--config", str(config)]) == 2
    assert f"'kT' in {config} must be a temperature > 0 eV" in capsys.readouterr().err
    assert ExploreSettings(kT=0.2).selection.kT == (0.2,)


def test_damaged_run_folders_are_named_and_left_alone(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["run", str(afile), "--quiet"]) == 2
    assert "is a file, not a run folder" in capsys.readouterr().err
    folder = tmp_path / "run"
    Explorer(folder, TINY, n_jobs=1).generate()
    for name, content, what in [("state.json", "", "state.json is damaged"),
                                ("state.json", '{"iteration": 0, "do', "state.json is damaged"),
                                ("settings.json", '{"element": "Si"', "settings.json is damaged"),
                                ("labels.db", "not a database at all" * 100,
                                 "labels.db is not a readable labels database")]:
        path = folder / name
        kept = path.read_bytes() if path.exists() else None
        path.write_text(content)
        for command in (["run", str(folder), "--quiet"], ["status", str(folder)]):
            assert main(command) == 2, (name, command)
            err = capsys.readouterr().err
            assert what in err and "Traceback" not in err
        assert path.read_text() == content  # left as it was
        if kept is None:
            path.unlink()
        else:
            path.write_bytes(kept)
    (folder / "iter_000" / "candidates.xyz").unlink()
    assert main(["run", str(folder), "--quiet"]) == 2
    assert "lost files of finished steps: iter_000/candidates.xyz" in capsys.readouterr().err


def test_an_unwritable_folder_is_refused_clearly(tmp_path, capsys):
    assert main(["run", "/proc/gapexplore-test-run", "--quiet"]) == 2
    assert "Cannot write to the run folder /proc/gapexplore-test-run" in \
        capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path):
    """SIGINT to the whole foreground group (Ctrl-C): workers ignore it, the main process
    stops them and exits 130 with one line; the resume repeats no finished calculation."""
    folder, log = tmp_path / "run", tmp_path / "calls.log"
    command = _command(folder)
    # as from a terminal: CI and `nohup ... &` start processes with SIGINT ignored, which
    # Python keeps (a stray Ctrl-C then does nothing at all)
    first = subprocess.Popen(command, env=_env(log), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    start = time.time()
    while _rows(folder) < 4:
        assert first.poll() is None and time.time() - start < 120
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGINT)
    assert first.wait(timeout=60) == 130
    err = first.stderr.read()
    assert "interrupted" in err and "Traceback" not in err
    assert subprocess.run(["pgrep", "-s", str(first.pid)], capture_output=True).returncode == 1
    done = subprocess.run(command, env=_env(log), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = Counter(log.read_text().split())
    assert len(calls) == 4 + 22 and sum(n - 1 for n in calls.values()) <= 2


def test_a_lock_file_left_by_a_killed_writer_does_not_stop_the_next_run(tmp_path):
    """A run killed while writing a label left ASE's ``labels.db.lock`` behind; the resumed
    run waited on it forever (found by test_resume, which kills runs at random times)."""
    script = """
import sys
from gapexplore import Chemistry, isolated_atom, label_structures
from gapexplore.run import RunStore
store = RunStore(sys.argv[1])
[atom] = label_structures([isolated_atom(Chemistry.of("Si"))], "sw-si")
with store.lock():
    for uid in ("a", "b"):
        atom.info["uid"] = uid
        store.add_labels([atom], 0)
        (store.db_path.parent / "labels.db.lock").write_text("")  # as a killed writer left it
print(store.count_labels())
"""
    folder = tmp_path / "run"
    result = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2"]


@pytest.mark.slow
def test_ctrl_c_during_a_gap_relaxation_stops_it_instead_of_recording_a_failure(tmp_path):
    """In one process (``--jobs 1``) a GAP relaxation runs quippy's Fortran, under
    f90wrap's SIGINT handler: Ctrl-C there must stop the relaxation as KeyboardInterrupt,
    never end as a relaxation recorded "error: RuntimeError: Interrupt occured" while the
    run goes on (seen in a CHGNet carbon run)."""
    import textwrap

    import numpy as np
    from ase.build import bulk

    from gapexplore.fit import GapSettings, fit_gap

    si = Chemistry.of("Si")
    rng = np.random.default_rng(0)
    cells = []
    for _ in range(6):
        atoms = bulk("Si", "diamond", a=5.43 * rng.uniform(0.97, 1.03))
        atoms.rattle(0.05, seed=int(rng.integers(10**6)))
        cells.append(atoms)
    labelled = label_structures(cells + dimers(si) + [isolated_atom(si)], "sw-si")
    potential = fit_gap(labelled, si, tmp_path / "gap", settings=GapSettings.light(si)).potential
    script = tmp_path / "relax_big.py"
    script.write_text(textwrap.dedent(f"""
        from ase.build import bulk
        from gapexplore import Chemistry
        from gapexplore.fit import load_potential
        from gapexplore.relax import RelaxSettings, relax
        atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((5, 5, 5))
        atoms.rattle(0.05, seed=1)
        gap = load_potential({str(potential)!r})
        print("start", flush=True)
        frames = relax(atoms, gap, pressure=0.0, chemistry=Chemistry.of("Si"),
                       settings=RelaxSettings(max_steps=50, fmax=1e-6))
        print("returned", frames[-1].info["relax_status"], flush=True)
    """))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "start"
    time.sleep(1.5)                  # inside the relaxation: mostly inside quippy
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert "returned" not in out, out
    assert process.returncode != 0 and "KeyboardInterrupt" in err
