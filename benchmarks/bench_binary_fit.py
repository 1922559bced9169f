"""Binary fit spread: a light GAP of Tersoff SiC from rattled polytypes, over training seeds.

For each seed: 6 rattled, strained copies each of zincblende, wurtzite and rocksalt SiC
(volume ±4 %, rattle 0.08 Å), the dimers of every pair and the isolated atoms, labelled by
``tersoff-sic`` and fitted (``GapSettings.light``); the GAP's error on the three polytypes
rattled anew (0.05 Å) is printed [meV/atom]. ``tests/test_composition.py`` fits seed 0's
set; its tolerance is set from this spread.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_binary_fit.py --seeds 4
"""

from __future__ import annotations

import argparse
import tempfile

import _common  # noqa: F401  (one BLAS thread: before numpy loads)
import numpy as np
from ase.build import bulk

from gapexplore import Composition
from gapexplore.fit import GapSettings, fit_gap, predict
from gapexplore.generate import dimers, isolated_atom
from gapexplore.label import label_structures

BASES = {"zincblende": lambda: bulk("SiC", "zincblende", a=4.32, cubic=True),
         "wurtzite": lambda: bulk("SiC", "wurtzite", a=3.08, c=5.05),
         "rocksalt": lambda: bulk("SiC", "rocksalt", a=4.05, cubic=True)}


def errors_for(seed: int) -> list[float]:
    """The fitted GAP's error on each polytype [eV/atom] for one training seed."""
    sic = Composition.of("SiC")
    rng = np.random.default_rng(seed)
    cells = []
    for build in BASES.values():
        for _ in range(6):
            atoms = build()
            atoms.set_cell(atoms.cell[:] * rng.uniform(0.96, 1.04), scale_atoms=True)
            atoms.rattle(0.08, seed=int(rng.integers(10**6)))
            cells.append(atoms)
    labelled = label_structures(cells + dimers(sic) + isolated_atom(sic), "tersoff-sic")
    with tempfile.TemporaryDirectory() as folder:
        result = fit_gap(labelled, sic, folder, settings=GapSettings.light(sic))
        tests = []
        for build in BASES.values():
            atoms = build()
            atoms.rattle(0.05, seed=99)
            tests.append(atoms)
        tests = label_structures(tests, "tersoff-sic")
        energies, _ = predict(tests, result.potential)
    return [(e - a.info["REF_energy"]) / len(a) for e, a in zip(energies, tests)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    print(f"{'seed':>4s} " + " ".join(f"{name:>11s}" for name in BASES) + "   [meV/atom]")
    worst = []
    for seed in range(args.seeds):
        errors = errors_for(seed)
        worst.append(max(abs(e) for e in errors))
        print(f"{seed:4d} " + " ".join(f"{1000 * e:11.1f}" for e in errors), flush=True)
    print(f"largest |error| per seed: {', '.join(f'{1000 * w:.0f}' for w in worst)} meV/atom")


if __name__ == "__main__":
    main()
