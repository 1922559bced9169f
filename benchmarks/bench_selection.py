"""Selection benchmark: 10,000 random Si cells -> averaged SOAP -> flat histogram + CUR.

Prints seconds, CPU seconds (this process and its workers) and peak memory per stage, for
the paper's SOAP settings and the fast preset, each computed by every backend of
``--backends`` (``SoapSettings.backend``; default ``dscribe,quip``), in the two shapes the
selection takes in a run:

* iteration 0: no enthalpies yet, so CUR chooses among all cells and every cell needs
  its averaged SOAP;
* later iterations: the flat histogram first keeps ``--pool`` cells (default 10 x the
  number selected) and only those need SOAP.

A table then gives iteration 0 of each backend as ratios to the first backend of the same
settings, measured in the same run. Then it checks that the cheaper settings do not choose
worse structures: on one pool, each selection's *residual* under the paper's kernel
(QUIP's) — the share of the kernel's trace that the chosen structures leave unexplained,
trace(K - C W⁺ Cᵀ) / trace(K) — is compared with the same figure for random choices
(5 seeds). Lower is better.

The flat histogram needs enthalpies. A random cell has none until a GAP relaxes it, so
this script gives each cell a stand-in: a Lennard-Jones energy per atom (σ = 2.1 Å,
ε = 1 eV, cutoff 6 Å) plus p·V at a pressure drawn from the paper's distribution (Eq. 5).
It only has to spread the cells over a realistic range; the time it takes is not counted.

Measured 2026-12-07 on a shared 2-core AMD EPYC VM (load average 4–6 from other work:
wall times about 1.5 times the CPU time), 10,000 cells, 100 selected, paper's settings,
``--settings paper --backends dscribe,quip``:

=================  ==========  ==========  ===========  =========
iteration 0        SOAP        SOAP CPU    whole        peak
=================  ==========  ==========  ===========  =========
dscribe            157 s       102 s       177 s        1.31 GiB
quip               26.8 s      17.5 s      44.9 s       1.45 GiB
ratio              0.17        0.17        0.25         1.11
=================  ==========  ==========  ===========  =========

The Nyström factor and CUR took 11.8 CPU-s of quip's 44.9 s. At the fast settings quip
costs about 0.2 ms of CPU per cell. With quippy, at 1,000 cells
(quippy is too slow for 10,000 here; ``--cells 1000 --select 20 --settings paper
--backends dscribe,quip,quippy``), iteration 0's SOAP in CPU-s: dscribe 14.5, quip 1.9
(0.13), quippy 94.2 (6.5); quip and quippy picked the same 20 cells.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_selection.py            # paper-sized
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_selection.py --settings paper \\
        --backends dscribe,quip
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_selection.py --cells 500 --select 20
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import _common  # noqa: F401  (one BLAS thread: before numpy loads)
import numpy as np
import psutil

from gapexplore import Chemistry, SoapSettings, averaged_soap, initial_cells, keys
from gapexplore.analysis import nystrom_residual
from gapexplore.select import cur_indices, flat_histogram_indices, kernel_features, random_indices

GPA_TO_EV_PER_A3 = 1.0 / 160.21766


class Stage:
    """Wall time of a block, its CPU time (this process and its worker processes: on a
    busy machine the steadier figure), and the peak resident memory of this process plus
    its children during it (children sampled every 20 ms with psutil)."""

    def __init__(self, name):
        self.name = name

    def _sample(self):
        me = psutil.Process()
        while not self.done.is_set():
            try:
                children = me.children(recursive=True)
                rss = me.memory_info().rss + sum(c.memory_info().rss for c in children)
                for child in children:
                    cpu = sum(child.cpu_times()[:2])
                    self.first_cpu.setdefault(child.pid, cpu)
                    self.last_cpu[child.pid] = cpu
            except psutil.Error:
                continue
            self.peak = max(self.peak, rss)
            self.done.wait(0.02)

    def __enter__(self):
        self.peak, self.done = 0, threading.Event()
        self.first_cpu, self.last_cpu = {}, {}
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.t0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = seconds = time.perf_counter() - self.t0
        self.done.set()
        self.thread.join()
        self.cpu = time.process_time() - self.cpu0 + sum(
            self.last_cpu[pid] - self.first_cpu[pid] for pid in self.last_cpu)
        print(f"  {self.name:<48s} {seconds:8.2f} s {self.cpu:8.2f} CPU-s "
              f"{self.peak / 2**30:6.2f} GiB peak RSS", flush=True)


def stand_in_enthalpy(cells, rng):
    """Lennard-Jones energy per atom + p V / N [eV/atom], p from P(p/p0) ∝ exp(-p/(β p0))."""
    sigma, cutoff = 2.1, 6.0
    pressures = rng.exponential(0.2, size=len(cells)) * GPA_TO_EV_PER_A3
    out = np.empty(len(cells))
    for k, atoms in enumerate(cells):
        cell = atoms.cell[:]
        widths = atoms.get_volume() / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]),
                                                     axis=1)
        reach = np.ceil(cutoff / widths).astype(int)
        shifts = np.stack(np.meshgrid(*[np.arange(-n, n + 1) for n in reach],
                                      indexing="ij"), -1).reshape(-1, 3) @ cell
        vec = atoms.positions[:, None, None, :] - atoms.positions[None, :, None, :] + shifts
        d = np.linalg.norm(vec, axis=-1)
        d = d[(d > 1e-8) & (d < cutoff)]
        energy = 0.5 * np.sum(4.0 * ((sigma / d) ** 12 - (sigma / d) ** 6))
        out[k] = (energy + pressures[k] * atoms.get_volume()) / len(atoms)
    return out


def selection_times(cells, enthalpy, soap, args, pool_size):
    """Both shapes of the selection with one SOAP: iteration 0 (every cell) and a later
    iteration (flat histogram first); seconds and peak memory, and the later picks."""
    out = {}
    t_start = time.perf_counter()
    with Stage(f"iteration 0: averaged SOAP of {len(cells)} cells") as stage:
        vectors = averaged_soap(cells, soap, n_jobs=args.jobs)
    out["soap"], out["soap_cpu"], peak = stage.seconds, stage.cpu, stage.peak
    with Stage(f"iteration 0: Nystroem kernel factor ({args.landmarks} columns)") as stage:
        rows = kernel_features(vectors, zeta=soap.zeta, n_landmarks=args.landmarks,
                               rng=np.random.default_rng(1))
    peak = max(peak, stage.peak)
    with Stage(f"iteration 0: CUR of {args.select}") as stage:
        cur_indices(rows, args.select)
    out["total"], out["peak"] = time.perf_counter() - t_start, max(peak, stage.peak)
    print(f"  {'iteration 0 total':<48s} {out['total']:8.2f} s  {out['peak'] / 2**30:6.2f} "
          "GiB peak RSS")
    del vectors, rows
    t_start = time.perf_counter()
    with Stage(f"iteration k: flat histogram {len(cells)} -> {pool_size}"):
        pool = np.sort(flat_histogram_indices(enthalpy, pool_size, args.kT,
                                              rng=np.random.default_rng(2)))
    with Stage(f"iteration k: averaged SOAP of {pool_size} cells"):
        vectors = averaged_soap([cells[i] for i in pool], soap, n_jobs=args.jobs)
    with Stage("iteration k: kernel factor + CUR"):
        rows = kernel_features(vectors, zeta=soap.zeta, n_landmarks=args.landmarks,
                               rng=np.random.default_rng(1))
        out["picked"] = cur_indices(rows, args.select)[0]
    print(f"  {'iteration k total (two-step selection)':<48s} "
          f"{time.perf_counter() - t_start:8.2f} s")
    return out, pool


def print_ratios(results, cells):
    """Iteration 0 per backend, as ratios to the first backend of the same settings."""
    print(f"\niteration 0 ({cells} cells), each backend against the first of its settings "
          "(same run)")
    print(f"  {'settings/backend':<18s} {'SOAP s':>8s} {'ratio':>6s} {'CPU-s':>8s} "
          f"{'ratio':>6s} {'total s':>8s} {'ratio':>6s} {'peak GiB':>9s} {'ratio':>6s}")
    base = {}
    for (name, backend), r in results.items():
        b = base.setdefault(name, r)
        print(f"  {name + '/' + backend:<18s} {r['soap']:8.2f} {r['soap'] / b['soap']:6.2f} "
              f"{r['soap_cpu']:8.2f} {r['soap_cpu'] / b['soap_cpu']:6.2f} "
              f"{r['total']:8.2f} {r['total'] / b['total']:6.2f} {r['peak'] / 2**30:9.2f} "
              f"{r['peak'] / b['peak']:6.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--select", type=int, default=100)
    parser.add_argument("--pool", type=int, default=None, help="default: 10 x --select")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--kT", type=float, default=0.1)
    parser.add_argument("--landmarks", type=int, default=2000)
    parser.add_argument("--settings", choices=("both", "paper", "fast"), default="both")
    parser.add_argument("--backends", default="dscribe,quip",
                        help="comma-separated SoapSettings backends; the first is the "
                             "baseline of the ratios (quippy: about 100 ms per cell)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pool_size = args.pool or 10 * args.select
    backends = args.backends.split(",")
    presets = {"paper": SoapSettings.paper, "fast": SoapSettings.fast}
    if args.settings != "both":
        presets = {args.settings: presets[args.settings]}
    rng = np.random.default_rng(args.seed)
    print(f"{args.cells} random Si cells, select {args.select}, pool {pool_size}, "
          f"{args.jobs} processes, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")

    with Stage(f"generate {args.cells} cells"):
        cells = initial_cells(Chemistry.of("Si"), args.cells, rng=rng, n_jobs=args.jobs)
    t0 = time.perf_counter()
    enthalpy = stand_in_enthalpy(cells, rng)
    print(f"  (stand-in enthalpies: {time.perf_counter() - t0:.1f} s, not counted)")
    for atoms, h in zip(cells, enthalpy):
        atoms.info[keys.ENTHALPY_PER_ATOM] = float(h)

    results = {}
    for name, preset in presets.items():
        for backend in backends:
            soap = preset(backend=backend)
            print(f"\n[{name}, {backend}] n_max = l_max = {soap.n_max}, sigma = {soap.sigma} Å, "
                  f"r_cut = {soap.r_cut} Å, zeta = {soap.zeta}")
            results[name, backend], pool = selection_times(cells, enthalpy, soap, args,
                                                           pool_size)
    print_ratios(results, len(cells))

    if "paper" in presets:
        print(f"\nselection quality on the {pool_size}-cell pool under the paper's kernel "
              "(QUIP's; residual share of trace K; lower is better)")
        paper = SoapSettings.paper(backend="quip")
        vectors = averaged_soap([cells[i] for i in pool], paper, n_jobs=args.jobs)
        kernel = (vectors @ vectors.T) ** paper.zeta
        randoms = [nystrom_residual(kernel, random_indices(len(pool), args.select,
                                                           rng=np.random.default_rng(s)))
                   for s in range(5)]
        base = float(np.mean(randoms))
        print(f"  random (5 seeds)        {base:.3e} ± {np.std(randoms):.1e}   ratio 1.00")
        for (name, backend), r in results.items():
            value = nystrom_residual(kernel, r["picked"])
            print(f"  kernel CUR, {name + '/' + backend:<14s} {value:.3e}          "
                  f"ratio {value / base:.2f}")


if __name__ == "__main__":
    main()
