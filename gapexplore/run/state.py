"""Where a run stands, typed: :class:`RunState` (``state.json`` of the run folder), with one
:class:`IterationRecord` per iteration and the :class:`Controls` of the next one.

``state.json`` carries a schema version (:data:`SCHEMA_VERSION`); a folder written before
the version existed (schema 1, the same fields) opens as it is. A field that is None is left
out of the file (the controls of a record excepted), so a record holds exactly the facts
of the steps that finished.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from gapexplore.core.errors import GapExploreError
from gapexplore.run.facts import FitFacts, Lowest, LowestKind, PredictionError, Validation

__all__ = ["SCHEMA_VERSION", "Controls", "IterationRecord", "RunState"]

#: Version of the layout of ``state.json``: 1 had no ``schema`` field, 2 adds it, 3 (the
#: same fields) marks a folder begun after the relaxations' default optimiser changed from
#: the paper's ``"precon-lbfgs"``: a folder of an earlier schema keeps that optimiser
#: unless its settings name one (:class:`~gapexplore.run.Explorer`); 4 (the same fields)
#: marks a folder begun after the GAP relaxations' default engine became the native one
#: (where torch is installed): a folder of an earlier schema keeps quippy unless its
#: settings name an engine.
SCHEMA_VERSION = 4


@dataclass
class Controls:
    """The controls of the next iteration, set between iterations (None: the settings'
    value; for ``kT``, the settings' schedule).

    Attributes
    ----------
    n_candidates : int or None
        Random cells.
    n_select : int or None
        Structures labelled.
    kT : float or None
        Temperature of the flat histogram [eV].
    """

    n_candidates: int | None = None
    n_select: int | None = None
    kT: float | None = None


@dataclass
class IterationRecord:
    """What one iteration did: its controls, then the facts of each step as it finished.

    Attributes
    ----------
    iteration : int
        Its number, from 0.
    n_candidates, n_select : int
        The controls it ran with.
    kT : float or None
        The flat histogram's temperature [eV] (None in iteration 0).
    candidates : int or None
        Random cells made (generate).
    frames : int or None
        Relaxation frames kept (relax).
    relaxations : dict or None
        Relaxations per final status, e.g. ``{"converged": 20, "max_steps": 4}`` (relax).
    lowest : Lowest or None
        The lowest-enthalpy converged minimum (:func:`gapexplore.relax.lowest_final`);
        after the label step, with the reference's energy and enthalpy of that very
        structure beside the GAP's (:func:`gapexplore.run.steps.checked_lowest`; the
        calculation is in ``iter_NNN/lowest_checked.xyz``; a training label only with
        ``ExploreSettings.label_lowest``).
    lowest_kinds : list of LowestKind or None
        The lowest minima of the next kinds of structure, labelled with
        ``ExploreSettings.lowest_kinds`` > 1 (:func:`gapexplore.relax.lowest_kinds`), with
        the reference's figures at each geometry (label).
    selected : int or None
        Structures chosen (select).
    selected_predicted_error : float or None
        Mean predicted error of the chosen structures by the GAP that relaxed them
        [eV/atom] (uncertainty selection; :func:`gapexplore.fit.predicted_errors`).
    labelled, failed, labels_total : int or None
        Labels of this iteration, failed ones, and successful labels in the database
        (label).
    prediction_error : PredictionError or None
        The previous GAP on this iteration's new labels
        (:func:`gapexplore.validate.prediction_error`; iterations ≥ 1).
    fit : FitFacts or None
        The fit's summary (:meth:`gapexplore.fit.FitResult.summary`): δ, errors, potential.
    validation : Validation or None
        Known structures by the GAP and the reference (:func:`gapexplore.validate.validate`).
    seconds : dict
        Wall time of each step [s].
    extra : dict
        Fields of a later version, kept as they were.
    """

    iteration: int
    n_candidates: int
    n_select: int
    kT: float | None = None
    candidates: int | None = None
    frames: int | None = None
    relaxations: dict | None = None
    lowest: Lowest | None = None
    lowest_kinds: list[LowestKind] | None = None
    selected: int | None = None
    selected_predicted_error: float | None = None
    labelled: int | None = None
    failed: int | None = None
    labels_total: int | None = None
    prediction_error: PredictionError | None = None
    fit: FitFacts | None = None
    validation: Validation | None = None
    seconds: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __setattr__(self, name: str, value) -> None:
        if name in _TYPED_FACTS and value is not None:   # a plain table as its typed facts
            value = _TYPED_FACTS[name].from_dict(value)
        elif name in _TYPED_LISTS and value is not None:   # a list of them
            value = [_TYPED_LISTS[name].from_dict(v) for v in value]
        super().__setattr__(name, value)

    @property
    def fitted(self) -> bool:
        """Whether its GAP was fitted (the iteration finished)."""
        return self.fit is not None

    def record(self, facts: dict) -> None:
        """Set the facts of a finished step (field -> value; the typed facts —
        ``fit``, ``validation``, ``lowest``, ``lowest_kinds``, ``prediction_error`` — as
        such or as their plain tables)."""
        for name, value in facts.items():
            if name not in _RECORD_FIELDS:
                raise GapExploreError(f"IterationRecord has no field {name!r}")
            setattr(self, name, value)

    def to_dict(self) -> dict:
        """Plain values for ``state.json``: the controls it ran with, then the facts of the
        finished steps (None facts left out)."""
        out = {name: getattr(self, name) for name in _RECORD_FIELDS
               if name != "extra" and (name in _CONTROL_FIELDS or getattr(self, name) is not None)}
        out.update({name: out[name].to_dict() for name in _TYPED_FACTS if name in out})
        out.update({name: [v.to_dict() for v in out[name]] for name in _TYPED_LISTS
                    if name in out})
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> IterationRecord:
        """A record from :meth:`to_dict`'s output (any schema)."""
        known = {k: v for k, v in values.items() if k in _RECORD_FIELDS and k != "extra"}
        return cls(**known, extra={k: v for k, v in values.items()
                                   if k not in _RECORD_FIELDS})


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(IterationRecord))
_CONTROL_FIELDS = ("iteration", "n_candidates", "n_select", "kT")
#: The facts a record holds typed, by field.
_TYPED_FACTS = {"lowest": Lowest, "fit": FitFacts, "validation": Validation,
                "prediction_error": PredictionError}
#: The facts a record holds as lists of typed facts, by field.
_TYPED_LISTS = {"lowest_kinds": LowestKind}


@dataclass
class RunState:
    """Where a run stands: ``state.json`` of its folder.

    Attributes
    ----------
    iteration : int
        The iteration in progress (or next to start).
    done : list of str
        Its finished steps.
    iterations : list of IterationRecord
        One per iteration begun.
    controls : Controls
        The controls of the next iteration.
    reference_energies : dict
        Relaxed reference energies of the known structures [eV/atom], by name (computed
        once per run).
    schema : int
        :data:`SCHEMA_VERSION` of the file it was read from (written as the current one).
    """

    iteration: int = 0
    done: list = field(default_factory=list)
    iterations: list = field(default_factory=list)
    controls: Controls = field(default_factory=Controls)
    reference_energies: dict = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    @property
    def fitted(self) -> list[IterationRecord]:
        """The records of the iterations whose GAP was fitted, in order."""
        return [r for r in self.iterations if r.fitted]

    def validation_rows(self) -> list[dict]:
        """The learning curves as table rows: one per fitted iteration and known
        structure, with ``iteration``, ``labels`` (labels the GAP was fitted to),
        ``structure``, ``gap``, ``reference``, ``error`` and ``lowest_label_above``
        [eV/atom] (:func:`gapexplore.validate.lowest_label_above`; NaN where not recorded:
        runs validated before it was, or no label of that composition)."""
        rows = []
        for record in self.iterations:
            checks = record.validation.structures if record.validation else {}
            for name, check in checks.items():
                above = check.lowest_label_above
                rows.append({"iteration": record.iteration, "labels": record.labels_total,
                             "structure": name, "gap": check.gap,
                             "reference": check.reference, "error": check.error,
                             "lowest_label_above": float("nan") if above is None else above})
        return rows

    def prediction_rows(self) -> list[dict]:
        """The ``prediction_error`` records as table rows, each placed at ``labels``, the
        label count of the GAP that made the prediction (the iteration before)."""
        return [{"iteration": record.iteration,
                 "labels": self.iterations[record.iteration - 1].labels_total,
                 **record.prediction_error.to_dict()}
                for record in self.iterations if record.prediction_error]

    def to_dict(self) -> dict:
        """Plain values for ``state.json``."""
        out = {"schema": SCHEMA_VERSION, "iteration": self.iteration, "done": list(self.done),
               "iterations": [r.to_dict() for r in self.iterations]}
        controls = {k: v for k, v in dataclasses.asdict(self.controls).items()
                    if v is not None}
        if controls:
            out["controls"] = controls
        if self.reference_energies:
            out["reference_energies"] = dict(self.reference_energies)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> RunState:
        """The state of ``state.json`` as read (schema 1, 2 or 3).

        Raises
        ------
        GapExploreError
            For a file of a newer schema or one that is not a run's state.
        """
        if not isinstance(values, dict) or "iteration" not in values:
            raise GapExploreError("state.json does not hold a run's state; restore it from "
                                  "a backup or start a new folder.")
        schema = values.get("schema", 1)
        if schema > SCHEMA_VERSION:
            raise GapExploreError(
                f"state.json has schema {schema}, newer than this gapexplore reads "
                f"({SCHEMA_VERSION}); update gapexplore to open this run.")
        try:
            return cls(iteration=int(values["iteration"]), done=list(values.get("done", [])),
                       iterations=[IterationRecord.from_dict(r)
                                   for r in values.get("iterations", [])],
                       controls=Controls(**values.get("controls", {})),
                       reference_energies=dict(values.get("reference_energies", {})),
                       schema=schema)
        except (TypeError, ValueError, KeyError) as error:
            raise GapExploreError(f"state.json is damaged ({error}); restore it from a "
                                  "backup or start a new folder.") from None
