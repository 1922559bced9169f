"""Command line: ``gapexplore run`` (a resumable exploration), ``status``, ``results``, ``check``,
``export`` and ``demo``.

``gapexplore run RUN --element Si ...`` starts a run in the folder RUN, or continues the
run already there from its first unfinished step. ``gapexplore demo`` is a complete small
exploration of silicon with the Stillinger–Weber toy reference (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from gapexplore.check import CheckSettings, check_run
from gapexplore.cli.demos import DEMO, DEMO_SIC, DEMOS
from gapexplore.cli.parser import _FIELD_OPTIONS, _SETTING_OPTIONS, _WHERE_KEYS, _parser
from gapexplore.cli.parser import _formulas as _formulas  # re-exported
from gapexplore.cli.parser import _radius as _radius  # re-exported
from gapexplore.core.errors import GapExploreError, InvalidParameterError
from gapexplore.core.parallel import local_dask_cluster
from gapexplore.export import check_summary, export_run, run_report, write_check_html
from gapexplore.label import default_reference
from gapexplore.relax import status_kind
from gapexplore.run import Explorer, ExploreSettings
from gapexplore.run.plan import reference_call_cost, reference_kind, run_plan
from gapexplore.run.reader import RunReader, holds_run, read_settings
from gapexplore.run.results import rank_run
from gapexplore.run.selection import flat_form
from gapexplore.run.settings import read_toml
from gapexplore.validate import HELD_OUT_STRUCTURES, KNOWN_STRUCTURES, structure_table

__all__ = ["DEMO", "DEMO_SIC", "DEMOS", "main"]


def _settings(args: argparse.Namespace, config: dict | None = None) -> ExploreSettings | None:
    """The settings asked for: for a new run, from the options; for the run in the folder,
    its stored settings with the options given applied (:class:`Explorer` accepts a change
    of stop criteria only, and stores it once it holds the folder); None when no option
    is given for an existing run. ``config``: the settings file's fields, when it has been
    read already (:func:`_config`)."""
    given = dict(config if config is not None
                 else _config(args.config)[0] if getattr(args, "config", None) else {})
    given |= {field: tuple(value) if isinstance(value, list) else value
              for option, field in _SETTING_OPTIONS.items()
              if (value := getattr(args, option, None)) is not None}
    for name in ("optimiser", "engine"):   # fields of the relax table
        if getattr(args, name, None) is not None:
            given["relax"] = {**given.get("relax", {}), name: getattr(args, name)}
    stored = read_settings(args.folder)
    if stored is None:
        return ExploreSettings(**given)
    if not given:
        return None
    if "relax" in given:
        given["relax"] = stored.relax.to_dict() | given["relax"]
    return ExploreSettings.from_dict(stored.to_dict() | flat_form(given))


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


def _config(path: Path) -> tuple[dict, dict]:
    """A TOML settings file, read once: its ExploreSettings fields (e.g. ``element = "C"``,
    ``n_select = 50``), and where the work runs (``dask_workers``, ``scheduler``)."""
    try:
        values = read_toml(path.read_text(), source=str(path), also=_WHERE_KEYS)
    except OSError as error:
        raise GapExploreError(f"Cannot read the settings file {path}: {error}") from None
    except InvalidParameterError as error:
        if error.parameter != "text":   # a name that is not a setting
            raise
        raise GapExploreError(f"Cannot read the settings file {path}: {error.got}") from None
    return ({k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
             if k not in _WHERE_KEYS}, {k: values[k] for k in _WHERE_KEYS if k in values})


def _print_results(found: list, folder: Path, finished: bool = False) -> None:
    if not found and finished:
        print(f"gapexplore: {folder}: the run has finished and no GAP relaxation converged, so "
              "there is nothing to rank (a larger --max-steps or --fmax, or more iterations, "
              "would give some).")
        return
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
    try:
        with _current_folder_on_path():
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


@contextlib.contextmanager
def _current_folder_on_path():
    """Look for ``--reference module:function`` modules in the current folder first, as
    ``python -m`` and uvicorn do, here and in the worker processes (which read
    ``PYTHONPATH``), while the command runs; both are as they were afterwards (``main``
    may be called from Python)."""
    here = os.getcwd()
    path, variable = list(sys.path), os.environ.get("PYTHONPATH")
    if here not in sys.path:
        sys.path.insert(0, here)
    paths = (variable or "").split(os.pathsep)
    if here not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([here] + [p for p in paths if p])
    try:
        yield
    finally:
        sys.path[:] = path
        if variable is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = variable


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
    _print_results(rank_run(explorer, top=args.top, verify_top=verify), args.folder,
                   finished=explorer.finished())
    return 0


def _default_verify(explorer: RunReader) -> int:
    """3 with a toy or surrogate reference; 0 with DFT, with a word on what 3 would cost."""
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
    return RunReader(folder, where="this command")


def _run(args: argparse.Namespace) -> int:
    """``run`` and ``demo``: start or continue a run, one line per step."""
    if args.command == "demo":
        values, folder = DEMOS[args.system]
        args.folder = args.folder or folder
        settings = None if holds_run(args.folder) else ExploreSettings(**values)
    else:
        config, where = _config(args.config) if args.config else ({}, {})
        if not (args.dask_workers or args.scheduler):   # flags win over the file
            args.dask_workers = where.get("dask_workers")
            args.scheduler = where.get("scheduler")
        settings = _settings(args, config)
    new = not holds_run(args.folder)
    start = time.perf_counter()
    with _executor(args) as executor:
        if not args.quiet:   # the memory model before each fit
            logging.getLogger("gapexplore.fit").setLevel(logging.INFO)
        explorer = Explorer(args.folder, settings, n_jobs=args.jobs, executor=executor,
                            progress=not args.quiet, gap_fit=args.gap_fit)
        if new and not args.quiet:
            print(run_plan(explorer.settings, args.dask_workers or explorer.n_jobs),
                  flush=True)
        if not args.quiet and not explorer.finished():
            print(f"gapexplore: {'started' if new else 'continuing'} {args.folder}",
                  flush=True)
            _starting(explorer)
        for iteration, step in explorer.irun():
            if not args.quiet:
                seconds = explorer.state.iterations[iteration].seconds[step]
                print(f"iteration {iteration}: {step} done ({seconds:.1f} s)", flush=True)
                if not explorer.finished():
                    _starting(explorer)
    _report(explorer, time.perf_counter() - start)
    return 0


def _starting(explorer: Explorer) -> None:
    """The step about to run, the moment it starts (a long one shows no bar of its own)."""
    print(f"iteration {explorer.iteration}: {explorer.next_step} ...", flush=True)


_COMMANDS = {"status": _status, "results": _results, "check": _check, "export": _export}


if __name__ == "__main__":
    sys.exit(main())
