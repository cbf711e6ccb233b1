"""Restart and image-pull backoff, per container, as the kubelet keeps it.

Kubernetes' crash-loop backoff: the first restart waits ``initial`` (10 s), each further one twice
as long, up to ``maximum`` (5 min); a container that then ran for ``reset_after`` (10 min) starts
again from ``initial``. The bounds are kubelet flags in skiff, so tests and demos can use
sub-second backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    delay: float
    until: float


class Backoff:
    def __init__(self, *, initial: float = 10.0, maximum: float = 300.0, reset_after: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.initial = initial
        self.maximum = maximum
        self.reset_after = reset_after
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def remaining(self, key: str) -> float:
        """Seconds left before ``key`` may be retried (0 when it may be now)."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.until - self.clock())

    def current(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def failed(self, key: str, *, ran_for: float = 0.0) -> float:
        """Record a failure (a crash, a failed pull); returns the delay before the next try."""
        entry = self._entries.get(key)
        if entry is None or ran_for >= self.reset_after:
            delay = self.initial
        else:
            delay = min(entry.delay * 2, self.maximum)
        self._entries[key] = _Entry(delay, self.clock() + delay)
        return delay

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
