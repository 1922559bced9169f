"""GAP relaxations per core-hour: quippy's ``Potential`` one cell at a time against the
native engine relaxing many cells at once, and what 10,000 relaxations an iteration cost.

For each model (``--models``: the light Si model, Table 1's Si model, the light SiC model;
each fitted here to 40 random cells labelled by the toy reference, δ given, one gap_fit
run) it relaxes the same random cells (6–24 atoms, Eq. 5 pressures, the run's relaxation
settings: FIRE through the cell filter, fmax 0.01 eV/Å, at most 300 steps) with

* quippy: :func:`gapexplore.relax.relax`, ASE's optimiser and filter, one cell at a time;
* native: :func:`gapexplore.relax.batched.relax_batch`, every cell in flight evaluated in
  one pass per step (what ``relax_structures`` does with ``engine="native"``),

and prints relaxations and frames per CPU-hour of this process (one core; BLAS, OpenMP
and torch one thread each), the ratio to quippy, and how many cells reach the same minimum
(final enthalpy within 1 meV/atom of quippy's, among the cells both converge). Then, with
the light Si model, the native engine's frames per CPU-second and peak memory against the
atoms in flight (``max_atoms``) and against the cell size (6, 12, 24 atoms, quippy beside
it), and the projection: hours for 10,000 relaxations on 2, 16 and 128 cores, assuming
independent relaxations spread over processes without loss (one GPU: not measured here).

Usage (from the repository root)::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_relax_engines.py            # about 15 min
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_relax_engines.py --cells 8 --models si-light
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_relax_engines.py --device cuda --cells 64 \
        --no-scaling                  # on a GPU machine: native rates per wall-hour of the GPU

Measured 2026-12-07 on a shared 2-core AMD EPYC VM (quippy-ase 0.10.3, torch 2.13.0 CPU;
other jobs running, so CPU time): 13.1–15.6× quippy's relaxations per CPU-hour on the three
models, every cell both engines converge at the same minimum; the whole output is
``docs/studies/relax-engines.txt``, shown on the documentation's speed page.

Relaxations are chaotic: a difference far below a meV/atom in a force can end a long
relaxation in another minimum, so "same minimum" is counted, not assumed.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time

import _common  # noqa: F401  (one BLAS thread: before numpy loads)
import numpy as np
import psutil

from gapexplore import Chemistry, Composition, dimers, isolated_atom, keys
from gapexplore.fit import GapSettings, fit_gap, load_potential
from gapexplore.generate import random_cells
from gapexplore.label import label_structures
from gapexplore.potential import GapEvaluator
from gapexplore.relax import RelaxSettings, random_pressures, relax
from gapexplore.relax.batched import relax_batch

DELTAS = {"2b": 1.0, "3b": 0.3, "soap": 0.1}
MODELS = {"si-light": ("Si", "light"), "si-table1": ("Si", "table1"),
          "sic-light": ("SiC", "light")}


def fitted(folder: str, name: str, seed: int) -> str:
    """The GAP ``name`` (:data:`MODELS`) fitted to 40 random cells in ``folder``."""
    formula, kind = MODELS[name]
    chemistry = Chemistry.of(formula) if formula == "Si" else Composition.of(formula)
    reference = "sw-si" if formula == "Si" else "tersoff-sic"
    cells = random_cells(chemistry, 40, rng=np.random.default_rng(seed + 1000))
    atoms = isolated_atom(chemistry)
    labelled = label_structures(cells + dimers(chemistry)
                                + (atoms if isinstance(atoms, list) else [atoms]), reference)
    settings = (GapSettings.light(chemistry) if kind == "light"
                else GapSettings.for_chemistry(chemistry, n_sparse_soap=386))
    return str(fit_gap(labelled, chemistry, f"{folder}/{name}", settings=settings,
                       deltas=DELTAS).potential)


class PeakMemory:
    """Peak resident memory [MB] of this process while the block runs (sampled)."""

    def __enter__(self):
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss / 2**20)
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def relax_quippy(cells, pressures, potential, settings, chemistry):
    """(trajectories, CPU seconds) relaxing one cell after another with quippy."""
    calculator = load_potential(potential)
    start = time.process_time()
    out = [relax(a, calculator, pressure=p, chemistry=chemistry, settings=settings)
           for a, p in zip(cells, pressures)]
    return out, time.process_time() - start


#: Where the native evaluator runs (``--device``); on a GPU its seconds are wall seconds.
DEVICE = {"name": "cpu"}


def relax_native(cells, pressures, potential, settings, chemistry, max_atoms=None):
    """(trajectories, CPU seconds (wall seconds on a GPU), peak MB of this process)
    relaxing all cells in batches natively."""
    device = DEVICE["name"]
    evaluator = GapEvaluator(potential, device=device,
                             max_atoms=256 if device == "cpu" else 4096)
    evaluator.evaluate(cells[:2])                         # torch's first-call set-up
    clock = time.process_time if device == "cpu" else time.perf_counter
    with PeakMemory() as memory:
        start = clock()
        out = relax_batch(cells, pressures, evaluator, chemistry=chemistry,
                          settings=settings, max_atoms=max_atoms)
        seconds = clock() - start
    return out, seconds, memory.peak


def same_minima(first, second) -> tuple[int, int]:
    """(cells whose final enthalpies agree within 1 meV/atom, cells both converge)."""
    both = [(a[-1], b[-1]) for a, b in zip(first, second)
            if a[-1].info.get(keys.RELAX_STATUS) == b[-1].info.get(keys.RELAX_STATUS)
            == "converged"]
    same = sum(abs(a.info[keys.ENTHALPY_PER_ATOM] - b.info[keys.ENTHALPY_PER_ATOM]) <= 1e-3
               for a, b in both)
    return same, len(both)


def compare_engines(name, potential, args, rates):
    """Both engines on the same cells with the model ``name``; its rates go in ``rates``."""
    formula = MODELS[name][0]
    chemistry = Chemistry.of(formula) if formula == "Si" else Composition.of(formula)
    rng = np.random.default_rng(args.seed)
    cells = random_cells(chemistry, args.cells, rng=rng)
    pressures = random_pressures(len(cells), rng=rng)
    settings = RelaxSettings()
    quippy, q_seconds = relax_quippy(cells, pressures, potential, settings, chemistry)
    native, n_seconds, peak = relax_native(cells, pressures, potential, settings, chemistry)
    print(f"\n{name}: {len(cells)} random cells of {np.mean([len(c) for c in cells]):.1f} "
          f"atoms on average, fmax {settings.fmax} eV/Å, at most {settings.max_steps} steps")
    print(f"{'engine':<8} {'relaxations/CPU-h':>18} {'frames/CPU-s':>13} {'vs quippy':>10}")
    for engine, runs, seconds in (("quippy", quippy, q_seconds), ("native", native, n_seconds)):
        frames = sum(len(t) for t in runs)
        print(f"{engine:<8} {3600 * len(cells) / seconds:18.0f} {frames / seconds:13.1f} "
              f"{q_seconds / seconds:9.1f}x")
    same, both = same_minima(quippy, native)
    print(f"same minimum (final enthalpy within 1 meV/atom) in {same} of the {both} cells "
          f"both converge; native peak memory {peak:.0f} MB")
    rates[name] = 3600 * len(cells) / q_seconds, 3600 * len(cells) / n_seconds


def batch_scaling(potential, seed):
    """Native frames per CPU-second and peak memory against the atoms in flight."""
    si = Chemistry.of("Si")
    rng = np.random.default_rng(seed + 1)
    cells = random_cells(si, 64, rng=rng)
    pressures = random_pressures(len(cells), rng=rng)
    settings = RelaxSettings(fmax=0.05, max_steps=60)
    print("\nsi-light, native, 64 cells, fmax 0.05 eV/Å, at most 60 steps, by atoms in flight")
    print(f"{'max_atoms':>9} {'frames/CPU-s':>13} {'peak MB':>8}")
    for max_atoms in (32, 64, 128, 256, 512, 1024):
        runs, seconds, peak = relax_native(cells, pressures, potential, settings, si,
                                           max_atoms=max_atoms)
        print(f"{max_atoms:9d} {sum(len(t) for t in runs) / seconds:13.1f} {peak:8.0f}")


def cell_size_scaling(potential, seed):
    """ms of CPU per frame against the cell size, both engines."""
    si = Chemistry.of("Si")
    settings = RelaxSettings(fmax=0.05, max_steps=30)
    print("\nsi-light, CPU ms per frame by cell size (8 cells each, at most 30 steps)")
    print(f"{'atoms':>5} {'quippy':>8} {'native':>8} {'ratio':>6}")
    for n in (6, 12, 24):
        rng = np.random.default_rng(seed + n)
        cells = random_cells(si, 8, rng=rng, n_atoms=n)
        pressures = random_pressures(len(cells), rng=rng)
        quippy, q_seconds = relax_quippy(cells, pressures, potential, settings, si)
        native, n_seconds, _ = relax_native(cells, pressures, potential, settings, si)
        q = 1000 * q_seconds / sum(len(t) for t in quippy)
        m = 1000 * n_seconds / sum(len(t) for t in native)
        print(f"{n:5d} {q:8.2f} {m:8.2f} {q / m:5.1f}x")


def projection(rates):
    """Hours for 10,000 relaxations an iteration, by model, engine and cores."""
    if DEVICE["name"] != "cpu":
        print(f"\n10,000 relaxations: hours on 2 / 16 / 128 cores with quippy, on one "
              f"{DEVICE['name']} device with the native engine (its wall time)")
        for name, (quippy, native) in rates.items():
            hours = " / ".join(f"{10_000 / (quippy * cores):.2f}" for cores in (2, 16, 128))
            print(f"{name:<10} quippy {hours}; native {10_000 / native:.2f}")
        return
    print("\n10,000 relaxations: hours on 2 / 16 / 128 cores (one GPU: --device cuda)")
    for name, (quippy, native) in rates.items():
        for engine, rate in (("quippy", quippy), ("native", native)):
            hours = " / ".join(f"{10_000 / (rate * cores):.2f}" for cores in (2, 16, 128))
            print(f"{name:<10} {engine:<7} {hours}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-scaling", action="store_true",
                        help="skip the batch-size and cell-size tables")
    parser.add_argument("--device", default="cpu",
                        help="torch device of the native evaluator (cpu; cuda on a GPU: "
                        "its rates are then per wall-hour of the device, passes of 4,096 "
                        "atoms)")
    args = parser.parse_args()
    DEVICE["name"] = args.device
    import torch

    torch.set_num_threads(1)
    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            potential = fitted(folder, name, args.seed)
            compare_engines(name, potential, args, rates)
            if name == "si-light" and not args.no_scaling:
                batch_scaling(potential, args.seed)
                cell_size_scaling(potential, args.seed)
    projection(rates)


if __name__ == "__main__":
    main()
