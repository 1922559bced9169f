"""What a run folder recorded: its labels, its learning curves and each GAP's error on the
next iteration's labels (paper Figs. 2 and 3, left)."""

from __future__ import annotations

from ase import Atoms

from gapexplore.run.reader import RunReader
from gapexplore.run.store import RunStore

__all__ = ["learning_curves", "prediction_errors", "run_labels"]


def run_labels(folder, *, periodic: bool = True) -> list[Atoms]:
    """The successful reference labels of a run folder (periodic cells only by default),
    each with ``info["iteration"]``, the iteration that labelled it."""
    labels = _store(folder, "run_labels").labels()
    return [a for a in labels if a.pbc.all()] if periodic else labels


def learning_curves(folder) -> list[dict]:
    """The learning curves of a run: one row per fitted iteration and known structure.

    Parameters
    ----------
    folder : str, pathlib.Path or RunStore
        A run folder whose settings name known structures to ``validate`` (a
        :class:`~gapexplore.run.store.RunStore`, e.g. ``explorer.store``, may be a run whose
        first step has not run yet: no rows).

    Returns
    -------
    list of dict
        Keys ``iteration``, ``labels`` (reference labels the GAP was fitted to),
        ``structure``, ``gap``, ``reference`` [eV/atom], ``error`` (GAP − reference)
        [eV/atom] and ``lowest_label_above`` (the lowest label of the structure's
        composition above it, by the reference [eV/atom]; NaN where not recorded). Empty
        before the first validated fit.
    """
    return _store(folder, "learning_curves").read_state().validation_rows()


def prediction_errors(folder) -> list[dict]:
    """Each GAP's energy error on the labels of the iteration after its fit.

    Those structures were found by relaxations with that GAP and labelled afterwards, so
    they are a test set it never saw (:func:`gapexplore.validate.prediction_error`).

    Parameters
    ----------
    folder : str, pathlib.Path or RunStore
        A run folder (a RunStore as in :func:`learning_curves`).

    Returns
    -------
    list of dict
        One row per iteration from 1 on whose labels are done: ``iteration`` (of the new
        labels), ``labels`` (reference labels the predicting GAP was fitted to), ``n``
        (structures scored), ``rmse``, ``mae``, ``max`` and ``mean`` of E_GAP − E_ref
        [eV/atom].
    """
    return _store(folder, "prediction_errors").read_state().prediction_rows()


def _store(folder, where: str):
    """The run store of ``folder`` (opened read-only), or ``folder`` itself when it is one."""
    if isinstance(folder, RunStore):
        return folder
    return RunReader(folder, where=where).store
