"""A run killed (SIGKILL) while labelling and while relaxing resumes to the same result,
keeping what it had finished."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from ase.db import connect
from ase.io import read

pytestmark = pytest.mark.slow

ARGS = ["--element", "Si", "--candidates", "10", "--select", "5", "--iterations", "2",
        "--gap", "light", "--soap", "fast", "--fmax", "0.1", "--max-steps", "30",
        "--seed", "11", "--jobs", "2", "--quiet"]


def _start(folder):
    return subprocess.Popen([sys.executable, "-m", "gapexplore", "run", str(folder), *ARGS],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _rows(folder):
    try:
        with sqlite3.connect(folder / "labels.db") as db:
            return db.execute("select count(*) from systems").fetchone()[0]
    except sqlite3.Error:
        return 0


def _kill_when(process, condition, timeout=300):
    start = time.time()
    while not condition():
        assert process.poll() is None, f"finished before the kill: {process.stderr.read()}"
        assert time.time() - start < timeout
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _state(folder):
    path = folder / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_killed_runs_resume_to_the_same_result(tmp_path):
    whole = tmp_path / "whole"
    assert subprocess.run([sys.executable, "-m", "gapexplore", "run", str(whole), *ARGS],
                          capture_output=True).returncode == 0

    broken = tmp_path / "broken"
    first = _start(broken)  # killed in the middle of labelling iteration 0
    _kill_when(first, lambda: 0 < _rows(broken) < 27)
    stored = {row.uid: row.energy for row in connect(broken / "labels.db").select()
              if row.ok}
    second = _start(broken)  # killed as it starts relaxing in iteration 1
    _kill_when(second, lambda: _state(broken).get("iteration") == 1
               and "generate" in _state(broken).get("done", []))
    relaxing = broken / "iter_001" / "relaxing"
    third = _start(broken)   # killed while relaxing, once a task has finished
    _kill_when(third, lambda: any(relaxing.glob("*.xyz")))
    kept = list(relaxing.glob("*.xyz"))
    assert subprocess.run([sys.executable, "-m", "gapexplore", "run", str(broken), *ARGS],
                          capture_output=True).returncode == 0

    rows = {row.uid: row for row in connect(broken / "labels.db").select()}
    reference = {row.uid: row for row in connect(whole / "labels.db").select()}
    assert sorted(rows) == sorted(reference)  # nothing computed twice, nothing missing
    for uid, energy in stored.items():
        assert rows[uid].energy == energy  # kept from before the kill
    for uid in rows:
        assert rows[uid].energy == pytest.approx(reference[uid].energy, abs=1e-10)
    assert kept and not relaxing.exists()   # trajectories.xyz holds them now
    for name in ("iter_001/selected.xyz", "iter_001/trajectories.xyz"):
        a, b = read(broken / name, ":"), read(whole / name, ":")
        assert len(a) == len(b)
        assert all(np.allclose(x.positions, y.positions) for x, y in zip(a, b))
    fits = [_state(folder)["iterations"][1]["fit"]["rmse_energy"] for folder in (broken, whole)]
    assert fits[0] == pytest.approx(fits[1], rel=1e-9)
