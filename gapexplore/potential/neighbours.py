"""Neighbour lists of small periodic cells, vectorised over all images at once.

Random structure searching relaxes cells of 6–24 atoms with cutoffs up to 10 Å, larger
than the cells: each atom sees many images of every other. ASE's
``primitive_neighbor_list`` bins atoms and loops in Python over the bins, about 10 ms per
such cell; here every (i, j, image) candidate of a cell is tested in one array operation
(N² × images), which for these sizes is a fraction of that.
"""

from __future__ import annotations

import math

import numpy as np
from ase.neighborlist import primitive_neighbor_list

__all__ = ["neighbour_pairs"]

#: Candidates (N² × images) above which a cell goes to ASE's binned neighbour list.
_DENSE_LIMIT = 4_000_000


def _dense_pairs(positions: np.ndarray, cell: np.ndarray, cutoff: float):
    """Ordered pairs (i, j, S) with |r_j + S·cell − r_i| < cutoff of a fully periodic cell."""
    inverse = np.linalg.inv(cell)
    fractional = positions @ inverse
    wrap = np.floor(fractional)
    wrapped = positions - wrap @ cell
    plane_spacing = 1.0 / np.linalg.norm(inverse, axis=0)    # distance between lattice planes
    reach = np.ceil(cutoff / plane_spacing).astype(int)
    n = len(positions)
    if n * n * np.prod(2 * reach + 1) > _DENSE_LIMIT:
        return None
    ranges = [np.arange(-k, k + 1) for k in reach]
    shifts = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    images = shifts @ cell                                     # (n_images, 3)
    base = wrapped[None, :, :] - wrapped[:, None, :]           # (i, j, 3)
    vectors = base[:, :, None, :] + images[None, None, :, :]   # (i, j, image, 3)
    squared = np.einsum("ijsk,ijsk->ijs", vectors, vectors)
    i, j, s = np.nonzero(squared < cutoff * cutoff)
    own = (i == j) & ~shifts[s].any(axis=1)
    i, j, s = i[~own], j[~own], s[~own]
    # shifts for the positions as given (not wrapped): S' = S + wrap_i − wrap_j
    shift = shifts[s] + (wrap[i] - wrap[j]).astype(int)
    return i, j, shift


def neighbour_pairs(structures, cutoff: float):
    """Ordered pairs within ``cutoff`` [Å] of every structure, concatenated.

    Parameters
    ----------
    structures : list of ase.Atoms
    cutoff : float
        [Å]

    Returns
    -------
    i, j : numpy.ndarray of int
        Centre and neighbour, indices into the concatenated atoms; sorted by i.
    shift : numpy.ndarray of int, shape (n_pairs, 3)
        Lattice images: d_ij = r_j + shift · cell − r_i.
    cell : numpy.ndarray of int
        The structure of each pair.
    """
    i_all, j_all, s_all, c_all = [], [], [], []
    offset = 0
    for index, atoms in enumerate(structures):
        found = None
        if atoms.pbc.all() and len(atoms) and not math.isclose(atoms.cell.volume, 0.0):
            found = _dense_pairs(atoms.positions, atoms.cell.array, cutoff)
        if found is None:
            found = primitive_neighbor_list("ijS", atoms.pbc, atoms.cell.array,
                                            atoms.positions, cutoff, self_interaction=False,
                                            use_scaled_positions=False)
        i, j, shift = found
        order = np.argsort(i, kind="stable")
        i_all.append(i[order] + offset)
        j_all.append(j[order] + offset)
        s_all.append(np.asarray(shift)[order].reshape(-1, 3))
        c_all.append(np.full(len(i), index))
        offset += len(atoms)
    return (np.concatenate(i_all), np.concatenate(j_all),
            np.concatenate(s_all).astype(int), np.concatenate(c_all))
