"""Names of the values gapexplore stores on ``ase.Atoms`` — defined here, and only here.

Per-structure values live in ``atoms.info[KEY]``; per-atom values in ``atoms.arrays[KEY]``.
All of them survive a round trip through extxyz (``ase.io.write(..., format="extxyz")``).
"""

#: What kind of structure this is; one of the ``CONFIG_*`` values below. ``gap_fit``
#: reads it as ``config_type``.
CONFIG_TYPE = "config_type"
CONFIG_ISOLATED_ATOM = "isolated_atom"
CONFIG_DIMER = "dimer"
CONFIG_RANDOM = "random_cell"

#: Position of the structure in the list it was generated in (int).
GEN_INDEX = "gen_index"
#: Volume range a random cell was drawn from: ``"narrow"`` or ``"wide"``.
VOLUME_RANGE = "volume_range"
#: Number of symmetry operations the random cell was built with (int).
SYMMOPS = "symmops"
#: Space-group number of the group the random cell was built with (int).
SPACEGROUP_BUILT = "spacegroup_built"
#: Bond length of a dimer [Å].
DIMER_DISTANCE = "dimer_distance"

#: Enthalpy per atom [eV/atom] that the flat-histogram selection reads.
ENTHALPY_PER_ATOM = "enthalpy_per_atom"

#: Scores written on selected structures by :func:`gapexplore.select.select_structures`.
#: Flat-histogram selection probability of the structure in its pool (float, sums to 1).
SELECT_HISTOGRAM_PROBABILITY = "select_histogram_probability"
#: Leverage score (residual, normalised) at the step CUR picked the structure (float).
SELECT_LEVERAGE = "select_leverage"
#: Order in which the selection picked the structure, from 0 (int).
SELECT_RANK = "select_rank"
#: Index of the structure in the candidate list given to the selection (int).
SELECT_SOURCE_INDEX = "select_source_index"
#: Selection method that chose the structure (str).
SELECT_METHOD = "select_method"
#: The GAP's predicted error of the structure when it was chosen [eV/atom]
#: (:func:`gapexplore.fit.predicted_errors`; uncertainty selection).
SELECT_PREDICTED_ERROR = "select_predicted_error"

# --- reference labels (gap_fit reads these names: energy_parameter_name=REF_energy, ...) ---
#: Reference total energy [eV] (info).
REF_ENERGY = "REF_energy"
#: Reference forces [eV/Å] (arrays, shape (n_atoms, 3)).
REF_FORCES = "REF_forces"
#: Reference virial [eV] (info, 3×3, = −stress × volume); periodic cells only.
REF_VIRIAL = "REF_virial"
#: Name of the reference that labelled the structure (str).
REF_NAME = "REF_name"
#: Why labelling failed (str); a structure carrying it has no REF_* values and is not fitted.
LABEL_ERROR = "label_error"

#: Further config types of the loop.
CONFIG_RSS_MINIMUM = "rss_minimum"
CONFIG_RSS_TRAJECTORY = "rss_trajectory"

# --- per-configuration fitting noise (gap_fit: *_sigma_parameter_name) --------------------
#: σ_E [eV/atom], σ_F [eV/Å], σ_V [eV/atom] of the structure, from its height above the hull.
ENERGY_SIGMA = "energy_sigma"
FORCE_SIGMA = "force_sigma"
VIRIAL_SIGMA = "virial_sigma"
#: Per-atom reference energy above the lower (V, E) convex hull [eV/atom].
HULL_DISTANCE = "hull_distance"

# --- relaxations (gapexplore.relax) --------------------------------------------------------
#: Energy of the frame from the driving GAP [eV].
GAP_ENERGY = "gap_energy"
#: External pressure of the relaxation [GPa].
PRESSURE = "pressure"
#: Optimiser step of the frame, from 0 (int).
RELAX_STEP = "relax_step"
#: Index of the relaxed structure in the list given to relax_structures (int).
RELAX_ID = "relax_id"
#: How the relaxation ended: "converged", "max_steps", "exploded: ..." or "error: ..." (str).
RELAX_STATUS = "relax_status"

# --- the run's database (gapexplore.run.store) ---------------------------------------------
#: Unique id of a structure that is (to be) labelled (str, e.g. ``"i001-s0003"``).
UID = "uid"
#: Iteration that labelled a structure (int), set by ``RunStore.labels``.
ITERATION = "iteration"

# --- the ranked results of a run (gapexplore.run.results) ---------------------------------------
#: Rank of a distinct structure found by a run, from 1 (int).
RESULT_RANK = "result_rank"
#: Prefix of the figures of a ranked structure in ``results/ranked.xyz`` (``result_energy``
#: [eV/atom], ``result_spacegroup``, ``result_count``, ``result_reference`` [eV/atom], ...).
RESULT_PREFIX = "result_"

# --- known structures (gapexplore.validate) ------------------------------------------------
#: Name of a known structure (a named phase, or one of the user's own in ``known.xyz``).
KNOWN_NAME = "known_name"
