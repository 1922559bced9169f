"""The same run on a Dask cluster and on the local process pool gives the same result."""

import os

import numpy as np
import pytest
from ase.db import connect
from ase.io import read

from gapexplore.run import Explorer, ExploreSettings

pytestmark = pytest.mark.slow

SETTINGS = ExploreSettings(element="Si", n_candidates=8, n_select=4, max_iterations=2,
                           gap="light", soap="fast", relax_fmax=0.1, relax_max_steps=25,
                           seed=5)


def test_dask_local_cluster_matches_the_process_pool(tmp_path, monkeypatch):
    import os

    from gapexplore.core.parallel import local_dask_cluster

    # a LocalCluster started elsewhere in this process leaves Dask's value in os.environ
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    pool_run = Explorer(tmp_path / "pool", SETTINGS, n_jobs=2).run()
    cluster, client = local_dask_cluster(2)
    with cluster, client:
        # the workers run without Dask's MALLOC_TRIM_THRESHOLD_ (7 % more CPU time with it)
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert len(trim) == 2 and set(trim.values()) == {None}
        dask_run = Explorer(tmp_path / "dask", SETTINGS, executor=client).run()
    a = {row.uid: row.energy for row in connect(tmp_path / "pool" / "labels.db").select()}
    b = {row.uid: row.energy for row in connect(tmp_path / "dask" / "labels.db").select()}
    assert a.keys() == b.keys() and len(a) == 30
    assert all(a[uid] == pytest.approx(b[uid], abs=1e-10) for uid in a)
    for name in ("iter_001/trajectories.xyz", "iter_001/selected.xyz"):
        x, y = read(tmp_path / "pool" / name, ":"), read(tmp_path / "dask" / name, ":")
        assert len(x) == len(y) and all(np.allclose(p.positions, q.positions)
                                        for p, q in zip(x, y))
    fits = [r.state.iterations[1].fit["rmse_energy"] for r in (pool_run, dask_run)]
    assert fits[0] == pytest.approx(fits[1], rel=1e-9)


def crashing_sw():
    """SW that kills its own process on 3-atom structures, as a segfaulting code would."""
    import os

    from ase.calculators.calculator import Calculator, all_changes

    from gapexplore.label import reference_calculator

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
    from gapexplore.label import label_structures

    good = [bulk("Si", "diamond", a=5.43 + 0.01 * k) for k in range(4)]
    bad = bulk("Si", "diamond", a=5.43).repeat((3, 1, 1))[:3]
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        labels = label_structures(good[:2] + [bad] + good[2:], crashing_sw,
                                  executor=client.get_executor())
    assert [keys.LABEL_ERROR in a.info for a in labels] == [False, False, True, False, False]
    assert "killed the process that ran it" in labels[2].info[keys.LABEL_ERROR]
    assert all(a.info[keys.REF_ENERGY] < 0 for i, a in enumerate(labels) if i != 2)


def test_real_scheduler_and_workers_survive_a_killed_worker(tmp_path):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1; one worker is
    SIGKILLed while the run relaxes; the run completes with nothing lost or repeated."""
    import json
    import subprocess
    import sys
    import time

    folder = tmp_path / "run"
    with _DaskProcesses(tmp_path) as cluster:
        args = [sys.executable, "-m", "gapexplore", "run", str(folder), "--element", "Si",
                "--candidates", "8", "--select", "4", "--iterations", "2", "--gap", "light",
                "--soap", "fast", "--fmax", "0.1", "--max-steps", "40", "--seed", "5",
                "--quiet", "--scheduler", cluster.address]
        run = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        state = folder / "state.json"
        deadline = time.time() + 300
        while not (state.exists() and json.loads(state.read_text()).get("iteration") == 1
                   and "generate" in json.loads(state.read_text()).get("done", [])):
            assert run.poll() is None, run.stderr.read()
            assert time.time() < deadline
            time.sleep(0.05)
        cluster.kill(cluster.workers[0])  # a worker dies while relaxing
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    uids = [row.uid for row in connect(folder / "labels.db").select()]
    assert len(uids) == len(set(uids)) == 30  # nothing lost, nothing labelled twice
    pool = Explorer(tmp_path / "pool", ExploreSettings.from_dict(
        json.loads((folder / "settings.json").read_text())), n_jobs=2).run()
    frames = read(folder / "iter_001/trajectories.xyz", ":")
    expected = read(tmp_path / "pool" / "iter_001/trajectories.xyz", ":")
    assert len(frames) == len(expected)
    assert all(np.allclose(a.positions, b.positions) for a, b in zip(frames, expected))
    assert pool.iteration == 2


class _DaskProcesses:
    """`dask scheduler` + `dask worker` processes on 127.0.0.1, killed on exit."""

    def __init__(self, folder, workers=2):
        import json
        import subprocess
        import sys
        import time
        from pathlib import Path

        bin_dir = Path(sys.executable).parent
        scheduler_file = folder / f"scheduler-{time.time_ns()}.json"
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
        self.scheduler = subprocess.Popen(
            [bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", scheduler_file], **quiet)
        self.workers = []
        deadline = time.time() + 60
        while not scheduler_file.exists():
            assert time.time() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        self.address = json.loads(scheduler_file.read_text())["address"]
        self.workers = [subprocess.Popen(
            [bin_dir / "dask", "worker", self.address, "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--host", "127.0.0.1"], **quiet) for _ in range(workers)]

    def kill(self, process):
        import os
        import signal

        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for process in [self.scheduler, *self.workers]:
            self.kill(process)


def test_a_lost_scheduler_stops_the_run_clearly_and_it_resumes(tmp_path):
    import json
    import subprocess
    import sys
    import time

    folder = tmp_path / "run"

    def command(address):
        return [sys.executable, "-m", "gapexplore", "run", str(folder), "--element", "Si",
                "--candidates", "8", "--select", "4", "--iterations", "2", "--gap", "light",
                "--soap", "fast", "--fmax", "0.1", "--max-steps", "40", "--seed", "5",
                "--quiet", "--scheduler", address]

    def relaxing():
        path = folder / "state.json"
        if not path.exists():
            return False
        state = json.loads(path.read_text())
        return state.get("iteration") == 1 and "generate" in state.get("done", [])

    with _DaskProcesses(tmp_path) as cluster:
        run = subprocess.Popen(command(cluster.address), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        while not relaxing():
            assert run.poll() is None and time.time() < deadline
            time.sleep(0.05)
        cluster.kill(cluster.scheduler)
        _, err = run.communicate(timeout=240)
    assert run.returncode == 2
    assert "Lost the Dask scheduler" in err and "rerun the same command" in err
    labels_before = {row.uid for row in connect(folder / "labels.db").select()}
    with _DaskProcesses(tmp_path) as cluster:
        again = subprocess.run(command(cluster.address), capture_output=True, text=True,
                               timeout=300)
    assert again.returncode == 0, again.stderr
    uids = [row.uid for row in connect(folder / "labels.db").select()]
    assert len(uids) == len(set(uids)) == 30 and labels_before <= set(uids)


def test_a_crashing_task_does_not_make_dask_repeat_finished_ones(tmp_path, monkeypatch):
    """A worker that dies takes the results it holds with it, and Dask recomputes what is
    still referenced: results are released as they arrive, so a crash repeats no finished
    calculation (the landed code made 140 calls for these 31 structures)."""
    import logging
    from collections import Counter
    from pathlib import Path

    from ase.build import bulk
    from dask.distributed import Client, LocalCluster

    from gapexplore import keys
    from gapexplore.label import label_structures

    here = Path(__file__).parent
    log = tmp_path / "calls.log"
    monkeypatch.setenv("FAULTY_LOG", str(log))
    monkeypatch.setenv("FAULTY_DELAY", "0.05")
    monkeypatch.setenv("PYTHONPATH", f"{here}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.syspath_prepend(str(here))
    from faulty_references import counting_crashing_sw, structure_hash

    good = [bulk("Si", "diamond", a=5.3 + 0.01 * k) for k in range(30)]
    bad = bulk("Si", "diamond", a=5.43)[:1]  # one atom: kills its worker
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        labels = label_structures(good[:10] + [bad] + good[10:], counting_crashing_sw,
                                  executor=client.get_executor())
    assert [keys.LABEL_ERROR in a.info for a in labels] == [False] * 10 + [True] + [False] * 20
    calls = Counter(log.read_text().split())
    repeated_good = sum(n - 1 for h, n in calls.items() if h != structure_hash(bad))
    assert len(calls) == 31 and repeated_good <= 2


def test_on_gapexplores_cluster_a_crashing_or_hanging_reference_never_kills_a_worker(
        tmp_path, monkeypatch):
    """On the cluster that ``--dask-workers`` starts, each calculation runs in a child of
    its worker: a structure that kills its process or hangs is a failed label with its
    reason, no worker dies, and no finished calculation is computed twice."""
    from collections import Counter
    from pathlib import Path

    from ase.build import bulk

    from gapexplore import keys
    from gapexplore.core.parallel import local_dask_cluster
    from gapexplore.label import label_structures

    here = Path(__file__).parent
    log = tmp_path / "calls.log"
    monkeypatch.setenv("FAULTY_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", f"{here}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.syspath_prepend(str(here))
    from faulty_references import counting_crashing_sw, structure_hash

    good = [bulk("Si", "diamond", a=5.3 + 0.01 * k) for k in range(12)]
    crash = bulk("Si", "diamond", a=5.43)[:1]   # one atom: kills its process
    cluster, client = local_dask_cluster(2)
    try:
        workers = set(client.scheduler_info()["workers"])
        labels = label_structures(good[:4] + [crash] + good[4:8] + [crash.copy()] + good[8:],
                                  counting_crashing_sw, executor=client.get_executor())
        assert set(client.scheduler_info()["workers"]) == workers   # none died
    finally:
        client.close()
        cluster.close()
    failed = [keys.LABEL_ERROR in a.info for a in labels]
    assert failed == [False] * 4 + [True] + [False] * 4 + [True] + [False] * 4
    assert "killed the process that ran it" in labels[4].info[keys.LABEL_ERROR]
    calls = Counter(log.read_text().split())
    assert all(n == 1 for h, n in calls.items() if h != structure_hash(crash))
    assert len(calls) == 13


def test_a_dask_task_over_its_time_limit_is_a_failed_label_and_the_worker_lives(monkeypatch):
    from pathlib import Path

    from ase.build import bulk

    from gapexplore import keys
    from gapexplore.core.parallel import local_dask_cluster
    from gapexplore.label import label_structures

    here = Path(__file__).parent
    monkeypatch.setenv("PYTHONPATH", f"{here}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.syspath_prepend(str(here))
    from faulty_references import crashing_sw

    good = [bulk("Si", "diamond", a=5.43 + 0.01 * k) for k in range(3)]
    hang = bulk("Si", "diamond", a=5.43)[:2]
    hang.positions[1] = [5.0, 0.0, 0.0]    # a dimer longer than 4.9 Å: hangs
    hang.pbc, hang.cell = False, None
    cluster, client = local_dask_cluster(1)
    try:
        labels = label_structures([good[0], hang, *good[1:]], crashing_sw,
                                  executor=client.get_executor(), timeout=5)
        assert len(client.scheduler_info()["workers"]) == 1
    finally:
        client.close()
        cluster.close()
    assert [keys.LABEL_ERROR in a.info for a in labels] == [False, True, False, False]
    assert "time limit of 5 s" in labels[1].info[keys.LABEL_ERROR]


def test_a_cluster_left_without_workers_stops_the_map_clearly(tmp_path, monkeypatch):
    """Workers started by hand without a nanny are not restarted: once the last one is
    gone, the map says so after its patience instead of waiting for ever."""
    import threading
    import time

    from dask.distributed import Client

    from gapexplore.core import parallel

    monkeypatch.setattr(parallel._ClusterWatch, "poll", 0.2)
    monkeypatch.setattr(parallel._ClusterWatch, "patience", 3.0)
    with _DaskProcesses(tmp_path, workers=1) as cluster:
        with Client(cluster.address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
            threading.Timer(1.0, cluster.kill, [cluster.workers[0]]).start()
            start = time.monotonic()
            with pytest.raises(parallel.ClusterLost, match="no workers for 3 s"):
                parallel.map_ordered(time.sleep, [0.5 + 0.001 * i for i in range(20)],
                                     executor=client.get_executor())
            assert time.monotonic() - start < 30
