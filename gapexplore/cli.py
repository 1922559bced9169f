"""Command line: ``gapexplore run`` (a resumable exploration), ``status``, ``results``, ``check``,
``export`` and ``demo``.

``gapexplore run RUN --element Si ...`` starts a run in the folder RUN, or continues the
run already there from its first unfinished step. ``gapexplore demo`` is a complete small
exploration of silicon with the Stillinger–Weber toy reference (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from gapexplore.check import CheckSettings, check_run
from gapexplore.core.chemistry import BONDING_KINDS
from gapexplore.core.errors import GapExploreError, InvalidParameterError
from gapexplore.core.parallel import local_dask_cluster
from gapexplore.export import check_summary, export_run, run_report, write_check_html
from gapexplore.label import default_reference
from gapexplore.relax import OPTIMISERS, status_kind
from gapexplore.run import Explorer, ExploreSettings
from gapexplore.run.reader import RunReader
from gapexplore.run.settings import SOAP_PRESETS
from gapexplore.run.store import RunStore
from gapexplore.select import METHODS

#: The demo: small enough for a laptop, large enough to see the loop learn. Both demos relax
#: with the paper's optimiser, with which their figures in the README were measured (runs
#: default to FIRE, measured faster since).
DEMO = dict(element="Si", n_candidates=24, n_atoms=(4, 8), n_select=16, max_iterations=4,
            gap="light", relax_fmax=0.05, relax_max_steps=100,
            validate=("diamond", "beta-tin"), relax={"optimiser": "precon-lbfgs"})
#: The binary demo: SiC with Tersoff's Si–C potential, its polytypes as learning curves.
#: 64 relaxations an iteration and ``label_lowest``: the polytypes come right only once the
#: search has reached the ground state and that cell is labelled; 4–6-atom cells (four
#: atoms in 4 cells of 5), since only 4-atom cells relax there often (README, the SiC demo).
DEMO_SIC = dict(composition="SiC", reference="tersoff-sic", n_candidates=64, n_atoms=(4, 6),
                n_select=16, max_iterations=16, label_lowest=True, gap="light",
                relax_fmax=0.05, relax_max_steps=100, validate=("3C", "2H", "4H", "rocksalt"),
                relax={"optimiser": "precon-lbfgs"})
#: The demos by ``gapexplore demo --system``, with their default folders.
DEMOS = {"si": (DEMO, Path("runs/demo")), "sic": (DEMO_SIC, Path("runs/demo-sic"))}

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
    from gapexplore import __version__

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
                       help="selection SOAP (paper; paper-quip: the paper's settings computed "
                       "by QUIP, the authors' code, about 8× the cost)")
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
    relax.add_argument("--reference-timeout", type=float, metavar="SECONDS",
                       help="stop a reference calculation after this long and record it as "
                       "failed (default: 600 s for toy and surrogate references, none for DFT)")
    relax.add_argument("--relax-timeout", type=float, metavar="SECONDS",
                       help="stop a GAP relaxation after this long (default: no limit)")


def _settings(args: argparse.Namespace) -> ExploreSettings | None:
    """The settings asked for: for a new run, from the options; for the run in the folder,
    its stored settings with the options given applied (:class:`Explorer` accepts a change
    of stop criteria only, and stores it once it holds the folder); None when no option
    is given for an existing run."""
    given = _config(args.config) if args.config else {}
    given |= {field: tuple(value) if isinstance(value, list) else value
              for option, field in _SETTING_OPTIONS.items()
              if (value := getattr(args, option, None)) is not None}
    if getattr(args, "optimiser", None) is not None:  # a field of the relax table
        given["relax"] = {**given.get("relax", {}), "optimiser": args.optimiser}
    stored = RunStore(args.folder).read_json("settings.json")
    if stored is None:
        return ExploreSettings(**given)
    if not given:
        return None
    if not isinstance(stored, dict):
        return None  # Explorer says what is wrong with the file
    merged = stored | given
    if "relax" in given and isinstance(stored.get("relax"), dict):
        merged["relax"] = stored["relax"] | given["relax"]
    return ExploreSettings.from_dict(merged)


@contextlib.contextmanager
def _executor(args: argparse.Namespace):
    """None (the local process pool), or the executor of a Dask client for the run."""
    if not (args.dask_workers or args.scheduler):
        yield None
        return
    try:
        from dask.distributed import Client
    except ImportError:
        raise GapExploreError("Dask is not installed: pip install 'dask[distributed]'.") \
            from None
    logging.getLogger("distributed").setLevel(logging.WARNING)   # not its INFO lines
    if args.dask_workers:
        cluster, client = local_dask_cluster(args.dask_workers)
    else:
        cluster = None
        try:
            client = Client(args.scheduler, timeout="20s")
        except OSError as error:
            raise GapExploreError(f"No Dask scheduler answers at {args.scheduler}: {error}. "
                                  "Start one (dask scheduler) or check the address.") from None
    print(f"gapexplore: Dask cluster with {len(client.scheduler_info()['workers'])} workers"
          + (f", dashboard {client.dashboard_link}" if client.dashboard_link else ""))
    try:
        yield client.get_executor()
    except Exception as error:
        if args.scheduler and client.status != "running":
            raise GapExploreError(
                f"Lost the Dask scheduler at {args.scheduler} ({type(error).__name__}: "
                f"{error}). Everything finished so far is kept in {args.folder}: start a "
                "scheduler and workers again and rerun the same command to continue.") \
                from None
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


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


def _config(path: Path) -> dict:
    """ExploreSettings fields from a TOML file (e.g. ``element = "C"``, ``n_select = 50``)."""
    import tomllib

    try:
        values = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise GapExploreError(f"Cannot read the settings file {path}: {error}") from None
    fields = {f.name for f in dataclasses.fields(ExploreSettings)}
    unknown = sorted(set(values) - fields - _WHERE_KEYS)
    if unknown:
        raise GapExploreError(f"Unknown settings in {path}: {', '.join(unknown)}. Known: "
                              f"{', '.join(sorted(fields))}.")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
            if k not in _WHERE_KEYS}


def _where_from_config(args: argparse.Namespace) -> None:
    """Take ``dask_workers`` / ``scheduler`` from the settings file unless given as flags."""
    if getattr(args, "config", None) is None or args.dask_workers or args.scheduler:
        return
    import tomllib

    try:
        values = tomllib.loads(args.config.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return  # _config reports it
    args.dask_workers = values.get("dask_workers")
    args.scheduler = values.get("scheduler")


def _print_results(found: list, folder: Path) -> None:
    if not found:
        print(f"gapexplore: {folder}: no converged relaxation yet (iteration 1 relaxes).")
        return
    print(f"{'rank':>4}  {'formula':>8}  {'space group':>16}  {'V [Å³/at]':>9}  "
          f"{'E_GAP [eV/at]':>13}  {'ΔE [meV/at]':>11}  {'E_ref [eV/at]':>13}  "
          f"{'found':>5}  first")
    for rank, item in enumerate(found, start=1):
        reference = (f"{item.reference:.4f}" if item.reference is not None
                     else status_kind(item.reference_status) if item.reference_status
                     else "-")
        print(f"{rank:>4}  {item.atoms.get_chemical_formula():>8}  {item.spacegroup:>16}  "
              f"{item.volume:9.2f}  {item.energy:13.4f}  {1000 * item.above_hull:11.1f}"
              f"  {reference:>13}  {item.count:>5}  {item.first_iteration:>5}"
              + (f"  = #{item.same_as} to the reference" if item.same_as else ""))
    print("(ΔE: GAP energy above the lowest; across compositions, above the hull of the "
          "minima's formation energies; E_ref: the reference's energy after relaxing the "
          "structure itself; '= #N to the reference': the reference relaxes it into "
          "structure N, same space group and energy within 1 meV/atom)")
    print(f"gapexplore: ranked structures in {folder / 'results'} (ranked.xyz, ranked.csv, "
          "one CIF each)")


def _report(explorer, seconds: float | None = None) -> None:
    print(run_report(explorer, seconds))


def main(argv=None) -> int:
    """Entry point of the ``gapexplore`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _current_folder_on_path()
    try:
        return _COMMANDS.get(args.command, _run)(args)
    except GapExploreError as error:
        if args.traceback:
            traceback.print_exc()
        print(f"gapexplore: error: {_for_the_command_line(error, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gapexplore: interrupted; everything finished so far is kept in "
              f"{getattr(args, 'folder', 'the run folder')}: run the same command again to "
              "continue.", file=sys.stderr)
        return 130
    except Exception as error:   # a bug, or an error of a package below: say it plainly
        if args.traceback:
            traceback.print_exc()
        print(f"gapexplore: error: {type(error).__name__}: {error}", file=sys.stderr)
        if not args.traceback:
            print("gapexplore: to see the full traceback, run the same command with -T: "
                  f"gapexplore -T {' '.join(sys.argv[1:] if argv is None else argv)}",
                  file=sys.stderr)
        return 1


def _current_folder_on_path() -> None:
    """Look for ``--reference module:function`` modules in the current folder first, as
    ``python -m`` and uvicorn do, here and in the worker processes (which read
    ``PYTHONPATH``)."""
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if here not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([here] + [p for p in paths if p])


def _for_the_command_line(error: GapExploreError, args: argparse.Namespace) -> str:
    """The error as a user of the command line reads it: an ExploreSettings field that
    came from a flag is named by that flag, one from the settings file by its key there."""
    if not isinstance(error, InvalidParameterError) \
            or error.where not in ("ExploreSettings", "Explorer"):
        return str(error)
    option = _FIELD_OPTIONS.get(error.parameter, {"n_jobs": "jobs"}.get(error.parameter))
    if option is not None and getattr(args, option, None) is not None:
        name = "--" + option.replace("_", "-")
    elif getattr(args, "config", None) is not None:
        name = f"{error.parameter!r} in {args.config}"
    else:
        return str(error)
    return f"{name} must be {error.allowed}. Got {error.got!r} instead."


def _status(args: argparse.Namespace) -> int:
    _report(_open(args.folder))
    return 0


def _results(args: argparse.Namespace) -> int:
    explorer = _open(args.folder)
    verify = args.verify
    if verify is None:
        verify = _default_verify(explorer)
    _print_results(explorer.results(top=args.top, verify=verify), args.folder)
    return 0


def _default_verify(explorer: RunReader) -> int:
    """3 with a toy or surrogate reference; 0 with DFT, with a word on what 3 would cost."""
    from gapexplore.run.plan import reference_call_cost, reference_kind

    name = explorer.settings.reference or default_reference(explorer.chemistry)
    if reference_kind(name) != "dft":
        return 3
    lo, hi = explorer.settings.n_atoms if not isinstance(explorer.settings.n_atoms, int) \
        else (explorer.settings.n_atoms,) * 2
    minutes = 3 * 100 * reference_call_cost(name, (lo + hi) / 2) / 60
    print(f"gapexplore: {name} is a DFT reference: relaxing the 3 lowest structures with it "
          f"would take roughly {minutes:.0f} min (about 100 DFT calls each); ask for it with "
          "--verify 3. Ranking with the GAP only.")
    return 0


def _check(args: argparse.Namespace) -> int:
    explorer = _open(args.folder)
    settings = CheckSettings(
        top=args.top, md_structures=args.md_structures,
        temperatures=tuple(args.temperatures), md_steps=args.md_steps,
        nve_steps=args.nve_steps, supercell=tuple(args.supercell),
        spot_checks=args.spot_checks, seed=args.seed)
    if not args.yes and not _check_is_cheap(explorer, settings):
        return 0
    report = check_run(args.folder, settings)
    page = write_check_html(report, args.folder / "check" / "report.html")
    print(check_summary(report))
    print(f"gapexplore: the numbers are in {page.parent / 'check.json'}, the report in {page}")
    return 0


def _check_is_cheap(explorer: RunReader, settings: CheckSettings) -> bool:
    """True with a toy or surrogate reference. With DFT, print what the check would cost
    (its reference calculations: relaxations of the known phases, the energy–volume points,
    the MD spot checks) and return False: the user asks again with --yes."""
    from gapexplore.run.plan import reference_call_cost, reference_kind
    from gapexplore.validate import HELD_OUT_STRUCTURES, KNOWN_STRUCTURES, structure_table

    name = explorer.settings.reference or default_reference(explorer.chemistry)
    if reference_kind(name) != "dft":
        return True
    phases = sum(len(structure_table(table, c)) for table in (KNOWN_STRUCTURES,
                 HELD_OUT_STRUCTURES) for c in explorer.settings.compositions())
    calls = (phases * (50 + len(settings.scales)) + settings.top * len(settings.scales)
             + settings.md_structures * len(settings.temperatures) * settings.spot_checks)
    hours = calls * reference_call_cost(name, 8) / 3600
    print(f"gapexplore: check computes about {calls} reference calculations ({phases} known "
          f"and held-out phases relaxed and scaled, {settings.top} found structures scaled, "
          f"MD spot checks): with the DFT reference {name}, roughly {hours:.0f} h on one "
          "core. Nothing was run; add --yes to run it (or lower --top, --md-structures).")
    return False


def _export(args: argparse.Namespace) -> int:
    _open(args.folder)
    out = export_run(args.folder, args.destination)
    print(f"gapexplore: exported {args.folder} to {out}: "
          + ", ".join(sorted(p.name for p in out.iterdir() if ".sparseX." not in p.name)))
    return 0


def _open(folder: Path) -> RunReader:
    return RunReader(folder, where="FOLDER")


def _run(args: argparse.Namespace) -> int:
    """``run`` and ``demo``: start or continue a run, one line per step."""
    if args.command == "demo":
        values, folder = DEMOS[args.system]
        args.folder = args.folder or folder
        stored = (args.folder / "settings.json").exists()
        settings = None if stored else ExploreSettings(**values)
    else:
        _where_from_config(args)
        settings = _settings(args)
    new = not (args.folder / "settings.json").exists()
    start = time.perf_counter()
    with _executor(args) as executor:
        if not args.quiet:   # the memory model before each fit
            logging.getLogger("gapexplore.fit").setLevel(logging.INFO)
        explorer = Explorer(args.folder, settings, n_jobs=args.jobs, executor=executor,
                            progress=not args.quiet, gap_fit=args.gap_fit)
        if new and not args.quiet:
            from gapexplore.run.plan import run_plan

            print(run_plan(explorer.settings, args.dask_workers or explorer.n_jobs),
                  flush=True)
        if not args.quiet:
            print(f"gapexplore: {'started' if new else 'continuing'} {args.folder} at "
                  f"iteration {explorer.iteration}, step {explorer.next_step}", flush=True)
        for iteration, step in explorer.irun():
            if not args.quiet:
                seconds = explorer.state.iterations[iteration].seconds[step]
                print(f"iteration {iteration}: {step} done ({seconds:.1f} s)", flush=True)
    _report(explorer, time.perf_counter() - start)
    return 0


_COMMANDS = {"status": _status, "results": _results, "check": _check, "export": _export}


if __name__ == "__main__":
    sys.exit(main())
