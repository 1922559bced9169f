"""Command line: ``gapexplore demo`` and ``gapexplore select``.

Until the exploration engine exists, ``demo`` runs the part of the protocol that does:
iteration 0's random cells, dimers and isolated atom, the averaged-SOAP kernel and the
CUR selection, written as extxyz into a run folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
from ase.io import write

from . import keys
from .chemistry import BONDING_KINDS, Chemistry
from .descriptors import SoapSettings
from .errors import GapExploreError
from .generate import dimers, initial_cells, isolated_atom
from .select import METHODS, select_structures

log = logging.getLogger("gapexplore")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gapexplore", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="iteration 0 of GAP-RSS, up to the selected cells")
    demo.add_argument("--element", default="Si", help="chemical symbol (default: Si)")
    demo.add_argument("--bonding", choices=BONDING_KINDS, default=None,
                      help="default: tabulated for the element")
    demo.add_argument("--radius", type=float, default=None,
                      help="characteristic radius in Å (default: tabulated)")
    demo.add_argument("--candidates", type=int, default=200,
                      help="random cells to generate (paper: 10000; default: 200)")
    demo.add_argument("--select", type=int, default=20,
                      help="cells to select (paper: 100; default: 20)")
    demo.add_argument("--method", choices=METHODS, default="kernel_cur")
    demo.add_argument("--soap", choices=("paper", "fast"), default="paper",
                      help="averaged-SOAP settings (default: the paper's)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--jobs", type=int, default=1, help="processes for SOAP (default: 1)")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"),
                      help="run folder (default: runs/demo)")
    return parser


def demo(args: argparse.Namespace) -> Path:
    """Run iteration 0 up to the selection and write it to ``args.out``."""
    chemistry = Chemistry.of(args.element, bonding=args.bonding, radius=args.radius)
    soap = SoapSettings.paper() if args.soap == "paper" else SoapSettings.fast()
    if args.select > args.candidates:
        raise GapExploreError(f"--select ({args.select}) must not exceed --candidates "
                              f"({args.candidates}).")
    rng = np.random.default_rng(args.seed)
    gen_rng, select_rng = rng.spawn(2)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cells = initial_cells(chemistry, args.candidates, rng=gen_rng)
    t1 = time.perf_counter()
    selection = select_structures(cells, args.select, rng=select_rng, method=args.method,
                                  soap=soap, n_jobs=args.jobs)
    t2 = time.perf_counter()
    extras = [isolated_atom(chemistry)] + dimers(chemistry)
    write(out / "candidates.xyz", cells, format="extxyz")
    write(out / "selected.xyz", selection.structures, format="extxyz")
    write(out / "dimers_and_atom.xyz", extras, format="extxyz")
    volumes = np.array([a.get_volume() / len(a) for a in selection.structures])
    print(f"gapexplore demo: {chemistry.element}, r = {chemistry.radius} Å, {chemistry.bonding}")
    print(f"  generated {len(cells)} random cells in {t1 - t0:.1f} s "
          f"(V0 = {chemistry.volume_per_atom:.2f} Å^3/atom, min separation "
          f"{chemistry.min_separation:.2f} Å)")
    print(f"  selected {len(selection.structures)} by {args.method} in {t2 - t1:.1f} s; "
          f"their volumes {volumes.min():.1f}–{volumes.max():.1f} Å^3/atom, "
          f"atoms {min(map(len, selection.structures))}–{max(map(len, selection.structures))}, "
          f"symmetry operations {sorted({a.info[keys.SYMMOPS] for a in selection.structures})}")
    print(f"  wrote {out}/candidates.xyz, selected.xyz and dimers_and_atom.xyz "
          f"({len(extras)} structures)")
    return out


def main(argv=None) -> int:
    """Entry point of the ``gapexplore`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "demo":
            demo(args)
    except GapExploreError as error:
        print(f"gapexplore: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
