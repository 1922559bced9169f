"""The selection block of ExploreSettings: typed, validated, and read and written in the
flat form that settings.json and TOML files hold."""

import dataclasses
import json

import pytest

from gapexplore import ExploreSettings, InvalidParameterError, SelectionSettings, SoapSettings
from gapexplore.run.reader import RunReader, read_settings
from gapexplore.run.selection import FLAT_NAMES, flat_form

#: settings.json as a run writes it (the demo's: sorted keys, two-space indent).
SETTINGS_JSON = """{
  "bonding": null,
  "composition": null,
  "element": "Si",
  "gap": "light",
  "kT": [
    0.3,
    0.2,
    0.1
  ],
  "label_lowest": false,
  "lowest_kinds": 1,
  "max_iterations": 4,
  "max_labels": 2500,
  "n_atoms": [
    4,
    8
  ],
  "n_candidates": 24,
  "n_histogram": null,
  "n_initial": null,
  "n_select": 16,
  "radius": null,
  "reference": null,
  "reference_timeout": null,
  "relax": {
    "optimiser": "precon-lbfgs"
  },
  "relax_fmax": 0.05,
  "relax_max_steps": 100,
  "relax_timeout": null,
  "seed": 0,
  "selection": "kernel_cur",
  "selection_center": false,
  "selection_stochastic": false,
  "soap": "paper",
  "target_error": null,
  "target_prediction_error": null,
  "validate": [
    "diamond",
    "beta-tin"
  ]
}"""


def test_the_block_holds_the_papers_selection_by_default():
    block = SelectionSettings()
    assert (block.method, block.n_select, block.kT, block.soap) \
        == ("kernel_cur", 100, (0.3, 0.2, 0.1), "paper")
    assert block.soap_settings() == SoapSettings.paper() and block.kt_for(5) == 0.1
    assert ExploreSettings().selection == block
    assert SelectionSettings(kT=[0.2, 0.1]).kT == (0.2, 0.1)
    fast = SelectionSettings(soap=SoapSettings.fast())
    assert isinstance(fast.soap, dict) and fast.soap_settings() == SoapSettings.fast()


@pytest.mark.parametrize("fields, name", [
    ({"method": "fps"}, "method"), ({"n_select": 0}, "n_select"),
    ({"n_histogram": 0}, "n_histogram"), ({"kT": ()}, "kT"), ({"kT": -0.1}, "kT"),
    ({"soap": "slow"}, "soap"), ({"stochastic": "yes"}, "stochastic"),
    ({"method": "random", "center": True}, "center"),
    ({"method": "kernel_leverage", "stochastic": True}, "stochastic")])
def test_a_bad_field_of_the_block_is_named(fields, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of SelectionSettings"):
        SelectionSettings(**fields)


def test_the_flat_names_set_fields_of_the_block():
    settings = ExploreSettings(selection="kernel_fps", n_select=20, kT=0.2, soap="fast")
    assert settings.selection == SelectionSettings(method="kernel_fps", n_select=20,
                                                   kT=(0.2,), soap="fast")
    over = ExploreSettings(selection=SelectionSettings(n_select=7), selection_center=True)
    assert (over.selection.n_select, over.selection.center) == (7, True)
    table = ExploreSettings(selection={"method": "vector_cur", "stochastic": True})
    assert table.selection.stochastic and table.selection.method == "vector_cur"
    assert dataclasses.replace(settings, n_select=5).selection.n_select == 5
    assert dataclasses.replace(settings, n_select=5).selection.method == "kernel_fps"
    # a method's name or a table given to replace() changes those fields of the block only
    other = dataclasses.replace(settings, selection="random")
    assert other.selection == dataclasses.replace(settings.selection, method="random")
    table = dataclasses.replace(settings, selection={"method": "vector_cur", "center": True})
    assert (table.selection.n_select, table.selection.center) == (20, True)
    # an error from a flat name is named by it, as a field of ExploreSettings
    with pytest.raises(InvalidParameterError, match="'selection_stochastic' parameter of "
                       "ExploreSettings must be a bool"):
        ExploreSettings(selection_stochastic="yes")
    with pytest.raises(InvalidParameterError, match="'n_select' parameter of ExploreSettings "
                       "must be an int >= 1 and <= 8"):
        ExploreSettings(n_candidates=8, n_select=9)
    with pytest.raises(InvalidParameterError, match="'selection' parameter"):
        ExploreSettings(selection=3)


def test_a_settings_json_as_a_run_writes_it_reads_and_writes_back_unchanged(tmp_path):
    values = json.loads(SETTINGS_JSON)
    settings = ExploreSettings.from_dict(values)
    assert settings.selection == SelectionSettings(n_select=16)
    assert json.dumps(settings.to_dict(), indent=2, sort_keys=True) == SETTINGS_JSON
    (tmp_path / "settings.json").write_text(SETTINGS_JSON)
    assert read_settings(tmp_path) == settings
    assert RunReader(tmp_path).settings.selection.n_select == 16


def test_settings_with_the_block_as_a_table_read_too():
    nested = {"element": "Si", "n_candidates": 30,
              "selection": {"method": "kernel_fps", "n_select": 6, "kT": [0.2]}}
    settings = ExploreSettings.from_dict(nested)
    assert settings.selection == SelectionSettings(method="kernel_fps", n_select=6, kT=(0.2,))
    assert ExploreSettings.from_dict(settings.to_dict()) == settings
    assert flat_form(nested) == {"element": "Si", "n_candidates": 30, "selection": "kernel_fps",
                                 "n_select": 6, "kT": [0.2]}
    assert set(settings.to_dict()) >= set(FLAT_NAMES.values())


def test_toml_reads_the_flat_keys_and_a_selection_table():
    flat = ExploreSettings.from_toml('element = "Si"\nn_candidates = 30\nn_select = 6\n'
                                     'kT = 0.2\nselection = "kernel_fps"\n')
    table = ExploreSettings.from_toml('element = "Si"\nn_candidates = 30\n\n[selection]\n'
                                      'method = "kernel_fps"\nn_select = 6\nkT = [0.2]\n')
    assert flat == table and ExploreSettings.from_toml(flat.to_toml()) == flat
    with pytest.raises(InvalidParameterError, match="Unknown settings: colour"):
        ExploreSettings.from_toml("colour = 'blue'\n")


def test_a_changed_setting_of_the_block_is_named_by_its_flat_name():
    settings = ExploreSettings(n_candidates=30, n_select=10)
    assert settings.changed(dataclasses.replace(settings, n_select=6, max_labels=9)) \
        == ["max_labels", "n_select"]


def test_read_settings_of_a_folder_without_a_run_is_none(tmp_path):
    assert read_settings(tmp_path / "nothing") is None and read_settings(tmp_path) is None
    (tmp_path / "settings.json").write_text('{"colour": "blue"}')
    from gapexplore import GapExploreError

    with pytest.raises(GapExploreError, match="does not hold valid settings"):
        read_settings(tmp_path)
