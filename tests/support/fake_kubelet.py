"""A fake kubelet for tests: the ``Kubelet`` gRPC service on a free loopback port.

It serves the contract the real kubelet will implement (proto/skiff/api/v1/node.proto):

- **Logs** from canned, per-container logs (``set_log`` / ``append`` / ``finish``): tail,
  timestamps, previous instance, and ``follow``, which streams lines appended later until the
  container is marked finished or the caller leaves;
- **Exec** for real: the command runs as a local subprocess, stdin chunks are written to it as
  they arrive, stdout / stderr chunks go back as they are read, and the exit code ends the stream
  (with ``tty``, stderr is merged into stdout as a terminal would).

Every request is recorded (``log_requests``, ``exec_starts``) so tests can check what the
apiserver forwarded. ``FakeKubelet`` runs on the caller's event loop (integration tests);
``KubeletThread`` runs one in a thread with its own loop, for e2e tests whose skiffctl and
apiserver are separate processes. ``node_for`` builds the Node object that points at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc

from skiff.api import errors
from skiff.api.v1 import core_pb2, node_pb2_grpc
from skiff.api.v1 import node_pb2 as pb

CHUNK = 16 * 1024
Key = tuple[str, str, str]
"""(namespace, pod, container)"""


@dataclass
class ContainerLog:
    """One container's output as (timestamp, line) pairs, and whether it still runs."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    previous: list[tuple[str, str]] | None = None
    running: bool = True
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.lines.extend((stamp, line) for line in text.splitlines(keepends=True))
        self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


def _render(lines: list[tuple[str, str]], timestamps: bool) -> bytes:
    return "".join(f"{stamp} {line}" if timestamps else line for stamp, line in lines).encode()


def _chunks(data: bytes) -> Iterator[pb.LogsChunk]:
    for i in range(0, len(data), CHUNK):
        yield pb.LogsChunk(data=data[i:i + CHUNK])


async def _abort(context: Any, exc: errors.StatusError) -> None:
    context.set_trailing_metadata(((errors.REASON_METADATA_KEY, exc.reason),))
    await context.abort(errors.GRPC_CODES[type(exc)], exc.message)


class KubeletServicer(node_pb2_grpc.KubeletServicer):
    def __init__(self) -> None:
        self.logs: dict[Key, ContainerLog] = {}
        self.log_requests: list[pb.LogsRequest] = []
        self.exec_starts: list[pb.ExecStart] = []
        self.open_log_streams = 0
        """Logs calls in progress (a follow the caller left must not stay open here)."""

    async def Logs(self, request: pb.LogsRequest, context: Any) -> AsyncIterator[pb.LogsChunk]:
        self.log_requests.append(request)
        self.open_log_streams += 1
        try:
            async for chunk in self._logs(request, context):
                yield chunk
        finally:
            self.open_log_streams -= 1

    async def _logs(self, request: pb.LogsRequest, context: Any) -> AsyncIterator[pb.LogsChunk]:
        log = self.logs.get((request.namespace, request.pod, request.container))
        if log is None:
            await _abort(context, errors.BadRequest(
                f'container "{request.container}" in pod "{request.pod}" is waiting to start: ContainerCreating'))
            return
        if request.previous:
            if log.previous is None:
                await _abort(context, errors.BadRequest(
                    f'previous terminated container "{request.container}" in pod "{request.pod}" not found'))
                return
            lines = log.previous
        else:
            lines = log.lines
        sent = len(lines)
        shown = lines[-request.tail_lines:] if request.HasField("tail_lines") and request.tail_lines else lines
        if request.HasField("tail_lines") and request.tail_lines == 0:
            shown = []
        for chunk in _chunks(_render(shown, request.timestamps)):
            yield chunk
        while request.follow and not request.previous:
            waiter = log.changed
            if len(log.lines) == sent and not log.running:
                return
            if len(log.lines) == sent:
                await waiter.wait()
                continue
            new, sent = log.lines[sent:], len(log.lines)
            for chunk in _chunks(_render(new, request.timestamps)):
                yield chunk

    async def Exec(self, request_iterator: AsyncIterator[pb.ExecRequest],
                   context: Any) -> AsyncIterator[pb.ExecResponse]:
        first = await anext(request_iterator)
        start = first.start
        self.exec_starts.append(start)
        try:
            process = await asyncio.create_subprocess_exec(
                *start.command, stdin=asyncio.subprocess.PIPE if start.stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT if start.tty else asyncio.subprocess.PIPE)
        except OSError as exc:
            yield pb.ExecResponse(stderr=f"exec failed: {start.command[0]}: {exc.strerror}\n".encode())
            yield pb.ExecResponse(exit_code=126)
            return
        output: asyncio.Queue[pb.ExecResponse | None] = asyncio.Queue()
        readers = [asyncio.create_task(_read(process.stdout, "stdout", output))]
        if process.stderr is not None:
            readers.append(asyncio.create_task(_read(process.stderr, "stderr", output)))
        feeder = asyncio.create_task(_feed(request_iterator, process))
        try:
            open_readers = len(readers)
            while open_readers:
                item = await output.get()
                if item is None:
                    open_readers -= 1
                else:
                    yield item
            code = await process.wait()
            yield pb.ExecResponse(exit_code=code)
        finally:
            feeder.cancel()
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _read(stream: asyncio.StreamReader | None, which: str,
                output: asyncio.Queue[pb.ExecResponse | None]) -> None:
    assert stream is not None
    while data := await stream.read(CHUNK):
        await output.put(pb.ExecResponse(**{which: data}))
    await output.put(None)


async def _feed(requests: AsyncIterator[pb.ExecRequest], process: asyncio.subprocess.Process) -> None:
    stdin = process.stdin
    try:
        async for request in requests:
            which = request.WhichOneof("input")
            if which == "stdin" and stdin is not None:
                stdin.write(request.stdin)
                await stdin.drain()
            elif which == "stdin_close":
                break
    except (grpc.aio.AioRpcError, ConnectionError):
        pass
    finally:
        if stdin is not None:
            stdin.close()


class FakeKubelet:
    """A running fake kubelet on this event loop: ``await start()``, ``port``, ``await stop()``."""

    def __init__(self) -> None:
        self.servicer = KubeletServicer()
        self.port = 0
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        server = grpc.aio.server()
        node_pb2_grpc.add_KubeletServicer_to_server(self.servicer, server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0.2)

    def set_log(self, namespace: str, pod: str, container: str, text: str, *, previous: str | None = None,
                running: bool = True) -> ContainerLog:
        log = ContainerLog(running=running)
        log.add(text)
        if previous is not None:
            log.previous = [("2026-01-01T00:00:00.000000Z", line) for line in previous.splitlines(keepends=True)]
        self.servicer.logs[(namespace, pod, container)] = log
        return log

    def append(self, namespace: str, pod: str, container: str, text: str) -> None:
        self.servicer.logs[(namespace, pod, container)].add(text)

    def finish(self, namespace: str, pod: str, container: str) -> None:
        log = self.servicer.logs[(namespace, pod, container)]
        log.running = False
        log._wake()


@contextlib.asynccontextmanager
async def running_kubelet() -> AsyncIterator[FakeKubelet]:
    kubelet = FakeKubelet()
    await kubelet.start()
    try:
        yield kubelet
    finally:
        await kubelet.stop()


class KubeletThread:
    """A FakeKubelet on its own event loop in a daemon thread; its methods are thread-safe."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-kubelet", daemon=True)
        self.kubelet = FakeKubelet()

    @property
    def port(self) -> int:
        return self.kubelet.port

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def start(self) -> None:
        self._thread.start()
        self._run(self.kubelet.start())

    def stop(self) -> None:
        self._run(self.kubelet.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def set_log(self, namespace: str, pod: str, container: str, text: str, **kw: Any) -> None:
        async def run() -> None:
            self.kubelet.set_log(namespace, pod, container, text, **kw)
        self._run(run())

    def append(self, namespace: str, pod: str, container: str, text: str) -> None:
        self._loop.call_soon_threadsafe(self.kubelet.append, namespace, pod, container, text)

    def finish(self, namespace: str, pod: str, container: str) -> None:
        self._loop.call_soon_threadsafe(self.kubelet.finish, namespace, pod, container)


def node_for(name: str, port: int, *, host: str = "127.0.0.1") -> core_pb2.Node:
    """A Node whose kubelet is the fake on ``host:port``."""
    node = core_pb2.Node(api_version="v1", kind="Node")
    node.metadata.name = name
    node.status.addresses.add(type="Hostname", address=name)
    node.status.addresses.add(type="InternalIP", address=host)
    node.status.daemon_endpoints.kubelet_endpoint.port = port
    return node


def pod_with(name: str, *containers: str, namespace: str = "default",
             labels: dict[str, str] | None = None) -> core_pb2.Pod:
    """A pod with the named containers (image busybox)."""
    pod = core_pb2.Pod(api_version="v1", kind="Pod")
    pod.metadata.name, pod.metadata.namespace = name, namespace
    pod.metadata.labels.update(labels or {})
    for container in containers:
        pod.spec.containers.add(name=container, image="busybox")
    return pod
