"""Per-configuration fitting noise from the height above the (V, E) convex hull.

Paper, Methods: the weights of energies, forces and virials in the fit are diagonal noise
terms, set per structure from ΔE, the per-atom reference energy above the lower convex hull
of the (volume, energy) points at the same volume: σ_E is 1 meV/atom for ΔE ≤ 0.1 eV and
100 meV/atom for ΔE ≥ 1 eV, linear in between; σ_F 31.6 → 316 meV/Å and σ_V 63.2 →
632 meV/atom over the same range. Low-energy structures are fitted closely, high-energy
ones loosely.

Choices the paper leaves open: gap_fit reads per-configuration σ as absolute values, so
σ_E and σ_V per atom are multiplied by √N (the scaling gap_fit applies to per-atom default
sigmas); dimers have no volume and get fixed σ (0.1 eV/atom, 0.5 eV/Å, autoplex's values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from gapexplore.core import keys
from gapexplore.core.checks import check_real, fail

__all__ = ["NoiseSettings", "hull_distance", "noise_for", "with_noise"]


@dataclass(frozen=True)
class NoiseSettings:
    """Per-configuration noise as piecewise-linear functions of ΔE (paper, Methods).

    Parameters
    ----------
    delta_low, delta_high : float
        ΔE [eV/atom] at and below which the low σ apply, and at and above which the high
        σ apply (paper: 0.1 and 1.0).
    energy : (float, float)
        σ_E [eV/atom] at ``delta_low`` and ``delta_high`` (paper: 0.001, 0.1).
    force : (float, float)
        σ_F [eV/Å] (paper: 0.0316, 0.316).
    virial : (float, float)
        σ_V [eV/atom] (paper: 0.0632, 0.632).
    dimer_energy, dimer_force : float
        Fixed σ of dimers [eV/atom, eV/Å].
    """

    delta_low: float = 0.1
    delta_high: float = 1.0
    energy: tuple[float, float] = (0.001, 0.1)
    force: tuple[float, float] = (0.0316, 0.316)
    virial: tuple[float, float] = (0.0632, 0.632)
    dimer_energy: float = 0.1
    dimer_force: float = 0.5

    def __post_init__(self):
        where = "NoiseSettings"
        low = check_real(self.delta_low, "delta_low", where, low=0.0)
        check_real(self.delta_high, "delta_high", where, low=low, low_open=True)
        for name in ("energy", "force", "virial"):
            pair = getattr(self, name)
            if len(pair) != 2 or not all(np.isfinite(pair)) or min(pair) <= 0:
                raise fail(name, where, "a pair of positive floats (low, high)", pair)


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
    from scipy.spatial import ConvexHull, QhullError

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


def _degenerate_hull_distance(v: np.ndarray, e: np.ndarray) -> np.ndarray:
    order = np.argsort(v)
    if np.ptp(v) < 1e-12:  # one volume: the hull is the lowest point
        return e - e.min()
    # collinear (or two) points: the lower hull is the line through the extreme volumes'
    # lowest points; points above it are above the hull
    left, right = order[0], order[-1]
    line = e[left] + (e[right] - e[left]) * (v - v[left]) / (v[right] - v[left])
    return np.clip(e - line, 0.0, None)


def noise_for(delta_e, settings: NoiseSettings | None = None):
    """σ_E [eV/atom], σ_F [eV/Å] and σ_V [eV/atom] for heights ΔE [eV/atom] above the hull.

    Each is constant at its low value for ΔE ≤ ``delta_low``, at its high value for
    ΔE ≥ ``delta_high``, and linear in between (paper, Methods).
    """
    settings = NoiseSettings() if settings is None else settings
    delta_e = np.asarray(delta_e, dtype=float)
    knots = [settings.delta_low, settings.delta_high]
    return tuple(np.interp(delta_e, knots, pair)
                 for pair in (settings.energy, settings.force, settings.virial))


def with_noise(structures: list[Atoms], settings: NoiseSettings | None = None) -> list[Atoms]:
    """Copies of labelled structures with per-configuration σ for gap_fit in ``info``.

    Periodic structures get σ from their height above the (V, E) hull of the periodic
    structures of the same composition in the list (energies per atom of different
    compositions are not comparable: each stoichiometry has its own hull); non-periodic ones
    (dimers) the fixed dimer σ. Values in ``info`` are absolute, as gap_fit reads them: σ_E
    and σ_V times √N.
    """
    settings = NoiseSettings() if settings is None else settings
    out = [_clean_copy(a) for a in structures]
    groups = {}
    for atoms in out:
        if atoms.pbc.all():
            groups.setdefault(atoms.symbols.formula.reduce()[0].format("hill"), []).append(atoms)
    for periodic in groups.values():
        heights = hull_distance([a.get_volume() / len(a) for a in periodic],
                                [a.info[keys.REF_ENERGY] / len(a) for a in periodic])
        sigma_e, sigma_f, sigma_v = noise_for(heights, settings)
        for atoms, h, se, sf, sv in zip(periodic, heights, sigma_e, sigma_f, sigma_v):
            root_n = np.sqrt(len(atoms))
            atoms.info[keys.HULL_DISTANCE] = float(h)
            atoms.info[keys.ENERGY_SIGMA] = float(se * root_n)
            atoms.info[keys.FORCE_SIGMA] = float(sf)
            atoms.info[keys.VIRIAL_SIGMA] = float(sv * root_n)
    for atoms in out:
        if not atoms.pbc.all():
            atoms.info[keys.ENERGY_SIGMA] = settings.dimer_energy * np.sqrt(len(atoms))
            atoms.info[keys.FORCE_SIGMA] = settings.dimer_force
            atoms.info.pop(keys.REF_VIRIAL, None)
    return out


def _clean_copy(atoms: Atoms) -> Atoms:
    """A copy without calculator, its virial as the 9 numbers gap_fit reads (extxyz would
    write a 3×3 array as JSON).
    """
    copy = atoms.copy()
    copy.calc = None
    if keys.REF_VIRIAL in copy.info:
        copy.info[keys.REF_VIRIAL] = np.asarray(copy.info[keys.REF_VIRIAL], float).reshape(9)
    return copy
