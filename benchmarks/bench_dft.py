"""Seconds per GPAW single point (energy, forces, stress) of the 8-atom diamond Si cell.

At the table's settings (``preset="paper"``: 350 eV, k-spacing 0.25 Å⁻¹ → 5×5×5) and at the
test preset (``"low"``), on one core. Needs ``make gpaw``. Measured on this project's 2-core
machine (GPAW 26.7.0, FFTW, OpenBLAS, 1 thread): low 4.5 s (2×2×2), paper 46 s (5×5×5).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dft.py
"""

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from ase.build import bulk  # noqa: E402

from gapexplore.dft import ELEMENT_SETTINGS, GPAWReference, kpoint_grid  # noqa: E402


def single_point(preset: str) -> tuple[float, float]:
    atoms = bulk("Si", "diamond", a=5.431, cubic=True)
    atoms.rattle(0.02, seed=0)
    atoms.calc = GPAWReference(preset=preset)
    start = time.perf_counter()
    energy = atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_stress()
    return time.perf_counter() - start, energy / len(atoms)


def main(presets=("low", "paper")) -> None:
    cell = bulk("Si", "diamond", a=5.431, cubic=True).cell
    for preset in presets:
        seconds, per_atom = single_point(preset)
        grid = kpoint_grid(cell, 0.8 if preset == "low" else ELEMENT_SETTINGS["Si"].kspacing)
        print(f"Si8 diamond, preset {preset!r}, k-points {grid}: {seconds:.1f} s per single "
              f"point (E = {per_atom:.4f} eV/atom), 1 core", flush=True)


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("low", "paper"))
