"""Where the work runs: one small interface over :mod:`concurrent.futures`.

gapexplore's expensive steps (reference labelling, relaxations) are maps of one function
over a list of structures. They all go through :func:`map_ordered`, which accepts any
:class:`concurrent.futures.Executor`: the local process pool of :func:`default_executor`,
or, for a cluster, the executor of a dask client (``client.get_executor()``).

Threads: every process of :func:`default_executor` limits BLAS and OpenMP to one thread
(``threadpoolctl`` for the libraries already loaded, ``OPENBLAS_NUM_THREADS`` and
``OMP_NUM_THREADS`` for whatever the worker starts later), so that n workers use n cores
and do not slow each other down (FIELD-NOTES: two BLAS threads beside a busy core ran
3–15× slower). The parent process is left as it is. Executors made elsewhere (dask) are
used as given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed

from ._checks import check_int, fail

__all__ = ["default_executor", "map_ordered"]

#: Environment variables set to ``"1"`` in every worker of :func:`default_executor`.
WORKER_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

_limits = None  # the worker's threadpoolctl limiter, kept alive for the worker's lifetime


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
    return ProcessPoolExecutor(max_workers=n_jobs, initializer=_pin_worker_threads)


def map_ordered(fn: Callable, items: Iterable, *, executor: Executor | None = None,
                n_jobs: int = 1, progress: bool = False, desc: str = "",
                return_killed: bool = False) -> list:
    """``[fn(item) for item in items]``, one task per item, results in input order.

    Parameters
    ----------
    fn : callable
        Function of one item. It should not raise: a function whose failures are part of
        its result (as :func:`gapexplore.reference.label_structures` records a failed
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
        always raises: nothing can be said about the remaining tasks.

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
    items = list(items)
    if executor is None and n_jobs == 1:
        return [fn(item) for item in _bar(items, progress, desc)]
    verdicts = _killed_worker_types() if return_killed else ()
    if executor is None:
        with default_executor(min(n_jobs, max(len(items), 1))) as pool:
            return _map_on(pool, fn, items, progress, desc, verdicts)
    return _map_on(executor, fn, items, progress, desc, verdicts)


def _killed_worker_types() -> tuple:
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:
        return ()
    return (KilledWorker,)


def _map_on(executor: Executor, fn: Callable, items: list, progress: bool, desc: str,
            verdicts: tuple = ()) -> list:
    futures = {executor.submit(fn, item): index for index, item in enumerate(items)}
    results = [None] * len(items)
    try:
        with _bar(None, progress, desc, total=len(items)) as bar:
            killed = []
            for future in as_completed(futures):
                try:
                    results[futures[future]] = future.result()
                    bar.update(1)
                except verdicts:
                    killed.append(futures[future])
            # A task that shared a worker with a crashing one is killed with it; run each
            # killed task again alone, so that only the task that crashes by itself is
            # given up.
            for index in sorted(killed):
                try:
                    results[index] = executor.submit(_Again(fn), items[index]).result()
                except verdicts as error:
                    results[index] = error
                bar.update(1)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return results


class _Again:
    """``fn`` under a new identity, so that an executor that caches results by task
    (Dask: pure tasks) runs it again instead of returning the recorded failure."""

    def __init__(self, fn: Callable):
        import uuid

        self.fn, self.token = fn, uuid.uuid4().hex

    def __call__(self, item):
        return self.fn(item)


def _bar(iterable, progress: bool, desc: str, total: int | None = None):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc or None, disable=not progress, leave=False)


def _pin_worker_threads() -> None:
    """Worker initializer: one BLAS/OpenMP thread in this process and its children."""
    global _limits
    for name in WORKER_THREAD_VARIABLES:
        os.environ[name] = "1"  # the worker's own environment, read by what it starts
    from threadpoolctl import threadpool_limits

    _limits = threadpool_limits(1)
