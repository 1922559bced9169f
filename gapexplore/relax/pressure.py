"""Random external pressures, one per candidate (paper Eq. 5)."""

from __future__ import annotations

import numpy as np

from gapexplore.core.checks import check_int, check_real, check_rng

__all__ = ["random_pressures"]


def random_pressures(count: int, *, rng: np.random.Generator, p0: float = 1.0,
                     beta: float = 0.2) -> np.ndarray:
    """External pressures [GPa] drawn from P(p/p0) = (1/β) exp(−(p/p0)/β) (paper Eq. 5).

    Parameters
    ----------
    count : int
        Number of pressures.
    rng : numpy.random.Generator
        Source of randomness.
    p0 : float
        Pressure scale [GPa].
    beta : float
        Dimensionless β; the mean is β p0.

    Returns
    -------
    numpy.ndarray, shape (count,)
    """
    where = "random_pressures"
    count = check_int(count, "count", where, low=0)
    p0 = check_real(p0, "p0", where, low=0.0)
    beta = check_real(beta, "beta", where, low=0.0, low_open=True)
    return p0 * check_rng(rng, where).exponential(beta, size=count)
