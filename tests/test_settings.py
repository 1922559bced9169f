"""ExploreSettings compose the step settings and round-trip through JSON and TOML."""

import dataclasses
import json

import numpy as np
import pytest

from gapexplore import (
    Chemistry,
    ExploreSettings,
    GapSettings,
    InvalidParameterError,
    RelaxSettings,
    SoapSettings,
)
from gapexplore.cli import main
from gapexplore.fit import NoiseSettings
from gapexplore.run.presets import RelaxTable

SI = Chemistry.of("Si")


def test_presets_build_the_step_settings_as_before():
    settings = ExploreSettings()
    assert settings.gap_settings() == GapSettings.for_chemistry(SI)
    assert settings.soap_settings() == SoapSettings.paper()
    assert settings.relax_settings() == RelaxSettings(fmax=0.01, max_steps=300)
    light = ExploreSettings(gap="light", soap="fast", relax_fmax=0.05, relax_max_steps=40)
    assert light.gap_settings() == GapSettings.light(SI)
    assert light.soap_settings() == SoapSettings.fast()
    assert light.relax_settings() == RelaxSettings(fmax=0.05, max_steps=40)


def test_tables_override_fields_of_a_preset():
    settings = ExploreSettings(
        gap={"preset": "light", "n_sparse_soap": 50, "noise": {"energy": [0.002, 0.2]}},
        soap={"preset": "fast", "r_cut": 6.0}, relax={"p0": 2.0, "optimiser": "fire"})
    assert settings.gap_settings() == dataclasses.replace(
        GapSettings.light(SI), n_sparse_soap=50,
        noise=NoiseSettings(energy=(0.002, 0.2)))
    assert settings.soap_settings() == dataclasses.replace(SoapSettings.fast(), r_cut=6.0)
    assert settings.relax_settings() == RelaxSettings(fmax=0.01, max_steps=300, p0=2.0,
                                                      optimiser="fire")
    # the older switch of the preconditioner reads as the optimiser it named
    for precon, optimiser in ((False, "lbfgs-linesearch"), (True, "precon-lbfgs")):
        older = ExploreSettings(relax={"precon": precon})
        assert older.relax_settings().optimiser == optimiser
    with pytest.raises(InvalidParameterError, match="'optimiser' or the older 'precon'"):
        ExploreSettings(relax={"precon": False, "optimiser": "lbfgs"})
    with pytest.raises(InvalidParameterError, match="'optimiser'"):
        ExploreSettings(relax={"optimiser": "bfgs"})


def test_a_settings_object_is_kept_as_its_table():
    gap = GapSettings.light(SI, n_sparse_soap=77)
    settings = ExploreSettings(gap=gap, soap=SoapSettings(n_max=3, l_max=3, r_cut=4.0))
    assert isinstance(settings.gap, dict) and settings.gap["n_sparse_soap"] == 77
    assert settings.gap_settings() == gap
    assert settings.soap_settings() == SoapSettings(n_max=3, l_max=3, r_cut=4.0)


@pytest.mark.parametrize("settings", [
    ExploreSettings(),
    ExploreSettings(element="C", gap="light", kT=0.2, validate=("diamond", "graphite"),
                    n_atoms=(4, 8), target_error=0.01, relax={"volume_bounds": [0.5, 2.0]}),
    ExploreSettings(gap={"preset": "light", "zeta": 2, "noise": {"dimer_energy": 0.2}},
                    soap={"sigma": 0.3}, selection_stochastic=True),
])
def test_round_trips_through_json_and_toml(settings):
    assert ExploreSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    text = settings.to_toml()
    assert ExploreSettings.from_toml(text) == settings
    assert ExploreSettings.from_toml(text).gap_settings() == settings.gap_settings()


def test_a_settings_file_of_an_older_version_opens():
    stored = {"element": "Si", "gap": "light", "soap": "fast", "n_atoms": [4, 8],
              "kT": [0.3, 0.2, 0.1], "relax_fmax": 0.05}  # no relax table yet
    settings = ExploreSettings.from_dict(stored)
    assert settings.relax == RelaxTable() and settings.gap_settings() == GapSettings.light(SI)


def test_the_relax_table_is_typed_and_names_only_what_a_run_chose():
    settings = ExploreSettings(relax={"p0": 2.0, "volume_bounds": [0.5, 2.0]})
    assert settings.relax == RelaxTable(p0=2.0, volume_bounds=(0.5, 2.0))
    assert settings.relax.optimiser is None            # not named: the version's default
    assert settings.to_dict()["relax"] == {"p0": 2.0, "volume_bounds": [0.5, 2.0]}
    assert ExploreSettings(relax=RelaxTable(beta=0.3)).relax_settings().beta == 0.3
    # an earlier run's "precon" is its optimiser, written back as one
    older = ExploreSettings.from_dict({"relax": {"precon": True}})
    assert older.relax == RelaxTable(optimiser="precon-lbfgs")
    assert older.to_dict()["relax"] == {"optimiser": "precon-lbfgs"}
    with pytest.raises(InvalidParameterError, match="'relax' table.*p0"):
        RelaxTable(p0=-1.0)


@pytest.mark.parametrize("values, named", [
    ({"gap": "heavy"}, "gap"),
    ({"gap": {"preset": "heavy"}}, "gap.preset"),
    ({"gap": {"n_sparse_soup": 5}}, "gap"),
    ({"gap": {"n_max": 0}}, "gap"),
    ({"gap": {"noise": {"energy": "x"}}}, "gap.noise"),
    ({"soap": {"r_cut": -1.0}}, "soap"),
    ({"relax": {"fmax": 0.1}}, "relax"),
    ({"relax": {"p00": 1.0}}, "relax"),
    ({"relax": [1]}, "relax"),
    ({"relax": {"beta": 0.0}}, "relax"),
])
def test_bad_tables_are_refused_with_the_field_named(values, named):
    with pytest.raises(InvalidParameterError, match=f"'{named}'"):
        ExploreSettings(**values)


def test_a_run_takes_custom_step_settings_from_a_toml_file(tmp_path):
    config = tmp_path / "si.toml"
    config.write_text(ExploreSettings(
        n_candidates=8, n_select=4, n_atoms=(4, 8), max_iterations=1, soap="fast",
        gap={"preset": "light", "n_sparse_soap": 50, "n_sparse_3b": 20}).to_toml())
    folder = tmp_path / "run"
    assert main(["run", str(folder), "--config", str(config), "--quiet", "--jobs", "1"]) == 0
    stored = ExploreSettings.from_dict(json.loads((folder / "settings.json").read_text()))
    assert stored.gap_settings().n_sparse_soap == 50
    log = (folder / "iter_000" / "gap" / "gap.log").read_text()
    assert "n_sparse=50" in log and "n_sparse=20" in log and "n_sparse=300" not in log


# --- the run's state ---------------------------------------------------------------------------

def test_a_state_of_schema_1_opens_and_round_trips_unchanged():
    from gapexplore.run.state import SCHEMA_VERSION, RunState

    old = {"iteration": 1, "done": ["generate"], "reference_energies": {"diamond": -4.33},
           "controls": {"n_select": 7},
           "iterations": [{"iteration": 0, "n_candidates": 8, "n_select": 4, "kT": None,
                           "candidates": 8, "seconds": {"generate": 0.5}, "selected": 4,
                           "labelled": 25, "failed": 1, "labels_total": 25,
                           "fit": {"potential": "gap.xml"}, "later_field": [1, 2]}]}
    state = RunState.from_dict(old)
    assert state.schema == 1 and state.controls.n_select == 7
    record = state.iterations[0]
    assert record.fitted and record.kT is None and record.extra == {"later_field": [1, 2]}
    assert state.fitted == [record] and state.to_dict() == old | {"schema": SCHEMA_VERSION}


def test_a_state_of_a_newer_schema_or_no_state_is_refused():
    from gapexplore import GapExploreError
    from gapexplore.run.state import RunState

    with pytest.raises(GapExploreError, match="newer than this gapexplore"):
        RunState.from_dict({"schema": 99, "iteration": 0})
    with pytest.raises(GapExploreError, match="does not hold a run's state"):
        RunState.from_dict({"done": []})
    with pytest.raises(GapExploreError, match="damaged"):
        RunState.from_dict({"iteration": 0, "iterations": [{"iteration": 0}]})


def test_the_authors_sampling_is_a_run_setting_that_always_draws():
    settings = ExploreSettings(selection="kernel_leverage")
    assert ExploreSettings.from_toml(settings.to_toml()).selection.method == "kernel_leverage"
    with pytest.raises(InvalidParameterError, match="always draws"):
        ExploreSettings(selection="kernel_leverage", selection_stochastic=True)


def test_the_papers_kernel_by_quip_is_a_preset_the_selection_uses(si_cells):
    from gapexplore import SoapSettings, averaged_soap
    from gapexplore.select import select_structures

    soap = ExploreSettings(element="Si", soap="paper-quip").soap_settings()
    assert soap == SoapSettings(backend="quip")
    small = dataclasses.replace(soap, n_max=4, l_max=4, sigma=0.5, r_cut=5.0)
    chosen = select_structures(si_cells[:12], 4, rng=np.random.default_rng(0), soap=small)
    vectors = averaged_soap(si_cells[:12], small)
    other = averaged_soap(si_cells[:12], dataclasses.replace(small, backend="dscribe"))
    assert len(chosen.structures) == 4 and not np.allclose(vectors, other, atol=1e-3)


def test_a_folder_begun_before_the_optimiser_changed_keeps_the_papers(tmp_path):
    # A run folder of state schema 2 relaxed with PreconLBFGS (the default then): opened
    # now, it goes on with it, and says so in its settings; a new folder takes the default.
    from gapexplore import Explorer
    from gapexplore.run.store import RunStore

    settings = ExploreSettings(n_candidates=8, n_select=4, gap="light", soap="fast")
    old = tmp_path / "old"
    old.mkdir()
    store = RunStore(old)
    store.write_json("settings.json", settings.to_dict())
    store.write_json("state.json", {"schema": 2, "iteration": 0})
    explorer = Explorer(old)
    assert explorer.settings.relax_settings().optimiser == "precon-lbfgs"
    explorer = Explorer(old, settings)                  # the same settings given again
    assert explorer.settings.relax_settings().optimiser == "precon-lbfgs"
    assert Explorer(tmp_path / "new", settings).settings.relax_settings().optimiser \
        == RelaxSettings().optimiser
    named = tmp_path / "named"
    named.mkdir()
    RunStore(named).write_json("settings.json", ExploreSettings(
        relax={"optimiser": "fire"}).to_dict())
    RunStore(named).write_json("state.json", {"schema": 2, "iteration": 0})
    assert Explorer(named).settings.relax_settings().optimiser == "fire"
