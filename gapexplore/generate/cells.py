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

import inspect

import numpy as np
from ase import Atoms
from ase.geometry import cellpar_to_cell

from gapexplore.core import keys
from gapexplore.core.checks import (
    check_choice,
    check_int,
    check_int_range,
    check_real,
    check_rng,
    fail,
)
from gapexplore.core.chemistry import Chemistry, Composition, as_composition
from gapexplore.core.errors import GenerationError
from gapexplore.core.parallel import map_ordered
from gapexplore.generate.exact import det3, norm2, vecmat
from gapexplore.generate.placement import place_orbits
from gapexplore.generate.spacegroups import MAX_OPERATIONS, groups_for

__all__ = [
    "NARROW_SPREAD",
    "WIDE_SPREAD",
    "random_cells",
    "initial_cells",
    "cells_across",
]

#: Half-width of the narrow (buildcell default) volume range, as a fraction of V0.
NARROW_SPREAD = 0.05
#: Half-width of the wide volume range of iteration 0, as a fraction of V0 (paper: ±25 %).
WIDE_SPREAD = 0.25
VOLUME_SPREADS = {"narrow": NARROW_SPREAD, "wide": WIDE_SPREAD}

_MAX_CELL_ATTEMPTS = 500
_EXPAND_AFTER = 20      # failed attempts before the volume per atom grows ...
_EXPAND_FACTOR = 1.02   # ... by this factor per attempt, up to the top of its range


def random_cells(chemistry: Chemistry, count: int, *, rng: np.random.Generator,
                 volume_range: str = "narrow", n_atoms=(6, 24), symmops=(1, 8),
                 even_fraction: float = 0.8, n_jobs: int = 1,
                 executor=None) -> list[Atoms]:
    """Random periodic cells of one element or one compound, as AIRSS ``buildcell`` makes
    them.

    Parameters
    ----------
    chemistry : Chemistry or Composition
        Element, characteristic radius r [Å] and bonding kind; or a compound. For a
        compound the rules go by formula unit: Z formula units (``n_atoms`` bounds the
        atoms, Z × the formula unit's), the volume per formula unit Σ n_e V0_e, even and
        odd Z (not atom counts), every species on orbits of its own (so the symmetry
        keeps the stoichiometry), and the separation per pair of species
        (:meth:`Composition.min_separation`, 0.9 (r_a + r_b)).
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
        Local worker processes; the cells are the same for any value.
    executor : concurrent.futures.Executor, optional
        Where to build them instead (e.g. a Dask client's executor), in chunks; the cells
        are the same.

    Returns
    -------
    list of ase.Atoms
        Periodic cells with ``info`` keys :data:`~gapexplore.core.keys.CONFIG_TYPE`
        (``"random_cell"``), ``VOLUME_RANGE``, ``SYMMOPS``, ``SPACEGROUP_BUILT`` and
        ``GEN_INDEX``. Every interatomic distance, periodic images included, is at least
        ``chemistry.min_separation`` (1.8 r), or the pair's for a compound.

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
    recipe, n_jobs = _recipe(chemistry, count, rng, volume_range, n_atoms, symmops,
                             even_fraction, n_jobs, "random_cells")
    return _build(recipe, rng.spawn(count), n_jobs, executor)


def _recipe(chemistry, count, rng, volume_range, n_atoms, symmops, even_fraction, n_jobs,
            where: str):
    """Check the parameters of :func:`random_cells` (before any draw); the cell recipe and
    the checked ``n_jobs``."""
    composition = as_composition(chemistry, where)
    check_int(count, "count", where, low=0)
    check_rng(rng, where)
    check_choice(volume_range, "volume_range", where, tuple(VOLUME_SPREADS))
    lo, hi = check_int_range(n_atoms, "n_atoms", where, low=1, high=200)
    k_lo, k_hi = check_int_range(symmops, "symmops", where, low=1, high=MAX_OPERATIONS)
    even_fraction = check_real(even_fraction, "even_fraction", where, low=0.0, high=1.0)
    units = _allowed_units(composition, lo, hi, k_lo, k_hi)
    even = [z for z in units if z % 2 == 0]
    odd = [z for z in units if z % 2 == 1]
    what = "atom" if composition.atoms_per_formula_unit == 1 else "formula-unit"
    if volume_range == "wide":
        odd, even_fraction = [], 1.0
    if not even and (volume_range == "wide" or even_fraction == 1.0):
        raise fail("n_atoms", where, f"a range containing an even {what} count that the "
                   "symmetry range allows", n_atoms)
    if not units:
        raise fail("n_atoms", where, f"a range with an {what} count that {k_lo}–{k_hi} "
                   f"symmetry operations can hold ({composition.formula})", n_atoms)
    n_jobs = check_int(n_jobs, "n_jobs", where, low=1)
    return _Recipe(composition, volume_range, tuple(even), tuple(odd), even_fraction,
                   (k_lo, k_hi)), n_jobs


def _build(recipe: "_Recipe", children: list, n_jobs: int, executor=None) -> list[Atoms]:
    """One cell per child generator, in order, on ``n_jobs`` processes or the executor."""
    count = len(children)
    if executor is None and (n_jobs == 1 or count < 2 * n_jobs):
        cells = recipe(children)
    else:
        workers = n_jobs if executor is None else 8   # a few chunks per worker
        chunks = [[children[i] for i in chunk]
                  for chunk in np.array_split(np.arange(count), 4 * workers) if len(chunk)]
        parts = map_ordered(recipe, chunks, executor=executor,
                            n_jobs=1 if executor is not None else n_jobs)
        cells = [atoms for part in parts for atoms in part]
    for index, atoms in enumerate(cells):
        atoms.info[keys.GEN_INDEX] = index
    return cells


class _Recipe:
    """Builds one random cell per child generator (picklable, for worker processes)."""

    def __init__(self, composition, volume_range, even, odd, even_fraction, symmops):
        self.composition, self.volume_range = composition, volume_range
        self.even, self.odd, self.even_fraction = even, odd, even_fraction
        self.symmops = symmops

    def __call__(self, children) -> list[Atoms]:
        spread = VOLUME_SPREADS[self.volume_range]
        v0 = self.composition.volume_per_formula_unit
        cells = []
        for child in children:
            pick_even = bool(self.even) and (not self.odd or child.random() < self.even_fraction)
            z = int(child.choice(self.even if pick_even else self.odd))
            volume_per_unit = v0 * child.uniform(1 - spread, 1 + spread)
            atoms = _random_cell(self.composition, z, volume_per_unit, v0 * (1 + spread),
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
        ``n_atoms``, ``symmops``, ``even_fraction``, ``n_jobs`` and ``executor`` of
        :func:`random_cells`.

    Returns
    -------
    list of ase.Atoms
        Wide-range cells first, then narrow-range cells; ``GEN_INDEX`` runs over all.
    """
    where = "initial_cells"
    count = check_int(count, "count", where, low=0)
    options = {name: parameter.default for name, parameter in  # random_cells' defaults
               inspect.signature(random_cells).parameters.items()
               if name in ("n_atoms", "symmops", "even_fraction", "n_jobs", "executor")}
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise fail(unknown[0], where, f"one of {', '.join(options)}", kwargs[unknown[0]])
    options |= kwargs
    executor = options.pop("executor")
    recipes = [_recipe(chemistry, count, rng, volume_range, where=where, **options)
               for volume_range in ("wide", "narrow")]  # every check before the first draw
    children = rng.spawn(2)
    cells = [atoms for (recipe, n_jobs), child, n in
             zip(recipes, children, (count // 2, count - count // 2))
             for atoms in _build(recipe, child.spawn(n), n_jobs, executor)]
    for index, atoms in enumerate(cells):
        atoms.info[keys.GEN_INDEX] = index
    return cells


def cells_across(compositions, count: int, *, rng: np.random.Generator,
                 initial: bool = False, **kwargs) -> list[Atoms]:
    """Random cells of several stoichiometries: an equal share of ``count`` for each.

    Parameters
    ----------
    compositions : sequence of Chemistry or Composition
        The stoichiometries (e.g. :meth:`gapexplore.ExploreSettings.compositions`).
    count : int
        Total number of cells; composition k of K gets ``count // K`` cells, the first
        ``count % K`` one more.
    rng : numpy.random.Generator
        Source of randomness (one independent child per composition).
    initial : bool
        Iteration 0's half-wide, half-narrow cells (:func:`initial_cells`) instead of
        :func:`random_cells`.
    **kwargs
        ``n_atoms``, ``symmops``, ``even_fraction``, ``n_jobs`` and ``executor``.

    Returns
    -------
    list of ase.Atoms
        The compositions' cells in the order given; ``GEN_INDEX`` runs over all.
    """
    where = "cells_across"
    count = check_int(count, "count", where, low=0)
    if not compositions:
        raise fail("compositions", where, "one or more Chemistry or Composition", compositions)
    share, extra = divmod(count, len(compositions))
    build = initial_cells if initial else random_cells
    cells = []
    for k, (composition, child) in enumerate(zip(compositions, rng.spawn(len(compositions)))):
        cells += build(composition, share + (k < extra), rng=child, **kwargs)
    for index, atoms in enumerate(cells):
        atoms.info[keys.GEN_INDEX] = index
    return cells


# --- internals ----------------------------------------------------------------------------


def _allowed_units(composition: Composition, lo: int, hi: int, k_lo: int,
                   k_hi: int) -> list[int]:
    """Formula units Z whose cells hold lo–hi atoms with some group of k_lo–k_hi
    operations able to hold every species' count."""
    return [z for z in composition.formula_units((lo, hi))
            if _groups(composition, z, (k_lo, k_hi))]


def _groups(composition: Composition, z: int, symmops: tuple[int, int]) -> dict:
    """Groups (by number of operations) that can hold each species' count of Z units on
    orbits of its own."""
    counts = [z * n for _, n in composition.counts]
    by_k = {}
    for k, groups in groups_for(counts[0], *symmops).items():
        able = tuple(g for g in groups if all(g.can_hold(n) for n in counts[1:]))
        if able:
            by_k[k] = able
    return by_k


def _random_cell(composition: Composition, z: int, volume_per_unit: float,
                 max_volume_per_unit: float, symmops: tuple[int, int],
                 rng: np.random.Generator) -> Atoms:
    elements = composition.elements
    counts = [z * n for _, n in composition.counts]
    d_min = np.array([[composition.min_separation(a, b) for b in elements] for a in elements])
    candidates = _groups(composition, z, symmops)
    ks = list(candidates)
    for attempt in range(_MAX_CELL_ATTEMPTS):
        if attempt >= _EXPAND_AFTER:  # too dense to pack: widen the cell, within the range
            volume_per_unit = min(volume_per_unit * _EXPAND_FACTOR, max_volume_per_unit)
        group = candidates[ks[rng.integers(len(ks))]]
        group = group[rng.integers(len(group))]
        cell = _random_lattice(group.lattice, z * volume_per_unit, rng)
        if _min_width(cell) < d_min.max():
            continue
        frac = place_orbits(group, counts, cell, d_min, rng)
        if frac is None:
            continue
        symbols = [e for e, n in zip(elements, counts) for _ in range(n)]
        atoms = Atoms(symbols, positions=vecmat(frac, cell), cell=cell, pbc=True)
        atoms.info[keys.CONFIG_TYPE] = keys.CONFIG_RANDOM
        atoms.info[keys.SYMMOPS] = group.n_operations
        atoms.info[keys.SPACEGROUP_BUILT] = group.number
        return atoms
    unit = composition.atoms_per_formula_unit
    raise GenerationError(
        f"Could not build a {z * unit}-atom {composition.formula} cell with minimum "
        f"separation {d_min.min():.3f}–{d_min.max():.3f} Å at "
        f"{volume_per_unit / unit:.2f} Å^3/atom in {_MAX_CELL_ATTEMPTS} attempts. Use "
        "smaller radii, a covalent (larger-volume) bonding kind, or fewer atoms.")


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
