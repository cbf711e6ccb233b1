"""In-process control-plane pieces for tests: an apiserver on a free port over a given etcd."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from apiserver.server.app import APIServer, Settings
from skiff.api.manifest import from_manifest
from skiff.client.client import Client


@contextlib.asynccontextmanager
async def running_apiserver(etcd_url: str, **settings: Any) -> AsyncIterator[APIServer]:
    options: dict[str, Any] = {"port": 0, "service_cluster_ip_range": "10.96.0.0/24",
                               "service_node_port_range": "30000-30099", "shutdown_grace": 0.5}
    options.update(settings)
    server = APIServer(Settings(etcd_servers=[etcd_url], **options))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def obj(doc: dict[str, Any]) -> Any:
    return from_manifest(doc)


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``check`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.01
    while True:
        if await check():
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)


def client_for(server: APIServer) -> Client:
    return Client(f"127.0.0.1:{server.port}", timeout=10.0)
