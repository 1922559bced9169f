"""Loading quippy so that it does not change torch's arithmetic.

quippy loads its Fortran libraries with ``RTLD_GLOBAL``, and with them its own OpenBLAS. A
torch imported after that takes its matrix products from quippy's OpenBLAS instead of its
own MKL: other last digits, so a native GAP relaxation takes another path, to within
1e-9 eV after 30 steps, depending on whether the process (or the parent it was forked from)
happened to load quippy first — enough for a resumed run to fit another GAP than the
uninterrupted one (measured 2026-12-07: a 2-iteration Si run, training RMSE 25.5 against
24.9 meV/atom). Imported before quippy, torch keeps its own library, and quippy's own
results do not change (checked bitwise). So every quippy import of gapexplore goes
through :func:`import_quippy`, which imports torch first where it is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

__all__ = ["import_quippy", "torch_installed"]


def torch_installed() -> bool:
    """Whether torch can be imported here (it is not imported)."""
    return importlib.util.find_spec("torch") is not None


def import_quippy(module: str = "quippy.potential"):
    """The quippy module ``module``, with torch imported before it where installed (see
    the module docstring)."""
    if "quippy" not in sys.modules and torch_installed():
        importlib.import_module("torch")
    return importlib.import_module(module)
