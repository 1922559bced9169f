"""The :class:`Reference` protocol: what labels structures, whatever it is.

A reference has a ``name``, the ``elements`` it covers, a default ``timeout``, a
``cache_key``, a method ``calculator()`` that makes a new ASE calculator and a method
``min_distance(atoms)`` (closer atoms are not computed). The named references
(:mod:`gapexplore.label.named`) and the two wrappers here — a function returning a
calculator, a calculator instance — all satisfy it; :func:`gapexplore.label.as_reference`
turns anything a user may pass into one.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from gapexplore.core.errors import ReferenceFailed

__all__ = ["Reference", "FactoryReference", "CalculatorReference", "DEFAULT_MIN_DISTANCE",
           "DEFAULT_REFERENCE_TIMEOUT"]

#: Default shortest interatomic distance [Å] below which a structure is not labelled.
#: Empirical and universal potentials turn unphysical at short range (matscipy's SW has no
#: repulsive wall below its fit; universal ML potentials turn attractive near 1 Å), and
#: DFT with pseudopotentials fails when cores overlap; 0.5 Å is below any real bond.
DEFAULT_MIN_DISTANCE = 0.5

#: Default wall-time limit of one toy or surrogate reference calculation [s]: those take
#: milliseconds to seconds, so one that runs ten minutes hangs.
DEFAULT_REFERENCE_TIMEOUT = 600.0


@runtime_checkable
class Reference(Protocol):
    """What labels structures (see the module docstring).

    Attributes
    ----------
    name : str
        Recorded on every label as ``REF_NAME``.
    elements : tuple of str or None
        Chemical symbols covered (None: any); other structures are refused.
    timeout : float or None
        Default wall-time limit of one calculation [s] (None: none).
    cache_key : hashable or None
        Key of the calculator a process keeps (:func:`cached_calculator`); None for a
        calculator instance, which is used as it is.
    """

    name: str
    elements: tuple | None
    timeout: float | None

    @property
    def cache_key(self):
        """Key of the calculator a process keeps; None for an instance used as it is."""

    def calculator(self) -> BaseCalculator:
        """A new ASE calculator (energy [eV], forces [eV/Å], stress [eV/Å³])."""

    def min_distance(self, atoms: Atoms) -> float:
        """Shortest interatomic distance [Å] computed for the elements of ``atoms``."""


@dataclass(frozen=True)
class FactoryReference:
    """A function (or class) of no arguments that returns an ASE calculator.

    Each process that labels calls it once and reuses the calculator (one per Reference:
    a function redefined in a notebook under the same name gets a new one). To run in
    worker processes it must be picklable: a module-level function, or a
    :func:`functools.partial` of one.
    """

    function: object
    name: str
    elements: tuple | None = None
    timeout: float | None = None
    key: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def cache_key(self):
        """Key of the calculator a process keeps (:func:`~gapexplore.label.cached_calculator`)."""
        return ("factory", self.key)

    def calculator(self) -> BaseCalculator:
        """The function's calculator; ReferenceFailed if it returns something else."""
        calculator = self.function()
        if not isinstance(calculator, BaseCalculator):
            raise ReferenceFailed(f"the reference function returned "
                                  f"{type(calculator).__name__}, not an ASE calculator")
        return calculator

    def min_distance(self, atoms: Atoms) -> float:
        """:data:`DEFAULT_MIN_DISTANCE` [Å]."""
        return DEFAULT_MIN_DISTANCE


@dataclass(frozen=True)
class CalculatorReference:
    """An ASE calculator instance: used as it is in this process, pickled to workers
    (matscipy's calculators cannot be pickled: pass their name or a function instead)."""

    instance: BaseCalculator
    name: str
    elements: tuple | None = None
    timeout: float | None = None
    cache_key = None

    def calculator(self) -> BaseCalculator:
        """The instance itself."""
        return self.instance

    def min_distance(self, atoms: Atoms) -> float:
        """:data:`DEFAULT_MIN_DISTANCE` [Å]."""
        return DEFAULT_MIN_DISTANCE
