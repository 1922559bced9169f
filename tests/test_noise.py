import numpy as np
import pytest
from ase import Atoms

from gapexplore import keys
from gapexplore.fit.noise import NoiseSettings, hull_distance, noise_for, with_noise


def test_hull_distance_on_hand_made_points():
    # lower hull: (10, -5) -> (14, -5.4) -> (20, -5); (17, -4.9) and (12, -5.1) lie above it
    v = np.array([10.0, 14.0, 20.0, 17.0, 12.0, 14.0])
    e = np.array([-5.0, -5.4, -5.0, -4.9, -5.1, -5.0])
    expected = np.array([0.0, 0.0, 0.0,
                         -4.9 - (-5.4 + (17 - 14) * 0.4 / 6),
                         -5.1 - (-5.0 - 0.4 * (12 - 10) / 4),
                         0.4])
    assert np.allclose(hull_distance(v, e), expected, atol=1e-12)


def test_hull_distance_degenerate_sets():
    assert np.allclose(hull_distance([10.0], [-3.0]), [0.0])
    assert np.allclose(hull_distance([10.0, 10.0, 10.0], [-3.0, -2.5, -2.0]), [0.0, 0.5, 1.0])
    assert np.allclose(hull_distance([10.0, 12.0, 14.0], [-3.0, -2.0, -1.0]), [0.0] * 3)
    assert np.allclose(hull_distance([10.0, 12.0], [-3.0, -1.0]), [0.0, 0.0])
    assert len(hull_distance([], [])) == 0


def test_noise_is_piecewise_linear_with_the_paper_values():
    se, sf, sv = noise_for([0.0, 0.1, 0.55, 1.0, 3.0])
    assert np.allclose(se, [0.001, 0.001, 0.0505, 0.1, 0.1])
    assert np.allclose(sf, [0.0316, 0.0316, 0.1738, 0.316, 0.316])
    assert np.allclose(sv, [0.0632, 0.0632, 0.3476, 0.632, 0.632])


def test_with_noise_sets_absolute_sigmas_and_leaves_inputs_alone():
    cells = []
    for volume, energy in [(20.0, -4.0), (22.0, -4.2), (24.0, -3.0), (26.0, -4.3)]:
        atoms = Atoms("Si4", cell=np.eye(3) * (4 * volume) ** (1 / 3), pbc=True,
                      scaled_positions=np.random.default_rng(0).random((4, 3)))
        atoms.info[keys.REF_ENERGY] = 4 * energy
        atoms.info[keys.REF_VIRIAL] = np.eye(3)
        cells.append(atoms)
    dimer = Atoms("Si2", positions=[[0, 0, 0], [2, 0, 0]], cell=[20] * 3)
    dimer.info[keys.REF_ENERGY] = 1.0
    out = with_noise(cells + [dimer])
    assert keys.ENERGY_SIGMA not in cells[0].info
    assert out[1].info[keys.HULL_DISTANCE] == pytest.approx(0.0)
    assert out[2].info[keys.HULL_DISTANCE] == pytest.approx(1.25)  # hull at 24: -4.25
    assert out[2].info[keys.ENERGY_SIGMA] == pytest.approx(0.1 * 2)  # 100 meV/atom × √4
    assert out[0].info[keys.FORCE_SIGMA] == pytest.approx(0.0316)
    assert out[0].info[keys.REF_VIRIAL].shape == (9,)
    assert out[4].info[keys.FORCE_SIGMA] == NoiseSettings().dimer_force
    assert keys.REF_VIRIAL not in out[4].info


def test_noise_settings_checked():
    with pytest.raises(ValueError, match="'delta_high' parameter"):
        NoiseSettings(delta_low=1.0, delta_high=0.5)
    with pytest.raises(ValueError, match="'force' parameter"):
        NoiseSettings(force=(0.1, -1.0))


def test_each_composition_has_its_own_hull():
    """Energies per atom of SiC and of Si are not comparable: each stoichiometry's cells are
    measured against their own (V, E) hull, as if fitted alone."""
    rng = np.random.default_rng(1)

    def cells(symbols, energies):
        out = []
        for e in energies:
            atoms = Atoms(symbols, cell=np.eye(3) * rng.uniform(3.0, 4.0), pbc=True)
            atoms.set_scaled_positions(rng.random((len(atoms), 3)))
            atoms.info[keys.REF_ENERGY] = e * len(atoms)
            out.append(atoms)
        return out

    sic = cells("Si2C2", [-6.1, -5.5, -4.9, -5.8])
    si = cells("Si2", [-4.3, -3.9, -4.1])
    mixed = [a.info[keys.HULL_DISTANCE] for a in with_noise(sic[:2] + si + sic[2:])]
    h_sic = [a.info[keys.HULL_DISTANCE] for a in with_noise(sic)]
    h_si = [a.info[keys.HULL_DISTANCE] for a in with_noise(si)]
    assert mixed == pytest.approx(h_sic[:2] + h_si + h_sic[2:])
    assert min(h_si) == 0.0 and min(h_sic) == 0.0
