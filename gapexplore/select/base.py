"""The interface of the selection methods: :class:`Selector`, and what it returns.

As scikit-matter's selectors (``skmatter/_selection.py``) and scikit-learn's estimators:
``__init__`` stores the settings as given, :meth:`Selector.select` checks them against
the constraints each class declares as data (``_parameter_constraints``) and does the
work. The steps every method shares (the Boltzmann-biased flat histogram, the GAP's
predicted errors, the chosen structures' scores in ``info``) are written once here; a
method is a small subclass that fills the hook ``Selector._pick`` (the methods are in
:mod:`.selectors`).
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from ase import Atoms

from gapexplore.core import keys
from gapexplore.core.checks import check_int, check_real, check_rng, check_structures, fail
from gapexplore.core.chemistry import reduced_formula
from gapexplore.core.hull import structure_hull_distance
from gapexplore.fit import predicted_errors
from gapexplore.select.histogram import (
    _check_values,
    flat_histogram_indices,
    flat_histogram_probabilities,
)

__all__ = ["Selection", "Selector", "Task"]


@dataclass
class Selection:
    """What a :class:`Selector` chose, and why.

    Attributes
    ----------
    structures : list of ase.Atoms
        Copies of the chosen candidates, in the order picked, with the scores in ``info``
        (``keys.SELECT_*``).
    indices : numpy.ndarray of int
        Positions of the chosen structures in the candidate list.
    leverage : numpy.ndarray of float
        CUR leverage at the moment each was picked (NaN for the methods without one).
    histogram_probabilities : numpy.ndarray of float or None
        Flat-histogram probability of every candidate, or None without a histogram stage.
    pool : numpy.ndarray of int
        Candidates that the flat histogram passed on to the method (all, without one).
    """

    structures: list
    indices: np.ndarray
    leverage: np.ndarray
    histogram_probabilities: np.ndarray | None
    pool: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Task:
    """What a method chooses from: the candidates the flat histogram passed on.

    Attributes
    ----------
    candidates : list of ase.Atoms
        All candidates (not modified).
    pool : numpy.ndarray of int
        Positions in ``candidates`` of those to choose from.
    database : list of ase.Atoms
        Structures already labelled.
    database_vectors : numpy.ndarray or None
        Their averaged SOAP vectors, if computed before.
    errors : numpy.ndarray or None
        The GAP's predicted error of each pool structure [eV/atom], with a potential.
    where : str
        The function named in error messages.
    """

    candidates: list
    pool: np.ndarray
    database: list
    database_vectors: np.ndarray | None
    errors: np.ndarray | None
    where: str

    @property
    def structures(self) -> list:
        """The pool's structures, in pool order."""
        return [self.candidates[i] for i in self.pool]


def check_bool(value, name: str, where: str) -> bool:
    """Return ``value`` if it is a bool (Python's or numpy's)."""
    if not isinstance(value, bool | np.bool_):
        raise fail(name, where, "a bool", value)
    return bool(value)


def check_file(value, name: str, where: str) -> Path:
    """Return ``value`` as a path if it names an existing file (a GAP's XML)."""
    if value is None:
        raise fail(name, where, "the GAP (an existing XML file) whose predicted errors "
                   "the method ranks by", value)
    if not isinstance(value, str | os.PathLike) or not Path(value).is_file():
        raise fail(name, where, "an existing GAP XML file", value)
    return Path(value)


def positive_real(value, name: str, where: str) -> float:
    """Return ``value`` as a float > 0."""
    return check_real(value, name, where, low=0.0, low_open=True)


def int_at_least(low: int):
    """A check that a value is an int >= ``low``."""
    def check(value, name: str, where: str) -> int:
        return check_int(value, name, where, low=low)
    return check


class Selector(abc.ABC):
    """Chooses ``n`` of a list of candidate structures: the paper's two-step selection.

    First the Boltzmann-biased flat histogram over the enthalpy per atom passes on
    ``n_histogram`` candidates (with ``kT`` given), then the method picks ``n`` of those.
    One subclass per method (:data:`gapexplore.select.SELECTORS`).

    Parameters
    ----------
    kT : float, optional
        Boltzmann temperature of the flat histogram [eV]; ``None`` skips the histogram
        (iteration 0, random cells without enthalpies). Across several compositions the
        histogram is over the enthalpy per atom above the lower convex hull of
        (composition, enthalpy) of the candidates; at one composition, H − H_min.
    n_histogram : int, optional
        Candidates the flat histogram passes on; default ``10 * n``.
    potential : str or pathlib.Path, optional
        A GAP (XML): each chosen structure then carries its predicted error [eV/atom] in
        ``info[keys.SELECT_PREDICTED_ERROR]`` (:func:`gapexplore.fit.predicted_errors`).
    """

    #: The method's name as users give it (``--selection``, a run's settings.json).
    name: ClassVar[str] = ""
    #: The settings of ``__init__`` and what each may be: a tuple of allowed things, each
    #: None (the value None), a type (its instances) or a check ``f(value, name, where)``
    #: of :mod:`gapexplore.core.checks` that raises the error when none of them fits.
    _parameter_constraints: ClassVar[dict] = {
        "kT": (None, positive_real),
        "n_histogram": (None, int_at_least(0)),
        "potential": (None, check_file),
    }

    def __init__(self, *, kT: float | None = None, n_histogram: int | None = None,
                 potential=None):
        self.kT = kT
        self.n_histogram = n_histogram
        self.potential = potential

    @classmethod
    def parameters(cls) -> dict:
        """The constraints of every setting of this class, its own and inherited."""
        merged = {}
        for klass in reversed(cls.__mro__):
            merged.update(vars(klass).get("_parameter_constraints", {}))
        return merged

    def get_params(self) -> dict:
        """The settings, by name."""
        return {name: getattr(self, name) for name in self.parameters()}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({settings})"

    def select(self, candidates: list[Atoms], n: int, *, rng: np.random.Generator,
               database=(), database_vectors=None) -> Selection:
        """Choose ``n`` of ``candidates``.

        Parameters
        ----------
        candidates : list of ase.Atoms
            Structures to choose from (not modified). With ``kT`` set, each needs
            ``info[keys.ENTHALPY_PER_ATOM]`` [eV/atom].
        n : int
            Number of structures to select (paper: 100 per iteration), at most
            ``len(candidates)``.
        rng : numpy.random.Generator
            Source of randomness.
        database : list of ase.Atoms
            Structures already labelled: the methods on the SOAP kernel treat them as
            already chosen.
        database_vectors : numpy.ndarray, optional
            The averaged SOAP vectors of ``database`` (one row each, in order), computed
            earlier with the same SOAP settings and species: not computed again.

        Returns
        -------
        Selection
        """
        return self._select(candidates, n, rng=rng, database=database,
                            database_vectors=database_vectors,
                            where=f"{type(self).__name__}.select")

    def _select(self, candidates, n, *, rng, database, database_vectors,
                where: str) -> Selection:
        """:meth:`select`, with errors naming ``where``."""
        candidates = check_structures(candidates, "candidates", where)
        database = check_structures(database, "database", where)
        n = check_int(n, "n", where, low=0, high=len(candidates))
        rng = check_rng(rng, where)
        self._check_parameters(where)
        n_histogram = 10 * n if self.n_histogram is None else self.n_histogram
        n_histogram = check_int(n_histogram, "n_histogram", where, low=n)
        if self.kT is None:
            pool, probabilities = np.arange(len(candidates)), None
        else:
            enthalpies = _enthalpies(candidates, where)
            probabilities = flat_histogram_probabilities(enthalpies, self.kT)
            pool = np.sort(flat_histogram_indices(enthalpies, n_histogram, self.kT, rng=rng))
        errors = None
        if self.potential is not None:
            errors = predicted_errors([candidates[i] for i in pool], self.potential)
        task = Task(candidates, pool, database, database_vectors, errors, where)
        if n == 0:
            picked, scores = np.array([], dtype=int), np.array([])
        else:
            picked, scores = self._pick(task, n, rng=rng)
        return self._selection(task, picked, scores, probabilities)

    def _check_parameters(self, where: str) -> None:
        """Check every setting against its declared constraints."""
        for name, allowed in self.parameters().items():
            value = getattr(self, name)
            if value is None and None in allowed:
                continue
            if any(isinstance(a, type) and isinstance(value, a) for a in allowed):
                continue
            checks = [a for a in allowed if a is not None and not isinstance(a, type)]
            if not checks:
                kinds = " or ".join(a.__name__ for a in allowed if isinstance(a, type))
                raise fail(name, where, f"a {kinds}" + (" or None" if None in allowed
                                                         else ""), value)
            checks[0](value, name, where)

    @abc.abstractmethod
    def _pick(self, task: Task, n: int, *, rng: np.random.Generator):
        """The method: pick ``n`` of ``task.pool`` (``1 <= n <= len(task.pool)``).

        Returns
        -------
        picked : numpy.ndarray of int, shape (n,)
            Positions in ``task.pool``, in the order picked.
        scores : numpy.ndarray of float, shape (n,)
            The leverage of each when picked (NaN for methods without one).
        """

    def _selection(self, task: Task, picked, scores, probabilities) -> Selection:
        """The chosen structures, copied, with their scores in ``info``."""
        indices = task.pool[picked]
        chosen = []
        for order, (i, score) in enumerate(zip(indices, scores)):
            atoms = task.candidates[i].copy()
            atoms.info[keys.SELECT_RANK] = order
            atoms.info[keys.SELECT_SOURCE_INDEX] = int(i)
            atoms.info[keys.SELECT_METHOD] = self.name
            atoms.info[keys.SELECT_LEVERAGE] = float(score)
            if probabilities is not None:
                atoms.info[keys.SELECT_HISTOGRAM_PROBABILITY] = float(probabilities[i])
            if task.errors is not None:
                atoms.info[keys.SELECT_PREDICTED_ERROR] = float(task.errors[picked[order]])
            chosen.append(atoms)
        return Selection(structures=chosen, indices=indices, leverage=scores,
                         histogram_probabilities=probabilities, pool=task.pool)


def _enthalpies(candidates: list[Atoms], where: str) -> np.ndarray:
    """Enthalpy per atom [eV/atom] of each candidate; across compositions, above the
    (composition, enthalpy) hull of them all."""
    missing = [i for i, a in enumerate(candidates) if keys.ENTHALPY_PER_ATOM not in a.info]
    if missing:
        raise fail("candidates", where,
                   f"structures with info[{keys.ENTHALPY_PER_ATOM!r}] [eV/atom] when kT is "
                   "given (or pass kT=None to skip the flat histogram)",
                   f"{len(missing)} without it, first at index {missing[0]}")
    enthalpies = _check_values([a.info[keys.ENTHALPY_PER_ATOM] for a in candidates],
                               "enthalpies", where)
    if len({reduced_formula(a) for a in candidates}) < 2:   # the paper's H − H_min
        return enthalpies
    return structure_hull_distance(candidates, enthalpies)
