"""The demo (`make demo`) at several seeds: what a reader of the README will see, as a range.

For each seed the demo's settings (``gapexplore.cli.DEMO``) run to the end in their own folder
and the script prints, per iteration, the lowest-enthalpy structure's space group and the
diamond and β-tin errors of each GAP, then a summary over seeds: the iteration in which
diamond (Fd-3m) is first the lowest structure, the final errors and the wall time.

With ``--hashes`` it also prints a short hash of each step's output in every iteration
(random cells, relaxation frames, selection, labels, the GAP's predictions on fixed probes):
run it under two BLAS kernels and compare the tables to see the first step that differs::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_demo.py --seeds 0 1 2 3 4
    OPENBLAS_CORETYPE=Sandybridge .venv/bin/python benchmarks/bench_demo.py --seeds 0 --hashes

Runs resume: a finished seed's folder (``benchmarks/out/demo/seed_N``) is read, not rerun.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "demo"


def run_seed(seed: int, folder: Path, n_jobs: int) -> float:
    """Run the demo at ``seed`` in ``folder`` to the end; its wall time [s] (0 if it had
    finished before)."""
    from gapexplore.cli import DEMO
    from gapexplore.run import Explorer, ExploreSettings

    start = time.perf_counter()
    explorer = Explorer(folder, ExploreSettings(**DEMO, seed=seed), n_jobs=n_jobs)
    if explorer.finished():
        return 0.0
    explorer.run()
    return time.perf_counter() - start


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def step_hashes(folder: Path) -> list[dict]:
    """A short hash of each step's output, per iteration."""
    from ase.build import bulk
    from ase.io import read

    from gapexplore import keys
    from gapexplore.fit import load_potential
    from gapexplore.run.store import RunStore

    store = RunStore(folder)
    probes = [bulk("Si", "diamond", a=5.43), bulk("Si", "diamond", a=5.2),
              bulk("Si", "fcc", a=3.9)]
    rows = []
    for it_dir in sorted(folder.glob("iter_*")):
        iteration = int(it_dir.name.split("_")[1])
        row = {"iteration": iteration}
        for name in ("candidates", "trajectories", "selected"):
            path = it_dir / f"{name}.xyz"
            if path.exists():
                frames = read(path, ":")
                row[name] = _hash(b"".join(np.round(a.positions, 10).tobytes()
                                           + np.round(a.cell[:], 10).tobytes()
                                           for a in frames))
        labels = store.labels(iteration=iteration)
        row["labels"] = _hash(np.round([a.info[keys.REF_ENERGY] for a in labels], 10)
                              .tobytes())
        potential = it_dir / "gap" / "gap.xml"
        if potential.exists():
            calc = load_potential(potential)
            energies = []
            for atoms in probes:
                atoms = atoms.copy()
                atoms.calc = calc
                energies.append(atoms.get_potential_energy())
            row["gap"] = _hash(np.round(energies, 6).tobytes())  # µeV: below the kernels' spread
        rows.append(row)
    return rows


def summary(folder: Path) -> dict:
    from gapexplore.run import RunStore

    records = RunStore(folder).read_state().iterations
    found = next((r.iteration for r in records
                  if (r.lowest or {}).get("spacegroup", "").startswith("Fd-3m")), None)
    errors = {name: [1000 * r.validation[name]["error"] for r in records if r.validation]
              for name in ("diamond", "beta-tin")}
    return {"found": found, "errors": errors,
            "lowest": [(r.lowest or {}).get("spacegroup", "-") for r in records]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--parallel", type=int, default=1,
                        help="seeds run at once (each with --jobs 2 // parallel workers)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--hashes", action="store_true", help="print each step's hash")
    args = parser.parse_args()
    from threadpoolctl import threadpool_info

    kernels = sorted({p.get("architecture") or "?" for p in threadpool_info()
                      if p["internal_api"] == "openblas"})
    print(f"OpenBLAS kernels: {', '.join(kernels)}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    n_jobs = max(1, 2 // args.parallel)
    suffix = os.environ.get("OPENBLAS_CORETYPE", "")
    folders = {s: args.out / (f"seed_{s}" + (f"_{suffix}" if suffix else "")) for s in args.seeds}
    with ProcessPoolExecutor(args.parallel) as pool:
        seconds = dict(zip(args.seeds, pool.map(run_seed, args.seeds,
                                                [folders[s] for s in args.seeds],
                                                [n_jobs] * len(args.seeds))))
    print("\nseed  diamond first lowest  diamond error per GAP [meV/atom]       "
          "beta-tin error per GAP            wall [s]")
    results = {}
    for seed in args.seeds:
        result = results[seed] = summary(folders[seed])
        fmt = " ".join(f"{e:+7.1f}" for e in result["errors"]["diamond"])
        fmt_b = " ".join(f"{e:+7.1f}" for e in result["errors"]["beta-tin"])
        wall = f"{seconds[seed]:.0f}" if seconds[seed] else "(earlier run)"
        print(f"{seed:4d}  {str(result['found']):>20}  {fmt:36}  {fmt_b:32}  {wall}")
    found = [r["found"] for r in results.values()]
    final = [r["errors"]["diamond"][-1] for r in results.values()]
    final_b = [r["errors"]["beta-tin"][-1] for r in results.values()]
    ran = [s for s in seconds.values() if s]
    print(f"\ndiamond the lowest structure by the last iteration in "
          f"{sum(f is not None for f in found)} of {len(found)} seeds "
          f"(first in iteration {sorted(f for f in found if f is not None)})")
    print(f"final GAP: diamond error {min(final):+.1f} to {max(final):+.1f} meV/atom, "
          f"beta-tin {min(final_b):+.1f} to {max(final_b):+.1f} meV/atom")
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
