"""Stage 1 of the selection: the Boltzmann-biased flat histogram over the enthalpy per atom
(paper, Methods), and the kT schedule of the iterations (0.3, 0.2, then 0.1 eV)."""

from __future__ import annotations

import numpy as np

from gapexplore.core.checks import check_int, check_real, check_rng, fail

__all__ = ["KT_SCHEDULE", "kt_for_iteration", "flat_histogram_probabilities",
           "flat_histogram_indices"]

#: The paper's kT [eV] for iterations 1, 2 and after (iteration 0 has no enthalpies).
KT_SCHEDULE = (0.3, 0.2, 0.1)


def kt_for_iteration(iteration: int, schedule: tuple = KT_SCHEDULE) -> float:
    """The flat histogram's kT [eV] in an iteration ≥ 1: ``schedule[iteration - 1]``, its
    last value repeating (the paper's: 0.3, 0.2, then 0.1). The one home of this rule."""
    iteration = check_int(iteration, "iteration", "kt_for_iteration", low=1)
    return float(schedule[min(iteration, len(schedule)) - 1])


def flat_histogram_probabilities(values, kT: float) -> np.ndarray:
    """Selection probabilities of the Boltzmann-biased flat histogram.

    Parameters
    ----------
    values : array_like of float, shape (n,)
        Enthalpy per atom of each structure [eV/atom].
    kT : float
        Temperature of the Boltzmann bias [eV] (paper: 0.3, 0.2, then 0.1).

    Returns
    -------
    numpy.ndarray, shape (n,)
        p_i ∝ exp(−(H_i − H_min)/kT) / c(b_i), where c(b_i) is the number of structures
        in the ``numpy.histogram`` bin (default parameters: 10 equal bins) of structure
        i; sums to 1.
    """
    where = "flat_histogram_probabilities"
    values = _check_values(values, "values", where)
    kT = check_real(kT, "kT", where, low=0.0, low_open=True)
    if len(values) == 0:
        return np.empty(0)
    counts, edges = np.histogram(values)
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(counts) - 1)
    weights = np.exp(-(values - values.min()) / kT) / counts[bins]
    return weights / weights.sum()


def flat_histogram_indices(values, n: int, kT: float, *, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` structures without replacement by :func:`flat_histogram_probabilities`.

    Parameters
    ----------
    values : array_like of float, shape (m,)
        Enthalpy per atom [eV/atom].
    n : int
        Number to draw; all ``m`` (in order) if ``n >= m``.
    kT : float
        Temperature of the Boltzmann bias [eV].
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of int, shape (min(n, m),)
        Indices in the order drawn.
    """
    where = "flat_histogram_indices"
    p = flat_histogram_probabilities(values, kT)
    n = check_int(n, "n", where, low=0)
    rng = check_rng(rng, where)
    if n >= len(p):
        return np.arange(len(p))
    return rng.choice(len(p), size=n, replace=False, p=p)


def _check_values(values, name: str, where: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise fail(name, where, "a 1-d array of finite numbers", values.tolist()
                   if values.size < 8 else f"an array of shape {values.shape} with "
                   f"{int(np.sum(~np.isfinite(values)))} non-finite entries")
    return values
