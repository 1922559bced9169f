"""Known structures and the learning curves: how well each GAP knows them.

Paper Figs. 2 and 3: after each fit, the energy error per atom of known crystal structures
(relaxed), GAP against the reference. :func:`validate` relaxes each structure twice — with
the GAP and with the reference, at zero pressure, cell included — and compares the relaxed
energies per atom; it also reports the energy differences between the structures (e.g.
β-Sn − diamond Si) by both, the differences a user cares about. Each relaxation keeps the
structure's space group (ASE's ``FixSymmetry``), as the paper's benchmark relaxations do
("constraining the volume and symmetry of the cell"): the error is that of the named
structure, not of whatever an early GAP collapses it into.

The structures come from :mod:`gapexplore.crystals` (:func:`known_structure`, built from
published lattice parameters and Wyckoff positions; the held-out phases of
:func:`held_out_structure`), importable from here too. None of them is ever added to the
training data: they only measure what a GAP learnt.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixSymmetry

from gapexplore.core import keys
from gapexplore.core.chemistry import Chemistry, Composition, reduced_formula
from gapexplore.crystals import (
    HELD_OUT_STRUCTURES,
    KNOWN_STRUCTURES,
    held_out_structure,
    known_structure,
    structure_table,
)
from gapexplore.relax import RelaxSettings, relax

__all__ = ["HELD_OUT_STRUCTURES", "KNOWN_STRUCTURES", "held_out_structure", "known_structure",
           "lowest_label_above", "prediction_error", "reference_minima", "structure_table",
           "validate"]


def validate(structures: dict[str, Atoms], potential, reference, *,
             chemistry: Chemistry | Composition,
             settings: RelaxSettings | None = None, reference_energies=None,
             symmetric: bool = True) -> dict:
    """Relaxed energies per atom of known structures by a GAP and by the reference.

    Parameters
    ----------
    structures : dict of str to ase.Atoms
        Known structures by name (starting points; not modified).
    potential, reference : ASE calculators
        The GAP and the reference.
    chemistry : Chemistry or Composition
        For the relaxations' explosion guard.
    settings : RelaxSettings, optional
        Default: fmax 0.01 eV/Å, 300 steps.
    reference_energies : dict, optional
        Relaxed reference energies [eV/atom] by name, from an earlier call (the reference
        does not change during a run); computed when missing.
    symmetric : bool
        Keep each structure's space group while it relaxes (default; spglib at
        ``SYMPREC`` Å on the starting structure). Without it a GAP that makes the structure
        unstable relaxes it into another one, and its "error" is that other structure's.

    Returns
    -------
    dict
        Per name: ``gap`` and ``reference`` relaxed energy [eV/atom], ``error`` (GAP −
        reference) [eV/atom], ``gap_status``; and under ``"differences"``, for each name
        after the first of its composition, its energy above that first structure by the
        GAP and the reference (energies per atom of different compositions are not
        compared).
    """
    settings = _settings(settings)
    reference_energies = dict(reference_energies or {})
    out = {}
    for name, atoms in structures.items():
        if name not in reference_energies:
            reference_energies[name] = _relaxed_energy(atoms, reference, chemistry, settings,
                                                       symmetric)[0]
        gap, status = _relaxed_energy(atoms, potential, chemistry, settings, symmetric)
        out[name] = {"gap": gap, "reference": reference_energies[name],
                     "error": gap - reference_energies[name], "gap_status": status}
    first = {}   # the first name of each composition
    for name, atoms in structures.items():
        first.setdefault(reduced_formula(atoms), name)
    out["differences"] = {}
    for name, atoms in structures.items():
        zero = first[reduced_formula(atoms)]
        if name != zero:
            out["differences"][f"{name} - {zero}"] = {
                "gap": out[name]["gap"] - out[zero]["gap"],
                "reference": out[name]["reference"] - out[zero]["reference"]}
    return out


def reference_minima(structures: dict[str, Atoms], reference, *,
                     chemistry: Chemistry | Composition,
                     settings: RelaxSettings | None = None,
                     symmetric: bool = True) -> tuple[dict[str, Atoms], dict[str, float]]:
    """Each structure relaxed by the reference as :func:`validate` relaxes it: its start
    for the GAPs of a whole run.

    Passed on to :func:`validate` (``validate(minima, gap, reference, chemistry=...,
    reference_energies=energies)``), every GAP then relaxes each structure from the
    reference's own minimum, and its error is that of :func:`validate`, with the reference
    relaxed once for all of them.

    Parameters
    ----------
    structures : dict of str to ase.Atoms
        Structures by name (starting points; not modified).
    reference : ASE calculator
        The reference.
    chemistry : Chemistry or Composition
        For the relaxations' explosion guard.
    settings : RelaxSettings, optional
        As in :func:`validate`.
    symmetric : bool
        Keep each structure's space group while it relaxes, as in :func:`validate`.

    Returns
    -------
    minima : dict of str to ase.Atoms
        Each relaxed structure (no calculator, no constraint).
    energies : dict of str to float
        Each one's relaxed energy [eV/atom]; NaN where the relaxation exploded.
    """
    settings = _settings(settings)
    minima, energies = {}, {}
    for name, atoms in structures.items():
        last = _relaxed(atoms, reference, chemistry, settings, symmetric)
        minima[name] = Atoms(last.numbers, positions=last.positions, cell=last.cell,
                             pbc=last.pbc, info=dict(atoms.info))
        energies[name] = _energy_per_atom(last)
    return minima, energies


def lowest_label_above(structures: dict[str, Atoms], reference_energies: dict[str, float],
                       labels: list[Atoms]) -> dict[str, float | None]:
    """How far the lowest labelled cell of each known structure's composition lies above
    that structure, both by the reference [eV/atom].

    A GAP is fitted, not extrapolated, near a known structure only once its database holds
    cells near it in energy: in GAP-RSS those come from the search, and a search that
    never reached the ground state leaves the GAP's error there to extrapolation (the SiC
    demo, README). A value of a few meV/atom says the run labelled the structure, or one
    as low; some tens of meV/atom, that its GAP has not been shown anything as low.

    Parameters
    ----------
    structures : dict of str to ase.Atoms
        Known structures by name (their compositions are used).
    reference_energies : dict of str to float
        Each one's relaxed reference energy [eV/atom] (``validate(...)[name]["reference"]``).
    labels : list of ase.Atoms
        The labelled database (``info[keys.REF_ENERGY]`` [eV]); cells without periodic
        boundaries (dimers, the isolated atom) are left out.

    Returns
    -------
    dict of str to float or None
        Per name: the lowest label's reference energy per atom minus the structure's
        [eV/atom] (negative when a label is lower), None when no label has its
        composition.
    """
    lowest: dict[str, float] = {}
    for atoms in labels:
        if atoms.pbc.all() and keys.REF_ENERGY in atoms.info:
            formula = reduced_formula(atoms)
            energy = float(atoms.info[keys.REF_ENERGY]) / len(atoms)
            lowest[formula] = min(energy, lowest.get(formula, energy))
    out = {}
    for name, atoms in structures.items():
        found = lowest.get(reduced_formula(atoms))
        out[name] = None if found is None else found - float(reference_energies[name])
    return out


#: Tolerance [Å] of the space group a validation relaxation keeps.
SYMPREC = 1e-3


def _settings(settings: RelaxSettings | None) -> RelaxSettings:
    """The relaxation settings of a validation: ``settings``, by default fmax 0.01 eV/Å
    with ASE's line-search L-BFGS."""
    return RelaxSettings(optimiser="lbfgs-linesearch") if settings is None else settings


def _relaxed(atoms, calculator, chemistry, settings, symmetric) -> Atoms:
    """The last frame of a zero-pressure relaxation of ``atoms`` (its space group kept
    when ``symmetric``)."""
    if symmetric:
        atoms = atoms.copy()
        atoms.set_constraint(FixSymmetry(atoms, symprec=SYMPREC))
    return relax(atoms, calculator, pressure=0.0, chemistry=chemistry, settings=settings)[-1]


def _energy_per_atom(frame: Atoms) -> float:
    """A relaxed frame's energy [eV/atom]; NaN when the relaxation left none."""
    if keys.GAP_ENERGY not in frame.info:
        return float("nan")
    return float(frame.info[keys.GAP_ENERGY] / len(frame))


def _relaxed_energy(atoms, calculator, chemistry, settings, symmetric) -> tuple[float, str]:
    last = _relaxed(atoms, calculator, chemistry, settings, symmetric)
    return _energy_per_atom(last), last.info[keys.RELAX_STATUS]


def prediction_error(structures: list[Atoms]) -> dict | None:
    """Energy error of the GAP that chose ``structures`` on their new reference labels.

    A convergence signal that needs no known structure: the frames an iteration labels
    were relaxed with the previous GAP, which stored its energy on them
    (``info[keys.GAP_ENERGY]``), so once labelled they are a test set that GAP never saw.
    When it predicts the structures its own search finds, the exploration is converging.

    Parameters
    ----------
    structures : list of ase.Atoms
        Labelled structures; those without both ``info[keys.GAP_ENERGY]`` and
        ``info[keys.REF_ENERGY]`` (e.g. random cells, failed labels) are left out.

    Returns
    -------
    dict or None
        ``n`` (structures used), ``rmse``, ``mae`` and ``max`` of E_GAP − E_ref per atom
        [eV/atom], ``mean`` (the signed mean, a systematic shift) [eV/atom]; None when no
        structure carries both energies.
    """
    used = [a for a in structures
            if keys.GAP_ENERGY in a.info and keys.REF_ENERGY in a.info
            and keys.LABEL_ERROR not in a.info]
    if not used:
        return None
    errors = np.array([(a.info[keys.GAP_ENERGY] - a.info[keys.REF_ENERGY]) / len(a)
                       for a in used])
    return {"n": len(used), "rmse": float(np.sqrt(np.mean(errors ** 2))),
            "mae": float(np.mean(np.abs(errors))), "max": float(np.max(np.abs(errors))),
            "mean": float(np.mean(errors))}
