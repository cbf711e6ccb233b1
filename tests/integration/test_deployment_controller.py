"""The Deployment controller against a real apiserver and etcd, with no ReplicaSet controller.

The test plays the ReplicaSet controller: whenever a ReplicaSet's status lags its spec, it writes
``replicas = ready = available = spec.replicas`` through UpdateStatus. That walks a rolling update
to completion through the real informers, watch and workqueue; the bounds of maxSurge and
maxUnavailable are checked at every ReplicaSet the test sees.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from controllers.deployment import DeploymentController, util
from controllers.informers import SharedInformers
from skiff.api import deployments, errors
from skiff.api.manifest import from_manifest
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.cli import rollout_history as rh
from skiff.cli.commands.rollout import deployment_status
from skiff.client.client import Client
from skiff.client.events import EventRecorder
from tests.support.cluster import eventually

REPLICAS = 4  # maxSurge 25% -> 1, maxUnavailable 25% -> 1


@contextlib.asynccontextmanager
async def controller_running(client: Client) -> AsyncIterator[DeploymentController]:
    informers = SharedInformers(client)
    recorder = EventRecorder(client, "deployment-controller")
    controller = DeploymentController(client, informers, recorder, workers=2)
    informers.start()
    recorder.start()
    await informers.wait_for_sync(10)
    task = asyncio.create_task(controller.run())
    try:
        yield controller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await recorder.stop()
        await informers.stop()


def web(image: str) -> apps_pb2.Deployment:
    obj = from_manifest({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}},
    })
    assert isinstance(obj, apps_pb2.Deployment)
    return obj


async def play_replica_set_controller(client: Client, seen: list[list[int]]) -> bool:
    """Bring every ReplicaSet's status to its spec; record the sizes and check the bounds."""
    listed = await client.list(apps_pb2.ReplicaSet, namespace="default")
    by_image = sorted(listed.items, key=lambda rs: rs.spec.template.spec.containers[0].image)
    sizes = [rs.spec.replicas for rs in by_image]
    seen.append(sizes)
    assert sum(sizes) <= REPLICAS + 1, f"maxSurge exceeded: {sizes}"
    changed = False
    for rs in listed.items:
        if rs.status.replicas == rs.spec.replicas and rs.status.available_replicas == rs.spec.replicas:
            continue
        rs.status.replicas = rs.status.ready_replicas = rs.status.available_replicas = rs.spec.replicas
        rs.status.observed_generation = rs.metadata.generation
        with contextlib.suppress(errors.Conflict):
            await client.update_status(rs)
            changed = True
    return changed


async def rolled_out(client: Client, image: str, seen: list[list[int]]) -> apps_pb2.Deployment:
    result: list[apps_pb2.Deployment] = []

    async def done() -> bool:
        await play_replica_set_controller(client, seen)
        d = await client.get(apps_pb2.Deployment, "web", namespace="default")
        result[:] = [d]
        st = d.status
        cond = util.get_condition(st, "Progressing")
        return (st.observed_generation == d.metadata.generation and st.updated_replicas == REPLICAS
                and st.replicas == REPLICAS and st.available_replicas == REPLICAS
                and d.spec.template.spec.containers[0].image == image
                and cond is not None and cond.reason == "NewReplicaSetAvailable")

    await eventually(done, timeout=20, what=f"the rollout of {image}")
    return result[0]


async def test_rolling_update_walks_to_completion(client: Client) -> None:
    seen: list[list[int]] = []
    async with controller_running(client) as controller:
        await client.create(web("nginx:1"))
        d = await rolled_out(client, "nginx:1", seen)
        assert d.metadata.annotations[deployments.REVISION] == "1"

        current = await client.get(apps_pb2.Deployment, "web", namespace="default")
        current.spec.template.spec.containers[0].image = "nginx:2"
        current.metadata.annotations["kubernetes.io/change-cause"] = "image 2"
        await client.update(current)
        d = await rolled_out(client, "nginx:2", seen)

        listed = await client.list(apps_pb2.ReplicaSet, namespace="default")
        by_image = {rs.spec.template.spec.containers[0].image: rs for rs in listed.items}
        old, new = by_image["nginx:1"], by_image["nginx:2"]
        assert (old.spec.replicas, new.spec.replicas) == (0, REPLICAS)
        pod_hash = new.metadata.labels["pod-template-hash"]
        assert new.metadata.name == f"web-{pod_hash}"
        assert new.spec.selector.match_labels["pod-template-hash"] == pod_hash
        assert new.metadata.annotations[deployments.REVISION] == "2"
        assert new.metadata.annotations["kubernetes.io/change-cause"] == "image 2"
        assert d.metadata.annotations[deployments.REVISION] == "2"
        assert util.get_condition(d.status, "Available").reason == "MinimumReplicasAvailable"  # type: ignore[union-attr]
        progressing = util.get_condition(d.status, "Progressing")
        assert progressing is not None
        assert progressing.message == f'ReplicaSet "{new.metadata.name}" has successfully progressed.'
        assert any(0 < s[0] < REPLICAS for s in seen if len(s) == 2), f"no intermediate step seen: {seen}"

        async def scaling_events() -> bool:
            events = await client.list(core_pb2.Event, namespace="default")
            messages = {e.message for e in events.items if e.reason == "ScalingReplicaSet"}
            return (f"Scaled up replica set {new.metadata.name} from 0 to 1" in messages
                    and any(m.startswith(f"Scaled down replica set {old.metadata.name} from ") for m in messages))

        await eventually(scaling_events, timeout=10, what="ScalingReplicaSet events")

        # settled: another sync of the same state writes nothing (status equality survives the wire)
        async def cache_current() -> bool:
            d = await client.get(apps_pb2.Deployment, "web", namespace="default")
            cached = controller.deployments.store.get("default/web")
            listed = await client.list(apps_pb2.ReplicaSet, namespace="default")
            rs_cached = {rs.metadata.resource_version for rs in controller.replica_sets.store.list()}
            return (cached is not None and cached.metadata.resource_version == d.metadata.resource_version
                    and rs_cached == {rs.metadata.resource_version for rs in listed.items})

        await eventually(cache_current, timeout=10, what="the informers to catch up")
        before = (await client.get(apps_pb2.Deployment, "web", namespace="default")).metadata.resource_version
        await controller.sync("default/web")
        after = (await client.get(apps_pb2.Deployment, "web", namespace="default")).metadata.resource_version
        assert after == before


async def test_undo_reuses_the_old_replica_set_as_the_newest_revision(client: Client) -> None:
    seen: list[list[int]] = []
    async with controller_running(client):
        await client.create(web("nginx:1"))
        await rolled_out(client, "nginx:1", seen)
        current = await client.get(apps_pb2.Deployment, "web", namespace="default")
        current.spec.template.spec.containers[0].image = "nginx:2"
        await client.update(current)
        await rolled_out(client, "nginx:2", seen)

        # what `skiffctl rollout undo deployment/web` does: copy revision 1's template back
        current = await client.get(apps_pb2.Deployment, "web", namespace="default")
        history = await rh.load_history(client, current)
        assert history.numbers() == [1, 2]
        rh.deployment_rollback(current, history.get(1))
        await client.update(current)
        d = await rolled_out(client, "nginx:1", seen)

        assert deployment_status(d).done
        assert d.metadata.annotations[deployments.REVISION] == "3"
        history = await rh.load_history(client, d)
        assert history.numbers() == [2, 3], "revision 1 became revision 3: no third ReplicaSet"
        assert history.get(3).template.spec.containers[0].image == "nginx:1"
        listed = await client.list(apps_pb2.ReplicaSet, namespace="default")
        assert len(listed.items) == 2
        reused = next(rs for rs in listed.items if rs.spec.replicas == REPLICAS)
        assert reused.metadata.annotations[deployments.REVISION_HISTORY] == "1"
