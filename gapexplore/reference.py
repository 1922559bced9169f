"""Reference labelling: energies, forces and virials of the selected structures.

In the paper every selected structure is labelled by DFT (Methods, "Reference data").
:func:`label_structures` labels with any ASE calculator — a DFT code for production, or
one of the cheap empirical *toy references* of :data:`TOY_REFERENCES` for a protocol
that runs in minutes on a laptop. Either way the labels go on copies of the structures,
under the keys gap_fit reads (:data:`~gapexplore.keys.REF_ENERGY`, ``REF_FORCES``,
``REF_VIRIAL``), and a structure whose calculation fails is recorded as failed
(:data:`~gapexplore.keys.LABEL_ERROR`) while the rest of the batch goes on.

Toy references
--------------
The toy references are matscipy's many-body calculators (``matscipy.calculators.manybody``)
with published parameter sets. matscipy applies its parameters to any element it is
given — Stillinger–Weber and Kumagai treat every atom as Si, and the Tersoff table maps
unknown light elements onto carbon — so each toy reference here lists the elements it
covers, and a structure with any other element is recorded as failed.

Surrogate references
--------------------
:data:`SURROGATE_REFERENCES` are universal machine-learned potentials that ship their
weights inside their wheel and so run offline: ``"chgnet"`` (CHGNet 0.3.0, trained on the
Materials Project's PBE/PBE+U relaxations; elements 1–94). They behave like DFT for the
paper's own chemistries (B, C, Si, Ti) at a fraction of its cost. They are an optional
extra: ``pip install torch==2.13.0`` (the CPU build), then ``pip install -e ".[surrogate]"``.
Universal potentials turn attractive at very short range (CHGNet's Si–Si dimer energy
falls again below about 1.1 Å), so a surrogate refuses any structure with two atoms closer
than a fraction (0.6) of the sum of their covalent radii — Si–Si 1.33 Å, C–C 0.91 Å,
B–B 1.01 Å, Ti–Ti 1.92 Å — and records it as a failed label with that reason. Of the 21
dimers of iteration 0 (1.0 r to 4.5 r), the one or two shortest are refused that way.

DFT references
--------------
:data:`DFT_REFERENCES` name GPAW (plane waves, PBE, PAW setups from ``gpaw-data``; see
:mod:`gapexplore.dft`): ``"gpaw"`` at the per-element settings for B, C, Si and Ti, and
``"gpaw-low"`` at a cheap preset for demonstrations. They are an optional install
(``make gpaw``) and refuse atoms closer than half the sum of their covalent radii.

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

import importlib
import importlib.util
import logging
import pickle
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from . import keys
from ._checks import check_int, check_real, fail
from .errors import InvalidParameterError, ReferenceFailed
from .generate import shortest_distance_below
from .parallel import TaskTimedOut, map_ordered

__all__ = [
    "ToyReference",
    "TOY_REFERENCES",
    "PackagedReference",
    "SURROGATE_REFERENCES",
    "DFT_REFERENCES",
    "NAMED_REFERENCES",
    "DEFAULT_TOY_REFERENCES",
    "DEFAULT_MIN_DISTANCE",
    "default_reference",
    "reference_calculator",
    "reference_min_distance",
    "label_structures",
    "split_labelled",
]

log = logging.getLogger(__name__)

#: Default shortest interatomic distance [Å] below which a structure is not labelled.
#: Empirical and universal potentials turn unphysical at short range (matscipy's SW has no
#: repulsive wall below its fit; universal ML potentials turn attractive near 1 Å), and
#: DFT with pseudopotentials fails when cores overlap; 0.5 Å is below any real bond.
DEFAULT_MIN_DISTANCE = 0.5

#: Result names of ASE and extxyz that a labelled copy must not carry over from its input
#: (e.g. the energy of a GAP relaxation): labels live under the ``REF_*`` keys only.
_STALE_RESULTS = ("energy", "free_energy", "energies", "forces", "stress", "stresses", "virial")
_LABEL_KEYS_INFO = (keys.REF_ENERGY, keys.REF_VIRIAL, keys.REF_NAME, keys.LABEL_ERROR)
_LABEL_KEYS_ARRAYS = (keys.REF_FORCES,)
_MAX_REASON = 300  # characters of an error message kept in LABEL_ERROR
_DISTANCE_TOLERANCE = 1e-6  # Å: distances this close to a limit count as at it


@dataclass(frozen=True)
class ToyReference:
    """An empirical potential from matscipy, used as a stand-in for DFT.

    Parameters
    ----------
    name : str
        Key in :data:`TOY_REFERENCES`, recorded as ``REF_NAME``.
    elements : tuple of str
        Chemical symbols the parameter set covers; any other element is refused.
    form : str
        Functional form in ``matscipy.calculators.manybody.explicit_forms``, as
        ``"module:function"``.
    parameters : str
        Name of the parameter set (a dict) in the same module.
    citation : str
        Where the parameters were published.
    """

    name: str
    elements: tuple[str, ...]
    form: str
    parameters: str
    citation: str

    def calculator(self):
        """A new matscipy ``Manybody`` calculator with these parameters."""
        from matscipy.calculators.manybody import Manybody

        module_name, function = self.form.split(":")
        module = importlib.import_module(
            f"matscipy.calculators.manybody.explicit_forms.{module_name}")
        return Manybody(**getattr(module, function)(getattr(module, self.parameters)))


_TERSOFF_1989 = "J. Tersoff, Phys. Rev. B 39, 5566 (1989)"

#: The toy references by name. Energies of the diamond structure [eV/atom], as computed
#: by these calculators: sw-si −4.3366 (a = 5.431 Å), kumagai-si −4.630 (5.429 Å),
#: tersoff-si −4.630 (5.432 Å), tersoff-c −7.3705 (3.567 Å); tersoff-sic gives
#: zincblende SiC −6.165 (4.32 Å). In Tersoff's Si–C set the element is looked up by
#: atomic number (C → carbon parameters, Si → silicon, C–Si mixed).
TOY_REFERENCES: dict[str, ToyReference] = {ref.name: ref for ref in (
    ToyReference("sw-si", ("Si",), "stillinger_weber:StillingerWeber",
                 "Stillinger_Weber_PRB_31_5262_Si",
                 "F. H. Stillinger and T. A. Weber, Phys. Rev. B 31, 5262 (1985)"),
    ToyReference("kumagai-si", ("Si",), "kumagai:Kumagai", "Kumagai_Comp_Mat_Sci_39_Si",
                 "T. Kumagai et al., Comput. Mater. Sci. 39, 457 (2007)"),
    ToyReference("tersoff-si", ("Si",), "tersoff_brenner:TersoffBrenner",
                 "Tersoff_PRB_39_5566_Si_C", _TERSOFF_1989),
    ToyReference("tersoff-c", ("C",), "tersoff_brenner:TersoffBrenner",
                 "Tersoff_PRB_39_5566_Si_C", _TERSOFF_1989),
    ToyReference("tersoff-sic", ("C", "Si"), "tersoff_brenner:TersoffBrenner",
                 "Tersoff_PRB_39_5566_Si_C", _TERSOFF_1989),
)}

#: The toy reference used for an element when none is named.
DEFAULT_TOY_REFERENCES: dict[str, str] = {"Si": "sw-si", "C": "tersoff-c"}


@dataclass(frozen=True)
class PackagedReference:
    """A reference that lives in an optional package: a surrogate or a DFT code.

    Parameters
    ----------
    name : str
        Key in :data:`NAMED_REFERENCES`, recorded as ``REF_NAME``.
    modules : tuple of str
        The modules that must be importable (the optional extra).
    loader : str
        ``"module:callable"`` that returns a new ASE calculator when called with
        ``options`` as keyword arguments.
    install : str
        What to run when a module is missing.
    citation : str
        Where the model or code was published.
    bond_fraction : float
        Atoms closer than this fraction of the sum of their covalent radii are not
        computed (see :meth:`min_distance`).
    elements : tuple of str or None
        Chemical symbols it covers (None: any); a structure with another element is
        refused, and an exploration of another element is refused before it starts.
    options : tuple of (str, object) pairs
        Keyword arguments of ``loader``.
    """

    name: str
    modules: tuple
    loader: str
    install: str
    citation: str
    bond_fraction: float = 0.6
    elements: tuple | None = None
    options: tuple = ()

    def available(self) -> bool:
        """Whether the packages are installed."""
        return all(importlib.util.find_spec(m) is not None for m in self.modules)

    def calculator(self):
        """A new ASE calculator."""
        module_name, function = self.loader.split(":")
        return getattr(importlib.import_module(module_name), function)(**dict(self.options))

    def min_distance(self, atoms: Atoms) -> float:
        """Shortest distance [Å] the reference describes sensibly for the elements of
        ``atoms``: ``bond_fraction`` × the smallest sum of two covalent radii among them."""
        from ase.data import covalent_radii

        radii = covalent_radii[np.unique(atoms.numbers)]
        return float(self.bond_fraction * 2 * radii.min()) if len(radii) else 0.0


def chgnet_calculator():
    """CHGNet 0.3.0 (weights from the installed wheel) as an ASE calculator on the CPU.

    Uses as many torch threads as ``OMP_NUM_THREADS`` says (1 if unset): worker processes
    must not oversubscribe the cores.
    """
    import contextlib
    import io
    import os
    import warnings

    import torch
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    # CHGNet prints its parameter count and device on every load, whatever ``verbose``
    # says: once per worker process, into the logs of long runs
    chatter = contextlib.redirect_stdout(io.StringIO())
    with warnings.catch_warnings(), chatter:
        warnings.simplefilter("ignore")
        model = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)

    class CHGNetWithFreeEnergy(CHGNetCalculator):
        """CHGNet with ``free_energy`` (= energy, no smearing), which ASE's cell filters
        ask for; without it every relaxation with CHGNet fails at its first step."""

        implemented_properties = [*CHGNetCalculator.implemented_properties, "free_energy"]

        def calculate(self, atoms=None, properties=None, system_changes=None):
            properties = [p for p in (properties or ["energy"]) if p != "free_energy"]
            kwargs = {} if system_changes is None else {"system_changes": system_changes}
            with warnings.catch_warnings():   # torch on CHGNet's volume tensor, harmless
                warnings.filterwarnings("ignore", message="Converting a tensor with "
                                        "requires_grad=True to a scalar")
                super().calculate(atoms, properties or ["energy"], **kwargs)
            self.results["free_energy"] = self.results["energy"]

    # an isolated atom (the GAP's e0) has no neighbours: CHGNet's energy for it is its
    # composition term alone; it is computed without a warning
    with contextlib.redirect_stdout(io.StringIO()):
        return CHGNetWithFreeEnergy(model, use_device="cpu", on_isolated_atoms="ignore")


#: Universal-potential references by name (optional extra ``surrogate``).
SURROGATE_REFERENCES: dict[str, PackagedReference] = {ref.name: ref for ref in (
    PackagedReference(
        "chgnet", ("chgnet",), "gapexplore.reference:chgnet_calculator",
        'pip install torch==2.13.0 && pip install -e ".[surrogate]"',
        "B. Deng et al., Nat. Mach. Intell. 5, 1031 (2023)"),
)}

_GPAW_CITATION = "J. J. Mortensen et al., J. Chem. Phys. 160, 092503 (2024)"

#: DFT references by name (GPAW, plane waves, PBE; ``make gpaw``): ``"gpaw"`` at the
#: per-element settings of :data:`gapexplore.dft.ELEMENT_SETTINGS` (B, C, Si, Ti) and
#: ``"gpaw-low"`` at the low test preset (200 eV, k-spacing 0.8 Å⁻¹: for demonstrations and
#: tests, not for science). Atoms closer than 0.5 × the sum of their covalent radii (Si–Si
#: 1.11 Å, C–C 0.76 Å, B–B 0.84 Å, Ti–Ti 1.60 Å) are not computed: there the PAW spheres
#: of the setups overlap by far more than the setups were built for.
DFT_REFERENCES: dict[str, PackagedReference] = {ref.name: ref for ref in (
    PackagedReference(name, ("gpaw", "gpaw_data"), "gapexplore.dft:GPAWReference",
                      "make gpaw (builds GPAW 26.7.0 with FFTW and OpenBLAS into .venv)",
                      _GPAW_CITATION, bond_fraction=0.5, elements=("B", "C", "Si", "Ti"),
                      options=(("preset", preset),))
    for name, preset in (("gpaw", "paper"), ("gpaw-low", "low"))
)}

#: Every reference that can be named: the toy references, the surrogates and GPAW.
NAMED_REFERENCES: dict = {**TOY_REFERENCES, **SURROGATE_REFERENCES, **DFT_REFERENCES}


def default_reference(element: str) -> str:
    """Name of the default toy reference for ``element`` (Si: ``"sw-si"``, C: ``"tersoff-c"``).

    Raises
    ------
    InvalidParameterError
        If no toy reference is the default for ``element``; pass a calculator instead.
    """
    if element not in DEFAULT_TOY_REFERENCES:
        known = ", ".join(repr(e) for e in DEFAULT_TOY_REFERENCES)
        raise fail("element", "default_reference",
                   f"one of {known} (no toy reference covers other elements; give an ASE "
                   "calculator or a function returning one instead)", element)
    return DEFAULT_TOY_REFERENCES[element]


def reference_calculator(name: str):
    """A new ASE calculator for the named reference ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`NAMED_REFERENCES`, e.g. ``"sw-si"`` or ``"chgnet"``.

    Returns
    -------
    ase.calculators.calculator.Calculator
        For a toy reference, a matscipy ``Manybody`` calculator (energy [eV], forces
        [eV/Å], stress [eV/Å³]). It does not check elements or distances:
        :func:`label_structures` does.

    Raises
    ------
    InvalidParameterError
        For a name not in :data:`NAMED_REFERENCES` (the message lists the known names),
        or a surrogate or DFT reference whose package is not installed (the message says
        how to install it).
    """
    return _named(name, "reference_calculator").calculator()


def reference_min_distance(reference, element: str) -> float:
    """Shortest interatomic distance [Å] that :func:`label_structures` computes for
    ``element`` with ``reference`` by default: closer atoms are refused.

    Parameters
    ----------
    reference : str, callable or ASE calculator
        As for :func:`label_structures`.
    element : str
        Chemical symbol.

    Returns
    -------
    float
        For a surrogate or GPAW, its own limit (a fraction of twice the covalent radius,
        :meth:`PackagedReference.min_distance`); otherwise :data:`DEFAULT_MIN_DISTANCE`.
    """
    if isinstance(reference, str):
        named = _named(reference, "reference_min_distance", parameter="reference")
        if isinstance(named, PackagedReference):
            return named.min_distance(Atoms(element))
    return DEFAULT_MIN_DISTANCE


def label_structures(structures: Iterable[Atoms], reference, *, name: str | None = None,
                     elements: Iterable[str] | None = None,
                     min_distance: float | None = None, virial: bool = True,
                     executor: Executor | None = None, n_jobs: int = 1,
                     progress: bool = False, on_label: Callable | None = None,
                     timeout: float | None = None) -> list[Atoms]:
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
        :func:`gapexplore.parallel.map_ordered`). Default: this process when ``n_jobs``
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
    structures = list(structures)
    for index, atoms in enumerate(structures):
        if not isinstance(atoms, Atoms):
            raise fail("structures", where, "a list of ase.Atoms",
                       f"{type(atoms).__name__} at position {index}")
    spec = _ReferenceSpec.build(reference, name, elements, where)
    if min_distance is not None:
        spec.min_distance = check_real(min_distance, "min_distance", where, low=0.0)
    spec.virial = bool(virial)
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
                    else "the calculation killed its worker process every time it ran")
            label = _Label(error=_one_line(f"{what}: {type(label).__name__}: {label}"))
        atoms = bare[index]
        if label.error is not None:
            log.warning("Reference %r failed on structure %d (%s): %s", spec.name, index,
                        atoms.get_chemical_formula(), label.error)
        out[index] = label.apply(atoms, spec.name)
        if on_label is not None:
            on_label(out[index])

    if executor is None and n_jobs == 1 and timeout is None:
        calculator = _Once(spec.make_calculator)
        map_ordered(partial(_label, spec, calculator), bare, progress=progress,
                    desc="labelling", on_result=arrived)
    else:
        if executor is None or isinstance(executor, ProcessPoolExecutor):
            spec.check_picklable(where)
        map_ordered(partial(_label_in_worker, spec), bare, executor=executor,
                    n_jobs=n_jobs, progress=progress, desc="labelling",
                    return_killed=True, on_result=arrived,
                    timeout=timeout if executor is None else None)
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

class _ReferenceSpec:
    """What a worker needs to label: how to get the calculator, and the checks."""

    def __init__(self, kind: str, payload, name: str, elements, cache_key):
        self.kind, self.payload, self.name = kind, payload, name
        self.elements = elements            # frozenset of symbols, or None for any
        self.cache_key = cache_key          # key of the per-process calculator cache
        self.min_distance = None if kind == "packaged" else DEFAULT_MIN_DISTANCE
        self.virial = True

    @classmethod
    def build(cls, reference, name, elements, where: str) -> "_ReferenceSpec":
        if isinstance(reference, str):
            toy = _named(reference, where, parameter="reference")
            if isinstance(toy, PackagedReference):
                kind, default_name, default_elements = "packaged", toy.name, toy.elements
            else:
                kind, default_name, default_elements = "toy", toy.name, toy.elements
            cache_key = (kind, toy.name)
        elif isinstance(reference, BaseCalculator):
            kind, default_name, default_elements = "calculator", type(reference).__name__, None
            cache_key = None
        elif callable(reference):
            kind, default_elements = "factory", None
            default_name = getattr(reference, "__qualname__", None) or type(reference).__name__
            # One calculator per process and call: a function redefined in a notebook under
            # the same name must not meet its old calculator in a long-lived worker.
            cache_key = ("factory", uuid.uuid4().hex)
        else:
            raise fail("reference", where, "a toy reference name, a function returning an "
                       "ASE calculator, or an ASE calculator", reference)
        if name is None:
            name = default_name
        elif not isinstance(name, str) or not name:
            raise fail("name", where, "a non-empty str or None", name)
        if elements is None:
            elements = default_elements
        elif isinstance(elements, str):
            raise fail("elements", where, "a list of chemical symbols such as ['Si']",
                       elements)
        else:
            elements = tuple(elements)
            from ase.data import atomic_numbers

            if not elements or any(e not in atomic_numbers or e == "X" for e in elements):
                raise fail("elements", where, "a list of chemical symbols such as ['Si']",
                           list(elements))
        elements = None if elements is None else frozenset(elements)
        return cls(kind, toy if kind in ("toy", "packaged") else reference, name, elements,
                   cache_key)

    def make_calculator(self):
        """A calculator for this process: the toy's, the factory's, or the instance."""
        if self.kind in ("toy", "packaged"):
            return self.payload.calculator()
        if self.kind == "factory":
            calculator = self.payload()
            if not isinstance(calculator, BaseCalculator):
                raise ReferenceFailed(f"the reference function returned "
                                      f"{type(calculator).__name__}, not an ASE calculator")
            return calculator
        return self.payload

    def check_picklable(self, where: str) -> None:
        try:
            pickle.dumps(self)
        except Exception as exc:
            what = {"calculator": "calculator", "factory": "function"}.get(self.kind, "reference")
            raise InvalidParameterError(
                f"The 'reference' parameter of {where} must be picklable to be sent to "
                f"worker processes. This {what} is not ({type(exc).__name__}: {exc}). "
                "Pass a module-level function that returns the calculator, or n_jobs=1."
            ) from None


class _Once:
    """Call ``factory`` on first use and keep the result (the serial path's cache)."""

    def __init__(self, factory: Callable):
        self.factory, self.value = factory, None

    def __call__(self):
        if self.value is None:
            self.value = self.factory()
        return self.value


#: Calculators built in this process, by the reference's cache key (a worker's cache).
_PROCESS_CALCULATORS: dict = {}
_MAX_CACHED = 4


def _cached_calculator(spec: _ReferenceSpec):
    if spec.cache_key is None:
        return spec.make_calculator()  # an instance: this process's unpickled copy
    if spec.cache_key not in _PROCESS_CALCULATORS:
        while len(_PROCESS_CALCULATORS) >= _MAX_CACHED:
            _PROCESS_CALCULATORS.pop(next(iter(_PROCESS_CALCULATORS)))
        _PROCESS_CALCULATORS[spec.cache_key] = spec.make_calculator()
    return _PROCESS_CALCULATORS[spec.cache_key]


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


def _label_in_worker(spec: _ReferenceSpec, atoms: Atoms) -> _Label:
    return _label(spec, partial(_cached_calculator, spec), atoms)


def _label(spec: _ReferenceSpec, get_calculator: Callable, atoms: Atoms) -> _Label:
    """Label one structure; never raises (an ``Exception`` becomes the failure reason)."""
    reason = _refusal(spec, atoms)
    if reason is not None:
        return _Label(error=reason)
    calculator = None
    try:
        calculator = get_calculator()
        work = atoms.copy()
        work.calc = calculator
        energy = float(work.get_potential_energy())
        forces = np.array(work.get_forces(apply_constraint=False), dtype=float)
        vir = None
        if spec.virial and work.pbc.all():
            vir = -work.get_volume() * np.array(work.get_stress(voigt=False), dtype=float)
    except Exception as exc:  # any failure of the reference is recorded, not raised
        if calculator is not None and hasattr(calculator, "reset"):
            calculator.reset()  # drop partial results before the next structure
        return _Label(error=_one_line(f"{type(exc).__name__}: {exc}"))
    if forces.shape != (len(atoms), 3):
        return _Label(error=f"forces of shape {forces.shape}, expected ({len(atoms)}, 3)")
    for what, value in (("energy", energy), ("forces", forces), ("virial", vir)):
        if value is not None and not np.all(np.isfinite(value)):
            return _Label(error=f"non-finite {what} from the reference")
    return _Label(energy=energy, forces=forces, virial=vir)


def _refusal(spec: _ReferenceSpec, atoms: Atoms) -> str | None:
    """Why ``atoms`` must not be computed by this reference, or None."""
    if spec.elements is not None:
        missing = sorted(set(atoms.get_chemical_symbols()) - spec.elements)
        if missing:
            return (f"element(s) {', '.join(missing)} not covered by reference {spec.name!r}"
                    f" (covers {', '.join(sorted(spec.elements))})")
    limit = spec.min_distance
    if limit is None:  # a packaged reference's own limit, from the elements present
        limit = spec.payload.min_distance(atoms)
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


def _named(name, where: str, parameter: str = "name"):
    """The toy or packaged reference called ``name``; a packaged one must be installed."""
    if not isinstance(name, str) or name not in NAMED_REFERENCES:
        known = ", ".join(repr(n) for n in NAMED_REFERENCES)
        raise fail(parameter, where, f"one of {known}", name)
    reference = NAMED_REFERENCES[name]
    if isinstance(reference, PackagedReference) and not reference.available():
        raise InvalidParameterError(
            f"The {parameter!r} parameter of {where} names the reference {name!r}, which "
            f"needs the module(s) {', '.join(reference.modules)}: not installed. Install "
            f"with: {reference.install}.")
    return reference
