"""The StatefulSet controller against a real apiserver and etcd.

No kubelet runs: the test plays it, marking pods Running and Ready (or not), so the order can be
followed. Shown: OrderedReady creates web-0, and web-1 only once web-0 is Running and Ready; each
pod has its stable name, hostname, subdomain and its own PersistentVolumeClaim (kept when the pod
goes); scale-down removes the highest ordinal first, one at a time; a rolling update replaces pods
from the highest ordinal down, honours the partition, and ends with currentRevision =
updateRevision; Parallel creates every pod at once; a failed pod is made anew under the same
name; with the Delete retention policy the claims go with the pod scaled away and with the set.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from controllers.garbagecollector import GarbageCollector
from controllers.statefulset.controller import StatefulSetController
from skiff.api import errors
from skiff.api.manifest import from_manifest
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client
from tests.support.cluster import eventually
from tests.support.controllers import running


def statefulset_controller(client: Client) -> contextlib.AbstractAsyncContextManager[list[Any]]:
    return running(client, lambda c, i, r: StatefulSetController(c, i, r, workers=2),
                   component="statefulset-controller")


def statefulset(replicas: int = 2, **spec: Any) -> Any:
    return from_manifest({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": replicas, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "busybox:v1",
                                                       "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                           "spec": {"accessModes": ["ReadWriteOnce"],
                                                    "resources": {"requests": {"storage": "1Gi"}}}}],
                 **spec}})


async def live(client: Client) -> dict[str, core_pb2.Pod]:
    pods = (await client.list(core_pb2.Pod, namespace="default", label_selector="app=web")).items
    return {p.metadata.name: p for p in pods if not p.metadata.deletion_timestamp}


async def names_are(client: Client, names: list[str], what: str) -> dict[str, core_pb2.Pod]:
    found: dict[str, core_pb2.Pod] = {}

    async def check() -> bool:
        found.clear()
        found.update(await live(client))
        return sorted(found) == names

    await eventually(check, what=what)
    return found


async def set_phase(client: Client, name: str, phase: str = "Running", ready: bool = True) -> None:
    """Bind the pod (so a delete waits for its kubelet, as the test plays it) and write its status."""
    pod = await client.get(core_pb2.Pod, name, namespace="default")
    if not pod.spec.node_name:
        await client.bind(name, "n1", namespace="default")
        pod = await client.get(core_pb2.Pod, name, namespace="default")
    pod.status.phase = phase
    del pod.status.conditions[:]
    pod.status.conditions.add(type="Ready", status="True" if ready else "False",
                              last_transition_time="2026-01-01T00:00:00Z")
    await client.update_status(pod)


async def finish_deletes(client: Client) -> None:
    """Pods being deleted go away (their kubelet would remove them once stopped)."""
    for pod in (await client.list(core_pb2.Pod, namespace="default")).items:
        if pod.metadata.deletion_timestamp:
            with contextlib.suppress(errors.NotFound):
                await client.delete(core_pb2.Pod, pod.metadata.name, namespace="default", grace_period_seconds=0)


async def make_node(client: Client) -> None:
    await client.create(from_manifest({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                                       "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))


async def test_ordered_start_stable_identity_and_claims(client: Client) -> None:
    await make_node(client)
    async with statefulset_controller(client):
        created = await client.create(statefulset(replicas=3))
        pods = await names_are(client, ["web-0"], "web-0 alone first")
        web0 = pods["web-0"]
        assert (web0.spec.hostname, web0.spec.subdomain) == ("web-0", "web")
        assert web0.metadata.labels["statefulset.kubernetes.io/pod-name"] == "web-0"
        assert web0.metadata.labels["apps.kubernetes.io/pod-index"] == "0"
        assert [(v.name, v.persistent_volume_claim.claim_name) for v in web0.spec.volumes] == [("data", "data-web-0")]
        assert [(r.kind, r.uid) for r in web0.metadata.owner_references] == [("StatefulSet", created.metadata.uid)]
        claim = await client.get(core_pb2.PersistentVolumeClaim, "data-web-0", namespace="default")
        assert dict(claim.metadata.labels) == {"app": "web"}
        await asyncio.sleep(0.3)
        assert sorted(await live(client)) == ["web-0"]  # web-1 waits for web-0 to be Running and Ready
        await set_phase(client, "web-0", ready=False)
        await asyncio.sleep(0.3)
        assert sorted(await live(client)) == ["web-0"]
        await set_phase(client, "web-0")
        await names_are(client, ["web-0", "web-1"], "web-1 once web-0 is ready")
        await set_phase(client, "web-1")
        await names_are(client, ["web-0", "web-1", "web-2"], "web-2 once web-1 is ready")
        await set_phase(client, "web-2")

        async def counted() -> bool:
            status = (await client.get(apps_pb2.StatefulSet, "web", namespace="default")).status
            return (status.replicas, status.ready_replicas, status.available_replicas) == (3, 3, 3)

        await eventually(counted, what="3 ready replicas in status")

        # Scale down: the highest ordinal first, one at a time, claims kept.
        await client.patch(apps_pb2.StatefulSet, "web", {"spec": {"replicas": 1}}, namespace="default")
        await names_are(client, ["web-0", "web-1"], "web-2 deleted first")
        await asyncio.sleep(0.2)
        assert sorted(await live(client)) == ["web-0", "web-1"]  # web-1 waits until web-2 is gone
        await finish_deletes(client)
        await names_are(client, ["web-0"], "then web-1")
        claims = (await client.list(core_pb2.PersistentVolumeClaim, namespace="default")).items
        assert sorted(c.metadata.name for c in claims) == ["data-web-0", "data-web-1", "data-web-2"]


async def test_a_rolling_update_goes_from_the_highest_ordinal_down_above_the_partition(client: Client) -> None:
    await make_node(client)
    async with statefulset_controller(client):
        await client.create(statefulset(replicas=3, podManagementPolicy="Parallel",
                                        updateStrategy={"type": "RollingUpdate",
                                                        "rollingUpdate": {"partition": 1}}))
        pods = await names_are(client, ["web-0", "web-1", "web-2"], "every pod at once (Parallel)")
        for name in pods:
            await set_phase(client, name)
        first_revision = pods["web-0"].metadata.labels["controller-revision-hash"]

        async def status() -> apps_pb2.StatefulSetStatus:
            return (await client.get(apps_pb2.StatefulSet, "web", namespace="default")).status

        await client.patch(apps_pb2.StatefulSet, "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "busybox:v2"}]}}}}, namespace="default")
        for expected in ("web-2", "web-1"):
            async def replaced(name: str = expected) -> bool:
                await finish_deletes(client)
                pod = (await live(client)).get(name)
                return pod is not None and pod.spec.containers[0].image == "busybox:v2"

            await eventually(replaced, what=f"{expected} at the new revision")
            await set_phase(client, expected)
        await asyncio.sleep(0.3)
        pods = await live(client)
        assert pods["web-0"].spec.containers[0].image == "busybox:v1"  # below the partition
        assert pods["web-0"].metadata.labels["controller-revision-hash"] == first_revision
        current = await status()
        assert current.current_revision == first_revision and current.update_revision != first_revision
        assert (current.updated_replicas, current.current_replicas) == (2, 1)

        await client.patch(apps_pb2.StatefulSet, "web", {"spec": {"updateStrategy": {"rollingUpdate": {
            "partition": 0}}}}, namespace="default")

        async def web0_updated() -> bool:
            await finish_deletes(client)
            pod = (await live(client)).get("web-0")
            if pod is not None and pod.spec.containers[0].image == "busybox:v2" and pod.status.phase != "Running":
                await set_phase(client, "web-0")
            return pod is not None and pod.spec.containers[0].image == "busybox:v2"

        await eventually(web0_updated, what="web-0 updated once the partition is 0")

        async def complete() -> bool:
            s = await status()
            return s.current_revision == s.update_revision and s.current_replicas == 3

        await eventually(complete, what="the update revision to become current")


async def test_a_failed_pod_is_made_anew_under_its_name(client: Client) -> None:
    await make_node(client)
    async with statefulset_controller(client):
        await client.create(statefulset(replicas=1))
        first = (await names_are(client, ["web-0"], "web-0"))["web-0"]
        await set_phase(client, "web-0", phase="Failed", ready=False)

        async def recreated() -> bool:
            await finish_deletes(client)
            pod = (await live(client)).get("web-0")
            return pod is not None and pod.metadata.uid != first.metadata.uid

        await eventually(recreated, what="web-0 recreated with a new uid")


async def test_claims_follow_the_retention_policy(client: Client) -> None:
    await make_node(client)
    policy = {"whenDeleted": "Delete", "whenScaled": "Delete"}
    async with running(client, lambda c, i, r: StatefulSetController(c, i, r, workers=2),
                       lambda c, i, r: GarbageCollector(c, i, r, workers=2)):
        await client.create(statefulset(replicas=2, podManagementPolicy="Parallel",
                                        persistentVolumeClaimRetentionPolicy=policy))
        for name in await names_are(client, ["web-0", "web-1"], "both pods"):
            await set_phase(client, name)

        async def owners(name: str) -> list[tuple[str, str]]:
            claim = await client.get(core_pb2.PersistentVolumeClaim, name, namespace="default")
            return [(r.kind, r.name) for r in claim.metadata.owner_references]

        assert await owners("data-web-1") == [("StatefulSet", "web")]  # whenDeleted: the set owns it
        assert not any(r.controller for r in (await client.get(
            core_pb2.PersistentVolumeClaim, "data-web-1", namespace="default")).metadata.owner_references)

        await client.patch(apps_pb2.StatefulSet, "web", {"spec": {"replicas": 1}}, namespace="default")

        async def web1_claim_gone() -> bool:
            await finish_deletes(client)
            try:
                await client.get(core_pb2.PersistentVolumeClaim, "data-web-1", namespace="default")
            except errors.NotFound:
                return True
            return False

        await eventually(web1_claim_gone, timeout=15, what="the scaled-away pod's claim deleted with it")
        assert await owners("data-web-0") == [("StatefulSet", "web")]

        await client.delete(apps_pb2.StatefulSet, "web", namespace="default")

        async def web0_claim_gone() -> bool:
            await finish_deletes(client)
            try:
                await client.get(core_pb2.PersistentVolumeClaim, "data-web-0", namespace="default")
            except errors.NotFound:
                return True
            return False

        await eventually(web0_claim_gone, timeout=15, what="the claims deleted with the StatefulSet")
