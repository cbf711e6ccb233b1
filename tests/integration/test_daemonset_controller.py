"""The DaemonSet controller against a real apiserver and etcd, on nodes made by the test.

No kubelet or scheduler runs: pods stay where the controller pins them (node affinity on
``metadata.name``) and the test marks them Running and Ready as a kubelet would. Shown: one pod
per eligible node (nodeSelector, taints and the daemon tolerations), a new node gets its pod, a
NoExecute taint or a label change takes it away, a failed pod is replaced, a rolling update
never has more than maxUnavailable pods unavailable, the history is kept as ControllerRevisions
(an undo renumbers the old one), and status counts as Kubernetes counts.
"""

from __future__ import annotations

import contextlib
from typing import Any

from controllers.daemonset.controller import DaemonSetController
from controllers.daemonset.placement import target_node
from skiff.api.manifest import from_manifest
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client
from tests.support.cluster import eventually
from tests.support.controllers import running


def daemonset_controller(client: Client) -> contextlib.AbstractAsyncContextManager[list[Any]]:
    return running(client, lambda c, i, r: DaemonSetController(c, i, r, workers=1), component="daemonset-controller")


async def make_node(client: Client, name: str, labels: dict[str, str] | None = None,
                    taints: list[dict[str, str]] | None = None) -> None:
    await client.create(from_manifest({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or []},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))


def daemonset(**spec: Any) -> Any:
    template_spec = {"containers": [{"name": "agent", "image": "busybox:v1"}], **spec.pop("template_spec", {})}
    return from_manifest({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}}, "spec": template_spec}, **spec}})


async def live_pods(client: Client) -> list[core_pb2.Pod]:
    pods = (await client.list(core_pb2.Pod, namespace="default", label_selector="app=agent")).items
    return [p for p in pods if not p.metadata.deletion_timestamp]


async def pods_on(client: Client, nodes: set[str], what: str) -> list[core_pb2.Pod]:
    found: list[core_pb2.Pod] = []

    async def check() -> bool:
        found[:] = await live_pods(client)
        return sorted(target_node(p) or "" for p in found) == sorted(nodes)

    await eventually(check, what=what)
    return found


async def run_ready(client: Client, pod: core_pb2.Pod, *, phase: str = "Running") -> None:
    """What a kubelet writes once the pod's container runs (and is ready)."""
    fresh = await client.get(core_pb2.Pod, pod.metadata.name, namespace="default")
    fresh.status.phase = phase
    del fresh.status.conditions[:]
    fresh.status.conditions.add(type="Ready", status="True" if phase == "Running" else "False",
                                last_transition_time="2026-01-01T00:00:00Z")
    await client.update_status(fresh)


async def status_is(client: Client, check: Any, what: str) -> apps_pb2.DaemonSetStatus:
    found: list[apps_pb2.DaemonSetStatus] = []

    async def done() -> bool:
        found[:] = [(await client.get(apps_pb2.DaemonSet, "agent", namespace="default")).status]
        return bool(check(found[0]))

    await eventually(done, what=what)
    return found[0]


async def test_one_pod_per_eligible_node_following_node_changes(client: Client) -> None:
    await make_node(client, "a", {"role": "worker"})
    await make_node(client, "b", {"role": "worker"}, taints=[{"key": "node.kubernetes.io/unschedulable",
                                                              "effect": "NoSchedule"}])
    await make_node(client, "c", {"role": "db"})
    await make_node(client, "d", {"role": "worker"}, taints=[{"key": "dedicated", "value": "x",
                                                              "effect": "NoSchedule"}])
    async with daemonset_controller(client):
        created = await client.create(daemonset(template_spec={"nodeSelector": {"role": "worker"}}))
        # b is cordoned (a daemon pod tolerates that), c is not a worker, d's taint is not tolerated.
        pods = await pods_on(client, {"a", "b"}, "a pod on a and b")
        pod = pods[0]
        assert [(r.kind, r.uid) for r in pod.metadata.owner_references] == [("DaemonSet", created.metadata.uid)]
        terms = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
        assert [(f.key, f.operator, list(f.values)) for t in terms for f in t.match_fields] == [
            ("metadata.name", "In", [target_node(pod)])]
        tolerations = {(t.key, t.effect) for t in pod.spec.tolerations}
        assert {("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unschedulable", "NoSchedule"),
                ("node.kubernetes.io/memory-pressure", "NoSchedule")} <= tolerations
        assert pod.metadata.labels["pod-template-generation"] == "1" and pod.metadata.labels["controller-revision-hash"]

        for p in pods:
            await run_ready(client, p)
        status = await status_is(client, lambda s: s.number_ready == 2, "two ready pods counted")
        assert (status.desired_number_scheduled, status.current_number_scheduled, status.number_available,
                status.updated_number_scheduled, status.number_misscheduled) == (2, 2, 2, 2, 0)

        await make_node(client, "e", {"role": "worker"})
        await pods_on(client, {"a", "b", "e"}, "a pod for the new node e")
        await client.patch(core_pb2.Node, "a", {"spec": {"taints": [{"key": "evict", "effect": "NoExecute"}]}})
        await client.patch(core_pb2.Node, "b", {"metadata": {"labels": {"role": "db"}}})
        await pods_on(client, {"e"}, "the pods of a (NoExecute taint) and b (no longer a worker) deleted")


async def test_a_failed_pod_is_replaced(client: Client) -> None:
    await make_node(client, "a")
    async with daemonset_controller(client):
        await client.create(daemonset())
        [pod] = await pods_on(client, {"a"}, "the pod on a")
        await run_ready(client, pod, phase="Failed")

        async def replaced() -> bool:
            pods = await live_pods(client)
            return len(pods) == 1 and pods[0].metadata.name != pod.metadata.name

        await eventually(replaced, what="the failed pod replaced")
        events = (await client.list(core_pb2.Event, namespace="default")).items
        assert any(e.reason == "FailedDaemonPod" and pod.metadata.name in e.message for e in events)


async def test_a_rolling_update_stays_within_max_unavailable_and_keeps_history(client: Client) -> None:
    names = ["n1", "n2", "n3", "n4"]
    for name in names:
        await make_node(client, name)
    async with daemonset_controller(client):
        await client.create(daemonset(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}))
        for pod in await pods_on(client, set(names), "a pod per node"):
            await run_ready(client, pod)
        await status_is(client, lambda s: s.number_available == 4, "four available pods")
        await client.patch(apps_pb2.DaemonSet, "agent", {"spec": {"template": {"spec": {"containers": [
            {"name": "agent", "image": "busybox:v2"}]}}}}, namespace="default")

        async def rolled() -> bool:
            pods = await live_pods(client)
            assert sum(1 for p in pods if p.status.phase != "Running") <= 2, "more than maxUnavailable down"
            for pod in pods:
                if pod.status.phase != "Running" and pod.spec.containers[0].image == "busybox:v2":
                    await run_ready(client, pod)
            return len(pods) == 4 and all(p.spec.containers[0].image == "busybox:v2" and p.status.phase == "Running"
                                          for p in pods)

        await eventually(rolled, timeout=20, what="every pod replaced by a busybox:v2 one")
        status = await status_is(client, lambda s: s.updated_number_scheduled == 4 and s.number_available == 4,
                                 "the update counted")
        ds = await client.get(apps_pb2.DaemonSet, "agent", namespace="default")
        assert status.observed_generation == ds.metadata.generation == 2
        assert ds.metadata.annotations["deprecated.daemonset.template.generation"] == "2"
        revisions = sorted((r.revision, r.metadata.name) for r in (await client.list(
            apps_pb2.ControllerRevision, namespace="default")).items)
        assert [number for number, _ in revisions] == [1, 2]
        # Back to the first template: its revision is reused and renumbered 3.
        await client.patch(apps_pb2.DaemonSet, "agent", {"spec": {"template": {"spec": {"containers": [
            {"name": "agent", "image": "busybox:v1"}]}}}}, namespace="default")

        async def renumbered() -> bool:
            found = {r.metadata.name: r.revision for r in (await client.list(
                apps_pb2.ControllerRevision, namespace="default")).items}
            return found == {revisions[0][1]: 3, revisions[1][1]: 2}

        await eventually(renumbered, what="the first revision renumbered 3")
