"""Shared fixtures and contract checks for the gapexplore test suite."""

import numpy as np
import pytest

from gapexplore import Chemistry, SoapSettings, initial_cells


@pytest.fixture
def si():
    return Chemistry.of("Si")


@pytest.fixture(scope="session")
def si_cells():
    """A fixed set of 40 iteration-0 random Si cells (half wide, half narrow)."""
    return initial_cells(Chemistry.of("Si"), 40, rng=np.random.default_rng(2019))


@pytest.fixture(scope="session")
def small_soap():
    """Cheap averaged-SOAP settings for tests that are not about the settings."""
    return SoapSettings(n_max=4, l_max=4, sigma=0.5, r_cut=5.0)


def same_structures(a, b):
    """Whether two lists of Atoms hold the same cells, positions and numbers."""
    return len(a) == len(b) and all(
        np.array_equal(x.numbers, y.numbers)
        and np.allclose(x.cell[:], y.cell[:], atol=0, rtol=0)
        and np.allclose(x.positions, y.positions, atol=0, rtol=0)
        for x, y in zip(a, b)
    )
