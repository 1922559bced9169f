"""The selection methods, one small :class:`~gapexplore.select.base.Selector` each, and
:data:`SELECTORS`, the registry from the names users give (``--selection kernel_cur``, a
run's settings.json) to the classes.

On the averaged SOAP vectors of the pool and of the database (:class:`SoapSelector`):
greedy leverage-score CUR with deflation on the kernel (:class:`KernelCUR`, the default),
the authors' leverage sampling (:class:`KernelLeverage`), farthest-point sampling in the
kernel's metric (:class:`KernelFPS`), and the paper's baseline of CUR on the vectors
themselves (:class:`VectorCUR`). Without descriptors: the GAP's own predicted error
(:class:`UncertaintySelector`) and the paper's random baseline (:class:`RandomSelector`).
"""

from __future__ import annotations

import abc

import numpy as np

from gapexplore.core import keys
from gapexplore.core.checks import fail
from gapexplore.describe import SoapSettings, averaged_soap
from gapexplore.select.base import (
    Selector,
    Task,
    check_bool,
    check_file,
    int_at_least,
)
from gapexplore.select.cur import (
    cur_indices,
    fps_indices,
    kernel_features,
    leverage_indices,
    random_indices,
    uncertainty_indices,
)

__all__ = ["SoapSelector", "KernelSelector", "KernelCUR", "KernelLeverage", "KernelFPS",
           "VectorCUR", "UncertaintySelector", "RandomSelector", "SELECTORS", "METHODS"]


class SoapSelector(Selector):
    """A method on the averaged SOAP vectors of the pool, with the database's appended as
    rows that count as already chosen. Subclasses fill :meth:`_rows` (the rows the method
    works on) and :meth:`_pick_rows`.

    Parameters
    ----------
    soap : SoapSettings, optional
        Averaged-SOAP settings; default ``SoapSettings()``, the paper's.
    species : list of str, optional
        Chemical symbols the SOAP covers; default: those of the pool and the database.
    center : bool
        Centre the rows (the kernel in feature space, or the vectors) before choosing.
    n_jobs : int
        Processes for the SOAP calculation.
    kT, n_histogram, potential
        See :class:`~gapexplore.select.base.Selector`.
    """

    _parameter_constraints = {
        "soap": (None, SoapSettings),
        "species": (None, list, tuple),
        "center": (check_bool,),
        "n_jobs": (int_at_least(1),),
    }

    def __init__(self, *, kT=None, n_histogram=None, potential=None,
                 soap: SoapSettings | None = None, species=None, center: bool = False,
                 n_jobs: int = 1):
        super().__init__(kT=kT, n_histogram=n_histogram, potential=potential)
        self.soap = soap
        self.species = species
        self.center = center
        self.n_jobs = n_jobs

    def _pick(self, task: Task, n: int, *, rng: np.random.Generator):
        soap = SoapSettings() if self.soap is None else self.soap
        pool = task.structures
        species = self.species
        if species is None:
            species = sorted({s for a in pool + task.database
                              for s in a.get_chemical_symbols()})
        vectors = averaged_soap(pool, soap, species=species, n_jobs=self.n_jobs)
        database_vectors = task.database_vectors
        if database_vectors is None:
            database_vectors = averaged_soap(task.database, soap, species=species,
                                             n_jobs=self.n_jobs) \
                if task.database else np.empty((0, vectors.shape[1]))
        database_vectors = np.asarray(database_vectors, dtype=float)
        if database_vectors.shape != (len(task.database), vectors.shape[1]):
            raise fail("database_vectors", task.where, f"one SOAP vector of length "
                       f"{vectors.shape[1]} per database structure ({len(task.database)})",
                       f"shape {database_vectors.shape}")
        rows = self._rows(np.vstack([vectors, database_vectors]), soap, rng=rng)
        database = np.arange(len(pool), len(pool) + len(task.database))
        return self._pick_rows(rows, n, rng=rng, exclude=database)

    @abc.abstractmethod
    def _rows(self, vectors: np.ndarray, soap: SoapSettings, *, rng: np.random.Generator):
        """The rows the method works on, one per structure (pool, then database)."""

    @abc.abstractmethod
    def _pick_rows(self, rows: np.ndarray, n: int, *, rng: np.random.Generator, exclude):
        """Pick ``n`` rows, none of ``exclude``: (positions, scores) as ``_pick``."""


class KernelSelector(SoapSelector):
    """A method on rows Φ of the SOAP kernel, Φ Φᵀ ≈ K, K_AB = (p_A · p_B)^ζ (Eq. 4),
    factorised by the Nyström method (:func:`~gapexplore.select.cur.kernel_features`).

    Parameters
    ----------
    n_landmarks : int
        Nyström columns of the kernel: exact for pools up to that size.
    soap, species, center, n_jobs, kT, n_histogram, potential
        See :class:`SoapSelector`.
    """

    _parameter_constraints = {"n_landmarks": (int_at_least(1),)}

    def __init__(self, *, kT=None, n_histogram=None, potential=None, soap=None, species=None,
                 center: bool = False, n_jobs: int = 1, n_landmarks: int = 2000):
        super().__init__(kT=kT, n_histogram=n_histogram, potential=potential, soap=soap,
                         species=species, center=center, n_jobs=n_jobs)
        self.n_landmarks = n_landmarks

    def _rows(self, vectors, soap, *, rng):
        return kernel_features(vectors, zeta=soap.zeta, n_landmarks=self.n_landmarks,
                               center=self.center, rng=rng)


class _CurSettings:
    """The settings of greedy CUR (:func:`~gapexplore.select.cur.cur_indices`)."""

    _parameter_constraints = {"rank": (int_at_least(1),), "stochastic": (check_bool,)}

    def _pick_rows(self, rows, n, *, rng, exclude):
        return cur_indices(rows, n, rank=self.rank, stochastic=self.stochastic, rng=rng,
                           exclude=exclude)


class KernelCUR(_CurSettings, KernelSelector):
    """Greedy leverage-score CUR on the SOAP kernel with deflation: each pick removes what
    it explains from all others (the kernel's Schur complement), the database first
    (:func:`~gapexplore.select.cur.cur_indices`). This package's default.

    Parameters
    ----------
    rank : int
        Singular vectors the leverage sums over.
    stochastic : bool
        Draw each pick by leverage instead of taking the largest.
    n_landmarks, soap, species, center, n_jobs, kT, n_histogram, potential
        See :class:`KernelSelector`.
    """

    name = "kernel_cur"

    def __init__(self, *, kT=None, n_histogram=None, potential=None, soap=None, species=None,
                 center: bool = False, n_jobs: int = 1, n_landmarks: int = 2000,
                 rank: int = 1, stochastic: bool = False):
        super().__init__(kT=kT, n_histogram=n_histogram, potential=potential, soap=soap,
                         species=species, center=center, n_jobs=n_jobs,
                         n_landmarks=n_landmarks)
        self.rank = rank
        self.stochastic = stochastic


class KernelLeverage(KernelSelector):
    """The authors' CUR: leverage over the top ``n // 2`` singular vectors of the kernel,
    computed once, ``n`` structures drawn by it without deflation
    (:func:`~gapexplore.select.cur.leverage_indices`; the paper's script).

    Parameters
    ----------
    n_landmarks, soap, species, center, n_jobs, kT, n_histogram, potential
        See :class:`KernelSelector`.
    """

    name = "kernel_leverage"

    def _pick_rows(self, rows, n, *, rng, exclude):
        return leverage_indices(rows, n, rng=rng, exclude=exclude)


class KernelFPS(KernelSelector):
    """Farthest-point sampling in the kernel's metric, d² = K_ii + K_jj − 2 K_ij, seeded
    with the database (:func:`~gapexplore.select.cur.fps_indices`); without a database the
    first pick is drawn. No leverage (NaN scores).

    Parameters
    ----------
    n_landmarks, soap, species, center, n_jobs, kT, n_histogram, potential
        See :class:`KernelSelector`.
    """

    name = "kernel_fps"

    def _pick_rows(self, rows, n, *, rng, exclude):
        picked, _ = fps_indices(rows, n, rng=rng, exclude=exclude)
        return picked, np.full(n, np.nan)


class VectorCUR(_CurSettings, SoapSelector):
    """The paper's baseline (Fig. 2): greedy CUR on the matrix of averaged SOAP vectors
    themselves, not on the kernel (:func:`~gapexplore.select.cur.cur_indices`).

    Parameters
    ----------
    rank : int
        Singular vectors the leverage sums over.
    stochastic : bool
        Draw each pick by leverage instead of taking the largest.
    soap, species, center, n_jobs, kT, n_histogram, potential
        See :class:`SoapSelector`.
    """

    name = "vector_cur"

    def __init__(self, *, kT=None, n_histogram=None, potential=None, soap=None, species=None,
                 center: bool = False, n_jobs: int = 1, rank: int = 1,
                 stochastic: bool = False):
        super().__init__(kT=kT, n_histogram=n_histogram, potential=potential, soap=soap,
                         species=species, center=center, n_jobs=n_jobs)
        self.rank = rank
        self.stochastic = stochastic

    def _rows(self, vectors, soap, *, rng):
        return vectors - vectors.mean(axis=0) if self.center else vectors


class UncertaintySelector(Selector):
    """The largest predicted errors of a GAP (:func:`gapexplore.fit.predicted_errors`),
    as active-learning codes select: one frame per relaxation (``keys.RELAX_ID``) before a
    second (:func:`~gapexplore.select.cur.uncertainty_indices`). No leverage (NaN scores).

    Parameters
    ----------
    potential : str or pathlib.Path
        The GAP (XML) whose predicted errors [eV/atom] it ranks by: the GAP that relaxed
        the candidates. Required.
    kT, n_histogram
        See :class:`~gapexplore.select.base.Selector`.
    """

    name = "uncertainty"
    _parameter_constraints = {"potential": (check_file,)}

    def _pick(self, task: Task, n: int, *, rng: np.random.Generator):
        groups = [task.candidates[i].info.get(keys.RELAX_ID, -1 - int(i)) for i in task.pool]
        return uncertainty_indices(task.errors, n, groups=groups), np.full(n, np.nan)


class RandomSelector(Selector):
    """The paper's baseline (Fig. 2): ``n`` of the pool uniformly, without replacement
    (:func:`~gapexplore.select.cur.random_indices`). No leverage (NaN scores).

    Parameters
    ----------
    kT, n_histogram, potential
        See :class:`~gapexplore.select.base.Selector`.
    """

    name = "random"

    def _pick(self, task: Task, n: int, *, rng: np.random.Generator):
        return random_indices(len(task.pool), n, rng=rng), np.full(n, np.nan)


#: The selection methods by the name users give them, the default first.
SELECTORS = {cls.name: cls for cls in (KernelCUR, KernelLeverage, KernelFPS, VectorCUR,
                                       UncertaintySelector, RandomSelector)}
#: Their names: CUR on the kernel by deflation (this package's default) or by the
#: authors' leverage sampling, farthest-point sampling in the kernel's metric, the GAP's
#: own predicted error, and the paper's two baselines: CUR on the SOAP vectors, random.
METHODS = tuple(SELECTORS)
