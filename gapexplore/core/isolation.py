"""Tasks that may kill their process, on a cluster that may lose its workers.

:func:`gapexplore.core.parallel.map_ordered` runs an isolated task (``isolate=True``: a
reference calculation) on a Dask worker through :class:`_Isolated`: in a child process of
the worker, kept for its next tasks, so that a task that kills its process (``os._exit``,
a segfault, an MPI abort) or overruns its time limit takes the child, never the worker.
:class:`_ClusterWatch` notices a cluster left without workers while tasks wait.
"""

from __future__ import annotations

import multiprocessing
import pickle
import time
from collections.abc import Callable
from concurrent.futures import Executor

from gapexplore.core.errors import GapExploreError
from gapexplore.core.workers import TaskKilled, TaskTimedOut, pin_worker_threads

__all__ = ["ClusterLost"]


class ClusterLost(GapExploreError):
    """The cluster that ran the tasks has had no worker for longer than it may."""


class _ClusterWatch:
    """Notices a Dask cluster left without workers while tasks wait (its workers were
    killed and nothing restarts them), instead of waiting for ever. Other executors are not
    watched."""

    poll = 5.0      # s between looks while no task finishes
    patience = 120.0  # s without a worker before giving up

    def __init__(self, executor: Executor):
        self.client = getattr(executor, "_client", None)
        self.empty_since = None

    def check(self) -> None:
        if self.client is None:
            return
        try:
            workers = len(self.client.nthreads())
        except Exception:   # a lost scheduler: the caller's own error handling says so
            return
        if workers:
            self.empty_since = None
            return
        now = time.monotonic()
        self.empty_since = self.empty_since or now
        if now - self.empty_since > self.patience:
            raise ClusterLost(
                f"The Dask cluster has had no workers for {self.patience:g} s, so nothing "
                "runs the remaining tasks. Everything finished so far is kept: start workers "
                "again (dask worker ADDRESS) and rerun the same command to continue.")


class _Isolated:
    """``fn`` run in a child process of whichever process calls it (a Dask worker): a
    task that kills its process takes the child, not the worker, and gets a
    :class:`.TaskKilled`; one over ``timeout`` seconds has its child killed and gets a
    :class:`.TaskTimedOut`. The child is kept for the caller's next tasks (a reference's
    calculator is built once in it)."""

    def __init__(self, fn: Callable, timeout: float | None = None):
        self.fn, self.timeout = fn, timeout

    def __call__(self, item):
        global _CHILD
        if _CHILD is None:
            try:
                _CHILD = _Child()
            except AssertionError:   # a daemonic process may not have children
                return self.fn(item)
        try:
            return _CHILD.run(self.fn, item, self.timeout)
        except TimeoutError:
            _CHILD, child = None, _CHILD
            child.stop()
            return TaskTimedOut(f"ran longer than its time limit of {self.timeout:g} s; its "
                                "process was stopped")
        except (EOFError, OSError) as error:   # after TimeoutError, itself an OSError
            _CHILD, child = None, _CHILD
            child.stop()
            return TaskKilled(f"the task killed its process (exit code "
                              f"{child.process.exitcode}; {type(error).__name__})")


class _Child:
    """One child process that runs the tasks sent to it, one at a time, over a pipe."""

    def __init__(self):
        self.conn, there = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_child_loop, args=(there,), daemon=True)
        self.process.start()
        there.close()   # the child's end: its death then reads as end-of-file here

    def run(self, fn: Callable, item, timeout: float | None):
        """``fn(item)`` in the child; EOFError if the child dies, TimeoutError past
        ``timeout`` [s]; an exception that ``fn`` raises is raised here."""
        self.conn.send((fn, item))
        if not self.conn.poll(timeout):
            raise TimeoutError
        ok, value = self.conn.recv()
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


def _child_loop(conn) -> None:
    """The child of :class:`_Child`: run each task it is sent until the pipe closes."""
    pin_worker_threads()
    while True:
        try:
            fn, item = conn.recv()
        except EOFError:
            return
        try:
            reply = (True, fn(item))
        except Exception as error:
            reply = (False, error)
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            conn.send((False, RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))


_CHILD: _Child | None = None  # this process's child for isolated tasks
