"""Step 1 of the loop: random cells with AIRSS ``buildcell`` semantics (:mod:`.cells`, with
the symmetry tables of :mod:`.spacegroups` solved exactly by :mod:`.exact`), and the dimers
and isolated atom of iteration 0 (:mod:`.extras`)."""

from gapexplore.generate.cells import (
    NARROW_SPREAD,
    WIDE_SPREAD,
    cells_across,
    initial_cells,
    random_cells,
)
from gapexplore.generate.extras import dimers, isolated_atom

__all__ = ["NARROW_SPREAD", "WIDE_SPREAD", "random_cells", "initial_cells", "cells_across",
           "dimers", "isolated_atom"]
