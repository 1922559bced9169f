"""The notebook stack itself in a real browser, apart from gapexplore's widgets: nglview,
ipywidgets and jupyter_bokeh in JupyterLab in Debian's headless Chromium.

If this fails, the stack (versions, lab extensions, BokehJS loading) is broken; if only
``test_browser.py`` fails, gapexplore's widgets are. Screenshots and the browser console go
to ``test-artifacts/browser/notebook-stack/``.
"""

import shutil

import nbformat
import pytest
from browser_lab import (
    ARTIFACTS,
    chromium_page,
    lab_server,
    open_notebook,
    problems,
    run_all,
    run_cell,
    shot,
    wait_drawn,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CELLS = [
    # 0: a 3D view (nglview 4.0.1 would leave this canvas blank in JupyterLab)
    "import ase.build\nimport nglview\n"
    "view = nglview.show_ase(ase.build.bulk('Si', 'diamond', a=5.43))\n"
    "view.add_unitcell()\nview.add_class('t-ngl')\nview",
    # 1: a control that the browser changes
    "import ipywidgets\n"
    "box = ipywidgets.IntText(value=1, description='n')\nbox.add_class('t-int')\nbox",
    # 2: the kernel reads the control back
    "from pathlib import Path\nPath('value.txt').write_text(str(box.value))",
    # 3: a bokeh figure as an ipywidget; BokehJS must be in the page first, inline (no CDN)
    "from bokeh.io import output_notebook\nfrom bokeh.plotting import figure\n"
    "from bokeh.resources import INLINE\nfrom jupyter_bokeh import BokehModel\n"
    "output_notebook(INLINE, hide_banner=True)\n"
    "fig = figure(width=400, height=300, title='three points')\n"
    "fig.scatter([1, 2, 3], [3, 1, 2], size=15)\n"
    "plot = BokehModel(fig)\nplot.add_class('t-bokeh')\nplot",
]


def test_nglview_ipywidgets_and_jupyter_bokeh_render_and_a_control_reaches_the_kernel(
        tmp_path):
    folder = ARTIFACTS / "notebook-stack"
    shutil.rmtree(folder, ignore_errors=True)
    print("screenshots and console:", folder)
    root = tmp_path / "lab"
    root.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, root / "stack.ipynb")
    with (lab_server(root, tmp_path) as url,
          chromium_page(tmp_path / "chromium", folder) as page):
        open_notebook(page, url, "stack.ipynb")
        run_all(page, timeout=120)
        assert (root / "value.txt").read_text() == "1"
        shot(page, folder, "after-run-all")

        # a blank WebGL canvas has one or two colours; two shaded atoms and a cell, hundreds
        ngl = wait_drawn(page, page.locator(".t-ngl canvas").first, folder, "nglview", 200)
        assert ngl >= 200, f"the nglview canvas is blank ({ngl} colours)"

        # BokehJS draws the axes, title and points into its canvas
        page.wait_for_selector(".t-bokeh canvas", timeout=30_000)
        drawn = wait_drawn(page, page.locator(".t-bokeh").first, folder, "bokeh", 50)
        assert drawn >= 50, f"the bokeh plot is not drawn ({drawn} colours)"

        # the browser sets the control; the next cell the kernel runs sees the new value
        field = page.locator(".t-int input")
        field.fill("7")
        field.press("Enter")
        run_cell(page, 2, timeout=60)
        assert (root / "value.txt").read_text() == "7"
        shot(page, folder, "after-control")
        found = problems(page)
    assert not found, found
