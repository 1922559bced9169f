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

    class Interrupted(Calculator):   # Ctrl-C during quippy's Fortran, as f90wrap raises it
        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            raise RuntimeError("Interrupt occured")

    with pytest.raises(KeyboardInterrupt):     # stops the run: not a failed relaxation
        relax(_rattled_diamond(), Interrupted(), pressure=0.0, chemistry=si)
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


def _deformations():
    rng = np.random.default_rng(0)
    yield np.eye(3)                                              # the first step
    for _ in range(5):
        yield np.eye(3) + 0.2 * rng.normal(size=(3, 3))          # shear, stretch, rotation
    yield 0.9 * np.eye(3) + 1e-9 * rng.normal(size=(3, 3))      # nearly equal eigenvalues
    yield np.array([[1.0, 0.3, 0.0], [0.0, 1.0 + 1e-9, 0.0], [0.0, 0.0, 1.0]])  # near-defective


@pytest.mark.parametrize("index", range(8))
def test_the_fast_cell_filter_agrees_with_ases(index):
    # Closed-form matrix functions and kept forces, against ASE's own FrechetCellFilter on
    # the same deformed cell: generalised positions, forces, and the cell after a step.
    from ase.filters import FrechetCellFilter

    from gapexplore.relax import FastFrechetCellFilter

    deformation = list(_deformations())[index]
    calc = reference_calculator("sw-si")
    results = []
    for kind in (FrechetCellFilter, FastFrechetCellFilter):
        atoms = _rattled_diamond(seed=index)
        atoms.calc = calc
        cell_filter = kind(atoms, scalar_pressure=0.01)
        atoms.set_cell(atoms.cell.array @ deformation.T, scale_atoms=True)
        positions, forces = cell_filter.get_positions(), cell_filter.get_forces()
        cell_filter.set_positions(positions + 0.01)
        results.append((positions, forces, atoms.positions.copy(), atoms.cell.array.copy()))
    for ase_value, fast_value in zip(*results):
        np.testing.assert_allclose(fast_value, ase_value, rtol=0, atol=1e-10)


def test_the_fast_cell_filter_computes_forces_once_per_geometry():
    from gapexplore.relax import FastFrechetCellFilter

    atoms = _rattled_diamond()
    atoms.calc = reference_calculator("sw-si")
    cell_filter = FastFrechetCellFilter(atoms, scalar_pressure=0.01)
    calls = []
    original = atoms.calc.calculate
    atoms.calc.calculate = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    first = cell_filter.get_forces()
    first[0] = 99.0                                   # the caller's copy, not the kept one
    again = cell_filter.get_forces()
    assert len(calls) == 1 and again[0, 0] != 99.0
    cell_filter.set_positions(cell_filter.get_positions() + 0.01)
    cell_filter.get_forces()
    assert len(calls) == 2


@pytest.mark.parametrize("optimiser", ["precon-lbfgs", "lbfgs-linesearch", "lbfgs", "fire"])
def test_every_optimiser_minimises_the_enthalpy_to_diamond(optimiser):
    frames = relax(_rattled_diamond(), reference_calculator("sw-si"), pressure=0.0,
                   chemistry=Chemistry.of("Si"),
                   settings=RelaxSettings(optimiser=optimiser, max_steps=500))
    assert frames[-1].info[keys.RELAX_STATUS] == "converged"
    assert frames[-1].info[keys.ENTHALPY_PER_ATOM] == pytest.approx(-4.3366, abs=1e-3)
    assert [f.info[keys.RELAX_STEP] for f in frames] == list(range(len(frames)))


def test_relaxations_given_as_done_are_not_run_again():
    """One structure per task with a calculator: each finished relaxation reaches
    ``on_relaxed`` alone, and one given back in ``done`` is returned as given, the others
    at the pressures of an uninterrupted call."""
    si = Chemistry.of("Si")
    cells = [_rattled_diamond(seed) for seed in range(3)]
    settings = RelaxSettings(max_steps=20)
    kept = []
    whole = relax_structures(cells, _sw, chemistry=si, rng=np.random.default_rng(4),
                             settings=settings, on_relaxed=kept.append)
    assert sorted(list(task) for task in kept) == [[0], [1], [2]]
    again = []
    resumed = relax_structures(cells, _sw, chemistry=si, rng=np.random.default_rng(4),
                               settings=settings, done=kept[1], on_relaxed=again.append)
    (index,) = kept[1]
    assert resumed[index] is kept[1][index]
    assert sorted(k for task in again for k in task) == sorted({0, 1, 2} - {index})
    for a, b in zip(whole, resumed):
        assert same_structures(a, b)
        assert [f.info[keys.PRESSURE] for f in a] == [f.info[keys.PRESSURE] for f in b]
