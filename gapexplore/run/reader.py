"""A run read from its folder: never locked, never written (after ASE's split of
``TrajectoryReader`` from ``TrajectoryWriter``).

:class:`RunReader` is what ``gapexplore status``, ``results``, ``check`` and ``export``,
the analysis functions and the widgets open: it reads ``settings.json`` and
``state.json`` once, answers where the run stands, and never takes the run's lock, so it
can look at a run while another process runs it. Only the
:class:`~gapexplore.run.Explorer` writes a run. Both answer the same questions through
:class:`RunView`.

:func:`holds_run` is the one home of the rule "does this folder hold a run?": a folder
holds a run when it holds ``settings.json``; :func:`read_settings` is the one reader of
that file, for the reader, the :class:`~gapexplore.run.Explorer` and the command line.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from gapexplore.core.errors import GapExploreError, InvalidParameterError
from gapexplore.label import as_reference, default_reference
from gapexplore.run.settings import ExploreSettings
from gapexplore.run.state import RunState
from gapexplore.run.steps import STEPS
from gapexplore.run.store import RunStore

__all__ = ["RunReader", "RunView", "holds_run", "parse_settings", "read_settings",
           "stored_settings", "with_optimiser_of_its_version"]


class RunView:
    """Where a run stands, from its ``store``, ``state`` and ``settings``; shared by
    :class:`RunReader` and :class:`~gapexplore.run.Explorer`."""

    store: RunStore
    state: RunState
    settings: ExploreSettings

    @property
    def iteration(self) -> int:
        """The iteration in progress (or next to start)."""
        return self.state.iteration

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
        fitted = self.state.fitted
        return self.store.potential_of(fitted[-1]) if fitted else None

    def potential_of(self, iteration: int) -> Path | None:
        """The GAP fitted in ``iteration`` (XML, in the run folder), or None if none was."""
        records = self.state.iterations
        return self.store.potential_of(records[iteration]) \
            if 0 <= iteration < len(records) else None

    def steps(self, iteration: int | None = None) -> tuple[str, ...]:
        """The steps of ``iteration`` (default: the current one)."""
        iteration = self.iteration if iteration is None else iteration
        return tuple(s for s in STEPS if not (iteration == 0 and s == "relax"))

    def stop_reason(self) -> str | None:
        """The stop criterion the run has met (:meth:`ExploreSettings.stop_reason`), or
        None."""
        return self.settings.stop_reason(self.state, self.n_labels)

    def finished(self) -> bool:
        """Whether a stop criterion is met (:meth:`ExploreSettings.stop_reason`)."""
        return self.stop_reason() is not None

    @property
    def next_step(self) -> str:
        """The next unfinished step of the current iteration."""
        return next(s for s in self.steps() if s not in self.state.done)


class RunReader(RunView):
    """The run in ``folder``, read-only.

    Parameters
    ----------
    folder : str or pathlib.Path
        A run folder (one that holds ``settings.json``).
    reference : optional
        The reference to verify and check with, when it is not the run's own named one
        (e.g. a calculator of your own): anything
        :func:`gapexplore.label.as_reference` takes. Default: the run's.
    where : str
        What is named in the error for a folder that holds no run (the function that
        opened it).

    Raises
    ------
    InvalidParameterError
        For a folder that holds no run (no ``settings.json``).
    GapExploreError
        For a run whose ``settings.json`` or ``state.json`` cannot be read.

    Examples
    --------
    >>> run = RunReader("runs/demo")            # doctest: +SKIP
    >>> run.iteration, run.n_labels, run.potential   # doctest: +SKIP
    >>> from gapexplore.run.results import rank_run
    >>> found = rank_run(run, top=5)            # doctest: +SKIP
    """

    def __init__(self, folder, *, reference=None, where: str = "RunReader"):
        self.store = RunStore(folder)
        as_stored = read_settings(self.store)
        if as_stored is None:
            raise InvalidParameterError(
                f"{folder} holds no gapexplore run (no settings.json in it): give {where} a "
                "run folder, one that gapexplore run or an Explorer made.")
        self.state = self.store.read_state()
        self.settings = with_optimiser_of_its_version(as_stored, self.state.schema)
        self.chemistry = self.settings.chemistry()
        self._reference = reference

    @functools.cached_property
    def reference(self):
        """The run's reference (:class:`~gapexplore.label.protocol.Reference`), resolved
        on first use."""
        reference = self._reference or self.settings.reference \
            or default_reference(self.chemistry)
        return as_reference(reference, where="RunReader")


def holds_run(folder) -> bool:
    """Whether ``folder`` (a path or its :class:`RunStore`) holds a run: whether it holds
    ``settings.json``."""
    root = folder.root if isinstance(folder, RunStore) else Path(folder)
    return (root / "settings.json").is_file()


def read_settings(folder) -> ExploreSettings | None:
    """The settings of the run in ``folder`` (a path or its :class:`RunStore`) as its
    ``settings.json`` holds them, or None when it holds none (it holds no run): the one
    reader of ``settings.json``, for the :class:`~gapexplore.run.Explorer`,
    :class:`RunReader` and the command line. Either form reads (see
    :mod:`gapexplore.run.settings`).

    Raises
    ------
    GapExploreError
        When the file is damaged or does not hold valid settings, naming it.
    """
    store = folder if isinstance(folder, RunStore) else RunStore(folder)
    if not holds_run(store):
        return None
    return parse_settings(store.read_json("settings.json"), store.root)


def stored_settings(values, schema: int, root: Path) -> ExploreSettings:
    """The settings of a run folder from its ``settings.json`` (``values``), written with
    state schema ``schema``, as the run goes on with them: folders of schema 2 or earlier
    relaxed with ``"precon-lbfgs"`` (the paper's), and folders of schema 3 or earlier with
    the ``"quippy"`` engine, the defaults then; one whose ``relax`` table names no
    optimiser or engine keeps them, so a continued run goes on as it began.

    Raises
    ------
    GapExploreError
        When ``values`` are not valid settings.
    """
    return with_optimiser_of_its_version(parse_settings(values, root), schema)


def parse_settings(values, root: Path) -> ExploreSettings:
    """``settings.json``'s ``values`` as :class:`ExploreSettings`, as written.

    Raises
    ------
    GapExploreError
        When ``values`` are not valid settings, naming the file in ``root``.
    """
    try:
        return ExploreSettings.from_dict(values)
    except (TypeError, ValueError) as error:
        raise GapExploreError(
            f"{root / 'settings.json'} does not hold valid settings ({error}). Restore it "
            "from a backup or start a new folder.") from None


def with_optimiser_of_its_version(settings: ExploreSettings, schema: int) -> ExploreSettings:
    """``settings`` with the relaxation optimiser and engine that runs of state schema
    ``schema`` used (see :func:`stored_settings`)."""
    relax = settings.relax   # an earlier "precon" is read as its optimiser
    if schema < 3 and relax.optimiser is None:
        relax = dataclasses.replace(relax, optimiser="precon-lbfgs")
    if schema < 4 and relax.engine is None:
        relax = dataclasses.replace(relax, engine="quippy")
    if relax == settings.relax:
        return settings
    return dataclasses.replace(settings, relax=relax)

