"""Leader election through a real apiserver: one leader at a time, failover within the lease
duration when the leader dies, and an immediate handover when it releases."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from skiff.api.v1 import apps_pb2
from skiff.client.client import Client
from skiff.client.leaderelection import LeaderElectionConfig, LeaderElector
from tests.support.cluster import eventually

FAST = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


def elector(client: Client, identity: str) -> LeaderElector:
    return LeaderElector(client, LeaderElectionConfig("kube-system", "test-lock", identity, **FAST))


async def test_only_one_candidate_wins_a_race(client: Client) -> None:
    candidates = [elector(client, f"c{i}") for i in range(5)]
    results = await asyncio.gather(*(c.try_acquire_or_renew() for c in candidates))
    assert sum(results) == 1
    lease = await client.get(apps_pb2.Lease, "test-lock", namespace="kube-system")
    assert lease.spec.holder_identity == candidates[results.index(True)].identity


async def test_failover_when_the_leader_dies(client: Client) -> None:
    a, b = elector(client, "a"), elector(client, "b")
    working: list[str] = []

    def work(name: str) -> Any:
        async def run() -> None:
            working.append(name)
            await asyncio.Event().wait()
        return run

    task_a = asyncio.create_task(a.run(work("a")))
    await eventually(lambda: _true(a.is_leader), what="a to lead")
    task_b = asyncio.create_task(b.run(work("b")))
    await asyncio.sleep(0.3)  # several retry periods: b must keep waiting while a renews
    assert not b.is_leader and working == ["a"]
    loop = asyncio.get_running_loop()
    died = loop.time()
    task_a.cancel()  # a dies without releasing
    with contextlib.suppress(asyncio.CancelledError):
        await task_a
    await eventually(lambda: _true(b.is_leader), timeout=5, what="b to take over")
    assert loop.time() - died < FAST["lease_duration"] + 1.0
    assert working == ["a", "b"]
    lease = await client.get(apps_pb2.Lease, "test-lock", namespace="kube-system")
    assert lease.spec.holder_identity == "b" and lease.spec.lease_transitions == 1
    await b.release()
    task_b.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task_b


async def _true(value: bool) -> bool:
    return value
