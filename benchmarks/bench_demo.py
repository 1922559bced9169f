"""The demos at several seeds: what a user of ``gapexplore demo`` will see, as a range.

For each seed a demo's settings (``gapexplore.cli.DEMOS``: ``--system si``, the Si demo of
`make demo`, or ``sic``, the SiC one) run to the end in their own folder, and the script
prints, per seed, the iteration in which the known ground state (Si: diamond, Fd-3m; SiC:
zincblende F-43m or a hexagonal polytype P6_3mc) is first the GAP's lowest-enthalpy
structure, each validated structure's error per GAP, and then, over the seeds, the label
count at which each known structure first comes within 10 meV/atom of the reference (and
whether it stays there), the final errors and the wall time.

With ``--hashes`` it also prints a short hash of each step's output in every iteration
(random cells, relaxation frames, selection, labels, the GAP's predictions on fixed probes):
run it under two BLAS kernels and compare the tables to see the first step that differs::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_demo.py --seeds 0 1 2 3 4
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_demo.py --system sic --seeds 0 1 2 \
        --parallel 3
    OPENBLAS_CORETYPE=Sandybridge .venv/bin/python benchmarks/bench_demo.py --seeds 0 --hashes

The SiC demo with 4–8-atom cells, with 32 relaxations an iteration for 12 iterations and
the paper's labels only, and the other variants that ``docs/studies/sic-demo.md`` compares
with it; each option departs from the demo's settings and names the folder
(``demo-sic-c32-nolowest-a4-8/`` and so on)::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_demo.py --system sic --seeds 0 1 2 \
        --parallel 3 --atoms 4 8
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_demo.py --system sic --seeds 0 1 2 \
        --parallel 3 --candidates 32 --no-label-lowest --iterations 12 --atoms 4 8
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_demo.py --system sic --seeds 0 2 \
        --delta-3b 0.1 --candidates 32 --no-label-lowest --iterations 12 --atoms 4 8  # δ_3b
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_demo.py --system sic --seeds 0 1 \
        --parallel 2 --candidates 64 --no-label-lowest --iterations 12 --atoms 4 8
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_demo.py --system sic --seeds 0 1 2 \
        --parallel 3 --candidates 32 --iterations 12 --atoms 4 8  # label_lowest, 32 relaxations

Runs resume: a finished seed's folder (``benchmarks/out/demo/seed_N``, ``demo-sic/``) is
read, not rerun.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _common  # one BLAS thread: before numpy loads
import numpy as np

OUT = Path(__file__).resolve().parent / "out"
#: Space groups of each demo's known ground state (the first word of spglib's symbol).
GROUND_STATES = {"si": ("Fd-3m",), "sic": ("F-43m", "P6_3mc")}
#: Within this of the reference, a known structure counts as learnt [meV/atom].
LEARNT = 10.0


def run_seed(system: str, seed: int, folder: Path, n_jobs: int,
             delta_3b: float | None = None, candidates: int | None = None,
             label_lowest: bool | None = None, iterations: int | None = None,
             lowest_kinds: int | None = None, atoms: tuple | None = None) -> float:
    """Run the demo of ``system`` at ``seed`` in ``folder`` to the end; its wall time [s]
    (0 if it had finished before). ``delta_3b`` [eV]: the demo's GAP with δ_3b fixed
    (``GapSettings.delta_3b``) instead of the paper's rule; ``candidates``: GAP
    relaxations per iteration instead of the demo's; ``label_lowest``: whether to also
    train on the reference's check of each iteration's lowest GAP minimum
    (``ExploreSettings.label_lowest``; None: as the demo); ``iterations``: run to this
    many iterations instead of the demo's (a stop criterion, so a finished run folder continues);
    ``lowest_kinds``: label the lowest minimum of that many kinds of structure each iteration
    (``ExploreSettings.lowest_kinds``; None: as the demo); ``atoms``: the inclusive range
    of atoms per random cell (``ExploreSettings.n_atoms``; None: as the demo)."""
    from gapexplore.cli import DEMOS
    from gapexplore.run import Explorer, ExploreSettings

    start = time.perf_counter()
    fields = dict(DEMOS[system][0], seed=seed)
    if candidates is not None:
        fields["n_candidates"] = candidates
    if label_lowest is not None:
        fields["label_lowest"] = label_lowest
    if iterations is not None:
        fields["max_iterations"] = iterations
    if lowest_kinds is not None:
        fields["lowest_kinds"] = lowest_kinds
    if atoms is not None:
        fields["n_atoms"] = tuple(atoms)
    if delta_3b is not None:
        preset = fields.get("gap", "paper")
        fields["gap"] = ({"preset": preset} if isinstance(preset, str) else dict(preset)) \
            | {"delta_3b": delta_3b}
    explorer = Explorer(folder, ExploreSettings(**fields), n_jobs=n_jobs)
    if explorer.finished():
        return 0.0
    explorer.run()
    return time.perf_counter() - start


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def step_hashes(folder: Path) -> list[dict]:
    """A short hash of each step's output, per iteration."""
    from ase.build import bulk

    from gapexplore import keys
    from gapexplore.fit import load_potential

    run = _common.read_run(folder)
    store = run.store
    probes = [bulk("Si", "diamond", a=5.43), bulk("Si", "diamond", a=5.2),
              bulk("Si", "fcc", a=3.9)]
    rows = []
    for record in run.state.iterations:
        iteration = record.iteration
        row = {"iteration": iteration}
        for name in ("candidates", "trajectories", "selected"):
            try:
                frames = store.read_structures(iteration, name)
            except FileNotFoundError:
                continue
            row[name] = _hash(b"".join(np.round(a.positions, 10).tobytes()
                                       + np.round(a.cell[:], 10).tobytes()
                                       for a in frames))
        labels = store.labels(iteration=iteration)
        row["labels"] = _hash(np.round([a.info[keys.REF_ENERGY] for a in labels], 10)
                              .tobytes())
        potential = run.potential_of(iteration)
        if potential is not None:
            calc = load_potential(potential)
            energies = []
            for atoms in probes:
                atoms = atoms.copy()
                atoms.calc = calc
                energies.append(atoms.get_potential_energy())
            row["gap"] = _hash(np.round(energies, 6).tobytes())  # µeV: below the kernels' spread
        rows.append(row)
    return rows


def summary(folder: Path, system: str) -> dict:
    """Per seed: the iteration in which the ground state is first the lowest, the errors
    [meV/atom] and labels of each GAP, per known structure the label count at which it
    first comes within :data:`LEARNT` and whether it stays there, and the space groups of
    the labels near the ground state (:func:`near_ground_state`)."""
    records = [r for r in _common.read_run(folder).state.iterations if r.validation]
    found = next((r.iteration for r in records if ((r.lowest and r.lowest.spacegroup) or "-")
                  .split()[0] in GROUND_STATES[system]), None)
    names = records[0].validation.names if records else ()
    errors = {n: [1000 * r.validation.structures[n].error for r in records] for n in names}
    labels = [r.labels_total for r in records]
    learnt = {}
    for name, curve in errors.items():
        first = next((i for i, e in enumerate(curve) if abs(e) < LEARNT), None)
        learnt[name] = (None if first is None else labels[first],
                        first is not None and all(abs(e) < LEARNT for e in curve[first:]))
    return {"found": found, "errors": errors, "labels": labels, "learnt": learnt,
            "lowest": [r.lowest.spacegroup if r.lowest else "-" for r in records],
            "lowest_label": lowest_label(folder, records),
            "near": near_ground_state(folder, records[-1]) if records else {}}


def near_ground_state(folder: Path, record) -> dict[str, list[float]]:
    """The kinds of structure the database holds near the ground state: the labelled cells
    of the lowest validated known structure's composition within :data:`LEARNT` of it, by
    the reference, as space group -> their energies above it [meV/atom], lowest first.
    A GAP shown only one stacking there is not taught what the other costs (``docs/studies/
    sic-demo.md``)."""
    from gapexplore import keys
    from gapexplore.core.chemistry import reduced_formula
    from gapexplore.core.symmetry import space_group
    from gapexplore.validate import known_structure

    run = _common.read_run(folder)
    checks = record.validation.structures
    ground = min(checks, key=lambda n: checks[n].reference)
    formula = reduced_formula(known_structure(run.chemistry, ground))
    base = checks[ground].reference
    near: dict[str, list[float]] = {}
    for atoms in run.store.labels():
        if atoms.pbc.all() and reduced_formula(atoms) == formula:
            above = 1000 * (atoms.info[keys.REF_ENERGY] / len(atoms) - base)
            if above < LEARNT:
                near.setdefault(str(space_group(atoms)), []).append(round(above, 1))
    return {group: sorted(values) for group, values in sorted(near.items())}


def lowest_label(folder: Path, records) -> list[float]:
    """Per GAP: how far the lowest label it was fitted to lies above the lowest validated
    known structure, both by the reference [meV/atom]
    (:func:`gapexplore.validate.lowest_label_above`, the largest over the structures). A
    GAP whose labels come no closer than some tens of meV/atom to the ground state has
    never been shown it: its errors there are extrapolation. Computed from the database,
    so also for runs validated before the run recorded it."""
    from gapexplore.validate import known_structure, lowest_label_above

    run = _common.read_run(folder)
    store, composition = run.store, run.chemistry
    labels, out = [], []
    for record in records:
        labels += store.labels(iteration=record.iteration)
        checks = record.validation.structures
        above = lowest_label_above({n: known_structure(composition, n) for n in checks},
                                   {n: c.reference for n, c in checks.items()}, labels)
        out.append(1000 * max((v for v in above.values() if v is not None), default=np.nan))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=tuple(GROUND_STATES), default="si")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--parallel", type=int, default=1,
                        help="seeds run at once (each with --jobs 2 // parallel workers)")
    parser.add_argument("--out", type=Path, default=None,
                        help="default benchmarks/out/demo (si) or demo-sic")
    parser.add_argument("--hashes", action="store_true", help="print each step's hash")
    parser.add_argument("--delta-3b", type=float, default=None, metavar="EV",
                        help="the demo's GAP with δ_3b fixed at EV (GapSettings.delta_3b); "
                             "default folder demo[-sic]-d3b<EV>")
    parser.add_argument("--candidates", type=int, default=None, metavar="N",
                        help="N GAP relaxations per iteration instead of the demo's "
                             "(ExploreSettings.n_candidates); default folder demo[-sic]-c<N>")
    parser.add_argument("--label-lowest", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="whether to also train on the reference's check of each "
                             "iteration's lowest GAP minimum (ExploreSettings.label_lowest; "
                             "default: as the demo); default folder demo[-sic]-lowest or "
                             "-nolowest")
    parser.add_argument("--lowest-kinds", type=int, default=None, metavar="K",
                        help="label the lowest minimum of each of the K lowest kinds of "
                             "structure every iteration (ExploreSettings.lowest_kinds; "
                             "default: as the demo); default folder demo[-sic]-k<K>")
    parser.add_argument("--iterations", type=int, default=None, metavar="N",
                        help="run each seed to N iterations instead of the demo's (a stop "
                             "criterion: the same folder, a finished run continues)")
    parser.add_argument("--atoms", type=int, nargs=2, default=None, metavar=("LO", "HI"),
                        help="random cells of LO-HI atoms instead of the demo's "
                             "(ExploreSettings.n_atoms); default folder demo[-sic]-a<LO>-<HI>")
    args = parser.parse_args()
    from threadpoolctl import threadpool_info

    kernels = sorted({p.get("architecture") or "?" for p in threadpool_info()
                      if p["internal_api"] == "openblas"})
    print(f"OpenBLAS kernels: {', '.join(kernels)}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    out = args.out or OUT / (("demo" if args.system == "si" else f"demo-{args.system}")
                             + ("" if args.delta_3b is None else f"-d3b{args.delta_3b:g}")
                             + ("" if args.candidates is None else f"-c{args.candidates}")
                             + {None: "", True: "-lowest", False: "-nolowest"}[
                                 args.label_lowest]
                             + ("" if args.lowest_kinds is None else f"-k{args.lowest_kinds}")
                             + ("" if args.atoms is None else "-a{}-{}".format(*args.atoms)))
    n_jobs = max(1, 2 // args.parallel)
    suffix = os.environ.get("OPENBLAS_CORETYPE", "")
    folders = {s: out / (f"seed_{s}" + (f"_{suffix}" if suffix else "")) for s in args.seeds}
    count = len(args.seeds)
    with ProcessPoolExecutor(args.parallel) as pool:
        seconds = dict(zip(args.seeds, pool.map(run_seed, [args.system] * count, args.seeds,
                                                [folders[s] for s in args.seeds],
                                                [n_jobs] * count,
                                                [args.delta_3b] * count,
                                                [args.candidates] * count,
                                                [args.label_lowest] * count,
                                                [args.iterations] * count,
                                                [args.lowest_kinds] * count,
                                                [args.atoms] * count)))
    results = {seed: summary(folders[seed], args.system) for seed in args.seeds}
    names = list(next(iter(results.values()))["errors"])
    ground = " or ".join(GROUND_STATES[args.system])
    for seed, result in results.items():
        wall = f"{seconds[seed]:.0f} s" if seconds[seed] else "an earlier run"
        print(f"\nseed {seed} ({wall}): {ground} first the lowest in iteration "
              f"{result['found']}; lowest per iteration: {', '.join(result['lowest'])}")
        print(f"  {'labels':>10} " + " ".join(f"{n:>8}" for n in result["labels"]))
        for name in names:
            print(f"  {name:>10} " + " ".join(f"{e:+8.1f}" for e in result["errors"][name]))
        print(f"  {'lowest lab':>10} " + " ".join(f"{e:+8.1f}" for e in result["lowest_label"])
              + "   (the lowest label above the lowest known structure, by the reference)")
        print(f"  labels within {LEARNT:g} meV/atom of the lowest known structure, by space "
              "group [meV/atom above it]: " + ("; ".join(
                  f"{group} {', '.join(f'{e:+.1f}' for e in values)}"
                  for group, values in result["near"].items()) or "none"))
    print(f"\nlabels at which each structure first comes within {LEARNT:g} meV/atom "
          "(* : and stays there to the last GAP; - : never)")
    print("  " + f"{'seed':>4} " + " ".join(f"{n:>10}" for n in names))
    for seed, result in results.items():
        cells = [("-" if first is None else f"{first}{'*' if stays else ''}")
                 for first, stays in (result["learnt"][n] for n in names)]
        print("  " + f"{seed:>4} " + " ".join(f"{c:>10}" for c in cells))
    found = [r["found"] for r in results.values()]
    print(f"\n{ground} the lowest structure by the last iteration in "
          f"{sum(f is not None for f in found)} of {len(found)} seeds "
          f"(first in iteration {sorted(f for f in found if f is not None)})")
    for name in names:
        final = [r["errors"][name][-1] for r in results.values()]
        print(f"final GAP: {name} error {min(final):+.1f} to {max(final):+.1f} meV/atom")
    ran = [s for s in seconds.values() if s]
    if ran:
        print(f"wall time per demo {min(ran):.0f}-{max(ran):.0f} s "
              f"({args.parallel} at once, {n_jobs} worker(s) each)")
    if args.hashes:
        for seed in args.seeds:
            print(f"\nseed {seed}: step hashes")
            for row in step_hashes(folders[seed]):
                print("  " + "  ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
