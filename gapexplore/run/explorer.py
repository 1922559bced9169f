"""The exploration engine: the paper's Fig. 1 loop, step by step, on disk, resumable.

Iteration 0: random cells (half wide, half narrow volume range) -> averaged-SOAP kernel CUR
-> reference labels for the chosen cells, the dimers and the isolated atom -> GAP_0.
Iteration k >= 1: new random cells (narrow range) -> enthalpy minimisation with GAP_{k-1}
at random pressures, every frame kept -> Boltzmann-biased flat histogram (kT 0.3, 0.2,
then 0.1 eV) -> kernel CUR, with the labelled database counted as already chosen ->
reference labels -> GAP_k refitted on everything labelled so far.
The run stops when the database holds ``max_labels`` labels (paper: 2,500) or after
``max_iterations`` iterations.

The step machine lives here; the steps themselves in :mod:`gapexplore.run.steps`. Every
step writes its result to the run folder (:mod:`gapexplore.run.store`) before it counts
as done, and every random draw comes from a generator seeded by (seed, iteration, step):
an interrupted run, opened again, carries on from the first unfinished step with the same
results it would have had, and a reference calculation stored once is never repeated.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

import numpy as np
from ase import Atoms

from gapexplore.core.checks import check_int, check_real, fail
from gapexplore.core.errors import GapExploreError
from gapexplore.fit import find_gap_fit
from gapexplore.label import as_reference, default_reference
from gapexplore.run.reader import (
    RunView,
    read_settings,
    with_optimiser_of_its_version,
)
from gapexplore.run.results import rank_run
from gapexplore.run.settings import ExploreSettings
from gapexplore.run.state import IterationRecord
from gapexplore.run.steps import STEPS, Steps
from gapexplore.run.store import RunStore

__all__ = ["Explorer", "STEPS"]

log = logging.getLogger(__name__)



class _Control:
    """A control of the next iteration: kept in ``state.json`` (``controls``) the moment it
    is set; unset, the settings' value (for kT, None: the settings' schedule)."""

    def __init__(self, doc: str):
        self.__doc__ = doc

    def __set_name__(self, owner, name: str):
        self.name = name

    def __get__(self, explorer, owner=None):
        if explorer is None:
            return self
        value = getattr(explorer.state.controls, self.name)
        if value is None and self.name != "kT":
            settings = explorer.settings
            if self.name == "n_candidates" and explorer.iteration == 0 \
                    and settings.n_initial is not None:
                return settings.n_initial
            return settings.selection.n_select if self.name == "n_select" \
                else settings.n_candidates
        return value

    def __set__(self, explorer, value) -> None:
        if self.name == "kT":
            if value is not None:
                value = check_real(value, "kT", "Explorer", low=0.0, low_open=True)
        else:
            value = check_int(value, self.name, "Explorer", low=1)
        if value != self.__get__(explorer):
            with explorer._holding():
                setattr(explorer.state.controls, self.name, value)
                explorer.store.write_state(explorer.state)


class Explorer(Steps, RunView):
    """One GAP-RSS run in one folder, run step by step or to the end.

    Parameters
    ----------
    folder : str or pathlib.Path
        The run folder. If it holds a run, that run is opened and continues where it
        stopped; otherwise a new run starts there with ``settings``.
    settings : ExploreSettings, optional
        For a new run (default ``ExploreSettings()``). For an existing run, omit it, or
        give its settings with other stop criteria (:data:`STOP_CRITERIA`) or fit levers
        (:data:`~gapexplore.run.settings.FIT_LEVERS`), stored when the run next holds
        its folder. Nothing is written to ``folder`` until a step runs
        (or a control is set).
    reference : str, callable or ASE calculator, optional
        Overrides the toy reference (see :func:`gapexplore.label.label_structures`),
        e.g. a function returning a VASP or GPAW calculator. Not stored: give it again
        when reopening the run.
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where relaxations and labels run (a Dask client is used through its executor);
        default: the local cores (``n_jobs``).
    n_jobs : int, optional
        Local worker processes when no executor is given; default: all cores.
    progress : bool
        Progress bars for relaxations and labels.
    known : dict of str to ase.Atoms, optional
        Your own known structures to validate each GAP on, besides the named ones of
        ``settings.validate``; stored in ``known.xyz`` of the run folder, so a reopened run
        keeps them.
    gap_fit : str or list of str, optional
        Your own gap_fit command for the fits, e.g. an OpenMP build's path or
        ``"mpirun -np 16 /opt/quip/bin/gap_fit"`` (:func:`gapexplore.fit.find_gap_fit`;
        default ``$GAPEXPLORE_GAP_FIT``, else the wheel's). Like the executor, it says where
        the work runs, not what the run is: not stored, and checked before any step.

    Attributes
    ----------
    n_candidates, n_select, kT
        Controls of the next iteration (kT None: the schedule). Change them between
        iterations: they are kept in ``state.json`` (``controls``) at once, so the run
        opened again (a second ``gapexplore run``, a restarted notebook) goes on with them;
        the values each iteration used are recorded in its record.

    Raises
    ------
    GapExploreError
        Before anything is written: for settings other than those of the run in
        ``folder`` (only the stop criteria :data:`STOP_CRITERIA` and the fit's
        :data:`~gapexplore.run.settings.FIT_LEVERS` may change), a damaged or
        incomplete run folder (a file of a finished step missing, a damaged JSON file),
        or a reference that cannot be used. The folder is written only by the steps,
        holding its lock, so a refused call changes nothing.
    """

    def __init__(self, folder, settings: ExploreSettings | None = None, *, reference=None,
                 executor=None, n_jobs: int | None = None, progress: bool = False,
                 known: dict | None = None, gap_fit=None):
        self.store = RunStore(folder)
        self._pending: dict = {}  # files to write once the folder is held (see _holding)
        as_stored = read_settings(self.store)
        self.state = self.store.read_state()
        stored = as_stored is not None
        if stored:
            existing = with_optimiser_of_its_version(as_stored, self.state.schema)
            if settings is not None:
                if not isinstance(settings, ExploreSettings):
                    raise fail("settings", "Explorer", "an ExploreSettings", settings)
                settings = with_optimiser_of_its_version(settings, self.state.schema)
            if settings is not None and settings != existing:
                fixed = existing.fixed_changes(settings)
                if fixed:
                    raise GapExploreError(
                        f"{folder} holds a run with other settings ({', '.join(fixed)}); "
                        "continue it without them (only the stop criteria max_labels, "
                        "max_iterations, target_error and target_prediction_error may "
                        "change, and the fit's virials), or start a new folder.")
            else:
                settings = existing
            if settings != as_stored:
                self._pending["settings.json"] = settings
        else:
            settings = ExploreSettings() if settings is None else settings
            if not isinstance(settings, ExploreSettings):
                raise fail("settings", "Explorer", "an ExploreSettings", settings)
            self._pending["settings.json"] = settings
        self.settings = settings
        self.chemistry = settings.chemistry()
        if n_jobs is not None:
            check_int(n_jobs, "n_jobs", "Explorer", low=1)
        if reference is None:
            reference = settings.reference or default_reference(self.chemistry)
        self.reference = as_reference(reference, where="Explorer")
        if executor is not None and hasattr(executor, "get_executor"):  # a Dask Client
            executor = executor.get_executor()
        self.executor = executor
        self.n_jobs = 1 if executor is not None else (n_jobs or os.cpu_count() or 1)
        self.progress = progress
        if gap_fit is not None:
            try:
                find_gap_fit(gap_fit)
            except GapExploreError as error:
                raise fail("gap_fit", "Explorer", "a gap_fit command that exists",
                           str(error)) from None
        self.gap_fit = gap_fit
        if stored:
            lost = self.store.lost_files(self.state)
            if lost:
                raise GapExploreError(
                    f"The run in {self.store.root} has lost files of finished steps: "
                    f"{', '.join(lost)}. Restore them from a backup, or start a new folder (a "
                    "run whose labels are kept can be refitted from labels.db). Nothing was "
                    "changed.")
        if known:
            if not all(isinstance(a, Atoms) for a in known.values()):
                raise fail("known", "Explorer", "a dict of names to ase.Atoms", known)
            self._pending["known.xyz"] = dict(known)

    @contextlib.contextmanager
    def _holding(self):
        """Hold the run folder; the first time, write what the constructor accepted."""
        with self.store.lock():
            if "known.xyz" in self._pending:
                self.store.write_known(self._pending.pop("known.xyz"))
            if "settings.json" in self._pending:
                self.store.write_json("settings.json",
                                      self._pending.pop("settings.json").to_dict())
            yield

    # --- the controls of the next iteration (kept in state.json) ------------------------------
    n_candidates = _Control("Random cells of the next iteration (default: the settings' "
                            "``n_candidates``; in iteration 0 their ``n_initial`` if set).")
    n_select = _Control("Structures labelled in the next iteration (default: the settings' "
                        "``n_select``).")
    kT = _Control("The flat histogram's kT [eV] in the next iteration; None: the settings' "
                  "schedule.")

    # --- what the run found ------------------------------------------------------------------
    def results(self, top: int = 10, *, verify: int = 0, write: bool = True, **matcher):
        """The distinct low-energy structures the run found, ranked by its newest GAP, the
        first ``verify`` relaxed with the reference (kept in ``results/reference.json``:
        a second call computes only what is missing); see
        :func:`gapexplore.run.results.rank_run`, which ``gapexplore results`` also calls.

        Returns
        -------
        list of gapexplore.run.results.Found
            At most ``top``, lowest energy per atom first; with ``write``, also in
            ``results/`` (``ranked.xyz``, ``ranked.csv``, one CIF each).
        """
        with self._holding():
            return rank_run(self, top=top, verify_top=verify, write=write, **matcher)

    # --- the loop --------------------------------------------------------------------------
    def irun(self, iterations: int | None = None):
        """Run the loop one step at a time, as a generator (after ASE's ``Dynamics.irun``).

        Each ``next()`` does the next unfinished step and yields ``(iteration, step)``, the
        step just done; the run folder is held from the first step to the last. It stops
        when a stop criterion is met, or after at most ``iterations`` more iterations (an
        unfinished iteration counts as one). :meth:`run`, the widgets and the command line
        all run the loop through it::

            for iteration, step in explorer.irun():
                print(iteration, step, explorer.next_step)
        """
        if iterations is not None:
            check_int(iterations, "iterations", "Explorer.irun", low=0)
        with self._holding():
            done = 0
            while not self.finished() and (iterations is None or done < iterations):
                iteration = self.iteration
                while self.iteration == iteration:
                    yield iteration, self.step()
                done += 1

    def run(self, iterations: int | None = None) -> "Explorer":
        """Run iterations until a stop criterion is met, or at most ``iterations`` more
        (an unfinished iteration counts as one); returns self."""
        for _ in self.irun(iterations):
            pass
        return self

    def run_iteration(self) -> IterationRecord:
        """Finish the current iteration, stop criteria or not; return its record."""
        iteration = self.iteration
        with self._holding():
            while self.iteration == iteration:
                self.step()
        return self.state.iterations[iteration]

    def step(self) -> str:
        """Do the next unfinished step of the current iteration; return its name."""
        name = self.next_step
        getattr(self, name)()
        return name

    def _record(self) -> IterationRecord:
        records = self.state.iterations
        if len(records) <= self.iteration:
            kT = None if self.iteration == 0 else (
                self.kT if self.kT is not None else self.settings.kt_for(self.iteration))
            records.append(IterationRecord(self.iteration, self.n_candidates, self.n_select,
                                           kT))
        return records[self.iteration]

    def _done(self, step: str, *, carved: dict | None = None, **facts) -> None:
        """Record ``step`` as done with ``facts``; its wall time [s] goes under
        ``seconds``, less the parts timed on their own in ``carved`` (name -> s)."""
        record = self._record()
        record.record(facts)
        seconds = record.seconds
        elapsed = time.perf_counter() - self._started
        for name, value in (carved or {}).items():
            seconds[name] = round(value, 3)
            elapsed -= value
        seconds[step] = round(elapsed, 3)
        self.state.done.append(step)
        if step == "fit":
            self.state.iteration += 1
            self.state.done = []
        self.store.write_state(self.state)
        log.info("iteration %d: %s done %s", self.iteration, step, facts or "")

    def _rng(self, step: str) -> np.random.Generator:
        return np.random.default_rng([self.settings.seed, self.iteration, STEPS.index(step)])

