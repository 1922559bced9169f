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
from ase import Atoms

from gapexplore.core import keys
from gapexplore.core.checks import check_choice, check_int, check_rng, check_structures, fail
from gapexplore.core.chemistry import reduced_formula
from gapexplore.core.hull import structure_hull_distance
from gapexplore.describe import SoapSettings, averaged_soap
from gapexplore.fit import predicted_errors
from gapexplore.select.cur import (
    cur_indices,
    fps_indices,
    kernel_features,
    leverage_indices,
    random_indices,
    uncertainty_indices,
)
from gapexplore.select.histogram import (
    _check_values,
    flat_histogram_indices,
    flat_histogram_probabilities,
)

__all__ = ["METHODS", "Selection", "select_structures"]

#: Selection methods of :func:`select_structures`: CUR on the kernel by deflation (this
#: package's default) or by the authors' leverage sampling, farthest-point sampling in the
#: kernel's metric, the GAP's own predicted error (as active-learning codes select), and
#: the paper's two baselines (Fig. 2): CUR on the SOAP vectors, and random choice.
METHODS = ("kernel_cur", "kernel_leverage", "kernel_fps", "vector_cur", "uncertainty",
           "random")


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
                      potential=None, database_vectors=None, species=None,
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
        When the candidates span several compositions, the histogram is over each one's
        enthalpy per atom above the lower convex hull of (composition, enthalpy) of the
        candidates (:func:`gapexplore.core.hull.composition_hull_distance`): its formation
        enthalpy above the hull, which at one composition is H − H_min, the paper's.
    n_histogram : int, optional
        Candidates the flat histogram passes on to CUR; default ``10 * n``.
    method : str, one of :data:`METHODS`
        On the SOAP kernel: greedy leverage-score CUR with deflation (:func:`cur_indices`;
        the default), the authors' leverage sampling over its top ``n // 2`` singular
        vectors, drawn without deflation (:func:`leverage_indices`; the paper's script),
        or farthest-point sampling in the kernel's metric, seeded with the database
        (:func:`fps_indices`). ``"uncertainty"``: the largest predicted errors of
        ``potential`` (:func:`gapexplore.fit.predicted_errors`), one per relaxation
        (``keys.RELAX_ID``) before a second (:func:`uncertainty_indices`). The baselines of
        Fig. 2: CUR on the matrix of SOAP vectors, or uniform random choice.
    soap : SoapSettings, optional
        Averaged-SOAP settings; default ``SoapSettings()``, the paper's.
    database : list of ase.Atoms
        Structures already labelled: CUR treats them as already chosen.
    rank, stochastic : int, bool
        See :func:`cur_indices` (``"kernel_cur"`` and ``"vector_cur"``; ``"kernel_leverage"``
        always draws).
    center : bool
        Centre the kernel (or the vectors) before CUR.
    n_landmarks : int
        Nyström columns for the kernel factor (see :func:`kernel_features`).
    potential : str or pathlib.Path, optional
        The GAP (XML) whose predicted errors ``"uncertainty"`` ranks by (the GAP that
        relaxed the candidates); with any method, each chosen structure then carries its
        predicted error [eV/atom] in ``info[keys.SELECT_PREDICTED_ERROR]``.
    database_vectors : numpy.ndarray, optional
        The averaged SOAP vectors of ``database`` (one row each, in order), computed
        earlier with the same ``soap`` and ``species`` (a run keeps them by label uid):
        they are not computed again.
    species : list of str, optional
        Chemical symbols the SOAP covers; default: those of the candidates and the
        database.
    n_jobs : int
        Processes for the SOAP calculation.

    Returns
    -------
    Selection
    """
    where = "select_structures"
    candidates = check_structures(candidates, "candidates", where)
    database = check_structures(database, "database", where)
    n = check_int(n, "n", where, low=0, high=len(candidates))
    rng = check_rng(rng, where)
    soap = SoapSettings() if soap is None else soap
    check_choice(method, "method", where, METHODS)
    if method == "uncertainty" and potential is None:
        raise fail("potential", where, "the GAP (XML path) whose predicted errors "
                   "method='uncertainty' ranks by", None)
    if n_histogram is None:
        n_histogram = 10 * n
    n_histogram = check_int(n_histogram, "n_histogram", where, low=n)
    if kT is None:
        pool, probabilities = np.arange(len(candidates)), None
    else:
        enthalpies = _enthalpies(candidates, where)
        probabilities = flat_histogram_probabilities(enthalpies, kT)
        pool = np.sort(flat_histogram_indices(enthalpies, n_histogram, kT, rng=rng))
    errors = None
    if potential is not None:
        errors = predicted_errors([candidates[i] for i in pool], potential)
    if n == 0:
        picked, leverage = np.array([], dtype=int), np.array([])
    elif method == "random":
        picked = random_indices(len(pool), n, rng=rng)
        leverage = np.full(n, np.nan)
    elif method == "uncertainty":
        groups = [candidates[i].info.get(keys.RELAX_ID, -1 - int(i)) for i in pool]
        picked = uncertainty_indices(errors, n, groups=groups)
        leverage = np.full(n, np.nan)
    else:
        structures = [candidates[i] for i in pool] + database
        if species is None:
            species = sorted({s for a in structures for s in a.get_chemical_symbols()})
        vectors = averaged_soap(structures[:len(pool)], soap, species=species, n_jobs=n_jobs)
        if database_vectors is None:
            database_vectors = averaged_soap(database, soap, species=species, n_jobs=n_jobs) \
                if database else np.empty((0, vectors.shape[1]))
        database_vectors = np.asarray(database_vectors, dtype=float)
        if database_vectors.shape != (len(database), vectors.shape[1]):
            raise fail("database_vectors", where, f"one SOAP vector of length "
                       f"{vectors.shape[1]} per database structure ({len(database)})",
                       f"shape {database_vectors.shape}")
        vectors = np.vstack([vectors, database_vectors])
        if method.startswith("kernel_"):
            rows = kernel_features(vectors, zeta=soap.zeta, n_landmarks=n_landmarks,
                                   center=center, rng=rng)
        else:
            rows = vectors - vectors.mean(axis=0) if center else vectors
        database = np.arange(len(pool), len(structures))
        if method == "kernel_leverage":
            picked, leverage = leverage_indices(rows, n, rng=rng, exclude=database)
        elif method == "kernel_fps":
            picked, _ = fps_indices(rows, n, rng=rng, exclude=database)
            leverage = np.full(n, np.nan)
        else:
            picked, leverage = cur_indices(rows, n, rank=rank, stochastic=stochastic,
                                           rng=rng, exclude=database)
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
        if errors is not None:
            atoms.info[keys.SELECT_PREDICTED_ERROR] = float(errors[picked[order]])
        chosen.append(atoms)
    return Selection(structures=chosen, indices=indices, leverage=leverage,
                     histogram_probabilities=probabilities, pool=pool)


def _enthalpies(candidates: list[Atoms], where: str) -> np.ndarray:
    """Enthalpy per atom [eV/atom] of each candidate; across compositions, above the
    (composition, enthalpy) hull of them all."""
    missing = [i for i, a in enumerate(candidates) if keys.ENTHALPY_PER_ATOM not in a.info]
    if missing:
        raise fail("candidates", where,
                   f"structures with info[{keys.ENTHALPY_PER_ATOM!r}] [eV/atom] when kT is "
                   "given (or pass kT=None to skip the flat histogram)",
                   f"{len(missing)} without it, first at index {missing[0]}")
    enthalpies = _check_values([a.info[keys.ENTHALPY_PER_ATOM] for a in candidates],
                               "enthalpies", where)
    if len({reduced_formula(a) for a in candidates}) < 2:   # the paper's H − H_min
        return enthalpies
    return structure_hull_distance(candidates, enthalpies)
