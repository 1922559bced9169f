"""Many relaxations at once: FIRE through the Fréchet cell filter, vectorised over cells,
with one native GAP evaluation per step for every cell in flight (:func:`relax_batch`).

It is the algorithm of :func:`gapexplore.relax.relax` with ``optimiser="fire"`` — ASE's
``FIRE`` (its default parameters) on ASE's ``FrechetCellFilter`` under each cell's own
pressure, the same convergence test (the largest generalised force, cell rows included,
below ``fmax``), the same step cap, the same explosion guards, every frame kept — with
the state of each cell (velocity, time step, mixing, positive-power count) held in arrays,
and the energies, forces and stresses of all cells in flight coming from one
:meth:`GapEvaluator.evaluate <gapexplore.potential.GapEvaluator.evaluate>` per step. A cell
that finishes leaves the batch and the next one enters. Relaxations are chaotic, so a
difference in the last digit of a force (the batched evaluator sums in another order) can
end a long relaxation in another minimum; ``benchmarks/bench_relax_engines.py`` counts
how often.

Why not ASE's objects one cell at a time: with the native evaluator an evaluation costs
about 2 ms per 15-atom cell in a batch (light model), while ASE's optimiser, filter and
calculator machinery add about 1.5 ms per cell per step, and a single-cell evaluation
costs 7 ms (measured 2026-12-07, shared 2-core AMD EPYC VM, ``cProfile`` of
:func:`gapexplore.relax.relax`). Here the per-cell work is a few array operations per
step over all cells at once.

torch-sim's ``frechet_cell_fire`` (its ``"ase_fire"`` flavour) is the same algorithm on
batched states; it was not measured here. This module needs no dependency beyond numpy,
keeps the per-step frames, statuses and explosion guards of :func:`gapexplore.relax.relax`,
and is checked frame for frame against ASE's own FIRE (``tests/test_relax_batched.py``).

The cell's degrees of freedom are those of ASE's filter: positions in the undeformed cell,
u = r F⁻ᵀ, and the logarithm of the deformation gradient F, scaled by the number of atoms
N. The generalised forces are f F for the atoms and (∂E/∂ log F)/N for the cell, the
latter from the virial through the adjoint of the Fréchet derivative of exp, computed from
one eigendecomposition per cell (scipy's general algorithms where the eigenvectors are
ill-conditioned, as :class:`FastFrechetCellFilter` does).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress
from ase.units import GPa
from scipy.linalg import expm_frechet

from gapexplore.core import keys
from gapexplore.core.errors import reraise_interrupt
from gapexplore.relax.filter import _EIG_CONDITION, _expm
from gapexplore.relax.frames import STATUS_CONVERGED, STATUS_MAX_STEPS, explosion, make_frame
from gapexplore.relax.settings import RelaxSettings

__all__ = ["FIRE_PARAMETERS", "IN_FLIGHT_ATOMS", "relax_batch"]

#: Atoms in flight at once by default. Measured 2026-12-07 on a shared 2-core AMD EPYC
#: VM (64 random Si cells, light model, one thread), frames per CPU-second with 256 /
#: 1024 atoms in flight: 600 / 640–690 (``benchmarks/bench_relax_engines.py`` prints the
#: whole table); the evaluator still runs passes of its own ``max_atoms``.
IN_FLIGHT_ATOMS = 1024

#: ASE's FIRE defaults, which :func:`gapexplore.relax.relax` uses: initial and largest time
#: step, steps of positive power before the step grows, growth and shrink factors, initial
#: mixing and its decay, and the largest move of one step [Å].
FIRE_PARAMETERS = {"dt": 0.1, "dtmax": 1.0, "Nmin": 5, "finc": 1.1, "fdec": 0.5,
                   "astart": 0.1, "fa": 0.99, "maxstep": 0.2}


@dataclass
class _Flight:
    """One relaxation in flight."""

    index: int
    atoms: Atoms
    pressure: float                 # GPa
    orig_cell: np.ndarray
    v_start: float
    frames: list = field(default_factory=list)
    log_deform: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    deform: np.ndarray = field(default_factory=lambda: np.eye(3))
    velocity: np.ndarray | None = None
    dt: float = FIRE_PARAMETERS["dt"]
    a: float = FIRE_PARAMETERS["astart"]
    positive: int = 0               # FIRE's steps since the power was last negative
    steps: int = 0
    status: str | None = None

    @property
    def p(self) -> float:
        """The pressure [eV/Å³]."""
        return self.pressure * GPa


def relax_batch(structures: list[Atoms], pressures, evaluator, *, chemistry,
                settings: RelaxSettings | None = None,
                max_atoms: int | None = None) -> list[list[Atoms]]:
    """Minimise the enthalpy of every structure with FIRE, many cells at a time.

    Parameters
    ----------
    structures : list of ase.Atoms
        Periodic starting cells (not modified).
    pressures : sequence of float
        External pressure of each [GPa].
    evaluator : gapexplore.potential.GapEvaluator
        The GAP, evaluated natively.
    chemistry : Chemistry or Composition
        Its (smallest) radius sets the explosion guard's minimum distance.
    settings : RelaxSettings, optional
        ``fmax``, ``max_steps``, ``min_distance_factor`` and ``volume_bounds`` are used;
        the optimiser is FIRE whatever ``settings.optimiser`` names.
    max_atoms : int, optional
        Atoms in flight at once (default :data:`IN_FLIGHT_ATOMS`). A cell larger than this
        is relaxed alone.

    Returns
    -------
    list of list of ase.Atoms
        The trajectory of each structure, in input order, as :func:`gapexplore.relax.relax`
        returns it: one frame per step with ``keys.GAP_ENERGY``, ``keys.ENTHALPY_PER_ATOM``,
        ``keys.PRESSURE``, ``keys.RELAX_STEP`` and the trajectory's ``keys.RELAX_STATUS``.
    """
    settings = RelaxSettings() if settings is None else settings
    budget = IN_FLIGHT_ATOMS if max_atoms is None else max_atoms
    d_min = settings.min_distance_factor * chemistry.smallest_radius
    pairs_reach = d_min < evaluator.model.cutoff   # the GAP's pairs hold every closer one
    queue = deque(range(len(structures)))
    trajectories: list = [None] * len(structures)
    flights: list[_Flight] = []
    while queue or flights:
        size = sum(len(f.atoms) for f in flights)
        while queue and (not flights or size + len(structures[queue[0]]) <= budget):
            index = queue.popleft()
            flights.append(_start(index, structures[index], float(pressures[index])))
            size += len(flights[-1].atoms)
        results = _evaluate(evaluator, flights)
        going = []
        for flight, result in zip(flights, results):
            if flight.status is None:
                _record(flight, result, d_min, pairs_reach, settings)
            if flight.status is None:
                going.append((flight, result))
        if going:
            _advance(going, settings)
        for flight in flights:
            if flight.status is not None:
                trajectories[flight.index] = _finish(flight)
        flights = [f for f in flights if f.status is None]
    return trajectories


def _start(index: int, atoms: Atoms, pressure: float) -> _Flight:
    work = atoms.copy()
    work.calc = None
    return _Flight(index=index, atoms=work, pressure=pressure,
                   orig_cell=work.cell.array.copy(), v_start=work.get_volume() / len(work))


def _evaluate(evaluator, flights: list[_Flight]) -> list:
    """(energy, forces, stress, shortest distance) of every flight; a flight whose
    evaluation fails gets its error status (the others are evaluated again without it)."""
    try:
        results = evaluator.evaluate([f.atoms for f in flights])
    except Exception as error:
        reraise_interrupt(error)
        if len(flights) == 1:
            flights[0].status = f"error: {type(error).__name__}: {error}"
            return [None]
        return [_evaluate(evaluator, [f])[0] for f in flights]
    return list(zip(results.energy, results.forces, results.stress, results.shortest))


def _record(flight: _Flight, result, d_min: float, pairs_reach: bool,
            settings: RelaxSettings) -> None:
    """Keep this geometry as a frame, or stop the flight when it has exploded. The GAP's
    shortest pair distance serves the guard when its pairs reach ``d_min`` [Å]."""
    energy, forces, stress, shortest = result
    problem = _explosion(flight, energy, forces, stress,
                         shortest if pairs_reach else None, d_min, settings.volume_bounds)
    if problem is not None:
        flight.status = f"exploded: {problem}"
        return
    flight.frames.append(make_frame(flight.atoms, energy, flight.pressure,
                                    len(flight.frames)))


def _explosion(flight: _Flight, energy, forces, stress, shortest, d_min, bounds):
    """:func:`gapexplore.relax.frames.explosion` (``shortest`` None: found there), and
    non-finite forces or stress."""
    problem = explosion(flight.atoms, energy, flight.v_start, d_min, bounds,
                        shortest=shortest)
    if problem is None and not (np.isfinite(forces).all() and np.isfinite(stress).all()):
        problem = "non-finite forces or stress"
    return problem


def _advance(going: list, settings: RelaxSettings) -> None:
    """The convergence test, then one FIRE step, for every flight still going."""
    flights = [f for f, _ in going]
    counts = np.array([len(f.atoms) for f in flights])
    forces = _generalised_forces(flights, [r[1] for _, r in going], [r[2] for _, r in going])
    rows = np.repeat(np.arange(len(flights)), counts + 3)
    norms = np.sqrt(np.einsum("ij,ij->i", forces, forces))
    largest = np.full(len(flights), -np.inf)
    np.maximum.at(largest, rows, norms)
    moving = []
    for k, flight in enumerate(flights):
        if largest[k] < settings.fmax:
            flight.status = STATUS_CONVERGED
        elif flight.steps >= settings.max_steps:
            flight.status = STATUS_MAX_STEPS
        else:
            moving.append(k)
    if moving:
        keep = np.isin(rows, moving)
        _fire_step([flights[k] for k in moving], forces[keep])


def _generalised_forces(flights, forces, stresses) -> np.ndarray:
    """The filter's forces of every flight, stacked: N atom rows (f F), then 3 cell rows
    ((∂H/∂ log F)/N), cell after cell [eV/Å]."""
    deform = np.stack([f.deform for f in flights])
    volumes = np.array([abs(np.linalg.det(f.atoms.cell.array)) for f in flights])
    pressures = np.array([f.p for f in flights])
    sigma = np.stack([voigt_6_to_full_3x3_stress(s) for s in stresses])
    virial = -volumes[:, None, None] * (sigma + pressures[:, None, None] * np.eye(3))
    cell_gradient = virial @ np.linalg.inv(np.transpose(deform, (0, 2, 1)))
    log_force = _exp_frechet_adjoint(np.stack([f.log_deform for f in flights]),
                                     cell_gradient)
    out = []
    for k, flight in enumerate(flights):
        out.append(forces[k] @ deform[k])
        out.append(log_force[k] / len(flight.atoms))
    return np.concatenate(out)


def _exp_frechet_adjoint(logs: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """For each cell, the matrix D with D_μν = Σ (L_exp(X, E_μν) ∘ G): the gradient through
    the Fréchet derivative of exp at X = log F, from X = V Λ V⁻¹ as
    D = V⁻ᵀ [Φ ∘ (Vᵀ G V⁻ᵀ)] Vᵀ, Φ the divided differences of exp over the eigenvalues."""
    values, vectors = np.linalg.eig(logs)
    out = np.empty_like(gradients)
    good = np.linalg.cond(vectors) <= _EIG_CONDITION
    if good.any():
        lam, v = values[good], vectors[good]
        inverse_t = np.transpose(np.linalg.inv(v), (0, 2, 1))
        gap = lam[:, :, None] - lam[:, None, :]
        same = gap == 0
        divided = np.exp(lam)[:, None, :] * np.where(same, 1.0,
                                                     np.expm1(gap) / np.where(same, 1.0, gap))
        inner = np.transpose(v, (0, 2, 1)) @ gradients[good] @ inverse_t
        out[good] = (inverse_t @ (divided * inner) @ np.transpose(v, (0, 2, 1))).real
    for k in np.flatnonzero(~good):
        for mu in range(3):
            for nu in range(3):
                direction = np.zeros((3, 3))
                direction[mu, nu] = 1.0
                out[k, mu, nu] = np.sum(expm_frechet(logs[k], direction, compute_expm=False)
                                        * gradients[k])
    return out


def _fire_step(flights: list[_Flight], forces: np.ndarray) -> None:
    """One step of ASE's FIRE for each flight (its rows of ``forces``, in order), then the
    new positions and cell."""
    fire = FIRE_PARAMETERS
    counts = np.array([len(f.atoms) + 3 for f in flights])
    rows = np.repeat(np.arange(len(flights)), counts)
    velocity = np.concatenate([np.zeros((c, 3)) if f.velocity is None else f.velocity
                               for f, c in zip(flights, counts)])
    first = np.array([f.velocity is None for f in flights])
    power = np.bincount(rows, np.einsum("ij,ij->i", forces, velocity), len(flights))
    f2 = np.bincount(rows, np.einsum("ij,ij->i", forces, forces), len(flights))
    v2 = np.bincount(rows, np.einsum("ij,ij->i", velocity, velocity), len(flights))
    uphill = ~first & ~(power > 0.0)
    mix = ~first & (power > 0.0)
    a = np.array([f.a for f in flights])
    scale = np.where(mix, a * np.sqrt(v2) / np.sqrt(np.where(mix, f2, 1.0)), 0.0)
    velocity = np.where(mix[rows, None], (1.0 - a[rows, None]) * velocity
                        + scale[rows, None] * forces, velocity)
    velocity[uphill[rows]] = 0.0
    for k, flight in enumerate(flights):
        if mix[k]:
            if flight.positive > fire["Nmin"]:
                flight.dt = min(flight.dt * fire["finc"], fire["dtmax"])
                flight.a *= fire["fa"]
            flight.positive += 1
        elif uphill[k]:
            flight.a = fire["astart"]
            flight.dt *= fire["fdec"]
            flight.positive = 0
    dt = np.array([f.dt for f in flights])
    velocity = velocity + dt[rows, None] * forces
    move = dt[rows, None] * velocity
    length = np.sqrt(np.bincount(rows, np.einsum("ij,ij->i", move, move), len(flights)))
    shrink = np.where(length > fire["maxstep"], fire["maxstep"] / np.where(length > 0,
                                                                             length, 1.0), 1.0)
    move = move * shrink[rows, None]
    starts = np.concatenate([[0], np.cumsum(counts)])
    for k, flight in enumerate(flights):
        flight.velocity = velocity[starts[k]:starts[k + 1]]
        _move(flight, move[starts[k]:starts[k + 1]])
        flight.steps += 1


def _move(flight: _Flight, move: np.ndarray) -> None:
    """Displace a flight's degrees of freedom by ``move`` (N atom rows in the undeformed
    cell, 3 rows of N log F) and set its positions and cell."""
    n = len(flight.atoms)
    undeformed = np.linalg.solve(flight.deform, flight.atoms.positions.T).T
    flight.log_deform = flight.log_deform + move[n:] / n
    flight.deform = _expm(flight.log_deform)
    flight.atoms.set_cell(flight.orig_cell @ flight.deform.T, scale_atoms=False)
    flight.atoms.positions = (undeformed + move[:n]) @ flight.deform.T


def _finish(flight: _Flight) -> list[Atoms]:
    """The flight's frames with its status (the start alone when it has none)."""
    frames = flight.frames
    if not frames:
        start = flight.atoms.copy()
        start.calc = None
        start.info[keys.PRESSURE] = flight.pressure
        frames = [start]
    for frame in frames:
        frame.info[keys.RELAX_STATUS] = flight.status
    return frames
