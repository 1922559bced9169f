"""Write the random-cell space-group tables (gapexplore/generate/space_groups.json).

They are fixed data computed from spglib's database; run this after changing the rules in
gapexplore/generate/spacegroups.py. tests/test_generate.py checks that the stored tables
are exactly what those rules compute::

    .venv/bin/python tools/write_space_groups.py
"""

from gapexplore.generate.spacegroups import TABLES, write_space_groups

if __name__ == "__main__":
    write_space_groups()
    print(f"wrote {TABLES}")
