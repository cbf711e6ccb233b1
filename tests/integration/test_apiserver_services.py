"""The apiserver's side services and client conveniences: gRPC health and reflection, watch
bookmarks, and the Informer's handlers and indexes."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from apiserver.server.app import APIServer
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.informer import Informer
from tests.support.cluster import eventually, obj
from tests.support.samples import sample


async def test_health_and_reflection(server: APIServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = [s.name async for r in responses for s in r.list_services_response.service]
        assert "skiff.api.v1.Resources" in names and "grpc.health.v1.Health" in names


async def test_discovery_lists_every_kind(client: Client) -> None:
    found = {(r.name, r.group, r.namespaced) for r in (await client.discovery()).resources}
    assert ("deployments", "apps", True) in found and ("nodes", "", False) in found


async def test_bookmarks_carry_the_current_resource_version(server: APIServer, client: Client) -> None:
    server.registry.stores["configmaps"].cache.bookmark_interval = 0.1
    created = await client.create(obj(sample("ConfigMap", name="x")))
    events = client.watch(core_pb2.ConfigMap, namespace="default",
                          resource_version=created.metadata.resource_version, allow_bookmarks=True)
    event = await asyncio.wait_for(anext(events), 5)
    assert event.type == "BOOKMARK"
    assert int(event.object.metadata.resource_version) >= int(created.metadata.resource_version)
    await events.aclose()


async def test_informer_handlers_and_indexes(client: Client) -> None:
    informer: Informer[core_pb2.Pod] = Informer(
        client, core_pb2.Pod, indexers={"node": lambda p: [p.spec.node_name] if p.spec.node_name else []})
    log: list[str] = []
    informer.add_handlers(on_add=lambda o: log.append(f"add {o.metadata.name}"),
                          on_update=lambda old, new: log.append(f"update {new.metadata.name}"),
                          on_delete=lambda o: log.append(f"delete {o.metadata.name}"))
    await client.create(obj(sample("Pod", name="a")))
    task = asyncio.create_task(informer.run())
    await informer.wait_for_sync(5)
    assert informer.has_synced and log == ["add a"]
    await client.create(obj(sample("Pod", name="b")))
    await client.bind("b", "node-1")
    await client.delete(core_pb2.Pod, "a")

    async def done() -> bool:
        return log[-1:] == ["delete a"]

    await eventually(done, what="the delete event")
    assert log == ["add a", "add b", "update b", "delete a"]
    assert [p.metadata.name for p in informer.store.by_index("node", "node-1")] == ["b"]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
