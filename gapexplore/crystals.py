"""Known and held-out crystal structures by name: what a run validates on, and what judges
it afterwards.

:func:`known_structure` builds the structures by name from published lattice parameters
and Wyckoff positions (starting points; the relaxations find each potential's own minimum):

* Si diamond (Fd-3m, a = 5.431 Å), β-tin (I4₁/amd, 4a, a = 4.80, c = 2.65 Å), simple
  hexagonal (P6/mmm, 1a, a = 2.64, c = 2.48 Å), and bc8 (Ia-3, 16c with x = 0.1003,
  a = 6.636 Å; Crain et al., Phys. Rev. B 50, 13043 (1994)), built as its 8-atom primitive
  cell, and the open framework oS24 (Si₂₄, Cmcm, three 8f sites (0, y, z) at y, z =
  0.0284, 0.5903; 0.2435, 0.5551; 0.5705, 0.3412; a = 3.822, b = 10.701, c = 12.626 Å;
  Kim et al., Nat. Mater. 14, 169 (2015), as tabulated by the AFLOW prototype library,
  A_oC24_63_3f), built as its 12-atom primitive cell;
* C diamond (a = 3.567 Å), lonsdaleite (P6₃/mmc, 4f with z = 1/16, a = 2.52, c = 4.12 Å),
  and graphite (P6₃/mmc, 2b and 2c, a = 2.464, c = 6.711 Å; AB stacking). A reference
  without interlayer binding (Tersoff carbon) leaves graphite's c where it starts;
* compounds, keyed by formula: SiC 3C (zincblende, a = 4.36 Å), 2H (wurtzite, a = 3.08,
  c = 5.04 Å), 4H (P6₃mc, Si on 2a z = 0 and 2b z = 1/4, C 3/16 of c above each; a = 3.08,
  c = 10.08 Å) and rocksalt (a = 4.02 Å; the high-pressure phase); CuAu L1₀ (P4/mmm, Cu 1a,
  Au 1d; a = 2.80, c = 3.67 Å) and Cu₃Au L1₂ (Pm-3m, Au 1a, Cu 3c; a = 3.75 Å); TiO₂
  rutile (P4₂/mnm, Ti 2a, O 4f x = 0.3048; a = 4.594, c = 2.959 Å) and anatase (I4₁/amd
  origin choice 1, Ti 4a, O 8e z = 0.2081; a = 3.785, c = 9.514 Å; both Burdett et al.,
  J. Am. Chem. Soc. 109, 3639 (1987)), anatase as its 6-atom primitive cell.

:func:`held_out_structure` builds further phases no run validates on
(:data:`HELD_OUT_STRUCTURES`, with their sources). None of them is ever added to the
training data: they only measure what a GAP learnt (:mod:`gapexplore.validate`).
"""

from __future__ import annotations

from ase import Atoms
from ase.build import bulk
from ase.formula import Formula
from ase.spacegroup import crystal

from gapexplore.core import keys
from gapexplore.core.checks import fail

__all__ = ["HELD_OUT_STRUCTURES", "KNOWN_STRUCTURES", "held_out_structure", "known_structure",
           "structure_table"]


def _beta_tin(element, a, c):
    return crystal(element, [(0, 0, 0)], spacegroup=141, cellpar=[a, a, c, 90, 90, 90])


def _simple_hexagonal(element, a, c):
    return crystal(element, [(0, 0, 0)], spacegroup=191, cellpar=[a, a, c, 90, 90, 120])


def _lonsdaleite(element, a, c):
    return crystal(element, [(1 / 3, 2 / 3, 1 / 16)], spacegroup=194,
                   cellpar=[a, a, c, 90, 90, 120])


def _bc8(element, a, x):
    return crystal(element, [(x, x, x)], spacegroup=206, cellpar=[a, a, a, 90, 90, 90],
                   primitive_cell=True)


def _os24(element, a, b, c, sites):
    """The open framework oS24 (Cmcm, three 8f sites (0, y, z)), 12-atom primitive cell."""
    return crystal([element] * len(sites), [(0, y, z) for y, z in sites], spacegroup=63,
                   cellpar=[a, b, c, 90, 90, 90], primitive_cell=True)


def _graphite(element, a, c):
    return crystal([element, element], [(0, 0, 1 / 4), (1 / 3, 2 / 3, 1 / 4)],
                   spacegroup=194, cellpar=[a, a, c, 90, 90, 120])


def _alpha_boron(a, c):
    """α-rhombohedral B12 (R-3m; 18h sites of Will & Kiefer 2001), 12-atom primitive cell."""
    return crystal(["B", "B"], [(0.11886, 0.88114, 0.89133), (0.19686, 0.80314, 0.02432)],
                   spacegroup=166, cellpar=[a, a, c, 90, 90, 120], primitive_cell=True)


def _omega(element, a, c):
    """The ω phase (P6/mmm: 1a and 2d), 3 atoms."""
    return crystal([element, element], [(0, 0, 0), (1 / 3, 2 / 3, 1 / 2)], spacegroup=191,
                   cellpar=[a, a, c, 90, 90, 120])


def _sic_polytype(a, c, layers):
    """A hexagonal SiC polytype (P6₃mc) from its Si layers: (site, z) with site 0 for
    (0, 0) and 1 for (1/3, 2/3); each C sits 3/4 of a layer spacing above its Si."""
    shift = 3 / 4 / (2 * len(layers))
    xy = [(0, 0), (1 / 3, 2 / 3)]
    sites = [(*xy[k], z) for k, z in layers] + [(*xy[k], z + shift) for k, z in layers]
    return crystal(["Si"] * len(layers) + ["C"] * len(layers), sites, spacegroup=186,
                   cellpar=[a, a, c, 90, 90, 120])


def _rutile(a, c, x):
    """Rutile TiO₂ (P4₂/mnm: Ti 2a, O 4f (x, x, 0)), 6 atoms."""
    return crystal(["Ti", "O"], [(0, 0, 0), (x, x, 0)], spacegroup=136,
                   cellpar=[a, a, c, 90, 90, 90])


def _anatase(a, c, z):
    """Anatase TiO₂ (I4₁/amd, origin choice 1: Ti 4a, O 8e (0, 0, z)), 6-atom primitive."""
    return crystal(["Ti", "O"], [(0, 0, 0), (0, 0, z)], spacegroup=141, setting=1,
                   cellpar=[a, a, c, 90, 90, 90], primitive_cell=True)


def _columbite(a, b, c, y_ti, o):
    """α-PbO₂-type TiO₂-II (Pbcn: Ti 4c (0, y, 1/4), O 8d), 12 atoms."""
    return crystal(["Ti", "O"], [(0, y_ti, 1 / 4), o], spacegroup=60,
                   cellpar=[a, b, c, 90, 90, 90])


def _gamma_boron(a, b, c, g_sites, h_sites):
    """γ-B28 (Pnnm: three 4g sites (x, y, 0), two 8h sites (x, y, z)), 28 atoms."""
    return crystal(["B"] * 5, [(x, y, 0) for x, y in g_sites] + list(h_sites), spacegroup=58,
                   cellpar=[a, b, c, 90, 90, 90])


def _l10(a_element, b_element, a, c):
    """The L1₀ structure (P4/mmm: ``a_element`` on 1a, ``b_element`` on 1d), 2 atoms."""
    return crystal([a_element, b_element], [(0, 0, 0), (1 / 2, 1 / 2, 1 / 2)], spacegroup=123,
                   cellpar=[a, a, c, 90, 90, 90])


def _l12(majority, minority, a):
    """The L1₂ structure (Pm-3m: ``minority`` on 1a, ``majority`` on 3c), 4 atoms."""
    return crystal([minority, majority], [(0, 0, 0), (0, 1 / 2, 1 / 2)], spacegroup=221,
                   cellpar=[a, a, a, 90, 90, 90])


#: Known structures by element (or a compound's formula) and name: a builder and its
#: starting lattice parameters [Å].
KNOWN_STRUCTURES = {
    "Si": {
        "diamond": lambda: bulk("Si", "diamond", a=5.431, cubic=True),
        "beta-tin": lambda: _beta_tin("Si", 4.80, 2.65),
        "simple-hexagonal": lambda: _simple_hexagonal("Si", 2.64, 2.48),
        "bc8": lambda: _bc8("Si", 6.636, 0.1003),
        "oS24": lambda: _os24("Si", 3.8224, 10.7007, 12.6258,
                              [(0.0284, 0.5903), (0.2435, 0.5551), (0.5705, 0.3412)]),
    },
    "C": {
        "diamond": lambda: bulk("C", "diamond", a=3.567, cubic=True),
        "lonsdaleite": lambda: _lonsdaleite("C", 2.52, 4.12),
        "graphite": lambda: _graphite("C", 2.464, 6.711),
    },
    "B": {
        "alpha-B12": lambda: _alpha_boron(4.9179, 12.5805),
    },
    "Ti": {
        "hcp": lambda: bulk("Ti", "hcp", a=2.951, c=4.686),
        "omega": lambda: _omega("Ti", 4.625, 2.813),
        "bcc": lambda: bulk("Ti", "bcc", a=3.276, cubic=True),
    },
    "SiC": {
        "3C": lambda: bulk("SiC", "zincblende", a=4.36),
        "2H": lambda: bulk("SiC", "wurtzite", a=3.08, c=5.04),
        "4H": lambda: _sic_polytype(3.08, 10.08, [(0, 0), (1, 1 / 4)]),
        "rocksalt": lambda: bulk("SiC", "rocksalt", a=4.02),
    },
    "CuAu": {
        "L10": lambda: _l10("Cu", "Au", 2.80, 3.67),
    },
    "Cu3Au": {
        "L12": lambda: _l12("Cu", "Au", 3.75),
    },
    "TiO2": {
        "rutile": lambda: _rutile(4.594, 2.959, 0.3048),
        "anatase": lambda: _anatase(3.785, 9.514, 0.2081),
    },
}


#: Further phases that no run validates on (``known_structure`` refuses them): the judge of
#: a potential is what it was not shown. Built from published lattice parameters and
#: Wyckoff positions as starting points (each potential relaxes them to its own minimum):
#: Si hexagonal diamond (P6₃/mmc, 4f z = 1/16; a = 3.84, c = 6.28 Å, Besson et al., Phys.
#: Rev. Lett. 59, 473 (1987)), simple cubic (a = 2.53 Å), fcc (a = 3.87 Å) and hcp (a = 2.72,
#: c = 4.44 Å; the close-packed high-pressure phases, cf. Duclos et al., Phys. Rev. B 41,
#: 12021 (1990)); C bc8 (Ia-3, 16c x = 0.0939, a = 4.455 Å; Yin, Phys. Rev. B 30, 1773
#: (1984)), simple cubic (a = 1.75 Å) and fcc (a = 3.08 Å); Ti fcc (a = 4.11 Å, about
#: PBE's; the close-packed stacking next to hcp); SiC 6H (P6₃mc, Si on 2a z = 0 and
#: 2b z = 1/6, 5/6; a = 3.08, c = 15.12 Å) and CsCl-type (B2, a = 2.70 Å); CuAu B2
#: (a = 3.20 Å); TiO₂-II, the α-PbO₂-type high-pressure phase (Pbcn, Ti 4c y = 0.171, O 8d
#: (0.286, 0.376, 0.412); a = 4.531, b = 5.498, c = 4.900 Å; Simons & Dachille, Acta Cryst.
#: 23, 334 (1967)); B γ-B28, the high-pressure phase of B12 icosahedra and B2 pairs
#: (Oganov et al., Nature 457, 863 (2009); Pnnm, 4g (x, y, 0) at x, y = 0.1624, 0.0075;
#: 0.1694, 0.5184; 0.3506, 0.2710 and 8h at (0.1613, 0.2802, 0.3737), (0.3451, 0.0925,
#: 0.2098); a = 5.0544, b = 5.6199, c = 6.9873 Å, experimental): the structure relaxed by
#: CASTEP in that cell as the AIRSS documentation's examples 2.03–2.04 list it
#: (github.com/airss-docs/airss-docs.github.io, examples/index.md), symmetrised and rounded,
#: the icosahedra centred on (1/2, 0, 0) and (0, 1/2, 1/2); shortest bond 1.64 Å,
#: 7.09 Å³/atom, 2.53 g/cm³).
HELD_OUT_STRUCTURES = {
    "Si": {
        "hexagonal-diamond": lambda: _lonsdaleite("Si", 3.84, 6.28),
        "sc": lambda: bulk("Si", "sc", a=2.53),
        "fcc": lambda: bulk("Si", "fcc", a=3.87),
        "hcp": lambda: bulk("Si", "hcp", a=2.72, c=4.44),
    },
    "C": {
        "bc8": lambda: _bc8("C", 4.455, 0.0939),
        "sc": lambda: bulk("C", "sc", a=1.75),
        "fcc": lambda: bulk("C", "fcc", a=3.08),
    },
    "B": {
        "gamma-B28": lambda: _gamma_boron(
            5.0544, 5.6199, 6.9873, [(0.1624, 0.0075), (0.1694, 0.5184), (0.3506, 0.2710)],
            [(0.1613, 0.2802, 0.3737), (0.3451, 0.0925, 0.2098)]),
    },
    "Ti": {
        "fcc": lambda: bulk("Ti", "fcc", a=4.11),
    },
    "SiC": {
        "6H": lambda: _sic_polytype(3.08, 15.12, [(0, 0), (1, 1 / 6), (1, 5 / 6)]),
        "B2": lambda: bulk("SiC", "cesiumchloride", a=2.70),
    },
    "CuAu": {
        "B2": lambda: bulk("CuAu", "cesiumchloride", a=3.20),
    },
    "TiO2": {
        "columbite": lambda: _columbite(4.531, 5.498, 4.900, 0.171, (0.286, 0.376, 0.412)),
    },
}


def structure_table(table: dict, chemistry) -> dict:
    """The entry of ``table`` (:data:`KNOWN_STRUCTURES`, :data:`HELD_OUT_STRUCTURES`) for
    ``chemistry``: an element, a formula in any order or multiple (``"CSi"``, ``"Si2C2"``
    find SiC), a Chemistry or a Composition; empty when it has none."""
    key = getattr(chemistry, "formula", chemistry)
    if not isinstance(key, str):
        return {}
    if key in table:
        return table[key]
    try:
        wanted = Formula(key).reduce()[0].count()
    except ValueError:
        return {}
    for formula, entry in table.items():
        if Formula(formula).reduce()[0].count() == wanted:
            return entry
    return {}


def held_out_structure(element, name: str) -> Atoms:
    """A held-out phase of ``element`` (a symbol, a compound's formula, a Chemistry or a
    Composition; see :data:`HELD_OUT_STRUCTURES`): for judging a finished run's potential,
    never for a run's own validation."""
    table = structure_table(HELD_OUT_STRUCTURES, element)
    element = getattr(element, "formula", element)
    if name not in table:
        options = ", ".join(repr(n) for n in table) or "none"
        raise fail("name", "held_out_structure",
                   f"a held-out structure of {element} ({options})", name)
    atoms = table[name]()
    atoms.info[keys.KNOWN_NAME] = name
    return atoms


def known_structure(element, name: str) -> Atoms:
    """A known crystal structure of ``element`` (a symbol, a compound's formula, a Chemistry
    or a Composition; see :data:`KNOWN_STRUCTURES`).

    ``name`` may name the composition too, as ``"formula:name"`` (``"SiC:3C"``,
    ``"Si:diamond"``): how a run across several compositions names its structures; the
    formula's elements must be among ``element``'s.
    """
    if isinstance(name, str) and ":" in name:
        formula, bare = name.split(":", 1)
        system = set(_elements(element))
        if not _elements(formula) or not set(_elements(formula)) <= system:
            raise fail("name", "known_structure", "'formula:name' with a formula of the "
                       f"elements {', '.join(sorted(system))}", name)
        atoms = known_structure(formula, bare)
        atoms.info[keys.KNOWN_NAME] = name
        return atoms
    table = structure_table(KNOWN_STRUCTURES, element)
    element = getattr(element, "formula", element)
    if name in structure_table(HELD_OUT_STRUCTURES, element):
        raise fail("name", "known_structure", f"a known structure of {element} "
                   f"({', '.join(repr(n) for n in table)}); {name!r} is held out: no run "
                   "validates on it (judge a finished potential on it with "
                   "gapexplore.validate.held_out_structure)", name)
    if name not in table:
        options = ", ".join(repr(n) for n in table) or "none"
        raise fail("name", "known_structure", f"a known structure of {element} ({options})",
                   name)
    atoms = table[name]()
    atoms.info[keys.KNOWN_NAME] = name
    return atoms


def _elements(chemistry) -> tuple:
    """The elements of a symbol, formula, Chemistry or Composition (empty if none parse)."""
    if hasattr(chemistry, "elements"):
        return tuple(chemistry.elements)
    key = getattr(chemistry, "element", chemistry)
    try:
        return tuple(Formula(key).count())
    except (ValueError, TypeError):
        return ()
