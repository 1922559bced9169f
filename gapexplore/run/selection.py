"""How a run chooses the structures to label: :class:`SelectionSettings`, the ``selection``
block of :class:`~gapexplore.run.ExploreSettings`, and its flat form (:data:`FLAT_NAMES`),
the names its fields have among the other settings in ``settings.json``, in TOML files and
as keyword arguments of ``ExploreSettings``."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from gapexplore.core.checks import check_choice, check_int, fail
from gapexplore.describe import SoapSettings
from gapexplore.run.presets import plain, soap_settings_of
from gapexplore.select import KT_SCHEDULE, METHODS, kt_for_iteration

__all__ = ["FLAT_NAMES", "SelectionSettings", "accepting_flat_names", "flat_form"]

#: The flat name of each field of :class:`SelectionSettings`: its name among the other
#: settings in ``settings.json``, in TOML files and as a keyword of ``ExploreSettings``.
FLAT_NAMES = {"method": "selection", "n_select": "n_select", "n_histogram": "n_histogram",
              "kT": "kT", "soap": "soap", "stochastic": "selection_stochastic",
              "center": "selection_center"}
#: The fields of the block by their flat names, but for ``selection`` (the block itself,
#: or its method by name).
_FIELD_OF_FLAT = {flat: name for name, flat in FLAT_NAMES.items() if flat != "selection"}


@dataclass(frozen=True)
class SelectionSettings:
    """How each iteration chooses the structures to label: the Boltzmann-biased flat
    histogram over the relaxation frames, then a method on their averaged SOAP vectors.

    Parameters
    ----------
    method : str, one of :data:`gapexplore.select.METHODS`
        How the structures to label are chosen after the flat histogram
        (:func:`gapexplore.select.select_structures`): on the SOAP kernel, greedy
        leverage-score CUR with deflation (``"kernel_cur"``, the default) or the paper's
        authors' leverage sampling (``"kernel_leverage"``: top n/2 singular vectors, drawn,
        no deflation), or farthest-point sampling from the database (``"kernel_fps"``); by
        the previous GAP's own predicted error (``"uncertainty"``, one frame per
        relaxation first; iteration 0, which has no GAP, by kernel CUR; the chosen
        structures' mean predicted error is recorded as ``selected_predicted_error``); or
        the baselines of the paper's Fig. 2, CUR on the matrix of averaged SOAP vectors
        and uniform random choice. Flat name ``selection``.
    n_select : int
        Structures labelled per iteration (paper: 100).
    n_histogram : int, optional
        Frames the flat histogram passes to the method; default 10 × ``n_select``.
    kT : float or tuple of float
        kT [eV] of the flat histogram in iterations 1, 2, ...; the last value repeats
        (paper: 0.3, 0.2, 0.1). One value: the same in every iteration. Kept as a tuple.
    soap : {"paper", "fast", "paper-quip"}, dict or SoapSettings
        The selection's SOAP: :meth:`SoapSettings.paper` or :meth:`SoapSettings.fast`
        (computed by dscribe), the paper's settings computed by QUIP (``"paper-quip"``: the
        paper's kernel exactly, from QUIP's definitions summed over pairs,
        :mod:`gapexplore.soap_average`: about a sixth of dscribe's cost), or a table of
        :class:`SoapSettings` fields over one (``{"preset": "fast", "backend": "quip"}``);
        a SoapSettings is kept as its table. :meth:`soap_settings` builds it.
    stochastic : bool
        CUR draws each structure with probability equal to its leverage instead of taking
        the largest (autoplex and wfl do; the paper's text does not say). Only with
        ``"kernel_cur"`` or ``"vector_cur"`` (``"kernel_leverage"`` always draws). Flat
        name ``selection_stochastic``.
    center : bool
        CUR on the centred kernel (or centred vectors), as wfl does; default the paper's
        uncentred kernel. Only with a CUR ``method``. Flat name ``selection_center``.

    Examples
    --------
    >>> SelectionSettings(method="kernel_fps", n_select=20, kT=0.2).kT
    (0.2,)
    """

    method: str = "kernel_cur"
    n_select: int = 100
    n_histogram: int | None = None
    kT: tuple = KT_SCHEDULE
    soap: str | dict = "paper"
    stochastic: bool = False
    center: bool = False

    def __post_init__(self):
        where = "SelectionSettings"
        check_choice(self.method, "method", where, METHODS)
        check_int(self.n_select, "n_select", where, low=1)
        if self.n_histogram is not None:
            check_int(self.n_histogram, "n_histogram", where, low=1)
        for name in ("stochastic", "center"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise fail(name, where, "a bool", value)
            if value and self.method in ("random", "kernel_fps"):
                raise fail(name, where, f"False with method={self.method!r} (a CUR "
                           "option)", value)
        if self.stochastic and self.method == "kernel_leverage":
            raise fail("stochastic", where, "False with method='kernel_leverage' (which "
                       "always draws)", True)
        self._check_kt(where)
        if isinstance(self.soap, SoapSettings):   # kept as its table of fields
            object.__setattr__(self, "soap", plain(dataclasses.asdict(self.soap)))
        elif isinstance(self.soap, dict):
            object.__setattr__(self, "soap", plain(self.soap))
        self.soap_settings()   # checks the preset or table

    def _check_kt(self, where: str) -> None:
        """Check kT (one temperature or a schedule); keep it as a tuple of floats."""
        if isinstance(self.kT, (int, float)) and not isinstance(self.kT, bool):
            object.__setattr__(self, "kT", (self.kT,))  # one temperature for every iteration
        if not isinstance(self.kT, (tuple, list)) or not self.kT or any(
                isinstance(t, bool) or not (isinstance(t, (int, float)) and t > 0)
                for t in self.kT):
            raise fail("kT", where, "a temperature > 0 eV or a non-empty sequence of them",
                       self.kT)
        object.__setattr__(self, "kT", tuple(float(t) for t in self.kT))

    def kt_for(self, iteration: int) -> float:
        """Temperature kT [eV] of the flat histogram in ``iteration`` (>= 1)."""
        return kt_for_iteration(iteration, self.kT)

    def soap_settings(self) -> SoapSettings:
        """The selection's :class:`SoapSettings` (its preset, with the table's fields)."""
        return soap_settings_of(self.soap, where="SelectionSettings")

    def to_dict(self) -> dict:
        """The values by field name (a ``[selection]`` table of a TOML file)."""
        return dataclasses.asdict(self)

    def to_flat(self) -> dict:
        """The values by flat name (:data:`FLAT_NAMES`), as ``settings.json`` holds them."""
        return {FLAT_NAMES[name]: value for name, value in self.to_dict().items()}

    @classmethod
    def from_dict(cls, values: dict) -> SelectionSettings:
        """Settings from a table of fields (:meth:`to_dict`'s output; lists as tuples).

        Raises
        ------
        InvalidParameterError
            For a value that is not such a table, or one with a name that is not a field.
        """
        if not isinstance(values, dict):
            raise fail("values", "SelectionSettings.from_dict", "a dict of fields", values)
        unknown = sorted(set(values) - set(FLAT_NAMES))
        if unknown:
            raise fail("values", "SelectionSettings.from_dict", "a table of SelectionSettings "
                       f"fields ({', '.join(FLAT_NAMES)})", f"unknown {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def flat_form(values: dict) -> dict:
    """A table of settings with its ``selection`` block, if a table (or a
    :class:`SelectionSettings`), in the flat form: each field it names under its flat name
    (:data:`FLAT_NAMES`); a method's name, and every other setting, as they are."""
    block = values.get("selection")
    if isinstance(block, SelectionSettings):
        block = block.to_dict()
    if not isinstance(block, dict):
        return dict(values)
    unknown = sorted(set(block) - set(FLAT_NAMES))
    if unknown:
        raise fail("selection", "ExploreSettings", "a table of SelectionSettings fields "
                   f"({', '.join(FLAT_NAMES)})", f"unknown {', '.join(unknown)}")
    rest = {k: v for k, v in values.items() if k != "selection"}
    return rest | {FLAT_NAMES[name]: value for name, value in block.items()}


def accepting_flat_names(cls):
    """Let ``cls`` (:class:`~gapexplore.run.ExploreSettings`, a dataclass with a
    ``selection`` block) take the block's fields by their flat names (:data:`FLAT_NAMES`)
    too, each set over the block given (its table, its method's name, or the default
    block)."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **values):
        flat = {_FIELD_OF_FLAT[k]: values.pop(k) for k in list(values) if k in _FIELD_OF_FLAT}
        if flat:
            block = values.get("selection", {})
            if isinstance(block, SelectionSettings):
                block = block.to_dict()
            elif isinstance(block, str):
                block = {"method": block}
            elif not isinstance(block, dict):
                raise fail("selection", "ExploreSettings", "a SelectionSettings, a table of "
                           "its fields or the name of a selection method", block)
            values["selection"] = {**block, **flat}
        init(self, *args, **values)

    cls.__init__ = __init__
    return cls
