"""The selection methods as objects: every method, at several seeds, picks what
:func:`gapexplore.select_structures` picked before the methods were objects."""

import numpy as np
import pytest
from ase.build import bulk

from gapexplore import (
    Chemistry,
    GapSettings,
    dimers,
    fit_gap,
    isolated_atom,
    keys,
    label_structures,
    select_structures,
)
from gapexplore.select import METHODS

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
    workdir = tmp_path_factory.mktemp("gap")
    fit_gap(label_structures(structures, "sw-si"), SI, workdir, settings=GapSettings.light(SI))
    return sorted(workdir.glob("*.xml"))[0]


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
