"""Random structures for random structure searching, with AIRSS ``buildcell`` semantics.

The paper generates its candidates with AIRSS ``buildcell`` (Methods, "Iterative generation
of reference data"): 6–24 atoms, positions repeated by 1–8 symmetry operations, minimum
separation 1.8 r, volume per atom centred on V0 = 14.5 r³ (covalent) or 5.5 r³
(metallic). Iteration 0 draws half its cells from buildcell's default narrow volume range
and half from a wide range (±25 % of V0, even atom counts only); later iterations use the
narrow range only, with 80 % even and 20 % odd atom counts. This module does the same in
numpy, with no Fortran to build.

Choices where the paper defers to buildcell's defaults (all are parameters):

* the narrow volume range is ±5 % of V0 (``vol_range=(0.95, 1.05)`` in wfl's buildcell
  input, the authors' later code);
* the number of operations k is drawn uniformly from the achievable values in the range
  (1, 2, 3, 4, 6, 8 for 1–8), then a space group uniformly among those with k operations
  that can hold the atom count; k counts centring translations, so spglib finds at least
  k operations in the cell;
* orbits go on general positions where the atom count allows and on special positions
  (mirror planes, rotation axes, inversion centres) for the rest;
* cell lengths differ by at most a factor 2 and angles lie in 60–120°;
* atoms that overlap after placement are pushed apart (steepest descent on the overlap,
  orbit by orbit so the symmetry stays exact), as buildcell pushes by default;
* metallic cells are dense (spheres of diameter 1.8 r fill about 55 % of V0 = 5.5 r³), so
  placement often jams: after 20 failed attempts the volume per atom grows by 2 % per
  attempt, up to the top of its range. The bottom of the wide range (0.75 V0, a packing
  fraction near 74 %, i.e. close packing) is therefore out of reach for metals; such cells
  come out at larger volumes within the range. Ti costs about 70 ms per cell, Si 4 ms.

Every structure is drawn from its own child generator (``rng.spawn``), so a list of
cells does not depend on how its generation is split up.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.geometry import cellpar_to_cell

from . import keys
from ._checks import check_choice, check_int, check_int_range, check_real, check_rng, fail
from ._exact import det3, inv3, matvecs, norm2, vecmat
from ._spacegroups import MAX_OPERATIONS, SpaceGroup, groups_for
from .chemistry import Chemistry
from .errors import GenerationError

__all__ = [
    "NARROW_SPREAD",
    "WIDE_SPREAD",
    "random_cells",
    "initial_cells",
    "dimers",
    "isolated_atom",
    "min_distance",
    "shortest_distance_below",
]

#: Half-width of the narrow (buildcell default) volume range, as a fraction of V0.
NARROW_SPREAD = 0.05
#: Half-width of the wide volume range of iteration 0, as a fraction of V0 (paper: ±25 %).
WIDE_SPREAD = 0.25
VOLUME_SPREADS = {"narrow": NARROW_SPREAD, "wide": WIDE_SPREAD}

_MAX_CELL_ATTEMPTS = 500
_EXPAND_AFTER = 20      # failed attempts before the volume per atom grows ...
_EXPAND_FACTOR = 1.02   # ... by this factor per attempt, up to the top of its range
_ORBIT_TRIES = 5        # draws per orbit looking for free room before pushing
_PUSH_STEPS = 300
_PUSH_PATIENCE = 0.95    # give up unless the overlap shrinks by 5 % every 10 steps
_PUSH_MARGIN = 1.02     # push pairs towards this multiple of d_min (more jams dense cells)
_ZERO_SHIFT = 13        # index of the (0, 0, 0) image in _SHIFTS
_SHIFTS = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing="ij")).reshape(3, -1).T


def random_cells(chemistry: Chemistry, count: int, *, rng: np.random.Generator,
                 volume_range: str = "narrow", n_atoms=(6, 24), symmops=(1, 8),
                 even_fraction: float = 0.8, n_jobs: int = 1) -> list[Atoms]:
    """Random periodic cells of one element, as AIRSS ``buildcell`` makes them.

    Parameters
    ----------
    chemistry : Chemistry
        Element, characteristic radius r [Å] and bonding kind.
    count : int
        Number of cells.
    rng : numpy.random.Generator
        Source of randomness; one child generator is spawned per cell.
    volume_range : {"narrow", "wide"}
        ``"narrow"``: volume per atom uniform in V0 (1 ± 0.05), buildcell's default;
        ``"wide"``: V0 (1 ± 0.25) and even atom counts only (paper, iteration 0).
    n_atoms : int or (int, int)
        Inclusive range of atoms per cell (paper: 6–24).
    symmops : int or (int, int)
        Inclusive range of the number of symmetry operations (paper: 1–8; at most 8).
    even_fraction : float
        Share of cells with an even atom count in the narrow range (paper: 0.8).
    n_jobs : int
        Worker processes; the cells are the same for any value.

    Returns
    -------
    list of ase.Atoms
        Periodic cells with ``info`` keys :data:`~gapexplore.keys.CONFIG_TYPE`
        (``"random_cell"``), ``VOLUME_RANGE``, ``SYMMOPS``, ``SPACEGROUP_BUILT`` and
        ``GEN_INDEX``. Every interatomic distance, periodic images included, is at least
        ``chemistry.min_separation`` (1.8 r).

    Raises
    ------
    InvalidParameterError
        For a bad count, range or fraction, checked before any cell is built.
    GenerationError
        When a cell cannot be built within 500 attempts (e.g. separation too large
        for the volume).

    Examples
    --------
    >>> import numpy as np
    >>> cells = random_cells(Chemistry.of("Si"), 3, rng=np.random.default_rng(0))
    >>> [6 <= len(c) <= 24 for c in cells]
    [True, True, True]
    """
    where = "random_cells"
    if not isinstance(chemistry, Chemistry):
        raise fail("chemistry", where, "a gapexplore.Chemistry (e.g. Chemistry.of('Si'))",
                   chemistry)
    count = check_int(count, "count", where, low=0)
    rng = check_rng(rng, where)
    check_choice(volume_range, "volume_range", where, tuple(VOLUME_SPREADS))
    lo, hi = check_int_range(n_atoms, "n_atoms", where, low=1, high=200)
    k_lo, k_hi = check_int_range(symmops, "symmops", where, low=1, high=MAX_OPERATIONS)
    even_fraction = check_real(even_fraction, "even_fraction", where, low=0.0, high=1.0)
    counts = _allowed_counts(lo, hi, k_lo, k_hi)
    even = [n for n in counts if n % 2 == 0]
    odd = [n for n in counts if n % 2 == 1]
    if volume_range == "wide":
        odd, even_fraction = [], 1.0
    if not even and (volume_range == "wide" or even_fraction == 1.0):
        raise fail("n_atoms", where, "a range containing an even count that the symmetry "
                   "range allows", n_atoms)
    if not counts:
        raise fail("n_atoms", where, f"a range with an atom count that {k_lo}–{k_hi} symmetry "
                   "operations can hold", n_atoms)
    n_jobs = check_int(n_jobs, "n_jobs", where, low=1)
    recipe = _Recipe(chemistry, volume_range, tuple(even), tuple(odd), even_fraction,
                     (k_lo, k_hi))
    children = rng.spawn(count)
    if n_jobs == 1 or count < 2 * n_jobs:
        cells = recipe(children)
    else:
        from concurrent.futures import ProcessPoolExecutor

        chunks = np.array_split(np.arange(count), 4 * n_jobs)
        with ProcessPoolExecutor(n_jobs) as pool:
            parts = pool.map(recipe, [[children[i] for i in chunk] for chunk in chunks])
            cells = [atoms for part in parts for atoms in part]
    for index, atoms in enumerate(cells):
        atoms.info[keys.GEN_INDEX] = index
    return cells


class _Recipe:
    """Builds one random cell per child generator (picklable, for worker processes)."""

    def __init__(self, chemistry, volume_range, even, odd, even_fraction, symmops):
        self.chemistry, self.volume_range = chemistry, volume_range
        self.even, self.odd, self.even_fraction = even, odd, even_fraction
        self.symmops = symmops

    def __call__(self, children) -> list[Atoms]:
        spread = VOLUME_SPREADS[self.volume_range]
        v0 = self.chemistry.volume_per_atom
        cells = []
        for child in children:
            pick_even = bool(self.even) and (not self.odd or child.random() < self.even_fraction)
            n = int(child.choice(self.even if pick_even else self.odd))
            volume_per_atom = v0 * child.uniform(1 - spread, 1 + spread)
            atoms = _random_cell(self.chemistry, n, volume_per_atom, v0 * (1 + spread),
                                 self.symmops, child)
            atoms.info[keys.VOLUME_RANGE] = self.volume_range
            cells.append(atoms)
        return cells


def initial_cells(chemistry: Chemistry, count: int, *, rng: np.random.Generator,
                  **kwargs) -> list[Atoms]:
    """The random cells of iteration 0: half from the wide, half from the narrow range.

    Parameters
    ----------
    chemistry : Chemistry
        Element, characteristic radius [Å] and bonding kind.
    count : int
        Total number of cells (paper: 10,000); ``count // 2`` are wide.
    rng : numpy.random.Generator
        Source of randomness.
    **kwargs
        ``n_atoms``, ``symmops``, ``even_fraction`` and ``n_jobs`` of :func:`random_cells`.

    Returns
    -------
    list of ase.Atoms
        Wide-range cells first, then narrow-range cells; ``GEN_INDEX`` runs over all.
    """
    count = check_int(count, "count", "initial_cells", low=0)
    wide_rng, narrow_rng = check_rng(rng, "initial_cells").spawn(2)
    cells = (random_cells(chemistry, count // 2, rng=wide_rng, volume_range="wide", **kwargs)
             + random_cells(chemistry, count - count // 2, rng=narrow_rng, **kwargs))
    for index, atoms in enumerate(cells):
        atoms.info[keys.GEN_INDEX] = index
    return cells


def dimers(chemistry: Chemistry, distances=None, *, box: float = 20.0) -> list[Atoms]:
    """Two atoms in vacuum over a wide range of bond lengths (short-range repulsion).

    Parameters
    ----------
    chemistry : Chemistry
        Element and characteristic radius r [Å].
    distances : array_like of float, optional
        Bond lengths [Å]. Default: 21 points from 1.0 r to 4.5 r (Si: 1.11–5.0 Å),
        covering the range of autoplex's 1.0–5.0 Å for Si.
    box : float
        Edge of the cubic, non-periodic box [Å].

    Returns
    -------
    list of ase.Atoms
        Non-periodic dimers along x, centred in the box, with ``CONFIG_TYPE`` ``"dimer"``
        and ``DIMER_DISTANCE`` [Å] in ``info``.
    """
    where = "dimers"
    box = check_real(box, "box", where, low=0.0, low_open=True)
    if distances is None:
        distances = np.linspace(1.0, 4.5, 21) * chemistry.radius
    distances = np.asarray(distances, dtype=float)
    if distances.ndim != 1 or not np.all(np.isfinite(distances)) or np.any(distances <= 0) \
            or np.any(distances >= box / 2):
        raise fail("distances", where, f"a 1-d list of finite bond lengths in (0, {box / 2}) Å",
                   distances.tolist())
    out = []
    for d in distances:
        atoms = Atoms(2 * chemistry.element, positions=[[0, 0, 0], [d, 0, 0]],
                      cell=[box] * 3, pbc=False)
        atoms.center()
        atoms.info[keys.CONFIG_TYPE] = keys.CONFIG_DIMER
        atoms.info[keys.DIMER_DISTANCE] = float(d)
        out.append(atoms)
    return out


def isolated_atom(chemistry: Chemistry, *, box: float = 20.0) -> Atoms:
    """One atom in the centre of a cubic, non-periodic box of edge ``box`` [Å].

    Its reference energy becomes the GAP's ``e0``; ``CONFIG_TYPE`` is ``"isolated_atom"``.
    """
    box = check_real(box, "box", "isolated_atom", low=0.0, low_open=True)
    atoms = Atoms(chemistry.element, positions=[[box / 2] * 3], cell=[box] * 3, pbc=False)
    atoms.info[keys.CONFIG_TYPE] = keys.CONFIG_ISOLATED_ATOM
    return atoms


def min_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance of ``atoms`` [Å], periodic images included.

    Uses ASE's neighbour list. For a single atom in a periodic cell, this is the shortest
    lattice vector; for a single atom without periodicity, infinity.
    """
    from ase.neighborlist import neighbor_list

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
    if atoms.cell.rank == 3:
        from matscipy.neighbours import neighbour_list as neighbours
    else:
        from ase.neighborlist import neighbor_list as neighbours
    distances = neighbours("d", atoms, cutoff)
    return float(distances.min()) if len(distances) else None


# --- internals ----------------------------------------------------------------------------

def _allowed_counts(lo: int, hi: int, k_lo: int, k_hi: int) -> list[int]:
    return [n for n in range(lo, hi + 1) if groups_for(n, k_lo, k_hi)]


def _random_cell(chemistry: Chemistry, n_atoms: int, volume_per_atom: float,
                 max_volume_per_atom: float, symmops: tuple[int, int],
                 rng: np.random.Generator) -> Atoms:
    d_min = chemistry.min_separation
    candidates = groups_for(n_atoms, *symmops)
    ks = list(candidates)
    for attempt in range(_MAX_CELL_ATTEMPTS):
        if attempt >= _EXPAND_AFTER:  # too dense to pack: widen the cell, within the range
            volume_per_atom = min(volume_per_atom * _EXPAND_FACTOR, max_volume_per_atom)
        group = candidates[ks[rng.integers(len(ks))]]
        group = group[rng.integers(len(group))]
        cell = _random_lattice(group.lattice, n_atoms * volume_per_atom, rng)
        if _min_width(cell) < d_min:
            continue
        frac = _place_orbits(group, n_atoms, cell, d_min, rng)
        if frac is None:
            continue
        atoms = Atoms(chemistry.element * n_atoms, positions=vecmat(frac, cell), cell=cell,
                      pbc=True)
        atoms.info[keys.CONFIG_TYPE] = keys.CONFIG_RANDOM
        atoms.info[keys.SYMMOPS] = group.n_operations
        atoms.info[keys.SPACEGROUP_BUILT] = group.number
        return atoms
    raise GenerationError(
        f"Could not build a {n_atoms}-atom {chemistry.element} cell with minimum separation "
        f"{d_min:.3f} Å at {volume_per_atom:.2f} Å^3/atom in {_MAX_CELL_ATTEMPTS} attempts. "
        "Use a smaller radius, a covalent (larger-volume) bonding kind, or fewer atoms.")


def _random_lattice(kind: str, volume: float, rng: np.random.Generator) -> np.ndarray:
    a, b, c = rng.uniform(1.0, 2.0, size=3)
    alpha = beta = gamma = 90.0
    if kind == "triclinic":
        while True:
            alpha, beta, gamma = rng.uniform(60.0, 120.0, size=3)
            ca, cb, cg = np.cos(np.radians([alpha, beta, gamma]))
            if 1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg > 0.3:
                break
    elif kind == "monoclinic":
        beta = rng.uniform(60.0, 120.0)
    elif kind == "tetragonal":
        b = a
    elif kind == "hexagonal":
        b, gamma = a, 120.0
    elif kind == "rhombohedral":
        b = c = a
        alpha = beta = gamma = rng.uniform(50.0, 110.0)
    cell = cellpar_to_cell([a, b, c, alpha, beta, gamma])
    return cell * (volume / abs(det3(cell))) ** (1.0 / 3.0)


def _min_width(cell: np.ndarray) -> float:
    """Smallest distance between opposite faces of the cell [Å]."""
    volume = abs(det3(cell))
    areas = [float(np.sqrt(norm2(np.cross(cell[i], cell[j]))))
             for i, j in ((1, 2), (2, 0), (0, 1))]
    return volume / max(areas)


def _place_orbits(group: SpaceGroup, n_atoms: int, cell: np.ndarray, d_min: float,
                  rng: np.random.Generator):
    """Fractional positions of ``n_atoms`` in orbits of ``group``, or None on failure.

    Each orbit is drawn a few times to find room for it; what still overlaps is then
    pushed apart (:func:`_push_apart`), as buildcell does by default.
    """
    plan = _orbit_plan(group, n_atoms, rng)
    if plan is None:
        return None
    placed = np.empty((0, 3))
    representatives = []
    for site in plan:
        orbit = None
        for _ in range(_ORBIT_TRIES):
            trial = group.orbit(site.sample(rng))
            if len(trial) != site.multiplicity:
                continue  # fell on a more special position
            orbit = trial
            if _overlap(orbit, placed, cell, d_min) == 0.0:
                break
        if orbit is None:
            return None
        representatives.append(orbit[0])
        placed = np.vstack([placed, orbit])
    if _overlap(placed, np.empty((0, 3)), cell, d_min) == 0.0:
        return placed
    return _push_apart(group, plan, np.array(representatives), cell, d_min)


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


def _overlap(new: np.ndarray, placed: np.ndarray, cell: np.ndarray, d_min: float):
    """Total squared overlap below ``d_min`` [Å²] of ``new`` against ``placed ∪ new``.

    Exact for cells whose widths are at least ``d_min`` (the 27 nearest images suffice).
    """
    others = np.vstack([placed, new])
    vec = _pair_vectors(new, others, cell)
    dist = np.sqrt(norm2(vec))
    self_pairs = np.arange(len(new))
    dist[self_pairs, len(placed) + self_pairs, _ZERO_SHIFT] = np.inf  # an atom and itself
    gap = np.clip(d_min - dist, 0.0, None)
    return float(np.sum(gap**2))


def _expand(group: SpaceGroup, plan, representatives: np.ndarray):
    """All positions generated by the orbit representatives, or None if an orbit shrank."""
    orbits = [group.orbit(x) for x in representatives]
    if any(len(o) != site.multiplicity for o, site in zip(orbits, plan)):
        return None
    return np.vstack(orbits)


def _push_apart(group: SpaceGroup, plan, representatives: np.ndarray, cell: np.ndarray,
                d_min: float):
    """Move atoms apart until no two are closer than ``d_min`` [Å]; None if that fails.

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
        if dist.min() >= d_min:  # by symmetry, the representatives stand for all atoms
            return frac % 1.0
        gap = np.clip(target - dist, 0.0, None)
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
