"""The formation-energy convex hull of a binary or ternary database, by the reference and
by a GAP (a run across compositions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from gapexplore.core import keys
from gapexplore.core.checks import check_structures, fail
from gapexplore.core.chemistry import atomic_fractions
from gapexplore.core.hull import composition_hull_distance
from gapexplore.fit import predict

__all__ = ["HullData", "formation_energies", "hull_problem"]


@dataclass
class HullData:
    """The formation-energy convex hull of :func:`formation_energies`.

    Attributes
    ----------
    elements : tuple of str
        The two or three elements (alphabetical).
    x : numpy.ndarray
        Atomic fraction of the second element (B of A–B) of each structure.
    reference, gap : numpy.ndarray
        Formation energy per atom [eV/atom] by the reference and by the GAP (``gap`` None
        without a potential), each from its own end members (below).
    reference_above_hull, gap_above_hull : numpy.ndarray
        Height above the lower convex hull of (composition, E) [eV/atom] by each (0: on the
        hull).
    structures : list of ase.Atoms
        The structures, in order.
    fractions : numpy.ndarray, shape (n, len(elements))
        Atomic fraction of each element in each structure.
    """

    elements: tuple
    x: np.ndarray
    reference: np.ndarray
    gap: np.ndarray | None
    reference_above_hull: np.ndarray
    gap_above_hull: np.ndarray | None
    structures: list = field(repr=False)
    fractions: np.ndarray | None = field(default=None, repr=False)

    def columns(self) -> dict:
        """Plain columns (one value per structure) for a table or a ColumnDataSource."""
        nan = np.full(len(self.x), np.nan)
        return {"x": self.x, "reference": self.reference,
                "gap": nan if self.gap is None else self.gap,
                "reference_above_hull": self.reference_above_hull,
                "gap_above_hull": nan if self.gap_above_hull is None else self.gap_above_hull,
                "formula": [a.get_chemical_formula() for a in self.structures],
                "uid": [str(a.info.get(keys.UID, "")) for a in self.structures],
                "iteration": [int(a.info.get(keys.ITERATION, -1)) for a in self.structures],
                "index": np.arange(len(self.x))}


def hull_problem(structures: list[Atoms]) -> tuple[str, str] | None:
    """Why :func:`formation_energies` cannot draw the hull of ``structures`` (periodic,
    labelled), as (what it needs, what it got), or None if it can: two or three elements,
    two compositions or more, and for three elements each element's own cells (the corners
    of the diagram)."""
    elements = tuple(sorted({s for a in structures for s in a.get_chemical_symbols()}))
    if len(elements) not in (2, 3):
        return ("structures of two or three elements (a binary or ternary system)",
                ", ".join(elements) or "none")
    fractions = atomic_fractions(structures, elements)
    if np.all(np.ptp(fractions, axis=0) < 1e-12):
        return "structures of two compositions or more", "one"
    if len(elements) == 3:
        missing = [e for e, column in zip(elements, fractions.T)
                   if not np.any(np.isclose(column, 1.0))]
        if missing:
            return ("a ternary set with cells of each element alone (the diagram's corners): "
                    f"explore the whole system ({'-'.join(elements)}) or add the elements",
                    f"no cells of {', '.join(missing)} alone")
    return None


def formation_energies(structures: list[Atoms], *, potential=None) -> HullData:
    """Formation energies and the convex hull of labelled binary or ternary structures,
    by the reference and (given ``potential``) by a GAP.

    The formation energy per atom of each structure is its energy per atom less an affine
    function of its composition: for a binary, the line through the lowest energies per
    atom at the smallest and the largest B fraction present (the elements themselves in a
    run across e.g. Si, SiC and C); for a ternary, the plane through the lowest energy per
    atom of each element's own cells. An affine function does not move the hull, so the
    heights above it do not depend on this choice.

    Parameters
    ----------
    structures : list of ase.Atoms
        Periodic structures with ``info[keys.REF_ENERGY]`` [eV], of exactly two or three
        elements together (some may hold fewer), at two compositions or more; a ternary
        set holds cells of each element alone.
    potential : str, pathlib.Path or ASE calculator, optional
        A GAP whose energies are compared on the same structures.

    Returns
    -------
    HullData

    Raises
    ------
    InvalidParameterError
        For unlabelled or non-periodic structures, other than two or three elements, a
        single composition, or a ternary set without an element's own cells.
    """
    where = "formation_energies"
    structures = check_structures(structures, "structures", where)
    if not all(a.pbc.all() and keys.REF_ENERGY in a.info for a in structures):
        raise fail("structures", where, "periodic structures with reference energies "
                   f"(info[{keys.REF_ENERGY!r}])", "some without")
    problem = hull_problem(structures)
    if problem is not None:
        raise fail("structures", where, *problem)
    elements = tuple(sorted({s for a in structures for s in a.get_chemical_symbols()}))
    fractions = atomic_fractions(structures, elements)
    x = fractions[:, 1]
    n = np.array([len(a) for a in structures])

    def formation(energies):
        if len(elements) == 2:
            lo, hi = np.isclose(x, x.min()), np.isclose(x, x.max())
            e_lo, e_hi = energies[lo].min(), energies[hi].min()
            plane = e_lo + (e_hi - e_lo) * (x - x.min()) / (x.max() - x.min())
        else:
            corners = [energies[np.isclose(column, 1.0)].min() for column in fractions.T]
            plane = fractions @ np.array(corners)
        return energies - plane, composition_hull_distance(fractions, energies)

    reference, reference_above = formation(
        np.array([a.info[keys.REF_ENERGY] for a in structures]) / n)
    gap = gap_above = None
    if potential is not None:
        gap, gap_above = formation(predict(structures, potential)[0] / n)
    return HullData(elements=elements, x=x, reference=reference, gap=gap,
                    reference_above_hull=reference_above, gap_above_hull=gap_above,
                    structures=list(structures), fractions=fractions)
