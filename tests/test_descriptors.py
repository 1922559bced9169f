from dataclasses import replace

import numpy as np
import pytest
from ase import Atoms
from dscribe.descriptors import SOAP

from gapexplore import InvalidParameterError, SoapSettings, averaged_soap, soap_kernel
from gapexplore.describe import BACKENDS


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


# --- backends: QUIP (the authors' code) and dscribe -------------------------------------

def _two_cells():
    """A 2-atom and a 3-atom triclinic Si cell whose atoms are not equivalent."""
    a = Atoms("Si2", scaled_positions=[[0, 0, 0], [0.27, 0.22, 0.31]], pbc=True,
              cell=[[3.9, 0, 0], [0.6, 3.7, 0], [0.3, -0.4, 4.1]])
    b = Atoms("Si3", scaled_positions=[[0, 0, 0], [0.35, 0.1, 0.5], [0.6, 0.7, 0.2]],
              pbc=True, cell=[[4.6, 0, 0], [-0.5, 4.2, 0], [0.2, 0.7, 4.4]])
    return a, b


def _neighbour_vectors(atoms, r_cut):
    """For each atom, the vectors to every atom (itself included) and periodic image
    closer than ``r_cut`` [Å]."""
    cell = atoms.cell[:]
    widths = abs(np.linalg.det(cell)) / np.linalg.norm(
        np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    reach = np.ceil(r_cut / widths).astype(int)
    shifts = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in reach], indexing="ij"),
                      -1).reshape(-1, 3) @ cell
    for position in atoms.positions:
        d = (atoms.positions[None] + shifts[:, None] - position).reshape(-1, 3)
        yield d[np.linalg.norm(d, axis=1) < r_cut]


def _eq1_coefficients(atoms, s, width=0.5, exponent=10.0):
    """Eq. 1 per atom in QUIP's basis, from the definitions (numpy and scipy, no QUIP).

    ρ_i, a sum of Gaussians exp(−|r − r_ij|²/2σ²) (times a cosine cutoff ``width`` wide
    ending at r_cut, and the atom itself at r_ij = 0), projected on Y_lm: its radial part
    is 4π exp(−α(r² + r_ij²)) i_l(2α r r_ij) Y*_lm(r̂_ij), α = 1/2σ². Like QUIP's
    EQUISPACED_GAUSS basis, it is sampled at n_max grid points r_a spaced
    (r_cut + σ √(2·10 ln 10)) / n_max apart from 0, the samples f are interpolated by
    Gaussians g_a = exp(−α (r − r_a)²) (coefficients C⁻¹ f) and those are orthonormalised
    in ∫ r² dr (overlap S = L Lᵀ): c_n = (Lᵀ C⁻¹ f)_n. Returns, per atom, a list over l of
    (n_max, 2l+1) arrays.
    """
    from scipy.integrate import quad
    from scipy.special import ive, sph_harm_y

    alpha = 0.5 / s.sigma ** 2
    grid = np.arange(s.n_max) * (s.r_cut + s.sigma * np.sqrt(2 * exponent * np.log(10))) / s.n_max
    gauss = np.exp(-alpha * (grid[:, None] - grid[None, :]) ** 2)

    def gauss_overlap(p, q):     # ∫ r² g_p g_q dr, numerically
        return quad(lambda r: r * r * np.exp(-alpha * ((r - p) ** 2 + (r - q) ** 2)),
                    0, grid[-1] + 12 * s.sigma, points=[(p + q) / 2], limit=200)[0]

    overlap = np.array([[gauss_overlap(p, q) for q in grid] for p in grid])
    to_orthonormal = np.linalg.solve(gauss, np.linalg.cholesky(overlap)).T
    per_atom = []
    for d in _neighbour_vectors(atoms, s.r_cut):
        r = np.linalg.norm(d, axis=1)
        f_cut = np.where(r < s.r_cut - width, 1.0,
                         0.5 * (1 + np.cos(np.pi * (r - s.r_cut + width) / width)))
        polar = np.arccos(np.clip(d[:, 2] / np.where(r > 0, r, 1.0), -1, 1))
        azimuth = np.arctan2(d[:, 1], d[:, 0])
        x = 2 * alpha * r[:, None] * grid[None, :]
        coefficients = []
        for ell in range(s.l_max + 1):
            with np.errstate(divide="ignore", invalid="ignore"):   # i_l(x) e^-x, then x = 0
                radial = (ive(ell + 0.5, x) * np.sqrt(np.pi / (2 * x))
                          * np.exp(-alpha * (r[:, None] - grid[None, :]) ** 2))
            at_zero = np.exp(-alpha * (r[:, None] ** 2 + grid[None, :] ** 2)) * (ell == 0)
            radial = np.where(x > 0, radial, at_zero)
            harmonics = sph_harm_y(ell, np.arange(-ell, ell + 1)[None, :], polar[:, None],
                                   azimuth[:, None]).conj()
            samples = np.einsum("j,ja,jm->am", f_cut, radial, harmonics)
            coefficients.append(to_orthonormal @ samples)
        per_atom.append(coefficients)
    return per_atom


def _power_spectrum(coefficients, *, full=True):
    """Eq. 3, p_nn'l = Σ_m c*_nlm c_n'lm, with Bartók's weight 1/√(2l+1) (as QUIP); all
    (n, n') when ``full`` (Eq. 4's sum), else n ≤ n' only. Normalised."""
    parts = []
    for ell, c in enumerate(coefficients):
        p = (c.conj() @ c.T).real / np.sqrt(2 * ell + 1)
        parts.append(p.ravel() if full else p[np.triu_indices(len(p))])
    p = np.concatenate(parts)
    return p / np.linalg.norm(p)


def _eq4(a, b, s, *, average="coefficients", full=True):
    """k_AB of Eq. 4 from Eq. 1 coefficients, averaged as Eq. 2 (or, to show the test can
    tell, the atomic spectra averaged instead)."""
    spectra = []
    for atoms in (a, b):
        per_atom = _eq1_coefficients(atoms, s)
        if average == "coefficients":
            mean = [np.mean([c[ell] for c in per_atom], axis=0) for ell in range(s.l_max + 1)]
            spectra.append(_power_spectrum(mean, full=full))
        else:
            p = np.mean([_power_spectrum(c, full=full) for c in per_atom], axis=0)
            spectra.append(p / np.linalg.norm(p))
    return float(spectra[0] @ spectra[1]) ** s.zeta


@pytest.mark.parametrize("backend", ["quip", "quippy"])
@pytest.mark.parametrize("settings", [SoapSettings.paper(),
                                      SoapSettings(n_max=6, l_max=5, sigma=0.5, r_cut=5.0)],
                         ids=["paper", "overlapping-basis"])
def test_quip_kernel_is_eqs_2_to_4(settings, backend):
    """Known answer: the paper's kernel recomputed from Eq. 1 in the test."""
    settings = replace(settings, backend=backend)
    a, b = _two_cells()
    expected = _eq4(a, b, settings)
    got = soap_kernel(averaged_soap([a, b], settings), zeta=settings.zeta)[0, 1]
    assert got == pytest.approx(expected, abs=1e-9)
    # the test can tell the paper's kernel from its two likely mistakes
    assert abs(_eq4(a, b, settings, full=False) - expected) > 1e-5            # n≠n' once
    assert abs(_eq4(a, b, settings, average="spectra") - expected) > 1e-5    # not Eq. 2


def test_quip_vectors_compare_across_calls_and_processes(si_cells, small_soap):
    quip = replace(small_soap, backend="quip")
    mixed = si_cells[3].copy()
    mixed.symbols[0] = "C"
    together = averaged_soap([si_cells[0], mixed, si_cells[1]], quip, n_jobs=2)
    alone = averaged_soap([si_cells[0]], quip, species=["Si", "C"])
    assert together.shape == (3, alone.shape[1])
    assert np.allclose(together[0], alone[0], atol=1e-12)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0)
    serial = averaged_soap(si_cells[:3], quip)
    assert np.allclose(averaged_soap(si_cells[:3], quip, n_jobs=2), serial, atol=1e-14)


def test_quip_invariances(si_cells, small_soap):
    quip = replace(small_soap, backend="quip")
    atoms = si_cells[25].copy()
    rotated = atoms.copy()
    rotated.rotate(37, (1, 2, 3), rotate_cell=True)
    permuted = atoms[np.random.default_rng(0).permutation(len(atoms))]
    vectors = averaged_soap([atoms, rotated, permuted, atoms.repeat((2, 1, 2))], quip)
    assert np.allclose(vectors, vectors[0], atol=1e-8)


def test_bad_backend_species_or_box_refused_before_any_work(si_cells, monkeypatch):
    import gapexplore.describe as describe

    def no_work(*args, **kwargs):
        raise AssertionError("SOAP was computed")

    monkeypatch.setattr(describe, "_dscribe_vectors", no_work)
    monkeypatch.setattr(describe, "_quip_vectors", no_work)
    monkeypatch.setattr(describe, "_summed_vectors", no_work)
    message = "'backend' parameter of SoapSettings must be one of 'dscribe', 'quip', 'quippy'"
    with pytest.raises(InvalidParameterError, match=message):
        SoapSettings(backend="QUIP")
    with pytest.raises(InvalidParameterError, match="'backend' parameter"):
        replace(SoapSettings.fast(), backend=None)
    forged = SoapSettings.fast()
    object.__setattr__(forged, "backend", "librascal")     # past the frozen dataclass
    with pytest.raises(InvalidParameterError, match="'backend' parameter of averaged_soap"):
        averaged_soap(si_cells[:2], forged)
    with pytest.raises(InvalidParameterError, match="'species' parameter of averaged_soap"):
        averaged_soap(si_cells[:2], SoapSettings.fast("quip"), species=["C"])
    unboxed = Atoms("Si2", positions=[[0, 0, 0], [0, 0, 2.3]])
    for backend in BACKENDS:
        with pytest.raises(InvalidParameterError, match="zero-volume cell at position 1"):
            averaged_soap([si_cells[0], unboxed], SoapSettings.fast(backend))
