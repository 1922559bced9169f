"""Small 3-d linear algebra that gives the same bits on every CPU.

numpy's ``@``, ``einsum`` and ``linalg`` hand even 3×3 products to BLAS/LAPACK, whose
kernels differ by CPU (fused multiply-add or not, summation order): the last bit of a
product changes with the machine. In random-cell generation a last bit can flip an
accept/reject decision and so change the cell. These functions use elementwise products
and sums in a fixed order only, which IEEE 754 rounds the same way everywhere.
"""

from __future__ import annotations

import numpy as np


def vecmat(v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``v @ m`` for row vectors ``v`` of shape (..., 3) and a 3×3 matrix ``m``."""
    v = np.asarray(v, dtype=float)
    m = np.asarray(m, dtype=float)
    return v[..., 0, None] * m[0] + v[..., 1, None] * m[1] + v[..., 2, None] * m[2]


def matvecs(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``m[k] @ v[k]`` for stacks of 3×3 matrices (k, 3, 3) and vectors (k, 3)."""
    m = np.asarray(m, dtype=float)
    v = np.asarray(v, dtype=float)
    return m[:, :, 0] * v[:, 0, None] + m[:, :, 1] * v[:, 1, None] + m[:, :, 2] * v[:, 2, None]


def norm2(v: np.ndarray) -> np.ndarray:
    """Squared Euclidean norm over the last axis (of length 3)."""
    return v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1] + v[..., 2] * v[..., 2]


def det3(m: np.ndarray) -> float:
    """Determinant of a 3×3 matrix."""
    m = np.asarray(m, dtype=float)
    return float(m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
                 - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
                 + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]))


def inv3(m: np.ndarray) -> np.ndarray:
    """Inverse of a 3×3 matrix (adjugate over determinant)."""
    m = np.asarray(m, dtype=float)
    cof = np.cross(m[[1, 2, 0]], m[[2, 0, 1]])  # rows: m1×m2, m2×m0, m0×m1
    return cof.T / det3(m)
