"""Forwarding one Service port's connections to its backends, in user space.

A :class:`Balancer` holds a rule's backends and picks one per connection: round robin, or with
sessionAffinity ClientIP the backend a client address used last (for three hours, Kubernetes'
default timeout). :func:`forward` connects to the first backend that answers (trying the next on
refusal or timeout, as kube-proxy's userspace mode did) and pumps bytes both ways until either
side closes; a client no backend accepts is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

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
