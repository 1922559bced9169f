"""Every GAP of finished runs validated again, keeping each structure's space group and not.

A run's learning curve relaxes its known structures with each new GAP keeping their space
group (``gapexplore.validate.validate``, ``symmetric=True``, since session 14); before, they
relaxed freely. This prints, per run folder and iteration, GAP − reference [meV/atom] of each
validated structure both ways, and counts the values that differ by more than 1 meV/atom::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_revalidate.py \\
        benchmarks/out/demo-sic-d3b0.1/seed_0 benchmarks/out/demo-sic-d3b0.1/seed_2

It needs only the run folders (settings.json, state.json and each iteration's gap.xml).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def revalidate(folder: Path) -> list[dict]:
    """Per iteration: labels, and per structure the free and the symmetric error [meV/atom]."""
    from gapexplore.fit import load_potential
    from gapexplore.label import reference_calculator
    from gapexplore.run import ExploreSettings
    from gapexplore.validate import known_structure, validate

    settings = ExploreSettings.from_dict(json.loads((folder / "settings.json").read_text()))
    chemistry = settings.chemistry()
    reference = reference_calculator(settings.reference)
    structures = {n: known_structure(chemistry, n) for n in settings.validate}
    state = json.loads((folder / "state.json").read_text())
    cached = {}
    rows = []
    for record in state["iterations"]:
        potential = load_potential(folder / f"iter_{record['iteration']:03d}" / "gap" / "gap.xml")
        errors = {}
        for symmetric in (False, True):
            result = validate(structures, potential, reference, chemistry=chemistry,
                              reference_energies=cached, symmetric=symmetric)
            errors[symmetric] = {n: 1000 * result[n]["error"] for n in structures}
            if symmetric:
                cached = {n: result[n]["reference"] for n in structures}
        rows.append({"iteration": record["iteration"], "labels": record["labels_total"],
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
