"""The structure-summed averaged SOAP (backend "quip") against quippy's own (backend "quippy")."""

from dataclasses import replace

import numpy as np
import pytest
from ase import Atoms

from gapexplore import InvalidParameterError, SoapSettings, averaged_soap
from gapexplore.soap_average import soap_length, summed_averaged_soap

PAPER = SoapSettings.paper(backend="quip")
FAST = SoapSettings.fast(backend="quip")
SETTINGS = pytest.mark.parametrize("settings", [PAPER, FAST], ids=["paper", "fast"])


def _small_cells():
    """Cells far smaller than the cutoff: one atom, and two in a skewed box."""
    one = Atoms("Si", positions=[[0, 0, 0]], cell=[[2.6, 0, 0], [0.4, 2.5, 0], [0, 0.3, 2.7]],
                pbc=True)
    two = Atoms("Si2", scaled_positions=[[0, 0, 0], [0.27, 0.22, 0.31]], pbc=True,
                cell=[[3.9, 0, 0], [0.6, 3.7, 0], [0.3, -0.4, 4.1]])
    return [one, two]


def _silicon_carbide(si_cells):
    """Random cells with every third atom (from the second on) turned into carbon."""
    cells = []
    for atoms in si_cells[10:14]:
        atoms = atoms.copy()
        atoms.symbols[1::3] = "C"
        cells.append(atoms)
    return cells


@SETTINGS
def test_silicon_matches_quippy(si_cells, settings):
    cells = _small_cells() + si_cells[:4] + si_cells[-2:]
    summed = averaged_soap(cells, settings)
    quippy = averaged_soap(cells, replace(settings, backend="quippy"))
    assert summed.shape == quippy.shape == (len(cells), soap_length(settings.n_max,
                                                                    settings.l_max, 1))
    assert np.abs(summed - quippy).max() < 1e-10


@SETTINGS
def test_two_species_match_quippy(si_cells, settings):
    cells = _silicon_carbide(si_cells) + [si_cells[5]] + [_small_cells()[1]]
    cells[-1].symbols[0] = "C"
    summed = averaged_soap(cells, settings, species=["Si", "C"])
    quippy = averaged_soap(cells, replace(settings, backend="quippy"), species=["Si", "C"])
    assert summed.shape == quippy.shape == (len(cells), soap_length(settings.n_max,
                                                                    settings.l_max, 2))
    assert np.abs(summed - quippy).max() < 1e-10


def _odd_l(settings, n_species):
    """Mask of the vector entries with odd l (QUIP's layout: l runs fastest)."""
    ell = np.arange(soap_length(settings.n_max, settings.l_max, n_species)) % (settings.l_max + 1)
    return ell % 2 == 1


def test_odd_l_vanish_for_one_species_only(si_cells):
    """For one species the odd-l entries are zero in quippy's vectors too (so skipping
    them loses nothing); with two species they are not, and are computed."""
    quippy = averaged_soap(si_cells[:3], SoapSettings.fast(backend="quippy"))
    assert np.abs(quippy[:, _odd_l(FAST, 1)]).max() < 1e-14
    assert np.abs(quippy[:, ~_odd_l(FAST, 1)]).max() > 0.1
    mixed = averaged_soap(_silicon_carbide(si_cells), FAST, species=["Si", "C"])
    assert np.abs(mixed[:, _odd_l(FAST, 2)]).max() > 1e-3


def test_any_chunking_and_any_split_over_processes_give_the_same(si_cells):
    cells = _silicon_carbide(si_cells)[:2] + si_cells[:3] + _small_cells()
    kwargs = dict(n_max=6, l_max=5, sigma=0.5, r_cut=5.0, species=[6, 14])
    whole = summed_averaged_soap(cells, **kwargs)
    for pairs_per_chunk in (1, 37, 500):
        chunked = summed_averaged_soap(cells, pairs_per_chunk=pairs_per_chunk, **kwargs)
        assert np.allclose(chunked, whole, rtol=1e-13, atol=1e-15)
    settings = SoapSettings(n_max=6, l_max=5, sigma=0.5, r_cut=5.0, backend="quip")
    serial = averaged_soap(cells, settings, species=["Si", "C"])
    assert np.allclose(averaged_soap(cells, settings, species=["Si", "C"], n_jobs=2), serial,
                       rtol=1e-13, atol=1e-15)


def test_large_cells_take_the_binned_neighbour_list(si_cells, monkeypatch):
    """Past the dense candidate limit (here: always) ASE's neighbour list finds the
    same pairs, and a supercell gives its unit cell's vector."""
    import gapexplore.soap_average as soap_average

    cells = si_cells[7:9] + _small_cells() + _silicon_carbide(si_cells)[:1]
    dense = averaged_soap(cells, FAST, species=["Si", "C"])
    monkeypatch.setattr(soap_average, "_DENSE_CANDIDATES", 0)
    binned = averaged_soap(cells + [cells[0].repeat((3, 2, 2))], FAST, species=["Si", "C"])
    assert np.abs(binned[:-1] - dense).max() < 1e-12
    assert np.abs(binned[-1] - dense[0]).max() < 1e-12


def test_bad_arguments_are_named(si_cells):
    with pytest.raises(InvalidParameterError, match="'species' parameter of summed_averaged"):
        summed_averaged_soap(si_cells[:2], n_max=4, l_max=4, sigma=0.5, r_cut=5.0,
                             species=[6])
    for species in ([], [14, 14], ["Si"], [0]):
        with pytest.raises(InvalidParameterError, match="a list of distinct atomic numbers"):
            summed_averaged_soap(si_cells[:1], n_max=4, l_max=4, sigma=0.5, r_cut=5.0,
                                 species=species)
    with pytest.raises(InvalidParameterError, match="'pairs_per_chunk' parameter"):
        summed_averaged_soap(si_cells[:2], n_max=4, l_max=4, sigma=0.5, r_cut=5.0,
                             species=[14], pairs_per_chunk=0)
