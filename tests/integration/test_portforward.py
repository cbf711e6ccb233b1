"""port-forward end to end with real TCP at every hop, and real parts between them.

A test connection goes: the test's TCP client → a local listener that hands each connection to
``skiff.client.pods.port_forward`` (what ``skiffctl port-forward`` does) → the apiserver's PodProxy
over a real etcd → the real kubelet servicer (``kubelet.server.KubeletServicer``) on a loopback
port → the pod's IP on the port: a TCP server the test runs on a 127.0.0.x address, which a
FakeRuntime reports as the pod's sandbox IP (a hostNetwork sandbox on a node whose IP is that
loopback address). Nothing is mocked between the two TCP ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import grpc
import pytest

from kubelet.runtime.fake import FakeRuntime
from kubelet.runtime.interface import ContainerRuntime, SandboxConfig
from kubelet.server import KubeletServicer
from skiff.api import errors
from skiff.api.v1 import core_pb2, node_pb2_grpc
from skiff.client import pods
from skiff.client.client import Client
from tests.support.cluster import eventually
from tests.support.fake_kubelet import node_for, pod_with

DEADLINE_S = 20.0
MiB = 1 << 20
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _pod_ip() -> str:
    """A loopback address of this test's own, standing in for a pod IP."""
    return f"127.0.{random.randint(1, 254)}.{random.randint(2, 254)}"


@dataclass
class PodServer:
    """What listens in "the pod": a TCP server on the pod IP, counting its open connections."""

    ip: str
    handler: Handler
    port: int = 0
    open: int = 0
    received: list[bytes] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.ip, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            await self.handler(reader, writer)
        except ConnectionError:
            pass
        finally:
            self.open -= 1
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo as it comes, then half-close after the client's end of data."""
    while data := await reader.read(64 * 1024):
        writer.write(data)
        await writer.drain()
    writer.write_eof()


@dataclass
class Setup:
    client: Client
    pod_ip: str
    runtime: FakeRuntime
    pods: dict[tuple[str, str], core_pb2.Pod]
    local_port: int = 0
    """Where the test connects: each connection is forwarded to ``target`` (pod, port)."""
    target: tuple[str, int] = ("", 0)
    servers: list[PodServer] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    """What each forwarded connection raised."""

    async def pod_server(self, handler: Handler) -> PodServer:
        server = PodServer(self.pod_ip, handler)
        await server.start()
        self.servers.append(server)
        return server

    async def running_pod(self, name: str, *, phase: str = "Running") -> core_pb2.Pod:
        """A pod bound to the node, with its sandbox in the runtime and the given phase."""
        pod = await self.client.create(pod_with(name, "app"))
        await self.client.bind(name, "node-1")
        pod = await self.client.get(core_pb2.Pod, name, namespace="default")
        pod.status.phase = phase
        pod = await self.client.update_status(pod)
        await self.runtime.run_sandbox(SandboxConfig(pod_uid=pod.metadata.uid, namespace="default", name=name,
                                                     hostname=name, host_network=True))
        self.pods[("default", name)] = pod
        return pod

    async def connect(self, pod: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.target = (pod, port)
        return await asyncio.open_connection("127.0.0.1", self.local_port)


@pytest.fixture
async def setup(client: Client) -> AsyncIterator[Setup]:
    ip = _pod_ip()
    runtime = FakeRuntime(node_ip=ip, node_name="node-1")
    known: dict[tuple[str, str], core_pb2.Pod] = {}

    def lookup(namespace: str, name: str) -> tuple[core_pb2.Pod, ContainerRuntime] | None:
        pod = known.get((namespace, name))
        return (pod, runtime) if pod is not None else None

    kubelet = grpc.aio.server()
    node_pb2_grpc.add_KubeletServicer_to_server(KubeletServicer(lookup), kubelet)
    kubelet_port = kubelet.add_insecure_port("127.0.0.1:0")
    await kubelet.start()
    await client.create(node_for("node-1", kubelet_port))
    s = Setup(client, ip, runtime, known)

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pod, port = s.target
        try:
            await pods.port_forward(client, pod, port, reader=reader, writer=writer)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            s.errors.append(exc)

    local = await asyncio.start_server(forward, "127.0.0.1", 0)
    s.local_port = int(local.sockets[0].getsockname()[1])
    try:
        yield s
    finally:
        local.close()
        for server in s.servers:
            await server.stop()
        await kubelet.stop(0.5)


async def _read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    async with asyncio.timeout(DEADLINE_S):
        return await reader.readexactly(size)


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(DEADLINE_S):
        return await reader.read()


async def test_bytes_both_ways_including_a_mebibyte(setup: Setup) -> None:
    server = await setup.pod_server(echo)
    await setup.running_pod("web")
    reader, writer = await setup.connect("web", server.port)
    writer.write(b"ping\n")
    assert await _read_exactly(reader, 5) == b"ping\n"

    payload = random.randbytes(MiB)

    async def send() -> None:  # write while reading: the relay holds back rather than buffering it all
        writer.write(payload)
        await writer.drain()

    sender = asyncio.create_task(send())
    echoed = await _read_exactly(reader, MiB)
    await sender
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()
    writer.write_eof()
    assert await _read_to_end(reader) == b""  # the pod's half-close arrives as the end of data
    writer.close()
    await eventually(lambda: _true(server.open == 0), what="the pod-side connection to close")
    assert setup.errors == []


async def test_half_close_from_the_client_still_gets_the_reply(setup: Setup) -> None:
    async def count_then_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()  # everything, up to the client's end of data
        writer.write(f"got {len(data)} bytes".encode())
        await writer.drain()

    server = await setup.pod_server(count_then_reply)
    await setup.running_pod("web")
    reader, writer = await setup.connect("web", server.port)
    writer.write(b"hello world")
    await writer.drain()
    writer.write_eof()  # shutdown(SHUT_WR): the reply must still come
    assert await _read_to_end(reader) == b"got 11 bytes"
    writer.close()


async def test_half_close_from_the_pod_lets_the_client_go_on_sending(setup: Setup) -> None:
    async def greet_then_listen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello, send me the rest\n")
        writer.write_eof()
        server.received.append(await reader.read())

    server = await setup.pod_server(greet_then_listen)
    await setup.running_pod("web")
    reader, writer = await setup.connect("web", server.port)
    assert await _read_to_end(reader) == b"hello, send me the rest\n"
    writer.write(b"late data")  # the pod's side is closed, ours is not
    await writer.drain()
    writer.write_eof()
    await eventually(lambda: _true(server.received == [b"late data"]), what="the late data to reach the pod")
    writer.close()


async def test_two_connections_at_once(setup: Setup) -> None:
    server = await setup.pod_server(echo)
    await setup.running_pod("web")
    first = await setup.connect("web", server.port)
    second = await setup.connect("web", server.port)
    await eventually(lambda: _true(server.open == 2), what="both connections to reach the pod")
    first[1].write(b"one")
    second[1].write(b"two")
    assert await _read_exactly(second[0], 3) == b"two"
    assert await _read_exactly(first[0], 3) == b"one"
    second[1].close()  # one connection ending leaves the other working
    await eventually(lambda: _true(server.open == 1), what="the second connection to close")
    first[1].write(b"still here")
    assert await _read_exactly(first[0], 10) == b"still here"
    first[1].close()
    await eventually(lambda: _true(server.open == 0), what="the first connection to close")


async def test_a_refused_port_is_a_clear_error(setup: Setup) -> None:
    pod = await setup.running_pod("web")
    with socket.socket() as probe:  # a port on the pod IP where nothing listens
        probe.bind((setup.pod_ip, 0))
        port = probe.getsockname()[1]
    reader, writer = await setup.connect("web", port)
    assert await _read_to_end(reader) == b""  # the local connection is closed
    await eventually(lambda: _true(len(setup.errors) == 1), what="the forward to fail")
    error = setup.errors[0]
    assert isinstance(error, errors.InternalError)
    assert error.message == (f"error forwarding port {port} to pod fake-sandbox-1, uid {pod.metadata.uid}: "
                             f"dial tcp {setup.pod_ip}:{port}: connect: connection refused")
    writer.close()


async def test_pod_errors_in_kubernetes_words(setup: Setup) -> None:
    await setup.running_pod("pending", phase="Pending")

    async def attempt(pod: str) -> BaseException:
        reader, writer = await setup.connect(pod, 80)
        await _read_to_end(reader)
        writer.close()
        await eventually(lambda: _true(bool(setup.errors)), what="the forward to fail")
        return setup.errors.pop()

    missing = await attempt("nope")
    assert isinstance(missing, errors.NotFound) and missing.message == 'pods "nope" not found'
    pending = await attempt("pending")
    assert isinstance(pending, errors.BadRequest)
    assert pending.message == "unable to forward port because pod is not running. Current status=Pending"
    await setup.client.create(pod_with("unbound", "app"))
    unbound = await attempt("unbound")
    assert unbound.message == "pod unbound does not have a host assigned"


async def test_leaving_closes_the_pod_side(setup: Setup) -> None:
    server = await setup.pod_server(echo)
    await setup.running_pod("web")
    _, writer = await setup.connect("web", server.port)
    await eventually(lambda: _true(server.open == 1), what="the connection to reach the pod")
    writer.transport.abort()  # a reset, not a half-close: the whole chain is torn down
    await eventually(lambda: _true(server.open == 0), what="the pod-side connection to close")


async def _true(value: bool) -> bool:
    return value
