"""Enthalpy minimisation of one structure (:func:`relax`) and of a batch, each at its own
random pressure (:func:`relax_structures`); a relaxation that explodes is stopped and
marked, not raised."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import GPa

from gapexplore.core import keys
from gapexplore.core.checks import check_int, check_real, check_rng, check_structures, fail
from gapexplore.core.chemistry import Chemistry, Composition, check_chemistry
from gapexplore.core.errors import reraise_interrupt
from gapexplore.core.parallel import TaskTimedOut, map_ordered, process_cached
from gapexplore.fit import load_potential
from gapexplore.label import as_reference, cached_calculator
from gapexplore.relax.batched import relax_batch
from gapexplore.relax.filter import FastFrechetCellFilter
from gapexplore.relax.frames import STATUS_CONVERGED, STATUS_MAX_STEPS, explosion, make_frame
from gapexplore.relax.pressure import random_pressures
from gapexplore.relax.settings import RelaxSettings, make_optimiser

__all__ = ["relax", "relax_structures"]

log = logging.getLogger(__name__)


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
    optimiser = make_optimiser(settings.optimiser, FastFrechetCellFilter(work, scalar_pressure=p))
    v_start = work.get_volume() / len(work)
    d_min = settings.min_distance_factor * chemistry.smallest_radius
    frames = []

    def record():
        energy = work.get_potential_energy()
        problem = explosion(work, energy, v_start, d_min, settings.volume_bounds)
        if problem is not None:
            raise _Exploded(problem)
        frames.append(make_frame(work, energy, pressure, len(frames)))

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


def relax_structures(structures: list[Atoms], potential, *,
                     chemistry: Chemistry | Composition,
                     rng: np.random.Generator, settings: RelaxSettings | None = None,
                     executor=None, n_jobs: int = 1, progress: bool = False,
                     timeout: float | None = None, done: Mapping[int, list[Atoms]] | None = None,
                     on_relaxed: Callable[[dict[int, list[Atoms]]], None] | None = None,
                     ) -> list[list[Atoms]]:
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
        Relaxations in batches (a GAP file, ``settings.engine == "native"``, FIRE) run
        many to a task (:data:`BATCH_TASK_SIZE`), and the limit applies to the task as
        ``timeout`` times its number of structures.
    done : mapping of int to list of ase.Atoms, optional
        Trajectories relaxed before, by position in ``structures`` (what ``on_relaxed``
        was given by an earlier call on the same structures, ``rng`` and settings, e.g.
        one interrupted): they are returned as given and not relaxed again. The others
        get the pressures they would get without ``done``; in batches, a task runs again
        unless all of its structures are in ``done``, so each structure relaxes in the
        same company as before.
    on_relaxed : callable, optional
        Called in this process as ``on_relaxed({position: trajectory})`` with the
        trajectories of each task the moment it finishes (one structure, or a batch), so
        that they can be stored at once: a call interrupted later loses only the tasks
        still running.

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
    pressures = [float(random_pressures(1, rng=child, p0=settings.p0, beta=settings.beta)[0])
                 for child in rng.spawn(len(structures))]
    done = {} if done is None else dict(done)
    if any(not isinstance(k, (int, np.integer)) or not 0 <= k < len(structures) for k in done):
        raise fail("done", where, f"positions in structures (0 to {len(structures) - 1})",
                   sorted(done)[:5])
    trajectories: list = [done.get(k) for k in range(len(structures))]

    def arrived(indices, results):
        """One finished task's trajectories (or exceptions), stamped and handed on."""
        finished = {}
        for index, frames in zip(indices, results, strict=True):
            finished[index] = trajectories[index] = _stamped(index, frames, structures,
                                                             pressures)
        if on_relaxed is not None:
            on_relaxed(finished)

    if _batched(potential, settings):
        _relax_in_batches(structures, pressures, potential, chemistry, settings, done,
                          arrived, executor=executor, n_jobs=n_jobs, progress=progress,
                          timeout=timeout)
    else:
        todo = [k for k in range(len(structures)) if k not in done]
        task = _RelaxTask(potential, chemistry, settings)
        map_ordered(task, [(structures[k], pressures[k]) for k in todo], executor=executor,
                    n_jobs=n_jobs, progress=progress, desc="relaxing", return_killed=True,
                    timeout=timeout,
                    on_result=lambda j, frames: arrived([todo[j]], [frames]))
    return trajectories


def _stamped(index: int, frames, structures, pressures) -> list[Atoms]:
    """``frames`` (one relaxation's, or the exception that took its task: then its
    starting structure, marked) with ``keys.RELAX_ID`` set to ``index``."""
    if isinstance(frames, BaseException):  # the relaxation killed its worker each time
        start = structures[index].copy()
        start.calc = None
        start.info[keys.PRESSURE] = pressures[index]
        what = "timed out" if isinstance(frames, TaskTimedOut) else "killed its worker"
        start.info[keys.RELAX_STATUS] = f"error: {what}: {frames}"
        frames = [start]
    for frame in frames:
        frame.info[keys.RELAX_ID] = index
    return frames


#: Most structures per task when relaxations run in batches. A task takes an eighth of
#: the structures, at least 8 and at most this many: a number that depends on the
#: structures alone, not on the workers, so that a structure relaxes in the same company,
#: and so along the same path to the last digit, whatever the executor.
BATCH_TASK_SIZE = 128


def _batched(potential, settings: RelaxSettings) -> bool:
    """Whether the relaxations run many cells at once (:mod:`gapexplore.relax.batched`):
    a GAP file, the native engine, FIRE."""
    return (isinstance(potential, (str, Path)) and settings.engine == "native"
            and settings.optimiser == "fire")


def _relax_in_batches(structures, pressures, potential, chemistry, settings, done, arrived,
                      *, executor, n_jobs, progress, timeout) -> None:
    """Relax in tasks of many structures (:data:`BATCH_TASK_SIZE`), skipping tasks whose
    structures are all in ``done``; ``arrived(positions, result)`` takes each task's
    result (a task that kills its worker, or with ``timeout`` runs past ``timeout`` × its
    size, gives its exception)."""
    size = min(BATCH_TASK_SIZE, max(8, -(-len(structures) // 8)))
    starts = [k for k in range(0, len(structures), size)
              if not all(j in done for j in range(k, min(k + size, len(structures))))]
    chunks = [(structures[k:k + size], pressures[k:k + size]) for k in starts]
    task = _BatchTask(str(potential), chemistry, settings)

    def one(j, result):
        n = len(chunks[j][0])
        arrived(list(range(starts[j], starts[j] + n)),
                [result] * n if isinstance(result, BaseException) else result)

    map_ordered(task, chunks, executor=executor, n_jobs=n_jobs, progress=progress,
                desc=f"relaxing ({size} per task)", return_killed=True, on_result=one,
                timeout=None if timeout is None else timeout * size)


class _BatchTask:
    """Relaxations of a batch of structures, picklable: carries the potential by path."""

    def __init__(self, potential: str, chemistry, settings):
        self.potential, self.chemistry, self.settings = potential, chemistry, settings

    def __call__(self, item):
        structures, pressures = item
        evaluator = _calculator(self.potential, "native").evaluator
        return relax_batch(structures, pressures, evaluator, chemistry=self.chemistry,
                           settings=self.settings)


class _RelaxTask:
    """One relaxation, picklable: carries the potential by path (or as given)."""

    def __init__(self, potential, chemistry, settings):
        self.potential = str(potential) if isinstance(potential, (str, Path)) \
            else as_reference(potential, where="relax_structures")
        self.chemistry, self.settings = chemistry, settings

    def __call__(self, item):
        atoms, pressure = item
        return relax(atoms, _calculator(self.potential, self.settings.engine),
                     pressure=pressure, chemistry=self.chemistry, settings=self.settings)


def _calculator(potential, engine: str = "quippy"):
    """The calculator for ``potential`` in this process. A GAP file is loaded once per
    process by ``engine`` and kept while its content is the same (keyed by the SHA-256 of
    the XML, which names its sparse-point files): a new iteration's GAP replaces it,
    wherever it is mounted. Anything else is a reference
    (:func:`gapexplore.label.as_reference`)."""
    if isinstance(potential, str):
        with open(potential, "rb") as handle:
            key = hashlib.sha256(handle.read()).hexdigest()
        return process_cached("gap", (key, engine),
                              lambda: load_potential(potential, engine=engine), keep=1)
    return cached_calculator(potential)
