"""gapexplore: de novo exploration and fitting of potential-energy surfaces with GAP-RSS.

The protocol of Bernstein, Csányi & Deringer, npj Comput. Mater. 5, 99 (2019), one
sub-package per step of its Fig. 1:

* :mod:`~gapexplore.generate` — random cells (AIRSS buildcell semantics), dimers, the
  isolated atom;
* :mod:`~gapexplore.relax` — enthalpy minimisation with the current GAP at random pressures;
* :mod:`~gapexplore.describe` — configuration-averaged SOAP and its kernel;
* :mod:`~gapexplore.select` — Boltzmann-biased flat histogram, then leverage-score CUR;
* :mod:`~gapexplore.label` — reference labels from any ASE calculator (toy potentials,
  CHGNet, GPAW by name);
* :mod:`~gapexplore.fit` — the 2b + 3b + SOAP GAP with automatic δ and hull-based noise;
* :mod:`~gapexplore.validate` — known structures relaxed by the GAP and the reference
  (built by name in :mod:`~gapexplore.crystals`, with the held-out phases);
* :mod:`~gapexplore.run` — the loop (:class:`Explorer`), its settings and its run folder.

Under them :mod:`~gapexplore.core` (keys, errors, checks, chemistry, geometry, where the
work runs); over them the faces: :mod:`~gapexplore.cli`, :mod:`~gapexplore.widgets`, and
:mod:`~gapexplore.analysis` of finished runs.
"""

from gapexplore.core import keys
from gapexplore.core.chemistry import Chemistry, Composition
from gapexplore.core.errors import (
    GapExploreError,
    GapFitError,
    GenerationError,
    InvalidParameterError,
    ReferenceFailed,
)
from gapexplore.core.parallel import default_executor, map_ordered
from gapexplore.describe import SoapSettings, averaged_soap, soap_kernel
from gapexplore.fit import FitResult, GapSettings, NoiseSettings, fit_gap, load_potential
from gapexplore.generate import dimers, initial_cells, isolated_atom, random_cells
from gapexplore.label import (
    Reference,
    as_reference,
    label_structures,
    reference_calculator,
    split_labelled,
)
from gapexplore.relax import RelaxSettings, random_pressures, relax_structures
from gapexplore.run import Explorer, ExploreSettings, RunReader, RunStore, SelectionSettings
from gapexplore.select import Selection, kt_for_iteration, select_structures

__version__ = "0.1.0"

__all__ = [
    "keys",
    "Chemistry",
    "Composition",
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
    "RunReader",
    "RunStore",
    "SelectionSettings",
    "FitResult",
    "GapSettings",
    "fit_gap",
    "load_potential",
    "NoiseSettings",
    "default_executor",
    "map_ordered",
    "Reference",
    "as_reference",
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
