"""gapexplore: de novo exploration and fitting of potential-energy surfaces with GAP-RSS.

The protocol of Bernstein, Csányi & Deringer, npj Comput. Mater. 5, 99 (2019), one
module per step: :mod:`~gapexplore.generate` (random cells, dimers, isolated atom),
:mod:`~gapexplore.relax` (enthalpy minimisation at random pressures),
:mod:`~gapexplore.descriptors` (configuration-averaged SOAP and its kernel),
:mod:`~gapexplore.select` (Boltzmann-biased flat histogram, then leverage-score CUR),
:mod:`~gapexplore.reference` (labels from any ASE calculator, toy references by name) and
:mod:`~gapexplore.fit` (the 2b + 3b + SOAP GAP with automatic δ and hull-based noise).
Where the work runs is :mod:`~gapexplore.parallel`.
"""

from .chemistry import Chemistry
from .descriptors import SoapSettings, averaged_soap, soap_kernel
from .errors import (
                     GapExploreError,
                     GapFitError,
                     GenerationError,
                     InvalidParameterError,
                     ReferenceFailed,
)
from .explore import Explorer, ExploreSettings
from .fit import FitResult, GapSettings, fit_gap, load_potential
from .generate import dimers, initial_cells, isolated_atom, random_cells
from .noise import NoiseSettings
from .parallel import default_executor, map_ordered
from .reference import label_structures, reference_calculator, split_labelled
from .relax import RelaxSettings, random_pressures, relax_structures
from .select import Selection, kt_for_iteration, select_structures

__version__ = "0.1.0"

__all__ = [
    "Chemistry",
    "SoapSettings",
    "averaged_soap",
    "soap_kernel",
    "GapExploreError",
    "GapFitError",
    "GenerationError",
    "InvalidParameterError",
    "ReferenceFailed",
    "Explorer",
    "ExploreSettings",
    "FitResult",
    "GapSettings",
    "fit_gap",
    "load_potential",
    "NoiseSettings",
    "default_executor",
    "map_ordered",
    "label_structures",
    "reference_calculator",
    "split_labelled",
    "RelaxSettings",
    "random_pressures",
    "relax_structures",
    "dimers",
    "initial_cells",
    "isolated_atom",
    "random_cells",
    "Selection",
    "kt_for_iteration",
    "select_structures",
]
