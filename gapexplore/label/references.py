"""Anything a user may pass as a reference, as a :class:`~gapexplore.label.protocol.Reference`
(:func:`as_reference`, the one home of that rule), and the calculator each process keeps for
it (:func:`cached_calculator`, the one per-process cache of calculators)."""

from __future__ import annotations

import dataclasses
import importlib

from ase import Atoms
from ase.calculators.calculator import BaseCalculator
from ase.data import atomic_numbers

from gapexplore.core.checks import fail
from gapexplore.core.errors import InvalidParameterError
from gapexplore.core.parallel import process_cached
from gapexplore.label.named import named_reference
from gapexplore.label.protocol import CalculatorReference, FactoryReference, Reference

__all__ = ["as_reference", "cached_calculator", "reference_calculator",
           "reference_min_distance"]


def as_reference(reference, *, name: str | None = None, elements=None,
                 where: str = "as_reference") -> Reference:
    """The :class:`Reference` for anything a user may pass as one; the one home of that
    rule.

    Parameters
    ----------
    reference : str, callable, ASE calculator or Reference
        A name of :data:`NAMED_REFERENCES` (its package must be installed),
        ``"module:function"`` naming an importable function that returns an ASE
        calculator, such a function or class, a calculator instance, or a Reference.
    name : str, optional
        Recorded as ``REF_NAME`` instead of the reference's own name (for
        ``"module:function"``, that text).
    elements : iterable of str, optional
        Chemical symbols covered, instead of the reference's own (None: any, for a
        function or calculator).
    where : str
        The function named in error messages.

    Raises
    ------
    InvalidParameterError
        For an unknown name, a package that is not installed (with its install command),
        an import that fails, or anything else; before any calculation.
    """
    if isinstance(reference, str) and ":" in reference:
        name = reference if name is None else name   # recorded as the user typed it
        reference = _import_function(reference, where)
    if isinstance(reference, str):
        ref = named_reference(reference, where, parameter="reference")
    elif isinstance(reference, BaseCalculator):
        ref = CalculatorReference(reference, type(reference).__name__)
    elif isinstance(reference, Reference):
        ref = reference
    elif callable(reference):
        ref = FactoryReference(reference, getattr(reference, "__qualname__", None)
                               or type(reference).__name__)
    else:
        raise fail("reference", where, "a reference name, a function returning an ASE "
                   "calculator, or an ASE calculator", reference)
    changes = {}
    if name is not None:
        if not isinstance(name, str) or not name:
            raise fail("name", where, "a non-empty str or None", name)
        changes["name"] = name
    if elements is not None:
        if isinstance(elements, str) or not (elements := tuple(elements)) or any(
                e not in atomic_numbers or e == "X" for e in elements):
            raise fail("elements", where, "a list of chemical symbols such as ['Si']",
                       elements)
        changes["elements"] = elements
    if changes:
        if not dataclasses.is_dataclass(ref):
            raise fail("name", where, "None for a Reference of your own (give it its "
                       "name and elements itself)", changes)
        ref = dataclasses.replace(ref, **changes)
    return ref


def _import_function(text: str, where: str):
    """The function that ``"module:function"`` names. Its own exception, when the module
    fails to import, is kept as the cause and named in the message."""
    module_name, _, function = text.partition(":")
    allowed = "a reference name or an importable 'module:function' returning an ASE calculator"
    if not module_name or not function.isidentifier():
        raise fail("reference", where, allowed, text)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            raise fail("reference", where, f"{allowed}; no module named {error.name!r} is "
                       "on the Python path (the current folder, PYTHONPATH)", text) from error
        raise InvalidParameterError(_import_failed(text, module_name, error)) from error
    except Exception as error:   # the user's module raised while it was imported
        raise InvalidParameterError(_import_failed(text, module_name, error)) from error
    if not hasattr(module, function):
        raise fail("reference", where, f"{allowed}; module {module_name!r} "
                   f"({getattr(module, '__file__', '?')}) has no {function!r}", text)
    return getattr(module, function)


def _import_failed(text: str, module_name: str, error: BaseException) -> str:
    return (f"The reference {text!r} names module {module_name!r}, which was found but "
            f"failed to import: {type(error).__name__}: {error}. Fix the module (a package "
            "it imports may be missing from this environment).")


def cached_calculator(reference: Reference) -> BaseCalculator:
    """The calculator of ``reference`` in this process: built on first use and kept
    (:func:`gapexplore.core.parallel.process_cached`); a calculator instance as it is."""
    if reference.cache_key is None:
        return reference.calculator()
    return process_cached("reference", reference.cache_key, reference.calculator)


def reference_calculator(reference):
    """A new ASE calculator for ``reference`` (anything :func:`as_reference` takes, e.g.
    ``"sw-si"`` or ``"chgnet"``).

    For a toy reference, a matscipy ``Manybody`` calculator (energy [eV], forces [eV/Å],
    stress [eV/Å³]). It does not check elements or distances:
    :func:`gapexplore.label.label_structures` does.

    Raises
    ------
    InvalidParameterError
        For a name not in :data:`NAMED_REFERENCES` (the message lists the known names),
        or a surrogate or DFT reference whose package is not installed (the message says
        how to install it).
    """
    return as_reference(reference, where="reference_calculator").calculator()


def reference_min_distance(reference, element: str) -> float:
    """Shortest interatomic distance [Å] that labelling computes for ``element`` with
    ``reference`` by default: closer atoms are refused.

    For a surrogate or GPAW its own limit (a fraction of twice the covalent radius,
    :meth:`PackagedReference.min_distance`); otherwise :data:`DEFAULT_MIN_DISTANCE`.
    """
    return as_reference(reference, where="reference_min_distance").min_distance(Atoms(element))
