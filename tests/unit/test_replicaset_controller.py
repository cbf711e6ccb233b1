"""The ReplicaSet controller's sync(key) on seeded informer stores, against an in-memory client.

Nothing runs in the background: each test seeds the stores, calls ``sync`` and looks at what was
written. Time is a FakeClock (expectations, delayed requeues) and a fixed wall clock (pod
readiness for minReadySeconds, scale-down ranking).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from controllers.informers import SharedInformers
from controllers.pod_control import (
    EXPECTATIONS_TIMEOUT,
    POD_DELETION_COST,
    is_pod_available,
    rank_pods_for_deletion,
    slow_start_batch,
)
from controllers.replicaset import ReplicaSetController, _failure_reason
from skiff.api import errors
from skiff.api.manifest import to_manifest
from skiff.api.ownership import controller_ref
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.clock import FakeClock
from tests.unit.controller_fakes import NOW, FakeClient, FakeRecorder, deliver

WALL = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
KEY = "default/web"


def at(seconds_before_now: float) -> str:
    return datetime.fromtimestamp(WALL - seconds_before_now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_rs(replicas: int = 3, *, min_ready: int = 0, generation: int = 1,
            owner: apps_pb2.Deployment | None = None) -> apps_pb2.ReplicaSet:
    rs = apps_pb2.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    rs.metadata.name, rs.metadata.namespace, rs.metadata.uid = "web", "default", "rs-uid"
    rs.metadata.generation = generation
    rs.spec.replicas = replicas
    rs.spec.min_ready_seconds = min_ready
    rs.spec.selector.match_labels["app"] = "web"
    rs.spec.template.metadata.labels.update({"app": "web", "tier": "front"})
    rs.spec.template.spec.containers.add(name="app", image="nginx:1.27")
    if owner is not None:
        rs.metadata.owner_references.append(controller_ref(owner))
    return rs


def make_pod(name: str, *, owner: apps_pb2.ReplicaSet | None = None, labels: dict[str, str] | None = None,
             node: str = "n1", phase: str = "Running", ready_for: float | None = None, restarts: int = 0,
             age: float = 3600, deleting: bool = False, uid: str = "") -> core_pb2.Pod:
    pod = core_pb2.Pod(api_version="v1", kind="Pod")
    pod.metadata.name, pod.metadata.namespace = name, "default"
    pod.metadata.uid = uid or f"uid-{name}"
    pod.metadata.labels.update({"app": "web", "tier": "front"} if labels is None else labels)
    pod.metadata.creation_timestamp = at(age)
    if owner is not None:
        pod.metadata.owner_references.append(controller_ref(owner))
    if deleting:
        pod.metadata.deletion_timestamp = NOW
    pod.spec.node_name = node
    pod.status.phase = phase
    if ready_for is not None:
        pod.status.conditions.add(type="Ready", status="True", last_transition_time=at(ready_for))
    if restarts:
        pod.status.container_statuses.add(name="app", restart_count=restarts)
    return pod


class Harness:
    def __init__(self, *objects: Any) -> None:
        self.client = FakeClient()
        self.recorder = FakeRecorder()
        self.clock = FakeClock()
        self.informers = SharedInformers(cast(Any, self.client))
        self.ctl = ReplicaSetController(cast(Any, self.client), self.informers, cast(Any, self.recorder),
                                        clock=self.clock, wall_clock=lambda: WALL)
        for obj in objects:
            self.seed(obj)

    def seed(self, obj: Any) -> Any:
        self.client.put(obj)
        self.informers.get(type(obj)).store.put(obj)
        return obj

    def created(self) -> list[core_pb2.Pod]:
        return [c.detail for c in self.client.verbs("create")]

    def deleted(self) -> list[str]:
        return [c.name for c in self.client.verbs("delete")]

    def status(self) -> apps_pb2.ReplicaSetStatus:
        rs = self.client.stored(apps_pb2.ReplicaSet, "web")
        assert rs is not None
        return cast(apps_pb2.ReplicaSetStatus, rs.status)


async def test_creates_the_missing_pods_from_the_template_with_a_controller_reference() -> None:
    rs = make_rs(3)
    h = Harness(rs)
    await h.ctl.sync(KEY)
    pods = h.created()
    assert len(pods) == 3
    for pod in pods:
        assert pod.metadata.generate_name == "web-"
        assert dict(pod.metadata.labels) == {"app": "web", "tier": "front"}
        assert pod.spec.containers[0].image == "nginx:1.27"
        (ref,) = pod.metadata.owner_references
        assert (ref.kind, ref.api_version, ref.name, ref.uid) == ("ReplicaSet", "apps/v1", "web", "rs-uid")
        assert ref.controller and ref.block_owner_deletion
    assert h.recorder.reasons() == ["SuccessfulCreate"] * 3
    assert h.status().observed_generation == 1


async def test_slow_start_stops_at_the_first_batch_with_a_failure() -> None:
    h = Harness(make_rs(10))
    h.client.refuse_create = lambda n: errors.Forbidden("exceeded quota") if n == 3 else None
    with pytest.raises(errors.Forbidden):
        await h.ctl.sync(KEY)
    # batches 1, 2, 4: the fourth call fails, so the batch of 4 is the last one sent
    assert len(h.created()) == 1 + 2 + 4
    assert h.ctl.expectations.pending(KEY) == (6, 0)  # the created ones are still expected
    assert h.recorder.reasons().count("FailedCreate") == 1
    (cond,) = h.status().conditions
    assert (cond.type, cond.status, cond.reason) == ("ReplicaFailure", "True", "FailedCreate")
    assert "exceeded quota" in cond.message


async def test_a_refused_template_costs_one_request_and_the_condition_clears_once_creates_work() -> None:
    h = Harness(make_rs(5))
    h.client.refuse_create = lambda n: errors.Invalid("spec.containers: Required value")
    with pytest.raises(errors.Invalid):
        await h.ctl.sync(KEY)
    assert len(h.created()) == 1
    assert h.ctl.expectations.satisfied(KEY)  # nothing is coming: the next sync may try again
    h.client.refuse_create = lambda n: None
    h.informers.get(apps_pb2.ReplicaSet).store.put(h.client.stored(apps_pb2.ReplicaSet, "web"))
    await h.ctl.sync(KEY)
    assert len(h.created()) == 1 + 5
    assert list(h.status().conditions) == []


async def test_expectations_prevent_a_second_create_until_the_informer_shows_the_pods() -> None:
    h = Harness(make_rs(3))
    await h.ctl.sync(KEY)
    assert len(h.created()) == 3
    await h.ctl.sync(KEY)  # the informer has not shown the pods yet
    assert len(h.created()) == 3
    for pod in list(h.client.objects.values()):
        if isinstance(pod, core_pb2.Pod):
            deliver(h.informers.get(core_pb2.Pod), "ADDED", pod)
    assert h.ctl.expectations.satisfied(KEY)
    await h.ctl.sync(KEY)
    assert len(h.created()) == 3


async def test_lost_expectations_expire_after_five_minutes() -> None:
    h = Harness(make_rs(2))
    await h.ctl.sync(KEY)
    h.clock.advance(EXPECTATIONS_TIMEOUT - 1)
    await h.ctl.sync(KEY)
    assert len(h.created()) == 2
    h.clock.advance(2)
    await h.ctl.sync(KEY)
    assert len(h.created()) == 4


async def test_scale_down_deletes_the_least_valuable_pods_first() -> None:
    rs = make_rs(2)
    pods = [
        make_pod("ready-old", owner=rs, ready_for=7200, age=7200),
        make_pod("ready-restarts", owner=rs, ready_for=7200, age=7200, restarts=5),
        make_pod("not-ready", owner=rs),
        make_pod("pending", owner=rs, phase="Pending"),
        make_pod("unassigned", owner=rs, node="", phase="Pending"),
        make_pod("ready-new", owner=rs, ready_for=10, age=20),
    ]
    h = Harness(rs, *pods)
    await h.ctl.sync(KEY)
    assert h.deleted() == ["unassigned", "pending", "not-ready", "ready-new"]
    assert h.recorder.reasons() == ["SuccessfulDelete"] * 4
    assert h.ctl.expectations.pending(KEY) == (0, 4)
    for name in h.deleted():
        deliver(h.informers.get(core_pb2.Pod), "DELETED", next(p for p in pods if p.metadata.name == name))
    assert h.ctl.expectations.satisfied(KEY)


async def test_a_failed_delete_is_an_event_and_an_unable_to_delete_pods_condition() -> None:
    rs = make_rs(1)
    h = Harness(rs, make_pod("a", owner=rs, ready_for=100), make_pod("b", owner=rs))
    real_delete = h.client.delete

    async def refuse(cls: Any, name: str, **kw: Any) -> Any:
        if cls is core_pb2.Pod:
            raise errors.InternalError("etcd is down")
        return await real_delete(cls, name, **kw)

    h.client.delete = refuse  # type: ignore[method-assign]
    with pytest.raises(errors.InternalError, match="unable to delete pods: etcd is down"):
        await h.ctl.sync(KEY)
    assert h.recorder.events == [(KEY, "Warning", "FailedDelete", "Error deleting: etcd is down")]
    (cond,) = h.status().conditions
    assert (cond.type, cond.status, cond.reason, cond.message) == (
        "ReplicaFailure", "True", "FailedDelete", "unable to delete pods: etcd is down")
    assert h.ctl.expectations.satisfied(KEY), "a delete that failed is not waited for"


async def test_a_terminating_namespace_refuses_pods_without_a_failed_create_event() -> None:
    h = Harness(make_rs(2))
    h.client.refuse_create = lambda n: errors.Forbidden(
        'pods "web-" is forbidden: unable to create new content in namespace default because it is being terminated')
    await h.ctl.sync(KEY)
    assert h.recorder.events == []
    assert list(h.status().conditions) == []


def test_replica_failure_reason_follows_the_pod_count_and_is_empty_when_it_was_right() -> None:
    # Kubernetes' calculateStatus: too few pods FailedCreate, too many FailedDelete, else no reason
    assert [_failure_reason(d) for d in (-1, 2, 0)] == ["FailedCreate", "FailedDelete", ""]


def test_ranking_orders_by_every_criterion_in_kubernetes_order() -> None:
    a = make_pod("cheap", ready_for=100)
    a.metadata.annotations[POD_DELETION_COST] = "-10"
    b = make_pod("restarts", ready_for=5000, restarts=3, age=5000)
    c = make_pod("steady", ready_for=5000, age=5000)
    d = make_pod("doubled", ready_for=5000, age=5000, node="n2")
    related = [d, make_pod("sibling", node="n2")]  # n2 holds two related pods: d goes before b and c
    ranked = rank_pods_for_deletion([c, b, d, a], related, WALL)
    assert [p.metadata.name for p in ranked] == ["cheap", "doubled", "restarts", "steady"]


async def test_orphans_that_match_are_adopted_and_owned_pods_that_stop_matching_are_released() -> None:
    rs = make_rs(2)
    orphan = make_pod("orphan")
    leaving = make_pod("leaving", owner=rs, labels={"app": "other"})
    kept = make_pod("kept", owner=rs)
    terminating_orphan = make_pod("terminating", deleting=True)
    h = Harness(rs, orphan, leaving, kept, terminating_orphan)
    await h.ctl.sync(KEY)
    patched = {c.name: c.detail for c in h.client.verbs("patch")}
    assert set(patched) == {"orphan", "leaving"}
    adopted = h.client.stored(core_pb2.Pod, "orphan")
    assert [r.uid for r in adopted.metadata.owner_references] == ["rs-uid"]
    assert adopted.metadata.owner_references[0].controller
    assert list(h.client.stored(core_pb2.Pod, "leaving").metadata.owner_references) == []
    assert h.created() == [] and h.deleted() == []  # orphan + kept make the two replicas
    assert h.status().replicas == 2


async def test_no_adoption_when_a_fresh_read_shows_a_different_replicaset() -> None:
    rs = make_rs(1)
    h = Harness(rs, make_pod("orphan"))
    replaced = make_rs(1)
    replaced.metadata.uid = "another-uid"
    h.client.put(replaced)
    with pytest.raises(errors.Conflict):
        await h.ctl.sync(KEY)
    assert h.client.verbs("patch") == [] and h.created() == []


async def test_pods_owned_by_another_controller_are_left_alone() -> None:
    other = make_rs(1)
    other.metadata.name, other.metadata.uid = "other", "other-uid"
    h = Harness(make_rs(1), make_pod("theirs", owner=other))
    await h.ctl.sync(KEY)
    assert h.client.verbs("patch") == []
    assert len(h.created()) == 1


def test_a_pod_is_available_only_once_min_ready_seconds_have_passed() -> None:
    # podutil.IsPodAvailable: lastTransitionTime + minReadySeconds strictly before now
    assert not is_pod_available(make_pod("p", ready_for=30), 30, WALL)
    assert is_pod_available(make_pod("p", ready_for=31), 30, WALL)
    assert is_pod_available(make_pod("p", ready_for=0), 0, WALL)


async def test_status_counts_labels_readiness_and_availability() -> None:
    rs = make_rs(4, min_ready=30, generation=7)
    pods = [
        make_pod("available", owner=rs, ready_for=60),
        make_pod("just-ready", owner=rs, ready_for=10),
        make_pod("not-ready", owner=rs),
        make_pod("partly-labeled", owner=rs, labels={"app": "web"}, ready_for=60),
        make_pod("finished", owner=rs, phase="Succeeded"),
    ]
    h = Harness(rs, *pods)
    await h.ctl.sync(KEY)
    status = h.status()
    assert (status.replicas, status.fully_labeled_replicas, status.ready_replicas, status.available_replicas) == (
        4, 3, 3, 2)
    assert status.observed_generation == 7
    assert h.created() == [] and h.deleted() == []


async def test_zero_counts_are_absent_as_kubernetes_omits_them_but_replicas_stays() -> None:
    rs = make_rs(0)
    h = Harness(rs)
    await h.ctl.sync(KEY)
    rs = h.client.stored(apps_pb2.ReplicaSet, "web")
    assert rs is not None and to_manifest(rs)["status"] == {"replicas": 0, "observedGeneration": 1}


async def test_all_ready_but_not_yet_available_looks_again_after_min_ready_seconds() -> None:
    rs = make_rs(1, min_ready=30)
    h = Harness(rs, make_pod("p", owner=rs, ready_for=5))
    await h.ctl.sync(KEY)
    assert h.ctl.queue.delayed() == 1 and len(h.ctl.queue) == 0
    h.clock.advance(30)
    assert len(h.ctl.queue) == 1


async def test_terminating_replicas_is_never_reported_as_in_kubernetes_1_32() -> None:
    rs = make_rs(1)
    rs.status.terminating_replicas = 2
    h = Harness(rs, make_pod("a", owner=rs, ready_for=60), make_pod("gone", owner=rs, ready_for=60, deleting=True))
    await h.ctl.sync(KEY)
    assert not h.status().HasField("terminating_replicas")
    assert h.status().replicas == 1


async def test_an_unchanged_status_is_not_written_again() -> None:
    rs = make_rs(1)
    h = Harness(rs, make_pod("p", owner=rs, ready_for=60))
    await h.ctl.sync(KEY)
    assert len(h.client.verbs("update_status")) == 1
    h.informers.get(apps_pb2.ReplicaSet).store.put(h.client.stored(apps_pb2.ReplicaSet, "web"))
    await h.ctl.sync(KEY)
    assert len(h.client.verbs("update_status")) == 1


async def test_a_replicaset_being_deleted_neither_creates_nor_adopts() -> None:
    rs = make_rs(3)
    rs.metadata.deletion_timestamp = NOW
    h = Harness(rs, make_pod("orphan"))
    await h.ctl.sync(KEY)
    assert h.created() == [] and h.client.verbs("patch") == []


async def test_a_deleted_replicaset_forgets_its_expectations() -> None:
    h = Harness(make_rs(2))
    await h.ctl.sync(KEY)
    assert not h.ctl.expectations.satisfied(KEY)
    rs = h.informers.get(apps_pb2.ReplicaSet).store.get(KEY)
    deliver(h.informers.get(apps_pb2.ReplicaSet), "DELETED", rs)
    assert h.ctl.expectations.satisfied(KEY)
    writes = len(h.client.calls)
    await h.ctl.sync(KEY)
    assert len(h.client.calls) == writes


async def test_handlers_enqueue_the_owner_or_the_matching_replicasets() -> None:
    rs = make_rs(1)
    h = Harness(rs)
    pods = h.informers.get(core_pb2.Pod)
    deliver(pods, "ADDED", make_pod("orphan"))
    deliver(pods, "ADDED", make_pod("unrelated", labels={"app": "db"}))
    assert len(h.ctl.queue) == 1 and await h.ctl.queue.get() == KEY
    h.ctl.queue.done(KEY)
    relabeled = make_pod("unrelated", labels={"app": "web"})
    relabeled.metadata.resource_version = "999"
    deliver(pods, "MODIFIED", relabeled)
    assert len(h.ctl.queue) == 1


async def test_slow_start_batch_sizes() -> None:
    sizes: list[int] = []
    in_flight = 0

    async def call() -> None:
        nonlocal in_flight
        in_flight += 1
        sizes.append(in_flight)
        await asyncio.sleep(0)
        in_flight -= 1

    created, error = await slow_start_batch(12, 1, call)
    assert (created, error) == (12, None)
    assert max(sizes) == 5  # 1, 2, 4, then the remaining 5

