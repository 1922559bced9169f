"""Stage 2 of the selection on arrays, on a Nyström factor of the SOAP kernel: leverage-score
CUR with Schur-complement deflation (:func:`cur_indices`), the authors' leverage sampling
without deflation (:func:`leverage_indices`), farthest-point sampling (:func:`fps_indices`),
and uniform random choice (the baseline)."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from gapexplore.core.checks import check_int, check_rng, fail

__all__ = ["kernel_features", "cur_indices", "leverage_indices", "fps_indices",
           "random_indices", "uncertainty_indices"]

_TINY = 1e-12
_MAX_FEATURES = 500   # CUR works on at most this many principal directions of the features


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
    x, exclude, n = _rows(features, exclude, n, where)
    x = x.copy()  # deflation works in place
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


def leverage_indices(features: np.ndarray, n: int, *, k: int | None = None,
                     stochastic: bool = True, exclude=(), rng: np.random.Generator | None = None):
    """The CUR of the paper's authors: leverage over the top ``k`` singular vectors of the
    kernel, computed once, then ``n`` rows drawn by it without replacement.

    As the authors' selection script (ported by wfl's ``by_descriptor.CUR`` and by autoplex):
    with K = Φ Φᵀ (:func:`kernel_features`), whose singular vectors are the left singular
    vectors u_a of Φ, the leverage of row i is π_i = Σ_{a<k} u_ai² / k; excluded rows (the
    database) get π = 0 and the rest is renormalised. Unlike :func:`cur_indices` nothing is
    deflated: two near-identical structures can both be drawn.

    Parameters
    ----------
    features : numpy.ndarray, shape (m, r)
        Rows Φ with Φ Φᵀ = K (or any rows whose Gram matrix is the kernel).
    n : int
        Rows to select (at most the number not excluded).
    k : int, optional
        Singular vectors summed over; default ``max(1, n // 2)`` as the authors' script,
        at most the rank of ``features``.
    stochastic : bool
        Draw by leverage (the authors' default); False takes the ``n`` largest.
    exclude : sequence of int
        Rows never selected (the database: in the kernel, not drawn).
    rng : numpy.random.Generator, optional
        Required when ``stochastic`` is true.

    Returns
    -------
    indices : numpy.ndarray of int, shape (n,)
        Selected rows, in the order drawn (largest first when not stochastic).
    scores : numpy.ndarray of float, shape (n,)
        Their leverage π (over all rows not excluded, summing to 1). When fewer rows than
        ``n`` have any leverage, the rest are drawn uniformly (score 0).
    """
    where = "leverage_indices"
    x, exclude, n = _rows(features, exclude, n, where)
    if not x.size:
        raise fail("features", where, "a non-empty 2-d array (structures × features)", x.shape)
    k = max(1, n // 2) if k is None else check_int(k, "k", where, low=1)
    k = min(k, min(x.shape))
    if stochastic:
        rng = check_rng(rng, where)
    u = np.linalg.svd(x, full_matrices=False)[0]
    scores = np.einsum("ia,ia->i", u[:, :k], u[:, :k]) / k
    scores[exclude] = 0.0
    total = scores.sum()
    scores = scores / total if total > _TINY else scores * 0.0
    drawable = np.flatnonzero(scores > 0)
    take = min(n, len(drawable))
    if stochastic:
        picked = rng.choice(len(x), size=take, replace=False, p=scores) if take else []
    else:
        picked = np.argsort(-scores, kind="stable")[:take]
    picked = list(np.asarray(picked, dtype=int))
    if take < n:   # no leverage left: the rest uniformly among the rows not yet taken
        rest = np.setdiff1d(np.arange(len(x)), np.concatenate([exclude, picked]))
        if rng is None:
            picked += list(rest[: n - take])
        else:
            picked += list(rng.choice(rest, size=n - take, replace=False))
    indices = np.asarray(picked, dtype=int)
    return indices, scores[indices]


def fps_indices(features: np.ndarray, n: int, *, exclude=(),
                rng: np.random.Generator | None = None):
    """Greedy farthest-point sampling of rows, seeded with the excluded rows.

    Each pick is the row farthest (Euclidean distance between rows; for rows Φ of a kernel,
    d² = K_ii + K_jj − 2 K_ij) from everything picked or excluded so far, so the database
    counts as already chosen. Without excluded rows the first pick is drawn uniformly.

    Parameters
    ----------
    features : numpy.ndarray, shape (m, r)
        One row per structure (e.g. :func:`kernel_features`).
    n : int
        Rows to select (at most the number not excluded).
    exclude : sequence of int
        Rows already chosen (the database): distances count from them, never picked.
    rng : numpy.random.Generator, optional
        Draws the first pick when nothing is excluded (required then).

    Returns
    -------
    indices : numpy.ndarray of int, shape (n,)
        Selected rows, in the order picked.
    distances : numpy.ndarray of float, shape (n,)
        Each pick's distance to the nearest row picked or excluded before it (inf for a
        first pick drawn at random).
    """
    where = "fps_indices"
    x, exclude, n = _rows(features, exclude, n, where)
    nearest = np.full(len(x), np.inf)      # squared distance to the nearest chosen row
    chosen, distances = [], []

    def add(j: int) -> None:
        nearest[:] = np.minimum(nearest, np.einsum("ij,ij->i", x - x[j], x - x[j]))

    for j in exclude:
        add(j)
    if n and not len(exclude):
        j = int(check_rng(rng, where).integers(len(x)))
        chosen.append(j)
        distances.append(np.inf)
        add(j)
    while len(chosen) < n:
        candidates = nearest.copy()
        candidates[exclude] = -1.0
        candidates[chosen] = -1.0
        j = int(np.argmax(candidates))
        chosen.append(j)
        distances.append(float(np.sqrt(max(nearest[j], 0.0))))
        add(j)
    return np.asarray(chosen, dtype=int), np.asarray(distances)


def _rows(features, exclude, n, where: str):
    """The checked rows (float array), excluded rows (sorted, unique) and count to pick."""
    x = np.asarray(features, dtype=float)
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise fail("features", where, "a finite 2-d array (structures × features)",
                   getattr(x, "shape", x))
    exclude = np.unique(np.asarray(list(exclude), dtype=int))
    if len(exclude) and (exclude.min() < 0 or exclude.max() >= len(x)):
        raise fail("exclude", where, f"row indices in [0, {len(x)})", exclude.tolist())
    return x, exclude, check_int(n, "n", where, low=0, high=len(x) - len(exclude))


def random_indices(m: int, n: int, *, exclude=(), rng: np.random.Generator) -> np.ndarray:
    """``n`` of ``range(m)`` uniformly without replacement, none of ``exclude`` (baseline)."""
    where = "random_indices"
    allowed = np.setdiff1d(np.arange(check_int(m, "m", where, low=0)), np.asarray(exclude, int))
    n = check_int(n, "n", where, low=0, high=len(allowed))
    return check_rng(rng, where).choice(allowed, size=n, replace=False)


def uncertainty_indices(errors, n: int, *, groups=None) -> np.ndarray:
    """The ``n`` largest of ``errors`` (e.g. a GAP's predicted errors), at most one per
    group until every group has given one (the frames of one relaxation are a path: its
    most uncertain frame stands for it), then the next largest; ties by position.

    Parameters
    ----------
    errors : array_like of float
        One score per row (NaN scores come last).
    n : int
        Rows to pick.
    groups : array_like, optional
        A label per row (e.g. the relaxation it came from); default: every row its own.

    Returns
    -------
    numpy.ndarray of int
        Positions, in the order picked.
    """
    where = "uncertainty_indices"
    errors = np.asarray(errors, dtype=float)
    if errors.ndim != 1:
        raise fail("errors", where, "a 1-d array of scores", errors.shape)
    n = check_int(n, "n", where, low=0, high=len(errors))
    groups = np.arange(len(errors)) if groups is None else np.asarray(groups)
    if groups.shape != errors.shape:
        raise fail("groups", where, "one label per score", groups.shape)
    order = np.lexsort((np.arange(len(errors)), -np.nan_to_num(errors, nan=-np.inf)))
    first, rest, seen = [], [], set()
    for i in order:
        (rest if groups[i] in seen else first).append(i)
        seen.add(groups[i])
    return np.array((first + rest)[:n], dtype=int)


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
