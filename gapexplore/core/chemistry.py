"""The two things a user tells gapexplore: an element with its characteristic radius,
and whether its bonding is covalent or metallic.

Everything else in the protocol is a heuristic of these (paper, Methods): the volume of
the random cells, their minimum separation, and the cutoffs of the GAP descriptors.

Covalent radii come from ASE's table (Cordero et al., Dalton Trans. 2008, 2832), which
holds the paper's 0.84 (B), 0.76 (C) and 1.11 Å (Si). Metallic radii are the
12-coordinate values tabulated by Greenwood & Earnshaw, *Chemistry of the Elements*,
which hold the paper's 1.47 Å for Ti.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from math import gcd

import numpy as np
from ase.data import atomic_numbers, covalent_radii
from ase.formula import Formula

from gapexplore.core.checks import check_choice, check_int_range, check_real, fail

__all__ = ["Chemistry", "Composition", "METALLIC_RADII", "BONDING_KINDS", "VOLUME_FACTORS",
           "as_composition", "atomic_fractions", "compositions_in", "compositions_of",
           "reduced_formula"]

#: The bonding kinds the protocol knows, with the paper's volume per atom V0 = f r³.
VOLUME_FACTORS = {"covalent": 14.5, "metallic": 5.5}
BONDING_KINDS = tuple(VOLUME_FACTORS)

#: 12-coordinate metallic radii [Å] (Greenwood & Earnshaw). An element listed here is
#: metallic by default; any other element is covalent by default.
METALLIC_RADII = {
    "Li": 1.52, "Be": 1.12, "Na": 1.86, "Mg": 1.60, "Al": 1.43, "K": 2.27, "Ca": 1.97,
    "Sc": 1.62, "Ti": 1.47, "V": 1.34, "Cr": 1.28, "Mn": 1.27, "Fe": 1.26, "Co": 1.25,
    "Ni": 1.24, "Cu": 1.28, "Zn": 1.34, "Y": 1.80, "Zr": 1.60, "Nb": 1.46, "Mo": 1.39,
    "Ru": 1.34, "Rh": 1.34, "Pd": 1.37, "Ag": 1.44, "Hf": 1.59, "Ta": 1.46, "W": 1.39,
    "Re": 1.37, "Os": 1.35, "Ir": 1.36, "Pt": 1.39, "Au": 1.44,
}

#: Radii outside this range [Å] are not a characteristic radius of any element.
RADIUS_BOUNDS = (0.3, 3.0)

#: The paper's minimum separation of random cells, in units of r.
MIN_SEPARATION_FACTOR = 1.8


@dataclass(frozen=True)
class Chemistry:
    """An element, its characteristic radius and its bonding kind.

    Build it with :meth:`Chemistry.of`, which fills in the tabulated radius and the usual
    bonding kind and checks the input.

    Parameters
    ----------
    element : str
        Chemical symbol, e.g. ``"Si"``.
    radius : float
        Characteristic radius r [Å]: the covalent radius for covalent materials, the
        metallic radius for metals (paper: B 0.84, C 0.76, Si 1.11, Ti 1.47 Å).
    bonding : {"covalent", "metallic"}
        Sets the volume per atom of the random cells and the GAP cutoffs.
    """

    element: str
    radius: float
    bonding: str

    def __post_init__(self):
        where = "Chemistry"
        if self.element not in atomic_numbers or self.element == "X":
            raise fail("element", where, "a chemical symbol such as 'Si'", self.element)
        check_real(self.radius, "radius", where, low=RADIUS_BOUNDS[0], high=RADIUS_BOUNDS[1])
        check_choice(self.bonding, "bonding", where, BONDING_KINDS)

    @classmethod
    def of(cls, element: str, bonding: str | None = None,
           radius: float | None = None) -> "Chemistry":
        """The chemistry of ``element`` with tabulated defaults.

        Parameters
        ----------
        element : str
            Chemical symbol.
        bonding : {"covalent", "metallic"}, optional
            Default: ``"metallic"`` for the elements in :data:`METALLIC_RADII`,
            ``"covalent"`` otherwise.
        radius : float, optional
            Characteristic radius [Å]. Default: the tabulated radius for the bonding kind.

        Raises
        ------
        InvalidParameterError
            For an unknown element, an unknown bonding kind, a radius outside
            0.3–3.0 Å, or a metallic element with no tabulated metallic radius and no
            ``radius`` given.

        Examples
        --------
        >>> Chemistry.of("Si")
        Chemistry(element='Si', radius=1.11, bonding='covalent')
        >>> Chemistry.of("Ti").bonding
        'metallic'
        """
        where = "Chemistry.of"
        if element not in atomic_numbers or element == "X":
            raise fail("element", where, "a chemical symbol such as 'Si'", element)
        if bonding is None:
            bonding = "metallic" if element in METALLIC_RADII else "covalent"
        check_choice(bonding, "bonding", where, BONDING_KINDS)
        if radius is None:
            if bonding == "covalent":
                radius = float(covalent_radii[atomic_numbers[element]])
            elif element in METALLIC_RADII:
                radius = METALLIC_RADII[element]
            else:
                raise fail("radius", where,
                           f"given explicitly: no metallic radius of {element} is tabulated",
                           radius)
        radius = check_real(radius, "radius", where, low=RADIUS_BOUNDS[0], high=RADIUS_BOUNDS[1])
        return cls(element=element, radius=round(radius, 6), bonding=bonding)

    @property
    def volume_per_atom(self) -> float:
        """V0 [Å³/atom]: 14.5 r³ (covalent) or 5.5 r³ (metallic), the paper's centre of
        the random cells' volumes.
        """
        return VOLUME_FACTORS[self.bonding] * self.radius**3

    @property
    def min_separation(self) -> float:
        """Minimum interatomic distance of random cells [Å]: 1.8 r."""
        return MIN_SEPARATION_FACTOR * self.radius

    @property
    def elements(self) -> tuple:
        """``(element,)``: the same attribute as :attr:`Composition.elements`."""
        return (self.element,)

    @property
    def smallest_radius(self) -> float:
        """The radius r [Å]: the same attribute as :attr:`Composition.smallest_radius`."""
        return self.radius

    @property
    def formula(self) -> str:
        """The element: the same attribute as :attr:`Composition.formula`."""
        return self.element


@dataclass(frozen=True)
class Composition:
    """A compound: its formula unit and the chemistry of each of its elements.

    Build it with :meth:`Composition.of`. The protocol's rules for one element carry over
    pair by pair, as buildcell's per-pair ``MINSEP`` does: atoms of elements a and b are
    at least 0.9 (r_a + r_b) apart in random cells (1.8 r for a = b, the paper's rule),
    and the volume of a formula unit is the sum of its atoms' V0.

    Parameters
    ----------
    counts : tuple of (str, int)
        The reduced formula unit, elements in the order given, e.g. (("Ti", 1), ("O", 2)).
    species : tuple of Chemistry
        The chemistry of each element, in the same order.
    """

    counts: tuple
    species: tuple

    def __post_init__(self):
        where = "Composition"
        if not self.counts or len(self.counts) != len(self.species):
            raise fail("species", where, "one Chemistry per element of the formula",
                       self.species)
        for (element, count), chemistry in zip(self.counts, self.species):
            if not isinstance(chemistry, Chemistry) or chemistry.element != element:
                raise fail("species", where, f"the Chemistry of {element}", chemistry)
            check_real(count, "counts", where, low=1)

    @classmethod
    def of(cls, formula: str, *, bonding=None, radius=None) -> "Composition":
        """The composition of ``formula`` with tabulated defaults per element.

        Parameters
        ----------
        formula : str
            A chemical formula, e.g. ``"SiC"``, ``"TiO2"``, ``"Cu3Au"``; it is reduced to
            its formula unit (``"Si2C2"`` is SiC).
        bonding : str or dict of str to str, optional
            ``"covalent"`` or ``"metallic"`` for every element, or per element; default
            per element as :meth:`Chemistry.of`.
        radius : dict of str to float, optional
            Characteristic radius [Å] per element; default as :meth:`Chemistry.of`.

        Raises
        ------
        InvalidParameterError
            For a formula that does not parse or names no element or an unknown one, a
            bonding kind or radius for an element not in it, or a bad kind or radius.

        Examples
        --------
        >>> Composition.of("SiC").formula
        'SiC'
        >>> Composition.of("Si2C2").atoms_per_formula_unit
        2
        """
        where = "Composition.of"
        if not isinstance(formula, str) or not formula.strip():
            raise fail("formula", where, "a chemical formula such as 'SiC' or 'TiO2'", formula)
        try:
            counts = Formula(formula.strip()).count()
        except ValueError:
            counts = None
        if not counts or any(e not in atomic_numbers or e == "X" for e in counts):
            raise fail("formula", where, "a chemical formula of known elements such as "
                       "'SiC' or 'TiO2'", formula)
        divisor = 0
        for n in counts.values():
            divisor = gcd(divisor, n)
        counts = {e: n // divisor for e, n in counts.items()}
        bondings = bonding if isinstance(bonding, dict) else {e: bonding for e in counts}
        radii = dict(radius or {})
        if not isinstance(radii, dict):
            raise fail("radius", where, "a dict of element to radius [Å]", radius)
        for name, table in (("bonding", bondings), ("radius", radii)):
            strangers = sorted(set(table) - set(counts))
            if strangers:
                raise fail(name, where, f"values for the elements of {formula} "
                           f"({', '.join(counts)})", f"values for {', '.join(strangers)}")
        species = tuple(Chemistry.of(e, bonding=bondings.get(e), radius=radii.get(e))
                        for e in counts)
        return cls(counts=tuple(counts.items()), species=species)

    @property
    def elements(self) -> tuple:
        """Chemical symbols, in the order of the formula."""
        return tuple(e for e, _ in self.counts)

    @property
    def formula(self) -> str:
        """The formula unit, e.g. ``"TiO2"``."""
        return "".join(e + (str(n) if n > 1 else "") for e, n in self.counts)

    @property
    def atoms_per_formula_unit(self) -> int:
        """Atoms in one formula unit."""
        return sum(n for _, n in self.counts)

    @property
    def smallest_radius(self) -> float:
        """The smallest characteristic radius of its elements [Å]: the scale of the
        shortest bonds (e.g. of a relaxation's explosion guard)."""
        return min(c.radius for c in self.species)

    def chemistry(self, element: str) -> Chemistry:
        """The :class:`Chemistry` of ``element``."""
        for chemistry in self.species:
            if chemistry.element == element:
                return chemistry
        raise fail("element", "Composition.chemistry", f"one of {', '.join(self.elements)}",
                   element)

    @property
    def volume_per_formula_unit(self) -> float:
        """Σ n_e V0_e [Å³]: the centre of the random cells' volume per formula unit."""
        return sum(n * c.volume_per_atom for (_, n), c in zip(self.counts, self.species))

    def min_separation(self, a: str, b: str) -> float:
        """Minimum distance between atoms of elements ``a`` and ``b`` in random cells [Å]:
        0.9 (r_a + r_b), i.e. the paper's 1.8 r for one element."""
        return MIN_SEPARATION_FACTOR / 2 * (self.chemistry(a).radius + self.chemistry(b).radius)

    def formula_units(self, n_atoms) -> list[int]:
        """The numbers of formula units Z whose cells hold an atom count in the inclusive
        range ``n_atoms`` (e.g. ``(6, 24)``)."""
        lo, hi = n_atoms
        n = self.atoms_per_formula_unit
        return [z for z in range(1, hi // n + 1) if lo <= z * n <= hi]


def check_chemistry(chemistry, where: str, *, compound: bool = False):
    """``chemistry`` if it is a :class:`Chemistry` (or, with ``compound``, a
    :class:`Composition`); else the error says how to make one."""
    if compound and isinstance(chemistry, Composition):
        return chemistry
    if not isinstance(chemistry, Chemistry):
        expected = ("a gapexplore.Chemistry or Composition (e.g. Chemistry.of('Si'), "
                    "Composition.of('SiC'))" if compound
                    else "a gapexplore.Chemistry (e.g. Chemistry.of('Si'))")
        raise fail("chemistry", where, expected, chemistry)
    return chemistry


def as_composition(chemistry, where: str = "as_composition") -> Composition:
    """A :class:`Composition` as given, or one element's :class:`Chemistry` as a formula
    unit of one atom: the one rule that lets every step treat both alike."""
    if isinstance(chemistry, Composition):
        return chemistry
    chemistry = check_chemistry(chemistry, where, compound=True)
    return Composition(counts=((chemistry.element, 1),), species=(chemistry,))


def compositions_of(formulas, *, bonding=None, radius=None) -> tuple:
    """Several stoichiometries explored in one run: the system and each of them.

    Parameters
    ----------
    formulas : sequence of str
        Chemical formulas, e.g. ``["Si", "SiC", "C"]``; each is reduced to its formula unit
        and repeats are dropped.
    bonding, radius : str, dict or None
        As in :meth:`Composition.of`, for the elements of all of them (a table by element
        may name any element of the system).

    Returns
    -------
    system : Composition
        Every element once (``counts`` of 1, in order of first appearance), with its
        :class:`Chemistry`: the species of the dimers, the fit and the per-pair separations.
    compositions : tuple of Composition
        The stoichiometries, in the order given, their elements' chemistry the system's.

    Raises
    ------
    InvalidParameterError
        For an empty list, a formula that does not parse, or a table that names an element
        of none of them.
    """
    where = "compositions_of"
    if isinstance(formulas, str) or not formulas:
        raise fail("composition", where, "a list of chemical formulas, e.g. ['Si', 'SiC', "
                   "'C']", formulas)
    parsed = [Composition.of(f) for f in formulas]   # each parses; defaults don't matter
    elements = list(dict.fromkeys(e for c in parsed for e in c.elements))
    system = Composition.of("".join(elements), bonding=bonding, radius=radius)
    out, seen = [], set()
    for composition in parsed:
        if composition.formula in seen:
            continue
        seen.add(composition.formula)
        out.append(Composition(counts=composition.counts,
                               species=tuple(system.chemistry(e) for e in composition.elements)))
    return system, tuple(out)


def compositions_in(system: str, n_atoms=(6, 24)) -> list[str]:
    """Every stoichiometry of a system of elements whose cells ``n_atoms`` allows, as
    formulas: ``"Cu-Au"`` is Cu, Cu11Au, ..., CuAu, ..., Au.

    Parameters
    ----------
    system : str
        Elements joined by ``-`` (``"Cu-Au"``, ``"Ti-O"``, ``"Al-Cu-Mg"``), optionally with
        ``:N``, the most atoms of a formula unit (``"Cu-Au:4"``: Cu, Cu3Au, Cu2Au, CuAu,
        CuAu2, CuAu3, Au).
    n_atoms : (int, int)
        Atoms per random cell (min, max). A stoichiometry is kept when some whole number
        of its formula units lies in this range; without ``:N`` its formula unit may have
        up to max atoms.

    Returns
    -------
    list of str
        Reduced formulas, in the order of the elements given: the first element alone
        first, then decreasing in its share (ties: smaller formula units first).

    Raises
    ------
    InvalidParameterError
        For fewer than two distinct elements, an unknown element or a bad ``:N``.

    Examples
    --------
    >>> compositions_in("Cu-Au:4")
    ['Cu', 'Cu3Au', 'Cu2Au', 'CuAu', 'CuAu2', 'CuAu3', 'Au']
    """
    where = "compositions_in"
    lo, hi = check_int_range(n_atoms, "n_atoms", where, low=1, high=200)
    text = system.strip() if isinstance(system, str) else ""
    head, _, cap = text.partition(":")
    elements = [e.strip() for e in head.split("-")]
    if len(elements) < 2 or len(set(elements)) != len(elements) \
            or any(e not in atomic_numbers for e in elements):
        raise fail("system", where, "two or more distinct chemical symbols joined by '-', "
                   "optionally with ':N' (most atoms per formula unit), e.g. 'Cu-Au' or "
                   "'Ti-O:6'", system)
    most = hi
    if cap:
        try:
            most = int(cap)
        except ValueError:
            most = 0
        if most < 1:
            raise fail("system", where, "':N' with N a whole number of atoms >= 1 (the most "
                       "atoms of a formula unit)", system)
        most = min(most, hi)
    found = []
    for counts in product(range(most + 1), repeat=len(elements)):
        size = sum(counts)
        if not 0 < size <= most or gcd(*counts) != 1:
            continue
        if (hi // size) * size < lo:   # no whole number of formula units in the range
            continue
        found.append(counts)
    found.sort(key=lambda c: (tuple(-n / sum(c) for n in c), sum(c)))
    return ["".join(f"{e}{n if n > 1 else ''}" for e, n in zip(elements, c) if n)
            for c in found]


def reduced_formula(atoms) -> str:
    """The composition of a structure as its reduced Hill formula (``"CSi"`` for Si4C4):
    the key by which structures of one stoichiometry are grouped."""
    return atoms.symbols.formula.reduce()[0].format("hill")


def atomic_fractions(structures, elements) -> np.ndarray:
    """Atomic fraction of each of ``elements`` in each structure: shape (n, len(elements)).

    Raises
    ------
    InvalidParameterError
        For a structure holding an element not among ``elements``.
    """
    numbers = [atomic_numbers[e] for e in elements]
    out = np.zeros((len(structures), len(numbers)))
    for row, atoms in enumerate(structures):
        counts = np.bincount(atoms.numbers, minlength=max(numbers) + 1)
        if counts.sum() != sum(counts[z] for z in numbers):
            raise fail("structures", "atomic_fractions", f"structures of {', '.join(elements)}",
                       atoms.get_chemical_formula())
        out[row] = [counts[z] / len(atoms) for z in numbers]
    return out
