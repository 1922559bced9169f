"""What a batch of relaxations found: each trajectory's status, the converged final frames,
the lowest of them and the lowest of each kind of structure."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from gapexplore.core import keys
from gapexplore.core.checks import check_int
from gapexplore.core.chemistry import reduced_formula
from gapexplore.core.hull import structure_hull_distance
from gapexplore.core.symmetry import achiral, space_group

__all__ = ["converged_finals", "lowest_final", "lowest_kinds", "status_kind"]


def status_kind(status: str) -> str:
    """The kind of a ``RELAX_STATUS``: ``"converged"``, ``"max_steps"``, ``"exploded"`` or
    ``"error"`` (the last two carry their reason after a colon)."""
    return status.partition(":")[0]


def converged_finals(trajectories: list[list[Atoms]]) -> list[Atoms]:
    """The final frames of the relaxations in ``trajectories`` that converged (each with
    its energy and enthalpy)."""
    return [t[-1] for t in trajectories
            if t[-1].info.get(keys.RELAX_STATUS) == "converged"
            and keys.GAP_ENERGY in t[-1].info and keys.ENTHALPY_PER_ATOM in t[-1].info]


def _ranked_finals(trajectories: list[list[Atoms]]) -> tuple[list[Atoms], np.ndarray, list]:
    """The converged final frames of ``trajectories`` from the lowest up (a stable sort:
    ties keep their order), the measure they are ranked by [eV/atom] (the enthalpy per
    atom; across several compositions, the height above their (composition, enthalpy)
    hull) and their reduced formulas, all in that order."""
    finals = converged_finals(trajectories)
    if not finals:
        return [], np.zeros(0), []
    measure = np.array([a.info[keys.ENTHALPY_PER_ATOM] for a in finals], dtype=float)
    formulas = [reduced_formula(a) for a in finals]
    if len(set(formulas)) > 1:
        measure = np.asarray(structure_hull_distance(finals, list(measure)), dtype=float)
    order = np.argsort(measure, kind="stable")
    return [finals[i] for i in order], measure[order], [formulas[i] for i in order]


def lowest_final(trajectories: list[list[Atoms]]) -> dict | None:
    """The lowest-enthalpy final frame among converged relaxations of ``trajectories``
    (:func:`relax_structures`' output): its enthalpy [eV/atom], pressure [GPa], atom count,
    volume [Å³/atom], space group (spglib, symprec 0.1 Å) and ``RELAX_ID``; None if no
    relaxation converged. When the finals span several compositions, the lowest above the
    (composition, enthalpy) hull of them (the flat histogram's measure; ties go to the
    first), with its ``formula`` and ``above_hull`` [eV/atom]."""
    ranked, measure, formulas = _ranked_finals(trajectories)
    if not ranked:
        return None
    best = ranked[0]
    extra = {"formula": formulas[0], "above_hull": float(measure[0])} \
        if len(set(formulas)) > 1 else {}
    return {"enthalpy_per_atom": best.info[keys.ENTHALPY_PER_ATOM],
            "pressure": best.info[keys.PRESSURE], "n_atoms": len(best),
            "volume_per_atom": best.get_volume() / len(best),
            "spacegroup": space_group(best),
            "relax_id": best.info.get(keys.RELAX_ID), **extra}


def lowest_kinds(trajectories: list[list[Atoms]], count: int) -> list[Atoms]:
    """The lowest final frame of each of the ``count`` lowest kinds of structure among the
    converged relaxations of ``trajectories``, lowest first: a kind is a reduced formula
    and a space group (:func:`~gapexplore.core.symmetry.space_group`, symprec 0.1 Å; a
    structure and its mirror image are one kind), so zincblende and wurtzite SiC are two
    kinds and two zincblende cells one. Ranked as :func:`lowest_final` ranks (enthalpy per atom,
    or the height above the hull across compositions), so the first is its frame. Fewer
    when fewer kinds converged; each frame carries ``info['spacegroup']``."""
    check_int(count, "count", "lowest_kinds", low=1)
    ranked, _, formulas = _ranked_finals(trajectories)
    chosen, seen = [], set()
    for atoms, formula in zip(ranked, formulas):
        group = space_group(atoms)
        kind = (formula, achiral(str(group)))
        if kind in seen:
            continue
        seen.add(kind)
        atoms = atoms.copy()
        atoms.info["spacegroup"] = str(group)
        chosen.append(atoms)
        if len(chosen) == count:
            break
    return chosen
