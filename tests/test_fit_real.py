"""A real GAP fit to a toy reference, small enough for CI (about a minute on 2 cores)."""

import numpy as np
import pytest
from ase.build import bulk

from gapexplore import Chemistry, dimers, initial_cells, isolated_atom, keys
from gapexplore.fit import GapSettings, fit_gap, load_potential
from gapexplore.reference import label_structures, reference_calculator

pytestmark = pytest.mark.slow

#: Stated tolerance on the relaxed diamond energy [eV/atom] for this 40-cell fit; at the
#: fixed seed below the error is about 17 meV/atom (FIELD-NOTES: 5-17 meV in 3 of 5 seeds).
DIAMOND_TOLERANCE = 0.04


def _relaxed_diamond_energy(calc):
    """Minimum energy per atom [eV/atom] of diamond Si over its lattice constant."""
    lattice = np.linspace(5.2, 5.7, 11)
    energies = []
    for a in lattice:
        atoms = bulk("Si", "diamond", a=a)
        atoms.calc = calc
        energies.append(atoms.get_potential_energy() / len(atoms))
    coefficients = np.polyfit(lattice, energies, 4)
    fine = np.linspace(lattice[0], lattice[-1], 501)
    return float(np.min(np.polyval(coefficients, fine)))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    si = Chemistry.of("Si")
    structures = initial_cells(si, 40, rng=np.random.default_rng(0)) + dimers(si) \
        + [isolated_atom(si)]
    labelled = label_structures(structures, "sw-si")
    workdir = tmp_path_factory.mktemp("gap")
    return fit_gap(labelled, si, workdir, settings=GapSettings.light(si)), labelled


def test_fit_reproduces_its_training_data(fitted):
    result, labelled = fitted
    assert result.potential.exists() and list(result.potential.parent.glob("gap.xml.sparseX*"))
    assert result.n_structures == len(labelled) - 1  # all but the isolated atom
    assert result.rmse_energy < 0.05       # eV/atom over the random cells
    assert result.rmse_forces < 0.6        # eV/Å
    assert result.e0 == {"Si": pytest.approx(0.0, abs=1e-9)}  # SW's isolated atom
    # δ set from the data, in the paper's order of magnitude: 2b > 3b > SOAP
    assert result.deltas["2b"] > result.deltas["3b"] > result.deltas["soap"] > 0
    assert result.stage_rmse["2b"] > result.stage_rmse["2b+3b"]  # 3b terms help
    assert all(path.read_text().strip() for path in result.logs)


def test_fit_predicts_relaxed_diamond(fitted):
    result, _ = fitted
    reference = _relaxed_diamond_energy(reference_calculator("sw-si"))
    assert reference == pytest.approx(-4.3366, abs=2e-3)  # SW's published value
    gap = _relaxed_diamond_energy(load_potential(result.potential))
    assert abs(gap - reference) < DIAMOND_TOLERANCE


def test_failed_labels_are_left_out(fitted, tmp_path):
    result, labelled = fitted
    broken = [a.copy() for a in labelled]
    for atoms in broken[:5]:
        for key in (keys.REF_ENERGY, keys.REF_VIRIAL):
            atoms.info.pop(key, None)
        atoms.info[keys.LABEL_ERROR] = "injected: SCF did not converge"
    si = Chemistry.of("Si")
    again = fit_gap(broken, si, tmp_path, settings=GapSettings.light(si), deltas=result.deltas)
    assert again.n_structures == result.n_structures - 5
    assert not again.stage_rmse  # δ given: one gap_fit run


def test_a_cut_short_or_damaged_potential_is_refused(fitted, tmp_path):
    """A full disk can leave gap_fit's files cut short with exit code 0: never a result."""
    import shutil

    from gapexplore.fit import _potential_problem

    result, _ = fitted
    copy = tmp_path / "gap"
    shutil.copytree(result.potential.parent, copy)
    xml = copy / result.potential.name
    assert _potential_problem(xml) is None
    sparse = sorted(copy.glob(f"{xml.name}.sparseX.*"))[-1]
    sparse.write_text(sparse.read_text()[:100])
    assert "does not match its checksum" in _potential_problem(xml)
    text = xml.read_text()
    xml.write_text(text[: len(text) // 2])
    assert "not complete XML" in _potential_problem(xml)
