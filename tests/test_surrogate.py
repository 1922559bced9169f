"""The DFT-like surrogate reference (CHGNet, weights from its wheel) and its distance guard."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from gapexplore import InvalidParameterError, keys
from gapexplore.label import (
    SURROGATE_REFERENCES,
    label_structures,
    reference_calculator,
    split_labelled,
)
from gapexplore.run import Explorer, ExploreSettings
from gapexplore.validate import known_structure


def alpha_boron():
    return known_structure("B", "alpha-B12")


@pytest.fixture(scope="module")
def chgnet():
    return reference_calculator("chgnet")


def test_the_surrogate_limits_are_a_fraction_of_the_covalent_bond():
    chgnet = SURROGATE_REFERENCES["chgnet"]
    limits = {e: chgnet.min_distance(Atoms(e)) for e in ("B", "C", "Si", "Ti")}
    assert limits == pytest.approx({"B": 1.008, "C": 0.912, "Si": 1.332, "Ti": 1.92}, abs=2e-3)
    assert chgnet.min_distance(Atoms("CSi")) == pytest.approx(limits["C"])


def test_chgnet_loads_and_computes_quietly(capsys):
    # in every worker CHGNet printed its parameter count and device, and torch warned
    # about CHGNet's volume tensor on the first call
    import warnings

    from gapexplore.label.surrogate import chgnet_calculator

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calculator = chgnet_calculator()
        atoms = bulk("Si", "diamond", a=5.431)
        atoms.calc = calculator
        assert np.isfinite(atoms.get_potential_energy())
    assert capsys.readouterr().out == ""
    assert not [w for w in caught if "requires_grad" in str(w.message)]


def _same_density_fcc(atoms):
    volume = atoms.get_volume() / len(atoms)
    return bulk(atoms.get_chemical_symbols()[0], "fcc", a=(4 * volume) ** (1 / 3))


@pytest.mark.parametrize("name, ground_state", [
    ("diamond Si", bulk("Si", "diamond", a=5.431)), ("alpha-B12", alpha_boron())])
def test_chgnet_labels_are_finite_and_stable_with_a_stress(name, ground_state):
    fcc = _same_density_fcc(ground_state)
    labelled, packed = label_structures([ground_state, fcc], "chgnet")
    assert keys.LABEL_ERROR not in labelled.info, labelled.info.get(keys.LABEL_ERROR)
    per_atom = labelled.info[keys.REF_ENERGY] / len(ground_state)
    # DFT-like: the observed ground state lies well below a close-packed cell of the same
    # density (a covalent solid is not close packed), on a PBE-like scale of eV per atom
    assert -8 < per_atom < packed.info[keys.REF_ENERGY] / len(packed) - 0.2
    forces = labelled.arrays[keys.REF_FORCES]
    # the published structure is close to the surrogate's minimum (α-B: 0.28 eV/Å)
    assert np.all(np.isfinite(forces)) and np.abs(forces).max() < 0.5
    virial = labelled.info[keys.REF_VIRIAL]
    assert virial.shape == (3, 3) and np.all(np.isfinite(virial))
    [again] = label_structures([ground_state], "chgnet")  # the same numbers again
    assert again.info[keys.REF_ENERGY] == pytest.approx(labelled.info[keys.REF_ENERGY],
                                                        abs=1e-5)


def test_alpha_boron_relaxes_to_itself(chgnet):
    import spglib

    from gapexplore import Chemistry
    from gapexplore.relax import RelaxSettings, relax

    start = alpha_boron()
    frames = relax(start, chgnet, pressure=0.0, chemistry=Chemistry.of("B"),
                   settings=RelaxSettings(fmax=0.05, max_steps=200, optimiser="lbfgs-linesearch"))
    final = frames[-1]
    assert final.info[keys.RELAX_STATUS] == "converged"
    drop = (frames[0].info[keys.GAP_ENERGY] - final.info[keys.GAP_ENERGY]) / len(start)
    assert 0 <= drop < 0.03  # eV/atom: a small adjustment, no collapse
    assert abs(final.get_volume() / start.get_volume() - 1) < 0.05
    cell = (final.cell[:], final.get_scaled_positions(), final.numbers)
    assert spglib.get_spacegroup(cell, symprec=0.05) == "R-3m (166)"


def test_chgnet_forces_are_the_gradient_of_its_energy(chgnet):
    atoms = bulk("Si", "diamond", a=5.431, cubic=True)
    atoms.rattle(0.05, seed=1)
    atoms.calc = chgnet
    force = atoms.get_forces()[3, 0]
    h, energies = 1e-3, []
    for step in (h, -h):
        moved = atoms.copy()
        moved.positions[3, 0] += step
        moved.calc = chgnet
        energies.append(moved.get_potential_energy())
    assert force == pytest.approx(-(energies[0] - energies[1]) / (2 * h), abs=0.02)


def test_too_close_atoms_are_failed_labels_not_nonsense():
    close = Atoms("Si2", positions=[[0, 0, 0], [0, 0, 1.1]], cell=[12] * 3, pbc=True)
    bonded = Atoms("Si2", positions=[[0, 0, 0], [0, 0, 2.3]], cell=[12] * 3, pbc=True)
    good, failed = split_labelled(label_structures([close, bonded], "chgnet"))
    assert len(good) == 1 and good[0].get_distance(0, 1) == pytest.approx(2.3)
    assert "closer than min_distance 1.33 Å" in failed[0].info[keys.LABEL_ERROR]


def test_a_missing_surrogate_is_named_with_its_install_command(monkeypatch, tmp_path):
    from gapexplore.label import PackagedReference

    monkeypatch.setattr(PackagedReference, "available", lambda self: False)
    with pytest.raises(InvalidParameterError, match=r"pip install torch==2\.13\.0"):
        label_structures([bulk("Si")], "chgnet")
    with pytest.raises(InvalidParameterError, match="not installed"):
        Explorer(tmp_path / "run", ExploreSettings(element="B", reference="chgnet"))
    assert not (tmp_path / "run" / "iter_000").exists()


@pytest.mark.slow
def test_a_boron_run_with_the_surrogate(tmp_path):
    settings = ExploreSettings(element="B", reference="chgnet", n_candidates=6,
                               n_atoms=(4, 8), n_select=4, max_iterations=1, gap="light",
                               soap="fast")
    explorer = Explorer(tmp_path / "run", settings, n_jobs=2).run()
    record = explorer.state.iterations[0]
    # 4 cells + the atom + 21 dimers, of which the ones below 1.01 Å are refused
    assert record.labelled + record.failed == 26 and 1 <= record.failed <= 2
    assert explorer.potential.exists()
