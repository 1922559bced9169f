"""Matcher benchmark: does ``gapexplore results`` merge what is one structure, and only that?

On the converged minima of a finished run (default: the demo's, ``bench_demo.py --seeds 0``),
ranked by the run's newest GAP as ``gapexplore results`` ranks them, this prints

* how many distinct structures gapexplore's matcher (:func:`gapexplore.run.results.
  distinct_structures`: formula, space group, energy, volume and averaged-SOAP cosine) finds,
  and how many pymatgen's ``StructureMatcher`` (default tolerances; energies ignored) finds;
* the agreement of the two partitions over all pairs of minima: pairs both call the same
  structure, pairs only one of them does;
* recall on known-equivalent copies: each distinct structure next to a 2×1×1 supercell of
  itself, a rotated copy, a copy with its atoms in another order and a copy with every atom
  moved by up to 0.005 Å, each scored by the same GAP; the copies should all merge with
  their original (and nothing else);
* the matcher's wall time against pymatgen's on the same minima.

Usage::

    python benchmarks/bench_demo.py --seeds 0        # the demo run, if not there yet
    python benchmarks/bench_matcher.py [RUN_FOLDER] [--energy-tol 0.005] [--soap-tol 1e-3]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import _common  # one BLAS thread: before numpy loads
import numpy as np
from scipy.spatial.transform import Rotation

from gapexplore.fit import predict
from gapexplore.run.results import distinct_structures, run_minima

HERE = Path(__file__).resolve().parent


def copies(atoms, rng):
    """Four known-equivalent copies of ``atoms``."""
    supercell = atoms.repeat((2, 1, 1))
    rotated = atoms.copy()
    matrix = Rotation.random(random_state=int(rng.integers(2**31))).as_matrix()
    rotated.set_cell(atoms.cell[:] @ matrix.T, scale_atoms=True)
    permuted = atoms[rng.permutation(len(atoms))]
    rattled = atoms.copy()
    rattled.positions += rng.uniform(-0.005, 0.005, size=(len(atoms), 3))
    return {"2x1x1 supercell": supercell, "rotated": rotated, "atoms permuted": permuted,
            "rattled 0.005 Å": rattled}


def groups_of(labels) -> set:
    """The pairs (i, j) in one group."""
    return {(i, j) for i, j in itertools.combinations(range(len(labels)), 2)
            if labels[i] == labels[j]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=HERE / "out/demo/seed_0")
    parser.add_argument("--energy-tol", type=float, default=0.005)
    parser.add_argument("--soap-tol", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor

    run = _common.read_run(args.folder)
    minima = run_minima(run.store)
    n = np.array([len(a) for a in minima])
    energies = predict(minima, run.potential)[0] / n
    tolerances = {"energy_tol": args.energy_tol, "soap_tol": args.soap_tol}
    print(f"{len(minima)} converged minima of {args.folder} ({n.min()}–{n.max()} atoms), "
          f"energy_tol {args.energy_tol} eV/atom, soap_tol {args.soap_tol}")

    start = time.perf_counter()
    found = distinct_structures(minima, energies=energies, **tolerances)
    ours_seconds = time.perf_counter() - start
    ours = [None] * len(minima)
    for g, group in enumerate(found):
        for i in group.members:
            ours[i] = g

    start = time.perf_counter()
    structures = [AseAtomsAdaptor.get_structure(a) for a in minima]
    grouped = StructureMatcher().group_structures(structures)
    pymatgen_seconds = time.perf_counter() - start
    theirs = [None] * len(minima)
    for g, group in enumerate(grouped):
        for s in group:
            theirs[next(i for i, t in enumerate(structures) if t is s)] = g

    a, b = groups_of(ours), groups_of(theirs)
    total = len(minima) * (len(minima) - 1) // 2
    print(f"\n{'matcher':<28s} {'distinct':>8s} {'wall s':>8s}")
    print(f"{'gapexplore (SOAP + spglib)':<28s} {len(found):8d} {ours_seconds:8.2f}")
    print(f"{'pymatgen StructureMatcher':<28s} {len(grouped):8d} {pymatgen_seconds:8.2f}")
    print(f"\npairs of minima: {total}; the same structure by both {len(a & b)}, by "
          f"gapexplore only {len(a - b)}, by pymatgen only {len(b - a)}, apart by both "
          f"{total - len(a | b)}")
    for i, j in sorted(a - b)[:5]:
        print(f"  gapexplore only: {found[ours[i]].spacegroup} — {i} and {j}, "
              f"E {energies[i]:.4f} / {energies[j]:.4f} eV/atom")
    for i, j in sorted(b - a)[:5]:
        print(f"  pymatgen only: {found[ours[i]].spacegroup} / {found[ours[j]].spacegroup} "
              f"— {i} and {j}, E {energies[i]:.4f} / {energies[j]:.4f} eV/atom")

    rng = np.random.default_rng(args.seed)
    merged, wrong, tried = {}, 0, 0
    originals = [f.atoms for f in found]
    for index, original in enumerate(originals):
        variants = copies(original, rng)
        batch = [original] + list(variants.values())
        batch_energies = predict(batch, run.potential)[0] / np.array([len(x) for x in batch])
        for name, atoms, energy in zip(variants, batch[1:], batch_energies[1:]):
            result = distinct_structures(originals + [atoms],
                                         energies=[f.energy for f in found] + [energy],
                                         **tolerances)
            tried += 1
            same = len(result) == len(found)
            merged.setdefault(name, []).append(same)
            if same:   # merged: with its own original?
                owner = next(g for g in result if len(found) in g.members)
                wrong += index not in owner.members
    print(f"\nknown-equivalent copies of the {len(found)} distinct structures "
          "(merged with their original):")
    for name, flags in merged.items():
        print(f"  {name:<18s} {sum(flags):3d} of {len(flags)}")
    print(f"  merged with another structure: {wrong} of {tried}")


if __name__ == "__main__":
    main()
