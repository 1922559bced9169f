"""A real GAP fit to a toy reference, small enough for CI (about a minute on 2 cores)."""

import numpy as np
import pytest
from ase.build import bulk

from gapexplore import Chemistry, dimers, initial_cells, isolated_atom, keys
from gapexplore.fit import GapSettings, fit_gap, load_potential
from gapexplore.label import label_structures, reference_calculator

pytestmark = pytest.mark.slow

#: Tolerance on the relaxed diamond energy [eV/atom] of the fit below (40 random cells, 6
#: rattled diamond cells at 5.25-5.65 Å, dimers, atom; light GAP; SW reference). Measured
#: over ten training sets (seeds 0-9 of this recipe): -2.8 to +0.7 meV/atom, and the same to
#: 0.01 meV under OPENBLAS_CORETYPE=Sandybridge (seeds 0-2). 10 meV/atom is 3.5x the worst
#: of ten. (Without the diamond cells the error is set by extrapolation and spreads from -41
#: to +95 meV/atom over ten seeds at 40 cells, -81 to +18 at 120: no fit test can rest on it.)
DIAMOND_TOLERANCE = 0.010
#: Training RMSE bounds: measured 23-39 meV/atom and 0.26-0.34 eV/Å over the ten sets.
ENERGY_RMSE_BOUND, FORCE_RMSE_BOUND = 0.05, 0.45


def _diamond_cells(rng):
    """Six 8-atom diamond cells around the minimum, rattled by 0.05 Å (what the fit must
    reproduce: the region of the known structure is in its training set)."""
    cells = []
    for a in np.linspace(5.25, 5.65, 6):
        atoms = bulk("Si", "diamond", a=a, cubic=True)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        cells.append(atoms)
    return cells


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
    rng = np.random.default_rng(0)
    structures = initial_cells(si, 40, rng=rng) + _diamond_cells(rng) + dimers(si) \
        + [isolated_atom(si)]
    labelled = label_structures(structures, "sw-si")
    workdir = tmp_path_factory.mktemp("gap")
    return fit_gap(labelled, si, workdir, settings=GapSettings.light(si)), labelled


def test_fit_reproduces_its_training_data(fitted):
    result, labelled = fitted
    assert result.potential.exists() and list(result.potential.parent.glob("gap.xml.sparseX*"))
    assert result.n_structures == len(labelled) - 1  # all but the isolated atom
    assert result.rmse_energy < ENERGY_RMSE_BOUND   # eV/atom over the periodic cells
    assert result.rmse_forces < FORCE_RMSE_BOUND    # eV/Å
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

    from gapexplore.fit.run import _potential_problem

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
