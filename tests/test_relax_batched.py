"""Relaxations many cells at a time (:mod:`gapexplore.relax.batched`) against the loop of
ASE objects one cell at a time (:func:`gapexplore.relax.relax`, FIRE through the cell
filter), with the same native GAP: the same paths, the same guards, the same records."""

import numpy as np
import pytest
from ase.build import bulk
from scipy.linalg import expm, logm
from test_potential import _crystals, _fit, needs_torch

from gapexplore import Chemistry, initial_cells, keys
from gapexplore.fit import GapSettings, load_potential
from gapexplore.generate import random_cells
from gapexplore.relax import RelaxSettings, random_pressures, relax, relax_structures
from gapexplore.relax import loop as relax_loop
from gapexplore.relax.batched import _Flight, _generalised_forces, relax_batch

SI = Chemistry.of("Si")


@pytest.fixture(scope="module")
def si_light(tmp_path_factory):
    rng = np.random.default_rng(0)
    cells = initial_cells(SI, 10, rng=rng) + _crystals(rng)
    return _fit(tmp_path_factory, SI, GapSettings.light(SI, n_sparse_soap=50), cells, "sw-si",
                e0={"Si": -0.25})


def _starts(seed: int, n: int):
    rng = np.random.default_rng(seed)
    cells = random_cells(SI, n, rng=rng, n_atoms=(4, 12)) + _crystals(rng)[:2]
    return cells, [float(p) for p in random_pressures(len(cells), rng=rng)]


@needs_torch
def test_batched_relaxations_take_the_paths_of_one_cell_at_a_time(si_light):
    """Frame for frame, with cells leaving and entering a batch of at most 40 atoms."""
    cells, pressures = _starts(1, 6)
    settings = RelaxSettings(fmax=0.05, max_steps=40)
    calculator = load_potential(si_light, engine="native")
    alone = [relax(a, calculator, pressure=p, chemistry=SI, settings=settings)
             for a, p in zip(cells, pressures)]
    batched = relax_batch(cells, pressures, calculator.evaluator, chemistry=SI,
                          settings=settings, max_atoms=40)
    statuses = {t[-1].info[keys.RELAX_STATUS] for t in alone}
    assert statuses == {"converged", "max_steps"}          # both endings are compared
    for one, many in zip(alone, batched):
        assert len(one) == len(many) and len(one) > 5
        for a, b in zip(one, many):
            assert a.info.keys() == b.info.keys()
            assert a.info[keys.RELAX_STATUS] == b.info[keys.RELAX_STATUS]
            assert a.info[keys.RELAX_STEP] == b.info[keys.RELAX_STEP]
            assert b.info[keys.ENTHALPY_PER_ATOM] == pytest.approx(
                a.info[keys.ENTHALPY_PER_ATOM], abs=1e-8)
            assert np.allclose(a.positions, b.positions, atol=1e-6)
            assert np.allclose(a.cell.array, b.cell.array, atol=1e-6)
    for a, b in zip(cells, _starts(1, 6)[0]):                # inputs untouched
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell, b.cell)


@pytest.mark.parametrize("deformation", ["rotated", "ill-conditioned"])
def test_the_cell_forces_are_those_of_ase_frechet_filter(deformation):
    """The generalised forces of a deformed cell under pressure, against ASE's filter
    (including a deformation whose logarithm has ill-conditioned eigenvectors, which takes
    scipy's Fréchet derivative)."""
    from ase._4.optimize.cellutil import CellUtility

    rng = np.random.default_rng(3)
    atoms = bulk("Si", "diamond", a=5.43).repeat((1, 2, 1))
    orig = atoms.cell.array.copy()
    if deformation == "rotated":
        angle = 0.3
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0],
                             [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        deform = rotation @ (np.eye(3) + rng.uniform(-0.1, 0.1, (3, 3)))
        log_deform = logm(deform).real
    else:
        log_deform = np.array([[0.05, 0.3, 0.0], [0.0, 0.05 + 1e-12, 0.0], [0.0, 0.0, -0.1]])
        deform = expm(log_deform)
        assert np.linalg.cond(np.linalg.eig(log_deform)[1]) > 1e6
    atoms.set_cell(orig @ deform.T, scale_atoms=True)
    forces = rng.normal(size=(len(atoms), 3))
    stress = rng.normal(scale=0.01, size=6)
    flight = _Flight(index=0, atoms=atoms, pressure=1.5, orig_cell=orig, v_start=1.0,
                     log_deform=log_deform, deform=deform)
    ours = _generalised_forces([flight], [forces], [stress])
    utility = CellUtility(orig.copy(), mask=None, scalar_pressure=flight.p)
    theirs, _ = utility.get_forces_frechet(atoms_forces=forces, stress=stress, cell=atoms.cell,
                                           exp_cell_factor=float(len(atoms)))
    assert np.allclose(ours, theirs, rtol=1e-9, atol=1e-12)


@needs_torch
def test_a_batch_records_explosions_failures_and_the_step_cap(si_light):
    """A cell with atoms too close explodes before its first frame, a cell with an element
    the GAP does not know fails; the others in the batch relax as they would alone."""
    cells, pressures = _starts(2, 3)
    close = bulk("Si", "diamond", a=5.43)
    close.positions[1] = close.positions[0] + [0.3, 0.0, 0.0]
    foreign = bulk("Si", "diamond", a=5.43)
    foreign[0].symbol = "Ge"
    structures = [cells[0], close, foreign, cells[1]]
    at = [pressures[0], 1.0, 1.0, pressures[1]]
    settings = RelaxSettings(fmax=0.05, max_steps=30)
    evaluator = load_potential(si_light, engine="native").evaluator
    batched = relax_batch(structures, at, evaluator, chemistry=SI, settings=settings)
    assert [len(t) for t in batched[1:3]] == [1, 1]
    assert batched[1][0].info[keys.RELAX_STATUS].startswith("exploded: atoms closer than")
    assert batched[2][0].info[keys.RELAX_STATUS].startswith("error: InvalidParameterError")
    assert keys.GAP_ENERGY not in batched[1][0].info and batched[1][0].info[keys.PRESSURE] == 1
    for k in (0, 3):
        alone = relax_batch([structures[k]], [at[k]], evaluator, chemistry=SI,
                            settings=settings)[0]
        assert len(alone) == len(batched[k]) > 1
        assert alone[-1].info[keys.ENTHALPY_PER_ATOM] == pytest.approx(
            batched[k][-1].info[keys.ENTHALPY_PER_ATOM], abs=1e-9)
    capped = relax_batch(cells[:1], [1.0], evaluator, chemistry=SI,
                         settings=RelaxSettings(max_steps=0))[0]
    assert len(capped) == 1 and capped[0].info[keys.RELAX_STATUS] == "max_steps"
    assert capped[0].info[keys.RELAX_STEP] == 0 and keys.GAP_ENERGY in capped[0].info


@needs_torch
def test_relax_structures_batches_the_native_engine_alike_for_any_workers(si_light,
                                                                          monkeypatch):
    """The native engine with FIRE relaxes in tasks of a fixed number of cells: one worker
    or two give the same frames to the last digit, in input order, each with its id."""
    monkeypatch.setattr(relax_loop, "BATCH_TASK_SIZE", 3)      # 7 cells: 3 tasks
    cells, _ = _starts(4, 5)
    settings = RelaxSettings(fmax=0.1, max_steps=15, engine="native")
    runs = [relax_structures(cells, si_light, chemistry=SI, rng=np.random.default_rng(7),
                             settings=settings, n_jobs=n_jobs) for n_jobs in (1, 2)]
    assert len(runs[0]) == len(runs[1]) == len(cells)
    for index, (one, two) in enumerate(zip(*runs)):
        assert len(one) == len(two) > 1
        for a, b in zip(one, two):
            assert a.info[keys.RELAX_ID] == b.info[keys.RELAX_ID] == index
            assert np.array_equal(a.positions, b.positions)
            assert a.info[keys.ENTHALPY_PER_ATOM] == b.info[keys.ENTHALPY_PER_ATOM]


def test_only_a_native_gap_file_with_fire_is_relaxed_in_batches(tmp_path):
    path = tmp_path / "gap.xml"
    native = RelaxSettings(engine="native")
    assert relax_loop._batched(str(path), native) and relax_loop._batched(path, native)
    assert not relax_loop._batched(str(path), RelaxSettings(engine="quippy"))
    assert not relax_loop._batched(str(path), RelaxSettings(engine="native",
                                                            optimiser="lbfgs"))
    assert not relax_loop._batched(lambda: None, native)                 # a calculator


def test_the_default_engine_is_native_where_torch_is_and_old_runs_keep_quippy():
    """A run folder begun with the quippy default (state schema 3 or less) keeps quippy
    unless its settings name an engine."""
    import importlib.util

    from gapexplore.run import ExploreSettings
    from gapexplore.run.reader import with_optimiser_of_its_version

    torch = importlib.util.find_spec("torch") is not None
    assert RelaxSettings().engine == ("native" if torch else "quippy")
    settings = ExploreSettings(element="Si")
    assert with_optimiser_of_its_version(settings, 3).relax_settings().engine == "quippy"
    assert with_optimiser_of_its_version(settings, 4).relax_settings().engine \
        == RelaxSettings().engine
    named = ExploreSettings(element="Si", relax={"engine": "native"})
    assert with_optimiser_of_its_version(named, 3).relax_settings().engine == "native"


@needs_torch
def test_loading_quippy_first_does_not_change_the_native_numbers(si_light):
    """quippy loads its own OpenBLAS globally; loaded through gapexplore, it comes after
    torch, so torch keeps its own library and a native evaluation gives the same last
    digits in a process that loaded quippy first (as a run's workers may) as in one that
    did not."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from ase.build import bulk\n"
        "from gapexplore.fit import load_potential\n"
        "if sys.argv[2] == 'quippy-first':\n"
        "    load_potential(sys.argv[1])\n"
        "atoms = bulk('Si', 'diamond', a=5.43).repeat((2, 1, 1))\n"
        "atoms.rattle(0.1, seed=1)\n"
        "r = load_potential(sys.argv[1], engine='native').evaluator.evaluate([atoms] * 3)\n"
        "print(repr(r.energy.tolist()), repr(r.forces[0].tolist()))\n")
    outputs = [subprocess.run([sys.executable, "-c", script, str(si_light), order],
                              capture_output=True, text=True, check=True).stdout
               for order in ("native-only", "quippy-first")]
    assert outputs[0] == outputs[1] and outputs[0]


@needs_torch
def test_an_interrupted_relaxation_continues_from_the_tasks_it_finished(si_light, monkeypatch):
    """``on_relaxed`` gets each task's trajectories as it finishes; given back as ``done``,
    whole tasks are not relaxed again (their trajectories come back as given), a task only
    partly given runs again in full, and every other structure relaxes to the last digit
    as in one uninterrupted call."""
    monkeypatch.setattr(relax_loop, "BATCH_TASK_SIZE", 3)      # 7 cells: tasks 0-2, 3-5, 6
    cells, _ = _starts(4, 5)
    settings = RelaxSettings(fmax=0.1, max_steps=15, engine="native")
    kept = []
    whole = relax_structures(cells, si_light, chemistry=SI, rng=np.random.default_rng(7),
                             settings=settings, on_relaxed=kept.append)
    assert sorted(sorted(task) for task in kept) == [[0, 1, 2], [3, 4, 5], [6]]
    first = next(task for task in kept if 0 in task)
    done = {**first, 4: whole[4]}          # task 0-2 whole, task 3-5 in part
    again = []
    resumed = relax_structures(cells, si_light, chemistry=SI, rng=np.random.default_rng(7),
                               settings=settings, done=done, on_relaxed=again.append)
    assert sorted(sorted(task) for task in again) == [[3, 4, 5], [6]]
    assert all(resumed[k] is first[k] for k in (0, 1, 2))
    for one, two in zip(whole, resumed):
        assert len(one) == len(two)
        for a, b in zip(one, two):
            assert np.array_equal(a.positions, b.positions)
            assert a.info[keys.ENTHALPY_PER_ATOM] == b.info[keys.ENTHALPY_PER_ATOM]
    with pytest.raises(ValueError, match="done"):
        relax_structures(cells, si_light, chemistry=SI, rng=np.random.default_rng(7),
                         settings=settings, done={7: whole[0]})
