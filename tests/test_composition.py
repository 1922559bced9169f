"""Compounds, first slice (issue 17): the composition, the dimers and isolated atoms of every
species, a toy alloy reference, and a real binary fit with one term per pair of species."""

import re

import numpy as np
import pytest
from ase.build import bulk
from ase.spacegroup import crystal

from gapexplore import Chemistry, Composition, InvalidParameterError, keys
from gapexplore.fit import GapSettings, fit_gap, predict
from gapexplore.generate import dimers, isolated_atom
from gapexplore.label import label_structures


def test_a_formula_becomes_its_formula_unit_with_each_elements_chemistry():
    tio2 = Composition.of("TiO2")
    assert tio2.elements == ("Ti", "O") and tio2.formula == "TiO2"
    assert tio2.atoms_per_formula_unit == 3
    assert tio2.chemistry("Ti") == Chemistry.of("Ti") and tio2.chemistry("O").bonding == \
        "covalent"
    assert Composition.of("Si2C2").formula == "SiC"   # reduced
    ti, o = Chemistry.of("Ti"), Chemistry.of("O")
    assert tio2.volume_per_formula_unit == pytest.approx(ti.volume_per_atom
                                                         + 2 * o.volume_per_atom)
    # per pair: 0.9 (r_a + r_b), the paper's 1.8 r for one element
    assert tio2.min_separation("Ti", "O") == pytest.approx(0.9 * (1.47 + o.radius))
    assert tio2.min_separation("O", "O") == pytest.approx(o.min_separation)
    assert tio2.formula_units((6, 24)) == [2, 3, 4, 5, 6, 7, 8]
    mine = Composition.of("SiC", bonding="covalent", radius={"C": 0.8})
    assert mine.chemistry("C").radius == 0.8 and mine.chemistry("Si").radius == 1.11


@pytest.mark.parametrize(("formula", "options", "named"), [
    ("", {}, "formula"), ("Xx2", {}, "formula"), ("Si(C", {}, "formula"), (5, {}, "formula"),
    ("SiC", {"radius": {"Ti": 1.5}}, "radius"), ("SiC", {"bonding": {"O": "covalent"}}, "bonding"),
    ("SiC", {"bonding": "ionic"}, "bonding"), ("SiC", {"radius": {"C": 9.0}}, "radius"),
])
def test_an_inconsistent_composition_is_refused_with_the_parameter_named(formula, options,
                                                                         named):
    with pytest.raises(InvalidParameterError, match=f"'{named}' parameter"):
        Composition.of(formula, **options)


def test_dimers_of_every_pair_and_the_isolated_atom_of_every_element():
    sic = Composition.of("SiC")
    pairs = dimers(sic)
    assert len(pairs) == 3 * 21
    by_pair = {}
    for atoms in pairs:
        assert not atoms.pbc.any() and atoms.info[keys.CONFIG_TYPE] == keys.CONFIG_DIMER
        assert atoms.get_distance(0, 1) == pytest.approx(atoms.info[keys.DIMER_DISTANCE])
        by_pair.setdefault(atoms.get_chemical_formula(), []).append(
            atoms.info[keys.DIMER_DISTANCE])
    si, c = sic.chemistry("Si").radius, sic.chemistry("C").radius
    for formula, radius in (("Si2", si), ("CSi", (si + c) / 2), ("C2", c)):
        assert by_pair[formula] == pytest.approx(np.linspace(1.0, 4.5, 21) * radius)
    atoms = isolated_atom(sic)
    assert [a.get_chemical_symbols() for a in atoms] == [["Si"], ["C"]]
    # one element: as before, one list of 21 and one atom
    assert len(dimers(Chemistry.of("Si"))) == 21
    assert isolated_atom(Chemistry.of("Si")).get_chemical_formula() == "Si"


def test_the_emt_reference_labels_alloys_and_refuses_other_elements():
    from ase.calculators.emt import EMT

    l10 = crystal(["Cu", "Au"], [(0, 0, 0), (0.5, 0.5, 0.5)], spacegroup=123,
                  cellpar=[2.8, 2.8, 3.7, 90, 90, 90])
    cu3au = crystal(["Au", "Cu"], [(0, 0, 0), (0, 0.5, 0.5)], spacegroup=221,
                    cellpar=[3.75] * 3 + [90] * 3)
    labelled = label_structures([l10, cu3au, bulk("Si")], "emt")
    for atoms, label in zip((l10, cu3au), labelled):
        direct = atoms.copy()
        direct.calc = EMT()
        assert label.info[keys.REF_ENERGY] == pytest.approx(direct.get_potential_energy())
        assert keys.REF_VIRIAL in label.info
    assert "not covered by reference 'emt'" in labelled[2].info[keys.LABEL_ERROR]


@pytest.mark.slow
def test_a_real_binary_fit_has_a_term_per_pair_and_an_e0_per_element(tmp_path):
    sic = Composition.of("SiC")
    rng = np.random.default_rng(0)
    bases = [bulk("SiC", "zincblende", a=4.32, cubic=True),
             bulk("SiC", "wurtzite", a=3.08, c=5.05), bulk("SiC", "rocksalt", a=4.05, cubic=True)]
    cells = []
    for base in bases:
        for _ in range(6):
            atoms = base.copy()
            atoms.set_cell(atoms.cell[:] * rng.uniform(0.96, 1.04), scale_atoms=True)
            atoms.rattle(0.08, seed=int(rng.integers(10**6)))
            cells.append(atoms)
    labelled = label_structures(cells + dimers(sic) + isolated_atom(sic), "tersoff-sic")
    with pytest.raises(InvalidParameterError, match="none for C"):   # C's e0 is missing
        fit_gap([a for a in labelled if a.get_chemical_formula() != "C"], sic, tmp_path / "x",
                settings=GapSettings.light(sic))
    result = fit_gap(labelled, sic, tmp_path / "gap", settings=GapSettings.light(sic))
    assert set(result.e0) == {"Si", "C"}
    xml = result.potential.read_text()
    pairs = set(re.findall(r"distance_2b [^<]*?Z1=(\d+) Z2=(\d+)", xml))
    assert {tuple(sorted(map(int, p))) for p in pairs} == {(6, 6), (6, 14), (14, 14)}
    # the three polytypes it was shown, slightly rattled anew: within 300 meV/atom of
    # Tersoff (largest error per training seed 0–3 of this recipe: 29, 44, 130 and
    # 50 meV/atom, benchmarks/bench_binary_fit.py; a species term missing or wrong is off
    # by electronvolts)
    tests = []
    for base in bases:
        atoms = base.copy()
        atoms.rattle(0.05, seed=99)
        tests.append(atoms)
    tests = label_structures(tests, "tersoff-sic")
    energies, _ = predict(tests, result.potential)
    errors = [(e - a.info[keys.REF_ENERGY]) / len(a) for e, a in zip(energies, tests)]
    assert np.all(np.abs(errors) < 0.3), errors


@pytest.mark.parametrize("formula", ["SiC", "TiO2", "Cu3Au"])
def test_random_cells_of_a_compound_keep_stoichiometry_separations_and_symmetry(formula):
    import spglib
    from ase.neighborlist import neighbor_list

    from gapexplore.generate import initial_cells, random_cells

    composition = Composition.of(formula)
    unit = composition.atoms_per_formula_unit
    cells = initial_cells(composition, 24, rng=np.random.default_rng(3), n_atoms=(4, 16))
    again = random_cells(composition, 12, rng=np.random.default_rng(4), n_atoms=(4, 16))
    v0 = composition.volume_per_formula_unit
    for atoms in cells + again:
        symbols = atoms.get_chemical_symbols()
        z = len(atoms) // unit
        assert len(atoms) == z * unit and 4 <= len(atoms) <= 16
        assert all(symbols.count(e) == z * n for e, n in composition.counts)
        i, j, d = neighbor_list("ijd", atoms, 4.0)
        for a, b, dist in zip(i, j, d):
            assert dist >= composition.min_separation(symbols[a], symbols[b]) - 1e-9
        wide = atoms.info[keys.VOLUME_RANGE] == "wide"
        spread = 0.25 if wide else 0.05
        assert (1 - spread) * v0 * z - 1e-6 <= atoms.get_volume() <= (1 + spread) * v0 * z \
            + 1e-6
        if wide:
            assert z % 2 == 0
        cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
        found = spglib.get_symmetry_dataset(cell, symprec=1e-3)
        assert len(found.rotations) >= atoms.info[keys.SYMMOPS]   # built symmetry holds
    assert max(a.info[keys.SYMMOPS] for a in cells) > 1


def test_a_compound_that_its_range_cannot_hold_is_refused_before_any_draw():
    from gapexplore.generate import random_cells

    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with pytest.raises(InvalidParameterError, match="formula-unit count"):
        random_cells(Composition.of("TiO2"), 3, rng=rng, n_atoms=(4, 5))
    assert rng.bit_generator.state == state
