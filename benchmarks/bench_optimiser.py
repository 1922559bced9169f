"""Which optimiser relaxes random cells fastest, and what a step costs beyond the GAP call.

Relaxes the same random cells (the paper's sizes: 6–24 atoms, 1–8 symmetry operations, at
pressures drawn from Eq. 5) with a GAP, once per optimiser of
:data:`gapexplore.relax.OPTIMISERS`, all through the enthalpy-minimising Fréchet cell
filter and keeping every frame, and once more with the paper's optimiser on ASE's own
filter (``FrechetCellFilter`` as ASE ships it: its forces recomputed each time an
optimiser asks, the code before the cached filter). Per optimiser it prints:

* converged: relaxations that reached fmax within the step cap;
* steps: median frames to convergence (converged ones), and GAP calls per relaxation;
* wall: median seconds per relaxation and the total;
* overhead: (wall − time inside the GAP's calculate) / time inside it, summed over all
  relaxations, i.e. the framework's cost per step as a share of the GAP call;
* progress lines give each relaxation's steps (``*``: ASE's filter; ``!``: not converged);
* lowest: the share of cells where this optimiser ended within 1 meV/atom of the lowest
  enthalpy any optimiser found for that cell, and the median excess [meV/atom].

The GAP time is measured inside this process around quippy's ``calculate``, so the
overhead is a ratio within one run. Each cell's relaxations run in one worker process, one
optimiser after the other.

The GAP is the newest of the demo run, or ``--potential``, or one fitted here (once, kept
under ``benchmarks/out/optimiser/``) with the ``--gap`` preset to the labels of the run
folder ``--labels-from``, e.g. the paper's model on a grown benchmark run's 260 CHGNet
labels::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_optimiser.py
        [--potential runs/demo/iter_003/gap/gap.xml | --labels-from RUN --gap paper]
        [--cells 30] [--atoms 6 24] [--fmax 0.01] [--max-steps 300] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _common  # one BLAS thread: before numpy loads
import numpy as np

ASE_FILTER = "precon-lbfgs, ASE's filter"
OUT = Path(__file__).resolve().parent / "out" / "optimiser"


def _fitted(run: Path, preset: str) -> Path:
    """A GAP of the ``preset`` fitted to the labels of the run folder ``run`` (kept)."""
    from gapexplore import ExploreSettings
    from gapexplore.fit import fit_gap

    workdir = OUT / f"gap_{preset}_{run.parent.name}_{run.name}"
    if not (workdir / "gap.xml").exists():
        reader = _common.read_run(run)
        settings = ExploreSettings.from_dict({**reader.settings.to_dict(),
                                              "gap": {"preset": preset}})
        labels = reader.store.labels()
        print(f"fitting the {preset} GAP to the {len(labels)} labels of {run}", flush=True)
        fit_gap(labels, settings.chemistry(), workdir, settings=settings.gap_settings())
    return workdir / "gap.xml"


def _relax_one(item):
    """Relax one cell with every optimiser; return a row per optimiser."""
    import importlib

    from ase.filters import FrechetCellFilter

    from gapexplore import Chemistry, keys
    from gapexplore.fit import load_potential
    from gapexplore.relax import OPTIMISERS, RelaxSettings, relax

    relax_module = importlib.import_module("gapexplore.relax.loop")
    atoms, pressure, potential, fmax, max_steps = item
    calculator = load_potential(potential)
    spent = [0.0, 0]
    calculate = calculator.calculate

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return calculate(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start
            spent[1] += 1

    calculator.calculate = timed
    rows = {}
    for name in (ASE_FILTER, *OPTIMISERS):
        optimiser = "precon-lbfgs" if name == ASE_FILTER else name
        kept = relax_module.FastFrechetCellFilter
        if name == ASE_FILTER:
            relax_module.FastFrechetCellFilter = FrechetCellFilter
        spent[:] = [0.0, 0]
        calculator.reset()
        start = time.perf_counter()
        try:
            frames = relax(atoms, calculator, pressure=pressure,
                           chemistry=Chemistry.of("Si"),
                           settings=RelaxSettings(fmax=fmax, max_steps=max_steps,
                                                  optimiser=optimiser))
        finally:
            relax_module.FastFrechetCellFilter = kept
        wall = time.perf_counter() - start
        last = frames[-1].info
        rows[name] = {"wall": wall, "gap": spent[0], "calls": spent[1], "steps": len(frames),
                      "status": last.get(keys.RELAX_STATUS, ""),
                      "enthalpy": last.get(keys.ENTHALPY_PER_ATOM, np.nan)}
    return len(atoms), rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--potential", type=Path, default=None,
                        help="a GAP XML file (default: the newest of runs/demo)")
    parser.add_argument("--labels-from", type=Path, default=None,
                        help="a run folder whose labels the GAP is fitted to")
    parser.add_argument("--gap", default="paper", help="the GAP preset with --labels-from")
    parser.add_argument("--cells", type=int, default=30)
    parser.add_argument("--atoms", type=int, nargs=2, default=(6, 24))
    parser.add_argument("--fmax", type=float, default=0.01)
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from gapexplore import Chemistry, random_cells
    from gapexplore.relax import OPTIMISERS, random_pressures

    if args.labels_from is not None:
        potential = _fitted(args.labels_from, args.gap)
    else:
        potential = args.potential or sorted(Path("runs/demo").glob("iter_*/gap/gap.xml"))[-1]
    rng = np.random.default_rng(args.seed)
    cells = random_cells(Chemistry.of("Si"), args.cells, rng=rng, n_atoms=tuple(args.atoms))
    pressures = random_pressures(args.cells, rng=rng)
    items = [(a, float(p), str(potential), args.fmax, args.max_steps)
             for a, p in zip(cells, pressures)]
    print(f"{args.cells} random Si cells of {args.atoms[0]}–{args.atoms[1]} atoms "
          f"(mean {np.mean([len(a) for a in cells]):.1f}), Eq. 5 pressures, fmax "
          f"{args.fmax} eV/Å, ≤ {args.max_steps} steps, GAP {potential}, "
          f"{args.workers} worker processes, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}", flush=True)
    start = time.perf_counter()
    results = []
    with ProcessPoolExecutor(args.workers) as pool:
        for n_atoms, rows in pool.map(_relax_one, items):
            results.append((n_atoms, rows))
            print(f"  cell {len(results)}/{len(items)} ({n_atoms} atoms): " + ", ".join(
                f"{name.split(',')[0]}{'*' if name == ASE_FILTER else ''} {row['steps']}"
                f"{'' if row['status'] == 'converged' else '!'}" for name, row in rows.items()),
                flush=True)
    print(f"wall {time.perf_counter() - start:.0f} s\n")

    names = (ASE_FILTER, *OPTIMISERS)
    lowest = np.array([min(r[n]["enthalpy"] for n in names
                           if r[n]["status"] == "converged") if any(
                               r[n]["status"] == "converged" for n in names) else np.nan
                       for _, r in results])
    header = (f"{'optimiser':<28}{'converged':>10}{'steps':>7}{'calls':>7}{'wall/s':>8}"
              f"{'total/s':>9}{'overhead':>10}{'lowest':>8}{'excess':>8}")
    print(header)
    print("-" * len(header))
    for name in names:
        rows = [r[name] for _, r in results]
        ok = [row["status"] == "converged" for row in rows]
        steps = np.median([row["steps"] for row, good in zip(rows, ok) if good]) \
            if any(ok) else np.nan
        calls = np.mean([row["calls"] for row in rows])
        walls = [row["wall"] for row in rows]
        overhead = (sum(walls) - sum(row["gap"] for row in rows)) / sum(row["gap"] for row in rows)
        excess = np.array([1000 * (row["enthalpy"] - low) if good else np.nan
                           for row, good, low in zip(rows, ok, lowest)])
        within = np.sum(excess[np.isfinite(excess)] < 1.0)
        print(f"{name:<28}{sum(ok):>5}/{len(rows):<4}{steps:>7.0f}{calls:>7.0f}"
              f"{np.median(walls):>8.2f}{sum(walls):>9.0f}{overhead:>+10.1%}"
              f"{within:>5}/{len(rows):<2}{np.nanmedian(excess):>8.1f}")
    print("\nsteps: median frames of the converged relaxations; calls: GAP calls per "
          "relaxation; overhead: wall beyond the GAP's calculate, per GAP second; lowest: "
          "cells ending within 1 meV/atom of the lowest enthalpy any optimiser reached; "
          "excess: median meV/atom above it (converged ones)")


if __name__ == "__main__":
    main()
