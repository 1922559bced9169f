"""Every GAP of finished runs validated again, keeping each structure's space group and not.

A run's learning curve relaxes its known structures with each new GAP keeping their space
group (``gapexplore.validate.validate``, ``symmetric=True``); relaxed freely, they can
collapse into another structure. This prints, per run folder and iteration, GAP − reference
[meV/atom] of each validated structure both ways, and counts the values that differ by more
than 1 meV/atom::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_revalidate.py \\
        benchmarks/out/demo-sic-d3b0.1-c32-nolowest-a4-8/seed_0 \\
        benchmarks/out/demo-sic-d3b0.1-c32-nolowest-a4-8/seed_2

It needs only the run folders; the reference must be available as the run named it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import _common  # one BLAS thread


def revalidate(folder: Path) -> list[dict]:
    """Per iteration: labels, and per structure the free and the symmetric error [meV/atom].

    The run is opened as the run opens itself (its reference, chemistry and known
    structures, its own included), and each GAP is the one its iteration fitted.
    """
    from gapexplore.fit import load_potential
    from gapexplore.validate import known_structure, validate

    run = _common.read_run(folder)
    structures = {n: known_structure(run.chemistry, n) for n in run.settings.validate}
    structures |= run.store.read_known()
    reference = run.reference.calculator()
    cached = {False: {}, True: {}}   # the reference's energies, relaxed each way
    rows = []
    for record in run.state.iterations:
        potential = run.potential_of(record.iteration)
        if potential is None or not structures:
            continue
        errors = {}
        for symmetric in (False, True):
            result = validate(structures, load_potential(potential), reference,
                              chemistry=run.chemistry, reference_energies=cached[symmetric],
                              symmetric=symmetric)
            errors[symmetric] = {n: 1000 * result[n]["error"] for n in structures}
            cached[symmetric] = {n: result[n]["reference"] for n in structures}
        rows.append({"iteration": record.iteration, "labels": record.labels_total,
                     "free": errors[False], "symmetric": errors[True]})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="finished run folders")
    args = parser.parse_args(argv)
    changed = total = 0
    for folder in args.folders:
        print(f"{folder}: GAP − reference [meV/atom], free → keeping the space group")
        for row in revalidate(folder):
            cells = []
            for name, free in row["free"].items():
                kept = row["symmetric"][name]
                total += 1
                changed += abs(kept - free) > 1.0
                cells.append(f"{name} {free:+8.1f} → {kept:+8.1f}")
            print(f"  iteration {row['iteration']:2d}, {row['labels']:4d} labels: "
                  + "   ".join(cells), flush=True)
    print(f"{changed} of {total} values differ by more than 1 meV/atom")


if __name__ == "__main__":
    main()
