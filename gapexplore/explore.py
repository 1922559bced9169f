"""The exploration engine: the paper's Fig. 1 loop, step by step, on disk, resumable.

Iteration 0: random cells (half wide, half narrow volume range) -> averaged-SOAP kernel CUR
-> reference labels for the chosen cells, the dimers and the isolated atom -> GAP_0.
Iteration k >= 1: new random cells (narrow range) -> enthalpy minimisation with GAP_{k-1}
at random pressures, every frame kept -> Boltzmann-biased flat histogram (kT 0.3, 0.2,
then 0.1 eV) -> kernel CUR, with the labelled database counted as already chosen ->
reference labels -> GAP_k refitted on everything labelled so far.
The run stops when the database holds ``max_labels`` labels (paper: 2,500) or after
``max_iterations`` iterations.

Every step writes its result to the run folder (:mod:`gapexplore.store`) before it counts
as done, and every random draw comes from a generator seeded by (seed, iteration, step):
an interrupted run, opened again, carries on from the first unfinished step with the same
results it would have had, and a reference calculation stored once is never repeated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from . import keys
from ._checks import check_choice, check_int, check_int_range, check_real, fail
from .chemistry import Chemistry
from .descriptors import SoapSettings
from .errors import GapExploreError
from .fit import GapSettings, fit_gap
from .generate import dimers, initial_cells, isolated_atom, random_cells
from .reference import (
    DFT_REFERENCES,
    NAMED_REFERENCES,
    _named,
    default_reference,
    label_structures,
    reference_min_distance,
)
from .relax import RelaxSettings, relax_structures
from .select import KT_SCHEDULE, METHODS, kt_for_iteration, select_structures
from .store import UID, RunStore, write_csv
from .validate import as_rows, known_structure, prediction_error, validate

__all__ = ["ExploreSettings", "Explorer", "STEPS", "STOP_CRITERIA"]

log = logging.getLogger(__name__)

#: The steps of an iteration, in order (iteration 0 has no relaxation).
STEPS = ("generate", "relax", "select", "label", "fit")

#: Default wall-time limit of one toy or surrogate reference calculation [s]: those take
#: milliseconds to seconds, so one that runs ten minutes hangs.
DEFAULT_REFERENCE_TIMEOUT = 600.0


def _locked(step):
    """Run a step of the Explorer holding its run folder (see :meth:`RunStore.lock`)."""
    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        with self._holding():
            self._started = time.perf_counter()
            return step(self, *args, **kwargs)
    return wrapper


#: Settings a run may change when it is continued: its stop criteria. Any other change
#: would make the run's folder a mix of two runs.
STOP_CRITERIA = frozenset({"max_labels", "max_iterations", "target_error",
                           "target_prediction_error"})


@dataclass(frozen=True)
class ExploreSettings:
    """Everything that defines a run; stored in ``settings.json`` of its folder.

    Parameters
    ----------
    element : str
        Chemical symbol.
    bonding : {"covalent", "metallic"}, optional
        Default: tabulated for the element (:meth:`Chemistry.of`).
    radius : float, optional
        Characteristic radius r [Å]; default: tabulated.
    reference : str, optional
        Named reference (:data:`gapexplore.reference.NAMED_REFERENCES`: a toy such as
        ``"sw-si"``, the surrogate ``"chgnet"``, or GPAW DFT ``"gpaw"``), or
        ``"module:function"`` naming an importable function that returns an ASE
        calculator (e.g. ``"mysetup:vasp"``); default: the element's toy reference. A
        calculator object can also be passed to :class:`Explorer` directly.
    n_candidates : int
        Random cells per iteration (paper: 10,000).
    n_atoms : (int, int)
        Inclusive range of atoms per random cell (paper: 6–24).
    n_select : int
        Structures labelled per iteration (paper: 100).
    n_histogram : int, optional
        Frames the flat histogram passes to CUR; default 10 × ``n_select``.
    max_labels : int
        Stop once the database holds this many labels (paper: 2,500).
    max_iterations : int, optional
        Stop after this many iterations (iteration 0 included).
    target_error : float, optional
        Stop once every ``validate`` structure's relaxed energy is within this of the
        reference [eV/atom] (e.g. 0.01).
    target_prediction_error : float, optional
        Stop once the previous GAP's energy RMSE on an iteration's new labels, frames its
        own search found and it never saw, is within this [eV/atom] (e.g. 0.01): a
        convergence signal that needs no known structure
        (:func:`gapexplore.validate.prediction_error`; recorded in ``state.json`` as
        ``prediction_error`` of every iteration from 1 on).
    kT : tuple of float
        kT [eV] of iterations 1, 2, ...; the last value repeats (paper: 0.3, 0.2, 0.1).
    gap : {"paper", "light"}
        The GAP model: Table 1, or the cheap model of :meth:`GapSettings.light`.
    soap : {"paper", "fast"}
        Selection SOAP: :meth:`SoapSettings.paper` or :meth:`SoapSettings.fast`.
    selection : {"kernel_cur", "vector_cur", "random"}
        How the structures to label are chosen after the flat histogram
        (:func:`gapexplore.select.select_structures`): leverage-score CUR on the SOAP
        kernel (the paper's method), CUR on the matrix of averaged SOAP vectors, or
        uniform random choice (the two baselines of the paper's Fig. 2).
    selection_stochastic : bool
        CUR draws each structure with probability equal to its leverage instead of taking
        the largest (autoplex and wfl do; the paper's text does not say). Only with a CUR
        ``selection``.
    selection_center : bool
        CUR on the centred kernel (or centred vectors), as wfl does; default the paper's
        uncentred kernel. Only with a CUR ``selection``.
    relax_fmax : float
        Relaxation convergence [eV/Å] (paper: 0.01).
    relax_max_steps : int
        Relaxation step cap.
    seed : int
        Seed of every random draw of the run.
    validate : tuple of str
        Known structures (:data:`gapexplore.validate.KNOWN_STRUCTURES`, e.g.
        ``("diamond", "beta-tin")`` for Si) relaxed with each new GAP and with the
        reference: the learning curves of paper Figs. 2–3, in ``state.json`` and
        ``validation.csv``.
    reference_timeout : float, optional
        Wall-time limit of one reference calculation [s]; one over it is stopped and
        recorded as a failed label with that reason. Default: 600 s for the toy and
        surrogate references (whose calculations take milliseconds to seconds), no limit
        for DFT and your own calculators.
    relax_timeout : float, optional
        Wall-time limit of one GAP relaxation [s]; one over it is stopped and recorded
        with status ``"error: timed out"``. Default: no limit.
    """

    element: str = "Si"
    bonding: str | None = None
    radius: float | None = None
    reference: str | None = None
    n_candidates: int = 10_000
    n_atoms: tuple = (6, 24)
    n_select: int = 100
    n_histogram: int | None = None
    max_labels: int = 2500
    max_iterations: int | None = None
    target_error: float | None = None
    target_prediction_error: float | None = None
    kT: tuple = KT_SCHEDULE
    gap: str = "paper"
    soap: str = "paper"
    selection: str = "kernel_cur"
    selection_stochastic: bool = False
    selection_center: bool = False
    relax_fmax: float = 0.01
    relax_max_steps: int = 300
    seed: int = 0
    validate: tuple = ()
    reference_timeout: float | None = None
    relax_timeout: float | None = None

    def __post_init__(self):
        where = "ExploreSettings"
        self.chemistry()  # checks element, bonding and radius
        check_int(self.n_candidates, "n_candidates", where, low=1)
        check_int(self.n_select, "n_select", where, low=1, high=self.n_candidates)
        check_int(self.max_labels, "max_labels", where, low=1)
        check_int(self.seed, "seed", where, low=0)
        check_real(self.relax_fmax, "relax_fmax", where, low=0.0, low_open=True)
        check_int(self.relax_max_steps, "relax_max_steps", where, low=1)
        for name in ("reference_timeout", "relax_timeout"):
            if getattr(self, name) is not None:
                check_real(getattr(self, name), name, where, low=0.0, low_open=True)
        if self.n_histogram is not None:
            check_int(self.n_histogram, "n_histogram", where, low=1)
        if self.max_iterations is not None:
            check_int(self.max_iterations, "max_iterations", where, low=1)
        if self.target_error is not None:
            check_real(self.target_error, "target_error", where, low=0.0, low_open=True)
            if not self.validate:
                raise fail("target_error", where, "used with validate (the structures whose "
                           "error it bounds)", self.target_error)
        if self.target_prediction_error is not None:
            check_real(self.target_prediction_error, "target_prediction_error", where,
                       low=0.0, low_open=True)
        if self.reference is not None and ":" not in self.reference \
                and self.reference not in NAMED_REFERENCES:
            known = ", ".join(repr(n) for n in NAMED_REFERENCES)
            raise fail("reference", where, f"one of {known}, or 'module:function' returning "
                       "an ASE calculator", self.reference)
        covers = getattr(NAMED_REFERENCES.get(self.reference), "elements", None)
        if covers is not None and self.element not in covers:
            raise fail("reference", where, f"a reference that covers {self.element} "
                       f"({self.reference!r} covers {', '.join(covers)} only)", self.reference)
        check_choice(self.gap, "gap", where, ("paper", "light"))
        check_choice(self.soap, "soap", where, ("paper", "fast"))
        check_choice(self.selection, "selection", where, METHODS)
        for name in ("selection_stochastic", "selection_center"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise fail(name, where, "a bool", value)
            if value and self.selection == "random":
                raise fail(name, where, "False with selection='random' (a CUR option)", value)
        if isinstance(self.kT, (int, float)) and not isinstance(self.kT, bool):
            object.__setattr__(self, "kT", (self.kT,))  # one temperature for every iteration
        if not isinstance(self.kT, (tuple, list)) or not self.kT or any(
                isinstance(t, bool) or not (isinstance(t, (int, float)) and t > 0)
                for t in self.kT):
            raise fail("kT", where, "a temperature > 0 eV or a non-empty sequence of them",
                       self.kT)
        object.__setattr__(self, "kT", tuple(float(t) for t in self.kT))
        object.__setattr__(self, "validate", tuple(self.validate))
        object.__setattr__(self, "n_atoms",
                           check_int_range(self.n_atoms, "n_atoms", where, low=1, high=200))
        for name in self.validate:
            known_structure(self.element, name)  # checks the name

    def chemistry(self) -> Chemistry:
        """The run's :class:`Chemistry`."""
        return Chemistry.of(self.element, bonding=self.bonding, radius=self.radius)

    def kt_for(self, iteration: int) -> float:
        """Temperature kT [eV] of the flat histogram in ``iteration`` (>= 1)."""
        return kt_for_iteration(iteration, self.kT)

    def to_dict(self) -> dict:
        """Plain values, for ``settings.json``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ExploreSettings":
        """Settings from :meth:`to_dict`'s output (fields added since default)."""
        if not isinstance(values, dict):
            raise fail("values", "ExploreSettings.from_dict", "a dict of settings", values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise fail("values", "ExploreSettings.from_dict", "settings of this version "
                       f"(unknown: {', '.join(unknown)})", values)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def changed(self, other: "ExploreSettings") -> list[str]:
        """Names of the fields whose values differ in ``other``."""
        return [f.name for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(other, f.name)]


class Explorer:
    """One GAP-RSS run in one folder, run step by step or to the end.

    Parameters
    ----------
    folder : str or pathlib.Path
        The run folder. If it holds a run, that run is opened and continues where it
        stopped; otherwise a new run starts there with ``settings``.
    settings : ExploreSettings, optional
        For a new run (default ``ExploreSettings()``). For an existing run, omit it, or
        give its settings with other stop criteria (:data:`STOP_CRITERIA`), stored when
        the run next holds its folder. Nothing is written to ``folder`` until a step runs
        (or a control is set).
    reference : str, callable or ASE calculator, optional
        Overrides the toy reference (see :func:`gapexplore.reference.label_structures`),
        e.g. a function returning a VASP or GPAW calculator. Not stored: give it again
        when reopening the run.
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where relaxations and labels run (a Dask client is used through its executor);
        default: the local cores (``n_jobs``).
    n_jobs : int, optional
        Local worker processes when no executor is given; default: all cores.
    progress : bool
        Progress bars for relaxations and labels.
    known : dict of str to ase.Atoms, optional
        Your own known structures to validate each GAP on, besides the named ones of
        ``settings.validate``; stored in ``known.xyz`` of the run folder, so a reopened run
        keeps them.

    Attributes
    ----------
    n_candidates, n_select, kT
        Controls of the next iteration (kT None: the schedule). Change them between
        iterations: they are kept in ``state.json`` (``controls``) at once, so the run
        opened again (a second ``gapexplore run``, a restarted notebook) goes on with them;
        the values each iteration used are recorded in its record.

    Raises
    ------
    GapExploreError
        Before anything is written: for settings other than those of the run in
        ``folder`` (only the stop criteria :data:`STOP_CRITERIA` may change), a damaged or
        incomplete run folder (a file of a finished step missing, a damaged JSON file),
        or a reference that cannot be used. The folder is written only by the steps,
        holding its lock, so a refused call changes nothing.
    """

    def __init__(self, folder, settings: ExploreSettings | None = None, *, reference=None,
                 executor=None, n_jobs: int | None = None, progress: bool = False,
                 known: dict | None = None):
        import os

        self.store = RunStore(folder)
        self._pending: dict = {}  # files to write once the folder is held (see _holding)
        stored = self.store.read_json("settings.json")
        if stored is not None:
            try:
                existing = ExploreSettings.from_dict(stored)
            except (TypeError, ValueError) as error:
                raise GapExploreError(
                    f"{self.store.root / 'settings.json'} does not hold valid settings "
                    f"({error}). Restore it from a backup or start a new folder.") from None
            if settings is not None and settings != existing:
                changed = existing.changed(settings)
                if set(changed) - STOP_CRITERIA:
                    raise GapExploreError(
                        f"{folder} holds a run with other settings ({', '.join(changed)}); "
                        "continue it without them (only the stop criteria max_labels, "
                        "max_iterations, target_error and target_prediction_error may "
                        "change), or start a new folder.")
                self._pending["settings.json"] = settings
            else:
                settings = existing
        else:
            settings = ExploreSettings() if settings is None else settings
            if not isinstance(settings, ExploreSettings):
                raise fail("settings", "Explorer", "an ExploreSettings", settings)
            self._pending["settings.json"] = settings
        self.settings = settings
        self.chemistry = settings.chemistry()
        if n_jobs is not None:
            check_int(n_jobs, "n_jobs", "Explorer", low=1)
        if reference is None:
            reference = settings.reference or default_reference(self.chemistry.element)
            if ":" in reference:
                reference = _import_function(reference)
            else:
                _named(reference, "Explorer", parameter="reference")  # installed?
        self.reference = reference
        if executor is not None and hasattr(executor, "get_executor"):  # a Dask Client
            executor = executor.get_executor()
        self.executor = executor
        self.n_jobs = 1 if executor is not None else (n_jobs or os.cpu_count() or 1)
        self.progress = progress
        self.state = self.store.read_json("state.json") or {"iteration": 0, "done": [],
                                                           "iterations": []}
        if stored is not None:
            self._check_folder()
        if known:
            if not all(isinstance(a, Atoms) for a in known.values()):
                raise fail("known", "Explorer", "a dict of names to ase.Atoms", known)
            structures = []
            for name, atoms in known.items():
                atoms = atoms.copy()
                atoms.calc = None
                atoms.info[keys.KNOWN_NAME] = name
                structures.append(atoms)
            self._pending["known.xyz"] = structures

    @contextlib.contextmanager
    def _holding(self):
        """Hold the run folder; the first time, write what the constructor accepted."""
        with self.store.lock():
            if self._pending:
                from ase.io import write

                if "known.xyz" in self._pending:
                    write(self.store.root / "known.xyz", self._pending.pop("known.xyz"),
                          format="extxyz")
                if "settings.json" in self._pending:
                    self.store.write_json("settings.json",
                                          self._pending.pop("settings.json").to_dict())
            yield

    def _check_folder(self) -> None:
        """Refuse a run folder whose finished steps have lost their files."""
        root = self.store.root
        missing = []
        for record in self.state["iterations"]:
            done = (STEPS if "fit" in record else self.state["done"])
            files = {"generate": "candidates.xyz", "relax": "trajectories.xyz",
                     "select": "selected.xyz"}
            iteration = record["iteration"]
            if "fit" in record:
                potential = self.potential_of(iteration)
                if potential is None or not potential.exists():
                    missing.append(f"iter_{iteration:03d}/gap/"
                                   f"{Path(record['fit']['potential']).name}")
            elif iteration != self.iteration:
                continue
            for step in done:
                name = files.get(step)
                if name and not (iteration == 0 and step == "relax") \
                        and not (root / f"iter_{iteration:03d}" / name).exists():
                    missing.append(f"iter_{iteration:03d}/{name}")
        labelled = max((r.get("labels_total", 0) for r in self.state["iterations"]),
                       default=0)
        if labelled and not self.store.db_path.exists():
            missing.append(f"labels.db ({labelled} labels recorded)")
        if missing:
            raise GapExploreError(
                f"The run in {root} has lost files of finished steps: {', '.join(missing)}. "
                "Restore them from a backup, or start a new folder (a run whose labels are "
                "kept can be refitted from labels.db). Nothing was changed.")

    # --- the controls of the next iteration (kept in state.json) ------------------------------
    def _control(self, name: str):
        controls = self.state.get("controls", {})
        default = None if name == "kT" else getattr(self.settings, name)
        return controls.get(name, default)

    def _set_control(self, name: str, value) -> None:
        if value == self._control(name):
            return
        with self._holding():
            self.state.setdefault("controls", {})[name] = value
            self.store.write_json("state.json", self.state)

    @property
    def n_candidates(self) -> int:
        """Random cells of the next iteration (default: the settings' ``n_candidates``)."""
        return self._control("n_candidates")

    @n_candidates.setter
    def n_candidates(self, value: int) -> None:
        self._set_control("n_candidates",
                          check_int(value, "n_candidates", "Explorer", low=1))

    @property
    def n_select(self) -> int:
        """Structures labelled in the next iteration (default: the settings' ``n_select``)."""
        return self._control("n_select")

    @n_select.setter
    def n_select(self, value: int) -> None:
        self._set_control("n_select", check_int(value, "n_select", "Explorer", low=1))

    @property
    def kT(self) -> float | None:
        """The flat histogram's kT [eV] in the next iteration; None: the settings' schedule."""
        return self._control("kT")

    @kT.setter
    def kT(self, value: float | None) -> None:
        if value is not None:
            value = check_real(value, "kT", "Explorer", low=0.0, low_open=True)
        self._set_control("kT", value)

    # --- where the run stands ----------------------------------------------------------------
    @property
    def iteration(self) -> int:
        """The iteration in progress (or next to start)."""
        return self.state["iteration"]

    @property
    def n_labels(self) -> int:
        """Successful reference labels in the database."""
        return self.store.count_labels()

    @property
    def potential(self) -> Path | None:
        """The newest fitted GAP (XML), or None before the first fit.

        Found in the run folder as it is now (``state.json`` records the path as it was
        given at fit time, perhaps relative to another working directory).
        """
        fits = [it for it in self.state["iterations"] if "fit" in it]
        return self.potential_of(fits[-1]["iteration"]) if fits else None

    def potential_of(self, iteration: int) -> Path | None:
        """The GAP fitted in ``iteration`` (XML, in the run folder), or None if none was."""
        records = self.state["iterations"]
        if not 0 <= iteration < len(records) or "fit" not in records[iteration]:
            return None
        name = Path(records[iteration]["fit"]["potential"]).name
        return self.store.root / f"iter_{iteration:03d}" / "gap" / name

    def steps(self, iteration: int | None = None) -> tuple[str, ...]:
        """The steps of ``iteration`` (default: the current one)."""
        iteration = self.iteration if iteration is None else iteration
        return tuple(s for s in STEPS if not (iteration == 0 and s == "relax"))

    def finished(self) -> bool:
        """Whether a stop criterion is met."""
        s = self.settings
        if self.n_labels >= s.max_labels or (
                s.max_iterations is not None and self.iteration >= s.max_iterations):
            return True
        fitted = [r for r in self.state["iterations"] if "validation" in r]
        if s.target_error is not None and fitted:
            last = fitted[-1]["validation"]
            if all(abs(last[name]["error"]) <= s.target_error for name in s.validate):
                return True
        if s.target_prediction_error is not None:
            predicted = [r["prediction_error"] for r in self.state["iterations"]
                         if r.get("prediction_error") and "fit" in r]
            return bool(predicted) and predicted[-1]["rmse"] <= s.target_prediction_error
        return False

    # --- the loop --------------------------------------------------------------------------
    def run(self, iterations: int | None = None) -> "Explorer":
        """Run iterations until a stop criterion is met, or at most ``iterations`` more
        (an unfinished iteration counts as one); returns self."""
        if iterations is not None:
            check_int(iterations, "iterations", "Explorer.run", low=0)
        with self._holding():
            done = 0
            while not self.finished() and (iterations is None or done < iterations):
                self.run_iteration()
                done += 1
        return self

    def run_iteration(self) -> dict:
        """Finish the current iteration; return its record from ``state.json``."""
        iteration = self.iteration
        while self.iteration == iteration:
            self.step()
        return self.state["iterations"][iteration]

    def step(self) -> str:
        """Do the next unfinished step of the current iteration; return its name."""
        name = next(s for s in self.steps() if s not in self.state["done"])
        getattr(self, name)()
        return name

    def _record(self) -> dict:
        records = self.state["iterations"]
        if len(records) <= self.iteration:
            kT = None if self.iteration == 0 else (
                self.kT if self.kT is not None else self.settings.kt_for(self.iteration))
            records.append({"iteration": self.iteration, "n_candidates": self.n_candidates,
                            "n_select": self.n_select, "kT": kT})
        return records[self.iteration]

    def _done(self, step: str, *, carved: dict | None = None, **facts) -> None:
        """Record ``step`` as done with ``facts``; its wall time [s] goes under
        ``seconds``, less the parts timed on their own in ``carved`` (name -> s)."""
        record = self._record()
        record.update(facts)
        seconds = record.setdefault("seconds", {})
        elapsed = time.perf_counter() - self._started
        for name, value in (carved or {}).items():
            seconds[name] = round(value, 3)
            elapsed -= value
        seconds[step] = round(elapsed, 3)
        self.state["done"].append(step)
        if step == "fit":
            self.state["iteration"] += 1
            self.state["done"] = []
        self.store.write_json("state.json", self.state)
        log.info("iteration %d: %s done %s", self.iteration, step, facts or "")

    def _rng(self, step: str) -> np.random.Generator:
        return np.random.default_rng([self.settings.seed, self.iteration, STEPS.index(step)])

    def _check_order(self, step: str) -> None:
        steps = self.steps()
        missing = [s for s in steps[:steps.index(step)] if s not in self.state["done"]]
        if missing:
            raise fail("step", f"Explorer.{step}", f"run after {', '.join(missing)} in "
                       f"iteration {self.iteration}", step)

    # --- the steps -------------------------------------------------------------------------
    @_locked
    def generate(self) -> list[Atoms]:
        """Random cells of this iteration (iteration 0: half wide, half narrow range)."""
        self._check_order("generate")
        record = self._record()
        rng = self._rng("generate")
        n = record["n_candidates"]
        atoms = self.settings.n_atoms
        if self.iteration == 0:
            cells = initial_cells(self.chemistry, n, rng=rng, n_atoms=atoms, n_jobs=self.n_jobs)
        else:
            cells = random_cells(self.chemistry, n, rng=rng, n_atoms=atoms, n_jobs=self.n_jobs)
        self.store.write_structures(self.iteration, "candidates", cells)
        self._done("generate", candidates=len(cells))
        return cells

    @_locked
    def relax(self) -> list[Atoms]:
        """Relax this iteration's candidates with the previous GAP; all frames, flat."""
        self._check_order("relax")
        cells = self.store.read_structures(self.iteration, "candidates")
        # A relaxation stops where atoms come closer than the reference computes: frames
        # beyond would be chosen (a GAP hole has low enthalpy) and then refused; stopping
        # there makes the frames at the limit the ones chosen, whose labels teach repulsion.
        limit = reference_min_distance(self.reference, self.chemistry.element)
        settings = RelaxSettings(fmax=self.settings.relax_fmax,
                                 max_steps=self.settings.relax_max_steps,
                                 min_distance_factor=max(RelaxSettings.min_distance_factor,
                                                         limit / self.chemistry.radius))
        trajectories = relax_structures(cells, self.potential, chemistry=self.chemistry,
                                         rng=self._rng("relax"), settings=settings,
                                         executor=self.executor, n_jobs=self.n_jobs,
                                         progress=self.progress,
                                         timeout=self.settings.relax_timeout)
        frames = [frame for trajectory in trajectories for frame in trajectory]
        self.store.write_structures(self.iteration, "trajectories", frames)
        statuses = [t[-1].info[keys.RELAX_STATUS].split(":")[0] for t in trajectories]
        self._done("relax", frames=len(frames),
                   relaxations={s: statuses.count(s) for s in sorted(set(statuses))},
                   lowest=_lowest(trajectories))
        return frames

    @_locked
    def select(self) -> list[Atoms]:
        """Choose this iteration's structures to label (flat histogram, then the
        ``selection`` method of the settings: kernel CUR by default)."""
        self._check_order("select")
        record = self._record()
        soap = SoapSettings.paper() if self.settings.soap == "paper" else SoapSettings.fast()
        if self.iteration == 0:
            pool, kT, database = self.store.read_structures(0, "candidates"), None, []
        else:
            frames = self.store.read_structures(self.iteration, "trajectories")
            pool = [f for f in frames if keys.ENTHALPY_PER_ATOM in f.info]
            kT = record["kT"]
            database = [a for a in self.store.labels() if a.pbc.all()]
        n = min(record["n_select"], len(pool))
        s = self.settings
        selection = select_structures(pool, n, rng=self._rng("select"), kT=kT,
                                      n_histogram=None if s.n_histogram is None
                                      else max(s.n_histogram, n), soap=soap,
                                      database=database, method=s.selection,
                                      stochastic=s.selection_stochastic,
                                      center=s.selection_center, n_jobs=1)
        chosen = selection.structures
        for rank, atoms in enumerate(chosen):
            atoms.info[UID] = f"i{self.iteration:03d}-s{rank:04d}"
        self.store.write_structures(self.iteration, "selected", chosen)
        self._done("select", selected=len(chosen))
        return chosen

    @_locked
    def label(self) -> list[Atoms]:
        """Label the selected structures (iteration 0 adds dimers and the isolated atom);
        each result is stored as it arrives, and stored ones are not computed again."""
        self._check_order("label")
        todo = self.store.read_structures(self.iteration, "selected")
        if self.iteration == 0:
            extras = [isolated_atom(self.chemistry)] + dimers(self.chemistry)
            for j, atoms in enumerate(extras):
                atoms.info[UID] = f"i000-x{j:03d}"
            todo = todo + extras
        stored = self.store.labelled_uids()
        todo = [a for a in todo if a.info[UID] not in stored]
        iteration = self.iteration
        labelled = label_structures(
            todo, self.reference, executor=self.executor, n_jobs=self.n_jobs,
            progress=self.progress, timeout=self._reference_timeout(),
            on_label=lambda atoms: self.store.add_labels([atoms], iteration))
        rows = self.store.labels(ok_only=False, iteration=iteration)  # resumed ones too
        failed = sum(keys.LABEL_ERROR in a.info for a in rows)
        facts = {}
        if iteration > 0:   # the previous GAP on what its own search found
            facts["prediction_error"] = prediction_error(
                [a for a in rows if keys.LABEL_ERROR not in a.info])
        self._done("label", labelled=len(rows) - failed, failed=failed,
                   labels_total=self.n_labels, **facts)
        return labelled

    def _reference_timeout(self) -> float | None:
        """The wall-time limit of one reference calculation [s] (see ExploreSettings)."""
        if self.settings.reference_timeout is not None:
            return self.settings.reference_timeout
        named = NAMED_REFERENCES.get(self.reference) if isinstance(self.reference, str) \
            else None
        if named is not None and self.reference not in DFT_REFERENCES:
            return DEFAULT_REFERENCE_TIMEOUT
        return None

    @_locked
    def fit(self):
        """Fit GAP_k to every label in the database; returns the FitResult."""
        self._check_order("fit")
        gap = (GapSettings.for_chemistry(self.chemistry) if self.settings.gap == "paper"
               else GapSettings.light(self.chemistry))
        workdir = self.store.iteration_dir(self.iteration) / "gap"
        result = fit_gap(self.store.labels(), self.chemistry, workdir, settings=gap)
        facts, carved = {"fit": result.summary()}, {}
        validating = bool(self.settings.validate or self._own_known())
        if validating:  # timed apart: with a DFT reference it relaxes with the reference
            start = time.perf_counter()
            facts["validation"] = self._validate(result.potential)
            carved["validate"] = time.perf_counter() - start
        self._done("fit", carved=carved, **facts)
        if validating:
            write_csv(self.store.root / "validation.csv", as_rows(self.state["iterations"]))
        return result

    def _own_known(self) -> dict:
        from ase.io import read

        path = self.store.root / "known.xyz"
        if not path.exists():
            return {}
        return {a.info[keys.KNOWN_NAME]: a for a in read(path, ":", format="extxyz")}

    def _validate(self, potential) -> dict:
        from .fit import load_potential
        from .reference import reference_calculator

        structures = {n: known_structure(self.chemistry.element, n)
                      for n in self.settings.validate}
        structures |= self._own_known()
        ref = self.reference
        calculator = (reference_calculator(ref) if isinstance(ref, str)
                      else ref() if isinstance(ref, type) or (  # a calculator class, or
                          callable(ref) and not hasattr(ref, "get_potential_energy"))  # factory
                      else ref)
        cached = self.state.setdefault("reference_energies", {})
        result = validate(structures, load_potential(potential), calculator,
                          chemistry=self.chemistry, reference_energies=cached)
        cached.update({n: result[n]["reference"] for n in structures})
        return result


def _import_function(spec: str):
    """The function named by ``"module:function"`` (a reference calculator factory)."""
    import importlib

    module_name, _, function = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as error:
        raise fail("reference", "Explorer", "a toy reference name or an importable "
                   "'module:function' returning an ASE calculator", spec) from error


def _lowest(trajectories: list[list[Atoms]]) -> dict | None:
    """The lowest-enthalpy final frame among converged relaxations, with its space group."""
    import spglib

    finals = [t[-1] for t in trajectories
              if t[-1].info.get(keys.RELAX_STATUS) == "converged"
              and keys.ENTHALPY_PER_ATOM in t[-1].info]
    if not finals:
        return None
    best = min(finals, key=lambda a: a.info[keys.ENTHALPY_PER_ATOM])
    cell = (best.cell[:], best.get_scaled_positions(), best.numbers)
    return {"enthalpy_per_atom": best.info[keys.ENTHALPY_PER_ATOM],
            "pressure": best.info[keys.PRESSURE], "n_atoms": len(best),
            "volume_per_atom": best.get_volume() / len(best),
            "spacegroup": spglib.get_spacegroup(cell, symprec=0.1),
            "relax_id": best.info.get(keys.RELAX_ID)}
