"""Random structure searching: enthalpy minimisation of candidates with the current GAP.

Paper, Methods: candidates are relaxed with a preconditioned LBFGS optimiser (ASE's
``PreconLBFGS``) to minimise the enthalpy H = E + pV, cell included, until the residual
forces fall below 0.01 eV/Å. Each structure gets its own external pressure p drawn from
P(p/p0) = (1/β) exp(−(p/p0)/β) with p0 = 1 GPa and β = 0.2 (Eq. 5), i.e. exponentially
distributed with mean β p0 = 0.2 GPa. Every frame of every trajectory is kept: the
selection draws from all of them.

The relaxation is composed from ASE objects: a ``FrechetCellFilter(atoms,
scalar_pressure=p)`` handed to the optimiser named by :attr:`RelaxSettings.optimiser` (see
:data:`OPTIMISERS`). The default is ASE's ``FIRE``, not the paper's
``PreconLBFGS(precon=Exp(A=3), use_armijo=True)`` (still ``"precon-lbfgs"``): on 30 random
6–24-atom Si cells at fmax 0.01 eV/Å and Eq. 5 pressures, with a paper-model and a light
GAP, FIRE converged 30/30 and 30/30 within 300 steps against 25/30 and 25/30, in 18 % less
wall time and 20 % fewer GAP calls (``benchmarks/bench_optimiser.py``; README). The filter
computes its generalised forces once per geometry, and its matrix functions in closed form
(:class:`FastFrechetCellFilter`): ASE's optimisers ask for them several times a step.

Early GAPs are bad, so a relaxation is stopped — and marked, not raised — when it
explodes: a non-finite energy, two atoms closer than ``min_distance_factor`` × r, or a
volume per atom outside ``volume_bounds`` × the starting volume.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.filters import FrechetCellFilter
from ase.units import GPa

from gapexplore.core import keys
from gapexplore.core.checks import (
    check_choice,
    check_int,
    check_real,
    check_rng,
    check_structures,
    fail,
)
from gapexplore.core.chemistry import Chemistry, Composition, check_chemistry, reduced_formula
from gapexplore.core.errors import reraise_interrupt
from gapexplore.core.geometry import shortest_distance_below
from gapexplore.core.hull import structure_hull_distance
from gapexplore.core.parallel import TaskTimedOut, map_ordered, process_cached
from gapexplore.core.symmetry import achiral, space_group
from gapexplore.fit import load_potential
from gapexplore.label import as_reference, cached_calculator

__all__ = ["OPTIMISERS", "FastFrechetCellFilter", "RelaxSettings", "random_pressures", "relax",
           "relax_structures", "converged_finals",
           "lowest_final", "lowest_kinds", "status_kind"]

log = logging.getLogger(__name__)

STATUS_CONVERGED = "converged"
STATUS_MAX_STEPS = "max_steps"

#: The optimisers a relaxation can take, by name (each minimises the enthalpy through the
#: same cell filter and keeps every frame):
#:
#: * ``"precon-lbfgs"``: the paper's, ASE's ``PreconLBFGS`` with the ``Exp(A=3)``
#:   preconditioner and an Armijo line search;
#: * ``"lbfgs-linesearch"``: ``PreconLBFGS`` without a preconditioner (what ASE's
#:   ``precon="auto"`` does below 100 atoms), with the Armijo line search;
#: * ``"lbfgs"``: ASE's ``LBFGS`` (no line search; steps capped at 0.2 Å);
#: * ``"fire"``: ASE's ``FIRE`` (the default: fastest to fmax 0.01 on random cells).
OPTIMISERS = ("precon-lbfgs", "lbfgs-linesearch", "lbfgs", "fire")


@dataclass(frozen=True)
class RelaxSettings:
    """How each candidate is relaxed.

    Parameters
    ----------
    fmax : float
        Convergence: largest residual force, cell included [eV/Å] (paper: 0.01).
    max_steps : int
        Step cap; a relaxation that reaches it ends with status ``"max_steps"``.
    p0 : float
        Pressure scale p0 [GPa] of Eq. 5 (paper: 1).
    beta : float
        β of Eq. 5 (paper: 0.2); the mean pressure is β p0.
    optimiser : str
        One of :data:`OPTIMISERS` (default ``"fire"``, measured fastest here; the paper's
        is ``"precon-lbfgs"``). With ``"precon-lbfgs"`` a one-atom cell takes
        unpreconditioned steps: Exp has no neighbours to build from there (it divides by
        zero).
    min_distance_factor : float
        Stop when two atoms come closer than this times the characteristic radius r.
    volume_bounds : (float, float)
        Stop when the volume per atom leaves this range, relative to the starting one.
    """

    fmax: float = 0.01
    max_steps: int = 300
    p0: float = 1.0
    beta: float = 0.2
    optimiser: str = "fire"
    min_distance_factor: float = 0.5
    volume_bounds: tuple[float, float] = (0.25, 4.0)

    def __post_init__(self):
        where = "RelaxSettings"
        check_real(self.fmax, "fmax", where, low=0.0, low_open=True)
        check_int(self.max_steps, "max_steps", where, low=0)
        check_real(self.p0, "p0", where, low=0.0)
        check_real(self.beta, "beta", where, low=0.0, low_open=True)
        check_real(self.min_distance_factor, "min_distance_factor", where, low=0.0)
        check_choice(self.optimiser, "optimiser", where, OPTIMISERS)
        low, high = self.volume_bounds
        if not 0 < low < 1 < high:
            raise fail("volume_bounds", where, "a pair (low, high) with 0 < low < 1 < high",
                       self.volume_bounds)


def random_pressures(count: int, *, rng: np.random.Generator, p0: float = 1.0,
                     beta: float = 0.2) -> np.ndarray:
    """External pressures [GPa] drawn from P(p/p0) = (1/β) exp(−(p/p0)/β) (paper Eq. 5).

    Parameters
    ----------
    count : int
        Number of pressures.
    rng : numpy.random.Generator
        Source of randomness.
    p0 : float
        Pressure scale [GPa].
    beta : float
        Dimensionless β; the mean is β p0.

    Returns
    -------
    numpy.ndarray, shape (count,)
    """
    where = "random_pressures"
    count = check_int(count, "count", where, low=0)
    p0 = check_real(p0, "p0", where, low=0.0)
    beta = check_real(beta, "beta", where, low=0.0, low_open=True)
    return p0 * check_rng(rng, where).exponential(beta, size=count)


def relax(atoms: Atoms, calculator, *, pressure: float, chemistry: Chemistry | Composition,
          settings: RelaxSettings | None = None) -> list[Atoms]:
    """Minimise the enthalpy of one structure; return every frame of the trajectory.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure (not modified).
    calculator : ase.calculators.calculator.Calculator
        The driving potential (usually the current GAP).
    pressure : float
        External pressure [GPa].
    chemistry : Chemistry or Composition
        Its (smallest) radius sets the explosion guard's minimum distance.
    settings : RelaxSettings, optional

    Returns
    -------
    list of ase.Atoms
        One frame per optimiser step, from the start, without calculator. ``info`` holds
        ``keys.GAP_ENERGY`` [eV], ``keys.ENTHALPY_PER_ATOM`` [eV/atom], ``keys.PRESSURE``
        [GPa], ``keys.RELAX_STEP`` and, on every frame, the trajectory's
        ``keys.RELAX_STATUS``. Frames of an explosion are not kept. A relaxation that
        fails before its first frame returns the starting structure alone, with its
        status and pressure but no energy or enthalpy.
    """
    settings = RelaxSettings() if settings is None else settings
    work = atoms.copy()
    work.calc = calculator
    p = pressure * GPa  # eV/Å³
    optimiser = _optimiser(settings.optimiser, FastFrechetCellFilter(work, scalar_pressure=p))
    v_start = work.get_volume() / len(work)
    d_min = settings.min_distance_factor * chemistry.smallest_radius
    frames = []

    def record():
        energy = work.get_potential_energy()
        problem = _explosion(work, energy, v_start, d_min, settings.volume_bounds)
        if problem is not None:
            raise _Exploded(problem)
        frames.append(_frame(work, energy, pressure, p, len(frames)))

    optimiser.attach(record)
    try:
        with contextlib.redirect_stdout(io.StringIO()) as chatter, _quiet_line_search(), \
                warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Armijo linesearch failed")
            converged = optimiser.run(fmax=settings.fmax, steps=settings.max_steps)
        if chatter.getvalue():
            log.debug("optimiser: %s", chatter.getvalue().strip())
        status = STATUS_CONVERGED if converged else STATUS_MAX_STEPS
    except _Exploded as problem:
        status = f"exploded: {problem}"
    except Exception as error:  # a failed relaxation is recorded, never fatal to a batch
        reraise_interrupt(error)    # but Ctrl-C under quippy stops the run
        status = f"error: {type(error).__name__}: {error}"
        log.warning("relaxation failed: %s", status)
    if not frames:  # failed before its first frame: keep the start, to record why
        start = atoms.copy()
        start.calc = None
        start.info[keys.PRESSURE] = float(pressure)
        frames.append(start)
    for frame in frames:
        frame.info[keys.RELAX_STATUS] = status
    return frames


class FastFrechetCellFilter(FrechetCellFilter):
    """ASE's ``FrechetCellFilter``, with its generalised forces computed once per geometry
    and its 3×3 matrix functions computed in closed form.

    ASE's optimisers ask the filter for its forces several times a step (the step, the
    line search, the log, the convergence test: five times a step for ``PreconLBFGS``),
    and each answer takes a matrix logarithm and nine Fréchet derivatives of the matrix
    exponential through scipy's general algorithms: a quarter of a light GAP's relaxation
    time on 6–24-atom cells. Here the forces are kept until the positions or the cell
    change, and the logarithm, exponential and Fréchet derivative of the 3×3 deformation
    come from one eigendecomposition (:func:`_eig_function`), falling back to scipy's when
    the eigenvectors are ill-conditioned. The values agree with ASE's filter to rounding
    (``tests/test_relax.py``).
    """

    _kept = None

    def __init__(self, atoms, **kwargs):
        super().__init__(atoms, **kwargs)
        for owner in (self, getattr(self, "_utility", None)):
            if owner is not None:
                owner.logm, owner.expm, owner.expm_frechet = _logm, _expm, _expm_frechet

    def get_forces(self, **kwargs):
        """The generalised forces (atoms, then cell) [eV/Å], kept for this geometry."""
        key = (self.atoms.positions.tobytes(), self.atoms.cell.array.tobytes(),
               tuple(sorted(kwargs.items())))
        if self._kept is None or self._kept[0] != key:
            forces = super().get_forces(**kwargs)
            self._kept = (key, forces, self.stress)
        _, forces, self.stress = self._kept
        return forces.copy()


#: Largest condition number of a 3×3 matrix's eigenvectors for which its matrix functions
#: are taken from the eigendecomposition; above it, scipy's general algorithms are used.
_EIG_CONDITION = 1e3


def _eig_function(matrix: np.ndarray):
    """The eigendecomposition (values, vectors, inverse vectors) of a real 3×3 matrix,
    kept for the last matrix asked (the Fréchet derivative asks nine times for one
    matrix); None when the eigenvectors are ill-conditioned (condition number above
    :data:`_EIG_CONDITION`: a near-defective matrix). :func:`_logm` also falls back when
    an eigenvalue is real and not positive (no real logarithm)."""
    key, kept = matrix.tobytes(), _eig_function.kept  # read once: threads may share it
    if kept is not None and kept[0] == key:
        return kept[1]
    values, vectors = np.linalg.eig(matrix)
    decomposition = None
    if np.linalg.cond(vectors) <= _EIG_CONDITION:
        decomposition = values, vectors, np.linalg.inv(vectors)
    _eig_function.kept = (key, decomposition)
    return decomposition


_eig_function.kept = None


def _logm(matrix):
    """Principal logarithm of a real 3×3 matrix (scipy's ``logm`` where the
    eigendecomposition is ill-conditioned)."""
    from scipy.linalg import logm

    decomposition = _eig_function(np.asarray(matrix, dtype=float))
    if decomposition is None or np.any((decomposition[0].real <= 0)
                                       & (decomposition[0].imag == 0)):
        return logm(matrix)
    values, vectors, inverse = decomposition
    return ((vectors * np.log(values)) @ inverse).real


def _expm(matrix):
    """Exponential of a real 3×3 matrix (scipy's ``expm`` where the eigendecomposition is
    ill-conditioned)."""
    from scipy.linalg import expm

    decomposition = _eig_function(np.asarray(matrix, dtype=float))
    if decomposition is None:
        return expm(matrix)
    values, vectors, inverse = decomposition
    return ((vectors * np.exp(values)) @ inverse).real


def _expm_frechet(matrix, direction, compute_expm=True, **kwargs):
    """Fréchet derivative of the exponential of a real 3×3 matrix in ``direction``
    (Daleckii–Krein: V [(V⁻¹ E V) ∘ Φ] V⁻¹, Φ the divided differences of exp over the
    eigenvalues), as scipy's ``expm_frechet`` returns it; scipy's where the
    eigendecomposition is ill-conditioned."""
    from scipy.linalg import expm_frechet

    decomposition = _eig_function(np.asarray(matrix, dtype=float))
    if decomposition is None:
        return expm_frechet(matrix, direction, compute_expm=compute_expm, **kwargs)
    values, vectors, inverse = decomposition
    gap = values[:, None] - values[None, :]
    same = gap == 0
    divided = np.exp(values)[None, :] * np.where(same, 1.0,
                                                 np.expm1(gap) / np.where(same, 1.0, gap))
    derivative = (vectors @ ((inverse @ direction @ vectors) * divided) @ inverse).real
    if compute_expm:
        return _expm(matrix), derivative
    return derivative


def _optimiser(name: str, cell_filter):
    """The optimiser ``name`` (:data:`OPTIMISERS`) on ``cell_filter``, silent."""
    from ase.optimize import FIRE, LBFGS
    from ase.optimize.precon import Exp, PreconLBFGS

    if name == "lbfgs":
        return LBFGS(cell_filter, logfile=None)
    if name == "fire":
        return FIRE(cell_filter, logfile=None)
    precon = Exp(A=3) if name == "precon-lbfgs" and len(cell_filter.atoms) > 1 else None
    return PreconLBFGS(cell_filter, precon=precon, use_armijo=True, logfile=None)


@contextlib.contextmanager
def _quiet_line_search():
    """Demote ASE's Armijo line-search messages to DEBUG while a relaxation runs.

    PreconLBFGS logs "Passed direction which is not downhill" at ERROR level whenever it
    resets its memory, a routine event in early GAPs' relaxations; it is not an error of
    the run.
    """
    logger = logging.getLogger("ase.utils.linesearcharmijo")

    def demote(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and "not downhill" in record.getMessage():
            log.debug("line search: %s", record.getMessage())
            return False
        return True

    logger.addFilter(demote)
    try:
        yield
    finally:
        logger.removeFilter(demote)


class _Exploded(Exception):
    """Raised by the step observer to stop a relaxation that has exploded."""


def _frame(atoms: Atoms, energy: float, pressure_gpa: float, p: float, step: int) -> Atoms:
    frame = atoms.copy()
    frame.calc = None
    frame.info[keys.GAP_ENERGY] = float(energy)
    frame.info[keys.ENTHALPY_PER_ATOM] = float((energy + p * atoms.get_volume()) / len(atoms))
    frame.info[keys.PRESSURE] = float(pressure_gpa)
    frame.info[keys.RELAX_STEP] = step
    frame.info[keys.CONFIG_TYPE] = keys.CONFIG_RSS_TRAJECTORY
    return frame


def _explosion(atoms: Atoms, energy: float, v_start: float, d_min: float, bounds) -> str | None:
    if not np.isfinite(energy):
        return "non-finite energy"
    ratio = atoms.get_volume() / len(atoms) / v_start
    if not bounds[0] <= ratio <= bounds[1]:
        return f"volume per atom changed by a factor {ratio:.2f}"
    if d_min > 0 and shortest_distance_below(atoms, d_min) is not None:
        return f"atoms closer than {d_min:.2f} Å"
    return None


def relax_structures(structures: list[Atoms], potential, *,
                     chemistry: Chemistry | Composition,
                     rng: np.random.Generator, settings: RelaxSettings | None = None,
                     executor=None, n_jobs: int = 1, progress: bool = False,
                     timeout: float | None = None) -> list[list[Atoms]]:
    """Relax every structure at its own random pressure (paper Eq. 5); keep all frames.

    Parameters
    ----------
    structures : list of ase.Atoms
        Candidates (not modified).
    potential : str, pathlib.Path, callable or Calculator
        A GAP XML file (each worker process loads it once and keeps it), a zero-argument
        function returning a calculator, or a calculator (anything
        :func:`gapexplore.label.as_reference` takes but a name), built once per process.
    chemistry : Chemistry or Composition
        Its (smallest) radius sets the explosion guard's minimum distance.
    rng : numpy.random.Generator
        Draws the pressures, one child generator per structure: the same seed gives the
        same pressures whatever the executor.
    settings : RelaxSettings, optional
    executor, n_jobs, progress
        Where the relaxations run; see :func:`gapexplore.core.parallel.map_ordered`.
    timeout : float, optional
        Wall-time limit of one relaxation [s] (local worker processes only); one over it
        is stopped and returns its starting structure with status ``"error: timed out"``.

    Returns
    -------
    list of list of ase.Atoms
        The trajectory of each structure, in input order; every frame carries
        ``keys.RELAX_ID`` (the structure's position in ``structures``).
    """
    where = "relax_structures"
    structures = check_structures(structures, "structures", where)
    check_chemistry(chemistry, where, compound=True)
    settings = RelaxSettings() if settings is None else settings
    if not isinstance(settings, RelaxSettings):
        raise fail("settings", where, "a RelaxSettings or None", settings)
    rng = check_rng(rng, where)
    check_int(n_jobs, "n_jobs", where, low=1)
    if timeout is not None:
        check_real(timeout, "timeout", where, low=0.0, low_open=True)
    task = _RelaxTask(potential, chemistry, settings)
    pressures = [float(random_pressures(1, rng=child, p0=settings.p0, beta=settings.beta)[0])
                 for child in rng.spawn(len(structures))]
    trajectories = map_ordered(task, list(zip(structures, pressures)), executor=executor,
                               n_jobs=n_jobs, progress=progress, desc="relaxing",
                               return_killed=True, timeout=timeout)
    for index, frames in enumerate(trajectories):
        if isinstance(frames, BaseException):  # the relaxation killed its worker each time
            start = structures[index].copy()
            start.calc = None
            start.info[keys.PRESSURE] = pressures[index]
            what = "timed out" if isinstance(frames, TaskTimedOut) else "killed its worker"
            start.info[keys.RELAX_STATUS] = f"error: {what}: {frames}"
            frames = trajectories[index] = [start]
        for frame in frames:
            frame.info[keys.RELAX_ID] = index
    return trajectories


class _RelaxTask:
    """One relaxation, picklable: carries the potential by path (or as given)."""

    def __init__(self, potential, chemistry, settings):
        from pathlib import Path

        self.potential = str(potential) if isinstance(potential, (str, Path)) \
            else as_reference(potential, where="relax_structures")
        self.chemistry, self.settings = chemistry, settings

    def __call__(self, item):
        atoms, pressure = item
        return relax(atoms, _calculator(self.potential), pressure=pressure,
                     chemistry=self.chemistry, settings=self.settings)


def _calculator(potential):
    """The calculator for ``potential`` in this process. A GAP file is loaded once per
    process and kept while its content is the same (keyed by the SHA-256 of the XML,
    which names its sparse-point files): a new iteration's GAP replaces it, wherever it is
    mounted. Anything else is a reference (:func:`gapexplore.label.as_reference`)."""
    import hashlib

    if isinstance(potential, str):
        with open(potential, "rb") as handle:
            key = hashlib.sha256(handle.read()).hexdigest()
        return process_cached("gap", key, lambda: load_potential(potential), keep=1)
    return cached_calculator(potential)


def status_kind(status: str) -> str:
    """The kind of a ``RELAX_STATUS``: ``"converged"``, ``"max_steps"``, ``"exploded"`` or
    ``"error"`` (the last two carry their reason after a colon)."""
    return status.partition(":")[0]


def converged_finals(trajectories: list[list[Atoms]]) -> list[Atoms]:
    """The final frames of the relaxations in ``trajectories`` that converged (each with
    its energy and enthalpy)."""
    return [t[-1] for t in trajectories
            if t[-1].info.get(keys.RELAX_STATUS) == "converged"
            and keys.GAP_ENERGY in t[-1].info and keys.ENTHALPY_PER_ATOM in t[-1].info]


def _ranked_finals(trajectories: list[list[Atoms]]) -> tuple[list[Atoms], np.ndarray, list]:
    """The converged final frames of ``trajectories`` from the lowest up (a stable sort:
    ties keep their order), the measure they are ranked by [eV/atom] (the enthalpy per
    atom; across several compositions, the height above their (composition, enthalpy)
    hull) and their reduced formulas, all in that order."""
    finals = converged_finals(trajectories)
    if not finals:
        return [], np.zeros(0), []
    measure = np.array([a.info[keys.ENTHALPY_PER_ATOM] for a in finals], dtype=float)
    formulas = [reduced_formula(a) for a in finals]
    if len(set(formulas)) > 1:
        measure = np.asarray(structure_hull_distance(finals, list(measure)), dtype=float)
    order = np.argsort(measure, kind="stable")
    return [finals[i] for i in order], measure[order], [formulas[i] for i in order]


def lowest_final(trajectories: list[list[Atoms]]) -> dict | None:
    """The lowest-enthalpy final frame among converged relaxations of ``trajectories``
    (:func:`relax_structures`' output): its enthalpy [eV/atom], pressure [GPa], atom count,
    volume [Å³/atom], space group (spglib, symprec 0.1 Å) and ``RELAX_ID``; None if no
    relaxation converged. When the finals span several compositions, the lowest above the
    (composition, enthalpy) hull of them (the flat histogram's measure; ties go to the
    first), with its ``formula`` and ``above_hull`` [eV/atom]."""
    ranked, measure, formulas = _ranked_finals(trajectories)
    if not ranked:
        return None
    best = ranked[0]
    extra = {"formula": formulas[0], "above_hull": float(measure[0])} \
        if len(set(formulas)) > 1 else {}
    return {"enthalpy_per_atom": best.info[keys.ENTHALPY_PER_ATOM],
            "pressure": best.info[keys.PRESSURE], "n_atoms": len(best),
            "volume_per_atom": best.get_volume() / len(best),
            "spacegroup": space_group(best),
            "relax_id": best.info.get(keys.RELAX_ID), **extra}


def lowest_kinds(trajectories: list[list[Atoms]], count: int) -> list[Atoms]:
    """The lowest final frame of each of the ``count`` lowest kinds of structure among the
    converged relaxations of ``trajectories``, lowest first: a kind is a reduced formula
    and a space group (:func:`~gapexplore.core.symmetry.space_group`, symprec 0.1 Å; a
    structure and its mirror image are one kind), so zincblende and wurtzite SiC are two
    kinds and two zincblende cells one. Ranked as :func:`lowest_final` ranks (enthalpy per atom,
    or the height above the hull across compositions), so the first is its frame. Fewer
    when fewer kinds converged; each frame carries ``info['spacegroup']``."""
    check_int(count, "count", "lowest_kinds", low=1)
    ranked, _, formulas = _ranked_finals(trajectories)
    chosen, seen = [], set()
    for atoms, formula in zip(ranked, formulas):
        group = space_group(atoms)
        kind = (formula, achiral(str(group)))
        if kind in seen:
            continue
        seen.add(kind)
        atoms = atoms.copy()
        atoms.info["spacegroup"] = str(group)
        chosen.append(atoms)
        if len(chosen) == count:
            break
    return chosen
