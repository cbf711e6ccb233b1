"""A pod's status, computed from what the runtime reports and what the kubelet knows, and the
status manager that writes it back coalesced.

``build_status`` is a pure function: the pod, the latest container per name (and the one before
it, for ``lastState``), the waiting reasons the sync loop chose (ContainerCreating,
CrashLoopBackOff, ErrImagePull, CreateContainerConfigError, ...), readiness and startup from the
probes → PodStatus as the kubelet's generateAPIPodStatus makes it: the container statuses
(convertToAPIContainerStatuses), the phase computed from them (getPhase: Pending / Running /
Succeeded / Failed, sidecars counted apart) and the kubelet's conditions (PodReadyToStartContainers,
Initialized, Ready, ContainersReady, PodScheduled) after the conditions it does not own.

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
from skiff.api.pods import sidecar_names
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
    sandbox_ready: bool = True
    """False once the pod's sandbox is stopped (a finished pod): PodReadyToStartContainers goes False."""


KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
"""The pod conditions the kubelet owns, in the order it writes them (generateAPIPodStatus); any
other condition on the pod (a readiness gate's, DisruptionTarget, ...) is kept as it is."""


def _state(view: ContainerView, default_waiting: str) -> core_pb2.ContainerState:
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
        state.waiting.reason = default_waiting
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


def container_status(view: ContainerView, *, default_waiting: str = "ContainerCreating") -> core_pb2.ContainerStatus:
    """convertToAPIContainerStatuses for one container: a container never started waits in
    ``default_waiting`` (PodInitializing when the pod has init containers); one waiting to be
    restarted (CrashLoopBackOff, ...) shows the run that just ended as its lastState, as the
    kubelet moves State to LastTerminationState when a waiting reason replaces it."""
    status = core_pb2.ContainerStatus(name=view.name, image=view.image, restart_count=view.restart_count,
                                      ready=view.ready, started=view.started)
    status.state.CopyFrom(_state(view, default_waiting))
    ended = view.current if status.state.HasField("waiting") else view.previous
    if ended is not None and ended.state == State.EXITED:
        _terminated(status.last_state.terminated, ended)
    if view.current is not None:
        status.container_id = _container_id(view.current)
        status.image_id = view.current.image_id or view.current.image or view.image
    return status


def _init_container_status(view: ContainerView, sidecar: bool, default_waiting: str) -> core_pb2.ContainerStatus:
    """An init container's status. A sidecar (restartPolicy Always) is ready and started as the probes
    say; any other init container is started while it runs and ready once it exited with 0 (the
    prober manager's UpdatePodStatus)."""
    status = container_status(view, default_waiting=default_waiting)
    if not sidecar:
        status.started = status.state.HasField("running")
        status.ready = status.state.HasField("terminated") and status.state.terminated.exit_code == 0
    return status


def _stopped(status: core_pb2.ContainerStatus) -> bool:
    """Terminated, or waiting to be restarted after a run (getPhase counts both as stopped)."""
    return status.state.HasField("terminated") or (
        status.state.HasField("waiting") and status.last_state.HasField("terminated"))


def _init_progress(pod: core_pb2.Pod, init: list[core_pb2.ContainerStatus]) -> tuple[int, int]:
    """getPhase over the regular init containers: (pending, failed)."""
    sidecars = sidecar_names(pod)
    pending = failed = 0
    for status in init:
        if status.name in sidecars:
            continue
        state = status.state
        if state.HasField("terminated"):
            failed += state.terminated.exit_code != 0
        elif state.HasField("waiting") and status.last_state.HasField("terminated"):
            failed += status.last_state.terminated.exit_code != 0
        else:
            pending += 1
    return pending, failed


def pod_phase(pod: core_pb2.Pod, init: list[core_pb2.ContainerStatus],
              app: list[core_pb2.ContainerStatus]) -> str:
    """Kubernetes' getPhase, over the container statuses about to be written."""
    policy = pod.spec.restart_policy or "Always"
    pending_init, failed_init = _init_progress(pod, init)
    sidecars = sidecar_names(pod)
    running = waiting = stopped = succeeded = pending_sidecars = 0
    for status in init:
        if status.name not in sidecars:
            continue
        if status.state.HasField("running"):
            running += 1
            pending_sidecars += not status.started
        elif not _stopped(status):
            pending_sidecars += 1
            waiting += 1
    for status in app:
        if status.state.HasField("running"):
            running += 1
        elif _stopped(status):
            stopped += 1
            succeeded += status.state.HasField("terminated") and status.state.terminated.exit_code == 0
        else:
            waiting += 1
    if failed_init and policy == "Never":
        return "Failed"
    if pending_init or (pending_sidecars and not stopped) or waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


@dataclass
class _Condition:
    ok: bool
    reason: str = ""
    message: str = ""


def _regular_container_started(app: list[core_pb2.ContainerStatus]) -> bool:
    return any(s.state.HasField("running") or s.state.HasField("terminated") for s in app)


def initialized_condition(pod: core_pb2.Pod, init: list[core_pb2.ContainerStatus],
                          app: list[core_pb2.ContainerStatus], pod_phase: str) -> _Condition:
    """GeneratePodInitializedCondition."""
    sidecars = sidecar_names(pod)
    incomplete = [s.name for s in init if not (s.started if s.name in sidecars else s.ready)]
    if pod_phase == "Succeeded":
        return _Condition(True, "PodCompleted")
    if _regular_container_started(app) or not incomplete:
        return _Condition(True)
    return _Condition(False, "ContainersNotInitialized", f"containers with incomplete status: [{' '.join(incomplete)}]")


def containers_ready_condition(pod: core_pb2.Pod, init: list[core_pb2.ContainerStatus],
                               app: list[core_pb2.ContainerStatus], pod_phase: str) -> _Condition:
    """GenerateContainersReadyCondition: sidecars count as containers; a finished pod is not ready
    (PodCompleted / PodFailed)."""
    if pod_phase == "Succeeded":
        return _Condition(False, "PodCompleted")
    if pod_phase == "Failed":
        return _Condition(False, "PodFailed")
    sidecars = sidecar_names(pod)
    unready = [s.name for s in init if s.name in sidecars and not s.ready] + [s.name for s in app if not s.ready]
    if unready:
        return _Condition(False, "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
    return _Condition(True)


def ready_condition(pod: core_pb2.Pod, containers_ready: _Condition,
                    conditions: list[core_pb2.PodCondition]) -> _Condition:
    """GeneratePodReadyCondition: ContainersReady, then the readiness gates."""
    if not containers_ready.ok:
        return containers_ready
    present = {c.type: c.status for c in conditions}
    unready: list[str] = []
    for gate in pod.spec.readiness_gates:
        kind = gate.condition_type
        if kind not in present:
            unready.append(f'corresponding condition of pod readiness gate "{kind}" does not exist.')
        elif present[kind] != "True":
            unready.append(f'the status of pod readiness gate "{kind}" is not "True", but {present[kind]}')
    if unready:
        return _Condition(False, "ReadinessGatesNotReady", ", ".join(unready))
    return _Condition(True)


def _condition(pod_status: core_pb2.PodStatus, old: core_pb2.PodStatus, kind: str, value: _Condition) -> None:
    cond = pod_status.conditions.add(type=kind, status="True" if value.ok else "False")
    previous = next((c for c in old.conditions if c.type == kind), None)
    if previous is not None and previous.status == cond.status:
        cond.last_transition_time = previous.last_transition_time or rfc3339()
    else:
        cond.last_transition_time = rfc3339()
    if value.reason:
        cond.reason = value.reason
    if value.message:
        cond.message = value.message


def build_status(view: PodView) -> core_pb2.PodStatus:
    pod = view.pod
    old = pod.status
    status = core_pb2.PodStatus(qos_class=old.qos_class or "BestEffort")
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
    default_waiting = "PodInitializing" if pod.spec.init_containers else "ContainerCreating"
    sidecars = sidecar_names(pod)
    init = [_init_container_status(c, c.name in sidecars, default_waiting) for c in view.init]
    app = [container_status(c, default_waiting=default_waiting) for c in view.app]
    status.init_container_statuses.extend(init)
    status.container_statuses.extend(app)
    status.phase = view.terminal_phase or pod_phase(pod, init, app)
    status.conditions.extend(c for c in old.conditions if c.type not in KUBELET_CONDITIONS)
    _condition(status, old, "PodReadyToStartContainers", _Condition(bool(view.pod_ip) and view.sandbox_ready))
    _condition(status, old, "Initialized", initialized_condition(pod, init, app, status.phase))
    containers_ready = containers_ready_condition(pod, init, app, status.phase)
    _condition(status, old, "Ready", ready_condition(pod, containers_ready, list(status.conditions)))
    _condition(status, old, "ContainersReady", containers_ready)
    scheduled = next((c for c in old.conditions if c.type == "PodScheduled"), None)
    if scheduled is not None:
        status.conditions.add().CopyFrom(scheduled)
    else:
        _condition(status, old, "PodScheduled", _Condition(True))
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
