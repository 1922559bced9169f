"""Parameter checks at the boundary, with one message template for all of them.

The template follows scikit-learn's: ``The 'kT' parameter of select must be a float > 0.
Got -1 instead.`` Checks return the value (converted where that is safe) so callers can
write ``kT = check_positive(kT, "kT", "select")``.
"""

from __future__ import annotations

import numbers

import numpy as np
from ase import Atoms

from gapexplore.core.errors import InvalidParameterError


def fail(name: str, where: str, allowed: str, got: object) -> InvalidParameterError:
    """Build the error for parameter ``name`` of ``where`` that must be ``allowed``."""
    error = InvalidParameterError(
        f"The {name!r} parameter of {where} must be {allowed}. Got {got!r} instead."
    )
    error.parameter, error.where, error.allowed, error.got = name, where, allowed, got
    return error


def check_real(value, name: str, where: str, *, low=None, high=None,
               low_open: bool = False) -> float:
    """Return ``value`` as a finite float in ``[low, high]`` (``(low, high]`` if ``low_open``)."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        bounds.append(f"<= {high}")
    allowed = "a finite float" + (" " + " and ".join(bounds) if bounds else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(name, where, allowed, value)
    value = float(value)
    if not np.isfinite(value):
        raise fail(name, where, allowed, value)
    if low is not None and (value < low or (low_open and value == low)):
        raise fail(name, where, allowed, value)
    if high is not None and value > high:
        raise fail(name, where, allowed, value)
    return value


def check_int(value, name: str, where: str, *, low=None, high=None) -> int:
    """Return ``value`` as an int inside ``[low, high]``."""
    bounds = []
    if low is not None:
        bounds.append(f">= {low}")
    if high is not None:
        bounds.append(f"<= {high}")
    allowed = "an int" + (" " + " and ".join(bounds) if bounds else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise fail(name, where, allowed, value)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise fail(name, where, allowed, value)
    return value


def check_int_range(value, name: str, where: str, *, low: int, high: int) -> tuple[int, int]:
    """Return ``value`` as an inclusive ``(lo, hi)`` pair of ints with ``low <= lo <= hi <= high``.

    A single int ``n`` means ``(n, n)``.
    """
    allowed = f"an int or a pair (lo, hi) of ints with {low} <= lo <= hi <= {high}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise fail(name, where, allowed, value) from None
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in (lo, hi)):
        raise fail(name, where, allowed, value)
    if not low <= lo <= hi <= high:
        raise fail(name, where, allowed, value)
    return int(lo), int(hi)


def check_choice(value, name: str, where: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise fail(name, where, f"one of {options}", value)
    return value


def check_rng(rng, where: str) -> np.random.Generator:
    """Return ``rng`` if it is a :class:`numpy.random.Generator`.

    gapexplore never seeds global state: every random function takes its own generator,
    e.g. ``numpy.random.default_rng(42)``.
    """
    if not isinstance(rng, np.random.Generator):
        raise fail("rng", where, "a numpy.random.Generator (e.g. numpy.random.default_rng(0))", rng)
    return rng


def check_structures(structures, name: str, where: str) -> list:
    """``structures`` as a list if every item is an ``ase.Atoms``; the error names the first
    item that is not, by position and type."""
    if isinstance(structures, Atoms) or not hasattr(structures, "__iter__"):
        raise fail(name, where, "a list of ase.Atoms", type(structures).__name__)
    structures = list(structures)
    for index, atoms in enumerate(structures):
        if not isinstance(atoms, Atoms):
            raise fail(name, where, "a list of ase.Atoms",
                       f"{type(atoms).__name__} at position {index}")
    return structures

