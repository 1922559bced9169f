"""Binder: the image that mybinder.org builds from ``binder/`` opens the quickstart.

No conda channel is reachable here, so this checks what can be checked:
``binder/environment.yml`` asks for Python 3.11 and pip, ``binder/postBuild`` installs the
locked pins of ``binder/requirements.txt`` and gapexplore into a fresh virtual environment,
and the quickstart runs there (small) with that environment's own Python and Jupyter kernel.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_notebooks import _with_small_parameters

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_binder_environment_installs_and_runs_the_quickstart(tmp_path):
    import nbformat

    spec = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())
    assert spec["dependencies"] == ["python=3.11", "pip"]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "VIRTUAL_ENV": str(venv)}
    # postBuild runs from the repository root (repo2docker's working directory), on a copy
    # so that the checkout gets no build folders
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{ROOT}",
                    str(tmp_path / "repo")], check=True)
    subprocess.run(["bash", "binder/postBuild"], check=True, env=env, cwd=tmp_path / "repo")
    notebook = _with_small_parameters(
        nbformat.read(ROOT / "notebooks" / "00_quickstart.ipynb", as_version=4))
    for cell in notebook.cells:   # iteration 0 and GAP_0 (test_notebooks runs the loop)
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = cell.source.replace("ITERATIONS = 2", "ITERATIONS = 1")
            assert "ITERATIONS = 1" in cell.source
    nbformat.write(notebook, tmp_path / "quickstart.ipynb")
    script = ("import nbformat, nbclient, sys\n"
              "nb = nbformat.read('quickstart.ipynb', as_version=4)\n"
              "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3').execute()\n"
              "bad = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs\n"
              "       if o.output_type == 'error']\n"
              "sys.exit(f'errors: {bad}' if bad else 0)\n")
    env["JUPYTER_PATH"] = str(venv / "share" / "jupyter")
    result = subprocess.run([str(python), "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "runs" / "course" / "iter_000" / "gap" / "gap.xml").exists()
    located = subprocess.run([str(python), "-c", "import gapexplore; print(gapexplore.__file__)"],
                             env=env, capture_output=True, text=True, cwd=tmp_path, check=True)
    assert str(venv) in located.stdout  # installed into the fresh environment, not the checkout
