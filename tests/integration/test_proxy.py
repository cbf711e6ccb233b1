"""The service proxy forwarding real TCP traffic, against a real apiserver and etcd.

The apiserver hands out cluster IPs from 127.77.0.0/24 and NodePorts from one free port, so every
listener the proxy opens is a loopback address the test may use; the backends are small TCP
servers on 127.0.0.2/3 that answer with their own name, listed in a selector-less Service's
Endpoints written by the test. Shown: connections to the cluster IP and to the NodePort reach the
backends in turn; a dead backend is skipped; sessionAffinity ClientIP keeps one backend; without
ready endpoints, and once the Service is gone, connecting is refused; UDP datagrams are relayed
to a UDP backend and its replies come back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from proxy.addresses import LocalAddresses
from proxy.proxier import Proxier
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.cluster import client_for, eventually, running_apiserver
from tests.support.processes import free_port


@contextlib.asynccontextmanager
async def backend(ip: str, name: str) -> AsyncIterator[int]:
    """A TCP server on ``ip`` answering every connection with ``name`` and what it was sent."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(100)
        writer.write(f"{name}:{data.decode()}".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, ip, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def ask(ip: str, port: int, text: str = "hi") -> str:
    reader, writer = await asyncio.open_connection(ip, port)
    writer.write(text.encode())
    await writer.drain()
    answer = await reader.read(100)
    writer.close()
    return answer.decode()


async def refused(ip: str, port: int) -> bool:
    try:
        await ask(ip, port)
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
async def cluster(etcd: Any) -> AsyncIterator[tuple[Client, int]]:
    node_port = free_port()
    async with running_apiserver(etcd.url, service_cluster_ip_range="127.77.0.0/24",
                                 service_node_port_range=f"{node_port}-{node_port}") as server:
        client = client_for(server)
        try:
            yield client, node_port
        finally:
            await client.close()


def never_add(argv: list[str]) -> Any:
    raise AssertionError(f"the proxy must not change interfaces here: {argv}")


@contextlib.asynccontextmanager
async def proxier(client: Client) -> AsyncIterator[Proxier]:
    proxy = Proxier(client, nodeport_addresses=("127.0.0.1",), addresses=LocalAddresses(run=never_add),
                    min_sync_period=0.02)
    task = asyncio.create_task(proxy.run())
    try:
        yield proxy
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def service(client: Client, **spec: Any) -> core_pb2.Service:
    return await client.create(from_manifest({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"ports": [{"name": "http", "port": 8080}], **spec}}))


async def set_endpoints(client: Client, addresses: list[tuple[str, int]]) -> None:
    subsets = [{"addresses": [{"ip": ip}], "ports": [{"name": "http", "port": port}]} for ip, port in addresses]
    manifest = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "default"},
                "subsets": subsets}
    try:
        current = await client.get(core_pb2.Endpoints, "web", namespace="default")
    except Exception:  # noqa: BLE001 - not there yet
        await client.create(from_manifest(manifest))
        return
    updated = from_manifest(manifest)
    updated.metadata.resource_version = current.metadata.resource_version
    await client.update(updated)


async def test_cluster_ip_and_node_port_reach_the_backends_in_turn(cluster: tuple[Client, int]) -> None:
    client, node_port = cluster
    async with backend("127.0.0.2", "a") as port_a, backend("127.0.0.3", "b") as port_b, proxier(client):
        svc = await service(client, type="NodePort")
        ip = svc.spec.cluster_ip
        assert ip.startswith("127.77.0.") and svc.spec.ports[0].node_port == node_port
        await set_endpoints(client, [("127.0.0.2", port_a), ("127.0.0.3", port_b), ("127.0.0.4", free_port())])

        async def serving() -> bool:
            with contextlib.suppress(OSError):
                return (await ask(ip, 8080)).endswith(":hi")
            return False

        await eventually(serving, what="the cluster IP to answer")
        answers = [await ask(ip, 8080, f"n{i}") for i in range(6)]
        assert {a.split(":")[0] for a in answers} == {"a", "b"}  # the dead 127.0.0.4 is skipped
        assert all(a.endswith(f":n{i}") for i, a in enumerate(answers))
        assert (await ask("127.0.0.1", node_port)).split(":")[0] in ("a", "b")

        await set_endpoints(client, [])
        await eventually(lambda: refused(ip, 8080), what="no ready endpoints: refused")
        assert await refused("127.0.0.1", node_port)
        await set_endpoints(client, [("127.0.0.3", port_b)])
        await eventually(serving, what="serving again")
        assert {(await ask(ip, 8080)).split(":")[0] for _ in range(3)} == {"b"}

        await client.delete(core_pb2.Service, "web", namespace="default")
        await eventually(lambda: refused(ip, 8080), what="the Service gone: refused")


async def test_client_ip_affinity_keeps_one_backend(cluster: tuple[Client, int]) -> None:
    client, _ = cluster
    async with backend("127.0.0.2", "a") as port_a, backend("127.0.0.3", "b") as port_b, proxier(client):
        svc = await service(client, sessionAffinity="ClientIP")
        await set_endpoints(client, [("127.0.0.2", port_a), ("127.0.0.3", port_b)])

        async def serving() -> bool:
            with contextlib.suppress(OSError):
                return bool(await ask(svc.spec.cluster_ip, 8080))
            return False

        await eventually(serving, what="the cluster IP to answer")
        assert len({(await ask(svc.spec.cluster_ip, 8080)).split(":")[0] for _ in range(6)}) == 1


class UdpEcho(asyncio.DatagramProtocol):
    """A UDP backend answering each datagram with ``name:`` and the datagram."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(f"{self.name}:{data.decode()}".encode(), addr)


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.replies.put_nowait(data)


async def test_udp_datagrams_are_relayed_both_ways(cluster: tuple[Client, int]) -> None:
    client, _ = cluster
    loop = asyncio.get_running_loop()
    echo, _ = await loop.create_datagram_endpoint(lambda: UdpEcho("u"), local_addr=("127.0.0.2", 0))
    port = echo.get_extra_info("sockname")[1]
    try:
        async with proxier(client):
            svc = await client.create(from_manifest({
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns", "namespace": "default"},
                "spec": {"ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}]}}))
            await client.create(from_manifest({
                "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "dns", "namespace": "default"},
                "subsets": [{"addresses": [{"ip": "127.0.0.2"}],
                             "ports": [{"name": "dns", "port": port, "protocol": "UDP"}]}]}))
            sender, protocol = await loop.create_datagram_endpoint(UdpClient, remote_addr=(svc.spec.cluster_ip, 5353))
            try:
                async def answered() -> bool:
                    sender.sendto(b"q1")
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.2):
                            return await protocol.replies.get() == b"u:q1"
                    return False

                await eventually(answered, what="a reply through the UDP frontend")
                sender.sendto(b"q2")
                async with asyncio.timeout(5):
                    assert await protocol.replies.get() == b"u:q2"
            finally:
                sender.close()
    finally:
        echo.close()
