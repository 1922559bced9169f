"""Step 4 of the loop: reference labels (energies, forces, virials) of the chosen structures.

:mod:`.engine` labels lists of ``ase.Atoms`` with any reference, in worker processes, with
failures recorded; :mod:`.protocol` says what a reference is; :mod:`.named` holds the ones
that can be named (toy potentials, the CHGNet surrogate of :mod:`.surrogate`, GPAW DFT of
:mod:`.dft`); :mod:`.references` turns anything a user passes into a reference.
"""

from gapexplore.label.engine import label_structures, split_labelled
from gapexplore.label.named import (
    DEFAULT_TOY_REFERENCES,
    DFT_REFERENCES,
    NAMED_REFERENCES,
    SURROGATE_REFERENCES,
    TOY_REFERENCES,
    PackagedReference,
    ToyReference,
    default_reference,
)
from gapexplore.label.protocol import (
    DEFAULT_MIN_DISTANCE,
    DEFAULT_REFERENCE_TIMEOUT,
    CalculatorReference,
    FactoryReference,
    Reference,
)
from gapexplore.label.references import (
    as_reference,
    cached_calculator,
    reference_calculator,
    reference_min_distance,
)

__all__ = ["label_structures", "split_labelled", "Reference", "ToyReference",
           "PackagedReference", "FactoryReference", "CalculatorReference", "TOY_REFERENCES",
           "SURROGATE_REFERENCES", "DFT_REFERENCES", "NAMED_REFERENCES",
           "DEFAULT_TOY_REFERENCES", "DEFAULT_MIN_DISTANCE", "DEFAULT_REFERENCE_TIMEOUT",
           "as_reference", "cached_calculator", "default_reference", "reference_calculator",
           "reference_min_distance"]
