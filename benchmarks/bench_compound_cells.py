"""Random cells of compounds: gapexplore's own generator against pyxtal, same requests.

For each composition, gapexplore draws N random cells (``random_cells``, 6–24 atoms, 1–8
operations, narrow volume range). pyxtal (``pyxtal.from_random``) is then asked for the
same cells: the same space group, the same atoms of each species and the
same per-pair minimum separations (its tolerance matrix set to gapexplore's
0.9 (r_a + r_b)); pyxtal chooses its own volume. Printed per generator: wall time per
cell, cells built, the symmetry achieved (the operations spglib finds at 1e-3 Å against
those requested, per cell of the requested size), pairs closer than the separations, and
the mean volume per atom.

pyxtal is not a dependency of gapexplore; install it where this script can import it, e.g.
``pip install --no-deps --target /tmp/pyxlib pyxtal pyocse vasprun-xml`` and run with
``PYTHONPATH=/tmp/pyxlib``.

Usage::

    PYTHONPATH=/tmp/pyxlib python benchmarks/bench_compound_cells.py --cells 50
"""

from __future__ import annotations

import argparse
import time
import warnings

import _common  # noqa: F401  (one BLAS thread: before numpy loads)
import numpy as np
import spglib
from ase.neighborlist import neighbor_list

from gapexplore import Composition, keys
from gapexplore.generate import random_cells


def operations(atoms) -> int:
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    dataset = spglib.get_symmetry_dataset(cell, symprec=1e-3)
    return 1 if dataset is None else len(dataset.rotations)


def violations(atoms, composition) -> int:
    symbols = atoms.get_chemical_symbols()
    i, j, d = neighbor_list("ijd", atoms, 5.0)
    return int(sum(dist < composition.min_separation(symbols[a], symbols[b]) - 1e-6
                   for a, b, dist in zip(i, j, d)))


def pyxtal_cell(composition, atoms, rng):
    from pyxtal import pyxtal
    from pyxtal.tolerance import Tol_matrix

    tolerances = Tol_matrix(prototype="atomic")
    for a in composition.elements:
        for b in composition.elements:
            tolerances.set_tol(a, b, composition.min_separation(a, b))
    symbols = atoms.get_chemical_symbols()
    counts = [symbols.count(e) for e in composition.elements]
    crystal = pyxtal()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crystal.from_random(3, atoms.info[keys.SPACEGROUP_BUILT], list(composition.elements),
                            counts, tm=tolerances, random_state=int(rng.integers(2**31)))
    if not crystal.valid:
        return None
    return crystal.to_ase()   # at pyxtal's own volume (it sets one from the tolerances)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--formulas", nargs="+", default=["SiC", "TiO2", "Cu3Au"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'formula':<8s} {'generator':<11s} {'ms/cell':>8s} {'built':>7s} "
          f"{'symmetry kept':>14s} {'ops asked':>10s} {'ops found':>10s} {'too close':>10s} "
          f"{'V/atom':>7s}")
    for formula in args.formulas:
        composition = Composition.of(formula)
        rng = np.random.default_rng(args.seed)
        start = time.perf_counter()
        ours = random_cells(composition, args.cells, rng=rng, n_atoms=(6, 24))
        ours_ms = 1000 * (time.perf_counter() - start) / args.cells
        asked = [a.info[keys.SYMMOPS] for a in ours]
        found = [operations(a) for a in ours]
        print(f"{formula:<8s} {'gapexplore':<11s} {ours_ms:8.1f} {len(ours):4d}/{args.cells:<2d} "
              f"{np.mean([f >= k for f, k in zip(found, asked)]):14.0%} {np.mean(asked):10.1f} "
              f"{np.mean(found):10.1f} {sum(violations(a, composition) for a in ours):10d} "
              f"{np.mean([a.get_volume() / len(a) for a in ours]):7.2f}", flush=True)
        theirs, times, kept, their_found, close, volumes = 0, [], [], [], 0, []
        for atoms in ours:
            start = time.perf_counter()
            try:
                built = pyxtal_cell(composition, atoms, rng)
            except Exception:   # pyxtal's own failure to build is a finding
                built = None
            times.append(time.perf_counter() - start)
            if built is None:
                continue
            theirs += 1
            ops = operations(built) * len(atoms) / len(built)   # per primitive-size cell
            their_found.append(ops)
            kept.append(ops >= atoms.info[keys.SYMMOPS])
            close += violations(built, composition)
            volumes.append(built.get_volume() / len(built))
        print(f"{'':<8s} {'pyxtal':<11s} {1000 * np.mean(times):8.1f} "
              f"{theirs:4d}/{args.cells:<2d} {np.mean(kept) if kept else 0:14.0%} "
              f"{np.mean(asked):10.1f} {np.mean(their_found) if their_found else 0:10.1f} "
              f"{close:10d} {np.mean(volumes) if volumes else 0:7.2f}", flush=True)


if __name__ == "__main__":
    main()
