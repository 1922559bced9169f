"""Interactive views of a run for Jupyter: structures in 3D, iteration controls, live plots.

Every class here is an ipywidgets container (display it as the last expression of a cell)
that also works outside the notebooks of this project:

- :class:`StructureInspector` — browse a list of structures in an nglview 3D view with its
  unit cell, with energy, enthalpy, volume, space group and iteration beside it.
- :class:`IterationControls` — kT, candidates and selected structures per iteration, and a
  button that runs the next iteration with those values (recorded in ``state.json``).
- :class:`StructureMap` — the kernel-PCA map of paper Fig. 5 as an interactive bokeh plot;
  picking points (tap or box select) shows those structures in an inspector.
- :class:`ConvexHullView` — the formation-energy convex hull of a run across compositions,
  reference and GAP; picking points shows those structures in an inspector.
- :class:`ResultsTable` — the distinct structures a run found, ranked (with the reference's
  energies where checked); choosing a row shows the structure in an inspector.
- :class:`Dashboard` — all of the above for one :class:`~gapexplore.run.Explorer`,
  with the learning curves, refreshed after each iteration.

Bokeh figures become widgets through ``jupyter_bokeh``, with BokehJS inline (no CDN).
Each part carries a CSS class (``gx-*``) by which a browser test finds it.
"""

from gapexplore.widgets.controls import Dashboard, IterationControls
from gapexplore.widgets.views import (
    ConvexHullView,
    LearningCurves,
    ResultsTable,
    StructureInspector,
    StructureMap,
    describe,
    figure_widget,
)

__all__ = ["ConvexHullView", "Dashboard", "IterationControls", "LearningCurves", "ResultsTable",
           "StructureInspector", "StructureMap", "describe", "figure_widget"]
