"""Reference labelling: energies, forces and virials of the selected structures.

In the paper every selected structure is labelled by DFT (Methods, "Reference data").
:func:`label_structures` labels with any ASE calculator — a DFT code for production, or
one of the cheap empirical *toy references* of :data:`TOY_REFERENCES` for a protocol
that runs in minutes on a laptop. Either way the labels go on copies of the structures,
under the keys gap_fit reads (:data:`~gapexplore.core.keys.REF_ENERGY`, ``REF_FORCES``,
``REF_VIRIAL``), and a structure whose calculation fails is recorded as failed
(:data:`~gapexplore.core.keys.LABEL_ERROR`) while the rest of the batch goes on.

The reference itself is anything :func:`~gapexplore.label.as_reference` takes (a name,
``"module:function"``, a function, a calculator, a :class:`~gapexplore.label.Reference`).

Conventions
-----------
* Energy: ``get_potential_energy()`` of the calculator [eV].
* Forces: ``get_forces(apply_constraint=False)`` [eV/Å], so ASE constraints on a
  structure do not zero the reference forces.
* Virial: W = −V σ [eV] as a 3×3 array, where σ is ASE's stress (σ = (1/V) ∂E/∂ε,
  ``get_stress(voigt=False)``) and V the cell volume [Å³]; so W = −∂E/∂ε, gap_fit's
  convention. Only for cells periodic in all three directions. extxyz stores it as nine
  numbers; ``numpy.reshape(info[REF_VIRIAL], (3, 3))`` restores the matrix.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from gapexplore.core import keys
from gapexplore.core.checks import check_int, check_real, check_structures, fail
from gapexplore.core.errors import InvalidParameterError, reraise_interrupt
from gapexplore.core.geometry import shortest_distance_below
from gapexplore.core.parallel import TaskTimedOut, map_ordered
from gapexplore.label.protocol import CalculatorReference, FactoryReference, Reference
from gapexplore.label.references import as_reference, cached_calculator

__all__ = ["label_structures", "split_labelled"]

log = logging.getLogger(__name__)

#: Result names of ASE and extxyz that a labelled copy must not carry over from its input
#: (e.g. the energy of a GAP relaxation): labels live under the ``REF_*`` keys only.
_STALE_RESULTS = ("energy", "free_energy", "energies", "forces", "stress", "stresses", "virial")
_LABEL_KEYS_INFO = (keys.REF_ENERGY, keys.REF_VIRIAL, keys.REF_NAME, keys.LABEL_ERROR)
_LABEL_KEYS_ARRAYS = (keys.REF_FORCES,)
_MAX_REASON = 300  # characters of an error message kept in LABEL_ERROR
_DISTANCE_TOLERANCE = 1e-6  # Å: distances this close to a limit count as at it


def label_structures(structures: Iterable[Atoms], reference, *, name: str | None = None,
                     elements: Iterable[str] | None = None,
                     min_distance: float | None = None, virial: bool = True,
                     executor: Executor | None = None, n_jobs: int = 1,
                     progress: bool = False, on_label: Callable | None = None,
                     timeout: float | None = None, isolate: bool = False) -> list[Atoms]:
    """Reference energies, forces and virials of ``structures``, on copies.

    Parameters
    ----------
    structures : iterable of ase.Atoms
        Structures to label; they are not modified.
    reference : str, callable or ase Calculator
        What computes the labels:

        * a name from :data:`NAMED_REFERENCES` (e.g. ``"sw-si"``, ``"chgnet"`` or
          ``"gpaw"``);
        * a function of no arguments returning an ASE calculator (e.g. one that sets up
          VASP or GPAW); it is called once per call of this function in each process
          that labels, and its calculator is reused for the structures of that process.
          To run in worker processes it must be picklable: a module-level function, or
          a :func:`functools.partial` of one;
        * an ASE calculator instance: used as it is in this process, or pickled to the
          workers when they are used (matscipy's calculators cannot be pickled: pass
          their name or a function instead).
    name : str, optional
        Recorded as ``REF_NAME``. Default: the toy reference's name, the function's
        name, or the calculator's class name.
    elements : iterable of str, optional
        Chemical symbols the reference covers; a structure with another element is
        recorded as failed. Default: the named reference's elements; for a function or a
        calculator, any element.
    min_distance : float, optional
        Shortest interatomic distance [Å], periodic images included, below which a
        structure is recorded as failed rather than computed. 0 turns the check off.
        Default: the reference's own — for a surrogate, 0.6 × the sum of the covalent
        radii, for GPAW 0.5 × (:meth:`PackagedReference.min_distance`); otherwise 0.5 Å
        (:data:`DEFAULT_MIN_DISTANCE`).
    virial : bool
        Compute the virial of cells periodic in three directions (needs the calculator's
        stress). Non-periodic and partly periodic structures never get one.
    executor : concurrent.futures.Executor, optional
        Where the calculations run, one task per structure (see
        :func:`gapexplore.core.parallel.map_ordered`). Default: this process when ``n_jobs``
        is 1, otherwise ``n_jobs`` local processes.
    n_jobs : int
        Number of local worker processes when no ``executor`` is given. The labels do
        not depend on it.
    progress : bool
        Show a progress bar.
    on_label : callable, optional
        Called with each labelled (or failed) copy the moment its calculation ends, in
        completion order: store it there, and an interrupted run keeps every calculation
        that had finished (a DFT label computed once is never computed again).
    timeout : float, optional
        Wall-time limit of one calculation [s]; a calculation over it is stopped (its
        worker process is killed) and recorded as failed with that reason. It runs the
        calculations in worker processes, so the reference must be picklable. A worker
        process that dies during a calculation (a segfault, an MPI abort, the OOM killer)
        is handled the same way: the structure is tried again alone, and recorded as
        failed if it kills its worker again. Default: no limit.
    isolate : bool
        With ``n_jobs`` 1 and no ``executor``, still compute in a worker process when the
        reference can be pickled, so that a calculation that kills its process is recorded
        as failed instead of ending the caller. A reference that cannot be pickled (a
        calculator made in a notebook) is then computed in this process.

    Returns
    -------
    list of ase.Atoms
        Copies of ``structures`` in the same order, with no calculator attached and no
        ``energy``/``forces``/``stress`` results carried over from the input. Each copy
        carries either the labels — ``info[REF_ENERGY]`` [eV], ``arrays[REF_FORCES]``
        [eV/Å], ``info[REF_VIRIAL]`` [eV] (3×3, −stress × volume; periodic cells only)
        and ``info[REF_NAME]`` — or ``info[LABEL_ERROR]``, a one-line reason, and no
        ``REF_*`` value. A failure is one of: an element the reference does not cover,
        atoms closer than ``min_distance``, an exception from the calculator, or a
        non-finite energy, force or virial. Each failure is also logged as a warning.
        Use :func:`split_labelled` to separate the two.

    Raises
    ------
    InvalidParameterError
        For an unknown reference name, a bad parameter, or a reference that cannot be
        sent to worker processes; checked before any calculation.

    Examples
    --------
    >>> from ase.build import bulk
    >>> [si] = label_structures([bulk("Si", "diamond", a=5.431)], "sw-si")
    >>> round(si.info["REF_energy"] / len(si), 4)
    -4.3366
    """
    where = "label_structures"
    structures = check_structures(structures, "structures", where)
    task = _Task(as_reference(reference, name=name, elements=elements, where=where),
                 None if min_distance is None
                 else check_real(min_distance, "min_distance", where, low=0.0),
                 bool(virial))
    n_jobs = check_int(n_jobs, "n_jobs", where, low=1)
    if timeout is not None:
        timeout = check_real(timeout, "timeout", where, low=0.0, low_open=True)
    if on_label is not None and not callable(on_label):
        raise fail("on_label", where, "a callable of one ase.Atoms or None", on_label)
    bare = [_bare_copy(atoms) for atoms in structures]
    out = [None] * len(bare)

    def arrived(index: int, label) -> None:
        if not isinstance(label, _Label):  # the task's worker died or overran its limit
            what = ("the calculation ran too long" if isinstance(label, TaskTimedOut)
                    else "the calculation killed the process that ran it")
            label = _Label(error=_one_line(f"{what}: {type(label).__name__}: {label}"))
        atoms = bare[index]
        if label.error is not None:
            log.warning("Reference %r failed on structure %d (%s): %s", task.name, index,
                        atoms.get_chemical_formula(), label.error)
        out[index] = label.apply(atoms, task.name)
        if on_label is not None:
            on_label(out[index])

    local = executor is None and n_jobs == 1 and timeout is None
    if local and isolate:
        local = not task.picklable()
    if not local and (executor is None or isinstance(executor, ProcessPoolExecutor)):
        task.check_picklable(where)
    map_ordered(task, bare, executor=None if local else executor, n_jobs=n_jobs,
                progress=progress, desc="labelling", return_killed=True,
                on_result=arrived, timeout=timeout, isolate=not local)
    return out


def split_labelled(structures: Iterable[Atoms]) -> tuple[list[Atoms], list[Atoms]]:
    """Separate labelled structures from failed and unlabelled ones, keeping their order.

    Returns
    -------
    labelled : list of ase.Atoms
        Structures with a ``REF_ENERGY`` and no ``LABEL_ERROR``.
    failed : list of ase.Atoms
        All others: those with a ``LABEL_ERROR``, and any never labelled.
    """
    labelled, failed = [], []
    for atoms in structures:
        ok = keys.REF_ENERGY in atoms.info and keys.LABEL_ERROR not in atoms.info
        (labelled if ok else failed).append(atoms)
    return labelled, failed


# --- the reference, as it travels to the workers --------------------------------------------


@dataclass(frozen=True)
class _Task:
    """Label one structure (picklable: what a worker needs)."""

    reference: Reference
    min_distance: float | None  # [Å]; None: the reference's own
    virial: bool

    @property
    def name(self) -> str:
        return self.reference.name

    def __call__(self, atoms: Atoms) -> _Label:
        return _label(self, atoms)

    def picklable(self) -> bool:
        try:
            pickle.dumps(self)
        except Exception:
            return False
        return True

    def check_picklable(self, where: str) -> None:
        try:
            pickle.dumps(self)
        except Exception as exc:
            what = {CalculatorReference: "calculator", FactoryReference: "function"}.get(
                type(self.reference), "reference")
            raise InvalidParameterError(
                f"The 'reference' parameter of {where} must be picklable to be sent to "
                f"worker processes. This {what} is not ({type(exc).__name__}: {exc}). "
                "Pass a module-level function that returns the calculator, or n_jobs=1."
            ) from None


# --- one structure ---------------------------------------------------------------------------


@dataclass
class _Label:
    """The outcome for one structure: the labels, or why there are none."""

    energy: float | None = None
    forces: np.ndarray | None = None
    virial: np.ndarray | None = None
    error: str | None = None

    def apply(self, atoms: Atoms, name: str) -> Atoms:
        if self.error is not None:
            atoms.info[keys.LABEL_ERROR] = self.error
            return atoms
        atoms.info[keys.REF_ENERGY] = self.energy
        atoms.arrays[keys.REF_FORCES] = self.forces
        if self.virial is not None:
            atoms.info[keys.REF_VIRIAL] = self.virial
        atoms.info[keys.REF_NAME] = name
        return atoms


def _label(task: _Task, atoms: Atoms) -> _Label:
    """Label one structure; never raises (an ``Exception`` becomes the failure reason)."""
    reason = _refusal(task, atoms)
    if reason is not None:
        return _Label(error=reason)
    calculator = None
    try:
        calculator = cached_calculator(task.reference)
        work = atoms.copy()
        work.calc = calculator
        energy = float(work.get_potential_energy())
        forces = np.array(work.get_forces(apply_constraint=False), dtype=float)
        vir = None
        if task.virial and work.pbc.all():
            vir = -work.get_volume() * np.array(work.get_stress(voigt=False), dtype=float)
    except Exception as exc:  # any failure of the reference is recorded, not raised
        reraise_interrupt(exc)    # but Ctrl-C under quippy stops the run
        if calculator is not None and hasattr(calculator, "reset"):
            calculator.reset()  # drop partial results before the next structure
        return _Label(error=_one_line(f"{type(exc).__name__}: {exc}"))
    if forces.shape != (len(atoms), 3):
        return _Label(error=f"forces of shape {forces.shape}, expected ({len(atoms)}, 3)")
    for what, value in (("energy", energy), ("forces", forces), ("virial", vir)):
        if value is not None and not np.all(np.isfinite(value)):
            return _Label(error=f"non-finite {what} from the reference")
    return _Label(energy=energy, forces=forces, virial=vir)


def _refusal(task: _Task, atoms: Atoms) -> str | None:
    """Why ``atoms`` must not be computed by this reference, or None."""
    covered = task.reference.elements
    if covered is not None:
        missing = sorted(set(atoms.get_chemical_symbols()) - set(covered))
        if missing:
            return (f"element(s) {', '.join(missing)} not covered by reference {task.name!r}"
                    f" (covers {', '.join(sorted(covered))})")
    limit = task.min_distance
    if limit is None:  # the reference's own limit, from the elements present
        limit = task.reference.min_distance(atoms)
    if limit > 0 and len(atoms):
        # "closer than": a dimer built at exactly the limit (GPAW's 1.0 r) is computed
        shortest = shortest_distance_below(atoms, limit - _DISTANCE_TOLERANCE)
        if shortest is not None:
            return (f"atoms {shortest:.3f} Å apart, closer than min_distance "
                    f"{limit:.3g} Å")
    return None


def _bare_copy(atoms: Atoms) -> Atoms:
    """A copy with no calculator, no stale results and no earlier labels."""
    copy = atoms.copy()  # Atoms.copy() does not copy the calculator
    for key in _STALE_RESULTS + _LABEL_KEYS_INFO:
        copy.info.pop(key, None)
    for key in _STALE_RESULTS + _LABEL_KEYS_ARRAYS:
        if key in copy.arrays:
            del copy.arrays[key]
    return copy


def _one_line(text: str) -> str:
    """``text`` on one line without double quotes (it must survive extxyz), shortened."""
    text = " ".join(text.replace('"', "'").split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."
