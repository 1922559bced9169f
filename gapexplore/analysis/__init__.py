"""What a run found and how well its GAPs know it: the data behind paper Figs. 2–5.

Pure functions on lists of ``ase.Atoms`` and run folders; the plots of these data are in
:mod:`gapexplore.widgets.plots` and the interactive views in :mod:`gapexplore.widgets`.

- :func:`learning_curves` — energy error of the known structures after each fit, against
  the number of reference labels (paper Figs. 2 and 3, left).
- :func:`prediction_errors` — each GAP's energy error on the next iteration's labels,
  which its own search found: a learning curve that needs no known structure.
- :func:`energy_volume` — energy–volume curves of a structure by several calculators
  (paper Fig. 3, right).
- :func:`energy_energy` — GAP against reference energies of labelled structures
  (paper Fig. 4).
- :func:`structure_map` — kernel-PCA map of a database with every cell rescaled to a
  shortest bond of 1 Å and coloured by coordination number (paper Fig. 5).
- :func:`formation_energies` — the formation-energy convex hull of a binary or ternary
  database, by the reference and by a GAP (a run across compositions).

:mod:`.curves` reads run folders; :mod:`.energies` compares energies; :mod:`.maps` draws the
structure map; :mod:`.hull` the formation-energy hull.
"""

from gapexplore.analysis.curves import learning_curves, prediction_errors, run_labels
from gapexplore.analysis.energies import energy_energy, energy_volume
from gapexplore.analysis.hull import HullData, formation_energies, hull_problem
from gapexplore.analysis.maps import (
    MAP_SOAP,
    StructureMapData,
    coordination_numbers,
    nystrom_residual,
    rescale_to_shortest_bond,
    structure_map,
)

__all__ = ["MAP_SOAP", "HullData", "StructureMapData", "coordination_numbers",
           "energy_energy", "energy_volume", "formation_energies", "hull_problem",
           "learning_curves",
           "nystrom_residual", "prediction_errors", "rescale_to_shortest_bond", "run_labels",
           "structure_map"]
