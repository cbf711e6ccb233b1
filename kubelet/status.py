"""A pod's status, computed from what the runtime reports and what the kubelet knows, and the
status manager that writes it back coalesced.

``build_status`` is a pure function: the pod, the latest container per name (and the one before
it, for ``lastState``), the waiting reasons the sync loop chose (ContainerCreating,
CrashLoopBackOff, ErrImagePull, CreateContainerConfigError, ...), readiness and startup from the
probes → PodStatus with Kubernetes' phase rules (Pending / Running / Succeeded / Failed) and
conditions (PodScheduled, Initialized, ContainersReady, Ready).

``StatusManager`` writes a status only when it differs from the last one written, one write per
pod at a time, and the newest status wins — a burst of changes becomes one UpdateStatus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from kubelet.runtime.interface import LABEL_RUNTIME, ContainerInfo, State, terminated_reason
from skiff.api import errors
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import core_pb2
from skiff.client.client import Client

log = logging.getLogger("skiff.kubelet")


@dataclass
class Waiting:
    reason: str
    message: str = ""


@dataclass
class ContainerView:
    """What the kubelet knows of one container of the pod spec."""

    name: str
    image: str
    current: ContainerInfo | None = None
    previous: ContainerInfo | None = None
    restart_count: int = 0
    waiting: Waiting | None = None
    ready: bool = False
    started: bool = False


@dataclass
class PodView:
    pod: core_pb2.Pod
    pod_ip: str
    host_ip: str
    init: list[ContainerView] = field(default_factory=list)
    app: list[ContainerView] = field(default_factory=list)
    start_time: str = ""
    terminal_phase: str = ""
    """Succeeded / Failed once decided (never undone)."""
    message: str = ""
    reason: str = ""


def _state(view: ContainerView) -> core_pb2.ContainerState:
    state = core_pb2.ContainerState()
    info = view.current
    if view.waiting is not None and (info is None or info.state != State.RUNNING):
        state.waiting.reason = view.waiting.reason
        if view.waiting.message:
            state.waiting.message = view.waiting.message
    elif info is not None and info.state == State.RUNNING:
        state.running.started_at = rfc3339(info.started_at)
    elif info is not None and info.state == State.EXITED:
        _terminated(state.terminated, info)
    else:
        state.waiting.reason = "ContainerCreating"
    return state


def _terminated(out: core_pb2.ContainerStateTerminated, info: ContainerInfo) -> None:
    out.exit_code = info.exit_code if info.exit_code is not None else 0
    out.reason = info.reason or terminated_reason(out.exit_code)
    if info.message:
        out.message = info.message
    if info.started_at:
        out.started_at = rfc3339(info.started_at)
    if info.finished_at:
        out.finished_at = rfc3339(info.finished_at)
    out.container_id = _container_id(info)


def _container_id(info: ContainerInfo) -> str:
    scheme = info.labels.get(LABEL_RUNTIME, "")
    return f"{scheme}://{info.id}" if scheme else info.id


def container_status(view: ContainerView) -> core_pb2.ContainerStatus:
    status = core_pb2.ContainerStatus(name=view.name, image=view.image, restart_count=view.restart_count,
                                      ready=view.ready, started=view.started)
    status.state.CopyFrom(_state(view))
    if view.previous is not None and view.previous.state == State.EXITED:
        _terminated(status.last_state.terminated, view.previous)
    if view.current is not None:
        status.container_id = _container_id(view.current)
        status.image_id = view.current.image_id or view.current.image or view.image
    return status


def _exited(view: ContainerView, *, ok: bool | None = None) -> bool:
    info = view.current
    if info is None or info.state != State.EXITED:
        return False
    if ok is None:
        return True
    return (info.exit_code == 0) == ok


def phase(view: PodView) -> str:
    """Kubernetes' getPhase."""
    if view.terminal_phase:
        return view.terminal_phase
    policy = view.pod.spec.restart_policy or "Always"
    for init in view.init:
        if _exited(init, ok=True):
            continue
        if _exited(init, ok=False) and policy == "Never":
            return "Failed"
        return "Pending"
    running = sum(1 for c in view.app if c.current is not None and c.current.state == State.RUNNING)
    waiting = sum(1 for c in view.app if c.current is None or c.current.state not in (State.RUNNING, State.EXITED))
    succeeded = sum(1 for c in view.app if _exited(c, ok=True))
    failed = sum(1 for c in view.app if _exited(c, ok=False))
    restarting = any(c.waiting is not None and c.waiting.reason == "CrashLoopBackOff" for c in view.app)
    total = len(view.app)
    if waiting and not restarting:
        return "Pending" if not running else "Running"
    if running or restarting:
        return "Running"
    if succeeded + failed == total and total:
        if policy == "Always":
            return "Running"
        if failed and policy == "Never":
            return "Failed"
        if failed and policy == "OnFailure":
            return "Running"
        return "Succeeded"
    return "Pending"


def _condition(pod_status: core_pb2.PodStatus, old: core_pb2.PodStatus, kind: str, ok: bool,
               reason: str = "", message: str = "") -> None:
    cond = pod_status.conditions.add(type=kind, status="True" if ok else "False")
    previous = next((c for c in old.conditions if c.type == kind), None)
    if previous is not None and previous.status == cond.status:
        cond.last_transition_time = previous.last_transition_time or rfc3339()
    else:
        cond.last_transition_time = rfc3339()
    if not ok and reason:
        cond.reason = reason
        if message:
            cond.message = message


def build_status(view: PodView) -> core_pb2.PodStatus:
    pod = view.pod
    old = pod.status
    status = core_pb2.PodStatus(phase=phase(view), qos_class=old.qos_class or "BestEffort")
    if view.message:
        status.message = view.message
    if view.reason:
        status.reason = view.reason
    if view.host_ip:
        status.host_ip = view.host_ip
        status.host_ips.add(ip=view.host_ip)
    if view.pod_ip:
        status.pod_ip = view.pod_ip
        status.pod_ips.add(ip=view.pod_ip)
    status.start_time = old.start_time or view.start_time or rfc3339()
    status.init_container_statuses.extend(container_status(c) for c in view.init)
    status.container_statuses.extend(container_status(c) for c in view.app)
    initialized = all(_exited(c, ok=True) for c in view.init)
    not_ready = [c.name for c in view.app if not c.ready]
    terminal = status.phase in ("Succeeded", "Failed")
    _condition(status, old, "PodReadyToStartContainers", bool(view.pod_ip))
    if view.init and not initialized:
        pending = [c.name for c in view.init if not _exited(c, ok=True)]
        _condition(status, old, "Initialized", False, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(pending)}]")
    else:
        _condition(status, old, "Initialized", True)
    ready = not not_ready and not terminal
    message = f"containers with unready status: [{' '.join(not_ready)}]"
    reason = "PodCompleted" if terminal else "ContainersNotReady"
    _condition(status, old, "ContainersReady", ready, reason, "" if terminal else message)
    _condition(status, old, "Ready", ready, reason, "" if terminal else message)
    scheduled = next((c for c in old.conditions if c.type == "PodScheduled"), None)
    if scheduled is not None:
        status.conditions.add().CopyFrom(scheduled)
    else:
        _condition(status, old, "PodScheduled", True)
    return status


def _comparable(status: core_pb2.PodStatus) -> bytes:
    copy = core_pb2.PodStatus()
    copy.CopyFrom(status)
    for cond in copy.conditions:
        cond.ClearField("last_transition_time")
        cond.ClearField("last_probe_time")
    return copy.SerializeToString(deterministic=True)


class StatusManager:
    """Writes pod statuses through UpdateStatus: only changes, one at a time per pod, newest wins."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._written: dict[str, bytes] = {}
        self._pending: dict[str, tuple[core_pb2.Pod, core_pb2.PodStatus]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}
        self.writes = 0

    def set(self, pod: core_pb2.Pod, status: core_pb2.PodStatus) -> None:
        uid = pod.metadata.uid
        fingerprint = _comparable(status)
        if uid not in self._pending and uid not in self._writers:
            # Nothing on its way: a status already written (or already on the object) needs no write.
            # While a write is in flight these shortcuts would be wrong: the write in flight may be
            # an older status that lands after this one was judged "already there".
            if self._written.get(uid) == fingerprint:
                return
            if fingerprint == _comparable(pod.status):
                self._written[uid] = fingerprint
                return
        self._pending[uid] = (pod, status)
        if uid not in self._writers:
            self._writers[uid] = asyncio.get_running_loop().create_task(self._write(uid))

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)
        self._pending.pop(uid, None)

    async def flush(self) -> None:
        while self._writers:
            await asyncio.gather(*list(self._writers.values()), return_exceptions=True)

    async def _write(self, uid: str) -> None:
        try:
            while uid in self._pending:
                pod, status = self._pending.pop(uid)
                fingerprint = _comparable(status)
                if self._written.get(uid) == fingerprint:
                    continue
                if await self._update(pod, status):
                    self._written[uid] = fingerprint
                    self.writes += 1
        finally:
            self._writers.pop(uid, None)

    async def _update(self, pod: core_pb2.Pod, status: core_pb2.PodStatus) -> bool:
        meta = pod.metadata
        for _ in range(5):
            try:
                current: Any = await self.client.get(core_pb2.Pod, meta.name, namespace=meta.namespace)
            except errors.NotFound:
                return False
            except errors.StatusError as exc:
                log.debug("reading pod %s/%s for status failed: %s", meta.namespace, meta.name, exc)
                await asyncio.sleep(0.2)
                continue
            if current.metadata.uid != meta.uid:
                return False
            current.status.CopyFrom(status)
            with contextlib.suppress(errors.Conflict):
                try:
                    await self.client.update_status(current)
                    return True
                except errors.NotFound:
                    return False
                except errors.StatusError as exc:
                    log.debug("status of %s/%s not written: %s", meta.namespace, meta.name, exc)
                    await asyncio.sleep(0.2)
        return False
