"""The kubelet against a real apiserver and etcd, with the fake runtime: node registration and
lease, a pod's life (Running, crash loop with backoff, terminal phases, init containers, image
policy), deletion with the final delete, adoption after a kubelet restart, and the Stats RPC."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from kubelet.kubelet import Kubelet, KubeletSettings
from kubelet.node import NodeSettings
from kubelet.runtime.fake import FakeBehavior, FakeRuntime, FakeUsage
from kubelet.runtime.interface import ContainerConfig, ExecResult, Sandbox
from kubelet.server import KubeletServicer
from skiff.api import errors
from skiff.api.manifest import from_manifest
from skiff.api.metrics import NODE_METADATA_KEY
from skiff.api.v1 import apps_pb2, core_pb2, metrics_pb2, node_pb2_grpc
from skiff.client.client import Client
from skiff.lifecycle import listen
from tests.support.cluster import eventually

NODE = "fake-node"


def settings(root: Path) -> KubeletSettings:
    node = NodeSettings(name=NODE, ip="10.0.0.1", port=10250, capacity={"cpu": "4", "memory": "8Gi", "pods": "110"},
                        labels={"tier": "test"}, lease_period=0.5, status_period=0.5)
    return KubeletSettings(node=node, root_dir=root, backoff_initial=0.2, backoff_max=0.8, relist_period=0.05)


@contextlib.asynccontextmanager
async def kubelet(client: Client, runtime: FakeRuntime, root: Path) -> AsyncIterator[Kubelet]:
    k = Kubelet(client, runtime, settings(root))
    task = asyncio.create_task(k.run())
    try:
        yield k
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def pod(name: str, *, containers: list[dict[str, Any]] | None = None, **spec: Any) -> Any:
    return from_manifest({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                          "spec": {"nodeName": NODE, "containers": containers or [
                              {"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"]}], **spec}})


async def get_pod(client: Client, name: str) -> core_pb2.Pod:
    return await client.get(core_pb2.Pod, name, namespace="default")


async def until(client: Client, name: str, check: Any, what: str, timeout: float = 10) -> core_pb2.Pod:
    found: list[core_pb2.Pod] = []

    async def ok() -> bool:
        p = await get_pod(client, name)
        found[:] = [p]
        return bool(check(p))

    await eventually(ok, timeout=timeout, what=what)
    return found[0]


async def test_the_node_registers_ready_and_keeps_its_lease(client: Client, tmp_path: Path) -> None:
    async with kubelet(client, FakeRuntime(node_name=NODE), tmp_path):
        async def registered() -> bool:
            try:
                node = await client.get(core_pb2.Node, NODE)
            except errors.NotFound:
                return False
            return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)

        await eventually(registered, what="the node to be Ready")
        node = await client.get(core_pb2.Node, NODE)
        assert node.status.capacity["cpu"] == "4" and node.metadata.labels["tier"] == "test"
        assert node.metadata.labels["kubernetes.io/hostname"] == NODE
        assert [a.address for a in node.status.addresses if a.type == "InternalIP"] == ["10.0.0.1"]
        seen: list[str] = []

        async def renewed() -> bool:
            try:
                lease = await client.get(apps_pb2.Lease, NODE, namespace="kube-node-lease")
            except errors.NotFound:
                return False  # the lease loop has not run yet
            if lease.spec.renew_time not in seen:
                seen.append(lease.spec.renew_time)
            return len(seen) >= 2

        await eventually(renewed, what="the lease to be created and renewed")


async def test_a_pod_runs_and_reports_running(client: Client, tmp_path: Path) -> None:
    async with kubelet(client, FakeRuntime(node_name=NODE), tmp_path):
        await client.create(pod("web"))
        p = await until(client, "web", lambda p: p.status.phase == "Running" and p.status.container_statuses
                        and p.status.container_statuses[0].ready, "web to run")
        assert p.status.pod_ip.startswith("10.233.") and p.status.host_ip == "10.0.0.1"
        assert p.status.container_statuses[0].state.HasField("running")
        assert {(c.type, c.status) for c in p.status.conditions} >= {("Ready", "True"), ("Initialized", "True"),
                                                                      ("ContainersReady", "True")}


async def test_a_crashing_container_backs_off_with_its_reason(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)
    runtime.behavior["app"] = FakeBehavior(exit_code=3, after=0)
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("crash"))
        p = await until(client, "crash", lambda p: p.status.container_statuses and
                        p.status.container_statuses[0].restart_count >= 2 and
                        p.status.container_statuses[0].state.waiting.reason == "CrashLoopBackOff",
                        "CrashLoopBackOff after two restarts")
        status = p.status.container_statuses[0]
        message = status.state.waiting.message  # Kubernetes' doBackOff words, then the last exit (skiff's)
        assert message.startswith("back-off ") and message.endswith(
            f" restarting failed container=app pod=crash_default({p.metadata.uid}): last exit code 3 (Error)"), message
        assert status.last_state.terminated.exit_code == 3 and status.last_state.terminated.reason == "Error"
        assert p.status.phase == "Running"


async def test_the_first_crash_restarts_at_once_and_only_later_ones_back_off(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)
    runtime.behavior["app"] = FakeBehavior(exit_code=3, after=0.3)
    seen: list[tuple[int, str]] = []  # (restartCount, waiting reason) of every status the kubelet wrote

    async def follow() -> None:
        async for event in client.watch(core_pb2.Pod, namespace="default", field_selector="metadata.name=crash2"):
            for status in event.object.status.container_statuses:
                seen.append((status.restart_count, status.state.waiting.reason))

    watcher = asyncio.create_task(follow())
    try:
        async with kubelet(client, runtime, tmp_path):
            await client.create(pod("crash2"))
            await until(client, "crash2", lambda p: p.status.container_statuses and
                        p.status.container_statuses[0].restart_count >= 2, "two restarts")

            async def watched_two() -> bool:
                return any(n >= 2 for n, _ in seen)

            await eventually(watched_two, what="the watch to see two restarts")
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    assert (0, "CrashLoopBackOff") not in seen, seen  # Kubernetes: RESTARTS 1 before any back-off
    assert (1, "CrashLoopBackOff") in seen, seen  # the second crash waits


@pytest.mark.parametrize("code,phase", [(0, "Succeeded"), (1, "Failed")])
async def test_restart_policy_never_ends_in_a_terminal_phase(client: Client, tmp_path: Path, code: int,
                                                             phase: str) -> None:
    runtime = FakeRuntime(node_name=NODE)
    runtime.behavior["app"] = FakeBehavior(exit_code=code, after=0.1)
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("once", restartPolicy="Never"))
        p = await until(client, "once", lambda p: p.status.phase == phase, f"phase {phase}")
        assert p.status.container_statuses[0].state.terminated.exit_code == code


async def test_init_containers_run_first_in_order(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)
    runtime.behavior["first"] = FakeBehavior(exit_code=0, after=0.2)
    runtime.behavior["second"] = FakeBehavior(exit_code=0, after=0.2)
    init = [{"name": "first", "image": "busybox", "command": ["true"]},
            {"name": "second", "image": "busybox", "command": ["true"]}]
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("init", initContainers=init))
        p = await until(client, "init", lambda p: p.status.phase == "Running", "the app to run after init")
        started = [c.name for c in sorted(await runtime.list_containers(p.metadata.uid),
                                          key=lambda c: c.started_at or 0)]
        assert started == ["first", "second", "app"]
        assert [s.state.terminated.reason for s in p.status.init_container_statuses] == ["Completed", "Completed"]


async def test_image_pull_policy_never_with_a_missing_image(client: Client, tmp_path: Path) -> None:
    async with kubelet(client, FakeRuntime(node_name=NODE), tmp_path):
        await client.create(pod("never", containers=[{"name": "app", "image": "nowhere:1",
                                                      "imagePullPolicy": "Never"}]))
        p = await until(client, "never", lambda p: p.status.container_statuses and
                        p.status.container_statuses[0].state.waiting.reason == "ErrImageNeverPull", "ErrImageNeverPull")
        assert 'Container image "nowhere:1" is not present with pull policy of Never' in \
            p.status.container_statuses[0].state.waiting.message


async def test_deleting_a_pod_stops_it_and_removes_the_object(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("doomed"))
        p = await until(client, "doomed", lambda p: p.status.phase == "Running", "running")
        await client.delete(core_pb2.Pod, "doomed", namespace="default")

        async def gone() -> bool:
            try:
                await get_pod(client, "doomed")
            except errors.NotFound:
                return True
            return False

        await eventually(gone, what="the kubelet's final delete")
        assert await runtime.list_containers(p.metadata.uid) == []


async def test_a_restarted_kubelet_adopts_running_pods(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("keep"))
        p = await until(client, "keep", lambda p: p.status.phase == "Running", "running")
        before = p.status.container_statuses[0].container_id
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("probe-the-new-kubelet"))
        await until(client, "probe-the-new-kubelet", lambda p: p.status.phase == "Running", "the new kubelet syncs")
        p = await get_pod(client, "keep")
        assert p.status.container_statuses[0].container_id == before
        assert p.status.container_statuses[0].restart_count == 0
        assert len(await runtime.list_containers(p.metadata.uid)) == 1


async def test_the_node_goes_not_ready_when_the_runtime_stops_answering(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)

    async def ready_is(value: str, reason: str) -> bool:
        try:
            node = await client.get(core_pb2.Node, NODE)
        except errors.NotFound:
            return False
        return any(c.type == "Ready" and c.status == value and c.reason == reason for c in node.status.conditions)

    async with kubelet(client, runtime, tmp_path):
        await eventually(lambda: ready_is("True", "KubeletReady"), what="Ready")
        runtime.healthy = False
        await eventually(lambda: ready_is("False", "KubeletNotReady"), what="NotReady")
        node = await client.get(core_pb2.Node, NODE)
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.message == "container runtime is down"
        runtime.healthy = True
        await eventually(lambda: ready_is("True", "KubeletReady"), what="Ready again")


async def test_a_probe_that_cannot_run_is_said_in_an_event(client: Client, tmp_path: Path) -> None:
    """A readiness probe on a port name the container does not declare errors: the pod stays not
    Ready and the kubelet records Kubernetes' "probe errored" Warning."""
    probed = {"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"],
              "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}}
    async with kubelet(client, FakeRuntime(node_name=NODE), tmp_path):
        await client.create(pod("errored", containers=[probed]))
        messages: list[str] = []

        async def said() -> bool:
            events = await client.list(core_pb2.Event, namespace="default",
                                       field_selector="involvedObject.name=errored")
            messages[:] = [e.message for e in events.items if e.reason == "Unhealthy" and e.type == "Warning"]
            return bool(messages)

        await eventually(said, what="an Unhealthy event")
        assert messages[0].startswith("Readiness probe errored and resulted in unknown state: "), messages
        assert "http" in messages[0]
        p = await get_pod(client, "errored")
        assert p.status.phase == "Running" and not p.status.container_statuses[0].ready


async def test_a_cluster_first_pod_without_cluster_dns_is_told_on_the_pod_and_the_node(client: Client,
                                                                                      tmp_path: Path) -> None:
    """No --cluster-dns: the pod falls back to the Default policy, and the kubelet records Kubernetes'
    MissingClusterDNS Warning on the pod and on its Node (an event in "default", named for the node)."""
    missing = ('kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. '
               'Falling back to "Default" policy.')
    async with kubelet(client, FakeRuntime(node_name=NODE), tmp_path):
        created = await client.create(pod("nodns"))
        found: dict[str, list[str]] = {}

        async def said() -> bool:
            events = await client.list(core_pb2.Event, namespace="default")
            for kind in ("Pod", "Node"):
                found[kind] = [e.message for e in events.items if e.reason == "MissingClusterDNS"
                               and e.type == "Warning" and e.involved_object.kind == kind]
            return bool(found["Pod"] and found["Node"])

        await eventually(said, what="MissingClusterDNS on the pod and the node")
        assert found["Pod"] == [f'pod: "nodns_default({created.metadata.uid})". {missing}']
        assert found["Node"] == [missing]
        events = await client.list(core_pb2.Event, namespace="default", field_selector=f"involvedObject.name={NODE}")
        node_event = next(e for e in events.items if e.reason == "MissingClusterDNS")
        assert (node_event.involved_object.uid, node_event.source.component) == (NODE, "kubelet")
        await until(client, "nodns", lambda p: p.status.phase == "Running", "the pod to run all the same")


async def test_a_container_with_a_readiness_probe_is_never_ready_before_it_passes(client: Client,
                                                                                 tmp_path: Path) -> None:
    """Not even in the first status after the container starts (before its probe workers exist)."""
    runtime = FakeRuntime(node_name=NODE)
    runtime.exec_results["app"] = ExecResult(exit_code=1, output=b"not yet")
    probed = {"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"],
              "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}
    seen: list[str] = []

    async def watch() -> None:
        async for event in client.watch(core_pb2.Pod, namespace="default", field_selector="metadata.name=unready"):
            seen.extend(c.status for c in event.object.status.conditions if c.type == "Ready")

    async with kubelet(client, runtime, tmp_path):
        watcher = asyncio.create_task(watch())
        try:
            await client.create(pod("unready", containers=[probed]))
            await until(client, "unready", lambda p: p.status.phase == "Running", "the pod to run")
            await eventually(lambda: _async_true(len(runtime.exec_calls) >= 3), what="three readiness probes")
            p = await get_pod(client, "unready")
            assert not p.status.container_statuses[0].ready
        finally:
            watcher.cancel()
    assert seen and "True" not in seen, seen


async def test_a_restarted_kubelet_probes_the_containers_it_finds_running(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)
    probed = {"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"],
              "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("probed", containers=[probed]))
        p = await until(client, "probed", lambda p: p.status.container_statuses and
                        p.status.container_statuses[0].ready, "ready")
        container_id = p.status.container_statuses[0].container_id.partition("://")[2]
    runtime.exec_calls.clear()
    async with kubelet(client, runtime, tmp_path):
        await eventually(lambda: _async_true(any(cid == container_id for cid, _ in runtime.exec_calls)),
                         what="the new kubelet's readiness probe of the running container")
        p = await get_pod(client, "probed")
        assert p.status.container_statuses[0].restart_count == 0


async def test_a_sidecar_is_probed_while_a_later_init_container_runs(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)
    runtime.exec_results["proxy"] = ExecResult(exit_code=1, output=b"not yet")
    sidecar = {"name": "proxy", "image": "busybox:1.36", "command": ["sleep", "3600"], "restartPolicy": "Always",
               "readinessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1}}
    waiting = {"name": "wait", "image": "busybox:1.36", "command": ["sleep", "3600"]}  # never completes
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("sidecar", initContainers=[sidecar, waiting]))
        await eventually(lambda: _async_true(any(cmd == ["check"] for _, cmd in runtime.exec_calls)),
                         what="the sidecar's readiness probe")
        p = await until(client, "sidecar", lambda p: len(p.status.init_container_statuses) == 2 and
                        p.status.init_container_statuses[1].state.HasField("running"), "the second init container")
        assert p.status.phase == "Pending"
        assert not p.status.init_container_statuses[0].ready
        assert [c.name for c in await runtime.list_containers(p.metadata.uid)] == ["proxy", "wait"]


async def _async_true(value: bool) -> bool:
    return value


class RecordingRuntime(FakeRuntime):
    """The fake runtime, keeping the config each container was started with."""

    def __init__(self) -> None:
        super().__init__(node_name=NODE)
        self.configs: dict[str, ContainerConfig] = {}

    async def start_container(self, sandbox: Sandbox, config: ContainerConfig) -> str:
        self.configs[config.name] = config
        return await super().start_container(sandbox, config)


async def test_a_limit_left_unset_reads_as_the_node_allocatable_in_the_downward_api(client: Client,
                                                                                   tmp_path: Path) -> None:
    """As Kubernetes' defaultPodLimitsForDownwardAPI: no cpu/memory limit → the node's allocatable."""
    def field(resource: str) -> dict[str, Any]:
        return {"resourceFieldRef": {"containerName": "app", "resource": resource}}

    app = {"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"],
           "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}},
           "env": [{"name": "CPU_LIMIT", "valueFrom": field("limits.cpu")},
                   {"name": "MEMORY_LIMIT", "valueFrom": field("limits.memory")},
                   {"name": "CPU_REQUEST", "valueFrom": field("requests.cpu")}],
           "volumeMounts": [{"name": "info", "mountPath": "/etc/info"}]}
    volume = {"name": "info", "downwardAPI": {"items": [{"path": "mem_limit", **field("limits.memory")}]}}
    runtime = RecordingRuntime()
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("limits", containers=[app], volumes=[volume]))
        await until(client, "limits", lambda p: p.status.phase == "Running", "the pod to run")
    env = dict(runtime.configs["app"].env)
    # the node has cpu 4 and memory 8Gi and reserves nothing
    assert (env["CPU_LIMIT"], env["MEMORY_LIMIT"], env["CPU_REQUEST"]) == ("4", str(8 << 30), "1")
    mount = next(m for m in runtime.configs["app"].mounts if m.container_path == "/etc/info")
    assert (Path(mount.host_path) / "mem_limit").read_text() == str(8 << 30)


async def test_a_pod_with_a_started_sidecar_is_running_and_initialized(client: Client, tmp_path: Path) -> None:
    sidecar = {"name": "proxy", "image": "busybox:1.36", "command": ["sleep", "3600"], "restartPolicy": "Always"}
    async with kubelet(client, FakeRuntime(node_name=NODE), tmp_path):
        await client.create(pod("withsidecar", initContainers=[sidecar]))
        p = await until(client, "withsidecar", lambda p: p.status.container_statuses and
                        p.status.container_statuses[0].state.HasField("running"), "the app container to run")
        p = await until(client, "withsidecar", lambda p: p.status.phase == "Running", "phase Running")
        assert {c.type: c.status for c in p.status.conditions}["Initialized"] == "True"


async def test_a_finished_pod_stops_its_sidecars_and_succeeds(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)
    runtime.behavior["app"] = FakeBehavior(exit_code=0, after=0.2)
    sidecar = {"name": "proxy", "image": "busybox:1.36", "command": ["sleep", "3600"], "restartPolicy": "Always"}
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("job", initContainers=[sidecar], restartPolicy="Never"))
        p = await until(client, "job", lambda p: p.status.phase == "Succeeded", "phase Succeeded")
        assert p.status.init_container_statuses[0].state.HasField("terminated")
        assert p.status.container_statuses[0].state.terminated.reason == "Completed"
        assert {c.type: c.reason for c in p.status.conditions}["Initialized"] == "PodCompleted"


async def test_an_image_pull_back_off_tells_the_last_pull_error(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)
    runtime.missing_images.add("nowhere:2")
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("nopull", containers=[{"name": "app", "image": "nowhere:2",
                                                       "imagePullPolicy": "Always"}]))
        p = await until(client, "nopull", lambda p: p.status.container_statuses and
                        p.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff", "ImagePullBackOff")
        assert p.status.container_statuses[0].state.waiting.message == (
            'Back-off pulling image "nowhere:2": ErrImagePull: failed to pull image "nowhere:2": not found (fake)')
        assert p.status.phase == "Pending"


async def test_a_finished_pod_is_no_longer_ready_to_start_containers(client: Client, tmp_path: Path) -> None:
    runtime = FakeRuntime(node_name=NODE)
    runtime.behavior["app"] = FakeBehavior(exit_code=0, after=0.1)
    async with kubelet(client, runtime, tmp_path):
        await client.create(pod("done", restartPolicy="OnFailure"))
        p = await until(client, "done", lambda p: p.status.phase == "Succeeded" and any(
            c.type == "PodReadyToStartContainers" and c.status == "False" for c in p.status.conditions),
            "Succeeded with its sandbox gone")
        assert {c.type: (c.status, c.reason) for c in p.status.conditions}["Ready"] == ("False", "PodCompleted")


class _FrozenClock:
    """Wall time that moves only when the test says (the fake runtime's clock, which times the stats)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_the_stats_rpc_answers_the_nodes_and_pods_usage(client: Client, tmp_path: Path) -> None:
    clock = _FrozenClock()
    runtime = FakeRuntime(node_name=NODE, clock=clock)
    runtime.usage["app"] = FakeUsage(cpu_nano_cores=250_000_000, memory_bytes=64 << 20)
    k = Kubelet(client, runtime, dataclasses.replace(settings(tmp_path), stats_period=0.05))
    server = grpc.aio.server()
    node_pb2_grpc.add_KubeletServicer_to_server(
        KubeletServicer(lambda ns, name: None, lambda node: k.stats.usage() if node in ("", NODE) else None), server)
    port = listen(server, "127.0.0.1:0")
    await server.start()
    task = asyncio.create_task(k.run())
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = node_pb2_grpc.KubeletStub(channel)

    async def stats(node: str = NODE) -> metrics_pb2.NodeUsage:
        return await stub.Stats(metrics_pb2.StatsRequest(), metadata=((NODE_METADATA_KEY, node),))

    try:
        await client.create(pod("top-web"))
        await until(client, "top-web", lambda p: p.status.phase == "Running", "top-web to run")

        async def listed() -> bool:  # before a first window: the pod, without made-up figures
            usage = await stats()
            return any(p.name == "top-web" for p in usage.pods)

        await eventually(listed, what="the pod in the stats")
        early = await stats()
        assert early.node_name == NODE and early.timestamp == "2027-01-15T08:00:00Z"
        assert [(p.name, list(p.containers)) for p in early.pods] == [("top-web", [])] and early.cpu_nano_cores == 0

        clock.now += 10

        async def windowed() -> bool:
            usage = await stats()
            return usage.window_seconds == 10 and bool(usage.pods and usage.pods[0].containers)

        await eventually(windowed, what="a 10 s window")
        usage = await stats()
        [p] = usage.pods
        assert (p.namespace, p.name) == ("default", "top-web") and p.uid
        assert [(c.name, c.cpu_nano_cores, c.memory_working_set_bytes) for c in p.containers] == [
            ("app", 250_000_000, 64 << 20)]
        assert (usage.cpu_nano_cores, usage.memory_working_set_bytes) == (250_000_000, 64 << 20)
        assert usage.timestamp == "2027-01-15T08:00:10Z"
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stats("another-node")
        assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await channel.close()
        await server.stop(0)
