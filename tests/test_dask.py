"""The same run on a Dask cluster and on the local process pool gives the same result."""

import numpy as np
import pytest
from ase.db import connect
from ase.io import read

from gapexplore.explore import Explorer, ExploreSettings

pytestmark = pytest.mark.slow

SETTINGS = ExploreSettings(element="Si", n_candidates=8, n_select=4, max_iterations=2,
                           gap="light", soap="fast", relax_fmax=0.1, relax_max_steps=25,
                           seed=5)


def test_dask_local_cluster_matches_the_process_pool(tmp_path):
    import logging

    from dask.distributed import Client, LocalCluster

    pool_run = Explorer(tmp_path / "pool", SETTINGS, n_jobs=2).run()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        dask_run = Explorer(tmp_path / "dask", SETTINGS, executor=client.get_executor()).run()
    a = {row.uid: row.energy for row in connect(tmp_path / "pool" / "labels.db").select()}
    b = {row.uid: row.energy for row in connect(tmp_path / "dask" / "labels.db").select()}
    assert a.keys() == b.keys() and len(a) == 30
    assert all(a[uid] == pytest.approx(b[uid], abs=1e-10) for uid in a)
    for name in ("iter_001/trajectories.xyz", "iter_001/selected.xyz"):
        x, y = read(tmp_path / "pool" / name, ":"), read(tmp_path / "dask" / name, ":")
        assert len(x) == len(y) and all(np.allclose(p.positions, q.positions)
                                        for p, q in zip(x, y))
    fits = [r.state["iterations"][1]["fit"]["rmse_energy"] for r in (pool_run, dask_run)]
    assert fits[0] == pytest.approx(fits[1], rel=1e-9)


def crashing_sw():
    """SW that kills its own process on 3-atom structures, as a segfaulting code would."""
    import os

    from ase.calculators.calculator import Calculator, all_changes

    from gapexplore.reference import reference_calculator

    class Crashing(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def __init__(self):
            super().__init__()
            self.sw = reference_calculator("sw-si")

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            if len(atoms) == 3:
                os._exit(1)
            super().calculate(atoms, properties, system_changes)
            self.sw.calculate(atoms, ["energy", "forces", "stress"], system_changes)
            self.results = dict(self.sw.results)

    return Crashing()


def test_a_task_that_kills_its_worker_is_recorded_and_the_rest_finish():
    import logging

    import dask
    from ase.build import bulk
    from dask.distributed import Client, LocalCluster

    from gapexplore import keys
    from gapexplore.reference import label_structures

    good = [bulk("Si", "diamond", a=5.43 + 0.01 * k) for k in range(4)]
    bad = bulk("Si", "diamond", a=5.43).repeat((3, 1, 1))[:3]
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        labels = label_structures(good[:2] + [bad] + good[2:], crashing_sw,
                                  executor=client.get_executor())
    assert [keys.LABEL_ERROR in a.info for a in labels] == [False, False, True, False, False]
    assert "killed its worker" in labels[2].info[keys.LABEL_ERROR]
    assert all(a.info[keys.REF_ENERGY] < 0 for i, a in enumerate(labels) if i != 2)


def test_real_scheduler_and_workers_survive_a_killed_worker(tmp_path):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1; one worker is
    SIGKILLed while the run relaxes; the run completes with nothing lost or repeated."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    bin_dir = Path(sys.executable).parent
    scheduler_file = tmp_path / "scheduler.json"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    processes = [subprocess.Popen([bin_dir / "dask", "scheduler", "--host", "127.0.0.1",
                                   "--port", "0", "--no-dashboard",
                                   "--scheduler-file", scheduler_file], **quiet)]
    try:
        deadline = time.time() + 60
        while not scheduler_file.exists():
            assert time.time() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            processes.append(subprocess.Popen(
                [bin_dir / "dask", "worker", address, "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--host", "127.0.0.1"], **quiet))
        folder = tmp_path / "run"
        args = [sys.executable, "-m", "gapexplore", "run", str(folder), "--element", "Si",
                "--candidates", "8", "--select", "4", "--iterations", "2", "--gap", "light",
                "--soap", "fast", "--fmax", "0.1", "--max-steps", "40", "--seed", "5",
                "--quiet", "--scheduler", address]
        run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        state = folder / "state.json"
        deadline = time.time() + 300
        while not (state.exists() and json.loads(state.read_text()).get("iteration") == 1
                   and "generate" in json.loads(state.read_text()).get("done", [])):
            assert run.poll() is None, run.stderr.read()
            assert time.time() < deadline
            time.sleep(0.05)
        os.killpg(processes[1].pid, signal.SIGKILL)  # a worker dies while relaxing
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    uids = [row.uid for row in connect(folder / "labels.db").select()]
    assert len(uids) == len(set(uids)) == 30  # nothing lost, nothing labelled twice
    pool = Explorer(tmp_path / "pool", ExploreSettings.from_dict(
        json.loads((folder / "settings.json").read_text())), n_jobs=2).run()
    frames = read(folder / "iter_001/trajectories.xyz", ":")
    expected = read(tmp_path / "pool" / "iter_001/trajectories.xyz", ":")
    assert len(frames) == len(expected)
    assert all(np.allclose(a.positions, b.positions) for a, b in zip(frames, expected))
    assert pool.iteration == 2
