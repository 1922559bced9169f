"""A local Dask cluster started the way gapexplore's tasks run fastest and safest on it."""

from __future__ import annotations

import logging

from gapexplore.core.checks import check_int

__all__ = ["DASK_WORKER_CONFIG", "local_dask_cluster"]


#: Dask configuration under which :func:`local_dask_cluster` starts its workers. Dask's
#: nanny starts each worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (glibc hands freed memory
#: back to the system at once); a GAP relaxation allocates and frees arrays every step, so
#: a worker so started takes 2–5× the page faults of a process-pool worker and about 7 %
#: more CPU time for the same relaxations (``benchmarks/bench_relax.py --dask``). Workers
#: that are not daemonic processes may start a child process, in which
#: :func:`.map_ordered` runs each isolated task (a reference calculation), so that a task
#: that kills its process takes the child, not the worker. Put the same entries in a Dask
#: configuration file (``distributed: nanny: pre-spawn-environ: MALLOC_TRIM_THRESHOLD_:
#: null`` and ``distributed: worker: daemon: false``) for workers started by hand with a
#: nanny; ``dask worker --no-nanny`` workers need neither.
DASK_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                      "distributed.worker.daemon": False}


def local_dask_cluster(n_workers: int):
    """A local Dask cluster of ``n_workers`` single-threaded worker processes, started under
    :data:`DASK_WORKER_CONFIG`, and its client.

    Parameters
    ----------
    n_workers : int
        Worker processes (one core each).

    Returns
    -------
    (distributed.LocalCluster, distributed.Client)
        Close both when done (the client first); ``client.get_executor()`` is the
        executor to hand to :func:`.map_ordered` or an ``Explorer``.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    n_workers = check_int(n_workers, "n_workers", "local_dask_cluster", low=1)
    with dask.config.set(DASK_WORKER_CONFIG):  # the nannies keep it for their restarts
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
    return cluster, Client(cluster)
