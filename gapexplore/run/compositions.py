"""A run's elements and compositions as its settings give them, checked and settled: a
whole system becomes its list of formulas, a one-element formula that element's run, and a
run of neither silicon's."""

from __future__ import annotations

from gapexplore.core.checks import check_int_range, fail
from gapexplore.core.chemistry import Composition, compositions_in, compositions_of

__all__ = ["settle_chemistry"]


def settle_chemistry(settings, where: str) -> None:
    """Check the ``element``, ``composition``, ``bonding`` and ``radius`` of ``settings`` (an
    :class:`~gapexplore.run.settings.ExploreSettings` being made) and settle them in place:
    a one-element composition is that element's run, and a run of neither is silicon's."""
    if isinstance(settings.composition, str) and "-" in settings.composition:  # a whole system
        n_atoms = check_int_range(settings.n_atoms, "n_atoms", where, low=1, high=200)
        object.__setattr__(settings, "composition",
                           tuple(compositions_in(settings.composition, n_atoms)))
    if isinstance(settings.composition, (list, tuple)):   # several stoichiometries
        if not all(isinstance(f, str) for f in settings.composition):
            raise fail("composition", where, "a formula or a list of formulas",
                       settings.composition)
        if settings.radius is not None and not isinstance(settings.radius, dict):
            raise fail("radius", where, "a table by element (e.g. {'Si': 1.11, 'C': 0.76}) "
                       "for a composition", settings.radius)
        _, compositions = compositions_of(settings.composition, bonding=settings.bonding,
                                          radius=settings.radius)
        formulas = tuple(c.formula for c in compositions)
        object.__setattr__(settings, "composition", formulas if len(formulas) > 1
                           else formulas[0])
        if len(formulas) > 1:
            if settings.element is not None:
                raise fail("element", where, "None with composition="
                           f"{list(formulas)!r} (the formulas name the elements)",
                           settings.element)
            for name in ("bonding", "radius"):
                if isinstance(getattr(settings, name), dict):
                    object.__setattr__(settings, name, dict(getattr(settings, name)))
            settings.chemistry()
            return
    for name, value in (("element", settings.element), ("composition", settings.composition)):
        if value is not None and not isinstance(value, str):
            raise fail(name, where, "a str or None", value)
    if settings.composition is not None:
        if settings.element is not None:
            raise fail("element", where, f"None with composition={settings.composition!r} "
                       "(the formula names the elements)", settings.element)
        if settings.radius is not None and not isinstance(settings.radius, dict):
            raise fail("radius", where, "a table by element (e.g. {'Si': 1.11, 'C': 0.76}) "
                       "for a composition", settings.radius)
        composition = Composition.of(settings.composition, bonding=settings.bonding,
                                     radius=settings.radius)
        if len(composition.elements) == 1:   # a formula of one element
            element = composition.elements[0]
            object.__setattr__(settings, "element", element)
            object.__setattr__(settings, "composition", None)
            for name in ("bonding", "radius"):
                value = getattr(settings, name)
                if isinstance(value, dict):
                    object.__setattr__(settings, name, value.get(element))
        else:
            object.__setattr__(settings, "composition", composition.formula)
            for name in ("bonding", "radius"):
                if isinstance(getattr(settings, name), dict):
                    object.__setattr__(settings, name, dict(getattr(settings, name)))
    elif settings.element is None:
        object.__setattr__(settings, "element", "Si")
    for name in ("bonding", "radius"):
        if settings.composition is None and isinstance(getattr(settings, name), dict):
            raise fail(name, where, f"a single value for the element {settings.element} "
                       "(a table by element is for a composition)", getattr(settings, name))
    settings.chemistry()
