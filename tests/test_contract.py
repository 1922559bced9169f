"""One contract battery for every step of the protocol.

Modelled on dscribe's ``tests/conftest.py``: generic ``assert_*`` checks, and one table
(:data:`STEPS`) of the protocol's steps, each run on a small input. Every test below applies
one check to every step it concerns; a new step gets the whole battery by adding a row.

The contract:

* the input structures are not modified;
* the same seed gives the same output, a different seed a different one (random steps;
  a step whose rng only picks among exact computations gives the same output instead);
* ``n_jobs=1`` and ``n_jobs=2`` give the same output (steps that take ``n_jobs``);
* a selection picks as many distinct candidates as asked, from its pool, and hands back
  copies of those very candidates (every selection method: :data:`SELECTION_METHODS`);
* every ``info``/``arrays`` key a step writes is declared in :mod:`gapexplore.core.keys`;
* the output survives a round trip through extxyz;
* outputs are ``ase.Atoms``, with no calculator where the docstring promises it;
* bad input raises :class:`gapexplore.InvalidParameterError`, naming the parameter,
  before any work (no calculator made, no file written, no random number drawn).

Only top-level names of :mod:`gapexplore` are imported: the module layout behind them may
change, the contract may not.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from gapexplore import (
    Chemistry,
    GapSettings,
    InvalidParameterError,
    RelaxSettings,
    averaged_soap,
    dimers,
    fit_gap,
    initial_cells,
    isolated_atom,
    keys,
    label_structures,
    random_cells,
    reference_calculator,
    relax_structures,
    select_structures,
)

SI = Chemistry.of("Si")
SEED, OTHER_SEED = 2019, 7

#: Arrays that ase.Atoms itself keeps on every structure (``Atoms.__init__`` makes both):
#: they are ASE's, not gapexplore's, so they need no entry in gapexplore.keys. ASE's
#: optional standard arrays (momenta, masses, tags, initial_magmoms, initial_charges) are
#: not excluded: no step sets them, and one that did would have to say so. ASE keeps no
#: info key of its own on a plain Atoms ("spacegroup" is only set by ase.spacegroup.crystal,
#: which gapexplore does not use), so no info key is excluded.
ASE_ARRAYS = frozenset({"numbers", "positions"})

#: Every key name declared in gapexplore.keys: all its str constants except the values
#: that CONFIG_TYPE takes (CONFIG_RANDOM = "random_cell" is a value, not a key name).
CONFIG_TYPES = frozenset(value for name, value in vars(keys).items()
                         if name.startswith("CONFIG_") and name != "CONFIG_TYPE")
DECLARED = frozenset(value for name, value in vars(keys).items()
                     if name.isupper() and isinstance(value, str)) - CONFIG_TYPES

#: Tolerance of the values written to extxyz (ASE writes positions and per-atom arrays
#: with 8 decimals).
EXTXYZ_ATOL, EXTXYZ_RTOL = 1e-7, 1e-8
#: Tolerance of serial against parallel: the same code in another process, where BLAS
#: runs single-threaded (gapexplore.default_executor); a relaxation carries round-off on.
#: Also that of results that must not depend on the seed (rng="exact" below).
PARALLEL_ATOL = 1e-9


# --- comparing outputs ---------------------------------------------------------------------

@dataclass
class Output:
    """What one call of a step gave: its structures, and any other values it returned."""

    structures: list
    values: dict = field(default_factory=dict)


def _same_value(x, y, atol: float = 0.0, rtol: float = 0.0, reshape: bool = False) -> bool:
    """Whether two info/arrays/result values are equal: str exactly, numbers to the
    tolerance (NaN equal to NaN), of the same kind (int, float, bool, str) and shape."""
    if isinstance(x, dict) or isinstance(y, dict):
        return (isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys()
                and all(_same_value(x[k], y[k], atol, rtol, reshape) for k in x))
    if x is None or y is None:
        return x is None and y is None
    a, b = np.asarray(x), np.asarray(y)
    kind = {"i": "int", "u": "int", "f": "float", "b": "bool", "U": "str", "S": "str"}
    if kind.get(a.dtype.kind, a.dtype.kind) != kind.get(b.dtype.kind, b.dtype.kind):
        return False
    if a.shape != b.shape and not (reshape and a.size == b.size):
        return False
    a, b = a.reshape(-1), b.reshape(-1)
    if a.dtype.kind not in "iuf":
        return a.tolist() == b.tolist()
    if atol == 0 and rtol == 0:
        return np.array_equal(a, b, equal_nan=True)
    return bool(np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True))


def structure_differences(a: Atoms, b: Atoms, atol: float = 0.0, rtol: float = 0.0,
                          reshape: bool = False) -> list[str]:
    """How two structures differ: numbers, pbc, cell, and every info and arrays value."""
    found = []
    if not np.array_equal(a.pbc, b.pbc):
        found.append(f"pbc {a.pbc} != {b.pbc}")
    if not _same_value(a.cell[:], b.cell[:], atol, rtol):
        found.append("cell")
    for what, x, y in (("info", a.info, b.info), ("arrays", a.arrays, b.arrays)):
        if set(x) != set(y):
            found.append(f"{what} keys {sorted(set(x) ^ set(y))} in one only")
        found += [f"{what}[{k!r}]: {x[k]!r} != {y[k]!r}" for k in sorted(set(x) & set(y))
                  if not _same_value(x[k], y[k], atol, rtol, reshape)]
    return found


def output_differences(a: Output, b: Output, atol: float = 0.0) -> list[str]:
    """How two outputs of a step differ (empty: the same to ``atol``)."""
    if len(a.structures) != len(b.structures):
        return [f"{len(a.structures)} structures != {len(b.structures)}"]
    found = [f"structure {i}: {d}" for i, (x, y) in enumerate(zip(a.structures, b.structures))
             for d in structure_differences(x, y, atol)]
    if a.values.keys() != b.values.keys():
        found.append(f"values {sorted(a.values)} != {sorted(b.values)}")
    found += [f"value {k!r}: {a.values[k]!r} != {b.values[k]!r}" for k in a.values
              if k in b.values and not _same_value(a.values[k], b.values[k], atol)]
    return found


def snapshot(structures: list) -> list:
    """Everything of the input list a step could change in place, deep-copied."""
    return [(id(s), s.numbers.copy(), s.positions.copy(), s.cell[:].copy(), s.pbc.copy(),
             copy.deepcopy(s.info), copy.deepcopy(s.arrays), id(s.calc),
             copy.deepcopy(s.calc.results) if s.calc is not None else None)
            for s in structures]


def snapshot_differences(before: list, after: list) -> list[str]:
    if len(before) != len(after):
        return [f"the list went from {len(before)} to {len(after)} items"]
    names = ("object", "numbers", "positions", "cell", "pbc", "info", "arrays", "calculator",
             "calculator results")
    found = []
    for index, (old, new) in enumerate(zip(before, after)):
        for name, x, y in zip(names, old, new):
            if isinstance(x, dict) and isinstance(y, dict):
                same = _same_value(x, y)
            elif isinstance(x, np.ndarray):
                same = np.array_equal(x, y)
            else:
                same = x == y
            if not same:
                found.append(f"input {index}: {name} changed")
    return found


# --- the contract, as generic checks -------------------------------------------------------

@dataclass
class Run:
    """One call of a step: the input before and after it, and what it gave."""

    before: list
    after: list
    output: Output


def assert_input_not_modified(run: Run) -> None:
    changes = snapshot_differences(run.before, run.after)
    assert not changes, changes[:5]


def _buffers(structures: list) -> list:
    return [(i, name, value) for i, s in enumerate(structures)
            for name, value in (*s.arrays.items(), *s.info.items())
            if isinstance(value, np.ndarray)]


def assert_no_shared_memory(inputs: list, output: Output) -> None:
    """No array of the output is (a view of) an array of the input: changing the output
    later cannot change the input."""
    shared = [f"output {i}[{a!r}] shares memory with input {j}[{b!r}]"
              for i, a, x in _buffers(output.structures) for j, b, y in _buffers(inputs)
              if np.shares_memory(x, y)]
    assert not shared, shared[:5]


def assert_same_output(a: Output, b: Output, atol: float = 0.0) -> None:
    differences = output_differences(a, b, atol)
    assert not differences, differences[:5]


def assert_different_output(a: Output, b: Output, atol: float = 0.0) -> None:
    assert output_differences(a, b, atol), "another seed gave the same output"


def assert_written_keys_declared(inputs: list, output: Output) -> None:
    """Every info/arrays key the step added (not carried from its input) is declared."""
    carried = {k for s in inputs for k in (*s.info, *s.arrays)}
    written = {k for s in output.structures for k in (*s.info, *s.arrays)} - carried
    undeclared = written - DECLARED - ASE_ARRAYS
    assert not undeclared, f"keys not in gapexplore.keys: {sorted(undeclared)}"
    config_types = {s.info[keys.CONFIG_TYPE] for s in output.structures
                    if keys.CONFIG_TYPE in s.info}
    assert config_types <= CONFIG_TYPES, f"undeclared config types {config_types - CONFIG_TYPES}"


def assert_extxyz_round_trip(output: Output, path) -> None:
    assert output.structures, "nothing to write"
    write(path, output.structures, format="extxyz")
    back = read(path, index=":", format="extxyz")
    assert len(back) == len(output.structures)
    for index, (a, b) in enumerate(zip(output.structures, back)):
        differences = structure_differences(a, b, EXTXYZ_ATOL, EXTXYZ_RTOL, reshape=True)
        assert not differences, f"structure {index}: {differences[:5]}"


def assert_atoms_without_calculator(output: Output, promised: bool) -> None:
    assert output.structures
    assert all(type(s) is Atoms for s in output.structures), \
        {type(s).__name__ for s in output.structures}
    if promised:
        attached = [i for i, s in enumerate(output.structures) if s.calc is not None]
        assert not attached, f"structures {attached[:5]} carry a calculator"


def assert_picks(inputs: list, output: Output, n: int) -> None:
    """A selection: ``n`` distinct indices into ``inputs``, all from its pool, and as its
    structures copies of those inputs, in the order picked."""
    indices = np.asarray(output.values["indices"])
    assert indices.dtype.kind in "iu" and indices.shape == (n,), indices
    assert len(set(indices.tolist())) == n, f"an index picked twice: {indices}"
    assert all(0 <= i < len(inputs) for i in indices), f"out of range: {indices}"
    assert set(indices.tolist()) <= set(np.asarray(output.values["pool"]).tolist())
    assert len(output.structures) == n
    for order, (i, atoms) in enumerate(zip(indices, output.structures)):
        assert atoms is not inputs[i]
        assert atoms.info[keys.SELECT_SOURCE_INDEX] == i and atoms.info[keys.SELECT_RANK] == order
        assert np.array_equal(atoms.numbers, inputs[i].numbers)
        assert np.array_equal(atoms.positions, inputs[i].positions)


class Probe:
    """Watches for work done before a bad input was refused: a random number drawn (or a
    child generator spawned), a calculator made, a structure handed back, a file written."""

    def __init__(self, tmp_path):
        self.rng = np.random.default_rng(SEED)
        self._state = copy.deepcopy(self.rng.bit_generator.state)
        self.workdir = tmp_path / "work"
        self.calls: list[str] = []

    def calculator(self):
        """A zero-argument reference factory that records being called."""
        self.calls.append("calculator made")
        return reference_calculator("sw-si")

    def on_label(self, atoms):
        self.calls.append("structure labelled")

    def work_done(self) -> list[str]:
        done = list(self.calls)
        if self.rng.bit_generator.state != self._state:
            done.append("random numbers drawn")
        if self.rng.bit_generator.seed_seq.n_children_spawned:
            done.append(f"{self.rng.bit_generator.seed_seq.n_children_spawned} child "
                        "generators spawned")
        if self.workdir.exists() and any(self.workdir.iterdir()):
            done.append(f"files written: {sorted(p.name for p in self.workdir.iterdir())}")
        return done


def assert_refused_before_work(call: Callable, probe: Probe, parameter: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"'{parameter}' parameter"):
        call(probe)
    done = probe.work_done()
    assert not done, f"refused only after work: {done}"


# --- the steps -----------------------------------------------------------------------------

def sw():
    """The driving potential of the relaxations: Stillinger-Weber, from a module-level
    factory (picklable for worker processes, as the package asks)."""
    return reference_calculator("sw-si")


def _diamond(seed: int) -> Atoms:
    atoms = bulk("Si", "diamond", a=5.5, cubic=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def _with_enthalpies(cells: list) -> list:
    out = [a.copy() for a in cells]
    for i, atoms in enumerate(out):
        atoms.info[keys.ENTHALPY_PER_ATOM] = -4.3 + 0.37 * ((7 * i) % 24) / 24
    return out


def _with_stale_calculator(atoms: Atoms) -> Atoms:
    """A structure as extxyz gives it back from an earlier step: a SinglePointCalculator
    with results, and a user's own info key."""
    atoms = atoms.copy()
    atoms.calc = SinglePointCalculator(atoms, energy=1.0, forces=np.ones((len(atoms), 3)))
    atoms.info["note"] = "from an earlier run"
    return atoms


class Context:
    """Inputs shared by the steps (the conftest fixtures) and a cache of runs."""

    def __init__(self, cells, soap, tmp_path_factory):
        self.cells, self.soap, self._tmp = cells, soap, tmp_path_factory
        self._labelled = None
        self._gap = None
        self._runs: dict = {}

    def tmp(self):
        return self._tmp.mktemp("step")

    def labelled(self) -> list:
        """A handful of SW-labelled structures: random cells, dimers, the isolated atom."""
        if self._labelled is None:
            structures = [a.copy() for a in self.cells[:4]] + [_diamond(0)] \
                + dimers(SI, [1.8, 2.3, 3.0, 4.0]) + [isolated_atom(SI)]
            self._labelled = label_structures(structures, "sw-si")
        return [a.copy() for a in self._labelled]

    def gap(self):
        """The XML of a light GAP fitted to :meth:`labelled`, fitted once (the potential
        of uncertainty selection)."""
        if self._gap is None:
            self._gap = fit_gap(self.labelled(), SI, self.tmp(),
                                settings=GapSettings.light(SI)).potential
        return self._gap

    def run(self, step: Step, seed: int = SEED, n_jobs: int = 1, repeat: int = 0) -> Run:
        """``step`` on fresh inputs, once per (seed, n_jobs, repeat)."""
        key = (step.name, seed, n_jobs, repeat)
        if key not in self._runs:
            inputs = step.inputs(self)
            before = snapshot(inputs)
            output = step.call(inputs, self, np.random.default_rng(seed), n_jobs)
            self._runs[key] = Run(before, snapshot(inputs), output), inputs
        return self._runs[key][0]

    def inputs_of(self, step: Step) -> list:
        self.run(step)
        return self._runs[(step.name, SEED, 1, 0)][1]


@dataclass(frozen=True)
class Step:
    """One row of the table.

    ``inputs(ctx)`` makes fresh input structures ([] for the generators);
    ``call(inputs, ctx, rng, n_jobs)`` runs the step and returns an :class:`Output`.
    """

    name: str
    inputs: Callable
    call: Callable
    rng: str = ""                 # "drawn": another seed gives another output; "exact":
    #                               the rng is used, but the output must not depend on it
    parallel: bool = False        # takes n_jobs
    no_calculator: bool = False   # its docstring promises outputs without a calculator
    structures: bool = True       # returns structures (not only arrays)
    extxyz: bool = True           # its structures are to be stored as extxyz
    picks: int = 0                # a selection: how many of its inputs it must pick

    def __repr__(self):
        return self.name


def _no_inputs(ctx):
    return []


def _run_random_cells(inputs, ctx, rng, n_jobs):
    return Output(random_cells(SI, 6, rng=rng, n_atoms=(6, 12), n_jobs=n_jobs))


def _run_initial_cells(inputs, ctx, rng, n_jobs):
    return Output(initial_cells(SI, 8, rng=rng, n_atoms=(6, 12), n_jobs=n_jobs))


def _run_dimers(inputs, ctx, rng, n_jobs):
    return Output(dimers(SI, [1.8, 2.35, 3.1]) + [isolated_atom(SI, box=15.0)])


def _soap_inputs(ctx):
    return [a.copy() for a in ctx.cells[:6]] + [dimers(SI, [2.35])[0]]


def _run_averaged_soap(inputs, ctx, rng, n_jobs):
    return Output([], {"vectors": averaged_soap(inputs, ctx.soap, n_jobs=n_jobs)})


def _select_inputs(ctx):
    return _with_enthalpies(ctx.cells[:24])


def _selection(selection) -> Output:
    return Output(selection.structures, {
        "indices": selection.indices, "pool": selection.pool,
        "leverage": selection.leverage,
        "histogram_probabilities": selection.histogram_probabilities})


#: Every selection method select_structures takes, and how its output depends on the
#: seed without a flat histogram (kT=None): "exact" where the rng only picks the landmarks
#: of a Nyström factor that is exact on a pool this small, or is not used at all; with
#: the flat histogram every method's output depends on the seed.
SELECTION_METHODS = {"kernel_cur": "exact", "kernel_leverage": "drawn", "kernel_fps": "drawn",
                     "vector_cur": "exact", "uncertainty": "exact", "random": "drawn"}
SELECT_N = 4


def _select_run(method: str, kT: float | None) -> Callable:
    def call(inputs, ctx, rng, n_jobs):
        potential = ctx.gap() if method == "uncertainty" else None
        return _selection(select_structures(inputs, SELECT_N, rng=rng, kT=kT, n_histogram=10,
                                            method=method, soap=ctx.soap,
                                            potential=potential, n_jobs=n_jobs))
    return call


def _select_steps() -> list:
    """Two rows per selection method: with the flat histogram, and without (iteration 0)."""
    rows = []
    for method, seed_kind in SELECTION_METHODS.items():
        rows.append(Step(f"select_structures({method})", _select_inputs,
                         _select_run(method, 0.1), rng="drawn", parallel=True,
                         picks=SELECT_N))
        rows.append(Step(f"select_structures({method}, kT=None)", _select_inputs,
                         _select_run(method, None), rng=seed_kind, parallel=True,
                         picks=SELECT_N))
    return rows


def _too_close(seed: int) -> Atoms:
    """A diamond cell with two atoms 0.3 Å apart: refused by labelling (min_distance
    0.5 Å), an explosion for a relaxation (closer than 0.5 r)."""
    atoms = _diamond(seed)
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.0, 0.0]
    return atoms


def _label_inputs(ctx):
    # a failure among them: its LABEL_ERROR (with an Å in it) must survive extxyz too
    return [a.copy() for a in ctx.cells[:4]] + [
        _with_stale_calculator(_diamond(1)), _too_close(1), dimers(SI, [2.35])[0],
        isolated_atom(SI)]


def _run_label(inputs, ctx, rng, n_jobs):
    return Output(label_structures(inputs, "sw-si", n_jobs=n_jobs))


def _relax_inputs(ctx):
    # the last explodes at once: its start comes back, with a status and a pressure
    return [_diamond(2), _diamond(3), ctx.cells[20].copy(), _too_close(2)]


def _run_relax(inputs, ctx, rng, n_jobs):
    trajectories = relax_structures(inputs, sw, chemistry=SI, rng=rng, n_jobs=n_jobs,
                                    settings=RelaxSettings(max_steps=4))
    return Output([frame for frames in trajectories for frame in frames],
                  {"frames": [len(frames) for frames in trajectories]})


def _run_fit(inputs, ctx, rng, n_jobs):
    workdir = ctx.tmp()
    result = fit_gap(inputs, SI, workdir, settings=GapSettings.light(SI))
    # what fit_gap writes on structures is its training file, which gap_fit reads
    training = read(workdir / "train.xyz", index=":", format="extxyz")
    return Output(training, {"deltas": result.deltas, "e0": result.e0,
                             "stage_rmse": result.stage_rmse,
                             "rmse": [result.rmse_energy, result.rmse_forces,
                                      result.rmse_energy_dimers],
                             "sizes": [result.n_structures, result.n_environments]})


STEPS = [
    Step("random_cells", _no_inputs, _run_random_cells, rng="drawn", parallel=True),
    Step("initial_cells", _no_inputs, _run_initial_cells, rng="drawn", parallel=True),
    Step("dimers+isolated_atom", _no_inputs, _run_dimers),
    Step("averaged_soap", _soap_inputs, _run_averaged_soap, parallel=True, structures=False,
         extxyz=False),
    *_select_steps(),
    Step("label_structures", _label_inputs, _run_label, parallel=True, no_calculator=True),
    # relax_structures returns relax's frames, "without calculator" (relax's docstring)
    Step("relax_structures", _relax_inputs, _run_relax, rng="drawn", parallel=True,
         no_calculator=True),
    # fit_gap's structures are its training file, extxyz already (no round trip to add)
    Step("fit_gap", lambda ctx: ctx.labelled(), _run_fit, extxyz=False),
]
BY_NAME = {step.name: step for step in STEPS}


def steps(having: Callable = lambda step: True) -> list:
    """The rows ``having`` a property, as pytest parameters."""
    return [pytest.param(s, id=s.name) for s in STEPS if having(s)]


@pytest.fixture(scope="module")
def ctx(si_cells, small_soap, tmp_path_factory):
    return Context(si_cells, small_soap, tmp_path_factory)


# --- the battery ---------------------------------------------------------------------------

@pytest.mark.parametrize("step", steps(lambda s: s.inputs is not _no_inputs))
def test_input_not_modified(ctx, step):
    """Positions, cell, numbers, pbc, info, arrays and calculator of every input, and the
    list itself, are the same after the step; and the output holds copies, not views."""
    assert_input_not_modified(ctx.run(step))
    assert_no_shared_memory(ctx.inputs_of(step), ctx.run(step).output)


@pytest.mark.parametrize("step", steps())
def test_same_seed_same_output(ctx, step):
    """A fresh generator with the same seed (and, for the steps without one, the same call)
    gives the same output, to the last bit."""
    assert_same_output(ctx.run(step).output, ctx.run(step, repeat=1).output)


@pytest.mark.parametrize("step", steps(lambda s: s.rng == "drawn"))
def test_other_seed_other_output(ctx, step):
    """The output does depend on the seed of a random step."""
    assert_different_output(ctx.run(step).output, ctx.run(step, seed=OTHER_SEED).output)


@pytest.mark.parametrize("step", steps(lambda s: s.rng == "exact"))
def test_other_seed_same_result(ctx, step):
    """Where the rng only picks among equivalent exact computations, the seed does not
    change the result beyond round-off."""
    assert_same_output(ctx.run(step).output, ctx.run(step, seed=OTHER_SEED).output,
                       atol=PARALLEL_ATOL)


@pytest.mark.parametrize("step", steps(lambda s: s.parallel))
def test_serial_equals_parallel(ctx, step):
    """n_jobs=2 gives what n_jobs=1 gives."""
    assert_same_output(ctx.run(step).output, ctx.run(step, n_jobs=2).output,
                       atol=PARALLEL_ATOL)


@pytest.mark.parametrize("step", steps(lambda s: s.structures))
def test_written_keys_are_declared(ctx, step):
    """Every info/arrays key a step writes is a name from gapexplore.keys."""
    assert_written_keys_declared(ctx.inputs_of(step), ctx.run(step).output)


@pytest.mark.parametrize("step", steps(lambda s: s.extxyz))
def test_extxyz_round_trip(ctx, step, tmp_path):
    """Written with ase.io.write(format="extxyz") and read back, the output has the same
    cell, pbc, info and arrays, to the precision extxyz writes."""
    assert_extxyz_round_trip(ctx.run(step).output, tmp_path / "out.xyz")


@pytest.mark.parametrize("step", steps(lambda s: s.structures))
def test_outputs_are_atoms(ctx, step):
    """Outputs are plain ase.Atoms; without a calculator where the docstring says so."""
    assert_atoms_without_calculator(ctx.run(step).output, step.no_calculator)


@pytest.mark.parametrize("step", steps(lambda s: s.picks))
def test_selection_picks_distinct_candidates(ctx, step):
    """As many candidates as asked, none twice, all from the pool; copies of them."""
    assert_picks(ctx.inputs_of(step), ctx.run(step).output, step.picks)


def test_every_selection_method_is_in_the_table():
    """The table of steps has every method that select_structures takes (the methods
    its error message lists)."""
    with pytest.raises(InvalidParameterError, match="'method' parameter") as error:
        select_structures(_cells(), 1, rng=np.random.default_rng(0), method="?")
    listed = re.findall(r"'(\w+)'", str(error.value).split("must be one of")[1])
    assert set(listed) == set(SELECTION_METHODS)


# --- bad input -----------------------------------------------------------------------------

def _cells(n=3):
    return [bulk("Si", "diamond", a=5.43, cubic=True) for _ in range(n)]


def _labelled_with_isolated_atom():
    structures = _cells(2) + [isolated_atom(SI)]
    return label_structures(structures, "sw-si")


#: (step, case, parameter the message must name, call(probe), marks)
BAD_INPUTS = [
    ("random_cells", "negative count", "count",
     lambda p: random_cells(SI, -1, rng=p.rng), ()),
    ("random_cells", "not a Chemistry", "chemistry",
     lambda p: random_cells("Si", 2, rng=p.rng), ()),
    ("initial_cells", "negative count", "count",
     lambda p: initial_cells(SI, -1, rng=p.rng), ()),
    ("initial_cells", "bad n_atoms", "n_atoms",
     lambda p: initial_cells(SI, 4, rng=p.rng, n_atoms=(0, 5)), ()),
    ("dimers", "negative distance", "distances",
     lambda p: dimers(SI, [1.0, -2.0]), ()),
    ("dimers", "not a Chemistry", "chemistry",
     lambda p: dimers("Si"), ()),
    ("isolated_atom", "negative box", "box",
     lambda p: isolated_atom(SI, box=-1.0), ()),
    ("isolated_atom", "not a Chemistry", "chemistry",
     lambda p: isolated_atom("Si"), ()),
    ("averaged_soap", "not Atoms", "structures",
     lambda p: averaged_soap(_cells(2) + ["Si8"]), ()),
    ("averaged_soap", "n_jobs 0", "n_jobs",
     lambda p: averaged_soap(_cells(2), n_jobs=0), ()),
    ("select_structures", "not Atoms", "candidates",
     lambda p: select_structures(_cells(2) + ["Si8"], 1, rng=p.rng), ()),
    ("select_structures", "negative n", "n",
     lambda p: select_structures(_cells(), -1, rng=p.rng), ()),
    ("select_structures", "negative kT", "kT",
     lambda p: select_structures(_with_enthalpies(_cells()), 1, rng=p.rng, kT=-0.1), ()),
    *[("select_structures", f"{method}: n above the candidates", "n",
       lambda p, method=method: select_structures(_cells(), 4, rng=p.rng, method=method), ())
      for method in SELECTION_METHODS],
    ("select_structures", "n_histogram below n", "n_histogram",
     lambda p: select_structures(_with_enthalpies(_cells()), 2, rng=p.rng, kT=0.1,
                                 n_histogram=1), ()),
    ("select_structures", "uncertainty without a GAP", "potential",
     lambda p: select_structures(_cells(), 1, rng=p.rng, method="uncertainty"), ()),
    ("select_structures", "no such GAP file", "potential",
     lambda p: select_structures(_cells(), 1, rng=p.rng, method="random",
                                 potential=p.workdir / "gap.xml"), ()),
    ("select_structures", "kernel_cur: rank 0", "rank",
     lambda p: select_structures(_cells(), 1, rng=p.rng, rank=0), ()),
    ("select_structures", "vector_cur: stochastic not a bool", "stochastic",
     lambda p: select_structures(_cells(), 1, rng=p.rng, method="vector_cur",
                                 stochastic="yes"), ()),
    ("select_structures", "kernel_fps: n_landmarks 0", "n_landmarks",
     lambda p: select_structures(_cells(), 1, rng=p.rng, method="kernel_fps",
                                 n_landmarks=0), ()),
    ("select_structures", "kernel_leverage: soap not SoapSettings", "soap",
     lambda p: select_structures(_cells(), 1, rng=p.rng, method="kernel_leverage",
                                 soap={"n_max": 4}), ()),
    ("label_structures", "not Atoms", "structures",
     lambda p: label_structures(_cells(2) + ["Si8"], p.calculator, on_label=p.on_label), ()),
    ("label_structures", "n_jobs 0", "n_jobs",
     lambda p: label_structures(_cells(), p.calculator, n_jobs=0, on_label=p.on_label), ()),
    ("label_structures", "negative min_distance", "min_distance",
     lambda p: label_structures(_cells(), p.calculator, min_distance=-1.0,
                                on_label=p.on_label), ()),
    ("relax_structures", "not Atoms", "structures",
     lambda p: relax_structures(_cells(1) + ["Si8"], p.calculator, chemistry=SI, rng=p.rng,
                                settings=RelaxSettings(max_steps=2)), ()),
    ("relax_structures", "n_jobs 0", "n_jobs",
     lambda p: relax_structures(_cells(), p.calculator, chemistry=SI, rng=p.rng, n_jobs=0), ()),
    ("relax_structures", "not a Chemistry", "chemistry",
     lambda p: relax_structures(_cells(), p.calculator, chemistry="Si", rng=p.rng), ()),
    ("fit_gap", "not Atoms", "structures",
     lambda p: fit_gap(_labelled_with_isolated_atom() + ["Si8"], SI, p.workdir,
                       settings=GapSettings.light(SI)), ()),
    ("fit_gap", "incomplete deltas", "deltas",
     lambda p: fit_gap(_labelled_with_isolated_atom(), SI, p.workdir,
                       settings=GapSettings.light(SI), deltas={"2b": 1.0}), ()),
]


@pytest.mark.parametrize("call, parameter", [
    pytest.param(call, parameter, id=f"{step}-{case}", marks=marks)
    for step, case, parameter, call, marks in BAD_INPUTS])
def test_bad_input_is_refused_before_work(call, parameter, tmp_path):
    """InvalidParameterError naming the parameter, and nothing done before it."""
    assert_refused_before_work(call, Probe(tmp_path), parameter)


def test_every_step_has_bad_input_cases():
    """The table of bad inputs covers every step function of the table of steps."""
    covered = {step for step, *_ in BAD_INPUTS}
    named = {part for name in BY_NAME for part in name.split("(")[0].split("+")}
    assert named <= covered, named - covered


# --- the battery can fail ------------------------------------------------------------------

_CALLS = itertools.count()


def _saboteur(inputs, ctx, rng, n_jobs):
    """A step that breaks every clause of the contract."""
    for atoms in inputs:
        atoms.positions[0, 0] += 0.1                   # modifies its input
    out = [a.copy() for a in inputs]
    for atoms in out:
        atoms.info["energy"] = float(next(_CALLS))       # global state, undeclared key
        atoms.positions += n_jobs * 1e-3                 # depends on n_jobs
        atoms.calc = SinglePointCalculator(atoms, forces=np.zeros((len(atoms), 3)))
    return Output(out + inputs[:1])                      # and hands back an input


def _saboteur_refuses(probe):
    probe.rng.random()                                   # work before the check
    raise InvalidParameterError("The 'count' parameter of saboteur must be an int.")


@pytest.mark.parametrize("check", ["input", "shared", "seed", "other seed", "parallel", "keys",
                                   "extxyz", "calculator", "picks", "before work",
                                   "parameter"])
def test_the_battery_catches_a_broken_step(ctx, check, tmp_path):
    """Each generic check fails on a step that breaks its clause: none is a tautology."""
    step = Step("saboteur", lambda c: [_diamond(4), _diamond(5)], _saboteur, rng="drawn",
                parallel=True, no_calculator=True)
    probe = Probe(tmp_path)
    with pytest.raises(AssertionError):
        if check == "input":
            assert_input_not_modified(ctx.run(step))
        elif check == "shared":
            assert_no_shared_memory(ctx.inputs_of(step), ctx.run(step).output)
        elif check == "seed":
            assert_same_output(ctx.run(step).output, ctx.run(step, repeat=1).output)
        elif check == "other seed":
            constant = replace(step, name="constant", call=lambda i, c, r, n: Output(i))
            assert_different_output(ctx.run(constant).output,
                                    ctx.run(constant, seed=OTHER_SEED).output)
        elif check == "parallel":
            assert_same_output(ctx.run(step).output, ctx.run(step, n_jobs=2).output,
                               atol=PARALLEL_ATOL)
        elif check == "keys":
            assert_written_keys_declared(ctx.inputs_of(step), ctx.run(step).output)
        elif check == "extxyz":  # the extxyz reader takes "energy" out of info
            assert_extxyz_round_trip(ctx.run(step).output, tmp_path / "out.xyz")
        elif check == "calculator":
            assert_atoms_without_calculator(ctx.run(step).output, promised=True)
        elif check == "picks":   # the same candidate twice
            inputs = [_diamond(4), _diamond(5)]
            twice = Output([inputs[1].copy(), inputs[1].copy()],
                           {"indices": np.array([1, 1]), "pool": np.array([0, 1])})
            for order, atoms in enumerate(twice.structures):
                atoms.info.update({keys.SELECT_SOURCE_INDEX: 1, keys.SELECT_RANK: order})
            assert_picks(inputs, twice, 2)
        elif check == "before work":
            assert_refused_before_work(_saboteur_refuses, probe, "count")
        else:
            assert_refused_before_work(lambda p: random_cells(SI, -1, rng=p.rng), probe,
                                       "n_atoms")

