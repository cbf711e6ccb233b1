"""ProcessRuntime: each container's command runs as a host process (the embedded default).

No images. The image name is only recorded: ``image_present`` is always true and ``pull_image``
does nothing, so ErrImagePull / ErrImageNeverPull never happen here. A container needs a
command. An empty one means "the image's entrypoint", which this runtime cannot know, so it fails
with RuntimeFailure. The one exception is a ``pause`` image, which runs ``sleep infinity``.

Layout under ``root_dir``::

    sandboxes/<sandbox id>.json      the pod: uid, IP, labels, network namespace, veth
    containers/<id>/spec.json        what the shim runs: argv, env, cwd, uid, namespaces, cgroups, mounts
    containers/<id>/state.json       pid, its /proc start time, shim pid, labels, start time
    containers/<id>/exit.json        exit code, signal, end time (written by the shim)
    containers/<id>/log              output in the CRI log format: "<RFC3339 time> <stream> <F|P> <text>"

**Shim.** The runtime does not start the command itself. It starts a small shim
(``python -m kubelet.runtime.process shim <dir>``, in its own session) like containerd's shim.
The shim enters the pod's network namespace and unshares a private mount namespace, bind-mounts
the container's mounts (it creates the target paths on the host filesystem: there is no chroot),
then starts the command. The command runs in its own session (process group = pid) with the env
exactly as given, in the working dir (default ``/``), as ``run_as_user``, and it joins its
cgroups before ``exec``. The shim prints ``{"pid", "ticks"}`` (or ``{"error"}``) on its stdout
for the runtime. From then on it writes the command's stdout/stderr to ``log`` with timestamps.
When the command ends the shim reaps it and writes ``exit.json``. Because the shim outlives the
kubelet, a NEW ProcessRuntime on the same ``root_dir`` (a restarted kubelet) adopts everything
from the files. A container is running while its process (the pid, with the same /proc start
time) or its shim lives. So it still reads as running between the process's end and the shim's
``exit.json``; that is at most ~2 s, when an orphaned grandchild holds the output pipes. If both
died without an ``exit.json`` (the shim was killed), the exit code is unknown. It is then
reported as 137 / Error with a message saying so. The runtime reaps its shims through asyncio's
child watcher.

**Network** (root only, not hostNetwork). Each sandbox gets a netns ``skiff-<sandbox id[:8]>``
with loopback up and a veth pair ``skv<id8>`` <-> ``eth0`` to the host bridge ``skiff0``
(10.88.0.1/16). The pod IP comes from 10.88.0.0/16, which stays clear of docker's 172.17/16. IPs
are leased host-wide with ``O_EXCL`` files in ``/run/skiff/ipam``, so several kubelets on one
host share the bridge. iptables rules (best effort) accept forwarding on the bridge (docker sets
FORWARD to DROP) and masquerade pod egress. If any of this fails, the pod shares the host
network and its IP is the node IP, with a warning in the log. hostNetwork pods and a non-root
kubelet share the host namespace. Without root there is also no mount namespace, so
``mounts`` are not applied (a warning is logged). The bridge is never deleted. There is no UTS
namespace: the pod's hostname is the host's.

**Limits.** These are cgroups per container. On v2 they go in ``/sys/fs/cgroup/skiff/<id>``
(memory.max, memory.swap.max=0, cpu.max). On v1 they go in the memory and cpu hierarchies under
``skiff/<id>`` (memory.limit_in_bytes and memsw = no swap, cpu.cfs_quota_us). OOMKilled comes from
the cgroup's oom_kill counter (memory.events on v2, memory.oom_control on v1) being non-zero for a
container that exited non-zero. If cgroups are not writable, limits are not enforced and
OOMKilled is not detected (one warning at start).

**Exec** uses ``nsenter -t <pid> -n -m`` with the container's env, working dir and user. There is
no pty: ``tty`` is ignored and ``resize`` does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from ipaddress import IPv4Network
from pathlib import Path
from typing import IO, Any

from kubelet.runtime.interface import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    ContainerConfig,
    ContainerInfo,
    ExecResult,
    RuntimeFailure,
    Sandbox,
    SandboxConfig,
    State,
)
from skiff import aio

log = logging.getLogger(__name__)

POD_CIDR = IPv4Network("10.88.0.0/16")
BRIDGE = "skiff0"
IPAM_DIR = Path("/run/skiff/ipam")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "skiff"
PAUSE_IMAGE_NAMES = ("pause",)
SHIM_START_TIMEOUT_S = 15.0
POLL_S = 0.02
MAX_LOG_LINE = 16 * 1024
UNKNOWN_EXIT_MESSAGE = "the container's shim died before recording an exit code; exit code unknown"


def _is_root() -> bool:
    return os.geteuid() == 0


def proc_start_ticks(pid: int, *, zombie: bool = False) -> int | None:
    """The process's start time (clock ticks since boot) from /proc; None when it is gone (or a
    zombie, unless ``zombie``: the shim reads its own unreaped child's)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z" and not zombie:
        return None
    return int(fields[19])


def _alive(pid: int | None, ticks: int | None) -> bool:
    return pid is not None and ticks is not None and proc_start_ticks(pid) == ticks


def _write_json(path: Path, value: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a record."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value


# -- cgroups ----------------------------------------------------------------------------------


class Cgroups:
    """Per-container cgroups on v2 or v1; ``mode`` is "v2", "v1" or "none" (not writable)."""

    def __init__(self, root: Path = CGROUP_ROOT) -> None:
        self.root = root
        self.mode = self._detect()
        if self.mode == "none":
            log.warning("cgroups are not writable: memory/cpu limits are not enforced, OOMKilled is not detected")

    def _detect(self) -> str:
        if not _is_root():
            return "none"
        v2 = (self.root / "cgroup.controllers").exists()
        try:
            if v2:
                parent = self.root / CGROUP_PARENT
                parent.mkdir(exist_ok=True)
                for level in (self.root, parent):
                    (level / "cgroup.subtree_control").write_text("+memory +cpu")
                return "v2"
            for controller in ("memory", "cpu"):
                (self.root / controller / CGROUP_PARENT).mkdir(exist_ok=True)
            return "v1"
        except OSError as err:
            log.warning("cannot set up cgroups under %s: %s", self.root, err)
            return "none"

    def paths(self, container_id: str) -> list[Path]:
        if self.mode == "v2":
            return [self.root / CGROUP_PARENT / container_id]
        if self.mode == "v1":
            return [self.root / c / CGROUP_PARENT / container_id for c in ("memory", "cpu")]
        return []

    def create(self, container_id: str, *, cpu_millis: int | None, memory_bytes: int | None) -> list[Path]:
        dirs = self.paths(container_id)
        for path in dirs:
            path.mkdir(exist_ok=True)
        try:
            if self.mode == "v2":
                self._limit_v2(dirs[0], cpu_millis, memory_bytes)
            elif self.mode == "v1":
                self._limit_v1(dirs[0], dirs[1], cpu_millis, memory_bytes)
        except OSError as err:
            self.remove(dirs)
            raise RuntimeFailure(f"cannot set resource limits: {err}") from err
        return dirs

    @staticmethod
    def _limit_v2(path: Path, cpu_millis: int | None, memory_bytes: int | None) -> None:
        if memory_bytes is not None:
            (path / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):  # no swap accounting: nothing to turn off
                (path / "memory.swap.max").write_text("0")
        if cpu_millis is not None:
            (path / "cpu.max").write_text(f"{max(cpu_millis * 100, 1000)} 100000")

    @staticmethod
    def _limit_v1(memory: Path, cpu: Path, cpu_millis: int | None, memory_bytes: int | None) -> None:
        if memory_bytes is not None:
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):  # kernels without swap accounting
                (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        if cpu_millis is not None:
            (cpu / "cpu.cfs_period_us").write_text("100000")
            (cpu / "cpu.cfs_quota_us").write_text(str(max(cpu_millis * 100, 1000)))

    @staticmethod
    def oom_kills(dirs: list[Path]) -> int:
        for path in dirs:
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(OSError):
                    for line in (path / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            return int(value)
        return 0

    @staticmethod
    def pids(dirs: list[Path]) -> list[int]:
        found: set[int] = set()
        for path in dirs:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        return sorted(found)

    def kill_all(self, dirs: list[Path]) -> None:
        for pid in self.pids(dirs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    @staticmethod
    def remove(dirs: list[Path]) -> None:
        for path in dirs:
            with contextlib.suppress(FileNotFoundError):
                path.rmdir()


# -- pod network ------------------------------------------------------------------------------


async def _run(*argv: str) -> tuple[int, str]:
    """Run a host command; (exit code, stderr+stdout)."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


async def _must(*argv: str) -> None:
    code, out = await _run(*argv)
    if code != 0:
        raise RuntimeFailure(f"{' '.join(argv)}: {out}")


@dataclass(frozen=True)
class PodNet:
    netns: str
    veth: str
    ip: str


class PodNetwork:
    """Network namespaces on the ``skiff0`` bridge with IPs leased host-wide (see module docstring)."""

    def __init__(self, *, cidr: IPv4Network = POD_CIDR, bridge: str = BRIDGE, ipam_dir: Path = IPAM_DIR) -> None:
        self.cidr = cidr
        self.bridge = bridge
        self.ipam_dir = ipam_dir
        self.gateway = str(next(cidr.hosts()))
        self._bridge_ready = False

    async def setup(self, sandbox_id: str) -> PodNet:
        net = PodNet(netns=f"skiff-{sandbox_id[:8]}", veth=f"skv{sandbox_id[:8]}", ip=self._lease(sandbox_id))
        try:
            await self._ensure_bridge()
            await self._plumb(net)
        except RuntimeFailure:
            await self.teardown(net)
            raise
        return net

    async def _plumb(self, net: PodNet) -> None:
        peer = f"skp{net.veth[3:]}"
        prefix = self.cidr.prefixlen
        await _must("ip", "netns", "add", net.netns)
        await _must("ip", "-n", net.netns, "link", "set", "lo", "up")
        await _must("ip", "link", "add", net.veth, "type", "veth", "peer", "name", peer)
        await _must("ip", "link", "set", peer, "netns", net.netns)
        await _must("ip", "-n", net.netns, "link", "set", peer, "name", "eth0")
        await _must("ip", "-n", net.netns, "addr", "add", f"{net.ip}/{prefix}", "dev", "eth0")
        await _must("ip", "-n", net.netns, "link", "set", "eth0", "up")
        await _must("ip", "-n", net.netns, "route", "add", "default", "via", self.gateway)
        await _must("ip", "link", "set", net.veth, "master", self.bridge)
        await _must("ip", "link", "set", net.veth, "up")

    async def teardown(self, net: PodNet) -> None:
        await _run("ip", "link", "del", net.veth)
        await _run("ip", "netns", "del", net.netns)
        with contextlib.suppress(FileNotFoundError):
            (self.ipam_dir / net.ip).unlink()

    async def _ensure_bridge(self) -> None:
        if self._bridge_ready:
            return
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            code, out = await _run("ip", "link", "add", self.bridge, "type", "bridge")
            if code != 0 and "exists" not in out:
                raise RuntimeFailure(f"cannot create bridge {self.bridge}: {out}")
        await _must("ip", "addr", "replace", f"{self.gateway}/{self.cidr.prefixlen}", "dev", self.bridge)
        await _must("ip", "link", "set", self.bridge, "up")
        await self._iptables()
        self._bridge_ready = True

    async def _iptables(self) -> None:
        """Best effort: let bridged pod traffic through docker's DROP policy; NAT pod egress."""
        if shutil.which("iptables") is None:
            return
        rules = [("filter", "FORWARD", "-i", self.bridge, "-j", "ACCEPT"),
                 ("filter", "FORWARD", "-o", self.bridge, "-j", "ACCEPT"),
                 ("nat", "POSTROUTING", "-s", str(self.cidr), "!", "-o", self.bridge, "-j", "MASQUERADE")]
        for table, chain, *rule in rules:
            if (await _run("iptables", "-t", table, "-C", chain, *rule))[0] != 0:
                code, out = await _run("iptables", "-t", table, "-I", chain, *rule)
                if code != 0:
                    log.warning("iptables %s %s: %s", chain, " ".join(rule), out)

    def _lease(self, sandbox_id: str) -> str:
        self.ipam_dir.mkdir(parents=True, exist_ok=True)
        for address in self.cidr.hosts():
            ip = str(address)
            if ip == self.gateway:
                continue
            try:
                fd = os.open(self.ipam_dir / ip, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.write(fd, sandbox_id.encode())
            os.close(fd)
            return ip
        raise RuntimeFailure(f"no free pod IP in {self.cidr}")


# -- log format -------------------------------------------------------------------------------


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_log_line(line: bytes) -> tuple[float, bytes, bytes] | None:
    """(time, stamp, text as written by the container) from one CRI log line."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    try:
        at = datetime.fromisoformat(parts[0].decode()).timestamp()
    except ValueError:
        return None
    text = parts[3] if len(parts) == 4 else b""
    return at, parts[0], text + (b"\n" if parts[2] == b"F" else b"")


# -- the shim (runs in its own process) -------------------------------------------------------

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


def _libc_call(name: str, *args: Any) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}{args!r}: {os.strerror(err)}")


def _enter_namespaces(spec: dict[str, Any]) -> None:
    """Join the pod's netns; unshare a private mount namespace and bind the container's mounts."""
    if spec["netns_path"]:
        fd = os.open(spec["netns_path"], os.O_RDONLY)
        _libc_call("setns", fd, CLONE_NEWNET)
        os.close(fd)
    if not spec["mount_ns"]:
        return
    _libc_call("unshare", CLONE_NEWNS)
    _libc_call("mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    for mount in spec["mounts"]:
        source, target = mount["host_path"], mount["container_path"]
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
            Path(target).touch(exist_ok=True)
        _libc_call("mount", source.encode(), target.encode(), None, MS_BIND | MS_REC, None)
        if mount["read_only"]:
            _libc_call("mount", b"none", target.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)


def _child_setup(cgroup_procs: list[str], uid: int | None) -> Callable[[], None]:
    """What the command's process does before exec: join its cgroups, then drop to its user."""

    def setup() -> None:
        for procs in cgroup_procs:
            with open(procs, "w") as f:
                f.write("0")
        if uid is not None:
            os.setgroups([])
            os.setgid(0)
            os.setuid(uid)

    return setup


class _LogWriter:
    def __init__(self, path: Path) -> None:
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the shim
        self._lock = threading.Lock()

    def pump(self, stream: str, pipe: IO[bytes]) -> None:
        for chunk in iter(lambda: pipe.readline(MAX_LOG_LINE), b""):
            full = chunk.endswith(b"\n")
            text = chunk[:-1] if full else chunk
            line = f"{_stamp(time.time())} {stream} {'F' if full else 'P'} ".encode() + text + b"\n"
            with self._lock:
                self._file.write(line)


def _handshake(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def shim_main(container_dir: Path) -> int:
    """Start the container's command, log its output, record its exit (see module docstring)."""
    spec = json.loads((container_dir / "spec.json").read_text())
    try:
        _enter_namespaces(spec)
        child = subprocess.Popen(spec["argv"], env=spec["env"], cwd=spec["cwd"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                 preexec_fn=_child_setup(spec["cgroup_procs"], spec["uid"]))
    except (OSError, subprocess.SubprocessError) as err:
        _handshake({"error": str(err)})
        return 1
    _handshake({"pid": child.pid, "ticks": proc_start_ticks(child.pid, zombie=True)})
    writer = _LogWriter(container_dir / "log")
    assert child.stdout is not None and child.stderr is not None
    pumps = [threading.Thread(target=writer.pump, args=(name, pipe), daemon=True)
             for name, pipe in (("stdout", child.stdout), ("stderr", child.stderr))]
    for pump in pumps:
        pump.start()
    code = child.wait()
    for pump in pumps:
        pump.join(timeout=2)  # a daemonized grandchild may hold the pipes open
    sig = -code if code < 0 else None
    _write_json(container_dir / "exit.json", {"exit_code": 128 + sig if sig else code, "signal": sig,
                                              "finished_at": time.time()})
    return 0


# -- the runtime ------------------------------------------------------------------------------


class ProcessExecSession:
    """``exec_stream`` over a host process (no pty)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    async def write_stdin(self, data: bytes) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()

        async def read(name: str, stream: asyncio.StreamReader | None) -> None:
            while stream is not None and (chunk := await stream.read(65536)):
                await queue.put((name, chunk))
            await queue.put(None)

        readers = [asyncio.create_task(read("stdout", self._proc.stdout)),
                   asyncio.create_task(read("stderr", self._proc.stderr))]
        try:
            ended = 0
            while ended < len(readers):
                item = await queue.get()
                if item is None:
                    ended += 1
                else:
                    yield item
        finally:
            for reader in readers:
                reader.cancel()

    async def wait(self) -> int:
        return await self._proc.wait()

    async def resize(self, width: int, height: int) -> None:
        return None


class ProcessRuntime:
    """The process runtime (see the module docstring)."""

    name = "process"

    def __init__(self, root_dir: Path, *, node_name: str = "", node_ip: str = "127.0.0.1",
                 network: PodNetwork | None = None, cgroups: Cgroups | None = None) -> None:
        self.root_dir = Path(root_dir)
        self.node_name = node_name
        self.node_ip = node_ip
        self.root = _is_root()
        self.network = network or PodNetwork()
        self.cgroups = cgroups or Cgroups()
        self._sandbox_dir = self.root_dir / "sandboxes"
        self._container_dir = self.root_dir / "containers"
        self._sandbox_dir.mkdir(parents=True, exist_ok=True)
        self._container_dir.mkdir(parents=True, exist_ok=True)
        self._shims: dict[str, asyncio.subprocess.Process] = {}
        self._nsenter = shutil.which("nsenter") or "nsenter"
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
                                  "labels": {**config.labels, LABEL_POD_UID: config.pod_uid,
                                             LABEL_POD_NAME: config.name, LABEL_POD_NAMESPACE: config.namespace,
                                             LABEL_NODE: config.node_name or self.node_name}}
        if self.root and not config.host_network:
            try:
                net = await self.network.setup(sandbox_id)
                record.update(ip=net.ip, netns=net.netns, veth=net.veth)
            except RuntimeFailure as err:
                log.warning("%s/%s: no pod network (%s); the pod shares the host network with IP %s",
                            config.namespace, config.name, err, self.node_ip)
        _write_json(self._sandbox_dir / f"{sandbox_id}.json", record)
        return _sandbox(record)

    async def stop_sandbox(self, sandbox_id: str) -> None:
        record = self._sandbox_record(sandbox_id)
        for container_id in await self._containers_of(sandbox_id):
            await self.stop_container(container_id, 0)
        if record["netns"]:
            await self.network.teardown(PodNet(netns=record["netns"], veth=record["veth"], ip=record["ip"]))
        record.update(ready=False, netns=None, veth=None)
        _write_json(self._sandbox_dir / f"{sandbox_id}.json", record)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        if _read_json(self._sandbox_dir / f"{sandbox_id}.json") is None:
            return
        await self.stop_sandbox(sandbox_id)
        for container_id in await self._containers_of(sandbox_id):
            await self.remove_container(container_id)
        with contextlib.suppress(FileNotFoundError):
            (self._sandbox_dir / f"{sandbox_id}.json").unlink()

    async def list_sandboxes(self) -> list[Sandbox]:
        records = (_read_json(p) for p in sorted(self._sandbox_dir.glob("*.json")))
        return [_sandbox(r) for r in records if r is not None]

    def _sandbox_record(self, sandbox_id: str) -> dict[str, Any]:
        record = _read_json(self._sandbox_dir / f"{sandbox_id}.json")
        if record is None:
            raise RuntimeFailure(f"sandbox {sandbox_id} not found")
        return record

    async def _containers_of(self, sandbox_id: str) -> list[str]:
        return [p.parent.name for p in self._container_dir.glob("*/state.json")
                if (_read_json(p) or {}).get("sandbox_id") == sandbox_id]

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
        state: dict[str, Any] = {
            "id": container_id, "sandbox_id": sandbox.id, "pod_uid": record["pod_uid"], "name": config.name,
            "attempt": config.attempt, "image": config.image, "env": dict(config.env),
            "cwd": config.working_dir or "/", "uid": config.run_as_user, "netns": record["netns"],
            "mount_ns": self.root, "cgroups": [str(p) for p in cgroup_dirs],
            "labels": {**config.labels, **record["labels"], LABEL_CONTAINER_NAME: config.name,
                       LABEL_ATTEMPT: str(config.attempt)}}
        spec = {"argv": argv, "env": state["env"], "cwd": state["cwd"], "uid": config.run_as_user,
                "netns_path": f"/run/netns/{record['netns']}" if record["netns"] else None,
                "mount_ns": self.root, "cgroup_procs": [str(p / "cgroup.procs") for p in cgroup_dirs],
                "mounts": [{"host_path": m.host_path, "container_path": m.container_path,
                            "read_only": m.read_only} for m in config.mounts] if self.root else []}
        _write_json(directory / "spec.json", spec)
        try:
            started = await self._spawn_shim(container_id, directory)
        except RuntimeFailure:
            Cgroups.remove(cgroup_dirs)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        state.update(started)
        _write_json(directory / "state.json", state)
        return container_id

    async def _spawn_shim(self, container_id: str, directory: Path) -> dict[str, Any]:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        with open(directory / "shim.err", "wb") as err:
            shim = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kubelet.runtime.process", "shim", str(directory), cwd="/", env=env,
                stdin=subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=err, start_new_session=True)
        self._shims[container_id] = shim
        assert shim.stdout is not None
        try:
            line = await aio.wait_for(shim.stdout.readline(), SHIM_START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        hello = json.loads(line) if line.strip() else {"error": self._shim_error(directory)}
        if "error" in hello:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shim.pid, signal.SIGKILL)
            raise RuntimeFailure(f"failed to start container: {hello['error']}")
        return {"pid": hello["pid"], "ticks": hello["ticks"], "shim_pid": shim.pid,
                "shim_ticks": proc_start_ticks(shim.pid), "started_at": time.time()}

    @staticmethod
    def _shim_error(directory: Path) -> str:
        with contextlib.suppress(OSError):
            lines = (directory / "shim.err").read_text().strip().splitlines()
            if lines:
                return lines[-1]
        return "the shim did not start"

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
        if _alive(state["pid"], state["ticks"]):
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
        state = _read_json(directory / "state.json")
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
        shutil.rmtree(directory, ignore_errors=True)

    async def list_containers(self, pod_uid: str | None = None) -> list[ContainerInfo]:
        infos = []
        for path in sorted(self._container_dir.glob("*/state.json")):
            state = _read_json(path)
            if state is not None and pod_uid in (None, state["pod_uid"]):
                infos.append(self._info(state))
        return infos

    async def container_info(self, container_id: str) -> ContainerInfo:
        return self._info(self._state(container_id))

    def _state(self, container_id: str) -> dict[str, Any]:
        state = _read_json(self._container_dir / container_id / "state.json")
        if state is None:
            raise RuntimeFailure(f"container {container_id} not found")
        return state

    def _exit(self, state: dict[str, Any]) -> dict[str, Any] | None:
        return _read_json(self._container_dir / state["id"] / "exit.json")

    def _running(self, state: dict[str, Any]) -> bool:
        if self._exit(state) is not None:
            return False
        return _alive(state["pid"], state["ticks"]) or _alive(state["shim_pid"], state["shim_ticks"])

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
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        return _replace_info(base, exit_code=code, reason=reason, message="", finished_at=ended["finished_at"])

    # -- exec and logs ------------------------------------------------------------------------

    def _exec_argv(self, state: dict[str, Any], command: list[str]) -> list[str]:
        if not _alive(state["pid"], state["ticks"]):
            raise RuntimeFailure(f"container {state['id']} is not running")
        flags = (["-n"] if state["netns"] else []) + (["-m"] if state["mount_ns"] else [])
        if not flags and state["uid"] is None:
            return list(command)
        user = ["-S", str(state["uid"]), "-G", "0"] if state["uid"] is not None else []
        return [self._nsenter, "-t", str(state["pid"]), *flags, f"--wd={state['cwd']}", *user, "--", *command]

    async def _exec_process(self, state: dict[str, Any], command: list[str], *,
                            stdin: bool, merge: bool) -> asyncio.subprocess.Process:
        argv = self._exec_argv(state, command)
        try:
            return await asyncio.create_subprocess_exec(
                *argv, env=state["env"], cwd=state["cwd"] if argv == command else "/",
                stdin=asyncio.subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT if merge else asyncio.subprocess.PIPE, start_new_session=True)
        except OSError as err:
            raise RuntimeFailure(f"exec {command[0] if command else ''}: {err}") from err

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        proc = await self._exec_process(self._state(container_id), command, stdin=False, merge=True)
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
        return ProcessExecSession(await self._exec_process(self._state(container_id), command,
                                                           stdin=stdin, merge=False))

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   timestamps: bool = False, since: float | None = None) -> AsyncIterator[bytes]:
        state = self._state(container_id)
        path = self._container_dir / container_id / "log"
        data = path.read_bytes() if path.exists() else b""
        complete = data.rfind(b"\n") + 1  # the shim may be mid-line
        lines = [parsed for raw in data[:complete].splitlines() if (parsed := parse_log_line(raw)) is not None]
        selected = [p for p in lines if since is None or p[0] >= since]
        if tail is not None:
            selected = selected[-tail:] if tail > 0 else []
        for parsed in selected:
            yield _render(parsed, timestamps)
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
                    yield _render(parsed, timestamps)
            if not running:
                return
            await asyncio.sleep(0.1)


def _render(parsed: tuple[float, bytes, bytes], timestamps: bool) -> bytes:
    _, stamp, text = parsed
    return stamp + b" " + text if timestamps else text


def _argv(config: ContainerConfig) -> list[str]:
    if config.command:
        return [*config.command, *config.args]
    image = config.image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    if image in PAUSE_IMAGE_NAMES:
        return ["sleep", "infinity"]
    raise RuntimeFailure("process runtime needs a command: the image entrypoint is unknown")


def _sandbox(record: dict[str, Any]) -> Sandbox:
    return Sandbox(id=record["id"], pod_uid=record["pod_uid"], ip=record["ip"], labels=record["labels"])


def _replace_info(info: ContainerInfo, **changes: Any) -> ContainerInfo:
    return replace(info, state=State.EXITED, **changes)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "shim":
    sys.exit(shim_main(Path(sys.argv[2])))
