"""What every worker process of gapexplore shares: how it is set up (one BLAS/OpenMP
thread, Ctrl-C left to the parent, death with the parent) and how a task that kills its
process is reported (:class:`TaskKilled`, :class:`TaskTimedOut`)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from threadpoolctl import threadpool_limits

__all__ = ["TaskKilled", "TaskTimedOut", "WORKER_THREAD_VARIABLES", "pin_worker_threads"]


class TaskKilled(Exception):
    """A task's worker process died while it ran the task alone (a crash of its own)."""


class TaskTimedOut(TaskKilled):
    """A task ran longer than its time limit; its worker process was killed."""

#: Environment variables set to ``"1"`` in every worker of :func:`.default_executor`.
WORKER_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

_limits = None  # the worker's threadpoolctl limiter, kept alive for the worker's lifetime


def pin_worker_threads() -> None:
    """Worker initializer: one BLAS/OpenMP thread in this process and its children; Ctrl-C
    is left to the parent; the worker dies with the parent (Linux ``PR_SET_PDEATHSIG``)."""
    global _limits
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    for name in WORKER_THREAD_VARIABLES:
        os.environ[name] = "1"  # the worker's own environment, read by what it starts

    _limits = threadpool_limits(1)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no orphans holding files)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)
