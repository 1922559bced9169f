"""Step 3 of the loop: which structures to label. The flat histogram (:mod:`.histogram`),
then CUR or random choice (:mod:`.cur`); on lists of ``ase.Atoms``, one
:class:`Selector` per method (:mod:`.base`, :mod:`.selectors`), built by name by
:func:`select_structures` (:mod:`.selection`)."""

from gapexplore.select.base import Selector
from gapexplore.select.cur import (
    cur_indices,
    fps_indices,
    kernel_features,
    leverage_indices,
    random_indices,
    uncertainty_indices,
)
from gapexplore.select.histogram import (
    KT_SCHEDULE,
    flat_histogram_indices,
    flat_histogram_probabilities,
    kt_for_iteration,
)
from gapexplore.select.selection import METHODS, Selection, select_structures
from gapexplore.select.selectors import (
    SELECTORS,
    KernelCUR,
    KernelFPS,
    KernelLeverage,
    RandomSelector,
    UncertaintySelector,
    VectorCUR,
)

__all__ = ["KT_SCHEDULE", "METHODS", "kt_for_iteration", "flat_histogram_probabilities",
           "flat_histogram_indices", "cur_indices", "kernel_features", "leverage_indices",
           "fps_indices", "random_indices", "uncertainty_indices",
           "Selection", "select_structures", "Selector", "SELECTORS", "KernelCUR",
           "KernelLeverage", "KernelFPS", "VectorCUR", "UncertaintySelector",
           "RandomSelector"]
