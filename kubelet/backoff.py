"""Restart and image-pull backoff, per container, as the kubelet keeps it (client-go's flowcontrol.Backoff).

Two uses, with Kubernetes' two readings of one window that starts at ``initial`` (10 s) and doubles
up to ``maximum`` (5 min):

- **Crash loop** (kuberuntime's doBackOff): a container's first crash restarts it at once and
  opens the window (:meth:`Backoff.restarting`); a crash while a window is open holds the restart
  back for that window, counted from the crash (:meth:`Backoff.crashed`), and the restart after it
  doubles the window. So the waits are 0, 10, 20, 40 s … and ``get pods`` shows ``RESTARTS 1``
  before it ever shows ``CrashLoopBackOff``. A container that ran for ``reset_after`` (10 min)
  before it crashed starts over.
- **Image pulls** (the image manager): every failed pull opens or doubles the window, and the
  next pull waits for it (:meth:`Backoff.failed`) — ``ErrImagePull``, then ``ImagePullBackOff``.

The bounds are kubelet flags in skiff, so tests and demos can use sub-second backoff.
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

    def failed(self, key: str) -> float:
        """Record a failed pull; returns the delay before the next try."""
        delay = self._next_window(key, ran_for=0.0)
        self._entries[key] = _Entry(delay, self.clock() + delay)
        return delay

    def crashed(self, key: str, *, ran_for: float) -> float:
        """A container stopped and is to be restarted: seconds to hold the restart back, from now.
        None after its first crash or a run of ``reset_after``; else the window its last restart
        opened."""
        entry = self._entries.get(key)
        if entry is None or ran_for >= self.reset_after:
            return 0.0
        entry.until = self.clock() + entry.delay
        return entry.delay

    def restarting(self, key: str, *, ran_for: float) -> None:
        """A container restarts now: the window a next crash waits opens (see ``_next_window``)."""
        self._entries[key] = _Entry(self._next_window(key, ran_for=ran_for), self.clock())

    def _next_window(self, key: str, *, ran_for: float) -> float:
        """flowcontrol's Next: ``initial`` at first (again after a run of ``reset_after``), else twice
        the last window, up to ``maximum``."""
        entry = self._entries.get(key)
        if entry is None or ran_for >= self.reset_after:
            return self.initial
        return min(entry.delay * 2, self.maximum)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
