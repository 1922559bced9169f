"""How far to trust a run's potential: what a user tries next, the GAP against the reference.

A run validates its GAPs on a few known structures; a user then takes the potential
elsewhere — to other phases, other volumes, finite temperature. :func:`check_run` puts the
run's newest GAP through those, each against the run's reference:

* **Energy–volume curves** (paper Fig. 3d–f) of the top ranked structures the run found
  (:meth:`Explorer.results <gapexplore.run.Explorer.results>`), of *every* known
  structure of the element (:data:`gapexplore.crystals.KNOWN_STRUCTURES`, validated by the
  run or not, and the run's own ``known.xyz``) and of the phases no run validates on
  (:data:`gapexplore.crystals.HELD_OUT_STRUCTURES`): each known phase first relaxed with
  the reference (zero pressure, cell included), each found one as the GAP left it; then the
  cell scaled uniformly, atoms not relaxed, both calculators on the same geometries. A
  Birch–Murnaghan fit of each curve gives the equilibrium volume V₀ [Å³/atom], the energy
  at it E₀ [eV/atom] and the bulk modulus B [GPa]; the **phase differences** are each E₀
  above the lowest of its composition, by both. In a run across compositions
  (``composition = ["Si", "SiC", "C"]``) every composition's known and held-out phases are
  checked, named ``"formula:name"`` as the run names them.
* **The GAP's own predicted error** (:func:`gapexplore.fit.predicted_errors`: the square
  root of quippy's mean local GAP variance) [eV/atom] at each structure's starting volume,
  beside its actual error; a large one says the GAP was not shown anything like it.
* **Molecular dynamics** on supercells (default 2×2×2) of the top ranked structures at a
  few temperatures (default 300, 1000 and 2000 K, up to and beyond melting for most
  covalent solids): Langevin NVT, then NVE (velocity Verlet). A run is *unstable* when
  atoms come closer than the reference computes (the larger of the reference's own limit
  and 0.6 × the bond length 2r of the run's chemistry), the energy or forces stop being
  finite, the temperature runs away (above 5 × the target + 1000 K), or the GAP fails: it
  is reported, never raised. For a stable run: the total-energy drift of the NVE segment
  [meV/atom/ps] and its largest excursion [meV/atom], and a few frames checked with the
  reference (energy error [meV/atom], force RMSE [eV/Å]).

Everything goes into ``check/`` of the run folder: ``check.json`` (the numbers) and the MD
frames (``md_<rank>_<T>K.xyz``, every 10th step, with the GAP's energies); the HTML report
(``check/report.html``) is written by :func:`gapexplore.export.write_check_html`, which
``gapexplore check`` calls.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.eos import EquationOfState
from ase.io import write as write_frames
from ase.md import velocitydistribution
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet

from gapexplore.analysis import energy_volume
from gapexplore.core import keys
from gapexplore.core.checks import check_int, check_real, fail
from gapexplore.core.chemistry import reduced_formula
from gapexplore.core.geometry import min_distance, shortest_distance_below
from gapexplore.fit import load_potential, predicted_errors
from gapexplore.label import label_structures
from gapexplore.relax import RelaxSettings, relax
from gapexplore.run.reader import RunReader, RunView
from gapexplore.run.results import rank_run
from gapexplore.validate import (
    HELD_OUT_STRUCTURES,
    KNOWN_STRUCTURES,
    held_out_structure,
    known_structure,
    structure_table,
)

__all__ = ["CheckSettings", "check_run", "equation_of_state", "md_stability"]


@dataclass(frozen=True)
class CheckSettings:
    """What :func:`check_run` tries.

    Parameters
    ----------
    top : int
        Ranked structures of the run whose energy–volume curves are checked.
    scales : tuple of float
        Volume ratios V/V_start of the energy–volume curves.
    md_structures : int
        Ranked structures (the lowest first) run with molecular dynamics.
    temperatures : tuple of float
        MD temperatures [K].
    supercell : tuple of int
        Repetitions of each structure's cell for MD.
    md_steps, nve_steps : int
        Langevin NVT steps, then NVE steps.
    timestep : float
        MD time step [fs].
    friction : float
        Langevin friction [1/fs].
    spot_checks : int
        MD frames of each stable run labelled by the reference (evenly spaced, the last
        included).
    seed : int
        Seed of the MD velocities and thermostat.
    """

    top: int = 3
    scales: tuple = tuple(np.round(np.linspace(0.88, 1.12, 7), 4))
    md_structures: int = 2
    temperatures: tuple = (300.0, 1000.0, 2000.0)
    supercell: tuple = (2, 2, 2)
    md_steps: int = 200
    nve_steps: int = 100
    timestep: float = 1.0
    friction: float = 0.02
    spot_checks: int = 2
    seed: int = 0

    def __post_init__(self):
        where = "CheckSettings"
        for name in ("top", "md_structures", "md_steps", "nve_steps", "spot_checks"):
            check_int(getattr(self, name), name, where, low=0)
        check_int(self.seed, "seed", where, low=0)
        check_real(self.timestep, "timestep", where, low=0.0, low_open=True, high=10.0)
        check_real(self.friction, "friction", where, low=0.0)
        scales = np.asarray(self.scales, dtype=float)
        if scales.ndim != 1 or len(scales) < 5 or np.any(scales <= 0):
            raise fail("scales", where, "at least 5 volume ratios > 0 (an equation of state "
                       "needs them)", self.scales)
        for t in self.temperatures:
            check_real(t, "temperatures", where, low=0.0, low_open=True, high=1e5)
        if len(self.supercell) != 3 or any(int(n) != n or n < 1 for n in self.supercell):
            raise fail("supercell", where, "three repetitions ≥ 1, e.g. (2, 2, 2)",
                       self.supercell)


def equation_of_state(volumes, energies) -> dict:
    """Birch–Murnaghan fit of one energy–volume curve.

    Parameters
    ----------
    volumes, energies : array_like
        Volume [Å³/atom] and energy [eV/atom] per point; NaN points are left out.

    Returns
    -------
    dict
        ``v0`` [Å³/atom], ``e0`` [eV/atom], ``bulk_modulus`` [GPa]; NaN each where the fit
        fails (too few points, no minimum near the curve).
    """
    v, e = np.asarray(volumes, float), np.asarray(energies, float)
    ok = np.isfinite(e)
    nan = {"v0": math.nan, "e0": math.nan, "bulk_modulus": math.nan}
    if ok.sum() < 5:
        return nan
    try:
        v0, e0, b = EquationOfState(v[ok], e[ok], eos="birchmurnaghan").fit(warn=False)
    except Exception:  # no minimum: the fit's own failure is the finding
        return nan
    if not (np.isfinite(v0) and v[ok].min() * 0.8 <= v0 <= v[ok].max() * 1.2):
        return nan
    return {"v0": float(v0), "e0": float(e0), "bulk_modulus": float(b / units.GPa)}


def md_stability(atoms: Atoms, calculator, temperature: float, *, rng: np.random.Generator,
                 limit: float, md_steps: int = 200, nve_steps: int = 100,
                 timestep: float = 1.0, friction: float = 0.02,
                 every: int = 10) -> tuple[dict, list[Atoms]]:
    """Langevin NVT at ``temperature``, then NVE, watching for unphysical behaviour.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure (e.g. a supercell); not modified.
    calculator : ASE calculator
        The potential under test.
    temperature : float
        Target temperature [K] (also of the starting Maxwell–Boltzmann velocities).
    rng : numpy.random.Generator
        Velocities and thermostat noise.
    limit : float
        Atoms closer than this [Å] make the run unstable.
    md_steps, nve_steps : int
        NVT steps, then NVE steps.
    timestep : float
        [fs].
    friction : float
        Langevin friction [1/fs].
    every : int
        Keep every ``every``-th frame (the last always), with ``info[keys.GAP_ENERGY]``
        [eV] and the step (``info["md_step"]``).

    Returns
    -------
    result : dict
        ``status`` ("stable" or "unstable: <why, at which step>"), ``steps`` done,
        ``min_distance`` seen [Å], ``mean_temperature`` of the NVT segment [K], and for a
        finished NVE segment ``nve_drift`` [meV/atom/ps] and ``nve_excursion`` (largest
        ``|E_tot − E_tot(start)|``) [meV/atom].
    frames : list of ase.Atoms
        The kept frames (no calculator).
    """
    work = atoms.copy()
    work.calc = calculator
    work.set_constraint(FixCom())
    n = len(work)
    thermalize = getattr(velocitydistribution, "thermalize_momenta",   # ASE >= 3.29
                         velocitydistribution.MaxwellBoltzmannDistribution)
    thermalize(work, temperature_K=temperature, rng=rng)
    velocitydistribution.Stationary(work)
    result = {"status": "stable", "steps": 0, "min_distance": min_distance(work)}
    frames, temperatures, totals = [], [], []
    runaway = 5 * temperature + 1000.0

    def watch(step: int, phase: str) -> str | None:
        energy = work.get_potential_energy()
        forces = work.get_forces()
        if not (np.isfinite(energy) and np.all(np.isfinite(forces))):
            return f"non-finite energy or forces at step {step}"
        closest = shortest_distance_below(work, max(limit, 4.0))
        if closest is not None:
            result["min_distance"] = min(result["min_distance"], closest)
            if closest < limit:
                return (f"atoms {closest:.2f} Å apart at step {step} (the reference "
                        f"computes down to {limit:.2f} Å)")
        kinetic = work.get_temperature()
        if kinetic > runaway:
            return f"temperature ran away to {kinetic:.0f} K at step {step}"
        if phase == "nvt":
            temperatures.append(kinetic)
        else:
            totals.append((energy + work.get_kinetic_energy()) / n)
        if step % every == 0 or step == md_steps + nve_steps:
            frame = Atoms(work.numbers, positions=work.positions, cell=work.cell,
                          pbc=work.pbc)
            frame.info[keys.GAP_ENERGY] = float(energy)
            frame.info["md_step"] = step
            frames.append(frame)
        return None

    dt = timestep * units.fs
    step = 0
    try:
        why = watch(0, "nvt")
        if why is None:
            nvt = Langevin(work, dt, temperature_K=temperature,
                           friction=friction / units.fs, fixcm=False, rng=rng)
            for _ in range(md_steps):
                nvt.run(1)
                step += 1
                if (why := watch(step, "nvt")) is not None:
                    break
        if why is None and nve_steps:
            nve = VelocityVerlet(work, dt)
            totals.append((work.get_potential_energy() + work.get_kinetic_energy()) / n)
            for _ in range(nve_steps):
                nve.run(1)
                step += 1
                if (why := watch(step, "nve")) is not None:
                    break
    except Exception as error:  # a GAP that fails mid-run is a finding, not a crash
        why = f"the potential failed at step {step}: {type(error).__name__}: {error}"[:300]
    result["steps"] = step
    if why is not None:
        result["status"] = f"unstable: {why}"
    if temperatures:
        result["mean_temperature"] = float(np.mean(temperatures))
    if why is None and len(totals) > 2:
        t = np.arange(len(totals)) * timestep / 1000.0  # ps
        totals = np.asarray(totals)
        result["nve_drift"] = float(1000 * np.polyfit(t, totals, 1)[0])
        result["nve_excursion"] = float(1000 * np.max(np.abs(totals - totals[0])))
    return result, frames


def check_run(folder, settings: CheckSettings | None = None, *, reference=None,
              write: bool = True) -> dict:
    """Put the newest GAP of a run through energy–volume curves, phase differences, its
    own predicted error and molecular dynamics, each against the run's reference (see the
    module docstring).

    Parameters
    ----------
    folder : str, pathlib.Path or Explorer
        The run (a folder with at least one fitted GAP, or its Explorer).
    settings : CheckSettings, optional
    reference : optional
        The run's reference, when it is not a named one (as for :class:`Explorer`).
    write : bool
        Keep the results in ``check/`` of the run folder (``check.json``, MD frames).

    Returns
    -------
    dict
        ``potential`` (path), ``structures`` (per name: source, energy–volume curve, its
        fits by GAP and reference, predicted error), ``differences`` (per name: E₀ above
        the lowest by both [meV/atom]), ``md`` (one entry per structure and temperature,
        with its spot checks), ``settings``.

    Raises
    ------
    GapExploreError
        Before any work, for a folder with no run or no fitted GAP.
    """
    settings = CheckSettings() if settings is None else settings
    if not isinstance(settings, CheckSettings):
        raise fail("settings", "check_run", "a gapexplore.check.CheckSettings", settings)
    explorer = folder if isinstance(folder, RunView) else RunReader(
        folder, reference=reference, where="check_run")
    if explorer.potential is None:
        raise fail("folder", "check_run", "a run with at least one fitted GAP (run an "
                   "iteration first)", str(explorer.store.root))
    potential_path = explorer.potential
    gap = load_potential(potential_path)
    ref = explorer.reference.calculator()
    chemistry = explorer.chemistry
    found = rank_run(explorer, top=max(settings.top, settings.md_structures))
    structures = {}
    for rank, item in enumerate(found[:settings.top], start=1):
        structures[f"#{rank} {item.spacegroup.split()[0]}"] = ("found", item.atoms)
    compositions = explorer.settings.compositions()
    # across compositions, structures are named "formula:name", as the run names them
    prefixed = [(f"{c.formula}:" if len(compositions) > 1 else "", c) for c in compositions]
    for prefix, composition in prefixed:
        for name in structure_table(KNOWN_STRUCTURES, composition):
            validated = prefix + name in explorer.settings.validate
            structures[prefix + name] = ("validated" if validated else "not validated",
                                         known_structure(composition, name))
    for name, atoms in explorer.store.read_known().items():
        structures[name] = ("validated", atoms)
    for prefix, composition in prefixed:
        for name in structure_table(HELD_OUT_STRUCTURES, composition):
            structures.setdefault(prefix + name,
                                  ("held out", held_out_structure(composition, name)))
    report = {"potential": str(potential_path), "settings": _plain(settings),
              "structures": {}, "differences": {}, "md": []}
    starts = {}   # a known phase: around the reference's own minimum
    for name, (source, atoms) in structures.items():
        starts[name] = atoms if source == "found" else _bare(relax(
            atoms, ref, pressure=0.0, chemistry=chemistry,
            settings=RelaxSettings(optimiser="lbfgs-linesearch"))[-1])
    # one GAP with variances for them all (loading a GAP takes about a second)
    predicted = dict(zip(starts, predicted_errors(list(starts.values()), potential_path)))
    for name, (source, _) in structures.items():
        atoms = starts[name]
        curve = energy_volume(atoms, {"gap": gap, "reference": ref}, scales=settings.scales)
        fits = {c: equation_of_state(curve["volume_per_atom"], curve[c])
                for c in ("gap", "reference")}
        middle = int(np.argmin(np.abs(np.asarray(settings.scales) - 1.0)))
        report["structures"][name] = {
            "source": source, "n_atoms": len(atoms), "formula": reduced_formula(atoms),
            "volume_per_atom": curve["volume_per_atom"].tolist(),
            "gap": curve["gap"].tolist(), "reference": curve["reference"].tolist(),
            "fit": fits,
            "error_at_start": float(curve["gap"][middle] - curve["reference"][middle]),
            "rmse": float(np.sqrt(np.nanmean((curve["gap"] - curve["reference"]) ** 2))),
            "predicted_error": _finite_or_none(predicted[name])}
    report["differences"] = _differences(report["structures"])
    limit = max(explorer.reference.min_distance(Atoms(list(chemistry.elements))),
                0.6 * 2 * chemistry.smallest_radius)
    out = explorer.store.root / "check"
    for rank, item in enumerate(found[:settings.md_structures], start=1):
        cell = item.atoms.repeat(tuple(int(n) for n in settings.supercell))
        for temperature in settings.temperatures:
            rng = np.random.default_rng([settings.seed, rank, int(temperature)])
            result, frames = md_stability(
                cell, gap, temperature, rng=rng, limit=limit, md_steps=settings.md_steps,
                nve_steps=settings.nve_steps, timestep=settings.timestep,
                friction=settings.friction)
            result.update(structure=f"#{rank} {item.spacegroup.split()[0]}", rank=rank,
                          temperature=float(temperature), n_atoms=len(cell), limit=limit)
            result["spot_checks"] = _spot_checks(frames, explorer, gap, settings.spot_checks) \
                if result["status"] == "stable" else []
            report["md"].append(result)
            if write and frames:
                out.mkdir(exist_ok=True)
                write_frames(out / f"md_{rank}_{int(temperature)}K.xyz", frames,
                             format="extxyz")
    if write:
        out.mkdir(exist_ok=True)
        (out / "check.json").write_text(json.dumps(report, indent=1, allow_nan=True))
    return report


def _bare(atoms: Atoms) -> Atoms:
    return Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None



def _differences(structures: dict) -> dict:
    """E₀ of each structure above the lowest of its composition (by the reference), by the
    GAP and by the reference [meV/atom]; energies per atom of different compositions are
    not compared."""
    out = {}
    for formula in dict.fromkeys(s["formula"] for s in structures.values()):
        e0 = {name: (s["fit"]["gap"]["e0"], s["fit"]["reference"]["e0"])
              for name, s in structures.items() if s["formula"] == formula}
        finite = {n: v for n, v in e0.items() if all(np.isfinite(v))}
        if not finite:
            continue
        base = min(finite, key=lambda n: finite[n][1])
        out.update({name: {"above": base, "gap": 1000 * (g - finite[base][0]),
                           "reference": 1000 * (r - finite[base][1]),
                           "error": 1000 * ((g - finite[base][0]) - (r - finite[base][1]))}
                    for name, (g, r) in finite.items()})
    return out


def _spot_checks(frames: list[Atoms], explorer: RunView, gap, n: int) -> list[dict]:
    """The reference on ``n`` evenly spaced MD frames (the last included): the GAP's energy
    error [meV/atom] and force RMSE [eV/Å] on each; failures recorded."""
    if not n or not frames:
        return []
    picks = sorted({int(i) for i in np.linspace(len(frames) - 1, 0, n, endpoint=False)})
    chosen = [frames[i] for i in picks]
    labelled = label_structures(chosen, explorer.reference, n_jobs=1)
    out = []
    for frame, label in zip(chosen, labelled):
        row = {"md_step": frame.info["md_step"]}
        if keys.LABEL_ERROR in label.info:
            row["status"] = f"failed: {label.info[keys.LABEL_ERROR]}"
        else:
            copy = frame.copy()
            copy.calc = gap
            forces = copy.get_forces()
            row.update(status="ok", energy_error=1000 * (
                frame.info[keys.GAP_ENERGY] - label.info[keys.REF_ENERGY]) / len(frame),
                force_rmse=float(np.sqrt(np.mean((forces - label.arrays[keys.REF_FORCES]) ** 2))))
        out.append(row)
    return out


def _plain(settings: CheckSettings) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in dataclasses.asdict(settings).items()}
