"""What a run will do, and roughly what it will cost, before it starts.

:func:`run_plan` describes a run's settings in a few lines (cells, relaxations and labels
per iteration, the reference, the GAP model, the stop criteria) with an estimate of the
wall time on ``n_jobs`` processes. The estimate multiplies per-call costs measured on a
2-core x86-64 workstation (quippy-ase 0.10.3, 2026-11-24 and 2026-12-07; one process per
core) by the run's counts. It is a guide to the order of magnitude (minutes, hours or
days), not a promise: relaxations vary in length, and other machines differ.

The costs, per call [s] (:data:`REFERENCE_CALL_COST`, :data:`GAP_CALL_COST`):

* a GAP energy + forces + stress call on an n-atom cell: ``a + b n``; light model
  (2b 6 Å, 3b, SOAP n = l = 4): 36 ms at 6.7 atoms, 50 ms at 24; the paper's Table 1
  model: 41 / 85 / 103 ms at 8 / 16 / 24 atoms; ASE adds about 10 ms per optimiser step;
* the native engine relaxing many cells at once (:mod:`gapexplore.relax.batched`), per
  frame of an n-atom cell, everything included: ``a + b n``
  (:data:`NATIVE_FRAME_COST`; light model 1.4 / 1.9 / 2.7 ms at 6 / 12 / 24 atoms, Table
  1's about 6 ms at 15 atoms; ``benchmarks/bench_relax_engines.py``, 2026-12-07);
* a relaxation: about 150 steps at fmax 0.01 eV/Å, 100 at 0.05 (capped by max_steps);
* a reference call: toy (matscipy) 0.01 s, a universal potential (CHGNet) 0.06 s, GPAW at
  the paper's settings about 9 s per atom (42 s for Si8, 147 s for a random Si16); a dimer
  in its 20 Å box is counted as 2 atoms and the isolated atom as 1 (with ``gpaw-low``,
  iteration 0 of a small Si run, 21 dimers, the atom and two 2–4-atom cells, took 282 s
  on 2 processes on a 2-core AMD EPYC machine shared with other work, 2026-12-07:
  docs/how-to/gpaw.md);
* iteration 0 labels, besides its cells, 21 dimers per pair of elements and the isolated
  atom of each element (:func:`gapexplore.generate.dimers`): with GPAW they are most of a
  small run's cost;
* the selection's averaged SOAP: 8.5 ms per cell at the paper's settings, 2 ms at
  cheaper ones;
* a fit on one core: 2 s + n_env × (10.5 ms + a n_sparse_SOAP), a = 7.2e-5 s for
  n = l = 8 and about 1e-5 s for the light model (n_env: atoms in the training set).
"""

from __future__ import annotations

from dataclasses import dataclass

from gapexplore.generate import dimers, isolated_atom
from gapexplore.label import default_reference
from gapexplore.label.named import DFT_REFERENCES, SURROGATE_REFERENCES

__all__ = ["NATIVE_FRAME_COST", "CostEstimate", "estimate_cost", "reference_call_cost",
           "reference_kind", "run_plan"]

#: Seconds per reference call by kind of reference (None: unknown, the user's own).
REFERENCE_CALL_COST = {"toy": 0.01, "surrogate": 0.06}
#: Seconds per atom of one GAP-DFT call (GPAW, paper settings), see the module docstring.
DFT_COST_PER_ATOM = 9.0
#: (a [s], b [s/atom]) of one GAP call, by GAP preset.
GAP_CALL_COST = {"light": (0.027, 0.0011), "paper": (0.010, 0.0040)}
_ASE_STEP = 0.010   # s per optimiser step outside the GAP
#: (a [s], b [s/atom]) of one frame of a batched native relaxation, by GAP preset.
NATIVE_FRAME_COST = {"light": (0.0009, 0.000076), "paper": (0.0015, 0.0003)}
_FIT_SOAP = {"light": 1.0e-5, "paper": 7.2e-5}   # s per environment per sparse point
_FIT_SPARSE = {"light": 300, "paper": 2000}
_SOAP_PER_CELL = {"paper": 0.0085}   # s; other presets: _SOAP_CHEAP
_SOAP_CHEAP = 0.002


def reference_kind(reference) -> str:
    """``"toy"``, ``"surrogate"``, ``"dft"`` or ``"own"`` (a function or calculator of
    the user's, whose cost is unknown) for anything
    :func:`gapexplore.label.as_reference` takes."""
    if not isinstance(reference, str) or ":" in reference:
        return "own"
    if reference in DFT_REFERENCES:
        return "dft"
    return "surrogate" if reference in SURROGATE_REFERENCES else "toy"


def reference_call_cost(reference, n_atoms: float) -> float | None:
    """Rough wall time [s] of one reference calculation on ``n_atoms`` atoms, or None
    for a reference of the user's own (unknown)."""
    kind = reference_kind(reference)
    if kind == "dft":
        return DFT_COST_PER_ATOM * n_atoms
    return REFERENCE_CALL_COST.get(kind)


@dataclass(frozen=True)
class CostEstimate:
    """Rough wall time [s] of one iteration's parts, and of the run to its stop."""

    relax: float
    select: float
    label: float | None   # None: the reference's cost is unknown
    fit_last: float
    iterations: int   # to the first stop criterion that counts labels or iterations
    total: float | None
    extras: float | None = None   # iteration 0's dimers and isolated atoms, labelled once


def estimate_cost(settings, n_jobs: int) -> CostEstimate:
    """Estimate a run's cost from its :class:`~gapexplore.run.ExploreSettings` on
    ``n_jobs`` processes (see the module docstring for the per-call costs)."""
    lo, hi = (settings.n_atoms, settings.n_atoms) if isinstance(settings.n_atoms, int) \
        else settings.n_atoms
    atoms = (lo + hi) / 2
    model = settings.gap if settings.gap in GAP_CALL_COST else "paper"
    a, b = GAP_CALL_COST[model]
    fmax, cap = settings.relax_fmax, settings.relax_max_steps
    steps = min(cap, 150 if fmax < 0.03 else 100)
    per_frame = a + b * atoms + _ASE_STEP
    relax_settings = settings.relax_settings()
    if relax_settings.engine == "native" and relax_settings.optimiser == "fire":
        a, b = NATIVE_FRAME_COST[model]
        per_frame = a + b * atoms
    relax = settings.n_candidates * steps * per_frame / n_jobs
    selection = settings.selection
    soap = _SOAP_PER_CELL.get(selection.soap, _SOAP_CHEAP) \
        if isinstance(selection.soap, str) else _SOAP_CHEAP
    select = settings.n_candidates * soap / n_jobs
    reference = settings.reference or default_reference(settings.chemistry())
    per_label = reference_call_cost(reference, atoms)
    label = None if per_label is None else selection.n_select * per_label / n_jobs
    chemistry = settings.chemistry()
    single = isolated_atom(chemistry)
    extras = (single if isinstance(single, list) else [single]) + dimers(chemistry)
    extra_label = None if per_label is None else sum(
        reference_call_cost(reference, len(a)) for a in extras) / n_jobs
    iterations = -(-settings.max_labels // selection.n_select)
    if settings.max_iterations is not None:
        iterations = min(iterations, settings.max_iterations)
    n_env = min(settings.max_labels, iterations * selection.n_select) * atoms
    per_env = 0.0105 + _FIT_SOAP[model] * _FIT_SPARSE[model]
    fit_last = 2.0 + n_env * per_env
    # fits grow linearly with the database: their sum is about half the last one per
    # iteration; relaxations start in iteration 1
    total = None if label is None else (
        (iterations - 1) * relax + iterations * (select + label) + iterations * fit_last / 2
        + extra_label)
    return CostEstimate(relax, select, label, fit_last, iterations, total, extra_label)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def run_plan(settings, n_jobs: int) -> str:
    """A few lines that say what a new run with ``settings`` does each iteration and
    roughly how long it takes on ``n_jobs`` processes."""
    reference = settings.reference or default_reference(settings.chemistry())
    what = ", ".join(c.formula for c in settings.compositions())
    lo, hi = (settings.n_atoms, settings.n_atoms) if isinstance(settings.n_atoms, int) \
        else settings.n_atoms
    relax = settings.relax_settings()
    cost = estimate_cost(settings, n_jobs)
    stops = [f"{settings.max_labels} labels"]
    if settings.max_iterations is not None:
        stops.append(_count(settings.max_iterations, "iteration"))
    if settings.target_error is not None:
        stops.append(f"every validation structure within {1000 * settings.target_error:g} "
                     "meV/atom")
    if settings.target_prediction_error is not None:
        stops.append(f"new labels predicted within {1000 * settings.target_prediction_error:g}"
                     " meV/atom")
    own = reference_kind(reference) == "own"
    lines = [
        f"plan: {what}, reference {reference}, GAP model {settings.gap if isinstance(settings.gap, str) else 'custom'}",  # noqa: E501
        f"  each iteration: {settings.n_candidates} random cells of {lo}-{hi} atoms relaxed "
        f"with the current GAP ({relax.optimiser}, {relax.engine} engine, fmax "
        f"{settings.relax_fmax:g} eV/Å, at most {settings.relax_max_steps} steps), "
        f"{settings.selection.n_select} structures chosen ({settings.selection.method}) "
        "and labelled; iteration 0 labels random cells unrelaxed",
        f"  stops at the first of: {', '.join(stops)}",
        f"  rough cost on {n_jobs} process{'es' if n_jobs > 1 else ''} per iteration: "
        f"relaxations {_duration(cost.relax)}, selection {_duration(cost.select)}, labels "
        f"{_duration(cost.label)}{' (your own reference)' if own else ''}, the last fit "
        f"{_duration(cost.fit_last)}"
        + (f"; iteration 0's dimers and isolated atoms {_duration(cost.extras)}"
           if reference_kind(reference) == "dft" else "")
        + f"; to the stop ({_count(cost.iterations, 'iteration')}): {_duration(cost.total)}",
        "  (from per-call costs measured on a 2-core workstation: gapexplore.run.plan)",
    ]
    if cost.total is not None and cost.total > 86400:
        lines.append("  for a first try in minutes: --gap light --candidates 200 --select 20 "
                     "--iterations 5")
    return "\n".join(lines)
