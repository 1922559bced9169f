"""Write binder/requirements.txt: the locked versions of what the notebooks need.

``python tools/binder_pins.py`` (with the environment `make test` installs, where every
package is at its requirements.lock version). What the notebooks need is the engine's
dependencies and the ``notebook`` extra of pyproject.toml, and everything they depend on in
turn, read from the installed packages' metadata on this platform (Linux, Python 3.11, as on
Binder). Each is pinned at its requirements.lock version; CHGNet, torch, GPAW and the test and
documentation tools are left out. tests/test_project.py checks that the file is what this
script writes.
"""

import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "binder" / "requirements.txt"
EXTRAS = ("notebook",)
#: Installed with pip itself, never pinned by requirements.lock.
TOOLING = {"pip", "setuptools", "wheel"}
HEADER = """\
# Binder installs exactly these (binder/environment.yml): the engine's dependencies and the
# "notebook" extra of pyproject.toml with everything they need, at the versions of
# requirements.lock. Written by tools/binder_pins.py; tests/test_project.py keeps it so.
"""


def canonical(name: str) -> str:
    """The normalised form of a distribution name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock(path: Path = ROOT / "requirements.lock") -> dict[str, tuple[str, str]]:
    """{canonical name: (name as locked, version)} of requirements.lock."""
    pins = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonical(name)] = (name, version)
    return pins


def roots() -> list[Requirement]:
    """The engine's dependencies and the notebook extra, as pyproject.toml states them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in EXTRAS:
        texts += project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def closure() -> set[str]:
    """Canonical names of the roots and of all they depend on, on this platform."""
    found: dict[str, set[str]] = {}   # name -> the extras of it already followed
    todo = [(canonical(r.name), set(r.extras)) for r in roots()]
    while todo:
        name, extras = todo.pop()
        if name in TOOLING or (name in found and extras <= found[name]):
            continue
        # "" stands for the package itself: its requirements without an extra marker.
        new = extras - found.get(name, set()) | ({""} if name not in found else set())
        found.setdefault(name, set()).update(extras)
        try:
            requirements = requires(name) or []
        except PackageNotFoundError as error:
            raise SystemExit(f"{name} is not installed here: run make setup first") from error
        for requirement in map(Requirement, requirements):
            if requirement.marker is None and "" not in new:
                continue
            if requirement.marker is None or any(
                    requirement.marker.evaluate({"extra": extra}) for extra in new):
                todo.append((canonical(requirement.name), set(requirement.extras)))
    return set(found)


def pins() -> list[str]:
    """``name==version`` of every package Binder installs, from requirements.lock."""
    locked = lock()
    missing = sorted(closure() - set(locked))
    if missing:
        raise SystemExit(f"not in requirements.lock: {missing}; run make lock")
    return [f"{locked[n][0]}=={locked[n][1]}" for n in sorted(closure(), key=str.lower)]


def main(out: Path = OUT) -> None:
    """Write ``out``."""
    out.write_text(HEADER + "\n".join(pins()) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
