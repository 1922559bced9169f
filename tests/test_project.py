"""The project's own set-up: one list of dependencies, CI runs the README's command."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_pip_list(path):
    lines = path.read_text().splitlines()
    start = lines.index("  - pip:") + 1
    return [line.strip()[2:] for line in lines[start:] if line.strip().startswith("- ")]


def test_environment_yml_matches_pyproject():
    project = _pyproject()["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["notebook"]
    assert _environment_pip_list(ROOT / "environment.yml") == wanted


def test_binder_uses_the_same_environment():
    assert (ROOT / "binder" / "environment.yml").read_text() == \
        (ROOT / "environment.yml").read_text()


def test_ci_runs_the_readme_test_command():
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith("set ")
          and not line.startswith("cd ")]
    readme = (ROOT / "README.md").read_text()
    assert ci == ["make test"]
    assert "\nmake test\n" in readme and "\nmake demo\n" in readme
