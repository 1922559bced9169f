"""The structures beside the random cells that every iteration-0 database holds: dimers
over a wide range of bond lengths (short-range repulsion) and the isolated atom (its
energy is the GAP's ``e0``) — for a compound, of every pair of species and every element."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from gapexplore.core import keys
from gapexplore.core.checks import check_real, fail
from gapexplore.core.chemistry import Composition, as_composition

__all__ = ["dimers", "isolated_atom"]


def dimers(chemistry, distances=None, *, box: float = 20.0) -> list[Atoms]:
    """Two atoms in vacuum over a wide range of bond lengths (short-range repulsion).

    Parameters
    ----------
    chemistry : Chemistry or Composition
        An element and its characteristic radius r [Å]; or a compound, whose every pair of
        species (a, a), (a, b), ... gets its own series, at the pair's mean radius
        (r_a + r_b) / 2 in place of r.
    distances : array_like of float, optional
        Bond lengths [Å], the same for every pair. Default: 21 points from 1.0 r to 4.5 r
        (Si: 1.11–5.0 Å), covering the range of autoplex's 1.0–5.0 Å for Si.
    box : float
        Edge of the cubic, non-periodic box [Å].

    Returns
    -------
    list of ase.Atoms
        Non-periodic dimers along x, centred in the box, with ``CONFIG_TYPE`` ``"dimer"``
        and ``DIMER_DISTANCE`` [Å] in ``info``; pair by pair in the order of the elements.
    """
    where = "dimers"
    species = _species(chemistry, where)
    box = check_real(box, "box", where, low=0.0, low_open=True)
    if distances is not None:
        distances = np.asarray(distances, dtype=float)
        if distances.ndim != 1 or not np.all(np.isfinite(distances)) \
                or np.any(distances <= 0) or np.any(distances >= box / 2):
            raise fail("distances", where,
                       f"a 1-d list of finite bond lengths in (0, {box / 2}) Å",
                       distances.tolist())
    out = []
    for i, a in enumerate(species):
        for b in species[i:]:
            radius = (a.radius + b.radius) / 2
            series = np.linspace(1.0, 4.5, 21) * radius if distances is None else distances
            if np.any(series >= box / 2):
                raise fail("box", where, f"larger than twice the longest dimer "
                           f"({2 * series.max():.2f} Å)", box)
            for d in series:
                atoms = Atoms([a.element, b.element], positions=[[0, 0, 0], [d, 0, 0]],
                              cell=[box] * 3, pbc=False)
                atoms.center()
                atoms.info[keys.CONFIG_TYPE] = keys.CONFIG_DIMER
                atoms.info[keys.DIMER_DISTANCE] = float(d)
                out.append(atoms)
    return out


def isolated_atom(chemistry, *, box: float = 20.0) -> Atoms | list[Atoms]:
    """One atom in the centre of a cubic, non-periodic box of edge ``box`` [Å].

    Its reference energy becomes the GAP's ``e0``; ``CONFIG_TYPE`` is ``"isolated_atom"``.
    For a :class:`Composition`, a list: the isolated atom of each element, in its order.
    """
    species = _species(chemistry, "isolated_atom")
    box = check_real(box, "box", "isolated_atom", low=0.0, low_open=True)
    atoms = []
    for one in species:
        single = Atoms(one.element, positions=[[box / 2] * 3], cell=[box] * 3, pbc=False)
        single.info[keys.CONFIG_TYPE] = keys.CONFIG_ISOLATED_ATOM
        atoms.append(single)
    return atoms if isinstance(chemistry, Composition) else atoms[0]


def _species(chemistry, where: str) -> tuple:
    """The Chemistry of each element of a Chemistry or a Composition."""
    return as_composition(chemistry, where).species
