"""Atoms on the orbits of a space group in a cell: general positions where the count allows,
special positions for the rest, pushed apart orbit by orbit (the symmetry stays exact) until
no two atoms are closer than the minimum separation (per pair of species for a compound),
as buildcell pushes by default."""

from __future__ import annotations

import numpy as np

from gapexplore.generate.exact import inv3, matvecs, norm2, vecmat
from gapexplore.generate.spacegroups import SpaceGroup

__all__ = ["place_orbits"]

_ORBIT_TRIES = 5        # draws per orbit looking for free room before pushing
_PUSH_STEPS = 300
_PUSH_PATIENCE = 0.95    # give up unless the overlap shrinks by 5 % every 10 steps
_PUSH_MARGIN = 1.02     # push pairs towards this multiple of d_min (more jams dense cells)
_ZERO_SHIFT = 13        # index of the (0, 0, 0) image in _SHIFTS
_SHIFTS = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing="ij")).reshape(3, -1).T


def place_orbits(group: SpaceGroup, n_atoms, cell: np.ndarray, d_min,
                 rng: np.random.Generator):
    """Fractional positions of ``n_atoms`` in orbits of ``group``, or None on failure.

    Parameters
    ----------
    n_atoms : int or sequence of int
        Atoms of one species, or of each species (each species on orbits of its own, so
        the symmetry keeps the stoichiometry).
    d_min : float or array_like, shape (n_species, n_species)
        Minimum separation [Å], or per pair of species.

    Each orbit is drawn a few times to find room for it; what still overlaps is then
    pushed apart (:func:`_push_apart`), as buildcell does by default. The positions come
    species by species, in the order of ``n_atoms``.
    """
    counts = [int(n_atoms)] if np.ndim(n_atoms) == 0 else [int(n) for n in n_atoms]
    d_min = np.broadcast_to(np.asarray(d_min, dtype=float), (len(counts), len(counts)))
    plan, kinds = [], []
    for species, count in enumerate(counts):
        sites = _orbit_plan(group, count, rng)
        if sites is None:
            return None
        plan += sites
        kinds += [species] * len(sites)
    atom_kinds = np.repeat(kinds, [site.multiplicity for site in plan])
    placed = np.empty((0, 3))
    representatives = []
    for site, species in zip(plan, kinds):
        orbit = None
        new_kinds = np.full(site.multiplicity, species)
        for _ in range(_ORBIT_TRIES):
            trial = group.orbit(site.sample(rng))
            if len(trial) != site.multiplicity:
                continue  # fell on a more special position
            orbit = trial
            limits = d_min[species][np.concatenate([atom_kinds[:len(placed)], new_kinds])]
            if _overlap(orbit, placed, cell, limits) == 0.0:
                break
        if orbit is None:
            return None
        representatives.append(orbit[0])
        placed = np.vstack([placed, orbit])
    if _overlap(placed, np.empty((0, 3)), cell, d_min[atom_kinds][:, atom_kinds]) == 0.0:
        return placed
    return _push_apart(group, plan, np.array(representatives), cell,
                       d_min[np.asarray(kinds)][:, atom_kinds])


def _orbit_plan(group: SpaceGroup, n_atoms: int, rng: np.random.Generator):
    """Site kinds whose multiplicities sum to ``n_atoms``: general positions first."""
    k = group.n_operations
    special = group.sites[1:]
    for n_general in range(n_atoms // k, -1, -1):
        rest = n_atoms - n_general * k
        chosen = _fill(rest, special, rng)
        if chosen is not None:
            return [group.sites[0]] * n_general + chosen
    return None


def _fill(rest: int, special, rng: np.random.Generator, depth: int = 0):
    if rest == 0:
        return []
    if depth > 24:
        return None
    for i in rng.permutation(len(special)):
        site = special[i]
        if site.multiplicity <= rest:
            tail = _fill(rest - site.multiplicity, special, rng, depth + 1)
            if tail is not None:
                return [site] + tail
    return None


def _pair_vectors(frac: np.ndarray, others: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Cartesian vectors from ``others`` to ``frac`` over the 27 nearest images, (n, m, 27, 3)."""
    diff = frac[:, None, :] - others[None, :, :]
    diff -= np.round(diff)
    return vecmat(diff[:, :, None, :] + _SHIFTS[None, None], cell)


def _overlap(new: np.ndarray, placed: np.ndarray, cell: np.ndarray, d_min) -> float:
    """Total squared overlap below ``d_min`` [Å²] of ``new`` against ``placed ∪ new``;
    ``d_min`` is a float or, per pair, an array of shape (len(new), len(placed) + len(new))
    (a row of it for every atom of ``new``).

    Exact for cells whose widths are at least ``d_min`` (the 27 nearest images suffice).
    """
    others = np.vstack([placed, new])
    vec = _pair_vectors(new, others, cell)
    dist = np.sqrt(norm2(vec))
    self_pairs = np.arange(len(new))
    dist[self_pairs, len(placed) + self_pairs, _ZERO_SHIFT] = np.inf  # an atom and itself
    limits = np.asarray(d_min, dtype=float)
    limits = np.broadcast_to(limits, (len(new), len(others)))[..., None] if limits.ndim \
        else limits
    gap = np.clip(limits - dist, 0.0, None)
    return float(np.sum(gap**2))


def _expand(group: SpaceGroup, plan, representatives: np.ndarray):
    """All positions generated by the orbit representatives, or None if an orbit shrank."""
    orbits = [group.orbit(x) for x in representatives]
    if any(len(o) != site.multiplicity for o, site in zip(orbits, plan)):
        return None
    return np.vstack(orbits)


def _push_apart(group: SpaceGroup, plan, representatives: np.ndarray, cell: np.ndarray,
                d_min: np.ndarray):
    """Move atoms apart until no two are closer than ``d_min`` [Å] (per representative and
    atom: shape (len(plan), n_atoms)); None if that fails.

    Steepest descent on the overlap energy sum (d_min' - d)² over close pairs, with
    d_min' slightly above d_min. Only the orbit representatives move, each within its
    site (its step projected on the site's free directions), and the orbits are rebuilt
    from them after every step: round-off cannot break the symmetry, and an atom on an
    inversion centre stays there. Gives up when the overlap stops shrinking.
    """
    inv = inv3(cell)
    target = d_min * _PUSH_MARGIN
    starts = np.cumsum([0] + [site.multiplicity for site in plan[:-1]])
    projectors = np.array([vecmat(_padded(site.directions).T, _padded(site.directions))
                           for site in plan])  # Dᵀ D: a step's part along the free directions
    best = np.inf
    for step_index in range(_PUSH_STEPS):
        frac = _expand(group, plan, representatives)
        if frac is None:
            return None
        vec = _pair_vectors(frac[starts], frac, cell)
        dist = np.sqrt(norm2(vec))
        dist[np.arange(len(starts)), starts, _ZERO_SHIFT] = np.inf  # an atom and itself
        if np.all(dist >= d_min[..., None]):  # by symmetry, the representatives stand for all
            return frac % 1.0
        gap = np.clip(target[..., None] - dist, 0.0, None)
        total = float(np.sum(gap**2))
        if step_index % 10 == 0:
            if total > _PUSH_PATIENCE * best:
                return None
            best = total
        with np.errstate(invalid="ignore", divide="ignore"):
            push = np.where(gap[..., None] > 0, vec * (gap / dist)[..., None], 0.0)
        step = vecmat(0.5 * push.sum(axis=(1, 2)), inv)
        step = matvecs(projectors, step)
        representatives = (representatives + step) % 1.0
    return None


def _padded(directions: np.ndarray) -> np.ndarray:
    """A site's free directions (d, 3), d <= 3, as a 3×3 matrix padded with zero rows."""
    out = np.zeros((3, 3))
    out[: len(directions)] = directions
    return out
