"""ProcessRuntime: each container's command runs as a host process (the embedded default).

No images. The image name is only recorded: ``image_present`` is always true and ``pull_image``
does nothing, so ErrImagePull / ErrImageNeverPull never happen here. A container runs its
``command`` followed by its ``args``. Without a command it runs its ``args`` alone, as an image
without an ENTRYPOINT (busybox's) runs them (``skiffctl run t --image=busybox -- sh -c ...``);
with neither, the image's own entrypoint would run, which this runtime cannot know, so it fails
with RuntimeFailure. The one exception is a ``pause`` image, which runs ``sleep infinity``.

DNS: a sandbox's settings (``SandboxConfig.dns``) are rendered into ``<sandbox id>.resolv.conf``
in the state dir, and each container's shim bind-mounts that file read-only over /etc/resolv.conf
in its private mount namespace (one more of its ``mounts``, unless the pod mounts a volume there),
so the host's file is never touched; hostNetwork pods too, since their containers also get a mount
namespace. Without root there is no mount namespace: the settings are not applied and containers
read the host's /etc/resolv.conf (logged once, at debug). No settings, or empty ones, leave the
host's file in place, as containerd copies it then.

The runtime composes the other modules of this package: a sandbox is a record on disk (``state``)
plus, as root and unless hostNetwork, a network namespace on the bridge (``network``); a container
is a record, its cgroups (``cgroups``) and a shim that runs the command (``shim``); ``exec`` and
``logs`` go through ``exec`` and the shim's ``log`` file (``logfile``), ``attach`` through the
shim's attach socket (``attach``; a container whose shim predates attach has none, and attaching
to it raises RuntimeFailure). What it knows of sandboxes and containers it reads from the files,
so a NEW ProcessRuntime on the same ``root_dir`` (a restarted kubelet) adopts everything.

A container is running while its process (the pid, with the same /proc start time) or its shim
lives, and there is no ``exit.json``. So it still reads as running between the process's end and
the shim's ``exit.json``; that is at most a few seconds, when an orphaned grandchild holds the
output pipes (see ``shim``). If both died without an ``exit.json`` (the shim was killed), the exit code is
unknown. It is then reported as 137 / Error with a message saying so. Stopping a container signals
its process group (SIGTERM, then SIGKILL after the grace period, also to everything in its cgroups).

``container_stats`` reads a running container's usage from its cgroups (see ``cgroups``); what they
do not account (no cgroups without root, no cpuacct cgroup on v1) comes from /proc: the processes
in its cgroups, or else its process group (CPU time including reaped children; VmRSS as memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from kubelet.runtime.interface import (
    ContainerConfig,
    ContainerInfo,
    ContainerStats,
    ExecResult,
    RuntimeFailure,
    Sandbox,
    SandboxConfig,
    State,
    terminated_reason,
)
from kubelet.runtime.labels import container_labels, sandbox_labels
from kubelet.runtime.process import attach
from kubelet.runtime.process.attach import ProcessAttachSession
from kubelet.runtime.process.cgroups import Cgroups
from kubelet.runtime.process.exec import ProcessExecSession, exec_process
from kubelet.runtime.process.host import alive, is_root, proc_start_ticks, proc_usage, process_group
from kubelet.runtime.process.logfile import parse_log_line, render
from kubelet.runtime.process.network import PodNet, PodNetwork
from kubelet.runtime.process.shim import shim_hello, start_shim
from kubelet.runtime.process.state import read_json, write_json
from skiff import aio

log = logging.getLogger(__package__)  # "kubelet.runtime.process": one logger for the whole runtime

PAUSE_IMAGE_NAMES = ("pause",)
RESOLV_CONF = "/etc/resolv.conf"
POLL_S = 0.02
UNKNOWN_EXIT_MESSAGE = "the container's shim died before recording an exit code; exit code unknown"


class ProcessRuntime:
    """The process runtime (see the module docstring)."""

    name = "process"

    def __init__(self, root_dir: Path, *, node_name: str = "", node_ip: str = "127.0.0.1",
                 network: PodNetwork | None = None, cgroups: Cgroups | None = None) -> None:
        self.root_dir = Path(root_dir)
        self.node_name = node_name
        self.node_ip = node_ip
        self.root = is_root()
        self.network = network or PodNetwork()
        self.cgroups = cgroups or Cgroups()
        self._sandbox_dir = self.root_dir / "sandboxes"
        self._container_dir = self.root_dir / "containers"
        self._sandbox_dir.mkdir(parents=True, exist_ok=True)
        self._container_dir.mkdir(parents=True, exist_ok=True)
        self._shims: dict[str, asyncio.subprocess.Process] = {}
        self._nsenter = shutil.which("nsenter") or "nsenter"
        self._dns_unapplied_logged = False
        if not self.root:
            log.warning("process runtime without root: pods share the host network, mounts are not applied")

    # -- runtime and images -------------------------------------------------------------------

    async def version(self) -> str:
        try:
            return f"process://{metadata.version('skiff')}"
        except metadata.PackageNotFoundError:
            return "process://0.0.0"

    async def ready(self) -> bool:
        return os.access(self._container_dir, os.W_OK)

    async def image_present(self, image: str) -> bool:
        return True

    async def pull_image(self, image: str) -> None:
        return None

    # -- sandboxes ----------------------------------------------------------------------------

    async def run_sandbox(self, config: SandboxConfig) -> Sandbox:
        sandbox_id = secrets.token_hex(8)
        record: dict[str, Any] = {"id": sandbox_id, "pod_uid": config.pod_uid, "ip": self.node_ip, "netns": None,
                                  "veth": None, "ready": True, "created_at": time.time(),
                                  "hostname": None if config.host_network else (config.hostname or config.name)[:63],
                                  "labels": sandbox_labels(config, node_name=self.node_name)}
        if self.root and not config.host_network:
            try:
                net = await self.network.setup(sandbox_id)
                record.update(ip=net.ip, netns=net.netns, veth=net.veth)
            except RuntimeFailure as err:
                log.warning("%s/%s: no pod network (%s); the pod shares the host network with IP %s",
                            config.namespace, config.name, err, self.node_ip)
        record["resolv_conf"] = self._write_resolv_conf(sandbox_id, config)
        write_json(self._sandbox_dir / f"{sandbox_id}.json", record)
        return _sandbox(record)

    def _write_resolv_conf(self, sandbox_id: str, config: SandboxConfig) -> str | None:
        """The pod's resolv.conf in the state dir (its containers' shims bind-mount it over
        /etc/resolv.conf), or None: no settings, empty ones (the host's file stays, as containerd
        copies it then), or no root to mount with."""
        text = config.dns.render() if config.dns is not None else ""
        if not text:
            return None
        if not self.root:
            if not self._dns_unapplied_logged:
                self._dns_unapplied_logged = True
                log.debug("no mount namespace without root: pods' DNS settings are not applied, their "
                          "containers read the host's /etc/resolv.conf")
            return None
        path = self._sandbox_dir / f"{sandbox_id}.resolv.conf"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, path)
        return str(path)

    async def stop_sandbox(self, sandbox_id: str) -> None:
        record = self._sandbox_record(sandbox_id)
        for container_id in await self._containers_of(sandbox_id):
            await self.stop_container(container_id, 0)
        if record["netns"]:
            await self.network.teardown(PodNet(netns=record["netns"], veth=record["veth"], ip=record["ip"]))
        record.update(ready=False, netns=None, veth=None)
        write_json(self._sandbox_dir / f"{sandbox_id}.json", record)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        if read_json(self._sandbox_dir / f"{sandbox_id}.json") is None:
            return
        await self.stop_sandbox(sandbox_id)
        for container_id in await self._containers_of(sandbox_id):
            await self.remove_container(container_id)
        with contextlib.suppress(FileNotFoundError):
            (self._sandbox_dir / f"{sandbox_id}.resolv.conf").unlink()
        with contextlib.suppress(FileNotFoundError):
            (self._sandbox_dir / f"{sandbox_id}.json").unlink()

    async def list_sandboxes(self, *, dead: bool = False) -> list[Sandbox]:
        """Every recorded sandbox (a record lasts until remove_sandbox, dead or alive)."""
        records = (read_json(p) for p in sorted(self._sandbox_dir.glob("*.json")))
        return [_sandbox(r) for r in records if r is not None]

    def _sandbox_record(self, sandbox_id: str) -> dict[str, Any]:
        record = read_json(self._sandbox_dir / f"{sandbox_id}.json")
        if record is None:
            raise RuntimeFailure(f"sandbox {sandbox_id} not found")
        return record

    async def _containers_of(self, sandbox_id: str) -> list[str]:
        return [p.parent.name for p in self._container_dir.glob("*/state.json")
                if (read_json(p) or {}).get("sandbox_id") == sandbox_id]

    # -- containers ---------------------------------------------------------------------------

    async def start_container(self, sandbox: Sandbox, config: ContainerConfig) -> str:
        record = self._sandbox_record(sandbox.id)
        if not record["ready"]:
            raise RuntimeFailure(f"sandbox {sandbox.id} is stopped")
        argv = _argv(config)
        container_id = secrets.token_hex(8)
        directory = self._container_dir / container_id
        directory.mkdir()
        cgroup_dirs = self.cgroups.create(container_id, cpu_millis=config.cpu_limit_millis,
                                          memory_bytes=config.memory_limit_bytes)
        if config.mounts and not self.root:
            log.warning("container %s: mounts are not applied without root", config.name)
        socket_path = str(attach.socket_path(directory, container_id))
        hostname = record.get("hostname") if self.root else None  # a UTS namespace needs root
        state: dict[str, Any] = {
            "id": container_id, "sandbox_id": sandbox.id, "pod_uid": record["pod_uid"], "name": config.name,
            "attempt": config.attempt, "image": config.image, "env": dict(config.env),
            "cwd": config.working_dir or "/", "uid": config.run_as_user, "netns": record["netns"],
            "mount_ns": self.root, "uts_ns": bool(hostname), "cgroups": [str(p) for p in cgroup_dirs],
            "attach_socket": socket_path,
            "stdin": config.stdin, "stdin_once": config.stdin_once, "tty": config.tty,
            "labels": container_labels(_sandbox(record), config, node_name=self.node_name)}
        spec = {"argv": argv, "env": state["env"], "cwd": state["cwd"], "uid": config.run_as_user,
                "netns_path": f"/run/netns/{record['netns']}" if record["netns"] else None,
                "mount_ns": self.root, "hostname": hostname,
                "cgroup_procs": [str(p / "cgroup.procs") for p in cgroup_dirs],
                "mounts": _mounts(record, config) if self.root else [],
                "attach_socket": socket_path, "stdin": config.stdin, "stdin_once": config.stdin_once,
                "tty": config.tty}
        write_json(directory / "spec.json", spec)
        try:
            started = await self._spawn_shim(container_id, directory)
        except RuntimeFailure:
            Cgroups.remove(cgroup_dirs)
            shutil.rmtree(directory, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.unlink(socket_path)
            raise
        state.update(started)
        write_json(directory / "state.json", state)
        return container_id

    async def _spawn_shim(self, container_id: str, directory: Path) -> dict[str, Any]:
        shim = await start_shim(directory)
        self._shims[container_id] = shim
        hello = await shim_hello(shim, directory)
        return {"pid": hello["pid"], "ticks": hello["ticks"], "shim_pid": shim.pid,
                "shim_ticks": proc_start_ticks(shim.pid), "started_at": time.time()}

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        state = self._state(container_id)
        if not self._running(state):
            return
        self._signal(state, signal.SIGTERM)
        if not await self._wait_exit(state, grace_seconds):
            self._signal(state, signal.SIGKILL)
            if not await self._wait_exit(state, 10.0):
                raise RuntimeFailure(f"container {container_id} did not exit after SIGKILL")

    def _signal(self, state: dict[str, Any], sig: signal.Signals) -> None:
        if alive(state["pid"], state["ticks"]):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(state["pid"], sig)
        if sig == signal.SIGKILL:
            self.cgroups.kill_all([Path(p) for p in state["cgroups"]])

    async def _wait_exit(self, state: dict[str, Any], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._running(state):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    async def remove_container(self, container_id: str) -> None:
        directory = self._container_dir / container_id
        state = read_json(directory / "state.json")
        if state is None:
            shutil.rmtree(directory, ignore_errors=True)
            return
        await self.stop_container(container_id, 0)
        dirs = [Path(p) for p in state["cgroups"]]
        deadline = time.monotonic() + 5
        while Cgroups.pids(dirs) and time.monotonic() < deadline:
            self.cgroups.kill_all(dirs)
            await asyncio.sleep(POLL_S)
        Cgroups.remove(dirs)
        self._shims.pop(container_id, None)
        if state.get("attach_socket"):  # the shim removes it; not if it was killed
            with contextlib.suppress(OSError):
                os.unlink(state["attach_socket"])
        shutil.rmtree(directory, ignore_errors=True)

    async def list_containers(self, pod_uid: str | None = None) -> list[ContainerInfo]:
        infos = []
        for path in sorted(self._container_dir.glob("*/state.json")):
            state = read_json(path)
            if state is not None and pod_uid in (None, state["pod_uid"]):
                infos.append(self._info(state))
        return infos

    async def container_info(self, container_id: str) -> ContainerInfo:
        return self._info(self._state(container_id))

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        state = read_json(self._container_dir / container_id / "state.json")
        if state is None or not self._running(state):
            return None
        dirs = [Path(p) for p in state["cgroups"]]
        cpu, memory = Cgroups.usage(dirs)
        if cpu is None or memory is None:
            pids = Cgroups.pids(dirs) or (process_group(state["pid"]) if alive(state["pid"], state["ticks"]) else [])
            proc_cpu, proc_rss = proc_usage(pids)
            cpu = proc_cpu if cpu is None else cpu
            memory = proc_rss if memory is None else memory
        return ContainerStats(cpu_usage_seconds=cpu, memory_working_set_bytes=memory)

    def _state(self, container_id: str) -> dict[str, Any]:
        state = read_json(self._container_dir / container_id / "state.json")
        if state is None:
            raise RuntimeFailure(f"container {container_id} not found")
        return state

    def _exit(self, state: dict[str, Any]) -> dict[str, Any] | None:
        return read_json(self._container_dir / state["id"] / "exit.json")

    def _running(self, state: dict[str, Any]) -> bool:
        if self._exit(state) is not None:
            return False
        return alive(state["pid"], state["ticks"]) or alive(state["shim_pid"], state["shim_ticks"])

    def _info(self, state: dict[str, Any]) -> ContainerInfo:
        base = ContainerInfo(id=state["id"], name=state["name"], pod_uid=state["pod_uid"], attempt=state["attempt"],
                             state=State.RUNNING, image=state["image"], image_id=f"process://{state['image']}",
                             started_at=state["started_at"], labels=state["labels"])
        if self._running(state):
            return base
        ended = self._exit(state)
        if ended is None:
            return _replace_info(base, exit_code=137, reason="Error", message=UNKNOWN_EXIT_MESSAGE,
                                 finished_at=None)
        code = int(ended["exit_code"])
        oom = code != 0 and Cgroups.oom_kills([Path(p) for p in state["cgroups"]]) > 0
        return _replace_info(base, exit_code=code, reason=terminated_reason(code, oom=oom), message="",
                             finished_at=ended["finished_at"])

    # -- exec and logs ------------------------------------------------------------------------

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        proc = await exec_process(self._nsenter, self._state(container_id), command, stdin=False, merge=True)
        try:
            out, _ = await aio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return ExecResult(-1, f"command timed out after {timeout:g}s".encode())
        return ExecResult(proc.returncode if proc.returncode is not None else -1, out)

    async def exec_stream(self, container_id: str, command: list[str], *, stdin: bool,
                          tty: bool) -> ProcessExecSession:
        return ProcessExecSession(await exec_process(self._nsenter, self._state(container_id), command,
                                                     stdin=stdin, merge=False))

    async def attach(self, container_id: str, *, stdin: bool, tty: bool) -> ProcessAttachSession:
        """Attach through the container's shim (see ``attach`` for what the session does). ``tty`` is
        the container's own, whatever is asked; ``stdin`` on a container without one is no error
        (its writes are dropped). An exited container cannot be attached to (RuntimeFailure, as the
        other runtimes: ``skiffctl run -i`` then prints its log instead, as kubectl does)."""
        state = self._state(container_id)
        path = state.get("attach_socket")
        if not path:
            raise RuntimeFailure("attach is not supported for this container")

        async def recorded_exit() -> int:
            while self._running(state):
                await asyncio.sleep(POLL_S)
            code = self._info(state).exit_code
            return 137 if code is None else code

        if self._running(state):
            try:
                return await attach.connect(path, stdin=stdin, recorded_exit=recorded_exit)
            except attach.AttachUnavailable as err:
                if self._running(state):
                    raise RuntimeFailure(f"cannot attach to container {container_id}: {err}") from err
        raise RuntimeFailure(f"container {container_id} is not running")

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        state = self._state(container_id)
        path = self._container_dir / container_id / "log"
        data = path.read_bytes() if path.exists() else b""
        complete = data.rfind(b"\n") + 1  # the shim may be mid-line
        lines = [parsed for raw in data[:complete].split(b"\n") if (parsed := parse_log_line(raw)) is not None]
        selected = [p for p in lines if since is None or p[0] >= since]
        if tail is not None:
            selected = selected[-tail:] if tail > 0 else []
        for parsed in selected:
            yield render(parsed, timestamps)
        if follow:
            path.touch(exist_ok=True)
            with open(path, "rb") as f:
                f.seek(complete)
                async for chunk in self._follow(f, state, timestamps):
                    yield chunk

    async def _follow(self, f: IO[bytes], state: dict[str, Any], timestamps: bool) -> AsyncIterator[bytes]:
        pending = b""
        while True:
            running = self._running(state)
            pending += f.read()
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                if (parsed := parse_log_line(raw)) is not None:
                    yield render(parsed, timestamps)
            if not running:
                return
            await asyncio.sleep(0.1)


def _mounts(record: dict[str, Any], config: ContainerConfig) -> list[dict[str, Any]]:
    """The shim's bind mounts: the pod's resolv.conf over /etc/resolv.conf (read-only; first, so a
    volume the pod mounts there itself wins, as in containerd), then the container's volumes."""
    mounts = [{"host_path": m.host_path, "container_path": m.container_path, "read_only": m.read_only}
              for m in config.mounts]
    resolv_conf = record.get("resolv_conf")
    if resolv_conf and not any(m.container_path == RESOLV_CONF for m in config.mounts):
        mounts.insert(0, {"host_path": resolv_conf, "container_path": RESOLV_CONF, "read_only": True})
    return mounts


def _argv(config: ContainerConfig) -> list[str]:
    if config.command or config.args:
        return [*config.command, *config.args]
    image = config.image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    if image in PAUSE_IMAGE_NAMES:
        return ["sleep", "infinity"]
    raise RuntimeFailure("process runtime needs a command or args: the image's entrypoint is unknown")


def _sandbox(record: dict[str, Any]) -> Sandbox:
    return Sandbox(id=record["id"], pod_uid=record["pod_uid"], ip=record["ip"], labels=record["labels"])


def _replace_info(info: ContainerInfo, **changes: Any) -> ContainerInfo:
    return replace(info, state=State.EXITED, **changes)
