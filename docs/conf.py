"""Sphinx configuration of the gapexplore documentation (``make docs``)."""

import io
import os
import sys
from contextlib import redirect_stdout
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

project = "gapexplore"
author = "the gapexplore developers"
copyright = "2026, the gapexplore developers"  # noqa: A001
try:
    release = _version("gapexplore")
except PackageNotFoundError:   # a checkout that was not installed: the version it declares
    import tomllib

    release = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
version = release

extensions = [
    "myst_nb",                   # MyST markdown and the notebooks (not executed)
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",       # numpydoc-style docstrings
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints",
                    "reference/_generated", "paper-runs/report.md"]

# --- MyST and the notebooks ----------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3
myst_dmath_double_inline = True
nb_execution_mode = "off"        # the notebooks run in CI (tests/test_notebooks.py), not here
nb_output_stderr = "remove"
# Notebooks and generated reports jump heading levels (H1 to H3); that is not an error.
suppress_warnings = ["myst.header"]

# --- Binder: the one place that names the repository's public address ----------------------
#: GitHub's owner/name of the repository that the "launch on Binder" links open. Set it with
#: `python tools/set_repository.py OWNER/NAME`, which also rewrites README.md's Binder badge
#: (tests/test_docs.py checks that they agree); see docs/how-to/install.md, "Binder".
github_repository = "gapexplore/gapexplore"
binder_url = f"https://mybinder.org/v2/gh/{github_repository}/HEAD?labpath=notebooks"
myst_substitutions = {"binder_link": f"[launch the notebooks on Binder]({binder_url})"}

# --- autodoc -------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "member-order": "bysource", "ignore-module-all": True,
                           "undoc-members": True}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
napoleon_use_param = False

# Nitpicky mode (-n) checks every cross-reference inside the site. The third-party types
# named in signatures and docstrings have no inventory here (the build is offline), so they
# are not references this site can resolve.
nitpick_ignore_regex = [
    (r"py:.*", r"(ase|numpy|np|scipy|sklearn|dask|distributed|concurrent|bokeh|ipywidgets"
               r"|nglview|quippy|pathlib|collections|typing|os|subprocess|logging"
               r"|multiprocessing|tqdm|spglib|dscribe|matscipy|chgnet|gpaw|pandas|json"
               r"|argparse|enum|dataclasses|datetime|io|random|threading|types|torch)(\..*)?"),
    (r"py:.*", r"(Path|Atoms|Generator|ndarray|Executor|Future|Calculator|Callable|Iterable"
               r"|Iterator|Sequence|Mapping|Any|Literal|Self|ClassVar|TextIO|PathLike"
               r"|array_like|array-like|optional|callable|iterable|sequence|mapping"
               r"|np\.ndarray|numpy\.ndarray|Filter|Optimizer|Potential)"),
    (r"py:.*", r"(int|float|str|bool|dict|list|tuple|set|None|bytes|object|type|frozenset"
               r"|functools\.partial)"),
    (r"py:.*", r"_.*"),   # private helpers named in docstrings are not documented
    # Docstring types are often phrases ("array, shape (n, 3)", "float [Å]"): napoleon turns
    # their words into class references. Only dotted or CapWords names are references.
    (r"py:class", r".*[^A-Za-z0-9_.].*"),
    (r"py:class", r"[a-z0-9_]+|V0|eV|kT"),
]

# --- HTML ----------------------------------------------------------------------------------
toc_object_entries_show_parents = "hide"   # "element", not "ExploreSettings.element"
html_theme = "pydata_sphinx_theme"
html_title = f"gapexplore {release}"
# MathJax is served from the site itself, not a CDN, so equations typeset offline.
# tools/fetch_mathjax.py (run by `make docs`) puts it in docs/_vendor/mathjax (git-ignored).
MATHJAX = HERE / "_vendor" / "mathjax" / "tex-mml-chtml.js"
if not MATHJAX.is_file():
    raise RuntimeError(f"{MATHJAX.relative_to(ROOT)} is missing: run `make docs`, or "
                       "`python tools/fetch_mathjax.py` (needs npm), before sphinx-build")
html_static_path = ["_vendor"]
mathjax_path = "mathjax/tex-mml-chtml.js"   # relative to the built site's _static/
html_favicon = "_static/favicon.svg"   # else browsers ask for a /favicon.ico that is not there
# The theme's colour mode when the reader has chosen none (without it the theme's script
# logs an error to the console on a first visit).
html_context = {"default_mode": "auto"}
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"index": []}


# --- the command-line reference, written from the parser itself ----------------------------
def _write_cli_help() -> None:
    """Write ``reference/_generated/cli-help.md``: the ``--help`` text of every command."""
    import argparse

    from gapexplore.cli import _parser

    os.environ["COLUMNS"] = "76"
    parser = _parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parts = ["## gapexplore", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in subparsers.choices.items():
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            sub.print_help()
        parts += [f"## gapexplore {name}", "", "```text", buffer.getvalue().rstrip(), "```", ""]
    out = HERE / "reference" / "_generated"
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join(parts)
    target = out / "cli-help.md"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def _write_references() -> None:
    """Write ``reference/_generated/references.md``: a table of every named reference."""
    from gapexplore.label.named import NAMED_REFERENCES

    rows = ["| name | elements | calculator | time limit | cite |", "|---|---|---|---|---|"]
    for name, ref in NAMED_REFERENCES.items():
        elements = ", ".join(getattr(ref, "elements", None) or ()) or "1–94"
        form = getattr(ref, "form", None)
        what = getattr(ref, "loader", None) or (f"matscipy {form.split(':')[-1]}" if form
                                                 else type(ref).__name__)
        timeout = getattr(ref, "timeout", None)
        limit = "none" if timeout is None else f"{timeout:g} s"
        rows.append(f"| `{name}` | {elements} | `{what}` | {limit} "
                    f"| {getattr(ref, 'citation', '')} |")
    target = HERE / "reference" / "_generated" / "references.md"
    text = "\n".join(rows) + "\n"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


_write_cli_help()
_write_references()


# --- references to public names ------------------------------------------------------------
def _public_name(app, env, node, contnode):
    """Resolve ``gapexplore.label.label_structures`` (a name as users import it) or a bare
    ``Explorer`` to the one place the API reference documents it (its defining module)."""
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    parts = node["reftarget"].lstrip(".~").split(".")
    for start in range(len(parts)):
        suffix = ".".join(parts[start:])
        if suffix in ("gapexplore", ""):
            break
        matches = domain.find_obj(env, None, None, suffix, node.get("reftype"), 1)
        if len(matches) == 1:
            name, _ = matches[0]
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                       name, node, contnode)
        if matches:
            break
    return None


def setup(app):
    """Hook the public-name resolver in after the Python domain's own lookup."""
    app.connect("missing-reference", _public_name)
