"""Where a boron fit's memory goes, and what each way of lowering it costs in accuracy.

The labels of a finished (or running) boron run are fitted again with its GAP settings
(paper Table 1, SOAP n_max = l_max = 8, 2,000 sparse points), δ fixed at the values the
run's fit of the same labels set (so gap_fit runs once, as in
``benchmarks/bench_fit_memory.py``). Each fit runs in a child Python whose
``ru_maxrss`` is gap_fit's peak resident memory. Measured:

* ``scan``: the full fit on the labels of the first 1, 2, 3 iterations: peak memory
  against the number of atomic environments (MB per environment), beside
  :func:`gapexplore.fit.estimate_memory` (with and without ``volume_per_atom``) and
  gap_fit's own estimate (its log's "Memory Estimate" block);
* ``stages``: the 2b-only and 2b + 3b fits, and a fit on energies only (no forces, no
  virials: no descriptor gradients), all on the largest training set;
* ``levers``: no virials (forces kept); forces and virials only for the cells within X
  eV/atom of the lowest label (X = 0.5, 1.0; the rest energies only); the SOAP basis
  n_max = l_max = 6; virials only for the cells within 0.5 eV/atom of the lowest (forces
  everywhere);
* ``mask``: a per-atom force mask (gap_fit's ``force_mask`` column, forces kept on a
  random quarter of each cell's atoms, virials kept).

gap_fit stores each descriptor's gradient with respect to every neighbour three times for
the forces (one per component of an unmasked atom's force) and six more times for the
virial (QUIP's GAP ``gap_fit_module``, ``fit_data_from_xyz``); a cell with neither
forces nor virial gets no gradients. The levers act on that store.

Every fit is tested on held-out labels (those of a later iteration, never trained on):
energy RMSE [meV/atom] over all of them and over those within 0.5 eV/atom of the lowest,
force RMSE [eV/Å], virial RMSE [meV/atom]; and the error of the known structures the run
validates (relaxed by the GAP as the run relaxes them,
:func:`gapexplore.validate.validate`, beside the reference energies the run stored).
Results are kept as JSON in ``--work``, so a second call prints the tables without
fitting again. The run folder is only read.

Usage::

    OPENBLAS_NUM_THREADS=1 nice -n 5 python benchmarks/bench_fit_levers.py \\
        /root/runs/paper-scale/b --work /tmp/fitmem --parts scan stages levers mask
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import _common  # noqa: F401  one BLAS thread: before numpy loads
import numpy as np
from ase.io import write

from gapexplore import keys
from gapexplore.fit import estimate_memory, find_gap_fit, gap_fit_command
from gapexplore.fit.noise import with_noise
from gapexplore.fit.predict import load_potential
from gapexplore.validate import known_structure, validate

#: Labels of the paper's final boron database, and atoms per label (the mean of its 6–24
#: atom cells; a boron run's labels grow from about 10 atoms in its first iteration to 14
#: in its fifth), for the projections.
PAPER_LABELS, PAPER_ATOMS_PER_LABEL = 2500, 15.0

_PROBE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
          "out = open('gap_fit.log', 'w'); "
          "subprocess.run(sys.argv[1:], check=True, stdout=out, stderr=subprocess.STDOUT); "
          "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
          "time.perf_counter() - t)")


# --- the data ----------------------------------------------------------------------------

def split(run, train_iterations: int, held_out_iteration: int) -> tuple[list, list, dict]:
    """Training structures (periodic cells and dimers of the first ``train_iterations``
    iterations, noise σ set as :func:`gapexplore.fit.fit_gap` sets it), held-out periodic
    cells (of ``held_out_iteration``) and e0 [eV] per element."""
    labels = [a for a in run.store.labels() if keys.LABEL_ERROR not in a.info]
    isolated = [a for a in labels if a.info.get(keys.CONFIG_TYPE) == keys.CONFIG_ISOLATED_ATOM]
    e0 = {a.get_chemical_symbols()[0]: float(a.info[keys.REF_ENERGY]) for a in isolated}
    rest = [a for a in labels if a.info.get(keys.CONFIG_TYPE) != keys.CONFIG_ISOLATED_ATOM]
    train = [a for a in rest if a.info[keys.ITERATION] < train_iterations]
    held = [a for a in rest if a.info[keys.ITERATION] == held_out_iteration and a.pbc.all()]
    return with_noise(train, run.settings.gap_settings().noise), held, e0


def energy_above_lowest(structures: list) -> np.ndarray:
    """Per-atom reference energy above the lowest periodic cell's [eV/atom] (NaN for
    dimers)."""
    per_atom = np.array([a.info[keys.REF_ENERGY] / len(a) if a.pbc.all() else np.nan
                         for a in structures])
    return per_atom - np.nanmin(per_atom)


def energies_only(atoms):
    """A copy of ``atoms`` without force and virial labels (gap_fit then fits its energy
    alone and needs no descriptor gradients for it)."""
    copy = atoms.copy()
    copy.info = dict(atoms.info)
    copy.arrays.pop(keys.REF_FORCES, None)
    copy.info.pop(keys.REF_VIRIAL, None)
    return copy


def without_virials(atoms):
    """A copy of ``atoms`` without its virial label (forces kept): gap_fit stores each
    descriptor gradient once per force component and again once per virial component."""
    copy = atoms.copy()
    copy.info = dict(atoms.info)
    copy.info.pop(keys.REF_VIRIAL, None)
    return copy


def forces_below(structures: list, threshold: float) -> list:
    """Forces and virials kept for the periodic cells within ``threshold`` [eV/atom] of
    the lowest label (and for the dimers); the other cells fitted on energies only."""
    above = energy_above_lowest(structures)
    return [a if (not a.pbc.all() or h <= threshold) else energies_only(a)
            for a, h in zip(structures, above)]


def virials_below(structures: list, threshold: float) -> list:
    """Virials kept only for the periodic cells within ``threshold`` [eV/atom] of the
    lowest label; forces kept everywhere."""
    above = energy_above_lowest(structures)
    return [a if (not a.pbc.all() or h <= threshold) else without_virials(a)
            for a, h in zip(structures, above)]


def force_mask(structures: list, keep: float, rng: np.random.Generator) -> list:
    """Copies with gap_fit's per-atom ``force_mask`` column (True: that atom's force is
    left out of the fit), forces kept on a random fraction ``keep`` of each periodic cell's
    atoms (at least one)."""
    out = []
    for atoms in structures:
        copy = atoms.copy()
        copy.info = dict(atoms.info)
        if atoms.pbc.all():
            n_keep = max(1, int(round(keep * len(atoms))))
            mask = np.ones(len(atoms), dtype=bool)
            mask[rng.choice(len(atoms), n_keep, replace=False)] = False
            copy.arrays["force_mask"] = mask
        out.append(copy)
    return out


# --- one fit -----------------------------------------------------------------------------

def gap_fit_estimate(log_text: str) -> dict:
    """gap_fit's own memory estimate [MB] from its log: each descriptor's ``x`` and
    ``xPrime``, the covariances and ``PEAK``."""
    units = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}
    out = {}
    for line in log_text.splitlines():
        found = re.match(r"\s*(Descriptor \d+ :: \w+|yY|yy|A|PEAK)\b.*memory\s+([\d.]+)\s+"
                         r"(KB|MB|GB|B)(\s*\*\s*(\d+))?", line) or \
            re.match(r"\s*(PEAK)\s+([\d.]+)\s+(KB|MB|GB|B)()()", line)
        if found:
            factor = int(found.group(5)) if found.group(5) else 1
            out[found.group(1)] = float(found.group(2)) * units[found.group(3)] * factor
    return out


def measure_fit(name: str, structures: list, settings, deltas: dict, e0: dict,
                held: list, work: Path, known: dict, reference_energies: dict,
                chemistry) -> dict:
    """Fit ``structures`` in ``work/name`` (cached: a finished fit's ``result.json`` is
    read back) and measure it: gap_fit's peak memory [bytes] and wall time [s], its own
    estimate [MB], and the held-out errors."""
    folder = work / name
    cached = folder / "result.json"
    if cached.exists():
        out = json.loads(cached.read_text())
        if (folder / "gap_fit.log").exists():   # parsed again: the parser may have changed
            out["gap_fit_estimate"] = gap_fit_estimate((folder / "gap_fit.log").read_text())
        return out
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "train.xyz", structures, format="extxyz")
    command = gap_fit_command("train.xyz", "gap.xml", settings, deltas, e0, find_gap_fit())
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               GFORTRAN_UNBUFFERED_ALL="y")
    print(f"fitting {name} ...", file=sys.stderr, flush=True)
    result = subprocess.run([sys.executable, "-c", _PROBE, *command], cwd=folder, env=env,
                            capture_output=True, text=True, check=True)
    peak_kib, seconds = result.stdout.split()[-2:]
    n_env = sum(len(a) for a in structures)
    cells = [a for a in structures if a.pbc.all()]
    volume = sum(a.get_volume() for a in cells) / sum(len(a) for a in cells)
    out = {"name": name, "n_structures": len(structures), "n_environments": n_env,
           "n_forces": sum(3 * len(a) for a in structures if keys.REF_FORCES in a.arrays)
           - sum(3 * int(a.arrays["force_mask"].sum()) for a in structures
                 if "force_mask" in a.arrays),
           "volume_per_atom": volume, "peak_bytes": float(peak_kib) * 1024,
           "seconds": float(seconds), "n_max": settings.n_max, "terms": sorted(deltas),
           "estimate": estimate_memory(n_env, settings, 1),
           "estimate_volume": estimate_memory(n_env, settings, 1, volume),
           "gap_fit_estimate": gap_fit_estimate((folder / "gap_fit.log").read_text())}
    out |= held_out_errors(folder / "gap.xml", held)
    if known and set(deltas) == {"2b", "3b", "soap"}:
        calculator = load_potential(folder / "gap.xml")
        found = validate(known, calculator, None, chemistry=chemistry,
                         reference_energies=reference_energies)
        out["known_error"] = {n: found[n]["error"] for n in known}
    out["seconds_total"] = time.perf_counter() - start
    cached.write_text(json.dumps(out, indent=1))
    return out


def held_out_errors(potential: Path, held: list) -> dict:
    """Energy RMSE [eV/atom], force RMSE [eV/Å] and virial RMSE [eV/atom] of the held-out
    cells, and of those within 0.5 eV/atom of their lowest."""
    calculator = load_potential(potential)
    energy, forces, virial = [], [], []
    for atoms in held:
        copy = atoms.copy()
        copy.calc = calculator
        n = len(atoms)
        energy.append((copy.get_potential_energy() - atoms.info[keys.REF_ENERGY]) / n)
        forces.append(copy.get_forces() - atoms.arrays[keys.REF_FORCES])
        gap_virial = -copy.get_volume() * copy.get_stress(voigt=False)
        virial.append((gap_virial - np.reshape(atoms.info[keys.REF_VIRIAL], (3, 3))).ravel() / n)
    energy = np.array(energy)
    low = energy_above_lowest(held) <= 0.5

    def rms(values, only_low=False):
        values = [v for v, k in zip(values, low) if k] if only_low else values
        return float(np.sqrt(np.mean(np.square(np.concatenate([np.ravel(v) for v in values])))))

    return {"rmse_energy": rms(energy), "rmse_energy_low": rms(energy, True),
            "n_low": int(low.sum()), "rmse_forces": rms(forces),
            "rmse_forces_low": rms(forces, True), "rmse_virial": rms(virial),
            "rmse_virial_low": rms(virial, True)}


# --- the tables --------------------------------------------------------------------------

def print_scan(rows: list, n_sparse: int) -> tuple[float, float]:
    """The scan's table; returns the peak's straight line, intercept [bytes] and slope
    [bytes per environment]."""
    print("\n## Peak memory against environments (full fit, Table 1 settings)")
    print(f"{'labels':>7} {'envs':>6} {'V/atom':>7} {'peak GiB':>9} {'MB/env':>7} "
          f"{'model GiB':>10} {'model+V GiB':>12} {'gap_fit est GiB':>16} {'fit s':>7}")
    for r in rows:
        print(f"{r['n_structures']:7d} {r['n_environments']:6d} {r['volume_per_atom']:7.2f} "
              f"{r['peak_bytes'] / 2**30:9.2f} {r['peak_bytes'] / r['n_environments'] / 1e6:7.3f} "
              f"{r['estimate'] / 2**30:10.2f} {r['estimate_volume'] / 2**30:12.2f} "
              f"{r['gap_fit_estimate'].get('PEAK', np.nan) * 1e6 / 2**30:16.2f} "
              f"{r['seconds']:7.0f}")
    # the line through the fits with more environments than SOAP sparse points (below,
    # gap_fit takes every environment as a sparse point and A is smaller)
    used = [r for r in rows if r["n_environments"] > n_sparse] or rows
    n = np.array([r["n_environments"] for r in used], float)
    peak = np.array([r["peak_bytes"] for r in used])
    slope, intercept = np.polyfit(n, peak, 1) if len(used) > 1 else (peak[0] / n[0], 0.0)
    print(f"straight line through the {len(used)} fits of more than {n_sparse} environments: "
          f"peak = {intercept / 2**30:.2f} GiB + {slope / 1e6:.3f} MB x environments")
    return intercept, slope


def print_split(rows: list) -> None:
    """gap_fit's own estimate by component [MB] beside the measured peak."""
    print("\n## Where it goes: gap_fit's own estimate by component [MB] and the measured peak")
    names = ["Descriptor 1 :: x", "Descriptor 1 :: xPrime", "Descriptor 2 :: xPrime",
             "Descriptor 3 :: x", "Descriptor 3 :: xPrime", "yY", "A", "PEAK"]
    short = ["2b x", "2b x'", "3b x'", "SOAP x", "SOAP x'", "yY", "A", "est peak"]
    print(f"{'fit':>16} " + " ".join(f"{s:>8}" for s in short) + f" {'measured':>9}")
    for r in rows:
        est = r["gap_fit_estimate"]
        cells = []
        for key in names:   # descriptor numbers shift when a term is left out
            if key.startswith("Descriptor"):
                term = {"1": "2b", "2": "3b", "3": "soap"}[key.split()[1]]
                index = r["terms"].index(term) if term in r["terms"] else None
                order = [t for t in ("2b", "3b", "soap") if t in r["terms"]]
                key = None if index is None else \
                    f"Descriptor {order.index(term) + 1} :: {key.split(':: ')[1]}"
            cells.append(est.get(key, np.nan) if key else np.nan)
        print(f"{r['name']:>16} " + " ".join(f"{c:8.0f}" for c in cells)
              + f" {r['peak_bytes'] / 1e6:9.0f}")


def print_levers(rows: list, baseline: dict, slope: float, intercept: float,
                 env_per_label: float) -> None:
    """Each fit's memory, time and held-out errors, and its projection to the paper's
    label budget."""
    print("\n## Levers: memory, time and held-out accuracy")
    print(f"{'fit':>16} {'envs':>5} {'forces':>6} {'peak':>5} {'x base':>6} {'fit':>5} "
          f"{'E all':>6} {'E low':>6} {'F all':>5} {'F low':>5} {'V all':>6} {'V low':>6} "
          f"{'known':>6} {'at 2500':>7}")
    print(f"{'':>16} {'':>5} {'':>6} {'GiB':>5} {'':>6} {'s':>5} "
          f"{'meV/at':>6} {'meV/at':>6} {'eV/Å':>5} {'eV/Å':>5} {'meV/at':>6} {'meV/at':>6} "
          f"{'meV/at':>6} {'GiB':>7}")
    n_paper = PAPER_LABELS * env_per_label
    base_projection = intercept + slope * n_paper
    for r in rows:
        known = r.get("known_error", {})
        known_text = " ".join(f"{1e3 * v:6.0f}" for v in known.values()) or f"{'':>6}"
        ratio = (r["peak_bytes"] - intercept) / (baseline["peak_bytes"] - intercept)
        print(f"{r['name']:>16} {r['n_environments']:5d} {r['n_forces']:6d} "
              f"{r['peak_bytes'] / 2**30:5.2f} {r['peak_bytes'] / baseline['peak_bytes']:6.2f} "
              f"{r['seconds']:5.0f} {1e3 * r['rmse_energy']:6.1f} "
              f"{1e3 * r['rmse_energy_low']:6.1f} {r['rmse_forces']:5.3f} "
              f"{r['rmse_forces_low']:5.3f} {1e3 * r['rmse_virial']:6.0f} "
              f"{1e3 * r['rmse_virial_low']:6.0f} {known_text} "
              f"{(intercept + ratio * (base_projection - intercept)) / 2**30:7.1f}")
    print(f"at 2500: {PAPER_LABELS} labels x {env_per_label:.2f} atoms = {n_paper:.0f} "
          "environments on the scan's straight line, its slope scaled by the fit's "
          "(peak - intercept) over the baseline's")


def atom_share_within(structures: list, threshold: float, lowest: float) -> float:
    """Share of the periodic cells' atoms in cells within ``threshold`` [eV/atom] of
    ``lowest`` [eV/atom]."""
    cells = [a for a in structures if a.pbc.all()]
    inside = sum(len(a) for a in cells
                 if a.info[keys.REF_ENERGY] / len(a) - lowest <= threshold)
    return inside / sum(len(a) for a in cells)


def print_thresholded(rows: dict, train: list, held: list, intercept: float,
                      atoms_per_label: float) -> None:
    """The thresholded levers at the paper's label budget, where most labels lie near the
    lowest: the peak per environment interpolated between the fit without those gradients
    and the full fit, by the share of atoms that keep them (the held-out iteration's share
    standing for the late labels that make up most of a large database)."""
    print("\n## Thresholded levers at 2500 labels: the share of atoms that keep gradients")
    print(f"{'fit':>16} {'share (train)':>13} {'share (late)':>12} {'at 2500 GiB':>11}")
    periodic = [a.info[keys.REF_ENERGY] / len(a) for a in train + held if a.pbc.all()]
    lowest_train = min(a.info[keys.REF_ENERGY] / len(a) for a in train if a.pbc.all())
    n_paper = PAPER_LABELS * atoms_per_label
    full = rows["full"]
    for name, low_name, threshold in (("forces<0.5eV", "energies-only", 0.5),
                                      ("forces<1.0eV", "energies-only", 1.0),
                                      ("virials<0.5eV", "no-virials", 0.5)):
        if name not in rows or low_name not in rows:
            continue
        share_train = atom_share_within(train, threshold, lowest_train)
        share_late = atom_share_within(held, threshold, min(periodic))

        def rate(r):
            return (r["peak_bytes"] - intercept) / r["n_environments"]

        per_env = rate(rows[low_name]) + share_late * (rate(full) - rate(rows[low_name]))
        print(f"{name:>16} {share_train:13.2f} {share_late:12.2f} "
              f"{(intercept + n_paper * per_env) / 2**30:11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder (only read)")
    parser.add_argument("--work", type=Path, default=Path("benchmarks/out/fit-levers"),
                        help="folder for the fits and their cached results")
    parser.add_argument("--train-iterations", type=int, default=3,
                        help="train on the labels of the first N iterations (3)")
    parser.add_argument("--parts", nargs="+", default=["scan", "stages", "levers", "mask"],
                        choices=["scan", "stages", "levers", "mask"])
    parser.add_argument("--mask-keep", type=float, default=0.25,
                        help="fraction of atoms whose forces the force_mask lever keeps")
    args = parser.parse_args()
    run = _common.read_run(args.run)
    top = args.train_iterations
    settings = run.settings.gap_settings()
    deltas = dict(run.state.iterations[top - 1].fit.deltas)
    train, held, e0 = split(run, top, top)
    known = {name: known_structure(run.chemistry, name) for name in run.settings.validate}
    reference_energies = dict(run.state.reference_energies)
    known = {n: a for n, a in known.items() if n in reference_energies}
    common = dict(e0=e0, held=held, work=args.work, known=known,
                  reference_energies=reference_energies, chemistry=run.chemistry)
    cells = [a for a in train + held if a.pbc.all()]
    above = energy_above_lowest(train)
    print(f"run {args.run}: training = labels of iterations 0-{top - 1} "
          f"({len(train)} structures, {sum(len(a) for a in train)} environments), held out = "
          f"iteration {top} ({len(held)} cells); δ of the run's fit of iteration {top - 1}: "
          + ", ".join(f"{k} {v:.3g} eV" for k, v in deltas.items()))
    volume = np.mean([a.get_volume() / len(a) for a in cells])
    above = above[~np.isnan(above)]
    print(f"SOAP cutoff {settings.cutoff_soap} Å, mean volume {volume:.2f} Å³/atom; cells "
          f"within 1.0 / 0.5 eV/atom of the lowest training label: "
          f"{np.mean(above <= 1.0):.0%} / {np.mean(above <= 0.5):.0%}")

    scan = []
    for k in range(1, top + 1):
        if k == top or "scan" in args.parts:
            part = [a for a in train if a.info[keys.ITERATION] < k]
            part_deltas = dict(run.state.iterations[k - 1].fit.deltas)
            scan.append(measure_fit(f"full-{k}it", part, settings, part_deltas, **common))
    baseline = scan[-1]
    intercept, slope = print_scan(scan, settings.n_sparse_soap)

    rows = [baseline]
    if "stages" in args.parts:
        rows.append(measure_fit("2b", train, settings, {"2b": deltas["2b"]}, **common))
        rows.append(measure_fit("2b+3b", train, settings,
                                {t: deltas[t] for t in ("2b", "3b")}, **common))
        rows.append(measure_fit("energies-only", [energies_only(a) for a in train],
                                settings, deltas, **common))
    if "levers" in args.parts:
        rows.append(measure_fit("no-virials", [without_virials(a) for a in train],
                                settings, deltas, **common))
        rows.append(measure_fit("forces<0.5eV", forces_below(train, 0.5), settings, deltas,
                                **common))
        rows.append(measure_fit("soap-n6-l6", train, replace(settings, n_max=6, l_max=6),
                                deltas, **common))
        rows.append(measure_fit("forces<1.0eV", forces_below(train, 1.0), settings, deltas,
                                **common))
        rows.append(measure_fit("virials<0.5eV", virials_below(train, 0.5), settings, deltas,
                                **common))
    if "mask" in args.parts:
        rows.append(measure_fit(f"force-mask-{args.mask_keep:g}",
                                force_mask(train, args.mask_keep, np.random.default_rng(0)),
                                settings, deltas, **common))
    print_split(scan + rows[1:])
    print_levers(rows, baseline, slope, intercept, PAPER_ATOMS_PER_LABEL)
    print_thresholded({r["name"]: r for r in rows} | {"full": baseline}, train, held,
                      intercept, PAPER_ATOMS_PER_LABEL)
    print(f"\nknown: {', '.join(known)} error (GAP - reference) [meV/atom], relaxed as the "
          "run validates; E low / F low / V low: held-out cells within 0.5 eV/atom of the "
          "lowest held-out label")


if __name__ == "__main__":
    main()
