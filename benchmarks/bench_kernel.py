"""Kernel benchmark: how close each averaged-SOAP backend comes to the paper's (QUIP's).

On N random Si cells (6–24 atoms, :func:`gapexplore.generate.random_cells`), at the
paper's SOAP settings and at ``SoapSettings.fast()``, for each backend this prints

* CPU seconds per 1,000 cells (``time.process_time`` of this process, one process);
  QUIP's through quippy (backend ``"quippy"``; ``"quip"`` computes the same vectors from
  QUIP's definitions, ``benchmarks/bench_selection.py`` times it);
* the Pearson correlation of the kernel's off-diagonal entries, k_AB = (p_A · p_B)^ζ,
  with QUIP's (the authors' code, paper Eqs. 1–4);
* the mean absolute difference of those entries from QUIP's;
* how many of 16 kernel-CUR picks (:func:`gapexplore.select.cur_indices` on the exact
  kernel factor) it shares with QUIP's.

Besides the two backends, the row ``dscribe, √2`` weights dscribe's n ≠ n' entries (and
its unlike-element blocks, stored once) by √2, so that its dot product is Eq. 4's full sum
in dscribe's basis: it shows whether counting the cross terms twice brings dscribe closer
to QUIP (it does not: the radial basis is what differs).

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_kernel.py             # 200 cells
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_kernel.py --cells 50 --seed 1
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import _common  # noqa: F401  (one BLAS thread: before numpy loads)
import numpy as np

from gapexplore.core.chemistry import Chemistry
from gapexplore.describe import SoapSettings, averaged_soap
from gapexplore.generate import random_cells
from gapexplore.select import cur_indices, kernel_features

N_PICKS = 16


def dscribe_full_sum(cells, soap: SoapSettings) -> np.ndarray:
    """dscribe's averaged SOAP with the n ≠ n' entries weighted by √2, normalised."""
    vectors = averaged_soap(cells, replace(soap, backend="dscribe"))
    vectors = vectors * cross_weights(1, soap.n_max, soap.l_max)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def cross_weights(n_species: int, n_max: int, l_max: int) -> np.ndarray:
    """√2 on every stored entry of dscribe's output that stands for two terms of Eq. 4
    (n ≠ n' within an element; every entry of an unlike-element block), 1 on n = n'.

    dscribe's layout (``getPD`` in its ``soapGTO.cpp``, compression "off"): element pairs
    Z ≤ Z', then l, then (n, n') with n ≤ n' for Z = Z' and all (n, n') for Z < Z'.
    """
    weights = []
    for z in range(n_species):
        for z_other in range(z, n_species):
            for _ in range(l_max + 1):
                if z == z_other:
                    weights += [1.0 if n == m else np.sqrt(2.0)
                                for n in range(n_max) for m in range(n, n_max)]
                else:
                    weights += [np.sqrt(2.0)] * (n_max * n_max)
    return np.asarray(weights)


def timed(fn):
    """``fn()`` and the CPU seconds it took in this process."""
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def kernel_and_picks(vectors: np.ndarray, zeta: int):
    """Off-diagonal kernel entries and the 16 kernel-CUR picks (as a set)."""
    kernel = (vectors @ vectors.T) ** zeta
    rows = kernel_features(vectors, zeta=zeta, n_landmarks=len(vectors),
                           rng=np.random.default_rng(0))
    picks = cur_indices(rows, min(N_PICKS, len(vectors)))[0]
    return kernel[np.triu_indices(len(vectors), 1)], set(picks.tolist())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cells = random_cells(Chemistry.of("Si"), args.cells, rng=np.random.default_rng(args.seed))
    atoms = sum(len(c) for c in cells)
    print(f"{args.cells} random Si cells ({atoms / args.cells:.1f} atoms per cell on average), "
          f"seed {args.seed}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    header = (f"{'settings':<8s} {'backend':<16s} {'CPU s / 1000 cells':>18s} "
              f"{'corr(K, K_quip)':>15s} {'mean |ΔK|':>10s} {'CUR picks shared':>16s}")
    print(header)
    print("-" * len(header))
    for name in ("paper", "fast"):
        soap = getattr(SoapSettings, name)()
        runs = {
            "quippy": lambda s=soap: averaged_soap(cells, replace(s, backend="quippy")),
            "dscribe": lambda s=soap: averaged_soap(cells, replace(s, backend="dscribe")),
            "dscribe, √2": lambda s=soap: dscribe_full_sum(cells, s),
        }
        reference = None
        for backend, run in runs.items():
            vectors, seconds = timed(run)
            off_diagonal, picks = kernel_and_picks(vectors, soap.zeta)
            if reference is None:
                reference = (off_diagonal, picks)
            corr = np.corrcoef(off_diagonal, reference[0])[0, 1]
            diff = np.mean(np.abs(off_diagonal - reference[0]))
            shared = len(picks & reference[1])
            print(f"{name:<8s} {backend:<16s} {1000 * seconds / args.cells:18.1f} "
                  f"{corr:15.3f} {diff:10.4f} {shared:>10d} of {len(picks):<3d}", flush=True)


if __name__ == "__main__":
    main()
