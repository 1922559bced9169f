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

The array algorithms (:mod:`.cur`, :mod:`.histogram`) take numpy arrays and a generator;
each method is a :class:`~gapexplore.select.base.Selector` (:mod:`.selectors`) that wraps
them for lists of ``ase.Atoms``; :func:`select_structures` builds the method's selector
from its arguments and calls it.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from gapexplore.core.checks import check_choice
from gapexplore.describe import SoapSettings
from gapexplore.select.base import Selection
from gapexplore.select.selectors import METHODS, SELECTORS

__all__ = ["METHODS", "SELECTORS", "Selection", "select_structures"]


def select_structures(candidates: list[Atoms], n: int, *, rng: np.random.Generator,
                      kT: float | None = None, n_histogram: int | None = None,
                      method: str = "kernel_cur", soap: SoapSettings | None = None,
                      database=(), rank: int = 1, stochastic: bool = False,
                      center: bool = False, n_landmarks: int = 2000,
                      potential=None, database_vectors=None, species=None,
                      n_jobs: int = 1) -> Selection:
    """The paper's two-step selection on a list of structures.

    Builds ``SELECTORS[method]`` from the settings it takes (the others are ignored) and
    calls its :meth:`~gapexplore.select.base.Selector.select`.

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
    cls = SELECTORS[check_choice(method, "method", where, METHODS)]
    given = dict(kT=kT, n_histogram=n_histogram, potential=potential, soap=soap,
                 species=species, center=center, n_jobs=n_jobs, n_landmarks=n_landmarks,
                 rank=rank, stochastic=stochastic)
    selector = cls(**{name: value for name, value in given.items()
                      if name in cls.parameters()})
    return selector._select(candidates, n, rng=rng, database=database,
                            database_vectors=database_vectors, where=where)
