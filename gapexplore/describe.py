"""Configuration-averaged SOAP and the structural similarity kernel (paper Eqs. 1–4).

The paper compares whole cells, not atoms: the SOAP expansion coefficients c_nlm are
averaged over the atoms of a cell (Eq. 2) and the power spectrum is formed from the
averages (Eq. 3) — which is not the average of the atomic power spectra. dscribe's
``SOAP(average="inner")`` computes exactly this; gapexplore does not re-derive SOAP.
The kernel between cells A and B is k_AB = (p_A · p_B)^ζ on normalised p (Eq. 4).

Settings and their cost
-----------------------
:class:`SoapSettings` defaults to the paper's printed values: n_max = l_max = 12,
σ_at = 0.0875 Å, r_cut = 10.5 Å (dscribe's σ is in Å). At these settings dscribe's GTO
basis is ill-conditioned (it warns ``LinAlgWarning`` while orthonormalising; the
warning is silenced here and the descriptor is still finite and usable) and one random
6–24-atom Si cell costs about 17 ms of CPU. :meth:`SoapSettings.fast` (n = l = 8,
σ = 0.5 Å, r_cut = 6 Å) costs about a tenth of that; ``benchmarks/bench_selection.py``
measures both and compares what each selects.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from gapexplore.core.checks import check_int, check_real, check_structures, fail

__all__ = ["SoapSettings", "averaged_soap", "soap_kernel"]


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
        Width of the atomic Gaussians σ_at [Å] (paper: 0.0875).
    r_cut : float
        Cutoff radius [Å] (paper: 10.5).
    zeta : int
        Kernel exponent ζ of Eq. 4 (paper: 4).
    """

    n_max: int = 12
    l_max: int = 12
    sigma: float = 0.0875
    r_cut: float = 10.5
    zeta: int = 4

    def __post_init__(self):
        where = "SoapSettings"
        check_int(self.n_max, "n_max", where, low=1, high=20)
        check_int(self.l_max, "l_max", where, low=0, high=20)
        check_real(self.sigma, "sigma", where, low=0.0, low_open=True)
        check_real(self.r_cut, "r_cut", where, low=1.0)
        check_int(self.zeta, "zeta", where, low=1)

    @classmethod
    def paper(cls) -> "SoapSettings":
        """The paper's selection SOAP (Methods): n = l = 12, σ 0.0875 Å, r_cut 10.5 Å, ζ 4."""
        return cls()

    @classmethod
    def fast(cls) -> "SoapSettings":
        """A cheaper SOAP for large pools: n = l = 8, σ 0.5 Å, r_cut 6 Å, ζ 4."""
        return cls(n_max=8, l_max=8, sigma=0.5, r_cut=6.0)


def averaged_soap(structures: list[Atoms], settings: SoapSettings | None = None, *,
                  species=None, n_jobs: int = 1) -> np.ndarray:
    """Configuration-averaged SOAP vectors, normalised to unit length (paper Eqs. 1–3).

    Parameters
    ----------
    structures : list of ase.Atoms
        Periodic cells (or isolated clusters); they are not modified.
    settings : SoapSettings, optional
        Basis, width [Å] and cutoff [Å]; default ``SoapSettings()``, the paper's.
    species : list of str, optional
        Chemical symbols the descriptor covers. Default: those present in ``structures``.
        Give it explicitly to compare vectors computed in separate calls.
    n_jobs : int
        Processes dscribe uses (each ``create`` call with ``n_jobs > 1`` costs about
        3 s of start-up, so use it for thousands of cells).

    Returns
    -------
    numpy.ndarray, shape (n_structures, n_features)
        One unit vector p per structure.
    """
    from dscribe.descriptors import SOAP

    where = "averaged_soap"
    settings = SoapSettings() if settings is None else settings
    if not isinstance(settings, SoapSettings):
        raise fail("settings", where, "a gapexplore.SoapSettings", settings)
    structures = check_structures(structures, "structures", where)
    n_jobs = check_int(n_jobs, "n_jobs", where, low=1)
    if species is None:
        species = sorted({s for atoms in structures for s in atoms.get_chemical_symbols()})
    periodic = [a if a.pbc.all() else _boxed(a) for a in structures]
    with warnings.catch_warnings():
        # dscribe warns about its ill-conditioned GTO overlap matrix at n_max = 12,
        # r_cut = 10.5 Å; the orthonormalised basis it then uses is still well defined.
        warnings.filterwarnings("ignore", message="An ill-conditioned matrix")
        soap = SOAP(species=list(species), r_cut=settings.r_cut, n_max=settings.n_max,
                    l_max=settings.l_max, sigma=settings.sigma, periodic=True,
                    average="inner", sparse=False)
        vectors = soap.create(periodic, n_jobs=n_jobs) if periodic else np.empty((0, 0))
    vectors = np.atleast_2d(np.asarray(vectors, dtype=float))
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


def _boxed(atoms: Atoms) -> Atoms:
    """A non-periodic structure as dscribe's periodic SOAP accepts it: a copy, unchanged
    but for full periodicity in its (vacuum-padded) box.
    """
    copy = atoms.copy()
    copy.pbc = True
    return copy
