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
