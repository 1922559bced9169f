"""The structure map of a database (paper Fig. 5) and how well a selection covers a kernel."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from matscipy.neighbours import neighbour_list

from gapexplore.core import keys
from gapexplore.core.checks import check_int, check_real, check_structures, fail
from gapexplore.core.geometry import min_distance
from gapexplore.describe import SoapSettings, averaged_soap, soap_kernel

__all__ = ["MAP_SOAP", "StructureMapData", "coordination_numbers", "nystrom_residual",
           "rescale_to_shortest_bond", "structure_map"]

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
