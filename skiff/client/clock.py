"""Time as a seam: a real monotonic clock for production and a fake one for tests.

Everything in skiff that waits, delays or measures durations takes a :class:`Clock` instead of
calling ``time``/``asyncio.sleep`` directly (client-go's ``clock.Clock`` idea). The protocol is
small on purpose:

* ``now()`` - monotonic seconds, for durations and deadlines;
* ``sleep(seconds)`` - await a delay;
* ``call_later(seconds, callback)`` - run a plain callback after a delay and get a handle that
  can ``cancel()`` it; used by queues that schedule work without a task per item.

:class:`FakeClock` never moves on its own. ``advance(seconds)`` moves it forward and, in
deadline order, fires every timer that falls due (``now()`` reads each timer's deadline while
its callback runs, as a real clock would), so tests decide exactly when time passes and never
sleep for real. Sleepers are timers that resolve a future: after ``advance`` their tasks resume
on the event loop's next turns.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "RealClock", "TimerHandle"]


@runtime_checkable
class TimerHandle(Protocol):
    """A scheduled callback that can still be called off."""

    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """Monotonic time, delays and timers."""

    def now(self) -> float:
        """Monotonic seconds; only differences are meaningful."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` have passed on this clock."""
        ...

    def call_later(self, seconds: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` once ``seconds`` have passed; the handle cancels it."""
        ...


class RealClock:
    """The process's monotonic clock and the running event loop's timers."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def call_later(self, seconds: float, callback: Callable[[], object]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(seconds, 0.0), callback)


class _FakeTimer:
    """A timer of a :class:`FakeClock`; cancelling it makes ``advance`` skip it."""

    __slots__ = ("deadline", "callback", "cancelled")

    def __init__(self, deadline: float, callback: Callable[[], object]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that only moves when told to; see the module docstring."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, seconds: float, callback: Callable[[], object]) -> TimerHandle:
        timer = _FakeTimer(self._now + max(seconds, 0.0), callback)
        heapq.heappush(self._timers, (timer.deadline, next(self._sequence), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await future
        finally:
            timer.cancel()

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer that falls due, in order."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            deadline, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, deadline)
            timer.callback()
        self._now = target

    def pending(self) -> int:
        """How many timers (including sleepers) are still waiting."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, if any."""
        live = [deadline for deadline, _, timer in self._timers if not timer.cancelled]
        return min(live, default=None)
