"""DeploymentController.sync(key) on hand-seeded stores, with a recording fake client.

The fake client applies writes to the informers' stores at once (as if the watch delivered them
instantly) and records every write; the ReplicaSet controller is played by hand (``rs_status``).
Wall time is a fake clock, so progress deadlines pass without sleeping.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.message import Message

from controllers.deployment import DeploymentController, util
from controllers.deployment.sync import proportional_sizes
from controllers.deployment.util import resolve_fenceposts
from controllers.informers import SharedInformers
from skiff.api import deployments, errors, ownership
from skiff.api.manifest import from_manifest
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import apps_pb2, core_pb2

# ---- fakes ----


@dataclass
class Write:
    verb: str
    kind: str
    name: str
    obj: Any = None


class FakeClient:
    """Writes go straight into the shared informers' stores; each is recorded."""

    def __init__(self, clock: FakeWallClock) -> None:
        self.clock = clock
        self.informers: SharedInformers | None = None
        self.writes: list[Write] = []
        self._rv = itertools.count(100)
        self._uid = itertools.count(1)

    def store(self, cls: type[Message]) -> Any:
        assert self.informers is not None
        return self.informers.get(cls).store

    def _key(self, obj: Any) -> str:
        return f"{obj.metadata.namespace}/{obj.metadata.name}"

    def _stamp(self, obj: Any) -> None:
        obj.metadata.resource_version = str(next(self._rv))

    async def get(self, cls: type[Message], name: str, *, namespace: str | None = None) -> Any:
        found = self.store(cls).get(f"{namespace or 'default'}/{name}")
        if found is None:
            raise errors.NotFound(f'"{name}" not found')
        return copy.deepcopy(found)

    async def create(self, obj: Any) -> Any:
        store = self.store(type(obj))
        if store.get(self._key(obj)) is not None:
            raise errors.AlreadyExists(f'"{obj.metadata.name}" already exists')
        new = copy.deepcopy(obj)
        new.metadata.uid = f"uid-{next(self._uid)}"
        new.metadata.generation = 1
        new.metadata.creation_timestamp = rfc3339(self.clock.tick())
        self._stamp(new)
        store.put(new)
        self.writes.append(Write("create", type(obj).__name__, obj.metadata.name, new))
        return copy.deepcopy(new)

    def _current(self, obj: Any) -> Any:
        stored = self.store(type(obj)).get(self._key(obj))
        if stored is None:
            raise errors.NotFound(f'"{obj.metadata.name}" not found')
        if obj.metadata.resource_version and obj.metadata.resource_version != stored.metadata.resource_version:
            raise errors.Conflict("the object has been modified; please apply your changes to the latest version")
        return stored

    async def update(self, obj: Any) -> Any:
        stored = self._current(obj)
        new = copy.deepcopy(obj)
        new.status.CopyFrom(stored.status)
        if new.spec != stored.spec:
            new.metadata.generation = stored.metadata.generation + 1
        self._stamp(new)
        self.store(type(obj)).put(new)
        self.writes.append(Write("update", type(obj).__name__, obj.metadata.name, new))
        return copy.deepcopy(new)

    async def update_status(self, obj: Any) -> Any:
        stored = self._current(obj)
        new = copy.deepcopy(stored)
        new.status.CopyFrom(obj.status)
        self._stamp(new)
        self.store(type(obj)).put(new)
        self.writes.append(Write("update_status", type(obj).__name__, obj.metadata.name, new))
        return copy.deepcopy(new)

    async def delete(self, cls: type[Message], name: str, *, namespace: str | None = None) -> None:
        removed = self.store(cls).remove(f"{namespace or 'default'}/{name}")
        if removed is None:
            raise errors.NotFound(f'"{name}" not found')
        self.writes.append(Write("delete", cls.__name__, name))


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: Any, event_type: str, reason: str, message: str) -> None:
        self.events.append((event_type, reason, message))


@dataclass
class FakeWallClock:
    moment: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.moment

    def tick(self) -> datetime:
        """Creation timestamps one second apart, so 'older' is well defined."""
        self.moment += timedelta(seconds=1)
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@dataclass
class Harness:
    controller: DeploymentController
    client: FakeClient
    recorder: FakeRecorder
    clock: FakeWallClock
    requeued: list[tuple[str, float]]

    def store(self, cls: type[Message]) -> Any:
        return self.client.store(cls)

    def deployment(self, name: str = "web") -> apps_pb2.Deployment:
        return self.store(apps_pb2.Deployment).get(f"default/{name}")

    def replica_sets(self) -> list[apps_pb2.ReplicaSet]:
        return util.by_creation(self.store(apps_pb2.ReplicaSet).list())

    def sizes(self) -> list[int]:
        return [rs.spec.replicas for rs in self.replica_sets()]

    def messages(self) -> list[str]:
        return [m for _, _, m in self.recorder.events]

    async def sync(self, name: str = "web") -> None:
        await self.controller.sync(f"default/{name}")

    async def add(self, obj: Any) -> Any:
        return await self.client.create(obj)

    def set_status(self, rs: apps_pb2.ReplicaSet, *, replicas: int, available: int, ready: int | None = None) -> None:
        """Play the ReplicaSet controller: its pods exist and are (un)available."""
        updated = copy.deepcopy(self.store(apps_pb2.ReplicaSet).get(f"default/{rs.metadata.name}"))
        updated.status.replicas = replicas
        updated.status.ready_replicas = available if ready is None else ready
        updated.status.available_replicas = available
        updated.status.observed_generation = updated.metadata.generation
        updated.metadata.resource_version = str(int(updated.metadata.resource_version) + 1)
        self.store(apps_pb2.ReplicaSet).put(updated)

    def converge_replica_sets(self) -> None:
        """Every ReplicaSet's pods exist and are available."""
        for rs in self.replica_sets():
            if rs.status.replicas != rs.spec.replicas or rs.status.available_replicas != rs.spec.replicas:
                self.set_status(rs, replicas=rs.spec.replicas, available=rs.spec.replicas)

    async def edit(self, change: Any, name: str = "web") -> apps_pb2.Deployment:
        d = copy.deepcopy(self.deployment(name))
        change(d)
        updated: apps_pb2.Deployment = await self.client.update(d)
        return updated


@pytest.fixture
def h() -> Harness:
    clock = FakeWallClock()
    client = FakeClient(clock)
    informers = SharedInformers(client)  # type: ignore[arg-type]
    client.informers = informers
    recorder = FakeRecorder()
    controller = DeploymentController(client, informers, recorder, workers=1, now=clock)  # type: ignore[arg-type]
    requeued: list[tuple[str, float]] = []
    controller.enqueue_after = lambda key, delay: requeued.append((key, delay))  # type: ignore[method-assign]
    return Harness(controller, client, recorder, clock, requeued)


def deployment(name: str = "web", *, replicas: int = 3, image: str = "nginx:1", surge: int | str = "25%",
               unavailable: int | str = "25%", strategy: str = "RollingUpdate", **spec: Any) -> apps_pb2.Deployment:
    doc: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}},
                 "strategy": {"type": strategy}, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                 **spec},
    }
    if strategy == "RollingUpdate":
        doc["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    obj = from_manifest(doc)
    assert isinstance(obj, apps_pb2.Deployment)
    return obj


def condition(d: apps_pb2.Deployment, type_: str) -> apps_pb2.DeploymentCondition:
    found = util.get_condition(d.status, type_)
    assert found is not None, f"no {type_} condition in {d.status}"
    return found


def set_image(image: str) -> Any:
    def change(d: apps_pb2.Deployment) -> None:
        d.spec.template.spec.containers[0].image = image
    return change


def set_replicas(n: int) -> Any:
    def change(d: apps_pb2.Deployment) -> None:
        d.spec.replicas = n
    return change


# ---- fenceposts, hashes, pure helpers ----

@pytest.mark.parametrize(("surge", "unavailable", "replicas", "expected"), [
    ("25%", "25%", 10, (3, 2)),   # surge rounds up (2.5 -> 3), unavailable down (2.5 -> 2)
    ("25%", "25%", 3, (1, 0)),    # 0.75 -> 1 and 0
    ("25%", "25%", 1, (1, 0)),    # 0.25 -> 1 and 0
    ("10%", "10%", 10, (1, 1)),
    ("10%", "10%", 3, (1, 0)),
    ("10%", "10%", 1, (1, 0)),
    ("50%", "50%", 3, (2, 1)),
    ("33%", "33%", 10, (4, 3)),
    ("0%", "25%", 1, (0, 1)),     # both resolve to 0: one may be unavailable
    ("0%", "25%", 3, (0, 1)),
    (0, "10%", 3, (0, 1)),
    (0, 0, 10, (0, 1)),           # 0/0 -> 1 unavailable
    (0, 0, 1, (0, 1)),
    (2, 1, 5, (2, 1)),
    ("100%", "0%", 3, (3, 0)),
    ("25%", "25%", 0, (0, 1)),
])
def test_resolve_fenceposts(surge: int | str, unavailable: int | str, replicas: int,
                            expected: tuple[int, int]) -> None:
    assert resolve_fenceposts(surge, unavailable, replicas) == expected


def test_max_unavailable_is_capped_and_zero_for_recreate_or_no_replicas() -> None:
    assert util.max_unavailable(deployment(replicas=0)) == 0
    assert util.max_unavailable(deployment(replicas=1, surge=0, unavailable=0)) == 1
    assert util.max_unavailable(deployment(strategy="Recreate")) == 0
    assert util.max_surge(deployment(strategy="Recreate")) == 0
    assert util.max_surge(deployment(replicas=10)) == 3


def test_round_half_away_from_zero_like_go() -> None:
    assert [util.round_half_away(v) for v in (0.5, 1.5, 2.5, -0.5, -2.5, 2.49)] == [1, 2, 3, -1, -3, 2]


def test_pod_template_hash_is_stable_safe_and_moves_with_collision_count() -> None:
    template = deployment().spec.template
    first = util.compute_hash(template, None)
    assert first == util.compute_hash(copy.deepcopy(template), None)
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(first) <= 10
    assert util.compute_hash(template, 1) != first
    assert util.compute_hash(deployment(image="nginx:2").spec.template, None) != first
    assert util.safe_encode("0123456789") == "456789bcdf"  # ord("0")=48 -> 48 % 27 = 21 -> "4"


# ---- creating the first ReplicaSet ----

async def test_new_deployment_creates_replica_set_named_by_hash(h: Harness) -> None:
    d = await h.add(deployment())
    await h.sync()
    [rs] = h.replica_sets()
    pod_hash = util.compute_hash(d.spec.template, None)
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.spec.replicas == 3
    assert rs.metadata.labels == {"app": "web", "pod-template-hash": pod_hash}
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": pod_hash}
    assert rs.spec.template.metadata.labels["pod-template-hash"] == pod_hash
    ref = rs.metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == (
        "Deployment", "web", d.metadata.uid, True, True)
    annotations = rs.metadata.annotations
    assert annotations[deployments.REVISION] == "1"
    assert (annotations[deployments.DESIRED_REPLICAS], annotations[deployments.MAX_REPLICAS]) == ("3", "4")
    assert h.messages() == [f"Scaled up replica set web-{pod_hash} from 0 to 3"]
    assert h.recorder.events[0][:2] == ("Normal", "ScalingReplicaSet")
    stored = h.deployment()
    assert stored.metadata.annotations[deployments.REVISION] == "1"
    progressing = condition(stored, "Progressing")
    assert (progressing.status, progressing.reason, progressing.message) == (
        "True", "NewReplicaSetCreated", f'Created new replica set "web-{pod_hash}"')
    available = condition(stored, "Available")
    assert (available.status, available.reason, available.message) == (
        "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    assert stored.status.observed_generation == stored.metadata.generation
    assert stored.status.unavailable_replicas == 3


async def test_change_cause_is_copied_and_last_applied_is_not(h: Harness) -> None:
    d = deployment()
    d.metadata.annotations["kubernetes.io/change-cause"] = "first"
    d.metadata.annotations[deployments.LAST_APPLIED] = "{}"
    await h.add(d)
    await h.sync()
    [rs] = h.replica_sets()
    assert rs.metadata.annotations["kubernetes.io/change-cause"] == "first"
    assert deployments.LAST_APPLIED not in rs.metadata.annotations


async def test_completed_rollout_reports_success(h: Harness) -> None:
    await h.add(deployment())
    await h.sync()
    h.converge_replica_sets()
    await h.sync()
    d = h.deployment()
    [rs] = h.replica_sets()
    assert (d.status.replicas, d.status.updated_replicas, d.status.ready_replicas, d.status.available_replicas,
            d.status.unavailable_replicas) == (3, 3, 3, 3, 0)
    assert not d.status.HasField("unavailable_replicas")  # omitted when zero, as Kubernetes' omitempty
    progressing = condition(d, "Progressing")
    assert (progressing.status, progressing.reason, progressing.message) == (
        "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs.metadata.name}" has successfully progressed.')
    assert condition(d, "Available").reason == "MinimumReplicasAvailable"
    assert condition(d, "Available").message == "Deployment has minimum availability."
    writes = len(h.client.writes)
    await h.sync()
    assert len(h.client.writes) == writes, "a settled deployment is not written again"


async def test_terminating_replicas_is_never_reported_as_in_kubernetes_1_32(h: Harness) -> None:
    await h.add(deployment())
    await h.sync()
    d = copy.deepcopy(h.deployment())
    d.status.terminating_replicas = 1
    h.store(apps_pb2.Deployment).put(d)
    h.converge_replica_sets()
    await h.sync()
    assert not h.deployment().status.HasField("terminating_replicas")
    assert h.deployment().status.available_replicas == 3


async def test_selecting_everything_only_warns(h: Harness) -> None:
    d = deployment()
    d.spec.selector.Clear()
    await h.add(d)
    await h.sync()
    assert h.replica_sets() == []
    assert h.recorder.events == [("Warning", "SelectingAll",
                                  "This deployment is selecting all pods. A non-empty selector is required.")]


# ---- rolling update ----

async def walk(h: Harness, *, max_total: int, min_available: int, steps: int = 30) -> int:
    """Let every ReplicaSet become available, sync, repeat until a sync writes nothing; check bounds."""
    for step in range(steps):
        h.converge_replica_sets()
        before = len(h.client.writes)
        await h.sync()
        total = sum(h.sizes())
        assert total <= max_total, f"step {step}: {h.sizes()} exceeds {max_total}"
        available = sum(rs.status.available_replicas for rs in h.replica_sets())
        assert available >= min_available, f"step {step}: only {available} available"
        if len(h.client.writes) == before:
            return step
    raise AssertionError("rollout did not settle")


async def test_rolling_update_walks_to_completion_within_surge_and_unavailability(h: Harness) -> None:
    await h.add(deployment(replicas=10))
    await walk(h, max_total=13, min_available=0)
    [old] = h.replica_sets()
    h.recorder.events.clear()
    await h.edit(set_image("nginx:2"))
    await h.sync()
    new = h.replica_sets()[1]
    assert new.metadata.annotations[deployments.REVISION] == "2"
    # surge: 25% of 10 rounds up to 3; unavailable rounds down to 2: 13 - 8 - 3 new unavailable = 2 may go
    assert h.sizes() == [8, 3]
    assert h.messages()[:2] == [f"Scaled up replica set {new.metadata.name} from 0 to 3",
                                f"Scaled down replica set {old.metadata.name} from 10 to 8"]
    await walk(h, max_total=13, min_available=8)
    assert h.sizes() == [0, 10]
    d = h.deployment()
    assert d.metadata.annotations[deployments.REVISION] == "2"
    assert (d.status.replicas, d.status.updated_replicas, d.status.available_replicas) == (10, 10, 10)
    assert condition(d, "Progressing").reason == "NewReplicaSetAvailable"
    assert condition(d, "Progressing").message == f'ReplicaSet "{new.metadata.name}" has successfully progressed.'


async def test_rolling_update_of_three_replicas_steps_one_at_a_time(h: Harness) -> None:
    await h.add(deployment(replicas=3))
    await walk(h, max_total=4, min_available=0)
    await h.edit(set_image("nginx:2"))
    await h.sync()
    assert h.sizes() == [3, 1]
    await h.sync()
    assert h.sizes() == [3, 1], "new pod not available yet: nothing may go (maxUnavailable rounds to 0)"
    new = h.replica_sets()[1]
    h.set_status(new, replicas=1, available=1)
    await h.sync()
    assert h.sizes() == [2, 1]
    d = h.deployment()
    progressing = condition(d, "Progressing")
    assert (progressing.reason, progressing.message) == (
        "ReplicaSetUpdated", f'ReplicaSet "{new.metadata.name}" is progressing.')


async def test_zero_surge_rolls_with_one_unavailable(h: Harness) -> None:
    await h.add(deployment(replicas=1, surge=0, unavailable="25%"))
    await walk(h, max_total=1, min_available=0)
    await h.edit(set_image("nginx:2"))
    await h.sync()
    assert h.sizes() == [0, 0], "0 surge, 25% of 1 -> 0: resolves to one unavailable, so the old pod goes first"
    await walk(h, max_total=1, min_available=0)
    assert h.sizes() == [0, 1]


async def test_unhealthy_old_replicas_are_scaled_away_first(h: Harness) -> None:
    await h.add(deployment(replicas=4, surge=0, unavailable=1))
    await walk(h, max_total=4, min_available=0)
    [old] = h.replica_sets()
    h.set_status(old, replicas=4, available=2)  # two old pods crash
    await h.edit(set_image("nginx:2"))
    await h.sync()
    # allPods 4 - minAvailable 3 - new unavailable 0 = 1 may go; it is an unhealthy one
    assert h.sizes() == [3, 0]
    assert f"Scaled down replica set {old.metadata.name} from 4 to 3" in h.messages()


# ---- proportional scaling ----

async def mid_rollout(h: Harness) -> tuple[apps_pb2.ReplicaSet, apps_pb2.ReplicaSet]:
    """Kubernetes' documented example: 10 replicas, maxSurge 3, maxUnavailable 2, new image stuck."""
    await h.add(deployment(replicas=10, surge=3, unavailable=2))
    await walk(h, max_total=13, min_available=0)
    await h.edit(set_image("nginx:does-not-exist"))
    for _ in range(4):
        await h.sync()
        old, new = h.replica_sets()
        h.set_status(old, replicas=old.spec.replicas, available=old.spec.replicas)
        h.set_status(new, replicas=new.spec.replicas, available=0)
    old, new = h.replica_sets()
    assert (old.spec.replicas, new.spec.replicas) == (8, 5)
    return old, new


async def test_scaling_up_mid_rollout_is_proportional(h: Harness) -> None:
    old, new = await mid_rollout(h)
    h.recorder.events.clear()
    await h.edit(set_replicas(15))
    await h.sync()
    old, new = h.replica_sets()
    # 18 allowed - 13 running = 5 more: 8*18/13 = 11.08 -> +3 to the old, the remaining 2 to the new
    assert (old.spec.replicas, new.spec.replicas) == (11, 7)
    assert h.messages() == [f"Scaled up replica set {old.metadata.name} from 8 to 11",
                            f"Scaled up replica set {new.metadata.name} from 5 to 7"]
    for rs in (old, new):
        annotations = rs.metadata.annotations
        assert (annotations[deployments.DESIRED_REPLICAS], annotations[deployments.MAX_REPLICAS]) == ("15", "18")


async def test_scaling_down_mid_rollout_is_proportional(h: Harness) -> None:
    await mid_rollout(h)
    await h.edit(set_replicas(15))
    await h.sync()
    h.recorder.events.clear()
    await h.edit(set_replicas(10))
    await h.sync()
    old, new = h.replica_sets()
    # 13 allowed - 18 running = -5: 11*13/18 = 7.94 -> -3 from the old, -2 from the new
    assert (old.spec.replicas, new.spec.replicas) == (8, 5)
    assert h.messages() == [f"Scaled down replica set {old.metadata.name} from 11 to 8",
                            f"Scaled down replica set {new.metadata.name} from 7 to 5"]


async def test_scaling_to_zero_mid_rollout_empties_every_replica_set(h: Harness) -> None:
    await mid_rollout(h)
    await h.edit(set_replicas(0))
    await h.sync()
    assert h.sizes() == [0, 0]


async def test_scaling_a_settled_deployment_resizes_its_only_replica_set(h: Harness) -> None:
    await h.add(deployment(replicas=3))
    await walk(h, max_total=4, min_available=0)
    h.recorder.events.clear()
    await h.edit(set_replicas(5))
    await h.sync()
    [rs] = h.replica_sets()
    assert rs.spec.replicas == 5
    assert rs.metadata.annotations[deployments.DESIRED_REPLICAS] == "5"
    assert h.messages() == [f"Scaled up replica set {rs.metadata.name} from 3 to 5"]


# ---- recreate ----

async def test_recreate_stops_old_pods_before_starting_new_ones(h: Harness) -> None:
    await h.add(deployment(replicas=2, strategy="Recreate"))
    await walk(h, max_total=2, min_available=0)
    [old] = h.replica_sets()
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace = "web-old-1", "default"
    pod.metadata.owner_references.add(kind="ReplicaSet", name=old.metadata.name, uid=old.metadata.uid,
                                      controller=True)
    pod.status.phase = "Running"
    await h.add(pod)
    h.recorder.events.clear()
    await h.edit(set_image("nginx:2"))
    await h.sync()
    assert h.sizes() == [0], "no new ReplicaSet while old ones scale down"
    assert h.messages() == [f"Scaled down replica set {old.metadata.name} from 2 to 0"]
    await h.sync()
    assert len(h.replica_sets()) == 1, "old replicas still reported"
    h.set_status(old, replicas=0, available=0)
    await h.sync()
    assert len(h.replica_sets()) == 1, "an old pod still runs"
    h.controller.queue.add("unrelated")  # the queue is not run here; the handler must enqueue the deployment
    await h.client.delete(core_pb2.Pod, "web-old-1", namespace="default")
    h.controller.delete_pod(pod)
    assert len(h.controller.queue) == 2
    await h.sync()
    old, new = h.replica_sets()
    assert (old.spec.replicas, new.spec.replicas) == (0, 2)
    assert h.messages()[-1] == f"Scaled up replica set {new.metadata.name} from 0 to 2"


async def test_recreate_ignores_finished_pods(h: Harness) -> None:
    await h.add(deployment(replicas=1, strategy="Recreate"))
    await walk(h, max_total=1, min_available=0)
    [old] = h.replica_sets()
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace = "done", "default"
    pod.metadata.owner_references.add(kind="ReplicaSet", name=old.metadata.name, uid=old.metadata.uid,
                                      controller=True)
    pod.status.phase = "Succeeded"
    await h.add(pod)
    await h.edit(set_image("nginx:2"))
    await h.sync()
    h.set_status(old, replicas=0, available=0)
    await h.sync()
    assert h.sizes() == [0, 1]


# ---- rollback ----

async def test_template_of_an_old_replica_set_reuses_it_as_the_newest_revision(h: Harness) -> None:
    await h.add(deployment(replicas=3))
    await walk(h, max_total=4, min_available=0)
    await h.edit(set_image("nginx:2"))
    await walk(h, max_total=4, min_available=2)
    await h.edit(set_image("nginx:3"))
    await walk(h, max_total=4, min_available=2)
    first, second, third = h.replica_sets()
    assert [util.revision(rs) for rs in (first, second, third)] == [1, 2, 3]
    await h.edit(set_image("nginx:1"))  # what `rollout undo --to-revision=1` writes
    await h.sync()
    assert len(h.replica_sets()) == 3, "no new ReplicaSet: the first one is reused"
    first = h.replica_sets()[0]
    assert first.metadata.annotations[deployments.REVISION] == "4"
    assert first.metadata.annotations[deployments.REVISION_HISTORY] == "1"
    assert h.deployment().metadata.annotations[deployments.REVISION] == "4"
    await walk(h, max_total=4, min_available=2)
    assert h.sizes() == [3, 0, 0]
    await h.edit(set_image("nginx:3"))
    await walk(h, max_total=4, min_available=2)
    third = h.replica_sets()[2]
    assert third.metadata.annotations[deployments.REVISION] == "5"
    assert third.metadata.annotations[deployments.REVISION_HISTORY] == "3"


def set_rollback_to(revision: str) -> Any:
    def change(d: apps_pb2.Deployment) -> None:
        d.metadata.annotations[deployments.DEPRECATED_ROLLBACK_TO] = revision
    return change


async def two_revisions(h: Harness) -> tuple[apps_pb2.ReplicaSet, apps_pb2.ReplicaSet]:
    first = deployment(replicas=2)
    first.metadata.annotations["kubernetes.io/change-cause"] = "first"
    await h.add(first)
    await walk(h, max_total=3, min_available=0)

    def second(d: apps_pb2.Deployment) -> None:
        d.spec.template.spec.containers[0].image = "nginx:2"
        d.metadata.annotations["kubernetes.io/change-cause"] = "second"

    await h.edit(second)
    await walk(h, max_total=3, min_available=1)
    one, two = h.replica_sets()
    return one, two


@pytest.mark.parametrize("revision", ["1", "0"])
async def test_deprecated_rollback_annotation_rolls_back_with_an_event(h: Harness, revision: str) -> None:
    one, _ = await two_revisions(h)
    h.recorder.events.clear()
    await h.edit(set_rollback_to(revision))
    await h.sync()
    d = h.deployment()
    assert deployments.DEPRECATED_ROLLBACK_TO not in d.metadata.annotations
    assert deployments.equal_ignoring_hash(d.spec.template, one.spec.template)
    assert d.metadata.annotations["kubernetes.io/change-cause"] == "first", "annotations come back from the RS"
    assert d.metadata.annotations[deployments.REVISION] == "2", "bookkeeping annotations stay"
    assert h.recorder.events == [("Normal", "DeploymentRollback", 'Rolled back deployment "web" to revision 1')]
    await walk(h, max_total=3, min_available=1)
    assert h.sizes() == [2, 0]
    assert h.replica_sets()[0].metadata.annotations[deployments.REVISION] == "3"


@pytest.mark.parametrize(("revision", "reason", "message"), [
    ("7", "DeploymentRollbackRevisionNotFound", "Unable to find the revision to rollback to."),
    ("2", "DeploymentRollbackTemplateUnchanged",
     'The rollback revision contains the same template as current deployment "web"'),
])
async def test_deprecated_rollback_annotation_that_cannot_apply_warns(h: Harness, revision: str, reason: str,
                                                                      message: str) -> None:
    await two_revisions(h)
    h.recorder.events.clear()
    template = h.deployment().spec.template
    await h.edit(set_rollback_to(revision))
    await h.sync()
    d = h.deployment()
    assert deployments.DEPRECATED_ROLLBACK_TO not in d.metadata.annotations
    assert d.spec.template == template
    assert h.recorder.events == [("Warning", reason, message)]


async def test_deprecated_rollback_to_the_previous_revision_without_one_warns(h: Harness) -> None:
    await h.add(deployment(replicas=1))
    await walk(h, max_total=2, min_available=0)
    h.recorder.events.clear()
    await h.edit(set_rollback_to("0"))
    await h.sync()
    assert deployments.DEPRECATED_ROLLBACK_TO not in h.deployment().metadata.annotations
    assert h.recorder.events == [("Warning", "DeploymentRollbackRevisionNotFound", "Unable to find last revision.")]


# ---- progress deadline ----

async def test_progress_deadline_exceeded_after_no_progress(h: Harness) -> None:
    await h.add(deployment(replicas=2, progressDeadlineSeconds=60))
    await h.sync()
    [rs] = h.replica_sets()
    h.set_status(rs, replicas=2, available=0)
    await h.sync()
    h.clock.advance(20)
    h.requeued.clear()
    await h.sync()
    assert h.requeued and h.requeued[-1][0] == "default/web"
    assert h.requeued[-1][1] == pytest.approx(41), "requeued a second after the deadline passes"
    assert condition(h.deployment(), "Progressing").reason != "ProgressDeadlineExceeded"
    h.clock.advance(41)
    await h.sync()
    progressing = condition(h.deployment(), "Progressing")
    assert (progressing.status, progressing.reason, progressing.message) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs.metadata.name}" has timed out progressing.')
    h.requeued.clear()
    await h.sync()
    assert h.requeued == [], "a timed-out rollout is not requeued"
    h.set_status(rs, replicas=2, available=2)
    await h.sync()
    progressing = condition(h.deployment(), "Progressing")
    assert (progressing.status, progressing.reason) == ("True", "NewReplicaSetAvailable")


async def test_progress_moves_the_deadline(h: Harness) -> None:
    await h.add(deployment(replicas=2, progressDeadlineSeconds=60))
    await h.sync()
    [rs] = h.replica_sets()
    h.clock.advance(50)
    h.set_status(rs, replicas=2, available=1)
    await h.sync()
    progressing = condition(h.deployment(), "Progressing")
    assert progressing.reason == "ReplicaSetUpdated"
    assert progressing.last_update_time == rfc3339(h.clock())
    h.clock.advance(50)
    await h.sync()
    assert condition(h.deployment(), "Progressing").reason == "ReplicaSetUpdated", "50s since the last progress"


async def test_no_progress_deadline_means_no_progressing_condition(h: Harness) -> None:
    d = deployment()
    d.spec.progress_deadline_seconds = util.MAX_INT32
    await h.add(d)
    await h.sync()
    h.converge_replica_sets()
    await h.sync()
    assert util.get_condition(h.deployment().status, "Progressing") is None
    assert condition(h.deployment(), "Available").status == "True"


# ---- paused ----

async def test_paused_deployment_scales_but_does_not_roll_out(h: Harness) -> None:
    await h.add(deployment(replicas=3))
    await walk(h, max_total=4, min_available=0)

    def pause_and_change(d: apps_pb2.Deployment) -> None:
        d.spec.paused = True
        d.spec.template.spec.containers[0].image = "nginx:2"
        d.spec.replicas = 4

    await h.edit(pause_and_change)
    await h.sync()
    assert h.sizes() == [4], "scaled, no new ReplicaSet"
    progressing = condition(h.deployment(), "Progressing")
    assert (progressing.status, progressing.reason, progressing.message) == (
        "Unknown", "DeploymentPaused", "Deployment is paused")

    def resume(d: apps_pb2.Deployment) -> None:
        d.spec.ClearField("paused")

    await h.edit(resume)
    await h.sync()
    assert len(h.replica_sets()) == 2, "resumed: the rollout starts"
    # the resume is recorded, then the new ReplicaSet's creation replaces it
    assert condition(h.deployment(), "Progressing").reason == "NewReplicaSetCreated"


# ---- history cleanup ----

async def test_old_replica_sets_beyond_the_history_limit_are_deleted(h: Harness) -> None:
    await h.add(deployment(replicas=1, revisionHistoryLimit=1))
    await walk(h, max_total=2, min_available=0)
    for image in ("nginx:2", "nginx:3", "nginx:4"):
        await h.edit(set_image(image))
        await walk(h, max_total=2, min_available=0)
    revisions = [util.revision(rs) for rs in h.replica_sets()]
    assert revisions == [3, 4], "one old ReplicaSet kept besides the new one"
    deleted = [w.name for w in h.client.writes if w.verb == "delete"]
    assert len(deleted) == 2


# ---- adoption, release, collisions ----

def orphan_of(d: apps_pb2.Deployment, namespace: str = "default") -> apps_pb2.ReplicaSet:
    """A ReplicaSet named web-orphan without owner that ``d``'s selector matches and that runs its template."""
    orphan = apps_pb2.ReplicaSet()
    orphan.metadata.name, orphan.metadata.namespace = "web-orphan", namespace
    orphan.metadata.labels["app"] = "web"
    orphan.spec.CopyFrom(apps_pb2.ReplicaSetSpec(replicas=2, selector=d.spec.selector, template=d.spec.template))
    return orphan


async def test_orphan_replica_set_is_adopted_and_a_stray_released(h: Harness) -> None:
    d = await h.add(deployment(replicas=2))
    orphan = orphan_of(d)
    stray = copy.deepcopy(orphan)
    stray.metadata.name = "web-stray"
    stray.metadata.labels["app"] = "other"
    stray.metadata.owner_references.append(ownership.controller_ref(d))
    await h.add(orphan)
    await h.add(stray)
    await h.sync()
    adopted = h.store(apps_pb2.ReplicaSet).get("default/web-orphan")
    ref = ownership.controller_of(adopted)
    assert ref is not None and ref.uid == d.metadata.uid
    assert list(h.store(apps_pb2.ReplicaSet).get("default/web-stray").metadata.owner_references) == []
    assert len(h.replica_sets()) == 2, "the adopted ReplicaSet runs the template: no new one"
    assert adopted.metadata.annotations[deployments.REVISION] == "1"


async def test_a_replica_set_of_another_namespace_is_neither_adopted_nor_enqueues(h: Harness) -> None:
    d = await h.add(deployment(replicas=2))
    elsewhere = await h.add(orphan_of(d, namespace="other"))
    h.controller.add_replica_set(elsewhere)  # an orphan the deployment's selector matches, but not its namespace
    assert len(h.controller.queue) == 0
    await h.sync()
    assert list(h.store(apps_pb2.ReplicaSet).get("other/web-orphan").metadata.owner_references) == []
    assert [rs.metadata.namespace for rs in h.replica_sets()].count("default") == 1, "a new one at home"


async def test_hash_collision_bumps_collision_count(h: Harness) -> None:
    d = deployment()
    taken = apps_pb2.ReplicaSet()
    taken.metadata.name = f"web-{util.compute_hash(d.spec.template, None)}"
    taken.metadata.namespace = "default"
    taken.metadata.labels["app"] = "someone-else"
    taken.spec.template.metadata.labels["app"] = "someone-else"
    await h.add(taken)
    await h.add(d)
    with pytest.raises(errors.AlreadyExists):
        await h.sync()
    assert h.deployment().status.collision_count == 1
    await h.sync()
    names = {rs.metadata.name for rs in h.replica_sets()}
    assert f"web-{util.compute_hash(d.spec.template, 1)}" in names


# ---- handlers ----

async def test_replica_set_events_enqueue_their_deployment(h: Harness) -> None:
    d = await h.add(deployment())
    other = await h.add(deployment("api"))
    rs = apps_pb2.ReplicaSet()
    rs.metadata.name, rs.metadata.namespace = "web-x", "default"
    rs.metadata.labels["app"] = "api"
    h.controller.add_replica_set(rs)  # orphan: the deployments that select it
    assert len(h.controller.queue) == 1
    key = await h.controller.queue.get()
    assert key == f"default/{other.metadata.name}"
    h.controller.queue.done(key)
    owned = copy.deepcopy(rs)
    owned.metadata.owner_references.append(ownership.controller_ref(d))
    h.controller.delete_replica_set(owned)
    key = await h.controller.queue.get()
    assert key == "default/web"


def sized(name: str, replicas: int, created: str, max_replicas: str | None = "4") -> apps_pb2.ReplicaSet:
    rs = apps_pb2.ReplicaSet()
    rs.metadata.name, rs.metadata.namespace, rs.metadata.creation_timestamp = name, "default", created
    rs.spec.replicas = replicas
    if max_replicas is not None:
        rs.metadata.annotations[deployments.MAX_REPLICAS] = max_replicas
    return rs


def test_proportional_ties_go_to_the_newer_up_and_the_older_down() -> None:
    older = sized("older", 2, "2026-01-01T00:00:01Z")
    newer = sized("newer", 2, "2026-01-01T00:00:02Z")
    up = deployment(replicas=5, surge=0, unavailable=1)
    _, sizes, operation = proportional_sizes(up, [older, newer])
    assert (sizes, operation) == ({"newer": 3, "older": 2}, "up")
    down = deployment(replicas=3, surge=0, unavailable=1)
    _, sizes, operation = proportional_sizes(down, [older, newer])
    assert (sizes, operation) == ({"older": 1, "newer": 2}, "down")


def test_fraction_without_max_replicas_annotation_uses_the_status_size() -> None:
    d = deployment(replicas=6, surge=0, unavailable=1)
    d.status.replicas = 4
    assert util.replica_set_fraction(sized("a", 2, "", max_replicas=None), d) == 1  # 2*6/4 = 3
    d.spec.replicas = 0
    assert util.replica_set_fraction(sized("a", 2, ""), d) == -2


async def test_failed_replica_set_creation_is_reported(h: Harness) -> None:
    await h.add(deployment())
    real_create = h.client.create

    async def refuse(obj: Any) -> Any:
        if isinstance(obj, apps_pb2.ReplicaSet):
            raise errors.Forbidden("exceeded quota")
        return await real_create(obj)

    h.client.create = refuse  # type: ignore[method-assign]
    with pytest.raises(errors.Forbidden):
        await h.sync()
    progressing = condition(h.deployment(), "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "ReplicaSetCreateError")
    assert progressing.message.startswith('Failed to create new replica set "web-')
    assert h.recorder.events[-1][:2] == ("Warning", "ReplicaSetCreateError")


async def test_replica_failure_of_the_new_replica_set_is_mirrored(h: Harness) -> None:
    await h.add(deployment(replicas=1))
    await h.sync()
    [rs] = h.replica_sets()
    failing = copy.deepcopy(rs)
    failing.status.conditions.add(type="ReplicaFailure", status="True", reason="FailedCreate",
                                  message='pods "web-x" is forbidden', last_transition_time="2026-01-01T00:00:09Z")
    h.store(apps_pb2.ReplicaSet).put(failing)
    await h.sync()
    failure = condition(h.deployment(), "ReplicaFailure")
    assert (failure.status, failure.reason, failure.last_update_time) == ("True", "FailedCreate",
                                                                          "2026-01-01T00:00:09Z")
    h.store(apps_pb2.ReplicaSet).put(rs)
    await h.sync()
    assert util.get_condition(h.deployment().status, "ReplicaFailure") is None


async def test_deployment_being_deleted_only_gets_its_status(h: Harness) -> None:
    await h.add(deployment())
    await h.sync()
    await h.edit(set_image("nginx:2"))
    d = copy.deepcopy(h.deployment())
    d.metadata.deletion_timestamp = "2026-01-01T00:01:00Z"
    h.store(apps_pb2.Deployment).put(d)
    await h.sync()
    assert len(h.replica_sets()) == 1, "no rollout while being deleted"
    assert h.deployment().status.observed_generation == d.metadata.generation
