"""The fit's memory model against gap_fit's measured peak, for one and for two species.

The same labelled cells are fitted twice at the paper's SOAP basis (n_max = l_max = 8,
δ given, so gap_fit runs once): as Tersoff SiC (two species, ``add_species=T``: a SOAP of
length (2·8)(2·8+1)/2·9 = 1,224 per centre species) and with every atom made Si (one
species, length 324). Each fit's peak resident memory (``ru_maxrss`` of the gap_fit child
process) is printed beside :func:`gapexplore.fit.estimate_memory`, the model that
:func:`gapexplore.fit.fit_gap` logs before each fit and uses to refuse a fit that would not
fit in memory (here at 3C SiC's density, about twice Si's: twice the neighbours).

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_fit_memory.py --cells 40
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (one BLAS thread: before numpy loads)
import numpy as np
from ase.build import bulk
from ase.io import write

from gapexplore import Composition, keys
from gapexplore.fit import GapSettings, estimate_memory, find_gap_fit, gap_fit_command
from gapexplore.fit.noise import with_noise
from gapexplore.label import label_structures


def cells(count: int, rng: np.random.Generator) -> list:
    """Rattled, strained 3C SiC supercells of 16 atoms."""
    base = bulk("SiC", "zincblende", a=4.36, cubic=True).repeat((2, 1, 1))
    out = []
    for _ in range(count):
        atoms = base.copy()
        atoms.set_cell(atoms.cell[:] * rng.uniform(0.95, 1.05), scale_atoms=True)
        atoms.rattle(0.1, seed=int(rng.integers(10**6)))
        out.append(atoms)
    return out


def peak_of_fit(structures: list, settings: GapSettings, e0: dict, folder: Path) -> float:
    """gap_fit's peak resident memory [bytes] on ``structures`` (measured in a child
    Python, so that each fit's ``ru_maxrss`` is its own)."""
    folder.mkdir(parents=True)
    write(folder / "train.xyz", with_noise(structures, settings.noise), format="extxyz")
    command = gap_fit_command("train.xyz", "gap.xml", settings,
                              {"2b": 1.0, "3b": 0.5, "soap": 0.1}, e0, find_gap_fit())
    probe = ("import resource, subprocess, sys; "
             "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", probe, *command], cwd=folder, env=env,
                            capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1]) * 1024   # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=40, help="16-atom cells fitted (40)")
    parser.add_argument("--sparse", type=int, default=200, help="SOAP sparse points (200)")
    args = parser.parse_args()
    assert resource  # the probe uses it in the child
    sic = Composition.of("SiC")
    labelled = label_structures(cells(args.cells, np.random.default_rng(0)), "tersoff-sic")
    settings = GapSettings.for_chemistry(sic, n_sparse_soap=args.sparse)
    silicon = []
    for atoms in labelled:
        one = atoms.copy()
        one.numbers[:] = 14
        one.info.update(atoms.info)
        one.arrays[keys.REF_FORCES] = atoms.arrays[keys.REF_FORCES]
        silicon.append(one)
    n_env = sum(len(a) for a in labelled)
    print(f"{args.cells} cells, {n_env} environments, SOAP n_max = l_max = 8, "
          f"{args.sparse} sparse points")
    print(f"{'species':>8} {'measured [GiB]':>15} {'model [GiB]':>12} {'model/measured':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for n_species, structures, e0 in ((1, silicon, {"Si": 0.0}),
                                          (2, labelled, {"Si": 0.0, "C": 0.0})):
            peak = peak_of_fit(structures, settings, e0, Path(tmp) / str(n_species))
            volume = sum(a.get_volume() for a in structures) / n_env
            model = estimate_memory(n_env, settings, n_species, volume)
            print(f"{n_species:>8} {peak / 2**30:15.2f} {model / 2**30:12.2f} "
                  f"{model / peak:15.2f}")


if __name__ == "__main__":
    main()
