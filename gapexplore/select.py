"""Choosing which structures to label: Boltzmann-biased flat histogram, then CUR.

The paper's two-step selection (Fig. 1b; Methods, "Iterative generation of reference
data"):

1. **Flat histogram with a Boltzmann bias** over the enthalpy per atom H: the enthalpies
   are binned with ``numpy.histogram`` at its default parameters and each structure is
   drawn with probability ∝ exp(−(H − H_min)/kT) / (occupancy of its bin), without
   replacement. kT is 0.3 eV in the first iteration, 0.2 eV in the second and 0.1 eV after.
2. **Leverage-score CUR** on the square SOAP kernel matrix K (Eq. 4): rows are chosen by
   their leverage, i.e. their weight in the top singular vectors of K.

Choices the paper leaves open (all parameters):

* CUR picks one structure at a time and then removes what it explains from all others
  (the kernel's Schur complement, as in the iterative CUR of scikit-matter and of
  Imbalzano et al., J. Chem. Phys. 148, 241730 (2018)); so it never picks the same
  structure twice, and a tight cluster is not picked again before every other cluster
  has been picked once. Structures already in the database are removed the same way
  before the first pick, and are never picked.
* ``rank`` (default 1) is the number of singular vectors the leverage sums over;
  ``stochastic=False`` (default) takes the largest leverage, ``True`` draws by leverage.
* The kernel is factorised K ≈ Φ Φᵀ by scikit-learn's Nyström method on up to
  ``n_landmarks`` (default 2,000) columns: exact for pools up to that size, and no dense
  N×N matrix for larger ones. ``center=True`` centres the kernel in feature space
  (as wfl does); the default is the paper's uncentred kernel.
* The flat-histogram stage keeps ``n_histogram`` structures (default ten times the number
  to select) for CUR to choose from.

The array algorithms take numpy arrays and a generator; :func:`select_structures`
wraps them for lists of ``ase.Atoms``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from ase import Atoms

from . import keys
from ._checks import check_choice, check_int, check_real, check_rng, fail
from .descriptors import SoapSettings, averaged_soap

__all__ = [
    "KT_SCHEDULE",
    "kt_for_iteration",
    "flat_histogram_probabilities",
    "flat_histogram_indices",
    "cur_indices",
    "kernel_features",
    "random_indices",
    "Selection",
    "select_structures",
    "METHODS",
]

#: The paper's kT [eV] for iterations 1, 2 and after (iteration 0 has no enthalpies).
KT_SCHEDULE = (0.3, 0.2, 0.1)
#: Selection methods of :func:`select_structures`: the paper's and its two baselines (Fig. 2).
METHODS = ("kernel_cur", "vector_cur", "random")

_TINY = 1e-12
_MAX_FEATURES = 500   # CUR works on at most this many principal directions of the features


def kt_for_iteration(iteration: int, schedule: tuple = KT_SCHEDULE) -> float:
    """The flat histogram's kT [eV] in an iteration ≥ 1: ``schedule[iteration - 1]``, its
    last value repeating (the paper's: 0.3, 0.2, then 0.1). The one home of this rule."""
    iteration = check_int(iteration, "iteration", "kt_for_iteration", low=1)
    return float(schedule[min(iteration, len(schedule)) - 1])


# --- flat histogram ------------------------------------------------------------------------

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


# --- CUR -----------------------------------------------------------------------------------

def kernel_features(vectors: np.ndarray, *, zeta: int = 4, n_landmarks: int = 2000,
                    center: bool = False, rng: np.random.Generator) -> np.ndarray:
    """Rows Φ with Φ Φᵀ ≈ K, K_AB = (p_A · p_B)^ζ, by the Nyström method.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, d)
        Normalised averaged SOAP vectors.
    zeta : int
        Kernel exponent ζ (paper: 4).
    n_landmarks : int
        Columns of K used (scikit-learn ``Nystroem``); with ``n <= n_landmarks`` all are
        used and Φ Φᵀ = K to round-off.
    center : bool
        Centre the kernel in feature space (Φ minus its mean row).
    rng : numpy.random.Generator
        Chooses the landmark columns when ``n > n_landmarks``.

    Returns
    -------
    numpy.ndarray, shape (n, min(n, n_landmarks))
    """
    from sklearn.kernel_approximation import Nystroem

    where = "kernel_features"
    vectors = np.asarray(vectors, dtype=float)
    if vectors.ndim != 2 or not np.all(np.isfinite(vectors)):
        raise fail("vectors", where, "a finite 2-d array (structures × features)", vectors.shape)
    n_landmarks = check_int(n_landmarks, "n_landmarks", where, low=1)
    rng = check_rng(rng, where)
    nystroem = Nystroem(kernel="poly", degree=check_int(zeta, "zeta", where, low=1), gamma=1.0,
                        coef0=0.0, n_components=min(n_landmarks, len(vectors)),
                        random_state=int(rng.integers(2**31)))
    features = nystroem.fit_transform(vectors)
    return features - features.mean(axis=0) if center else features


def cur_indices(features: np.ndarray, n: int, *, rank: int = 1, stochastic: bool = False,
                exclude=(), rng: np.random.Generator | None = None):
    """Leverage-score CUR selection of rows, one at a time with deflation.

    Parameters
    ----------
    features : numpy.ndarray, shape (m, r)
        One row per structure. For CUR on the kernel, rows Φ with Φ Φᵀ = K
        (:func:`kernel_features`); for the paper's baseline, the SOAP vectors themselves.
    n : int
        Number of rows to select (at most the number not excluded).
    rank : int
        Number of top singular vectors the leverage score sums over.
    stochastic : bool
        Draw each row with probability equal to its leverage instead of taking the largest.
    exclude : sequence of int
        Rows already chosen (e.g. the database): removed from the others first, never picked.
    rng : numpy.random.Generator, optional
        Required when ``stochastic`` is true.

    Returns
    -------
    indices : numpy.ndarray of int, shape (n,)
        Selected rows, in the order picked.
    scores : numpy.ndarray of float, shape (n,)
        Leverage of each row when it was picked (leverages of the remaining rows sum to 1).

    Notes
    -----
    Step t computes the top-``rank`` eigenvectors v_a (eigenvalues s_a²) of the residual
    Gram matrix XᵀX, the leverage ℓ_i = Σ_a (x_i · v_a)² / s_a² / rank, picks a row j, and
    projects x_j's direction out of every row: X ← X (I − x̂_j x̂_jᵀ). For Φ Φᵀ = K this is
    the Schur complement of K on the picked structure.
    """
    where = "cur_indices"
    x = np.array(features, dtype=float)  # a copy: deflation works in place
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise fail("features", where, "a finite 2-d array (structures × features)",
                   getattr(x, "shape", x))
    exclude = np.unique(np.asarray(list(exclude), dtype=int))
    if len(exclude) and (exclude.min() < 0 or exclude.max() >= len(x)):
        raise fail("exclude", where, f"row indices in [0, {len(x)})", exclude.tolist())
    n = check_int(n, "n", where, low=0, high=len(x) - len(exclude))
    rank = check_int(rank, "rank", where, low=1)
    if stochastic:
        rng = check_rng(rng, where)
    if x.shape[1] > _MAX_FEATURES:
        x = _principal_rows(x)
    available = np.ones(len(x), dtype=bool)
    available[exclude] = False
    gram = x.T @ x
    for j in exclude:
        gram = _deflate(x, gram, j)
    chosen, scores = [], []
    for _ in range(n):
        leverage = _leverage(x, gram, rank) * available
        if leverage.sum() <= _TINY:   # nothing left to explain: fall back to residual size
            leverage = np.einsum("ij,ij->i", x, x) * available
        if leverage.sum() <= _TINY:   # all remaining rows are already explained
            leverage = available.astype(float)
        leverage = leverage / leverage.sum()
        j = int(rng.choice(len(x), p=leverage)) if stochastic else int(np.argmax(leverage))
        chosen.append(j)
        scores.append(float(leverage[j]))
        available[j] = False
        gram = _deflate(x, gram, j)
    return np.asarray(chosen, dtype=int), np.asarray(scores)


def random_indices(m: int, n: int, *, exclude=(), rng: np.random.Generator) -> np.ndarray:
    """``n`` of ``range(m)`` uniformly without replacement, none of ``exclude`` (baseline)."""
    where = "random_indices"
    allowed = np.setdiff1d(np.arange(check_int(m, "m", where, low=0)), np.asarray(exclude, int))
    n = check_int(n, "n", where, low=0, high=len(allowed))
    return check_rng(rng, where).choice(allowed, size=n, replace=False)


def _leverage(x: np.ndarray, gram: np.ndarray, rank: int) -> np.ndarray:
    """Row leverage over the top ``rank`` singular vectors of ``x`` (``gram`` = xᵀx)."""
    size = len(gram)
    rank = min(rank, size)
    eigval, eigvec = scipy.linalg.eigh(gram, subset_by_index=[size - rank, size - 1])
    top, v = eigval[::-1], eigvec[:, ::-1]
    keep = top > _TINY * max(top[0], _TINY)
    if not np.any(keep):
        return np.zeros(len(x))
    return np.sum((x @ v[:, keep]) ** 2 / top[keep], axis=1) / rank


def _deflate(x: np.ndarray, gram: np.ndarray, j: int) -> np.ndarray:
    """Project row j's direction out of every row of ``x`` in place; return the new xᵀx.

    With P = I − v vᵀ, the new Gram matrix is P G P: O(r²) instead of O(m r²).
    """
    norm = np.linalg.norm(x[j])
    if norm <= _TINY:
        return gram
    v = x[j] / norm
    x -= np.outer(x @ v, v)
    gv = gram @ v
    return gram - np.outer(gv, v) - np.outer(v, gv - (v @ gv) * v)


def _principal_rows(x: np.ndarray) -> np.ndarray:
    """The rows of ``x`` in its top principal directions (same Gram matrix to truncation)."""
    from sklearn.utils.extmath import randomized_svd

    u, s, _ = randomized_svd(x, _MAX_FEATURES, n_iter=2, random_state=0)
    return u * s


# --- the Atoms wrapper ---------------------------------------------------------------------

@dataclass
class Selection:
    """What :func:`select_structures` chose, and why.

    Attributes
    ----------
    structures : list of ase.Atoms
        Copies of the chosen candidates, in the order picked, with the scores in ``info``
        (``keys.SELECT_*``).
    indices : numpy.ndarray of int
        Positions of the chosen structures in the candidate list.
    leverage : numpy.ndarray of float
        CUR leverage at the moment each was picked (NaN for random selection).
    histogram_probabilities : numpy.ndarray of float or None
        Flat-histogram probability of every candidate, or None without a histogram stage.
    pool : numpy.ndarray of int
        Candidates that the flat histogram passed on to CUR (all, without a histogram).
    """

    structures: list
    indices: np.ndarray
    leverage: np.ndarray
    histogram_probabilities: np.ndarray | None
    pool: np.ndarray = field(repr=False)


def select_structures(candidates: list[Atoms], n: int, *, rng: np.random.Generator,
                      kT: float | None = None, n_histogram: int | None = None,
                      method: str = "kernel_cur", soap: SoapSettings | None = None,
                      database=(), rank: int = 1, stochastic: bool = False,
                      center: bool = False, n_landmarks: int = 2000,
                      n_jobs: int = 1) -> Selection:
    """The paper's two-step selection on a list of structures.

    Parameters
    ----------
    candidates : list of ase.Atoms
        Structures to choose from (not modified). With ``kT`` given, each needs
        ``info[keys.ENTHALPY_PER_ATOM]`` [eV/atom].
    n : int
        Number of structures to select (paper: 100 per iteration).
    rng : numpy.random.Generator
        Source of randomness.
    kT : float, optional
        Boltzmann temperature of the flat histogram [eV]; ``None`` skips the histogram
        (iteration 0, random cells without enthalpies). See :func:`kt_for_iteration`.
    n_histogram : int, optional
        Candidates the flat histogram passes on to CUR; default ``10 * n``.
    method : {"kernel_cur", "vector_cur", "random"}
        CUR on the SOAP kernel (the paper's method), CUR on the matrix of SOAP vectors,
        or uniform random choice (the two baselines of Fig. 2).
    soap : SoapSettings, optional
        Averaged-SOAP settings; default ``SoapSettings()``, the paper's.
    database : list of ase.Atoms
        Structures already labelled: CUR treats them as already chosen.
    rank, stochastic : int, bool
        See :func:`cur_indices`.
    center : bool
        Centre the kernel (or the vectors) before CUR.
    n_landmarks : int
        Nyström columns for the kernel factor (see :func:`kernel_features`).
    n_jobs : int
        Processes for the SOAP calculation.

    Returns
    -------
    Selection
    """
    where = "select_structures"
    candidates = list(candidates)
    database = list(database)
    if not all(isinstance(a, Atoms) for a in candidates + database):
        raise fail("candidates", where, "a list of ase.Atoms", "other objects")
    n = check_int(n, "n", where, low=0, high=len(candidates))
    rng = check_rng(rng, where)
    soap = SoapSettings() if soap is None else soap
    check_choice(method, "method", where, METHODS)
    if n_histogram is None:
        n_histogram = 10 * n
    n_histogram = check_int(n_histogram, "n_histogram", where, low=n)
    if kT is None:
        pool, probabilities = np.arange(len(candidates)), None
    else:
        enthalpies = _enthalpies(candidates, where)
        probabilities = flat_histogram_probabilities(enthalpies, kT)
        pool = np.sort(flat_histogram_indices(enthalpies, n_histogram, kT, rng=rng))
    if method == "random":
        picked = random_indices(len(pool), n, rng=rng)
        leverage = np.full(n, np.nan)
    else:
        structures = [candidates[i] for i in pool] + database
        vectors = averaged_soap(structures, soap, n_jobs=n_jobs)
        if method == "kernel_cur":
            rows = kernel_features(vectors, zeta=soap.zeta, n_landmarks=n_landmarks,
                                   center=center, rng=rng)
        else:
            rows = vectors - vectors.mean(axis=0) if center else vectors
        picked, leverage = cur_indices(rows, n, rank=rank, stochastic=stochastic, rng=rng,
                                       exclude=np.arange(len(pool), len(structures)))
    indices = pool[picked]
    chosen = []
    for order, (i, score) in enumerate(zip(indices, leverage)):
        atoms = candidates[i].copy()
        atoms.info[keys.SELECT_RANK] = order
        atoms.info[keys.SELECT_SOURCE_INDEX] = int(i)
        atoms.info[keys.SELECT_METHOD] = method
        atoms.info[keys.SELECT_LEVERAGE] = float(score)
        if probabilities is not None:
            atoms.info[keys.SELECT_HISTOGRAM_PROBABILITY] = float(probabilities[i])
        chosen.append(atoms)
    return Selection(structures=chosen, indices=indices, leverage=leverage,
                     histogram_probabilities=probabilities, pool=pool)


def _check_values(values, name: str, where: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise fail(name, where, "a 1-d array of finite numbers", values.tolist()
                   if values.size < 8 else f"an array of shape {values.shape} with "
                   f"{int(np.sum(~np.isfinite(values)))} non-finite entries")
    return values


def _enthalpies(candidates: list[Atoms], where: str) -> np.ndarray:
    missing = [i for i, a in enumerate(candidates) if keys.ENTHALPY_PER_ATOM not in a.info]
    if missing:
        raise fail("candidates", where,
                   f"structures with info[{keys.ENTHALPY_PER_ATOM!r}] [eV/atom] when kT is "
                   "given (or pass kT=None to skip the flat histogram)",
                   f"{len(missing)} without it, first at index {missing[0]}")
    return _check_values([a.info[keys.ENTHALPY_PER_ATOM] for a in candidates],
                         "enthalpies", where)
