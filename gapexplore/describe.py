"""Configuration-averaged SOAP and the structural similarity kernel (paper Eqs. 1–4).

The paper compares whole cells, not atoms: the SOAP expansion coefficients c_nlm are
averaged over the atoms of a cell (Eq. 2) and the power spectrum is formed from the
averages (Eq. 3) — which is not the average of the atomic power spectra. The kernel
between cells A and B is k_AB = (p_A · p_B)^ζ on normalised p (Eq. 4), the dot product
running over all (n, n', l), so each n ≠ n' term counts twice. :attr:`SoapSettings.backend`
chooses the definitions and the code:

``"quip"``
    QUIP's ``soap ... average=T``, the authors' SOAP: the density sampled at n_max radial
    points from 0, (r_cut + 6.8 σ_at)/n_max apart, interpolated by Gaussians of width σ_at
    and orthonormalised (``EQUISPACED_GAUSS``); a cosine cutoff 0.5 Å wide ending at r_cut
    (QUIP's default; the paper gives none); the central atom included; p_nn'l weighted by
    1/√(2l+1) and the n ≠ n' entries (for several elements, every entry between two
    channels) by √2, so the dot product of two vectors is Eq. 4's sum. This *is* the
    paper's kernel; ``tests/test_descriptors.py`` recomputes it from Eq. 1 to 1e-9.
    (Read literally, Eq. 2 puts √(8π²/(2l+1)) on each c, i.e. 1/(2l+1) on p; QUIP,
    Bartók's SOAP paper and dscribe all weight p by 1/√(2l+1); gapexplore follows the code
    the authors ran.) Computed by :mod:`gapexplore.soap_average`, which sums the neighbour
    pairs of whole cells straight into their mean coefficients (even l only for one
    element: the odd-l entries of a periodic cell's averaged spectrum are exactly zero),
    in numpy: the same vectors as quippy's to 1e-15 on random Si and SiC cells, cells
    smaller than the cutoff among them (``tests/test_soap_average.py`` holds them to
    1e-10).
``"quippy"``
    The same vectors through quippy's ``Descriptor`` itself, the code the authors ran:
    about 100 ms per cell at the paper's settings, 50 times ``"quip"``; the reference the
    tests hold ``"quip"`` to.
``"dscribe"`` (default)
    dscribe's ``SOAP(average="inner")``: the same averaging (Eq. 2) and l weight, but an
    orthonormalised GTO radial basis, no smooth cutoff, and p_nn'l stored for n ≤ n' only,
    so the n ≠ n' terms count once where Eq. 4 counts them twice. A different kernel, not
    an approximation of QUIP's: on 200 random Si cells (``benchmarks/bench_kernel.py``) its
    off-diagonal kernel correlates with QUIP's at 0.45 (paper settings) and 0.80 (fast),
    and 4 and 8 of 16 kernel-CUR picks agree with QUIP's. Weighting the n ≠ n' entries by
    √2 (Eq. 4's full sum in dscribe's basis; the benchmark's ``dscribe, √2`` row) leaves
    both figures as they are — the radial basis is what differs — so the vectors are used
    as dscribe stores them. It stays the default although ``"quip"`` is faster, because
    ``"quip"`` gives other vectors, and so another selection, than the default has given.

Settings and their cost
-----------------------
:class:`SoapSettings` defaults to the paper's printed values: n_max = l_max = 12,
σ_at = 0.0875 Å, r_cut = 10.5 Å (every backend takes σ in Å). At these settings dscribe's
GTO basis is ill-conditioned (it warns ``LinAlgWarning`` while orthonormalising; the
warning is silenced here and the descriptor is still finite and usable). QUIP's basis at
these settings (points 0.92 Å apart, Gaussians 0.0875 Å wide) effectively samples the
neighbour density on 12 thin radial shells, so :mod:`gapexplore.soap_average` evaluates
each pair at the two grid points it reaches only. CPU per random 6–24-atom Si cell (mean
15 atoms, about 1,850 neighbour pairs within 10.5 Å counted once):

==========================  ==========  ========  =========
settings                    ``quip``    dscribe   quippy
==========================  ==========  ========  =========
paper (n = l = 12, 10.5 Å)  1.1–1.8 ms  13–17 ms  ≈ 100 ms
fast (n = l = 8, 6 Å)       0.2 ms      1.6 ms    13 ms
==========================  ==========  ========  =========

Selecting 100 of 10,000 such cells at the paper's settings (iteration 0: averaged SOAP of
every cell, Nyström factor of 2,000 columns, CUR; 2 processes) on a shared 2-core AMD EPYC
VM (2026-12-07, load average 4–6 from other work, so wall times were about 1.5 times the
CPU time): averaged SOAP 26.8 s (17.5 CPU-seconds) with ``"quip"`` against 157 s (102
CPU-seconds) with dscribe in the same run (0.17×), the whole selection 44.9 s against
177 s (0.25×), peak memory 1.45 GiB against 1.31 GiB. The Nyström factor and CUR (about
12 CPU-seconds, 18 s there) are now the larger part of the selection::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_selection.py --settings paper \
        --backends dscribe,quip
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from functools import partial

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols

from gapexplore.core.checks import check_choice, check_int, check_real, check_structures, fail
from gapexplore.core.libraries import import_quippy
from gapexplore.core.parallel import map_ordered
from gapexplore.soap_average import CUTOFF_TRANSITION_WIDTH, summed_averaged_soap

__all__ = ["BACKENDS", "SoapSettings", "averaged_soap", "soap_kernel"]

#: Codes that can compute the averaged SOAP (:attr:`SoapSettings.backend`).
BACKENDS = ("dscribe", "quip", "quippy")
#: Width of QUIP's cosine cutoff transition [Å] (QUIP's default; the paper gives none).
QUIP_CUTOFF_TRANSITION_WIDTH = CUTOFF_TRANSITION_WIDTH


@dataclass(frozen=True)
class SoapSettings:
    """Configuration-averaged SOAP for structure selection.

    Parameters
    ----------
    n_max : int
        Number of radial basis functions (paper: 12).
    l_max : int
        Largest angular momentum (paper: 12).
    sigma : float
        Width of the atomic Gaussians σ_at [Å] (paper: 0.0875; QUIP's ``atom_sigma``).
    r_cut : float
        Cutoff radius [Å] (paper: 10.5).
    zeta : int
        Kernel exponent ζ of Eq. 4 (paper: 4).
    backend : {"dscribe", "quip", "quippy"}
        Code that computes the averaged SOAP: ``"quip"`` is the authors' SOAP (QUIP's
        definitions, the paper's kernel) summed over whole cells by
        :mod:`gapexplore.soap_average`, ``"quippy"`` the same vectors through quippy itself,
        ``"dscribe"`` the same kernel form in a different radial basis (module docstring).
    """

    n_max: int = 12
    l_max: int = 12
    sigma: float = 0.0875
    r_cut: float = 10.5
    zeta: int = 4
    backend: str = "dscribe"

    def __post_init__(self):
        where = "SoapSettings"
        check_int(self.n_max, "n_max", where, low=1, high=20)
        check_int(self.l_max, "l_max", where, low=0, high=20)
        check_real(self.sigma, "sigma", where, low=0.0, low_open=True)
        check_real(self.r_cut, "r_cut", where, low=1.0)
        check_int(self.zeta, "zeta", where, low=1)
        check_choice(self.backend, "backend", where, BACKENDS)

    @classmethod
    def paper(cls, backend: str = "dscribe") -> "SoapSettings":
        """The paper's selection SOAP (Methods): n = l = 12, σ 0.0875 Å, r_cut 10.5 Å, ζ 4."""
        return cls(backend=backend)

    @classmethod
    def fast(cls, backend: str = "dscribe") -> "SoapSettings":
        """A cheaper SOAP for large pools: n = l = 8, σ 0.5 Å, r_cut 6 Å, ζ 4."""
        return cls(n_max=8, l_max=8, sigma=0.5, r_cut=6.0, backend=backend)


def averaged_soap(structures: list[Atoms], settings: SoapSettings | None = None, *,
                  species=None, n_jobs: int = 1) -> np.ndarray:
    """Configuration-averaged SOAP vectors, normalised to unit length (paper Eqs. 1–3).

    Parameters
    ----------
    structures : list of ase.Atoms
        Periodic cells (or isolated clusters, treated as periodic in their box); they are
        not modified.
    settings : SoapSettings, optional
        Basis, width [Å], cutoff [Å] and backend; default ``SoapSettings()``, the paper's
        numbers computed by dscribe.
    species : list of str, optional
        Chemical symbols the descriptor covers. Default: those present in ``structures``.
        Give it explicitly to compare vectors computed in separate calls.
    n_jobs : int
        Processes to use. dscribe: each ``create`` call with ``n_jobs > 1`` costs about
        3 s of start-up, so use it for thousands of cells; ``"quip"`` and ``"quippy"``: the
        structures are split into ``n_jobs`` chunks run in worker processes.

    Returns
    -------
    numpy.ndarray, shape (n_structures, n_features)
        One unit vector p per structure (for ``"quip"`` and ``"quippy"``, the same vector:
        p_A · p_B is Eq. 4's sum over all (n, n', l) and species pairs). The layout of
        dscribe's differs.

    Raises
    ------
    InvalidParameterError
        For bad settings, ``n_jobs``, species (an element of ``structures`` missing from
        ``species``) or a structure without a box (zero cell volume), before any SOAP is
        computed; or for a structure whose SOAP vector is empty or not finite.
    """
    where = "averaged_soap"
    settings = SoapSettings() if settings is None else settings
    if not isinstance(settings, SoapSettings):
        raise fail("settings", where, "a gapexplore.SoapSettings", settings)
    check_choice(settings.backend, "backend", where, BACKENDS)
    structures = check_structures(structures, "structures", where)
    n_jobs = check_int(n_jobs, "n_jobs", where, low=1)
    species = _species(structures, species, where)
    for index, atoms in enumerate(structures):
        if not atoms.cell.volume > 0:
            raise fail("structures", where, "cells (or clusters in a box) of non-zero volume",
                       f"a zero-volume cell at position {index}")
    periodic = [a if a.pbc.all() else _boxed(a) for a in structures]
    if not periodic:
        return np.empty((0, 0))
    if settings.backend == "quip":
        vectors = _summed_vectors(periodic, settings, species, n_jobs)
    elif settings.backend == "quippy":
        vectors = _quip_vectors(periodic, settings, species, n_jobs)
    else:
        vectors = _dscribe_vectors(periodic, settings, species, n_jobs)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(vectors)):
        raise fail("structures", where, "cells with at least one neighbour inside r_cut",
                   "a structure with an empty or non-finite SOAP vector")
    return vectors / norms


def soap_kernel(p: np.ndarray, q: np.ndarray | None = None, *, zeta: int = 4) -> np.ndarray:
    """Structural similarity kernel k_AB = (p_A · p_B)^ζ (paper Eq. 4).

    Parameters
    ----------
    p : numpy.ndarray, shape (n, d)
        Normalised averaged SOAP vectors (:func:`averaged_soap`).
    q : numpy.ndarray, shape (m, d), optional
        Second set; default ``p`` (a square kernel).
    zeta : int
        Exponent ζ (paper: 4).

    Returns
    -------
    numpy.ndarray, shape (n, m)
        Kernel values in [0, 1] for non-negative vectors; 1 on the diagonal of the square kernel.
    """
    zeta = check_int(zeta, "zeta", "soap_kernel", low=1)
    p = np.asarray(p, dtype=float)
    q = p if q is None else np.asarray(q, dtype=float)
    return (p @ q.T) ** zeta


def _species(structures: list[Atoms], species, where: str) -> list[str]:
    """The chemical symbols to cover, sorted by atomic number; every element of
    ``structures`` must be among them."""
    present = {s for atoms in structures for s in atoms.get_chemical_symbols()}
    if species is None:
        species = present
    elif isinstance(species, str) or not hasattr(species, "__iter__"):
        raise fail("species", where, "a list of chemical symbols", species)
    species = [chemical_symbols[s] if isinstance(s, numbers.Integral) and 0 < s < len(
        chemical_symbols) else s for s in species]
    if any(not isinstance(s, str) or s not in atomic_numbers or s == "X" for s in species):
        raise fail("species", where, "a list of chemical symbols (or atomic numbers)", species)
    missing = present - set(species)
    if missing:
        raise fail("species", where, "a list covering every element of the structures",
                   f"{sorted(species)} for structures with {sorted(missing)}")
    return sorted(set(species), key=atomic_numbers.get)


def _dscribe_vectors(structures: list[Atoms], settings: SoapSettings, species: list[str],
                     n_jobs: int) -> np.ndarray:
    """The inner-averaged power spectra of dscribe (n ≤ n' stored once; unnormalised)."""
    from dscribe.descriptors import SOAP

    with warnings.catch_warnings():
        # dscribe warns about its ill-conditioned GTO overlap matrix at n_max = 12,
        # r_cut = 10.5 Å; the orthonormalised basis it then uses is still well defined.
        warnings.filterwarnings("ignore", message="An ill-conditioned matrix")
        soap = SOAP(species=species, r_cut=settings.r_cut, n_max=settings.n_max,
                    l_max=settings.l_max, sigma=settings.sigma, periodic=True,
                    average="inner", sparse=False)
        vectors = soap.create(structures, n_jobs=n_jobs)
    return np.atleast_2d(np.asarray(vectors, dtype=float))


def _quip_arguments(settings: SoapSettings, species: list[str]) -> str:
    """QUIP's descriptor string for the averaged SOAP of ``settings`` over ``species``
    (given explicitly, all as centres and as neighbours, so separate calls compare)."""
    z_list = " ".join(str(atomic_numbers[s]) for s in species)
    return (f"soap n_max={settings.n_max} l_max={settings.l_max} "
            f"atom_sigma={settings.sigma!r} cutoff={settings.r_cut!r} "
            f"cutoff_transition_width={QUIP_CUTOFF_TRANSITION_WIDTH} central_weight=1.0 "
            f"average=T n_species={len(species)} species_Z={{{z_list}}} "
            f"n_Z={len(species)} Z={{{z_list}}}")


def _summed_vectors(structures: list[Atoms], settings: SoapSettings, species: list[str],
                    n_jobs: int) -> np.ndarray:
    """QUIP's averaged SOAP vectors from :func:`summed_averaged_soap` (unnormalised)."""
    compute = partial(summed_averaged_soap, n_max=settings.n_max, l_max=settings.l_max,
                      sigma=settings.sigma, r_cut=settings.r_cut,
                      species=[atomic_numbers[s] for s in species])
    if n_jobs == 1:
        return compute(structures)
    chunks = [c for c in np.array_split(np.arange(len(structures)), n_jobs) if len(c)]
    parts = map_ordered(compute, [[structures[i] for i in chunk] for chunk in chunks],
                        n_jobs=len(chunks))
    return np.concatenate(parts, axis=0)


def _quip_vectors(structures: list[Atoms], settings: SoapSettings, species: list[str],
                  n_jobs: int) -> np.ndarray:
    """QUIP's averaged SOAP vectors through quippy (normalised by QUIP; its trailing σ₀
    entry removed)."""
    arguments = _quip_arguments(settings, species)
    if n_jobs == 1:
        return _quip_chunk(arguments, structures)
    chunks = [list(c) for c in np.array_split(np.arange(len(structures)), n_jobs) if len(c)]
    parts = map_ordered(partial(_quip_chunk, arguments),
                        [[structures[i] for i in chunk] for chunk in chunks], n_jobs=n_jobs)
    return np.concatenate(parts, axis=0)


def _quip_chunk(arguments: str, structures: list[Atoms]) -> np.ndarray:
    """QUIP's averaged SOAP of each structure, one row each (worker-process function)."""
    descriptor = import_quippy("quippy.descriptors").Descriptor(arguments)
    rows = []
    for atoms in structures:
        data = np.asarray(descriptor.calc(atoms)["data"], dtype=float)
        # the last entry is QUIP's covariance_sigma0 (0 here), not part of p
        rows.append(data[0, :-1] if data.size else np.zeros(descriptor.dimensions() - 1))
    return np.asarray(rows)


def _boxed(atoms: Atoms) -> Atoms:
    """A non-periodic structure as the periodic SOAP accepts it: a copy, unchanged but
    for full periodicity in its (vacuum-padded) box.
    """
    copy = atoms.copy()
    copy.pbc = True
    return copy
