"""The paper's four systems: what the runs of ``benchmarks/paper/*.toml`` reached.

Each run explores one element with the CHGNet surrogate at the paper's cell sizes
(``gapexplore run benchmarks/out/paper/si --config benchmarks/paper/si.toml``; the runs
resume, so they grow over several sittings). For each run folder given, this prints

* where it stands: iterations finished, labels, wall time of its steps;
* the learning curves of its known structures (paper Figs. 2–3): GAP − reference energy of
  each structure relaxed by both [meV/atom], after every fit, against the labels;
* the phase differences, GAP against reference, after every fit [meV/atom];
* per known structure: the first iteration whose GAP relaxations ended in it (a search
  result: a converged minimum that pymatgen's ``StructureMatcher`` maps onto the known
  structure, volume scaled), with the labels of the GAP that found it and how many minima
  of the run did, and the first fit at which its error fell below 10 meV/atom;
* the held-out phases of its element (:data:`gapexplore.crystals.HELD_OUT_STRUCTURES`:
  never validated on, never trained on): GAP − reference energy of each [meV/atom] after
  every fit, as the learning curves define it (:func:`gapexplore.validate.validate`), each
  GAP relaxing it from the reference's own minimum (``--no-held-out`` skips them);
* the lowest-enthalpy minimum of every iteration, checked with the reference (paper Fig. 2,
  bottom), named when it is a known structure;
* the last iteration's labels against the GAP that found them (paper Fig. 4), their RMSE,
  as ``<element>_energy_energy.png``;
* energy–volume curves of the known structures by the newest GAP and by the reference,
  around the reference's minimum (paper Fig. 3d–f), as ``<element>_energy_volume.png``;

and the kernel-PCA structure map of all runs' labelled cells together (paper Fig. 5; each
cell scaled to a shortest bond of 1 Å, coloured by coordination, one marker per element)
as ``structure_map.html``, under ``--out`` (default ``benchmarks/out/paper/report``), with
the tables in ``report.md``.

Usage::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/paper_report.py \\
        benchmarks/out/paper/si benchmarks/out/paper/c benchmarks/out/paper/b \\
        benchmarks/out/paper/ti [--no-map] [--no-ev] [--no-held-out] [--map-max 1500]

Nothing is written into the run folders.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

import _common  # one BLAS thread: before numpy loads
import numpy as np

from gapexplore.core import keys

OUT = Path(__file__).resolve().parent / "out" / "paper" / "report"
THRESHOLD = 0.010  # eV/atom: "learnt" (paper Fig. 2: below 10 meV/atom)

#: The paper's figures to set beside each run's (its VASP reference, 2,500 labels).
PAPER = {
    "B": "α-B12 below 10 meV/atom before 2,000 evaluations, below 4 meV/atom at 2,500 "
         "(Fig. 2); α-B12 first found as a search result in an early iteration",
    "C": "graphite, diamond and lonsdaleite learnt (Fig. 3a); diamond–lonsdaleite "
         "27 meV/atom by GAP against 28 by DFT",
    "Si": "diamond, β-Sn and oS24 learnt (Fig. 3b)",
    "Ti": "hcp, ω learnt (Fig. 3c); hcp–ω 22 meV/atom by GAP against 24 by DFT",
}


def icosahedral_fraction(atoms, *, cutoff_factor: float = 1.2) -> float:
    """Share of atoms at a vertex of an icosahedron: five of their neighbours form a ring
    (a pentagonal pyramid), as every atom of α-B12 does (its B12 units).

    Neighbours are atoms within ``cutoff_factor`` times the shortest bond of the cell.
    """
    from itertools import combinations

    from ase.neighborlist import neighbor_list

    first, vectors = neighbor_list("iD", atoms, 4.0)
    if not len(first):
        return 0.0
    lengths = np.linalg.norm(vectors, axis=1)
    cutoff = cutoff_factor * lengths.min()
    near = lengths < cutoff
    first, vectors = first[near], vectors[near]
    hits = 0
    for i in range(len(atoms)):
        around = vectors[first == i]
        if len(around) < 5:
            continue
        bonded = np.linalg.norm(around[:, None] - around[None], axis=2) < cutoff
        np.fill_diagonal(bonded, False)
        for ring in combinations(range(len(around)), 5):
            sub = bonded[np.ix_(ring, ring)]
            if np.all(sub.sum(axis=1) == 2) and _connected(sub):
                hits += 1
                break
    return hits / len(atoms)


def _connected(adjacency) -> bool:
    seen, todo = {0}, [0]
    while todo:
        for j in np.flatnonzero(adjacency[todo.pop()]):
            if j not in seen:
                seen.add(int(j))
                todo.append(int(j))
    return len(seen) == len(adjacency)


def _labels_before(records: list[dict], iteration: int) -> int | None:
    """Labels of the GAP that drove ``iteration``'s relaxations (fitted the iteration before)."""
    if iteration <= 0 or iteration - 1 >= len(records):
        return None
    return records[iteration - 1].get("labels_total")


def run_report(folder: Path, out: Path, *, energy_volume: bool = True,
               held_out: bool = True) -> tuple[str, list]:
    """The tables of one run (markdown) and its labelled periodic cells for the map."""
    from gapexplore.analysis import energy_energy, learning_curves, run_labels
    from gapexplore.run.results import run_minima
    from gapexplore.validate import known_structure

    run = _common.read_run(folder)
    store, settings = run.store, run.settings
    element = settings.element
    state = run.state.to_dict()
    records = state["iterations"]
    fitted = [r for r in records if r.get("fit")]
    seconds = sum(sum(r.get("seconds", {}).values()) for r in records)
    lines = [f"## {element}: {folder}", "",
             f"{len(fitted)} fitted iterations, "
             f"{max((r.get('labels_total') or 0 for r in fitted), default=0)}"
             f" labels, {seconds / 3600:.1f} h of steps (wall). Settings: {settings.n_atoms[0]}–"
             f"{settings.n_atoms[1]} atoms, {settings.n_initial or settings.n_candidates} random "
             f"cells in iteration 0, {settings.n_candidates} relaxations and "
             f"{settings.selection.n_select} labels per iteration, GAP {settings.gap!r}, "
             f"reference {settings.reference!r}.", "", f"Paper: {PAPER.get(element, '—')}.", ""]

    # learning curves and phase differences
    rows = learning_curves(store)
    names = list(settings.validate)
    if rows:
        lines += ["| iteration | labels | " + " | ".join(names) + " |",
                  "|---" * (2 + len(names)) + "|"]
        for record in fitted:
            validation = record.get("validation") or {}
            cells = [f"{1000 * validation[n]['error']:+.1f}" if n in validation
                     and validation[n].get("error") is not None else "—" for n in names]
            lines.append(f"| {record['iteration']} | {record.get('labels_total')} | "
                         + " | ".join(cells) + " |")
        lines.append("")
        differences = [d for d in (fitted[-1].get("validation") or {}).get("differences", {})]
        if differences:
            lines += ["Phase differences, GAP / reference [meV/atom]:", "",
                      "| iteration | labels | " + " | ".join(differences) + " |",
                      "|---" * (2 + len(differences)) + "|"]
            for record in fitted:
                diff = (record.get("validation") or {}).get("differences", {})
                cells = [f"{1000 * diff[d]['gap']:.0f} / {1000 * diff[d]['reference']:.0f}"
                         if d in diff else "—" for d in differences]
                lines.append(f"| {record['iteration']} | {record.get('labels_total')} | "
                             + " | ".join(cells) + " |")
            lines.append("")

    # found as a search result; learnt
    known = {n: known_structure(element, n) for n in names}
    minima = run_minima(store)
    matches = _common.known_matches(minima, known) if minima else {n: [] for n in names}
    lines += ["| structure | first found (iteration, labels of its GAP) | minima matching "
              f"(of {len(minima)}) | below 10 meV/atom from (iteration, labels) |",
              "|---|---|---|---|"]
    for name in names:
        found = sorted(minima[i].info[keys.ITERATION] for i in matches[name])
        first = (f"{found[0]}, {_labels_before(records, found[0])}" if found else "not found")
        learnt = next(((r["iteration"], r["labels"]) for r in rows_by_fit(rows, name)
                       if abs(r["error"]) < THRESHOLD), None)
        lines.append(f"| {name} | {first} | {len(found)} | "
                     f"{'%d, %d' % learnt if learnt else 'not yet'} |")
    lines.append("")

    if element == "B" and minima:   # how close the search came to B12 icosahedra
        shares = np.array([icosahedral_fraction(m) for m in minima])
        order = np.argsort(-shares)[:5]
        lines += [f"Minima with atoms at icosahedron vertices (α-B12: all): "
                  f"{int(np.sum(shares > 0))} of {len(minima)} have some, "
                  f"{int(np.sum(shares >= 0.5))} have half or more. The five with most:", "",
                  "| iteration | atoms | share at vertices | GAP energy [eV/atom] |",
                  "|---|---|---|---|"]
        lines += [f"| {minima[i].info[keys.ITERATION]} | {len(minima[i])} | {shares[i]:.2f} | "
                  f"{minima[i].info[keys.GAP_ENERGY] / len(minima[i]):.3f} |" for i in order]
        lines.append("")

    if held_out:
        lines += held_out_errors(run, fitted)

    # the lowest minimum of each iteration, checked with the reference
    lowest_rows = []
    for record in records:
        low = record.get("lowest")
        if not low:
            continue
        path = folder / f"iter_{record['iteration']:03d}" / "lowest_checked.xyz"
        name = "—"
        if path.exists():
            from ase.io import read

            hit = _common.known_matches([read(path)], known)
            name = next((n for n, found in hit.items() if found), "—")
        ref = low.get("reference_enthalpy_per_atom")
        lowest_rows.append(
            f"| {record['iteration']} | {low.get('spacegroup')} | {low.get('n_atoms')} | "
            f"{name} | {low.get('pressure', 0):.2f} | {low['enthalpy_per_atom']:.3f} | "
            + (f"{ref:.3f} | {1000 * (low['enthalpy_per_atom'] - ref):+.0f} |"
               if ref is not None else f"{low.get('reference_status')} | — |"))
    if lowest_rows:
        lines += ["Lowest-enthalpy minimum of each iteration, checked with the reference:", "",
                  "| iteration | space group | atoms | known as | p [GPa] | H GAP [eV/atom] | "
                  "H reference | GAP − ref [meV/atom] |", "|---" * 8 + "|", *lowest_rows, ""]

    # paper Fig. 2, bottom: the lowest reference energy among each iteration's labels
    labels = run_labels(store)
    lines += _lowest_labels(labels, known, state.get("reference_energies", {}), element)
    last = max((r["iteration"] for r in records if r.get("labelled")), default=0)
    previous = run.potential_of(last - 1) if last >= 1 else None
    if previous is not None:
        chosen = [a for a in labels if a.info.get(keys.ITERATION) == last]
        data = energy_energy(chosen, previous)
        near = data["reference"] <= data["reference"].min() + 1.0
        rmse_near = float(np.sqrt(np.mean((data["gap"][near] - data["reference"][near]) ** 2)))
        lines += [f"Iteration {last}'s {len(chosen)} labels against the GAP of iteration "
                  f"{last - 1} (paper Fig. 4): energy RMSE {1000 * data['rmse']:.0f} meV/atom, "
                  f"{1000 * rmse_near:.0f} on the {int(near.sum())} within 1 eV/atom of the "
                  "lowest.", ""]
        _scatter(data, near, out / f"{element}_energy_energy.png",
                 f"{element}: iteration {last} labels vs GAP {last - 1}")

    if energy_volume and run.potential is not None:
        lines += _energy_volume(run, known, out / f"{element}_energy_volume.png")
    return "\n".join(lines), labels


def held_out_errors(run, fitted: list[dict]) -> list[str]:
    """The held-out phases of the run's element after every fit: GAP − reference energy
    [meV/atom] (markdown lines; none when the element has no held-out phase).

    Each phase is relaxed once by the reference
    (:func:`gapexplore.validate.reference_minima`), then by each fitted GAP from there
    (:func:`gapexplore.validate.validate`, the learning curves' error), its space group kept.
    A GAP whose relaxation exploded shows "—".
    """
    from gapexplore.crystals import HELD_OUT_STRUCTURES, held_out_structure, structure_table
    from gapexplore.fit import load_potential
    from gapexplore.validate import reference_minima, validate

    element = run.settings.element
    names = list(structure_table(HELD_OUT_STRUCTURES, element))
    fits = [(r, run.potential_of(r["iteration"])) for r in fitted]
    fits = [(r, path) for r, path in fits if path is not None]
    if not names or not fits:
        return []
    reference = run.reference.calculator()
    with contextlib.redirect_stdout(io.StringIO()):
        minima, energies = reference_minima(
            {n: held_out_structure(element, n) for n in names}, reference,
            chemistry=run.chemistry)
        rows = []
        for record, path in fits:
            result = validate(minima, load_potential(path), reference,
                              chemistry=run.chemistry, reference_energies=energies)
            cells = [f"{1000 * result[n]['error']:+.1f}" if np.isfinite(result[n]["error"])
                     else "—" for n in names]
            rows.append(f"| {record['iteration']} | {record.get('labels_total')} | "
                        + " | ".join(cells) + " |")
    return ["### Held-out phases (never validated on, never trained on)", "",
            "GAP − reference [meV/atom] after every fit, each phase relaxed by the GAP from "
            "the reference's minimum (reference: "
            + ", ".join(f"{n} {energies[n]:.3f} eV/atom" for n in names) + "):", "",
            "| iteration | labels | " + " | ".join(names) + " |",
            "|---" * (2 + len(names)) + "|", *rows, ""]


def _spacegroup(atoms, symprec: float = 0.1) -> str:
    import spglib

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    return spglib.get_spacegroup(cell, symprec=symprec) or "?"


def _lowest_labels(labels: list, known: dict, reference_energies: dict,
                   element: str) -> list[str]:
    """Per iteration, its label of lowest reference energy per atom (paper Fig. 2 bottom:
    "the respective lowest-energy structure (at the DFT level) from this iteration")."""
    by_iteration = {}
    for atoms in labels:
        e = atoms.info[keys.REF_ENERGY] / len(atoms)
        it = atoms.info.get(keys.ITERATION, -1)
        if it not in by_iteration or e < by_iteration[it][0]:
            by_iteration[it] = (e, atoms)
    if not by_iteration:
        return []
    zero_name = next(iter(known), None)
    zero = reference_energies.get(zero_name)
    header = ("| iteration | atoms | space group | E reference [eV/atom] | "
              + (f"above {zero_name} [meV/atom] | " if zero is not None else "")
              + "known as |" + (" share at icosahedron vertices |" if element == "B" else ""))
    lines = ["Lowest reference energy among each iteration's labels (paper Fig. 2, bottom):",
             "", header, "|---" * header.count(" | ") + "|---|"]
    for it in sorted(by_iteration):
        e, atoms = by_iteration[it]
        hit = _common.known_matches([atoms], known)
        name = next((n for n, found in hit.items() if found), "—")
        row = f"| {it} | {len(atoms)} | {_spacegroup(atoms)} | {e:.3f} | "
        if zero is not None:
            row += f"{1000 * (e - zero):+.0f} | "
        row += f"{name} |"
        if element == "B":
            row += f" {icosahedral_fraction(atoms):.2f} |"
        lines.append(row)
    return lines + [""]


def rows_by_fit(rows: list[dict], name: str) -> list[dict]:
    """The learning-curve rows of one structure, in fit order."""
    return sorted((r for r in rows if r["structure"] == name and r["error"] is not None
                   and np.isfinite(r["error"])), key=lambda r: r["iteration"])


def _scatter(data: dict, near, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(data["reference"][near], data["gap"][near], s=8)
    low, high = data["reference"][near].min(), data["reference"][near].max()
    ax.plot([low, high], [low, high], color="grey", lw=0.8)
    ax.set_xlabel("reference energy [eV/atom]")
    ax.set_ylabel("GAP energy [eV/atom]")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _energy_volume(run, known: dict, path: Path) -> list[str]:
    """E–V curves of the known structures by the newest GAP and the reference (each
    relaxed by the reference first); their equilibrium volumes and energies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gapexplore.analysis import energy_volume
    from gapexplore.check import equation_of_state
    from gapexplore.fit import load_potential
    from gapexplore.relax import RelaxSettings, relax

    reference = run.reference.calculator()
    gap = load_potential(run.potential)
    lines = ["E–V (newest GAP / reference): V0 [Å³/atom], E0 [eV/atom], B [GPa]:", "",
             "| structure | V0 | E0 | B |", "|---|---|---|---|"]
    fig, axes = plt.subplots(1, len(known), figsize=(3.2 * len(known), 3.0), squeeze=False)
    for ax, (name, atoms) in zip(axes[0], known.items()):
        with contextlib.redirect_stdout(io.StringIO()):
            frames = relax(atoms, reference, pressure=0.0, chemistry=run.chemistry,
                           settings=RelaxSettings(optimiser="lbfgs-linesearch"))
        start = frames[-1].copy()
        start.calc = None
        curves = energy_volume(start, {"GAP": gap, "reference": reference},
                               scales=np.linspace(0.88, 1.12, 9))
        fits = {k: equation_of_state(curves["volume_per_atom"], curves[k])
                for k in ("GAP", "reference")}
        cells = [f"{fits['GAP'][q]:.{digits}f} / {fits['reference'][q]:.{digits}f}"
                 for q, digits in (("v0", 2), ("e0", 3), ("bulk_modulus", 0))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        for k, style in (("reference", "k-"), ("GAP", "o")):
            ax.plot(curves["volume_per_atom"], curves[k], style, ms=3, label=k)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("volume [Å³/atom]")
    axes[0][0].set_ylabel("energy [eV/atom]")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return lines + [""]


def structure_map_html(labels: list, out: Path, *, max_cells: int, seed: int = 0) -> Path:
    """Paper Fig. 5: the map of all runs' labelled cells (a seeded subsample above
    ``max_cells``)."""
    from gapexplore.analysis import structure_map
    from gapexplore.widgets.plots import save_html, structure_map_figure

    if len(labels) > max_cells:
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), max_cells,
                                                          replace=False))
        labels = [labels[i] for i in keep]
    data = structure_map(labels, n_jobs=2)
    fig = structure_map_figure(data, marker_by="element",
                               title=f"Structure map of {len(labels)} labelled cells")
    return save_html(fig, out / "structure_map.html")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+", help="run folders")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-map", action="store_true", help="skip the structure map")
    parser.add_argument("--no-ev", action="store_true", help="skip the E–V curves")
    parser.add_argument("--no-held-out", action="store_true",
                        help="skip the held-out phases' errors after every fit")
    parser.add_argument("--map-max", type=int, default=1500,
                        help="cells on the map at most (a seeded subsample; 1500)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sections, everything = [], []
    for folder in args.folders:
        run = _common.read_run(folder)
        if run is None or not run.state.iterations:
            print(f"{folder}: no run yet", file=sys.stderr)
            continue
        text, labels = run_report(folder, args.out, energy_volume=not args.no_ev,
                                  held_out=not args.no_held_out)
        print(text, flush=True)
        sections.append(text)
        everything += labels
    if not args.no_map and len(everything) >= 3:
        path = structure_map_html(everything, args.out, max_cells=args.map_max)
        print(f"structure map: {path}")
    (args.out / "report.md").write_text("\n\n".join(sections) + "\n")
    print(f"tables: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
