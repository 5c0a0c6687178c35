"""Forking while another thread holds a lock, and hearing back from the child."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def held_by_another_thread(lock: Any) -> Iterator[None]:
    """``lock`` held by a thread of its own until the block ends (as a background writer
    may hold it at the moment a process forks)."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(60)
        yield
    finally:
        release.set()
        holder.join(timeout=60)


def in_forked_child(check: Callable[[], bool]) -> bool:
    """Whether ``check()`` returns True in a forked child. The child reports through its
    exit status only, never returns into the test run, and an alarm ends it if it hangs."""
    pid = os.fork()
    if pid == 0:
        signal.alarm(60)
        try:
            passed = check()
        except BaseException:
            passed = False
        os._exit(0 if passed else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0
