"""The selection methods as objects: every method, at several seeds, picks what
:func:`gapexplore.select_structures` picked before the methods were objects."""

import inspect

import numpy as np
import pytest
from ase.build import bulk

from gapexplore import (
    Chemistry,
    GapSettings,
    InvalidParameterError,
    dimers,
    fit_gap,
    isolated_atom,
    keys,
    label_structures,
    select_structures,
)
from gapexplore.select import (
    METHODS,
    SELECTORS,
    KernelCUR,
    KernelFPS,
    RandomSelector,
    Selector,
    UncertaintySelector,
    VectorCUR,
)

SI = Chemistry.of("Si")
SEEDS = (0, 1, 2019)

#: Indices that select_structures chose on the inputs below (30 candidates with enthalpies,
#: three frames per relaxation, a database of 10 cells; 5 chosen, 15 passed on by the flat
#: histogram), computed by the implementation with one if/elif branch per method, at the
#: seeds of SEEDS: the methods as objects must choose the same, bit for bit.
GOLDEN = [
    ('kernel_cur', None, {},
     [[9, 7, 22, 10, 21], [9, 7, 22, 10, 21], [9, 7, 22, 10, 21]]),
    ('kernel_cur', 0.1, {},
     [[7, 18, 21, 4, 15], [9, 7, 22, 5, 18], [9, 13, 22, 5, 15]]),
    ('kernel_cur', None, {'stochastic': True, 'rank': 2},
     [[7, 4, 3, 22, 20], [20, 6, 25, 7, 17], [9, 8, 25, 7, 18]]),
    ('kernel_cur', 0.1, {'stochastic': True, 'rank': 2},
     [[18, 21, 7, 11, 28], [8, 25, 22, 9, 7], [9, 22, 21, 13, 5]]),
    ('kernel_cur', None, {'center': True},
     [[10, 22, 5, 16, 13], [10, 22, 5, 16, 13], [10, 22, 5, 16, 13]]),
    ('kernel_cur', 0.1, {'center': True},
     [[7, 21, 18, 4, 15], [9, 22, 18, 5, 7], [9, 22, 5, 13, 21]]),
    ('kernel_leverage', None, {},
     [[8, 2, 1, 20, 25], [27, 6, 26, 9, 10], [11, 9, 28, 7, 10]]),
    ('kernel_leverage', 0.1, {},
     [[18, 15, 28, 27, 21], [12, 28, 18, 14, 7], [12, 14, 22, 15, 9]]),
    ('kernel_fps', None, {},
     [[16, 7, 10, 18, 22], [16, 7, 10, 18, 22], [16, 7, 10, 18, 22]]),
    ('kernel_fps', 0.1, {},
     [[7, 18, 21, 15, 19], [9, 7, 18, 22, 25], [9, 13, 22, 21, 25]]),
    ('kernel_fps', None, {'center': True},
     [[16, 7, 10, 18, 22], [16, 7, 10, 18, 22], [16, 7, 10, 18, 22]]),
    ('kernel_fps', 0.1, {'center': True},
     [[7, 18, 21, 15, 19], [9, 7, 18, 22, 25], [9, 13, 22, 21, 25]]),
    ('vector_cur', None, {},
     [[16, 7, 22, 10, 13], [16, 7, 22, 10, 13], [16, 7, 22, 10, 13]]),
    ('vector_cur', 0.1, {},
     [[7, 21, 18, 4, 28], [9, 7, 22, 18, 5], [9, 22, 5, 13, 21]]),
    ('vector_cur', None, {'stochastic': True},
     [[16, 7, 6, 5, 22], [10, 22, 7, 27, 5], [6, 7, 16, 22, 3]]),
    ('vector_cur', 0.1, {'stochastic': True},
     [[7, 21, 18, 19, 4], [7, 9, 28, 22, 18], [25, 22, 13, 21, 9]]),
    ('vector_cur', None, {'center': True},
     [[10, 22, 5, 13, 16], [10, 22, 5, 13, 16], [10, 22, 5, 13, 16]]),
    ('vector_cur', 0.1, {'center': True},
     [[21, 18, 7, 4, 15], [22, 7, 5, 18, 9], [22, 5, 13, 9, 21]]),
    ('uncertainty', None, {},
     [[18, 7, 2, 17, 3], [18, 7, 2, 17, 3], [18, 7, 2, 17, 3]]),
    ('uncertainty', 0.1, {},
     [[18, 7, 15, 21, 11], [18, 7, 15, 11, 24], [15, 26, 21, 11, 28]]),
    ('random', None, {},
     [[17, 14, 7, 9, 22], [13, 1, 21, 27, 12], [7, 12, 10, 15, 3]]),
    ('random', 0.1, {},
     [[0, 24, 15, 1, 19], [7, 0, 25, 11, 4], [4, 13, 26, 24, 21]]),
]


@pytest.fixture(scope="module")
def inputs(si_cells):
    candidates = [a.copy() for a in si_cells[:30]]
    for i, atoms in enumerate(candidates):
        atoms.info[keys.ENTHALPY_PER_ATOM] = -4.3 + 0.37 * ((7 * i) % 24) / 24
        atoms.info[keys.RELAX_ID] = i // 3
    return candidates, si_cells[30:]


@pytest.fixture(scope="module")
def gap(si_cells, tmp_path_factory):
    """A light GAP fitted to a few Stillinger-Weber labels: its XML file."""
    structures = [a.copy() for a in si_cells[:4]] + [bulk("Si", "diamond", a=5.5, cubic=True)] \
        + dimers(SI, [1.8, 2.3, 3.0, 4.0]) + [isolated_atom(SI)]
    return fit_gap(label_structures(structures, "sw-si"), SI, tmp_path_factory.mktemp("gap"),
                   settings=GapSettings.light(SI)).potential


def test_the_golden_table_covers_every_method():
    assert {method for method, *_ in GOLDEN} == set(METHODS)


def _id(method, kT, options):
    return "-".join([method, f"kT{kT}"] + [f"{k}{v}" for k, v in options.items()])


@pytest.mark.parametrize("method, kT, options, expected", [
    pytest.param(*row, id=_id(*row[:3])) for row in GOLDEN])
def test_select_structures_picks_what_it_picked(inputs, gap, small_soap, method, kT,
                                                options, expected):
    candidates, database = inputs
    potential = gap if method == "uncertainty" else None
    picked = [select_structures(candidates, 5, rng=np.random.default_rng(seed), kT=kT,
                                n_histogram=15, method=method, soap=small_soap,
                                database=database, potential=potential,
                                **options).indices.tolist() for seed in SEEDS]
    assert picked == expected


def test_the_registry_maps_the_names_users_give_to_the_classes():
    assert METHODS == ("kernel_cur", "kernel_leverage", "kernel_fps", "vector_cur",
                       "uncertainty", "random")
    assert tuple(SELECTORS) == METHODS
    for name, cls in SELECTORS.items():
        assert issubclass(cls, Selector) and cls.name == name


@pytest.mark.parametrize("method", METHODS)
def test_every_setting_has_its_constraint(method):
    """The settings of __init__ are exactly the ones declared with their allowed values."""
    cls = SELECTORS[method]
    settings = set(inspect.signature(cls).parameters)
    assert settings == set(cls.parameters())
    assert set(cls().get_params()) == settings


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kT", [None, 0.1])
def test_selector_objects_choose_what_select_structures_chooses(inputs, gap, small_soap,
                                                                method, kT):
    """Indices, leverage, pool, probabilities and the chosen structures, to the bit (with
    the predicted errors of a GAP where it costs little: from the 15 the histogram keeps)."""
    candidates, database = inputs
    cls = SELECTORS[method]
    gap = gap if method == "uncertainty" or kT is not None else None
    given = dict(kT=kT, n_histogram=15, soap=small_soap, potential=gap)
    selector = cls(**{k: v for k, v in given.items() if k in cls.parameters()})
    for seed in (0, 5):
        a = selector.select(candidates, 5, rng=np.random.default_rng(seed), database=database)
        b = select_structures(candidates, 5, rng=np.random.default_rng(seed), kT=kT,
                              n_histogram=15, method=method, soap=small_soap,
                              database=database, potential=gap)
        assert np.array_equal(a.indices, b.indices) and np.array_equal(a.pool, b.pool)
        assert np.array_equal(a.leverage, b.leverage, equal_nan=True)
        assert (a.histogram_probabilities is None) == (kT is None)
        if kT is not None:
            assert np.array_equal(a.histogram_probabilities, b.histogram_probabilities)
        for x, y in zip(a.structures, b.structures, strict=True):
            assert np.array_equal(x.positions, y.positions)
            assert x.info.keys() == y.info.keys() and x.info[keys.SELECT_METHOD] == method
            assert all(x.info[k] == y.info[k] or np.isnan(x.info[k]) and np.isnan(y.info[k])
                       for k in x.info)
            assert (keys.SELECT_PREDICTED_ERROR in x.info) == (gap is not None)


def test_settings_are_stored_as_given_and_checked_when_selecting(si_cells):
    """As scikit-learn's estimators: __init__ stores, select checks (before any work)."""
    selector = KernelCUR(rank=0, n_landmarks=10)
    assert selector.rank == 0 and selector.get_params()["n_landmarks"] == 10
    assert repr(selector).startswith("KernelCUR(kT=None, ")
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with pytest.raises(InvalidParameterError,
                       match=r"The 'rank' parameter of KernelCUR.select must be an int >= 1"):
        selector.select(si_cells[:5], 2, rng=rng)
    assert rng.bit_generator.state == state


@pytest.mark.parametrize("selector, parameter", [
    (KernelCUR(kT=0.0), "kT"),
    (KernelCUR(kT="hot"), "kT"),
    (KernelCUR(stochastic=1), "stochastic"),
    (KernelCUR(species="Si"), "species"),
    (KernelCUR(n_jobs=0), "n_jobs"),
    (KernelFPS(center=None), "center"),
    (VectorCUR(rank=1.5), "rank"),
    (RandomSelector(n_histogram=-1), "n_histogram"),
    (UncertaintySelector(), "potential"),
])
def test_each_declared_constraint_refuses(si_cells, selector, parameter):
    with pytest.raises(InvalidParameterError, match=f"'{parameter}' parameter of "
                       f"{type(selector).__name__}.select"):
        selector.select(si_cells[:5], 2, rng=np.random.default_rng(0))


def test_the_bases_are_not_methods():
    from gapexplore.select.selectors import KernelSelector, SoapSelector

    for base in (Selector, SoapSelector, KernelSelector):
        with pytest.raises(TypeError, match="abstract"):
            base()


def test_a_method_is_a_small_subclass(si_cells):
    """A new method fills one hook and gets the flat histogram and the scores in info."""
    class Lightest(Selector):
        name = "lightest"

        def _pick(self, task, n, *, rng):
            volumes = [a.get_volume() / len(a) for a in task.structures]
            return np.argsort(volumes, kind="stable")[:n], np.full(n, np.nan)

    cells = [a.copy() for a in si_cells[:12]]
    for i, atoms in enumerate(cells):
        atoms.info[keys.ENTHALPY_PER_ATOM] = -4.0 + 0.01 * i
    chosen = Lightest(kT=0.1, n_histogram=6).select(cells, 3, rng=np.random.default_rng(1))
    assert len(chosen.pool) == 6 and set(chosen.indices) <= set(chosen.pool)
    assert [a.info[keys.SELECT_METHOD] for a in chosen.structures] == ["lightest"] * 3
    volumes = [cells[i].get_volume() / len(cells[i]) for i in chosen.pool]
    assert sorted(volumes)[:3] == [a.get_volume() / len(a) for a in chosen.structures]
