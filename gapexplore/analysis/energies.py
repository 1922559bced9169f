"""A GAP's energies beside others: energy–volume curves (paper Fig. 3, right) and GAP
against reference energies (paper Fig. 4)."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from gapexplore.core import keys
from gapexplore.core.checks import fail
from gapexplore.fit import predict

__all__ = ["energy_energy", "energy_volume"]


def energy_volume(atoms: Atoms, calculators: dict, *, scales=None) -> dict:
    """Energy–volume curves of one structure by several calculators (paper Fig. 3).

    The cell is scaled uniformly (positions with it), without relaxing the atoms.

    Parameters
    ----------
    atoms : ase.Atoms
        A periodic structure, ideally relaxed by the reference.
    calculators : dict of str to ASE calculator
        E.g. ``{"GAP": gap, "reference": ref}``.
    scales : array_like, optional
        Volume ratios V/V_start; default 13 points from 0.80 to 1.20.

    Returns
    -------
    dict
        ``"volume_per_atom"`` [Å³/atom] and, per calculator name, energies per atom
        [eV/atom] (NaN where the calculator failed).
    """
    where = "energy_volume"
    if not isinstance(atoms, Atoms) or not atoms.pbc.all():
        raise fail("atoms", where, "a periodic ase.Atoms", type(atoms).__name__)
    if not calculators or not all(hasattr(c, "get_potential_energy")
                                  for c in calculators.values()):
        raise fail("calculators", where, "a dict of names to ASE calculators", calculators)
    scales = np.linspace(0.8, 1.2, 13) if scales is None else np.asarray(scales, float)
    if scales.ndim != 1 or not len(scales) or np.any(scales <= 0):
        raise fail("scales", where, "a 1-d sequence of volume ratios > 0", scales)
    out = {"volume_per_atom": scales * atoms.get_volume() / len(atoms)}
    for name, calculator in calculators.items():
        energies = []
        for scale in scales:
            copy = atoms.copy()
            copy.set_cell(atoms.cell[:] * scale ** (1 / 3), scale_atoms=True)
            copy.calc = calculator
            try:
                energies.append(copy.get_potential_energy() / len(copy))
            except Exception:  # a failed point is a gap in the curve, not a crash
                energies.append(np.nan)
        out[name] = np.array(energies)
    return out


def energy_energy(structures: list[Atoms], potential) -> dict:
    """GAP against reference energy per atom of labelled structures (paper Fig. 4).

    Parameters
    ----------
    structures : list of ase.Atoms
        Labelled structures (``info[keys.REF_ENERGY]``).
    potential : str, pathlib.Path or ASE calculator
        The GAP (XML path or calculator).

    Returns
    -------
    dict
        ``reference`` and ``gap`` energies per atom [eV/atom], ``rmse`` [eV/atom], and
        ``iteration`` of each structure (-1 if unknown).
    """
    structures = [a for a in structures if keys.REF_ENERGY in a.info]
    if not structures:
        raise fail("structures", "energy_energy", "labelled structures (with "
                   f"info[{keys.REF_ENERGY!r}])", "none")
    n = np.array([len(a) for a in structures])
    reference = np.array([a.info[keys.REF_ENERGY] for a in structures]) / n
    gap = predict(structures, potential)[0] / n
    return {"reference": reference, "gap": gap,
            "rmse": float(np.sqrt(np.mean((gap - reference) ** 2))),
            "iteration": np.array([a.info.get(keys.ITERATION, -1) for a in structures])}
