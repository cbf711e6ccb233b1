"""WorkQueue: client-go semantics (dedup, one worker per key, delays, rate limits, shutdown).

Time only moves through FakeClock.advance; nothing here sleeps for real.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from prometheus_client import REGISTRY

from skiff.client.clock import Clock, FakeClock, RealClock
from skiff.client.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    ShutDown,
    WorkQueue,
    default_controller_rate_limiter,
)

_names = itertools.count()


def new_queue(clock: FakeClock, **kwargs: object) -> WorkQueue[str]:
    return WorkQueue(f"test-queue-{next(_names)}", clock=clock, **kwargs)  # type: ignore[arg-type]


async def settle() -> None:
    """Let woken tasks run (a few event-loop turns, no wall-clock time)."""
    for _ in range(5):
        await asyncio.sleep(0)


def sample(metric: str, queue: WorkQueue[str]) -> float | None:
    return REGISTRY.get_sample_value(metric, {"name": queue.name})


# --------------------------------------------------------------------------- basic queueing


async def test_fifo_and_dedup_before_get() -> None:
    q = new_queue(FakeClock())
    for key in ("a", "b", "a", "c", "b", "a"):
        q.add(key)
    assert len(q) == 3 and q.len() == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(q) == 0


async def test_key_being_processed_is_not_handed_out_twice() -> None:
    q = new_queue(FakeClock())
    q.add("a")
    first = await q.get()
    q.add("a")  # changed again while a worker holds it
    assert len(q) == 0
    second_worker = asyncio.create_task(q.get())
    await settle()
    assert not second_worker.done()  # no concurrent processing of "a"
    q.done(first)
    await settle()
    assert second_worker.done() and second_worker.result() == "a"
    q.done("a")
    assert len(q) == 0 and q.processing() == frozenset()


async def test_readd_during_processing_is_requeued_once_after_done() -> None:
    q = new_queue(FakeClock())
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_done_without_readd_does_not_requeue() -> None:
    q = new_queue(FakeClock())
    q.add("a")
    q.done(await q.get())
    assert len(q) == 0


async def test_many_workers_never_share_a_key() -> None:
    q = new_queue(FakeClock())
    active: set[str] = set()
    handled: list[str] = []

    async def worker() -> None:
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            assert key not in active
            active.add(key)
            await asyncio.sleep(0)
            if len(handled) < 20:
                q.add(key)  # keep re-adding while busy
            await asyncio.sleep(0)
            active.discard(key)
            handled.append(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for key in ("a", "b", "a", "c"):
        q.add(key)
    for _ in range(50):
        await asyncio.sleep(0)
    q.shutdown()
    await asyncio.gather(*workers)
    assert set(handled) == {"a", "b", "c"}


async def test_waiting_getter_is_woken_by_add() -> None:
    q = new_queue(FakeClock())
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("x")
    assert await getter == "x"


async def test_cancelled_getter_does_not_swallow_an_item() -> None:
    q = new_queue(FakeClock())
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle()
    q.add("x")  # wakes the first getter ...
    first.cancel()  # ... which is cancelled before it runs
    await settle()
    assert first.cancelled()
    assert second.done() and second.result() == "x"


# --------------------------------------------------------------------------- delays


async def test_add_after_orders_by_deadline_with_fake_clock() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add_after("late", 2.0)
    q.add_after("early", 1.0)
    q.add_after("now", 0)
    assert len(q) == 1 and q.delayed() == 2
    clock.advance(0.5)
    assert len(q) == 1
    clock.advance(0.5)
    assert len(q) == 2
    clock.advance(5)
    assert [await q.get() for _ in range(3)] == ["now", "early", "late"]
    assert q.delayed() == 0


async def test_add_after_keeps_the_earlier_deadline() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add_after("a", 10.0)
    q.add_after("a", 1.0)  # earlier: replaces
    q.add_after("a", 5.0)  # later: ignored
    assert clock.pending() == 1
    clock.advance(1.0)
    assert len(q) == 1
    clock.advance(100)
    assert len(q) == 1  # only once
    assert await q.get() == "a"


async def test_delayed_key_already_queued_is_deduplicated() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add("a")
    q.add_after("a", 1)
    clock.advance(1)
    assert len(q) == 1


# --------------------------------------------------------------------------- rate limiting


def test_exponential_backoff_values_and_cap() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    delays = [limiter.when("a") for _ in range(20)]
    assert delays[:5] == [0.005, 0.01, 0.02, 0.04, 0.08]
    assert delays[17] == 0.005 * 2**17  # 655.36 s
    assert delays[18] == 1000.0 and delays[19] == 1000.0
    assert limiter.num_requeues("a") == 20
    assert limiter.when("b") == 0.005  # per item
    for _ in range(2000):
        limiter.when("c")
    assert limiter.when("c") == 1000.0  # no overflow after many failures


def test_forget_resets_backoff() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    limiter.when("a")
    limiter.when("a")
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.005


def test_token_bucket_burst_then_qps() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(10.0, 100, clock=clock)
    assert [bucket.when(i) for i in range(100)] == [0.0] * 100
    assert bucket.when("x") == pytest.approx(0.1)
    assert bucket.when("y") == pytest.approx(0.2)
    clock.advance(1.0)  # ten tokens back; two were owed
    assert bucket.when("z") == 0.0
    assert bucket.num_requeues("z") == 0


def test_default_controller_rate_limiter_is_max_of_both() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    assert isinstance(limiter, MaxOfRateLimiter)
    delays = [limiter.when("a") for _ in range(5)]
    assert delays == [0.005, 0.01, 0.02, 0.04, 0.08]
    for i in range(95):
        limiter.when(i)
    assert limiter.when("fresh") == pytest.approx(0.1)  # bucket empty: its wait wins over 5 ms
    assert limiter.num_requeues("a") == 5
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


async def test_add_rate_limited_forget_and_num_requeues() -> None:
    clock = FakeClock()
    q = new_queue(clock, rate_limiter=ItemExponentialFailureRateLimiter(1.0, 60.0))
    q.add_rate_limited("a")
    assert q.num_requeues("a") == 1 and len(q) == 0
    clock.advance(0.99)
    assert len(q) == 0
    clock.advance(0.01)
    assert await q.get() == "a"
    q.add_rate_limited("a")  # second failure: 2 s
    q.done("a")
    clock.advance(1.5)
    assert len(q) == 0
    clock.advance(0.5)
    assert len(q) == 1 and q.num_requeues("a") == 2
    q.forget("a")
    assert q.num_requeues("a") == 0


# --------------------------------------------------------------------------- shutdown


async def test_shutdown_drains_queue_then_raises() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add("a")
    q.add("b")
    q.add_after("later", 1)
    q.shutdown()
    q.add("c")  # ignored
    q.add_after("d", 0)  # ignored
    assert clock.pending() == 0  # delayed keys dropped
    assert [await q.get(), await q.get()] == ["a", "b"]
    with pytest.raises(ShutDown):
        await q.get()
    assert q.shutting_down


async def test_shutdown_wakes_waiting_getters() -> None:
    q = new_queue(FakeClock())
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.shutdown()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, ShutDown) for r in results)


async def test_shutdown_with_drain_waits_for_done() -> None:
    q = new_queue(FakeClock())
    q.add("a")
    key = await q.get()
    drain = asyncio.create_task(q.shutdown_with_drain())
    await settle()
    assert not drain.done()
    q.done(key)
    await settle()
    assert drain.done()


# --------------------------------------------------------------------------- metrics


async def test_metrics_follow_client_go() -> None:
    clock = FakeClock()
    q = new_queue(clock)
    q.add("a")
    q.add("a")
    q.add("b")
    assert sample("workqueue_adds_total", q) == 2
    assert sample("workqueue_depth", q) == 2
    clock.advance(2)
    key = await q.get()
    assert sample("workqueue_depth", q) == 1
    assert sample("workqueue_queue_duration_seconds_count", q) == 1
    assert sample("workqueue_queue_duration_seconds_sum", q) == 2.0
    clock.advance(3)
    assert sample("workqueue_unfinished_work_seconds", q) == 3.0
    assert sample("workqueue_longest_running_processor_seconds", q) == 3.0
    q.done(key)
    assert sample("workqueue_work_duration_seconds_sum", q) == 3.0
    assert sample("workqueue_unfinished_work_seconds", q) == 0.0
    q.add_after("c", 1)
    q.add_rate_limited("d")
    assert sample("workqueue_retries_total", q) == 2


def test_unnamed_queue_reports_no_metrics() -> None:
    q: WorkQueue[str] = WorkQueue("", clock=FakeClock())
    q.add("a")
    assert REGISTRY.get_sample_value("workqueue_adds_total", {"name": ""}) is None


# --------------------------------------------------------------------------- clocks


async def test_fake_clock_releases_sleepers_in_order() -> None:
    clock = FakeClock(start=100.0)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("b", 2)), asyncio.create_task(sleeper("a", 1))]
    await settle()
    assert clock.pending() == 2 and clock.next_deadline() == 101.0
    clock.advance(1.5)
    await settle()
    assert woke == ["a"] and clock.now() == 101.5
    clock.advance(0.5)
    await asyncio.gather(*tasks)
    assert woke == ["a", "b"]
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_fake_clock_timer_sees_its_deadline_and_can_be_cancelled() -> None:
    clock = FakeClock()
    seen: list[float] = []
    clock.call_later(2, lambda: seen.append(clock.now()))
    cancelled = clock.call_later(1, lambda: seen.append(-1.0))
    cancelled.cancel()
    clock.advance(5)
    assert seen == [2.0] and clock.now() == 5.0


async def test_real_clock_satisfies_protocol() -> None:
    clock = RealClock()
    assert isinstance(clock, Clock) and isinstance(FakeClock(), Clock)
    before = clock.now()
    await clock.sleep(0)
    fired = asyncio.Event()
    clock.call_later(0, fired.set)
    await asyncio.wait_for(fired.wait(), timeout=1)
    assert clock.now() >= before
