"""`gapexplore results`: the distinct structures a run found, ranked and checked."""

import os

import numpy as np
import pytest
from ase.build import bulk
from ase.spacegroup import crystal

from gapexplore import keys, reference_calculator
from gapexplore.cli import main
from gapexplore.run import Explorer
from gapexplore.run.results import distinct_structures
from gapexplore.validate import known_structure


def _minimum(atoms, iteration=1):
    """A relaxed minimum as run_minima gives it, its energy by Stillinger–Weber."""
    atoms = atoms.copy()
    atoms.calc = reference_calculator("sw-si")
    atoms.info[keys.GAP_ENERGY] = atoms.get_potential_energy()
    atoms.info[keys.ENTHALPY_PER_ATOM] = atoms.info[keys.GAP_ENERGY] / len(atoms)
    atoms.info[keys.PRESSURE] = 0.0
    atoms.info[keys.ITERATION] = iteration
    atoms.calc = None
    return atoms


def test_the_matcher_merges_settings_of_one_structure_and_keeps_polymorphs_apart():
    primitive = bulk("Si", "diamond", a=5.431)
    conventional = bulk("Si", "diamond", a=5.431, cubic=True)
    conventional.rotate(30, "z", rotate_cell=True)
    conventional.rattle(1e-4, seed=1)
    lonsdaleite = crystal("Si", [(1 / 3, 2 / 3, 1 / 16)], spacegroup=194,
                          cellpar=[3.84, 3.84, 6.27, 90, 90, 120])
    chiral = crystal("Si", [(0.1, 0.2, 0.0)], spacegroup=178, cellpar=[5, 5, 7, 90, 90, 120])
    mirror = chiral.copy()
    mirror.positions *= -1      # its enantiomorph: P6_422 against P6_222
    mirror.wrap()
    minima = [_minimum(a, i) for i, a in enumerate(
        [known_structure("Si", "beta-tin"), conventional, lonsdaleite,
         primitive, chiral, mirror], start=1)]
    found = distinct_structures(minima)
    names = [f.spacegroup.split()[0] for f in found]
    assert names[0] == "Fd-3m" and found[0].count == 2 and found[0].first_iteration == 2
    assert {"P6_3/mmc", "I4_1/amd"} <= set(names)   # lonsdaleite and beta-tin apart
    assert len(found) == 4   # diamond, lonsdaleite, beta-tin, the chiral pair as one
    pair = next(f for f in found if f.spacegroup.split()[0] in ("P6_222", "P6_422"))
    assert pair.count == 2
    energies = [f.energy for f in found]
    assert energies == sorted(energies)


def test_results_rank_verify_and_resume(tmp_path, capsys):
    log = tmp_path / "calculations.log"
    os.environ["FAULTY_LOG"] = str(log)
    try:
        folder = tmp_path / "run"
        assert main(["run", str(folder), "--candidates", "8", "--select", "4", "--iterations",
                     "2", "--gap", "light", "--soap", "fast", "--fmax", "0.1", "--max-steps",
                     "40", "--optimiser", "precon-lbfgs",  # FIRE's first steps are short: 40 is few
                     "--reference", "faulty_references:counting_sw", "--jobs", "1",
                     "--quiet", "--seed", "3"]) == 0
        capsys.readouterr()
        before = len(log.read_text().splitlines())
        assert main(["results", str(folder), "--top", "5", "--verify", "2"]) == 0
        out = capsys.readouterr().out
        rows = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
        assert 1 <= len(rows) <= 5
        references = [float(line.split()[-3]) for line in rows[:2]]   # E_ref: a number
        assert all(-5.0 < e < -2.0 for e in references)   # eV/atom, relaxed by SW
        computed = len(log.read_text().splitlines()) - before
        assert computed > 0          # the reference relaxed the top structures
        assert main(["results", str(folder), "--top", "5", "--verify", "2"]) == 0
        assert capsys.readouterr().out == out       # the same table ...
        assert len(log.read_text().splitlines()) - before == computed   # ... none redone
    finally:
        del os.environ["FAULTY_LOG"]
    from ase.io import read

    results = folder / "results"
    assert (results / "ranked.xyz").exists() and (results / "ranked.csv").exists()
    assert len(list(results.glob("*.cif"))) == len(rows)
    import spglib

    for path in results.glob("*.cif"):   # symmetrised: the group holds at 1e-4 Å, not 0.1
        cif = read(path)
        number = spglib.get_symmetry_dataset(
            (cif.cell[:], cif.get_scaled_positions(), cif.numbers), symprec=1e-4).number
        assert path.stem.split("_", 1)[0].isdigit() and f"({number})" in next(
            line for line in rows if line.split()[0] == str(int(path.stem[:2])))

    ranked = read(results / "ranked.xyz", ":")
    assert [a.info[keys.RESULT_RANK] for a in ranked] == list(range(1, len(rows) + 1))
    energies = [a.info[keys.RESULT_PREFIX + "energy"] for a in ranked]
    assert np.all(np.diff(energies) >= 0)
    # the Explorer method is the same ranking, and takes the stored reference energies
    os.environ["FAULTY_LOG"] = str(log)
    try:
        found = Explorer(folder, reference="faulty_references:counting_sw",
                         n_jobs=1).results(top=5, verify=2, write=False)
    finally:
        del os.environ["FAULTY_LOG"]
    assert len(log.read_text().splitlines()) - before == computed
    assert [f.energy for f in found] == pytest.approx(energies)
    assert [f.reference for f in found[:2]] == pytest.approx(references, abs=1e-4)

    # an export carries the ranked structures and their CIFs
    assert main(["export", str(folder), str(tmp_path / "exported")]) == 0
    exported = tmp_path / "exported" / "results"
    assert len(read(exported / "ranked.xyz", ":")) == len(rows)
    assert len(list(exported.glob("*.cif"))) == len(rows)

def test_results_of_a_folder_without_a_run_is_refused(tmp_path, capsys):
    assert main(["results", str(tmp_path / "none")]) == 2
    assert "holds no gapexplore run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["results"])


def test_the_space_group_does_not_depend_on_the_order_of_the_atoms():
    """A demo minimum at the edge of spglib's 0.1 Å tolerance: spglib calls it P-62m or P321
    depending on the order of its atoms; the matcher must not (it would keep a copy apart)."""
    from ase import Atoms

    cell = [[5.35595, 0, 0], [-2.67797, 4.63838, 0], [0, 0, 6.52376]]
    fractional = [[0.99353, 0.57457, 0.18542], [0.42543, 0.41897, 0.18542],
                  [0.58103, 0.00647, 0.18542], [0.57457, 0.99353, 0.81458],
                  [0.41897, 0.42543, 0.81458], [0.00647, 0.58103, 0.81458],
                  [0, 0, 0.31954], [0, 0, 0.68046]]
    atoms = Atoms("Si8", scaled_positions=fractional, cell=cell, pbc=True)
    rng = np.random.default_rng(0)
    copies = [_minimum(atoms[rng.permutation(8)]) for _ in range(20)]
    found = distinct_structures(copies)
    assert len(found) == 1 and found[0].count == 20
    assert sorted(found[0].members) == list(range(20))


def test_structures_the_reference_relaxes_into_a_higher_ranked_one_are_marked():
    from ase.build import bulk

    from gapexplore.run.results import Found, mark_same_to_the_reference

    def found(reference, spacegroup, formula="Si"):
        return Found(atoms=bulk(formula, "diamond", a=5.43), energy=-4.3, enthalpy=-4.3,
                     pressure=0.0, spacegroup="I4_1/amd (141)", volume=20.0,
                     reference=reference, reference_spacegroup=spacegroup)

    items = [found(-4.3366, "Fd-3m (227)"), found(-4.33661, "Fd-3m (227)"),
             found(-4.3300, "Fd-3m (227)"), found(-4.33662, "P6_3/mmc (194)"),
             found(None, None)]
    mark_same_to_the_reference(items)
    assert [item.same_as for item in items] == [None, 1, None, None, None]
    assert items[1].row()["same_as"] == 1
