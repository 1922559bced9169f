"""The spread of a small fit's accuracy over training sets: what tests/test_fit_real.py's
tolerances rest on.

For each seed: ``--cells`` random Si cells (``initial_cells``), optionally six rattled diamond
cells around the minimum (``--diamonds``, as the test does), the dimers and the isolated atom,
labelled with Stillinger–Weber, fitted with the light GAP; printed: the relaxed-diamond
energy error [meV/atom] and the training RMSEs. Run it under another ``OPENBLAS_CORETYPE``
to see how a machine's kernels move it::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/fit_spread.py --cells 40 --diamonds
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/fit_spread.py --cells 40 120
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import _common  # one BLAS thread: before numpy loads
import numpy as np


def main():
    from gapexplore import Chemistry, dimers, initial_cells, isolated_atom
    from gapexplore.fit import GapSettings, fit_gap, load_potential
    from gapexplore.label import label_structures, reference_calculator

    test = _common.from_tests("test_fit_real")
    _diamond_cells, _relaxed_diamond_energy = test._diamond_cells, test._relaxed_diamond_energy
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[40])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--diamonds", action="store_true",
                        help="add the test's six rattled diamond cells")
    args = parser.parse_args()
    si = Chemistry.of("Si")
    reference = _relaxed_diamond_energy(reference_calculator("sw-si"))
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"diamond cells: {'yes' if args.diamonds else 'no'}")
    print("cells  seed  diamond error [meV/atom]  RMSE E [meV/atom]  RMSE F [eV/Å]  time [s]")
    for n_cells in args.cells:
        errors = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            rng = np.random.default_rng(seed)
            structures = initial_cells(si, n_cells, rng=rng)
            if args.diamonds:
                structures += _diamond_cells(rng)
            labelled = label_structures(structures + dimers(si) + [isolated_atom(si)], "sw-si")
            with tempfile.TemporaryDirectory() as workdir:
                result = fit_gap(labelled, si, Path(workdir), settings=GapSettings.light(si))
                error = _relaxed_diamond_energy(load_potential(result.potential)) - reference
            errors.append(1000 * error)
            print(f"{n_cells:5d}  {seed:4d}  {1000 * error:+24.2f}  "
                  f"{1000 * result.rmse_energy:17.1f}  {result.rmse_forces:13.3f}  "
                  f"{time.perf_counter() - start:8.0f}", flush=True)
        print(f"{n_cells:5d}  all   {min(errors):+.1f} to {max(errors):+.1f} "
              f"(mean {np.mean(errors):+.1f}, sd {np.std(errors):.1f})")


if __name__ == "__main__":
    main()
