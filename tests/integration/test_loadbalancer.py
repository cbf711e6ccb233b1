"""The load balancer controller against a real apiserver and etcd — and with a real nginx.

The first tests give the controller a recording balancer: what it asks nginx for, the Services'
status, finalizer and events are what is checked. The last one runs the real nginx: the "nodes"
are small TCP servers on 127.0.0.2 and 127.0.0.3 at the Service's NodePort, the address pool is
on loopback, and a connection to the Service's external address reaches a node.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from proxy.loadbalancer.allocation import Pool
from proxy.loadbalancer.controller import FINALIZER, LoadBalancerController
from proxy.loadbalancer.nginx import Nginx
from proxy.loadbalancer.nginxconf import Listener, NginxError, find_nginx, stream_modules
from skiff.api import errors
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.events import EventRecorder
from tests.support.cluster import client_for, eventually, running_apiserver
from tests.support.processes import free_port


class Recording:
    """A balancer that only remembers what it was asked for."""

    def __init__(self) -> None:
        self.listeners: list[Listener] = []

    async def apply(self, listeners: Sequence[Listener]) -> None:
        self.listeners = list(listeners)


@pytest.fixture
async def cluster(etcd: Any) -> AsyncIterator[tuple[Client, int]]:
    node_port = free_port()
    async with running_apiserver(etcd.url, service_node_port_range=f"{node_port}-{node_port + 1}") as server:
        client = client_for(server)
        try:
            yield client, node_port
        finally:
            await client.close()


@contextlib.asynccontextmanager
async def controller(client: Client, balancer: Any, pool: str) -> AsyncIterator[LoadBalancerController]:
    recorder = EventRecorder(client, "service-controller")
    recorder.start()
    made = LoadBalancerController(client, balancer, Pool.parse(pool), recorder=recorder, min_sync_period=0.02)
    task = asyncio.create_task(made.run())
    try:
        yield made
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await recorder.stop()


async def node(client: Client, name: str, ip: str, **labels: str) -> None:
    await client.create(from_manifest({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
                                       "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}))


async def lb_service(client: Client, name: str, **spec: Any) -> core_pb2.Service:
    return await client.create(from_manifest({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"name": "http", "port": 80}], **spec}}))


async def reasons(client: Client, name: str) -> list[str]:
    events = (await client.list(core_pb2.Event, namespace="default")).items
    return [e.reason for e in sorted(events, key=lambda e: e.metadata.creation_timestamp)
            if e.involved_object.name == name]


async def test_a_load_balancer_service_gets_an_address_listeners_on_every_node_and_is_cleaned_up(
        cluster: tuple[Client, int]) -> None:
    client, _ = cluster
    balancer = Recording()
    await node(client, "n1", "127.0.0.2")
    await node(client, "n2", "127.0.0.3", **{"node.kubernetes.io/exclude-from-external-load-balancers": ""})
    async with controller(client, balancer, "127.0.100.1-127.0.100.2"):
        web = await lb_service(client, "web")
        node_port = web.spec.ports[0].node_port

        async def addressed() -> bool:
            found = await client.get(core_pb2.Service, "web", namespace="default")
            return [(i.ip, i.ip_mode) for i in found.status.load_balancer.ingress] == [("127.0.100.1", "Proxy")]

        await eventually(addressed, what="the Service's external address")
        assert FINALIZER in (await client.get(core_pb2.Service, "web", namespace="default")).metadata.finalizers
        assert [(x.address, x.port, x.protocol, x.backends) for x in balancer.listeners] == [
            ("127.0.100.1", 80, "TCP", (("127.0.0.2", node_port),))]  # n2 is excluded

        await node(client, "n3", "127.0.0.4")

        async def both_nodes() -> bool:
            return [x.backends for x in balancer.listeners] == [(("127.0.0.2", node_port), ("127.0.0.4", node_port))]

        await eventually(both_nodes, what="a new node among the backends")

        async def ensured() -> bool:
            return (await reasons(client, "web"))[:2] == ["EnsuringLoadBalancer", "EnsuredLoadBalancer"]

        await eventually(ensured, what="the Ensuring/Ensured events")

        await client.delete(core_pb2.Service, "web", namespace="default")

        async def gone() -> bool:
            with contextlib.suppress(errors.NotFound):
                await client.get(core_pb2.Service, "web", namespace="default")
                return False
            return not balancer.listeners

        await eventually(gone, what="the Service deleted once its load balancer is gone")
        assert (await reasons(client, "web"))[-2:] == ["DeletingLoadBalancer", "DeletedLoadBalancer"]


async def test_an_exhausted_pool_or_a_taken_address_is_an_event_not_an_address(cluster: tuple[Client, int]) -> None:
    client, _ = cluster
    balancer = Recording()
    await node(client, "n1", "127.0.0.2")
    async with controller(client, balancer, "127.0.100.1/32"):
        await lb_service(client, "first")

        async def first_addressed() -> bool:
            found = await client.get(core_pb2.Service, "first", namespace="default")
            return bool(found.status.load_balancer.ingress)

        await eventually(first_addressed, what="the first Service's address")
        await lb_service(client, "second", ports=[{"name": "dns", "port": 53, "protocol": "UDP"}])

        async def failed() -> bool:
            events = (await client.list(core_pb2.Event, namespace="default")).items
            return any(e.reason == "SyncLoadBalancerFailed" and e.involved_object.name == "second" for e in events)

        await eventually(failed, what="a SyncLoadBalancerFailed event")
        events = (await client.list(core_pb2.Event, namespace="default")).items
        [event] = [e for e in events if e.reason == "SyncLoadBalancerFailed"]
        assert event.type == "Warning" and event.message == (
            "Error syncing load balancer: failed to ensure load balancer: no address left in the address pool "
            "127.0.100.1/32")
        second = await client.get(core_pb2.Service, "second", namespace="default")
        assert not second.status.load_balancer.ingress
        assert [x.address for x in balancer.listeners] == ["127.0.100.1"]

        # The first one goes: its address passes to the second, whose UDP port is balanced too.
        await client.delete(core_pb2.Service, "first", namespace="default")

        async def passed_on() -> bool:
            found = await client.get(core_pb2.Service, "second", namespace="default")
            return [i.ip for i in found.status.load_balancer.ingress] == ["127.0.100.1"]

        await eventually(passed_on, what="the freed address given to the second Service")
        assert [(x.port, x.protocol) for x in balancer.listeners] == [(53, "UDP")]


@contextlib.asynccontextmanager
async def answering(ip: str, port: int, name: str) -> AsyncIterator[None]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(name.encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, ip, port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


async def test_nginx_balances_the_external_address_across_the_nodes(cluster: tuple[Client, int],
                                                                     tmp_path: Path) -> None:
    binary = find_nginx()
    try:
        if binary is None:
            raise NginxError("no nginx binary")
        stream_modules()
    except NginxError as exc:
        pytest.skip(f"nginx with the stream module is not installed (make test installs it): {exc}")
    client, _ = cluster
    await node(client, "n1", "127.0.0.2")
    await node(client, "n2", "127.0.0.3")
    nginx = Nginx(tmp_path / "lb", binary=binary)
    await nginx.start()
    try:
        async with controller(client, nginx, "127.0.100.10-127.0.100.20"):
            port = free_port()
            web = await lb_service(client, "web", ports=[{"name": "http", "port": port}])
            node_port = web.spec.ports[0].node_port
            async with answering("127.0.0.2", node_port, "n1"), answering("127.0.0.3", node_port, "n2"):

                async def ask() -> str:
                    with contextlib.suppress(OSError):
                        reader, writer = await asyncio.open_connection("127.0.100.10", port)
                        answer = await reader.read(10)
                        writer.close()
                        return answer.decode()
                    return ""

                async def served() -> bool:
                    return await ask() in ("n1", "n2")

                await eventually(served, what="the external address to answer")
                assert {await ask() for _ in range(6)} == {"n1", "n2"}
    finally:
        await nginx.stop()
    assert not nginx.running
