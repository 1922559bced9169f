"""Widgets that run the loop: :class:`IterationControls` (kT, candidates and selected
structures of the next iteration, and the button that runs it) and :class:`Dashboard` (a
run at a glance; with its controls when it is given the run's
:class:`~gapexplore.run.Explorer`, read-only when given a folder or a
:class:`~gapexplore.run.reader.RunReader`)."""

from __future__ import annotations

import html
import logging
import traceback

import ipywidgets as w

from gapexplore.analysis import hull_problem
from gapexplore.core import keys
from gapexplore.run.explorer import Explorer
from gapexplore.run.reader import RunReader, RunView
from gapexplore.run.results import rank_run
from gapexplore.widgets.views import (
    ConvexHullView,
    LearningCurves,
    ResultsTable,
    StructureInspector,
    StructureMap,
)

__all__ = ["Dashboard", "IterationControls"]

log = logging.getLogger(__name__)

_STEP_WORDS = {"generate": "generating random cells", "relax": "relaxing with the GAP",
               "select": "selecting (flat histogram + CUR)",
               "label": "labelling with the reference", "fit": "fitting the GAP"}



class IterationControls(w.VBox):
    """Run an :class:`~gapexplore.run.Explorer` one iteration at a time from widgets.

    kT [eV], candidates per iteration and structures selected per iteration start at the
    run's settings (the paper's schedule for kT) and can be changed between iterations;
    the values an iteration used are recorded in ``state.json``. Values are checked before
    anything runs, and an error inside a step is shown, not raised (the run folder keeps
    the finished steps: the button carries on from there).

    Parameters
    ----------
    explorer : Explorer
        The run to drive.

    Attributes
    ----------
    kT, n_candidates, n_select : ipywidgets
        The controls of the next iteration.
    run_button : ipywidgets.Button
        Runs the next iteration (:meth:`run_next`).
    """

    def __init__(self, explorer, **kwargs):
        self.explorer = explorer
        style = {"description_width": "14em"}
        self.kT = w.BoundedFloatText(min=0.001, max=10.0, step=0.05, style=style,
                                     description="kT of the histogram (eV)")
        self.n_candidates = w.BoundedIntText(min=1, max=10**7, style=style,
                                             value=explorer.n_candidates,
                                             description="random cells per iteration")
        self.n_select = w.BoundedIntText(min=1, max=10**6, style=style,
                                         value=explorer.n_select,
                                         description="structures labelled per iteration")
        self.run_button = w.Button(description="Run next iteration", button_style="primary",
                                   icon="play")
        self.progress = w.IntProgress(min=0, max=len(explorer.steps()), value=0,
                                      description="steps")
        self.status = w.HTML()
        for widget, name in ((self.kT, "gx-kT"), (self.n_candidates, "gx-n-candidates"),
                             (self.n_select, "gx-n-select"), (self.run_button, "gx-run"),
                             (self.status, "gx-status"), (self.progress, "gx-progress")):
            widget.add_class(name)
        self._callbacks = []
        self._kt_chosen = explorer.kT is not None
        self._setting_kt = False
        self._show_schedule()
        self.kT.observe(self._kt_changed, names="value")
        self.run_button.on_click(lambda _: self.run_next())
        super().__init__([self.kT, self.n_candidates, self.n_select,
                          w.HBox([self.run_button, self.progress]), self.status], **kwargs)
        self.add_class("gx-controls")
        self._say(self._where())

    def on_iteration(self, callback) -> None:
        """Call ``callback(record)`` after each iteration run here (its
        :class:`~gapexplore.run.state.IterationRecord`)."""
        self._callbacks.append(callback)

    def run_next(self):
        """Run the next iteration with the controls' values; its record, or None on error."""
        explorer = self.explorer
        problem = self._check()
        if problem:
            self._say(problem, error=True)
            return None
        if explorer.finished():
            self._say(f"The run is finished ({self._where()}); raise its max_labels or "
                      "max_iterations in a new run to go on.", error=True)
            return None
        explorer.n_candidates = self.n_candidates.value
        explorer.n_select = self.n_select.value
        explorer.kT = float(self.kT.value) if self._kt_chosen else None
        iteration = explorer.iteration
        steps = explorer.steps()
        self.run_button.disabled = True
        self.progress.max = len(steps)
        self.progress.value = sum(s in explorer.state.done for s in steps)
        try:
            self._say(f"Iteration {iteration}: {_STEP_WORDS[explorer.next_step]}…")
            for _ in explorer.irun(1):
                self.progress.value += 1
                if explorer.iteration == iteration:
                    self._say(f"Iteration {iteration}: {_STEP_WORDS[explorer.next_step]}…")
        except Exception as error:  # shown to the user; the finished steps are kept
            log.exception("iteration %d failed", iteration)
            self._say(f"Iteration {iteration} stopped: {type(error).__name__}: {error}. "
                      "Fix the cause and press the button again to carry on.", error=True)
            self._say_more(traceback.format_exc(limit=3))
            return None
        finally:
            self.run_button.disabled = False
        record = explorer.state.iterations[iteration]
        self._show_schedule()
        self._say(f"Iteration {iteration} finished: {record.selected or 0} selected, "
                  f"{explorer.n_labels} labels in the database. "
                  + self._where())
        for callback in self._callbacks:
            callback(record)
        return record

    # --- helpers --------------------------------------------------------------------------
    def _check(self) -> str | None:
        if self.n_select.value > self.n_candidates.value:
            return (f"Structures labelled per iteration ({self.n_select.value}) cannot exceed "
                    f"the random cells per iteration ({self.n_candidates.value}): lower it or "
                    "raise the number of cells.")
        return None

    def _where(self) -> str:
        e = self.explorer
        kT = "kT not used (random cells)" if e.iteration == 0 else f"kT {self.kT.value:g} eV"
        return (f"Next: iteration {e.iteration} with {self.n_candidates.value} cells, "
                f"{self.n_select.value} to label, {kT}.")

    def _show_schedule(self) -> None:
        if self._kt_chosen:
            return
        self._setting_kt = True
        self.kT.value = self.explorer.settings.kt_for(max(self.explorer.iteration, 1))
        self._setting_kt = False

    def _kt_changed(self, change) -> None:
        if not self._setting_kt:
            self._kt_chosen = True

    def _say(self, text: str, error: bool = False) -> None:
        colour = "#b00020" if error else "inherit"
        self.status.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"

    def _say_more(self, text: str) -> None:
        self.status.value += f"<pre style='font-size:80%'>{html.escape(text)}</pre>"


class Dashboard(w.VBox):
    """One run at a glance: controls, learning curves, the latest selection in 3D, the
    distinct minima found so far (ranked by the newest GAP), for a binary or ternary run
    across compositions the formation-energy hull (:class:`ConvexHullView`), the map.

    Parameters
    ----------
    run : Explorer, RunReader, str or pathlib.Path
        The run. Its :class:`~gapexplore.run.Explorer` (new or reopened) adds the controls
        that run the next iteration; a folder or a
        :class:`~gapexplore.run.reader.RunReader` shows it read-only, never locking or
        writing it, so it can follow a run that ``gapexplore run`` is running (each
        :meth:`refresh` reads the folder again).
    structure_map : bool
        Show the kernel-PCA map of the labelled database (its SOAP costs about 10 ms per
        structure).
    """

    def __init__(self, run, *, structure_map: bool = True, **kwargs):
        if not isinstance(run, RunView):
            run = RunReader(run, where="Dashboard")
        self.run = run
        self.controls = IterationControls(run) if isinstance(run, Explorer) else None
        self.curves = LearningCurves(run.store)
        self.inspector = StructureInspector(title="Selected in the last iteration")
        self.results = ResultsTable([], inspector=self.inspector)
        self.results_box = w.VBox()
        self.show_map = structure_map
        self.map_box = w.VBox()
        self.hull_box = w.VBox()
        if self.controls is not None:
            self.controls.on_iteration(lambda record: self.refresh())
        parts = [self.curves, self.inspector, self.results_box, self.hull_box, self.map_box]
        super().__init__(parts if self.controls is None else [self.controls, *parts],
                         **kwargs)
        self.add_class("gx-dashboard")
        self.refresh()

    def refresh(self) -> None:
        """Redraw the plots and views from the run folder (read again when read-only)."""
        if isinstance(self.run, RunReader):
            self.run = RunReader(self.run.store.root, where="Dashboard")
        run = self.run
        self.curves.refresh()
        labels = run.store.labels()
        if labels:
            last = max(a.info[keys.ITERATION] for a in labels)
            latest = [a for a in labels if a.info[keys.ITERATION] == last and a.pbc.all()]
            self.inspector.set_structures(
                latest, title=f"Labelled in iteration {last}")
        if run.potential is not None and any(r.lowest for r in run.state.iterations):
            self.results.set_results(rank_run(run, top=10, write=False))
            self.results_box.children = [w.HTML(
                "<b>Found so far</b>: the distinct minima of the search, ranked by the "
                "newest GAP; choose one to see it above."), self.results]
        periodic = [a for a in labels if a.pbc.all()]
        if (len(run.settings.compositions()) > 1 and periodic
                and hull_problem(periodic) is None and run.potential is not None):
            if not self.hull_box.children:
                self.hull = ConvexHullView(periodic, potential=run.potential,
                                           inspector=self.inspector)
                self.hull_box.children = [w.HTML(
                    "<b>Convex hull</b> of the labelled cells' formation energies, by the "
                    "reference and by the newest GAP: pick points to see them above."),
                    self.hull]
            else:
                self.hull.set_structures(periodic, potential=run.potential)
        if self.show_map and len(periodic) >= 3:
            if not self.map_box.children:
                self.map = StructureMap(periodic, inspector=self.inspector)
                self.map_box.children = [w.HTML("<b>Structure map</b> of the labelled "
                                                "database (paper Fig. 5): pick points to "
                                                "see them above."), self.map]
            else:
                self.map.set_structures(periodic)
