import numpy as np
import pytest

from gapexplore import InvalidParameterError, keys, select_structures
from gapexplore.select import (
    cur_indices,
    flat_histogram_indices,
    flat_histogram_probabilities,
    fps_indices,
    kernel_features,
    kt_for_iteration,
    random_indices,
    uncertainty_indices,
)


def test_flat_histogram_matches_the_formula():
    values = np.array([0.0, 0.05, 0.1, 0.1, 0.1, 0.95, 1.0, 1.0, 0.5, 0.52])
    kT = 0.2
    # numpy.histogram default: 10 equal bins over [0, 1]; counts per bin by hand
    bin_of = np.array([0, 0, 1, 1, 1, 9, 9, 9, 5, 5])
    counts = {0: 2, 1: 3, 5: 2, 9: 3}
    expected = np.exp(-values / kT) / np.array([counts[b] for b in bin_of])
    expected /= expected.sum()
    assert np.allclose(flat_histogram_probabilities(values, kT), expected, rtol=1e-12)


def test_flat_histogram_draws_without_replacement_and_favours_low_enthalpy():
    rng = np.random.default_rng(0)
    values = rng.uniform(-5.0, -3.0, 2000)
    picks = flat_histogram_indices(values, 300, 0.1, rng=rng)
    assert len(set(picks.tolist())) == 300
    assert np.median(values[picks]) < np.median(values) - 0.3
    assert np.array_equal(flat_histogram_indices(values, 5000, 0.1, rng=rng), np.arange(2000))


def test_flat_histogram_repeats_for_a_seed():
    values = np.linspace(0, 1, 50)
    a = flat_histogram_indices(values, 10, 0.3, rng=np.random.default_rng(5))
    b = flat_histogram_indices(values, 10, 0.3, rng=np.random.default_rng(5))
    assert np.array_equal(a, b)


def test_kt_schedule():
    assert [kt_for_iteration(i) for i in (1, 2, 3, 10)] == [0.3, 0.2, 0.1, 0.1]
    with pytest.raises(InvalidParameterError, match="'iteration' parameter"):
        kt_for_iteration(0)


def _clusters(sizes, dim=30, spread=0.01, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(size=(len(sizes), dim))) ** 4  # nearly orthogonal directions
    points = np.vstack([c + spread * rng.random((s, dim)) for c, s in zip(centres, sizes)])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points, np.repeat(np.arange(len(sizes)), sizes)


@pytest.mark.parametrize("stochastic", [False, True])
def test_kernel_cur_visits_every_cluster_before_any_twice(stochastic):
    points, label = _clusters([3, 12, 40, 90, 150])
    rng = np.random.default_rng(1)
    features = kernel_features(points, zeta=4, rng=rng)
    picks, scores = cur_indices(features, 12, stochastic=stochastic, rng=rng)
    assert sorted(label[picks[:5]].tolist()) == [0, 1, 2, 3, 4]
    assert len(set(picks.tolist())) == 12
    assert np.all(scores > 0) and np.all(scores <= 1)


def test_cur_rank_sums_leverage_over_more_directions():
    points, label = _clusters([5, 20, 60])
    features = kernel_features(points, rng=np.random.default_rng(0))
    picks, _ = cur_indices(features, 2, rank=2)
    assert sorted(label[picks].tolist()) == [0, 1]  # the two best-explained clusters
    # with rank 1 the first pick comes from the direction of largest variance instead
    assert label[cur_indices(features, 1, rank=1)[0][0]] == 2


def test_cur_excludes_the_database_and_its_neighbours():
    points, label = _clusters([10, 10, 10])
    database = np.flatnonzero(label == 1)[:1]
    picks, _ = cur_indices(kernel_features(points, rng=np.random.default_rng(0)), 2,
                           exclude=database)
    assert not set(picks.tolist()) & set(database.tolist())
    assert sorted(label[picks].tolist()) == [0, 2]  # cluster 1 is already represented


def test_cur_can_take_everything_and_never_repeats():
    points = np.ones((6, 4)) / 2.0  # identical structures: nothing to tell apart
    picks, _ = cur_indices(points, 6)
    assert sorted(picks.tolist()) == list(range(6))
    with pytest.raises(InvalidParameterError, match="'n' parameter of cur_indices"):
        cur_indices(points, 7)


def test_nystroem_factor_is_exact_for_small_pools_and_close_for_large():
    rng = np.random.default_rng(0)
    p = rng.random((300, 20))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    exact = (p @ p.T) ** 4
    f = kernel_features(p, zeta=4, rng=rng)
    assert np.abs(f @ f.T - exact).max() < 1e-8
    # a kernel of rank 35 (degree-4 polynomials of 4 variables) is caught by 100 landmarks
    q = rng.random((300, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    f_small = kernel_features(q, zeta=4, n_landmarks=100, rng=rng)
    assert f_small.shape == (300, 100)
    assert np.abs(f_small @ f_small.T - (q @ q.T) ** 4).max() < 1e-6


def test_random_baseline():
    picks = random_indices(10, 5, exclude=[0, 1], rng=np.random.default_rng(0))
    assert len(set(picks.tolist())) == 5 and not {0, 1} & set(picks.tolist())


def test_select_structures_two_step(si_cells, small_soap):
    cells = [a.copy() for a in si_cells]
    for i, atoms in enumerate(cells):
        atoms.info[keys.ENTHALPY_PER_ATOM] = -4.0 + 0.05 * i
    def run(seed):
        return select_structures(cells, 5, kT=0.1, n_histogram=20, soap=small_soap,
                                 rng=np.random.default_rng(seed))
    first, again = run(3), run(3)
    assert np.array_equal(first.indices, again.indices)
    assert len(first.pool) == 20 and set(first.indices.tolist()) <= set(first.pool.tolist())
    assert len(set(first.indices.tolist())) == 5
    assert first.histogram_probabilities.sum() == pytest.approx(1.0)
    for order, atoms in enumerate(first.structures):
        source = cells[atoms.info[keys.SELECT_SOURCE_INDEX]]
        assert np.array_equal(atoms.positions, source.positions)
        assert atoms.info[keys.SELECT_RANK] == order
        assert atoms.info[keys.SELECT_HISTOGRAM_PROBABILITY] > 0
        assert 0 < atoms.info[keys.SELECT_LEVERAGE] <= 1
    assert keys.SELECT_RANK not in cells[first.indices[0]].info  # inputs untouched


@pytest.mark.parametrize("method", ["kernel_cur", "vector_cur", "random"])
def test_select_structures_methods_and_database(si_cells, small_soap, method):
    database = si_cells[:10]
    pool = si_cells[10:]
    sel = select_structures(pool, 6, method=method, database=database, soap=small_soap,
                            rng=np.random.default_rng(0))
    assert len(sel.structures) == 6 and len(set(sel.indices.tolist())) == 6
    assert all(a.info[keys.SELECT_METHOD] == method for a in sel.structures)


def test_select_structures_explains_missing_enthalpies(si_cells, small_soap):
    with pytest.raises(InvalidParameterError, match="enthalpy_per_atom"):
        select_structures(si_cells, 3, kT=0.1, soap=small_soap, rng=np.random.default_rng(0))
    with pytest.raises(InvalidParameterError, match="'method' parameter"):
        select_structures(si_cells, 3, method="best", rng=np.random.default_rng(0))
    with pytest.raises(InvalidParameterError, match="'kT' parameter"):
        cells = [a.copy() for a in si_cells]
        for a in cells:
            a.info[keys.ENTHALPY_PER_ATOM] = -4.0
        select_structures(cells, 3, kT=-1, soap=small_soap, rng=np.random.default_rng(0))


def test_one_rule_for_the_kt_schedule():
    from gapexplore.run import ExploreSettings
    from gapexplore.select import kt_for_iteration

    assert [kt_for_iteration(i) for i in (1, 2, 3, 9)] == [0.3, 0.2, 0.1, 0.1]  # the paper's
    assert kt_for_iteration(4, (0.5, 0.25)) == 0.25
    settings = ExploreSettings(kT=(0.4, 0.2))
    assert [settings.kt_for(i) for i in (1, 2, 5)] == [0.4, 0.2, 0.2]


# --- the authors' leverage sampling --------------------------------------------------------

def _orthogonal_rows():
    """Rows Φ whose two columns are orthogonal: the singular vectors of K = Φ Φᵀ are the
    normalised columns, so the leverage is known by hand."""
    return np.array([[3.0, 0.0], [0.0, 2.0], [0.0, 1.0], [0.001, 0.0]])


def test_leverage_sampling_scores_are_the_top_singular_vectors_squared():
    from gapexplore.select import leverage_indices

    phi = _orthogonal_rows()
    c1, c2 = phi[:, 0] ** 2 / 9.000001, phi[:, 1] ** 2 / 5.0   # squared unit columns
    picked, scores = leverage_indices(phi, 2, k=2, stochastic=False)
    assert list(picked) == [0, 1]
    assert scores == pytest.approx(((c1 + c2) / 2)[[0, 1]], rel=1e-9)
    # k = 1 (the default for n = 2): the largest singular vector alone
    picked, scores = leverage_indices(phi, 2, stochastic=False)
    assert list(picked) == [0, 3] and scores[0] == pytest.approx(c1[0])
    # the database is in the kernel but never drawn
    picked, _ = leverage_indices(phi, 2, k=2, stochastic=False, exclude=[0])
    assert list(picked) == [1, 2]


def test_leverage_from_the_factor_equals_leverage_from_the_kernel(si_cells, small_soap):
    """Independently: the eigenvectors of the kernel matrix itself."""
    from gapexplore import averaged_soap
    from gapexplore.select import kernel_features, leverage_indices

    vectors = averaged_soap(si_cells[:20], small_soap)
    kernel = (vectors @ vectors.T) ** 4
    values, vectors_k = np.linalg.eigh(kernel)
    top = vectors_k[:, np.argsort(values)[::-1][:3]]
    expected = np.sum(top ** 2, axis=1) / 3
    phi = kernel_features(vectors, zeta=4, rng=np.random.default_rng(0))
    picked, scores = leverage_indices(phi, 20, k=3, stochastic=False)
    assert scores == pytest.approx(expected[picked] / expected.sum(), abs=1e-9)


def test_leverage_sampling_draws_in_proportion_to_leverage():
    from gapexplore.select import leverage_indices

    phi = _orthogonal_rows()
    expected = np.array([0.5, 0.4, 0.1, 0.0])     # (c1² + c2²) / 2, to 1e-7
    rng = np.random.default_rng(20)
    first = [int(leverage_indices(phi, 1, k=2, rng=rng)[0][0]) for _ in range(4000)]
    frequency = np.bincount(first, minlength=4) / 4000
    # binomial standard error at 4000 draws is at most 0.008: 0.03 is about 4 of them
    assert frequency == pytest.approx(expected, abs=0.03)
    drawn = leverage_indices(phi, 3, k=2, rng=np.random.default_rng(1))[0]
    assert len(set(drawn)) == 3 and 3 not in drawn   # without replacement, none at zero


def test_select_structures_with_the_authors_sampling(si_cells, small_soap):
    from gapexplore import keys, select_structures

    database = si_cells[30:]
    selection = select_structures(si_cells[:30], 6, rng=np.random.default_rng(3),
                                  method="kernel_leverage", soap=small_soap,
                                  database=database)
    assert len(set(selection.indices)) == 6 and max(selection.indices) < 30
    assert all(a.info[keys.SELECT_METHOD] == "kernel_leverage" for a in selection.structures)
    again = select_structures(si_cells[:30], 6, rng=np.random.default_rng(3),
                              method="kernel_leverage", soap=small_soap, database=database)
    assert list(again.indices) == list(selection.indices)


def test_farthest_point_sampling_starts_from_the_database():
    from gapexplore.select import fps_indices

    line = np.array([[0.0], [1.0], [2.0], [10.0], [9.5]])
    picked, distances = fps_indices(line, 3, exclude=[0])
    # farthest from 0 is 10; then from {0, 10}: 2 (2 away) beats 1 (1) and 9.5 (0.5)
    assert list(picked) == [3, 2, 1] and list(distances) == pytest.approx([10.0, 2.0, 1.0])
    drawn, _ = fps_indices(line, 2, rng=np.random.default_rng(0))  # no database: random start
    assert len(set(drawn)) == 2
    with pytest.raises(Exception, match="rng"):
        fps_indices(line, 1)


def test_select_structures_by_farthest_points(si_cells, small_soap):
    from gapexplore import keys, select_structures

    selection = select_structures(si_cells[:30], 5, rng=np.random.default_rng(3),
                                  method="kernel_fps", soap=small_soap,
                                  database=si_cells[30:])
    assert len(set(selection.indices)) == 5
    assert all(a.info[keys.SELECT_METHOD] == "kernel_fps" for a in selection.structures)


def test_uncertainty_takes_the_largest_errors_one_per_relaxation_first():
    errors = [0.1, 0.5, 0.4, 0.3, np.nan]
    groups = [0, 1, 1, 2, 3]
    assert uncertainty_indices(errors, 3, groups=groups).tolist() == [1, 3, 0]
    assert uncertainty_indices(errors, 5, groups=groups).tolist() == [1, 3, 0, 4, 2]
    assert uncertainty_indices(errors, 2).tolist() == [1, 2]   # no groups: plain top-n
    with pytest.raises(InvalidParameterError, match="groups"):
        uncertainty_indices(errors, 2, groups=[0, 1])


def test_uncertainty_selection_needs_the_gap_before_any_work(si_cells, monkeypatch):
    import gapexplore.select.base as base
    import gapexplore.select.selectors as selectors

    monkeypatch.setattr(selectors, "averaged_soap", None)   # would fail if reached
    monkeypatch.setattr(base, "predicted_errors", None)
    with pytest.raises(InvalidParameterError, match="potential"):
        select_structures(si_cells, 3, rng=np.random.default_rng(0), method="uncertainty")


@pytest.mark.parametrize("rank", [1, 3])
def test_deflation_cur_picks_what_scikit_matter_picks(rank):
    """The oracle: scikit-matter's CUR, recomputed after every pick (``recompute_every=1``)
    with orthogonalisation, is the deterministic deflation CUR; on a kernel it is given an
    independent factor (the eigendecomposition of K), ours the Nyström rows."""
    from skmatter.sample_selection import CUR

    rng = np.random.default_rng(rank)
    for _ in range(3):
        x = rng.normal(size=(60, 12)) * np.linspace(3.0, 0.5, 12)
        # 8 picks: the residual keeps more directions than the rank (past that the two
        # differ only in how they treat null directions)
        oracle = CUR(n_to_select=8, recompute_every=1, k=rank).fit(x).selected_idx_
        assert cur_indices(x, 8, rank=rank)[0].tolist() == oracle.tolist()
        p = rng.random((80, 10))
        p /= np.linalg.norm(p, axis=1, keepdims=True)
        values, vectors = np.linalg.eigh((p @ p.T) ** 4)
        factor = vectors * np.sqrt(np.clip(values, 0.0, None))
        oracle = CUR(n_to_select=12, recompute_every=1, k=rank).fit(factor).selected_idx_
        ours = cur_indices(kernel_features(p, zeta=4, rng=rng), 12, rank=rank)[0]
        assert ours.tolist() == oracle.tolist()


def test_farthest_point_sampling_picks_what_scikit_matter_picks():
    """The oracle: scikit-matter's FPS started from the database's one structure."""
    from skmatter.sample_selection import FPS

    rng = np.random.default_rng(7)
    for start in (0, 13, 41):
        x = rng.normal(size=(50, 6))
        oracle = FPS(n_to_select=10, initialize=start).fit(x).selected_idx_
        assert oracle[0] == start
        assert fps_indices(x, 9, exclude=[start])[0].tolist() == oracle[1:].tolist()
