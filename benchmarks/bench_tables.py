"""Random-cell space-group tables: reading the stored ones against computing them.

Every process that draws random cells needs :func:`gapexplore.generate.spacegroups.
space_groups` once. The tables are fixed data, so they are stored
(``gapexplore/generate/space_groups.json``) and read; this prints the time to read them and
the time to compute them from spglib's database (the baseline, measured in the same run),
each the best of ``--repeat`` fresh processes, and their ratio::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_tables.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import _common  # noqa: F401  one BLAS thread in this process and the timed ones

_TIMED = """
import time
import gapexplore.generate.spacegroups as s
start = time.perf_counter()
groups = s.{function}()
print(time.perf_counter() - start, len(groups), sum(len(g.sites) for g in groups))
"""


def best_of(function: str, repeat: int) -> tuple[float, int, int]:
    """Fastest of ``repeat`` fresh processes calling ``function`` [s], and its group and
    site counts (module imports not timed)."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _TIMED.format(function=function)],
                             capture_output=True, text=True, check=True).stdout.split()
        runs.append((float(out[0]), int(out[1]), int(out[2])))
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    read = best_of("space_groups", args.repeat)
    computed = best_of("compute_space_groups", args.repeat)
    assert read[1:] == computed[1:], "the stored tables differ from the computed ones"
    print(f"{read[1]} groups, {read[2]} site kinds")
    print(f"compute from spglib (baseline): {computed[0] * 1000:8.1f} ms")
    print(f"read the stored tables:         {read[0] * 1000:8.1f} ms")
    print(f"ratio: {computed[0] / read[0]:.0f}x faster per process")


if __name__ == "__main__":
    main()
