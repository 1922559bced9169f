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
from gapexplore.core.hull import hull_distance, structure_hull_distance

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
    structures in the list; when they span several compositions, above the
    (composition, V, E) hull of them all
    (:func:`~gapexplore.core.hull.structure_hull_distance`), which compares their energies
    through formation energies. Non-periodic ones (dimers) get the fixed dimer σ. Values
    in ``info`` are absolute, as gap_fit reads them: σ_E and σ_V times √N.
    """
    settings = NoiseSettings() if settings is None else settings
    out = [_clean_copy(a) for a in structures]
    periodic = [a for a in out if a.pbc.all()]
    if periodic:
        heights = structure_hull_distance(
            periodic, [a.info[keys.REF_ENERGY] / len(a) for a in periodic],
            [a.get_volume() / len(a) for a in periodic])
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
