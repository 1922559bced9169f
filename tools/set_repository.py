"""Set the GitHub repository (owner/name) that the "launch on Binder" links open.

``python tools/set_repository.py OWNER/NAME`` writes it into its one setting,
``github_repository`` in docs/conf.py (every Binder link of the documentation site comes from
it), and rewrites README.md's Binder badge to match, since a README cannot read a setting.
``python tools/set_repository.py`` alone prints the setting. tests/test_docs.py checks that
README.md and docs/conf.py agree.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The setting's line in docs/conf.py.
SETTING = re.compile(r'^github_repository = "([^"]*)"$', re.MULTILINE)
#: The Binder address in README.md's badge.
BADGE = re.compile(r"https://mybinder\.org/v2/gh/[^/\s)]+/[^/\s)]+/HEAD\?labpath=notebooks")
#: GitHub's owner (user or organisation) and repository names.
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


def binder_url(repository: str) -> str:
    """The mybinder.org address that opens ``notebooks/`` of ``repository`` (owner/name)."""
    return f"https://mybinder.org/v2/gh/{repository}/HEAD?labpath=notebooks"


def current(root: Path = ROOT) -> str:
    """The repository set in ``root``/docs/conf.py."""
    return SETTING.search((root / "docs" / "conf.py").read_text()).group(1)


def set_repository(repository: str, root: Path = ROOT) -> None:
    """Write ``repository`` (owner/name) into ``root``/docs/conf.py and README.md's badge.

    Raises
    ------
    ValueError
        If ``repository`` is not a GitHub owner/name, or a file lacks the line to rewrite.
    """
    if not NAME.fullmatch(repository):
        raise ValueError(f"not a GitHub owner/name: {repository!r}")
    conf, readme = root / "docs" / "conf.py", root / "README.md"
    for path, pattern, new in ((conf, SETTING, f'github_repository = "{repository}"'),
                               (readme, BADGE, binder_url(repository))):
        text, count = pattern.subn(new, path.read_text())
        if count != 1:
            raise ValueError(f"{path}: expected one {pattern.pattern!r}, found {count}")
        path.write_text(text)


if __name__ == "__main__":
    if len(sys.argv) == 1:
        print(current())
    elif len(sys.argv) == 2:
        try:
            set_repository(sys.argv[1])
        except ValueError as error:
            sys.exit(f"set_repository: {error}")
        print(f"Binder links now open {binder_url(sys.argv[1])}")
    else:
        sys.exit("usage: python tools/set_repository.py [OWNER/NAME]")
