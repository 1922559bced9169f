"""Structure map, coordination, learning curves, energy–volume and energy–energy data."""

import json

import numpy as np
import pytest
from ase.build import bulk

from gapexplore import InvalidParameterError, keys
from gapexplore.analysis import (
    coordination_numbers,
    energy_energy,
    energy_volume,
    learning_curves,
    prediction_errors,
    rescale_to_shortest_bond,
    structure_map,
)
from gapexplore.core.geometry import min_distance
from gapexplore.label import label_structures, reference_calculator
from gapexplore.widgets.plots import learning_curve_figure


def test_rescaling_sets_the_shortest_bond_and_keeps_the_shape():
    diamond = bulk("Si", "diamond", a=5.43)
    scaled = rescale_to_shortest_bond(diamond)
    assert min_distance(diamond) == pytest.approx(5.43 * np.sqrt(3) / 4)
    assert min_distance(scaled) == pytest.approx(1.0)
    assert scaled.cell.cellpar()[3:] == pytest.approx(diamond.cell.cellpar()[3:])
    assert np.allclose(scaled.get_scaled_positions(), diamond.get_scaled_positions())


@pytest.mark.parametrize("structure, expected", [("diamond", 4), ("fcc", 12), ("bcc", 14),  # 8 + 6
                                                 ("sc", 6)])
def test_coordination_within_1_2_shortest_bonds(structure, expected):
    atoms = rescale_to_shortest_bond(bulk("Cu", structure, a=3.0).repeat(2))
    assert np.all(coordination_numbers(atoms, 1.2) == expected)


def test_the_map_puts_one_topology_on_one_point_whatever_the_element_and_bond_length():
    structures = [bulk("C", "diamond", a=3.567), bulk("Si", "diamond", a=5.431, cubic=True),
                  bulk("Si", "fcc", a=3.9), bulk("Ti", "bcc", a=3.3),
                  bulk("Si", "sc", a=2.5)]
    data = structure_map(structures)
    xy = data.coordinates
    assert np.linalg.norm(xy[0] - xy[1]) < 1e-6 * np.abs(xy).max()
    others = [np.linalg.norm(xy[0] - xy[i]) for i in (2, 3, 4)]
    assert min(others) > 1e-2 * np.abs(xy).max()
    assert data.coordination == pytest.approx([4, 4, 12, 14, 6])  # bcc: 8 + 6 at 1.155 r0
    assert data.element == ["C", "Si", "Si", "Ti", "Si"]
    columns = data.columns()
    assert set(columns) >= {"x", "y", "coordination", "uid", "iteration", "energy_per_atom"}
    assert all(len(v) == 5 for v in columns.values())


def test_the_map_refuses_dimers_and_too_few_structures():
    from ase import Atoms

    with pytest.raises(InvalidParameterError, match="periodic cells only"):
        structure_map([bulk("Si")] * 3 + [Atoms("Si2", positions=[[0, 0, 0], [0, 0, 2.3]])])
    with pytest.raises(InvalidParameterError, match="at least 3"):
        structure_map([bulk("Si")] * 2)


def test_energy_volume_has_its_minimum_at_the_references_own_volume():
    sw = reference_calculator("sw-si")
    diamond = bulk("Si", "diamond", a=5.431)
    curves = energy_volume(diamond, {"SW": sw, "again": reference_calculator("sw-si")},
                           scales=np.linspace(0.9, 1.1, 21))
    assert curves["SW"] == pytest.approx(curves["again"])
    v = curves["volume_per_atom"][np.argmin(curves["SW"])]
    assert v == pytest.approx(5.431 ** 3 / 8, rel=0.02)  # SW is fitted to diamond's volume
    assert curves["SW"].min() == pytest.approx(-4.3366, abs=2e-3)


def test_energy_energy_of_the_reference_against_itself_has_no_error(si_cells):
    labelled = label_structures(si_cells[:6], "sw-si", n_jobs=1)
    data = energy_energy(labelled, reference_calculator("sw-si"))
    assert data["rmse"] == pytest.approx(0.0, abs=1e-9)
    assert data["reference"] == pytest.approx(
        [a.info[keys.REF_ENERGY] / len(a) for a in labelled])
    with pytest.raises(InvalidParameterError, match="labelled structures"):
        energy_energy(si_cells[:2], reference_calculator("sw-si"))


def test_learning_curves_come_from_the_run_folder(tmp_path):
    (tmp_path / "settings.json").write_text("{}")
    state = {"iteration": 2, "done": [], "iterations": [
        {"iteration": 0, "n_candidates": 40, "n_select": 20, "kT": None, "labels_total": 30,
         "validation": {"diamond": {"gap": -4.2, "reference": -4.3, "error": 0.1},
                        "differences": {}}},
        {"iteration": 1, "n_candidates": 40, "n_select": 10, "kT": 0.3, "labels_total": 40}]}
    (tmp_path / "state.json").write_text(json.dumps(state))
    rows = learning_curves(tmp_path)
    assert len(rows) == 1 and np.isnan(rows[0].pop("lowest_label_above"))   # not recorded
    assert rows == [{"iteration": 0, "labels": 30, "structure": "diamond", "gap": -4.2,
                     "reference": -4.3, "error": 0.1}]
    with pytest.raises(InvalidParameterError, match="run folder"):
        learning_curves(tmp_path / "nothing")


def test_prediction_errors_are_placed_at_the_predicting_gaps_labels(tmp_path):
    (tmp_path / "settings.json").write_text("{}")
    scored = {"n": 3, "rmse": 0.02, "mae": 0.015, "max": 0.03, "mean": -0.01}
    controls = {"n_candidates": 40, "n_select": 10}
    state = {"iteration": 2, "done": ["generate"], "iterations": [
        {"iteration": 0, "labels_total": 30, **controls},
        {"iteration": 1, "labels_total": 40, "prediction_error": scored, **controls},
        {"iteration": 2, **controls}]}   # not labelled yet
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert prediction_errors(tmp_path) == [{"iteration": 1, "labels": 30, **scored}]
    figure = learning_curve_figure([], predicted=prediction_errors(tmp_path))
    line = figure.select_one({"name": "curve-new-labels"}).data_source.data
    assert list(line["labels"]) == [30] and list(line["error"]) == [pytest.approx(20.0)]
    assert "none yet" not in figure.title.text


def test_nystrom_residual_is_one_for_nothing_and_zero_for_a_spanning_choice():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3))
    kernel = x @ x.T  # rank 3
    from gapexplore.analysis import nystrom_residual

    assert nystrom_residual(kernel, []) == 1.0
    assert nystrom_residual(kernel, [0, 1, 2]) == pytest.approx(0.0, abs=1e-9)
    assert 0 < nystrom_residual(kernel, [0]) < 1
