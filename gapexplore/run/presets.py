"""The step settings of a run from its tables: the GAP and SOAP presets by name
(:data:`GAP_PRESETS`, :data:`SOAP_PRESETS`), a table's fields over a preset or the defaults
(:func:`gap_settings_of`, :func:`soap_settings_of`, :func:`relax_settings_of`), and the
tables as plain values and TOML (:func:`plain`, :func:`toml_text`)."""

from __future__ import annotations

import dataclasses
import json

from gapexplore.core.checks import check_choice, fail
from gapexplore.core.chemistry import Chemistry, Composition
from gapexplore.core.errors import InvalidParameterError
from gapexplore.describe import SoapSettings
from gapexplore.fit import GapSettings, NoiseSettings
from gapexplore.relax import RelaxSettings

__all__ = ["GAP_PRESETS", "SOAP_PRESETS", "gap_settings_of", "plain", "relax_settings_of",
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


def relax_settings_of(table: dict, fmax: float, max_steps: int) -> RelaxSettings:
    """The :class:`RelaxSettings` of a run's ``relax`` table over the defaults, with
    ``fmax`` [eV/Å] and ``max_steps`` (``relax_fmax``, ``relax_max_steps``)."""
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
    return _build(RelaxSettings, fields, "relax",
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
