"""Heights above lower convex hulls: the one home of the hull rule.

:func:`hull_distance` is the paper's (V, E) hull of one composition (the fit's noise, paper
Methods); :func:`composition_hull_distance` is its extension across compositions, the
hull of (composition, [volume,] energy): the fit's noise and the flat histogram of a run
that explores several stoichiometries.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from gapexplore.core.checks import fail
from gapexplore.core.chemistry import atomic_fractions

__all__ = ["composition_hull_distance", "hull_distance", "structure_hull_distance"]


def hull_distance(volumes, energies) -> np.ndarray:
    """Height of each (V, E) point above the lower convex hull of all points, at its V.

    Parameters
    ----------
    volumes : array_like of float, shape (n,)
        Volume per atom [Å³/atom].
    energies : array_like of float, shape (n,)
        Energy per atom [eV/atom].

    Returns
    -------
    numpy.ndarray, shape (n,)
        ΔE ≥ 0 [eV/atom]; 0 for points on the lower hull. The hull comes from
        ``scipy.spatial.ConvexHull``; fewer than three distinct points, or points on one
        line, are their own hull.
    """
    v = np.asarray(volumes, dtype=float)
    e = np.asarray(energies, dtype=float)
    if v.shape != e.shape or v.ndim != 1 or not (np.all(np.isfinite(v)) and np.all(np.isfinite(e))):
        raise fail("volumes", "hull_distance", "finite 1-d arrays of the same length as energies",
                   f"shapes {v.shape} and {e.shape}")
    if len(v) == 0:
        return np.empty(0)
    points = np.column_stack([v, e])
    try:
        hull = ConvexHull(points)
    except (QhullError, ValueError):  # fewer than 3 points, or all on one line / one volume
        return _degenerate_hull_distance(v, e)
    lower = []
    for simplex, equation in zip(hull.simplices, hull.equations):
        if equation[1] < 0:  # outward normal points down: a facet of the lower hull
            lower.append(points[simplex])
    height = np.full(len(v), np.inf)
    for (v1, e1), (v2, e2) in lower:
        lo, hi = min(v1, v2), max(v1, v2)
        inside = (v >= lo - 1e-12) & (v <= hi + 1e-12)
        if hi - lo < 1e-12:
            floor = np.full(len(v), min(e1, e2))
        else:
            floor = e1 + (e2 - e1) * (v - v1) / (v2 - v1)
        height = np.where(inside, np.minimum(height, e - floor), height)
    return np.clip(height, 0.0, None)


def composition_hull_distance(fractions, energies, volumes=None) -> np.ndarray:
    """Height of each point above the lower convex hull of (composition, [volume,] energy).

    The hull of a run across compositions: energies per atom of different compositions are
    compared through the hull, so a point's height is its formation energy above the
    hull at its own composition (and volume, when given). At one composition it is
    :func:`hull_distance` (with volumes) or E − min E (without).

    Parameters
    ----------
    fractions : array_like, shape (n, k)
        Atomic fraction of each of k elements (rows sum to 1).
    energies : array_like, shape (n,)
        Energy (or enthalpy) per atom [eV/atom].
    volumes : array_like, shape (n,), optional
        Volume per atom [Å³/atom].

    Returns
    -------
    numpy.ndarray, shape (n,)
        Heights ≥ 0 [eV/atom]; 0 on the hull.

    Notes
    -----
    The lower hull is a convex piecewise-linear function, so its value at a point is the
    largest of its facets' planes there; the planes come from ``scipy.spatial.ConvexHull``
    (joggled, ``QJ``, when the points are degenerate).
    """
    where = "composition_hull_distance"
    x = np.asarray(fractions, dtype=float)
    e = np.asarray(energies, dtype=float)
    if x.ndim != 2 or e.shape != (len(x),) or not (np.all(np.isfinite(x))
                                                  and np.all(np.isfinite(e))):
        raise fail("fractions", where, "a finite (n, k) array and n finite energies",
                   f"shapes {x.shape} and {e.shape}")
    varying = x[:, :-1][:, np.ptp(x[:, :-1], axis=0) > 1e-12] if len(x) else x[:, :0]
    if volumes is not None:
        v = np.asarray(volumes, dtype=float)
        if v.shape != e.shape or not np.all(np.isfinite(v)):
            raise fail("volumes", where, "n finite volumes", v.shape)
    if not varying.shape[1]:                        # one composition
        return hull_distance(v, e) if volumes is not None else e - e.min() if len(e) else e
    coordinates = varying if volumes is None else np.column_stack([varying, v])
    points = np.column_stack([coordinates, e])
    try:
        hull = ConvexHull(points)
    except (QhullError, ValueError):
        try:
            hull = ConvexHull(points, qhull_options="QJ")
        except (QhullError, ValueError):            # too few points for a hull
            return np.clip(e - e.min(), 0.0, None) if len(points) < points.shape[1] + 1 \
                else _by_composition(x, e)
    lower = hull.equations[hull.equations[:, -2] < -1e-12]   # normal's energy part < 0
    planes = -(coordinates @ lower[:, :-2].T + lower[:, -1]) / lower[:, -2]
    return np.clip(e - planes.max(axis=1), 0.0, None)


def structure_hull_distance(structures, energies, volumes=None) -> np.ndarray:
    """:func:`composition_hull_distance` of structures: their compositions are the atomic
    fractions of the elements they hold.

    Parameters
    ----------
    structures : list of ase.Atoms
        The structures.
    energies : array_like, shape (n,)
        Energy (or enthalpy) per atom of each [eV/atom].
    volumes : array_like, shape (n,), optional
        Volume per atom of each [Å³/atom].
    """
    elements = sorted({s for a in structures for s in a.get_chemical_symbols()})
    return composition_hull_distance(atomic_fractions(structures, elements), energies, volumes)


def _by_composition(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    keys_ = [tuple(np.round(row, 9)) for row in x]
    lowest = {}
    for key, value in zip(keys_, e):
        lowest[key] = min(lowest.get(key, np.inf), value)
    return np.array([value - lowest[key] for key, value in zip(keys_, e)])


def _degenerate_hull_distance(v: np.ndarray, e: np.ndarray) -> np.ndarray:
    order = np.argsort(v)
    if np.ptp(v) < 1e-12:  # one volume: the hull is the lowest point
        return e - e.min()
    # collinear (or two) points: the lower hull is the line through the extreme volumes'
    # lowest points; points above it are above the hull
    left, right = order[0], order[-1]
    line = e[left] + (e[right] - e[left]) * (v - v[left]) / (v[right] - v[left])
    return np.clip(e - line, 0.0, None)
