import numpy as np
import pytest
import spglib
from ase.io import read, write
from conftest import same_structures

from gapexplore import (
    Chemistry,
    InvalidParameterError,
    dimers,
    initial_cells,
    isolated_atom,
    keys,
    random_cells,
)
from gapexplore.core.geometry import min_distance
from gapexplore.generate import NARROW_SPREAD, WIDE_SPREAD


def _n_symmetry_ops(atoms, symprec):
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    return len(spglib.get_symmetry(cell, symprec=symprec)["rotations"])


def test_cells_honour_every_constraint(si):
    cells = random_cells(si, 200, rng=np.random.default_rng(1))
    v0 = si.volume_per_atom
    for atoms in cells:
        assert 6 <= len(atoms) <= 24
        assert atoms.pbc.all()
        assert min_distance(atoms) >= si.min_separation - 1e-9
        vpa = atoms.get_volume() / len(atoms)
        assert v0 * (1 - NARROW_SPREAD) - 1e-9 <= vpa <= v0 * (1 + NARROW_SPREAD) + 1e-9
        assert 1 <= atoms.info[keys.SYMMOPS] <= 8
        # spglib finds at least the operations the cell was built with, at a loose tolerance
        assert _n_symmetry_ops(atoms, 0.01) >= atoms.info[keys.SYMMOPS]
        assert atoms.info[keys.CONFIG_TYPE] == keys.CONFIG_RANDOM


def test_symmetry_and_parity_distributions(si):
    cells = random_cells(si, 400, rng=np.random.default_rng(7))
    ops = {a.info[keys.SYMMOPS] for a in cells}
    assert ops == {1, 2, 3, 4, 6, 8}
    even = np.mean([len(a) % 2 == 0 for a in cells])
    assert 0.72 <= even <= 0.88  # paper: 80 % even (binomial sd 0.02)


def test_wide_range_is_even_and_wide(si):
    cells = random_cells(si, 150, rng=np.random.default_rng(3), volume_range="wide")
    assert all(len(a) % 2 == 0 for a in cells)
    vpa = np.array([a.get_volume() / len(a) for a in cells]) / si.volume_per_atom
    assert vpa.min() >= 1 - WIDE_SPREAD - 1e-9 and vpa.max() <= 1 + WIDE_SPREAD + 1e-9
    assert vpa.min() < 0.85 and vpa.max() > 1.15  # really wider than the narrow range


def test_initial_cells_are_half_wide_half_narrow(si):
    cells = initial_cells(si, 11, rng=np.random.default_rng(0))
    ranges = [a.info[keys.VOLUME_RANGE] for a in cells]
    assert ranges == ["wide"] * 5 + ["narrow"] * 6
    assert [a.info[keys.GEN_INDEX] for a in cells] == list(range(11))


def test_metallic_cells_are_dense_and_separated():
    ti = Chemistry.of("Ti")
    cells = random_cells(ti, 10, rng=np.random.default_rng(5), n_atoms=(6, 12))
    for atoms in cells:
        assert min_distance(atoms) >= ti.min_separation - 1e-9
        assert atoms.get_volume() / len(atoms) <= ti.volume_per_atom * (1 + NARROW_SPREAD) + 1e-9


def test_same_seed_same_cells_and_split_independence(si):
    a = random_cells(si, 6, rng=np.random.default_rng(42))
    b = random_cells(si, 6, rng=np.random.default_rng(42))
    c = random_cells(si, 3, rng=np.random.default_rng(42))
    d = random_cells(si, 6, rng=np.random.default_rng(43))
    assert same_structures(a, b)
    assert same_structures(a[:3], c)  # one child generator per cell
    assert not same_structures(a, d)


def test_fixed_counts_and_symmetry():
    chem = Chemistry.of("C")
    cells = random_cells(chem, 20, rng=np.random.default_rng(0), n_atoms=8, symmops=4)
    assert all(len(a) == 8 and a.info[keys.SYMMOPS] == 4 for a in cells)


def test_extxyz_round_trip(tmp_path, si):
    cells = random_cells(si, 3, rng=np.random.default_rng(0))
    write(tmp_path / "cells.xyz", cells, format="extxyz")
    back = read(tmp_path / "cells.xyz", index=":")
    assert [a.info[keys.SYMMOPS] for a in back] == [a.info[keys.SYMMOPS] for a in cells]
    assert np.allclose(back[2].positions, cells[2].positions)


def test_dimers_and_isolated_atom(si):
    ds = dimers(si)
    lengths = [d.get_distance(0, 1) for d in ds]
    assert len(ds) == 21
    assert lengths[0] == pytest.approx(1.11) and lengths[-1] == pytest.approx(4.995)
    assert all(not d.pbc.any() and d.info[keys.CONFIG_TYPE] == keys.CONFIG_DIMER for d in ds)
    atom = isolated_atom(si, box=15.0)
    assert len(atom) == 1 and atom.cell.lengths() == pytest.approx([15.0] * 3)
    assert atom.info[keys.CONFIG_TYPE] == keys.CONFIG_ISOLATED_ATOM


@pytest.mark.parametrize("kwargs, words", [
    (dict(count=-1), "'count' parameter"),
    (dict(count=2.5), "'count' parameter"),
    (dict(n_atoms=(0, 5)), "'n_atoms' parameter"),
    (dict(n_atoms=(10, 6)), "'n_atoms' parameter"),
    (dict(symmops=(1, 12)), "'symmops' parameter"),
    (dict(symmops=5), "'n_atoms' parameter"),  # no space group has 5 operations
    (dict(volume_range="huge"), "'volume_range' parameter"),
    (dict(even_fraction=1.5), "'even_fraction' parameter"),
    (dict(rng=42), "numpy.random.Generator"),
])
def test_bad_input_is_explained_before_work(si, kwargs, words):
    args = dict(count=2, rng=np.random.default_rng(0)) | kwargs
    with pytest.raises(InvalidParameterError, match=words):
        random_cells(si, **args)


def test_dimer_distances_checked(si):
    with pytest.raises(InvalidParameterError, match="'distances' parameter"):
        dimers(si, [1.0, -2.0])


def test_parallel_generation_gives_the_same_cells(si):
    serial = random_cells(si, 12, rng=np.random.default_rng(11))
    parallel = random_cells(si, 12, rng=np.random.default_rng(11), n_jobs=2)
    assert same_structures(serial, parallel)
    assert [a.info for a in serial] == [a.info for a in parallel]


_CELLS_HASH = """
import hashlib, sys
import numpy as np
from gapexplore import Chemistry, initial_cells
cells = initial_cells(Chemistry.of("Si"), 24, rng=np.random.default_rng(7), n_atoms=(4, 16))
print(hashlib.sha256(b"".join(a.positions.tobytes() + a.cell[:].tobytes()
                              for a in cells)).hexdigest())
"""


#: numpy's SIMD extensions above its baseline, switched off to act as an older CPU.
_NUMPY_SIMD = ("SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2 AVX512F AVX512CD AVX512_SKX "
               "AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR")


def test_random_cells_are_the_same_bits_on_every_cpu():
    """Generation uses no BLAS (gapexplore.generate.exact): another CPU's kernels, forced here
    with OPENBLAS_CORETYPE, and numpy without its SIMD extensions (an older CPU's code
    paths), must give the same cells to the last bit."""
    import os
    import subprocess
    import sys

    import numpy as np

    found = set(np.__config__.CONFIG["SIMD Extensions"]["found"])
    hashes = set()
    for coretype, simd in ((None, None), ("Sandybridge", None), ("Prescott", _NUMPY_SIMD)):
        env = {k: v for k, v in os.environ.items()
               if k not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")}
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
        if simd:
            env["NPY_DISABLE_CPU_FEATURES"] = " ".join(f for f in simd.split() if f in found)
        out = subprocess.run([sys.executable, "-c", _CELLS_HASH], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        hashes.add(out[-1])
    assert len(hashes) == 1


#: Special points of groups where two or more rotation axes cross (International Tables,
#: standard settings): multiplicity and one point of each Wyckoff position.
_CROSSINGS = {
    16: [(1, (0, 0, 0)), (1, (.5, 0, 0)), (1, (0, .5, 0)), (1, (0, 0, .5)),      # P222 1a–1h
         (1, (.5, .5, 0)), (1, (.5, 0, .5)), (1, (0, .5, .5)), (1, (.5, .5, .5))],
    21: [(2, (0, 0, 0)), (2, (0, .5, 0)), (2, (.5, 0, .5)), (2, (0, 0, .5))],    # C222 2a–2d
    89: [(1, (0, 0, 0)), (1, (0, 0, .5)), (1, (.5, .5, 0)), (1, (.5, .5, .5)),  # P422 1a–1d,
         (2, (.5, 0, 0)), (2, (.5, 0, .5))],                                    # 2e, 2f
    93: [(2, (0, 0, 0)), (2, (.5, .5, 0)), (2, (0, .5, 0)), (2, (0, .5, .5)),   # P4_222 2a–2f
         (2, (0, 0, .25)), (2, (.5, .5, .25))],
    149: [(1, (0, 0, 0)), (1, (0, 0, .5)), (1, (1 / 3, 2 / 3, 0)),             # P312 1a–1f
          (1, (1 / 3, 2 / 3, .5)), (1, (2 / 3, 1 / 3, 0)), (1, (2 / 3, 1 / 3, .5))],
    150: [(1, (0, 0, 0)), (1, (0, 0, .5))],                                      # P321 1a, 1b
}


def test_the_stored_space_group_tables_are_what_the_rules_compute():
    """space_groups() reads space_groups.json; it must hold, bit for bit, what
    compute_space_groups() gives from spglib's database (else run
    tools/write_space_groups.py)."""
    from gapexplore.generate.spacegroups import compute_space_groups, space_groups

    stored, computed = space_groups(), compute_space_groups()
    assert [g.number for g in stored] == [g.number for g in computed]
    assert len(stored) == 121      # 116 types in their standard setting + 5 rhombohedral
    for a, b in zip(stored, computed):
        assert (a.hall_number, a.symbol, a.lattice) == (b.hall_number, b.symbol, b.lattice)
        assert a.rotations.dtype == b.rotations.dtype and np.array_equal(a.rotations, b.rotations)
        assert np.array_equal(a.translations, b.translations)
        assert len(a.sites) == len(b.sites), a.symbol
        for x, y in zip(a.sites, b.sites):
            assert x.multiplicity == y.multiplicity, a.symbol
            assert np.array_equal(x.origin, y.origin), a.symbol
            assert x.directions.shape == y.directions.shape, a.symbol
            assert np.array_equal(x.directions, y.directions), a.symbol


@pytest.mark.parametrize("number", sorted(_CROSSINGS))
def test_the_special_points_where_rotation_axes_cross_are_sites(number):
    """Points no single operation fixes (P222's 1a–1h): every Wyckoff point position of
    the International Tables is a site of its multiplicity, and there are no others."""
    from gapexplore.generate.spacegroups import space_groups

    group = next(g for g in space_groups() if g.number == number)

    def orbit(point):
        return frozenset(tuple(np.round(x, 6) % 1.0) for x in group.orbit(np.array(point)))

    found = sorted((k.multiplicity, sorted(orbit(k.origin))) for k in group.sites
                   if len(k.directions) == 0)
    expected = sorted((m, sorted(orbit(p))) for m, p in _CROSSINGS[number])
    assert found == expected


def test_counts_that_need_a_crossing_point_are_built_with_their_symmetry():
    """5 atoms with the 4 operations of P222 (4 + 1a), Cu3Au in P422 (Cu 1c + 2e, Au 1a):
    counts that the fixed sets of single operations could not hold."""
    from gapexplore import Composition
    from gapexplore.generate.spacegroups import groups_for

    assert "P222" in {g.symbol for g in groups_for(5, 4, 4)[4]}
    assert "P422" in {g.symbol for g in groups_for(1, 8, 8)[8]}
    si = Chemistry.of("Si")
    cells = random_cells(si, 12, rng=np.random.default_rng(3), n_atoms=5, symmops=4)
    assert {a.info[keys.SPACEGROUP_BUILT] for a in cells} & {16}    # P222 among them
    cu3au = Composition.of("Cu3Au")
    cells = random_cells(cu3au, 12, rng=np.random.default_rng(4), n_atoms=4, symmops=8)
    for atoms in cells:
        assert atoms.get_chemical_formula() == "AuCu3" and atoms.info[keys.SYMMOPS] == 8
        assert _n_symmetry_ops(atoms, 0.01) >= 8
        assert min_distance(atoms) >= 0.9 * 2 * min(c.radius for c in cu3au.species) - 1e-9
