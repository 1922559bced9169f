"""Every notebook runs top to bottom with small parameters (injected into its tagged cell),
and is stored as a course reads it: with small outputs, typeset equations, exercises with
hidden solutions and its measured running time."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SMALL = {"N_CELLS": "20", "N_CANDIDATES": "12", "N_SELECT": "6", "ITERATIONS": "2",
         "MD_STEPS": "20"}


def _with_small_parameters(notebook):
    tagged = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "a notebook needs exactly one cell tagged 'parameters'"
    lines = []
    for line in tagged[0].source.splitlines():
        name = line.split("=")[0].strip()
        lines.append(f"{name} = {SMALL[name]}" if name in SMALL else line)
    tagged[0].source = "\n".join(lines)
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    notebook = _with_small_parameters(nbformat.read(path, as_version=4))
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []   # the stored outputs give way to this run's
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors


def test_there_are_notebooks():
    assert NOTEBOOKS


MAX_BYTES = 300_000
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_as_a_course_reads_it(path):
    """Outputs of a real execution, small; equations; an exercise with a hidden solution;
    the running time measured (or estimated) with its date, at the top."""
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size} bytes"
    notebook = nbformat.read(path, as_version=4)
    assert WIDGET_STATE not in notebook.metadata.get("widgets", {}), \
        f"{path.name}: strip the stored widget state"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert any(c.outputs for c in code), f"{path.name}: store the outputs of an execution"
    assert all(c.get("execution_count") for c in code), f"{path.name}: some cells never ran"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: stored outputs hold an error"
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "$$" in text, f"{path.name}: typeset at least one equation"
    assert "## Exercise" in text and "<details><summary>Solution</summary>" in text \
        and "</details>" in text, f"{path.name}: an exercise with its solution in <details>"
    title = notebook.cells[0].source
    assert re.search(r"(measured|estimated) [^)]*\d{4}-\d{2}-\d{2}", title), \
        f"{path.name}: state the measured time, with its date, at the top"


def test_an_executed_notebook_is_stored_without_widget_state_or_progress_bars(tmp_path):
    """tools/store_notebook.py: printed outputs and pictures kept, a widget becomes one line
    naming it, progress bars, empty views and BokehJS's loader dropped, the state gone."""
    import subprocess
    import sys

    tool = Path(__file__).resolve().parents[1] / "tools" / "store_notebook.py"
    view = "application/vnd.jupyter.widget-view+json"
    ref = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    cell = nbformat.v4.new_code_cell("run()", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="3 iterations\n"),
        nbformat.v4.new_output("display_data", data={view: ref, "text/plain": "labelling: 5%|"}),
        nbformat.v4.new_output("display_data", data={view: ref, "text/plain": ""}),
        nbformat.v4.new_output("display_data", data={
            "application/javascript": "load()", "application/vnd.bokehjs_load.v0+json": ""}),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=",
                                                     "text/plain": "<Figure>"}),
        nbformat.v4.new_output("execute_result", execution_count=1, data={
            view: ref, "text/plain": "Dashboard(children=(IterationControls(...),))"}),
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebook.metadata["widgets"] = {WIDGET_STATE: {"state": {"abc": {}}}}
    executed, stored = tmp_path / "executed.ipynb", tmp_path / "stored.ipynb"
    nbformat.write(notebook, executed)
    subprocess.run([sys.executable, str(tool), str(executed), str(stored)], check=True)
    result = nbformat.read(stored, as_version=4)
    assert "widgets" not in result.metadata
    outputs = result.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream", "display_data", "execute_result"]
    assert outputs[0].text == "3 iterations\n"
    assert set(outputs[1].data) == {"image/png", "text/plain"}
    assert outputs[2].data == {
        "text/plain": "[Dashboard: an interactive widget, drawn when the cell runs]"}
    assert result.cells[0].execution_count == 1
