"""Syncing one pod: make the runtime match the pod spec, then report status.

``PodSyncer.sync(pod)`` is level-triggered, like the kubelet's SyncPod: it reads what the runtime
has for the pod (its sandbox, the latest instance of each container and the one before), acts
on the difference — create the sandbox and volumes, run the init containers one by one, start or
restart the app containers as restartPolicy and the crash-loop backoff allow, kill a container
whose liveness probe failed — and hands the computed status to the StatusManager. It returns
when it would like to be called again (a backoff expiring), or None to wait for the next event.
A new sandbox carries the pod's DNS settings (:func:`kubelet.dns.pod_dns`, with its Warnings
recorded); when the node's resolver file cannot be read the sandbox is not made, as in Kubernetes
(a FailedCreatePodSandBox Warning, retried). ``terminate(pod)`` is the deletion path: preStop
hook, SIGTERM with the grace period, SIGKILL, volumes torn down, and the final delete of the pod
object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubelet import metrics
from kubelet.backoff import Backoff
from kubelet.dns import DnsConfig, DnsError, DnsSettings, pod_dns, read_resolv_conf
from kubelet.runtime.interface import (
    LABEL_RUNTIME,
    ContainerConfig,
    ContainerInfo,
    ContainerRuntime,
    ImageError,
    RuntimeFailure,
    Sandbox,
    SandboxConfig,
    State,
    terminated_reason,
)
from kubelet.status import ContainerView, PodView, StatusManager, Waiting, build_status, rfc3339
from skiff import aio
from skiff.api import errors
from skiff.api.pods import is_sidecar
from skiff.api.quantity import parse_quantity
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock, RealClock
from skiff.client.events import EventRecorder

log = logging.getLogger("skiff.kubelet")


class Volumes(Protocol):
    async def setup(self, pod: core_pb2.Pod) -> dict[str, Path]: ...

    async def refresh(self, pod: core_pb2.Pod) -> None: ...

    def mounts(self, pod: core_pb2.Pod, container: core_pb2.Container, paths: dict[str, Path], *,
               env: list[tuple[str, str]] | None = None) -> list[Any]: ...

    async def teardown(self, pod_uid: str) -> None: ...


class Probes(Protocol):
    def add(self, pod: core_pb2.Pod, container: core_pb2.Container, container_id: str, pod_ip: str) -> None: ...

    def remove(self, pod_uid: str, container_name: str | None = None) -> None: ...

    def is_ready(self, pod_uid: str, container_name: str) -> bool: ...

    def is_started(self, pod_uid: str, container_name: str) -> bool: ...


class EnvResolver(Protocol):
    async def __call__(self, client: Client, pod: core_pb2.Pod, container: core_pb2.Container, *, pod_ip: str,
                       host_ip: str, node_name: str) -> list[tuple[str, str]]: ...


@dataclass
class PodState:
    """The kubelet's memory of one pod between syncs."""

    uid: str
    sandbox: Sandbox | None = None
    volumes: dict[str, Path] | None = None
    mount_error: str | None = None
    """Why the pod's volumes could not be set up or refreshed (None: they are); its containers wait
    in ContainerCreating meanwhile, and a FailedMount event is recorded once per new message."""
    waiting: dict[str, Waiting] = field(default_factory=dict)
    """container name → why it is not running (its waiting reason)."""
    kill: dict[str, str] = field(default_factory=dict)
    """container name → why it must be killed (a liveness/startup failure)."""
    pull_errors: dict[str, str] = field(default_factory=dict)
    """container name → its last failed pull ("ErrImagePull: <message>"), told again while the pull
    backs off (the image manager's prevPullErrMsg)."""
    terminal_phase: str = ""
    start_time: str = ""
    last_refresh: float = 0.0
    running_seen: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class SyncSettings:
    node_name: str
    node_ip: str
    runtime_scheme: str
    volume_refresh_period: float = 1.0
    dns: DnsSettings = field(default_factory=DnsSettings)
    """The kubelet's DNS flags, for each new sandbox's resolver settings."""


def _limit(container: core_pb2.Container, name: str) -> Any:
    value = container.resources.limits.get(name)
    return parse_quantity(value) if value else None


def _pod_key(pod: core_pb2.Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def _grace(pod: core_pb2.Pod) -> float:
    meta = pod.metadata
    if meta.HasField("deletion_grace_period_seconds"):
        return float(meta.deletion_grace_period_seconds)
    return float(pod.spec.termination_grace_period_seconds if pod.spec.HasField(
        "termination_grace_period_seconds") else 30)


class PodSyncer:
    def __init__(self, *, client: Client, runtime: ContainerRuntime, volumes: Volumes, probes: Probes,
                 statuses: StatusManager, recorder: EventRecorder, backoff: Backoff, resolve_env: EnvResolver,
                 expand: Any, settings: SyncSettings, clock: Clock | None = None) -> None:
        self.client = client
        self.clock: Clock = clock or RealClock()
        self.runtime = runtime
        self.volumes = volumes
        self.probes = probes
        self.statuses = statuses
        self.recorder = recorder
        self.backoff = backoff
        self.resolve_env = resolve_env
        self.expand = expand
        self.settings = settings
        self.states: dict[str, PodState] = {}

    def state(self, pod: core_pb2.Pod) -> PodState:
        uid = pod.metadata.uid
        st = self.states.get(uid)
        if st is None:
            st = self.states[uid] = PodState(uid, start_time=rfc3339())
        return st

    def request_kill(self, pod_uid: str, container: str, reason: str) -> None:
        st = self.states.get(pod_uid)
        if st is not None:
            st.kill[container] = reason

    # ---- the sync ----

    async def sync(self, pod: core_pb2.Pod) -> float | None:
        st = self.state(pod)
        if st.terminal_phase:
            return None
        delays: list[float] = []
        latest, previous = await self._containers(pod.metadata.uid)
        if st.sandbox is None:
            try:
                st.sandbox = await self._sandbox(pod)
            except DnsError as exc:  # generatePodSandboxConfig failed: no sandbox, retried
                log.warning("%s: Failed to create pod sandbox: %s", _pod_key(pod), exc)
                self.recorder.event(pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
                self._report(pod, st, latest, previous)
                return 2.0
        if not await self._volumes(pod, st):
            self._report(pod, st, latest, previous)
            return 2.0
        await self._kill_requested(pod, st, latest)
        initialized = await self._init_containers(pod, st, latest, delays)
        if initialized:
            for container in pod.spec.containers:
                await self._app_container(pod, st, container, latest.get(container.name), delays)
            latest, previous = await self._containers(pod.metadata.uid)
            if _regular_containers_done(pod, latest):
                await self._stop_sidecars(pod, st, latest)
                latest, previous = await self._containers(pod.metadata.uid)
        self._probe_running(pod, st, latest, app_containers=initialized)
        phase = self._report(pod, st, latest, previous)
        if phase in ("Succeeded", "Failed"):
            st.terminal_phase = phase
            await self._stop_everything(pod, st, grace=0)
            latest, previous = await self._containers(pod.metadata.uid)
            self._report(pod, st, latest, previous, sandbox_ready=False)  # the final status, sandbox gone
            return None
        if _has_projected_data(pod):
            delays.append(self.settings.volume_refresh_period)  # configMap/secret files follow their objects
        return min(delays) if delays else None

    async def _containers(self, uid: str) -> tuple[dict[str, ContainerInfo], dict[str, ContainerInfo]]:
        latest: dict[str, ContainerInfo] = {}
        previous: dict[str, ContainerInfo] = {}
        for info in sorted(await self.runtime.list_containers(uid), key=lambda i: i.attempt):
            if info.name in latest:
                previous[info.name] = latest[info.name]
            latest[info.name] = info
        return latest, previous

    async def _sandbox(self, pod: core_pb2.Pod) -> Sandbox:
        uid = pod.metadata.uid
        for sandbox in await self.runtime.list_sandboxes():
            if sandbox.pod_uid == uid:
                return sandbox  # adopted: a restarted kubelet finds what it started before
        meta = pod.metadata
        dns = self._dns(pod)
        return await self.runtime.run_sandbox(SandboxConfig(  # the runtime labels it (kubelet.runtime.labels)
            pod_uid=uid, namespace=meta.namespace, name=meta.name, hostname=pod.spec.hostname or meta.name,
            host_network=pod.spec.host_network, node_name=self.settings.node_name, dns=dns))

    def _dns(self, pod: core_pb2.Pod) -> DnsConfig:
        """The pod's resolver settings (GetPodDNS), recording the Warnings that come with them;
        DnsError when the node's resolver file cannot be read."""
        settings = self.settings.dns
        config, events = pod_dns(pod, settings, read_resolv_conf(settings.resolv_conf))
        for event in events:
            target = node_reference(self.settings.node_name) if event.on_node else pod
            self.recorder.event(target, event.type, event.reason, event.message)
        return config

    async def _volumes(self, pod: core_pb2.Pod, st: PodState) -> bool:
        try:
            if st.volumes is None:
                st.volumes = await self.volumes.setup(pod)
            elif self.clock.now() - st.last_refresh >= self.settings.volume_refresh_period:
                await self.volumes.refresh(pod)
            st.last_refresh = self.clock.now()
            st.mount_error = None
            return True
        except Exception as exc:  # noqa: BLE001 - VolumeError and friends: report, retry
            message = str(exc)
            if st.mount_error != message:
                event = exc.event_message() if hasattr(exc, "event_message") else message
                self.recorder.event(pod, "Warning", "FailedMount", event)
            st.mount_error = message
            return st.volumes is not None

    async def _kill_requested(self, pod: core_pb2.Pod, st: PodState, latest: dict[str, ContainerInfo]) -> None:
        for name, reason in list(st.kill.items()):
            info = latest.get(name)
            del st.kill[name]
            if info is None or info.state != State.RUNNING:
                continue
            self.recorder.event(pod, "Normal", "Killing", reason)
            container = _find(pod, name)
            grace = _grace(pod)
            if container is not None and container.HasField("liveness_probe") and \
                    container.liveness_probe.HasField("termination_grace_period_seconds"):
                grace = float(container.liveness_probe.termination_grace_period_seconds)
            self.probes.remove(pod.metadata.uid, name)
            await self.runtime.stop_container(info.id, grace)
            latest[name] = await self.runtime.container_info(info.id)

    async def _init_containers(self, pod: core_pb2.Pod, st: PodState, latest: dict[str, ContainerInfo],
                               delays: list[float]) -> bool:
        """Run init containers in order; True once every one has succeeded (sidecars: started)."""
        policy = pod.spec.restart_policy or "Always"
        for container in pod.spec.init_containers:
            info = latest.get(container.name)
            sidecar = is_sidecar(container)
            if sidecar:
                if _regular_containers_done(pod, latest):
                    continue  # the pod is finishing: its sidecars are stopped, never restarted
                await self._app_container(pod, st, container, info, delays, policy_override="Always")
                if info is None or info.state != State.RUNNING:
                    return False
                continue
            if info is not None and info.state == State.EXITED and info.exit_code == 0:
                continue
            if info is not None and info.state == State.RUNNING:
                return False
            if info is not None and info.state == State.EXITED:
                if policy == "Never":
                    return False
                await self._restart_with_backoff(pod, st, container, info, delays)
                return False
            await self._start(pod, st, container, attempt=0)
            return False
        return True

    async def _app_container(self, pod: core_pb2.Pod, st: PodState, container: core_pb2.Container,
                             info: ContainerInfo | None, delays: list[float], policy_override: str = "") -> None:
        policy = policy_override or pod.spec.restart_policy or "Always"
        if info is None:
            await self._start(pod, st, container, attempt=0, delays=delays)
            return
        if info.state == State.RUNNING:
            st.waiting.pop(container.name, None)  # its probes are added by _probe_running, at the end of the sync
            return
        if info.state != State.EXITED:
            return
        if policy == "Never" or (policy == "OnFailure" and info.exit_code == 0):
            st.waiting.pop(container.name, None)
            self.probes.remove(pod.metadata.uid, container.name)
            return
        await self._restart_with_backoff(pod, st, container, info, delays)

    def _probe_running(self, pod: core_pb2.Pod, st: PodState, latest: dict[str, ContainerInfo], *,
                       app_containers: bool) -> None:
        """Probe every container that runs now — also one started in this very sync, or found running
        by a restarted kubelet — before its status is reported: a container with a readiness probe is
        not ready until the probe passes. The one place probes are added. Init containers other than
        sidecars have no probes; the app containers only once the init containers are done."""
        sidecars = [c for c in pod.spec.init_containers if is_sidecar(c)]
        for container in (*sidecars, *(pod.spec.containers if app_containers else ())):
            info = latest.get(container.name)
            if info is not None and info.state == State.RUNNING:
                self._ensure_probed(pod, st, container, info)

    def _ensure_probed(self, pod: core_pb2.Pod, st: PodState, container: core_pb2.Container,
                       info: ContainerInfo) -> None:
        key = f"{container.name}/{info.id}"
        if key not in st.running_seen:
            st.running_seen = {k for k in st.running_seen if not k.startswith(f"{container.name}/")}
            st.running_seen.add(key)
            self.probes.add(pod, container, info.id, st.sandbox.ip if st.sandbox else "")

    async def _restart_with_backoff(self, pod: core_pb2.Pod, st: PodState, container: core_pb2.Container,
                                    info: ContainerInfo, delays: list[float]) -> None:
        key = f"{pod.metadata.uid}/{container.name}"
        self.probes.remove(pod.metadata.uid, container.name)
        ran = (info.finished_at or time.time()) - (info.started_at or time.time())
        if st.waiting.get(container.name, Waiting("")).reason == "CrashLoopBackOff":
            remaining = self.backoff.remaining(key)
        else:  # this exit is new
            remaining = self.backoff.crashed(key, ran_for=ran)
        if remaining > 0:
            # doBackOff's words, then (beyond Kubernetes, so `get pods -o wide`/describe tell why) the exit
            reason = f"{info.exit_code} ({info.reason or terminated_reason(info.exit_code or 0)})"
            st.waiting[container.name] = Waiting(
                "CrashLoopBackOff",
                f"back-off {_seconds(self.backoff.current(key))} restarting failed container={container.name} "
                f"pod={pod.metadata.name}_{pod.metadata.namespace}({pod.metadata.uid}): last exit code {reason}")
            self.recorder.event(pod, "Warning", "BackOff", "Back-off restarting failed container "
                                f"{container.name} in pod {pod.metadata.name}_{pod.metadata.namespace}"
                                f"({pod.metadata.uid})")
            delays.append(remaining + 0.01)
            return
        st.waiting.pop(container.name, None)
        self.backoff.restarting(key, ran_for=ran)
        metrics.CONTAINER_RESTARTS.inc()
        await self._start(pod, st, container, attempt=info.attempt + 1, delays=delays)

    # ---- starting a container ----

    async def _start(self, pod: core_pb2.Pod, st: PodState, container: core_pb2.Container, *, attempt: int,
                     delays: list[float] | None = None) -> None:
        delays = delays if delays is not None else []
        if st.sandbox is None:
            return
        if not await self._image(pod, st, container, delays):
            return
        try:
            env = await self.resolve_env(self.client, pod, container, pod_ip=st.sandbox.ip,
                                         host_ip=self.settings.node_ip, node_name=self.settings.node_name)
        except Exception as exc:  # noqa: BLE001 - ContainerConfigError: wait until the object appears
            message = str(exc)
            if st.waiting.get(container.name) != Waiting("CreateContainerConfigError", message):
                self.recorder.event(pod, "Warning", "Failed", f"Error: {message}")
            st.waiting[container.name] = Waiting("CreateContainerConfigError", message)
            delays.append(1.0)
            return
        try:
            config = self._config(pod, st, container, env, attempt)
        except Exception as exc:  # noqa: BLE001 - a bad subPath or a missing volume: the container's config
            st.waiting[container.name] = Waiting("CreateContainerConfigError", str(exc))
            delays.append(2.0)
            return
        try:
            container_id = await self.runtime.start_container(st.sandbox, config)
        except RuntimeFailure as exc:
            st.waiting[container.name] = Waiting("RunContainerError", str(exc))
            self.recorder.event(pod, "Warning", "Failed", f"Error: {exc}")
            delays.append(2.0)
            return
        st.waiting.pop(container.name, None)
        self.recorder.event(pod, "Normal", "Created", f"Created container {container.name}")
        self.recorder.event(pod, "Normal", "Started", f"Started container {container.name}")
        await self._post_start(pod, container, container_id)

    def _config(self, pod: core_pb2.Pod, st: PodState, container: core_pb2.Container,
                env: list[tuple[str, str]], attempt: int) -> ContainerConfig:
        cpu, memory = _limit(container, "cpu"), _limit(container, "memory")
        run_as = None
        if container.security_context.HasField("run_as_user"):
            run_as = container.security_context.run_as_user
        elif pod.spec.security_context.HasField("run_as_user"):
            run_as = pod.spec.security_context.run_as_user
        labels = {LABEL_RUNTIME: self.settings.runtime_scheme}  # the runtime adds the pod's identity
        return ContainerConfig(
            name=container.name, image=container.image, command=self.expand(list(container.command), env),
            args=self.expand(list(container.args), env), env=env, working_dir=container.working_dir,
            mounts=self.volumes.mounts(pod, container, st.volumes or {}, env=env),
            cpu_limit_millis=cpu.milli_value() if cpu is not None else None,
            memory_limit_bytes=memory.int_value() if memory is not None else None,
            run_as_user=run_as, stdin=container.stdin, stdin_once=container.stdin_once, tty=container.tty,
            attempt=attempt, labels=labels)

    async def _image(self, pod: core_pb2.Pod, st: PodState, container: core_pb2.Container,
                     delays: list[float]) -> bool:
        image, policy = container.image, container.image_pull_policy or "IfNotPresent"
        key = f"{pod.metadata.uid}/{container.name}/image"
        present = await self.runtime.image_present(image)
        if policy == "Never" and not present:
            st.waiting[container.name] = Waiting(
                "ErrImageNeverPull", f'Container image "{image}" is not present with pull policy of Never')
            self.recorder.event(pod, "Warning", "ErrImageNeverPull", st.waiting[container.name].message)
            delays.append(5.0)
            return False
        if policy == "IfNotPresent" and present or policy == "Never":
            self.recorder.event(pod, "Normal", "Pulled",
                                f'Container image "{image}" already present on machine')
            return True
        remaining = self.backoff.remaining(key)
        if remaining > 0:
            if st.waiting.get(container.name, Waiting("")).reason != "ImagePullBackOff":
                self.recorder.event(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"')
                self.recorder.event(pod, "Warning", "Failed", "Error: ImagePullBackOff")
            message = f'Back-off pulling image "{image}"'
            if container.name in st.pull_errors:
                message += f": {st.pull_errors[container.name]}"
            st.waiting[container.name] = Waiting("ImagePullBackOff", message)
            delays.append(remaining + 0.01)
            return False
        st.pull_errors.pop(container.name, None)
        self.recorder.event(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        try:
            await self.runtime.pull_image(image)
        except ImageError as exc:
            self.backoff.failed(key)
            st.waiting[container.name] = Waiting(exc.reason, exc.message)
            st.pull_errors[container.name] = f"{exc.reason}: {exc.message}"
            self.recorder.event(pod, "Warning", "Failed", f'Failed to pull image "{image}": {exc.message}')
            self.recorder.event(pod, "Warning", "Failed", f"Error: {exc.reason}")
            delays.append(self.backoff.remaining(key) + 0.01)
            return False
        self.backoff.forget(key)
        self.recorder.event(pod, "Normal", "Pulled", f'Successfully pulled image "{image}"')
        return True

    async def _post_start(self, pod: core_pb2.Pod, container: core_pb2.Container, container_id: str) -> None:
        hook = container.lifecycle.post_start if container.HasField("lifecycle") else None
        if hook is None or not hook.HasField("exec"):
            return
        result = await self.runtime.exec_sync(container_id, list(hook.exec.command), timeout=30)
        if result.exit_code != 0:
            self.recorder.event(pod, "Warning", "FailedPostStartHook",
                                f"PostStartHook failed: exit code {result.exit_code}")
            await self.runtime.stop_container(container_id, _grace(pod))

    # ---- status ----

    def _report(self, pod: core_pb2.Pod, st: PodState, latest: dict[str, ContainerInfo],
                previous: dict[str, ContainerInfo], *, sandbox_ready: bool = True) -> str:
        uid = pod.metadata.uid

        def view(container: core_pb2.Container) -> ContainerView:
            info = latest.get(container.name)
            running = info is not None and info.state == State.RUNNING
            return ContainerView(name=container.name, image=container.image, current=info,
                                 previous=previous.get(container.name), waiting=st.waiting.get(container.name),
                                 restart_count=info.attempt if info else 0,
                                 ready=running and self.probes.is_ready(uid, container.name),
                                 started=running and self.probes.is_started(uid, container.name))

        pod_view = PodView(pod=pod, pod_ip=st.sandbox.ip if st.sandbox else "", host_ip=self.settings.node_ip,
                           init=[view(c) for c in pod.spec.init_containers],
                           app=[view(c) for c in pod.spec.containers], start_time=st.start_time,
                           terminal_phase=st.terminal_phase, sandbox_ready=sandbox_ready)
        status = build_status(pod_view)
        self.statuses.set(pod, status)
        return status.phase

    # ---- stopping ----

    async def _stop_sidecars(self, pod: core_pb2.Pod, st: PodState, latest: dict[str, ContainerInfo]) -> None:
        """Every regular container is done for good: the sidecars are stopped, last started first, so
        the pod can end (computePodActions kills the pod once no regular container is kept)."""
        for container in reversed(pod.spec.init_containers):
            info = latest.get(container.name)
            if is_sidecar(container) and info is not None and info.state == State.RUNNING:
                self.probes.remove(pod.metadata.uid, container.name)
                st.waiting.pop(container.name, None)
                await self._kill(pod, info, _grace(pod))

    async def _stop_everything(self, pod: core_pb2.Pod, st: PodState, *, grace: float) -> None:
        self.probes.remove(pod.metadata.uid)
        for info in await self.runtime.list_containers(pod.metadata.uid):
            if info.state == State.RUNNING:
                await self.runtime.stop_container(info.id, grace)
        if st.sandbox is not None:
            with contextlib.suppress(RuntimeFailure):
                await self.runtime.stop_sandbox(st.sandbox.id)

    async def terminate(self, pod: core_pb2.Pod) -> None:
        """The pod is being deleted: preStop, SIGTERM, grace, SIGKILL, clean up, final delete."""
        st = self.state(pod)
        grace = _grace(pod)
        self.probes.remove(pod.metadata.uid)
        running = [i for i in await self.runtime.list_containers(pod.metadata.uid) if i.state == State.RUNNING]
        await asyncio.gather(*(self._kill(pod, info, grace) for info in running))
        await self.cleanup(pod.metadata.uid, st.sandbox)
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(core_pb2.Pod, pod.metadata.name, namespace=pod.metadata.namespace,
                                     grace_period_seconds=0, uid=pod.metadata.uid)

    async def _kill(self, pod: core_pb2.Pod, info: ContainerInfo, grace: float) -> None:
        container = _find(pod, info.name)
        started = self.clock.now()
        hook = container.lifecycle.pre_stop if container is not None and container.HasField("lifecycle") else None
        if hook is not None and hook.HasField("exec") and grace > 0:
            with contextlib.suppress(Exception):
                await aio.wait_for(self.runtime.exec_sync(info.id, list(hook.exec.command), timeout=grace),
                                       grace)
        elif hook is not None and hook.HasField("sleep") and grace > 0:
            await self.clock.sleep(min(float(hook.sleep.seconds), grace))
        remaining = max(grace - (self.clock.now() - started), 0.0)
        self.recorder.event(pod, "Normal", "Killing", f"Stopping container {info.name}")
        await self.runtime.stop_container(info.id, remaining)

    async def cleanup(self, uid: str, sandbox: Sandbox | None = None) -> None:
        """Remove everything the runtime holds for a pod that is gone."""
        self.probes.remove(uid)
        for info in await self.runtime.list_containers(uid):
            with contextlib.suppress(RuntimeFailure):
                if info.state == State.RUNNING:
                    await self.runtime.stop_container(info.id, 0)
                await self.runtime.remove_container(info.id)
        sandboxes = {s.id: s for s in await self.runtime.list_sandboxes(dead=True) if s.pod_uid == uid}
        if sandbox is not None:
            sandboxes[sandbox.id] = sandbox
        for sb in sandboxes.values():
            with contextlib.suppress(RuntimeFailure):
                await self.runtime.stop_sandbox(sb.id)
                await self.runtime.remove_sandbox(sb.id)
        with contextlib.suppress(Exception):
            await self.volumes.teardown(uid)
        self.backoff.forget_prefix(f"{uid}/")
        self.statuses.forget(uid)
        self.states.pop(uid, None)


def node_reference(node_name: str) -> core_pb2.Node:
    """The node as the kubelet's own events name it (Kubernetes' nodeRef: the name as its UID too)."""
    node = core_pb2.Node()
    node.metadata.name = node_name
    node.metadata.uid = node_name
    return node


def _has_projected_data(pod: core_pb2.Pod) -> bool:
    """Whether the pod has volumes whose files follow API objects (refreshed while it runs)."""
    return any(v.HasField("config_map") or v.HasField("secret") or v.HasField("downward_api")
               or v.HasField("projected") for v in pod.spec.volumes)


def _regular_containers_done(pod: core_pb2.Pod, latest: dict[str, ContainerInfo]) -> bool:
    """Whether every regular container has exited and will not be restarted (restartPolicy Never, or
    OnFailure after exit code 0): nothing of the pod is kept running but its sidecars."""
    policy = pod.spec.restart_policy or "Always"
    if policy == "Always" or not pod.spec.containers:
        return False
    for container in pod.spec.containers:
        info = latest.get(container.name)
        if info is None or info.state != State.EXITED:
            return False
        if policy == "OnFailure" and info.exit_code != 0:
            return False
    return True


def _find(pod: core_pb2.Pod, name: str) -> core_pb2.Container | None:
    for container in (*pod.spec.init_containers, *pod.spec.containers):
        if container.name == name:
            return container
    return None


def _seconds(value: float) -> str:
    """Kubernetes prints backoff durations like Go: 10s, 20s, 1m20s, 5m0s."""
    total = int(round(value))
    if value < 1:
        return f"{int(value * 1000)}ms"
    if total < 60:
        return f"{total}s"
    return f"{total // 60}m{total % 60}s"
