"""controllers.base: the worker loop every controller and the garbage collector drain their queues with."""

from __future__ import annotations

import asyncio
import logging

import pytest

from controllers.base import Worker, run_workers
from skiff.api import errors
from skiff.client.clock import FakeClock
from skiff.client.workqueue import WorkQueue


async def handle(item: str) -> None:
    if item == "conflict":
        raise errors.Conflict("someone else wrote first")
    if item == "boom":
        raise ValueError("boom")


async def test_success_is_forgotten_failures_are_retried_and_only_the_loud_ones_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    queue: WorkQueue[str] = WorkQueue("worker-test", clock=FakeClock())
    queue.add_rate_limited("ok")  # failed before: its backoff history must go
    for item in ("ok", "conflict", "boom"):
        queue.add(item)
    queue.shutdown()  # the worker drains what is queued, then returns
    with caplog.at_level(logging.WARNING, logger="skiff.controllers"):
        await Worker(queue, handle, quiet=(errors.Conflict,)).run()
    assert [queue.num_requeues(i) for i in ("ok", "conflict", "boom")] == [0, 1, 1]
    assert [r.getMessage() for r in caplog.records] == ["worker-test: syncing boom failed: boom"]


async def test_without_quiet_errors_a_conflict_is_logged_too(caplog: pytest.LogCaptureFixture) -> None:
    queue: WorkQueue[str] = WorkQueue("worker-test", clock=FakeClock())
    queue.add("conflict")
    queue.shutdown()
    with caplog.at_level(logging.WARNING, logger="skiff.controllers"):
        await Worker(queue, handle).run()
    assert queue.num_requeues("conflict") == 1
    assert len(caplog.records) == 1


async def test_run_workers_starts_count_per_queue_and_shuts_every_queue_down_when_cancelled() -> None:
    queues: list[WorkQueue[str]] = [WorkQueue(name, clock=FakeClock()) for name in ("a", "b")]
    seen: list[str] = []
    gate = asyncio.Event()

    async def block(item: str) -> None:
        seen.append(item)
        await gate.wait()

    for q in queues:
        q.add("x")
        q.add("y")
    task = asyncio.create_task(run_workers(2, *(Worker(q, block) for q in queues)))
    for _ in range(10):
        await asyncio.sleep(0)
    assert sorted(seen) == ["x", "x", "y", "y"], "two workers per queue: both items of each in flight"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(q.shutting_down for q in queues)
