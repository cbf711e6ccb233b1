"""skiff.api.ownership: controller references built, found, compared and resolved by uid."""

from __future__ import annotations

from skiff.api.ownership import (
    controller_of,
    controller_ref,
    is_controlled_by,
    refers_to,
    resolve_controller_ref,
)
from skiff.api.v1 import apps_pb2, core_pb2, meta_pb2


def rs(name: str = "web", uid: str = "rs-uid", namespace: str = "default") -> apps_pb2.ReplicaSet:
    out = apps_pb2.ReplicaSet()
    out.metadata.name, out.metadata.namespace, out.metadata.uid = name, namespace, uid
    return out


def pod(*refs: meta_pb2.OwnerReference) -> core_pb2.Pod:
    out = core_pb2.Pod()
    out.metadata.name, out.metadata.namespace = "p", "default"
    out.metadata.owner_references.extend(refs)
    return out


def test_controller_ref_names_the_owner_by_kind_and_uid_and_blocks_its_deletion() -> None:
    ref = controller_ref(rs())
    assert (ref.api_version, ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == (
        "apps/v1", "ReplicaSet", "web", "rs-uid", True, True)
    d = apps_pb2.Deployment()
    d.metadata.name, d.metadata.uid = "web", "d-uid"
    ref = controller_ref(d)
    assert (ref.api_version, ref.kind, ref.uid) == ("apps/v1", "Deployment", "d-uid")


def test_controller_of_is_the_reference_with_controller_set() -> None:
    plain = meta_pb2.OwnerReference(kind="ConfigMap", name="c", uid="c-uid")
    assert controller_of(pod()) is None
    assert controller_of(pod(plain)) is None
    assert controller_of(pod(plain, controller_ref(rs()))) == controller_ref(rs())


def test_is_controlled_by_compares_the_controller_uid() -> None:
    owner = rs()
    assert is_controlled_by(pod(controller_ref(owner)), owner)
    assert not is_controlled_by(pod(controller_ref(owner)), rs(uid="another-uid")), "a namesake is another owner"
    not_controller = meta_pb2.OwnerReference(kind="ReplicaSet", name="web", uid="rs-uid")
    assert not is_controlled_by(pod(not_controller), owner)
    assert not is_controlled_by(pod(), owner)


def test_refers_to_needs_a_reference_an_object_and_the_same_uid() -> None:
    ref = controller_ref(rs())
    assert refers_to(ref, rs())
    assert not refers_to(ref, rs(uid="other"))
    assert not refers_to(None, rs())
    assert not refers_to(ref, None)


def test_resolve_controller_ref_finds_the_cached_owner_of_that_kind_and_uid() -> None:
    store = {"default/web": rs(), "default/old": rs("old", uid="new-uid")}
    asked: list[str] = []

    def lookup(key: str) -> apps_pb2.ReplicaSet | None:
        asked.append(key)
        return store.get(key)

    assert resolve_controller_ref("default", controller_ref(rs()), "ReplicaSet", lookup) is store["default/web"]
    assert resolve_controller_ref("default", controller_ref(rs()), "Deployment", lookup) is None
    assert resolve_controller_ref("default", None, "ReplicaSet", lookup) is None
    assert resolve_controller_ref("default", controller_ref(rs("gone")), "ReplicaSet", lookup) is None
    replaced = controller_ref(rs("old", uid="old-uid"))
    assert resolve_controller_ref("default", replaced, "ReplicaSet", lookup) is None, "same name, another uid"
    assert asked == ["default/web", "default/gone", "default/old"], "no lookup for a missing ref or another kind"
    resolve_controller_ref("", controller_ref(rs()), "ReplicaSet", lookup)
    assert asked[-1] == "web", "a cluster-scoped key is the bare name"
