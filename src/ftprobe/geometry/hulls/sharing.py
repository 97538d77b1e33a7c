"""One queue of tasks shared by threads here and a helper elsewhere (a second process).

The rooms whose tasks are whole and independent (one column of point-hull distances, one
pair of hulls) can hand some of them to a process that is already running, such as
:class:`~ftprobe.geometry.ahead.HullsAhead`, instead of starting workers of their own. This
module owns how they share: largest task first, each side taking the next as it finishes,
and a task the helper fails is done here.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")


def share_tasks(
    tasks: Iterable[Task],
    here: Callable[[Task], None],
    *,
    threads: int,
    helper: Callable[[Task], Future[Result]] | None = None,
    keep: Callable[[Task, Result], None] | None = None,
    helper_after: Sequence[Future[object]] = (),
) -> None:
    """Run every task once, in the order given (put the largest first, so that everyone
    finishes together).

    ``threads`` threads call ``here(task)``. With ``helper``, one more thread sends tasks
    to it and passes each result to ``keep(task, result)``; a task whose future fails is
    run by ``here`` instead (its error, if it is one, comes again from there). The helper
    starts only once the futures ``helper_after`` (work it was given earlier) are done:
    a task queued behind them would leave the threads here idle at the end. With one
    thread and no helper the tasks run in the calling thread.
    """
    queue = deque(tasks)
    lock = threading.Lock()

    def take() -> Task | None:
        with lock:
            return queue.popleft() if queue else None

    def local() -> None:
        while (task := take()) is not None:
            here(task)

    def remote() -> None:
        assert helper is not None and keep is not None
        wait(list(helper_after))
        while (task := take()) is not None:
            settle(task, lambda: helper(task).result(), here, keep)

    if not in_threads(threads, helper):
        local()
        return
    jobs = [local] * max(1, threads) + ([remote] if helper is not None else [])
    with ThreadPoolExecutor(len(jobs)) as pool:
        for done in [pool.submit(job) for job in jobs]:
            done.result()


def in_threads(threads: int, helper: object | None) -> bool:
    """Whether :func:`share_tasks` runs its tasks on threads of its own (then each should
    keep its libraries to one thread) rather than in the calling thread."""
    return helper is not None or threads > 1


def settle(
    task: Task,
    result: Callable[[], Result],
    here: Callable[[Task], None],
    keep: Callable[[Task, Result], None],
) -> None:
    """Pass ``result()`` (a helper's answer) to ``keep(task, ...)``; where it fails, run
    ``here(task)`` instead (its error, if it is one, comes again from there)."""
    try:
        value = result()
    except Exception:
        here(task)
        return
    keep(task, value)
