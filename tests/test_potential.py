"""The native GAP evaluator against quippy (the oracle), on small real fits.

Each model is fitted here with the project's own ``fit_gap`` (one gap_fit run, δ given)
to a toy reference, then evaluated by quippy and natively on cells it was not fitted to:
random cells, strained and rattled crystals, a dimer. Every fit takes a few seconds.
Measured agreement: 1e-11 eV/atom, 4e-11 eV/Å and 2e-12 eV/Å³ (light Si, Table 1 Si and
light SiC models), far inside the tolerances asked; the light TiO2 model (CHGNet's labels)
is checked the same way.
"""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from ase.build import bulk

from gapexplore import Chemistry, Composition, dimers, initial_cells, isolated_atom, keys
from gapexplore.core.errors import InvalidParameterError
from gapexplore.fit import GapSettings, fit_gap, load_potential
from gapexplore.label import label_structures
from gapexplore.potential import GapEvaluator, NativeGap, read_gap_xml

#: Agreement asked of the native evaluator: energy [eV/atom], forces [eV/Å], stress [eV/Å³].
ENERGY_TOL, FORCE_TOL, STRESS_TOL = 1e-6, 1e-5, 1e-5

DELTAS = {"2b": 1.0, "3b": 0.3, "soap": 0.1}

#: torch is not among the engine's dependencies (it comes with the surrogate extra).
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="the native evaluator needs torch")


def _fit(tmp_path_factory, chemistry, settings, structures, reference, e0=None):
    """A GAP fitted by ``fit_gap`` (δ given: one gap_fit run) to labelled ``structures``
    plus dimers and isolated atoms; ``e0`` [eV] overrides the isolated atoms' energies."""
    atoms = isolated_atom(chemistry)
    atoms = atoms if isinstance(atoms, list) else [atoms]
    labelled = label_structures(structures + dimers(chemistry) + atoms, reference)
    for a in labelled:
        if e0 and a.info.get(keys.CONFIG_TYPE) == keys.CONFIG_ISOLATED_ATOM:
            a.info[keys.REF_ENERGY] = e0[a.get_chemical_symbols()[0]]
    workdir = tmp_path_factory.mktemp("gap")
    return fit_gap(labelled, chemistry, workdir, settings=settings, deltas=DELTAS).potential


def _crystals(rng, symbols="Si", kinds=(("diamond", 5.43),)):
    """Strained and rattled crystals (triclinic strains up to 6 %)."""
    out = []
    for kind, a in kinds:
        for repeat in ((1, 1, 1), (1, 2, 1)):
            atoms = bulk(symbols, kind, a=a).repeat(repeat)
            strain = np.eye(3) + rng.uniform(-0.06, 0.06, size=(3, 3))
            atoms.set_cell(atoms.cell[:] @ strain, scale_atoms=True)
            atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
            out.append(atoms)
    return out


@pytest.fixture(scope="module")
def si_light(tmp_path_factory):
    si = Chemistry.of("Si")
    rng = np.random.default_rng(0)
    cells = initial_cells(si, 10, rng=rng) + _crystals(rng)
    return _fit(tmp_path_factory, si, GapSettings.light(si, n_sparse_soap=50), cells, "sw-si",
                e0={"Si": -0.25})


@pytest.fixture(scope="module")
def si_paper(tmp_path_factory):
    """Table 1's shapes for Si: 2b 9.99 Å, 3b 3.25 Å, SOAP n = l = 8 at 4.995 Å, ζ = 4."""
    si = Chemistry.of("Si")
    rng = np.random.default_rng(1)
    cells = initial_cells(si, 8, rng=rng) + _crystals(rng)
    settings = GapSettings.for_chemistry(si, n_sparse_soap=60)
    return _fit(tmp_path_factory, si, settings, cells, "sw-si")


@pytest.fixture(scope="module")
def sic_light(tmp_path_factory):
    """Two species: a term per pair, triplet and centre species; e0 per element."""
    sic = Composition.of("SiC")
    rng = np.random.default_rng(2)
    cells = initial_cells(sic, 10, rng=rng) + _crystals(
        rng, "SiC", (("zincblende", 4.36), ("rocksalt", 4.05)))
    return _fit(tmp_path_factory, sic, GapSettings.light(sic, n_sparse_soap=60), cells,
                "tersoff-sic", e0={"Si": -0.3, "C": -0.7})


@pytest.fixture(scope="module")
def tio2_light(tmp_path_factory):
    """Titanium and oxygen, CHGNet's labels (the compound study's reference)."""
    pytest.importorskip("chgnet")
    tio2 = Composition.of("TiO2")
    cells = initial_cells(tio2, 8, rng=np.random.default_rng(3), n_atoms=(6, 12))
    return _fit(tmp_path_factory, tio2, GapSettings.light(tio2, n_sparse_soap=60), cells,
                "chgnet")


def _test_structures(chemistry, seed, symbols="Si", kinds=(("diamond", 5.43),)):
    """Random cells, strained and rattled crystals, a dimer and an isolated atom."""
    rng = np.random.default_rng(seed)
    dimer = dimers(chemistry)[2]
    atom = isolated_atom(chemistry)
    atom = atom[-1] if isinstance(atom, list) else atom
    return initial_cells(chemistry, 6, rng=rng) + _crystals(rng, symbols, kinds) + [dimer, atom]


def _quippy(potential, structures):
    calc = load_potential(potential)
    out = []
    for atoms in structures:
        copy = atoms.copy()
        copy.calc = calc
        stress = copy.get_stress() if atoms.pbc.all() else np.full(6, np.nan)
        out.append((copy.get_potential_energy(), copy.get_forces().copy(), stress))
    return out


def _assert_agree(potential, structures):
    expected = _quippy(potential, structures)
    results = GapEvaluator(potential).evaluate(structures)
    for k, (atoms, (energy, forces, stress)) in enumerate(zip(structures, expected)):
        where = f"structure {k} ({atoms.get_chemical_formula()}, pbc {atoms.pbc.all()})"
        assert abs(results.energy[k] - energy) / len(atoms) < ENERGY_TOL, where
        assert np.abs(results.forces[k] - forces).max() < FORCE_TOL, where
        if atoms.pbc.all():
            assert np.abs(results.stress[k] - stress).max() < STRESS_TOL, where
        else:
            assert np.isnan(results.stress[k]).all(), where
    # the check is not empty: the terms move energies, forces and stress by far more
    assert np.ptp([e / len(a) for (e, _, _), a in zip(expected, structures)]) > 0.1
    assert max(np.abs(f).max() for _, f, _ in expected) > 0.1


@needs_torch
def test_light_si_model_agrees_with_quippy(si_light):
    _assert_agree(si_light, _test_structures(Chemistry.of("Si"), 10))


@needs_torch
def test_table1_si_model_agrees_with_quippy(si_paper):
    _assert_agree(si_paper, _test_structures(Chemistry.of("Si"), 11))


@needs_torch
def test_two_species_model_agrees_with_quippy(sic_light):
    model = read_gap_xml(sic_light)
    kinds = {type(t).__name__ for t in model.terms}
    assert kinds == {"Distance2b", "Angle3b", "Soap"} and len(model.terms) == 3 + 6 + 2
    assert model.e0 == {14: -0.3, 6: -0.7}
    structures = _test_structures(Composition.of("SiC"), 12, "SiC",
                                  (("zincblende", 4.36), ("wurtzite", 3.08)))
    pure = bulk("Si", "diamond", a=5.43)        # one species only: the others' terms idle
    pure.rattle(0.05, seed=3)
    _assert_agree(sic_light, structures + [pure])
    # a batch of one species only (a run across compositions relaxes its pure cells in
    # batches of their own): no centre of the other species' SOAP anywhere in it
    carbon = bulk("C", "diamond", a=3.57) * (2, 1, 1)
    carbon.rattle(0.05, seed=4)
    for batch in ([pure], [carbon, carbon[:2]]):
        expected = _quippy(sic_light, batch)
        results = GapEvaluator(sic_light).evaluate(batch)
        for k, (atoms, (energy, forces, stress)) in enumerate(zip(batch, expected)):
            assert abs(results.energy[k] - energy) / len(atoms) < ENERGY_TOL
            assert np.abs(results.forces[k] - forces).max() < FORCE_TOL
            assert np.abs(results.stress[k] - stress).max() < STRESS_TOL
            assert np.abs(forces).max() > 0.01   # the rattle moves them: not a blank check


@needs_torch
@pytest.mark.slow
def test_titania_model_agrees_with_quippy(tio2_light):
    tio2 = Composition.of("TiO2")
    structures = initial_cells(tio2, 4, rng=np.random.default_rng(13), n_atoms=(6, 12))
    rattled = [a.copy() for a in structures[:2]]
    for k, atoms in enumerate(rattled):
        atoms.rattle(0.05, seed=k)
    _assert_agree(tio2_light, structures + rattled)


@needs_torch
def test_a_batch_gives_what_each_cell_gives_alone_in_any_order_and_pass(si_light):
    structures = _test_structures(Chemistry.of("Si"), 13)
    before = [a.copy() for a in structures]
    gap = GapEvaluator(si_light)
    together = gap.evaluate(structures)
    order = np.random.default_rng(0).permutation(len(structures))
    shuffled = gap.evaluate([structures[k] for k in order])
    passes = GapEvaluator(si_light, max_atoms=20).evaluate([structures[k] for k in order])
    for position, k in enumerate(order):
        alone = gap.evaluate([structures[k]])
        for other in (alone, shuffled, passes):
            index = 0 if other is alone else position
            assert other.energy[index] == pytest.approx(together.energy[k], abs=1e-10)
            assert np.allclose(other.forces[index], together.forces[k], atol=1e-10)
            assert np.allclose(other.stress[index], together.stress[k], atol=1e-12,
                               equal_nan=True)
    for a, b in zip(structures, before):    # inputs untouched
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell, b.cell)


@needs_torch
def test_forces_and_stress_are_the_energy_derivatives(si_light):
    """Finite differences of the native energy: −∂E/∂r and (1/V) ∂E/∂ε."""
    atoms = _crystals(np.random.default_rng(4))[1]
    gap = GapEvaluator(si_light)
    result = gap.evaluate([atoms])
    h = 1e-4
    displaced = []
    for sign in (1, -1):
        copy = atoms.copy()
        copy.positions[2, 1] += sign * h
        displaced.append(copy)
    for sign in (1, -1):
        copy = atoms.copy()
        strain = np.eye(3)
        strain[0, 2] = strain[2, 0] = sign * h / 2
        copy.set_cell(atoms.cell[:] @ strain, scale_atoms=True)
        displaced.append(copy)
    e = gap.evaluate(displaced).energy
    assert result.forces[0][2, 1] == pytest.approx(-(e[0] - e[1]) / (2 * h), abs=1e-6)
    assert result.stress[0][4] == pytest.approx((e[2] - e[3]) / (2 * h) / atoms.get_volume(),
                                                abs=1e-7)


@needs_torch
def test_calculator_stands_in_for_quippy(si_light):
    atoms = _crystals(np.random.default_rng(5))[0]
    expected = _quippy(si_light, [atoms])[0]
    atoms.calc = NativeGap(si_light)
    assert atoms.get_potential_energy() == pytest.approx(expected[0], abs=1e-6)
    assert np.allclose(atoms.get_forces(), expected[1], atol=FORCE_TOL)
    assert np.allclose(atoms.get_stress(), expected[2], atol=STRESS_TOL)
    atoms.positions[0] += 0.1                    # a new geometry is computed anew
    assert atoms.get_potential_energy() != pytest.approx(expected[0], abs=1e-6)


@needs_torch
def test_a_relaxation_takes_the_same_path_with_either_calculator(si_light):
    """Variable-cell LBFGS, 15 steps: the native calculator in place of quippy's."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import LBFGS

    start = _test_structures(Chemistry.of("Si"), 15)[2]
    paths = []
    native = load_potential(si_light, engine="native")
    assert isinstance(native, NativeGap)
    for calc in (load_potential(si_light), native):
        atoms = start.copy()
        atoms.calc = calc
        energies = []
        optimiser = LBFGS(FrechetCellFilter(atoms), logfile=None)
        optimiser.attach(lambda a=atoms, e=energies: e.append(a.get_potential_energy()))
        optimiser.run(fmax=1e-3, steps=15)
        paths.append((np.array(energies), atoms.get_positions(), atoms.cell.array.copy()))
    (e1, r1, c1), (e2, r2, c2) = paths
    assert len(e1) == len(e2) == 16 and e1[0] - e1[-1] > 0.01 * len(start)
    assert np.allclose(e1, e2, atol=1e-7) and np.allclose(r1, r2, atol=1e-6)
    assert np.allclose(c1, c2, atol=1e-6)


def test_reader_refuses_what_it_does_not_implement(si_light, tmp_path):
    text = si_light.read_text()
    for sparse in si_light.parent.glob(si_light.name + ".sparseX.*"):
        (tmp_path / sparse.name).write_bytes(sparse.read_bytes())
    cases = {"covariance_type=ard_se delta=1 ": "covariance_type=ard_se delta=1 exponents=2 ",
             "n_species=1": "n_species=1 radial_basis=GTO",
             'covariance_type="2"': 'covariance_type="3"'}
    for old, new in cases.items():
        assert old in text, old
        bad = tmp_path / "bad.xml"
        bad.write_text(text.replace(old, new, 1))
        with pytest.raises(InvalidParameterError, match="'path' parameter of read_gap_xml"):
            read_gap_xml(bad)
    with pytest.raises(InvalidParameterError, match="an existing GAP XML file"):
        read_gap_xml(tmp_path / "none.xml")
    (tmp_path / "lonely.xml").write_text(text)
    next(tmp_path.glob("*.sparseX.*")).unlink()
    with pytest.raises(InvalidParameterError, match="sparse-point files"):
        read_gap_xml(tmp_path / "lonely.xml")
    with pytest.raises(InvalidParameterError, match="'potential' parameter of GapEvaluator"):
        GapEvaluator(3.0)
    mixed = bulk("Si", "diamond", a=5.43)
    mixed.symbols[1] = "C"
    with pytest.raises(InvalidParameterError, match=r"GAP's elements \(Si\). Got 'C in "
                       r"structure 1'"):
        GapEvaluator(si_light).evaluate([bulk("Si", "diamond", a=5.43), mixed])


def test_without_torch_the_evaluator_says_how_to_install_it(si_light, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)     # `import torch` now fails
    with pytest.raises(ImportError, match=r"pip install torch==2\.13\.0"):
        GapEvaluator(si_light).evaluate([bulk("Si", "diamond", a=5.43)])


def test_importing_gapexplore_does_not_import_torch():
    code = ("import sys, gapexplore, gapexplore.potential; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_neighbour_pairs_are_those_of_ase_for_any_cell():
    from ase.neighborlist import primitive_neighbor_list

    from gapexplore.potential.neighbours import neighbour_pairs

    rng = np.random.default_rng(6)
    cells = initial_cells(Chemistry.of("Si"), 6, rng=rng) + _crystals(rng)
    for atoms in cells[:3]:                       # atoms outside the cell, a skewed cell
        atoms.positions += rng.normal(scale=8.0, size=atoms.positions.shape)
    cells[3].set_cell(cells[3].cell[:] @ [[1, 0, 0], [0.9, 1, 0], [0.4, -0.7, 1]])
    for cutoff in (3.25, 6.0, 9.99):
        i, j, shift, cell = neighbour_pairs(cells, cutoff)
        offset = 0
        for index, atoms in enumerate(cells):
            mine = cell == index
            expected = primitive_neighbor_list("ijS", atoms.pbc, atoms.cell.array,
                                               atoms.positions, cutoff)
            got = set(zip(i[mine] - offset, j[mine] - offset, map(tuple, shift[mine])))
            assert got == set(zip(*expected[:2], map(tuple, expected[2])))
            assert len(got) == mine.sum() and len(got) > len(atoms)
            offset += len(atoms)


def test_load_potential_refuses_an_unknown_engine(si_light):
    with pytest.raises(InvalidParameterError, match="'engine' parameter of load_potential"):
        load_potential(si_light, engine="lammps")


@needs_torch
@pytest.mark.slow
def test_a_run_relaxes_the_same_with_the_native_engine(tmp_path):
    """``--engine native`` (the relax table's ``engine``) reaches the relaxations of a run,
    and they take the same paths as with quippy."""
    from ase.io import read

    from gapexplore.cli import _parser, _settings
    from gapexplore.run import Explorer

    options = ["--element", "Si", "--candidates", "6", "--select", "4", "--iterations", "2",
               "--gap", "light", "--soap", "fast", "--atoms", "4", "8", "--fmax", "0.1",
               "--max-steps", "25", "--seed", "5"]
    frames = {}
    for engine in ("quippy", "native"):
        folder = tmp_path / engine
        settings = _settings(_parser().parse_args(["run", str(folder), *options,
                                                   "--engine", engine]))
        assert settings.relax_settings().engine == engine
        Explorer(folder, settings, n_jobs=1).run()
        frames[engine] = read(folder / "iter_001" / "trajectories.xyz", ":")
    assert len(frames["quippy"]) == len(frames["native"]) > 6
    for a, b in zip(frames["quippy"], frames["native"]):
        assert np.allclose(a.positions, b.positions, atol=1e-5)
        assert np.allclose(a.cell.array, b.cell.array, atol=1e-5)
