"""Random structure searching: enthalpy minimisation of candidates with the current GAP.

Paper, Methods: candidates are relaxed with a preconditioned LBFGS optimiser (ASE's
``PreconLBFGS``) to minimise the enthalpy H = E + pV, cell included, until the residual
forces fall below 0.01 eV/Å. Each structure gets its own external pressure p drawn from
P(p/p0) = (1/β) exp(−(p/p0)/β) with p0 = 1 GPa and β = 0.2 (Eq. 5), i.e. exponentially
distributed with mean β p0 = 0.2 GPa. Every frame of every trajectory is kept: the
selection draws from all of them.

The relaxation is composed from ASE objects: a ``FrechetCellFilter(atoms,
scalar_pressure=p)`` handed to the optimiser named by :attr:`RelaxSettings.optimiser` (see
:data:`OPTIMISERS`). The default is ASE's ``FIRE``, not the paper's
``PreconLBFGS(precon=Exp(A=3), use_armijo=True)`` (still ``"precon-lbfgs"``): on 30 random
6–24-atom Si cells at fmax 0.01 eV/Å and Eq. 5 pressures, with a paper-model and a light
GAP, FIRE converged 30/30 and 30/30 within 300 steps against 25/30 and 25/30, in 18 % less
wall time and 20 % fewer GAP calls (``benchmarks/bench_optimiser.py``; README). The filter
computes its generalised forces once per geometry, and its matrix functions in closed form
(:class:`FastFrechetCellFilter`): ASE's optimisers ask for them several times a step.

Early GAPs are bad, so a relaxation is stopped — and marked, not raised — when it
explodes: a non-finite energy, two atoms closer than ``min_distance_factor`` × r, or a
volume per atom outside ``volume_bounds`` × the starting volume.

:mod:`.settings` holds :class:`RelaxSettings` and the optimisers (:data:`OPTIMISERS`);
:mod:`.filter` the cell filter; :mod:`.pressure` the random pressures of Eq. 5; :mod:`.loop`
relaxes one structure or a batch; :mod:`.batched` relaxes many cells at once with the
native GAP (FIRE, vectorised over cells: what :func:`relax_structures` does when the
settings name the native engine and FIRE); :mod:`.frames` holds what both keep and the
explosion guard; :mod:`.finals` reads what a batch found.
"""

from gapexplore.relax.filter import FastFrechetCellFilter
from gapexplore.relax.finals import converged_finals, lowest_final, lowest_kinds, status_kind
from gapexplore.relax.loop import relax, relax_structures
from gapexplore.relax.pressure import random_pressures
from gapexplore.relax.settings import OPTIMISERS, RelaxSettings

__all__ = ["OPTIMISERS", "FastFrechetCellFilter", "RelaxSettings", "random_pressures", "relax",
           "relax_structures", "converged_finals",
           "lowest_final", "lowest_kinds", "status_kind"]
