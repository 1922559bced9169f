"""Fit benchmark: one full three-stage GAP fit (2b, 2b+3b, 2b+3b+SOAP) for N labelled cells.

Random Si cells (iteration-0 mix) plus dimers and the isolated atom are labelled with the
Stillinger-Weber toy reference, then fitted with automatic δ. Prints, per N, the wall time
of the fit, the peak resident memory of gap_fit (the largest child process), δ, the
training errors, and the wall time of each stage with the ratio of the three stages to the
full fit alone (the cost of setting δ automatically).

gap_fit from the quippy-ase wheel is single-threaded (FIELD-NOTES): the script runs each N
with OMP_NUM_THREADS=1 and, with ``--threads 2``, again with 2 threads to show the effect.

Usage::

    python benchmarks/bench_fit.py --cells 100 300 --settings paper
    python benchmarks/bench_fit.py --cells 100 300 1000 --settings light
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import _common  # noqa: F401  one BLAS thread: before numpy loads
import numpy as np

from gapexplore import Chemistry, dimers, initial_cells, isolated_atom
from gapexplore.fit import GapSettings, fit_gap
from gapexplore.label import label_structures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--settings", choices=("paper", "light"), default="paper")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    si = Chemistry.of("Si")
    settings = GapSettings.for_chemistry(si) if args.settings == "paper" else GapSettings.light(si)
    print(f"settings: {args.settings} (SOAP n = l = {settings.n_max}, "
          f"{settings.n_sparse_soap} sparse points)")
    extras = label_structures(dimers(si) + [isolated_atom(si)], "sw-si")
    for n in args.cells:
        cells = initial_cells(si, n, rng=np.random.default_rng(args.seed))
        t0 = time.perf_counter()
        labelled = label_structures(cells, "sw-si")
        t_label = time.perf_counter() - t0
        for threads in args.threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)
            with tempfile.TemporaryDirectory() as workdir:
                t0 = time.perf_counter()
                result = fit_gap(labelled + extras, si, workdir, settings=settings)
                seconds = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
            print(f"{n:5d} cells ({result.n_environments} atoms), OMP_NUM_THREADS={threads}: "
                  f"fit {seconds:7.1f} s (labelling {t_label:.1f} s), largest gap_fit so far "
                  f"{peak:.2f} GiB; delta 2b/3b/soap = "
                  f"{result.deltas['2b']:.3f}/{result.deltas['3b']:.3f}/"
                  f"{result.deltas['soap']:.4f} eV; training RMSE "
                  f"{1000 * result.rmse_energy:.1f} meV/atom, "
                  f"{result.rmse_forces:.3f} eV/Å", flush=True)
            stages = result.stage_seconds
            print(f"      stages [s]: 2b {stages['2b']:.1f}, 2b+3b {stages['2b+3b']:.1f} (each "
                  f"with the training errors that set the next δ), full {stages['full']:.1f}, "
                  f"final training errors {stages['errors']:.1f}; the three stages cost "
                  f"{(stages['2b'] + stages['2b+3b'] + stages['full']) / stages['full']:.2f}× "
                  "the full fit alone", flush=True)


if __name__ == "__main__":
    main()
