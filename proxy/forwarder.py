"""Forwarding one Service port's connections to its backends, in user space.

A :class:`Balancer` holds a rule's backends and picks one per connection: round robin, or with
sessionAffinity ClientIP the backend a client address used last (for three hours, Kubernetes'
default timeout). :func:`forward` connects to the first backend that answers (trying the next on
refusal or timeout, as kube-proxy's userspace mode did) and pumps bytes both ways until either
side closes; a client no backend accepts is closed.

UDP has no connections: :class:`UdpForwarder` keeps a session per client address — a socket
towards the backend chosen for its first datagram — and relays datagrams both ways; a session
idle for ``udp_timeout`` (kube-proxy's ``--udp-timeout``, 250 ms) is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter

from skiff import aio

Address = tuple[str, int]
AFFINITY_TIMEOUT = 3 * 3600.0
CONNECT_TIMEOUT = 5.0
BUFFER = 64 * 1024

CONNECTIONS = Counter("skiff_proxy_connections", "Connections forwarded by the service proxy, by outcome",
                      ["service", "result"])


class Balancer:
    """One rule's backends and the choice among them; see the module docstring."""

    def __init__(self, name: str, now: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.backends: tuple[Address, ...] = ()
        self.affinity = False
        self._next = 0
        self._sticky: dict[str, tuple[Address, float]] = {}
        self._now = now

    def update(self, backends: tuple[Address, ...], affinity: bool) -> None:
        self.backends, self.affinity = backends, affinity
        self._sticky = {ip: entry for ip, entry in self._sticky.items() if entry[0] in backends}

    def candidates(self, client_ip: str) -> list[Address]:
        """The backends in the order to try them for a connection from ``client_ip``."""
        if not self.backends:
            return []
        start = self._next % len(self.backends)
        self._next += 1
        order = list(self.backends[start:] + self.backends[:start])
        sticky = self._sticky.get(client_ip) if self.affinity else None
        if sticky is not None and self._now() - sticky[1] < AFFINITY_TIMEOUT and sticky[0] in order:
            order.remove(sticky[0])
            order.insert(0, sticky[0])
        return order

    def chosen(self, client_ip: str, backend: Address) -> None:
        if self.affinity:
            self._sticky[client_ip] = (backend, self._now())


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def forward(balancer: Balancer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve one client connection (the ``asyncio.start_server`` callback)."""
    peer = writer.get_extra_info("peername")
    client_ip = peer[0] if isinstance(peer, tuple) else ""
    try:
        for backend in balancer.candidates(client_ip):
            try:
                up_reader, up_writer = await aio.wait_for(asyncio.open_connection(*backend), CONNECT_TIMEOUT)
            except (OSError, TimeoutError):
                continue
            balancer.chosen(client_ip, backend)
            CONNECTIONS.labels(balancer.name, "forwarded").inc()
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
            return
        CONNECTIONS.labels(balancer.name, "no_backend").inc()
    finally:
        writer.close()


class _Upstream(asyncio.DatagramProtocol):
    """One UDP session's socket towards its backend: replies go back to the client."""

    def __init__(self, forwarder: UdpForwarder, client: Address) -> None:
        self.forwarder, self.client = forwarder, client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.forwarder.reply(self.client, data)


class UdpForwarder(asyncio.DatagramProtocol):
    """A UDP frontend; see the module docstring."""

    def __init__(self, balancer: Balancer, udp_timeout: float = 0.25) -> None:
        self.balancer, self.udp_timeout = balancer, udp_timeout
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[Address, tuple[_Upstream, float]] = {}
        self._pending: dict[Address, list[bytes]] = {}
        self._opening: set[asyncio.Task[None]] = set()  # held, so a session being opened is not collected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        client: Address = (str(addr[0]), int(addr[1]))
        session = self.sessions.get(client)
        if session is not None and session[0].transport is not None:
            session[0].transport.sendto(data)
            self.sessions[client] = (session[0], time.monotonic())
            return
        if client in self._pending:
            self._pending[client].append(data)
            return
        backends = self.balancer.candidates(client[0])
        if not backends:
            CONNECTIONS.labels(self.balancer.name, "no_backend").inc()
            return
        self._pending[client] = [data]
        task = asyncio.get_running_loop().create_task(self._open(client, backends[0]))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open(self, client: Address, backend: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_datagram_endpoint(lambda: _Upstream(self, client), remote_addr=backend)
        except OSError:
            self._pending.pop(client, None)
            return
        self.balancer.chosen(client[0], backend)
        CONNECTIONS.labels(self.balancer.name, "forwarded").inc()
        self.sessions[client] = (upstream, time.monotonic())
        for data in self._pending.pop(client, []):
            if upstream.transport is not None:
                upstream.transport.sendto(data)
        loop.call_later(self.udp_timeout, self._expire, client)

    def reply(self, client: Address, data: bytes) -> None:
        session = self.sessions.get(client)
        if session is not None:
            self.sessions[client] = (session[0], time.monotonic())
        if self.transport is not None:
            self.transport.sendto(data, client)

    def _expire(self, client: Address) -> None:
        session = self.sessions.get(client)
        if session is None:
            return
        idle = time.monotonic() - session[1]
        if idle < self.udp_timeout:
            asyncio.get_running_loop().call_later(self.udp_timeout - idle, self._expire, client)
            return
        del self.sessions[client]
        if session[0].transport is not None:
            session[0].transport.close()

    def close(self) -> None:
        for task in self._opening:
            task.cancel()
        for upstream, _ in self.sessions.values():
            if upstream.transport is not None:
                upstream.transport.close()
        self.sessions.clear()
        if self.transport is not None:
            self.transport.close()

