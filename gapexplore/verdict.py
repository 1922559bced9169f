"""A verdict on :func:`gapexplore.check.check_run`'s findings: per structure, and overall.

The thresholds (:class:`Thresholds`) are on the **phase-difference error**: how far the
GAP's energy of a structure above the lowest of its composition (E₀ from the
Birch–Murnaghan fit of its energy–volume curve) is from the reference's, in meV/atom.

* *good*: within ``good`` (10 meV/atom: the accuracy the paper reaches on its known phases,
  Figs. 2–3, and a common target for a potential used for phase stability);
* *approximate*: within ``approximate`` (50 meV/atom: the ordering of well-separated phases
  is right, small differences are not to be trusted);
* *wrong*: further off. A structure the GAP puts far **too low** is a *hole*: relaxations
  with this GAP may fall into it. When the GAP's own predicted error (σ_GAP) there is
  above ``unseen`` (50 meV/atom), the GAP itself says it was shown nothing like it.

Molecular dynamics runs are *stable* or *unstable* (:func:`gapexplore.check.md_stability`).
The overall verdict names every structure that is not good and every unstable MD run.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Thresholds", "check_verdicts"]


@dataclass(frozen=True)
class Thresholds:
    """Where the verdicts of :func:`check_verdicts` change [meV/atom]."""

    good: float = 10.0
    approximate: float = 50.0
    unseen: float = 50.0


def check_verdicts(report: dict, thresholds: Thresholds = Thresholds()):
    """The verdict on each structure of a ``check_run`` report, and overall.

    Returns
    -------
    per_structure : dict
        Name -> ``"good"``, ``"approximate"``, ``"wrong: ..."`` (with the error and what it
        means) or ``"no verdict: ..."`` (no energy–volume minimum).
    overall : str
        One or two sentences.
    """
    per_structure, bad = {}, []
    for name, found in report["structures"].items():
        diff = report["differences"].get(name)
        if diff is None:
            per_structure[name] = "no verdict: no minimum on an energy–volume curve"
            continue
        error = diff["error"]
        sigma = found.get("predicted_error")
        if abs(error) <= thresholds.good:
            per_structure[name] = "good"
            continue
        if abs(error) <= thresholds.approximate:
            per_structure[name] = "approximate"
        else:
            what = ("too low: a hole, relaxations with this GAP may fall into it"
                    if error < 0 else "too high: the GAP disfavours it")
            if sigma is not None and 1000 * sigma > thresholds.unseen:
                what += (f"; its predicted error σ_GAP {1000 * sigma:.0f} meV/atom says it "
                         "was shown nothing like it")
            per_structure[name] = f"wrong: {error:+.0f} meV/atom, {what}"
        bad.append(f"{name} ({error:+.0f})")
    unstable = [f"{md['structure']} at {md['temperature']:.0f} K" for md in report["md"]
                if md["status"] != "stable"]
    n_good = sum(v == "good" for v in per_structure.values())
    overall = (f"good on {n_good} of {len(per_structure)} structures (phase difference "
               f"within {thresholds.good:g} meV/atom of the reference)")
    if bad:
        overall += "; not good: " + ", ".join(bad) + " meV/atom"
    if report["md"]:
        overall += (f"; MD unstable: {', '.join(unstable)}" if unstable
                    else f"; MD stable in all {len(report['md'])} runs")
    if any(v.startswith("wrong") for v in per_structure.values()):
        overall += (". Do not trust this GAP for the structures marked wrong; more "
                    "iterations (gapexplore run FOLDER --iterations N) or --label-lowest "
                    "may teach it them")
    return per_structure, overall + "."
