"""How often does a random search reach the ground state? The reference's own hit rate.

A GAP learns a structure well only once its database holds cells near it, and in GAP-RSS
those cells come from the search: the GAP's own relaxations of random cells. How many
relaxations that takes is set first by the random cells themselves. This script draws
random cells as a run draws them (:func:`gapexplore.generate.random_cells`, the same
sizes, symmetry and per-pair separations), relaxes each with the *reference* at a random
pressure (paper Eq. 5) as a run relaxes with its GAP, and counts the relaxations that end
within ``--within`` of the lowest known structure's energy (each known structure relaxed
with the reference, keeping its symmetry, as :func:`gapexplore.validate.validate` does).
The hit rate, per atom count, is what a perfect GAP would do; a run's own GAPs find fewer
while they still have holes.

Usage (the SiC demo's cells: 4-8 atoms, 100 steps at fmax 0.05 eV/Å, precon-LBFGS)::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_hit_rate.py \\
        --composition SiC --reference tersoff-sic --known 3C 2H 4H --cells 400 --jobs 2

Each relaxation also gets the energy per atom it ends at; the lowest five are printed.

With ``--runs RUN...`` it counts the same for finished runs instead: how many of each
iteration's GAP relaxations ended, by the run's reference, within ``--within`` of the lowest
validated known structure, and how many of those were labelled::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_hit_rate.py \
        --runs benchmarks/out/demo-sic-d3b0.1-c32-nolowest-a4-8/seed_0 \
        benchmarks/out/demo-sic-d3b0.1-c32-nolowest-a4-8/seed_2
"""

from __future__ import annotations

import argparse
import time

import _common  # one BLAS thread: before numpy loads
import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--composition", default="SiC")
    parser.add_argument("--reference", default="tersoff-sic")
    parser.add_argument("--known", nargs="+", default=["3C", "2H", "4H"],
                        help="known structures whose lowest reference energy is the target")
    parser.add_argument("--cells", type=int, default=400)
    parser.add_argument("--n-atoms", type=int, nargs=2, default=[4, 8], metavar=("MIN", "MAX"))
    parser.add_argument("--symmops", type=int, nargs=2, default=[1, 8], metavar=("MIN", "MAX"))
    parser.add_argument("--fmax", type=float, default=0.05, help="[eV/Å] (the demos' 0.05)")
    parser.add_argument("--steps", type=int, default=100, help="step cap (the demos' 100)")
    parser.add_argument("--optimiser", default="precon-lbfgs")
    parser.add_argument("--within", type=float, default=10.0, help="[meV/atom]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--runs", nargs="+", default=None, metavar="RUN",
                        help="count the GAP relaxations of finished runs instead")
    args = parser.parse_args()
    if args.runs:
        for folder in args.runs:
            run_hits(folder, args.within)
        return

    from gapexplore.core.chemistry import Composition
    from gapexplore.generate import random_cells
    from gapexplore.label import as_reference
    from gapexplore.relax import RelaxSettings, relax_structures
    from gapexplore.validate import known_structure, validate

    composition = Composition.of(args.composition)
    reference = as_reference(args.reference)
    calculator = reference.calculator()
    known = validate({n: known_structure(composition, n) for n in args.known}, calculator,
                     calculator, chemistry=composition)
    ground = min(v["reference"] for n, v in known.items() if n != "differences")
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    cells = random_cells(composition, args.cells, rng=rng, n_atoms=tuple(args.n_atoms),
                         symmops=tuple(args.symmops), n_jobs=args.jobs)
    settings = RelaxSettings(fmax=args.fmax, max_steps=args.steps, optimiser=args.optimiser)
    trajectories = relax_structures(cells, reference.calculator, chemistry=composition,
                                    rng=rng, settings=settings, n_jobs=args.jobs)
    seconds = time.perf_counter() - start
    by_size: dict[int, list[float]] = {}
    for cell, trajectory in zip(cells, trajectories):
        final = trajectory[-1].copy()
        final.calc = calculator
        by_size.setdefault(len(cell), []).append(final.get_potential_energy() / len(final))
    print(f"{args.composition}, {args.reference}: the lowest of {', '.join(args.known)} "
          f"is {ground:.4f} eV/atom; {args.cells} random cells of {args.n_atoms[0]}-"
          f"{args.n_atoms[1]} atoms, {args.symmops[0]}-{args.symmops[1]} symmetry "
          f"operations, relaxed with the reference ({args.optimiser}, fmax {args.fmax} eV/Å, "
          f"{args.steps} steps) in {seconds:.0f} s on {args.jobs} worker(s)")
    total = 0
    for size in sorted(by_size):
        energies = np.array(by_size[size])
        hits = int(np.sum(energies < ground + args.within / 1000))
        total += hits
        print(f"  {size:3d} atoms: {hits:3d} of {len(energies):4d} within {args.within:g} "
              f"meV/atom ({100 * hits / len(energies):.1f} %)")
    every = np.sort(np.concatenate([np.array(e) for e in by_size.values()]))
    print(f"  all:       {total:3d} of {args.cells:4d} ({100 * total / args.cells:.1f} %); "
          f"the lowest five above the ground state: "
          + ", ".join(f"{1000 * (e - ground):+.1f}" for e in every[:5]) + " meV/atom")


def run_hits(folder, within: float) -> None:
    """Per iteration of a finished run: its GAP relaxations that ended within ``within``
    [meV/atom] of the lowest validated known structure by the run's reference, and how
    many of the labels are that low."""
    from gapexplore.core import keys

    run = _common.read_run(folder)
    calculator = run.reference.calculator()
    records = [r for r in run.state.iterations if r.validation]
    ground = min(c.reference for c in records[-1].validation.structures.values())
    print(f"{folder}: the lowest known structure {ground:.4f} eV/atom (the reference)")
    total = relaxed = 0
    for record in run.state.iterations[1:]:
        path = run.store.iteration_dir(record.iteration) / "trajectories.xyz"
        if not path.exists():
            continue
        finals = {}
        for frame in run.store.read_structures(record.iteration, "trajectories"):
            finals[frame.info[keys.RELAX_ID]] = frame
        hits = 0
        for frame in finals.values():
            frame.calc = calculator
            hits += frame.get_potential_energy() / len(frame) < ground + within / 1000
        low = sum(a.info[keys.REF_ENERGY] / len(a) < ground + within / 1000
                  for a in run.store.labels(iteration=record.iteration) if a.pbc.all())
        total, relaxed = total + hits, relaxed + len(finals)
        print(f"  iteration {record.iteration:2d}: {hits} of {len(finals)} relaxations ended "
              f"within {within:g} meV/atom; {low} such labels")
    print(f"  in all: {total} of {relaxed} ({100 * total / max(relaxed, 1):.1f} %)")


if __name__ == "__main__":
    main()
