"""Fitting the GAP: 2-body + 3-body + SOAP, with the paper's automatic heuristics.

Paper, Methods ("Interatomic potential fitting") and Table 1:

* descriptors and hyperparameters in terms of the characteristic radius r
  (:class:`GapSettings`, built by :meth:`GapSettings.for_chemistry`);
* δ set automatically (:func:`fit_gap`): δ_2b from the spread of the per-atom energies,
  δ_3b from the per-atom energy error of a 2b-only fit, δ_SOAP from the error of a
  2b + 3b fit — three ``gap_fit`` runs per potential;
* per-configuration noise σ_E, σ_F, σ_V from the height above the (V, E) convex hull
  (:mod:`gapexplore.fit.noise`).

Choices the paper leaves open (all settings):

* δ_2b is the standard deviation of the per-atom energies (the square root of their
  variance, so that δ carries energy units);
* δ_3b and δ_SOAP are the per-atom energy RMSE over everything fitted, dimers included;
* the isolated atom is not fitted but gives e0;
* SOAP sparse points by CUR (``sparse_method=cur_points``), 2b and 3b uniform.

The ``gap_fit`` argument list is built in one place, :func:`gap_fit_command`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import write

from gapexplore.core import keys
from gapexplore.core.checks import check_structures, fail
from gapexplore.core.chemistry import Chemistry, Composition, check_chemistry
from gapexplore.core.errors import GapFitError
from gapexplore.fit.command import (
    GAP_FIT_VARIABLE,
    TERMS,
    GapSettings,
    estimate_memory,
    find_gap_fit,
    gap_fit_command,
    own_gap_fit,
)
from gapexplore.fit.noise import with_noise
from gapexplore.fit.predict import predict

__all__ = ["FitResult", "delta_from_spread", "fit_gap", "run_gap_fit"]

log = logging.getLogger(__name__)

_LOG_TAIL = 30
_MIN_DELTA = 1e-3  # eV: a δ below this is a fit with nothing left to learn


def _memory_available() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def run_gap_fit(command: list[str], workdir: Path, log_file: Path, *,
                one_thread: bool = True) -> None:
    """Run gap_fit in ``workdir`` with its output in ``log_file``; raise GapFitError on failure.

    With ``one_thread`` (the wheel's gap_fit, single-threaded: BLAS threads beside it only
    slow it down) OpenMP and OpenBLAS get one thread; without it (your own build, see
    :func:`find_gap_fit`) the environment's settings stand. Unbuffered Fortran output so
    the log shows progress.
    """
    env = dict(os.environ, GFORTRAN_UNBUFFERED_ALL="y")
    if one_thread:
        env |= {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    gp_file = next(a.split("=", 1)[1] for a in command if a.startswith("gp_file="))
    for stale in workdir.glob(f"{gp_file}*"):  # a potential left by an interrupted fit
        stale.unlink()
    try:
        with open(log_file, "w") as log_handle:
            result = subprocess.run(command, cwd=workdir, stdout=log_handle,
                                    stderr=subprocess.STDOUT, env=env, check=False)
    except OSError as error:
        raise GapFitError(f"Could not run gap_fit in {workdir} ({error}). Free some space "
                          "or fix permissions and run again.") from None
    problem = None if result.returncode == 0 else f"exit code {result.returncode}"
    if problem is None:
        problem = _potential_problem(workdir / gp_file)
    if problem is not None:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-_LOG_TAIL:])
        raise GapFitError(f"gap_fit failed ({problem}); the end of its log {log_file}:\n"
                          f"{tail}")


def _potential_problem(path: Path) -> str | None:
    """Why the potential gap_fit wrote is unusable (missing, cut short by a full disk, a
    sparse-point file missing or empty), or None when it is whole."""
    if not path.exists():
        return f"it wrote no {path.name}"
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        return f"{path.name} is not complete XML ({error}); was the disk full?"

    for element in root.iter():
        name = element.attrib.get("sparseX_filename")
        if not name:
            continue
        sparse = path.parent / name
        if not sparse.exists():
            return f"its sparse-point file {name} is missing"
        md5 = element.attrib.get("sparseX_md5sum")
        if md5 and hashlib.md5(sparse.read_bytes()).hexdigest() != md5:
            return f"its sparse-point file {name} does not match its checksum; was the disk full?"
    return None


# --- fitting -----------------------------------------------------------------------------


@dataclass
class FitResult:
    """A fitted GAP and how it was made.

    Attributes
    ----------
    potential : pathlib.Path
        The potential's XML file (its ``*.sparseX.*`` files lie beside it).
    deltas : dict
        δ [eV] of each term, as set automatically (or given).
    e0 : dict
        Isolated-atom energy [eV] per element.
    rmse_energy : float
        Training RMSE of the energy per atom [eV/atom] over the periodic cells.
    rmse_forces : float
        Training RMSE of the force components [eV/Å] over the periodic cells.
    rmse_energy_dimers : float
        Training RMSE of the energy per atom [eV/atom] of the dimers (NaN without dimers).
    stage_rmse : dict
        Training energy RMSE [eV/atom] over all fitted structures of the intermediate 2b
        and 2b+3b fits: the values that set δ_3b and δ_SOAP.
    n_structures, n_environments : int
        Structures and atoms in the training file.
    logs : list of pathlib.Path
        gap_fit's log of each stage.
    stage_seconds : dict
        Wall time [s] of each stage (``"2b"``, ``"2b+3b"``: gap_fit and the training
        errors that set the next δ; ``"full"``: the final gap_fit) and of the final
        training errors (``"errors"``).
    """

    potential: Path
    deltas: dict
    e0: dict
    rmse_energy: float
    rmse_forces: float
    rmse_energy_dimers: float
    stage_rmse: dict
    n_structures: int
    n_environments: int
    logs: list
    stage_seconds: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The figures of the fit as plain numbers (for JSON, tables and notebooks)."""
        out = asdict(self)
        out["potential"] = str(self.potential)
        out["logs"] = [str(p) for p in self.logs]
        return out


def fit_gap(structures: list[Atoms], chemistry: Chemistry | Composition, workdir, *,
            settings: GapSettings | None = None, deltas: dict | None = None,
            check_memory: bool = True, gap_fit=None) -> FitResult:
    """Fit the paper's 2b + 3b + SOAP GAP to labelled structures, δ set automatically.

    Parameters
    ----------
    structures : list of ase.Atoms
        Labelled structures (``keys.REF_ENERGY`` etc.), including the isolated atom
        (``config_type`` ``"isolated_atom"``), whose energy becomes e0. Structures whose
        labelling failed (``keys.LABEL_ERROR``) are left out with a log message.
    chemistry : Chemistry or Composition
        Sets the default :class:`GapSettings`.
    workdir : str or pathlib.Path
        Folder for the training file, the potentials of each stage and gap_fit's logs.
    settings : GapSettings, optional
        Default: ``GapSettings.for_chemistry(chemistry)`` (the paper's model).
    deltas : dict, optional
        δ [eV] for ``"2b"``, ``"3b"`` and ``"soap"``; given, they are used as they are and
        gap_fit runs once. Default: set automatically (three gap_fit runs; two when
        ``settings.delta_3b`` fixes δ_3b).
    check_memory : bool
        Estimate the fit's memory first (logged at INFO before every fit:
        :func:`~gapexplore.fit.estimate_memory`) and refuse, with a message, when it exceeds
        what the machine has available.
    gap_fit : str or list of str, optional
        Your own gap_fit command, e.g. an OpenMP build or ``"mpirun -np 16 gap_fit"``
        (:func:`~gapexplore.fit.find_gap_fit`; default ``$GAPEXPLORE_GAP_FIT``, else the
        wheel's). Your own runs with the environment's thread settings; the wheel's with
        one thread.

    Returns
    -------
    FitResult

    Raises
    ------
    InvalidParameterError
        No isolated atom, no periodic structure, or bad ``deltas`` (before any fit).
    GapFitError
        gap_fit failed, or the fit would not fit in memory.
    """
    where = "fit_gap"
    structures = check_structures(structures, "structures", where)
    check_chemistry(chemistry, where, compound=True)
    settings = GapSettings.for_chemistry(chemistry) if settings is None else settings
    workdir = Path(workdir)
    training, e0 = _training_set(structures, settings, where)
    if deltas is not None and set(deltas) != set(TERMS):
        raise fail("deltas", where, f"a dict with exactly the keys {TERMS}", deltas)
    n_env = _check_fit_memory(training, settings, check_memory)
    train_file = _write_training(training, workdir)
    path, deltas, stage_rmse, logs, laps = _fit_stages(
        training, train_file, settings, deltas, e0, gap_fit)
    errors = _errors(training, path)
    laps.lap("errors")
    return FitResult(potential=path, deltas=dict(deltas), e0=e0,
                     rmse_energy=errors["periodic"], rmse_forces=errors["forces"],
                     rmse_energy_dimers=errors["dimers"], stage_rmse=stage_rmse,
                     n_structures=len(training), n_environments=n_env, logs=logs,
                     stage_seconds=laps.seconds)


def _training_set(structures: list[Atoms], settings: GapSettings,
                  where: str) -> tuple[list[Atoms], dict]:
    """The structures gap_fit is trained on (the labelled ones but the isolated atoms, with
    their noise σ, without virials unless ``settings.virials``) and e0 [eV] per element,
    from the isolated atoms."""
    good = [a for a in structures if keys.LABEL_ERROR not in a.info and keys.REF_ENERGY in a.info]
    if len(good) < len(structures):
        log.info("fit_gap: leaving out %d structures without reference labels",
                 len(structures) - len(good))
    isolated = [a for a in good if a.info.get(keys.CONFIG_TYPE) == keys.CONFIG_ISOLATED_ATOM]
    if not isolated:
        raise fail("structures", where, "a list including the labelled isolated atom "
                   "(gapexplore.generate.isolated_atom), whose energy is e0", "none")
    e0 = {a.get_chemical_symbols()[0]: float(a.info[keys.REF_ENERGY]) for a in isolated}
    missing = sorted({s for a in good for s in a.get_chemical_symbols()} - set(e0))
    if missing:
        raise fail("structures", where, "a list including the labelled isolated atom of "
                   "every element (gapexplore.generate.isolated_atom), whose energy is its "
                   "e0", f"none for {', '.join(missing)}")
    training = with_noise([a for a in good
                           if a.info.get(keys.CONFIG_TYPE) != keys.CONFIG_ISOLATED_ATOM],
                          settings.noise)
    if not settings.virials:  # gap_fit then keeps no descriptor gradient for them
        for atoms in training:
            atoms.info.pop(keys.REF_VIRIAL, None)
            atoms.info.pop(keys.VIRIAL_SIGMA, None)
    if not any(a.pbc.all() for a in training):
        raise fail("structures", where, "a list with at least one labelled periodic cell", "none")
    return training, e0


def _check_fit_memory(training: list[Atoms], settings: GapSettings, check_memory: bool) -> int:
    """Log the fit's estimated memory; refuse (``check_memory``) when it exceeds 90 % of
    what is available. Returns the number of atomic environments."""
    n_env = sum(len(a) for a in training)
    n_species = len({s for a in training for s in a.get_chemical_symbols()})
    cells = [a for a in training if a.pbc.all()]
    volume = sum(a.get_volume() for a in cells) / max(sum(len(a) for a in cells), 1)
    need, have = estimate_memory(n_env, settings, n_species, volume), _memory_available()
    log.info("gap_fit: %d atomic environments of %d species, SOAP n_max %d l_max %d: about "
             "%.1f GiB%s", n_env, n_species, settings.n_max, settings.l_max, need / 2**30,
             "" if have is None else f" of the {have / 2**30:.1f} GiB available")
    if check_memory and have is not None and need > 0.9 * have:
        raise GapFitError(
            f"This fit of {n_env} atomic environments ({n_species} species) needs about "
            f"{need / 2**30:.1f} GiB and {have / 2**30:.1f} GiB is available. Fit energies "
            "and forces only (GapSettings virials=False: about 0.4 times the memory; a run "
            "continues so with `virials = false` in its [gap] table), fit fewer "
            "structures, use fewer SOAP sparse points or a smaller SOAP basis (n_max, l_max), "
            f"fit on a larger machine (an MPI build of gap_fit, named in ${GAP_FIT_VARIABLE}, "
            "spreads the memory over nodes), or pass check_memory=False.")
    return n_env


def _write_training(training: list[Atoms], workdir: Path) -> Path:
    """Write the training file ``train.xyz`` in ``workdir`` (made if missing)."""
    train_file = workdir / "train.xyz"
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        write(train_file, training, format="extxyz")
    except OSError as error:
        raise GapFitError(f"Could not write the training file {train_file} ({error}). Free "
                          "some space and run again.") from None
    return train_file


class _Laps:
    """Wall times [s] of the fit's stages, each from the end of the one before."""

    def __init__(self):
        self.seconds, self._clock = {}, time.perf_counter()

    def lap(self, name: str) -> None:
        """Record the time since the last lap (or the start) as ``name``'s."""
        self.seconds[name], self._clock = (time.perf_counter() - self._clock,
                                           time.perf_counter())


def _fit_stages(training: list[Atoms], train_file: Path, settings: GapSettings,
                deltas: dict | None, e0: dict, gap_fit) -> tuple:
    """Run gap_fit's stages in the folder of ``train_file``: the 2b and 2b+3b fits that set
    δ_3b and δ_SOAP (none when ``deltas`` is given; no 2b fit when ``settings.delta_3b``
    fixes δ_3b), then the full fit. Returns the potential's path, the δ [eV] of each term,
    the stages' training RMSE [eV/atom], gap_fit's logs and the stages' wall times."""
    workdir = train_file.parent
    executable = find_gap_fit(gap_fit)
    own = own_gap_fit(gap_fit) is not None

    def stage(name: str, stage_deltas: dict) -> Path:
        gp = f"{name}.xml"
        logfile = workdir / f"{name}.log"
        command = gap_fit_command(train_file.name, gp, settings, stage_deltas, e0, executable)
        log.debug("gap_fit %s: %s", name, " ".join(command))
        run_gap_fit(command, workdir, logfile, one_thread=not own)
        logs.append(logfile)
        return workdir / gp

    stage_rmse, logs, laps = {}, [], _Laps()
    if deltas is None:
        deltas = {"2b": delta_from_spread(training)}
        if settings.delta_3b is None:
            stage_rmse["2b"] = _errors(training, stage("gap_2b", deltas))["all"]
            deltas["3b"] = max(stage_rmse["2b"], _MIN_DELTA)
            laps.lap("2b")
        else:
            deltas["3b"] = float(settings.delta_3b)
        stage_rmse["2b+3b"] = _errors(training, stage("gap_2b3b", deltas))["all"]
        deltas["soap"] = max(stage_rmse["2b+3b"], _MIN_DELTA)
        laps.lap("2b+3b")
    path = stage("gap", deltas)
    laps.lap("full")
    return path, deltas, stage_rmse, logs, laps


def delta_from_spread(structures: list[Atoms]) -> float:
    """δ_2b [eV]: the standard deviation of the reference energies per atom (paper: "set
    from the variance of energies in the fitting database"); at least 1 meV.
    """
    per_atom = np.array([a.info[keys.REF_ENERGY] / len(a) for a in structures])
    return max(float(np.std(per_atom)), _MIN_DELTA)


def _errors(training: list[Atoms], path: Path) -> dict[str, float]:
    """Training RMSE of the energy per atom [eV/atom] over all structures, the periodic
    ones and the dimers, and of the periodic cells' force components [eV/Å].
    """
    energies, forces = predict(training, path)
    n = np.array([len(a) for a in training])
    ref = np.array([a.info[keys.REF_ENERGY] for a in training])
    error = (energies - ref) / n
    periodic = np.array([a.pbc.all() for a in training])

    def rms(values):
        return float(np.sqrt(np.mean(np.square(values)))) if len(values) else float("nan")

    force_error = [(f - a.arrays[keys.REF_FORCES]).ravel()
                   for f, a, p in zip(forces, training, periodic) if p]
    return {"all": rms(error), "periodic": rms(error[periodic]),
            "dimers": rms(error[~periodic]), "forces": rms(np.concatenate(force_error))}
