"""gapexplore: de novo exploration and fitting of potential-energy surfaces with GAP-RSS.

The protocol of Bernstein, Csányi & Deringer, npj Comput. Mater. 5, 99 (2019), one
module per step: :mod:`~gapexplore.generate` (random cells, dimers, isolated atom),
:mod:`~gapexplore.descriptors` (configuration-averaged SOAP and its kernel) and
:mod:`~gapexplore.select` (Boltzmann-biased flat histogram, then leverage-score CUR).
"""

from .chemistry import Chemistry
from .descriptors import SoapSettings, averaged_soap, soap_kernel
from .errors import GapExploreError, GenerationError, InvalidParameterError
from .generate import dimers, initial_cells, isolated_atom, random_cells
from .select import Selection, kt_for_iteration, select_structures

__version__ = "0.1.0"

__all__ = [
    "Chemistry",
    "SoapSettings",
    "averaged_soap",
    "soap_kernel",
    "GapExploreError",
    "GenerationError",
    "InvalidParameterError",
    "dimers",
    "initial_cells",
    "isolated_atom",
    "random_cells",
    "Selection",
    "kt_for_iteration",
    "select_structures",
]
