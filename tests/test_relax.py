import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from conftest import same_structures

from gapexplore import Chemistry, InvalidParameterError, keys
from gapexplore.label import reference_calculator
from gapexplore.relax import RelaxSettings, random_pressures, relax, relax_structures


def test_pressures_follow_eq5():
    p = random_pressures(20000, rng=np.random.default_rng(0))
    assert np.all(p >= 0)
    assert p.mean() == pytest.approx(0.2, rel=0.03)          # β p0
    assert np.median(p) == pytest.approx(0.2 * np.log(2), rel=0.05)  # exponential median
    again = random_pressures(5, rng=np.random.default_rng(1))
    assert np.array_equal(again, random_pressures(5, rng=np.random.default_rng(1)))
    with pytest.raises(InvalidParameterError, match="'beta' parameter"):
        random_pressures(3, rng=np.random.default_rng(0), beta=0)


def _rattled_diamond(seed=0):
    atoms = bulk("Si", "diamond", a=5.6, cubic=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_relaxation_reaches_diamond_and_keeps_every_frame():
    si = Chemistry.of("Si")
    start = _rattled_diamond()
    before = start.copy()
    frames = relax(start, reference_calculator("sw-si"), pressure=0.0, chemistry=si)
    assert start == before and start.calc is None  # input untouched
    assert frames[-1].info[keys.RELAX_STATUS] == "converged"
    assert [f.info[keys.RELAX_STEP] for f in frames] == list(range(len(frames)))
    assert frames[-1].info[keys.ENTHALPY_PER_ATOM] == pytest.approx(-4.3366, abs=1e-3)
    assert frames[-1].get_volume() / 8 == pytest.approx(5.431**3 / 8, rel=2e-3)
    enthalpies = [f.info[keys.ENTHALPY_PER_ATOM] for f in frames]
    assert enthalpies[-1] < enthalpies[0]
    assert all(f.calc is None for f in frames)


def test_a_one_atom_cell_relaxes_without_the_preconditioner():
    # Exp(A=3) divides by zero on a one-atom cell; the cell still relaxes, by plain steps.
    start = bulk("Si", "sc", a=2.5)
    frames = relax(start, reference_calculator("sw-si"), pressure=0.0,
                   chemistry=Chemistry.of("Si"))
    assert frames[-1].info[keys.RELAX_STATUS] == "converged"
    assert frames[-1].info[keys.ENTHALPY_PER_ATOM] < frames[0].info[keys.ENTHALPY_PER_ATOM]


def test_pressure_compresses_and_enters_the_enthalpy():
    si = Chemistry.of("Si")
    calc = reference_calculator("sw-si")
    low = relax(_rattled_diamond(), calc, pressure=0.0, chemistry=si)[-1]
    high = relax(_rattled_diamond(), calc, pressure=10.0, chemistry=si)[-1]
    assert high.get_volume() < 0.97 * low.get_volume()
    p = 10.0 / 160.21766208  # eV/Å^3
    expected = (high.info[keys.GAP_ENERGY] + p * high.get_volume()) / len(high)
    assert high.info[keys.ENTHALPY_PER_ATOM] == pytest.approx(expected, rel=1e-12)
    assert high.info[keys.PRESSURE] == 10.0


def test_explosions_and_failures_are_recorded_not_raised():
    si = Chemistry.of("Si")
    guard = RelaxSettings(min_distance_factor=2.2)  # 2.44 Å: diamond's 2.35 Å bonds trip it
    frames = relax(_rattled_diamond(), reference_calculator("sw-si"), pressure=0.0,
                   chemistry=si, settings=guard)
    assert len(frames) == 1 and keys.ENTHALPY_PER_ATOM not in frames[0].info
    assert frames[0].info[keys.RELAX_STATUS].startswith("exploded: atoms closer than 2.44")

    class Breaks(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            raise RuntimeError("the potential broke")

    frames = relax(_rattled_diamond(), Breaks(), pressure=0.0, chemistry=si)
    assert len(frames) == 1
    assert frames[0].info[keys.RELAX_STATUS] == "error: RuntimeError: the potential broke"
    trajectories = relax_structures([_rattled_diamond(), _rattled_diamond()],
                                    reference_calculator("sw-si"), chemistry=si,
                                    rng=np.random.default_rng(0),
                                    settings=RelaxSettings(max_steps=3))
    assert all(t[-1].info[keys.RELAX_STATUS] == "max_steps" for t in trajectories)
    assert all(len(t) == 4 for t in trajectories)  # the start and three steps


def _sw():
    return reference_calculator("sw-si")


def test_parallel_relaxations_match_serial():
    si = Chemistry.of("Si")
    cells = [_rattled_diamond(seed) for seed in range(3)]
    settings = RelaxSettings(max_steps=20)
    serial = relax_structures(cells, _sw, chemistry=si, rng=np.random.default_rng(4),
                              settings=settings)
    parallel = relax_structures(cells, _sw, chemistry=si, rng=np.random.default_rng(4),
                                settings=settings, n_jobs=2)
    for a, b in zip(serial, parallel):
        assert same_structures(a, b)
        assert [f.info[keys.PRESSURE] for f in a] == [f.info[keys.PRESSURE] for f in b]
    assert {f.info[keys.RELAX_ID] for f in parallel[2]} == {2}
