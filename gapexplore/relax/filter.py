"""The cell filter a relaxation minimises the enthalpy through: ASE's
``FrechetCellFilter`` with its forces kept per geometry and its 3×3 matrix functions in
closed form."""

from __future__ import annotations

import numpy as np
from ase.filters import FrechetCellFilter
from scipy.linalg import expm, expm_frechet, logm

__all__ = ["FastFrechetCellFilter"]


class FastFrechetCellFilter(FrechetCellFilter):
    """ASE's ``FrechetCellFilter``, with its generalised forces computed once per geometry
    and its 3×3 matrix functions computed in closed form.

    ASE's optimisers ask the filter for its forces several times a step (the step, the
    line search, the log, the convergence test: five times a step for ``PreconLBFGS``),
    and each answer takes a matrix logarithm and nine Fréchet derivatives of the matrix
    exponential through scipy's general algorithms: a quarter of a light GAP's relaxation
    time on 6–24-atom cells. Here the forces are kept until the positions or the cell
    change, and the logarithm, exponential and Fréchet derivative of the 3×3 deformation
    come from one eigendecomposition (:func:`_eig_function`), falling back to scipy's when
    the eigenvectors are ill-conditioned. The values agree with ASE's filter to rounding
    (``tests/test_relax.py``).
    """

    _kept = None

    def __init__(self, atoms, **kwargs):
        super().__init__(atoms, **kwargs)
        for owner in (self, getattr(self, "_utility", None)):
            if owner is not None:
                owner.logm, owner.expm, owner.expm_frechet = _logm, _expm, _expm_frechet

    def get_forces(self, **kwargs):
        """The generalised forces (atoms, then cell) [eV/Å], kept for this geometry."""
        key = (self.atoms.positions.tobytes(), self.atoms.cell.array.tobytes(),
               tuple(sorted(kwargs.items())))
        if self._kept is None or self._kept[0] != key:
            forces = super().get_forces(**kwargs)
            self._kept = (key, forces, self.stress)
        _, forces, self.stress = self._kept
        return forces.copy()


#: Largest condition number of a 3×3 matrix's eigenvectors for which its matrix functions
#: are taken from the eigendecomposition; above it, scipy's general algorithms are used.
_EIG_CONDITION = 1e3


def _eig_function(matrix: np.ndarray):
    """The eigendecomposition (values, vectors, inverse vectors) of a real 3×3 matrix,
    kept for the last matrix asked (the Fréchet derivative asks nine times for one
    matrix); None when the eigenvectors are ill-conditioned (condition number above
    :data:`_EIG_CONDITION`: a near-defective matrix). :func:`_logm` also falls back when
    an eigenvalue is real and not positive (no real logarithm)."""
    key, kept = matrix.tobytes(), _eig_function.kept  # read once: threads may share it
    if kept is not None and kept[0] == key:
        return kept[1]
    values, vectors = np.linalg.eig(matrix)
    decomposition = None
    if np.linalg.cond(vectors) <= _EIG_CONDITION:
        decomposition = values, vectors, np.linalg.inv(vectors)
    _eig_function.kept = (key, decomposition)
    return decomposition


_eig_function.kept = None


def _logm(matrix):
    """Principal logarithm of a real 3×3 matrix (scipy's ``logm`` where the
    eigendecomposition is ill-conditioned)."""
    decomposition = _eig_function(np.asarray(matrix, dtype=float))
    if decomposition is None or np.any((decomposition[0].real <= 0)
                                       & (decomposition[0].imag == 0)):
        return logm(matrix)
    values, vectors, inverse = decomposition
    return ((vectors * np.log(values)) @ inverse).real


def _expm(matrix):
    """Exponential of a real 3×3 matrix (scipy's ``expm`` where the eigendecomposition is
    ill-conditioned)."""
    decomposition = _eig_function(np.asarray(matrix, dtype=float))
    if decomposition is None:
        return expm(matrix)
    values, vectors, inverse = decomposition
    return ((vectors * np.exp(values)) @ inverse).real


def _expm_frechet(matrix, direction, compute_expm=True, **kwargs):
    """Fréchet derivative of the exponential of a real 3×3 matrix in ``direction``
    (Daleckii–Krein: V [(V⁻¹ E V) ∘ Φ] V⁻¹, Φ the divided differences of exp over the
    eigenvalues), as scipy's ``expm_frechet`` returns it; scipy's where the
    eigendecomposition is ill-conditioned."""
    decomposition = _eig_function(np.asarray(matrix, dtype=float))
    if decomposition is None:
        return expm_frechet(matrix, direction, compute_expm=compute_expm, **kwargs)
    values, vectors, inverse = decomposition
    gap = values[:, None] - values[None, :]
    same = gap == 0
    divided = np.exp(values)[None, :] * np.where(same, 1.0,
                                                 np.expm1(gap) / np.where(same, 1.0, gap))
    derivative = (vectors @ ((inverse @ direction @ vectors) * divided) @ inverse).real
    if compute_expm:
        return _expm(matrix), derivative
    return derivative
