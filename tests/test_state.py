"""The typed facts of an iteration's record read and write ``state.json`` as it is written."""

import json
import math

import pytest
from ase.build import bulk

from gapexplore import keys
from gapexplore.run.facts import (
    Difference,
    FitFacts,
    KnownCheck,
    Lowest,
    LowestKind,
    PredictionError,
    Validation,
)
from gapexplore.run.state import SCHEMA_VERSION, IterationRecord, RunState
from gapexplore.run.store import RunStore

#: An iteration's record as a run writes it (the demo's iteration 1, shortened).
RECORD = {
    "candidates": 24, "failed": 0,
    "fit": {"deltas": {"2b": 4.18, "3b": 1.01, "soap": 0.123}, "e0": {"Si": 0.0},
            "logs": ["iter_001/gap/gap_2b.log", "iter_001/gap/gap_2b3b.log",
                     "iter_001/gap/gap.log"],
            "n_environments": 221, "n_structures": 53, "potential": "iter_001/gap/gap.xml",
            "rmse_energy": 0.0500, "rmse_energy_dimers": 0.0985, "rmse_forces": 0.278,
            "stage_rmse": {"2b": 1.01, "2b+3b": 0.123},
            "stage_seconds": {"2b": 1.9, "2b+3b": 2.3, "errors": 0.9, "full": 2.2}},
    "frames": 1623, "iteration": 1, "kT": 0.3, "labelled": 16, "labels_total": 54,
    "lowest": {"enthalpy_per_atom": -4.5498, "gap_energy_per_atom": -4.5505, "n_atoms": 4,
               "pressure": 0.00595, "reference_energy_per_atom": -4.3320,
               "reference_enthalpy_per_atom": -4.3313, "reference_status": "ok",
               "relax_id": 13, "spacegroup": "Fd-3m (227)", "volume_per_atom": 19.49},
    "lowest_kinds": [{"enthalpy_per_atom": -4.4012, "formula": "Si",
                      "gap_energy_per_atom": -4.4020, "reference_energy_per_atom": -4.2513,
                      "reference_enthalpy_per_atom": -4.2505, "spacegroup": "I4_1/amd (141)",
                      "uid": "i001-lowest1"}],
    "n_candidates": 24, "n_select": 16,
    "prediction_error": {"mae": 0.174, "max": 0.324, "mean": -0.174, "n": 16, "rmse": 0.189},
    "relaxations": {"converged": 18, "max_steps": 6},
    "seconds": {"fit": 7.351, "generate": 0.096, "label": 0.584, "relax": 36.3,
                "select": 0.855, "validate": 0.513},
    "selected": 16,
    "validation": {"beta-tin": {"error": -0.0068, "gap": -4.1436, "gap_status": "converged",
                                "lowest_label_above": None, "reference": -4.1368},
                   "diamond": {"error": 0.0017, "gap": -4.3349, "gap_status": "converged",
                               "lowest_label_above": 0.0029, "reference": -4.3366},
                   "differences": {"beta-tin - diamond": {"gap": 0.1913, "reference": 0.1998}}},
}


def test_a_record_reads_its_facts_typed():
    record = IterationRecord.from_dict(RECORD)
    assert isinstance(record.fit, FitFacts) and record.fit.rmse_energy == 0.0500
    assert record.fit.potential == "iter_001/gap/gap.xml" and record.fitted
    assert isinstance(record.lowest, Lowest) and record.lowest.relax_id == 13
    assert record.lowest.spacegroup == "Fd-3m (227)" and record.lowest.formula is None
    validation = record.validation
    assert isinstance(validation, Validation) and validation.names == ("beta-tin", "diamond")
    assert validation.structures["diamond"] == KnownCheck(
        gap=-4.3349, reference=-4.3366, error=0.0017, gap_status="converged",
        lowest_label_above=0.0029)
    assert validation.differences == {"beta-tin - diamond": Difference(0.1913, 0.1998)}
    assert validation.errors() == {"beta-tin": -0.0068, "diamond": 0.0017}
    assert record.prediction_error == PredictionError(n=16, rmse=0.189, mae=0.174,
                                                      max=0.324, mean=-0.174)
    (kind,) = record.lowest_kinds
    assert isinstance(kind, LowestKind) and kind.uid == "i001-lowest1"
    assert kind.reference_status is None and kind.spacegroup == "I4_1/amd (141)"


def test_a_state_written_by_a_run_is_written_back_byte_for_byte(tmp_path):
    store = RunStore(tmp_path)
    document = {"schema": SCHEMA_VERSION, "iteration": 2, "done": [],
                "reference_energies": {"diamond": -4.34},
                "iterations": [RECORD, RECORD | {"iteration": 1, "later_field": 1}]}
    store.write_json("state.json", document)
    before = (tmp_path / "state.json").read_bytes()
    store.write_state(store.read_state())
    assert (tmp_path / "state.json").read_bytes() == before


def test_the_facts_read_as_their_tables_and_keep_unknown_keys():
    record = IterationRecord.from_dict(RECORD)
    assert record.fit["rmse_energy"] == 0.0500 and record.fit.get("nothing") is None
    assert record.lowest.get("formula") is None and "formula" not in record.lowest
    assert record.validation["diamond"]["error"] == 0.0017
    assert [n for n in record.validation if n != "differences"] == ["beta-tin", "diamond"]
    assert record.validation["differences"]["beta-tin - diamond"]["gap"] == 0.1913
    later = FitFacts.from_dict({"potential": "gap.xml", "new_figure": 3})
    assert later.extra == {"new_figure": 3}
    assert later.to_dict() == {"potential": "gap.xml", "new_figure": 3}


def test_a_step_records_its_facts_from_tables_or_typed():
    record = IterationRecord(1, 10, 5)
    lowest = {"enthalpy_per_atom": -4.5, "pressure": 0.1, "n_atoms": 8,
              "volume_per_atom": 20.0, "spacegroup": "Fd-3m (227)", "relax_id": None}
    record.record({"lowest": lowest, "fit": FitFacts(potential="gap.xml")})
    assert record.lowest == Lowest(**lowest) and record.fit.potential == "gap.xml"
    checked = record.lowest.checked({"gap_energy_per_atom": -4.6, "reference_status": "ok"})
    assert list(checked.to_dict()) == list(lowest) + ["gap_energy_per_atom",
                                                      "reference_status"]
    assert checked.to_dict()["relax_id"] is None     # written as null, as a run writes it


def test_the_learning_curves_come_from_the_typed_validation():
    state = RunState(iterations=[IterationRecord.from_dict(RECORD)])
    rows = state.validation_rows()
    assert [r["structure"] for r in rows] == ["beta-tin", "diamond"]
    assert math.isnan(rows[0]["lowest_label_above"]) and rows[1]["error"] == 0.0017
    assert json.loads(json.dumps(state.to_dict()))["iterations"][0] == RECORD


def test_a_damaged_fact_is_named_as_a_damaged_state():
    from gapexplore import GapExploreError

    with pytest.raises(GapExploreError, match="damaged"):
        RunState.from_dict({"iteration": 1, "iterations": [
            {"iteration": 0, "n_candidates": 8, "n_select": 4, "lowest": {"pressure": 1.0}}]})


def test_relaxations_are_kept_a_task_at_a_time_until_the_step_is_done(tmp_path):
    """What the relax step keeps while it runs reads back by position, a relaxation kept
    twice as the newer one, and goes once the step is done."""
    def trajectory(index, steps, a=5.43):
        frames = [bulk("Si", "diamond", a=a + 0.01 * k) for k in range(steps)]
        for frame in frames:
            frame.info[keys.RELAX_ID] = index
        return frames

    store = RunStore(tmp_path / "run")
    (tmp_path / "run").mkdir()
    assert store.kept_relaxations(1) == {}
    store.keep_relaxations(1, {0: trajectory(0, 3), 1: trajectory(1, 2)})
    store.keep_relaxations(1, {2: trajectory(2, 1)})
    store.keep_relaxations(1, {1: trajectory(1, 4, a=5.5)})   # the task of 1 ran again
    kept = store.kept_relaxations(1)
    assert sorted(kept) == [0, 1, 2] and [len(kept[k]) for k in (0, 1, 2)] == [3, 4, 1]
    assert kept[1][0].cell[0, 1] == 5.5 / 2
    store.drop_kept_relaxations(1)
    assert store.kept_relaxations(1) == {} and not (tmp_path / "run/iter_001/relaxing").exists()
