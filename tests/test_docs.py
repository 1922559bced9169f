"""The documentation site builds without a warning, and has its tutorials and API pages."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.docs
def test_the_site_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    out = tmp_path / "html"
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-5000:]
    for page in ("index.html", "tutorials/notebooks/00_quickstart.html",
                 "reference/api/run.html", "reference/cli.html", "reference/settings.html",
                 "explanation/protocol.html", "studies/index.html", "changelog.html"):
        assert (out / page).is_file(), f"{page} was not built"
    api = (out / "reference" / "api" / "run.html").read_text()
    assert 'id="gapexplore.run.explorer.Explorer"' in api
    cli = (out / "reference" / "cli.html").read_text()
    assert "gapexplore run" in cli and "--reference" in cli
