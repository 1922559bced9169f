"""The structures beside the random cells that every iteration-0 database holds: dimers
over a wide range of bond lengths (short-range repulsion) and the isolated atom (its
energy is the GAP's ``e0``)."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from gapexplore.core import keys
from gapexplore.core.checks import check_real, fail
from gapexplore.core.chemistry import Chemistry, check_chemistry

__all__ = ["dimers", "isolated_atom"]


def dimers(chemistry: Chemistry, distances=None, *, box: float = 20.0) -> list[Atoms]:
    """Two atoms in vacuum over a wide range of bond lengths (short-range repulsion).

    Parameters
    ----------
    chemistry : Chemistry
        Element and characteristic radius r [Å].
    distances : array_like of float, optional
        Bond lengths [Å]. Default: 21 points from 1.0 r to 4.5 r (Si: 1.11–5.0 Å),
        covering the range of autoplex's 1.0–5.0 Å for Si.
    box : float
        Edge of the cubic, non-periodic box [Å].

    Returns
    -------
    list of ase.Atoms
        Non-periodic dimers along x, centred in the box, with ``CONFIG_TYPE`` ``"dimer"``
        and ``DIMER_DISTANCE`` [Å] in ``info``.
    """
    where = "dimers"
    check_chemistry(chemistry, where)
    box = check_real(box, "box", where, low=0.0, low_open=True)
    if distances is None:
        distances = np.linspace(1.0, 4.5, 21) * chemistry.radius
    distances = np.asarray(distances, dtype=float)
    if distances.ndim != 1 or not np.all(np.isfinite(distances)) or np.any(distances <= 0) \
            or np.any(distances >= box / 2):
        raise fail("distances", where, f"a 1-d list of finite bond lengths in (0, {box / 2}) Å",
                   distances.tolist())
    out = []
    for d in distances:
        atoms = Atoms(2 * chemistry.element, positions=[[0, 0, 0], [d, 0, 0]],
                      cell=[box] * 3, pbc=False)
        atoms.center()
        atoms.info[keys.CONFIG_TYPE] = keys.CONFIG_DIMER
        atoms.info[keys.DIMER_DISTANCE] = float(d)
        out.append(atoms)
    return out


def isolated_atom(chemistry: Chemistry, *, box: float = 20.0) -> Atoms:
    """One atom in the centre of a cubic, non-periodic box of edge ``box`` [Å].

    Its reference energy becomes the GAP's ``e0``; ``CONFIG_TYPE`` is ``"isolated_atom"``.
    """
    check_chemistry(chemistry, "isolated_atom")
    box = check_real(box, "box", "isolated_atom", low=0.0, low_open=True)
    atoms = Atoms(chemistry.element, positions=[[box / 2] * 3], cell=[box] * 3, pbc=False)
    atoms.info[keys.CONFIG_TYPE] = keys.CONFIG_ISOLATED_ATOM
    return atoms
