"""GAP evaluation speed: quippy's ``Potential`` against the native batched evaluator.

Fits the light Si model (``GapSettings.light``: 2b 6 Å, 3b, SOAP n = l = 4 with 300
sparse points; δ given, one gap_fit run) to 40 random cells labelled by Stillinger–Weber,
then, on random Si cells of 6–24 atoms (:func:`gapexplore.generate.random_cells`), times
energy + forces + stress:

* quippy: one ``Potential`` call per cell (stress among its default properties);
* native: :class:`gapexplore.potential.GapEvaluator`, one call per batch of B cells.

It prints cells per second of wall time and of this process's CPU time (the steadier
figure on a shared machine), each with its ratio to quippy measured in the same run
(quippy and each batch size timed in turn, ``--repeats`` rounds, median of the rounds),
and the largest deviation of the native results from quippy's over the cells. BLAS,
OpenMP and torch run one thread each.

Measured 2026-12-07 on a shared 2-core AMD EPYC VM (Python 3.11, quippy-ase 0.10.3,
torch 2.13.0 CPU, float64) while other jobs held the machine (load average 7–9, so wall
rates are low; CPU rates and ratios are the figures to read), 128 cells of mean 15.4
atoms, with::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_engine.py

    evaluator          cells/s   vs quippy   cells/CPU-s   vs quippy
    quippy                12.4        1.0x          33.3        1.0x
    native B=1            53.9        4.3x         136.4        4.1x
    native B=8           160.1       12.9x         448.3       13.4x
    native B=32          153.0       12.3x         456.1       13.7x
    native B=128         215.3       17.4x         581.1       17.4x
    largest deviation from quippy: energy 1.9e-10 eV/atom, forces 6.2e-10 eV/Å, stress 3.9e-11 eV/Å³

Then Table 1's shapes (load average 9–10)::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_engine.py --model paper --cells 64 \
        --batches 1 8 32 --repeats 2

    evaluator          cells/s   vs quippy   cells/CPU-s   vs quippy
    quippy                 4.4        1.0x          12.7        1.0x
    native B=1            21.8        5.0x          65.3        5.1x
    native B=8            52.3       11.9x         159.7       12.6x
    native B=32           36.8        8.3x         113.8        9.0x
    largest deviation from quippy: energy 2.1e-11 eV/atom, forces 1.0e-10 eV/Å, stress 2.7e-12 eV/Å³

Other options: ``--cells 64 --batches 1 16 64 --repeats 5 --seed 1``; ``--model paper``
times Table 1's shapes (2b 9.99 Å, 3b 3.25 Å, SOAP n = l = 8 at 4.995 Å, 386 sparse).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import _common  # noqa: F401  one BLAS thread: before numpy loads
import numpy as np

from gapexplore import Chemistry, dimers, isolated_atom
from gapexplore.fit import GapSettings, fit_gap, load_potential
from gapexplore.generate import random_cells
from gapexplore.label import label_structures
from gapexplore.potential import GapEvaluator

DELTAS = {"2b": 1.0, "3b": 0.3, "soap": 0.1}


def fitted_model(folder: str, seed: int, kind: str = "light"):
    """A Si GAP fitted to 40 random cells (SW labels) in ``folder``: the light model, or
    Table 1's (2b 9.99 Å, SOAP n = l = 8) with 386 SOAP sparse points."""
    si = Chemistry.of("Si")
    cells = random_cells(si, 40, rng=np.random.default_rng(seed + 1000))
    labelled = label_structures(cells + dimers(si) + [isolated_atom(si)], "sw-si")
    settings = (GapSettings.light(si) if kind == "light"
                else GapSettings.for_chemistry(si, n_sparse_soap=386))
    return fit_gap(labelled, si, folder, settings=settings, deltas=DELTAS).potential


def quippy_seconds(calculator, cells) -> tuple[tuple[float, float], list]:
    """(wall, CPU) seconds of one energy + forces + stress call per cell, and the results."""
    out = []
    start = time.perf_counter(), time.process_time()
    for atoms in cells:
        copy = atoms.copy()
        copy.calc = calculator
        out.append((copy.get_potential_energy(), copy.get_forces(), copy.get_stress()))
    return (time.perf_counter() - start[0], time.process_time() - start[1]), out


def native_seconds(evaluator, cells, batch: int) -> tuple[tuple[float, float], list]:
    """(wall, CPU) seconds of the native evaluator over ``cells`` in batches of ``batch``."""
    out = []
    start = time.perf_counter(), time.process_time()
    for first in range(0, len(cells), batch):
        results = evaluator.evaluate(cells[first:first + batch])
        out.extend(zip(results.energy, results.forces, results.stress))
    return (time.perf_counter() - start[0], time.process_time() - start[1]), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=128)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=["light", "paper"], default="light")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    si = Chemistry.of("Si")
    cells = random_cells(si, args.cells, rng=np.random.default_rng(args.seed), n_atoms=(6, 24))
    with tempfile.TemporaryDirectory() as folder:
        potential = fitted_model(folder, args.seed, args.model)
        calculator = load_potential(potential)
        evaluator = GapEvaluator(potential)
        native_seconds(evaluator, cells[:2], 2)                   # warm up
        quippy_seconds(calculator, cells[:2])
        times = {"quippy": []} | {f"native B={b}": [] for b in args.batches}
        worst = np.zeros(3)
        for _ in range(args.repeats):
            seconds, expected = quippy_seconds(calculator, cells)
            times["quippy"].append(seconds)
            for batch in args.batches:
                seconds, got = native_seconds(evaluator, cells, batch)
                times[f"native B={batch}"].append(seconds)
                for atoms, (e, f, s), (e2, f2, s2) in zip(cells, expected, got):
                    worst = np.maximum(worst, [abs(e - e2) / len(atoms), np.abs(f - f2).max(),
                                               np.abs(s - s2).max()])
    mean_atoms = np.mean([len(a) for a in cells])
    print(f"{args.model} model; {len(cells)} random Si cells, mean {mean_atoms:.1f} atoms; "
          f"median of {args.repeats} rounds; one thread")
    print(f"{'evaluator':<16}{'cells/s':>10}{'vs quippy':>12}{'cells/CPU-s':>14}"
          f"{'vs quippy':>12}")
    wall = {name: np.median([v[0] for v in values]) for name, values in times.items()}
    cpu = {name: np.median([v[1] for v in values]) for name, values in times.items()}
    for name in times:
        print(f"{name:<16}{len(cells) / wall[name]:>10.1f}{wall['quippy'] / wall[name]:>11.1f}x"
              f"{len(cells) / cpu[name]:>14.1f}{cpu['quippy'] / cpu[name]:>11.1f}x")
    print(f"largest deviation from quippy: energy {worst[0]:.1e} eV/atom, forces "
          f"{worst[1]:.1e} eV/Å, stress {worst[2]:.1e} eV/Å³")


if __name__ == "__main__":
    main()
