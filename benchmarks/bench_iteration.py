"""Where one iteration's wall time goes: GAP calls, the reference, gap_fit, and the rest.

Runs iteration 0 of a small Si run (Stillinger–Weber reference) once for each variant
below, each a run of its own settings, then iteration 1 on a copy of that folder for each
worker setting (1 and 2 local processes; ``--dask``: a local Dask cluster of 2). From the
step times the run records (``state.json``) and the same calls timed bare on the same
structures in this process, it prints each share of the iteration's core-seconds (wall
time × workers for the parallel steps):

* GAP calls: one energy + forces + stress call of the iteration-0 GAP per relaxation frame;
* reference: one Stillinger–Weber call per structure labelled;
* gap_fit: the fit step less the validation;
* the rest (overhead): everything else — optimiser and cell filter, explosion guards,
  I/O, selection (SOAP, Nyström, CUR), process start-up and pickling.

The figure to drive down is the rest; with a DFT reference the reference dominates. The
bare costs are measured in this process, so the shares are ratios within one run.

Each setting runs twice: *before*, as the code was before the performance issue (the
paper's ``PreconLBFGS`` with ASE's own ``FrechetCellFilter``, which recomputes its forces
each time the optimiser asks), and *after*, as it is now (the settings' default optimiser
through :class:`gapexplore.relax.FastFrechetCellFilter`; Dask workers started as
``gapexplore run --dask-workers`` starts them, not with Dask's own environment)::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_iteration.py [--dask]
        [--candidates 32] [--select 8] [--atoms 6 16]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import time
from pathlib import Path

import _common  # one BLAS thread: before numpy loads

OUT = Path(__file__).resolve().parent / "out" / "iteration"


def _settings(args, before: bool = False):
    """The run's settings; ``before``: with the paper's optimiser, as the code was before
    (iteration 0 relaxes nothing, so only iteration 1 differs)."""
    from gapexplore import ExploreSettings

    return ExploreSettings(element="Si", n_candidates=args.candidates, n_select=args.select,
                           n_atoms=tuple(args.atoms), max_iterations=2, gap="light",
                           soap="fast", relax_fmax=0.05, relax_max_steps=100, seed=args.seed,
                           relax={"optimiser": "precon-lbfgs"} if before else {})


def _bare_seconds(structures, calculator, repeat: int = 1) -> float:
    """Wall time of energy + forces + stress on each structure, bare [s]."""
    start = time.perf_counter()
    for _ in range(repeat):
        for atoms in structures:
            atoms = atoms.copy()
            atoms.calc = calculator
            atoms.get_potential_energy()
            atoms.get_forces()
            if atoms.pbc.all():
                atoms.get_stress()
    return (time.perf_counter() - start) / repeat


def _use_ase_filter(use: bool = True):
    """Relax through ASE's own FrechetCellFilter in this process (the code before), or
    through gapexplore's again."""
    import importlib

    from ase.filters import FrechetCellFilter

    relax = importlib.import_module("gapexplore.relax.loop")
    if not hasattr(relax, "_FAST_FILTER"):
        relax._FAST_FILTER = relax.FastFrechetCellFilter
    relax.FastFrechetCellFilter = FrechetCellFilter if use else relax._FAST_FILTER


@contextlib.contextmanager
def _where(kind: str, workers: int, before: bool):
    if kind == "pool":  # worker processes fork from this one and inherit the filter
        _use_ase_filter(before)
        try:
            yield None, workers
        finally:
            _use_ase_filter(False)
        return
    with _common.dask_client(workers, dask_environment=before) as client:
        client.run(_use_ase_filter, before)
        yield client.get_executor(), None


def _iteration_0(settings, base: Path) -> Path:
    """The run folder ``base`` with iteration 0 of ``settings`` done (run unless it is)."""
    from gapexplore.run import Explorer

    run = _common.read_run(base)
    if run is None or run.potential_of(0) is None:
        shutil.rmtree(base, ignore_errors=True)
        Explorer(base, settings, n_jobs=2).run(iterations=1)
    return base


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--select", type=int, default=8)
    parser.add_argument("--atoms", type=int, nargs=2, default=[6, 16])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dask", action="store_true", help="also on a local Dask cluster")
    args = parser.parse_args()

    from gapexplore import load_potential, reference_calculator
    from gapexplore.run import Explorer

    bases = {variant: _iteration_0(_settings(args, variant == "before"),
                                   OUT / f"iteration_0_{variant}")
             for variant in ("before", "after")}
    configurations = [("pool", 1), ("pool", 2)] + ([("dask", 2)] if args.dask else [])
    print(f"Si, SW reference, light GAP; iteration 1: {args.candidates} random cells of "
          f"{args.atoms[0]}-{args.atoms[1]} atoms relaxed (fmax 0.05 eV/Å, <= 100 steps), "
          f"{args.select} labelled\n")
    header = (f"{'code':>6} {'optimiser':>16} {'where':>5} {'workers':>7} {'wall [s]':>9} "
              f"{'core-s':>8}  {'GAP calls':>9} {'reference':>9} {'gap_fit':>8} {'rest':>6}   "
              "rest by step (relax / select / other)")
    print(header)
    runs = [(variant, kind, workers) for variant in ("before", "after")
            for kind, workers in configurations]
    for variant, kind, workers in runs:
        folder = OUT / f"iteration_1_{kind}_{workers}_{variant}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(bases[variant], folder)
        optimiser = _common.read_run(folder).settings.relax_settings().optimiser
        with _where(kind, workers, variant == "before") as (executor, n_jobs):
            explorer = Explorer(folder, n_jobs=n_jobs, executor=executor)
            start = time.perf_counter()
            explorer.run_iteration()
            wall = time.perf_counter() - start
        run = _common.read_run(folder)
        seconds = run.state.iterations[1].seconds
        store = run.store
        frames = store.read_structures(1, "trajectories")
        labelled = store.labels(iteration=1)
        gap_calls = _bare_seconds(frames, load_potential(run.potential_of(0)))
        reference = _bare_seconds(labelled, reference_calculator("sw-si"), repeat=3)
        fit = seconds["fit"]
        parallel = {"relax": seconds["relax"], "label": seconds["label"],
                    "generate": seconds["generate"]}
        core = sum(parallel.values()) * workers + seconds["select"] + fit
        rest_relax = seconds["relax"] * workers - gap_calls
        rest_label = seconds["label"] * workers - reference
        rest_other = seconds["generate"] * workers + seconds["select"]
        rest = rest_relax + rest_label + rest_other
        print(f"{variant:>6} {optimiser:>16} {kind:>5} {workers:>7} {wall:9.1f} {core:8.1f}  "
              f"{gap_calls / core:9.0%} {reference / core:9.0%} {fit / core:8.0%} "
              f"{rest / core:6.0%}   "
              f"{rest_relax / core:.0%} / {seconds['select'] / core:.0%} / "
              f"{(rest_label + seconds['generate'] * workers) / core:.0%}")
        print(f"{'':>37} relax overhead {100 * rest_relax / gap_calls:+.0f} % of its "
              f"GAP calls ({len(frames)} frames); label overhead "
              f"{rest_label:.1f} s for {reference:.2f} s of reference calls")


if __name__ == "__main__":
    main()
