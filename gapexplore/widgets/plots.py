"""Bokeh figures of a run: learning curves, energy–volume, energy–energy, structure map.

Each function takes the plain data of :mod:`gapexplore.analysis` and returns a bokeh
figure, which a notebook shows (``bokeh.io.show`` or, interactively, through
:mod:`gapexplore.widgets`) and :func:`save_html` writes as a standalone file for a report.
Every HTML page carries BokehJS inline, so it opens without internet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from gapexplore.core.checks import fail

__all__ = ["energy_energy_figure", "energy_volume_figure", "hull_figure",
           "learning_curve_figure", "save_html", "structure_map_figure",
           "ternary_hull_figure"]

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")
_MARKERS = ("circle", "square", "triangle", "diamond", "inverted_triangle", "hex", "star")


def _figure(title: str, x: str, y: str, **kwargs):
    from bokeh.plotting import figure

    fig = figure(title=title, x_axis_label=x, y_axis_label=y, width=kwargs.pop("width", 520),
                 height=kwargs.pop("height", 380), tools="pan,wheel_zoom,box_zoom,reset,save",
                 **kwargs)
    fig.toolbar.logo = None
    return fig


def learning_curve_figure(rows: list[dict], *, predicted: list[dict] = (),
                          title: str = "Learning curves"):
    """Absolute energy error of each known structure against reference labels (Fig. 2).

    Parameters
    ----------
    rows : list of dict
        :func:`gapexplore.analysis.learning_curves` output (``labels``, ``structure``,
        ``error`` [eV/atom]); may be empty (an empty plot, filled later).
    predicted : list of dict, optional
        :func:`gapexplore.analysis.prediction_errors` output: drawn as a dashed black line
        named ``curve-new-labels`` (RMSE of each GAP on the next iteration's labels).

    Returns
    -------
    bokeh.plotting.figure
        Log-scale ``|error|`` [meV/atom]; one line per structure, named ``curve-<structure>``
        (its data source is ``fig.select_one({"name": ...}).data_source``).
    """
    from bokeh.models import HoverTool, Span

    fig = _figure(title, "reference labels", "|GAP − reference| (meV/atom)", y_axis_type="log")
    for n, (name, source) in enumerate(_learning_sources(rows).items()):
        colour = _COLOURS[n % len(_COLOURS)]
        fig.line("labels", "abs_error", source=source, color=colour, legend_label=name,
                 line_width=2, name=f"curve-{name}")
        fig.scatter("labels", "abs_error", source=source, color=colour, size=7,
                    legend_label=name)
    if predicted:
        from bokeh.models import ColumnDataSource

        name = "new labels (RMSE)"
        source = ColumnDataSource({
            "labels": [r["labels"] for r in predicted],
            "iteration": [r["iteration"] for r in predicted],
            "structure": [f"{name}, {r['n']} structures" for r in predicted],
            "error": [1000.0 * r["rmse"] for r in predicted],
            "abs_error": [max(1000.0 * r["rmse"], 1e-3) for r in predicted]})
        fig.line("labels", "abs_error", source=source, color="black", line_dash="dashed",
                 legend_label=name, line_width=2, name="curve-new-labels")
        fig.scatter("labels", "abs_error", source=source, color="black", size=7,
                    marker="square", legend_label=name)
    fig.add_layout(Span(location=10.0, dimension="width", line_dash="dashed",
                        line_color="grey"))
    fig.add_tools(HoverTool(tooltips=[("structure", "@structure"), ("iteration", "@iteration"),
                                      ("labels", "@labels"), ("error", "@error{0.1} meV/atom")]))
    if not rows and not predicted:
        fig.title.text += " (none yet: validation runs after each fit)"
    else:
        fig.legend.location = "top_right"
        fig.legend.click_policy = "hide"
    return fig


def _learning_sources(rows: list[dict]) -> dict:
    from bokeh.models import ColumnDataSource

    names = list(dict.fromkeys(r["structure"] for r in rows))
    sources = {}
    for name in names:
        mine = [r for r in rows if r["structure"] == name and np.isfinite(r["error"])]
        sources[name] = ColumnDataSource({
            "labels": [r["labels"] for r in mine],
            "iteration": [r["iteration"] for r in mine],
            "structure": [name] * len(mine),
            "error": [1000.0 * r["error"] for r in mine],
            "abs_error": [max(1000.0 * abs(r["error"]), 1e-3) for r in mine]})
    return sources


def energy_volume_figure(curves: dict, *, title: str = "Energy–volume"):
    """Energy–volume curves by several calculators (paper Fig. 3).

    Parameters
    ----------
    curves : dict
        :func:`gapexplore.analysis.energy_volume` output, or a dict of such outputs by
        structure name (one colour per structure, one dash per calculator).
    """
    if "volume_per_atom" in curves:
        curves = {"": curves}
    fig = _figure(title, "volume (Å³/atom)", "energy (eV/atom)")
    dashes = ("solid", "dashed", "dotted", "dashdot")
    for n, (structure, curve) in enumerate(curves.items()):
        colour = _COLOURS[n % len(_COLOURS)]
        names = [k for k in curve if k != "volume_per_atom"]
        for m, name in enumerate(names):
            label = f"{structure} {name}".strip()
            fig.line(curve["volume_per_atom"], curve[name], color=colour, line_width=2,
                     line_dash=dashes[m % len(dashes)], legend_label=label)
    fig.legend.location = "top_right"
    fig.legend.click_policy = "hide"
    return fig


def energy_energy_figure(data: dict, *, title: str = "GAP against reference"):
    """Energy–energy scatter (paper Fig. 4): GAP against reference energy per atom.

    Parameters
    ----------
    data : dict
        :func:`gapexplore.analysis.energy_energy` output.
    """
    from bokeh.models import ColumnDataSource, HoverTool

    reference, gap = np.asarray(data["reference"]), np.asarray(data["gap"])
    fig = _figure(f"{title} (RMSE {1000 * data['rmse']:.1f} meV/atom)",
                  "reference energy (eV/atom)", "GAP energy (eV/atom)", width=420, height=420)
    low, high = float(min(reference.min(), gap.min())), float(max(reference.max(), gap.max()))
    fig.line([low, high], [low, high], color="grey", line_dash="dashed")
    source = ColumnDataSource({"reference": reference, "gap": gap,
                               "iteration": np.asarray(data.get("iteration",
                                                                np.full(len(gap), -1)))})
    fig.scatter("reference", "gap", source=source, size=6, alpha=0.7)
    fig.add_tools(HoverTool(tooltips=[("reference", "@reference{0.000}"),
                                      ("GAP", "@gap{0.000}"), ("iteration", "@iteration")]))
    return fig


def structure_map_figure(data, *, marker_by: str = "element", title: str = "Structure map"):
    """The kernel-PCA structure map (paper Fig. 5), coloured by coordination number.

    Parameters
    ----------
    data : StructureMapData
        :func:`gapexplore.analysis.structure_map` output.
    marker_by : {"element", "iteration"}
        What the marker shape shows.

    Returns
    -------
    bokeh.plotting.figure
        With tap and box-select tools; its points' source is named ``"map"``
        (``fig.select_one({"name": "map"}).data_source``), whose ``selected.indices``
        tell which points the user picked.
    """
    from bokeh.models import ColorBar, ColumnDataSource, HoverTool
    from bokeh.palettes import Viridis256
    from bokeh.transform import factor_mark, linear_cmap

    if marker_by not in ("element", "iteration"):
        raise fail("marker_by", "structure_map_figure", "'element' or 'iteration'", marker_by)
    columns = data.columns()
    columns["marker_group"] = [str(v) for v in columns[marker_by]]
    source = ColumnDataSource(columns)
    fig = _figure(title, "kPCA 1", "kPCA 2", width=560, height=440)
    fig.tools = [t for t in fig.tools if type(t).__name__ != "SaveTool"]
    fig.add_tools("tap", "box_select", "save")
    groups = sorted(set(columns["marker_group"]), key=_natural)
    low, high = float(np.min(data.coordination)), float(np.max(data.coordination))
    colour = linear_cmap("coordination", Viridis256, low, max(high, low + 1e-6))
    renderer = fig.scatter("x", "y", source=source, size=9, alpha=0.85, color=colour,
                           line_color="black", line_width=0.5, name="map",
                           marker=factor_mark("marker_group", list(_MARKERS), groups),
                           legend_group="marker_group")
    renderer.nonselection_glyph.fill_alpha = 0.2
    fig.add_layout(ColorBar(color_mapper=colour["transform"], title="coordination"),
                   "right")
    fig.add_tools(HoverTool(renderers=[renderer], tooltips=[
        ("structure", "@uid (@element, @n_atoms atoms)"), ("iteration", "@iteration"),
        ("coordination", "@coordination{0.00}"), ("energy", "@energy_per_atom{0.000} eV/atom"),
        ("volume", "@volume_per_atom{0.00} Å³/atom")]))
    fig.legend.location = "top_left"
    fig.legend.title = marker_by
    return fig


def hull_figure(data, *, title: str = "Formation energy and convex hull"):
    """The formation-energy convex hull of a binary or ternary database, reference and GAP.

    Parameters
    ----------
    data : HullData
        :func:`gapexplore.analysis.formation_energies` output.

    Returns
    -------
    bokeh.plotting.figure or bokeh.layouts.row
        Binary: reference points (circles, their source named ``"hull"``: tap or
        box-select them) and GAP points (crosses) on the same structures, each with its
        lower hull drawn. Ternary: :func:`ternary_hull_figure`.
    """
    from bokeh.models import ColumnDataSource, HoverTool

    if len(data.elements) == 3:
        return ternary_hull_figure(data, title=title)
    a, b = data.elements
    fig = _figure(title, f"fraction of {b} in {a}–{b}", "formation energy (eV/atom)",
                  width=560, height=420)
    fig.tools = [t for t in fig.tools if type(t).__name__ != "SaveTool"]
    fig.add_tools("tap", "box_select", "save")
    source = ColumnDataSource(data.columns())
    series = [("reference", "reference_above_hull", _COLOURS[0], "circle")]
    if data.gap is not None:
        series.append(("gap", "gap_above_hull", _COLOURS[1], "x"))
    renderers = []
    for name, height, colour, marker in series:
        on = np.asarray(data.columns()[height]) < 1e-9
        order = np.argsort(data.x[on])
        energies = np.asarray(data.columns()[name])[on][order]
        fig.line(data.x[on][order], energies, color=colour, line_width=1.5,
                 legend_label=f"{'GAP' if name == 'gap' else 'reference'} hull")
        renderer = fig.scatter("x", name, source=source, size=7, alpha=0.7, color=colour,
                               marker=marker, name="hull" if name == "reference" else "gap",
                               legend_label="GAP" if name == "gap" else "reference")
        renderers.append(renderer)
    renderers[0].nonselection_glyph.fill_alpha = 0.2
    fig.add_tools(HoverTool(renderers=renderers, tooltips=[
        ("structure", "@uid (@formula)"), ("iteration", "@iteration"),
        ("reference", "@reference{0.000} eV/atom (@reference_above_hull{0.000} above)"),
        ("GAP", "@gap{0.000} eV/atom (@gap_above_hull{0.000} above)")]))
    fig.legend.location = "top_left"
    values = np.concatenate([data.reference] + ([data.gap] if data.gap is not None else []))
    low, high, outside = _robust_range(values)
    if outside:    # an early GAP's collapsed cells, labelled at tens of eV/atom
        from bokeh.models import Range1d

        fig.y_range = Range1d(low, high)
        fig.title.text += f" ({outside} off the plot: zoom out)"
    return fig


def ternary_hull_figure(data, *, title: str = "Formation energy and convex hull"):
    """The convex hull of a ternary database on the composition triangle, by the reference
    and (if ``data`` has them) by the GAP, side by side.

    Each structure is a point at its composition (the first element bottom left, the
    second bottom right, the third at the top), coloured by its height above the lower
    convex hull of (composition, energy) [eV/atom], by that panel's energies; the points on
    the hull are drawn on top with a thick outline, and the hull's facets as tie lines
    between their compositions.

    Parameters
    ----------
    data : HullData
        :func:`gapexplore.analysis.formation_energies` output for three elements.

    Returns
    -------
    bokeh.layouts.row
        The reference panel (points named ``"hull"``: tap or box-select them) and the GAP
        panel (points named ``"gap"``), sharing one data source, so that a selection in
        either shows in both.
    """
    from bokeh.layouts import row
    from bokeh.models import (
        CDSView,
        ColorBar,
        ColumnDataSource,
        HoverTool,
        IndexFilter,
        LinearColorMapper,
    )
    from bokeh.palettes import Viridis256

    if len(data.elements) != 3 or data.fractions is None:
        raise fail("data", "ternary_hull_figure", "the HullData of three elements",
                   ", ".join(data.elements))
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3.0) / 2]])
    xy = data.fractions @ corners                       # composition on the triangle
    columns = data.columns() | {"tx": xy[:, 0], "ty": xy[:, 1]}
    source = ColumnDataSource(columns)
    series = [("reference", "reference_above_hull", "circle", "hull")]
    if data.gap is not None:
        series.append(("GAP", "gap_above_hull", "square", "gap"))
    heights = np.concatenate([np.asarray(columns[h], dtype=float) for _, h, _, _ in series])
    high = max(_robust_range(heights, margin=0.05)[1], 1e-3)
    mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=high)   # one for both panels
    panels, renderers = [], []
    for label, height, marker, name in series:
        fig = _figure(f"{title}: {label}", "", "", width=430, height=400, match_aspect=True)
        fig.tools = [t for t in fig.tools if type(t).__name__ != "SaveTool"]
        fig.add_tools("tap", "box_select", "save")
        fig.axis.visible = False
        fig.grid.visible = False
        outline = np.vstack([corners, corners[:1]])
        fig.line(outline[:, 0], outline[:, 1], color="black", line_width=1)
        for (cx, cy), element, align in zip(corners, data.elements,
                                            ("right", "left", "center")):
            fig.text([cx], [cy + (0.03 if align == "center" else -0.06)], text=[element],
                     text_align=align, text_font_size="13px")
        for (x0, y0), (x1, y1) in _ternary_tie_lines(data.fractions, columns[height],
                                                     columns["gap" if name == "gap"
                                                             else "reference"], corners):
            fig.line([x0, x1], [y0, y1], color="#555555", line_width=1.2)
        renderer = fig.scatter("tx", "ty", source=source, size=9, marker=marker,
                               fill_color={"field": height, "transform": mapper},
                               line_color="black", line_width=0.5, name=name)
        renderer.nonselection_glyph.fill_alpha = 0.2
        renderers.append(renderer)
        stable = np.flatnonzero(np.asarray(columns[height], dtype=float) < 1e-9)
        fig.scatter("tx", "ty", source=source, view=CDSView(filter=IndexFilter(stable)),
                    size=11, marker=marker, fill_color={"field": height, "transform": mapper},
                    line_color="black", line_width=2)      # the hull's points, drawn on top
        fig.add_tools(HoverTool(renderers=[renderer], tooltips=[
            ("structure", "@uid (@formula)"), ("iteration", "@iteration"),
            ("reference", "@reference{0.000} eV/atom formation, "
                          "@reference_above_hull{0.000} above the hull"),
            ("GAP", "@gap{0.000} eV/atom formation, @gap_above_hull{0.000} above the hull")]))
        panels.append(fig)
    panels[-1].add_layout(ColorBar(color_mapper=mapper, title="above hull (eV/atom)",
                                   width=10), "right")
    if len(panels) == 2:
        panels[1].x_range, panels[1].y_range = panels[0].x_range, panels[0].y_range
    return row(*panels)


def _ternary_tie_lines(fractions, heights, energies, corners) -> list:
    """Edges of the lower hull's facets among the compositions on the hull (height 0),
    as segments on the composition triangle; none when those are fewer than three or on
    one line."""
    on = np.asarray(heights, dtype=float) < 1e-9
    lowest: dict = {}
    for f, e in zip(np.asarray(fractions)[on], np.asarray(energies, dtype=float)[on]):
        key = tuple(np.round(f, 9))
        lowest[key] = min(lowest.get(key, np.inf), e)
    if len(lowest) < 3:
        return []
    points = np.array([[k[1], k[2], e] for k, e in lowest.items()])
    try:
        hull = ConvexHull(points)
    except (QhullError, ValueError):                  # compositions on one line
        return []
    edges = set()
    for simplex, equation in zip(hull.simplices, hull.equations):
        if equation[2] < -1e-12:                     # a facet of the lower hull
            for i, j in ((0, 1), (1, 2), (0, 2)):
                edges.add(tuple(sorted((int(simplex[i]), int(simplex[j])))))
    f = np.column_stack([1.0 - points[:, 0] - points[:, 1], points[:, :2]])
    xy = f @ corners
    return [(tuple(xy[i]), tuple(xy[j])) for i, j in sorted(edges)]


def _robust_range(values, margin: float = 0.5) -> tuple:
    """A y range [eV/atom] that shows the bulk of ``values``: their quartiles widened by
    three interquartile ranges and ``margin`` [eV/atom] each way, never past their
    extremes, padded by 5 %; and how many values fall outside it."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return 0.0, 1.0, 0
    q1, q3 = np.percentile(v, [25, 75])
    spread = 3 * (q3 - q1) + margin
    low, high = max(v.min(), q1 - spread), min(v.max(), q3 + spread)
    pad = 0.05 * max(high - low, 1e-3)
    low, high = low - pad, high + pad
    return float(low), float(high), int(np.count_nonzero((v < low) | (v > high)))


def save_html(fig, path, *, title: str | None = None) -> Path:
    """Write a bokeh figure (or layout) as a standalone HTML file with BokehJS inline.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if title is None:
        title = fig.title.text if getattr(fig, "title", None) is not None else "gapexplore"
    html = file_html(fig, INLINE, title=title)
    path.write_text(html, encoding="utf-8")
    return path


def _natural(text: str):
    return (0, int(text), "") if text.lstrip("-").isdigit() else (1, 0, text)
