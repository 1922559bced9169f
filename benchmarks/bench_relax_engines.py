"""GAP relaxations per core-hour: quippy's ``Potential`` against the native evaluator, one
cell at a time (the relaxation loop of ``gapexplore.relax.relax``, unchanged).

Fits the light Si model to 40 random cells labelled by Stillinger–Weber (as
``bench_engine.py`` does), then relaxes the same random Si cells (6–24 atoms, Eq. 5
pressures) with each engine under the run's default relaxation settings (FIRE through the
cell filter, fmax and step cap as given) and prints, per engine, relaxations per CPU-hour of
this process and its ratio to quippy, and how many cells reach the same minimum (final
enthalpy within 1 meV/atom of quippy's, among the cells both converge). BLAS, OpenMP and
torch run one thread each. Relaxations are chaotic: a difference far below a meV/atom in a
force can end a long relaxation in another minimum, so "same minimum" is counted, not
assumed.

Usage (from the repository root)::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_relax_engines.py --cells 16

Measured 2026-12-07 on a shared 2-core AMD EPYC VM (Python 3.11, quippy-ase 0.10.3, torch
2.13.0 CPU; load average 6–7 from other jobs, so CPU time, not wall time), with
``--cells 12``::

    12 random Si cells of 13.5 atoms on average, fmax 0.05 eV/Å, at most 100 steps
    engine    relaxations/CPU-hour  vs quippy
    quippy                    1156       1.0x
    native                    3439       3.0x
    same minimum (final enthalpy within 1 meV/atom) in 5 of the 5 cells both converge

Batched relaxations (many cells in one native evaluation per step: 13–17× quippy's
evaluations per CPU-second in ``bench_engine.py``) are the next lever; this script measures
what the evaluator gives the existing loop.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import numpy as np  # noqa: E402
from bench_engine import fitted_model  # noqa: E402

from gapexplore import Chemistry, keys  # noqa: E402
from gapexplore.fit import load_potential  # noqa: E402
from gapexplore.generate import random_cells  # noqa: E402
from gapexplore.relax import RelaxSettings, random_pressures, relax  # noqa: E402


def relax_all(cells, pressures, calculator, settings, chemistry):
    """Final frames and CPU seconds of relaxing ``cells`` one after another."""
    finals, start = [], time.process_time()
    for atoms, pressure in zip(cells, pressures):
        frames = relax(atoms, calculator, pressure=pressure, chemistry=chemistry,
                       settings=settings)
        finals.append(frames[-1])
    return finals, time.process_time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--fmax", type=float, default=0.05, help="[eV/Å] (0.05)")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    si = Chemistry.of("Si")
    rng = np.random.default_rng(args.seed)
    cells = random_cells(si, args.cells, rng=rng)
    pressures = random_pressures(len(cells), rng=rng)
    settings = RelaxSettings(fmax=args.fmax, max_steps=args.max_steps)
    with tempfile.TemporaryDirectory() as folder:
        potential = fitted_model(folder, args.seed)
        runs = {engine: relax_all(cells, pressures, load_potential(potential, engine=engine),
                                  settings, si)
                for engine in ("quippy", "native")}
    print(f"{len(cells)} random Si cells of {np.mean([len(c) for c in cells]):.1f} atoms "
          f"on average, fmax {args.fmax} eV/Å, at most {args.max_steps} steps")
    print(f"{'engine':<8} {'relaxations/CPU-hour':>21} {'vs quippy':>10}")
    base = runs["quippy"][1]
    for engine, (_, seconds) in runs.items():
        print(f"{engine:<8} {3600 * len(cells) / seconds:21.0f} {base / seconds:9.1f}x")
    both = [(a, b) for a, b in zip(runs["quippy"][0], runs["native"][0])
            if a.info.get(keys.RELAX_STATUS) == b.info.get(keys.RELAX_STATUS) == "converged"]
    same = sum(abs(a.info[keys.ENTHALPY_PER_ATOM] - b.info[keys.ENTHALPY_PER_ATOM]) <= 1e-3
               for a, b in both)
    print(f"same minimum (final enthalpy within 1 meV/atom) in {same} of the {len(both)} "
          "cells both converge")


if __name__ == "__main__":
    main()
