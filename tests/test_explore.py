"""The engine end to end on a tiny run: folder, database, resumption, controls."""

import dataclasses
import json

import numpy as np
import pytest
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from ase.db import connect
from ase.io import read

from gapexplore import GapExploreError, InvalidParameterError, keys
from gapexplore.export import run_report
from gapexplore.label import reference_calculator
from gapexplore.run import Explorer, ExploreSettings
from gapexplore.validate import known_structure

TINY = ExploreSettings(element="Si", n_candidates=8, n_select=4, max_iterations=2, gap="light",
                       soap="fast", relax_fmax=0.1, relax_max_steps=25, seed=3,
                       relax={"optimiser": "precon-lbfgs"},  # FIRE's first steps are short
                       validate=("diamond",))


class CountingSW(Calculator):
    """Stillinger-Weber that counts its calculations (to prove none is repeated)."""

    implemented_properties = ["energy", "forces", "stress"]
    calls = 0

    def __init__(self):
        super().__init__()
        self.sw = reference_calculator("sw-si")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        CountingSW.calls += 1
        self.sw.calculate(atoms, ["energy", "forces", "stress"], system_changes)
        self.results = dict(self.sw.results)


@pytest.mark.slow
def test_a_tiny_run_end_to_end(tmp_path):
    explorer = Explorer(tmp_path / "run", TINY, n_jobs=2).run()
    root = tmp_path / "run"
    assert explorer.iteration == 2 and explorer.finished()
    for name in ("settings.json", "state.json", "labels.db", "iter_000/candidates.xyz",
                 "iter_000/selected.xyz", "iter_000/gap/gap.xml", "iter_001/trajectories.xyz",
                 "iter_001/selected.xyz", "iter_001/gap/gap.xml"):
        assert (root / name).exists(), name
    rows = list(connect(root / "labels.db").select())
    assert len(rows) == 4 + 22 + 4  # selected cells, isolated atom + 21 dimers, selected frames
    assert all(row.ok for row in rows) and len({row.uid for row in rows}) == len(rows)
    frames = read(root / "iter_001/trajectories.xyz", ":")
    assert {f.info[keys.RELAX_ID] for f in frames} == set(range(8))
    state = json.loads((root / "state.json").read_text())
    assert [r["kT"] for r in state["iterations"]] == [None, 0.3]
    assert state["iterations"][1]["fit"]["n_structures"] == 29  # all labels but the atom
    assert explorer.potential == root / "iter_001/gap/gap.xml"
    # learning curve: the diamond error of each GAP, and the reference relaxed only once
    lines = (root / "validation.csv").read_text().splitlines()
    assert lines[0] == "iteration,labels,structure,gap,reference,error,lowest_label_above" \
        and len(lines) == 3
    curve = [r["validation"]["diamond"] for r in state["iterations"]]
    # a GAP of 4 random cells and the dimers can be far off (that is what the loop fixes):
    # check the bookkeeping, not the accuracy (tests/test_fit_real.py checks that)
    assert all(np.isfinite(c["error"]) and c["error"] == pytest.approx(c["gap"] - c["reference"])
               for c in curve)
    assert state["reference_energies"]["diamond"] == pytest.approx(-4.3366, abs=1e-3)
    # how far the lowest label each GAP was fitted to lies above diamond, from the database
    for record in explorer.state.iterations:
        cells = [a for i in range(record.iteration + 1)
                 for a in explorer.store.labels(iteration=i) if a.pbc.all()]
        lowest = min(a.info[keys.REF_ENERGY] / len(a) for a in cells)
        assert record.validation["diamond"]["lowest_label_above"] == pytest.approx(
            lowest - record.validation["diamond"]["reference"])
    # wall times per step [s]; validation is timed apart from the fit
    assert set(state["iterations"][1]["seconds"]) == {"generate", "relax", "select", "label",
                                                      "fit", "validate"}
    assert all(t >= 0 for r in state["iterations"] for t in r["seconds"].values())
    # the GAP's lowest minimum of iteration 1, checked with the reference (not trained on)
    lowest = explorer.state.iterations[1].lowest
    [checked] = read(root / "iter_001/lowest_checked.xyz", ":")
    assert checked.info[keys.RELAX_ID] == lowest["relax_id"] and len(checked) == lowest["n_atoms"]
    sw = checked.copy()
    sw.calc = reference_calculator("sw-si")
    n = len(sw)
    assert lowest["reference_status"] == "ok"
    assert lowest["reference_energy_per_atom"] == pytest.approx(sw.get_potential_energy() / n)
    pv = lowest["pressure"] * units.GPa * sw.get_volume() / n
    assert lowest["reference_enthalpy_per_atom"] == pytest.approx(
        sw.get_potential_energy() / n + pv, abs=1e-9)
    assert lowest["gap_energy_per_atom"] + pv == pytest.approx(lowest["enthalpy_per_atom"])
    assert "(reference " in run_report(explorer).splitlines()[2]
    selected = read(root / "iter_001/selected.xyz", ":")
    assert all(s.info[keys.CONFIG_TYPE] == keys.CONFIG_RSS_TRAJECTORY for s in selected)
    assert all(keys.SELECT_HISTOGRAM_PROBABILITY in s.info for s in selected)


def test_steps_resume_and_labels_are_never_repeated(tmp_path):
    folder = tmp_path / "run"
    settings = TINY
    first = Explorer(folder, settings, reference=CountingSW(), n_jobs=1)
    assert [first.step(), first.step()] == ["generate", "select"]
    selected = read(folder / "iter_000/selected.xyz", ":")
    # a crash in the middle of labelling: half of the structures were stored
    part = [a for a in selected[:2]]
    for atoms in part:
        atoms.info[keys.REF_ENERGY] = -1.0
        atoms.arrays[keys.REF_FORCES] = np.zeros((len(atoms), 3))
    first.store.add_labels(part, 0)
    CountingSW.calls = 0
    again = Explorer(folder, reference=CountingSW(), n_jobs=1)
    assert again.settings == settings and again.state.done == ["generate", "select"]
    assert again.step() == "label"
    assert CountingSW.calls == 2 + 22  # the two not stored, the atom and the dimers
    uids = [row.uid for row in connect(folder / "labels.db").select()]
    assert len(uids) == len(set(uids)) == 4 + 22


def test_label_lowest_trains_on_the_checked_minimum_and_never_computes_it_twice(tmp_path):
    """``label_lowest``: the reference's check of the GAP's lowest minimum is also a label,
    computed once, even when the run was stopped after the label was stored, and not at
    all when the selection chose that frame (its label is the check)."""
    import shutil

    from gapexplore.run.steps import _same_frame

    folder = tmp_path / "run"
    settings = dataclasses.replace(TINY, label_lowest=True, validate=())
    explorer = Explorer(folder, settings, reference=CountingSW(), n_jobs=1)
    while explorer.iteration < 1 or explorer.next_step != "label":
        explorer.step()
    selected = read(folder / "iter_001/selected.xyz", ":")
    lowest = explorer._lowest_to_check(explorer.store.relaxations(1))
    # this seed's lowest minimum is not one of the selected frames
    assert not any(_same_frame(a, lowest) for a in selected)
    shutil.copytree(folder, tmp_path / "stopped")
    shutil.copytree(folder, tmp_path / "chosen")
    # labelled in one pass: the selected frames and the lowest, each once
    CountingSW.calls = 0
    assert explorer.step() == "label" and CountingSW.calls == len(selected) + 1
    [checked] = read(folder / "iter_001/lowest_checked.xyz", ":")
    [label] = [a for a in explorer.store.labels(iteration=1)
               if a.info[keys.UID] == checked.info[keys.UID] == "i001-lowest"]
    assert label.info[keys.REF_ENERGY] == pytest.approx(checked.info[keys.REF_ENERGY])
    assert explorer.state.iterations[1].labelled == len(selected) + 1
    # the previous GAP's error on the next labels stays that on the selection's frames
    # (those that relaxed with it), as without the option; the lowest has its own record
    predicted = [a for a in selected if keys.GAP_ENERGY in a.info]
    assert keys.GAP_ENERGY in label.info and len(predicted) > 0
    assert explorer.state.iterations[1].prediction_error["n"] == len(predicted)
    # stopped after the lowest was stored as a label, before its check file was written
    stopped = Explorer(tmp_path / "stopped", reference=CountingSW(), n_jobs=1)
    done = lowest.copy()
    done.info[keys.REF_ENERGY] = -1.0 * len(done)
    done.arrays[keys.REF_FORCES] = np.zeros((len(done), 3))
    stopped.store.add_labels([done], 1)
    CountingSW.calls = 0
    assert stopped.step() == "label" and CountingSW.calls == len(selected)
    assert stopped.state.iterations[1].lowest["reference_energy_per_atom"] == -1.0
    uids = [a.info[keys.UID] for a in stopped.store.labels(iteration=1)]
    assert len(uids) == len(set(uids)) == len(selected) + 1
    # when the selection already chose that very frame, it is labelled once, as selected
    chosen = Explorer(tmp_path / "chosen", reference=CountingSW(), n_jobs=1)
    frame = lowest.copy()
    frame.info[keys.UID] = "i001-s0099"
    # first, so that the calculator's cache of its last structure cannot hide a repeat
    chosen.store.write_structures(1, "selected", [frame] + selected)
    CountingSW.calls = 0    # and the check is that label, not a second calculation
    assert chosen.step() == "label" and CountingSW.calls == len(selected) + 1
    labels = {a.info[keys.UID]: a for a in chosen.store.labels(iteration=1)}
    assert "i001-s0099" in labels and "i001-lowest" not in labels
    [checked] = read(tmp_path / "chosen/iter_001/lowest_checked.xyz", ":")
    assert checked.info[keys.UID] == "i001-lowest"
    assert checked.info[keys.REF_ENERGY] == labels["i001-s0099"].info[keys.REF_ENERGY]
    assert chosen.state.iterations[1].lowest["reference_status"] == "ok"


def test_lowest_kinds_label_the_next_kinds_of_minimum_once_each(tmp_path):
    """``lowest_kinds``: beside the checked lowest minimum, the lowest minimum of each next
    kind (formula and space group) is a label, computed once, kept out of
    ``prediction_error`` and recorded with the reference's energy at its geometry."""
    import shutil

    from ase.build import bulk

    from gapexplore.relax import lowest_final

    folder = tmp_path / "run"
    settings = dataclasses.replace(TINY, label_lowest=True, lowest_kinds=3, validate=())
    explorer = Explorer(folder, settings, reference=CountingSW(), n_jobs=1)
    while explorer.iteration < 1 or explorer.next_step != "label":
        explorer.step()
    selected = read(folder / "iter_001/selected.xyz", ":")
    # the iteration's relaxations, replaced by ones that end in known kinds (a tiny GAP's
    # own minima converge, or not, by the BLAS kernel): the lowest, diamond, is the check
    finals = [(bulk("Si", "diamond", a=5.43), -4.30, "converged"),
              (bulk("Si", "diamond", a=5.43, cubic=True), -4.29, "converged"),  # a twin
              (bulk("Si", "bcc", a=3.08), -4.10, "converged"),
              (bulk("Si", "hcp", a=2.7, c=4.4), -4.20, "converged"),
              (bulk("Si", "fcc", a=3.85), -4.00, "converged"),
              (bulk("Si", "sc", a=2.55), -5.00, "max_steps")]    # not a minimum
    relaxations = []
    for relax_id, (atoms, enthalpy, status) in enumerate(finals, start=100):
        start = atoms.copy()
        start.rattle(0.05, seed=relax_id)
        for step, frame in enumerate((start, atoms)):
            frame.info.update({keys.RELAX_ID: relax_id, keys.RELAX_STEP: step,
                               keys.RELAX_STATUS: status if step else "running",
                               keys.GAP_ENERGY: enthalpy * len(frame), keys.PRESSURE: 0.0,
                               keys.ENTHALPY_PER_ATOM: enthalpy + 0.1 * (1 - step)})
        relaxations.append([start, atoms])
    explorer.store.write_structures(1, "trajectories", [f for r in relaxations for f in r])
    explorer.state.iterations[1].lowest = lowest_final(relaxations)
    explorer.store.write_state(explorer.state)
    stored = explorer.store.relaxations(1)
    lowest = explorer._lowest_to_check(stored)
    kinds = explorer._lowest_kinds(lowest, stored)
    assert lowest.info[keys.RELAX_ID] == 100
    assert [k.info[keys.RELAX_ID] for k in kinds] == [103, 102]     # hcp, then bcc
    assert [k.info[keys.UID] for k in kinds] == ["i001-lowest1", "i001-lowest2"]
    assert [k.info["spacegroup"] for k in kinds] == ["P6_3/mmc (194)", "Im-3m (229)"]
    shutil.copytree(folder, tmp_path / "stopped")
    CountingSW.calls = 0
    assert explorer.step() == "label" and CountingSW.calls == len(selected) + 3
    labels = {a.info[keys.UID]: a for a in explorer.store.labels(iteration=1)}
    assert {"i001-lowest", "i001-lowest1", "i001-lowest2"} <= set(labels)
    record = explorer.state.iterations[1]
    assert record.labelled == len(selected) + 3
    assert record.prediction_error["n"] == sum(keys.GAP_ENERGY in a.info for a in selected)
    assert [k["uid"] for k in record.lowest_kinds] == ["i001-lowest1", "i001-lowest2"]
    for kind, label in zip(record.lowest_kinds, kinds):
        assert kind["reference_status"] == "ok" and kind["formula"] == "Si"
        assert kind["reference_energy_per_atom"] == pytest.approx(
            labels[kind["uid"]].info[keys.REF_ENERGY] / len(label))
    report = run_report(explorer)
    assert all(f"next kind {k['spacegroup']} {k['enthalpy_per_atom']:.3f} (reference "
               in report for k in record.lowest_kinds)
    # stopped after one kind was stored: the rest are computed, that one is not
    stopped = Explorer(tmp_path / "stopped", reference=CountingSW(), n_jobs=1)
    done = kinds[0].copy()
    done.info[keys.REF_ENERGY] = -1.0 * len(done)
    done.arrays[keys.REF_FORCES] = np.zeros((len(done), 3))
    stopped.store.add_labels([done], 1)
    CountingSW.calls = 0
    assert stopped.step() == "label" and CountingSW.calls == len(selected) + 2
    uids = [a.info[keys.UID] for a in stopped.store.labels(iteration=1)]
    assert len(uids) == len(set(uids)) == len(selected) + 3
    assert stopped.state.iterations[1].lowest_kinds[0]["reference_energy_per_atom"] == -1.0
    # more than one kind is a choice of label_lowest's
    with pytest.raises(InvalidParameterError, match="'lowest_kinds' parameter"):
        dataclasses.replace(TINY, lowest_kinds=2)
    with pytest.raises(InvalidParameterError, match="'lowest_kinds' parameter"):
        dataclasses.replace(TINY, label_lowest=True, lowest_kinds=0)


def test_same_seed_same_selection_and_controls_are_recorded(tmp_path):
    runs = []
    for name in ("a", "b"):
        explorer = Explorer(tmp_path / name, TINY, n_jobs=1)
        explorer.n_select = 3
        explorer.step()
        explorer.step()
        runs.append(read(tmp_path / name / "iter_000/selected.xyz", ":"))
    assert [a.info["uid"] for a in runs[0]] == [b.info["uid"] for b in runs[1]]
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(*runs))
    assert len(runs[0]) == 3
    state = json.loads((tmp_path / "a" / "state.json").read_text())
    assert state["iterations"][0]["n_select"] == 3


def test_iteration_0_can_choose_from_more_cells_than_later_iterations_relax(tmp_path):
    settings = dataclasses.replace(TINY, n_initial=12)
    explorer = Explorer(tmp_path / "run", settings, n_jobs=1)
    assert explorer.n_candidates == 12
    explorer.generate()
    assert len(read(tmp_path / "run/iter_000/candidates.xyz", ":")) == 12
    assert explorer.state.iterations[0].n_candidates == 12
    explorer.state.iteration = 1  # as after iteration 0: the later iterations' count
    assert explorer.n_candidates == 8
    explorer.n_candidates = 5     # and a control set by hand still wins
    assert explorer.n_candidates == 5
    with pytest.raises(InvalidParameterError, match="n_initial"):
        dataclasses.replace(TINY, n_initial=2)  # fewer than n_select


def test_a_run_continues_with_fits_without_virials_and_no_other_fit_change(tmp_path):
    """``[gap] virials = false`` may be set on a run that is continued (its later fits keep
    no virial; the earlier GAPs stay as they were); any other field of the fit may not."""
    first = dataclasses.replace(TINY, max_iterations=1)
    Explorer(tmp_path / "run", first, n_jobs=1).run()
    lighter = dataclasses.replace(TINY, gap={"preset": "light", "virials": False})
    with pytest.raises(GapExploreError, match=r"other settings \(gap\)"):
        Explorer(tmp_path / "run", dataclasses.replace(
            lighter, gap={"preset": "light", "virials": False, "n_sparse_soap": 30}))
    Explorer(tmp_path / "run", lighter, n_jobs=1).run()
    trains = [(tmp_path / f"run/iter_{i:03d}/gap/train.xyz").read_text() for i in (0, 1)]
    assert keys.REF_VIRIAL in trains[0] and keys.REF_VIRIAL not in trains[1]
    assert Explorer(tmp_path / "run").settings.gap_settings().virials is False


def test_each_iteration_keeps_its_minima_as_its_trajectories_end(tmp_path):
    """``iter_NNN/minima.xyz`` holds the last frame of each converged relaxation, so the
    minima read from it are those read from every frame (as for a run written without it)."""
    from gapexplore.run.results import run_minima

    explorer = Explorer(tmp_path / "run", dataclasses.replace(TINY, relax_max_steps=150),
                        n_jobs=1)
    explorer.run()
    kept = run_minima(explorer.store)
    assert len(kept) >= 2 and (tmp_path / "run/iter_001/minima.xyz").exists()
    for path in (tmp_path / "run").glob("iter_*/minima.xyz"):
        path.unlink()
    again = run_minima(explorer.store)
    assert [a.info[keys.RELAX_ID] for a in kept] == [a.info[keys.RELAX_ID] for a in again]
    for a, b in zip(kept, again):
        assert a.info == b.info
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell, b.cell)


def test_wrong_use_is_explained(tmp_path):
    Explorer(tmp_path / "run", TINY)
    assert not (tmp_path / "run").exists()  # nothing is written before a step runs
    Explorer(tmp_path / "run", TINY).generate()
    with pytest.raises(GapExploreError, match="holds a run with other settings .element"):
        Explorer(tmp_path / "run", ExploreSettings(element="C"))
    explorer = Explorer(tmp_path / "run")
    with pytest.raises(InvalidParameterError, match="run after select"):
        explorer.label()
    with pytest.raises(InvalidParameterError, match="'n_select' parameter"):
        ExploreSettings(n_candidates=5, n_select=10)
    with pytest.raises(InvalidParameterError, match="'element' parameter"):
        ExploreSettings(element="Qq")


def test_labels_round_trip_through_the_database(tmp_path):
    from ase.build import bulk

    from gapexplore.label import label_structures
    from gapexplore.run.store import RunStore
    UID = keys.UID

    cell = bulk("Si", "diamond", a=5.3, cubic=True)
    cell.rattle(0.05, seed=1)
    cell.info[UID] = "x"
    failed = cell.copy()
    failed.info[UID] = "y"
    failed.info[keys.LABEL_ERROR] = "injected failure"
    [labelled] = label_structures([cell], "sw-si")
    store = RunStore(tmp_path)
    store.add_labels([labelled, failed], iteration=0)
    [back] = store.labels()
    assert back.info[keys.REF_ENERGY] == pytest.approx(labelled.info[keys.REF_ENERGY])
    assert np.allclose(back.arrays[keys.REF_FORCES], labelled.arrays[keys.REF_FORCES])
    assert np.allclose(back.info[keys.REF_VIRIAL], labelled.info[keys.REF_VIRIAL])
    assert store.labelled_uids() == {"x", "y"}
    assert (store.count_labels(), store.count_labels(ok_only=False)) == (1, 2)
    [bad] = [a for a in store.labels(ok_only=False) if keys.LABEL_ERROR in a.info]
    assert bad.info[keys.LABEL_ERROR] == "injected failure"


def sw_factory():
    """An importable reference factory, as a user's VASP or GPAW set-up would be."""
    return reference_calculator("sw-si")


def test_reference_by_import_path_and_target_error(tmp_path):
    settings = ExploreSettings(element="Si", n_candidates=6, n_select=3, gap="light",
                               soap="fast", reference="test_explore:sw_factory",
                               validate=("diamond",), target_error=10.0, max_iterations=5)
    explorer = Explorer(tmp_path / "run", settings, n_jobs=1)
    assert explorer.reference.function is sw_factory
    explorer.run()
    assert explorer.iteration == 1  # GAP_0 is within 10 eV/atom: stop after one fit
    with pytest.raises(InvalidParameterError, match="'reference' parameter"):
        ExploreSettings(reference="lj-ar")
    with pytest.raises(InvalidParameterError, match="'target_error' parameter"):
        ExploreSettings(target_error=0.01)
    with pytest.raises(InvalidParameterError, match="importable 'module:function'"):
        Explorer(tmp_path / "other", ExploreSettings(reference="nowhere:nothing"))


def test_the_previous_gap_is_scored_on_its_new_labels_and_can_stop_the_run(tmp_path):
    from gapexplore.fit import load_potential
    from gapexplore.run.store import RunStore

    settings = ExploreSettings(element="Si", n_candidates=6, n_select=3, gap="light",
                               soap="fast", relax_fmax=0.1, relax_max_steps=25,
                               target_prediction_error=10.0, max_iterations=5)
    explorer = Explorer(tmp_path / "run", settings, n_jobs=1).run()
    # iteration 0 labels random cells (no GAP yet); GAP_0 predicts iteration 1's labels
    # within 10 eV/atom, so the run stops once iteration 1 is fitted
    assert explorer.iteration == 2
    first, second = explorer.state.iterations
    assert first.prediction_error is None
    scored = second.prediction_error
    # independently: GAP_0 on iteration 1's labelled frames
    new = RunStore(tmp_path / "run").labels(iteration=1)
    assert scored["n"] == len(new) == 3
    gap = load_potential(explorer.potential_of(0))
    errors = []
    for atoms in new:
        reference = atoms.info[keys.REF_ENERGY]
        atoms.calc = gap
        errors.append((atoms.get_potential_energy() - reference) / len(atoms))
    assert scored["rmse"] == pytest.approx(np.sqrt(np.mean(np.square(errors))), abs=1e-6)
    assert scored["max"] == pytest.approx(np.max(np.abs(errors)), abs=1e-6)
    assert 0 < scored["mae"] <= scored["rmse"] <= scored["max"]
    with pytest.raises(InvalidParameterError, match="'target_prediction_error' parameter"):
        ExploreSettings(target_prediction_error=-0.01)


def test_own_known_structures_are_validated_and_kept(tmp_path):
    from ase.build import bulk

    settings = ExploreSettings(element="Si", n_candidates=6, n_select=3, gap="light",
                               soap="fast", max_iterations=1)
    mine = bulk("Si", "diamond", a=5.5)
    explorer = Explorer(tmp_path / "run", settings, n_jobs=1, known={"my-diamond": mine})
    explorer.run()
    record = explorer.state.iterations[0].validation
    assert record["my-diamond"]["reference"] == pytest.approx(-4.3366, abs=1e-3)
    reopened = Explorer(tmp_path / "run")
    assert list(reopened.store.read_known()) == ["my-diamond"]
    assert (tmp_path / "run" / "validation.csv").read_text().count("my-diamond") == 1


def test_selection_method_is_a_run_setting(tmp_path):
    import dataclasses

    picks = {}
    for name, options in {"default": {}, "random": {"selection": "random"},
                          "stochastic": {"selection_stochastic": True}}.items():
        settings = dataclasses.replace(TINY, n_candidates=20, **options)
        explorer = Explorer(tmp_path / name, settings, n_jobs=1)
        assert [explorer.step(), explorer.step()] == ["generate", "select"]
        picks[name] = read(tmp_path / name / "iter_000/selected.xyz", ":")
    assert {a.info[keys.SELECT_METHOD] for a in picks["default"]} == {"kernel_cur"}
    assert {a.info[keys.SELECT_METHOD] for a in picks["random"]} == {"random"}
    assert all(np.isnan(a.info[keys.SELECT_LEVERAGE]) for a in picks["random"])
    sources = {k: [a.info[keys.SELECT_SOURCE_INDEX] for a in v] for k, v in picks.items()}
    assert sources["random"] != sources["default"] != sources["stochastic"]
    stored = json.loads((tmp_path / "random" / "settings.json").read_text())
    assert stored["selection"] == "random"
    assert ExploreSettings.from_dict(stored).selection.method == "random"
    with pytest.raises(InvalidParameterError, match="'selection' parameter"):
        ExploreSettings(selection="fps")
    with pytest.raises(InvalidParameterError, match="'selection_center' parameter"):
        ExploreSettings(selection="random", selection_center=True)
    with pytest.raises(InvalidParameterError, match="'selection_stochastic' parameter"):
        ExploreSettings(selection_stochastic="yes")


def test_a_moved_run_finds_its_potential(tmp_path, monkeypatch):
    settings = ExploreSettings(element="Si", n_candidates=6, n_select=3, gap="light",
                               soap="fast", relax_fmax=0.1, relax_max_steps=5, max_iterations=2)
    monkeypatch.chdir(tmp_path)
    Explorer("run", settings, n_jobs=1).run(iterations=1)  # a relative folder
    (tmp_path / "run").rename(tmp_path / "moved")
    moved = Explorer(tmp_path / "moved", n_jobs=1)
    assert moved.potential == tmp_path / "moved" / "iter_000" / "gap" / "gap.xml"
    assert moved.potential.exists()
    moved.run()  # relaxes with the potential where it now is
    assert moved.iteration == 2 and moved.state.iterations[1].relaxations


def test_labels_are_read_back_in_a_fixed_order_whatever_order_they_arrived(tmp_path):
    """Several workers finish in a varying order; the fit must see one order."""
    from ase.build import bulk

    from gapexplore.run.store import RunStore
    UID = keys.UID

    store = RunStore(tmp_path)
    cells = []
    for uid in ("i001-s0002", "i000-x001", "i001-s0000", "i000-s0001", "i000-s0000"):
        atoms = bulk("Si", "diamond", a=5.43)
        atoms.info.update({UID: uid, keys.REF_ENERGY: -1.0})
        atoms.arrays[keys.REF_FORCES] = np.zeros((2, 3))
        cells.append(atoms)
    with store.lock():
        for atoms in cells:
            store.add_labels([atoms], int(atoms.info[UID][1:4]))
    assert [a.info[UID] for a in store.labels()] == [
        "i000-s0000", "i000-s0001", "i000-x001", "i001-s0000", "i001-s0002"]


@pytest.mark.slow
def test_uncertainty_selection_in_the_loop_takes_what_the_gap_doubts(tmp_path):
    import dataclasses

    from gapexplore.fit import predicted_errors

    settings = dataclasses.replace(TINY, selection="uncertainty", validate=())
    explorer = Explorer(tmp_path / "run", settings, n_jobs=1).run()
    record0, record1 = explorer.state.iterations
    first = read(tmp_path / "run/iter_000/selected.xyz", ":")
    assert {a.info[keys.SELECT_METHOD] for a in first} == {"kernel_cur"}  # no GAP yet
    assert record0.selected_predicted_error is None
    chosen = read(tmp_path / "run/iter_001/selected.xyz", ":")
    assert {a.info[keys.SELECT_METHOD] for a in chosen} == {"uncertainty"}
    stored = np.array([a.info[keys.SELECT_PREDICTED_ERROR] for a in chosen])
    again = predicted_errors(chosen, explorer.potential_of(0))   # the GAP that relaxed them
    assert np.allclose(stored, again, rtol=1e-6) and np.all(stored > 0)
    assert record1.selected_predicted_error == pytest.approx(stored.mean())
    assert len({a.info[keys.RELAX_ID] for a in chosen}) == len(chosen)   # one per relaxation
    assert list(stored) == sorted(stored, reverse=True)
    # the GAP doubts a structure unlike its training set more than a labelled one
    labelled = [a for a in explorer.store.labels() if a.pbc.all()][:3]
    far = [known_structure("Si", "simple-hexagonal").repeat((1, 1, 2))]
    assert predicted_errors(far, explorer.potential).min() > \
        predicted_errors(labelled, explorer.potential).min()


@pytest.mark.slow
def test_the_database_soap_is_kept_by_uid_and_changes_no_choice(tmp_path):
    """The labelled database's SOAP vectors are computed once (``database_soap.npz``, by
    uid); choosing with them computed afresh picks exactly the same frames."""
    from gapexplore.run.explorer import STEPS
    from gapexplore.select import select_structures

    settings = dataclasses.replace(TINY, max_iterations=3)
    run = Explorer(tmp_path / "run", settings, n_jobs=1).run()
    with np.load(tmp_path / "run" / "database_soap.npz") as stored:
        uids = set(stored["uids"].tolist())
    before = [a for a in run.store.labels() if a.pbc.all()
              and not a.info[keys.UID].startswith("i002")]   # the database iteration 2 saw
    assert uids == {a.info[keys.UID] for a in before}   # iterations 0 and 1's cells, once
    frames = run.store.read_structures(2, "trajectories")
    pool = [f for f in frames if keys.ENTHALPY_PER_ATOM in f.info]
    record = run.state.iterations[2]
    fresh = select_structures(pool, record.n_select, kT=record.kT, soap=settings.soap_settings(),
                              database=before, rng=np.random.default_rng(
                                  [settings.seed, 2, STEPS.index("select")]))
    chosen = run.store.read_structures(2, "selected")
    assert [a.info[keys.SELECT_SOURCE_INDEX] for a in chosen] == list(fresh.indices)
