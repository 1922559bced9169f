import numpy as np
import pytest
from dscribe.descriptors import SOAP

from gapexplore import InvalidParameterError, SoapSettings, averaged_soap, soap_kernel


def test_invariances(si_cells, small_soap):
    atoms = si_cells[25].copy()
    reference = averaged_soap([atoms], small_soap)[0]
    rotated = atoms.copy()
    rotated.rotate(37, (1, 2, 3), rotate_cell=True)
    permuted = atoms[np.random.default_rng(0).permutation(len(atoms))]
    supercell = atoms.repeat((2, 1, 2))
    shifted = atoms.copy()
    shifted.translate([0.3, -1.1, 2.0])
    shifted.wrap()
    others = averaged_soap([rotated, permuted, supercell, shifted], small_soap)
    for vector in others:
        assert np.allclose(vector, reference, atol=1e-6)


def test_vectors_are_normalised_and_inputs_untouched(si_cells, small_soap):
    cells = si_cells[:5]
    before = [a.copy() for a in cells]
    vectors = averaged_soap(cells, small_soap)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    for a, b in zip(cells, before):
        assert a == b and a.info == b.info


def test_inner_average_is_not_the_average_of_atomic_spectra(si_cells, small_soap):
    atoms = si_cells[30]
    inner = averaged_soap([atoms], small_soap)[0]
    outer = SOAP(species=["Si"], r_cut=small_soap.r_cut, n_max=small_soap.n_max,
                 l_max=small_soap.l_max, sigma=small_soap.sigma, periodic=True,
                 average="outer").create(atoms)
    outer = outer / np.linalg.norm(outer)
    assert np.linalg.norm(inner - outer) > 1e-2


def test_paper_settings_run_and_distinguish(si_cells):
    vectors = averaged_soap(si_cells[:3], SoapSettings.paper())
    assert vectors.shape == (3, 13 * 12 * 13 // 2)
    assert np.all(np.isfinite(vectors))
    kernel = soap_kernel(vectors)
    assert np.allclose(np.diag(kernel), 1.0)
    assert kernel[0, 1] < 1.0 - 1e-6


def test_kernel_is_eq4():
    rng = np.random.default_rng(0)
    p = rng.random((4, 6))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    k = soap_kernel(p, zeta=4)
    assert k[1, 2] == pytest.approx(np.dot(p[1], p[2]) ** 4)
    assert np.allclose(k, k.T)


def test_bad_settings():
    with pytest.raises(InvalidParameterError, match="'sigma' parameter of SoapSettings"):
        SoapSettings(sigma=0)
    with pytest.raises(InvalidParameterError, match="'settings' parameter"):
        averaged_soap([], settings={"n_max": 4})
