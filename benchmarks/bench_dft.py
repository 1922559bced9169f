"""Seconds per GPAW single point (energy, forces, stress) of the 8-atom diamond Si cell;
and, for a run labelled with a DFT reference, the share of each iteration spent outside it.

Single points: at the table's settings (``preset="paper"``: 350 eV, k-spacing 0.25 Å⁻¹ →
5×5×5) and at the test preset (``"low"``), on one core. Needs ``make gpaw``. Measured on this
project's 2-core machine (GPAW 26.7.0, FFTW, OpenBLAS, 1 thread): low 4.5 s (2×2×2), paper
46 s (5×5×5).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dft.py
    .venv/bin/python benchmarks/bench_dft.py --run runs/gpaw-Si   # shares of a finished run

With ``--run`` it reads the step wall times that the run recorded in ``state.json`` and
prints, per iteration, the seconds of each step and the share of the protocol's own steps
(generate, relax, select, fit) in generate + relax + select + label + fit. Validation (the
learning curves; it relaxes the known structures with the reference once, in iteration 0)
is shown apart and left out of the share.
"""

import sys
import time

import _common  # one BLAS and OpenMP thread: before numpy loads
from ase.build import bulk

from gapexplore.label.dft import ELEMENT_SETTINGS, GPAWReference, kpoint_grid


def single_point(preset: str) -> tuple[float, float]:
    atoms = bulk("Si", "diamond", a=5.431, cubic=True)
    atoms.rattle(0.02, seed=0)
    atoms.calc = GPAWReference(preset=preset)
    start = time.perf_counter()
    energy = atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_stress()
    return time.perf_counter() - start, energy / len(atoms)


OWN_STEPS = ("generate", "relax", "select", "fit")


def iteration_shares(folder) -> list[dict]:
    """Per iteration: step seconds, reference (label) seconds and the share outside it."""
    rows = []
    for record in _common.read_run(folder).state.iterations:
        seconds = record.seconds
        if "label" not in seconds or "fit" not in seconds:
            continue  # unfinished
        own = sum(seconds.get(step, 0.0) for step in OWN_STEPS)
        rows.append({"iteration": record.iteration, "labelled": record.labelled,
                     "failed": record.failed, "seconds": seconds,
                     "reference": seconds["label"], "own": own,
                     "share_outside": own / (own + seconds["label"])})
    return rows


def print_shares(folder) -> None:
    for row in iteration_shares(folder):
        steps = ", ".join(f"{k} {v:.0f}" for k, v in row["seconds"].items())
        print(f"iteration {row['iteration']}: {row['labelled']} labelled ({row['failed']} "
              f"failed); seconds: {steps}; outside the reference "
              f"{100 * row['share_outside']:.1f} % (validation apart)")


def main(presets=("low", "paper")) -> None:
    cell = bulk("Si", "diamond", a=5.431, cubic=True).cell
    for preset in presets:
        seconds, per_atom = single_point(preset)
        grid = kpoint_grid(cell, 0.8 if preset == "low" else ELEMENT_SETTINGS["Si"].kspacing)
        print(f"Si8 diamond, preset {preset!r}, k-points {grid}: {seconds:.1f} s per single "
              f"point (E = {per_atom:.4f} eV/atom), 1 core", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        print_shares(sys.argv[2])
    else:
        main(tuple(sys.argv[1:]) or ("low", "paper"))
