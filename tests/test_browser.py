"""The widgets in a real browser: JupyterLab in headless Chromium runs the quickstart.

Only a browser shows that the nglview canvas is drawn (nglview 4.0.1 does not render in
JupyterLab), that bokeh draws without a CDN, and that a value typed into a control reaches
the next iteration. Screenshots go to ``test-artifacts/browser/`` for a person to look at.
"""

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from browser_lab import (
    ARTIFACTS,
    box_select,
    chromium_page,
    lab_server,
    open_notebook,
    problems,
    run_all,
    shot,
    wait_drawn,
)
from test_notebooks import _with_small_parameters

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _lab_folders(tmp_path, name: str) -> tuple:
    """The (emptied) screenshot folder ``test-artifacts/browser/<name>`` and a fresh
    JupyterLab root."""
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    root = tmp_path / "lab"
    root.mkdir()
    return folder, root


def _small(name: str):
    """``notebooks/<name>.ipynb`` with the test suite's small parameters."""
    return _with_small_parameters(
        nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4))


def test_the_quickstart_dashboard_draws_and_its_controls_drive_the_next_iteration(tmp_path):
    folder, root = _lab_folders(tmp_path, "quickstart")
    nbformat.write(_small("00_quickstart"), root / "quickstart.ipynb")
    with lab_server(root, tmp_path) as url, chromium_page(tmp_path / "chromium", folder) as page:
        open_notebook(page, url, "quickstart.ipynb")
        run_all(page, timeout=400)
        dashboard = page.locator(".gx-dashboard")
        dashboard.scroll_into_view_if_needed()
        shot(page, folder, "after-run-all")

        # the 3D view: a drawn WebGL canvas has thousands of colours, a blank one one or two
        viewer = page.locator(".gx-inspector canvas").first
        assert wait_drawn(page, viewer, folder, "inspector", 200) >= 200, "nglview is blank"

        # the bokeh plots are drawn (BokehJS inline, no CDN): axes, text and points
        for name in ("gx-learning-curve", "gx-map-plot"):
            plot = page.locator(f".{name}").first
            plot.scroll_into_view_if_needed()
            page.wait_for_selector(f".{name} canvas", timeout=30_000)
            assert wait_drawn(page, plot, folder, name, 50) >= 50, f"{name} is not drawn"

        # box-selecting points on the map shows those structures in the 3D inspector
        # (a box over most of the plot frame, starting clear of the legend, top left)
        box_select(page, page.locator(".gx-map-plot").first, (0.3, 0.3), (0.75, 0.85), "map")
        shot(page, folder, "after-map-selection")

        # choosing a row of the ranked minima shows that structure in the 3D inspector
        rows = page.locator(".gx-results-rows select").first
        rows.scroll_into_view_if_needed()
        rows.select_option(index=0)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.gx-inspector')]"
            ".some(e => e.textContent.includes('Ranked structures')"
            " && e.textContent.includes('rank 1'))", timeout=30_000)
        shot(page, folder, "after-results-row")

        # a value typed into a control is what the next iteration uses
        field = page.locator(".gx-n-select input")
        field.scroll_into_view_if_needed()
        field.fill("3")
        field.press("Enter")
        page.locator(".gx-run").click()
        page.wait_for_function(
            "() => document.querySelector('.gx-status').textContent.includes('Iteration 2 "
            "finished')", timeout=300_000)
        shot(page, folder, "after-next-iteration")
        found = problems(page)

    state = json.loads((root / "runs" / "course" / "state.json").read_text())
    assert [r["n_select"] for r in state["iterations"]] == [6, 6, 3]
    assert state["iterations"][2]["selected"] == 3
    assert not found, found  # widget, JavaScript and cell errors
    print("screenshots:", folder)


def test_the_hull_of_a_run_across_compositions_draws_and_its_points_reach_the_inspector(
        tmp_path):
    folder, root = _lab_folders(tmp_path, "across")
    notebook = _small("07_across_compositions")
    for cell in notebook.cells:   # iteration 0 and its GAP make the hull (test_notebooks
        if "parameters" in cell.metadata.get("tags", []):    # runs the rest)
            cell.source = cell.source.replace("ITERATIONS = 2", "ITERATIONS = 1")
            assert "ITERATIONS = 1" in cell.source
    nbformat.write(notebook, root / "across.ipynb")
    with lab_server(root, tmp_path) as url, chromium_page(tmp_path / "chromium", folder) as page:
        open_notebook(page, url, "across.ipynb")
        run_all(page, timeout=600)
        shot(page, folder, "after-run-all")

        # the hull plots (the notebook's own and the dashboard's) are drawn
        plots = page.locator(".gx-hull-plot")
        assert plots.count() == 2, "a ConvexHullView and the dashboard's hull"
        plot = plots.first
        plot.scroll_into_view_if_needed()
        page.wait_for_selector(".gx-hull-plot canvas", timeout=30_000)
        assert wait_drawn(page, plot, folder, "hull", 50) >= 50, "the hull is not drawn"

        # box-selecting points of the hull shows those structures in the 3D inspector
        # (from right of the legend, top left, over the SiC column x = 0.5 and beyond)
        box_select(page, plot, (0.45, 0.1), (0.97, 0.97), "hull")
        viewer = page.locator(".gx-hull .gx-inspector canvas").first
        viewer.scroll_into_view_if_needed()
        assert wait_drawn(page, viewer, folder, "hull-inspector", 200) >= 200, \
            "nglview is blank"
        shot(page, folder, "after-hull-selection")
        found = problems(page)
    assert not found, found  # widget, JavaScript and cell errors
    print("screenshots:", folder)
