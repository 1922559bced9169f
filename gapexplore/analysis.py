"""What a run found and how well its GAPs know it: the data behind paper Figs. 2–5.

Pure functions on lists of ``ase.Atoms`` and run folders; the plots of these data are in
:mod:`gapexplore.widgets.plots` and the interactive views in :mod:`gapexplore.widgets`.

- :func:`learning_curves` — energy error of the known structures after each fit, against
  the number of reference labels (paper Figs. 2 and 3, left).
- :func:`prediction_errors` — each GAP's energy error on the next iteration's labels,
  which its own search found: a learning curve that needs no known structure.
- :func:`energy_volume` — energy–volume curves of a structure by several calculators
  (paper Fig. 3, right).
- :func:`energy_energy` — GAP against reference energies of labelled structures
  (paper Fig. 4).
- :func:`structure_map` — kernel-PCA map of a database with every cell rescaled to a
  shortest bond of 1 Å and coloured by coordination number (paper Fig. 5).
- :func:`formation_energies` — the formation-energy convex hull of a binary or ternary
  database, by the reference and by a GAP (a run across compositions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from gapexplore.core import keys
from gapexplore.core.checks import check_int, check_real, check_structures, fail
from gapexplore.core.geometry import min_distance
from gapexplore.describe import SoapSettings, averaged_soap, soap_kernel
from gapexplore.fit import predict
from gapexplore.run.reader import RunReader
from gapexplore.run.store import RunStore

__all__ = ["MAP_SOAP", "HullData", "StructureMapData", "coordination_numbers",
           "energy_energy", "energy_volume", "formation_energies", "hull_problem",
           "learning_curves",
           "nystrom_residual", "prediction_errors", "rescale_to_shortest_bond", "run_labels",
           "structure_map"]

#: SOAP of the structure map (paper Methods, for Fig. 5), in units of the shortest bond
#: r0: n = l = 16, σ = 0.1 r0, r_cut = 2.5 r0.
MAP_SOAP = SoapSettings(n_max=16, l_max=16, sigma=0.1, r_cut=2.5, zeta=4)

#: Bond length [Å] the map's cells are scaled to while their SOAP is computed. dscribe cannot
#: normalise its GTO basis with n_max = 16 at r_cut = 2.5 Å ("Could not calculate
#: normalization factors"); SOAP scales with the structure, so cells with a 4 Å shortest
#: bond, σ = 0.4 Å and r_cut = 10 Å give the paper's descriptor in units of r0.
_MAP_BOND = 4.0


def rescale_to_shortest_bond(atoms: Atoms, r0: float = 1.0) -> Atoms:
    """A copy of ``atoms`` scaled uniformly (cell and positions) so its shortest bond is
    ``r0`` [Å] (paper Fig. 5: compare topologies, not bond lengths)."""
    r0 = check_real(r0, "r0", "rescale_to_shortest_bond", low=0.0, low_open=True)
    shortest = min_distance(atoms)
    if not 0 < shortest < np.inf:
        raise fail("atoms", "rescale_to_shortest_bond", "a structure with a bond (two atoms "
                   "apart, or one atom in a periodic cell)", f"shortest distance {shortest}")
    copy = atoms.copy()
    copy.calc = None
    factor = r0 / shortest
    copy.set_cell(copy.cell[:] * factor, scale_atoms=True)
    if not copy.pbc.all():
        copy.positions = atoms.positions * factor
    return copy


def coordination_numbers(atoms: Atoms, cutoff: float) -> np.ndarray:
    """Neighbours of each atom within ``cutoff`` [Å] (periodic images included)."""
    from matscipy.neighbours import neighbour_list

    cutoff = check_real(cutoff, "cutoff", "coordination_numbers", low=0.0, low_open=True)
    first = neighbour_list("i", atoms, cutoff)
    return np.bincount(first, minlength=len(atoms))


@dataclass
class StructureMapData:
    """The structure map of :func:`structure_map`.

    Attributes
    ----------
    coordinates : numpy.ndarray, shape (n, 2)
        Kernel-PCA coordinates (arbitrary units, as in the paper).
    coordination : numpy.ndarray, shape (n,)
        Mean coordination number of each cell (neighbours within 1.2 of its shortest bond).
    element : list of str
        Chemical formula of each structure (the marker of paper Fig. 5).
    energy_per_atom : numpy.ndarray
        Reference energy per atom [eV/atom] (NaN where unlabelled).
    volume_per_atom : numpy.ndarray
        Volume per atom before rescaling [Å³/atom].
    labels : list of dict
        What each point is (uid, iteration, config type, number of atoms): hover text.
    structures : list of ase.Atoms
        The structures, unscaled, in map order.
    """

    coordinates: np.ndarray
    coordination: np.ndarray
    element: list
    energy_per_atom: np.ndarray
    volume_per_atom: np.ndarray
    labels: list
    structures: list = field(repr=False)

    def columns(self) -> dict:
        """Plain columns (one value per point) for a table or a bokeh ColumnDataSource."""
        return {"x": self.coordinates[:, 0], "y": self.coordinates[:, 1],
                "coordination": self.coordination, "element": self.element,
                "energy_per_atom": self.energy_per_atom,
                "volume_per_atom": self.volume_per_atom,
                **{k: [lab[k] for lab in self.labels] for k in
                   ("uid", "iteration", "config_type", "n_atoms")},
                "index": np.arange(len(self.element))}


def structure_map(structures: list[Atoms], *, soap: SoapSettings = MAP_SOAP,
                  coordination_cutoff: float = 1.2, n_jobs: int = 1) -> StructureMapData:
    """Kernel-PCA map of periodic structures, after paper Fig. 5.

    Each cell is rescaled to a shortest bond of 1 Å and all atoms are treated as one
    species, so that e.g. diamond-type C and Si fall on the same point and several runs
    (elements) can share one map. The averaged-SOAP kernel (Eq. 4) of the rescaled cells
    is projected on its first two principal components with scikit-learn's ``KernelPCA``.

    Parameters
    ----------
    structures : list of ase.Atoms
        Periodic cells (at least 3); dimers and isolated atoms are not allowed.
    soap : SoapSettings
        Descriptor of the rescaled cells, σ and r_cut in units of the shortest bond;
        default the paper's (:data:`MAP_SOAP`).
    coordination_cutoff : float
        Neighbour cutoff for the coordination number, in units of the shortest bond
        (paper: 1.2).
    n_jobs : int
        Processes for the SOAP calculation.

    Returns
    -------
    StructureMapData
    """
    from sklearn.decomposition import KernelPCA

    where = "structure_map"
    structures = check_structures(structures, "structures", where)
    if len(structures) < 3:
        raise fail("structures", where, "at least 3 periodic cells", f"{len(structures)}")
    if not all(a.pbc.all() for a in structures):
        raise fail("structures", where, "periodic cells only (leave out dimers and the "
                   "isolated atom, e.g. with `[a for a in labels if a.pbc.all()]`)",
                   "a non-periodic structure")
    n_jobs = check_int(n_jobs, "n_jobs", where, low=1)
    coordination_cutoff = check_real(coordination_cutoff, "coordination_cutoff", where,
                                     low=1.0)
    scaled = []
    for atoms in structures:
        copy = rescale_to_shortest_bond(atoms, _MAP_BOND)
        copy.numbers[:] = 14  # one species: the map compares topologies
        scaled.append(copy)
    in_angstrom = SoapSettings(n_max=soap.n_max, l_max=soap.l_max, zeta=soap.zeta,
                               sigma=soap.sigma * _MAP_BOND, r_cut=soap.r_cut * _MAP_BOND)
    vectors = averaged_soap(scaled, in_angstrom, species=["Si"], n_jobs=n_jobs)
    kernel = soap_kernel(vectors, zeta=soap.zeta)
    coordinates = KernelPCA(n_components=2, kernel="precomputed").fit_transform(kernel)
    coordination = np.array([coordination_numbers(a, coordination_cutoff * _MAP_BOND).mean()
                             for a in scaled])
    labels = [{"uid": str(a.info.get(keys.UID, "")), "iteration": a.info.get(keys.ITERATION, -1),
               "config_type": str(a.info.get(keys.CONFIG_TYPE, "")), "n_atoms": len(a)}
              for a in structures]
    energies = np.array([a.info[keys.REF_ENERGY] / len(a) if keys.REF_ENERGY in a.info
                         else np.nan for a in structures])
    return StructureMapData(
        coordinates=coordinates, coordination=coordination,
        element=[a.get_chemical_formula(mode="hill", empirical=True) for a in structures],
        energy_per_atom=energies,
        volume_per_atom=np.array([a.get_volume() / len(a) for a in structures]),
        labels=labels, structures=structures)


def nystrom_residual(kernel, chosen) -> float:
    """How much of a kernel the chosen columns leave unexplained (lower is better).

    The share of trace(K) not captured by the Nyström approximation built on the
    columns ``chosen``: 1 with nothing chosen, 0 once the chosen structures span all the
    others. It measures how well a selection covers its pool, in the kernel's own terms.

    Parameters
    ----------
    kernel : numpy.ndarray, shape (n, n)
        A positive semi-definite kernel (e.g. :func:`~gapexplore.describe.soap_kernel`).
    chosen : array_like of int
        Indices of the selected structures.
    """
    kernel = np.asarray(kernel, dtype=float)
    chosen = np.asarray(chosen, dtype=int)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise fail("kernel", "nystrom_residual", "a square matrix", kernel.shape)
    if chosen.size == 0:
        return 1.0
    c = kernel[:, chosen]
    w = kernel[np.ix_(chosen, chosen)]
    approx = np.einsum("ij,jk,ik->i", c, np.linalg.pinv(w, rcond=1e-10, hermitian=True), c)
    return float(np.sum(np.diag(kernel) - approx) / np.trace(kernel))


def run_labels(folder, *, periodic: bool = True) -> list[Atoms]:
    """The successful reference labels of a run folder (periodic cells only by default),
    each with ``info["iteration"]``, the iteration that labelled it."""
    labels = _store(folder, "run_labels").labels()
    return [a for a in labels if a.pbc.all()] if periodic else labels


def learning_curves(folder) -> list[dict]:
    """The learning curves of a run: one row per fitted iteration and known structure.

    Parameters
    ----------
    folder : str, pathlib.Path or RunStore
        A run folder whose settings name known structures to ``validate`` (a
        :class:`~gapexplore.run.store.RunStore`, e.g. ``explorer.store``, may be a run whose
        first step has not run yet: no rows).

    Returns
    -------
    list of dict
        Keys ``iteration``, ``labels`` (reference labels the GAP was fitted to),
        ``structure``, ``gap``, ``reference`` [eV/atom], ``error`` (GAP − reference)
        [eV/atom] and ``lowest_label_above`` (the lowest label of the structure's
        composition above it, by the reference [eV/atom]; NaN where not recorded). Empty
        before the first validated fit.
    """
    return _store(folder, "learning_curves").read_state().validation_rows()


def prediction_errors(folder) -> list[dict]:
    """Each GAP's energy error on the labels of the iteration after its fit.

    Those structures were found by relaxations with that GAP and labelled afterwards, so
    they are a test set it never saw (:func:`gapexplore.validate.prediction_error`).

    Parameters
    ----------
    folder : str, pathlib.Path or RunStore
        A run folder (a RunStore as in :func:`learning_curves`).

    Returns
    -------
    list of dict
        One row per iteration from 1 on whose labels are done: ``iteration`` (of the new
        labels), ``labels`` (reference labels the predicting GAP was fitted to), ``n``
        (structures scored), ``rmse``, ``mae``, ``max`` and ``mean`` of E_GAP − E_ref
        [eV/atom].
    """
    return _store(folder, "prediction_errors").read_state().prediction_rows()


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
    from gapexplore.core.chemistry import atomic_fractions

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
    from gapexplore.core.chemistry import atomic_fractions
    from gapexplore.core.hull import composition_hull_distance

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


def _store(folder, where: str):

    if isinstance(folder, RunStore):
        return folder
    return RunReader(folder, where=where).store
