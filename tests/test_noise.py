import numpy as np
import pytest
from ase import Atoms

from gapexplore import keys
from gapexplore.core.hull import composition_hull_distance
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


def test_across_compositions_heights_are_above_the_composition_hull():
    """Energies per atom of different compositions meet through the hull of
    (composition, V, E): an unstable compound sits above the tie-plane of its elements by
    exactly its formation energy, the elements on it; one composition alone is measured
    against its own (V, E) hull, as before."""
    rng = np.random.default_rng(1)

    def cells(symbols, energies, volumes):
        out = []
        for e, v in zip(energies, volumes):
            atoms = Atoms(symbols, cell=np.eye(3), pbc=True)
            atoms.set_cell(np.eye(3) * (v * len(atoms)) ** (1 / 3))
            atoms.set_scaled_positions(rng.random((len(atoms), 3)))
            atoms.info[keys.REF_ENERGY] = e * len(atoms)
            out.append(atoms)
        return out

    si = cells("Si2", [-4.3] * 3, [18.0, 20.0, 22.0])
    c = cells("C2", [-7.4] * 3, [18.0, 20.0, 22.0])
    sic = cells("Si2C2", [-5.0, -5.6, -4.6], [19.0, 20.5, 21.0])
    heights = [a.info[keys.HULL_DISTANCE] for a in with_noise(si + sic + c)]
    tie = -7.4 + 3.1 * 0.5                     # E of the Si–C tie-plane at x_Si = 1/2
    assert heights == pytest.approx([0.0] * 3 + [-5.0 - tie, -5.6 - tie, -4.6 - tie] + [0.0] * 3)
    alone = cells("Si2C2", [-6.1, -5.5, -4.9, -5.8], rng.uniform(15.0, 25.0, 4))
    h_alone = [a.info[keys.HULL_DISTANCE] for a in with_noise(alone)]
    assert h_alone == pytest.approx(list(hull_distance(
        [a.get_volume() / len(a) for a in alone], [-6.1, -5.5, -4.9, -5.8])))


def test_the_composition_hull_is_the_lower_envelope():
    """Against a brute-force lower envelope of (x, E) points: at each x, the lowest of the
    point there and of every segment between points on either side."""
    rng = np.random.default_rng(5)
    x = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=40)
    e = rng.normal(size=40) - 2 * x
    heights = composition_hull_distance(np.column_stack([x, 1 - x]), e)

    def envelope(at):
        best = e[x == at].min() if np.any(x == at) else np.inf
        for i, j in zip(*np.nonzero((x[:, None] < at) & (x[None, :] > at))):
            t = (at - x[i]) / (x[j] - x[i])
            best = min(best, e[i] + t * (e[j] - e[i]))
        return best

    assert heights == pytest.approx(e - np.array([envelope(v) for v in x]), abs=1e-12)
    same = composition_hull_distance(np.tile([0.5, 0.5], (5, 1)), e[:5])
    assert same == pytest.approx(e[:5] - e[:5].min())   # one composition: E − min E
