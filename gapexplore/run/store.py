"""The run folder: everything an exploration did, on disk, in formats others read.

Layout::

    RUN/
      settings.json          the ExploreSettings the run was started with
      state.json             steps finished, per-iteration controls, fit summaries
      labels.db              every reference calculation (ase.db: `ase db RUN/labels.db`)
      iter_000/
        candidates.xyz       the random cells of the iteration (extxyz)
        trajectories.xyz     every frame of every relaxation (iterations >= 1)
        relaxing/            the finished relaxation tasks' (while the step runs)
        minima.xyz           the last frame of each converged relaxation
        selected.xyz         what the selection chose, with its scores
        gap/                 gap.xml (+ sparseX files), train.xyz and gap_fit's logs

Why an ase.db for the labels: each reference result is written the moment it arrives, so
an interrupted run never computes it again; ``ase db`` and ``ase gui`` read it as it is;
failed calculations are rows too, with their reason (``label_error``), so nothing is
silently lost. Each row carries the structure's unique ``uid``, its ``iteration`` and
``config_type``; the reference energy, forces and stress are the row's calculator
results.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.db import connect
from ase.io import read, write
from ase.stress import full_3x3_to_voigt_6_stress, voigt_6_to_full_3x3_stress

from gapexplore.core import keys
from gapexplore.core.errors import GapExploreError
from gapexplore.run.state import IterationRecord, RunState

__all__ = ["RunStore", "STEP_FILES", "write_csv"]

#: The file each step writes in ``iter_NNN/`` (the fit writes ``gap/``).
STEP_FILES = {"generate": "candidates.xyz", "relax": "trajectories.xyz",
              "select": "selected.xyz"}

UID, ITERATION = keys.UID, keys.ITERATION  # short names inside this module
_RELAXING = "relaxing"   # iter_NNN/relaxing/: the relax step's finished tasks, while it runs


class RunStore:
    """Reads and writes one run folder.

    Parameters
    ----------
    root : str or pathlib.Path
        The run folder. Nothing is written on construction: the folder is made by the first
        :meth:`lock` (every write of a run happens holding it).

    Raises
    ------
    GapExploreError
        If ``root`` exists and is not a folder.
    """

    def __init__(self, root):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise GapExploreError(f"{self.root} is a file, not a run folder: give the path of "
                                  "a folder (new or holding a run).")
        self._lock_handle, self._lock_depth = None, 0

    @contextlib.contextmanager
    def lock(self):
        """Hold the run folder for this process (re-entrant); a second process is refused.

        A POSIX record lock (``fcntl.lockf``): it belongs to this process alone, so worker
        processes forked while it is held do not hold it, and it goes when the process dies,
        however it dies.

        Raises
        ------
        GapExploreError
            When another process holds the folder, or the folder cannot be written.
        """
        if self._lock_depth == 0:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                handle = open(self.root / ".lock", "a+")
            except OSError as error:
                raise GapExploreError(
                    f"Cannot write to the run folder {self.root} ({error.strerror or error}). "
                    "Choose a folder you can write to, or fix its permissions; nothing was "
                    "changed.") from None
            try:
                fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                owner = handle.read().strip() or "unknown"
                handle.close()
                raise GapExploreError(
                    f"Another gapexplore process (pid {owner}) is working on {self.root}. "
                    "Wait for it to finish or stop it, then run again: the run continues "
                    "where it stopped.") from None
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(str(os.getpid()))
                handle.flush()
            except OSError as error:
                handle.close()
                raise GapExploreError(
                    f"Cannot write to the run folder {self.root} ({error.strerror or error}). "
                    "Free some space or fix its permissions, then run again.") from None
            self._lock_handle = handle
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                self._lock_handle.close()  # closing releases the lock
                self._lock_handle = None

    # --- json ------------------------------------------------------------------------------
    def read_json(self, name: str, default=None):
        """The JSON document ``name`` in the run folder, or ``default`` if there is none.

        Raises
        ------
        GapExploreError
            If the file cannot be read or is not JSON (e.g. cut short), naming the file.
        """
        path = self.root / name
        if not path.exists():
            return default
        try:
            return json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise GapExploreError(
                f"{path} is damaged and cannot be read ({error}). gapexplore writes it "
                "atomically, so it was changed by hand or its disk failed: restore it from a "
                "backup, or start the run in a new folder. Nothing was changed.") from None

    def write_json(self, name: str, document) -> None:
        """Write ``document`` atomically (a crash leaves the old file or the new one)."""
        path = self.root / name
        _atomic_write(path, lambda tmp: tmp.write_text(
            json.dumps(document, indent=2, sort_keys=True, default=_plain)))

    # --- structures ------------------------------------------------------------------------
    def iteration_dir(self, iteration: int) -> Path:
        """The folder of ``iteration`` (created if missing)."""
        path = self.root / f"iter_{iteration:03d}"
        path.mkdir(exist_ok=True)
        return path

    def write_structures(self, iteration: int, name: str, structures: list[Atoms]) -> Path:
        """Write ``structures`` to ``iter_NNN/name.xyz`` (extxyz), atomically."""
        path = self.iteration_dir(iteration) / f"{name}.xyz"
        _atomic_write(path, lambda tmp: write(tmp, [_without_calc(a) for a in structures],
                                              format="extxyz"))
        return path

    def read_structures(self, iteration: int, name: str) -> list[Atoms]:
        """The structures of ``iter_NNN/name.xyz`` (an empty list for an empty file)."""
        path = self.root / f"iter_{iteration:03d}" / f"{name}.xyz"
        if not path.exists():
            raise FileNotFoundError(path)
        return read(path, index=":", format="extxyz") if path.stat().st_size else []

    def relaxations(self, iteration: int) -> list[list[Atoms]]:
        """The GAP relaxations of ``iter_NNN/trajectories.xyz`` by ``info[keys.RELAX_ID]``,
        in the order they first appear, the frames of each in order."""
        return list(_by_relaxation(self.read_structures(iteration, "trajectories")).values())

    def keep_relaxations(self, iteration: int, trajectories: dict[int, list[Atoms]]) -> None:
        """Keep one finished relaxation task's trajectories (position -> frames) in
        ``iter_NNN/relaxing/`` (extxyz, atomically) until the relax step is done."""
        (folder := self.iteration_dir(iteration) / _RELAXING).mkdir(exist_ok=True)
        frames = [f for k in sorted(trajectories) for f in trajectories[k]]
        n = len(list(folder.glob("*.xyz")))      # files numbered in the order written
        self.write_structures(iteration, f"{_RELAXING}/{n:06d}", frames)

    def kept_relaxations(self, iteration: int) -> dict[int, list[Atoms]]:
        """What :meth:`keep_relaxations` kept (position -> frames; empty when nothing)."""
        kept, folder = {}, self.root / f"iter_{iteration:03d}" / _RELAXING
        for path in sorted(folder.glob("*.xyz")):    # a relaxation kept twice: the newer one
            kept.update(_by_relaxation(self.read_structures(iteration, f"{_RELAXING}/{path.stem}")))
        return kept

    def drop_kept_relaxations(self, iteration: int) -> None:
        """Remove ``iter_NNN/relaxing/`` (the relax step is done)."""
        shutil.rmtree(self.root / f"iter_{iteration:03d}" / _RELAXING, ignore_errors=True)

    def read_state(self) -> RunState:
        """The run's :class:`~gapexplore.run.state.RunState` (a new one without
        ``state.json``)."""
        values = self.read_json("state.json")
        return RunState() if values is None else RunState.from_dict(values)

    def write_state(self, state: RunState) -> None:
        """Write ``state.json``, atomically."""
        self.write_json("state.json", state.to_dict())

    def potential_of(self, record: IterationRecord) -> Path | None:
        """The GAP fitted in ``record``'s iteration (XML, found in the run folder as it is
        now: the record holds the path as given at fit time), or None if none was."""
        if record.fit is None:
            return None
        return (self.root / f"iter_{record.iteration:03d}" / "gap"
                / Path(record.fit.potential).name)

    def lost_files(self, state: RunState) -> list[str]:
        """Files of finished steps (:data:`STEP_FILES`, the GAPs, ``labels.db``) that
        ``state`` says exist and the folder has lost, as paths in the folder."""
        missing = []
        for record in state.iterations:
            iteration = record.iteration
            if record.fitted:
                potential = self.potential_of(record)
                if not potential.exists():
                    missing.append(str(potential.relative_to(self.root)))
                done = STEP_FILES
            elif iteration == state.iteration:
                done = state.done
            else:
                continue
            for step in done:
                name = STEP_FILES.get(step)
                if name and not (iteration == 0 and step == "relax") \
                        and not (self.root / f"iter_{iteration:03d}" / name).exists():
                    missing.append(f"iter_{iteration:03d}/{name}")
        labelled = max((r.labels_total or 0 for r in state.iterations), default=0)
        if labelled and not self.db_path.exists():
            missing.append(f"labels.db ({labelled} labels recorded)")
        return missing

    def write_known(self, known: dict[str, Atoms]) -> None:
        """Keep the user's own known structures (name -> Atoms) in ``known.xyz``, atomically."""
        structures = []
        for name, atoms in known.items():
            atoms = _without_calc(atoms)
            atoms.info[keys.KNOWN_NAME] = name
            structures.append(atoms)
        _atomic_write(self.root / "known.xyz",
                      lambda tmp: write(tmp, structures, format="extxyz"))

    def read_known(self) -> dict[str, Atoms]:
        """The structures of ``known.xyz`` by name (empty without the file)."""
        path = self.root / "known.xyz"
        if not path.exists():
            return {}
        return {a.info[keys.KNOWN_NAME]: a for a in read(path, ":", format="extxyz")}

    # --- labels ----------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        """Path of the labels database."""
        return self.root / "labels.db"

    def _db(self):
        if self.db_path.exists():
            _check_database(self.db_path)
        # No ASE lock file: the run folder's own lock (:meth:`lock`) keeps other writers out,
        # and ASE's lock file, left behind by a process killed while writing, would make
        # every later run wait on it forever.
        return connect(self.db_path, use_lock_file=False)

    def labelled_uids(self) -> set[str]:
        """Unique ids of every structure with a stored reference result or failure."""
        if not self.db_path.exists():
            return set()
        return {row.uid for row in self._db().select(columns=["key_value_pairs"])}

    def add_labels(self, structures: list[Atoms], iteration: int) -> None:
        """Store labelled (or failed) structures, each with its ``info[UID]``, in one
        transaction: all are stored or, when the write fails (a full disk), none.

        Raises
        ------
        GapExploreError
            When the database cannot be written; it is left as it was (a database that
            did not exist before is removed again).
        """
        new = not self.db_path.exists()
        try:
            self._write_labels(structures, iteration)
        except sqlite3.Error as error:
            if new:
                self.db_path.unlink(missing_ok=True)
            raise GapExploreError(
                f"Could not store reference labels in {self.db_path} ({error}); it holds what "
                "it held before. Free some space (or fix permissions) and run again: the run "
                "continues, and only the calculations that were not stored run again.") \
                from None

    def _write_labels(self, structures: list[Atoms], iteration: int) -> None:
        with self._db() as db:
            for atoms in structures:
                row = _without_calc(atoms)
                pairs = {"uid": atoms.info[UID], "iteration": iteration,
                         "config_type": atoms.info.get(keys.CONFIG_TYPE, "unknown"),
                         "ok": keys.LABEL_ERROR not in atoms.info}
                if keys.LABEL_ERROR in atoms.info:
                    pairs["label_error"] = str(atoms.info[keys.LABEL_ERROR])
                else:
                    results = {"energy": atoms.info[keys.REF_ENERGY],
                               "forces": atoms.arrays[keys.REF_FORCES]}
                    if keys.REF_VIRIAL in atoms.info:
                        virial = np.reshape(atoms.info[keys.REF_VIRIAL], (3, 3))
                        results["stress"] = full_3x3_to_voigt_6_stress(-virial / atoms.get_volume())
                    row.calc = SinglePointCalculator(row, **results)
                    pairs["reference"] = str(atoms.info.get(keys.REF_NAME, ""))
                extra = {k: _plain(v) if isinstance(v, (np.integer, np.floating)) else v
                         for k, v in atoms.info.items()
                         if _is_scalar(v) and k not in pairs and k not in _LABEL_INFO}
                db.write(row, key_value_pairs=pairs, data={"info": extra})

    def count_labels(self, ok_only: bool = True) -> int:
        """Number of stored labels (successful ones only, by default), without reading them."""
        if not self.db_path.exists():
            return 0
        return self._db().count(ok=True) if ok_only else self._db().count()

    def labels(self, ok_only: bool = True, iteration: int | None = None) -> list[Atoms]:
        """Every stored label (or those of one ``iteration``) as ``ase.Atoms`` with
        ``REF_*`` keys (or ``LABEL_ERROR``), ordered by (iteration, uid).

        Labels are stored in the order their calculations finish, which differs from run to
        run with several workers; the fit depends on the order of its training set, so they
        are always read back in this fixed order.
        """
        if not self.db_path.exists():
            return []
        out = []
        query = {} if iteration is None else {"iteration": int(iteration)}
        for row in self._db().select(**query):
            if ok_only and not row.ok:
                continue
            atoms = row.toatoms()
            atoms.info.update(row.data.get("info", {}))
            atoms.info[UID] = row.uid
            atoms.info[ITERATION] = row.iteration
            atoms.info[keys.CONFIG_TYPE] = row.config_type
            if row.ok:
                atoms.info[keys.REF_ENERGY] = float(row.energy)
                atoms.arrays[keys.REF_FORCES] = np.array(row.forces)
                if row.get("stress") is not None:
                    stress = voigt_6_to_full_3x3_stress(np.asarray(row.stress))
                    atoms.info[keys.REF_VIRIAL] = -stress * atoms.get_volume()
                atoms.info[keys.REF_NAME] = row.get("reference", "")
            else:
                atoms.info[keys.LABEL_ERROR] = row.label_error
            atoms.calc = None
            out.append(atoms)
        return sorted(out, key=lambda a: (a.info[ITERATION], a.info[UID]))


_LABEL_INFO = {keys.REF_ENERGY, keys.REF_VIRIAL, keys.REF_NAME, keys.LABEL_ERROR, UID,
               ITERATION}


def _by_relaxation(frames: list[Atoms]) -> dict:
    """``frames`` by ``info[keys.RELAX_ID]``, relaxations in the order they first appear."""
    grouped: dict = {}
    for frame in frames:
        grouped.setdefault(frame.info.get(keys.RELAX_ID), []).append(frame)
    return grouped


def _atomic_write(path: Path, write_to) -> None:
    """Call ``write_to(tmp)`` and move ``tmp`` onto ``path``: a failed write (a full disk)
    leaves ``path`` as it was, and the error names the file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write_to(tmp)
        tmp.replace(path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise GapExploreError(
            f"Could not write {path} ({error.strerror or error}); the file was left as it "
            "was. Free some space (or fix permissions) and run again: the run continues "
            "from its last finished step.") from None


def _check_database(path: Path) -> None:
    """Refuse a ``labels.db`` that is not a readable SQLite database, naming it."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as error:
        raise GapExploreError(
            f"{path} is not a readable labels database ({error}). It holds the run's "
            "reference calculations: restore it from a backup; if it is empty or was never "
            "written (a disk that filled at its first write), delete it and run again.") \
            from None
    if tables and "systems" not in tables:
        raise GapExploreError(f"{path} is an SQLite file but not an ase.db of labels "
                              f"(tables: {', '.join(sorted(tables))}): restore the run's own "
                              "labels.db; if a full disk cut its first write short, delete it "
                              "and run again.")
    if not tables and path.stat().st_size:
        raise GapExploreError(f"{path} holds no tables (a disk that filled at its first "
                              "write?): delete it and run again; no label was stored in it.")


def write_csv(path, rows: list[dict]) -> None:
    """Write dict rows as CSV (header from the first row's keys); nothing when empty.

    Parameters
    ----------
    path : str or Path
        The file to (over)write.
    rows : list of dict
        One dict per line, all with the first row's keys.
    """
    if not rows:
        return
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _is_scalar(value) -> bool:
    return isinstance(value, (bool, int, float, str, np.integer, np.floating))


def _without_calc(atoms: Atoms) -> Atoms:
    copy = atoms.copy()
    copy.calc = None
    return copy


def _plain(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
