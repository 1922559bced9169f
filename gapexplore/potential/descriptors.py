"""The 2-body and 3-body terms' energies in torch, on the pairs of a batch of cells.

Each function takes the pair list of the whole batch (:class:`Pairs`: centre i,
neighbour j, the vector d_ij [Å] as a differentiable tensor, its length) and returns the
energy of each descriptor [eV] with the cell it belongs to, so that one backward pass
gives forces and stress. The definitions are QUIP's (``descriptors.F90``,
``gp_predict.F90``), with the notation of :mod:`gapexplore.potential.xml`; the cutoff
function is f(r) = 1 below r_c − w, ½(1 + cos(π (r − r_c + w)/w)) up to r_c, 0 beyond.
SOAP is in :mod:`gapexplore.potential.soap`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Pairs", "cutoff_function", "distance_2b_energy", "angle_3b_energy"]


@dataclass
class Pairs:
    """Ordered neighbour pairs of a batch (all within the largest cutoff).

    Attributes
    ----------
    i, j : numpy.ndarray of int
        Centre and neighbour, as indices into the batch's concatenated atoms.
    cell : numpy.ndarray of int
        The cell (structure) of each pair.
    vector : torch.Tensor
        d_ij = r_j + S·cell − r_i [Å], shape (n_pairs, 3), differentiable.
    distance : torch.Tensor
        ``|d_ij|`` [Å].
    distance_np : numpy.ndarray
        The same lengths in numpy (for selecting pairs by cutoff).
    numbers : numpy.ndarray of int
        Atomic number of every atom of the batch.
    atom_cell : numpy.ndarray of int
        The cell of every atom of the batch.
    """

    i: np.ndarray
    j: np.ndarray
    cell: np.ndarray
    vector: object
    distance: object
    distance_np: np.ndarray
    numbers: np.ndarray
    atom_cell: np.ndarray


def cutoff_function(r, cutoff: float, width: float):
    """QUIP's ``coordination_function``: 1, a cosine step of ``width`` [Å], 0 from ``cutoff``."""
    import torch

    if width <= 0:
        return (r < cutoff).to(r.dtype)
    t = (r - cutoff + width) / width
    step = 0.5 * (torch.cos(math.pi * t.clamp(0.0, 1.0)) + 1.0)
    return torch.where(r < cutoff - width, torch.ones_like(r),
                       torch.where(r < cutoff, step, torch.zeros_like(r)))


def select(pairs: Pairs, cutoff: float) -> np.ndarray:
    """Indices of the pairs shorter than ``cutoff`` [Å]."""
    return np.flatnonzero(pairs.distance_np < cutoff)


def _sparse_gp_ard_se(x, gp, torch):
    """Σ_s α_s f_s δ² exp(−½ |(x − x_s)/θ|²) for descriptors x (n, d).

    −½ |x − x_s|² is one matrix product of (x, −½|x|², −½) and (x_s, 1, |x_s|²) (no
    (n, n_sparse, d) array), taken about the sparse points' mean so that the round-off
    stays near 1e-16 times the spread of the descriptors over θ, squared. The derivative
    is written out (:func:`_ard_se_function`): one more matrix product instead of
    autograd's passes over the (n, n_sparse) kernel.
    """
    centre = gp.sparse_x.mean(axis=0)
    sparse = (gp.sparse_x - centre) / gp.theta
    sparse_augmented = np.hstack([sparse, np.ones((len(sparse), 1)),
                                  (sparse * sparse).sum(1, keepdims=True)])
    weights = gp.alpha * gp.sparse_cutoff * gp.delta ** 2
    as_tensor = lambda a: torch.as_tensor(a, dtype=x.dtype, device=x.device)  # noqa: E731
    scaled = (x - as_tensor(centre)) / as_tensor(gp.theta)
    return _ard_se_function(torch).apply(scaled, as_tensor(sparse_augmented.T),
                                         as_tensor(weights),
                                         as_tensor(weights[:, None] * sparse))


_ARD_SE = {}


def _ard_se_function(torch):
    """The autograd Function y_n = Σ_s w_s exp(−½ |x_n − x_s|²), with its derivative
    ∂y_n/∂x_n = Σ_s w_s k_ns (x_s − x_n) written out (first derivatives only)."""
    if "function" in _ARD_SE:
        return _ARD_SE["function"]

    class ArdSe(torch.autograd.Function):
        @staticmethod
        def forward(ctx, scaled, sparse_augmented, weights, weighted_sparse):
            half = -0.5 * (scaled * scaled).sum(1, keepdim=True)
            augmented = torch.cat([scaled, half, torch.full_like(half, -0.5)], dim=1)
            kernel = (augmented @ sparse_augmented).exp_()
            out = kernel @ weights
            ctx.save_for_backward(scaled, kernel, out, weighted_sparse)
            return out

        @staticmethod
        def backward(ctx, grad):
            scaled, kernel, out, weighted_sparse = ctx.saved_tensors
            grad_scaled = (kernel @ weighted_sparse - out[:, None] * scaled) * grad[:, None]
            return grad_scaled, None, None, None

    _ARD_SE["function"] = ArdSe
    return ArdSe


def _matches(z: np.ndarray, wanted: int) -> np.ndarray:
    """Whether each atomic number is ``wanted`` (0: QUIP's wild card, any)."""
    return np.ones_like(z, dtype=bool) if wanted == 0 else z == wanted


def _pair_of(a: np.ndarray, b: np.ndarray, z1: int, z2: int) -> np.ndarray:
    """Whether the species of each (a, b) are {z1, z2}, in either order."""
    return (_matches(a, z1) & _matches(b, z2)) | (_matches(a, z2) & _matches(b, z1))


def distance_2b_energy(term, pairs: Pairs):
    """Energy [eV] of each ``distance_2b`` descriptor of the batch, and its cell.

    Parameters
    ----------
    term : Distance2b
    pairs : Pairs

    Returns
    -------
    energy : torch.Tensor, shape (n,)
    cell : numpy.ndarray of int, shape (n,)
    """
    import torch

    chosen = select(pairs, term.cutoff)
    zi, zj = pairs.numbers[pairs.i[chosen]], pairs.numbers[pairs.j[chosen]]
    chosen = chosen[_pair_of(zi, zj, term.z1, term.z2)]
    r = pairs.distance[chosen]
    energy = cutoff_function(r, term.cutoff, term.width) * _sparse_gp_ard_se(r[:, None], term.gp,
                                                                            torch)
    return energy, pairs.cell[chosen]


def _triplets(centre: np.ndarray, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (p, q), p ≠ q, of entries sharing a centre; ``centre`` sorted."""
    counts = np.bincount(centre, minlength=n_atoms)
    starts = np.cumsum(counts) - counts
    repeat = counts[centre]
    first = np.repeat(np.arange(len(centre)), repeat)
    offsets = np.arange(repeat.sum()) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    second = starts[centre[first]] + offsets
    keep = first != second
    return first[keep], second[keep]


def angle_3b_energy(term, pairs: Pairs):
    """Energy [eV] of each ``angle_3b`` descriptor of the batch, and its cell.

    Parameters
    ----------
    term : Angle3b
    pairs : Pairs

    Returns
    -------
    energy : torch.Tensor, shape (n,)
    cell : numpy.ndarray of int, shape (n,)
    """
    import torch

    chosen = select(pairs, term.cutoff)
    if term.z:
        chosen = chosen[pairs.numbers[pairs.i[chosen]] == term.z]
    order = np.argsort(pairs.i[chosen], kind="stable")
    chosen = chosen[order]
    first, second = _triplets(pairs.i[chosen], len(pairs.numbers))
    ij, ik = chosen[first], chosen[second]
    zj, zk = pairs.numbers[pairs.j[ij]], pairs.numbers[pairs.j[ik]]
    keep = _pair_of(zk, zj, term.z1, term.z2)
    ij, ik = ij[keep], ik[keep]
    r_ij, r_ik = pairs.distance[ij], pairs.distance[ik]
    r_jk = torch.linalg.vector_norm(pairs.vector[ij] - pairs.vector[ik], dim=1)
    x = torch.stack([r_ij + r_ik, (r_ij - r_ik) ** 2, r_jk], dim=1)
    weight = (cutoff_function(r_ij, term.cutoff, term.width)
              * cutoff_function(r_ik, term.cutoff, term.width))
    return weight * _sparse_gp_ard_se(x, term.gp, torch), pairs.cell[ij]
