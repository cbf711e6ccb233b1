"""An asyncio rate-limited work queue with client-go's ``workqueue`` semantics.

Controllers never act inside event handlers; handlers only put a key (``namespace/name``) on a
:class:`WorkQueue`, and workers loop ``key = await q.get(); try: sync(key) finally: q.done(key)``.
The queue guarantees what makes that loop safe, exactly like client-go's ``Typed`` queue:

* **dedup** - a key added many times before a worker takes it is handed out once (the *dirty*
  set);
* **one worker per key** - a key being processed (the *processing* set) that is added again is
  only marked dirty, and goes back on the queue when ``done(key)`` is called, so two workers
  never handle one key at the same time and the newer state is still synced afterwards;
* **delays** - ``add_after`` parks a key on a clock timer; a key already waiting keeps the
  earlier of its two deadlines (the delaying queue's heap update);
* **rate limiting** - ``add_rate_limited`` asks a :class:`RateLimiter` how long to wait;
  ``forget`` resets the key's history once a sync succeeds. The default is client-go's
  ``DefaultControllerRateLimiter``: the larger of a per-item exponential backoff (5 ms doubling
  up to 1000 s) and an overall token bucket (10 qps, burst 100);
* **shutdown** - after ``shutdown()`` adds are ignored, delayed keys are dropped, and ``get``
  keeps returning what is already queued, raising :class:`ShutDown` once the queue is empty.

All time comes from a :class:`~skiff.client.clock.Clock`, so tests use a ``FakeClock`` and
never sleep. A named queue reports client-go's ``workqueue_*`` metrics labelled with its name.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections import deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from skiff.client import metrics
from skiff.client.clock import Clock, RealClock, TimerHandle

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "ShutDown",
    "WorkQueue",
    "default_controller_rate_limiter",
]

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """``get()`` on a queue that is shut down and has nothing left to hand out."""


# --------------------------------------------------------------------------- rate limiters


class RateLimiter(Protocol):
    """How long an item should wait before it is retried (client-go's ``RateLimiter``)."""

    def when(self, item: Hashable) -> float:
        """Seconds to wait before ``item`` is handed out again; records one more failure."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item`` (its sync succeeded)."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``item`` has been rate-limited since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """``base_delay * 2**failures`` per item, capped at ``max_delay``."""

    def __init__(self, base_delay: float, max_delay: float) -> None:
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exponent = self._failures.get(item, 0)
        self._failures[item] = exponent + 1
        try:
            backoff = math.ldexp(self._base_delay, exponent)
        except OverflowError:
            return self._max_delay
        return min(backoff, self._max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """An overall token bucket (``golang.org/x/time/rate``): ``qps`` refill, ``burst`` capacity.

    Every ``when`` takes a token, even one not yet refilled; the delay is how long until it is.
    """

    def __init__(self, qps: float, burst: int, *, clock: Clock | None = None) -> None:
        if qps <= 0:
            raise ValueError("qps must be positive")
        self._qps = qps
        self._burst = burst
        self._clock = clock or RealClock()
        self._tokens = float(burst)
        self._last: float | None = None

    def when(self, item: Hashable) -> float:
        now = self._clock.now()
        if self._last is not None:
            elapsed = max(0.0, now - self._last)
            self._tokens = min(float(self._burst), self._tokens + elapsed * self._qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The worst (longest) answer of several limiters (client-go's ``MaxOfRateLimiter``)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self._limiters = limiters

    def when(self, item: Hashable) -> float:
        return max((limiter.when(item) for limiter in self._limiters), default=0.0)

    def forget(self, item: Hashable) -> None:
        for limiter in self._limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max((limiter.num_requeues(item) for limiter in self._limiters), default=0)


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter:
    """client-go's ``DefaultControllerRateLimiter``."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(10.0, 100, clock=clock),
    )


# --------------------------------------------------------------------------- metrics


class _QueueMetrics(Generic[T]):
    """client-go's ``defaultQueueMetrics``: adds, depth, latencies and in-flight work."""

    def __init__(self, name: str, clock: Clock) -> None:
        self._clock = clock
        self._enabled = bool(name)  # client-go does not report unnamed queues
        self._add_times: dict[T, float] = {}
        self._start_times: dict[T, float] = {}
        if not self._enabled:
            return
        self._depth = metrics.WORKQUEUE_DEPTH.labels(name=name)
        self._adds = metrics.WORKQUEUE_ADDS.labels(name=name)
        self._latency = metrics.WORKQUEUE_QUEUE_DURATION.labels(name=name)
        self._work_duration = metrics.WORKQUEUE_WORK_DURATION.labels(name=name)
        self._retries = metrics.WORKQUEUE_RETRIES.labels(name=name)
        me = weakref.ref(self)
        metrics.WORKQUEUE_UNFINISHED_WORK.labels(name=name).set_function(
            lambda: m.unfinished_seconds() if (m := me()) is not None else 0.0
        )
        metrics.WORKQUEUE_LONGEST_RUNNING_PROCESSOR.labels(name=name).set_function(
            lambda: m.longest_running_seconds() if (m := me()) is not None else 0.0
        )

    def add(self, item: T) -> None:
        if self._enabled:
            self._adds.inc()
            self._depth.inc()
        self._add_times.setdefault(item, self._clock.now())

    def get(self, item: T) -> None:
        now = self._clock.now()
        self._start_times[item] = now
        added = self._add_times.pop(item, None)
        if self._enabled:
            self._depth.dec()
            if added is not None:
                self._latency.observe(now - added)

    def done(self, item: T) -> None:
        started = self._start_times.pop(item, None)
        if self._enabled and started is not None:
            self._work_duration.observe(self._clock.now() - started)

    def retry(self) -> None:
        if self._enabled:
            self._retries.inc()

    def unfinished_seconds(self) -> float:
        now = self._clock.now()
        return sum(now - started for started in self._start_times.values())

    def longest_running_seconds(self) -> float:
        now = self._clock.now()
        return max((now - started for started in self._start_times.values()), default=0.0)


# --------------------------------------------------------------------------- the queue


class WorkQueue(Generic[T]):
    """A deduplicating, delaying, rate-limited queue of keys; see the module docstring."""

    def __init__(
        self, name: str, *, clock: Clock | None = None, rate_limiter: RateLimiter | None = None
    ) -> None:
        self.name = name
        self._clock: Clock = clock or RealClock()
        self._rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter(self._clock)
        self._metrics: _QueueMetrics[T] = _QueueMetrics(name, self._clock)
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._delayed: dict[T, tuple[float, TimerHandle]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._shutting_down = False

    # ---- adding

    def add(self, item: T) -> None:
        """Queue ``item`` unless it is already waiting; a busy item is re-queued on ``done``."""
        if self._shutting_down or item in self._dirty:
            return
        self._metrics.add(item)
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_getter()

    def add_after(self, item: T, delay: float) -> None:
        """Add ``item`` once ``delay`` seconds have passed (at once when ``delay <= 0``)."""
        if self._shutting_down:
            return
        self._metrics.retry()
        if delay <= 0:
            self.add(item)
            return
        ready_at = self._clock.now() + delay
        waiting = self._delayed.get(item)
        if waiting is not None:
            if waiting[0] <= ready_at:
                return
            waiting[1].cancel()
        handle = self._clock.call_later(delay, lambda: self._delay_expired(item))
        self._delayed[item] = (ready_at, handle)

    def _delay_expired(self, item: T) -> None:
        self._delayed.pop(item, None)
        self.add(item)

    def add_rate_limited(self, item: T) -> None:
        """Add ``item`` after the delay the rate limiter gives it (a retry with backoff)."""
        self.add_after(item, self._rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Reset the rate limiter's history of ``item`` (call it after a successful sync)."""
        self._rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self._rate_limiter.num_requeues(item)

    # ---- taking

    async def get(self) -> T:
        """The next item, waiting for one; :class:`ShutDown` once shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(f"work queue {self.name!r} is shut down")
            await self._wait_for_item()
        item = self._queue.popleft()
        self._metrics.get(item)
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: T) -> None:
        """Mark ``item`` processed; re-queue it if it was added while being processed."""
        self._metrics.done(item)
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_getter()
        if not self._processing:
            self._wake_idle_waiters()

    # ---- lifecycle and introspection

    def shutdown(self) -> None:
        """Stop accepting items, drop delayed ones, let getters drain what is queued."""
        self._shutting_down = True
        for _, handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        while self._getters:
            self._resolve(self._getters.popleft())

    async def shutdown_with_drain(self) -> None:
        """``shutdown()``, then wait until every item handed out has been marked ``done``."""
        self.shutdown()
        while self._processing:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(waiter)
            await waiter

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def len(self) -> int:
        """Items ready to be handed out (not counting delayed or in-process ones)."""
        return len(self._queue)

    def __len__(self) -> int:
        return len(self._queue)

    def processing(self) -> frozenset[T]:
        """Items handed out and not yet ``done``."""
        return frozenset(self._processing)

    def delayed(self) -> int:
        """Items waiting on an ``add_after`` timer."""
        return len(self._delayed)

    # ---- waiting internals

    async def _wait_for_item(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._getters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._wake_getter()  # we were woken for an item: pass the wake-up on
            else:
                self._discard_getter(waiter)
            raise

    def _discard_getter(self, waiter: asyncio.Future[None]) -> None:
        try:
            self._getters.remove(waiter)
        except ValueError:
            pass

    def _wake_getter(self) -> None:
        while self._getters:
            if self._resolve(self._getters.popleft()):
                return

    def _wake_idle_waiters(self) -> None:
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            self._resolve(waiter)

    @staticmethod
    def _resolve(waiter: asyncio.Future[None]) -> bool:
        if waiter.done():
            return False
        waiter.set_result(None)
        return True
