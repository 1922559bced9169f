"""The run folder: everything an exploration did, on disk, in formats others read.

Layout::

    RUN/
      settings.json          the ExploreSettings the run was started with
      state.json             steps finished, per-iteration controls, fit summaries
      labels.db              every reference calculation (ase.db: `ase db RUN/labels.db`)
      iter_000/
        candidates.xyz       the random cells of the iteration (extxyz)
        trajectories.xyz     every frame of every relaxation (iterations >= 1)
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
import json
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from ase.stress import full_3x3_to_voigt_6_stress, voigt_6_to_full_3x3_stress

from . import keys
from .errors import GapExploreError

__all__ = ["ITERATION", "RunStore", "UID", "write_csv"]

#: info key of the unique id of a structure that is (to be) labelled.
UID = "uid"
#: info key of the iteration that labelled a structure (int), set by :meth:`RunStore.labels`.
ITERATION = "iteration"


class RunStore:
    """Reads and writes one run folder.

    Parameters
    ----------
    root : str or pathlib.Path
        The run folder; created if missing.
    """

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_handle, self._lock_depth = None, 0

    @contextlib.contextmanager
    def lock(self):
        """Hold the run folder for this process (re-entrant); a second process is refused.

        Raises
        ------
        GapExploreError
            When another process holds the folder.
        """
        import fcntl
        import os

        if self._lock_depth == 0:
            handle = open(self.root / ".lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                owner = handle.read().strip() or "unknown"
                handle.close()
                raise GapExploreError(
                    f"Another gapexplore process (pid {owner}) is working on {self.root}. "
                    "Wait for it to finish or stop it, then run again: the run continues "
                    "where it stopped.") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
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
        """The JSON document ``name`` in the run folder, or ``default`` if there is none."""
        path = self.root / name
        return json.loads(path.read_text()) if path.exists() else default

    def write_json(self, name: str, document) -> None:
        """Write ``document`` atomically (a crash leaves the old file or the new one)."""
        path = self.root / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(document, indent=2, sort_keys=True, default=_plain))
        tmp.replace(path)

    # --- structures ------------------------------------------------------------------------
    def iteration_dir(self, iteration: int) -> Path:
        """The folder of ``iteration`` (created if missing)."""
        path = self.root / f"iter_{iteration:03d}"
        path.mkdir(exist_ok=True)
        return path

    def write_structures(self, iteration: int, name: str, structures: list[Atoms]) -> Path:
        """Write ``structures`` to ``iter_NNN/name.xyz`` (extxyz), atomically."""
        path = self.iteration_dir(iteration) / f"{name}.xyz"
        tmp = path.with_suffix(".xyz.tmp")
        write(tmp, [_without_calc(a) for a in structures], format="extxyz")
        tmp.replace(path)
        return path

    def read_structures(self, iteration: int, name: str) -> list[Atoms]:
        """The structures of ``iter_NNN/name.xyz`` (an empty list for an empty file)."""
        path = self.iteration_dir(iteration) / f"{name}.xyz"
        if not path.exists():
            raise FileNotFoundError(path)
        return read(path, index=":", format="extxyz") if path.stat().st_size else []

    # --- labels ----------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        """Path of the labels database."""
        return self.root / "labels.db"

    def _db(self):
        from ase.db import connect

        return connect(self.db_path)

    def labelled_uids(self) -> set[str]:
        """Unique ids of every structure with a stored reference result or failure."""
        if not self.db_path.exists():
            return set()
        return {row.uid for row in self._db().select(columns=["key_value_pairs"])}

    def add_labels(self, structures: list[Atoms], iteration: int) -> None:
        """Store labelled (or failed) structures, each with its ``info[UID]``."""
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
        ``REF_*`` keys (or ``LABEL_ERROR``)."""
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
        return out


_LABEL_INFO = {keys.REF_ENERGY, keys.REF_VIRIAL, keys.REF_NAME, keys.LABEL_ERROR, UID,
               ITERATION}


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
