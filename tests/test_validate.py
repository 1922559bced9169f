import numpy as np
import pytest

from gapexplore import Chemistry, InvalidParameterError, keys
from gapexplore.label import reference_calculator
from gapexplore.run.state import IterationRecord, RunState
from gapexplore.validate import KNOWN_STRUCTURES, known_structure, lowest_label_above, validate


def test_known_structures_have_their_space_groups():
    import spglib

    expected = {("Si", "diamond"): (227, 8), ("Si", "beta-tin"): (141, 4),
                ("Si", "simple-hexagonal"): (191, 1), ("Si", "bc8"): (206, 8),
                ("Si", "oS24"): (63, 12), ("C", "diamond"): (227, 8),
                ("C", "lonsdaleite"): (194, 4), ("C", "graphite"): (194, 4),
                ("B", "alpha-B12"): (166, 12),
                ("Ti", "hcp"): (194, 2), ("Ti", "omega"): (191, 3), ("Ti", "bcc"): (229, 2)}
    elements = {e: table for e, table in KNOWN_STRUCTURES.items() if len(e) <= 2}
    assert {(e, n) for e, table in elements.items() for n in table} == set(expected)
    # compounds: tests/test_composition.py
    for (element, name), (number, count) in expected.items():
        atoms = known_structure(element, name)
        cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
        assert spglib.get_symmetry_dataset(cell, symprec=1e-3).number == number, name
        assert len(atoms) == count and set(atoms.get_chemical_symbols()) == {element}
    with pytest.raises(InvalidParameterError, match="known structure of Si"):
        known_structure("Si", "graphite")


def test_new_known_structures_keep_their_shape_under_the_reference():
    """bc8 Si and graphite relax to themselves, at the references' own energies."""
    import spglib

    from gapexplore.relax import RelaxSettings, relax

    cases = {("Si", "bc8", "kumagai-si"): (206, -4.4175),
             ("Si", "bc8", "sw-si"): (206, -4.1486),
             ("C", "graphite", "tersoff-c"): (194, -7.3955)}  # 25 meV/atom below diamond
    for (element, name, reference), (number, energy) in cases.items():
        frames = relax(known_structure(element, name), reference_calculator(reference),
                       pressure=0.0, chemistry=Chemistry.of(element),
                       settings=RelaxSettings(optimiser="lbfgs-linesearch"))
        last = frames[-1]
        assert last.info[keys.RELAX_STATUS] == "converged"
        assert last.info[keys.GAP_ENERGY] / len(last) == pytest.approx(energy, abs=1e-3)
        cell = (last.cell[:], last.get_scaled_positions(), last.numbers)
        assert spglib.get_symmetry_dataset(cell, symprec=1e-2).number == number, name


def test_validation_of_the_reference_against_itself():
    si = Chemistry.of("Si")
    structures = {n: known_structure("Si", n) for n in ("diamond", "beta-tin")}
    sw = reference_calculator("sw-si")
    result = validate(structures, sw, reference_calculator("sw-si"), chemistry=si)
    assert result["diamond"]["reference"] == pytest.approx(-4.3366, abs=1e-3)
    for name in structures:
        assert result[name]["error"] == pytest.approx(0.0, abs=1e-9)
    gap = result["differences"]["beta-tin - diamond"]
    assert gap["gap"] == gap["reference"] == pytest.approx(0.20, abs=0.01)  # SW's 0.20 eV
    # cached reference energies are used, not recomputed
    again = validate(structures, sw, None, chemistry=si,
                     reference_energies={n: result[n]["reference"] for n in structures})
    assert again["beta-tin"]["reference"] == result["beta-tin"]["reference"]
    rows = RunState(iterations=[IterationRecord(0, 10, 5, labels_total=10,
                                                validation=result)]).validation_rows()
    assert [r["structure"] for r in rows] == ["diamond", "beta-tin"]
    assert np.isfinite([r["gap"] for r in rows]).all()


def test_reference_minima_are_where_each_gap_starts():
    """Relaxed once by the reference, a structure is validated from its minimum: the
    reference against itself errs by nothing, and a GAP starts where the reference ended."""
    from gapexplore.validate import held_out_structure, reference_minima

    si = Chemistry.of("Si")
    sw = reference_calculator("sw-si")
    structures = {"diamond": known_structure("Si", "diamond"),
                  "hcp": held_out_structure("Si", "hcp")}
    minima, energies = reference_minima(structures, sw, chemistry=si)
    assert energies["diamond"] == pytest.approx(-4.3366, abs=1e-3)
    assert minima["diamond"].get_volume() / 8 == pytest.approx(20.02, abs=0.05)
    assert minima["hcp"].get_volume() != pytest.approx(structures["hcp"].get_volume())
    assert minima["hcp"].calc is None and not minima["hcp"].constraints
    result = validate(minima, sw, None, chemistry=si, reference_energies=energies)
    for name in structures:
        assert result[name]["reference"] == energies[name]
        assert result[name]["error"] == pytest.approx(0.0, abs=1e-6)
        assert result[name]["gap_status"] == "converged"


def test_lowest_label_above_each_known_structure():
    """The lowest periodic label of each structure's own composition, by the reference,
    minus the structure's energy; dimers and other compositions do not count."""
    from ase import Atoms

    def label(symbols, energy_per_atom, pbc=True):
        atoms = Atoms(symbols, cell=np.eye(3) * 10, pbc=pbc)
        atoms.positions = np.arange(3 * len(atoms)).reshape(-1, 3)
        atoms.info[keys.REF_ENERGY] = energy_per_atom * len(atoms)
        return atoms

    labels = [label("Si8", -4.30), label("Si4", -4.25), label("Si2", -9.0, pbc=False),
              label("Si4C4", -6.11), label("C8", -7.5)]
    structures = {"diamond": known_structure("Si", "diamond"),
                  "beta-tin": known_structure("Si", "beta-tin"),
                  "3C": known_structure("SiC", "3C"), "2H": known_structure("SiC", "2H")}
    energies = {"diamond": -4.3366, "beta-tin": -4.1366, "3C": -6.1647, "2H": -6.1647}
    above = lowest_label_above(structures, energies, labels)
    assert above["diamond"] == pytest.approx(-4.30 + 4.3366)      # 37 meV/atom above
    assert above["beta-tin"] == pytest.approx(-4.30 + 4.1366)     # a label below it
    assert above["3C"] == above["2H"] == pytest.approx(-6.11 + 6.1647)
    assert lowest_label_above(structures, energies, labels[:3])["3C"] is None
    rows = RunState(iterations=[IterationRecord(
        1, 10, 5, labels_total=10,
        validation={"3C": {"gap": -6.2, "reference": -6.1647, "error": -0.0353,
                           "lowest_label_above": above["3C"]},
                    "diamond": {"gap": -4.3, "reference": -4.3366, "error": 0.0366}})]
    ).validation_rows()
    assert rows[0]["lowest_label_above"] == pytest.approx(0.0547)
    assert np.isnan(rows[1]["lowest_label_above"])     # validated before it was recorded


def test_validation_keeps_each_structure_s_space_group():
    """Diamond is unstable under Lennard-Jones: unconstrained, a start rattled by 1e-4 Å
    collapses towards close packing; validation relaxes diamond itself, whose energy is the
    minimum over its one free parameter, the lattice constant (a scan here)."""
    from ase.build import bulk
    from ase.calculators.lj import LennardJones
    from scipy.optimize import minimize_scalar

    lj = LennardJones(sigma=2.1, epsilon=1.0, rc=6.0, smooth=True)

    def diamond(a):
        atoms = bulk("Si", "diamond", a=a, cubic=True)
        atoms.calc = lj
        return atoms.get_potential_energy() / len(atoms)

    lowest = minimize_scalar(diamond, bounds=(4.0, 7.0), method="bounded",
                             options={"xatol": 1e-6}).fun
    start = known_structure("Si", "diamond")
    start.rattle(1e-4, seed=0)
    si = Chemistry.of("Si")
    kept = validate({"diamond": start}, lj, lj, chemistry=si)["diamond"]
    assert kept["gap_status"] == "converged"
    assert kept["gap"] == pytest.approx(lowest, abs=1e-3)   # fmax 0.01 eV/Å: 1e-4 measured
    free = validate({"diamond": start}, lj, lj, chemistry=si, symmetric=False)["diamond"]
    assert free["gap"] < lowest - 1.0                        # collapsed: about -7.9 eV/atom


def test_prediction_error_uses_only_structures_with_both_energies():
    from ase.build import bulk

    from gapexplore.validate import prediction_error

    def labelled(n_rep, gap, ref, failed=False):
        atoms = bulk("Si", "diamond", a=5.43).repeat((n_rep, 1, 1))   # 2 n_rep atoms
        if gap is not None:
            atoms.info[keys.GAP_ENERGY] = gap
        atoms.info[keys.REF_ENERGY] = ref
        if failed:
            atoms.info[keys.LABEL_ERROR] = "refused"
        return atoms

    # errors per atom: +0.1 (2 atoms), -0.3 (4 atoms); the cell without a GAP energy and
    # the failed label are left out
    structures = [labelled(1, -8.0, -8.2), labelled(2, -17.2, -16.0),
                  labelled(1, None, -8.0), labelled(1, 0.0, -8.0, failed=True)]
    error = prediction_error(structures)
    assert error["n"] == 2
    assert error["rmse"] == pytest.approx(np.sqrt((0.1 ** 2 + 0.3 ** 2) / 2))
    assert error["mae"] == pytest.approx(0.2) and error["max"] == pytest.approx(0.3)
    assert error["mean"] == pytest.approx(-0.1)
    assert prediction_error(structures[2:]) is None


def test_held_out_phases_have_their_space_groups_and_no_run_validates_on_them():
    import spglib

    from gapexplore.run import ExploreSettings
    from gapexplore.validate import HELD_OUT_STRUCTURES, held_out_structure

    expected = {("Si", "hexagonal-diamond"): 194, ("Si", "sc"): 221, ("Si", "fcc"): 225,
                ("Si", "hcp"): 194, ("C", "bc8"): 206, ("C", "sc"): 221, ("C", "fcc"): 225,
                ("Ti", "fcc"): 225, ("B", "gamma-B28"): 58}
    assert {(e, n) for e in HELD_OUT_STRUCTURES for n in HELD_OUT_STRUCTURES[e]
            if len(e) <= 2} == set(expected)   # compounds: tests/test_composition.py
    for (element, name), number in expected.items():
        atoms = held_out_structure(element, name)
        cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
        assert spglib.get_symmetry_dataset(cell, symprec=1e-3).number == number, name
        assert name not in KNOWN_STRUCTURES[element]
    with pytest.raises(InvalidParameterError, match="held out"):
        ExploreSettings(element="Si", validate=("diamond", "fcc"))


def test_gamma_boron_is_the_published_28_atom_pnnm_cell():
    """γ-B28: Pnnm, 28 atoms, its B2 pair the shortest bond (1.64 Å), 7.09 Å³/atom."""
    import spglib

    from gapexplore.core.geometry import min_distance
    from gapexplore.validate import held_out_structure

    atoms = held_out_structure("B", "gamma-B28")
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    for symprec in (1e-3, 0.1):
        assert spglib.get_symmetry_dataset(cell, symprec=symprec).number == 58
    assert len(atoms) == 28 and set(atoms.get_chemical_symbols()) == {"B"}
    assert min_distance(atoms) == pytest.approx(1.644, abs=0.005)
    assert atoms.get_volume() / len(atoms) == pytest.approx(7.088, abs=0.005)
    # six or seven neighbours within 2.1 Å each: an icosahedron's five and bonds out of it
    distances = atoms.get_all_distances(mic=True)
    neighbours = ((distances > 0.1) & (distances < 2.1)).sum(axis=1)
    assert set(neighbours) == {6, 7}
