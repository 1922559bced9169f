"""Space groups of structures: the one home of how gapexplore asks spglib, used by the
relax step's record of an iteration's lowest minimum, the kinds of minimum
``label_lowest`` labels, and the matcher of a run's results."""

from __future__ import annotations

import numpy as np
import spglib
from ase import Atoms

__all__ = ["achiral", "canonical_cell", "space_group"]

#: Enantiomorphic pairs of space groups (by number): a structure and its mirror image.
_ENANTIOMORPHS = {76: 78, 91: 95, 92: 96, 144: 145, 151: 153, 152: 154, 169: 170,
                  171: 172, 178: 179, 180: 181, 212: 213}


def canonical_cell(atoms: Atoms) -> tuple:
    """The spglib cell of ``atoms`` with the atoms in a fixed order (by element, then
    fractional coordinates to 1e-3): spglib's answer for a structure at the edge of its
    tolerance can depend on the order of the atoms (measured: P-4 or P4/m for one 8-atom
    minimum, ``benchmarks/bench_matcher.py``), and the order of atoms is not a property
    of a structure."""
    fractional = atoms.get_scaled_positions() % 1.0
    rounded = np.round(fractional, 3) % 1.0
    order = np.lexsort((rounded[:, 2], rounded[:, 1], rounded[:, 0], atoms.numbers))
    return atoms.cell[:], fractional[order], atoms.numbers[order]


def space_group(atoms: Atoms, symprec: float = 0.1) -> str | None:
    """The space group spglib finds for ``atoms`` at ``symprec`` [Å], as its symbol and
    number (e.g. ``'F-43m (216)'``); None where it finds none."""
    return spglib.get_spacegroup(canonical_cell(atoms), symprec=symprec)


def achiral(spacegroup: str) -> int | str:
    """The number of the space group ``spacegroup`` (:func:`space_group`'s text), one of
    each enantiomorphic pair standing for both; the text itself where it has no number."""
    try:
        number = int(spacegroup.rsplit("(", 1)[1].rstrip(")"))
    except (IndexError, ValueError):
        return spacegroup
    return min(number, _ENANTIOMORPHS.get(number, number),
               *(k for k, v in _ENANTIOMORPHS.items() if v == number))
