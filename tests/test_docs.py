"""The documentation site builds without a warning, and has its tutorials and API pages."""

import shutil
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
    _local_mathjax()
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
    _assert_local_mathjax(out)


def _local_mathjax():
    """docs/_vendor/mathjax, as `make docs` fetches it (npm) when it is missing."""
    if not (ROOT / "docs" / "_vendor" / "mathjax" / "tex-mml-chtml.js").is_file():
        if shutil.which("npm") is None:
            pytest.skip("MathJax is not in docs/_vendor and npm is missing to fetch it")
        subprocess.run([sys.executable, str(ROOT / "tools" / "fetch_mathjax.py")],
                       check=True, timeout=300)


def _assert_local_mathjax(out):
    """The equations typeset offline: the pages load the site's own MathJax, no CDN."""
    import re

    page = (out / "explanation" / "protocol.html").read_text()
    assert r"\[\rho_i(\mathbf{r})" in page      # paper Eq. 1, for MathJax to typeset
    scripts = re.findall(r'<script[^>]*src="([^"]*)"', page)
    mathjax = [src for src in scripts if "mathjax" in src.lower()]
    assert [src.split("?")[0] for src in mathjax] == ["../_static/mathjax/tex-mml-chtml.js"], \
        f"MathJax is not the site's own copy: {mathjax}"
    assert not [src for src in scripts if src.startswith(("http:", "https:", "//"))], scripts
    static = out / "_static" / "mathjax"
    assert (static / "tex-mml-chtml.js").stat().st_size > 500_000
    assert list((static / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))


def _repository_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("set_repository",
                                                  ROOT / "tools" / "set_repository.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_binder_badge_is_the_sites():
    """docs/conf.py names the repository once; the README's Binder link is the same one."""
    tool = _repository_tool()
    conf = (ROOT / "docs" / "conf.py").read_text()
    url = tool.binder_url(tool.current())
    assert 'binder_url = f"https://mybinder.org/v2/gh/{github_repository}/HEAD?labpath=notebooks"' \
        in conf
    assert f"]({url})" in (ROOT / "README.md").read_text()
    assert "mybinder.org/v2/gh/" not in "".join(
        path.read_text() for path in (ROOT / "docs").rglob("*.md") if "_build" not in path.parts)


def test_one_command_sets_the_repository_everywhere(tmp_path):
    """tools/set_repository.py rewrites the setting and the README's badge, nothing else."""
    tool = _repository_tool()
    (tmp_path / "docs").mkdir()
    for name in ("docs/conf.py", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    tool.set_repository("someone/my-gapexplore", tmp_path)
    assert tool.current(tmp_path) == "someone/my-gapexplore"
    readme = (tmp_path / "README.md").read_text()
    assert f"]({tool.binder_url('someone/my-gapexplore')})" in readme
    assert readme.replace("someone/my-gapexplore", tool.current()) \
        == (ROOT / "README.md").read_text()
    with pytest.raises(ValueError, match="not a GitHub owner/name"):
        tool.set_repository("https://github.com/someone/x", tmp_path)
