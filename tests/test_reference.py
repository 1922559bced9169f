"""Reference labelling with real (toy) calculators: known answers, failures, parallel, extxyz."""

import copy
import logging

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.io import read, write

from gapexplore import keys
from gapexplore.core.errors import InvalidParameterError
from gapexplore.core.parallel import default_executor
from gapexplore.label import (
    DEFAULT_TOY_REFERENCES,
    TOY_REFERENCES,
    as_reference,
    default_reference,
    label_structures,
    reference_calculator,
    split_labelled,
)
from gapexplore.label.named import ALLOY_REFERENCES

# --- helpers (module level, so worker processes can unpickle them) ------------------------


def make_sw():
    """A zero-argument factory, as a user would write one for VASP or GPAW."""
    return reference_calculator("sw-si")


class FaultySW(Calculator):
    """Stillinger-Weber, with injected faults: raises or returns NaN for marked structures.

    The physics is the real SW calculator; only the fault is injected.
    """

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self):
        super().__init__()
        self._inner = None

    def __getstate__(self):
        return {**self.__dict__, "_inner": None}  # matscipy's calculator does not pickle

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        fault = self.atoms.info.get("inject")
        if fault == "raise":
            raise RuntimeError('SCF did not converge\n  after "100" steps')
        if self._inner is None:
            self._inner = reference_calculator("sw-si")
        work = self.atoms.copy()
        work.calc = self._inner
        self.results = {"energy": work.get_potential_energy(), "forces": work.get_forces(),
                        "stress": work.get_stress()}
        if fault == "nan":
            self.results["energy"] = float("nan")


def make_faulty_sw():
    return FaultySW()


def diamond(element="Si", a=5.431, rattle=0.0, seed=0):
    atoms = bulk(element, "diamond", a=a, cubic=True)
    if rattle:
        atoms.rattle(rattle, seed=seed)
    return atoms


def snapshot(structures):
    return [(s.get_positions().copy(), s.cell[:].copy(), copy.deepcopy(s.info),
             sorted(s.arrays), s.calc) for s in structures]


def assert_same_labels(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.info.get(keys.LABEL_ERROR) == y.info.get(keys.LABEL_ERROR)
        if keys.LABEL_ERROR in x.info:
            continue
        assert x.info[keys.REF_ENERGY] == pytest.approx(y.info[keys.REF_ENERGY], abs=1e-10)
        np.testing.assert_allclose(x.arrays[keys.REF_FORCES], y.arrays[keys.REF_FORCES],
                                   rtol=0, atol=1e-10)
        assert (keys.REF_VIRIAL in x.info) == (keys.REF_VIRIAL in y.info) == x.pbc.all()
        if x.pbc.all():
            np.testing.assert_allclose(x.info[keys.REF_VIRIAL], y.info[keys.REF_VIRIAL],
                                       rtol=0, atol=1e-10)


@pytest.fixture(scope="module")
def mixed_si(si_cells):
    """Random cells, a rattled diamond cell and a dimer (non-periodic)."""
    dimer = Atoms("Si2", positions=[[0, 0, 0], [2.3, 0, 0]], cell=[12] * 3, pbc=False)
    return list(si_cells[:10]) + [diamond(rattle=0.05), dimer]


# --- the table ----------------------------------------------------------------------------

def test_unknown_name_lists_the_known_names():
    with pytest.raises(InvalidParameterError, match="'sw-si'.*'tersoff-c'.*Got 'sw-ge'"):
        reference_calculator("sw-ge")
    with pytest.raises(InvalidParameterError, match="'reference' parameter of label_str"):
        label_structures([diamond()], "lj")


def test_default_references():
    assert default_reference("Si") == "sw-si" and default_reference("C") == "tersoff-c"
    assert all(element in TOY_REFERENCES[name].elements
               for element, name in DEFAULT_TOY_REFERENCES.items())
    with pytest.raises(InvalidParameterError, match="'element' parameter"):
        default_reference("Ti")


@pytest.mark.parametrize("element", ALLOY_REFERENCES["emt"].elements)
def test_no_default_names_the_reference_that_covers_the_element(element):
    """An EMT metal has no default reference; the error says to name ``emt``."""
    with pytest.raises(InvalidParameterError, match=f"'emt' covers {element}: .*--reference emt"):
        default_reference(element)


def test_no_default_and_no_toy_reference_says_what_else_to_give():
    with pytest.raises(InvalidParameterError, match="no toy reference covers it.*calculator") \
            as error:
        default_reference("Ti")
    assert "--reference emt" not in str(error.value)


@pytest.mark.parametrize("name, atoms, per_atom", [
    ("sw-si", diamond("Si", 5.431), -4.3366),           # published value
    ("kumagai-si", diamond("Si", 5.429), -4.630),
    ("tersoff-si", diamond("Si", 5.432), -4.630),        # Tersoff 1989: 4.63 eV/atom
    ("tersoff-c", diamond("C", 3.567), -7.3705),         # Tersoff 1989: 7.37 eV/atom
    ("tersoff-sic", bulk("SiC", "zincblende", a=4.32, cubic=True), -6.165),  # 6.165
])
def test_toy_references_give_their_diamond_energies(name, atoms, per_atom):
    [out] = label_structures([atoms], name)
    assert out.info[keys.REF_ENERGY] / len(out) == pytest.approx(per_atom, abs=5e-4)
    assert out.info[keys.REF_NAME] == name
    assert np.abs(out.arrays[keys.REF_FORCES]).max() < 1e-8  # forces vanish by symmetry


def test_sw_diamond_known_answer():
    [out] = label_structures([diamond("Si", 5.431)], "sw-si")
    assert out.info[keys.REF_ENERGY] / 8 == pytest.approx(-4.3366, abs=1e-4)
    assert out.arrays[keys.REF_FORCES].shape == (8, 3)
    assert out.info[keys.REF_VIRIAL].shape == (3, 3)


def test_tersoff_carbon_gets_carbon_parameters_and_refuses_silicon():
    c = diamond("C", 3.567)
    si = diamond("Si", 5.431)
    out = label_structures([c, si], "tersoff-c")
    assert out[0].info[keys.REF_ENERGY] / 8 == pytest.approx(-7.3705, abs=1e-4)
    assert "Si not covered by reference 'tersoff-c'" in out[1].info[keys.LABEL_ERROR]
    assert keys.REF_ENERGY not in out[1].info and keys.REF_FORCES not in out[1].arrays
    # the mixed Si-C set gives pure carbon exactly the carbon parameters
    [mixed] = label_structures([c], "tersoff-sic")
    assert mixed.info[keys.REF_ENERGY] == pytest.approx(out[0].info[keys.REF_ENERGY], abs=1e-12)
    # and SW, which matscipy would apply to carbon as if it were Si, refuses it
    [refused] = label_structures([c], "sw-si")
    assert "C not covered" in refused.info[keys.LABEL_ERROR]


# --- the virial ---------------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [(0, 0), (0, 1), (1, 2)])
def test_virial_is_minus_strain_derivative_of_energy(a, b):
    """W_ab = -dE/d(eps_ab) under a symmetric strain of a strained, rattled cell."""
    atoms = diamond(rattle=0.1, seed=3)
    atoms.set_cell(atoms.cell[:] @ np.array([[1.03, 0.02, 0], [0.02, 0.98, 0.01],
                                               [0, 0.01, 1.01]]), scale_atoms=True)
    [out] = label_structures([atoms], "sw-si")
    virial = out.info[keys.REF_VIRIAL]
    calc = reference_calculator("sw-si")

    def energy(e):
        strain = np.eye(3)
        strain[a, b] += e / 2
        strain[b, a] += e / 2
        s = atoms.copy()
        s.set_cell(atoms.cell[:] @ strain, scale_atoms=True)
        s.calc = calc
        return s.get_potential_energy()

    h = 1e-5
    derivative = (energy(h) - energy(-h)) / (2 * h)
    assert abs(derivative) > 1e-2  # the check is not trivially 0 = 0
    assert -(virial[a, b] + virial[b, a]) / 2 == pytest.approx(derivative, rel=1e-5)


# --- failures -----------------------------------------------------------------------------

def faulty_batch():
    good = [diamond(rattle=0.05, seed=i) for i in range(4)]
    raising, nan = diamond(rattle=0.05, seed=10), diamond(rattle=0.05, seed=11)
    raising.info["inject"], nan.info["inject"] = "raise", "nan"
    close = diamond()
    close.positions[1] = close.positions[0] + [0.3, 0, 0]
    same = diamond()
    same.positions[1] = close.positions[0]
    return [good[0], raising, good[1], nan, good[2], close, same, good[3]]


def check_faulty_labels(out, batch):
    expected = label_structures([batch[i] for i in (0, 2, 4, 7)], "sw-si")
    assert [i for i, s in enumerate(out) if keys.LABEL_ERROR in s.info] == [1, 3, 5, 6]
    assert "RuntimeError: SCF did not converge after '100' steps" == out[1].info[keys.LABEL_ERROR]
    assert "non-finite energy" in out[3].info[keys.LABEL_ERROR]
    assert "0.300 Å apart, closer than min_distance 0.5 Å" in out[5].info[keys.LABEL_ERROR]
    assert "0.000 Å apart" in out[6].info[keys.LABEL_ERROR]
    for s in (out[i] for i in (1, 3, 5, 6)):
        assert not {keys.REF_ENERGY, keys.REF_VIRIAL, keys.REF_NAME} & set(s.info)
        assert keys.REF_FORCES not in s.arrays
    good = [out[i] for i in (0, 2, 4, 7)]
    for s, original in zip(out, batch):  # order preserved
        np.testing.assert_array_equal(s.positions, original.positions)
    assert_same_labels(good, expected)


def test_failures_are_recorded_and_the_batch_goes_on(caplog):
    batch = faulty_batch()
    before = snapshot(batch)
    with caplog.at_level(logging.WARNING, logger="gapexplore.label"):
        out = label_structures(batch, FaultySW(), name="sw-faulty")
    check_faulty_labels(out, batch)
    assert out[0].info[keys.REF_NAME] == "sw-faulty"
    assert sum("failed on structure" in r.getMessage() for r in caplog.records) == 4
    assert "structure 1" in caplog.records[0].getMessage()
    after = snapshot(batch)  # inputs unmodified
    for (p0, c0, i0, a0, k0), (p1, c1, i1, a1, k1) in zip(before, after):
        np.testing.assert_array_equal(p0, p1)
        np.testing.assert_array_equal(c0, c1)
        assert i0 == i1 and a0 == a1 and k0 is k1


def test_failures_in_workers_match_serial():
    batch = faulty_batch()
    out = label_structures(batch, make_faulty_sw, n_jobs=2)
    check_faulty_labels(out, batch)
    assert out[0].info[keys.REF_NAME] == "make_faulty_sw"


def test_factory_returning_no_calculator_is_recorded():
    [out] = label_structures([diamond()], lambda: "not a calculator")
    assert "returned str, not an ASE calculator" in out.info[keys.LABEL_ERROR]


def test_min_distance_is_a_parameter():
    close = Atoms("Si2", positions=[[0, 0, 0], [0.3, 0, 0]], cell=[10] * 3, pbc=False)
    [refused] = label_structures([close], "sw-si")
    assert keys.LABEL_ERROR in refused.info
    [computed] = label_structures([close], "sw-si", min_distance=0.2)
    assert keys.LABEL_ERROR not in computed.info
    assert computed.info[keys.REF_ENERGY] > 100  # the repulsive wall: SW is right here
    no_cell = Atoms("Si2", positions=[[0, 0, 0], [0, 0.3, 0]])
    assert "0.300 Å apart" in label_structures([no_cell], "sw-si")[0].info[keys.LABEL_ERROR]
    single = Atoms("Si", cell=[0.4, 5, 5], pbc=True)  # an atom and its own image
    assert "0.400 Å apart" in label_structures([single], "sw-si")[0].info[keys.LABEL_ERROR]


def test_split_labelled(mixed_si):
    structures = mixed_si[:3] + [Atoms("C", cell=[5] * 3, pbc=True)]
    out = label_structures(structures, "sw-si")
    labelled, failed = split_labelled(out + [Atoms("Si")])
    assert all(x is y for x, y in zip(labelled, out[:3])) and len(labelled) == 3
    assert failed[0] is out[3] and len(failed) == 2


# --- what the copies carry ----------------------------------------------------------------

def test_copies_carry_only_ref_labels(tmp_path):
    atoms = diamond(rattle=0.05)
    atoms.calc = SinglePointCalculator(atoms, energy=1.0, forces=np.ones((8, 3)))
    write(tmp_path / "stale.xyz", atoms, format="extxyz")
    stale = read(tmp_path / "stale.xyz", format="extxyz")
    assert stale.calc is not None  # extxyz put its energy on a SinglePointCalculator
    stale.info["energy"], stale.info[keys.LABEL_ERROR] = 2.0, "old failure"
    [out] = label_structures([stale], "sw-si")
    assert out.calc is None and stale.calc is not None
    assert "energy" not in out.info and "forces" not in out.arrays
    assert keys.LABEL_ERROR not in out.info
    assert out.info[keys.REF_ENERGY] < 0


def test_constraints_do_not_zero_reference_forces():
    atoms = diamond(rattle=0.1)
    atoms.set_constraint(FixAtoms([0]))
    [out] = label_structures([atoms], "sw-si")
    assert np.linalg.norm(out.arrays[keys.REF_FORCES][0]) > 1e-3


def test_nonperiodic_structures_have_no_virial(mixed_si):
    out = label_structures(mixed_si[-1:] + [Atoms("Si", cell=[10] * 3)], "sw-si")
    assert all(keys.REF_VIRIAL not in s.info for s in out)
    assert out[0].info[keys.REF_ENERGY] < 0 and out[1].info[keys.REF_ENERGY] == 0.0


def test_extxyz_round_trip(tmp_path, mixed_si):
    out = label_structures(mixed_si + [Atoms("C", cell=[5] * 3, pbc=True)], "sw-si")
    assert keys.LABEL_ERROR in out[-1].info
    write(tmp_path / "labelled.xyz", out, format="extxyz")
    back = read(tmp_path / "labelled.xyz", index=":", format="extxyz")
    assert len(back) == len(out)
    for a, b in zip(out, back):
        assert b.calc is None
        assert b.info.get(keys.LABEL_ERROR) == a.info.get(keys.LABEL_ERROR)
        if keys.LABEL_ERROR in a.info:
            continue
        assert b.info[keys.REF_ENERGY] == pytest.approx(a.info[keys.REF_ENERGY], abs=1e-8)
        np.testing.assert_allclose(b.arrays[keys.REF_FORCES], a.arrays[keys.REF_FORCES],
                                   atol=1e-7)
        assert b.info[keys.REF_NAME] == "sw-si"
        if a.pbc.all():
            np.testing.assert_allclose(np.reshape(b.info[keys.REF_VIRIAL], (3, 3)),
                                       a.info[keys.REF_VIRIAL], atol=1e-7)
        else:
            assert keys.REF_VIRIAL not in b.info


# --- parallel == serial -------------------------------------------------------------------

def test_parallel_labels_equal_serial(mixed_si):
    serial = label_structures(mixed_si, "sw-si")
    with default_executor(2) as pool:
        by_name = label_structures(mixed_si, "sw-si", executor=pool)
        by_factory = label_structures(mixed_si, make_sw, executor=pool, progress=True)
    by_n_jobs = label_structures(mixed_si, "sw-si", n_jobs=2)
    for out in (by_name, by_factory, by_n_jobs):
        assert_same_labels(out, serial)
    assert by_factory[0].info[keys.REF_NAME] == "make_sw"


def test_unpicklable_references_are_refused_before_work():
    with pytest.raises(InvalidParameterError, match="must be picklable"):
        label_structures([diamond()], reference_calculator("sw-si"), n_jobs=2)
    with pytest.raises(InvalidParameterError, match="must be picklable"):
        label_structures([diamond()], lambda: reference_calculator("sw-si"), n_jobs=2)


@pytest.mark.parametrize("kwargs, message", [
    ({"reference": 42}, "'reference' parameter"),
    ({"min_distance": -1.0}, "'min_distance' parameter"),
    ({"elements": "Si"}, "'elements' parameter"),
    ({"elements": ["Xx"]}, "'elements' parameter"),
    ({"n_jobs": 0}, "'n_jobs' parameter"),
    ({"name": ""}, "'name' parameter"),
])
def test_bad_parameters(kwargs, message):
    kwargs = {"reference": "sw-si", **kwargs}
    with pytest.raises(InvalidParameterError, match=message):
        label_structures([diamond()], **kwargs)


def test_structures_must_be_atoms():
    with pytest.raises(InvalidParameterError, match="'structures' parameter.*str at position 1"):
        label_structures([diamond(), "Si8"], "sw-si")


def test_elements_override_for_user_calculators():
    out = label_structures([diamond(), diamond("C", 3.567)], make_sw, elements=["Si"])
    assert keys.LABEL_ERROR not in out[0].info
    assert "C not covered by reference 'make_sw' (covers Si)" in out[1].info[keys.LABEL_ERROR]


def test_reference_min_distance_is_what_labelling_refuses_below():
    from gapexplore.label import DEFAULT_MIN_DISTANCE, reference_min_distance

    assert reference_min_distance("sw-si", "Si") == DEFAULT_MIN_DISTANCE
    assert reference_min_distance(lambda: None, "C") == DEFAULT_MIN_DISTANCE
    # surrogate: 0.6 x 2 r_cov; GPAW: 0.5 x 2 r_cov (Si r_cov 1.11 Å)
    assert reference_min_distance("chgnet", "Si") == pytest.approx(1.332)
    assert reference_min_distance("gpaw", "Si") == pytest.approx(1.11)


def test_a_distance_at_the_limit_is_computed_and_one_below_is_refused():
    from gapexplore.core.chemistry import Chemistry
    from gapexplore.generate import dimers

    chemistry = Chemistry.of("Si")
    shortest = dimers(chemistry)[0]    # at 1.0 r, up to rounding (GPAW's limit for Si)
    below = shortest.copy()
    below.positions[1, 0] -= 1e-3
    good, bad = label_structures([shortest, below], "sw-si", min_distance=chemistry.radius)
    assert keys.LABEL_ERROR not in good.info
    assert "closer than min_distance" in bad.info[keys.LABEL_ERROR]


def test_ctrl_c_under_quippy_stops_labelling_instead_of_being_recorded():
    """quippy (f90wrap) turns Ctrl-C during its Fortran into RuntimeError("Interrupt
    occured"): labelling stops there (the run resumes later), no structure is recorded
    as failed for it."""
    from ase.calculators.calculator import Calculator, all_changes

    class Interrupted(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            raise RuntimeError("Interrupt occured")

    with pytest.raises(KeyboardInterrupt):
        label_structures(faulty_batch()[:2], Interrupted(), name="interrupted")


def test_a_module_function_reference_is_named_as_typed():
    reference = as_reference("faulty_references:counting_sw")
    assert reference.name == "faulty_references:counting_sw"
    assert as_reference("faulty_references:counting_sw", name="mine").name == "mine"
