"""The pod garbage collector against a real apiserver and etcd: pods bound to a node that was
deleted go (after the quarantine, marked Failed with a DisruptionTarget condition first), and
terminated pods beyond the threshold go oldest first, while running ones and the newest
terminated ones stay."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from controllers.podgc import PodGarbageCollector
from skiff.api import errors
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.cluster import eventually
from tests.support.controllers import running


def podgc(client: Client, threshold: int = 12500) -> contextlib.AbstractAsyncContextManager[list[Any]]:
    return running(client, lambda c, i, r: PodGarbageCollector(c, i, r, gc_period=0.1, quarantine=0.3,
                                                               terminated_pod_gc_threshold=threshold))


async def make_node(client: Client, name: str) -> None:
    await client.create(from_manifest({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                                       "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))


async def pod_on(client: Client, name: str, node: str, phase: str = "Running") -> None:
    await client.create(from_manifest({"apiVersion": "v1", "kind": "Pod",
                                       "metadata": {"name": name, "namespace": "default"},
                                       "spec": {"containers": [{"name": "app", "image": "busybox"}]}}))
    await client.bind(name, node, namespace="default")
    pod = await client.get(core_pb2.Pod, name, namespace="default")
    pod.status.phase = phase
    await client.update_status(pod)


async def names(client: Client) -> list[str]:
    return sorted(p.metadata.name for p in (await client.list(core_pb2.Pod, namespace="default")).items)


async def test_the_pods_of_a_deleted_node_are_removed(client: Client) -> None:
    await make_node(client, "gone")
    await make_node(client, "kept")
    await pod_on(client, "orphan", "gone")
    await pod_on(client, "fine", "kept")
    async with podgc(client):
        await asyncio.sleep(0.2)
        assert await names(client) == ["fine", "orphan"]  # nothing to collect while both nodes exist
        await client.delete(core_pb2.Node, "gone")

        async def collected() -> bool:
            try:
                await client.get(core_pb2.Pod, "orphan", namespace="default")
            except errors.NotFound:
                return True
            return False

        await eventually(collected, timeout=10, what="the pod of the deleted node removed")
        assert await names(client) == ["fine"]


async def test_terminated_pods_beyond_the_threshold_go_oldest_first(client: Client) -> None:
    await make_node(client, "n1")
    for name, phase in (("old-done", "Succeeded"), ("mid-failed", "Failed"), ("new-done", "Succeeded"),
                        ("running", "Running")):
        await pod_on(client, name, "n1", phase)
        await asyncio.sleep(1.05)  # creation timestamps are whole seconds: keep them apart
    async with podgc(client, threshold=1):

        async def trimmed() -> bool:
            return await names(client) == ["new-done", "running"]

        await eventually(trimmed, timeout=10, what="the two oldest terminated pods removed")
