"""The typed facts inside an iteration's record (:class:`~gapexplore.run.state.IterationRecord`):
its fit (:class:`FitFacts`), its known structures' learning curve (:class:`Validation`, of
:class:`KnownCheck` and :class:`Difference`), its lowest minimum (:class:`Lowest`) and those
of the next kinds of structure (:class:`LowestKind`), and the previous GAP's error on its
new labels (:class:`PredictionError`).

Each reads and writes the same JSON table of ``state.json`` as the plain dict it types:
its ``to_dict()`` gives back exactly the keys its ``from_dict()`` was given (in their order,
fields first), a key this version does not know kept under ``extra``. Each also reads as
that table (``record.fit["rmse_energy"]``, ``record.validation["diamond"]["error"]``,
``record.lowest.get("spacegroup")``): code written for the table reads the facts as well.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = ["Difference", "FitFacts", "KnownCheck", "Lowest", "LowestKind", "PredictionError",
           "Validation"]


class _Readable:
    """Reading the facts as their table of ``state.json``: ``facts[key]``, ``facts.get``,
    ``key in facts``, ``facts.keys()``, ``facts.items()``."""

    def _table(self) -> dict:
        return self.to_dict()

    def __getitem__(self, key: str):
        return self._table()[key]

    def get(self, key: str, default=None):
        """The value of ``key`` in the facts' table, or ``default``."""
        return self._table().get(key, default)

    def __contains__(self, key) -> bool:
        return key in self._table()

    def __iter__(self):
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def keys(self):
        """The keys of the facts' table."""
        return self._table().keys()

    def items(self):
        """The (key, value) pairs of the facts' table."""
        return self._table().items()


class _Table(_Readable):
    """What the facts share: a JSON table whose ``_OPTIONAL`` fields are left out when None
    (the others are written, None as null) and whose unknown keys are kept in ``extra``."""

    _OPTIONAL: frozenset = frozenset()

    def to_dict(self) -> dict:
        """Plain values for ``state.json``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name != "extra"
               and not (f.name in self._OPTIONAL and getattr(self, f.name) is None)}
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, values: dict):
        """The facts of a table of ``state.json`` (:meth:`to_dict`'s output)."""
        if isinstance(values, cls):
            return values
        if not isinstance(values, dict):
            raise TypeError(f"{cls.__name__} expects a table, got {values!r}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in values.items() if k in names},
                   extra={k: v for k, v in values.items() if k not in names})


@dataclass(frozen=True)
class FitFacts(_Table):
    """The fit of an iteration: :meth:`gapexplore.fit.FitResult.summary` as recorded
    (every field optional: a run records what its version's fit reported).

    Attributes
    ----------
    potential : str
        The potential's XML file as given at fit time (perhaps relative to another
        working directory; :meth:`RunStore.potential_of` finds it in the run folder).
    deltas : dict
        δ [eV] of ``"2b"``, ``"3b"`` and ``"soap"``.
    e0 : dict
        Isolated-atom energy [eV] per element.
    rmse_energy : float
        Training energy RMSE over the periodic cells [eV/atom].
    rmse_forces : float
        Training force-component RMSE over the periodic cells [eV/Å].
    rmse_energy_dimers : float
        Training energy RMSE of the dimers [eV/atom] (NaN without dimers).
    stage_rmse : dict
        Training energy RMSE [eV/atom] of the intermediate 2b and 2b+3b fits.
    n_structures, n_environments : int
        Structures and atoms in the training file.
    logs : list of str
        gap_fit's log of each stage.
    stage_seconds : dict
        Wall time of each stage [s].
    extra : dict
        Keys of a later version, kept as they were.
    """

    _OPTIONAL = frozenset({"potential", "deltas", "e0", "rmse_energy", "rmse_forces",
                           "rmse_energy_dimers", "stage_rmse", "n_structures",
                           "n_environments", "logs", "stage_seconds"})

    potential: str | None = None
    deltas: dict | None = None
    e0: dict | None = None
    rmse_energy: float | None = None
    rmse_forces: float | None = None
    rmse_energy_dimers: float | None = None
    stage_rmse: dict | None = None
    n_structures: int | None = None
    n_environments: int | None = None
    logs: list | None = None
    stage_seconds: dict | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class KnownCheck(_Table):
    """One known structure relaxed with an iteration's GAP and with the reference
    (:func:`gapexplore.validate.validate`).

    Attributes
    ----------
    gap, reference : float
        Relaxed energy per atom by the GAP and by the reference [eV/atom].
    error : float
        ``gap - reference`` [eV/atom].
    gap_status : str or None
        How the GAP relaxation ended (None where a run did not record it).
    lowest_label_above : float or None
        How far the lowest label of its composition lies above it by the reference
        [eV/atom] (:func:`gapexplore.validate.lowest_label_above`); None without such a
        label or where not recorded.
    extra : dict
        Keys of a later version, kept as they were.
    """

    _OPTIONAL = frozenset({"gap_status"})

    gap: float
    reference: float
    error: float
    gap_status: str | None = None
    lowest_label_above: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Difference(_Table):
    """One known structure's energy above the first of its composition [eV/atom], by the
    GAP (``gap``) and by the reference (``reference``)."""

    gap: float
    reference: float
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Validation(_Readable):
    """The known structures of an iteration, by its GAP and by the reference: its table in
    ``state.json`` holds one entry per structure and ``"differences"``.

    Attributes
    ----------
    structures : dict of str to KnownCheck
        By name, in the order validated.
    differences : dict of str to Difference or None
        ``"name - first"`` for each name after the first of its composition.
    """

    structures: dict
    differences: dict | None = None

    def __post_init__(self):
        object.__setattr__(self, "structures", {
            n: KnownCheck.from_dict(v) for n, v in self.structures.items()})
        if self.differences is not None:
            object.__setattr__(self, "differences", {
                n: Difference.from_dict(v) for n, v in self.differences.items()})

    @property
    def names(self) -> tuple[str, ...]:
        """The known structures' names, in the order validated."""
        return tuple(self.structures)

    def errors(self) -> dict[str, float]:
        """GAP - reference [eV/atom] of each known structure, by name."""
        return {name: check.error for name, check in self.structures.items()}

    def _table(self) -> dict:
        return {**self.structures, **({} if self.differences is None
                                      else {"differences": self.differences})}

    def to_dict(self) -> dict:
        """Plain values for ``state.json``."""
        out = {name: check.to_dict() for name, check in self.structures.items()}
        if self.differences is not None:
            out["differences"] = {n: d.to_dict() for n, d in self.differences.items()}
        return out

    @classmethod
    def from_dict(cls, values: dict) -> Validation:
        """The facts of ``validation`` in ``state.json`` (:meth:`to_dict`'s output), or
        :func:`gapexplore.validate.validate`'s."""
        if isinstance(values, cls):
            return values
        if not isinstance(values, dict):
            raise TypeError(f"Validation expects a table, got {values!r}")
        return cls({k: v for k, v in values.items() if k != "differences"},
                   values.get("differences"))


@dataclass(frozen=True)
class Lowest(_Table):
    """An iteration's lowest-enthalpy converged GAP minimum
    (:func:`gapexplore.relax.lowest_final`) and, once labelled, the reference's figures at
    that very structure (:func:`gapexplore.run.steps.checked_lowest`).

    Attributes
    ----------
    enthalpy_per_atom : float
        The GAP's enthalpy per atom [eV/atom] at its pressure.
    pressure : float
        The relaxation's pressure [GPa].
    n_atoms : int
        Atoms in the cell.
    volume_per_atom : float
        [Å³/atom].
    spacegroup : str
        Space group (spglib, symprec 0.1 Å).
    relax_id : int or str or None
        The relaxation it ends.
    formula, above_hull : str, float or None
        Across compositions: its reduced formula and height above the hull of the
        minima [eV/atom].
    gap_energy_per_atom : float or None
        The GAP's energy per atom [eV/atom] (after the label step).
    reference_energy_per_atom, reference_enthalpy_per_atom : float or None
        The reference's energy and enthalpy per atom there [eV/atom] (after the label
        step, when the calculation succeeded).
    reference_status : str or None
        ``"ok"`` or why the reference calculation failed (after the label step).
    extra : dict
        Keys of a later version, kept as they were.
    """

    _OPTIONAL = frozenset({"formula", "above_hull", "gap_energy_per_atom",
                           "reference_energy_per_atom", "reference_enthalpy_per_atom",
                           "reference_status"})

    enthalpy_per_atom: float
    pressure: float
    n_atoms: int
    volume_per_atom: float
    spacegroup: str | None = None
    relax_id: int | str | None = None
    formula: str | None = None
    above_hull: float | None = None
    gap_energy_per_atom: float | None = None
    reference_energy_per_atom: float | None = None
    reference_enthalpy_per_atom: float | None = None
    reference_status: str | None = None
    extra: dict = field(default_factory=dict)

    def checked(self, figures: dict) -> Lowest:
        """These facts with the reference's ``figures`` at the structure
        (:func:`gapexplore.run.steps.checked_lowest`)."""
        return dataclasses.replace(self, **figures)


@dataclass(frozen=True)
class LowestKind(_Table):
    """The lowest minimum of one of the next kinds of structure of an iteration, labelled
    with ``ExploreSettings.lowest_kinds`` > 1 (:func:`gapexplore.relax.lowest_kinds`), with
    the reference's figures at that geometry as in :class:`Lowest`.

    Attributes
    ----------
    uid : str
        Its label's uid (``iNNN-lowest1``, …).
    spacegroup : str or None
        Space group (spglib, symprec 0.1 Å).
    formula : str
        Reduced formula.
    enthalpy_per_atom : float
        The GAP's enthalpy per atom at its pressure [eV/atom].
    gap_energy_per_atom : float or None
        The GAP's energy per atom [eV/atom].
    reference_energy_per_atom, reference_enthalpy_per_atom : float or None
        The reference's energy and enthalpy per atom there [eV/atom] (when the calculation
        succeeded).
    reference_status : str or None
        Why the reference calculation failed (None when it succeeded).
    extra : dict
        Keys of a later version, kept as they were.
    """

    _OPTIONAL = frozenset({"gap_energy_per_atom", "reference_energy_per_atom",
                           "reference_enthalpy_per_atom", "reference_status"})

    uid: str
    spacegroup: str | None
    formula: str
    enthalpy_per_atom: float
    gap_energy_per_atom: float | None = None
    reference_energy_per_atom: float | None = None
    reference_enthalpy_per_atom: float | None = None
    reference_status: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PredictionError(_Table):
    """The previous GAP's energy error on an iteration's new labels
    (:func:`gapexplore.validate.prediction_error`; iterations ≥ 1).

    Attributes
    ----------
    n : int
        Labels used.
    rmse, mae, max : float
        RMSE, mean and largest absolute value of E_GAP − E_ref per atom [eV/atom].
    mean : float or None
        The signed mean, a systematic shift [eV/atom] (None where not recorded).
    extra : dict
        Keys of a later version, kept as they were.
    """

    _OPTIONAL = frozenset({"mae", "max", "mean"})

    n: int
    rmse: float
    mae: float | None = None
    max: float | None = None
    mean: float | None = None
    extra: dict = field(default_factory=dict)
