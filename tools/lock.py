"""Write requirements.lock: the exact versions `make` installs, from a fresh resolution.

Run by `make lock` in a throw-away virtual environment where the project was installed
with every extra from the bounded ranges of pyproject.toml (no lock), so the lock records
what those ranges resolve to today. Local version labels (torch's "+cpu") are dropped: the
lock pins the release, and `make` installs the CPU build of torch first.
"""

import subprocess
import sys
from datetime import date

HEADER = f"""\
# Exact versions installed by `make` (pip's --constraint): the same environment on every
# machine. Written by `make lock` on {date.today().isoformat()} from pyproject.toml's ranges;
# change pyproject.toml, then run `make lock` to rewrite this file on purpose.
"""


def main(python: str, out: str) -> None:
    """Freeze the environment of ``python`` into the lock file ``out``."""
    frozen = subprocess.run([python, "-m", "pip", "freeze", "--exclude-editable"],
                            check=True, capture_output=True, text=True).stdout.splitlines()
    lines = []
    for line in frozen:
        if "==" not in line or line.startswith(("-e", "#")):
            continue
        name, version = line.split("==", 1)
        lines.append(f"{name}=={version.split('+', 1)[0]}")
    with open(out, "w") as handle:
        handle.write(HEADER + "\n".join(sorted(lines, key=str.lower)) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
