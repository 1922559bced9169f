"""The views of a run: structures in 3D (:class:`StructureInspector`), the kernel-PCA map
(:class:`StructureMap`) and the learning curves (:class:`LearningCurves`), each an
ipywidgets container; bokeh figures become widgets by :func:`figure_widget`."""

from __future__ import annotations

import html
import logging

import ipywidgets as w
import numpy as np
import spglib
from ase import Atoms

from gapexplore.analysis import (
    formation_energies,
    learning_curves,
    prediction_errors,
    structure_map,
)
from gapexplore.core import keys
from gapexplore.core.checks import check_structures, fail
from gapexplore.widgets.plots import hull_figure, learning_curve_figure, structure_map_figure

__all__ = ["LearningCurves", "ResultsTable", "StructureInspector", "StructureMap",
           "describe", "figure_widget"]

log = logging.getLogger(__name__)


def figure_widget(fig, css_class: str | None = None):
    """A bokeh figure (or layout) as an ipywidget (``jupyter_bokeh.BokehModel``), so that
    Python callbacks on its data (e.g. the selected points) run in the kernel.

    The first call in a kernel loads BokehJS into the page, inline (``output_notebook``
    with ``INLINE`` resources: no CDN, which an offline machine cannot reach).
    """
    from jupyter_bokeh import BokehModel

    _load_bokehjs()
    model = BokehModel(fig)
    if css_class:
        model.add_class(css_class)
    return model


_BOKEHJS_LOADED = []


def _load_bokehjs() -> None:
    if not _BOKEHJS_LOADED:
        from bokeh.io import output_notebook
        from bokeh.resources import INLINE

        output_notebook(INLINE, hide_banner=True)
        _BOKEHJS_LOADED.append(True)


def describe(atoms: Atoms) -> dict:
    """What the inspector shows beside a structure: labels to formatted values.

    Energies per atom [eV/atom], volume per atom [Å³/atom], pressure [GPa]; the space
    group is spglib's at a tolerance of 0.1 Å.
    """
    if not isinstance(atoms, Atoms):
        raise fail("atoms", "describe", "an ase.Atoms", type(atoms).__name__)
    n = len(atoms)
    info = atoms.info
    facts = {"formula": atoms.get_chemical_formula(), "atoms": str(n)}
    if atoms.pbc.all():
        facts["volume"] = f"{atoms.get_volume() / n:.2f} Å³/atom"
        cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
        facts["space group"] = spglib.get_spacegroup(cell, symprec=0.1) or "?"
    if keys.REF_ENERGY in info:
        facts["reference energy"] = f"{info[keys.REF_ENERGY] / n:.4f} eV/atom"
    if keys.GAP_ENERGY in info:
        facts["GAP energy"] = f"{info[keys.GAP_ENERGY] / n:.4f} eV/atom"
    if keys.ENTHALPY_PER_ATOM in info:
        facts["enthalpy"] = f"{info[keys.ENTHALPY_PER_ATOM]:.4f} eV/atom"
    if keys.PRESSURE in info:
        facts["pressure"] = f"{info[keys.PRESSURE]:.2f} GPa"
    for label, key in (("iteration", keys.ITERATION), ("id", keys.UID), ("kind", keys.CONFIG_TYPE),
                       ("relaxation", keys.RELAX_STATUS), ("label error", keys.LABEL_ERROR)):
        if key in info:
            facts[label] = str(info[key])
    if keys.SELECT_LEVERAGE in info and np.isfinite(info[keys.SELECT_LEVERAGE]):
        facts["CUR leverage"] = f"{info[keys.SELECT_LEVERAGE]:.3g}"
    return facts


def _table(facts: dict) -> str:
    rows = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                   f"<td>{html.escape(v)}</td></tr>" for k, v in facts.items())
    return f"<table>{rows}</table>"


class StructureInspector(w.VBox):
    """Browse structures in 3D (nglview, with the unit cell) and read their properties.

    Parameters
    ----------
    structures : list of ase.Atoms
        What to browse (may be empty and set later with :meth:`set_structures`).
    title : str
        Shown above the view.
    """

    def __init__(self, structures=(), *, title: str = "Structures", **kwargs):
        import nglview

        self.view = nglview.NGLWidget()
        self.view.layout.width = "420px"
        self.view.layout.height = "360px"
        self.title = w.HTML()
        self.index = w.IntSlider(min=0, max=0, description="structure",
                                 continuous_update=False)
        self.previous = w.Button(icon="arrow-left", tooltip="previous", layout={"width": "3em"})
        self.next = w.Button(icon="arrow-right", tooltip="next", layout={"width": "3em"})
        self.facts = w.HTML()
        self.previous.on_click(lambda _: self._step(-1))
        self.next.on_click(lambda _: self._step(+1))
        self.index.observe(lambda change: self.show(change["new"]), names="value")
        super().__init__([self.title, w.HBox([self.previous, self.index, self.next]),
                          w.HBox([self.view, self.facts])], **kwargs)
        self.add_class("gx-inspector")
        self.structures: list[Atoms] = []
        self._shown = None
        self.set_structures(structures, title=title)

    def set_structures(self, structures, *, title: str | None = None) -> None:
        """Browse ``structures`` (a list of ase.Atoms) from the first one."""
        structures = check_structures(structures, "structures", "StructureInspector")
        self.structures = structures
        if title is not None:
            self._title = title
        self.title.value = f"<b>{html.escape(self._title)}</b> ({len(structures)})"
        disabled = len(structures) < 2
        self.index.disabled = self.previous.disabled = self.next.disabled = disabled
        self.index.max = max(len(structures) - 1, 0)
        self._shown = None
        if self.index.value != 0:
            self.index.value = 0  # shows the first one through the observer
        else:
            self.show(0)

    def show(self, index: int) -> None:
        """Show structure ``index`` in the 3D view and its properties beside it."""
        import nglview

        if not self.structures:
            self._clear()
            self.facts.value = "<i>nothing to show yet</i>"
            return
        index = int(index) % len(self.structures)
        if index == self._shown:
            return
        atoms = self.structures[index]
        self._clear()
        self.view.add_structure(nglview.ASEStructure(atoms))
        if atoms.pbc.any():
            self.view.add_unitcell()
        self.view.center()
        self.facts.value = _table(describe(atoms))
        self._shown = index
        if self.index.value != index:
            self.index.value = index

    def _clear(self) -> None:
        for component in list(self.view._ngl_component_ids):
            self.view.remove_component(component)
        self._shown = None

    def _step(self, delta: int) -> None:
        if self.structures:
            self.show((self.index.value + delta) % len(self.structures))


class _LinkedPlot(w.VBox):
    """A bokeh plot of structures whose picked points (tap or box select on the source
    named ``source_name``) show in an inspector: the plot above, its own inspector below
    unless one is given."""

    where = "plot"          # "… picked on the <where>"
    css = "gx-plot"
    source_name = "points"

    def __init__(self, inspector: StructureInspector | None, **kwargs):
        own = inspector is None
        self.inspector = (StructureInspector(title=f"Picked on the {self.where}") if own
                          else inspector)
        self.box = w.Box()
        super().__init__([self.box] + ([self.inspector] if own else []), **kwargs)
        self.add_class(self.css)

    def _show(self, data, figure) -> None:
        """Show ``figure`` (of ``data``, whose ``structures`` its points are) and link it."""
        self.data, self.figure = data, figure
        self.source = figure.select_one({"name": self.source_name}).data_source
        self.source.selected.on_change("indices", self._picked)
        self.box.children = [figure_widget(figure, f"{self.css}-plot")]

    def pick(self, indices) -> None:
        """Show the structures at ``indices`` (positions of the points) in the inspector."""
        picked = [self.data.structures[i] for i in indices]
        if picked:
            self.inspector.set_structures(picked,
                                          title=f"{len(picked)} picked on the {self.where}")

    def _picked(self, attr, old, new) -> None:
        self.pick(new)


class StructureMap(_LinkedPlot):
    """The structure map (paper Fig. 5) as an interactive plot linked to an inspector.

    Parameters
    ----------
    structures : list of ase.Atoms
        Periodic structures, e.g. the labels of one or several runs
        (:func:`gapexplore.analysis.run_labels`).
    inspector : StructureInspector, optional
        Where picked points are shown; default: a new one below the map.
    marker_by : {"element", "iteration"}
        What the marker shape shows.
    n_jobs : int
        Processes for the SOAP of the map.
    """

    where, css, source_name = "map", "gx-map", "map"

    def __init__(self, structures, *, inspector: StructureInspector | None = None,
                 marker_by: str = "element", n_jobs: int = 1, **kwargs):
        self.marker_by = marker_by
        self.n_jobs = n_jobs
        super().__init__(inspector, **kwargs)
        self.set_structures(structures)

    def set_structures(self, structures) -> None:
        """Recompute the map for ``structures``."""
        data = structure_map(list(structures), n_jobs=self.n_jobs)
        self._show(data, structure_map_figure(data, marker_by=self.marker_by))


class ConvexHullView(_LinkedPlot):
    """The formation-energy convex hull of a binary or ternary database, reference and GAP,
    linked to an inspector: picking reference points shows those structures. A ternary
    hull is drawn on the composition triangle
    (:func:`gapexplore.widgets.plots.ternary_hull_figure`).

    Parameters
    ----------
    structures : list of ase.Atoms
        Labelled periodic structures of a run across compositions
        (:func:`gapexplore.analysis.run_labels`).
    potential : str, pathlib.Path or ASE calculator, optional
        The GAP to compare (e.g. ``explorer.potential``).
    inspector : StructureInspector, optional
        Where picked points are shown; default: a new one below the plot.
    """

    where, css, source_name = "hull", "gx-hull", "hull"

    def __init__(self, structures, *, potential=None,
                 inspector: StructureInspector | None = None, **kwargs):
        super().__init__(inspector, **kwargs)
        self.set_structures(structures, potential=potential)

    def set_structures(self, structures, *, potential=None) -> None:
        """Recompute the hull for ``structures`` (and ``potential``)."""
        data = formation_energies(list(structures), potential=potential)
        self._show(data, hull_figure(data))


class ResultsTable(w.VBox):
    """The ranked structures of a run (:meth:`Explorer.results
    <gapexplore.run.Explorer.results>`) as a table; choosing a row shows that structure
    in the 3D inspector.

    Parameters
    ----------
    found : list of gapexplore.run.results.Found
        The ranked structures, lowest first.
    inspector : StructureInspector, optional
        Where the chosen structure is shown; default: a new one below the table, which
        shows the first row at once. A shared inspector (e.g. a :class:`Dashboard`'s) is
        given the ranked structures only when a row is chosen.
    """

    _HEADER = ("rank", "space group", "formula", "V [Å³/at]", "E_GAP [eV/at]",
               "ΔE [meV/at]", "E_ref [eV/at]", "found", "from it.")

    def __init__(self, found, *, inspector: StructureInspector | None = None, **kwargs):
        own = inspector is None
        self.inspector = StructureInspector(title="Ranked structures") if own else inspector
        self._own = own
        self.header = w.HTML()
        self.rows = w.Select(rows=8, layout={"width": "760px"})
        self.rows.add_class("gx-results-rows")
        self.rows.observe(lambda change: self._chosen(change["new"]), names="index")
        super().__init__([self.header, self.rows] + ([self.inspector] if own else []),
                         **kwargs)
        self.add_class("gx-results")
        self.set_results(found)

    def set_results(self, found) -> None:
        """Show ``found`` (a list of Found, lowest first) from the first row."""
        self.found = list(found)
        widths = (4, 14, 8, 9, 13, 11, 13, 5, 8)
        self.header.value = (_MONOSPACE_ROWS + "<pre style='margin:0'>" + html.escape(" ".join(
            h.rjust(n) for h, n in zip(self._HEADER, widths))) + "</pre>")
        lines = []
        for rank, item in enumerate(self.found, start=1):
            ref = "-" if item.reference is None else f"{item.reference:.4f}"
            cells = (str(rank), item.spacegroup.split()[0], item.atoms.get_chemical_formula(),
                     f"{item.volume:.2f}", f"{item.energy:.4f}",
                     f"{1000 * item.above_hull:.1f}", ref, str(item.count),
                     str(item.first_iteration))
            lines.append(" ".join(c.rjust(n) for c, n in zip(cells, widths)))
        self._shown = [_shown(rank, item) for rank, item in enumerate(self.found, start=1)]
        self.rows.options = [(line.replace(" ", "\u00a0"), i) for i, line in enumerate(lines)]
        self.rows.index = None
        self._pushed = None      # the inspector's list when it last got these structures
        if self._own:
            self._push()
            if self.found:
                self.rows.index = 0

    def show(self, rank: int) -> None:
        """Choose the structure of ``rank`` (from 1) and show it in the inspector."""
        self.rows.index = int(rank) - 1

    def _chosen(self, index) -> None:
        if index is None or not self.found:
            return
        if self.inspector.structures is not self._pushed:
            self._push()
        self.inspector.show(index)

    def _push(self) -> None:
        self.inspector.set_structures(self._shown, title="Ranked structures")
        self._pushed = self.inspector.structures


#: The rows of a results table in a fixed-width font, so that its columns line up.
_MONOSPACE_ROWS = "<style>.gx-results-rows select {font-family: monospace;}</style>"


def _shown(rank: int, item) -> Atoms:
    """A ranked structure with what the inspector shows beside it."""
    atoms = item.atoms.copy()
    n = len(atoms)
    atoms.info.update({keys.GAP_ENERGY: item.energy * n, keys.ENTHALPY_PER_ATOM: item.enthalpy,
                       keys.PRESSURE: item.pressure, keys.ITERATION: item.first_iteration,
                       keys.UID: f"rank {rank} (found {item.count}×)"})
    if item.reference is not None:
        atoms.info[keys.REF_ENERGY] = item.reference * n
    return atoms


class LearningCurves(w.Box):
    """The learning curves of a run folder as a plot, redrawn by :meth:`refresh`: the
    known structures' errors, and each GAP's RMSE on the next iteration's new labels."""

    def __init__(self, folder, **kwargs):
        super().__init__(**kwargs)
        self.folder = folder
        self.add_class("gx-learning-curve")
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the run folder."""
        self.figure = learning_curve_figure(learning_curves(self.folder),
                                            predicted=prediction_errors(self.folder))
        self.children = [figure_widget(self.figure)]
