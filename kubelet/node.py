"""The node: registering the Node object, and keeping it and its Lease current.

At start the kubelet creates its Node (or updates the one a previous run left): capacity from the
machine or ``--capacity``, allocatable = capacity − ``--system-reserved``, the well-known labels
(kubernetes.io/hostname, /os, /arch) plus ``--node-labels``, ``--register-with-taints``, the
InternalIP and Hostname addresses, the port of its own gRPC service in daemonEndpoints, and
nodeInfo. Then two loops: the Lease in kube-node-lease renewed every ``lease_period`` (10 s), and
the Ready condition (NotReady with a reason when the runtime does not answer) written when it
changes and at least every ``status_period``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
from dataclasses import dataclass, field
from typing import Any

from kubelet.runtime.interface import ContainerRuntime
from skiff import aio
from skiff.aio import cancel_and_wait
from skiff.api import errors
from skiff.api.quantity import parse_quantity
from skiff.api.timestamps import rfc3339, rfc3339_micro
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client

log = logging.getLogger("skiff.kubelet")
KUBELET_VERSION = "v1.31.0-skiff"


def machine_capacity() -> dict[str, str]:
    """cpu, memory and a pods limit read off this machine."""
    memory_kib = 0
    with contextlib.suppress(OSError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{memory_kib}Ki", "pods": "110",
            "ephemeral-storage": "100Gi"}


def parse_pairs(text: str) -> dict[str, str]:
    """``cpu=4,memory=8Gi`` → dict; a bad entry is a ValueError naming it."""
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"invalid entry {item!r}: expected key=value")
        out[key] = value
    return out


def subtract(capacity: dict[str, str], reserved: dict[str, str]) -> dict[str, str]:
    out = dict(capacity)
    for name, value in reserved.items():
        if name in out and name != "pods":
            left = parse_quantity(out[name]).value - parse_quantity(value).value
            if name == "cpu":
                out[name] = f"{max(int(left * 1000), 0)}m"
            else:
                out[name] = str(max(int(left), 0))
    return out


def parse_taints(text: str) -> list[core_pb2.Taint]:
    """``key=value:Effect,key2:Effect`` (``--register-with-taints``)."""
    taints = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        spec, _, effect = item.rpartition(":")
        if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute") or not spec:
            raise ValueError(f"invalid taint {item!r}: expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute")
        key, _, value = spec.partition("=")
        taints.append(core_pb2.Taint(key=key, value=value, effect=effect))
    return taints


@dataclass
class NodeSettings:
    name: str
    ip: str
    port: int
    capacity: dict[str, str] = field(default_factory=machine_capacity)
    reserved: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[core_pb2.Taint] = field(default_factory=list)
    lease_period: float = 10.0
    status_period: float = 10.0
    lease_duration: int = 40

    def allocatable(self) -> dict[str, str]:
        """What pods may use: capacity − reserved (also what an unset downward-API limit reads)."""
        return subtract(self.capacity, self.reserved)


class NodeAgent:
    def __init__(self, client: Client, runtime: ContainerRuntime, settings: NodeSettings) -> None:
        self.client = client
        self.runtime = runtime
        self.settings = settings
        self._ready: bool | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def build_node(self, runtime_version: str, ready: bool) -> core_pb2.Node:
        s = self.settings
        node = core_pb2.Node(api_version="v1", kind="Node")
        node.metadata.name = s.name
        labels = {"kubernetes.io/hostname": s.name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": _arch(), "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": _arch()}
        labels.update(s.labels)
        node.metadata.labels.update(labels)
        node.spec.taints.extend(s.taints)
        node.status.capacity.update(s.capacity)
        node.status.allocatable.update(s.allocatable())
        node.status.addresses.add(type="InternalIP", address=s.ip)
        node.status.addresses.add(type="Hostname", address=s.name)
        node.status.daemon_endpoints.kubelet_endpoint.port = s.port
        info = node.status.node_info
        info.kubelet_version, info.kube_proxy_version = KUBELET_VERSION, KUBELET_VERSION
        info.container_runtime_version = runtime_version
        info.operating_system, info.architecture = "linux", _arch()
        info.kernel_version = platform.release()
        info.os_image = _os_image()
        info.machine_id = info.system_uuid = info.boot_id = s.name
        self._conditions(node, ready)
        return node

    def _conditions(self, node: core_pb2.Node, ready: bool) -> None:
        now = rfc3339()
        for kind, reason, message in (("MemoryPressure", "KubeletHasSufficientMemory",
                                       "kubelet has sufficient memory available"),
                                      ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                                      ("PIDPressure", "KubeletHasSufficientPID",
                                       "kubelet has sufficient PID available")):
            node.status.conditions.add(type=kind, status="False", reason=reason, message=message,
                                       last_heartbeat_time=now, last_transition_time=now)
        if ready:
            node.status.conditions.add(type="Ready", status="True", reason="KubeletReady",
                                       message="kubelet is posting ready status", last_heartbeat_time=now,
                                       last_transition_time=now)
        else:
            node.status.conditions.add(type="Ready", status="False", reason="KubeletNotReady",
                                       message="container runtime is down", last_heartbeat_time=now,
                                       last_transition_time=now)

    async def register(self) -> None:
        ready = await _safe_ready(self.runtime)
        version = await self.runtime.version() if ready else "unknown"
        node = self.build_node(version, ready)
        try:
            await self.client.create(node)
            log.info("registered node %s", self.settings.name)
        except errors.AlreadyExists:
            current: Any = await self.client.get(core_pb2.Node, self.settings.name)
            current.metadata.labels.update(node.metadata.labels)
            if self.settings.taints:
                known = {(t.key, t.effect) for t in current.spec.taints}
                current.spec.taints.extend(t for t in self.settings.taints if (t.key, t.effect) not in known)
            current = await self.client.update(current)
            current.status.CopyFrom(node.status)
            await self.client.update_status(current)
            log.info("node %s already registered; status updated", self.settings.name)
        self._ready = ready

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._lease_loop()), loop.create_task(self._status_loop())]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def renew_lease(self) -> None:
        name, ns = self.settings.name, "kube-node-lease"
        try:
            lease: Any = await self.client.get(apps_pb2.Lease, name, namespace=ns)
        except errors.NotFound:
            lease = apps_pb2.Lease()
            lease.metadata.name, lease.metadata.namespace = name, ns
            lease.spec.holder_identity, lease.spec.lease_duration_seconds = name, self.settings.lease_duration
            lease.spec.renew_time = rfc3339_micro()
            with contextlib.suppress(errors.AlreadyExists):
                await self.client.create(lease)
            return
        lease.spec.holder_identity = name
        lease.spec.lease_duration_seconds = self.settings.lease_duration
        lease.spec.renew_time = rfc3339_micro()
        with contextlib.suppress(errors.Conflict):
            await self.client.update(lease)

    async def _lease_loop(self) -> None:
        while True:
            try:
                await self.renew_lease()
            except errors.StatusError as exc:
                log.warning("renewing the node lease failed: %s", exc)
            await asyncio.sleep(self.settings.lease_period)

    async def _status_loop(self) -> None:
        elapsed = 0.0
        while True:
            await asyncio.sleep(1.0)
            elapsed += 1.0
            ready = await _safe_ready(self.runtime)
            if ready != self._ready or elapsed >= self.settings.status_period:
                try:
                    await self.update_ready(ready)
                    elapsed = 0.0
                except errors.StatusError as exc:
                    log.warning("updating node status failed: %s", exc)

    async def update_ready(self, ready: bool) -> None:
        current: Any = await self.client.get(core_pb2.Node, self.settings.name)
        now = rfc3339()
        for cond in current.status.conditions:
            if cond.type != "Ready":
                cond.last_heartbeat_time = now
                continue
            changed = (cond.status == "True") != ready
            cond.status = "True" if ready else "False"
            cond.reason = "KubeletReady" if ready else "KubeletNotReady"
            cond.message = "kubelet is posting ready status" if ready else "container runtime is down"
            cond.last_heartbeat_time = now
            if changed:
                cond.last_transition_time = now
        await self.client.update_status(current)
        if ready != self._ready:
            log.info("node %s is %s", self.settings.name, "Ready" if ready else "NotReady")
        self._ready = ready


async def _safe_ready(runtime: ContainerRuntime) -> bool:
    try:
        return await aio.wait_for(runtime.ready(), 5)
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _os_image() -> str:
    with contextlib.suppress(OSError):
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return "Linux"
