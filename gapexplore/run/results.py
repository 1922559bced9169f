"""The search's result: the distinct low-energy structures a run found, ranked, and the top
ones checked with the reference (AIRSS's ``ca -r`` is the model).

The minima are the final frames of every converged GAP relaxation of the run. Each was
relaxed by the GAP of its iteration, whose energies can be far off (an early GAP can put a
structure 0.2 eV/atom too low), so :func:`rank_run` ranks them by the energy per atom that
the run's newest GAP gives each relaxed structure, measured from the lower convex hull of
(composition, energy) of all the minima (:mod:`gapexplore.core.hull`): at one composition
that is the energy above the lowest minimum; in a run across compositions (Si, SiC, C) it is
the formation energy above the hull, which compares structures of different
stoichiometry. Relaxations run at random pressures; the
energy per atom is their enthalpy at zero pressure (the pressures are a few GPa at most),
and each keeps its own enthalpy and pressure.

Two minima are the same structure (:func:`same_structure`) when they have the same
composition and space group (spglib at ``symprec``; a structure and its mirror image, in
the two groups of an enantiomorphic pair such as P6₁22 and P6₅22, count as one), energies
per atom within
``energy_tol`` and volumes per atom within ``volume_tol``, and averaged-SOAP vectors whose
cosine is at least ``1 - soap_tol``. The SOAP comparison is size-invariant, so a supercell
or another setting of a cell merges with it; the space group keeps polymorphs with
near-identical local order apart (diamond and lonsdaleite: Fd-3m and P6₃/mmc).

:func:`verify` relaxes the top structures with the reference (zero pressure, cell
included) and keeps each result in ``results/reference.json`` of the run folder the moment
it finishes, keyed by the structure: a rerun computes only what is missing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import spglib
from ase import Atoms
from ase.io import write as write_frames

from gapexplore.core import keys
from gapexplore.core.checks import check_int, check_real
from gapexplore.core.hull import structure_hull_distance
from gapexplore.core.symmetry import achiral, canonical_cell, space_group
from gapexplore.describe import SoapSettings, averaged_soap
from gapexplore.fit import predict
from gapexplore.relax import RelaxSettings, converged_finals, relax
from gapexplore.run.reader import RunReader, RunView
from gapexplore.run.store import write_csv

__all__ = ["Found", "run_minima", "same_structure", "distinct_structures", "verify",
           "mark_same_to_the_reference",
           "rank_run", "symmetrised"]

#: Settings of the SOAP comparison of the matcher (short range, so local order).
MATCH_SOAP = SoapSettings(n_max=6, l_max=6, sigma=0.5, r_cut=5.0)


@dataclass
class Found:
    """One distinct structure of a run.

    Attributes
    ----------
    atoms : ase.Atoms
        Its lowest-energy minimum (a final relaxation frame), no calculator.
    energy : float
        GAP energy per atom of ``atoms`` [eV/atom] (by the run's newest GAP in
        :func:`rank_run`).
    enthalpy, pressure : float
        GAP enthalpy per atom [eV/atom] at the pressure [GPa] it was relaxed at.
    spacegroup : str
        spglib's symbol and number at the matcher's ``symprec``.
    volume : float
        Volume per atom [Å³/atom].
    above_hull : float
        GAP energy per atom above the lower convex hull of (composition, energy) of the
        minima it was ranked among [eV/atom] (at one composition: above the lowest).
    count : int
        Relaxations that ended in it.
    first_iteration : int
        Iteration of the first of them.
    reference, reference_status : float or None, str or None
        The reference's own relaxed energy per atom [eV/atom] and how that relaxation
        ended (after :func:`verify`).
    reference_spacegroup : str or None
        Space group of the reference's relaxed structure (after :func:`verify`).
    same_as : int or None
        Rank (from 1) of a higher-ranked structure that the reference relaxes this one
        into: same formula, same space group after the reference's relaxation, and
        reference energies within 1 meV/atom (:func:`rank_run`). The GAP tells them
        apart; the reference does not.
    members : list of int
        Positions, in the list given to :func:`distinct_structures`, of the minima merged
        into it (its own first).
    """

    atoms: Atoms
    energy: float
    enthalpy: float
    pressure: float
    spacegroup: str
    volume: float
    above_hull: float = 0.0
    count: int = 1
    first_iteration: int = 0
    reference: float | None = None
    reference_status: str | None = None
    reference_spacegroup: str | None = None
    same_as: int | None = None
    members: list = field(default_factory=list, repr=False, compare=False)
    _vector: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        """A short hash of the structure (numbers, cell, positions to 1e-6 Å)."""
        a = self.atoms
        data = (a.numbers.tobytes() + np.round(a.cell[:], 6).tobytes()
                + np.round(a.positions, 6).tobytes())
        return hashlib.sha256(data).hexdigest()[:16]

    def row(self) -> dict:
        """Plain values for tables."""
        return {"formula": self.atoms.get_chemical_formula(), "n_atoms": len(self.atoms),
                "spacegroup": self.spacegroup, "volume": self.volume, "energy": self.energy,
                "above_hull": self.above_hull, "enthalpy": self.enthalpy,
                "pressure": self.pressure, "count": self.count,
                "first_iteration": self.first_iteration, "reference": self.reference,
                "reference_status": self.reference_status, "same_as": self.same_as}


def run_minima(store) -> list[Atoms]:
    """The final frames of every converged GAP relaxation of a run
    (:class:`~gapexplore.run.RunStore`), each with ``info[keys.ITERATION]``: each
    iteration's ``minima.xyz``, or for a run written without it, its trajectories'."""
    minima = []
    for folder in sorted(store.root.glob("iter_*")):
        if not (folder / "trajectories.xyz").exists():
            continue
        iteration = int(folder.name.split("_")[1])
        finals = (store.read_structures(iteration, "minima")
                  if (folder / "minima.xyz").exists()
                  else converged_finals(store.relaxations(iteration)))
        for frame in finals:
            frame.info[keys.ITERATION] = iteration
            minima.append(frame)
    return minima


def same_structure(a: Found, b: Found, *, energy_tol: float = 0.005,
                   volume_tol: float = 0.03, soap_tol: float = 1e-3) -> bool:
    """Whether two found structures are the same (see the module docstring)."""
    return (a.atoms.get_chemical_formula(empirical=True)
            == b.atoms.get_chemical_formula(empirical=True)
            and achiral(a.spacegroup) == achiral(b.spacegroup)
            and abs(a.energy - b.energy) <= energy_tol
            and abs(a.volume - b.volume) <= volume_tol * min(a.volume, b.volume)
            and float(a._vector @ b._vector) >= 1.0 - soap_tol)


def distinct_structures(minima: list[Atoms], *, energies=None, symprec: float = 0.1,
                        energy_tol: float = 0.005, volume_tol: float = 0.03,
                        soap_tol: float = 1e-3) -> list[Found]:
    """The distinct structures among relaxed ``minima``, lowest above the hull first
    (:attr:`Found.above_hull`; at one composition: lowest energy per atom first).

    Parameters
    ----------
    minima : list of ase.Atoms
        Relaxed structures with ``keys.GAP_ENERGY`` [eV], ``keys.ENTHALPY_PER_ATOM``,
        ``keys.PRESSURE`` and, optionally, ``keys.ITERATION`` (:func:`run_minima`).
    energies : array_like of float, optional
        Energy per atom of each minimum to rank and match by [eV/atom] (e.g. by the newest
        GAP); default ``GAP_ENERGY / len``.
    symprec : float
        spglib tolerance [Å] of the space group.
    energy_tol : float
        Energies per atom closer than this [eV/atom] may be one structure.
    volume_tol : float
        Relative difference of the volumes per atom allowed.
    soap_tol : float
        1 − cosine of the averaged SOAP vectors allowed (:data:`MATCH_SOAP`).
    """
    energy_tol = check_real(energy_tol, "energy_tol", "distinct_structures", low=0.0)
    volume_tol = check_real(volume_tol, "volume_tol", "distinct_structures", low=0.0)
    candidates = []
    vectors = averaged_soap(minima, MATCH_SOAP) if minima else []
    if energies is None:
        energies = [a.info[keys.GAP_ENERGY] / len(a) for a in minima]
    heights = structure_hull_distance(minima, energies) if minima else []
    for index, (atoms, vector, energy, height) in enumerate(
            zip(minima, vectors, energies, heights)):
        found = Found(atoms=_bare(atoms), energy=float(energy), above_hull=float(height),
                      enthalpy=float(atoms.info.get(keys.ENTHALPY_PER_ATOM, np.nan)),
                      pressure=float(atoms.info.get(keys.PRESSURE, 0.0)),
                      spacegroup=space_group(atoms, symprec) or "?",
                      volume=atoms.get_volume() / len(atoms),
                      first_iteration=int(atoms.info.get(keys.ITERATION, 0)),
                      members=[index], _vector=vector)
        candidates.append(found)
    candidates.sort(key=lambda f: (f.above_hull, f.energy))
    groups: list[Found] = []
    for found in candidates:
        same = next((g for g in groups if same_structure(
            g, found, energy_tol=energy_tol, volume_tol=volume_tol, soap_tol=soap_tol)), None)
        if same is None:
            groups.append(found)
        else:
            same.count += 1
            same.members.append(found.members[0])
            same.first_iteration = min(same.first_iteration, found.first_iteration)
    return groups


def verify(found: list[Found], reference, *, chemistry, store=None,
           settings: RelaxSettings | None = None) -> list[Found]:
    """Relax each of ``found`` with the reference's calculator at zero pressure and record
    its energy per atom (``reference``, ``reference_status``); returns ``found``.

    Parameters
    ----------
    found : list of Found
    reference : Reference
        :func:`gapexplore.label.as_reference` of the run's reference.
    chemistry : Chemistry
    store : RunStore, optional
        Keep each result in ``results/reference.json`` as it finishes, and take those
        already there instead of computing them again.
    settings : RelaxSettings, optional
        Default: fmax 0.01 eV/Å, 300 steps, no preconditioner.
    """
    settings = RelaxSettings(optimiser="lbfgs-linesearch") if settings is None else settings
    done = (store.read_json("results/reference.json") if store is not None else None) or {}
    calculator = None
    for item in found:
        if item.key not in done:
            calculator = calculator or reference.calculator()
            frames = relax(item.atoms, calculator, pressure=0.0, chemistry=chemistry,
                           settings=settings)
            last = frames[-1]
            energy = (float(last.info[keys.GAP_ENERGY] / len(last))
                      if keys.GAP_ENERGY in last.info else None)
            done[item.key] = {"energy": energy, "status": last.info[keys.RELAX_STATUS],
                              "spacegroup": space_group(last, 0.1)}
            if store is not None:
                (store.root / "results").mkdir(exist_ok=True)
                store.write_json("results/reference.json", done)
        item.reference = done[item.key]["energy"]
        item.reference_status = done[item.key]["status"]
        item.reference_spacegroup = done[item.key].get("spacegroup")
    return found


#: Reference energies [eV/atom] within which two verified structures of one formula and
#: space group (after the reference's relaxation) are one structure to the reference.
SAME_REFERENCE_ENERGY = 0.001


def mark_same_to_the_reference(found: list[Found]) -> list[Found]:
    """Set ``same_as`` on each verified structure that the reference relaxes into a
    higher-ranked one (see :class:`Found`); returns ``found``."""
    for rank, item in enumerate(found):
        if item.reference is None or item.reference_spacegroup is None:
            continue
        for earlier, other in enumerate(found[:rank], start=1):
            if other.same_as is None and other.reference is not None \
                    and other.reference_spacegroup is not None \
                    and other.atoms.get_chemical_formula(empirical=True) \
                    == item.atoms.get_chemical_formula(empirical=True) \
                    and achiral(other.reference_spacegroup) \
                    == achiral(item.reference_spacegroup) \
                    and abs(other.reference - item.reference) <= SAME_REFERENCE_ENERGY:
                item.same_as = earlier
                break
    return found


def rank_run(folder, *, top: int = 10, verify_top: int = 0, write: bool = True,
             **matcher) -> list[Found]:
    """The ranked distinct structures of the run in ``folder`` (the ``top`` lowest by the
    run's newest GAP), the first ``verify_top`` of them checked with the run's reference
    (:func:`verify`).

    ``folder`` is a run folder, or the run opened as a
    :class:`~gapexplore.run.reader.RunReader` or :class:`~gapexplore.run.Explorer` (whose
    reference is then used: give one for a run with a reference of your own);
    :meth:`Explorer.results <gapexplore.run.Explorer.results>` calls this.

    With ``write``, ``results/ranked.xyz`` (extxyz, the ranked structures as relaxed, with
    their figures in ``info``), ``results/ranked.csv`` and one CIF per structure,
    symmetrised in its space group (:func:`symmetrised`; ``results/NN_<space group>.cif``)
    go into the run folder.
    """
    top = check_int(top, "top", "rank_run", low=1)
    verify_top = check_int(verify_top, "verify_top", "rank_run", low=0)
    explorer = folder if isinstance(folder, RunView) else RunReader(folder, where="rank_run")
    minima = run_minima(explorer.store)
    energies = None
    if minima and explorer.potential is not None:
        totals, _ = predict(minima, explorer.potential)
        energies = totals / np.array([len(a) for a in minima])
    found = distinct_structures(minima, energies=energies, **matcher)[:top]
    verify(found[:verify_top], explorer.reference, chemistry=explorer.chemistry,
           store=explorer.store)
    mark_same_to_the_reference(found)
    if write and found:
        _write(explorer.store.root / "results", found, matcher.get("symprec", 0.1))
    return found


def symmetrised(atoms: Atoms, symprec: float = 0.1) -> Atoms:
    """``atoms`` made exactly symmetric in the space group spglib finds at ``symprec`` [Å]:
    its standardised conventional cell with idealised positions (spglib's
    ``standardize_cell``); ``atoms`` itself (a copy) where spglib finds no cell."""
    cell = spglib.standardize_cell(canonical_cell(atoms), to_primitive=False,
                                   no_idealize=False, symprec=symprec)
    if cell is None:
        return _bare(atoms)
    lattice, fractional, numbers = cell
    return Atoms(numbers, scaled_positions=fractional, cell=lattice, pbc=True)


def _write(folder: Path, found: list[Found], symprec: float) -> None:
    folder.mkdir(exist_ok=True)
    structures = []
    for rank, item in enumerate(found, start=1):
        atoms = item.atoms.copy()
        atoms.info.update({keys.RESULT_PREFIX + k: v for k, v in item.row().items()
                           if v is not None})
        atoms.info[keys.RESULT_RANK] = rank
        structures.append(atoms)
        name = item.spacegroup.split()[0].replace("/", "_")
        write_frames(folder / f"{rank:02d}_{name}.cif", symmetrised(item.atoms, symprec),
                     format="cif")
    write_frames(folder / "ranked.xyz", structures, format="extxyz")
    write_csv(folder / "ranked.csv", [{"rank": r, **item.row()}
                                      for r, item in enumerate(found, start=1)])


def _bare(atoms: Atoms) -> Atoms:
    copy = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return copy
