"""Put MathJax into docs/_vendor/mathjax, so the documentation typesets equations offline.

Run by `make docs` when the copy is missing: ``python tools/fetch_mathjax.py [FOLDER]``.
It fetches the ``mathjax`` package from the npm registry (``npm pack``), checks the
tarball against the integrity hash the registry published for this version, and unpacks
only what the ``tex-mml-chtml`` component loads (the component, the TeX extensions it
autoloads, the CommonHTML fonts, the menu and the accessibility parts): about 7 MB. The
folder is git-ignored; docs/conf.py serves it as a static path and points ``mathjax_path``
at it, so the built site carries its own MathJax instead of loading it from a CDN.
"""

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "3.2.2"
#: ``npm view mathjax@3.2.2 dist.integrity``
INTEGRITY = ("sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtR"
             "ZM1vO+geW0OhGw==")
COMPONENT = "tex-mml-chtml.js"
#: What the component loads, relative to the package's es5/ folder.
PARTS = (COMPONENT, "input", "output/chtml", "output/chtml.js", "ui", "a11y", "sre",
         "adaptors")
DEFAULT = Path(__file__).resolve().parents[1] / "docs" / "_vendor" / "mathjax"


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def fetch(folder: Path = DEFAULT) -> Path:
    """Unpack MathJax ``VERSION`` into ``folder`` unless it is already there; return it."""
    folder = Path(folder)
    stamp = folder / "VERSION"
    if (folder / COMPONENT).is_file() and stamp.is_file() and \
            stamp.read_text().strip() == VERSION:
        (folder / COMPONENT).touch()   # newer than this script: make sees it is done
        return folder
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(["npm", "pack", f"mathjax@{VERSION}", "--pack-destination", str(tmp),
                        "--silent"], check=True, stdout=subprocess.DEVNULL)
        tarball = tmp / f"mathjax-{VERSION}.tgz"
        if _integrity(tarball) != INTEGRITY:
            raise RuntimeError(f"{tarball.name} does not match the registry's integrity hash")
        with tarfile.open(tarball) as archive:
            if hasattr(tarfile, "data_filter"):   # Python >= 3.11.4
                archive.extractall(tmp, filter="data")
            else:
                archive.extractall(tmp)
        es5 = tmp / "package" / "es5"
        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for part in PARTS:
            source, target = es5 / part, staging / part
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
        shutil.copy2(tmp / "package" / "LICENSE", staging / "LICENSE")
        (staging / "VERSION").write_text(VERSION + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    (folder / COMPONENT).touch()
    return folder


if __name__ == "__main__":
    print(fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
