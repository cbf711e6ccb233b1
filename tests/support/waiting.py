"""``wait_until``: the synchronous, deadline-bounded wait for tests that drive real processes (the
async ``eventually`` for in-process tests is in tests/support/cluster.py). Tests poll a condition
with it instead of sleeping and hoping. ``OutputLines`` reads a background process's stdout lines
with a deadline (``skiffctl get -w``, ``events -w``)."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_SHOWN = 4000  # characters of the last value a timeout shows


def wait_until(check: Callable[[], T], *, timeout: float, interval: float, what: str,
               until: Callable[[T], object] = bool) -> T:
    """Call ``check`` every ``interval`` seconds until ``until(value)`` holds (by default: until the
    value is truthy) and return that value.

    ``check`` runs at least once, and once more at the deadline. After ``timeout`` seconds it fails
    with an AssertionError naming ``what`` and the last value ``check`` returned (its first
    ``_SHOWN`` characters when longer).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if until(value):
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            shown = repr(value)
            if len(shown) > _SHOWN:
                shown = f"{shown[:_SHOWN]}... ({len(shown) - _SHOWN} more characters)"
            raise AssertionError(f"timed out after {round(timeout, 1):g}s waiting for {what}; last value: {shown}")
        time.sleep(min(interval, remaining))


class OutputLines:
    """The stdout lines of a background skiffctl, read with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.queue = proc, queue.Queue[str]()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.queue.put(line.rstrip("\n"))

    def next(self, timeout: float = 10.0) -> str:
        return self.queue.get(timeout=timeout)

    def until(self, predicate: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            if predicate in line:
                return line
