"""Relaxation throughput with a GAP: relaxations per minute and steps per second on 1 and
2 worker processes, and the parallel efficiency; with ``--dask``, the same on a local Dask
cluster as ``gapexplore run --dask-workers`` starts it and on one with Dask's own worker
environment (its ``MALLOC_TRIM_THRESHOLD_``: see
:data:`gapexplore.core.parallel.DASK_WORKER_CONFIG`), and Dask's overhead per task (no-op
tasks through the same map).

Needs a fitted GAP; by default the newest one of the demo run (``make demo`` first).
Random narrow-range Si cells are relaxed at random pressures (paper Eq. 5), as in an
iteration of the loop.

Usage::

    python benchmarks/bench_relax.py [--potential runs/demo/iter_002/gap/gap.xml]
        [--cells 16] [--fmax 0.05] [--max-steps 100]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import _common  # one BLAS thread: before numpy loads
import numpy as np

from gapexplore import Chemistry, random_cells
from gapexplore.relax import RelaxSettings, relax_structures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--potential", type=Path, default=None)
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dask", action="store_true", help="also on a local Dask cluster")
    args = parser.parse_args()
    potential = args.potential or sorted(Path("runs/demo").glob("iter_*/gap/gap.xml"))[-1]
    si = Chemistry.of("Si")
    cells = random_cells(si, args.cells, rng=np.random.default_rng(0))
    settings = RelaxSettings(fmax=args.fmax, max_steps=args.max_steps)
    print(f"{args.cells} random Si cells ({sum(map(len, cells)) / len(cells):.1f} atoms on "
          f"average), GAP {potential}, fmax {args.fmax} eV/Å, at most {args.max_steps} steps")
    base = None
    for kind in ["pool"] + (["dask", "dask-default"] if args.dask else []):
        for workers in args.workers:
            with _executor(kind, workers) as (executor, n_jobs):
                t0 = time.perf_counter()
                trajectories = relax_structures(cells, potential, chemistry=si,
                                                rng=np.random.default_rng(1),
                                                settings=settings, executor=executor,
                                                n_jobs=n_jobs)
                seconds = time.perf_counter() - t0
                overhead = _overhead_ms(executor) if executor is not None else None
            steps = sum(len(t) for t in trajectories)
            converged = sum(t[-1].info["relax_status"] == "converged" for t in trajectories)
            rate = len(cells) / seconds * 60
            base = base or rate
            print(f"  {kind}, {workers} worker(s): {seconds:6.1f} s, {rate:5.1f} "
                  f"relaxations/min, {steps / seconds:5.1f} steps/s, {converged}/{len(cells)} "
                  f"converged, speed-up {rate / base:.2f} "
                  f"(efficiency {rate / base / workers:.0%})"
                  + (f"; Dask overhead {overhead:.1f} ms/task = "
                     f"{overhead / 1000 / (seconds * workers / len(cells)):.2%} of a relaxation"
                     if overhead is not None else ""))


@contextlib.contextmanager
def _executor(kind, workers):
    """``"pool"``: gapexplore's process pool; ``"dask"``: its local Dask cluster (as
    ``gapexplore run --dask-workers``); ``"dask-default"``: a LocalCluster with Dask's own
    worker environment (``MALLOC_TRIM_THRESHOLD_=65536``), as before."""
    if kind == "pool":
        yield None, workers
        return
    with _common.dask_client(workers, dask_environment=kind == "dask-default") as client:
        yield client.get_executor(), 1


def _overhead_ms(executor, tasks=200):
    """Wall time per no-op task through map_ordered on ``executor`` [ms]."""
    from gapexplore.core.parallel import map_ordered

    map_ordered(abs, range(10), executor=executor)  # warm up
    t0 = time.perf_counter()
    map_ordered(abs, range(-tasks, 0), executor=executor)
    return (time.perf_counter() - t0) / tasks * 1000


if __name__ == "__main__":
    main()
