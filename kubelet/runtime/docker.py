"""The docker runtime: real containers through the Docker Engine API.

A pod is a *sandbox* — a pause container that owns the pod's network and IPC namespaces and
does nothing but sleep — plus app containers that join it with ``network_mode=container:<pause>``
and ``ipc_mode=container:<pause>``, so containers of one pod reach each other on localhost. The
pod IP is the pause container's address on Docker's default bridge (the node IP for hostNetwork
pods, whose pause container runs with ``network_mode=host``). PID namespaces are not shared, as in
Kubernetes by default.

DNS: a sandbox's settings (``SandboxConfig.dns``) are given to the pause container as ``--dns``,
``--dns-search`` and ``--dns-option``, and the engine writes them into the resolv.conf it makes
for it (in its own order: ``search`` first). App containers get no DNS options (the engine refuses
them with ``network_mode=container:``, "conflicting options: dns and the network mode"); they
share the network container's resolv.conf. A hostNetwork pause container takes the options too:
it then gets a resolv.conf of its own instead of the host's, which stays untouched. No settings,
or empty ones, leave the engine's default (the host's, without loopback nameservers).

The pause image is ``skiff/pause:latest``, which the runtime builds itself on first use with
``docker import`` of a one-file root filesystem: the node's static ``/bin/busybox`` run as
``busybox sleep 2147483647``. An image of its own keeps sandboxes independent of the images users
run (a user may remove or replace ``busybox:latest``) and costs ~2 MB once per engine.

Every object carries the ``LABEL_*`` labels of :mod:`kubelet.runtime.labels` plus
:data:`LABEL_KIND` (sandbox or container) and, on app containers, :data:`LABEL_SANDBOX`, so a
restarted kubelet finds what it started with a label filter. When the runtime has a node name, it
lists only that node's objects: several kubelets may share one engine (the compose demo). Names
follow ``skiff_<namespace>_<pod>_<container>_<attempt>_<uid8>`` (the sandbox's container name is
``POD``, which no DNS-1123 container name can be); a name still held by an exited leftover is
freed by removing the leftover.

Threads and streams: the ``docker`` package is synchronous, so plain calls run on a private thread
pool (not asyncio's small default executor — ``docker stop`` with a 30 s grace holds a thread for
30 s, and a node deleting many pods at once must not starve every other call). Streaming — logs
with ``follow``, interactive exec, attach and the container wait behind it — does not hold threads
at all: :class:`_EngineStreams` speaks HTTP to the engine's socket with asyncio
(:mod:`kubelet.http1`: chunked log bodies, the hijacked exec and attach connections) and
demultiplexes Docker's 8-byte stream frames when the container has no TTY.

``container_stats`` is one ``GET /containers/{id}/stats?stream=false&one-shot=true``: CPU time is
``cpu_stats.cpu_usage.total_usage`` (nanoseconds), the working set ``memory_stats.usage`` minus
``stats.inactive_file`` (cgroup v2) or ``stats.total_inactive_file`` (v1), as cAdvisor computes it
(``docker stats`` subtracts ``cache`` on v1 instead). A container that is not running has empty
``memory_stats``: None.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import math
import os
import re
import tarfile
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import docker
import docker.errors
import requests

from kubelet import http1
from kubelet.runtime.interface import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
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
from skiff import aio
from skiff.api.timestamps import epoch_seconds

LABEL_KIND = "io.skiff.kind"
"""``sandbox`` (a pause container) or ``container`` (an app container)."""
LABEL_SANDBOX = "io.skiff.sandbox.id"
"""On app containers: the id of the pause container they joined."""

PAUSE_IMAGE = "skiff/pause:latest"
PAUSE_COMMAND = ["/bin/busybox", "sleep", "2147483647"]
BUSYBOX_PATH = "/bin/busybox"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

_T = TypeVar("_T")

# Docker's reference grammar (distribution/reference), enough to reject what the engine would.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)"
_IMAGE_RE = re.compile(
    rf"^{_DOMAIN}?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?$"
)
_ZERO_TIME = "0001-01-01T00:00:00Z"
_STREAM_NAMES = {0: "stdout", 1: "stdout", 2: "stderr"}


@dataclass(frozen=True)
class DockerSettings:
    """How the runtime reaches the engine and what it stamps on what it creates."""

    docker_host: str = ""
    """Engine address (``unix:///...`` or ``tcp://host:port``); empty: $DOCKER_HOST or the default socket."""
    node_name: str = ""
    """Written as LABEL_NODE on every object; when set, only this node's objects are listed."""
    node_ip: str = "127.0.0.1"
    """The Sandbox.ip of hostNetwork pods."""
    pull_timeout: float = 20.0
    """Seconds a pull may go without progress before it fails with ErrImagePull (no registry may answer)."""
    api_timeout: float = 60.0
    """Seconds a plain (non-streaming) API call may take."""
    threads: int = 32
    """Size of the private thread pool (and of the HTTP connection pool)."""


def parse_image(image: str) -> tuple[str, str]:
    """``repo[:tag][@digest]`` → (repository, tag or digest); InvalidImageName when malformed."""
    first = image.split("/", 1)[0]
    domain = "/" in image and ("." in first or ":" in first or first == "localhost")
    if not image or not _IMAGE_RE.match(image) or (not domain and first != first.lower()):
        raise ImageError("InvalidImageName", f'Failed to apply default image tag "{image}": invalid reference format')
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo.rsplit(":", 1)[0] if ":" in repo.rsplit("/", 1)[-1] else repo, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, "latest"


def docker_time(value: str | None) -> float | None:
    """Docker's RFC 3339 (nanosecond) times → Unix time; its zero time → None."""
    if not value or value.startswith(_ZERO_TIME[:4]):
        return None
    return epoch_seconds(value)


def container_state(state: dict[str, Any]) -> tuple[State, int | None, str]:
    """Docker's State → (State, exit code, Kubernetes' terminated reason)."""
    status = state.get("Status", "")
    if status == "created":
        return State.CREATED, None, ""
    if status in ("running", "paused", "restarting"):
        return State.RUNNING, None, ""
    if status in ("exited", "dead", "removing"):
        code = int(state.get("ExitCode", 0))
        return State.EXITED, code, terminated_reason(code, oom=bool(state.get("OOMKilled")))
    return State.UNKNOWN, None, ""


def _finished(started: float | None, state: dict[str, Any]) -> float | None:
    """FinishedAt, never before StartedAt (the engine stamps a fast exit before it stamps the start)."""
    finished = docker_time(state.get("FinishedAt"))
    return max(finished, started) if finished is not None and started is not None else finished


def object_name(namespace: str, pod: str, container: str, attempt: int, uid: str) -> str:
    return f"skiff_{namespace}_{pod}_{container}_{attempt}_{uid.replace('-', '')[:8]}"


def stats_from_engine(data: dict[str, Any]) -> ContainerStats | None:
    """ContainerStats from the engine's stats document; None for a container that is not running."""
    memory = data.get("memory_stats") or {}
    if "usage" not in memory or str(data.get("read", "")).startswith("0001-"):
        return None
    stats = memory.get("stats") or {}
    inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))  # v1 has both; v2 only the latter
    total_ns = ((data.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage", 0)
    return ContainerStats(cpu_usage_seconds=int(total_ns) / 1e9,
                          memory_working_set_bytes=max(0, int(memory["usage"]) - int(inactive)))


def _dns_options(config: SandboxConfig) -> dict[str, list[str]]:
    """The pod's DNS settings as the pause container's ``--dns``, ``--dns-search``, ``--dns-option``
    (none given: Docker's own resolv.conf)."""
    dns = config.dns
    if dns is None or not dns.render():
        return {}
    options = {"dns": list(dns.servers), "dns_search": list(dns.searches), "dns_opt": list(dns.options)}
    return {key: value for key, value in options.items() if value}


def pause_rootfs_tar(busybox: str = BUSYBOX_PATH) -> bytes:
    """A root filesystem holding only a static busybox (and /tmp), as a tar for ``docker import``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname=BUSYBOX_PATH.lstrip("/"))
    return buffer.getvalue()


class DockerRuntime:
    """ContainerRuntime on a Docker engine (see the module docstring for the design)."""

    name = "docker"

    def __init__(self, settings: DockerSettings | None = None) -> None:
        self.settings = settings or DockerSettings()
        self.docker_host = self.settings.docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
        self._pool = ThreadPoolExecutor(max_workers=self.settings.threads, thread_name_prefix="docker")
        self._api: docker.APIClient | None = None
        self._api_lock = asyncio.Lock()
        self._pause_lock = asyncio.Lock()
        self._streams = _EngineStreams(self.docker_host)

    # ---- plumbing -------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def api(self) -> docker.APIClient:
        """The engine client, made on first use (API version negotiation needs the engine)."""
        async with self._api_lock:
            if self._api is None:
                client = await self._call(self._new_client, self.settings.api_timeout)
                self._streams.api_version = client.api_version
                self._api = client
            return self._api

    def _new_client(self, timeout: float) -> docker.APIClient:
        try:
            return docker.APIClient(base_url=self.docker_host, version="auto", timeout=timeout,
                                    max_pool_size=self.settings.threads)
        except docker.errors.DockerException as exc:
            raise RuntimeFailure(f"cannot reach the Docker engine at {self.docker_host}: {exc}") from exc

    async def _engine(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call an APIClient method on the pool; engine errors become RuntimeFailure."""
        api = await self.api()
        try:
            return await self._call(getattr(api, method), *args, **kwargs)
        except docker.errors.NotFound:
            raise
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise RuntimeFailure(f"docker {method}: {exc}") from exc

    def _filters(self, kind: str, pod_uid: str | None = None) -> dict[str, list[str]]:
        labels = [f"{LABEL_KIND}={kind}"]
        if self.settings.node_name:
            labels.append(f"{LABEL_NODE}={self.settings.node_name}")
        if pod_uid:
            labels.append(f"{LABEL_POD_UID}={pod_uid}")
        return {"label": labels}

    async def close(self) -> None:
        """Close the engine client and the thread pool."""
        if self._api is not None:
            await self._call(self._api.close)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- node -----------------------------------------------------------------------------

    async def version(self) -> str:
        info = await self._engine("version")
        return f"docker://{info.get('Version', 'unknown')}"

    async def ready(self) -> bool:
        try:
            return bool(await self._engine("ping"))
        except (RuntimeFailure, docker.errors.NotFound):
            return False

    # ---- images ---------------------------------------------------------------------------

    async def image_present(self, image: str) -> bool:
        try:
            parse_image(image)
            await self._engine("inspect_image", image)
        except (ImageError, docker.errors.NotFound):
            return False
        return True

    async def pull_image(self, image: str) -> None:
        repo, tag = parse_image(image)
        await self.api()
        try:
            await self._call(self._pull, repo, tag)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            reason = "InvalidImageName" if "invalid reference format" in _short(exc) else "ErrImagePull"
            raise ImageError(reason, f'failed to pull image "{image}": {_short(exc)}') from exc

    def _pull(self, repo: str, tag: str) -> None:
        """Pull on a client of its own whose timeout bounds each wait for the engine's next progress
        event: a pull that stalls (no registry answers) fails, a slow one that progresses goes on."""
        api = docker.APIClient(base_url=self.docker_host, version=self._streams.api_version,
                               timeout=self.settings.pull_timeout)
        try:
            for event in api.pull(repo, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise docker.errors.DockerException(event["error"])
        finally:
            api.close()

    async def _ensure_pause_image(self) -> None:
        async with self._pause_lock:
            if await self.image_present(PAUSE_IMAGE):
                return
            if not os.path.exists(BUSYBOX_PATH):
                raise RuntimeFailure(f"cannot build {PAUSE_IMAGE}: no static busybox at {BUSYBOX_PATH}")
            data = await self._call(pause_rootfs_tar)
            repo, tag = PAUSE_IMAGE.split(":")
            changes = [f"ENTRYPOINT {json.dumps(PAUSE_COMMAND)}", "LABEL io.skiff.pause=true"]
            await self._engine("import_image_from_data", data, repository=repo, tag=tag, changes=changes)

    # ---- sandboxes ------------------------------------------------------------------------

    async def run_sandbox(self, config: SandboxConfig) -> Sandbox:
        await self._ensure_pause_image()
        labels = {**sandbox_labels(config, node_name=self.settings.node_name),
                  LABEL_CONTAINER_NAME: "POD", LABEL_ATTEMPT: "0", LABEL_KIND: "sandbox"}
        api = await self.api()
        host_config = api.create_host_config(
            network_mode="host" if config.host_network else "bridge", ipc_mode="shareable", **_dns_options(config))
        spec: dict[str, Any] = {
            "image": PAUSE_IMAGE, "labels": labels, "host_config": host_config,
            "hostname": None if config.host_network else (config.hostname or config.name)[:63],
        }
        name = object_name(config.namespace, config.name, "POD", 0, config.pod_uid)
        sandbox_id = await self._create(name, spec)
        await self._start(sandbox_id)
        return await self._sandbox(sandbox_id)

    async def _sandbox(self, sandbox_id: str) -> Sandbox:
        data = await self._inspect(sandbox_id)
        labels = data["Config"].get("Labels") or {}
        settings = data.get("NetworkSettings") or {}
        ip = settings.get("IPAddress") or next(
            (net.get("IPAddress") for net in (settings.get("Networks") or {}).values() if net.get("IPAddress")), "")
        if data["HostConfig"].get("NetworkMode") == "host" or not ip:
            ip = self.settings.node_ip
        return Sandbox(id=data["Id"], pod_uid=labels.get(LABEL_POD_UID, ""), ip=ip, labels=labels)

    async def stop_sandbox(self, sandbox_id: str) -> None:
        """Kill what still runs in the sandbox (the kubelet stopped it gracefully before), then pause."""
        members = await self._engine("containers", filters={"label": [f"{LABEL_SANDBOX}={sandbox_id}"]})
        await asyncio.gather(*(self.stop_container(member["Id"], 0) for member in members))
        await self.stop_container(sandbox_id, 0)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        members = await self._engine("containers", all=True, filters={"label": [f"{LABEL_SANDBOX}={sandbox_id}"]})
        await asyncio.gather(*(self.remove_container(member["Id"]) for member in members))
        await self.remove_container(sandbox_id)

    async def list_sandboxes(self, *, dead: bool = False) -> list[Sandbox]:
        """The running (ready) sandboxes; a sandbox whose pause container died only with ``dead``."""
        found = await self._engine("containers", all=dead, filters=self._filters("sandbox"))
        sandboxes = await asyncio.gather(*(self._sandbox_or_none(item["Id"]) for item in found))
        return [sandbox for sandbox in sandboxes if sandbox is not None]

    async def _sandbox_or_none(self, sandbox_id: str) -> Sandbox | None:
        with contextlib.suppress(RuntimeFailure):
            return await self._sandbox(sandbox_id)
        return None

    # ---- containers -----------------------------------------------------------------------

    async def start_container(self, sandbox: Sandbox, config: ContainerConfig) -> str:
        labels = {**container_labels(sandbox, config, node_name=self.settings.node_name),
                  LABEL_KIND: "container", LABEL_SANDBOX: sandbox.id}
        api = await self.api()
        spec: dict[str, Any] = {
            "image": config.image, "labels": labels,
            "entrypoint": list(config.command) or None, "command": list(config.args) or None,
            "environment": [f"{key}={value}" for key, value in config.env],
            "working_dir": config.working_dir or None,
            "user": str(config.run_as_user) if config.run_as_user is not None else None,
            "stdin_open": config.stdin, "tty": config.tty,
            # docker-py writes StdinOnce (and AttachStdin) = stdin_open unless ``detach``, and has no
            # other way to set it: detach is how a stdin container gets StdinOnce=false.
            "detach": config.stdin and not config.stdin_once,
            "host_config": api.create_host_config(**self._host_config(sandbox.id, config)),
        }
        name = object_name(labels[LABEL_POD_NAMESPACE], labels[LABEL_POD_NAME], config.name, config.attempt,
                           sandbox.pod_uid)
        container_id = await self._create(name, spec)
        await self._start(container_id)
        return container_id

    @staticmethod
    def _host_config(sandbox_id: str, config: ContainerConfig) -> dict[str, Any]:
        host: dict[str, Any] = {
            "network_mode": f"container:{sandbox_id}", "ipc_mode": f"container:{sandbox_id}",
            "binds": [f"{m.host_path}:{m.container_path}:{'ro' if m.read_only else 'rw'}" for m in config.mounts],
        }
        if config.memory_limit_bytes:
            host["mem_limit"] = config.memory_limit_bytes
            host["memswap_limit"] = config.memory_limit_bytes  # no swap: going over the limit is an OOM kill
        if config.cpu_limit_millis:
            host["nano_cpus"] = config.cpu_limit_millis * 1_000_000
        return host

    async def _create(self, name: str, spec: dict[str, Any]) -> str:
        """Create a container; a name held by an exited leftover is freed by removing it."""
        for _ in range(2):
            try:
                created = await self._engine("create_container", name=name, **spec)
                return str(created["Id"])
            except docker.errors.NotFound as exc:
                if "image" in _short(exc).lower():
                    raise ImageError("ErrImageNeverPull", f'image "{spec["image"]}" is not present') from exc
                raise RuntimeFailure(f"cannot create container {name}: {_short(exc)}") from exc
            except RuntimeFailure as exc:
                if "Conflict" not in str(exc) and "already in use" not in str(exc):
                    raise
                await self._free_name(name)
        raise RuntimeFailure(f"container name {name} stays in use")

    async def _free_name(self, name: str) -> None:
        try:
            data = await self._engine("inspect_container", name)
        except docker.errors.NotFound:
            return
        if data["State"].get("Running"):
            raise RuntimeFailure(f"container {name} already runs ({data['Id'][:12]})")
        await self.remove_container(data["Id"])

    async def _start(self, container_id: str) -> None:
        try:
            await self._engine("start", container_id)
        except (RuntimeFailure, docker.errors.NotFound) as exc:
            with contextlib.suppress(RuntimeFailure, docker.errors.NotFound):
                await self._engine("remove_container", container_id, force=True)
            raise RuntimeFailure(f"cannot start container: {_short(exc)}") from exc

    async def _inspect(self, container_id: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = await self._engine("inspect_container", container_id)
        except docker.errors.NotFound as exc:
            raise RuntimeFailure(f"container {container_id} not found") from exc
        return data

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        """``docker stop``: the stop signal (SIGTERM), up to the grace period, then SIGKILL; waits for exit."""
        timeout = max(0, math.ceil(grace_seconds))
        with contextlib.suppress(docker.errors.NotFound):
            await self._engine("stop", container_id, timeout=timeout)
            await self._engine("wait", container_id, timeout=timeout + self.settings.api_timeout)

    async def remove_container(self, container_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            try:
                await self._engine("remove_container", container_id, force=True)
            except RuntimeFailure as exc:
                if "is already in progress" not in str(exc):
                    raise

    async def list_containers(self, pod_uid: str | None = None) -> list[ContainerInfo]:
        found = await self._engine("containers", all=True, filters=self._filters("container", pod_uid))
        infos = await asyncio.gather(*(self._info_or_none(item["Id"]) for item in found))
        return [info for info in infos if info is not None]

    async def _info_or_none(self, container_id: str) -> ContainerInfo | None:
        with contextlib.suppress(RuntimeFailure):
            return await self.container_info(container_id)
        return None

    async def container_info(self, container_id: str) -> ContainerInfo:
        data = await self._inspect(container_id)
        labels = data["Config"].get("Labels") or {}
        state, exit_code, reason = container_state(data.get("State") or {})
        started = docker_time(data["State"].get("StartedAt"))
        return ContainerInfo(
            id=data["Id"], name=labels.get(LABEL_CONTAINER_NAME, data.get("Name", "").lstrip("/")),
            pod_uid=labels.get(LABEL_POD_UID, ""), attempt=int(labels.get(LABEL_ATTEMPT, "0") or 0),
            state=state, image=data["Config"].get("Image", ""), image_id=data.get("Image", ""),
            exit_code=exit_code, reason=reason, message=(data.get("State") or {}).get("Error", ""),
            started_at=started, finished_at=_finished(started, data["State"]) if state is State.EXITED else None,
            labels=labels,
        )

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        api = await self.api()
        one_shot = None if docker.utils.version_lt(api.api_version, "1.41") else True  # older: two cycles, ~1 s
        try:
            data = await self._engine("stats", container_id, stream=False, one_shot=one_shot)
        except (RuntimeFailure, docker.errors.NotFound):
            return None
        return stats_from_engine(data)

    # ---- exec and logs --------------------------------------------------------------------

    async def _exec_create(self, container_id: str, command: list[str], *, stdin: bool, tty: bool) -> str:
        try:
            created = await self._engine("exec_create", container_id, command, stdin=stdin, tty=tty)
        except docker.errors.NotFound as exc:
            raise RuntimeFailure(f"container {container_id} not found") from exc
        return str(created["Id"])

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        """Run and collect stdout+stderr; on timeout exit code -1 (the command is left to finish).

        The timeout covers the whole exec — creating and starting it included — so a busy engine
        can delay a probe but never hang it."""
        chunks: list[bytes] = []
        sessions: list[DockerExecSession] = []

        async def run() -> int:
            session = await self.exec_stream(container_id, command, stdin=False, tty=False)
            sessions.append(session)
            async for _stream, chunk in session.output():
                chunks.append(chunk)
            return await session.wait()

        try:
            code = await aio.wait_for(run(), timeout)
        except TimeoutError:
            for session in sessions:
                await session.close()
            return ExecResult(exit_code=-1, output=f"command timed out after {timeout:g}s".encode())
        return ExecResult(exit_code=code, output=b"".join(chunks))

    async def exec_stream(self, container_id: str, command: list[str], *, stdin: bool, tty: bool) -> DockerExecSession:
        exec_id = await self._exec_create(container_id, command, stdin=stdin, tty=tty)
        await self.api()
        reader, writer = await self._streams.exec_start(exec_id, tty=tty)
        return DockerExecSession(self, exec_id, reader, writer, tty=tty)

    async def attach(self, container_id: str, *, stdin: bool, tty: bool) -> DockerAttachSession:
        """``docker attach`` without the logs: the engine's hijacked ``/containers/{id}/attach``.

        The container's own Tty decides the framing (the engine sends a TTY container's output raw,
        as one stream), whatever ``tty`` the client asked for; stdin is attached only when asked
        and the container keeps it open (OpenStdin). The engine closes the container's stdin when
        an attach's stdin ends only for StdinOnce containers without a TTY; otherwise it ends that
        attach's output instead, so there :meth:`DockerAttachSession.close_stdin` sends nothing and
        the output goes on until the process exits."""
        del tty  # the container's TTY decides (see above)
        data = await self._inspect(container_id)
        if not data["State"].get("Running"):
            raise RuntimeFailure(f"container {container_id[:12]} is not running")
        config = data["Config"]
        container_tty = bool(config.get("Tty"))
        stdin = stdin and bool(config.get("OpenStdin"))
        query = {"stream": "1", "stdin": "1" if stdin else "0", "stdout": "1", "stderr": "1"}
        reader, writer = await self._streams.attach(data["Id"], query)
        return DockerAttachSession(self, data["Id"], reader, writer, tty=container_tty, stdin=stdin,
                                   eof_on_close=bool(config.get("StdinOnce")) and not container_tty)

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        data = await self._inspect(container_id)
        query = {"stdout": "1", "stderr": "1", "follow": "1" if follow else "0",
                 "timestamps": "1" if timestamps else "0", "tail": "all" if tail is None else str(max(tail, 0))}
        if since is not None:
            query["since"] = f"{since:.9f}"
        stream = self._streams.logs(data["Id"], query, tty=bool(data["Config"].get("Tty")))
        async with contextlib.aclosing(stream):  # a reader that stops early closes the connection now
            async for _name, chunk in stream:
                yield chunk


class _HijackedSession:
    """Stdin and output on a hijacked engine connection (an exec's start, a container's attach)."""

    def __init__(self, runtime: DockerRuntime, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 *, tty: bool) -> None:
        self._runtime = runtime
        self._reader = reader
        self._writer = writer
        self._tty = tty

    async def write_stdin(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close_stdin(self) -> None:
        """Half-close the connection: the engine ends the stdin it copies to."""
        if self._writer.can_write_eof() and not self._writer.is_closing():
            self._writer.write_eof()

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        try:
            async for item in _demux(self._raw_output(), tty=self._tty):
                yield item
        finally:
            await self.close()

    def _raw_output(self) -> AsyncIterator[bytes]:
        return http1.until_close(self._reader)

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


class DockerExecSession(_HijackedSession):
    """An exec on a hijacked engine connection (see the interface's ExecSession)."""

    def __init__(self, runtime: DockerRuntime, exec_id: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, *, tty: bool) -> None:
        super().__init__(runtime, reader, writer, tty=tty)
        self.exec_id = exec_id

    async def wait(self) -> int:
        """The exit code, once the engine reports the command ended."""
        delay = 0.01
        while True:
            info = await self._runtime._engine("exec_inspect", self.exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    async def resize(self, width: int, height: int) -> None:
        await self._runtime._engine("exec_resize", self.exec_id, height=height, width=width)


ATTACH_DRAIN_S = 2.0
"""How long an attach's output may still come once the engine reports the container stopped."""


class DockerAttachSession(_HijackedSession):
    """An attach to a container's main process (see ``DockerRuntime.attach``).

    The engine ends an attach's connection when the process exits, with one exception: an attach
    that it registered just after the exit is never ended. So the output also ends when nothing
    more comes :data:`ATTACH_DRAIN_S` after the engine's ``wait`` says the container stopped (the
    engine closes attached streams before it marks the container stopped, so what is still due
    is already on its way then). That ``wait``, on a connection of its own, is also :meth:`wait`.
    """

    def __init__(self, runtime: DockerRuntime, container_id: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, *, tty: bool, stdin: bool, eof_on_close: bool) -> None:
        super().__init__(runtime, reader, writer, tty=tty)
        self.container_id = container_id
        self._stdin = stdin
        self._eof_on_close = eof_on_close
        self._exit: asyncio.Future[int] | None = None
        self._exited()  # from now on: the exit this attach will see

    async def write_stdin(self, data: bytes) -> None:
        """Feed the process's stdin; nothing is sent when stdin is not attached (or was closed)."""
        if self._stdin:
            await super().write_stdin(data)

    async def close_stdin(self) -> None:
        """Detach this client's stdin. Only a StdinOnce container without a TTY gets EOF (the
        connection is half-closed); for any other the engine would end this attach's output too,
        so nothing is sent and later writes are dropped."""
        if not self._stdin:
            return
        self._stdin = False
        if self._eof_on_close:
            await super().close_stdin()

    def _exited(self) -> asyncio.Future[int]:
        if self._exit is None or self._exit.cancelled():
            self._exit = asyncio.ensure_future(self._runtime._streams.wait(self.container_id))
            self._exit.add_done_callback(lambda done: done.cancelled() or done.exception())
        return self._exit

    async def _raw_output(self) -> AsyncIterator[bytes]:
        exited = self._exited()
        while True:
            read = asyncio.ensure_future(self._reader.read(http1.READ_SIZE))
            try:
                if not exited.done():
                    either: set[asyncio.Future[Any]] = {read, exited}
                    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if not read.done():
                    # Stopped: what is still due comes now or never. No answer from wait: read on.
                    stopped = not exited.cancelled() and exited.exception() is None
                    await asyncio.wait({read}, timeout=ATTACH_DRAIN_S if stopped else None)
                    if not read.done():
                        return
            finally:
                read.cancel()
            data = read.result()
            if not data:
                return
            yield data

    async def wait(self) -> int:
        """The container's exit code once it has stopped (its wait, condition not-running)."""
        return await asyncio.shield(self._exited())

    async def resize(self, width: int, height: int) -> None:
        """Resize the container's TTY (nothing to do without one)."""
        if not self._tty:
            return
        try:
            await self._runtime._engine("resize", self.container_id, height=height, width=width)
        except docker.errors.NotFound as exc:
            raise RuntimeFailure(f"container {self.container_id[:12]} not found") from exc

    async def close(self) -> None:
        if self._exit is not None and not self._exit.done():
            self._exit.cancel()
        await super().close()


async def _body_chunks(reader: asyncio.StreamReader, headers: dict[str, str]) -> AsyncIterator[bytes]:
    """An HTTP/1.1 body as it arrives; a connection the engine drops ends it."""
    try:
        async for chunk in http1.body_chunks(reader, headers):
            yield chunk
    except (asyncio.IncompleteReadError, ConnectionError):
        return


async def _demux(chunks: AsyncIterator[bytes], *, tty: bool) -> AsyncGenerator[tuple[str, bytes], None]:
    """Docker's output stream: raw bytes with a TTY, else frames of [stream, 0, 0, 0, size(4, BE)] + payload."""
    if tty:
        async for chunk in chunks:
            yield "stdout", chunk
        return
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 8 and len(buffer) >= 8 + (size := int.from_bytes(buffer[4:8], "big")):
            yield _STREAM_NAMES.get(buffer[0], "stdout"), bytes(buffer[8:8 + size])
            del buffer[:8 + size]


class _EngineStreams:
    """Streaming endpoints spoken with asyncio over the engine socket (no thread per stream)."""

    def __init__(self, docker_host: str) -> None:
        self.docker_host = docker_host
        self.api_version = "1.41"

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        url = urllib.parse.urlparse(self.docker_host)
        try:
            if url.scheme == "unix":
                return await asyncio.open_unix_connection(url.path)
            if url.scheme in ("tcp", "http"):
                return await asyncio.open_connection(url.hostname, url.port or 2375)
        except OSError as exc:
            raise RuntimeFailure(f"cannot reach the Docker engine at {self.docker_host}: {exc}") from exc
        raise RuntimeFailure(f"streaming needs a unix:// or tcp:// Docker host, not {self.docker_host}")

    async def _request(self, method: str, path: str, *, body: bytes = b"", upgrade: bool = False,
                       ) -> tuple[int, dict[str, str], asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await self._connect()
        fields = [("Host", "docker"), ("Content-Length", str(len(body)))]
        if body:
            fields.append(("Content-Type", "application/json"))
        fields += [("Connection", "Upgrade"), ("Upgrade", "tcp")] if upgrade else [("Connection", "close")]
        writer.write(http1.request_head(method, f"/v{self.api_version}{path}", fields) + body)
        await writer.drain()
        try:
            head = await http1.read_head(reader)
        except (asyncio.IncompleteReadError, ValueError) as exc:  # ValueError: http1.ProtocolError, a line too long
            writer.close()
            raise RuntimeFailure(f"docker {path}: bad response from the engine") from exc
        if head.status >= 300:
            try:
                detail = (await http1.read_body(reader, head.headers)).decode(errors="replace")
            except (asyncio.IncompleteReadError, ValueError):  # an unreadable error body: say the status alone
                detail = ""
            finally:
                writer.close()
            raise RuntimeFailure(f"docker {path}: {head.status} {_engine_message(detail)}")
        return head.status, head.headers, reader, writer

    async def exec_start(self, exec_id: str, *, tty: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        body = json.dumps({"Detach": False, "Tty": tty}).encode()
        _, _, reader, writer = await self._request("POST", f"/exec/{exec_id}/start", body=body, upgrade=True)
        return reader, writer

    async def attach(self, container_id: str, query: dict[str, str],
                     ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        path = f"/containers/{container_id}/attach?{urllib.parse.urlencode(query)}"
        _, _, reader, writer = await self._request("POST", path, upgrade=True)
        return reader, writer

    async def wait(self, container_id: str) -> int:
        """The exit code once the container is not running (at once when it is not)."""
        path = f"/containers/{container_id}/wait?condition=not-running"
        _, headers, reader, writer = await self._request("POST", path)
        try:
            body = await http1.read_body(reader, headers)
        except (asyncio.IncompleteReadError, ValueError, ConnectionError) as exc:
            raise RuntimeFailure(f"docker wait {container_id[:12]}: bad response from the engine") from exc
        finally:
            writer.close()
        try:
            return int(json.loads(body)["StatusCode"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeFailure(f"docker wait {container_id[:12]}: {_engine_message(body.decode(errors='replace'))}",
                                 ) from exc

    async def logs(self, container_id: str, query: dict[str, str], *, tty: bool,
                   ) -> AsyncGenerator[tuple[str, bytes], None]:
        path = f"/containers/{container_id}/logs?{urllib.parse.urlencode(query)}"
        _, headers, reader, writer = await self._request("GET", path)
        try:
            async with contextlib.aclosing(_demux(_body_chunks(reader, headers), tty=tty)) as frames:
                async for item in frames:
                    yield item
        finally:
            writer.close()


def _engine_message(detail: str) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(detail).get("message", detail))
    return detail.strip()


def _short(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc)
