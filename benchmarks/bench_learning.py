"""Learning benchmark: the paper's Fig. 2 comparison in miniature, several ways at one budget.

The same small exploration (same seed, same random cells in iteration 0, same number of
reference evaluations per iteration) is run with each selection method:

* ``kernel_cur``: greedy leverage-score CUR with deflation on the averaged-SOAP kernel, top
  leverage, uncentred (the package default);
* ``kernel_cur_quip``: the same on the paper's own kernel, QUIP's averaged SOAP
  (``soap="paper-quip"``);
* ``kernel_cur_stochastic``: the same, each structure drawn with probability ∝ leverage;
* ``kernel_cur_centred``: the same on the centred kernel (as wfl);
* ``kernel_cur_centred_stochastic``: both (wfl's defaults);
* ``kernel_leverage``: the authors' CUR (leverage over the top n/2 singular vectors of the
  kernel, drawn without deflation: the paper's own script);
* ``kernel_fps``: farthest-point sampling in the kernel's metric, from the database;
* ``vector_cur``: CUR on the matrix of averaged SOAP vectors (the paper's first baseline);
* ``random``: uniform random choice after the flat histogram (the second baseline).

After each fit the run relaxes known crystal structures with its new GAP and with the
reference (the Explorer's ``validate`` setting, recorded in ``state.json``): the energy
error per atom against the number of reference evaluations is the learning curve of paper
Figs. 2–3. This script prints, per reference and known structure, a table of method ×
labels → mean ± sd of |error| over seeds; the number of labels at which each structure
first fell below 10 meV/atom; the energy differences between the phases by the final
GAPs beside the reference's own; and how far the final GAPs' energy–volume curves of the
known structures (the reference's relaxed cell scaled by 0.8–1.2, paper Fig. 3) lie from the
reference's. It writes the raw numbers (``learning_<size>_<references>`` .csv,
_differences.csv, _energy_volume.csv and .json: every run's state.json records) and one
figure per reference, learning curves above E–V curves, as PNG and as interactive HTML
(``learning_<size>_<reference>.png`` / ``.html``) to ``--out`` (default
``benchmarks/out/learning``, git-ignored).

References: Stillinger–Weber Si (``sw-si``) has the 2b + 3b form of the GAP's own low-order
terms, so it is the easy case; Kumagai Si (``kumagai-si``, bond order) and Tersoff carbon
(``tersoff-c``) are not of that form. Tersoff carbon makes diamond and lonsdaleite exactly
degenerate and has no interlayer binding in graphite: compare with its own numbers, not
the paper's DFT ones. ``chgnet-si`` labels Si with the CHGNet surrogate (the DFT-like
reference; needs the ``surrogate`` extra, and is about 10× slower per label than the toys).

Each run lives in its own folder under ``--out/runs/`` named by its settings; a finished
run is read back instead of repeated (``medium`` and ``large`` share theirs), one with
fewer iterations continues, and an interrupted one resumes (the Explorer is resumable):
an interrupted benchmark is finished by running the same command again.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_learning.py --size small   # smoke, ~1 min
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_learning.py --size medium --parallel 2 \\
        --reference kumagai-si                 # the six methods, 5 seeds
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_learning.py --size large --parallel 2 \\
        --reference kumagai-si tersoff-c sw-si  # and the CUR variants
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import _common  # one BLAS thread: before numpy loads
import numpy as np

from gapexplore.core import keys
from gapexplore.run import Explorer, ExploreSettings
from gapexplore.run.store import write_csv

#: Selection methods compared: name -> ExploreSettings fields.
METHODS = {
    "kernel_cur": dict(selection="kernel_cur"),
    "kernel_cur_quip": dict(selection="kernel_cur", soap="paper-quip"),
    "kernel_cur_stochastic": dict(selection="kernel_cur", selection_stochastic=True),
    "kernel_cur_centred": dict(selection="kernel_cur", selection_center=True),
    "kernel_cur_centred_stochastic": dict(selection="kernel_cur", selection_center=True,
                                          selection_stochastic=True),
    "kernel_leverage": dict(selection="kernel_leverage"),
    "kernel_fps": dict(selection="kernel_fps"),
    "vector_cur": dict(selection="vector_cur"),
    "uncertainty": dict(selection="uncertainty"),
    "random": dict(selection="random"),
}

_SI_KNOWN = ("diamond", "beta-tin", "simple-hexagonal", "bc8")

#: The comparison's references: key -> (named reference, element, known structures; the
#: first known structure is the zero of the energy differences).
REFERENCES = {
    "kumagai-si": ("kumagai-si", "Si", _SI_KNOWN),
    "sw-si": ("sw-si", "Si", _SI_KNOWN),
    "tersoff-si": ("tersoff-si", "Si", _SI_KNOWN),
    "tersoff-c": ("tersoff-c", "C", ("diamond", "lonsdaleite", "graphite")),
    "chgnet-si": ("chgnet", "Si", _SI_KNOWN),   # needs the surrogate extra
    "chgnet-b": ("chgnet", "B", ("alpha-B12",)),   # paper Fig. 2's system
}

#: The references whose runs began when the paper's PreconLBFGS was the relaxations'
#: default: their runs keep it, so that they read back; the others relax with the
#: package's default (FIRE, many cells at once on the native engine).
_PRECON_RUNS = frozenset({"kumagai-si", "sw-si", "tersoff-si", "tersoff-c", "chgnet-si"})


@dataclasses.dataclass(frozen=True)
class Size:
    """One scale of the comparison.

    ``n_initial`` random cells in iteration 0 (no relaxation: only their SOAP costs), then
    ``n_candidates`` GAP relaxations per iteration; ``n_select`` labels per iteration
    (iteration 0 adds the isolated atom and 21 dimers).
    """

    n_initial: int
    n_candidates: int
    n_select: int
    iterations: int
    n_atoms: tuple
    relax_fmax: float
    relax_max_steps: int
    soap: str
    seeds: int
    methods: tuple

    def tag(self) -> str:
        """Names the runs' settings, so sizes that share them share their runs."""
        return (f"c{self.n_initial}-{self.n_candidates}-n{self.n_select}-a{self.n_atoms[0]}-"
                f"{self.n_atoms[1]}-f{self.relax_fmax}-m{self.relax_max_steps}-{self.soap}")


SIZES = {
    # CI smoke test: two methods, one seed, two iterations.
    "small": Size(n_initial=12, n_candidates=6, n_select=4, iterations=2, n_atoms=(4, 8),
                  relax_fmax=0.1, relax_max_steps=25, soap="fast", seeds=1,
                  methods=("kernel_cur", "random")),
    # The six methods at five seeds: 30 runs, about 3 min each on a quiet core.
    "medium": Size(n_initial=100, n_candidates=12, n_select=12, iterations=5, n_atoms=(4, 8),
                   relax_fmax=0.05, relax_max_steps=80, soap="paper", seeds=5,
                   methods=("kernel_cur", "kernel_leverage", "kernel_fps", "uncertainty",
                            "vector_cur", "random")),
    # The three and the CUR variants at five seeds (run with --parallel 2 or more).
    "large": Size(n_initial=100, n_candidates=12, n_select=12, iterations=5, n_atoms=(4, 8),
                  relax_fmax=0.05, relax_max_steps=80, soap="paper", seeds=5,
                  methods=("kernel_cur", "kernel_cur_stochastic", "kernel_cur_centred",
                           "vector_cur", "random")),
    # Beyond 82 labels: 20 relaxations and 20 labels per iteration to 254 labels, the
    # methods that matter at five seeds; hours per reference: run it over
    # several sittings (the runs resume), with --parallel 2 on a quiet machine.
    "grown": Size(n_initial=100, n_candidates=20, n_select=20, iterations=12,
                  n_atoms=(4, 8), relax_fmax=0.05, relax_max_steps=80, soap="paper", seeds=5,
                  methods=("kernel_cur", "kernel_leverage", "kernel_fps", "uncertainty",
                           "vector_cur", "random")),
    # Paper Fig. 2 on boron (with --reference chgnet-b): the paper's cells, the two
    # kernels' CUR, CUR on SOAP vectors and random choice, paired by seed; 100 GAP
    # relaxations and 25 labels an iteration, the light GAP.
    "boron": Size(n_initial=400, n_candidates=100, n_select=25, iterations=8,
                  n_atoms=(6, 24), relax_fmax=0.05, relax_max_steps=150, soap="paper",
                  seeds=3, methods=("kernel_cur_quip", "kernel_cur", "vector_cur", "random")),
}

THRESHOLD = 0.010  # eV/atom: "learnt" (paper Fig. 2: below 10 meV/atom)


def settings_for(reference: str, method: str, seed: int, size: Size,
                 iterations: int | None = None) -> ExploreSettings:
    """The ExploreSettings of one run of the comparison."""
    name, element, known = REFERENCES[reference]
    relax = {"optimiser": "precon-lbfgs"} if reference in _PRECON_RUNS else {}
    return ExploreSettings(element=element, reference=name,
                           n_candidates=size.n_candidates, n_atoms=size.n_atoms,
                           n_select=size.n_select,
                           max_iterations=iterations or size.iterations, gap="light",
                           relax_fmax=size.relax_fmax,
                           relax_max_steps=size.relax_max_steps, seed=seed,
                           validate=known, **({"soap": size.soap} | METHODS[method]),
                           relax=relax)


def run_one(job: dict) -> dict:
    """Run (or continue, or read back) one exploration; return its records and timing."""
    folder = Path(job["folder"])
    settings = ExploreSettings.from_dict(job["settings"])
    start = time.perf_counter()
    explorer = Explorer(folder, settings, n_jobs=1)
    read_back = explorer.finished()
    if explorer.iteration == 0:   # iteration 0 chooses from more cells (they cost no relaxing)
        explorer.n_candidates = job["n_initial"]
        explorer.run(iterations=1)
        explorer.n_candidates = settings.n_candidates
    explorer.run()
    records = [r.to_dict() for r in explorer.state.iterations[:settings.max_iterations]]
    return {**{k: job[k] for k in ("reference", "method", "seed", "folder")},
            "records": records,
            "read_back": read_back, "wall_seconds": time.perf_counter() - start,
            "step_seconds": sum(sum(r.get("seconds", {}).values()) for r in records)}


def learning_rows(result: dict) -> list[dict]:
    """One row per iteration and known structure of one run (in the order of REFERENCES)."""
    rows = []
    for record in result["records"]:
        validation = record.get("validation")
        if not validation:
            continue
        for name in REFERENCES[result["reference"]][2]:
            values = validation[name]
            rows.append({"reference": result["reference"], "method": result["method"],
                         "seed": result["seed"], "iteration": record["iteration"],
                         "labels": record.get("labels_total"), "structure": name,
                         "gap": values["gap"], "reference_energy": values["reference"],
                         "error": values["error"], "gap_status": values["gap_status"]})
    return rows


def difference_rows(result: dict) -> list[dict]:
    """The energy differences between phases by the final GAP and by the reference."""
    final = [r for r in result["records"] if "validation" in r][-1]
    first, *others = REFERENCES[result["reference"]][2]
    pairs = [f"{name} - {first}" for name in others]
    differences = final["validation"]["differences"]
    return [{"reference": result["reference"], "method": result["method"],
             "seed": result["seed"], "labels": final.get("labels_total"), "pair": pair,
             "gap": differences[pair]["gap"], "reference_value": differences[pair]["reference"]}
            for pair in pairs]


def held_out_rows(results: list[dict], out: Path) -> list[dict]:
    """Every fitted GAP of every run on the phases no run validates on
    (:data:`gapexplore.crystals.HELD_OUT_STRUCTURES`): relaxed energy per atom by the GAP and
    by the reference, one row per run, iteration and structure, like :func:`learning_rows`.

    The reference's relaxed energies are computed once per reference and kept in
    ``out/held_out_<reference>.json``; each run's GAP energies, by iteration, in
    ``out/held_out_<reference>_<method>_<seed>.json`` (never in the run's folder), so a
    second call only adds new iterations.
    """
    from gapexplore.fit import load_potential
    from gapexplore.label import reference_calculator
    from gapexplore.validate import HELD_OUT_STRUCTURES, held_out_structure, validate

    rows = []
    for key in dict.fromkeys(r["reference"] for r in results):
        name, element, _ = REFERENCES[key]
        held_out = {s: held_out_structure(element, s) for s in HELD_OUT_STRUCTURES.get(element, {})}
        if not held_out:
            continue
        chemistry = ExploreSettings(element=element, reference=name).chemistry()
        cache = out / f"held_out_{key}.json"
        energies = json.loads(cache.read_text()) if cache.exists() else {}
        reference = None
        for result in (r for r in results if r["reference"] == key):
            folder = Path(result["folder"])
            kept_path = out / f"held_out_{key}_{result['method']}_{result['seed']}.json"
            kept = json.loads(kept_path.read_text()) if kept_path.exists() else {}
            run = _common.read_run(folder)
            for record in result["records"]:
                iteration = str(record["iteration"])
                if iteration not in kept and record.get("fit"):
                    reference = reference or reference_calculator(name)
                    gap = load_potential(run.potential_of(record["iteration"]))
                    found = validate(held_out, gap, reference, chemistry=chemistry,
                                     reference_energies=energies)
                    energies.update({s: found[s]["reference"] for s in held_out})
                    cache.write_text(json.dumps(energies, indent=1))
                    kept[iteration] = {s: found[s]["gap"] for s in held_out}
                    kept_path.write_text(json.dumps(kept, indent=1))
                for structure, gap_energy in kept.get(iteration, {}).items():
                    rows.append({"reference": key, "method": result["method"],
                                 "seed": result["seed"], "iteration": record["iteration"],
                                 "labels": record.get("labels_total"),
                                 "structure": structure, "gap": gap_energy,
                                 "reference_energy": energies[structure],
                                 "error": gap_energy - energies[structure]})
    return rows


def held_out_labelled(results: list[dict]) -> dict:
    """Which held-out phases a run's own search labelled: no run is given them, but a
    search can find one (e.g. hexagonal diamond Si) and label it. Per reference, per phase:
    the (method, seed, iteration) of every run whose labels hold it (pymatgen's
    ``StructureMatcher`` via ``_common.known_matches``; the first iteration each)."""
    from gapexplore.validate import HELD_OUT_STRUCTURES, held_out_structure

    out = {}
    for key in dict.fromkeys(r["reference"] for r in results):
        _, element, _ = REFERENCES[key]
        phases = {s: held_out_structure(element, s) for s in HELD_OUT_STRUCTURES.get(element, {})}
        found = {s: [] for s in phases}
        for result in (r for r in results if r["reference"] == key):
            labels = [a for a in _common.read_run(result["folder"]).store.labels() if a.pbc.all()]
            for phase, hits in _common.known_matches(labels, phases).items():
                if hits:
                    found[phase].append((result["method"], result["seed"],
                                         min(labels[i].info["iteration"] for i in hits)))
        out[key] = found
    return out


def held_out_labelled_lines(found: dict, reference: str, n_runs: int) -> str:
    """The held-out phases the runs' own searches labelled, as text."""
    lines = [f"{reference}: held-out phases the runs' own searches labelled (of {n_runs} runs)"]
    for phase, runs in found.get(reference, {}).items():
        first = ", ".join(f"{m} s{s} it{i}" for m, s, i in runs[:6])
        lines.append(f"  {phase}: {len(runs)}" + (f" ({first}{', ...' if len(runs) > 6 else ''})"
                                                 if runs else ""))
    return "\n".join(lines)


#: Volume ratios V/V0 of the energy–volume curves (around the reference's relaxed cell).
EV_SCALES = np.linspace(0.8, 1.2, 9)


def energy_volume_rows(results: list[dict]) -> list[dict]:
    """Energy–volume curves of the known structures by each run's final GAP and by the
    reference (paper Fig. 3): the reference's relaxed cell scaled uniformly, atoms not
    relaxed. One row per run, structure and volume [Å³/atom], energies [eV/atom]."""
    from gapexplore.analysis import energy_volume
    from gapexplore.fit import load_potential
    from gapexplore.label import reference_calculator
    from gapexplore.relax import RelaxSettings, relax
    from gapexplore.validate import known_structure

    rows = []
    for key in dict.fromkeys(r["reference"] for r in results):
        name, element, known = REFERENCES[key]
        reference = reference_calculator(name)
        chemistry = ExploreSettings(element=element, reference=name).chemistry()
        plain = RelaxSettings(optimiser="lbfgs-linesearch")
        relaxed = {s: relax(known_structure(element, s), reference, pressure=0.0,
                            chemistry=chemistry, settings=plain)[-1]
                   for s in known}
        curves = {s: energy_volume(relaxed[s], {"reference": reference}, scales=EV_SCALES)
                  for s in known}
        for result in (r for r in results if r["reference"] == key):
            run = _common.read_run(result["folder"])
            gap = load_potential(run.potential_of(result["records"][-1]["iteration"]))
            for structure in known:
                mine = energy_volume(relaxed[structure], {"gap": gap}, scales=EV_SCALES)
                for v, e_gap, e_ref in zip(mine["volume_per_atom"], mine["gap"],
                                           curves[structure]["reference"]):
                    rows.append({"reference": key, "method": result["method"],
                                 "seed": result["seed"], "structure": structure,
                                 "volume_per_atom": float(v), "gap": float(e_gap),
                                 "reference_energy": float(e_ref)})
    return rows


# --- tables --------------------------------------------------------------------------------

def _mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    good = values[np.isfinite(values)]
    if not len(good):
        return "failed"
    text = f"{np.mean(good):.1f} ± {np.std(good):.1f}" if len(good) > 1 else f"{good[0]:.1f}"
    return text + (f" ({len(values) - len(good)} nan)" if len(good) < len(values) else "")


def learning_table(rows: list[dict], reference: str, what: str = "known") -> str:
    """Method × labels -> mean ± sd over seeds of |error| [meV/atom], per structure."""
    rows = [r for r in rows if r["reference"] == reference]
    if not rows:
        return ""
    iterations = sorted({r["iteration"] for r in rows})
    labels = {i: int(np.median([r["labels"] for r in rows if r["iteration"] == i]))
              for i in iterations}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    structures = list(dict.fromkeys(r["structure"] for r in rows)) + ["mean of all"]
    width = 17
    lines = [f"{reference}: |E_GAP - E_ref| of relaxed {what} structures [meV/atom], "
             f"mean ± sd over seeds (population sd, ddof 0)"]
    for structure in structures:
        lines.append(f"  {structure:<30s}" + "".join(f"{labels[i]:>{width}d}"
                                                     for i in iterations) + "  <- labels")
        for method in methods:
            cells = [_mean_sd(_errors(rows, method, i, structure)) for i in iterations]
            lines.append(f"    {method:<28s}" + "".join(f"{c:>{width}s}" for c in cells))
    return "\n".join(lines)


def _errors(rows, method, iteration, structure) -> list[float]:
    """|error| [meV/atom] per seed (for "mean of all": the mean over structures per seed)."""
    mine = [r for r in rows if r["method"] == method and r["iteration"] == iteration]
    if structure != "mean of all":
        return [1000 * abs(r["error"]) for r in mine if r["structure"] == structure]
    seeds = sorted({r["seed"] for r in mine})
    return [1000 * np.mean([abs(r["error"]) for r in mine if r["seed"] == s]) for s in seeds]


def _grid(title: str, columns, rows, width: int) -> str:
    """A titled text table: a header of ``columns``, then (name, cells) rows."""
    lines = [title, f"  {'':<28s}" + "".join(f"{c:>{width}s}" for c in columns)]
    lines += [f"  {name:<28s}" + "".join(f"{c:>{width}s}" for c in cells)
              for name, cells in rows]
    return "\n".join(lines)


def first_below(rows: list[dict], reference: str, threshold: float = THRESHOLD) -> str:
    """Labels at which each structure's |error| first fell below ``threshold``."""
    rows = [r for r in rows if r["reference"] == reference]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    structures = list(dict.fromkeys(r["structure"] for r in rows))
    table = []
    for method in methods:
        cells = []
        for structure in structures:
            mine = [r for r in rows if r["method"] == method and r["structure"] == structure]
            seeds = sorted({r["seed"] for r in mine})
            hits = []
            for seed in seeds:
                curve = sorted((r["iteration"], r["labels"], abs(r["error"]))
                               for r in mine if r["seed"] == seed)
                below = [labels for _, labels, error in curve if error < threshold]
                if below:
                    hits.append(below[0])
            mean = f"{np.mean(hits):.0f}" if hits else "-"
            cells.append(f"{mean} ({len(hits)}/{len(seeds)})")
        table.append((method, cells))
    return _grid(f"{reference}: labels when |error| first fell below {1000 * threshold:.0f} "
                 "meV/atom, mean over the seeds that got there (seeds that did / seeds)",
                 structures, table, width=20)


def paired_table(rows: list[dict], reference: str, baseline: str = "random",
                 what: str = "known") -> str:
    """Each method against ``baseline``, seed by seed, on the mean |error| of all known
    structures: the mean paired difference [meV/atom] and the seeds where the method is
    lower, with the one-sided sign-test p-value of that count.

    Runs of one seed share their random cells (iteration 0 chooses from the same 100), so
    the pairs remove that part of the seed-to-seed spread that the mean ± sd keeps.
    """
    from scipy.stats import binomtest

    rows = [r for r in rows if r["reference"] == reference]
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m != baseline]
    if not methods or not any(r["method"] == baseline for r in rows):
        return ""
    iterations = sorted({r["iteration"] for r in rows})
    labels = [f"{int(np.median([r['labels'] for r in rows if r['iteration'] == i]))}"
              for i in iterations]
    table = []
    for method in methods:
        cells = []
        for iteration in iterations:
            pairs = []
            for seed in sorted({r["seed"] for r in rows if r["method"] == method}):
                mine = [r for r in rows if r["seed"] == seed and r["iteration"] == iteration]
                a = _errors(mine, method, iteration, "mean of all")
                b = _errors(mine, baseline, iteration, "mean of all")
                if a and b and np.isfinite(a[0]) and np.isfinite(b[0]):
                    pairs.append(a[0] - b[0])
            if not pairs:
                cells.append("-")
                continue
            wins = sum(d < 0 for d in pairs)
            p = binomtest(wins, len(pairs), 0.5, alternative="greater").pvalue
            cells.append(f"{np.mean(pairs):+.0f} {wins}/{len(pairs)} p{p:.2f}")
        table.append((method, cells))
    return _grid(f"{reference}: paired by seed against {baseline}: mean of (method - "
                 f"{baseline}) of the mean |error| of the {what} structures [meV/atom], "
                 "seeds where the method is lower, one-sided sign-test p", labels, table,
                 width=20)


def lowest_label_rows(results: list[dict]) -> list[dict]:
    """Paper Fig. 2, bottom: per run and iteration, the lowest reference energy per atom
    among that iteration's periodic labels, above the first known structure's energy
    relaxed by the reference (``error`` [eV/atom], signed: a label below it is negative)."""
    rows = []
    for result in results:
        first = REFERENCES[result["reference"]][2][0]
        zero = next((r["validation"][first]["reference"] for r in result["records"]
                     if r.get("validation")), None)
        if zero is None:
            continue
        lowest = {}
        for atoms in _common.read_run(result["folder"]).store.labels():
            if atoms.pbc.all():
                iteration = atoms.info[keys.ITERATION]
                energy = atoms.info[keys.REF_ENERGY] / len(atoms)
                lowest[iteration] = min(lowest.get(iteration, np.inf), energy)
        rows += [{"reference": result["reference"], "method": result["method"],
                  "seed": result["seed"], "iteration": record["iteration"],
                  "labels": record.get("labels_total"), "structure": first,
                  "error": lowest[record["iteration"]] - zero}
                 for record in result["records"] if record["iteration"] in lowest]
    return rows


def lowest_label_table(rows: list[dict], reference: str) -> str:
    """Method × iteration -> mean ± sd over seeds of the lowest label above the first
    known structure [meV/atom] (:func:`lowest_label_rows`)."""
    rows = [r for r in rows if r["reference"] == reference]
    if not rows:
        return ""
    iterations = sorted({r["iteration"] for r in rows})
    labels = [str(int(np.median([r["labels"] for r in rows if r["iteration"] == i])))
              for i in iterations]
    table = [(method, [_signed_mean_sd([1000 * r["error"] for r in rows
                                        if r["method"] == method and r["iteration"] == i])
                       for i in iterations])
             for method in dict.fromkeys(r["method"] for r in rows)]
    return _grid(f"{reference}: lowest reference energy among each iteration's labels above "
                 f"{rows[0]['structure']} (paper Fig. 2, bottom) [meV/atom], mean ± sd over "
                 "seeds; columns: labels after the iteration", labels, table, width=17)


def _signed_mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    if not len(values):
        return "-"
    return (f"{np.mean(values):+.0f} ± {np.std(values):.0f}" if len(values) > 1
            else f"{values[0]:+.0f}")


def prediction_table(results: list[dict], reference: str) -> str:
    """Each method's new-label RMSE: the previous GAP on the structures each iteration
    chose to label [meV/atom], mean ± sd over seeds, by the labels that GAP was fitted to.

    A method that chooses what the GAP does not know yet scores higher here. Runs made
    before ``prediction_error`` was recorded are left out.
    """
    from gapexplore.run.state import IterationRecord, RunState

    cells: dict = {}   # method -> labels of the predicting GAP -> RMSE per seed
    for result in (r for r in results if r["reference"] == reference):
        state = RunState(iterations=[IterationRecord.from_dict(r) for r in result["records"]])
        for row in state.prediction_rows():
            cells.setdefault(result["method"], {}).setdefault(row["labels"], []).append(
                1000 * row["rmse"])
    if not cells:
        return ""
    columns = sorted({labels for by in cells.values() for labels in by})
    table = [(method, [_mean_sd(by[labels]) if labels in by else "-" for labels in columns])
             for method, by in cells.items()]
    return _grid(f"{reference}: previous GAP on each iteration's new labels, energy RMSE "
                 "[meV/atom], mean ± sd over seeds, by the labels that GAP was fitted to",
                 [str(c) for c in columns], table, width=17)


def differences_table(rows: list[dict], reference: str) -> str:
    """Energy differences between phases by the final GAPs [meV/atom] and the reference."""
    rows = [r for r in rows if r["reference"] == reference]
    if not rows:
        return ""
    pairs = list(dict.fromkeys(r["pair"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    reference_row = [f"{1000 * next(r['reference_value'] for r in rows if r['pair'] == p):.1f}"
                     for p in pairs]
    table = [("reference", reference_row)] + [
        (method, [_mean_sd([1000 * r["gap"] for r in rows
                            if r["method"] == method and r["pair"] == p]) for p in pairs])
        for method in methods]
    return _grid(f"{reference}: energy differences by the final GAP [meV/atom], "
                 "mean ± sd over seeds (reference in the first row)", pairs, table, width=30)


def energy_volume_table(rows: list[dict], reference: str) -> str:
    """RMS of E_GAP − E_ref along each E–V curve [meV/atom], mean ± sd over seeds."""
    rows = [r for r in rows if r["reference"] == reference]
    if not rows:
        return ""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    structures = list(dict.fromkeys(r["structure"] for r in rows))
    table = []
    for method in methods:
        cells = []
        for structure in structures:
            mine = [r for r in rows if r["method"] == method and r["structure"] == structure]
            seeds = sorted({r["seed"] for r in mine})
            cells.append(_mean_sd([1000 * np.sqrt(np.mean(
                [(r["gap"] - r["reference_energy"]) ** 2 for r in mine if r["seed"] == seed]))
                for seed in seeds]))
        table.append((method, cells))
    return _grid(f"{reference}: final GAP's energy–volume curves, RMS of E_GAP - E_ref over "
                 f"V/V0 = {EV_SCALES[0]:.2f}..{EV_SCALES[-1]:.2f} [meV/atom], mean ± sd over "
                 "seeds", structures, table, width=20)


# --- files ---------------------------------------------------------------------------------

def _learning_series(rows: list[dict], structure: str) -> dict:
    """Per method: labels, mean, min and max over seeds of |error| [meV/atom]."""
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method and r["structure"] == structure]
        iterations = sorted({r["iteration"] for r in mine})
        errors = [np.array([1000 * abs(r["error"]) for r in mine if r["iteration"] == i])
                  for i in iterations]
        out[method] = {"labels": [float(np.median([r["labels"] for r in mine
                                                   if r["iteration"] == i]))
                                  for i in iterations],
                       "mean": [float(np.nanmean(e)) for e in errors],
                       "low": [float(np.nanmin(e)) for e in errors],
                       "high": [float(np.nanmax(e)) for e in errors]}
    return out


def _ev_series(ev_rows: list[dict], structure: str) -> dict:
    """The reference's E–V curve and each method's first seed's (final GAP) [eV/atom]."""
    mine = [r for r in ev_rows if r["structure"] == structure]
    out = {}
    for method in dict.fromkeys(r["method"] for r in mine):
        seed = min(r["seed"] for r in mine if r["method"] == method)
        points = [r for r in mine if r["method"] == method and r["seed"] == seed]
        out.setdefault("reference", {"volume": [r["volume_per_atom"] for r in points],
                                     "energy": [r["reference_energy"] for r in points]})
        out[f"{method} (seed {seed})"] = {"volume": [r["volume_per_atom"] for r in points],
                                         "energy": [r["gap"] for r in points]}
    return out


def plot(rows: list[dict], reference: str, path: Path, ev_rows=()) -> Path | None:
    """PNG: learning curves, one panel per known structure (mean |error| over seeds and
    the seeds' range); below, the E–V curves of the final GAPs (first seed) and the reference."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["reference"] == reference]
    ev_rows = [r for r in ev_rows if r["reference"] == reference]
    structures = list(dict.fromkeys(r["structure"] for r in rows))
    n_rows = 2 if ev_rows else 1
    fig, axes = plt.subplots(n_rows, len(structures),
                             figsize=(3.6 * len(structures), 3.4 * n_rows), squeeze=False)
    for ax, structure in zip(axes[0], structures):
        for method, series in _learning_series(rows, structure).items():
            line, = ax.plot(series["labels"], series["mean"], marker="o", ms=3, label=method)
            ax.fill_between(series["labels"], series["low"], series["high"],
                            color=line.get_color(), alpha=0.15, lw=0)
        ax.axhline(1000 * THRESHOLD, color="grey", ls="--", lw=0.8)
        ax.set(yscale="log", title=structure, xlabel="reference evaluations")
    axes[0][0].set_ylabel("|E_GAP − E_ref| [meV/atom]")
    axes[0][-1].legend(fontsize=7)
    if ev_rows:
        for ax, structure in zip(axes[1], structures):
            for name, curve in _ev_series(ev_rows, structure).items():
                style = dict(color="black", lw=2) if name == "reference" else dict(lw=1)
                ax.plot(curve["volume"], curve["energy"], label=name, **style)
            ax.set(xlabel="volume [Å³/atom]", title=f"{structure}: final GAP")
        axes[1][0].set_ylabel("energy [eV/atom]")
        axes[1][-1].legend(fontsize=6)
    fig.suptitle(f"{reference}: mean over seeds, band = min–max", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_html(rows: list[dict], reference: str, path: Path, ev_rows=()) -> Path:
    """The same figures as :func:`plot` as standalone interactive HTML (bokeh, inline)."""
    from bokeh.layouts import gridplot
    from bokeh.palettes import Category10_10
    from bokeh.plotting import figure

    from gapexplore.widgets.plots import save_html

    rows = [r for r in rows if r["reference"] == reference]
    ev_rows = [r for r in ev_rows if r["reference"] == reference]
    structures = list(dict.fromkeys(r["structure"] for r in rows))
    top, bottom = [], []
    for structure in structures:
        fig = figure(title=f"{reference}: {structure}", y_axis_type="log", width=330,
                     height=300, x_axis_label="reference evaluations",
                     y_axis_label="|E_GAP − E_ref| [meV/atom]")
        for colour, (method, series) in zip(Category10_10,
                                            _learning_series(rows, structure).items()):
            fig.varea(series["labels"], series["low"], series["high"], color=colour,
                      alpha=0.15)
            fig.line(series["labels"], series["mean"], color=colour, legend_label=method)
            fig.scatter(series["labels"], series["mean"], color=colour, size=4)
        fig.line([min(r["labels"] for r in rows), max(r["labels"] for r in rows)],
                 [1000 * THRESHOLD] * 2, color="grey", line_dash="dashed")
        fig.legend.label_text_font_size = "7pt"
        top.append(fig)
        if ev_rows:
            ev = figure(title=f"{structure}: final GAP", width=330, height=300,
                        x_axis_label="volume [Å³/atom]", y_axis_label="energy [eV/atom]")
            for colour, (name, curve) in zip(("black", *Category10_10),
                                             _ev_series(ev_rows, structure).items()):
                ev.line(curve["volume"], curve["energy"], color=colour, legend_label=name,
                        line_width=2 if name == "reference" else 1)
            ev.legend.label_text_font_size = "7pt"
            bottom.append(ev)
    return save_html(gridplot([top, bottom] if bottom else [top]), path,
                     title=f"gapexplore learning benchmark: {reference}")


# --- driver --------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=tuple(SIZES), default="large")
    parser.add_argument("--reference", nargs="+", choices=tuple(REFERENCES),
                        default=["kumagai-si"])
    parser.add_argument("--methods", nargs="+", choices=tuple(METHODS),
                        help="default: the size's methods")
    parser.add_argument("--seeds", type=int, help="seeds 0 .. N-1 (default: the size's)")
    parser.add_argument("--iterations", type=int, help="default: the size's")
    parser.add_argument("--parallel", type=int, default=1,
                        help="runs at once, one process each (1)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/learning"))
    parser.add_argument("--fresh", action="store_true",
                        help="delete earlier runs of these settings first")
    return parser


def _jobs(args, size: Size) -> list[dict]:
    jobs = []   # seed by seed: a comparison cut short still has whole seeds to pair
    for reference in args.reference:
        for seed in range(args.seeds or size.seeds):
            for method in args.methods or size.methods:
                folder = args.out / "runs" / reference / size.tag() / method / f"seed{seed}"
                settings = settings_for(reference, method, seed, size, args.iterations)
                jobs.append({"reference": reference, "method": method, "seed": seed,
                             "folder": str(folder), "settings": settings.to_dict(),
                             "n_initial": size.n_initial})
    return jobs


def main(argv=None) -> dict:
    """Run the comparison; print the tables; return the rows and the paths written."""
    args = _parser().parse_args(argv)
    size = SIZES[args.size]
    jobs = _jobs(args, size)
    if args.fresh:
        for job in jobs:
            shutil.rmtree(job["folder"], ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    used = dataclasses.replace(size, methods=tuple(args.methods or size.methods),
                               seeds=args.seeds or size.seeds,
                               iterations=args.iterations or size.iterations)
    print(f"{len(jobs)} runs ({args.size}: {used}), {args.parallel} at a time, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}", flush=True)
    start = time.perf_counter()
    results = []
    pool = ProcessPoolExecutor(args.parallel) if args.parallel > 1 else None
    outcomes = pool.map(run_one, jobs) if pool else map(run_one, jobs)
    for k, result in enumerate(outcomes, 1):
        results.append(result)
        final = result["records"][-1]
        errors = ", ".join(f"{name} {1000 * v['error']:+.1f}"
                           for name, v in final["validation"].items() if name != "differences")
        print(f"[{k}/{len(jobs)}] {result['reference']} {result['method']} seed "
              f"{result['seed']}: {final['labels_total']} labels, steps "
              f"{result['step_seconds']:.0f} s; final errors [meV/atom] {errors}", flush=True)
    if pool:
        pool.shutdown()
    wall = time.perf_counter() - start
    rows = [row for result in results for row in learning_rows(result)]
    differences = [row for result in results for row in difference_rows(result)]
    ev_rows = energy_volume_rows(results)
    held_out = held_out_rows(results, args.out)
    lowest_rows = lowest_label_rows(results)
    labelled = held_out_labelled(results) if held_out else {}
    stem = args.out / f"learning_{args.size}_{'_'.join(args.reference)}"
    write_csv(stem.with_suffix(".csv"), rows)
    if held_out:
        write_csv(stem.parent / f"{stem.name}_held_out.csv", held_out)
    write_csv(stem.parent / f"{stem.name}_differences.csv", differences)
    write_csv(stem.parent / f"{stem.name}_lowest_labels.csv", lowest_rows)
    write_csv(stem.parent / f"{stem.name}_energy_volume.csv", ev_rows)
    stem.with_suffix(".json").write_text(json.dumps(
        {"size": dataclasses.asdict(size), "argv": sys.argv[1:] if argv is None else argv,
         "wall_seconds": wall, "runs": results}, indent=1, default=str))
    plots = []
    for reference in args.reference:
        print()
        print(learning_table(rows, reference))
        print()
        print(first_below(rows, reference))
        print()
        print(paired_table(rows, reference))
        print()
        if any(r["reference"] == reference for r in held_out):
            print(learning_table(held_out, reference, what="held-out (never validated on)"))
            print()
            print(paired_table(held_out, reference, what="held-out"))
            print()
            print(held_out_labelled_lines(
                labelled, reference, sum(r["reference"] == reference for r in results)))
            print()
        lowest = lowest_label_table(lowest_rows, reference)
        if lowest:
            print(lowest)
            print()
        predicted = prediction_table(results, reference)
        if predicted:
            print(predicted)
            print()
        print(differences_table(differences, reference))
        print()
        print(energy_volume_table(ev_rows, reference))
        figure_stem = args.out / f"learning_{args.size}_{reference}"
        path = plot(rows, reference, figure_stem.with_suffix(".png"), ev_rows)
        plots += [p for p in (path, plot_html(rows, reference, figure_stem.with_suffix(
            ".html"), ev_rows)) if p]
    step_seconds = [r["step_seconds"] for r in results]
    read_back = sum(r["read_back"] for r in results)
    print(f"\nwall time {wall:.0f} s for {len(results)} runs ({args.parallel} at a time"
          + (f"; {read_back} finished earlier, read back" if read_back else "") + "); "
          f"per run (sum of step times) mean {np.mean(step_seconds):.0f} s, "
          f"max {np.max(step_seconds):.0f} s")
    print(f"wrote {stem}.csv, {stem}_differences.csv, {stem}_energy_volume.csv, {stem}.json"
          + "".join(f", {p}" for p in plots))
    return {"rows": rows, "differences": differences, "energy_volume": ev_rows, "plots": plots,
            "csv": stem.with_suffix(".csv"), "wall_seconds": wall}


if __name__ == "__main__":
    main()
