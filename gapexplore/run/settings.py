"""What defines a run: :class:`ExploreSettings`, stored in ``settings.json`` of its folder,
and which of them may change when a run is continued (:data:`STOP_CRITERIA`).

Its ``selection`` block (:class:`~gapexplore.run.selection.SelectionSettings`) is written in
the flat form, each field under its flat name among the other settings
(:data:`~gapexplore.run.selection.FLAT_NAMES`: ``n_select``, ``kT``, ``soap``, ``selection``
for the method, ...), in ``settings.json`` and in TOML; both forms are read, and
``ExploreSettings`` takes the flat names as keywords too.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass

from gapexplore.core.checks import check_int, check_int_range, check_real, fail
from gapexplore.core.chemistry import Chemistry, Composition, compositions_of
from gapexplore.core.errors import InvalidParameterError
from gapexplore.describe import SoapSettings
from gapexplore.fit import GapSettings
from gapexplore.label.named import NAMED_REFERENCES
from gapexplore.relax import RelaxSettings
from gapexplore.run.compositions import settle_chemistry
from gapexplore.run.presets import (
    GAP_PRESETS,
    SOAP_PRESETS,
    RelaxTable,
    gap_settings_of,
    plain,
    toml_text,
)
from gapexplore.run.selection import FLAT_NAMES, SelectionSettings, accepting_flat_names
from gapexplore.validate import known_structure

# GAP_PRESETS and SOAP_PRESETS live in gapexplore.run.presets; they are importable
# from here too.
__all__ = ["ExploreSettings", "STOP_CRITERIA", "FIT_LEVERS", "GAP_PRESETS", "SOAP_PRESETS",
           "SETTING_NAMES", "read_toml"]

#: Settings a run may change when it is continued: its stop criteria (and the fit's
#: :data:`FIT_LEVERS`). Any other change would make the run's folder a mix of two runs.
STOP_CRITERIA = frozenset({"max_labels", "max_iterations", "target_error",
                           "target_prediction_error"})

#: Fields of the ``gap`` table a continued run may change too: what later fits keep of the
#: labels, not what the run explores (virials, for fits past the memory: ``fit-memory``).
FIT_LEVERS = frozenset({"virials"})


@accepting_flat_names
@dataclass(frozen=True)
class ExploreSettings:
    """Everything that defines a run; stored in ``settings.json`` of its folder.

    Parameters
    ----------
    element : str, optional
        Chemical symbol of a one-element run (default ``"Si"`` when no ``composition``).
    composition : str or sequence of str, optional
        A compound's formula (``"SiC"``, ``"TiO2"``, ``"Cu3Au"``): the run explores that
        fixed stoichiometry (:meth:`Composition.of`; random cells of whole formula units).
        Or several formulas (``["Si", "SiC", "C"]``; ``--composition Si,SiC,C``): one run
        across those stoichiometries, each drawing an equal share of the random cells,
        their energies compared through the composition hull (flat histogram and fit
        noise); known structures are then named with their formula (``"SiC:3C"``).
        Or a whole system, ``"Cu-Au"``: every stoichiometry whose cells ``n_atoms`` allows
        (``"Cu-Au:4"``: formula units of at most 4 atoms; :func:`compositions_in`), stored
        as that list. Not with ``element``; a formula of one element is that element's run.
    bonding : {"covalent", "metallic"} or dict, optional
        Default: tabulated for the element (:meth:`Chemistry.of`); for a composition, one
        kind for all its elements or a table by element.
    radius : float or dict, optional
        Characteristic radius r [Å]; default: tabulated. For a composition, a table by
        element (``{"Si" = 1.11}`` in TOML).
    reference : str, optional
        Named reference (:data:`gapexplore.label.NAMED_REFERENCES`: a toy such as
        ``"sw-si"``, the surrogate ``"chgnet"``, or GPAW DFT ``"gpaw"``), or
        ``"module:function"`` naming an importable function that returns an ASE
        calculator (e.g. ``"mysetup:vasp"``); default: the element's toy reference. A
        calculator object can also be passed to :class:`Explorer` directly.
    n_candidates : int
        Random cells per iteration (paper: 10,000).
    n_initial : int, optional
        Random cells of iteration 0, if not ``n_candidates``. They are not relaxed (only
        their selection SOAP costs, about 15 ms a cell), so a run whose later iterations
        relax a few hundred cells can still choose its first labels from thousands, as the
        paper's 10,000 do.
    n_atoms : (int, int)
        Inclusive range of atoms per random cell (paper: 6–24).
    max_labels : int
        Stop once the database holds this many labels (paper: 2,500).
    max_iterations : int, optional
        Stop after this many iterations (iteration 0 included).
    target_error : float, optional
        Stop once every ``validate`` structure's relaxed energy is within this of the
        reference [eV/atom] (e.g. 0.01).
    target_prediction_error : float, optional
        Stop once the previous GAP's energy RMSE on an iteration's new labels, frames its
        own search found and it never saw, is within this [eV/atom] (e.g. 0.01): a
        convergence signal that needs no known structure
        (:func:`gapexplore.validate.prediction_error`; recorded in ``state.json`` as
        ``prediction_error`` of every iteration from 1 on).
    gap : {"paper", "light"}, dict or GapSettings
        The GAP model: a preset — Table 1 (:meth:`GapSettings.for_chemistry`) or the cheap
        model of :meth:`GapSettings.light` — or a table of :class:`GapSettings` fields over
        a preset, e.g. ``{"preset": "light", "n_sparse_soap": 500, "noise": {"energy":
        [0.002, 0.1]}}`` (a ``[gap]`` table in TOML); a GapSettings is kept as such a table.
        :meth:`gap_settings` builds it.
    selection : SelectionSettings, dict or str
        How each iteration chooses the structures to label
        (:class:`~gapexplore.run.selection.SelectionSettings`): the method, ``n_select``
        structures per iteration (paper: 100), the flat histogram's ``n_histogram`` frames
        and kT schedule [eV] (paper: 0.3, 0.2, 0.1), the selection's ``soap`` (preset or
        table) and the CUR options ``stochastic`` and ``center``; a table of its fields
        (a ``[selection]`` table in TOML), or the method's name alone (e.g.
        ``"kernel_fps"``). Its fields are also taken as keywords under their flat names
        (:data:`~gapexplore.run.selection.FLAT_NAMES`): ``n_select``, ``n_histogram``,
        ``kT``, ``soap``, ``selection_stochastic`` and ``selection_center``, set over the
        block given (e.g. ``ExploreSettings(selection="kernel_fps", n_select=20)``); so are
        they written in ``settings.json`` and TOML.
    label_lowest : bool
        Also train on the reference calculation of each iteration's lowest-enthalpy GAP
        minimum, which every run makes to check its GAP for holes (``lowest`` in
        ``state.json``); default False, the paper's labels only. A hole the search found
        is then labelled at once, and so is a ground state it reached that the selection
        passed over (with tens of relaxations an iteration, CUR often does: the SiC demo,
        README). That label is left out of ``prediction_error``, which stays the error on
        the selection's frames, as without the option; its own error is in ``lowest``.
    lowest_kinds : int
        With ``label_lowest``, how many kinds of low minimum are labelled each iteration:
        the lowest minimum of each of the ``lowest_kinds`` lowest kinds of structure the
        relaxations reached (a kind: reduced formula and spglib space group at 0.1 Å, so
        zincblende and wurtzite SiC are two; :func:`gapexplore.relax.lowest_kinds`). Default
        1, the lowest minimum only. The first is the checked lowest minimum; the others are
        training labels only (uids ``iNNN-lowest1``, ``iNNN-lowest2``, …), each computed
        once and left out of ``prediction_error`` too. A GAP that meets only one of two
        competing stackings near its ground state is then shown both.
    relax_fmax : float
        Relaxation convergence [eV/Å] (paper: 0.01).
    relax_max_steps : int
        Relaxation step cap.
    relax : RelaxTable or dict
        Further :class:`RelaxSettings` fields of the GAP relaxations (``p0`` [GPa],
        ``beta``, ``optimiser``, ``min_distance_factor``, ``volume_bounds``, ``engine``),
        as a :class:`~gapexplore.run.presets.RelaxTable` or a table of its fields; those
        not named take the defaults. The older ``precon`` (True or False) still reads as
        ``optimiser`` ``"precon-lbfgs"`` or ``"lbfgs-linesearch"``. :meth:`relax_settings`
        builds them.
    seed : int
        Seed of every random draw of the run.
    validate : tuple of str
        Known structures (:data:`gapexplore.crystals.KNOWN_STRUCTURES`, e.g.
        ``("diamond", "beta-tin")`` for Si) relaxed with each new GAP and with the
        reference: the learning curves of paper Figs. 2–3, in ``state.json`` and
        ``validation.csv``.
    reference_timeout : float, optional
        Wall-time limit of one reference calculation [s]; one over it is stopped and
        recorded as a failed label with that reason. Default: 600 s for the toy and
        surrogate references (whose calculations take milliseconds to seconds), no limit
        for DFT and your own calculators.
    relax_timeout : float, optional
        Wall-time limit of one GAP relaxation [s]; one over it is stopped and recorded
        with status ``"error: timed out"``. Default: no limit.
    """

    element: str | None = None
    composition: str | None = None
    bonding: str | dict | None = None
    radius: float | dict | None = None
    reference: str | None = None
    n_candidates: int = 10_000
    n_initial: int | None = None
    n_atoms: tuple = (6, 24)
    max_labels: int = 2500
    max_iterations: int | None = None
    target_error: float | None = None
    target_prediction_error: float | None = None
    gap: str | dict = "paper"
    selection: SelectionSettings | dict | str = dataclasses.field(
        default_factory=SelectionSettings)
    label_lowest: bool = False
    lowest_kinds: int = 1
    relax_fmax: float = 0.01
    relax_max_steps: int = 300
    relax: RelaxTable | dict = dataclasses.field(default_factory=RelaxTable)
    seed: int = 0
    validate: tuple = ()
    reference_timeout: float | None = None
    relax_timeout: float | None = None
    #: The selection block a method's name or a table in ``selection`` is set over (None:
    #: the default block); :func:`dataclasses.replace` passes the settings' own.
    _selection_before: dataclasses.InitVar[SelectionSettings | None] = None

    def __post_init__(self, _selection_before=None):
        where = "ExploreSettings"
        settle_chemistry(self, where)
        self._check_selection(where, _selection_before)
        self._check_counts(where)
        self._check_stop_criteria(where)
        self._check_reference(where)
        self._check_tables(where)
        self._check_schedule(where)

    def _check_counts(self, where: str) -> None:
        """Check the counts, the seed, the relaxations' limits and the time limits."""
        check_int(self.n_candidates, "n_candidates", where, low=1)
        n_select = self.selection.n_select
        check_int(n_select, "n_select", where, low=1, high=self.n_candidates)
        n_formulas = len(self.composition) if isinstance(self.composition, tuple) else 1
        if n_formulas > self.n_candidates:
            raise fail("n_candidates", where, f"at least one random cell for each of the "
                       f"{n_formulas} compositions (or fewer compositions: 'A-B:N' keeps "
                       "formula units of at most N atoms)", self.n_candidates)
        if self.n_initial is not None:
            check_int(self.n_initial, "n_initial", where, low=n_select)
        check_int(self.max_labels, "max_labels", where, low=1)
        check_int(self.seed, "seed", where, low=0)
        check_real(self.relax_fmax, "relax_fmax", where, low=0.0, low_open=True)
        check_int(self.relax_max_steps, "relax_max_steps", where, low=1)
        for name in ("reference_timeout", "relax_timeout"):
            if getattr(self, name) is not None:
                check_real(getattr(self, name), name, where, low=0.0, low_open=True)

    def _check_stop_criteria(self, where: str) -> None:
        """Check the stop criteria other than ``max_labels``."""
        if self.max_iterations is not None:
            check_int(self.max_iterations, "max_iterations", where, low=1)
        if self.target_error is not None:
            check_real(self.target_error, "target_error", where, low=0.0, low_open=True)
            if not self.validate:
                raise fail("target_error", where, "used with validate (the structures whose "
                           "error it bounds)", self.target_error)
        if self.target_prediction_error is not None:
            check_real(self.target_prediction_error, "target_prediction_error", where,
                       low=0.0, low_open=True)

    def _check_reference(self, where: str) -> None:
        """Check that the reference is named or importable, and covers the elements."""
        if self.reference is not None and ":" not in self.reference \
                and self.reference not in NAMED_REFERENCES:
            known = ", ".join(repr(n) for n in NAMED_REFERENCES)
            raise fail("reference", where, f"one of {known}, or 'module:function' returning "
                       "an ASE calculator", self.reference)
        covers = getattr(NAMED_REFERENCES.get(self.reference), "elements", None)
        lacking = [e for e in self.chemistry().elements if covers is not None and e not in covers]
        if lacking:
            raise fail("reference", where, f"a reference that covers {', '.join(lacking)} "
                       f"({self.reference!r} covers {', '.join(covers)} only)", self.reference)

    def _check_tables(self, where: str) -> None:
        """Keep the ``gap`` setting as a plain table and ``relax`` as its
        :class:`RelaxTable`; check them."""
        if isinstance(self.gap, GapSettings):  # kept as its table of fields
            object.__setattr__(self, "gap", plain(dataclasses.asdict(self.gap)))
        object.__setattr__(self, "relax", RelaxTable.from_dict(self.relax))
        self.gap_settings()   # checks the tables
        self.relax_settings()

    def _check_selection(self, where: str, before: SelectionSettings | None) -> None:
        """Build the selection block from its table or its method's name, set over
        ``before`` (an error named by the flat name, :data:`FLAT_NAMES`); check the
        labelling of the lowest minima."""
        selection = self.selection
        base = {} if before is None else before.to_dict()
        try:
            if isinstance(selection, str):
                selection = SelectionSettings.from_dict(base | {"method": selection})
            elif isinstance(selection, dict):
                selection = SelectionSettings.from_dict(base | selection)
        except InvalidParameterError as error:
            if error.where != "SelectionSettings" or error.parameter not in FLAT_NAMES:
                raise
            allowed = error.allowed.replace("method=", "selection=")
            raise fail(FLAT_NAMES[error.parameter], where, allowed, error.got) from None
        if not isinstance(selection, SelectionSettings):
            raise fail("selection", where, "a SelectionSettings, a table of its fields or "
                       "the name of a selection method", selection)
        object.__setattr__(self, "selection", selection)
        if not isinstance(self.label_lowest, bool):
            raise fail("label_lowest", where, "a bool", self.label_lowest)
        check_int(self.lowest_kinds, "lowest_kinds", where, low=1)
        if self.lowest_kinds > 1 and not self.label_lowest:
            raise fail("lowest_kinds", where, "1 unless label_lowest is on (the kinds are "
                       "labelled only with label_lowest=True: set it too)", self.lowest_kinds)

    def _check_schedule(self, where: str) -> None:
        """Check the cell sizes and the known structures; keep them as tuples."""
        object.__setattr__(self, "validate", tuple(self.validate))
        object.__setattr__(self, "n_atoms",
                           check_int_range(self.n_atoms, "n_atoms", where, low=1, high=200))
        for name in self.validate:
            known_structure(self.chemistry(), name)  # checks the name

    def chemistry(self) -> Chemistry | Composition:
        """The run's :class:`Chemistry`, or its :class:`Composition` for a compound; for a
        run across compositions, the system's (every element once: the species of its
        dimers, fit and per-pair separations)."""
        if isinstance(self.composition, tuple):
            return compositions_of(self.composition, bonding=self.bonding,
                                   radius=self.radius)[0]
        if self.composition is not None:
            return Composition.of(self.composition, bonding=self.bonding, radius=self.radius)
        return Chemistry.of(self.element, bonding=self.bonding, radius=self.radius)

    def compositions(self) -> tuple:
        """The stoichiometries whose random cells the run draws: one for an element or a
        compound (its :class:`Chemistry` or :class:`Composition`), each of the formulas
        of a run across compositions."""
        if isinstance(self.composition, tuple):
            return compositions_of(self.composition, bonding=self.bonding,
                                   radius=self.radius)[1]
        return (self.chemistry(),)

    def kt_for(self, iteration: int) -> float:
        """Temperature kT [eV] of the flat histogram in ``iteration`` (>= 1)."""
        return self.selection.kt_for(iteration)

    def stop_reason(self, state, n_labels: int) -> str | None:
        """The stop criterion (:data:`STOP_CRITERIA`) that a run at ``state`` (a
        :class:`~gapexplore.run.state.RunState`) with ``n_labels`` labels has met, or None."""
        if n_labels >= self.max_labels:
            return "max_labels"
        if self.max_iterations is not None and state.iteration >= self.max_iterations:
            return "max_iterations"
        validated = [r.validation for r in state.iterations if r.validation]
        if self.target_error is not None and validated and all(
                abs(validated[-1].structures[name].error) <= self.target_error
                for name in self.validate):
            return "target_error"
        predicted = [r.prediction_error for r in state.fitted if r.prediction_error]
        if self.target_prediction_error is not None and predicted \
                and predicted[-1].rmse <= self.target_prediction_error:
            return "target_prediction_error"
        return None

    def gap_settings(self) -> GapSettings:
        """The run's :class:`GapSettings` (its preset, with the table's fields over it)."""
        return gap_settings_of(self.gap, self.chemistry())

    def soap_settings(self) -> SoapSettings:
        """The selection's :class:`SoapSettings` (its preset, with the table's fields)."""
        return self.selection.soap_settings()

    def relax_settings(self) -> RelaxSettings:
        """The :class:`RelaxSettings` of the GAP relaxations: ``relax_fmax``,
        ``relax_max_steps`` and the ``relax`` table over the defaults."""
        return self.relax.settings(self.relax_fmax, self.relax_max_steps)

    @classmethod
    def from_toml(cls, text: str) -> "ExploreSettings":
        """Settings from TOML text (:func:`read_toml`): fields at the top (the selection's
        by their flat names, or a ``[selection]`` table), ``[gap]``, ``[gap.noise]``,
        ``[soap]`` and ``[relax]`` tables for the step settings (see :meth:`to_toml`)."""
        return cls.from_dict(read_toml(text, where="ExploreSettings.from_toml"))

    def to_toml(self) -> str:
        """The settings as TOML, in the flat form (None values left out: they are the
        defaults)."""
        return toml_text(self.to_dict())

    def to_dict(self) -> dict:
        """Plain values, for ``settings.json``: the flat form, the ``selection`` block's
        fields under their flat names (:data:`FLAT_NAMES`)."""
        out = {}
        for name, value in dataclasses.asdict(self).items():
            if name == "selection":
                out.update(self.selection.to_flat())
            elif name == "relax":
                out[name] = self.relax.to_dict()
            else:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "ExploreSettings":
        """Settings from :meth:`to_dict`'s output, or with the ``selection`` block as a
        table (fields added since default)."""
        if not isinstance(values, dict):
            raise fail("values", "ExploreSettings.from_dict", "a dict of settings", values)
        unknown = sorted(set(values) - SETTING_NAMES)
        if unknown:
            raise fail("values", "ExploreSettings.from_dict", "settings of this version "
                       f"(unknown: {', '.join(unknown)})", values)
        try:
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
        except TypeError as error:
            raise fail("values", "ExploreSettings.from_dict", "settings of this version",
                       str(error)) from None

    def changed(self, other: "ExploreSettings") -> list[str]:
        """Names of the settings whose values differ in ``other``, in the flat form (the
        selection's by their flat names)."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [name for name in mine if mine[name] != theirs[name]]

    def fixed_changes(self, other: "ExploreSettings") -> list[str]:
        """The settings that differ in ``other`` and a continued run may not change: all
        but :data:`STOP_CRITERIA`, ``gap`` unless only its :data:`FIT_LEVERS` differ."""
        fixed = [name for name in self.changed(other) if name not in STOP_CRITERIA]
        if "gap" in fixed:
            mine, theirs = (dataclasses.asdict(s.gap_settings()) for s in (self, other))
            if all(mine[k] == theirs[k] for k in mine if k not in FIT_LEVERS):
                fixed.remove("gap")
        return fixed


# dataclasses.replace() passes each init-only value as the settings it copies hold it: their
# own selection block, so a method's name or a table given to replace() changes only those
# fields of it, as each flat name does.
ExploreSettings._selection_before = property(lambda self: self.selection)

#: Every name a settings table may hold: the fields of :class:`ExploreSettings` and the
#: flat names of the selection's.
SETTING_NAMES = frozenset(f.name for f in dataclasses.fields(ExploreSettings)) \
    | frozenset(FLAT_NAMES.values())


def read_toml(text: str, *, where: str = "read_toml", source: str | None = None,
              also: frozenset = frozenset()) -> dict:
    """A TOML settings file's ``text`` as a table of settings (lists as they are), its
    names checked: the one reader of settings files, for :meth:`ExploreSettings.from_toml`
    and ``gapexplore run --config``.

    Parameters
    ----------
    text : str
        The file's text.
    where : str
        The function named in the error for text that is not TOML.
    source : str, optional
        The file named in the error for a name that is not a setting; default: no file.
    also : frozenset of str
        Further names the file may hold (e.g. where the work runs).

    Raises
    ------
    InvalidParameterError
        For text that is not TOML, or a name that is not a setting (nor in ``also``).
    """
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise fail("text", where, "valid TOML", str(error)) from None
    unknown = sorted(set(values) - SETTING_NAMES - set(also))
    if unknown:
        raise InvalidParameterError(
            f"Unknown settings{'' if source is None else f' in {source}'}: "
            f"{', '.join(unknown)}. Known: {', '.join(sorted(SETTING_NAMES))}.")
    return values
