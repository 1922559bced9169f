import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from gapexplore import Chemistry, InvalidParameterError, keys
from gapexplore.core.errors import GapFitError
from gapexplore.fit import (
    GapSettings,
    delta_from_spread,
    estimate_memory,
    find_gap_fit,
    fit_gap,
    gap_fit_command,
)
from gapexplore.fit.run import run_gap_fit


def test_table1_settings_in_units_of_r():
    si = GapSettings.for_chemistry(Chemistry.of("Si"))
    assert (si.cutoff_2b, si.cutoff_3b, si.cutoff_soap) == pytest.approx((9.99, 3.24675, 4.995),
                                                                         abs=1e-4)
    assert (si.n_sparse_2b, si.n_sparse_3b, si.n_sparse_soap) == (30, 100, 2000)
    assert (si.theta_2b, si.theta_3b, si.atom_sigma, si.n_max, si.l_max, si.zeta) == \
        (0.5, 1.0, 0.75, 8, 8, 4)
    ti = GapSettings.for_chemistry(Chemistry.of("Ti"))
    assert (ti.cutoff_2b, ti.cutoff_3b, ti.cutoff_soap) == pytest.approx(
        (8.2 * 1.47, 2.665 * 1.47, 4.1 * 1.47), abs=1e-4)
    light = GapSettings.light(Chemistry.of("Si"))
    assert light.cutoff_2b == 6.0 and light.n_max == 4 and light.n_sparse_soap == 300


def test_gap_fit_command_golden():
    settings = GapSettings.for_chemistry(Chemistry.of("Si"))
    command = gap_fit_command("train.xyz", "gap.xml", settings,
                              {"2b": 1.5, "3b": 0.25, "soap": 0.05}, {"Si": -0.5}, "gap_fit")
    assert command == [
        "gap_fit",
        "at_file=train.xyz",
        "gap={distance_2b cutoff=9.99 covariance_type=ard_se delta=1.5 theta_uniform=0.5 "
        "sparse_method=uniform n_sparse=30 add_species=T : angle_3b cutoff=3.2468 "
        "covariance_type=ard_se delta=0.25 theta_uniform=1 sparse_method=uniform n_sparse=100 "
        "add_species=T : soap n_max=8 l_max=8 atom_sigma=0.75 cutoff=4.995 "
        "cutoff_transition_width=1 covariance_type=dot_product zeta=4 delta=0.05 "
        "sparse_method=cur_points n_sparse=2000 add_species=T}",
        "e0={Si:-0.5}",
        "default_sigma={0.001 0.0316 0.0632 0.0}",
        "energy_parameter_name=REF_energy",
        "force_parameter_name=REF_forces",
        "virial_parameter_name=REF_virial",
        "config_type_parameter_name=config_type",
        "sparse_jitter=1e-08",
        "rnd_seed=1",
        "do_copy_at_file=F",
        "sparse_separate_file=T",
        "gp_file=gap.xml",
    ]
    two_body = gap_fit_command("t.xyz", "g.xml", settings, {"2b": 1.0}, {"Si": 0.0})
    assert "angle_3b" not in two_body[2] and "soap" not in two_body[2]


def _structures(scale=1.0):
    rng = np.random.default_rng(0)
    out = []
    for k in range(6):
        atoms = Atoms("Si4", cell=np.eye(3) * 5.0, pbc=True, scaled_positions=rng.random((4, 3)))
        atoms.info[keys.REF_ENERGY] = scale * (-16.0 + k)
        out.append(atoms)
    return out


def test_delta_2b_follows_the_spread_of_energies():
    base = delta_from_spread(_structures())
    assert base == pytest.approx(np.std([-4.0 + k / 4 for k in range(6)]))
    assert delta_from_spread(_structures(scale=3.0)) == pytest.approx(3 * base)


def test_fit_needs_the_isolated_atom_before_any_work(tmp_path):
    with pytest.raises(InvalidParameterError, match="isolated atom"):
        fit_gap(_structures(), Chemistry.of("Si"), tmp_path)
    assert not (tmp_path / "train.xyz").exists()


def test_fit_refuses_what_memory_cannot_hold(tmp_path, monkeypatch):
    import gapexplore.fit.run as fit

    atom = Atoms("Si", cell=[20] * 3)
    atom.info[keys.REF_ENERGY] = 0.0
    atom.info[keys.CONFIG_TYPE] = keys.CONFIG_ISOLATED_ATOM
    monkeypatch.setattr(fit, "_memory_available", lambda: 1e6)  # a machine with 1 MB free
    with pytest.raises(GapFitError, match="GiB is available"):
        fit_gap(_structures() + [atom], Chemistry.of("Si"), tmp_path)


def test_gap_fit_failure_shows_its_log(tmp_path):
    command = [*find_gap_fit(), "at_file=missing.xyz", "gap={distance_2b cutoff=4 "
               "covariance_type=ard_se delta=1 theta_uniform=0.5 n_sparse=5}",
               "default_sigma={0.001 0.03 0.06 0.0}", "gp_file=never.xml"]
    with pytest.raises(GapFitError, match="gap_fit failed") as error:
        run_gap_fit(command, tmp_path, tmp_path / "fail.log")
    assert "fail.log" in str(error.value)
    assert Path(tmp_path / "fail.log").read_text().strip()


def test_your_own_gap_fit_command_runs_the_fit_with_your_threads(tmp_path, monkeypatch, caplog):
    """$GAPEXPLORE_GAP_FIT (or ``gap_fit=``) names the command, e.g. an OpenMP or MPI build:
    here a launcher script that records its environment and runs the wheel's gap_fit."""
    import logging

    wheel = find_gap_fit()[0]
    launcher = tmp_path / "launch"
    launcher.write_text(f'#!/bin/sh\necho "threads=$OMP_NUM_THREADS $*" >> {tmp_path}/calls\n'
                        f'exec "$@"\n')
    launcher.chmod(0o755)
    atom = Atoms("Si", cell=[20] * 3)
    atom.info[keys.REF_ENERGY] = 0.0
    atom.info[keys.CONFIG_TYPE] = keys.CONFIG_ISOLATED_ATOM
    settings = GapSettings.light(Chemistry.of("Si"), n_sparse_soap=10)
    deltas = {"2b": 1.0, "3b": 0.5, "soap": 0.1}
    structures = _structures()
    for atoms in structures:
        atoms.arrays[keys.REF_FORCES] = np.zeros((len(atoms), 3))
    monkeypatch.setenv("GAPEXPLORE_GAP_FIT", f"{launcher} {wheel}")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    with caplog.at_level(logging.INFO, logger="gapexplore.fit.run"):
        result = fit_gap(structures + [atom], Chemistry.of("Si"), tmp_path / "fit",
                         settings=settings, deltas=deltas)
    assert result.potential.exists()
    [call] = (tmp_path / "calls").read_text().splitlines()
    assert call.startswith(f"threads=3 {wheel} at_file=train.xyz")   # your threads, not 1
    assert "24 atomic environments of 1 species" in caplog.text and "GiB" in caplog.text
    # given to fit_gap, it wins over the variable; one that does not exist is refused first
    with pytest.raises(GapFitError, match="does not start with a program that exists"):
        fit_gap(structures + [atom], Chemistry.of("Si"), tmp_path / "never",
                settings=settings, deltas=deltas, gap_fit=str(tmp_path / "nope"))
    assert not (tmp_path / "never" / "gap.xml").exists()
    assert gap_fit_command("t.xyz", "g.xml", settings, deltas, {"Si": 0.0},
                           ["mpirun", "-np", "4", "gap_fit"])[:5] == [
        "mpirun", "-np", "4", "gap_fit", "at_file=t.xyz"]


def test_the_memory_model_grows_with_the_soap_of_every_species():
    from gapexplore.fit import estimate_memory, soap_length

    settings = GapSettings.for_chemistry(Chemistry.of("Si"))
    assert soap_length(settings) == 36 * 9 and soap_length(settings, 2) == 136 * 9
    assert estimate_memory(1000, settings) == pytest.approx(0.85e9)
    assert estimate_memory(1000, settings, 2) == pytest.approx(0.85e9 * (1 + 2 * 136 / 36) / 3)
    # twice the density, twice the neighbours within the cutoff (Si's is 4.995 Å)
    assert estimate_memory(1000, settings, 1, 19.8) == pytest.approx(0.85e9)
    assert estimate_memory(1000, settings, 1, 9.9) == pytest.approx(1.7e9)


def test_a_fixed_delta_3b_replaces_the_papers_rule_and_skips_the_2b_only_fit(tmp_path):
    """``GapSettings(delta_3b=...)``: δ_3b as given, δ_2b and δ_SOAP still automatic; the
    2b-only fit, whose error would set δ_3b, is not run. A real gap_fit, three tiny fits."""
    from gapexplore.run import ExploreSettings

    atom = Atoms("Si", cell=[20] * 3)
    atom.info[keys.REF_ENERGY] = 0.0
    atom.info[keys.CONFIG_TYPE] = keys.CONFIG_ISOLATED_ATOM
    structures = _structures()
    for atoms in structures:
        atoms.arrays[keys.REF_FORCES] = np.zeros((len(atoms), 3))
    si = Chemistry.of("Si")
    rule = fit_gap(structures + [atom], si, tmp_path / "rule",
                   settings=GapSettings.light(si, n_sparse_soap=10))
    fixed = fit_gap(structures + [atom], si, tmp_path / "fixed",
                    settings=GapSettings.light(si, n_sparse_soap=10, delta_3b=0.1))
    assert rule.deltas["3b"] == pytest.approx(rule.stage_rmse["2b"]) != pytest.approx(0.1)
    assert fixed.deltas["3b"] == 0.1 and "2b" not in fixed.stage_rmse
    assert fixed.deltas["2b"] == rule.deltas["2b"]
    assert fixed.deltas["soap"] == pytest.approx(fixed.stage_rmse["2b+3b"])
    assert [p.name for p in fixed.logs] == ["gap_2b3b.log", "gap.log"]
    assert "angle_3b cutoff=3.2468 covariance_type=ard_se delta=0.1 " in \
        fixed.potential.read_text()
    # from a run's settings ([gap] table in TOML) and refused when not positive
    settings = ExploreSettings(element="Si", gap={"preset": "light", "delta_3b": 0.1})
    assert settings.gap_settings().delta_3b == 0.1
    assert ExploreSettings(element="Si", gap="light").gap_settings().delta_3b is None
    with pytest.raises(InvalidParameterError, match="delta_3b"):
        ExploreSettings(element="Si", gap={"preset": "light", "delta_3b": 0.0})


def test_a_fit_without_virials_leaves_them_out_of_training_and_needs_less_memory(tmp_path):
    """``GapSettings(virials=False)``: the training file holds no virial, so gap_fit fits
    energies and forces only (its log counts no virial); the memory model takes the
    measured 0.41×. A real gap_fit, one tiny fit each way, on the same labels."""
    from gapexplore.run import ExploreSettings

    atom = Atoms("Si", cell=[20] * 3)
    atom.info[keys.REF_ENERGY] = 0.0
    atom.info[keys.CONFIG_TYPE] = keys.CONFIG_ISOLATED_ATOM
    structures = _structures()
    rng = np.random.default_rng(1)
    for atoms in structures:
        atoms.arrays[keys.REF_FORCES] = rng.normal(0.0, 0.1, (len(atoms), 3))
        virial = rng.normal(0.0, 0.5, (3, 3))
        atoms.info[keys.REF_VIRIAL] = virial + virial.T
    si = Chemistry.of("Si")
    deltas = {"2b": 1.0, "3b": 0.1, "soap": 0.1}
    runs = {}
    for virials in (True, False):
        settings = GapSettings.light(si, n_sparse_soap=10, virials=virials)
        runs[virials] = fit_gap(structures + [atom], si, tmp_path / str(virials),
                                settings=settings, deltas=deltas)
        train = (tmp_path / str(virials) / "train.xyz").read_text()
        assert (keys.REF_VIRIAL in train) is virials
        assert (keys.VIRIAL_SIGMA in train) is virials
        assert runs[virials].potential.exists()
    # the labels themselves are left alone
    assert all(keys.REF_VIRIAL in a.info for a in structures)
    found = {v: re.search(r"Number of target virials .* found: (\d+)",
                          runs[v].logs[-1].read_text()).group(1) for v in runs}
    assert found == {True: "36", False: "0"}   # 6 cells x 9 components
    paper = GapSettings.for_chemistry(si)
    assert estimate_memory(1000, replace(paper, virials=False)) == \
        pytest.approx(0.41 * estimate_memory(1000, paper))
    # from a run's settings ([gap] table in TOML), and refused when not a boolean
    assert not ExploreSettings(element="Si", gap={"preset": "paper", "virials": False}) \
        .gap_settings().virials
    with pytest.raises(InvalidParameterError, match="virials"):
        ExploreSettings(element="Si", gap={"preset": "paper", "virials": "no"})
