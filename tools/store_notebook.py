"""Store an executed notebook as the course reads it: its outputs, small, without widget state.

``python tools/store_notebook.py EXECUTED.ipynb notebooks/NAME.ipynb`` copies the outputs of
an execution (``jupyter nbconvert --to notebook --execute``) into the committed notebook:

* every printed output, table and picture is kept;
* an interactive widget (the 3D viewer, the dashboard, a plot) becomes one line of text
  saying what it is, ``[Dashboard: an interactive widget, drawn when the cell runs]``,
  since its view needs a running kernel and its stored state would be megabytes;
* progress bars, empty displays and BokehJS's loader are dropped;
* the notebook's widget state (``metadata.widgets``) is dropped.

The cells' sources are taken from the executed file too, so execute the committed notebook
(or a copy whose only change is its parameters cell) and store what ran.
``tests/test_notebooks.py`` checks the result: small, no widget state, every cell run.
"""

import re
import sys
from pathlib import Path

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: A widget's text form: its class name and its fields, ``Dashboard(children=(...``.
WIDGET_REPR = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")
#: What a browser needs to draw a figure, useless in a stored file.
LOADERS = {"application/javascript", "application/vnd.bokehjs_load.v0+json",
           "application/vnd.bokehjs_exec.v0+json"}


def placeholder(name: str) -> str:
    """The line that stands for the widget ``name`` in a stored notebook."""
    return f"[{name}: an interactive widget, drawn when the cell runs]"


def stored_output(output):
    """The output as stored, or None to drop it."""
    data = output.get("data", {})
    if output.get("output_type") not in ("display_data", "execute_result"):
        return output
    if WIDGET_VIEW in data:
        found = WIDGET_REPR.match(str(data.get("text/plain", "")))
        if found is None:   # a progress bar or an empty view
            return None
        output["data"] = {"text/plain": placeholder(found.group(1))}
        return output
    kept = {kind: value for kind, value in data.items() if kind not in LOADERS}
    if not kept or kept.keys() == {"text/plain"} and not str(kept["text/plain"]).strip():
        return None
    output["data"] = kept
    return output


def store(executed: Path, target: Path) -> None:
    """Write ``executed``'s cells and outputs to ``target``, as described above."""
    notebook = nbformat.read(executed, as_version=4)
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = [stored_output(o) for o in cell.outputs]
        cell.outputs = [o for o in outputs if o is not None]
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, target)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    store(Path(sys.argv[1]), Path(sys.argv[2]))
