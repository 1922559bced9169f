import numpy as np
import pytest

from gapexplore import Chemistry, InvalidParameterError
from gapexplore.reference import reference_calculator
from gapexplore.validate import as_rows, known_structure, validate


def test_known_structures_have_their_space_groups():
    import spglib

    expected = {("Si", "diamond"): 227, ("Si", "beta-tin"): 141,
                ("Si", "simple-hexagonal"): 191, ("C", "diamond"): 227,
                ("C", "lonsdaleite"): 194}
    for (element, name), number in expected.items():
        atoms = known_structure(element, name)
        cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
        assert spglib.get_symmetry_dataset(cell, symprec=1e-3).number == number
    with pytest.raises(InvalidParameterError, match="known structure of Si"):
        known_structure("Si", "graphite")


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
    rows = as_rows([{"iteration": 0, "labels_total": 10, "validation": result}])
    assert [r["structure"] for r in rows] == ["diamond", "beta-tin"]
    assert np.isfinite([r["gap"] for r in rows]).all()
