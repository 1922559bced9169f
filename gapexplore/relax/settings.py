"""How each candidate is relaxed: :class:`RelaxSettings` and the optimisers it can name
(:data:`OPTIMISERS`), each built on a cell filter by :func:`make_optimiser`."""

from __future__ import annotations

from dataclasses import dataclass, field

from ase.optimize import FIRE, LBFGS

from gapexplore.core.checks import check_choice, check_int, check_real, fail
from gapexplore.fit.predict import ENGINES, default_engine

__all__ = ["OPTIMISERS", "RelaxSettings", "make_optimiser"]

#: The optimisers a relaxation can take, by name (each minimises the enthalpy through the
#: same cell filter and keeps every frame):
#:
#: * ``"precon-lbfgs"``: the paper's, ASE's ``PreconLBFGS`` with the ``Exp(A=3)``
#:   preconditioner and an Armijo line search;
#: * ``"lbfgs-linesearch"``: ``PreconLBFGS`` without a preconditioner (what ASE's
#:   ``precon="auto"`` does below 100 atoms), with the Armijo line search;
#: * ``"lbfgs"``: ASE's ``LBFGS`` (no line search; steps capped at 0.2 Å);
#: * ``"fire"``: ASE's ``FIRE`` (the default: fastest to fmax 0.01 on random cells).
OPTIMISERS = ("precon-lbfgs", "lbfgs-linesearch", "lbfgs", "fire")


@dataclass(frozen=True)
class RelaxSettings:
    """How each candidate is relaxed.

    Parameters
    ----------
    fmax : float
        Convergence: largest residual force, cell included [eV/Å] (paper: 0.01).
    max_steps : int
        Step cap; a relaxation that reaches it ends with status ``"max_steps"``.
    p0 : float
        Pressure scale p0 [GPa] of Eq. 5 (paper: 1).
    beta : float
        β of Eq. 5 (paper: 0.2); the mean pressure is β p0.
    optimiser : str
        One of :data:`OPTIMISERS` (default ``"fire"``, measured fastest here; the paper's
        is ``"precon-lbfgs"``). With ``"precon-lbfgs"`` a one-atom cell takes
        unpreconditioned steps: Exp has no neighbours to build from there (it divides by
        zero).
    min_distance_factor : float
        Stop when two atoms come closer than this times the characteristic radius r.
    volume_bounds : (float, float)
        Stop when the volume per atom leaves this range, relative to the starting one.
    engine : str
        What evaluates the GAP (:data:`gapexplore.fit.ENGINES`): ``"native"``
        (:mod:`gapexplore.potential`, the default where torch is installed: the same
        numbers as quippy to 1e-10 eV/atom; with FIRE it relaxes many cells at once,
        :mod:`gapexplore.relax.batched`, about 10× quippy's relaxations per CPU-hour,
        ``benchmarks/bench_relax_engines.py``) or ``"quippy"`` (the authors' code, the
        default without torch; one cell at a time). See
        :func:`gapexplore.fit.predict.default_engine`.
    """

    fmax: float = 0.01
    max_steps: int = 300
    p0: float = 1.0
    beta: float = 0.2
    optimiser: str = "fire"
    min_distance_factor: float = 0.5
    volume_bounds: tuple[float, float] = (0.25, 4.0)
    engine: str = field(default_factory=default_engine)

    def __post_init__(self):
        where = "RelaxSettings"
        check_real(self.fmax, "fmax", where, low=0.0, low_open=True)
        check_int(self.max_steps, "max_steps", where, low=0)
        check_real(self.p0, "p0", where, low=0.0)
        check_real(self.beta, "beta", where, low=0.0, low_open=True)
        check_real(self.min_distance_factor, "min_distance_factor", where, low=0.0)
        check_choice(self.optimiser, "optimiser", where, OPTIMISERS)
        check_choice(self.engine, "engine", where, ENGINES)
        low, high = self.volume_bounds
        if not 0 < low < 1 < high:
            raise fail("volume_bounds", where, "a pair (low, high) with 0 < low < 1 < high",
                       self.volume_bounds)


def make_optimiser(name: str, cell_filter):
    """The optimiser ``name`` (:data:`OPTIMISERS`) on ``cell_filter``, silent."""
    from ase.optimize.precon import Exp, PreconLBFGS

    if name == "lbfgs":
        return LBFGS(cell_filter, logfile=None)
    if name == "fire":
        return FIRE(cell_filter, logfile=None)
    precon = Exp(A=3) if name == "precon-lbfgs" and len(cell_filter.atoms) > 1 else None
    return PreconLBFGS(cell_filter, precon=precon, use_armijo=True, logfile=None)

