"""Every notebook runs top to bottom with small parameters (injected into its tagged cell)."""

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
            assert not cell.outputs, f"{path.name}: commit notebooks with outputs cleared"
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors


def test_there_are_notebooks():
    assert NOTEBOOKS
