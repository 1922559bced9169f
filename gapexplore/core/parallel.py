"""Where the work runs: one small interface over :mod:`concurrent.futures`.

gapexplore's expensive steps (reference labelling, relaxations) are maps of one function
over a list of structures. They all go through :func:`map_ordered`, which accepts any
:class:`concurrent.futures.Executor`: the local process pool of :func:`default_executor`,
or, for a cluster, the executor of a dask client (``client.get_executor()``).

Threads: every process of :func:`default_executor` limits BLAS and OpenMP to one thread
(``threadpoolctl`` for the libraries already loaded, ``OPENBLAS_NUM_THREADS`` and
``OMP_NUM_THREADS`` for whatever the worker starts later), so that n workers use n cores
and do not slow each other down (measured: two BLAS threads beside a busy core ran
3–15× slower). The parent process is left as it is. Executors made elsewhere (dask) are
used as given; :func:`.local_dask_cluster` starts a local Dask cluster the way gapexplore's
tasks run fastest on it.

Faults: the local pool that :func:`map_ordered` makes for itself survives a task that kills
its worker process (a DFT code's segfault, an MPI abort, the OOM killer): the tasks that were
running when the pool broke are run again, each alone in a process of its own, so that only
the one that crashes by itself is given up; the others go on in a fresh pool. A task that runs
longer than ``timeout`` seconds is stopped the same way (its worker is killed). Workers ignore
Ctrl-C (the parent handles it and kills them) and die with the parent process (Linux), so no
orphan goes on computing after the run has stopped.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from gapexplore.core.checks import check_int, check_real, fail
from gapexplore.core.cluster import DASK_WORKER_CONFIG, local_dask_cluster
from gapexplore.core.isolation import ClusterLost, _ClusterWatch, _Isolated
from gapexplore.core.workers import (
    TaskKilled,
    TaskTimedOut,
    pin_worker_threads,
)

__all__ = ["ClusterLost", "TaskKilled", "TaskTimedOut", "DASK_WORKER_CONFIG", "default_executor",
           "local_dask_cluster", "map_ordered", "process_cached"]


def default_executor(n_jobs: int | None = None) -> ProcessPoolExecutor:
    """A local process pool whose workers each use one BLAS/OpenMP thread.

    Parameters
    ----------
    n_jobs : int, optional
        Number of worker processes. Default: all local cores (``os.cpu_count()``).

    Returns
    -------
    concurrent.futures.ProcessPoolExecutor
        Use it as a context manager (``with default_executor(2) as pool: ...``) or call
        ``shutdown()`` when done. The start method is Python's default for the platform
        (``fork`` on Linux up to Python 3.13), so a function defined in a notebook can be
        sent to the workers.

    Raises
    ------
    InvalidParameterError
        If ``n_jobs`` is not an int >= 1.
    """
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    n_jobs = check_int(n_jobs, "n_jobs", "default_executor", low=1)
    return ProcessPoolExecutor(max_workers=n_jobs, initializer=pin_worker_threads)


def map_ordered(fn: Callable, items: Iterable, *, executor: Executor | None = None,
                n_jobs: int = 1, progress: bool = False, desc: str = "",
                return_killed: bool = False, on_result: Callable | None = None,
                timeout: float | None = None, isolate: bool = False) -> list:
    """``[fn(item) for item in items]``, one task per item, results in input order.

    Parameters
    ----------
    fn : callable
        Function of one item. It should not raise: a function whose failures are part of
        its result (as :func:`gapexplore.label.label_structures` records a failed
        calculation on the structure) lets every other item finish. An exception that
        ``fn`` does raise propagates out of ``map_ordered``, and tasks not yet started
        are cancelled. With an executor, ``fn`` and the items must be serialisable by it
        (for a process pool: picklable, so ``fn`` is a module-level function or a
        :func:`functools.partial` of one).
    items : iterable
        The inputs, one task each.
    executor : concurrent.futures.Executor, optional
        Where the tasks run; it is not shut down. Default: in this process when
        ``n_jobs`` is 1, otherwise a :func:`default_executor` of ``n_jobs`` processes
        made for this call and shut down after it.
    n_jobs : int
        Number of local worker processes when no ``executor`` is given. Must stay 1
        when an ``executor`` is given.
    progress : bool
        Show a tqdm progress bar that advances as results arrive.
    desc : str
        Label of the progress bar.
    return_killed : bool
        For a task that killed its worker more often than the cluster allows (Dask's
        ``KilledWorker``, e.g. a calculator that crashes its process on one structure),
        put the exception in that task's place instead of raising, so the caller can
        record it and the others finish. Tasks killed in a batch are first run again one
        at a time, so that a task that only shared a worker with a crashing one is not
        given up. Losing the whole executor (a broken local pool, a lost scheduler)
        always raises: nothing can be said about the remaining tasks. The local pool that
        ``map_ordered`` makes itself is never lost that way: a task that kills its worker
        there gets a :class:`.TaskKilled` in its place (raised without ``return_killed``).
    on_result : callable, optional
        Called in this process as ``on_result(index, result)`` the moment each result
        arrives (in completion order), e.g. to store it at once: a run interrupted later
        keeps every result that had arrived.
    timeout : float, optional
        Wall-time limit of one task [s], for the local worker processes that
        ``map_ordered`` makes itself (``n_jobs`` > 1, or 1 with a limit: the task then runs
        in one worker process). A task over the limit has its worker killed and gets a
        :class:`.TaskTimedOut` in its place (raised without ``return_killed``); the tasks
        that shared the pool with it run again. On a given ``executor``, applied with
        ``isolate`` only.
    isolate : bool
        Protect the processes that run the tasks from a task that kills its process
        (``os._exit``, a segfault, an MPI abort). With no ``executor`` and ``n_jobs`` 1,
        the tasks run in a worker process rather than in this one (and are then handled as
        with ``n_jobs`` > 1). On a given ``executor`` (Dask), each task runs in a child
        process of the worker that took it, kept for that worker's next tasks: a task that
        kills its process takes the child with it, never the worker, and gets a
        :class:`.TaskKilled` in its place; ``timeout`` then applies too (the child is
        killed). A worker that may not start processes (a daemonic Dask worker: see
        :data:`.DASK_WORKER_CONFIG`) runs the task itself.

    Returns
    -------
    list
        ``fn(item)`` for each item, in the order of ``items``.

    Raises
    ------
    InvalidParameterError
        For an ``executor`` that is not a :class:`concurrent.futures.Executor`, a bad
        ``n_jobs``, or both an ``executor`` and ``n_jobs`` > 1.

    Examples
    --------
    >>> map_ordered(abs, [-2, 1, -3])
    [2, 1, 3]
    """
    where = "map_ordered"
    if not callable(fn):
        raise fail("fn", where, "a callable", fn)
    n_jobs = check_int(n_jobs, "n_jobs", where, low=1)
    if executor is not None and not isinstance(executor, Executor):
        raise fail("executor", where, "a concurrent.futures.Executor or None", executor)
    if executor is not None and n_jobs != 1:
        raise fail("n_jobs", where, "1 when an executor is given (the executor sets the "
                   "number of workers)", n_jobs)
    if on_result is not None and not callable(on_result):
        raise fail("on_result", where, "a callable of (index, result) or None", on_result)
    if timeout is not None:
        timeout = check_real(timeout, "timeout", where, low=0.0, low_open=True)
    items = list(items)
    if executor is None and n_jobs == 1 and timeout is None and not isolate:
        results = []
        for index, item in enumerate(_bar(items, progress, desc)):
            results.append(fn(item))
            if on_result is not None:
                on_result(index, results[-1])
        return results
    if executor is None:
        return _map_local(fn, items, n_jobs, progress, desc, return_killed, on_result, timeout)
    if isolate:
        fn = _Isolated(fn, timeout)
    verdicts = _killed_worker_types() if return_killed else ()
    results = _map_on(executor, fn, items, progress, desc, verdicts, on_result)
    if not return_killed:
        for result in results:
            if isinstance(result, TaskKilled):
                raise result
    return results


def _killed_worker_types() -> tuple:
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:
        return ()
    return (KilledWorker,)


def _map_on(executor: Executor, fn: Callable, items: list, progress: bool, desc: str,
            verdicts: tuple = (), on_result: Callable | None = None) -> list:
    """Map on a given executor. Each future is dropped the moment its result is taken: a
    Dask cluster keeps a result on its worker while the future lives, and a worker that dies
    then takes finished results with it, which Dask would compute again."""
    pending = {executor.submit(fn, item): index for index, item in enumerate(items)}
    results = [None] * len(items)
    watch = _ClusterWatch(executor)
    try:
        with _bar(None, progress, desc, total=len(items)) as bar:
            killed = []
            while pending:
                done, _ = wait(list(pending), timeout=watch.poll,
                               return_when=FIRST_COMPLETED)
                if not done:
                    watch.check()
                    continue
                for future in done:
                    index = pending.pop(future)
                    try:
                        results[index] = future.result()
                    except verdicts:
                        killed.append(index)
                        continue
                    bar.update(1)
                    if on_result is not None:
                        on_result(index, results[index])
                del done, future
            # A task that shared a worker with a crashing one is killed with it; run each
            # killed task again alone, so that only the task that crashes by itself is
            # given up.
            for index in sorted(killed):
                again = executor.submit(_Again(fn), items[index])
                while not wait([again], timeout=watch.poll).done:
                    watch.check()
                try:
                    results[index] = again.result()
                except verdicts as error:
                    results[index] = error
                bar.update(1)
                if on_result is not None:
                    on_result(index, results[index])
    except BaseException:
        for future in pending:
            future.cancel()
        raise
    return results


_POLL = 0.5  # s between checks of the running tasks' wall time


def _map_local(fn: Callable, items: list, n_jobs: int, progress: bool, desc: str,
               return_killed: bool, on_result: Callable | None, timeout: float | None) -> list:
    """The local pool path of :func:`map_ordered`: at most ``n_jobs`` tasks in flight, so
    that when the pool breaks (a worker died) or a task overruns ``timeout``, the tasks that
    were running are known; they are run again alone, and the rest go on in a fresh pool."""
    results: list = [None] * len(items)
    pending = deque(range(len(items)))

    def settle(index, result):
        if isinstance(result, TaskKilled) and not return_killed:
            raise result
        results[index] = result
        bar.update(1)
        if on_result is not None:
            on_result(index, result)

    with _bar(None, progress, desc, total=len(items)) as bar:
        while pending:
            suspects = _run_pool(fn, items, pending, min(n_jobs, len(pending)), timeout, settle)
            for index in suspects:  # each alone: only a task that crashes by itself fails
                settle(index, _run_alone(fn, items[index], timeout))
    return results


def _run_pool(fn, items, pending: deque, n_jobs: int, timeout, settle) -> list[int]:
    """Run ``pending`` tasks in one pool until done or the pool breaks; return the tasks
    that were running when it broke (the pool's workers are gone either way)."""
    pool = default_executor(n_jobs)
    running: dict = {}  # future -> (index, start time)
    try:
        while pending or running:
            broken = []
            while pending and len(running) < n_jobs and not broken:
                index = pending.popleft()
                try:
                    running[pool.submit(fn, items[index])] = (index, time.monotonic())
                except BrokenProcessPool:  # a worker died since the last wait()
                    pending.appendleft(index)  # never started: it goes on in the next pool
                    broken.append(None)
            if not broken:
                done, _ = wait(running, timeout=_POLL if timeout else None,
                               return_when=FIRST_COMPLETED)
                for future in done:
                    index, _ = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken.append(index)
                        continue
                    settle(index, result)
            if broken:  # the pool is lost: every other running future ends now too
                return _settle_broken(running, [i for i in broken if i is not None], settle)
            late = [(future, index) for future, (index, start) in running.items()
                    if timeout and time.monotonic() - start > timeout]
            if late:
                _kill_workers(pool)
                for future, index in late:
                    running.pop(future)
                    settle(index, TaskTimedOut(f"ran longer than its time limit of "
                                               f"{timeout:g} s; its worker was stopped"))
                pending.extendleft(sorted((index for index, _ in running.values()),
                                          reverse=True))
                return []
        return []
    except BaseException:
        _stop(pool)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _settle_broken(running: dict, broken: list[int], settle) -> list[int]:
    """After the pool broke: settle the running tasks that still finished, and return the
    ones lost with it (``broken`` and the others that failed), to be run again alone."""
    wait(running)
    for future, (index, _) in running.items():
        if future.exception() is None:
            settle(index, future.result())
        else:
            broken.append(index)
    return sorted(broken)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Kill ``pool``'s workers and wait for its manager thread to see them gone. Left
    running, that thread closes its wake-up pipe while CPython 3.11's exit handler
    (``concurrent.futures.process._python_exit``) may be writing to it: after a Ctrl-C the
    process then ends with an "OSError: Bad file descriptor" traceback."""
    _kill_workers(pool)
    pool.shutdown(wait=True, cancel_futures=True)


def _run_alone(fn, item, timeout):
    """``fn(item)`` in a worker process of its own, or a :class:`.TaskKilled`."""
    pool = default_executor(1)
    try:
        return pool.submit(fn, item).result(timeout=timeout)
    except BrokenProcessPool as error:
        return TaskKilled(f"the task killed its worker process when run alone ({error})")
    except TimeoutError:
        _kill_workers(pool)
        return TaskTimedOut(f"ran longer than its time limit of {timeout:g} s; its worker "
                            "was stopped")
    except BaseException:
        _stop(pool)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Stop every worker process of ``pool`` now (a running task cannot be cancelled)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.kill()
        except (OSError, ValueError):
            pass
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.join(timeout=5)


class _Again:
    """``fn`` under a new identity, so that an executor that caches results by task
    (Dask: pure tasks) runs it again instead of returning the recorded failure."""

    def __init__(self, fn: Callable):
        self.fn, self.token = fn, uuid.uuid4().hex

    def __call__(self, item):
        return self.fn(item)


#: What this process built once and keeps: group -> {key: object}, oldest first.
_PROCESS_CACHE: dict[str, dict] = {}


def process_cached(group: str, key, build: Callable, *, keep: int = 4):
    """``build()``, built once in this process and kept under ``(group, key)``.

    The one per-process cache of the package: a worker process builds a reference's
    calculator or loads a GAP once and reuses it for every task it runs. Each group keeps
    its ``keep`` newest keys (a new iteration's GAP replaces the last with ``keep=1``).

    Parameters
    ----------
    group : str
        What kind of object (e.g. ``"reference"``, ``"gap"``).
    key : hashable
        Which one: equal keys must mean interchangeable objects.
    build : callable
        Makes the object when it is not cached.
    keep : int
        Objects of ``group`` kept at most.
    """
    cached = _PROCESS_CACHE.setdefault(group, {})
    if key not in cached:
        while len(cached) >= keep:
            cached.pop(next(iter(cached)))
        cached[key] = build()
    return cached[key]


def _bar(iterable, progress: bool, desc: str, total: int | None = None):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc or None, disable=not progress, leave=False)


