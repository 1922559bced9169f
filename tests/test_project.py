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


def _binder_pins():
    pins = {}
    for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_canonical(name)] = version
    return pins


def _binder_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("binder_pins", ROOT / "tools" / "binder_pins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_binder_installs_the_locked_versions_the_notebooks_need():
    """binder/requirements.txt pins, at requirements.lock's versions, exactly the engine's
    dependencies and the notebook extra with all they need (tools/binder_pins.py)."""
    from importlib.metadata import PackageNotFoundError, version

    import pytest

    pins, lock = _binder_pins(), _lock()
    assert {name: lock.get(name) for name in pins} == pins, "run tools/binder_pins.py"
    try:
        version("jupyterlab")
    except PackageNotFoundError:
        pytest.skip("the notebook extra is not installed here (make setup installs it)")
    assert set(pins) == _binder_tool().closure(), "run tools/binder_pins.py"
    for name in ("numpy", "quippy-ase", "dscribe", "jupyterlab", "nglview", "jupyter-bokeh"):
        assert name in pins
    for name in ("torch", "chgnet", "gpaw", "pytest", "ruff", "playwright", "sphinx",
                 "jupyter-repo2docker"):
        assert name not in pins, f"{name} is not for the notebooks"


def test_binder_environment_is_python_3_11_and_the_pins():
    import yaml

    binder = ROOT / "binder"
    environment = yaml.safe_load((binder / "environment.yml").read_text())
    assert environment["dependencies"] == ["python=3.11", "pip"]
    post_build = (binder / "postBuild").read_text()
    assert "pip install --no-cache-dir --no-compile -r binder/requirements.txt" in post_build
    assert "--no-deps ." in post_build
    assert (binder / "postBuild").stat().st_mode & 0o111


def test_repo2docker_writes_binders_dockerfile(tmp_path):
    """What mybinder.org would build from binder/: repo2docker writes the Dockerfile (no
    Docker needed) from a copy of the tracked files."""
    import shutil
    import subprocess
    import sys

    import pytest

    repo2docker = Path(sys.executable).with_name("jupyter-repo2docker")
    if not repo2docker.exists():
        pytest.skip("jupyter-repo2docker is not installed (the test extra)")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    copy = tmp_path / "repo"
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    built = subprocess.run([str(repo2docker), "--no-build", "--debug", "--user-id", "1000",
                            "--user-name", "jovyan", str(copy)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    dockerfile = built.stdout
    assert dockerfile.lstrip().startswith("FROM ") or "\nFROM " in dockerfile
    assert "Building conda environment for python=3.11" in built.stderr
    assert '--file "binder/environment.yml"' in dockerfile
    assert "RUN ./binder/postBuild" in dockerfile
    assert "requirements.txt" not in dockerfile   # installed by postBuild, not repo2docker


def test_ci_runs_the_readme_test_command():
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith("set ")
          and not line.startswith("cd ")]
    readme = (ROOT / "README.md").read_text()
    assert ci == ["make test"]
    assert "\nmake test\n" in readme and "\nmake demo\n" in readme


def _make_rule(makefile, target):
    """The prerequisites and recipe lines of ``target`` in ``makefile``."""
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return lines[start].split(":", 1)[1].split(), recipe


def test_make_demo_installs_the_engine_alone_and_make_test_everything():
    makefile = (ROOT / "Makefile").read_text()
    assert "STAMP_ENGINE := $(VENV)/.installed-engine" in makefile
    assert "STAMP := $(VENV)/.installed-all" in makefile
    demo, _ = _make_rule(makefile, "demo")
    assert demo == ["$(STAMP_ENGINE)"]
    _, engine = _make_rule(makefile, "$(STAMP_ENGINE)")
    assert "$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e ." in engine
    assert not [line for line in engine if "torch" in line or "[" in line]
    assert engine[-1] == "touch $(STAMP_ENGINE)"   # never the full stamp
    _, full = _make_rule(makefile, "$(STAMP)")
    assert '$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e ".[$(EXTRAS)]"' in full
    assert full[-1] == "touch $(STAMP) $(STAMP_ENGINE)"
    for target in ("test", "setup", "docs", "notebook", "test-fast", "lint"):
        assert "$(STAMP)" in _make_rule(makefile, target)[0], target


def _lock():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_canonical(name)] = version
    return pins


def _canonical(name):
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_pins_every_dependency_within_pyproject_ranges():
    """`make` installs requirements.lock as pip constraints: it must pin each dependency
    pyproject.toml names, at a version its range allows (else `make lock` is due)."""
    from packaging.requirements import Requirement

    project = _pyproject()["project"]
    wanted = list(project["dependencies"])
    for extra in ("notebook", "test", "surrogate", "dft", "docs"):
        wanted += project["optional-dependencies"][extra]
    pins = _lock()
    for text in wanted:
        requirement = Requirement(text)
        name = _canonical(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement.specifier}"
    makefile = (ROOT / "Makefile").read_text()
    assert "--constraint $(LOCK)" in makefile and "LOCK := requirements.lock" in makefile


def test_the_environment_is_the_locked_one():
    """What runs the tests is what the lock says (a fresh `make` installs exactly it)."""
    from importlib.metadata import PackageNotFoundError, version

    different = {}
    for name, pinned in _lock().items():
        try:
            installed = version(name).split("+")[0]
        except PackageNotFoundError:
            continue  # an optional part not installed here (e.g. GPAW without make gpaw)
        if installed != pinned:
            different[name] = (installed, pinned)
    assert not different, f"installed vs locked: {different}; run make setup"


def test_license_and_citation():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    project = _pyproject()["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    import yaml

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["license"] == "MIT"
    assert citation["preferred-citation"]["doi"] == "10.1038/s41524-019-0236-6"
    assert citation["version"] == _pyproject()["project"]["version"]


# --- the package's shape -------------------------------------------------------------------

def _imports():
    """{module: set of gapexplore modules it imports}, module-level and function-local."""
    import ast

    graph = {}
    for path in sorted((ROOT / "gapexplore").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(
            ".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
            elif isinstance(node, ast.ImportFrom) and node.level:
                found.add("relative")
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[module] = {m for m in found if m.startswith("gapexplore") or m == "relative"}
    return graph


def _part(module):
    """The step, core or face a module belongs to: its first name under gapexplore."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "gapexplore"


FACES = {"cli", "widgets", "export", "__main__"}


def test_the_engine_imports_no_face_and_the_core_nothing_else():
    graph = _imports()
    assert "gapexplore.run.explorer" in graph and "gapexplore.core.keys" in graph
    for module, imported in graph.items():
        assert "relative" not in imported, f"{module}: imports are absolute"
        parts = {_part(m) for m in imported}
        if _part(module) not in FACES | {"gapexplore"}:
            assert not parts & FACES, f"{module} imports a face: {sorted(imported)}"
        if _part(module) == "core":
            assert parts <= {"core", "gapexplore"}, f"{module} imports {sorted(imported)}"


def test_the_parts_import_each_other_without_cycles():
    import graphlib

    graph = _imports()
    parts = {}
    for module, imported in graph.items():
        here = _part(module)
        if here == "gapexplore":
            continue   # the package's __init__ gathers everything
        parts.setdefault(here, set()).update(
            p for p in map(_part, imported) if p not in (here, "gapexplore"))
    graphlib.TopologicalSorter(parts).prepare()  # raises CycleError on a cycle
    assert parts["core"] == set() and "run" not in parts["label"]


# --- no development history in the tracked files --------------------------------------------

#: Projects whose own issue trackers a file may cite ("QUIP issues #703"): those numbers are
#: about other code, not this project's history.
UPSTREAM = {"quip", "quippy", "nglview", "ase", "dscribe", "spglib", "pymatgen", "dask",
            "distributed", "chgnet", "gpaw", "matscipy", "numpy", "scipy", "bokeh",
            "jupyterlab", "ipywidgets", "sphinx", "myst-nb", "pyxtal", "torch"}


def _history_words(text):
    """The phrases of ``text`` that narrate how this project was developed."""
    import re

    found = []
    for pattern in (r"\bsessions? \d+", r"\buntil session\b", r"\bcommits? [0-9a-f]{7,40}\b"):
        found += [m.group(0) for m in re.finditer(pattern, text, re.IGNORECASE)]
    for m in re.finditer(r"\bissues? #?\d+\b", text, re.IGNORECASE):
        words = text[max(0, m.start() - 40):m.start()].split()
        before = words[-1].strip("(`'\"").lower() if words else ""
        if before not in UPSTREAM:
            found.append(m.group(0))
    return found


def test_history_words_are_recognised():
    assert _history_words("measured in session 14") == ["session 14"]
    assert "until session" in _history_words("the demo until session 20")
    assert _history_words("the six methods of issue 20") and _history_words("(issue #7)")
    assert _history_words("at commit 896eca5")
    assert not _history_words("QUIP issues #703, #719; nglview#1181; scope='session'")
    assert not _history_words("2 sessions of a notebook server; the issue is the fit")


def test_no_development_history_in_tracked_files():
    """Tracked files describe the software and dated measurements, not how it was developed.

    The rule, for every file ``git ls-files`` lists that is UTF-8 text: no numbered
    development stage ("session 12", "sessions 18–20", "until session"), no reference to this
    project's issues ("issue 20", "issue #20") and no commit id given as history ("commit
    896eca5"). Allowed: an issue number of another project, written after that project's
    name (``UPSTREAM``: "QUIP issues #703"), or in GitHub's ``project#N`` form
    ("nglview#1181"), which the rule does not match. Skipped: requirements.lock (package
    versions only) and this file, which spells the patterns out.
    """
    import subprocess

    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                            text=True)
    if listed.returncode != 0:
        import pytest

        pytest.skip("not a git checkout")
    skipped = {"requirements.lock", "tests/test_project.py"}
    offending = {}
    for name in filter(None, listed.stdout.split("\0")):
        path = ROOT / name
        if name in skipped or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue   # images and other binary files
        if words := _history_words(text):
            offending[name] = words[:3]
    assert not offending, f"development history in tracked files: {offending}"


def test_no_module_imports_itself_in_a_circle():
    """Module by module, function-local imports included: a reader of a run does not import
    its writer back, nor any other module one that imports it."""
    import ast
    import graphlib

    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
               for p in sorted((ROOT / "gapexplore").rglob("*.py"))}
    graph = {}
    for module, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        # the package's own __init__ gathers everything: it is no part of a circle
        graph[module] = {m for m in found if m in modules and m not in ("gapexplore", module)}
    assert "gapexplore.run.reader" in graph["gapexplore.run.results"]
    graphlib.TopologicalSorter(graph).prepare()   # raises CycleError on a circle


#: The modules a function of the package may import where it needs them instead of at the
#: top of its module: optional dependencies, which the engine alone lacks, and modules that
#: would make ``import gapexplore`` measurably slower. Each figure is the seconds a module
#: adds to ``import gapexplore`` (2-core AMD EPYC VM, 2026-12-07, least of 9 runs of
#: ``OPENBLAS_NUM_THREADS=1 python -c "import gapexplore, time; t = time.perf_counter();
#: import MODULE; print(time.perf_counter() - t)"``). ``import gapexplore`` itself took
#: 1.11 s there, least of 25 runs of ``OPENBLAS_NUM_THREADS=1 python -c "import time;
#: t = time.perf_counter(); import gapexplore; print(time.perf_counter() - t)"`` at a load
#: average of 5; its CPU time (user + sys, which the load barely changes) was 0.56 s, least
#: of 10. scipy's linalg, spatial and special cost nothing there: ``ase.neighborlist`` has
#: imported them already.
LAZY_IMPORTS = {
    "torch",                          # optional dependency; 0.9 s
    "chgnet",                         # optional dependency; 4.4 s
    "gpaw",                           # optional dependency
    "bokeh",                          # optional dependency; 0.29 s
    "jupyter_bokeh",                  # optional dependency; 0.54 s
    "nglview",                        # optional dependency; 0.07 s
    "gapexplore.widgets",             # imports ipywidgets, an optional dependency; 0.12 s
    "sklearn",                        # 0.46-0.64 s
    "dscribe",                        # 0.69 s
    "dask",                           # 0.06 s; dask.distributed 0.23 s
    "distributed",                    # 0.38 s
    "matscipy.calculators.manybody",  # 0.23 s
    "ase.optimize.precon",            # 0.02 s (scipy.interpolate)
    "tqdm",                           # 0.03 s (tqdm.auto imports asyncio)
}


def _function_imports():
    """[(where, module)] for every import inside a function of the package."""
    import ast

    found = []
    for path in sorted((ROOT / "gapexplore").rglob("*.py")):
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = ["." * node.level + (node.module or "")]
                else:
                    continue
                found += [(f"{path.relative_to(ROOT)}:{node.lineno}", n) for n in names]
    return found


def _lazy(module):
    """The entry of :data:`LAZY_IMPORTS` that ``module`` falls under, or None."""
    return next((e for e in LAZY_IMPORTS if module == e or module.startswith(e + ".")), None)


def test_imports_are_at_the_top_unless_they_cost_import_time():
    """An import lives at the top of its module unless it is an optional dependency or
    would make ``import gapexplore`` measurably slower: every import inside a function
    names a module of :data:`LAZY_IMPORTS`, and every entry there is still imported so."""
    found = _function_imports()
    assert any(module == "torch" for _, module in found)
    stray = [f"{where}: {module}" for where, module in found if _lazy(module) is None]
    assert not stray, f"imports to move to the top of their module: {stray}"
    unused = LAZY_IMPORTS - {_lazy(module) for _, module in found}
    assert not unused, f"LAZY_IMPORTS entries no function imports: {sorted(unused)}"


def test_modules_and_functions_fit_on_a_screen_or_two():
    """No module of the package over 450 lines, no function body over 80 (its docstring
    not counted): a room that grows past that is two."""
    import ast

    long_modules, long_functions = [], []
    for path in sorted((ROOT / "gapexplore").rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > 450:
            long_modules.append(path.name)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                first = body[1] if len(body) > 1 and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) else body[0]
                if node.end_lineno - first.lineno + 1 > 80:
                    long_functions.append(f"{path.name}:{node.name}")
    assert not long_modules and not long_functions, (long_modules, long_functions)


def test_every_benchmark_pins_blas_through_the_shared_helper_and_edits_no_path():
    """Each script under ``benchmarks/`` imports ``_common`` (one BLAS thread) before numpy,
    touches no ``sys.path``, and writes nothing into a run's own files."""
    import ast

    scripts = sorted((ROOT / "benchmarks").rglob("*.py"))
    assert len(scripts) > 10
    for path in scripts:
        if path.name == "_common.py":
            continue
        text = path.read_text()
        tree = ast.parse(text)
        top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        names = [alias.name if isinstance(node, ast.Import) else node.module or ""
                 for node in top for alias in node.names]
        assert "_common" in names, f"{path.name} does not import _common"
        numpy = [n for n in names if n == "numpy" or n.startswith("numpy.")]
        if numpy:
            assert names.index("_common") < names.index(numpy[0]), \
                f"{path.name} imports numpy before _common"
        assert "sys.path" not in text, f"{path.name} edits sys.path"
        for call in ast.walk(tree):
            if isinstance(call, ast.Constant) and call.value in ("settings.json", "state.json"):
                line = text.splitlines()[call.lineno - 1]
                assert "write" not in line, f"{path.name}:{call.lineno} writes a run's file"
