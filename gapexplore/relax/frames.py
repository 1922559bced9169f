"""What a relaxation keeps and when it stops early, for both loops (one cell at a time in
:mod:`.loop`, many at once in :mod:`.batched`): the frame of one step, the statuses, and
the explosion guard."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.units import GPa

from gapexplore.core import keys
from gapexplore.core.geometry import shortest_distance_below

__all__ = ["STATUS_CONVERGED", "STATUS_MAX_STEPS", "explosion", "make_frame"]

#: ``keys.RELAX_STATUS`` of a relaxation that reached ``fmax``.
STATUS_CONVERGED = "converged"
#: ``keys.RELAX_STATUS`` of a relaxation that reached ``max_steps`` first.
STATUS_MAX_STEPS = "max_steps"


def make_frame(atoms: Atoms, energy: float, pressure: float, step: int) -> Atoms:
    """A copy of ``atoms`` without calculator, as a trajectory keeps it: its GAP energy
    [eV], enthalpy per atom at ``pressure`` [GPa] (eV/atom), the pressure, the step and
    the trajectory's config type in ``info``."""
    frame = atoms.copy()
    frame.calc = None
    frame.info[keys.GAP_ENERGY] = float(energy)
    frame.info[keys.ENTHALPY_PER_ATOM] = float(
        (energy + pressure * GPa * atoms.get_volume()) / len(atoms))
    frame.info[keys.PRESSURE] = float(pressure)
    frame.info[keys.RELAX_STEP] = step
    frame.info[keys.CONFIG_TYPE] = keys.CONFIG_RSS_TRAJECTORY
    return frame


def explosion(atoms: Atoms, energy: float, v_start: float, d_min: float, bounds, *,
              shortest: float | None = None) -> str | None:
    """Why a relaxation has exploded, or None: a non-finite energy [eV], a volume per atom
    outside ``bounds`` × ``v_start`` [Å³/atom], or two atoms (periodic images included)
    closer than ``d_min`` [Å]. ``shortest`` [Å], when given, is the structure's shortest
    distance already known to be complete below ``d_min``."""
    if not np.isfinite(energy):
        return "non-finite energy"
    ratio = atoms.get_volume() / len(atoms) / v_start
    if not bounds[0] <= ratio <= bounds[1]:
        return f"volume per atom changed by a factor {ratio:.2f}"
    if d_min > 0:
        if shortest is None:
            shortest = shortest_distance_below(atoms, d_min)
        if shortest is not None and shortest < d_min:
            return f"atoms closer than {d_min:.2f} Å"
    return None
