"""The executor interface: order, progress, thread pinning, errors."""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gapexplore.core.errors import InvalidParameterError
from gapexplore.core.parallel import TaskKilled, TaskTimedOut, default_executor, map_ordered


def slow_identity(x):
    """Later items finish first, so results arrive out of order."""
    time.sleep(0.02 * (5 - x))
    return x


def worker_threads(_):
    from threadpoolctl import threadpool_info

    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return os.environ.get("OPENBLAS_NUM_THREADS"), os.environ.get("OMP_NUM_THREADS"), blas


def fails_on_three(x):
    if x == 3:
        raise ValueError("three")
    return x


def test_serial_is_a_plain_ordered_map():
    assert map_ordered(abs, [-2, 1, -3]) == [2, 1, 3]
    assert map_ordered(abs, []) == []
    assert map_ordered(abs, iter([-1]), progress=True, desc="abs") == [1]


def test_results_keep_input_order_on_any_executor():
    items = list(range(6))
    with default_executor(2) as pool:
        assert map_ordered(slow_identity, items, executor=pool, progress=True) == items
    with ThreadPoolExecutor(3) as pool:
        assert map_ordered(slow_identity, items, executor=pool) == items
    assert map_ordered(slow_identity, items, n_jobs=2) == items


def test_workers_use_one_blas_thread_and_parent_is_untouched():
    before = dict(os.environ)
    with default_executor(2) as pool:
        results = map_ordered(worker_threads, range(4), executor=pool)
    assert dict(os.environ) == before
    for openblas, omp, blas in results:
        assert openblas == "1" and omp == "1"
        assert all(n == 1 for n in blas)


def test_an_exception_from_fn_propagates():
    with pytest.raises(ValueError, match="three"):
        map_ordered(fails_on_three, range(5))
    with default_executor(2) as pool, pytest.raises(ValueError, match="three"):
        map_ordered(fails_on_three, range(5), executor=pool)


def test_bad_parameters():
    with ThreadPoolExecutor(1) as pool, pytest.raises(InvalidParameterError, match="'n_jobs'"):
        map_ordered(abs, [1], executor=pool, n_jobs=2)
    with pytest.raises(InvalidParameterError, match="'executor' parameter"):
        map_ordered(abs, [1], executor="dask")
    with pytest.raises(InvalidParameterError, match="'n_jobs' parameter of default_executor"):
        default_executor(0)
    with pytest.raises(InvalidParameterError, match="'fn' parameter"):
        map_ordered(None, [1])
    default_executor().shutdown()


def crashes_on_three(x):
    """Kills its own worker process on item 3, as a segfaulting DFT code would."""
    if x == 3:
        os._exit(13)
    time.sleep(0.05)
    return x


def hangs_on_two(x):
    if x == 2:
        time.sleep(60)
    return x


def test_a_task_that_kills_its_worker_fails_alone_and_the_others_finish():
    seen = []
    results = map_ordered(crashes_on_three, range(8), n_jobs=2, return_killed=True,
                          on_result=lambda i, r: seen.append(i))
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5, 6, 7]
    assert isinstance(results[3], TaskKilled) and "alone" in str(results[3])
    assert sorted(seen) == list(range(8))  # each result reported once, as it arrived
    with pytest.raises(TaskKilled):
        map_ordered(crashes_on_three, range(5), n_jobs=2)


def test_a_task_over_its_time_limit_is_stopped_and_recorded():
    start = time.monotonic()
    results = map_ordered(hangs_on_two, range(5), n_jobs=2, timeout=2, return_killed=True)
    assert time.monotonic() - start < 30
    assert results[:2] == [0, 1] and results[3:] == [3, 4]
    assert isinstance(results[2], TaskTimedOut) and "2 s" in str(results[2])
    results = map_ordered(hangs_on_two, [2], timeout=1, return_killed=True)  # n_jobs 1
    assert isinstance(results[0], TaskTimedOut)


def test_on_result_sees_each_result_as_it_arrives():
    arrived = []
    map_ordered(slow_identity, range(5), n_jobs=2,
                on_result=lambda index, result: arrived.append((index, result)))
    assert sorted(arrived) == [(i, i) for i in range(5)]
    arrived.clear()
    map_ordered(abs, [-1, -2], on_result=lambda index, result: arrived.append(result))
    assert arrived == [1, 2]


def _crash_when_told(item):
    """Item 1 kills its worker once the file ``item[1]`` exists; the others return."""
    index, flag = item
    if index == 1:
        while not os.path.exists(flag):
            time.sleep(0.01)
        os._exit(3)
    return index


def test_a_pool_that_breaks_between_a_result_and_the_next_submit_is_survived(tmp_path):
    """The pool breaks after ``wait()`` returned a finished task and before the next task
    is submitted: the next submit meets the broken pool. ``on_result`` runs in that gap, so
    it lets task 1 kill its worker there and waits until the pool has seen it die."""
    flag = tmp_path / "crash-now"
    items = [(i, str(flag)) for i in range(5)]
    seen = []

    def on_result(index, result):
        seen.append(index)
        if index == 0:
            flag.touch()
            pool_broken = time.monotonic() + 2.0   # the pool's manager thread notices
            while time.monotonic() < pool_broken:  # a dead worker within milliseconds
                time.sleep(0.05)

    results = map_ordered(_crash_when_told, items, n_jobs=2, return_killed=True,
                          on_result=on_result)
    assert isinstance(results[1], TaskKilled)
    assert results[:1] + results[2:] == [0, 2, 3, 4]
    assert sorted(seen) == [0, 1, 2, 3, 4]   # each task settled exactly once
