"""Distances in periodic cells: the one home of the shortest-distance checks that
generation, labelling, relaxation and analysis apply."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from matscipy.neighbours import neighbour_list

__all__ = ["min_distance", "shortest_distance_below"]


def min_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance of ``atoms`` [Å], periodic images included.

    Uses ASE's neighbour list. For a single atom in a periodic cell, this is the shortest
    lattice vector; for a single atom without periodicity, infinity.
    """
    if not atoms.pbc.any():
        if len(atoms) < 2:
            return float("inf")
        return float(np.min(atoms.get_all_distances()[np.triu_indices(len(atoms), 1)]))
    cutoff = 3.0  # Å: covers every bonded pair; doubled for sparse cells
    while True:
        d = neighbor_list("d", atoms, cutoff, self_interaction=False)
        if len(d):
            return float(d.min())
        cutoff *= 2


def shortest_distance_below(atoms: Atoms, cutoff: float) -> float | None:
    """Shortest interatomic distance [Å] if it is below ``cutoff`` [Å], else None.

    Cheaper than :func:`min_distance` because it only looks within ``cutoff``; periodic
    images count, and so do coincident atoms. matscipy's compiled neighbour list takes
    about 15 µs for 16 atoms, ASE's 1–4 ms; ASE's serves structures without a full cell,
    which matscipy refuses.
    """
    neighbours = neighbour_list if atoms.cell.rank == 3 else neighbor_list
    distances = neighbours("d", atoms, cutoff)
    return float(distances.min()) if len(distances) else None
