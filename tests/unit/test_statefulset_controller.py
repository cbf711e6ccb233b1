"""The StatefulSet controller's details: pod identity and storage, and sync(key) on seeded stores.

Covered: :mod:`controllers.statefulset.pods` (ordinal and parent name, the pod made for an
ordinal — name, hostname, subdomain, labels, revision label, claim volumes, controller reference
—, identity and storage checks, the claims, ``spec.ordinals.start``) and the controller's sync
against an in-memory client: the first revision and the ordered creation of pods and their
claims (OrderedReady) or all at once (Parallel), failed pods replaced under the same name, scale
down from the highest ordinal, the rolling update (partition, completion) and OnDelete, the
status counts and their omitempty, identity drift fixed in place, the revision history
(renumbering, revisionHistoryLimit), and a StatefulSet being deleted.

Nothing runs in the background: each test seeds the informer stores (StatefulSets, pods,
ControllerRevisions, PersistentVolumeClaims), calls ``sync`` and looks at what was written;
:meth:`Harness.refresh` plays the informers catching up with the server's objects between syncs.
Time is a FakeClock and a fixed wall clock (readiness against minReadySeconds).

Tests marked ``xfail(strict=True)`` pin down where the controller differs from Kubernetes 1.32.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from controllers.history import REVISION_HASH_LABEL, revision_data, revision_hash
from controllers.informers import SharedInformers
from controllers.statefulset import pods as sp
from controllers.statefulset.controller import StatefulSetController
from skiff.api import codec, errors
from skiff.api.manifest import to_manifest
from skiff.api.ownership import controller_ref
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.clock import FakeClock
from tests.unit.controller_fakes import NOW, FakeClient, FakeRecorder, deliver

WALL = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
KEY = "default/web"
KINDS: tuple[type[Any], ...] = (apps_pb2.StatefulSet, core_pb2.Pod, apps_pb2.ControllerRevision,
                                core_pb2.PersistentVolumeClaim)


def at(seconds_before_now: float) -> str:
    return datetime.fromtimestamp(WALL - seconds_before_now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- objects ----


def make_sts(replicas: int = 3, *, image: str = "nginx:1", policy: str = "", strategy: str = "RollingUpdate",
             partition: int | None = 0, min_ready: int = 0, generation: int = 1, history_limit: int | None = None,
             start: int | None = None, claims: bool = True) -> apps_pb2.StatefulSet:
    sts = apps_pb2.StatefulSet(api_version="apps/v1", kind="StatefulSet")
    sts.metadata.name, sts.metadata.namespace, sts.metadata.uid = "web", "default", "sts-uid"
    sts.metadata.generation = generation
    sts.spec.replicas = replicas
    sts.spec.service_name = "nginx"
    sts.spec.min_ready_seconds = min_ready
    if policy:
        sts.spec.pod_management_policy = policy
    sts.spec.update_strategy.type = strategy
    if partition is not None and strategy == "RollingUpdate":
        sts.spec.update_strategy.rolling_update.partition = partition
    if history_limit is not None:
        sts.spec.revision_history_limit = history_limit
    if start is not None:
        sts.spec.ordinals.start = start
    sts.spec.selector.match_labels["app"] = "web"
    sts.spec.template.metadata.labels["app"] = "web"
    sts.spec.template.spec.containers.add(name="app", image=image)
    if claims:
        sts.spec.template.spec.volumes.add(name="data").empty_dir.SetInParent()  # replaced by the claim
        sts.spec.template.spec.volumes.add(name="scratch").empty_dir.SetInParent()
        claim = sts.spec.volume_claim_templates.add()
        claim.metadata.name = "data"
        claim.metadata.labels["tier"] = "db"
        claim.spec.access_modes.append("ReadWriteOnce")
        claim.spec.resources.requests["storage"] = "1Gi"
    return sts


def make_revision(sts: apps_pb2.StatefulSet, number: int) -> apps_pb2.ControllerRevision:
    """The ControllerRevision of ``sts``'s template, as :mod:`controllers.history` makes it."""
    hash_ = revision_hash(sts)
    revision = codec.from_dict(apps_pb2.ControllerRevision, {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": f"web-{hash_}", "namespace": "default",
                     "labels": {"app": "web", REVISION_HASH_LABEL: hash_}},
        "data": revision_data(sts), "revision": number})
    revision.metadata.owner_references.append(controller_ref(sts))
    return cast(apps_pb2.ControllerRevision, revision)


def make_pod(sts: apps_pb2.StatefulSet, index: int, revision: apps_pb2.ControllerRevision, *,
             phase: str = "Running", ready: bool = True, ready_for: float = 3600,
             deleting: bool = False) -> core_pb2.Pod:
    """Pod ``index`` of ``sts`` (whose template is the revision's) as the kubelet reports it."""
    pod = sp.new_pod(sts, revision.metadata.name, index)
    pod.metadata.uid = f"uid-{pod.metadata.name}"
    pod.metadata.creation_timestamp = at(7200)
    if deleting:
        pod.metadata.deletion_timestamp = NOW
    pod.status.phase = phase
    if ready:
        pod.status.conditions.add(type="Ready", status="True", last_transition_time=at(ready_for))
    return pod


def settled(sts: apps_pb2.StatefulSet, count: int | None = None) -> tuple[apps_pb2.ControllerRevision,
                                                                           list[core_pb2.Pod]]:
    """Revision 1 of ``sts``, recorded as current and update revision, and ``count`` healthy pods at it."""
    revision = make_revision(sts, 1)
    sts.status.current_revision = sts.status.update_revision = revision.metadata.name
    pods = [make_pod(sts, sp.start_ordinal(sts) + i, revision)
            for i in range(sts.spec.replicas if count is None else count)]
    return revision, pods


def changed(sts: apps_pb2.StatefulSet, image: str) -> apps_pb2.StatefulSet:
    """``sts`` with another image in its template (and the next generation)."""
    new = apps_pb2.StatefulSet()
    new.CopyFrom(sts)
    new.spec.template.spec.containers[0].image = image
    new.metadata.generation = sts.metadata.generation + 1
    return new


# ---- harness ----


class Harness:
    def __init__(self, *objects: Any) -> None:
        self.client = FakeClient()
        self.recorder = FakeRecorder()
        self.clock = FakeClock()
        self.informers = SharedInformers(cast(Any, self.client))
        self.ctl = StatefulSetController(cast(Any, self.client), self.informers, cast(Any, self.recorder),
                                         clock=self.clock, wall_clock=lambda: WALL)
        for obj in objects:
            self.seed(obj)

    def seed(self, obj: Any) -> Any:
        self.client.put(obj)
        self.informers.get(type(obj)).store.put(obj)
        return obj

    async def sync(self) -> None:
        await self.ctl.sync(KEY)

    def refresh(self) -> None:
        """The informers catch up with the server; a new pod is Pending (the apiserver's default)."""
        for kind in KINDS:
            store = self.informers.get(kind).store
            for key in store.keys():
                store.remove(key)
        for obj in list(self.client.objects.values()):
            if isinstance(obj, core_pb2.Pod) and not obj.status.phase:
                obj.status.phase = "Pending"
            if isinstance(obj, KINDS):
                self.informers.get(type(obj)).store.put(obj)

    def set_pod(self, name: str, phase: str = "Running", ready: bool = True, ready_for: float = 3600) -> None:
        pod = self.client.stored(core_pb2.Pod, name)
        assert pod is not None, name
        pod.status.phase = phase
        del pod.status.conditions[:]
        if ready:
            pod.status.conditions.add(type="Ready", status="True", last_transition_time=at(ready_for))
        self.client.put(pod)
        self.refresh()

    def remove(self, cls: type[Any], name: str) -> None:
        """The object is gone from the server (a pod's graceful deletion finished)."""
        self.client.objects = {k: v for k, v in self.client.objects.items()
                               if not (isinstance(v, cls) and v.metadata.name == name)}
        self.refresh()

    def mark(self) -> int:
        return len(self.client.calls)

    def created(self, kind: str, since: int = 0) -> list[Any]:
        return [c.detail for c in self.client.calls[since:] if c.verb == "create" and c.kind == kind]

    def created_names(self, kind: str, since: int = 0) -> list[str]:
        return [o.metadata.name for o in self.created(kind, since)]

    def deleted(self, kind: str = "Pod", since: int = 0) -> list[str]:
        return [c.name for c in self.client.calls[since:] if c.verb == "delete" and c.kind == kind]

    def updated(self, kind: str, since: int = 0) -> list[Any]:
        return [c.detail for c in self.client.calls[since:] if c.verb == "update" and c.kind == kind]

    def sts(self) -> apps_pb2.StatefulSet:
        sts = self.client.stored(apps_pb2.StatefulSet, "web")
        assert sts is not None
        return cast(apps_pb2.StatefulSet, sts)

    def status(self) -> apps_pb2.StatefulSetStatus:
        return self.sts().status

    def pod(self, name: str) -> core_pb2.Pod:
        pod = self.client.stored(core_pb2.Pod, name)
        assert pod is not None, name
        return cast(core_pb2.Pod, pod)


# ---- pods.py ----


def named(name: str) -> core_pb2.Pod:
    pod = core_pb2.Pod()
    pod.metadata.name = name
    return pod


@pytest.mark.parametrize(("name", "index", "parent"), [
    ("web-12", 12, "web"), ("web-0", 0, "web"), ("my-web-3", 3, "my-web"), ("web", -1, ""), ("web-", -1, ""),
    ("web-x1", -1, ""),
])
def test_ordinal_and_parent_name_come_from_the_last_dash(name: str, index: int, parent: str) -> None:
    assert sp.ordinal(named(name)) == index
    assert sp.parent_name(named(name)) == parent


def test_new_pod_has_the_stable_identity_storage_and_revision() -> None:
    sts = make_sts()
    pod = sp.new_pod(sts, "web-abc", 2)
    assert (pod.metadata.name, pod.metadata.namespace, pod.metadata.generate_name) == ("web-2", "default", "")
    assert (pod.spec.hostname, pod.spec.subdomain) == ("web-2", "nginx")
    assert dict(pod.metadata.labels) == {"app": "web", sp.POD_NAME_LABEL: "web-2", sp.POD_INDEX_LABEL: "2",
                                         REVISION_HASH_LABEL: "web-abc"}
    volumes = {v.name: v for v in pod.spec.volumes}
    assert [v.name for v in pod.spec.volumes] == ["data", "scratch"]  # claims first, the others kept
    assert volumes["data"].persistent_volume_claim.claim_name == "data-web-2"
    assert not volumes["data"].HasField("empty_dir"), "the claim replaces the template's volume of that name"
    assert volumes["scratch"].HasField("empty_dir")
    (ref,) = pod.metadata.owner_references
    assert (ref.kind, ref.api_version, ref.name, ref.uid) == ("StatefulSet", "apps/v1", "web", "sts-uid")
    assert ref.controller and ref.block_owner_deletion
    assert pod.spec.containers[0].image == "nginx:1"
    assert sts.spec.template.spec.volumes[0].HasField("empty_dir"), "the set's template is left alone"


def test_new_pod_without_a_service_name_has_no_subdomain() -> None:
    sts = make_sts()
    sts.ClearField("spec")
    sts.spec.replicas = 1
    pod = sp.new_pod(sts, "r", 0)
    assert (pod.spec.hostname, pod.spec.subdomain) == ("web-0", "")


def test_ordinals_start_shifts_names_and_range() -> None:
    sts = make_sts(2, start=5)
    assert (sp.start_ordinal(sts), sp.end_ordinal(sts)) == (5, 6)
    pod = sp.new_pod(sts, "r", 5)
    assert (pod.metadata.name, pod.metadata.labels[sp.POD_INDEX_LABEL]) == ("web-5", "5")
    assert pod.spec.volumes[0].persistent_volume_claim.claim_name == "data-web-5"
    assert [sp.in_range(sts, named(f"web-{i}")) for i in (4, 5, 6, 7)] == [False, True, True, False]


def test_identity_matches_and_each_way_it_can_fail() -> None:
    sts = make_sts()
    good = sp.new_pod(sts, "r", 1)
    assert sp.identity_matches(sts, good)

    def broken(change: Any) -> bool:
        pod = core_pb2.Pod()
        pod.CopyFrom(good)
        change(pod)
        return sp.identity_matches(sts, pod)

    assert not broken(lambda p: p.metadata.labels.__setitem__(sp.POD_NAME_LABEL, "web-9"))
    assert not broken(lambda p: p.metadata.labels.__delitem__(sp.POD_NAME_LABEL))
    assert not broken(lambda p: setattr(p.metadata, "namespace", "other"))
    assert not broken(lambda p: setattr(p.metadata, "name", "db-1"))
    assert not broken(lambda p: setattr(p.metadata, "name", "web"))
    other = make_sts()
    other.metadata.name = "db"
    assert not sp.identity_matches(other, good)


def test_storage_matches_needs_every_claim_volume_pointing_at_the_pods_own_claim() -> None:
    sts = make_sts()
    pod = sp.new_pod(sts, "r", 1)
    assert sp.storage_matches(sts, pod)
    pod.spec.volumes[0].persistent_volume_claim.claim_name = "data-web-0"
    assert not sp.storage_matches(sts, pod)
    del pod.spec.volumes[0]
    assert not sp.storage_matches(sts, pod)
    assert sp.storage_matches(make_sts(claims=False), pod), "no claim templates: nothing to match"


def test_new_claims_come_from_the_templates_with_the_selector_labels() -> None:
    sts = make_sts()
    sts.spec.selector.match_labels["role"] = "primary"
    (claim,) = sp.new_claims(sts, named("web-4"))
    assert (claim.api_version, claim.kind) == ("v1", "PersistentVolumeClaim")
    assert (claim.metadata.name, claim.metadata.namespace) == ("data-web-4", "default")
    assert dict(claim.metadata.labels) == {"tier": "db", "app": "web", "role": "primary"}
    assert list(claim.spec.access_modes) == ["ReadWriteOnce"]
    assert claim.spec.resources.requests["storage"] == "1Gi"
    assert sts.spec.volume_claim_templates[0].metadata.name == "data", "the template is left alone"
    assert sp.new_claims(make_sts(claims=False), named("web-4")) == []


def test_health_needs_running_ready_and_not_terminating() -> None:
    sts = make_sts()
    revision = make_revision(sts, 1)
    assert sp.is_healthy(make_pod(sts, 0, revision))
    assert not sp.is_healthy(make_pod(sts, 0, revision, deleting=True))
    assert not sp.is_healthy(make_pod(sts, 0, revision, ready=False))
    assert not sp.is_healthy(make_pod(sts, 0, revision, phase="Pending"))
    assert not sp.is_created(sp.new_pod(sts, "r", 0))
    assert sp.is_running_and_available(make_pod(sts, 0, revision, ready_for=31), 30, WALL)
    assert not sp.is_running_and_available(make_pod(sts, 0, revision, ready_for=30), 30, WALL)


# ---- creation ----


async def test_a_new_set_gets_revision_1_then_the_claim_and_only_its_first_pod() -> None:
    h = Harness(make_sts(3))
    await h.sync()
    assert [c.kind for c in h.client.verbs("create")] == ["ControllerRevision", "PersistentVolumeClaim", "Pod"]
    (revision,) = h.created("ControllerRevision")
    assert revision.revision == 1
    assert revision.metadata.name == f"web-{revision.metadata.labels[REVISION_HASH_LABEL]}"
    assert revision.metadata.owner_references[0].uid == "sts-uid"
    assert h.created_names("PersistentVolumeClaim") == ["data-web-0"]
    (pod,) = h.created("Pod")
    assert pod.metadata.name == "web-0"
    assert pod.metadata.labels[REVISION_HASH_LABEL] == revision.metadata.name
    assert h.recorder.events == [
        (KEY, "Normal", "SuccessfulCreate", "create Claim data-web-0 Pod web-0 in StatefulSet web success"),
        (KEY, "Normal", "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful"),
    ]
    status = h.status()
    assert (status.current_revision, status.update_revision) == (revision.metadata.name, revision.metadata.name)
    assert status.replicas == 0, "a pod created in this sync is not counted yet"


async def test_ordered_ready_waits_for_each_pod_to_be_running_and_ready() -> None:
    h = Harness(make_sts(3))
    await h.sync()
    h.refresh()  # web-0 is Pending
    mark = h.mark()
    await h.sync()
    assert h.created("Pod", mark) == [] and h.created("PersistentVolumeClaim", mark) == []
    assert h.created("ControllerRevision", mark) == [], "the revision is found again"
    h.set_pod("web-0", "Running", ready=False)
    await h.sync()
    assert h.created("Pod", mark) == []
    h.set_pod("web-0", "Running", ready=True)
    await h.sync()
    assert h.created_names("PersistentVolumeClaim", mark) == ["data-web-1"]
    assert h.created_names("Pod", mark) == ["web-1"]
    assert h.status().replicas == 1 and h.status().ready_replicas == 1


async def test_min_ready_seconds_holds_the_next_pod_until_the_previous_is_available() -> None:
    sts = make_sts(2, min_ready=30)
    revision, pods = settled(sts, 1)
    h = Harness(sts, revision, make_pod(sts, 0, revision, ready_for=10))
    await h.sync()
    assert h.created("Pod") == []
    h.set_pod("web-0", ready_for=31)
    await h.sync()
    assert h.created_names("Pod") == ["web-1"]


async def test_an_existing_claim_is_not_created_again() -> None:
    sts = make_sts(1)
    (claim,) = sp.new_claims(sts, named("web-0"))
    h = Harness(sts, claim)
    await h.sync()
    assert h.created("PersistentVolumeClaim") == []
    assert h.created_names("Pod") == ["web-0"]
    assert h.recorder.events == [(KEY, "Normal", "SuccessfulCreate", "create Pod web-0 in StatefulSet web successful")]


async def test_a_pending_pod_gets_its_missing_claim() -> None:
    sts = make_sts(2)
    revision, _ = settled(sts, 0)
    h = Harness(sts, revision, make_pod(sts, 0, revision, phase="Pending", ready=False))
    await h.sync()
    assert h.created_names("PersistentVolumeClaim") == ["data-web-0"]
    assert h.created("Pod") == []


async def test_a_claim_refused_means_no_pod_and_a_failed_create_event() -> None:
    h = Harness(make_sts(1))
    h.client.refuse_create = lambda n: errors.Forbidden("exceeded quota") if n == 1 else None  # n 0: the revision
    with pytest.raises(errors.Forbidden):
        await h.sync()
    assert h.created("Pod") == []
    assert h.recorder.events, "the failure is an event"
    assert h.recorder.events[0][1:3] == ("Warning", "FailedCreate")
    assert "data-web-0" in h.recorder.events[0][3] and "exceeded quota" in h.recorder.events[0][3]
    assert "Successful" not in "".join(h.recorder.reasons())
    assert h.status().update_revision, "status is still written"


async def test_parallel_creates_every_missing_pod_in_one_sync() -> None:
    h = Harness(make_sts(3, policy="Parallel"))
    await h.sync()
    assert sorted(h.created_names("Pod")) == ["web-0", "web-1", "web-2"]
    assert sorted(h.created_names("PersistentVolumeClaim")) == ["data-web-0", "data-web-1", "data-web-2"]
    assert h.recorder.reasons() == ["SuccessfulCreate"] * 6


async def test_ordinals_start_creates_from_the_start_ordinal() -> None:
    h = Harness(make_sts(2, start=3, policy="Parallel"))
    await h.sync()
    assert sorted(h.created_names("Pod")) == ["web-3", "web-4"]


@pytest.mark.parametrize("phase", ["Failed", "Succeeded"])
async def test_a_finished_pod_is_deleted_then_made_anew_under_the_same_name(phase: str) -> None:
    sts = make_sts(3)
    revision, pods = settled(sts)
    pods[1].status.phase = phase
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.deleted() == ["web-1"]
    assert h.client.verbs("delete")[0].detail["uid"] == "uid-web-1"
    assert h.created("Pod") == [], "made anew once it is gone"
    assert (KEY, "Normal", "SuccessfulDelete", "delete Pod web-1 in StatefulSet web successful") in h.recorder.events
    h.remove(core_pb2.Pod, "web-1")
    mark = h.mark()
    await h.sync()
    (pod,) = h.created("Pod", mark)
    assert pod.metadata.name == "web-1" and pod.spec.hostname == "web-1"
    assert pod.metadata.labels[REVISION_HASH_LABEL] == revision.metadata.name
    assert h.created_names("PersistentVolumeClaim", mark) == ["data-web-1"]  # none was seeded


async def test_a_failed_pod_already_terminating_is_not_deleted_again() -> None:
    sts = make_sts(2)
    revision, pods = settled(sts)
    pods[0].status.phase = "Failed"
    pods[0].metadata.deletion_timestamp = NOW
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.deleted() == [] and h.created("Pod") == []


# ---- scale down ----


async def test_scale_down_deletes_the_highest_ordinal_one_per_sync_and_keeps_claims() -> None:
    big = make_sts(4)
    revision, pods = settled(big)
    claims = [c for p in pods for c in sp.new_claims(big, p)]
    sts = make_sts(1)
    sts.status.CopyFrom(big.status)
    h = Harness(sts, revision, *pods, *claims)
    await h.sync()
    assert h.deleted() == ["web-3"]
    await h.sync()  # web-3 still shows (not yet gone): it is not deleted twice, nothing else goes
    assert set(h.deleted()) == {"web-3"}
    h.refresh()  # web-3 is gone
    mark = h.mark()
    await h.sync()
    assert h.deleted(since=mark) == ["web-2"]
    h.refresh()
    await h.sync()
    assert h.deleted(since=mark) == ["web-2", "web-1"]
    h.refresh()
    await h.sync()
    assert h.deleted(since=mark) == ["web-2", "web-1"]
    assert h.deleted("PersistentVolumeClaim") == []
    assert all(h.client.stored(core_pb2.PersistentVolumeClaim, f"data-web-{i}") is not None for i in range(4))
    assert h.status().replicas == 1


async def test_scale_down_waits_for_a_terminating_condemned_pod() -> None:
    sts = make_sts(1)
    big = make_sts(3)
    revision, pods = settled(big)
    sts.status.CopyFrom(big.status)
    pods[2].metadata.deletion_timestamp = NOW
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.deleted() == []


async def test_scale_down_waits_for_unhealthy_replicas() -> None:
    big = make_sts(3)
    revision, pods = settled(big)
    pods[0].status.phase = "Pending"
    sts = make_sts(1)
    sts.status.CopyFrom(big.status)
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.deleted() == []


async def test_scale_down_may_delete_the_first_unhealthy_pod_but_not_another_unhealthy_one() -> None:
    big = make_sts(4)
    revision, pods = settled(big)
    sts = make_sts(1)
    sts.status.CopyFrom(big.status)
    pods[3].status.phase = "Pending"  # the first unhealthy pod: it may go
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.deleted() == ["web-3"]

    pods[2].status.phase = "Pending"  # now web-2 is the first unhealthy pod, web-3 (unhealthy too) blocks
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.deleted() == []


async def test_parallel_scale_down_deletes_every_condemned_pod_at_once() -> None:
    big = make_sts(4)
    revision, pods = settled(big)
    pods[2].status.phase = "Pending"
    sts = make_sts(1, policy="Parallel")
    sts.status.CopyFrom(big.status)
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert sorted(h.deleted()) == ["web-1", "web-2", "web-3"]
    assert h.recorder.reasons() == ["SuccessfulDelete"] * 3


# ---- rolling update ----


async def rolled(partition: int = 0) -> tuple[Harness, apps_pb2.ControllerRevision]:
    """Three healthy pods at revision A, the template changed: the first sync made revision B."""
    old = make_sts(3, partition=partition)
    rev_a, pods = settled(old)
    h = Harness(changed(old, "nginx:2"), rev_a, *pods)
    await h.sync()
    return h, rev_a


async def test_a_rolling_update_deletes_the_highest_pod_only() -> None:
    h, rev_a = await rolled()
    (rev_b,) = h.created("ControllerRevision")
    assert rev_b.revision == 2 and rev_b.metadata.name != rev_a.metadata.name
    assert h.deleted() == ["web-2"]
    status = h.status()
    assert (status.current_revision, status.update_revision) == (rev_a.metadata.name, rev_b.metadata.name)
    assert (status.current_replicas, status.updated_replicas) == (2, 0)
    assert status.observed_generation == 2


async def test_a_rolling_update_recreates_at_the_update_revision_and_waits_for_it() -> None:
    h, rev_a = await rolled()
    rev_b_name = h.status().update_revision
    h.refresh()
    h.remove(core_pb2.Pod, "web-2")
    mark = h.mark()
    await h.sync()
    (pod,) = h.created("Pod", mark)
    assert pod.metadata.name == "web-2"
    assert pod.metadata.labels[REVISION_HASH_LABEL] == rev_b_name
    assert pod.spec.containers[0].image == "nginx:2"
    h.refresh()  # web-2 at B, Pending
    await h.sync()
    h.set_pod("web-2", "Running", ready=False)
    await h.sync()
    assert h.deleted(since=mark) == [], "web-2 at B is not ready: nothing else is deleted"
    h.set_pod("web-2")
    await h.sync()
    assert h.deleted(since=mark) == ["web-1"]


async def test_the_partition_keeps_lower_pods_at_the_current_revision() -> None:
    old = make_sts(3, partition=1)
    rev_a, pods_a = settled(old)
    new = changed(old, "nginx:2")
    rev_b = make_revision(new, 2)
    new.status.update_revision = rev_b.metadata.name
    pods = [pods_a[0], make_pod(new, 1, rev_b), make_pod(new, 2, rev_b)]
    h = Harness(new, rev_a, rev_b, *pods)
    await h.sync()
    assert h.deleted() == [] and h.created("Pod") == []
    status = h.status()
    assert (status.current_revision, status.update_revision) == (rev_a.metadata.name, rev_b.metadata.name)
    assert (status.current_replicas, status.updated_replicas, status.replicas) == (1, 2, 3)

    h.remove(core_pb2.Pod, "web-0")  # a missing pod below the partition comes back at the current revision
    await h.sync()
    (pod,) = h.created("Pod")
    assert pod.metadata.name == "web-0"
    assert pod.metadata.labels[REVISION_HASH_LABEL] == rev_a.metadata.name
    assert pod.spec.containers[0].image == "nginx:1"


async def test_every_pod_updated_and_ready_completes_the_rolling_update() -> None:
    old = make_sts(3)
    rev_a, _ = settled(old)
    new = changed(old, "nginx:2")
    rev_b = make_revision(new, 2)
    pods = [make_pod(new, i, rev_b) for i in range(3)]
    h = Harness(new, rev_a, rev_b, *pods)
    await h.sync()
    status = h.status()
    assert status.current_revision == status.update_revision == rev_b.metadata.name
    assert (status.replicas, status.current_replicas, status.updated_replicas, status.ready_replicas) == (3, 3, 3, 3)
    assert h.deleted() == [] and h.created("Pod") == []


async def test_updated_but_not_all_ready_keeps_the_current_revision() -> None:
    old = make_sts(3)
    rev_a, _ = settled(old)
    new = changed(old, "nginx:2")
    rev_b = make_revision(new, 2)
    pods = [make_pod(new, i, rev_b, ready=i != 2) for i in range(3)]
    h = Harness(new, rev_a, rev_b, *pods)
    await h.sync()
    status = h.status()
    assert (status.current_revision, status.update_revision) == (rev_a.metadata.name, rev_b.metadata.name)
    assert not status.HasField("current_replicas")


async def test_on_delete_deletes_nothing_and_a_deleted_pod_returns_at_the_update_revision() -> None:
    old = make_sts(3, strategy="OnDelete")
    rev_a, pods = settled(old)
    h = Harness(changed(old, "nginx:2"), rev_a, *pods)
    await h.sync()
    assert h.deleted() == []
    rev_b_name = h.status().update_revision
    assert rev_b_name != rev_a.metadata.name and h.status().current_revision == rev_a.metadata.name
    h.refresh()
    h.remove(core_pb2.Pod, "web-1")
    await h.sync()
    (pod,) = h.created("Pod")
    assert pod.metadata.name == "web-1"
    assert pod.metadata.labels[REVISION_HASH_LABEL] == rev_b_name
    assert pod.spec.containers[0].image == "nginx:2"
    assert h.deleted() == []


async def test_parallel_still_rolls_one_pod_at_a_time() -> None:
    old = make_sts(3, policy="Parallel")
    rev_a, pods = settled(old)
    h = Harness(changed(old, "nginx:2"), rev_a, *pods)
    await h.sync()
    assert h.deleted() == ["web-2"]
    h.refresh()
    h.remove(core_pb2.Pod, "web-2")
    mark = h.mark()
    await h.sync()
    assert h.created_names("Pod", mark) == ["web-2"]
    assert h.deleted(since=mark) == [], "the new web-2 is not healthy yet"


async def test_a_terminating_replica_holds_back_the_next_in_ordered_ready() -> None:
    sts = make_sts(2)
    revision, pods = settled(sts, 1)
    pods[0].metadata.deletion_timestamp = NOW
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.created("Pod") == [] and h.deleted() == []
    parallel = make_sts(2, policy="Parallel")
    parallel.status.CopyFrom(sts.status)
    h = Harness(parallel, revision, *pods)
    await h.sync()
    assert h.created_names("Pod") == ["web-1"]


async def test_a_revision_name_taken_by_another_template_bumps_the_collision_count() -> None:
    sts = make_sts(1)
    squatter = make_revision(make_sts(1, image="other:1"), 1)
    squatter.metadata.name = make_revision(sts, 1).metadata.name
    squatter.metadata.owner_references[0].uid = "someone-else"
    h = Harness(sts)
    h.client.put(squatter)  # on the server only: not the set's, so the informer view does not matter
    real_create = h.client.create

    async def create(obj: Any, **kw: Any) -> Any:
        if h.client.stored(type(obj), obj.metadata.name) is not None:
            raise errors.AlreadyExists(obj.metadata.name)
        return await real_create(obj, **kw)

    h.client.create = create  # type: ignore[method-assign]
    with pytest.raises(errors.Conflict):
        await h.sync()
    assert h.status().collision_count == 1
    assert h.created("Pod") == []
    h.informers.get(apps_pb2.StatefulSet).store.put(h.sts())
    await h.sync()  # the next name is free
    (revision,) = h.created("ControllerRevision")
    assert revision.metadata.name != squatter.metadata.name
    assert h.created_names("Pod") == ["web-0"]


async def test_handlers_enqueue_the_owning_or_selecting_set() -> None:
    sts = make_sts(2, min_ready=30)
    revision, pods = settled(sts)
    h = Harness(sts)
    informer = h.informers.get(core_pb2.Pod)
    orphan = make_pod(sts, 0, revision)
    del orphan.metadata.owner_references[:]
    orphan.metadata.labels["app"] = "db"
    deliver(informer, "ADDED", orphan)
    assert len(h.ctl.queue) == 0, "neither owned nor selected"
    deliver(informer, "ADDED", make_pod(sts, 1, revision, ready=False))
    assert len(h.ctl.queue) == 1 and await h.ctl.queue.get() == KEY
    h.ctl.queue.done(KEY)
    became_ready = make_pod(sts, 1, revision, ready_for=0)
    became_ready.metadata.resource_version = "999"
    deliver(informer, "MODIFIED", became_ready)
    assert len(h.ctl.queue) == 1
    assert h.ctl.queue.delayed() == 1, "looked at again once minReadySeconds have passed"
    deliver(h.informers.get(apps_pb2.ControllerRevision), "ADDED", revision)
    assert len(h.ctl.queue) == 1


# ---- status ----


async def test_status_counts_created_ready_available_current_and_updated_pods() -> None:
    old = make_sts(3, min_ready=30, generation=4)
    rev_a, _ = settled(old)
    new = changed(old, "nginx:2")
    new.spec.replicas = 3
    rev_b = make_revision(new, 2)
    new.status.update_revision = rev_b.metadata.name
    pods = [
        make_pod(old, 0, rev_a, ready_for=60),            # ready, available, current
        make_pod(new, 1, rev_b, ready_for=10),            # ready, not yet available, updated
        make_pod(new, 2, rev_b, ready=False),             # running, not ready, updated
        make_pod(new, 3, rev_b, ready_for=60, deleting=True),  # condemned, terminating: ready, not updated
    ]
    new.spec.update_strategy.rolling_update.partition = 3  # nothing to roll
    h = Harness(new, rev_a, rev_b, *pods)
    await h.sync()
    status = h.status()
    assert (status.replicas, status.ready_replicas, status.available_replicas) == (4, 3, 2)
    assert (status.current_replicas, status.updated_replicas) == (1, 2)
    assert (status.current_revision, status.update_revision) == (rev_a.metadata.name, rev_b.metadata.name)
    assert status.observed_generation == 5
    assert h.deleted() == [] and h.created("Pod") == []


async def test_zero_counts_are_omitted_but_replicas_and_available_replicas_stay() -> None:
    h = Harness(make_sts(0))
    await h.sync()
    (revision,) = h.created("ControllerRevision")
    assert to_manifest(h.sts())["status"] == {
        "replicas": 0, "availableReplicas": 0, "observedGeneration": 1,
        "currentRevision": revision.metadata.name, "updateRevision": revision.metadata.name}


async def test_an_unchanged_status_is_not_written_again() -> None:
    sts = make_sts(2)
    revision, pods = settled(sts)
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert len(h.client.verbs("update_status")) == 1
    h.refresh()
    await h.sync()
    assert len(h.client.verbs("update_status")) == 1


# ---- identity and storage drift ----


async def test_a_wrong_pod_name_label_is_fixed_in_place() -> None:
    sts = make_sts(2)
    revision, pods = settled(sts)
    pods[1].metadata.labels[sp.POD_NAME_LABEL] = "web-7"
    h = Harness(sts, revision, *pods)
    await h.sync()
    (fixed,) = h.updated("Pod")
    assert fixed.metadata.name == "web-1"
    assert fixed.metadata.labels[sp.POD_NAME_LABEL] == "web-1"
    assert fixed.metadata.labels[sp.POD_INDEX_LABEL] == "1"
    assert fixed.metadata.uid == "uid-web-1" and fixed.status.phase == "Running", "the pod itself, updated"
    assert h.pod("web-1").metadata.labels[sp.POD_NAME_LABEL] == "web-1"
    assert h.created("Pod") == [] and h.deleted() == []


async def test_a_pod_missing_its_claim_volume_gets_it_and_the_claim() -> None:
    sts = make_sts(1)
    revision, pods = settled(sts)
    del pods[0].spec.volumes[0]  # the "data" claim volume
    h = Harness(sts, revision, *pods)
    await h.sync()
    (fixed,) = h.updated("Pod")
    volumes = {v.name: v for v in fixed.spec.volumes}
    assert volumes["data"].persistent_volume_claim.claim_name == "data-web-0"
    assert "scratch" in volumes
    assert h.created_names("PersistentVolumeClaim") == ["data-web-0"]


async def test_a_pod_not_yet_ready_is_not_fixed_in_ordered_ready() -> None:
    sts = make_sts(1)
    revision, pods = settled(sts)
    pods[0].metadata.labels[sp.POD_NAME_LABEL] = "web-7"
    pods[0].status.phase = "Pending"
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.updated("Pod") == []


async def test_hostname_or_subdomain_drift_alone_is_not_updated() -> None:
    sts = make_sts(2)
    revision, pods = settled(sts)
    pods[0].spec.hostname = "other"
    pods[1].spec.subdomain = "elsewhere"
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.updated("Pod") == []


async def test_fixing_a_pods_identity_records_an_update_event() -> None:
    sts = make_sts(2)
    revision, pods = settled(sts)
    pods[1].metadata.labels[sp.POD_NAME_LABEL] = "web-7"
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.updated("Pod")
    assert (KEY, "Normal", "SuccessfulUpdate", "update Pod web-1 in StatefulSet web successful") in h.recorder.events


# ---- history ----


async def test_a_revision_matching_the_template_again_is_renumbered() -> None:
    old = make_sts(2)
    rev_a = make_revision(old, 1)
    new = changed(old, "nginx:2")
    rev_b = make_revision(new, 2)
    back = changed(new, "nginx:1")  # a rollback to A's template
    back.status.current_revision = back.status.update_revision = rev_b.metadata.name
    pods = [make_pod(new, i, rev_b) for i in range(2)]
    h = Harness(back, rev_a, rev_b, *pods)
    await h.sync()
    assert h.created("ControllerRevision") == []
    (renumbered,) = h.updated("ControllerRevision")
    assert (renumbered.metadata.name, renumbered.revision) == (rev_a.metadata.name, 3)
    assert h.status().update_revision == rev_a.metadata.name
    assert h.status().current_revision == rev_b.metadata.name
    assert h.deleted() == ["web-1"], "the rollback rolls like any update"


async def test_revisions_beyond_the_limit_not_in_use_are_deleted_oldest_first() -> None:
    base = make_sts(2, history_limit=2)
    sets = [changed(base, f"nginx:{i}") for i in range(1, 6)]
    revisions = [make_revision(s, i) for i, s in enumerate(sets, start=1)]
    sts = sets[-1]
    sts.status.current_revision = sts.status.update_revision = revisions[-1].metadata.name
    pods = [make_pod(sts, i, revisions[-1]) for i in range(2)]
    h = Harness(sts, *revisions, *pods)
    await h.sync()
    assert h.deleted("ControllerRevision") == [revisions[0].metadata.name, revisions[1].metadata.name]
    assert h.created("ControllerRevision") == [] and h.updated("ControllerRevision") == []


async def test_the_current_revision_is_kept_however_old() -> None:
    base = make_sts(2, history_limit=1)
    sets = [changed(base, f"nginx:{i}") for i in range(1, 5)]
    revisions = [make_revision(s, i) for i, s in enumerate(sets, start=1)]
    sts = sets[-1]
    sts.status.current_revision = revisions[0].metadata.name  # an update from revision 1 under way
    sts.status.update_revision = revisions[-1].metadata.name
    sts.spec.update_strategy.type = "OnDelete"
    pods = [make_pod(sets[0], i, revisions[0]) for i in range(2)]
    h = Harness(sts, *revisions, *pods)
    await h.sync()
    # live: 1 (current, the pods') and 4 (update); 2 and 3 are history, one beyond the limit of 1
    assert h.deleted("ControllerRevision") == [revisions[1].metadata.name]
    assert h.status().current_revision == revisions[0].metadata.name


async def test_within_the_limit_nothing_is_deleted() -> None:
    base = make_sts(1, history_limit=3)
    sets = [changed(base, f"nginx:{i}") for i in range(1, 4)]
    revisions = [make_revision(s, i) for i, s in enumerate(sets, start=1)]
    h = Harness(changed(base, "nginx:9"), *revisions)
    await h.sync()
    (created,) = h.created("ControllerRevision")
    assert created.revision == 4
    assert h.deleted("ControllerRevision") == []


async def test_a_revision_a_pod_uses_does_not_count_against_the_limit() -> None:
    base = make_sts(2, history_limit=2, strategy="OnDelete")
    sets = [changed(base, f"nginx:{i}") for i in range(1, 6)]
    revisions = [make_revision(s, i) for i, s in enumerate(sets, start=1)]
    sts = sets[-1]
    sts.status.current_revision = sts.status.update_revision = revisions[-1].metadata.name
    pods = [make_pod(sets[1], 0, revisions[1]), make_pod(sts, 1, revisions[-1])]  # web-0 still at revision 2
    h = Harness(sts, *revisions, *pods)
    await h.sync()
    # not live: revisions 1, 3, 4 -> one beyond the limit of 2: revision 1 only
    assert h.deleted("ControllerRevision") == [revisions[0].metadata.name]


# ---- deletion and ownership ----


async def test_a_set_being_deleted_creates_and_deletes_nothing_but_writes_status() -> None:
    big = make_sts(4)
    revision, pods = settled(big)
    pods[1].status.phase = "Failed"
    sts = make_sts(3)
    sts.status.CopyFrom(big.status)
    sts.metadata.deletion_timestamp = NOW
    del pods[2]  # web-2 missing, web-3 condemned, web-1 failed
    h = Harness(sts, revision, *pods)
    await h.sync()
    assert h.created("Pod") == [] and h.created("PersistentVolumeClaim") == []
    assert h.deleted() == []
    assert h.status().replicas == 3
    assert h.client.verbs("update_status")


async def test_orphans_named_for_the_set_are_adopted_others_ignored() -> None:
    sts = make_sts(2)
    revision, pods = settled(sts)
    for pod in pods:
        del pod.metadata.owner_references[:]
    stranger = make_pod(sts, 0, revision)
    stranger.metadata.name, stranger.metadata.uid = "webby-0", "uid-webby"
    del stranger.metadata.owner_references[:]
    h = Harness(sts, revision, *pods, stranger)
    await h.sync()
    assert sorted(c.name for c in h.client.verbs("patch")) == ["web-0", "web-1"]
    assert h.created("Pod") == []
    assert h.status().replicas == 2


async def test_an_owned_pod_with_a_foreign_name_is_released() -> None:
    sts = make_sts(1)
    revision, pods = settled(sts)
    foreign = make_pod(sts, 0, revision)
    foreign.metadata.name, foreign.metadata.uid = "db-0", "uid-db-0"
    h = Harness(sts, revision, *pods, foreign)
    await h.sync()
    assert [c.name for c in h.client.verbs("patch")] == ["db-0"]


# ---- other differences from Kubernetes ----


async def test_ready_but_not_available_pods_requeue_after_min_ready_seconds() -> None:
    sts = make_sts(1, min_ready=30)
    revision, pods = settled(sts)
    h = Harness(sts, revision, make_pod(sts, 0, revision, ready_for=5))
    await h.sync()
    assert h.ctl.queue.delayed() == 1


async def test_a_failed_claim_event_reads_as_in_kubernetes() -> None:
    h = Harness(make_sts(1))
    h.client.refuse_create = lambda n: errors.Forbidden("exceeded quota") if n == 1 else None
    with pytest.raises(errors.Forbidden):
        await h.sync()
    messages = [e[3] for e in h.recorder.events]
    assert messages[0].startswith("create Claim data-web-0 for Pod web-0 in StatefulSet web failed error:")
    # CreateStatefulPod records the pod's failure too
    assert any(m.startswith("create Pod web-0 in StatefulSet web failed error:") for m in messages)


async def test_a_claim_being_deleted_holds_back_the_pod() -> None:
    sts = make_sts(1)
    (claim,) = sp.new_claims(sts, named("web-0"))
    claim.metadata.deletion_timestamp = NOW
    claim.metadata.finalizers.append("kubernetes.io/pvc-protection")
    h = Harness(sts, claim)
    with contextlib.suppress(Exception):  # Kubernetes returns an error here
        await h.sync()
    assert h.created("Pod") == []


@pytest.mark.parametrize(("when_deleted", "when_scaled", "in_range", "expected"), [
    ("Retain", "Retain", True, (False, False)),
    ("Retain", "Retain", False, (False, False)),
    ("Delete", "Retain", True, (True, False)),
    ("Delete", "Retain", False, (True, False)),
    ("Retain", "Delete", True, (False, False)),
    ("Retain", "Delete", False, (False, True)),
    ("Delete", "Delete", True, (True, False)),
    ("Delete", "Delete", False, (False, True)),
])
def test_claim_owners_follow_the_retention_policy(when_deleted: str, when_scaled: str, in_range: bool,
                                                  expected: tuple[bool, bool]) -> None:
    sts = make_sts(replicas=2)
    sts.spec.persistent_volume_claim_retention_policy.when_deleted = when_deleted
    sts.spec.persistent_volume_claim_retention_policy.when_scaled = when_scaled
    pod = sp.new_pod(sts, "rev", 1 if in_range else 5)
    pod.metadata.uid = "pod-uid"
    assert sp.wanted_owners(sts, pod) == expected
    claim = core_pb2.PersistentVolumeClaim()
    claim.metadata.owner_references.add(kind="Other", name="keep", uid="other")
    sp.set_claim_owners(sts, claim, pod)
    kinds = [r.kind for r in claim.metadata.owner_references]
    assert kinds == ["Other", *(["StatefulSet"] if expected[0] else []), *(["Pod"] if expected[1] else [])]
    assert sp.claim_matches_policy(sts, claim, pod)
