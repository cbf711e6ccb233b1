"""The garbage collector on seeded informer stores and an in-memory client.

Each test seeds owners and dependents, drives the handlers with watch events or calls
``attempt_to_delete_item`` / ``attempt_to_orphan_item`` directly, and checks the writes and what
was queued. The collector's workers never run.
"""

from __future__ import annotations

from typing import Any, cast

from controllers.garbagecollector import GarbageCollector, Identity, collected_kinds, identity_of
from controllers.informers import SharedInformers
from skiff.api.ownership import controller_ref
from skiff.api.v1 import apps_pb2, batch_pb2, core_pb2, meta_pb2
from skiff.client.clock import FakeClock
from tests.unit.controller_fakes import NOW, FakeClient, FakeRecorder, deliver


def make_rs(name: str = "web", uid: str = "rs-uid", *, finalizer: str = "") -> apps_pb2.ReplicaSet:
    rs = apps_pb2.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    rs.metadata.name, rs.metadata.namespace, rs.metadata.uid = name, "default", uid
    rs.spec.selector.match_labels["app"] = name
    if finalizer:
        rs.metadata.finalizers.append(finalizer)
        rs.metadata.deletion_timestamp = NOW
    return rs


def make_pod(name: str, *owners: Any, block: bool = True, deleting: bool = False) -> core_pb2.Pod:
    pod = core_pb2.Pod(api_version="v1", kind="Pod")
    pod.metadata.name, pod.metadata.namespace, pod.metadata.uid = name, "default", f"uid-{name}"
    for owner in owners:
        ref = controller_ref(owner) if isinstance(owner, apps_pb2.ReplicaSet) else owner
        ref.block_owner_deletion = block
        pod.metadata.owner_references.append(ref)
    if deleting:
        pod.metadata.deletion_timestamp = NOW
        pod.metadata.finalizers.append("example.com/hold")
    return pod


class Harness:
    def __init__(self, *objects: Any) -> None:
        self.client = FakeClient()
        self.recorder = FakeRecorder()
        self.informers = SharedInformers(cast(Any, self.client))
        self.gc = GarbageCollector(cast(Any, self.client), self.informers, cast(Any, self.recorder),
                                   clock=FakeClock())
        for obj in objects:
            self.seed(obj)

    def seed(self, obj: Any) -> Any:
        self.client.put(obj)
        deliver(self.informers.get(type(obj)), "ADDED", obj)
        return obj

    def drop(self, obj: Any) -> None:
        """The object is gone from the server and its deletion reached the informer."""
        self.client.objects.pop(self.client._key(type(obj), obj.metadata.namespace, obj.metadata.name), None)
        deliver(self.informers.get(type(obj)), "DELETED", obj)

    async def queued(self, queue: str = "attempt_to_delete") -> set[str]:
        q = getattr(self.gc, queue)
        names = set()
        while len(q):
            item = await q.get()
            q.done(item)
            names.add(item.name)
        return names

    def deletes(self) -> list[tuple[str, str]]:
        return [(c.name, c.detail["policy"] or "Background") for c in self.client.verbs("delete")]


def test_every_served_kind_but_events_is_watched() -> None:
    watched = set(collected_kinds())
    assert {core_pb2.Pod, apps_pb2.ReplicaSet, apps_pb2.ControllerRevision, batch_pb2.Job,
            apps_pb2.Deployment, core_pb2.Secret} <= watched
    assert core_pb2.Event not in watched


async def test_deleting_an_owner_queues_its_dependents_which_are_then_deleted() -> None:
    rs = make_rs()
    pods = [make_pod(f"p{i}", rs) for i in range(3)]
    h = Harness(rs, *pods, make_pod("unowned"))
    await h.queued()  # start-up noise: nothing is garbage yet
    h.drop(rs)
    assert await h.queued() == {"p0", "p1", "p2"}
    for pod in pods:
        await h.gc.attempt_to_delete_item(identity_of(pod))
    assert h.deletes() == [("p0", "Background"), ("p1", "Background"), ("p2", "Background")]
    assert all(c.detail["uid"] == f"uid-p{i}" for i, c in enumerate(h.client.verbs("delete")))
    # the owner's deletion was seen: it is known absent, never looked up
    assert "web" not in [c.name for c in h.client.verbs("get")]


async def test_an_owner_that_exists_only_under_another_uid_is_absent() -> None:
    recreated = make_rs(uid="new-uid")
    pod = make_pod("p", make_rs(uid="old-uid"))
    h = Harness(recreated, pod)
    assert await h.queued() == {"p"}  # its owner uid is unknown: it must be checked
    await h.gc.attempt_to_delete_item(identity_of(pod))
    assert h.deletes() == [("p", "Background")]


async def test_a_dependent_with_a_live_owner_is_kept_without_any_request() -> None:
    rs = make_rs()
    pod = make_pod("p", rs)
    h = Harness(rs, pod)
    await h.gc.attempt_to_delete_item(identity_of(pod))
    assert h.client.calls == []


async def test_with_one_live_and_one_gone_owner_only_the_stale_reference_is_removed() -> None:
    live = make_rs("live", "live-uid")
    gone = make_rs("gone", "gone-uid")
    gone_ref = controller_ref(gone)
    gone_ref.controller = False
    pod = make_pod("p", live, gone_ref)
    h = Harness(live, pod)
    await h.gc.attempt_to_delete_item(identity_of(pod))
    assert h.deletes() == []
    stored = h.client.stored(core_pb2.Pod, "p")
    assert [r.uid for r in stored.metadata.owner_references] == ["live-uid"]


async def test_foreground_owner_waits_for_its_blocking_dependents_then_loses_its_finalizer() -> None:
    rs = make_rs(finalizer="foregroundDeletion")
    blocking = make_pod("blocking", rs)
    free = make_pod("free", rs, block=False)
    h = Harness(rs, blocking, free)
    assert await h.queued() >= {"web", "blocking", "free"}
    await h.gc.attempt_to_delete_item(identity_of(rs))
    assert h.client.verbs("update") == []  # a blocking dependent is still there
    assert await h.queued() == {"blocking"}
    for pod in (blocking, free):
        await h.gc.attempt_to_delete_item(identity_of(pod))
    assert sorted(h.deletes()) == [("blocking", "Background"), ("free", "Background")]
    h.drop(blocking)
    assert await h.queued() == {"web"}  # the last blocking dependent went: the owner looks again
    await h.gc.attempt_to_delete_item(identity_of(rs))
    assert h.client.stored(apps_pb2.ReplicaSet, "web") is None  # finalizer removed: the owner is gone


async def test_foreground_waits_for_a_terminating_pod() -> None:
    rs = make_rs(finalizer="foregroundDeletion")
    pod = make_pod("p", rs, deleting=True)
    h = Harness(rs, pod)
    await h.gc.attempt_to_delete_item(identity_of(pod))
    await h.gc.attempt_to_delete_item(identity_of(rs))
    assert h.deletes() == [] and h.client.verbs("update") == []
    assert h.client.stored(apps_pb2.ReplicaSet, "web") is not None


async def test_a_dependent_that_owns_others_is_deleted_in_the_foreground_too() -> None:
    deploy = apps_pb2.Deployment(api_version="apps/v1", kind="Deployment")
    deploy.metadata.name, deploy.metadata.namespace, deploy.metadata.uid = "web", "default", "d-uid"
    deploy.metadata.finalizers.append("foregroundDeletion")
    deploy.metadata.deletion_timestamp = NOW
    rs = make_rs()
    rs.metadata.owner_references.append(controller_ref(deploy))
    h = Harness(deploy, rs, make_pod("p", rs))
    await h.gc.attempt_to_delete_item(identity_of(rs))
    assert h.deletes() == [("web", "Foreground")]


async def test_orphan_removes_the_reference_from_every_dependent_then_the_finalizer() -> None:
    rs = make_rs(finalizer="orphan")
    other = make_rs("other", "other-uid")
    pods = [make_pod("a", rs), make_pod("b", rs, other)]
    h = Harness(other, rs, *pods)
    assert await h.queued("attempt_to_orphan") == {"web"}
    await h.gc.attempt_to_orphan_item(identity_of(rs))
    assert [list(h.client.stored(core_pb2.Pod, n).metadata.owner_references) for n in "ab"] == [
        [], [controller_ref(other)]]
    assert h.client.stored(apps_pb2.ReplicaSet, "web") is None
    assert h.deletes() == []


async def test_dependents_of_an_owner_deleted_while_the_collector_was_down_are_collected() -> None:
    gone = make_rs()  # never seen by this collector: it was deleted before it started
    revision = apps_pb2.ControllerRevision(api_version="apps/v1", kind="ControllerRevision")
    revision.metadata.name, revision.metadata.namespace, revision.metadata.uid = "web-1", "default", "cr-uid"
    revision.metadata.owner_references.append(controller_ref(gone))
    h = Harness(make_pod("p", gone), revision)
    queued = await h.queued()
    assert queued == {"p", "web-1"}
    for ident in (Identity(core_pb2.Pod, "default", "p", "uid-p"),
                  Identity(apps_pb2.ControllerRevision, "default", "web-1", "cr-uid")):
        await h.gc.attempt_to_delete_item(ident)
    assert sorted(h.deletes()) == [("p", "Background"), ("web-1", "Background")]


async def test_a_cluster_scoped_owner_is_looked_up_without_a_namespace() -> None:
    node = core_pb2.Node(api_version="v1", kind="Node")
    node.metadata.name, node.metadata.uid = "n1", "node-uid"
    ref = meta_pb2.OwnerReference(api_version="v1", kind="Node", name="n1", uid="node-uid")
    pod = make_pod("p", ref)
    h = Harness(pod)
    h.client.put(node)  # exists on the server, not yet in the informer
    await h.gc.attempt_to_delete_item(identity_of(pod))
    assert h.deletes() == []
    h.client.objects.clear()
    h.client.put(pod)
    h.gc.absent.add("node-uid")
    await h.gc.attempt_to_delete_item(identity_of(pod))
    assert h.deletes() == [("p", "Background")]


async def test_an_object_already_being_deleted_is_left_to_finish() -> None:
    pod = make_pod("p", make_rs(), deleting=True)
    h = Harness(pod)
    await h.gc.attempt_to_delete_item(identity_of(pod))
    assert h.client.calls == []


async def test_a_name_reused_by_a_new_object_is_not_collected() -> None:
    old = make_pod("p", make_rs())
    h = Harness(old)
    fresh = make_pod("p")
    fresh.metadata.uid = "uid-new"
    h.client.put(fresh)
    await h.gc.attempt_to_delete_item(identity_of(old))
    assert h.deletes() == []
    assert h.client.stored(core_pb2.Pod, "p") is not None
