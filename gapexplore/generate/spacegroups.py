"""Space groups with few operations, and the sites on which their orbits can be placed.

This is the symmetry half of the random cell generator (:mod:`gapexplore.generate`).
For every space group whose conventional cell has at most :data:`MAX_OPERATIONS`
operations (116 types in their standard setting, plus the five rhombohedral groups
in their primitive setting), it lists the operations from spglib's database and finds
the kinds of sites an orbit can sit on: the general position (multiplicity = number of
operations) and the fixed-point sets of each operation (mirror planes, rotation axes,
inversion centres), each with the multiplicity a generic point on it has.

Nothing here is random: :mod:`gapexplore.generate` draws from these tables.

The tables are fixed data, a function of spglib's database alone, so they are computed
once and stored beside this module (``space_groups.json``); :func:`space_groups` reads
them in milliseconds where computing them takes seconds, in every process that draws
cells. ``tests/test_generate.py`` checks that the stored tables are exactly what
:func:`compute_space_groups` gives; after a change to the rules here, write them again::

    .venv/bin/python tools/write_space_groups.py
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import spglib

#: Largest number of operations of a group used for random cells (the paper's 1–8).
MAX_OPERATIONS = 8

#: Space-group numbers of the rhombohedral groups; used in their primitive (R) setting.
RHOMBOHEDRAL = frozenset({146, 148, 155, 160, 161, 166, 167})

#: Where the computed tables are stored (see the module docstring).
TABLES = Path(__file__).with_name("space_groups.json")


@dataclass(frozen=True, eq=False)
class SiteKind:
    """A family of equivalent positions of a space group (a Wyckoff-like site).

    Points are ``origin + directions.T @ a`` in fractional coordinates, for free
    parameters ``a``; a generic such point has an orbit of ``multiplicity`` atoms.
    """

    multiplicity: int
    origin: np.ndarray       # (3,) fractional
    directions: np.ndarray   # (d, 3), d = 0..3 free directions

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A random point of this site [fractional coordinates]."""
        a = rng.uniform(0.0, 2.0, size=len(self.directions))
        point = self.origin.copy()
        for weight, direction in zip(a, self.directions):  # a fixed order of sums
            point = point + weight * direction
        return point % 1.0


@dataclass(frozen=True, eq=False)
class SpaceGroup:
    """The operations and site kinds of one space group in one setting."""

    number: int
    hall_number: int
    symbol: str
    lattice: str             # crystal family of the cell shape: triclinic ... rhombohedral
    rotations: np.ndarray    # (k, 3, 3) int, acting on fractional coordinates
    translations: np.ndarray  # (k, 3)
    sites: tuple[SiteKind, ...]  # general position first

    @property
    def n_operations(self) -> int:
        """Number of operations k, including centring translations."""
        return len(self.rotations)

    def orbit(self, point: np.ndarray) -> np.ndarray:
        """Distinct images of ``point`` under the group, wrapped into [0, 1)."""
        r = self.rotations  # integer entries: each product is exact; the sum order fixed
        images = (r[:, :, 0] * point[0] + r[:, :, 1] * point[1] + r[:, :, 2] * point[2]
                  + self.translations) % 1.0
        return unique_fractional(images)

    @functools.cached_property
    def multiplicities(self) -> tuple[int, ...]:
        """Sorted distinct multiplicities of the site kinds."""
        return tuple(sorted({s.multiplicity for s in self.sites}))

    def can_hold(self, n_atoms: int) -> bool:
        """Whether some sum of site multiplicities equals ``n_atoms``."""
        return _representable(n_atoms, self.multiplicities)


def unique_fractional(points: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Rows of ``points`` that differ modulo lattice translations (first kept)."""
    diff = points[:, None, :] - points[None, :, :]
    diff -= np.round(diff)
    same = np.all(np.abs(diff) < tol, axis=-1)
    keep = ~np.any(np.tril(same, k=-1), axis=1)
    return points[keep]


@functools.lru_cache(maxsize=None)
def _representable(n: int, sizes: tuple[int, ...]) -> bool:
    reach = np.zeros(n + 1, dtype=bool)
    reach[0] = True
    for total in range(1, n + 1):
        reach[total] = any(s <= total and reach[total - s] for s in sizes)
    return bool(reach[n])


def _lattice_kind(number: int, choice: str) -> str:
    if number <= 2:
        return "triclinic"
    if number <= 15:
        return "monoclinic"
    if number <= 74:
        return "orthorhombic"
    if number <= 142:
        return "tetragonal"
    if number <= 194:
        return "rhombohedral" if choice == "R" else "hexagonal"
    return "cubic"


def _fixed_sets(rotation: np.ndarray, translation: np.ndarray):
    """Affine sets of fractional points x with R x + t = x modulo a lattice vector.

    Solved in exact rational arithmetic (R is an integer matrix, t a multiple of 1/24):
    the origins and free directions are the same numbers on every machine, where an SVD
    or least-squares solve would differ in the last bits with the LAPACK kernel. Each
    direction is a primitive integer vector (first non-zero component positive), so that a
    free parameter in [0, 1) covers the line once.
    """
    a = [[Fraction(int(rotation[i][j]) - (i == j)) for j in range(3)] for i in range(3)]
    t = [Fraction(float(x)).limit_denominator(24) for x in translation]
    directions = np.array(_null_space(a), dtype=float).reshape(-1, 3)
    for shift in itertools.product((-1, 0, 1), repeat=3):
        x = _solve(a, [shift[i] - t[i] for i in range(3)])
        if x is not None:
            yield np.array([float(v % 1) for v in x]), directions


def _rref(rows, n_pivot_columns: int = 3):
    """Reduced row echelon form of a small rational matrix, pivoting in the first
    ``n_pivot_columns`` columns; returns (rows, pivot columns)."""
    rows = [list(r) for r in rows]
    pivots, r = [], 0
    for c in range(n_pivot_columns):
        pivot = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        rows[r] = [v / rows[r][c] for v in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c] != 0:
                rows[i] = [vi - rows[i][c] * vr for vi, vr in zip(rows[i], rows[r])]
        pivots.append(c)
        r += 1
    return rows, pivots


def _null_space(a):
    """Primitive integer basis vectors of {x : a x = 0} (a 3×3, rational)."""
    rows, pivots = _rref(a)
    basis = []
    for free in (c for c in range(3) if c not in pivots):
        x = [0] * 3
        x[free] = 1
        for row, c in zip(rows, pivots):
            x[c] = -row[free]
        scale = math.lcm(*(v.denominator if hasattr(v, "denominator") else 1 for v in x))
        ints = [int(v * scale) for v in x]
        g = math.gcd(*ints)
        ints = [v // g for v in ints]
        if next(v for v in ints if v) < 0:
            ints = [-v for v in ints]
        basis.append(ints)
    return basis


def _solve(a, b):
    """One rational solution x of a x = b (free variables 0), or None if there is none."""
    rows, pivots = _rref([a[i] + [b[i]] for i in range(3)])
    if any(all(v == 0 for v in row[:3]) and row[3] != 0 for row in rows):
        return None
    x = [0] * 3
    for row, c in zip(rows, pivots):
        if c < 3:
            x[c] = row[3]
    return x


def _site_kinds(group_ops) -> tuple[SiteKind, ...]:
    rotations, translations = group_ops
    probe = SpaceGroup(0, 0, "", "", rotations, translations, ())
    general = SiteKind(len(rotations), np.zeros(3), np.eye(3))
    kinds = [general]
    seen = set()
    rng = np.random.default_rng(12345)  # fixed: these tables must not depend on the caller
    for rot, trans in zip(rotations, translations):
        if np.array_equal(rot, np.eye(3, dtype=rot.dtype)):
            continue  # identity or a pure centring translation: no fixed points
        for origin, directions in _fixed_sets(rot, trans):
            kind = SiteKind(0, origin, directions)
            multiplicity = len(probe.orbit(kind.sample(rng)))
            key = (multiplicity, len(directions), tuple(np.round(origin, 6)),
                   tuple(np.round(np.abs(directions), 6).ravel()))
            if multiplicity < len(rotations) and key not in seen:
                seen.add(key)
                kinds.append(SiteKind(multiplicity, origin, directions))
    return tuple(kinds) + _crossing_points(rotations, translations, kinds)


#: Special points of the groups used here lie on multiples of 1/GRID in every coordinate.
_GRID = 24


def _crossing_points(rotations: np.ndarray, translations: np.ndarray,
                     kinds: list) -> tuple[SiteKind, ...]:
    """Special points that no single operation fixes alone: where two rotation axes cross
    (P222's 1a–1h, C222's 2a–2d, P422's 1a–1d), one site kind per orbit.

    Found exactly in integer arithmetic on the grid of multiples of 1/:data:`_GRID`: a grid
    point is fixed by an operation when R k + 24 t ≡ k (mod 24); it is a special point when
    the operations fixing it leave no free direction (their stacked R − I has rank 3).
    Points that one operation fixes alone (inversion centres, -4, -3, -6 points) are
    already among ``kinds`` and are left out.
    """
    shifts = np.asarray(translations, dtype=float) * _GRID
    t = np.rint(shifts).astype(np.int32)
    if np.any(np.abs(shifts - t) > 1e-9):   # a translation off the grid: no such group here
        return ()
    axis = np.arange(_GRID)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid.astype(np.int32)
    r = np.asarray(rotations, dtype=np.int32)
    images = t[:, None, :] + r[:, None, :, 0] * grid[None, :, 0, None]    # (k, n, 3), exact
    images += r[:, None, :, 1] * grid[None, :, 1, None] + r[:, None, :, 2] * grid[None, :, 2, None]
    images %= _GRID
    fixed = np.all(images == grid[None], axis=2)                          # (k, n)
    codes = (1 << np.arange(len(r), dtype=np.int64)) @ fixed                # stabiliser bits
    identity = [i for i in range(len(r)) if np.array_equal(r[i], np.eye(3))]
    special = []
    for code in np.unique(codes):
        chosen = [i for i in range(len(r)) if code >> i & 1 and i not in identity]
        if len(chosen) < 2:
            continue
        rows = [[Fraction(int(r[i][a][b]) - (a == b)) for b in range(3)]
                for i in chosen for a in range(3)]
        if len(_rref(rows)[1]) == 3:   # no free direction: isolated points
            special.append(code)
    seen = {tuple(int(round(v * _GRID)) % _GRID for v in k.origin)
            for k in kinds if len(k.directions) == 0}
    out = []
    for n in np.flatnonzero(np.isin(codes, special)):
        orbit = {tuple(int(v) for v in image) for image in images[:, n]}
        if orbit & seen:
            seen |= orbit
            continue
        seen |= orbit
        out.append(SiteKind(len(orbit), grid[n] / _GRID, np.zeros((0, 3))))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def space_groups() -> tuple[SpaceGroup, ...]:
    """All space groups usable for random cells, one setting each.

    The standard setting of each space-group type with at most :data:`MAX_OPERATIONS`
    operations in its conventional cell, and the primitive (rhombohedral-axes)
    setting of the rhombohedral groups with at most that many operations. Read from
    :data:`TABLES`, which holds what :func:`compute_space_groups` gives.
    """
    return tuple(_group_from_json(g) for g in json.loads(TABLES.read_text())["groups"])


def compute_space_groups() -> tuple[SpaceGroup, ...]:
    """The tables of :func:`space_groups`, computed from spglib's database (seconds)."""
    groups = []
    seen = set()
    for hall in range(1, 531):
        info = spglib.get_spacegroup_type(hall)
        rhombo = info.number in RHOMBOHEDRAL
        if rhombo and info.choice != "R":
            continue
        if info.number in seen:
            continue
        seen.add(info.number)
        ops = spglib.get_symmetry_from_database(hall)
        rotations = np.asarray(ops["rotations"], dtype=int)
        translations = np.asarray(ops["translations"], dtype=float)
        if len(rotations) > MAX_OPERATIONS:
            continue
        groups.append(SpaceGroup(
            number=info.number, hall_number=hall, symbol=info.international_short,
            lattice=_lattice_kind(info.number, info.choice), rotations=rotations,
            translations=translations, sites=_site_kinds((rotations, translations)),
        ))
    return tuple(groups)


def _group_to_json(group: SpaceGroup) -> dict:
    # floats are written with repr, so they read back bit for bit
    return {"number": group.number, "hall_number": group.hall_number, "symbol": group.symbol,
            "lattice": group.lattice, "rotations": group.rotations.tolist(),
            "translations": group.translations.tolist(),
            "sites": [[s.multiplicity, s.origin.tolist(), s.directions.tolist()]
                      for s in group.sites]}


def _group_from_json(data: dict) -> SpaceGroup:
    sites = tuple(SiteKind(m, np.array(origin, dtype=float),
                           np.array(directions, dtype=float).reshape(-1, 3))
                  for m, origin, directions in data["sites"])
    return SpaceGroup(number=data["number"], hall_number=data["hall_number"],
                      symbol=data["symbol"], lattice=data["lattice"],
                      rotations=np.array(data["rotations"], dtype=int).reshape(-1, 3, 3),
                      translations=np.array(data["translations"], dtype=float).reshape(-1, 3),
                      sites=sites)


def write_space_groups(path: Path = TABLES) -> None:
    """Compute the tables and store them at ``path`` (JSON, one group per line)."""
    lines = [json.dumps(_group_to_json(g)) for g in compute_space_groups()]
    header = json.dumps({"spglib": spglib.__version__, "max_operations": MAX_OPERATIONS})
    path.write_text('{"about": ' + header + ',\n"groups": [\n' + ",\n".join(lines) + "\n]}\n")


@functools.lru_cache(maxsize=None)
def groups_for(n_atoms: int, n_ops_low: int, n_ops_high: int) -> dict[int, tuple[SpaceGroup, ...]]:
    """Groups with ``n_ops_low <= k <= n_ops_high`` operations able to hold ``n_atoms``,
    keyed by their number of operations k."""
    by_k: dict[int, list[SpaceGroup]] = {}
    for group in space_groups():
        if n_ops_low <= group.n_operations <= n_ops_high and group.can_hold(n_atoms):
            by_k.setdefault(group.n_operations, []).append(group)
    return {k: tuple(v) for k, v in sorted(by_k.items())}
