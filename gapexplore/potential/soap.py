"""The SOAP term's energy in torch, on the pairs of a batch of cells (QUIP's definitions).

ρ_i(r) = Σ_j f(r_ij) exp(−α|r − r_ij|²), α = 1/2σ², the centre included at r_ij = 0
(for its own species, or every species' density with ``central_all``). The radial part,
4π e^{−α(r² + r_ij²)} i_l(2α r r_ij), is sampled at QUIP's equispaced grid r_a and turned
into coefficients by Lᵀ C⁻¹ (C: the grid Gaussians' values at the grid, S = L Lᵀ their
overlap in ∫ r² dr): c_nlm = Σ_j f(r_ij) Σ_a g_la(r_ij) T_an Y_lm(r̂_ij), with real
Y_lm (the power spectrum is the same as with QUIP's complex ones). The power spectrum
p_(s n)(s' n') l = Σ_m c c' / √(2l+1) is stored for (s n) ≥ (s' n'), √2 off the diagonal,
at index k (l_max + 1) + l, and normalised (so constant factors such as 4π drop out);
the energy is Σ_s α_s f_s δ² (p · p_s)^ζ.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from gapexplore.potential.descriptors import Pairs, cutoff_function, select

__all__ = ["soap_radial_transform", "real_spherical_harmonics", "soap_energy"]

#: QUIP's basis_error_exponent: the radial grid reaches σ √(2·10 ln 10) past the cutoff.
_BASIS_ERROR_EXPONENT = 10.0


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


def _species_index(term, numbers: np.ndarray) -> np.ndarray:
    """Position of each atomic number in the term's species (−1: not a neighbour)."""
    index = np.full(max(int(numbers.max()), max(term.species)) + 1, -1)
    for k, z in enumerate(term.species):
        if z == 0:          # QUIP's wild card: every species in one density
            index[:] = k
        else:
            index[z] = k
    return index


def _neighbour_density(term, pairs: Pairs, basis, centres, species, torch):
    """c_nlm of every centre and neighbour species, without the centre's own Gaussian;
    shape (n_centres, n_species, (l_max + 1)², n_max).

    Each (centre, species) row's pairs are laid side by side (zero-padded), so that
    c_l = Y_lᵀ R_l is one batched matrix product per l.
    """
    grid, transform, alpha = basis
    n_lm, n_species = (term.l_max + 1) ** 2, len(term.species)
    dtype, device = pairs.vector.dtype, pairs.vector.device
    numbers = pairs.numbers
    slot = np.full(len(numbers), -1)
    slot[centres] = np.arange(len(centres))
    chosen = select(pairs, term.cutoff)
    chosen = chosen[(slot[pairs.i[chosen]] >= 0) & (species[numbers[pairs.j[chosen]]] >= 0)]
    row = slot[pairs.i[chosen]] * n_species + species[numbers[pairs.j[chosen]]]
    order = np.argsort(row, kind="stable")
    row, chosen = row[order], chosen[order]
    r = pairs.distance[chosen]
    samples = _radial_samples(r, grid, alpha, term.l_max, torch)          # (p, l, a)
    radial = samples @ torch.as_tensor(transform, dtype=dtype, device=device)
    radial = radial * cutoff_function(r, term.cutoff, term.width)[:, None, None]
    harmonics = real_spherical_harmonics(pairs.vector[chosen] / r[:, None], term.l_max)
    n_rows = len(centres) * n_species
    per_row = np.bincount(row, minlength=n_rows)
    place = np.arange(len(row)) - (np.cumsum(per_row) - per_row)[row]
    width = int(per_row.max()) if len(row) else 0
    index = (torch.as_tensor(row, device=device), torch.as_tensor(place, device=device))
    padded_y = torch.zeros(n_rows, width, n_lm, dtype=dtype, device=device)
    padded_y = padded_y.index_put(index, harmonics)
    padded_r = torch.zeros(n_rows, width, term.l_max + 1, term.n_max, dtype=dtype,
                           device=device)
    padded_r = padded_r.index_put(index, radial)
    blocks = [padded_y[:, :, ell * ell:(ell + 1) ** 2].transpose(1, 2) @ padded_r[:, :, ell, :]
              for ell in range(term.l_max + 1)]
    return torch.cat(blocks, dim=1).reshape(len(centres), n_species, n_lm, term.n_max)


def _central_density(term, basis, centre_species, dtype, device, torch):
    """The centre's own Gaussian at r = 0 (l = 0 only: e^{−α r_a²} sampled, times Y_00),
    in its own species' density or, with ``central_all``, in every species';
    shape (n_centres, n_species, n_max)."""
    grid, transform, alpha = basis
    central = (np.exp(-alpha * grid ** 2) @ transform) * term.central_weight \
        / math.sqrt(4.0 * math.pi)
    own = np.zeros((len(centre_species), len(term.species)))
    if term.central_all:
        own[:] = 1.0
    else:
        has = centre_species >= 0
        own[np.flatnonzero(has), centre_species[has]] = 1.0
    return torch.as_tensor(own[:, :, None] * central[None, None, :], dtype=dtype,
                           device=device)


def _power_spectrum(term, coefficients, torch):
    """QUIP's normalised SOAP vector of each centre from c (centres, species, lm, n):
    for each l and channel pair ia ≥ jb, Σ_m c c' (/√(2l+1), ×√2 off the diagonal) at
    index k (l_max + 1) + l."""
    n_centres, n_species, n_lm, n_max = coefficients.shape
    channels = coefficients.permute(0, 2, 1, 3).reshape(n_centres, n_lm, n_species * n_max)
    ia, jb = np.tril_indices(n_species * n_max)
    scale = torch.as_tensor(np.where(ia != jb, math.sqrt(2.0), 1.0), dtype=coefficients.dtype,
                            device=coefficients.device)
    blocks = []
    for ell in range(term.l_max + 1):
        c = channels[:, ell * ell:(ell + 1) ** 2, :]
        power = c.transpose(1, 2) @ c
        if term.two_l_plus_one:
            power = power / math.sqrt(2 * ell + 1)
        blocks.append(power[:, ia, jb] * scale)
    vector = torch.stack(blocks, dim=2).reshape(n_centres, -1)
    return vector / torch.linalg.vector_norm(vector, dim=1, keepdim=True)


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

    dtype, device = pairs.vector.dtype, pairs.vector.device
    numbers = pairs.numbers
    centres = np.flatnonzero(numbers == term.z) if term.z else np.arange(len(numbers))
    if len(centres) == 0:   # no atom of the term's centre species in the batch
        return torch.zeros(0, dtype=dtype, device=device), np.zeros(0, dtype=int)
    species = _species_index(term, numbers)
    coefficients = _neighbour_density(term, pairs, basis, centres, species, torch)
    central = _central_density(term, basis, species[numbers[centres]], dtype, device, torch)
    coefficients = torch.cat([coefficients[:, :, :1, :] + central[:, :, None, :],
                              coefficients[:, :, 1:, :]], dim=2)
    vector = _power_spectrum(term, coefficients, torch)
    gp = term.gp
    weights = torch.as_tensor(gp.alpha * gp.sparse_cutoff * gp.delta ** 2, dtype=dtype,
                              device=device)
    dots = vector @ torch.as_tensor(gp.sparse_x, dtype=dtype, device=device).T
    zeta = int(gp.zeta) if float(gp.zeta).is_integer() else gp.zeta
    return dots ** zeta @ weights, pairs.atom_cell[centres]
