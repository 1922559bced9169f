"""The command line's parser: every command, option, help text and example."""

from __future__ import annotations

import argparse
from pathlib import Path

from gapexplore import __version__
from gapexplore.check import CheckSettings
from gapexplore.cli.demos import DEMOS
from gapexplore.core.chemistry import BONDING_KINDS
from gapexplore.fit import ENGINES
from gapexplore.relax import OPTIMISERS
from gapexplore.run.settings import SOAP_PRESETS
from gapexplore.select import METHODS

#: Keys of a settings file that say where the work runs (not part of the run's settings).
_WHERE_KEYS = {"dask_workers", "scheduler"}
_SETTING_OPTIONS = {  # command-line option -> ExploreSettings field
    "element": "element", "composition": "composition", "bonding": "bonding",
    "radius": "radius",
    "reference": "reference", "candidates": "n_candidates", "initial": "n_initial",
    "atoms": "n_atoms",
    "select": "n_select",
    "max_labels": "max_labels", "iterations": "max_iterations",
    "target_error": "target_error", "target_prediction_error": "target_prediction_error",
    "gap": "gap",
    "soap": "soap", "selection": "selection", "stochastic": "selection_stochastic",
    "center": "selection_center", "label_lowest": "label_lowest",
    "lowest_kinds": "lowest_kinds",
    "fmax": "relax_fmax", "max_steps": "relax_max_steps",
    "seed": "seed",
    "validate": "validate",
    "reference_timeout": "reference_timeout", "relax_timeout": "relax_timeout",
}
_FIELD_OPTIONS = {field: option for option, field in _SETTING_OPTIONS.items()}


_DESCRIPTION = """\
Build a machine-learned interatomic potential (a GAP) from nothing but a chemistry:
random structure searching driven by the current GAP, a few structures chosen by
configuration-averaged SOAP and CUR, labelled by a reference calculator, refitted, and
again (the GAP-RSS protocol of Bernstein, Csányi and Deringer, npj Comput. Mater. 2019).

"""

_EXAMPLES = """\
examples:
  gapexplore demo                                  # Si with a toy reference, minutes
  gapexplore run si --element Si --reference sw-si --gap light --candidates 100 \\
      --select 20 --iterations 5                  # a small run of your own
  gapexplore run si                                # continue it where it stopped
  gapexplore run si --iterations 8                 # extend it past its stop criterion
  gapexplore run c --element C --reference chgnet  # CHGNet as the reference (pip extra)
  gapexplore run r --element Si --reference mycalc:make
                         # your own ASE calculator: make() in ./mycalc.py returns it
  gapexplore status si; gapexplore results si; gapexplore export si si-gap
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gapexplore", description=_DESCRIPTION, epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gapexplore {__version__}")
    parser.add_argument("-T", "--traceback", action="store_true",
                        help="on an error, print the full Python traceback")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="start or continue an exploration in a run folder",
                         description="Start an exploration in FOLDER, or continue the run "
                         "already there from its first unfinished step.", epilog=_EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("folder", type=Path, help="run folder (continued if it holds a run)")
    run.add_argument("--config", type=Path,
                     help="TOML file of ExploreSettings fields, and optionally dask_workers "
                     "or scheduler (flags override it)")
    _add_read_commands(sub)
    demo = sub.add_parser("demo", help="a complete small exploration of Si (SW reference) or "
                          "of SiC (--system sic, Tersoff reference)")
    demo.add_argument("--system", choices=tuple(DEMOS), default="si",
                      help="si (default; a few minutes) or sic (16 iterations of 64 "
                      "relaxations; hours on 2 cores, resumable)")
    demo.add_argument("--folder", type=Path, default=None,
                      help="run folder (runs/demo, runs/demo-sic)")
    for p in (run, demo):
        _add_where(p.add_argument_group("where the work runs"))
    _add_run_options(run)
    return parser


def _add_read_commands(sub) -> None:
    """``status``, ``results``, ``check`` and ``export``: they read a run, never change it
    (``results`` and ``check`` add their own files)."""
    status = sub.add_parser("status", help="where a run stands, and what to do next")
    status.add_argument("folder", type=Path)
    results = sub.add_parser("results", help="the distinct low-energy structures the run "
                             "found, ranked; the top ones relaxed with the reference")
    results.add_argument("folder", type=Path, help="run folder")
    results.add_argument("--top", type=int, default=10, help="structures listed (10)")
    results.add_argument("--verify", type=int, default=None, metavar="N",
                         help="relax the N lowest with the reference (kept, not redone; "
                         "default 3 with a toy or surrogate reference, 0 with DFT)")
    check = sub.add_parser("check", help="the newest GAP against the reference: energy–volume "
                           "curves, phase differences, its predicted error, MD stability; "
                           "check/check.json and check/report.html in the run folder")
    check.add_argument("folder", type=Path, help="run folder")
    defaults = CheckSettings()
    check.add_argument("--top", type=int, default=defaults.top,
                       help=f"ranked structures whose E–V curves are checked ({defaults.top})")
    check.add_argument("--md-structures", type=int, default=defaults.md_structures,
                       metavar="N", help=f"ranked structures run with MD "
                       f"({defaults.md_structures}; 0: no MD)")
    check.add_argument("--temperatures", type=float, nargs="+",
                       default=list(defaults.temperatures), metavar="K",
                       help="MD temperatures [K] (" + " ".join(
                           f"{t:g}" for t in defaults.temperatures) + ")")
    check.add_argument("--md-steps", type=int, default=defaults.md_steps,
                       help=f"Langevin NVT steps ({defaults.md_steps})")
    check.add_argument("--nve-steps", type=int, default=defaults.nve_steps,
                       help=f"NVE steps after ({defaults.nve_steps})")
    check.add_argument("--supercell", type=int, nargs=3, default=list(defaults.supercell),
                       metavar="N", help="MD supercell repetitions ("
                       + " ".join(map(str, defaults.supercell)) + ")")
    check.add_argument("--spot-checks", type=int, default=defaults.spot_checks, metavar="N",
                       help=f"MD frames of each stable run labelled by the reference "
                       f"({defaults.spot_checks})")
    check.add_argument("--seed", type=int, default=defaults.seed,
                       help=f"seed of the MD ({defaults.seed})")
    check.add_argument("--yes", action="store_true",
                       help="run it even with a DFT reference (which first only prints "
                       "what the check would cost)")
    export = sub.add_parser("export", help="the newest GAP with its training set, gap_fit "
                            "commands, settings, results, report and ASE and LAMMPS snippets")
    export.add_argument("folder", type=Path, help="run folder")
    export.add_argument("destination", type=Path, help="new (or empty) folder to write")


def _add_where(group) -> None:
    group.add_argument("--jobs", type=int, default=None, help="worker processes (all cores)")
    group.add_argument("--gap-fit", metavar="COMMAND",
                       help="your own gap_fit, e.g. an OpenMP build or 'mpirun -np 16 "
                       "/opt/quip/bin/gap_fit' (default $GAPEXPLORE_GAP_FIT, else the wheel's)")
    group.add_argument("--quiet", action="store_true", help="no progress bars or step lines")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--dask-workers", type=int, metavar="N",
                       help="run relaxations and labels on a local Dask cluster of N workers")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run them on the Dask cluster at ADDRESS (tcp://host:8786)")


def _add_run_options(run) -> None:
    what = run.add_argument_group("what to explore (new runs)")
    what.add_argument("--element", help="chemical symbol (default Si)")
    what.add_argument("--composition", metavar="FORMULA", type=_formulas,
                      help="a compound's formula instead of an element, e.g. SiC, TiO2, "
                      "Cu3Au (a fixed stoichiometry), or several, comma-separated (Si,SiC,C: "
                      "one run across them), or a whole system (Cu-Au: every stoichiometry "
                      "whose cells --atoms allows; Cu-Au:4, formula units of at most 4 atoms)")
    what.add_argument("--bonding", choices=BONDING_KINDS,
                      help="bonding kind (of every element of a composition)")
    what.add_argument("--radius", type=_radius, metavar="R",
                      help="characteristic radius [Å]; for a composition per element, "
                      "e.g. Si=1.11,C=0.76")
    what.add_argument("--reference", help="reference name (toys such as sw-si, chgnet, gpaw, "
                      "gpaw-low), or module:function returning an ASE calculator, looked up "
                      "in the current folder first (default: the element's toy reference)")
    what.add_argument("--validate", nargs="+", metavar="NAME",
                      help="known structures for learning curves, e.g. diamond beta-tin")
    size = run.add_argument_group("each iteration")
    size.add_argument("--candidates", type=int, help="random cells per iteration (10000)")
    size.add_argument("--initial", type=int, metavar="N",
                      help="random cells of iteration 0, if not --candidates (not relaxed: "
                      "only their SOAP costs)")
    size.add_argument("--atoms", type=int, nargs=2, metavar=("MIN", "MAX"),
                      help="atoms per random cell (6 24)")
    size.add_argument("--select", type=int, help="structures labelled per iteration (100)")
    size.add_argument("--seed", type=int, help="random seed (0)")
    stop = run.add_argument_group("when to stop (may be changed to continue a run)")
    stop.add_argument("--max-labels", type=int, help="stop at this many labels (2500)")
    stop.add_argument("--iterations", type=int, help="stop after this many iterations")
    stop.add_argument("--target-error", type=float, metavar="EV_PER_ATOM",
                      help="stop when every --validate structure is within this [eV/atom]")
    stop.add_argument("--target-prediction-error", type=float, metavar="EV_PER_ATOM",
                      help="stop when the previous GAP's energy RMSE on an iteration's new "
                      "labels is within this [eV/atom] (no known structure needed)")
    model = run.add_argument_group("the potential and the selection")
    model.add_argument("--gap", choices=("paper", "light"), help="GAP model (paper)")
    model.add_argument("--soap", choices=tuple(SOAP_PRESETS),
                       help="selection SOAP (paper; paper-quip: the paper's settings with "
                       "QUIP's definitions, the authors' kernel exactly, faster)")
    model.add_argument("--selection", choices=METHODS,
                       help="how structures are chosen after the flat histogram (kernel_cur)")
    model.add_argument("--stochastic", action="store_true", default=None,
                       help="CUR draws by leverage instead of taking the largest")
    model.add_argument("--center", action="store_true", default=None,
                       help="CUR on the centred kernel")
    model.add_argument("--label-lowest", action="store_true", default=None,
                       help="also train on the reference's check of each iteration's "
                       "lowest GAP minimum")
    model.add_argument("--lowest-kinds", type=int, metavar="K",
                       help="with --label-lowest, label the lowest minimum of each of the K "
                       "lowest kinds (formula and space group) of minimum (1)")
    relax = run.add_argument_group("relaxations and time limits")
    relax.add_argument("--fmax", type=float, help="relaxation convergence [eV/Å] (0.01)")
    relax.add_argument("--max-steps", type=int, help="relaxation step cap (300)")
    relax.add_argument("--optimiser", choices=OPTIMISERS,
                       help="relaxation optimiser (fire; precon-lbfgs is the paper's)")
    relax.add_argument("--engine", choices=ENGINES,
                       help="what evaluates the GAP in relaxations (native where torch "
                       "is installed: many cells at once, about 10x quippy's speed; "
                       "quippy: the authors' code, the same numbers)")
    relax.add_argument("--reference-timeout", type=float, metavar="SECONDS",
                       help="stop a reference calculation after this long and record it as "
                       "failed (default: 600 s for toy and surrogate references, none for DFT)")
    relax.add_argument("--relax-timeout", type=float, metavar="SECONDS",
                       help="stop a GAP relaxation after this long (default: no limit)")


def _formulas(text: str):
    """``--composition``: one formula, or several separated by commas (a list)."""
    formulas = [f.strip() for f in text.split(",") if f.strip()]
    return formulas if len(formulas) > 1 else text.strip()


def _radius(text: str):
    """``--radius``: a number [Å], or ``El=r,El=r`` for the elements of a composition."""
    try:
        if "=" not in text:
            return float(text)
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return {element.strip(): float(value) for element, value in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a radius in Å (1.11) nor radii by element "
            "(Si=1.11,C=0.76)") from None
