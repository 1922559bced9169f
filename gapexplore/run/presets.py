"""The step settings of a run from its tables: the GAP and SOAP presets by name
(:data:`GAP_PRESETS`, :data:`SOAP_PRESETS`), a table's fields over a preset or the defaults
(:func:`gap_settings_of`, :func:`soap_settings_of`), the relaxations' table
(:class:`RelaxTable`), and the tables as plain values and TOML (:func:`plain`,
:func:`toml_text`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from gapexplore.core.checks import check_choice, fail
from gapexplore.core.chemistry import Chemistry, Composition
from gapexplore.core.errors import InvalidParameterError
from gapexplore.describe import SoapSettings
from gapexplore.fit import GapSettings, NoiseSettings
from gapexplore.relax import RelaxSettings

__all__ = ["GAP_PRESETS", "SOAP_PRESETS", "RelaxTable", "gap_settings_of", "plain",
           "soap_settings_of", "toml_text", "toml_value"]

#: The GAP presets by name: functions of the Chemistry.
GAP_PRESETS = {"paper": GapSettings.for_chemistry, "light": GapSettings.light}
#: The selection SOAP presets by name.
SOAP_PRESETS = {"paper": SoapSettings.paper, "fast": SoapSettings.fast,
                "paper-quip": lambda: SoapSettings.paper(backend="quip")}


def gap_settings_of(table: str | dict, chemistry: Chemistry | Composition) -> GapSettings:
    """The :class:`GapSettings` of a run's ``gap`` setting: a preset's name, or a table of
    fields (and ``preset``) over one, for ``chemistry``."""
    preset, fields = _preset("gap", table, GAP_PRESETS)
    base = GAP_PRESETS[preset](chemistry)
    if "noise" in fields:
        fields["noise"] = _build(NoiseSettings, fields["noise"], "gap.noise",
                                 dataclasses.asdict(base.noise))
    return _build(GapSettings, fields, "gap", dataclasses.asdict(base) | {"noise": base.noise})


def soap_settings_of(table: str | dict, where: str = "ExploreSettings") -> SoapSettings:
    """The selection's :class:`SoapSettings` of a run's ``soap`` setting (a preset's name,
    or a table of fields over one); an error names the setting as one of ``where``."""
    preset, fields = _preset("soap", table, SOAP_PRESETS, where)
    return _build(SoapSettings, fields, "soap",
                  dataclasses.asdict(SOAP_PRESETS[preset]()), where)


@dataclass(frozen=True)
class RelaxTable:
    """The ``relax`` table of a run's settings (``[relax]`` in TOML): the
    :class:`~gapexplore.relax.RelaxSettings` fields the run names, over the defaults.

    A field left None is not named: the relaxations take the default of the run's
    version (:func:`gapexplore.run.reader.with_optimiser_of_its_version`), so a run names
    only what it chose and ``settings.json`` holds only that. The convergence and the step
    cap are the flat settings ``relax_fmax`` and ``relax_max_steps``.

    Attributes
    ----------
    p0 : float or None
        Pressure scale p0 of Eq. 5 [GPa] (paper: 1).
    beta : float or None
        β of Eq. 5 (paper: 0.2).
    optimiser : str or None
        One of :data:`gapexplore.relax.OPTIMISERS`.
    min_distance_factor : float or None
        Stop when two atoms come closer than this times the characteristic radius.
    volume_bounds : (float, float) or None
        Stop when the volume per atom leaves this range, relative to the starting one.
    engine : str or None
        What evaluates the GAP (:data:`gapexplore.fit.ENGINES`).
    """

    p0: float | None = None
    beta: float | None = None
    optimiser: str | None = None
    min_distance_factor: float | None = None
    volume_bounds: tuple[float, float] | None = None
    engine: str | None = None

    def __post_init__(self):
        if isinstance(self.volume_bounds, list):
            object.__setattr__(self, "volume_bounds", tuple(self.volume_bounds))
        self.settings(RelaxSettings.fmax, RelaxSettings.max_steps)   # checks the fields

    @classmethod
    def from_dict(cls, table) -> RelaxTable:
        """The table of a run's settings (:meth:`to_dict`'s output); an earlier run's
        ``precon`` (a bool, before :data:`~gapexplore.relax.OPTIMISERS`) read as its
        optimiser. An error names the field as ``relax.<field>`` of ExploreSettings."""
        if isinstance(table, cls):
            return table
        if not isinstance(table, dict):
            raise fail("relax", "ExploreSettings", "a table of RelaxSettings fields (p0, beta, "
                       "optimiser, min_distance_factor, volume_bounds, engine)", table)
        for name in ("fmax", "max_steps"):
            if name in table:
                raise fail("relax", "ExploreSettings", f"a table without {name!r} (set "
                           f"relax_{name} instead)", table)
        fields = dict(table)
        if "precon" in fields:  # the field before OPTIMISERS (settings of earlier runs)
            if "optimiser" in fields:
                raise fail("relax", "ExploreSettings", "a table with 'optimiser' or the "
                           "older 'precon', not both", table)
            fields["optimiser"] = "precon-lbfgs" if fields.pop("precon") else "lbfgs-linesearch"
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(fields) - set(names))
        if unknown:
            raise fail("relax", "ExploreSettings", "a table of RelaxSettings fields "
                       f"({', '.join(names)})", f"unknown {', '.join(unknown)}")
        return cls(**fields)

    def to_dict(self) -> dict:
        """The fields it names, as plain values (``settings.json``, TOML)."""
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}

    def settings(self, fmax: float, max_steps: int) -> RelaxSettings:
        """The :class:`~gapexplore.relax.RelaxSettings` of the named fields over the
        defaults, with ``fmax`` [eV/Å] and ``max_steps`` (``relax_fmax``,
        ``relax_max_steps``)."""
        return _build(RelaxSettings, self.to_dict(), "relax",
                      dataclasses.asdict(RelaxSettings(fmax=fmax, max_steps=max_steps)))


def plain(value):
    """Nested dicts with tuples as lists: what JSON and TOML give back."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def toml_value(value) -> str:
    """``value`` (a bool, number, string or list of them) as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def toml_text(values: dict) -> str:
    """Settings as TOML: plain fields at the top, then a table for each dict (and a
    sub-table for each dict in one); None values left out."""
    values = {k: v for k, v in values.items() if v is not None}
    tables = {k: values.pop(k) for k in list(values) if isinstance(values[k], dict)}
    lines = [f"{k} = {toml_value(v)}" for k, v in values.items()]
    for name, table in tables.items():
        inner = {k: v for k, v in table.items() if isinstance(v, dict)}
        lines += ["", f"[{name}]"] + [f"{k} = {toml_value(v)}" for k, v in table.items()
                                      if k not in inner and v is not None]
        for sub_name, sub_table in inner.items():
            lines += ["", f"[{name}.{sub_name}]"] + [
                f"{k} = {toml_value(v)}" for k, v in sub_table.items() if v is not None]
    return "\n".join(lines) + "\n"


def _preset(name: str, value, presets: dict,
            where: str = "ExploreSettings") -> tuple[str, dict]:
    """(preset name, fields over it) of a ``gap``/``soap`` setting of ``where``."""
    if isinstance(value, str):
        check_choice(value, name, where, tuple(presets))
        return value, {}
    if not isinstance(value, dict):
        raise fail(name, where, f"one of {', '.join(presets)}, or a table of fields over "
                   "one", value)
    fields = dict(value)
    preset = fields.pop("preset", "paper")
    check_choice(preset, f"{name}.preset", where, tuple(presets))
    return preset, fields


def _build(kind, fields: dict, name: str, base: dict, where: str = "ExploreSettings"):
    """``kind(**(base | fields))``; an unknown or bad field named as ``name.field`` of
    ``where``."""
    unknown = sorted(set(fields) - set(base))
    if unknown:
        raise fail(name, where, f"a table of {kind.__name__} fields ({', '.join(base)})",
                   f"unknown {', '.join(unknown)}")
    values = base | {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    try:
        return kind(**values)
    except InvalidParameterError as error:  # the field's own check: say which table
        raise InvalidParameterError(f"In the {name!r} table of {where}: {error}") from None
    except (TypeError, ValueError) as error:
        raise fail(name, where, f"valid {kind.__name__} fields", str(error)) from None
