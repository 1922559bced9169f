"""Step 5 of the loop: the 2b + 3b + SOAP GAP with automatic δ and hull-based noise.

:mod:`.command` holds the settings (paper Table 1) and builds the ``gap_fit`` command;
:mod:`.noise` the per-configuration σ from the height above the (V, E) hull; :mod:`.run`
fits (three ``gap_fit`` runs for δ); :mod:`.predict` loads a GAP (quippy or the native
engine) and predicts with it.
"""

from gapexplore.fit.command import (
    GAP_FIT_VARIABLE,
    TABLE1_CUTOFFS,
    TERMS,
    GapSettings,
    estimate_memory,
    find_gap_fit,
    gap_fit_command,
    soap_length,
)
from gapexplore.fit.noise import NoiseSettings
from gapexplore.fit.predict import ENGINES, load_potential, predict, predicted_errors
from gapexplore.fit.run import FitResult, delta_from_spread, fit_gap

__all__ = ["ENGINES", "GAP_FIT_VARIABLE", "TABLE1_CUTOFFS", "TERMS", "GapSettings",
           "estimate_memory", "find_gap_fit", "gap_fit_command", "NoiseSettings", "FitResult",
           "delta_from_spread", "fit_gap", "load_potential", "predict", "predicted_errors",
           "soap_length"]
