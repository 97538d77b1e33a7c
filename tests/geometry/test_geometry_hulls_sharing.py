"""Test the queue that threads here share with a helper elsewhere (``hulls.sharing``)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from ftprobe.geometry.hulls.sharing import share_tasks


def _done(value: object) -> Future:
    fut: Future = Future()
    fut.set_result(value)
    return fut


def test_alone_the_tasks_run_in_order_in_the_calling_thread() -> None:
    seen: list[tuple[int, threading.Thread]] = []
    share_tasks(range(5), lambda t: seen.append((t, threading.current_thread())), threads=1)
    assert [t for t, _ in seen] == [0, 1, 2, 3, 4]
    assert {th for _, th in seen} == {threading.current_thread()}


def test_every_task_runs_once_and_the_helpers_failures_run_here() -> None:
    here: list[int] = []
    kept: dict[int, int] = {}
    lock = threading.Lock()
    asked: list[int] = []

    def slow_here(t: int) -> None:
        time.sleep(0.002)  # long enough for the helper to take its share
        with lock:
            here.append(t)

    def helper(t: int) -> Future:
        asked.append(t)
        if t % 3 == 0:
            fut: Future = Future()
            fut.set_exception(RuntimeError("lost"))
            return fut
        return _done(10 * t)

    share_tasks(range(60), slow_here, threads=2, helper=helper, keep=kept.__setitem__)
    assert asked  # the helper took part
    assert sorted(here + list(kept)) == list(range(60))  # each task once
    assert all(kept[t] == 10 * t for t in kept)
    assert {t for t in asked if t % 3 == 0} <= set(here)  # its failures were done here


def test_the_helper_waits_for_the_work_it_was_given_before() -> None:
    earlier: Future = Future()
    asked: list[int] = []

    def here(t: int) -> None:
        if t == 3:  # the threads here run out of work only once the earlier job is done
            earlier.set_result(None)

    def helper(t: int) -> Future:
        assert earlier.done()
        asked.append(t)
        return _done(t)

    share_tasks(
        range(4), here, threads=1, helper=helper, keep=lambda t, r: None, helper_after=[earlier]
    )
    assert not asked  # every task was gone before the helper was free
