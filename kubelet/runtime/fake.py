"""FakeRuntime: a hollow node for scale tests and kubelet unit tests; nothing runs.

Every call succeeds at once and only changes in-memory records, which is how thousands of nodes
fit on one machine. Sandboxes get IPs from 10.233.0.0/16: each node starts allocating at an
offset derived from its name (or IP) by CRC32, so one node's sequence is deterministic and two
nodes rarely collide; within one node IPs are unique until released by ``remove_sandbox``.

Containers are RUNNING from ``start_container`` until stopped. Tests steer them:

- ``behavior[container name] = FakeBehavior(exit_code=1, after=5)`` makes every container of that
  name exit with that code ``after`` seconds (of ``clock``) past its start; ``oom=True`` ends it as
  OOMKilled (137); ``start_error`` makes ``start_container`` raise RuntimeFailure. Exits are
  evaluated lazily against ``clock`` whenever the container is looked at, so a test with a fake
  clock needs no sleeps.
- ``finish(container_id, exit_code, reason)`` ends a container now.
- ``images`` (present) and ``missing_images`` (pull fails: ImageError ErrImagePull) drive the image
  paths; ``healthy`` is what ``ready()`` answers.
- ``exec_result`` (default exit 0, no output) or ``exec_results[container name]`` is what
  ``exec_sync`` / ``exec_stream`` return; every exec is recorded in ``exec_calls``.
- ``write_log(container_id, text)`` records log lines that ``logs()`` serves (follow waits for
  more lines until the container exits).
- ``attach`` connects to a container's "main process": one started with ``stdin`` acts as a tiny
  shell on it — each line written is echoed to every attached client and to the log, a line
  ``exit N`` ends the container with code N, and the end of its stdin (a client closing it when the
  container has ``stdin_once``) ends it with 0, as ``cat`` would. Output ends when the container
  exits (``finish``, a stop, a scripted exit); ``wait`` gives its exit code.
- ``usage[container name] = FakeUsage(cpu_nano_cores=250_000_000, memory_bytes=64 << 20)`` is what
  ``container_stats`` reports for every running container of that name (default: nothing used):
  CPU time accrues at that rate on ``clock`` since the container's start, so the kubelet's rate
  over a window timed by the same clock is exactly ``cpu_nano_cores``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Network

from kubelet.runtime.interface import (
    ContainerConfig,
    ContainerInfo,
    ContainerStats,
    ExecResult,
    ImageError,
    RuntimeFailure,
    Sandbox,
    SandboxConfig,
    State,
    terminated_reason,
)
from kubelet.runtime.labels import container_labels, sandbox_labels
from skiff.aio import wait_for
from skiff.api.timestamps import rfc3339_micro

FAKE_POD_CIDR = IPv4Network("10.233.0.0/16")
STOP_EXIT_CODE = 143
"""What a stopped fake container reports: 128 + SIGTERM, as a process that obeys SIGTERM."""


@dataclass(frozen=True)
class FakeBehavior:
    """How every container with a given name behaves once started."""

    exit_code: int | None = None
    """Exit with this code (None: run until stopped)."""
    after: float = 0
    """Seconds of ``clock`` after the start at which it exits."""
    oom: bool = False
    """End as OOMKilled with exit code 137 (``after`` seconds past the start)."""
    start_error: str = ""
    """When set, ``start_container`` raises RuntimeFailure with this message."""


@dataclass(frozen=True)
class FakeUsage:
    """What every running container with a given name uses (see the module docstring)."""

    cpu_nano_cores: int = 0
    memory_bytes: int = 0


@dataclass
class _FakeContainer:
    info: ContainerInfo
    sandbox_id: str
    logs: list[tuple[float, str]] = field(default_factory=list)
    stdin: bool = False
    stdin_once: bool = False
    stdin_open: bool = True
    """False once a client closed the stdin of a ``stdin_once`` container."""
    pending: bytes = b""
    """What was written to its stdin since the last newline."""
    attached: list[FakeAttachSession] = field(default_factory=list)


class FakeExecSession:
    """An exec that has already finished: its output is the configured result; stdin is recorded."""

    def __init__(self, result: ExecResult) -> None:
        self.result = result
        self.stdin = bytearray()
        self.stdin_closed = False
        self.size: tuple[int, int] | None = None

    async def write_stdin(self, data: bytes) -> None:
        self.stdin.extend(data)

    async def close_stdin(self) -> None:
        self.stdin_closed = True

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        if self.result.output:
            yield "stdout", self.result.output

    async def wait(self) -> int:
        return self.result.exit_code

    async def resize(self, width: int, height: int) -> None:
        self.size = (width, height)


class FakeAttachSession:
    """One client attached to a fake container's main process (see the module docstring)."""

    POLL_S = 0.2
    """How often a waiting reader re-checks for a scripted exit that fell due on the clock."""

    def __init__(self, runtime: FakeRuntime, container: _FakeContainer, *, stdin: bool, tty: bool) -> None:
        self.runtime = runtime
        self.container = container
        self.stdin = stdin
        self.tty = tty
        self.stdin_closed = False
        self.size: tuple[int, int] | None = None
        self.chunks: list[bytes] = []

    def _deliver(self, data: bytes) -> None:
        self.chunks.append(data)

    def _running(self) -> bool:
        return self.runtime._current(self.container).state is State.RUNNING

    async def write_stdin(self, data: bytes) -> None:
        if self.stdin and not self.stdin_closed:
            self.runtime._feed(self.container, data)

    async def close_stdin(self) -> None:
        if self.stdin and not self.stdin_closed:
            self.stdin_closed = True
            self.runtime._stdin_closed(self.container)

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        try:
            while True:
                while self.chunks:
                    yield "stdout", self.chunks.pop(0)
                if not self._running():
                    return
                with contextlib.suppress(TimeoutError):  # output and exits both notify the runtime
                    await wait_for(self.runtime._changed.wait(), self.POLL_S)
        finally:
            if self in self.container.attached:
                self.container.attached.remove(self)

    async def wait(self) -> int:
        while self._running():
            with contextlib.suppress(TimeoutError):
                await wait_for(self.runtime._changed.wait(), self.POLL_S)
        code = self.runtime._current(self.container).exit_code
        return code if code is not None else 0

    async def resize(self, width: int, height: int) -> None:
        self.size = (width, height)


class FakeRuntime:
    """A ContainerRuntime that runs nothing (see the module docstring for the test hooks)."""

    name = "fake"

    def __init__(self, node_ip: str = "10.0.0.1", *, node_name: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.node_ip = node_ip
        self.node_name = node_name
        self.clock = clock
        self.healthy = True
        self.images: set[str] = set()
        self.missing_images: set[str] = set()
        self.pulls: list[str] = []
        self.behavior: dict[str, FakeBehavior] = {}
        self.usage: dict[str, FakeUsage] = {}
        self.exec_result = ExecResult(0, b"")
        self.exec_results: dict[str, ExecResult] = {}
        self.exec_calls: list[tuple[str, list[str]]] = []
        self._sandboxes: dict[str, Sandbox] = {}
        self._containers: dict[str, _FakeContainer] = {}
        self._ids = itertools.count(1)
        self._ip_start = zlib.crc32((node_name or node_ip).encode()) % FAKE_POD_CIDR.num_addresses
        self._changed = asyncio.Event()

    # -- runtime and images -------------------------------------------------------------------

    async def version(self) -> str:
        return "fake://0.1.0"

    async def ready(self) -> bool:
        return self.healthy

    async def image_present(self, image: str) -> bool:
        return image in self.images

    async def pull_image(self, image: str) -> None:
        self.pulls.append(image)
        if image in self.missing_images:
            raise ImageError("ErrImagePull", f'failed to pull image "{image}": not found (fake)')
        self.images.add(image)

    # -- sandboxes ----------------------------------------------------------------------------

    async def run_sandbox(self, config: SandboxConfig) -> Sandbox:
        sandbox_id = f"fake-sandbox-{next(self._ids)}"
        ip = self.node_ip if config.host_network else self._allocate_ip()
        labels = sandbox_labels(config, node_name=self.node_name)
        sandbox = Sandbox(id=sandbox_id, pod_uid=config.pod_uid, ip=ip, labels=labels)
        self._sandboxes[sandbox_id] = sandbox
        return sandbox

    async def stop_sandbox(self, sandbox_id: str) -> None:
        for container in self._containers.values():
            if container.sandbox_id == sandbox_id:
                self._stop(container)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        await self.stop_sandbox(sandbox_id)
        for container_id in [c.info.id for c in self._containers.values() if c.sandbox_id == sandbox_id]:
            del self._containers[container_id]
        self._sandboxes.pop(sandbox_id, None)

    async def list_sandboxes(self, *, dead: bool = False) -> list[Sandbox]:
        return list(self._sandboxes.values())

    def _allocate_ip(self) -> str:
        used = {s.ip for s in self._sandboxes.values()}
        size = FAKE_POD_CIDR.num_addresses
        for step in range(size):
            offset = (self._ip_start + step) % size
            if offset in (0, size - 1):
                continue
            ip = str(FAKE_POD_CIDR.network_address + offset)
            if ip not in used:
                return ip
        raise RuntimeFailure(f"no free pod IP in {FAKE_POD_CIDR}")

    # -- containers ---------------------------------------------------------------------------

    async def start_container(self, sandbox: Sandbox, config: ContainerConfig) -> str:
        if sandbox.id not in self._sandboxes:
            raise RuntimeFailure(f"sandbox {sandbox.id} not found")
        behavior = self.behavior.get(config.name, FakeBehavior())
        if behavior.start_error:
            raise RuntimeFailure(behavior.start_error)
        container_id = f"fake-{next(self._ids)}"
        labels = container_labels(sandbox, config, node_name=self.node_name)
        info = ContainerInfo(id=container_id, name=config.name, pod_uid=sandbox.pod_uid, attempt=config.attempt,
                             state=State.RUNNING, image=config.image, image_id=f"fake://{config.image}",
                             started_at=self.clock(), labels=labels)
        self._containers[container_id] = _FakeContainer(info=info, sandbox_id=sandbox.id, stdin=config.stdin,
                                                        stdin_once=config.stdin_once)
        self._notify()
        return container_id

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        self._stop(self._get(container_id))

    async def remove_container(self, container_id: str) -> None:
        self._containers.pop(container_id, None)
        self._notify()

    async def list_containers(self, pod_uid: str | None = None) -> list[ContainerInfo]:
        return [self._current(c) for c in self._containers.values() if pod_uid in (None, c.info.pod_uid)]

    async def container_info(self, container_id: str) -> ContainerInfo:
        return self._current(self._get(container_id))

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        container = self._containers.get(container_id)
        if container is None:
            return None
        info = self._current(container)
        if info.state is not State.RUNNING or info.started_at is None:
            return None
        usage = self.usage.get(info.name, FakeUsage())
        elapsed = max(0.0, self.clock() - info.started_at)
        return ContainerStats(cpu_usage_seconds=usage.cpu_nano_cores * elapsed / 1e9,
                              memory_working_set_bytes=usage.memory_bytes)

    def finish(self, container_id: str, exit_code: int, reason: str = "", message: str = "") -> None:
        """End a running container now (reason defaults to Completed / Error by exit code)."""
        container = self._get(container_id)
        if container.info.state is State.RUNNING:
            self._end(container, exit_code, reason or terminated_reason(exit_code), message, self.clock())

    def _stop(self, container: _FakeContainer) -> None:
        current = self._current(container)
        if current.state is State.RUNNING:
            self._end(container, STOP_EXIT_CODE, terminated_reason(STOP_EXIT_CODE), "", self.clock())

    def _current(self, container: _FakeContainer) -> ContainerInfo:
        """The container's record, after applying a scripted exit that is due."""
        info = container.info
        behavior = self.behavior.get(info.name)
        if info.state is not State.RUNNING or behavior is None or info.started_at is None:
            return info
        if behavior.exit_code is None and not behavior.oom:
            return info
        due = info.started_at + behavior.after
        if self.clock() < due:
            return info
        code = 137 if behavior.oom else behavior.exit_code
        assert code is not None
        self._end(container, code, terminated_reason(code, oom=behavior.oom), "", due)
        return container.info

    def _end(self, container: _FakeContainer, exit_code: int, reason: str, message: str, at: float) -> None:
        container.info = replace(container.info, state=State.EXITED, exit_code=exit_code, reason=reason,
                                 message=message, finished_at=at)
        self._notify()

    def _get(self, container_id: str) -> _FakeContainer:
        try:
            return self._containers[container_id]
        except KeyError:
            raise RuntimeFailure(f"container {container_id} not found") from None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- exec and logs ------------------------------------------------------------------------

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        return self._exec(container_id, command)

    async def exec_stream(self, container_id: str, command: list[str], *, stdin: bool,
                          tty: bool) -> FakeExecSession:
        return FakeExecSession(self._exec(container_id, command))

    def _exec(self, container_id: str, command: list[str]) -> ExecResult:
        info = self._current(self._get(container_id))
        if info.state is not State.RUNNING:
            raise RuntimeFailure(f"container {container_id} is not running")
        self.exec_calls.append((container_id, list(command)))
        return self.exec_results.get(info.name, self.exec_result)

    async def attach(self, container_id: str, *, stdin: bool, tty: bool) -> FakeAttachSession:
        container = self._get(container_id)
        if self._current(container).state is not State.RUNNING:
            raise RuntimeFailure(f"container {container_id} is not running")
        session = FakeAttachSession(self, container, stdin=stdin and container.stdin, tty=tty)
        container.attached.append(session)
        return session

    def _feed(self, container: _FakeContainer, data: bytes) -> None:
        """Stdin of the fake main process: echo whole lines; ``exit N`` ends it."""
        if not container.stdin_open or self._current(container).state is not State.RUNNING:
            return
        *lines, container.pending = (container.pending + data).split(b"\n")
        for line in lines:
            words = line.decode(errors="replace").split()
            if words[:1] == ["exit"]:
                code = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
                self._end(container, code, terminated_reason(code), "", self.clock())
                return
            self._print(container, line + b"\n")

    def _print(self, container: _FakeContainer, data: bytes) -> None:
        for session in container.attached:
            session._deliver(data)
        container.logs.extend((self.clock(), line) for line in data.decode(errors="replace").splitlines())
        self._notify()

    def _stdin_closed(self, container: _FakeContainer) -> None:
        """A client closed its stdin: the process sees EOF only with ``stdin_once`` (then exits 0)."""
        if not container.stdin_once or not container.stdin_open:
            return
        container.stdin_open = False
        if container.pending:
            self._print(container, container.pending)
            container.pending = b""
        if self._current(container).state is State.RUNNING:
            self._end(container, 0, terminated_reason(0), "", self.clock())

    def write_log(self, container_id: str, text: str) -> None:
        """Record output of the container, one log line per line of ``text``."""
        container = self._get(container_id)
        now = self.clock()
        container.logs.extend((now, line) for line in text.splitlines())
        self._notify()

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        container = self._get(container_id)
        lines = [entry for entry in container.logs if since is None or entry[0] >= since]
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        for entry in lines:
            yield _format(entry, timestamps)
        sent = len(container.logs)
        while follow:
            for entry in container.logs[sent:]:
                yield _format(entry, timestamps)
            sent = len(container.logs)
            if self._current(container).state is not State.RUNNING or container_id not in self._containers:
                break
            await self._changed.wait()


def _format(entry: tuple[float, str], timestamps: bool) -> bytes:
    at, line = entry
    if not timestamps:
        return f"{line}\n".encode()
    stamp = rfc3339_micro(at)
    return f"{stamp} {line}\n".encode()
