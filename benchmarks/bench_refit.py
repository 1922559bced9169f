"""Is it the fit or the data? Refit a finished run's labels with other GAP settings.

A run's last GAP has some error on its known structures. This script fits the same labels
again with other settings and validates each fit on the same structures, relaxed as the
run validates them (:func:`gapexplore.validate.validate`): if no setting brings the errors
down, the labels, not the model, are what limits the run.

Variants (``--variants``):

* ``run``: the run's own settings (reproduces the run's last validation: a check);
* ``paper``: the paper's model (``GapSettings.for_chemistry``: 2b cutoff 9 r, SOAP
  n = l = 8, 2,000 sparse points);
* ``delta3b=X``: the run's settings, δ_2b and δ_SOAP as the run's last fit set them, δ_3b
  fixed at X [eV] instead of the 2b-only fit's error (the paper's rule).

Usage (the three seeds of the SiC demo with 32 relaxations an
iteration for 12 iterations, 4–8-atom cells: ``benchmarks/bench_demo.py --system sic
--candidates 32 --no-label-lowest --iterations 12 --atoms 4 8``)::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_refit.py \\
        benchmarks/out/demo-sic-c32-nolowest-a4-8/seed_0 \\
        benchmarks/out/demo-sic-c32-nolowest-a4-8/seed_1 \\
        benchmarks/out/demo-sic-c32-nolowest-a4-8/seed_2 --variants run delta3b=0.1 paper

Each fit goes into a temporary folder; nothing in the runs changes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common  # one BLAS thread: before numpy loads

from gapexplore.fit import GapSettings, fit_gap, load_potential
from gapexplore.validate import known_structure, validate


def refit(folder: Path, variant: str) -> dict:
    """Fit ``folder``'s labels with ``variant``; returns the fit time [s], δ [eV] and each
    validated structure's error [meV/atom]."""
    run = _common.read_run(folder)
    labels = run.store.labels()
    chemistry = run.chemistry
    settings = run.settings.gap_settings()
    deltas = None
    if variant == "paper":
        settings = GapSettings.for_chemistry(chemistry)
    elif variant.startswith("delta3b="):
        deltas = dict(run.state.iterations[-1].fit.deltas)
        deltas["3b"] = float(variant.split("=", 1)[1])
    elif variant != "run":
        raise SystemExit(f"unknown variant {variant!r}: run, paper or delta3b=X")
    names = list(run.settings.validate)
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        result = fit_gap(labels, chemistry, work, settings=settings, deltas=deltas)
        seconds = time.perf_counter() - start
        checked = validate({n: known_structure(chemistry, n) for n in names},
                           load_potential(result.potential), run.reference.calculator(),
                           chemistry=chemistry,
                           reference_energies=run.state.reference_energies)
    return {"labels": len(labels), "seconds": seconds, "deltas": result.deltas,
            "errors": {n: 1000 * checked[n]["error"] for n in names}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run folders")
    parser.add_argument("--variants", nargs="+", default=["run", "delta3b=0.1", "paper"])
    args = parser.parse_args()
    for folder in args.runs:
        run = _common.read_run(folder)
        names = list(run.settings.validate)
        last = run.state.iterations[-1].validation
        errors = last.errors() if last else {}
        print(f"\n{folder} — the run's last validation: " + ", ".join(
            f"{n} {1000 * errors[n]:+.1f}" for n in names if n in errors) + " meV/atom")
        print(f"{'variant':<14} {'labels':>6} {'fit [s]':>7} {'δ_2b/δ_3b/δ_SOAP [eV]':>24}  "
              + "  ".join(f"{n:>9}" for n in names) + "   [meV/atom]")
        for variant in args.variants:
            row = refit(folder, variant)
            d = row["deltas"]
            print(f"{variant:<14} {row['labels']:>6} {row['seconds']:7.0f} "
                  f"{d['2b']:8.3f}/{d['3b']:.3f}/{d['soap']:.3f}  "
                  + "  ".join(f"{row['errors'][n]:+9.1f}" for n in names), flush=True)


if __name__ == "__main__":
    main()
