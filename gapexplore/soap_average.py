"""QUIP's configuration-averaged SOAP, summed straight over the pairs of whole cells (numpy).

The averaged coefficient of a cell (paper Eq. 2) is the mean over its N atoms of the atomic
expansion (Eq. 1), so it is a sum over every ordered pair (i, j, image) closer than r_cut,
plus each atom's own Gaussian, divided by N: per-atom coefficients are never formed. A pair
and its reverse (j, i, −image) have opposite vectors, and Y_lm(−r̂) = (−1)^l Y_lm(r̂); so
each unordered pair is visited once and adds its even-l part to the densities of both its
species, and its odd-l part with opposite signs. For one species the odd-l coefficients
(and the odd-l entries of the power spectrum) of a periodic cell are therefore exactly
zero and are not computed; for several, only pairs of two different species carry them.

The definitions are QUIP's (``soap ... average=T``, those of
:mod:`gapexplore.potential.soap`): Gaussians of width σ on every neighbour and on the
centre, a cosine cutoff :data:`CUTOFF_TRANSITION_WIDTH` wide ending at r_cut, the radial
density sampled on QUIP's equispaced grid (e^{−α(r² + r_a²)} i_l(2α r r_a), by QUIP's
upward recurrence) and turned into coefficients by Lᵀ C⁻¹, real spherical harmonics (the
power spectrum is the one of the complex ones), and the power spectrum
p_(s n)(s' n') l = Σ_m c c' / √(2l+1) for (s n) ≥ (s' n'), √2 off the diagonal, at index
k (l_max + 1) + l — the layout of quippy's ``Descriptor.calc``, without its trailing σ₀.

The work is array operations over the pairs of many cells at once (``pairs_per_chunk``
bounds the memory: about 2 kB per pair for one species at n_max = l_max = 12, 5 kB for
two) and one small matrix product per cell and l that sums a cell's pairs. Where the
Gaussians are narrow beside the radial grid (the paper's σ = 0.0875 Å on points 0.92 Å
apart), each pair is evaluated at the two grid points it reaches only; the rest carry
less than e^{−40} of it. Work arrays are reused from block to block. Cost: 1.1–1.8 ms of
CPU per random 6–24-atom Si cell at the paper's settings, 0.2 ms at
:meth:`~gapexplore.describe.SoapSettings.fast`'s (shared 2-core AMD EPYC VM, 2026-12-07);
:mod:`gapexplore.describe` compares it with dscribe and quippy.
"""

from __future__ import annotations

import functools
import math
import numbers
from types import SimpleNamespace

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.neighborlist import primitive_neighbor_list

from gapexplore.core.checks import check_int, check_real, fail
from gapexplore.potential.soap import soap_radial_transform

__all__ = ["CUTOFF_TRANSITION_WIDTH", "summed_averaged_soap", "soap_length"]

#: Width of QUIP's cosine cutoff transition [Å] (QUIP's default; the paper gives none).
CUTOFF_TRANSITION_WIDTH = 0.5
#: Pairs per block of array work (about 2 kB each for one species at n_max = l_max = 12).
PAIRS_PER_CHUNK = 4096
#: Blocks of pairs whose cells are gathered before their pairs are summed.
_BLOCKS_PER_CHUNK = 16
#: Candidate pairs (N(N + 1)/2 × images) above which a cell goes to ASE's neighbour list.
_DENSE_CANDIDATES = 2_000_000
#: α (r − r_a)² past which a pair's sample at r_a is left out (e^{−40} = 4e−18).
_NEGLIGIBLE_EXPONENT = 40.0
#: x = 2α r r_a above which e^{−2x} is below double rounding (i_{−1} = i_0 there).
_LARGE_ARGUMENT = 20.0


def soap_length(n_max: int, l_max: int, n_species: int) -> int:
    """Length of QUIP's averaged SOAP vector (without σ₀): K (K + 1)/2 (l_max + 1), K = S n_max."""
    channels = n_species * n_max
    return channels * (channels + 1) // 2 * (l_max + 1)


def summed_averaged_soap(structures: list[Atoms], *, n_max: int, l_max: int, sigma: float,
                         r_cut: float, species: list[int],
                         pairs_per_chunk: int = PAIRS_PER_CHUNK) -> np.ndarray:
    """QUIP's averaged SOAP vector of each periodic cell, unnormalised.

    Parameters
    ----------
    structures : list of ase.Atoms
        Fully periodic cells of non-zero volume; not modified.
    n_max, l_max : int
        Radial functions and the largest angular momentum.
    sigma : float
        Width of the atomic Gaussians σ [Å] (QUIP's ``atom_sigma``).
    r_cut : float
        Cutoff radius [Å].
    species : list of int
        Atomic numbers of the density channels, in QUIP's ``species_Z`` order; every atom of
        ``structures`` must be one of them.
    pairs_per_chunk : int
        Neighbour pairs handled in one block of array work (memory about 2 kB per pair for
        one species at n_max = l_max = 12, 5 kB for two); the result does not depend on it.

    Returns
    -------
    numpy.ndarray, shape (n_structures, :func:`soap_length`)
        Power spectra of the mean coefficients; ``v / |v|`` is quippy's averaged
        descriptor (its trailing σ₀ entry removed).

    Raises
    ------
    InvalidParameterError
        For a bad size, width or cutoff, or an atom whose element is not in ``species``.
    """
    where = "summed_averaged_soap"
    n_max = check_int(n_max, "n_max", where, low=1)
    l_max = check_int(l_max, "l_max", where, low=0)
    sigma = check_real(sigma, "sigma", where, low=0.0, low_open=True)
    r_cut = check_real(r_cut, "r_cut", where, low=0.0, low_open=True)
    pairs_per_chunk = check_int(pairs_per_chunk, "pairs_per_chunk", where, low=1)
    z_list = list(species) if not isinstance(species, str | bytes) else [species]
    if not z_list or len(set(z_list)) < len(z_list) or any(
            not isinstance(z, numbers.Integral) or not 0 < z < len(chemical_symbols)
            for z in z_list):
        raise fail("species", where, "a list of distinct atomic numbers", species)
    lookup = np.full(len(chemical_symbols), -1)
    lookup[np.asarray(z_list, dtype=int)] = np.arange(len(z_list))
    for index, atoms in enumerate(structures):
        if len(atoms) and np.any(lookup[atoms.numbers] < 0):
            raise fail("species", where, "atomic numbers covering every atom",
                       f"{list(species)} for the structure at position {index}")
    basis = _Basis(n_max, l_max, sigma, r_cut, len(z_list))
    out = np.zeros((len(structures), soap_length(n_max, l_max, len(z_list))))
    cells = np.array([atoms.cell.array for atoms in structures]).reshape(-1, 3, 3)
    inverses = np.linalg.inv(cells) if len(cells) else cells
    pending, size = [], 0
    for index, atoms in enumerate(structures):
        found = _half_pairs(atoms, inverses[index], r_cut, lookup, basis)
        if pending and size + len(found[0]) > _BLOCKS_PER_CHUNK * pairs_per_chunk:
            _sum_chunk(pending, structures, lookup, basis, out, pairs_per_chunk)
            pending, size = [], 0
        pending.append((index, found))
        size += len(found[0])
    if pending:
        _sum_chunk(pending, structures, lookup, basis, out, pairs_per_chunk)
    return out


class _Basis:
    """QUIP's radial grid, its transform, the layout of the power spectrum."""

    def __init__(self, n_max, l_max, sigma, r_cut, n_species):
        term = SimpleNamespace(n_max=n_max, atom_sigma=sigma, cutoff=r_cut)
        self.grid, self.transform, self.alpha = soap_radial_transform(term)
        self.n_max, self.l_max, self.r_cut, self.n_species = n_max, l_max, r_cut, n_species
        # the centre's own Gaussian: l = 0, sampled at the grid, times Y_00
        self.central = np.exp(-self.alpha * self.grid ** 2) / math.sqrt(4.0 * math.pi)
        # grid points that matter to a pair: nearer than reach; band of them, if fewer
        self.spacing = self.grid[1] if n_max > 1 else 1.0
        self.reach = math.sqrt(_NEGLIGIBLE_EXPONENT / self.alpha)
        band = int(2.0 * self.reach / self.spacing) + 1
        self.band = band if 2 * band < n_max - 1 else None
        self.ia, self.jb = np.tril_indices(n_species * n_max)
        self.scale = np.where(self.ia != self.jb, math.sqrt(2.0), 1.0)
        self._scratch = {}

    def scratch(self, name: str, shape: tuple, dtype=float) -> np.ndarray:
        """A work array of ``shape`` (stale contents), the same memory for every block:
        fresh large arrays each block cost about as much in page faults as the work."""
        size = math.prod(shape)
        held = self._scratch.get(name)
        if held is None or held.size < size or held.dtype != dtype:
            held = self._scratch[name] = np.empty(size, dtype)
        return held[:size].reshape(shape)


def _half_pairs(atoms: Atoms, inverse: np.ndarray, r_cut: float, lookup: np.ndarray,
                basis: _Basis):
    """One of each pair (i, j, S), (j, i, −S) closer than ``r_cut`` [Å] of a periodic cell
    (``inverse``: the inverse of its cell matrix).

    Returns
    -------
    vectors : numpy.ndarray, shape (n, 3)
        d = r_j + S·cell − r_i [Å].
    first, second : numpy.ndarray of int
        Species indices (``lookup``) of i and j.
    """
    positions, cell = atoms.positions, atoms.cell.array
    species = lookup[atoms.numbers]
    reach = np.ceil(r_cut * np.linalg.norm(inverse, axis=0)).astype(int)
    n_atoms = len(atoms)
    if n_atoms * (n_atoms + 1) // 2 * np.prod(2 * reach + 1) > _DENSE_CANDIDATES:
        i, j, shift = primitive_neighbor_list("ijS", (True, True, True), cell, positions,
                                              r_cut, self_interaction=False)
        keep = (i < j) | ((i == j) & _positive(shift))
        i, j, shift = i[keep], j[keep], shift[keep]
        return positions[j] + shift @ cell - positions[i], species[i], species[j]
    wrapped = positions - np.floor(positions @ inverse) @ cell
    shifts, positive = _shifts(tuple(reach))
    images = shifts @ cell
    i, j, own = _upper_pairs(n_atoms)
    base = wrapped[j] - wrapped[i]
    squared = np.matmul(base, images.T, out=basis.scratch("squared", (len(i), len(images))))
    squared *= 2.0
    squared += np.einsum("pk,pk->p", base, base)[:, None]
    squared += np.einsum("sk,sk->s", images, images)[None, :]
    near = squared < r_cut * r_cut
    near[own] &= positive                          # an atom's own images: half of them
    p, s = np.nonzero(near)
    return base[p] + images[s], species[i[p]], species[j[p]]


@functools.lru_cache(maxsize=64)
def _shifts(reach: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Lattice shifts within ``reach`` cells along each axis, and which of them are
    lexicographically positive (one of S, −S; not 0)."""
    shifts = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in reach], indexing="ij"),
                      axis=-1).reshape(-1, 3)
    return shifts, _positive(shifts)


@functools.lru_cache(maxsize=64)
def _upper_pairs(n_atoms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Atom pairs i ≤ j, and the positions of i = j among them."""
    i, j = np.triu_indices(n_atoms)
    return i, j, np.flatnonzero(i == j)


def _positive(shifts: np.ndarray) -> np.ndarray:
    """Whether each lattice shift is lexicographically positive (one of S, −S; not 0)."""
    x, y, z = shifts[:, 0], shifts[:, 1], shifts[:, 2]
    return (x > 0) | ((x == 0) & ((y > 0) | ((y == 0) & (z > 0))))


def _sum_chunk(pending, structures, lookup, basis, out, pairs_per_chunk):
    """Averaged coefficients and power spectra of the cells in ``pending`` (rows of ``out``)."""
    vectors = np.concatenate([found[0] for _, found in pending])
    first = np.concatenate([found[1] for _, found in pending])
    second = np.concatenate([found[2] for _, found in pending])
    counts = np.array([len(found[0]) for _, found in pending])
    bounds = np.concatenate([[0], np.cumsum(counts)])
    n_lm = (basis.l_max + 1) ** 2
    # samples (before the radial transform): cell, species, lm, grid point
    samples = np.zeros((len(pending), basis.n_species, n_lm, basis.n_max))
    for start in range(0, len(vectors), pairs_per_chunk):     # one block unless one cell
        stop = min(start + pairs_per_chunk, len(vectors))     # has more pairs than that
        cells = np.searchsorted(bounds, [start, stop], side="right") - 1
        _pair_samples(vectors[start:stop], first[start:stop], second[start:stop],
                      np.clip(bounds[cells[0]:cells[1] + 2] - start, 0, stop - start),
                      basis, samples[cells[0]:cells[1] + 1])
    rows = [index for index, _ in pending]
    own = np.array([np.bincount(lookup[structures[k].numbers], minlength=basis.n_species)
                    for k in rows])
    samples[:, :, 0, :] += own[:, :, None] * basis.central[None, None, :]
    samples /= np.maximum(own.sum(axis=1), 1)[:, None, None, None]
    out[rows] = _power_spectra(samples @ basis.transform, basis)


def _pair_samples(vectors, first, second, bounds, basis, samples):
    """Add the pairs' radial samples times harmonics to each cell's ``samples``
    (cells delimited by ``bounds`` into the pairs)."""
    r = np.sqrt(np.einsum("pk,pk->p", vectors, vectors))
    odd = basis.n_species > 1 and bool(np.any(first != second))
    radial, at_origin = _radial_samples(r, basis)       # (l, p, a ≥ 1), (p,); cutoff included
    harmonics, rows = _real_harmonics(vectors / r[:, None], basis.l_max, odd=odd,
                                      scratch=basis.scratch)
    if basis.n_species == 1:
        # each unordered pair stands for two ordered ones of equal even-l part
        weighted = [(0, harmonics, 2.0 * at_origin, 2.0)]
    else:
        weighted = []
        for s in range(basis.n_species):
            even = (first == s).astype(float) + (second == s)
            odd_weight = (second == s).astype(float) - (first == s)
            y = basis.scratch(f"weighted {s}", harmonics.shape)
            np.copyto(y, harmonics)
            for ell, block in rows.items():
                y[block] *= odd_weight if ell % 2 else even
            weighted.append((s, y, even * at_origin, 1.0))
    owner = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    y00 = 1.0 / math.sqrt(4.0 * math.pi)
    for s, y, origin, factor in weighted:
        samples[:, s, 0, 0] += y00 * np.bincount(owner, weights=origin,
                                                 minlength=len(bounds) - 1)
        for row in range(len(bounds) - 1):
            a, b = bounds[row], bounds[row + 1]
            if b == a:
                continue
            for ell, block in rows.items():
                lm = slice(ell * ell, (ell + 1) ** 2)
                samples[row, s, lm, 1:] += factor * (y[block, a:b] @ radial[ell, a:b])


def _radial_samples(r, basis):
    """f_cut(r) e^{−α(r² + r_a²)} i_l(2α r r_a) for every pair, l and grid point r_a > 0,
    shape (l_max + 1, n, n_max − 1); and f_cut(r) e^{−α r²}, the l = 0 sample at r_a = 0.

    Where the Gaussians are narrow beside the grid spacing, only the ``basis.band`` grid
    points nearer than ``basis.reach`` are computed for each pair: the others carry a
    factor below e^{−40} (4e−18) and are left zero.
    """
    width = CUTOFF_TRANSITION_WIDTH
    t = np.clip((r - basis.r_cut + width) / width, 0.0, 1.0)
    f_cut = np.where(r < basis.r_cut, 0.5 * (np.cos(np.pi * t) + 1.0), 0.0)
    at_origin = f_cut * np.exp(-basis.alpha * r * r)
    if basis.band is None:
        return _bessel_samples(r, f_cut, basis.grid[None, 1:], basis), at_origin
    first = np.ceil((r - basis.reach) / basis.spacing).astype(int)
    points = np.clip(first, 1, basis.n_max - basis.band)[:, None] + np.arange(basis.band)
    compact = _bessel_samples(r, f_cut, basis.grid[points], basis)
    n_points = basis.n_max - 1
    out = basis.scratch("radial", (basis.l_max + 1, len(r) * n_points))
    out.fill(0.0)
    flat = (np.arange(len(r))[:, None] * n_points + points - 1).ravel()
    out[:, flat] = compact.reshape(basis.l_max + 1, -1)
    return out.reshape(basis.l_max + 1, len(r), n_points), at_origin


def _bessel_samples(r, f_cut, grid, basis):
    """f_cut e^{−α(r² + r_a²)} i_l(2α r r_a) at grid points ``grid`` (n, k) > 0, by QUIP's
    upward recurrence i_l = i_{l−2} − (2l − 1)/x i_{l−1}; shape (l_max + 1, n, k)."""
    alpha = basis.alpha
    x = (2.0 * alpha * r)[:, None] * grid
    inv = 1.0 / x
    difference = r[:, None] - grid
    exp_m = np.exp(-alpha * difference * difference)
    exp_m *= (0.5 * f_cut)[:, None]
    exp_m *= inv
    out = basis.scratch("bessel", (basis.l_max + 1,) + x.shape)
    if x.size and x.min() > _LARGE_ARGUMENT:      # e^{−2x} below rounding: i_{−1} = i_0
        minus = exp_m
        out[0] = exp_m
    else:
        total = r[:, None] + grid
        exp_p = np.exp(-alpha * total * total)
        exp_p *= (0.5 * f_cut)[:, None]
        exp_p *= inv
        minus = exp_m + exp_p
        np.subtract(exp_m, exp_p, out=out[0])
    for ell in range(1, basis.l_max + 1):
        current = out[ell]
        np.multiply(inv, out[ell - 1], out=current)
        current *= -(2 * ell - 1)
        current += minus if ell == 1 else out[ell - 2]
    return out


def _real_harmonics(u, l_max: int, *, odd: bool, scratch):
    """Orthonormal real spherical harmonics of unit vectors ``u`` (n, 3), one row per
    (l, m), for even l (and odd l when ``odd``); and each l's rows (a slice). ``scratch``
    (:meth:`_Basis.scratch`) gives the work arrays."""
    n = len(u)
    power = scratch("power", (l_max + 1, n), complex)  # √2 (x + iy)^m
    power[0] = math.sqrt(2.0)
    w = u[:, 0] + 1j * u[:, 1]
    for m in range(1, l_max + 1):
        np.multiply(power[m - 1], w, out=power[m])
    cosine, sine = power.real, power.imag
    z = u[:, 2]
    wanted = [ell for ell in range(l_max + 1) if odd or ell % 2 == 0]
    rows, start = {}, 0
    for ell in wanted:
        rows[ell] = slice(start, start + 2 * ell + 1)
        start += 2 * ell + 1
    out = scratch("harmonics", (start, n))
    a, b, diagonal = _legendre_constants(l_max)
    previous, before, current, term = (scratch(f"legendre {k}", (l_max + 1, n))
                                       for k in range(4))
    for ell in range(l_max + 1):
        # normalised Q_l^m(z), P_l^m = (1 − z²)^{m/2} Q_l^m, by recurrence in l
        previous, before, current = before, current, previous
        if ell >= 2:
            m = slice(0, ell - 1)
            np.multiply(z, before[m], out=current[m])
            np.multiply(b[ell, m, None], previous[m], out=term[m])
            current[m] -= term[m]
            current[m] *= a[ell, m, None]
        if ell >= 1:
            np.multiply(z, before[ell - 1], out=current[ell - 1])
            current[ell - 1] *= math.sqrt(2 * ell + 1)
        current[ell] = diagonal[ell]
        if ell in rows:
            block = out[rows[ell]]
            block[0] = current[0]
            np.multiply(current[1:ell + 1], cosine[1:ell + 1], out=block[1:ell + 1])
            np.multiply(current[1:ell + 1], sine[1:ell + 1], out=block[ell + 1:])
    return out, rows


@functools.lru_cache(maxsize=8)
def _legendre_constants(l_max: int):
    """Coefficients of the normalised associated Legendre recurrence
    Q_l^m = a_lm (z Q_{l−1}^m − b_lm Q_{l−2}^m), and Q_m^m."""
    a = np.zeros((l_max + 1, l_max + 1))
    b = np.zeros((l_max + 1, l_max + 1))
    for ell in range(2, l_max + 1):
        m = np.arange(ell - 1)
        a[ell, m] = np.sqrt((4.0 * ell * ell - 1) / (ell * ell - m * m))
        b[ell, m] = np.sqrt(((ell - 1.0) ** 2 - m * m) / (4.0 * (ell - 1) ** 2 - 1))
    diagonal = [(-1) ** m * math.sqrt((2 * m + 1) / (4 * math.pi) / math.factorial(2 * m))
                * _double_factorial(2 * m - 1) for m in range(l_max + 1)]
    return a, b, diagonal


def _double_factorial(n: int) -> int:
    return 1 if n <= 0 else n * _double_factorial(n - 2)


def _power_spectra(coefficients, basis):
    """QUIP's layout from coefficients (cells, species, lm, n): for each channel pair
    ia ≥ jb and l, Σ_m c c' / √(2l+1), √2 off the diagonal, at index k (l_max + 1) + l."""
    n_cells = len(coefficients)
    channels = coefficients.transpose(0, 2, 1, 3).reshape(
        n_cells, (basis.l_max + 1) ** 2, basis.n_species * basis.n_max)
    blocks = []
    for ell in range(basis.l_max + 1):
        c = channels[:, ell * ell:(ell + 1) ** 2, :]
        power = np.matmul(c.transpose(0, 2, 1), c) / math.sqrt(2 * ell + 1)
        blocks.append(power[:, basis.ia, basis.jb] * basis.scale)
    return np.stack(blocks, axis=2).reshape(n_cells, -1)
