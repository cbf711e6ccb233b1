"""Integration fixtures: a real etcd per test, on free loopback ports, and an apiserver and client over it.

``etcd`` starts the ``etcd`` binary with a fresh data directory (on /dev/shm when there is one,
so fsyncs are cheap) and short raft timers (a single member elects itself in ~0.1 s), waits until
``/health`` says true, and yields an ``EtcdProcess`` handle. ``stop()`` kills it (SIGKILL, like a
crash); ``start()`` brings it back on the same ports and data directory and waits until healthy.
``etcd_storage`` is a connected ``EtcdStorage`` on it, closed after the test.

``server`` is an in-process apiserver over that etcd (``running_apiserver`` with its defaults, from
tests/support/cluster.py) and ``client`` a ``Client`` of it, closed after the test. A test that
needs other apiserver settings starts its own with ``running_apiserver``.

``etcd_proxy`` is a TCP proxy in front of that etcd whose ``cut()`` drops every connection and
refuses new ones until ``restore()``: a network partition for one client while others still
reach etcd (used to make etcd compact history behind a disconnected watch).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from apiserver.server.app import APIServer
from apiserver.storage.etcd import EtcdStorage
from skiff.client.client import Client
from tests.support.cluster import client_for, running_apiserver
from tests.support.waiting import wait_until

ETCD_BINARY = os.environ.get("SKIFF_ETCD_BINARY", "etcd")
START_DEADLINE_S = 15.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scratch_root() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class EtcdProcess:
    """One single-member etcd on loopback; restartable on the same ports and data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.peer_port = _free_port()
        self.data_dir = data_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._log = open(data_dir.parent / "etcd.log", "ab")  # noqa: SIM115 - closed in close()

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        peer_url = f"http://{self.host}:{self.peer_port}"
        return [
            ETCD_BINARY,
            "--name", "skiff-test",
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.url,
            "--advertise-client-urls", self.url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"skiff-test={peer_url}",
            "--heartbeat-interval", "10",
            "--election-timeout", "100",
            "--logger", "zap",
            "--log-level", "warn",
        ]

    def start(self) -> None:
        """Start (or restart) etcd and wait until it reports healthy."""
        if self.running:
            return
        self._process = subprocess.Popen(self._command(), stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_healthy()

    def stop(self) -> None:
        """Kill etcd (SIGKILL) and reap it."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def close(self) -> None:
        self.stop()
        self._log.close()

    def _wait_healthy(self) -> None:
        def healthy() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"etcd exited with {self._process.returncode}; see {self._log.name}")
            return self._healthy()

        wait_until(healthy, timeout=START_DEADLINE_S, interval=0.02, what=f"etcd on {self.endpoint} to be healthy")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as response:
                return bool(json.load(response).get("health") == "true")
        except (OSError, ValueError):
            return False


@pytest.fixture
def etcd() -> Iterator[EtcdProcess]:
    """A fresh, healthy etcd for this test; killed and its data removed afterwards."""
    if shutil.which(ETCD_BINARY) is None:
        pytest.skip(f"{ETCD_BINARY!r} binary not found")
    root = Path(tempfile.mkdtemp(prefix="skiff-etcd-", dir=_scratch_root()))
    process = EtcdProcess(root / "data")
    try:
        process.start()
        yield process
    finally:
        process.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def etcd_storage(etcd: EtcdProcess) -> AsyncIterator[EtcdStorage]:
    """An EtcdStorage connected to ``etcd``, with short unavailability deadlines for tests."""
    storage = await EtcdStorage.connect([etcd.url], request_timeout=2.0, unavailable_timeout=2.0)
    try:
        yield storage
    finally:
        with contextlib.suppress(Exception):
            await storage.close()


@pytest.fixture
async def server(etcd: EtcdProcess) -> AsyncIterator[APIServer]:
    """An in-process apiserver over ``etcd``, stopped after the test."""
    async with running_apiserver(etcd.url) as apiserver:
        yield apiserver


@pytest.fixture
async def client(server: APIServer) -> AsyncIterator[Client]:
    """A client of ``server``, closed after the test."""
    c = client_for(server)
    try:
        yield c
    finally:
        await c.close()


class TcpProxy:
    """A loopback TCP proxy to ``upstream_port`` that can be cut and restored."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self._cut = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self._cut = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.transport.abort()


@pytest.fixture
async def etcd_proxy(etcd: EtcdProcess) -> AsyncIterator[TcpProxy]:
    """A cuttable TCP proxy in front of ``etcd``."""
    proxy = TcpProxy(etcd.host, etcd.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
