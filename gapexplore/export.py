"""What a run leaves a scientist to take elsewhere: the newest GAP with what is needed to use
it, and the run's report.

:func:`export_run` writes, into a folder of its own:

* ``gap.xml`` and its sparse-point files (``gap.xml.sparseX.*``): the potential;
* ``train.xyz``: its training set, as ``gap_fit`` read it (``REF_energy``, ``REF_forces``,
  ``REF_virial``, the per-configuration σ and ``config_type``);
* ``gap_fit_commands.txt``: the ``gap_fit`` command line of each of the fit's three stages
  (2b, 2b + 3b, all: the last is the potential's);
* ``settings.json`` and ``settings.toml``: the run's settings; ``report.txt``: the run's
  report (``gapexplore status``), ``validation.csv`` when the run validated,
  ``check/check.json`` and ``check/report.html`` after ``gapexplore check``, and
  ``results/`` (the ranked structures, ``ranked.xyz``, ``ranked.csv`` and one CIF each)
  after ``gapexplore results``;
* ``use_with_ase.py`` and ``lammps.in``: how to load the potential in ASE (quippy) and in
  LAMMPS (``pair_style quip``);
* ``README.txt``: what each file is.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

from ase.data import atomic_numbers

from gapexplore.core.errors import GapExploreError
from gapexplore.run.reader import RunReader, RunView
from gapexplore.verdict import check_verdicts

__all__ = ["check_summary", "export_run", "run_report", "write_check_html"]


def run_report(explorer: RunView, seconds: float | None = None) -> str:
    """Where a run stands, as text: its labels, each iteration's selection, fit error,
    lowest structure (and the lowest of the next kinds labelled with
    ``ExploreSettings.lowest_kinds``), prediction and validation errors (each with how far
    above the known structure the lowest label of its composition lies, ``lowest label``
    [meV/atom]: :func:`gapexplore.validate.lowest_label_above`), and the newest potential."""
    failed = explorer.store.count_labels(ok_only=False) - explorer.n_labels
    what = ", ".join(c.formula for c in explorer.settings.compositions())
    stop = explorer.settings.stop_reason(explorer.state, explorer.n_labels)
    if stop is not None and not explorer.state.done:
        n = explorer.iteration
        where = (f"finished after {n} iteration{'s' if n != 1 else ''} "
                 f"({_stopped_by(explorer, stop)})")
    else:
        done = ", ".join(explorer.state.done) or "nothing yet"
        where = (f"iteration {explorer.iteration} in progress (done: {done}; next: "
                 f"{explorer.next_step})")
    lines = [f"gapexplore: {explorer.store.root} — {what}, "
             f"{explorer.n_labels} labels ({failed} failed), {where}"
             + (f", {seconds:.0f} s" if seconds is not None else "")]
    order = _validation_order(explorer)
    for record in explorer.state.iterations:
        rmse = record.fit.rmse_energy if record.fit else None
        lowest = record.lowest
        checks = record.validation.structures if record.validation else {}
        errors = {name: (check.error, check.lowest_label_above) for name, check
                  in sorted(checks.items(), key=order)}
        lines.append(
            f"  iteration {record.iteration}: selected {_or_dash(record.selected)}, "
            f"labels {_or_dash(record.labels_total)}, "
            + ("not fitted yet" if rmse is None else f"training RMSE {1000 * rmse:.1f} meV/atom")
            + (f", lowest H {lowest.enthalpy_per_atom:.3f} eV/atom"
               + _checked(lowest.to_dict())
               + f" ({lowest.spacegroup}, {lowest.n_atoms} atoms"
               + (f" of {lowest.formula}, {1000 * lowest.above_hull:.0f} meV/atom "
                  "above the hull" if lowest.formula is not None else "") + ")"
               if lowest else "")
            + "".join(f"; next kind {kind.spacegroup} {kind.enthalpy_per_atom:.3f}"
                      + _checked(kind.to_dict()) for kind in record.lowest_kinds or [])
            + (f", new labels predicted to {1000 * predicted.rmse:.1f} meV/atom RMSE"
               if (predicted := record.prediction_error) else "")
            + "".join(f", {name} error {1000 * e:+.1f} meV/atom"
                      + ("" if above is None else f" (lowest label {1000 * above:+.0f})")
                      for name, (e, above) in errors.items()))
    if explorer.potential:
        lines.append(f"  newest potential: {explorer.potential}")
    folder = explorer.store.root
    if stop is not None and not explorer.state.done:
        lines.append(f"next: gapexplore results {folder} (the structures found), gapexplore "
                     f"check {folder} (the GAP against the reference), gapexplore export "
                     f"{folder} DESTINATION; to go on, gapexplore run {folder} with a later "
                     "stop (e.g. --iterations or --max-labels)")
    else:
        lines.append(f"next: gapexplore run {folder} continues from {explorer.next_step}")
    return "\n".join(lines)


def _validation_order(explorer: RunView):
    """Sort key for an iteration's validation entries (name, values): the run's validation
    set as it is defined, ``ExploreSettings.validate`` in its order, then the structures of
    the run's ``known.xyz`` in file order, then any other name alphabetically. The report is
    then the same whether the state is the running one or read back from ``state.json``
    (whose keys are stored sorted)."""
    names = list(explorer.settings.validate)
    names += [name for name in explorer.store.read_known() if name not in names]
    rank = {name: i for i, name in enumerate(names)}
    return lambda item: (rank.get(item[0], len(rank)), item[0])


def _stopped_by(explorer: RunView, stop: str) -> str:
    """The stop criterion that ended a run, as the user set it."""
    settings = explorer.settings
    if stop == "max_labels":
        return f"{explorer.n_labels} labels reached --max-labels {settings.max_labels}"
    if stop == "max_iterations":
        return f"--iterations {settings.max_iterations} reached"
    if stop == "target_error":
        return (f"every --validate structure within --target-error "
                f"{settings.target_error:g} eV/atom")
    if stop == "target_prediction_error":
        return (f"new labels predicted within --target-prediction-error "
                f"{settings.target_prediction_error:g} eV/atom")
    return stop


def _checked(lowest: dict) -> str:
    """The reference's enthalpy of an iteration's lowest minimum, as the report shows it."""
    if "reference_enthalpy_per_atom" in lowest:
        return f" (reference {lowest['reference_enthalpy_per_atom']:.3f})"
    if "reference_status" in lowest:
        return " (reference failed)"
    return ""


def export_run(folder, destination) -> Path:
    """Write the newest GAP of the run in ``folder``, with what is needed to use it
    elsewhere, into ``destination`` (see the module docstring for the files).

    Parameters
    ----------
    folder : str or pathlib.Path
        A run folder with at least one fitted GAP.
    destination : str or pathlib.Path
        A folder that does not exist or is empty; created.

    Returns
    -------
    pathlib.Path
        ``destination``.

    Raises
    ------
    GapExploreError
        Before anything is written: for a folder that holds no run or no fitted GAP yet,
        or a destination that holds files.
    """
    folder, destination = Path(folder), Path(destination)
    explorer = RunReader(folder, where="export_run")
    potential = explorer.potential
    if potential is None:
        raise GapExploreError(f"The run in {folder} has no fitted GAP yet; run its first "
                              "iteration, then export.")
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise GapExploreError(f"{destination} exists and is not an empty folder; choose a "
                              "new one.")
    destination.mkdir(parents=True, exist_ok=True)
    gap_dir = potential.parent
    for path in sorted(gap_dir.glob(potential.name + "*")):   # the XML and its sparse files
        shutil.copy2(path, destination / path.name)
    shutil.copy2(gap_dir / "train.xyz", destination / "train.xyz")
    commands = []
    for stage in sorted(gap_dir.glob("*.xml"), key=lambda p: (p == potential, p.name)):
        if (line := _command_line(stage)) is not None:   # 2b, 2b + 3b, then the potential
            commands.append(f"# {stage.name}\ngap_fit{line}\n")
    (destination / "gap_fit_commands.txt").write_text("\n".join(commands))
    shutil.copy2(folder / "settings.json", destination / "settings.json")
    (destination / "settings.toml").write_text(explorer.settings.to_toml())
    if (folder / "validation.csv").exists():
        shutil.copy2(folder / "validation.csv", destination / "validation.csv")
    report = run_report(explorer).replace(
        f"newest potential: {potential}",
        f"newest potential: {potential.name} (here; {potential} in the run folder)")
    (destination / "report.txt").write_text(
        "\n".join(line for line in report.splitlines() if not line.startswith("next:"))
        + "\n")
    if (folder / "results").is_dir():   # after gapexplore results: ranked structures, CIFs
        shutil.copytree(folder / "results", destination / "results")
    for name in ("check.json", "report.html"):   # after gapexplore check
        if (folder / "check" / name).exists():
            (destination / "check").mkdir(exist_ok=True)
            shutil.copy2(folder / "check" / name, destination / "check" / name)
    label = _label(potential)
    elements = explorer.chemistry.elements
    numbers = " ".join(str(atomic_numbers[e]) for e in elements)
    types = ", ".join(f"{i} is {e} (atomic number {atomic_numbers[e]})"
                      for i, e in enumerate(elements, start=1))
    (destination / "use_with_ase.py").write_text(_ASE.format(name=potential.name))
    (destination / "lammps.in").write_text(_LAMMPS.format(
        name=potential.name, label=label, numbers=numbers, types=types))
    (destination / "README.txt").write_text(_README.format(
        name=potential.name, folder=folder.resolve(), iteration=explorer.iteration - 1,
        labels=explorer.n_labels))
    return destination


def check_summary(report: dict) -> str:
    """:func:`gapexplore.check.check_run`'s findings as text (what ``gapexplore check``
    prints): energy–volume fits and phase differences, GAP against reference, then MD."""
    lines = [f"gapexplore check: {report['potential']}",
             f"  {'structure':<18} {'source':<13} {'V0 GAP/ref':>15} {'B GAP/ref [GPa]':>16} "
             f"{'ΔE GAP/ref [meV]':>17} {'err':>6} {'RMSE':>6} {'σ_GAP':>6}"]
    for name, s in report["structures"].items():
        gap, ref = s["fit"]["gap"], s["fit"]["reference"]
        diff = report["differences"].get(name)
        sigma = s["predicted_error"]
        lines.append(
            f"  {name:<18} {s['source']:<13} {gap['v0']:7.2f}/{ref['v0']:<7.2f} "
            f"{gap['bulk_modulus']:7.0f}/{ref['bulk_modulus']:<8.0f} "
            + (f"{diff['gap']:8.1f}/{diff['reference']:<8.1f} {diff['error']:6.1f}"
               if diff else f"{'-':>17} {'-':>6}")
            + f" {1000 * s['rmse']:6.1f}"
            + (f" {1000 * sigma:6.1f}" if sigma is not None else f" {'-':>6}"))
    lines.append("  (V0 [Å³/atom] and B from Birch–Murnaghan fits, nan: no minimum on the curve; "
                 "ΔE: E0 above the lowest; err: GAP − reference [meV/atom]; RMSE: GAP − "
                 "reference along the curve [meV/atom]; σ_GAP: the GAP's predicted error "
                 "[meV/atom])")
    per_structure, overall = check_verdicts(report)
    lines.append("  verdict per structure (thresholds: gapexplore.verdict):")
    lines += [f"    {name:<18} {verdict}" for name, verdict in per_structure.items()]
    for md in report["md"]:
        checks = [c for c in md["spot_checks"] if c["status"] == "ok"]
        lines.append(
            f"  MD {md['structure']} ×{md['n_atoms']} atoms at {md['temperature']:.0f} K: "
            f"{md['status']}, {md['steps']} steps, closest {md['min_distance']:.2f} Å"
            + (f", NVE drift {md['nve_drift']:+.2f} meV/atom/ps" if "nve_drift" in md else "")
            + (", reference on {} frames: |ΔE| ≤ {:.1f} meV/atom, force RMSE ≤ {:.2f} eV/Å"
               .format(len(checks), max(abs(c["energy_error"]) for c in checks),
                       max(c["force_rmse"] for c in checks)) if checks else ""))
    lines.append(f"verdict: {overall}")
    return "\n".join(lines)


def write_check_html(report: dict, path) -> Path:
    """Write :func:`gapexplore.check.check_run`'s findings as one standalone HTML page:
    the tables of :func:`check_summary` and, with bokeh installed, the energy–volume
    curves (BokehJS inline: it opens without internet).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    per_structure, overall = check_verdicts(report)
    body = [f"<h1>gapexplore check</h1><p>{html.escape(report['potential'])}</p>",
            f"<p><b>Verdict:</b> {html.escape(overall)}</p>",
            "<h2>Energy–volume curves and phase differences, GAP against reference</h2>",
            _html_table(["structure", "source", "atoms", "V0 GAP [Å³/at]", "V0 ref",
                         "B GAP [GPa]", "B ref", "ΔE GAP [meV/at]", "ΔE ref", "error",
                         "curve RMSE [meV/at]", "σ_GAP [meV/at]", "verdict"],
                        [[name, s["source"], s["n_atoms"], s["fit"]["gap"]["v0"],
                          s["fit"]["reference"]["v0"], s["fit"]["gap"]["bulk_modulus"],
                          s["fit"]["reference"]["bulk_modulus"],
                          *((d["gap"], d["reference"], d["error"])
                            if (d := report["differences"].get(name)) else ("-",) * 3),
                          1000 * s["rmse"], "-" if s["predicted_error"] is None
                          else 1000 * s["predicted_error"], per_structure[name]]
                         for name, s in report["structures"].items()]),
            "<h2>Molecular dynamics with the GAP (Langevin NVT, then NVE)</h2>",
            _html_table(["structure", "T [K]", "atoms", "status", "steps", "closest [Å]",
                         "limit [Å]", "mean T [K]", "NVE drift [meV/at/ps]",
                         "reference checks: ΔE [meV/at], force RMSE [eV/Å]"],
                        [[m["structure"], m["temperature"], m["n_atoms"], m["status"],
                          m["steps"], m["min_distance"], m["limit"],
                          m.get("mean_temperature", "-"), m.get("nve_drift", "-"),
                          "; ".join(f"step {c['md_step']}: {c['energy_error']:+.1f}, "
                                    f"{c['force_rmse']:.3f}" if c["status"] == "ok"
                                    else f"step {c['md_step']}: {c['status']}"
                                    for c in m["spot_checks"]) or "-"]
                         for m in report["md"]])]
    head = ""
    try:
        from bokeh.embed import components
        from bokeh.resources import INLINE

        from gapexplore.widgets.plots import energy_volume_figure

        curves = {name: {"volume_per_atom": s["volume_per_atom"], "GAP": s["gap"],
                         "reference": s["reference"]}
                  for name, s in report["structures"].items()}
        script, div = components(energy_volume_figure(curves, title="Energy–volume "
                                                      "(solid: GAP, dashed: reference)"))
        head = INLINE.render_js() + script
        body.insert(3, div)
    except ImportError:   # the engine alone: tables only
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>gapexplore "
                    f"check</title>{head}<style>{_CSS}</style></head><body>"
                    + "".join(body) + "</body></html>", encoding="utf-8")
    return path


_CSS = ("body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} "
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right} "
        "td:first-child{text-align:left}")


def _html_table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            value = f"{value:.3g}" if abs(value) < 0.01 and value else f"{value:.2f}"
        return html.escape(str(value))

    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                      for row in rows) + "</table>")


def _or_dash(value) -> str:
    return "-" if value is None else str(value)


def _label(potential: Path) -> str:
    """The label of the GAP in its XML (``<Potential label=... init_args=...>``)."""
    with open(potential) as handle:
        head = handle.read(4096)
    found = re.search(r'<Potential label="([^"]+)"', head)
    if found is None:
        raise GapExploreError(f"{potential} is not a GAP XML file (no Potential label).")
    return found.group(1)


def _command_line(xml: Path) -> str | None:
    found = re.search(r"<command_line><!\[CDATA\[(.*?)\]\]></command_line>", xml.read_text(),
                      re.S)
    return None if found is None else " " + " ".join(found.group(1).split())


_ASE = '''"""Load the exported GAP in ASE (needs quippy: pip install quippy-ase)."""
from pathlib import Path

from ase.io import read
from quippy.potential import Potential

HERE = Path(__file__).resolve().parent
calculator = Potential(param_filename=str(HERE / "{name}"))

if __name__ == "__main__":
    # The GAP on the lowest-energy periodic cell of its training set. A GAP is a regression,
    # not an interpolation: it is not exact on its own training data. Each cell was given an
    # energy tolerance by its height above the convex hull, 1 meV/atom near the lowest
    # structures up to 100 meV/atom far above them (energy_sigma holds it times the square
    # root of the atom count), and the fit may miss a cell by about that much.
    cells = [a for a in read(HERE / "train.xyz", ":") if a.pbc.all()]
    atoms = min(cells, key=lambda a: a.info["REF_energy"] / len(a))
    n = len(atoms)
    reference = atoms.info["REF_energy"] / n
    sigma = atoms.info.get("energy_sigma")
    atoms.calc = calculator
    gap = atoms.get_potential_energy() / n
    print(f"{{atoms.get_chemical_formula()}} ({{n}} atoms), the lowest-energy cell of the "
          f"training set: GAP {{gap:.6f}} eV/atom, reference {{reference:.6f}} eV/atom, "
          f"GAP - reference {{1000 * (gap - reference):+.1f}} meV/atom"
          + (f" (its fitting tolerance: {{1000 * sigma / n ** 0.5:.1f}} meV/atom)"
             if sigma is not None else ""))
'''

_LAMMPS = '''# The exported GAP in LAMMPS (a LAMMPS built with the QUIP package, pair_style quip).
# Units metal (eV, Å); atom type {types}.
units           metal
atom_style      atomic
# read_data     your_structure.data
pair_style      quip
pair_coeff      * * {name} "IP GAP label={label}" {numbers}
'''

_README = '''A GAP exported by gapexplore from the run in {folder}
(its newest potential, fitted in iteration {iteration} to {labels} reference labels).

{name}, {name}.sparseX.*   the potential (keep them together)
train.xyz                 its training set as gap_fit read it (extxyz)
gap_fit_commands.txt      gap_fit's command line for each stage of the fit
settings.json, .toml      the run's settings
report.txt                the run's report (gapexplore status)
validation.csv            known structures by each GAP and the reference (if validated)
check/                    gapexplore check's findings, check.json and report.html (if run)
results/                  gapexplore results' ranked structures: ranked.xyz, ranked.csv and
                          one CIF each (if run)
use_with_ase.py           the potential as an ASE calculator (quippy)
lammps.in                 the potential in LAMMPS (pair_style quip)
'''
