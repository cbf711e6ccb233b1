"""Node lifecycle and taint eviction against a real apiserver and etcd.

The node is an object the test made, with no kubelet behind it: nothing renews its Lease or its
Ready heartbeat, so after the grace period (shortened here) the node lifecycle controller marks
its conditions Unknown, taints it unreachable (NoExecute and NoSchedule) and turns its pods'
Ready condition False; the taint eviction controller deletes the pod that tolerates the taint
for one second (DisruptionTarget condition first) and keeps the one tolerating it for 300 s.
When the node is heard from again the taints go and the pending eviction is cancelled.
"""

from __future__ import annotations

import contextlib
from typing import Any

from controllers.nodelifecycle import NodeLifecycleController
from controllers.tainteviction import TaintEvictionController
from skiff.api.manifest import from_manifest
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.cluster import eventually
from tests.support.controllers import running


def controllers(client: Client) -> contextlib.AbstractAsyncContextManager[list[Any]]:
    return running(client,
                   lambda c, i, r: NodeLifecycleController(c, i, r, monitor_period=0.1, grace_period=1.0,
                                                           startup_grace_period=1.0),
                   lambda c, i, r: TaintEvictionController(c, i, r), component="node-controller")


def pod(name: str, toleration_seconds: int) -> Any:
    return from_manifest({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}],
                 "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": toleration_seconds}]}})


async def running_on_n1(client: Client, name: str) -> None:
    await client.bind(name, "n1", namespace="default")
    fresh = await client.get(core_pb2.Pod, name, namespace="default")
    fresh.status.phase = "Running"
    fresh.status.conditions.add(type="Ready", status="True", last_transition_time=rfc3339())
    await client.update_status(fresh)


async def test_a_silent_node_is_tainted_and_its_pods_evicted_as_they_tolerate(client: Client) -> None:
    await client.create(from_manifest({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "lastHeartbeatTime": rfc3339(), "lastTransitionTime": rfc3339()}],
                   "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))
    for name, seconds in (("brief", 1), ("patient", 300)):
        await client.create(pod(name, seconds))
        await running_on_n1(client, name)
    async with controllers(client):

        async def tainted() -> bool:
            node = await client.get(core_pb2.Node, "n1")
            return {(t.key, t.effect) for t in node.spec.taints} == {
                ("node.kubernetes.io/unreachable", "NoExecute"), ("node.kubernetes.io/unreachable", "NoSchedule")}

        await eventually(tainted, timeout=10, what="the unreachable taints")
        node = await client.get(core_pb2.Node, "n1")
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert (ready.status, ready.reason, ready.message) == (
            "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
        assert {c.type: c.status for c in node.status.conditions}["MemoryPressure"] == "Unknown"
        assert next(t for t in node.spec.taints if t.effect == "NoExecute").time_added

        async def brief_evicted() -> bool:
            brief = await client.get(core_pb2.Pod, "brief", namespace="default")
            return bool(brief.metadata.deletion_timestamp)

        await eventually(brief_evicted, timeout=10, what="the pod tolerating 1 s evicted")
        brief = await client.get(core_pb2.Pod, "brief", namespace="default")
        target = next(c for c in brief.status.conditions if c.type == "DisruptionTarget")
        assert (target.status, target.reason) == ("True", "DeletionByTaintManager")
        patient = await client.get(core_pb2.Pod, "patient", namespace="default")
        assert not patient.metadata.deletion_timestamp
        assert next(c for c in patient.status.conditions if c.type == "Ready").status == "False"

        # The kubelet is back: a fresh heartbeat and Ready; the taints go, the eviction is called off.
        node = await client.get(core_pb2.Node, "n1")
        for cond in node.status.conditions:
            cond.status, cond.reason, cond.last_heartbeat_time = (
                "True" if cond.type == "Ready" else "False", "KubeletReady", rfc3339())
        await client.update_status(node)

        async def untainted() -> bool:
            return not (await client.get(core_pb2.Node, "n1")).spec.taints

        await eventually(untainted, timeout=10, what="the taints removed")

        async def cancelled() -> bool:
            events = (await client.list(core_pb2.Event, namespace="default")).items
            return any(e.reason == "TaintManagerEviction" and e.message.startswith("Cancelling deletion of Pod "
                                                                                   "default/patient") for e in events)

        await eventually(cancelled, timeout=10, what="the patient pod's eviction cancelled")
        assert not (await client.get(core_pb2.Pod, "patient", namespace="default")).metadata.deletion_timestamp
        events = (await client.list(core_pb2.Event)).items
        assert any(e.reason == "NodeNotReady" and e.involved_object.name == "n1" for e in events)



class CountingPasses(NodeLifecycleController):
    """The controller, counting its finished monitor passes."""

    passes = 0

    async def monitor(self) -> None:
        await super().monitor()
        self.passes += 1


async def test_a_node_that_never_posted_status_is_left_alone_until_its_startup_grace_ends(client: Client) -> None:
    # A Node made by hand (kubectl apply) has no conditions: the scheduler may use it at once.
    await client.create(from_manifest({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "fresh"},
                                       "status": {"allocatable": {"cpu": "2", "pods": "10"}}}))
    async with running(client, lambda c, i, r: CountingPasses(c, i, r, monitor_period=0.1, grace_period=1.0,
                                                              startup_grace_period=3.0),
                       component="node-controller") as (lifecycle,):

        async def passes() -> bool:
            return lifecycle.passes >= 2

        await eventually(passes, timeout=10, what="two monitor passes")
        early = await client.get(core_pb2.Node, "fresh")
        assert not early.spec.taints and not early.status.conditions

        async def tainted() -> bool:
            return bool((await client.get(core_pb2.Node, "fresh")).spec.taints)

        await eventually(tainted, timeout=10, what="the unreachable taints after the startup grace")
        node = await client.get(core_pb2.Node, "fresh")
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert (ready.status, ready.reason, ready.message) == (
            "Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status.")
        assert {(t.key, t.effect) for t in node.spec.taints} == {
            ("node.kubernetes.io/unreachable", "NoExecute"), ("node.kubernetes.io/unreachable", "NoSchedule")}
