"""GPAW as a reference (needs `make gpaw`): labels, forces, virial, an SCF failure."""

import numpy as np
import pytest
from ase.build import bulk

from gapexplore import keys
from gapexplore.core.errors import InvalidParameterError
from gapexplore.label import dft, label_structures
from gapexplore.label.dft import GPAWReference, gpaw_reference, kpoint_grid, structure_kind

needs_gpaw = pytest.mark.skipif(not dft.gpaw_available(), reason="GPAW missing: make gpaw")


def _si2():
    atoms = bulk("Si", "diamond", a=5.431)
    atoms.rattle(0.05, seed=1)
    return atoms


def test_missing_gpaw_names_make_gpaw(monkeypatch):
    monkeypatch.setattr(dft, "gpaw_available", lambda: False)
    with pytest.raises(InvalidParameterError, match="make gpaw"):
        gpaw_reference("low")


def test_kpoints_and_kinds():
    si = bulk("Si", "diamond", a=5.431)
    assert kpoint_grid(si.cell, 0.8) == (3, 3, 3)
    assert kpoint_grid(si.cell, 0.25) == (9, 9, 9)
    assert structure_kind(si) == "bulk"
    atom = bulk("Si", "sc", a=10.0)
    assert structure_kind(atom) == "atom"


@pytest.mark.slow
@needs_gpaw
def test_low_preset_label_forces_virial():
    [si] = label_structures([_si2()], gpaw_reference("low"))
    assert keys.LABEL_ERROR not in si.info, si.info.get(keys.LABEL_ERROR)
    assert np.isfinite(si.info[keys.REF_ENERGY])
    assert si.info[keys.REF_NAME] == "gpaw-low"
    virial = np.reshape(si.info[keys.REF_VIRIAL], (3, 3))
    assert np.all(np.isfinite(virial)) and np.abs(virial).max() > 0
    # forces against a central difference of the free energy (forces are its gradient)
    h = 0.01
    atoms = _si2()
    atoms.calc = GPAWReference(preset="low", convergence={"energy": 1e-7, "density": 1e-6})
    energies = []
    for sign in (1, -1):
        shifted = atoms.copy()
        shifted.calc = atoms.calc
        shifted.positions[0, 0] += sign * h
        energies.append(shifted.get_potential_energy(force_consistent=True))
    fd = -(energies[0] - energies[1]) / (2 * h)
    assert si.arrays[keys.REF_FORCES][0, 0] == pytest.approx(fd, abs=0.005)


@pytest.mark.slow
@needs_gpaw
def test_unconverged_scf_is_a_failed_label():
    [si] = label_structures([_si2()], gpaw_reference("low", maxiter=1))
    assert "KohnShamConvergenceError" in si.info[keys.LABEL_ERROR]
    assert keys.REF_ENERGY not in si.info


def test_gpaw_is_a_named_reference_that_checks_its_elements_first(monkeypatch, tmp_path):
    from gapexplore.label import DFT_REFERENCES, NAMED_REFERENCES, PackagedReference
    from gapexplore.run import Explorer, ExploreSettings

    assert {"gpaw", "gpaw-low"} <= set(NAMED_REFERENCES)
    assert dict(DFT_REFERENCES["gpaw"].options) == {"preset": "paper"}
    with pytest.raises(InvalidParameterError, match=r"'gpaw' covers B, C, Si, Ti only"):
        ExploreSettings(element="Fe", reference="gpaw")
    with pytest.raises(InvalidParameterError, match=r"'sw-si' covers Si only"):
        ExploreSettings(element="C", reference="sw-si")
    monkeypatch.setattr(PackagedReference, "available", lambda self: False)
    with pytest.raises(InvalidParameterError, match="needs the module.*gpaw.*make gpaw"):
        Explorer(tmp_path / "run", ExploreSettings(element="Si", reference="gpaw"))
    assert not (tmp_path / "run" / "iter_000").exists()


@pytest.mark.slow
@needs_gpaw
def test_gpaw_low_by_name_labels_and_refuses_overlapping_atoms():
    close = bulk("Si", "sc", a=8.0) * (1, 1, 1)
    close.append("Si")
    close.positions[1] = [1.0, 0.0, 0.0]  # 1.0 Å: below 0.5 × 2 r_cov(Si) = 1.11 Å
    good, bad = label_structures([_si2(), close], "gpaw-low")
    assert good.info[keys.REF_NAME] == "gpaw-low"
    assert np.isfinite(good.info[keys.REF_ENERGY])
    [same] = label_structures([_si2()], gpaw_reference("low"))  # the name = the preset
    assert good.info[keys.REF_ENERGY] == pytest.approx(same.info[keys.REF_ENERGY], abs=1e-4)
    assert "closer than min_distance 1.11 Å" in bad.info[keys.LABEL_ERROR]
