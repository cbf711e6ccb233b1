"""The kubelet's StatusManager: only changes are written, one write per pod at a time, and the
newest status always ends up on the object — also when it arrives while an older one is in flight."""

from __future__ import annotations

import asyncio
from typing import Any

from kubelet.status import StatusManager
from skiff.api.v1 import core_pb2


def _status(ready: bool) -> core_pb2.PodStatus:
    status = core_pb2.PodStatus(phase="Running")
    cond = status.conditions.add()
    cond.type, cond.status = "Ready", "True" if ready else "False"
    return status


def _ready(status: core_pb2.PodStatus) -> str:
    return next(c.status for c in status.conditions if c.type == "Ready")


class FakeClient:
    """Holds one pod; each UpdateStatus waits until the test lets it through."""

    def __init__(self, pod: core_pb2.Pod) -> None:
        self.pod = pod
        self.gate = asyncio.Event()
        self.writes: list[str] = []

    async def get(self, cls: Any, name: str, *, namespace: str) -> core_pb2.Pod:
        copy = core_pb2.Pod()
        copy.CopyFrom(self.pod)
        return copy

    async def update_status(self, pod: core_pb2.Pod) -> core_pb2.Pod:
        await self.gate.wait()
        self.pod.status.CopyFrom(pod.status)
        self.writes.append(_ready(pod.status))
        return pod


def _pod(ready: bool) -> core_pb2.Pod:
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace, pod.metadata.uid = "web", "default", "uid-1"
    pod.status.CopyFrom(_status(ready))
    return pod


async def test_a_status_set_while_an_older_one_is_in_flight_is_still_written() -> None:
    client = FakeClient(_pod(ready=False))
    manager = StatusManager(client)  # type: ignore[arg-type]
    client.gate.set()
    manager.set(_pod(ready=False), _status(ready=True))  # written: Ready True
    await manager.flush()
    assert client.writes == ["True"]
    client.gate.clear()
    # the kubelet's view of the pod (its informer) still shows Ready True from that write
    manager.set(_pod(ready=True), _status(ready=False))  # in flight, held at the gate ...
    await asyncio.sleep(0)
    manager.set(_pod(ready=True), _status(ready=True))  # ... when Ready True comes back
    client.gate.set()
    await manager.flush()
    assert client.writes == ["True", "False", "True"]
    assert _ready(client.pod.status) == "True"


async def test_an_unchanged_status_is_not_written_again() -> None:
    client = FakeClient(_pod(ready=False))
    client.gate.set()
    manager = StatusManager(client)  # type: ignore[arg-type]
    manager.set(_pod(ready=False), _status(ready=True))
    await manager.flush()
    manager.set(_pod(ready=True), _status(ready=True))
    manager.set(_pod(ready=True), _status(ready=True))
    await manager.flush()
    assert client.writes == ["True"]
    assert manager.writes == 1
    # a status already on the object is not written either
    other = StatusManager(client)  # type: ignore[arg-type]
    other.set(_pod(ready=True), _status(ready=True))
    await other.flush()
    assert client.writes == ["True"]
