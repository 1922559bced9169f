"""The terms' local energies in torch, on pairs and triplets of a batch of cells.

Each function takes the pair list of the whole batch (:class:`Pairs`: centre i,
neighbour j, the vector d_ij [Å] as a differentiable tensor, its length) and returns the
energy of each descriptor [eV] with the cell it belongs to, so that one backward pass
gives forces and stress. The definitions are QUIP's (``descriptors.F90``,
``gp_predict.F90``), with the notation of :mod:`gapexplore.potential.xml`:

* cutoff function f(r) = 1 below r_c − w, ½(1 + cos(π (r − r_c + w)/w)) up to r_c, 0 beyond;
* SOAP: ρ_i(r) = Σ_j f(r_ij) exp(−α|r − r_ij|²), α = 1/2σ², the centre included at
  r_ij = 0; radial part 4π e^{−α(r² + r_ij²)} i_l(2α r r_ij) sampled at QUIP's
  equispaced grid r_a, turned into coefficients by Lᵀ C⁻¹ (C: the Gaussians' values at the
  grid, S = L Lᵀ their overlap in ∫ r² dr), so c_nlm = Σ_j f(r_ij) Σ_a g_la(r_ij) T_an
  Y_lm(r̂_ij) (real Y_lm: the power spectrum is the same); p_(s n)(s' n') l =
  Σ_m c c' / √(2l+1), stored for (s n) ≥ (s' n') with √2 off the diagonal, index
  k (l_max + 1) + l, normalised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Pairs", "cutoff_function", "soap_radial_transform", "real_spherical_harmonics",
           "distance_2b_energy", "angle_3b_energy", "soap_energy"]

#: QUIP's basis_error_exponent: the radial grid reaches σ √(2·10 ln 10) past the cutoff.
_BASIS_ERROR_EXPONENT = 10.0


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
        |d_ij| [Å].
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


def _select(pairs: Pairs, cutoff: float) -> np.ndarray:
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

    chosen = _select(pairs, term.cutoff)
    zi, zj = pairs.numbers[pairs.i[chosen]], pairs.numbers[pairs.j[chosen]]

    def match(z, wanted):
        return np.ones_like(z, dtype=bool) if wanted == 0 else z == wanted

    keep = (match(zi, term.z1) & match(zj, term.z2)) | (match(zi, term.z2) & match(zj, term.z1))
    chosen = chosen[keep]
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

    chosen = _select(pairs, term.cutoff)
    if term.z:
        chosen = chosen[pairs.numbers[pairs.i[chosen]] == term.z]
    order = np.argsort(pairs.i[chosen], kind="stable")
    chosen = chosen[order]
    first, second = _triplets(pairs.i[chosen], len(pairs.numbers))
    ij, ik = chosen[first], chosen[second]
    zj, zk = pairs.numbers[pairs.j[ij]], pairs.numbers[pairs.j[ik]]

    def match(z, wanted):
        return np.ones_like(z, dtype=bool) if wanted == 0 else z == wanted

    keep = (match(zk, term.z1) & match(zj, term.z2)) | (match(zk, term.z2) & match(zj, term.z1))
    ij, ik = ij[keep], ik[keep]
    r_ij, r_ik = pairs.distance[ij], pairs.distance[ik]
    r_jk = torch.linalg.vector_norm(pairs.vector[ij] - pairs.vector[ik], dim=1)
    x = torch.stack([r_ij + r_ik, (r_ij - r_ik) ** 2, r_jk], dim=1)
    weight = (cutoff_function(r_ij, term.cutoff, term.width)
              * cutoff_function(r_ik, term.cutoff, term.width))
    return weight * _sparse_gp_ard_se(x, term.gp, torch), pairs.cell[ij]


# --- SOAP -------------------------------------------------------------------------------

def soap_radial_transform(term) -> tuple[np.ndarray, np.ndarray, float]:
    """QUIP's ``EQUISPACED_GAUSS`` radial basis of a SOAP term.

    Returns
    -------
    grid : numpy.ndarray
        The n_max grid points r_a [Å].
    transform : numpy.ndarray
        T = C⁻¹ L, shape (n_max, n_max): radial coefficients are samples @ T.
    alpha : float
        α = 1/2σ² [Å⁻²].
    """
    from scipy.special import erf

    alpha = 0.5 / term.atom_sigma ** 2
    reach = term.cutoff + term.atom_sigma * math.sqrt(2.0 * _BASIS_ERROR_EXPONENT * math.log(10.0))
    grid = np.arange(term.n_max) * (reach / term.n_max)
    ri, rj = grid[None, :], grid[:, None]
    covariance = np.exp(-alpha * (ri - rj) ** 2)
    overlap = (np.exp(-alpha * (ri ** 2 + rj ** 2)) * math.sqrt(2.0) * alpha ** 1.5 * (ri + rj)
               + alpha * np.exp(-0.5 * alpha * (ri - rj) ** 2) * math.sqrt(math.pi)
               * (1.0 + alpha * (ri + rj) ** 2) * (1.0 + erf(math.sqrt(alpha / 2.0) * (ri + rj))))
    overlap = overlap / math.sqrt(128.0 * alpha ** 5)
    lower = np.linalg.cholesky(overlap)
    return grid, np.linalg.solve(covariance, lower), alpha


def _radial_samples(r, grid, alpha: float, l_max: int, torch):
    """e^{−α(r² + r_a²)} i_l(2α r r_a) for every pair and grid point, by QUIP's upward
    recurrence i_l = i_{l−2} − (2l − 1)/x i_{l−1}; shape (n, l_max + 1, n_max)."""
    grid = torch.as_tensor(grid, dtype=r.dtype, device=r.device)
    rr, ra = r[:, None], grid[None, :]
    x = 2.0 * alpha * rr * ra
    zero = x == 0
    safe = torch.where(zero, torch.ones_like(x), x)
    exp_p = torch.exp(-alpha * (rr + ra) ** 2)
    exp_m = torch.exp(-alpha * (rr - ra) ** 2)
    at_zero = torch.exp(-alpha * (ra ** 2 + rr ** 2))
    minus = 0.5 * (exp_m + exp_p) / safe          # i_{-1}
    current = 0.5 * (exp_m - exp_p) / safe        # i_0
    out = [torch.where(zero, at_zero, current)]
    for ell in range(1, l_max + 1):
        minus, current = current, minus - (2 * ell - 1) * current / safe
        out.append(torch.where(zero, torch.zeros_like(current), current))
    return torch.stack(out, dim=1)


def real_spherical_harmonics(u, l_max: int):
    """Orthonormal real spherical harmonics of unit vectors ``u`` (n, 3), shape
    (n, (l_max + 1)²), ordered l = 0..l_max and m = −l..l; polynomials in u (smooth)."""
    import torch

    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    # (x + iy)^m, real and imaginary parts
    cos_m, sin_m = [torch.ones_like(x)], [torch.zeros_like(x)]
    for _ in range(l_max):
        c, s = cos_m[-1], sin_m[-1]
        cos_m.append(c * x - s * y)
        sin_m.append(c * y + s * x)
    # Q_l^m(z) with P_l^m = (1 − z²)^{m/2} Q_l^m
    q = {}
    for m in range(l_max + 1):
        q[m, m] = torch.full_like(z, float((-1) ** m * _double_factorial(2 * m - 1)))
        if m + 1 <= l_max:
            q[m + 1, m] = (2 * m + 1) * z * q[m, m]
        for ell in range(m + 2, l_max + 1):
            q[ell, m] = ((2 * ell - 1) * z * q[ell - 1, m]
                         - (ell + m - 1) * q[ell - 2, m]) / (ell - m)
    columns = []
    for ell in range(l_max + 1):
        for m in range(-ell, ell + 1):
            k = abs(m)
            norm = math.sqrt((2 * ell + 1) / (4 * math.pi)
                             * math.factorial(ell - k) / math.factorial(ell + k))
            if m == 0:
                columns.append(norm * q[ell, 0])
            elif m > 0:
                columns.append(math.sqrt(2.0) * norm * q[ell, k] * cos_m[k])
            else:
                columns.append(math.sqrt(2.0) * norm * q[ell, k] * sin_m[k])
    return torch.stack(columns, dim=1)


def _double_factorial(n: int) -> int:
    return 1 if n <= 0 else n * _double_factorial(n - 2)


def soap_energy(term, pairs: Pairs, basis):
    """Energy [eV] of each SOAP descriptor (one per centre of the term's species) of the
    batch, and its cell.

    Parameters
    ----------
    term : Soap
    pairs : Pairs
    basis : tuple
        :func:`soap_radial_transform` of the term.

    Returns
    -------
    energy : torch.Tensor, shape (n,)
    cell : numpy.ndarray of int, shape (n,)
    """
    import torch

    grid, transform, alpha = basis
    n_max, l_max = term.n_max, term.l_max
    n_lm = (l_max + 1) ** 2
    n_species = len(term.species)
    numbers = pairs.numbers
    centres = np.flatnonzero(numbers == term.z) if term.z else np.arange(len(numbers))
    slot = np.full(len(numbers), -1)
    slot[centres] = np.arange(len(centres))
    species_index = np.full(max(int(numbers.max()), max(term.species)) + 1, -1)
    for k, z in enumerate(term.species):
        if z == 0:          # QUIP's wild card: every species in one density
            species_index[:] = k
        else:
            species_index[z] = k
    chosen = _select(pairs, term.cutoff)
    chosen = chosen[(slot[pairs.i[chosen]] >= 0) & (species_index[numbers[pairs.j[chosen]]] >= 0)]
    dtype, device = pairs.vector.dtype, pairs.vector.device
    to_torch = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    # each (centre, species) row's pairs side by side, padded: c_l = Y_lᵀ R_l per row
    row = slot[pairs.i[chosen]] * n_species + species_index[numbers[pairs.j[chosen]]]
    order = np.argsort(row, kind="stable")
    row, chosen = row[order], chosen[order]
    r = pairs.distance[chosen]
    u = pairs.vector[chosen] / r[:, None]
    samples = _radial_samples(r, grid, alpha, l_max, torch)               # (p, l, a)
    radial = samples @ to_torch(transform)                                # (p, l, n)
    radial = radial * cutoff_function(r, term.cutoff, term.width)[:, None, None]
    harmonics = real_spherical_harmonics(u, l_max)                        # (p, lm)
    n_rows = len(centres) * n_species
    per_row = np.bincount(row, minlength=n_rows)
    place = np.arange(len(row)) - (np.cumsum(per_row) - per_row)[row]
    width = int(per_row.max()) if len(row) else 0
    index = (torch.as_tensor(row, device=device), torch.as_tensor(place, device=device))
    padded_y = torch.zeros(n_rows, width, n_lm, dtype=dtype, device=device)
    padded_y = padded_y.index_put(index, harmonics)
    padded_r = torch.zeros(n_rows, width, l_max + 1, n_max, dtype=dtype, device=device)
    padded_r = padded_r.index_put(index, radial)
    blocks = [padded_y[:, :, ell * ell:(ell + 1) ** 2].transpose(1, 2) @ padded_r[:, :, ell, :]
              for ell in range(l_max + 1)]
    coefficients = torch.cat(blocks, dim=1)                               # (rows, lm, n)
    coefficients = coefficients.reshape(len(centres), n_species, n_lm, n_max)
    # the central atom's Gaussian at r = 0: l = 0 only, e^{−α r_a²} sampled
    central = to_torch(np.exp(-alpha * grid ** 2) @ transform) * term.central_weight \
        / math.sqrt(4.0 * math.pi)
    own = np.zeros((len(centres), n_species))
    if term.central_all:
        own[:] = 1.0
    else:
        centre_species = species_index[numbers[centres]]
        has = centre_species >= 0
        own[np.flatnonzero(has), centre_species[has]] = 1.0
    centre_part = to_torch(own)[:, :, None] * central[None, None, :]
    coefficients = torch.cat([coefficients[:, :, :1, :] + centre_part[:, :, None, :],
                              coefficients[:, :, 1:, :]], dim=2)
    # power spectrum, QUIP's order: for l, for (ia >= jb): index k (l_max + 1) + l
    channels = coefficients.permute(0, 2, 1, 3).reshape(len(centres), n_lm, n_species * n_max)
    ia, jb = np.tril_indices(n_species * n_max)
    scale = np.where(ia != jb, math.sqrt(2.0), 1.0)
    blocks, start = [], 0
    for ell in range(l_max + 1):
        c = channels[:, start:start + 2 * ell + 1, :]
        start += 2 * ell + 1
        power = torch.einsum("xma,xmb->xab", c, c)
        if term.two_l_plus_one:
            power = power / math.sqrt(2 * ell + 1)
        blocks.append(power[:, ia, jb] * to_torch(scale))
    vector = torch.stack(blocks, dim=2).reshape(len(centres), -1)
    vector = vector / torch.linalg.vector_norm(vector, dim=1, keepdim=True)
    gp = term.gp
    weights = to_torch(gp.alpha * gp.sparse_cutoff * gp.delta ** 2)
    dots = vector @ to_torch(gp.sparse_x).T
    zeta = int(gp.zeta) if float(gp.zeta).is_integer() else gp.zeta
    energy = dots ** zeta @ weights
    return energy, pairs.atom_cell[centres]
