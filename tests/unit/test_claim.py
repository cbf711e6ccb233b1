"""controllers.claim: the one adopt / release algorithm (ControllerRefManager) behind pods and ReplicaSets.

``claim`` runs over plain pods with recording ``adopt`` / ``release`` / ``can_adopt`` callables, so
each rule is seen without a controller around it; ``recheck_owner`` against the in-memory client.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from controllers.claim import claim, recheck_owner
from skiff.api import errors
from skiff.api.labels import selector_from_set
from skiff.api.ownership import controller_of, controller_ref
from skiff.api.v1 import apps_pb2, core_pb2
from tests.unit.controller_fakes import NOW, FakeClient

SELECTOR = selector_from_set({"app": "web"})


def owner(*, deleting: bool = False) -> apps_pb2.ReplicaSet:
    rs = apps_pb2.ReplicaSet()
    rs.metadata.name, rs.metadata.namespace, rs.metadata.uid = "web", "default", "rs-uid"
    if deleting:
        rs.metadata.deletion_timestamp = NOW
    return rs


def pod(name: str, *, app: str = "web", owned_by: apps_pb2.ReplicaSet | None = None,
        deleting: bool = False) -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name, p.metadata.namespace, p.metadata.uid = name, "default", f"uid-{name}"
    p.metadata.labels["app"] = app
    if owned_by is not None:
        p.metadata.owner_references.append(controller_ref(owned_by))
    if deleting:
        p.metadata.deletion_timestamp = NOW
    return p


class Writes:
    """Recording adopt / release / can_adopt; ``fail`` maps a pod name to the error its write raises."""

    def __init__(self, owner: apps_pb2.ReplicaSet, *, fail: dict[str, Exception] | None = None,
                 refuse: Exception | None = None) -> None:
        self.owner = owner
        self.fail = fail or {}
        self.refuse = refuse
        self.adopted: list[str] = []
        self.released: list[str] = []
        self.checks = 0

    async def adopt(self, p: core_pb2.Pod) -> core_pb2.Pod:
        self.adopted.append(p.metadata.name)
        if p.metadata.name in self.fail:
            raise self.fail[p.metadata.name]
        out = copy.deepcopy(p)
        out.metadata.owner_references.append(controller_ref(self.owner))
        return out

    async def release(self, p: core_pb2.Pod) -> None:
        self.released.append(p.metadata.name)
        if p.metadata.name in self.fail:
            raise self.fail[p.metadata.name]

    async def can_adopt(self) -> None:
        self.checks += 1
        if self.refuse is not None:
            raise self.refuse

    async def claim(self, *pods: core_pb2.Pod) -> list[str]:
        claimed = await claim(self.owner, SELECTOR, pods, adopt=self.adopt, release=self.release,
                              can_adopt=self.can_adopt)
        return [p.metadata.name for p in claimed]


async def test_keeps_its_own_adopts_matching_orphans_releases_what_it_no_longer_selects() -> None:
    rs = owner()
    other = owner()
    other.metadata.uid = "other-uid"
    w = Writes(rs)
    claimed = await w.claim(pod("kept", owned_by=rs), pod("orphan"), pod("leaving", app="db", owned_by=rs),
                            pod("theirs", owned_by=other), pod("stranger", app="db"))
    assert claimed == ["kept", "orphan"]
    assert (w.adopted, w.released) == (["orphan"], ["leaving"])
    assert w.checks == 1


async def test_the_adopted_object_is_the_one_written() -> None:
    rs = owner()
    w = Writes(rs)
    claimed = await claim(rs, SELECTOR, [pod("orphan")], adopt=w.adopt, release=w.release, can_adopt=w.can_adopt)
    ref = controller_of(claimed[0])
    assert ref is not None and ref.uid == "rs-uid"


async def test_an_orphan_being_deleted_is_not_adopted() -> None:
    w = Writes(owner())
    assert await w.claim(pod("terminating", deleting=True)) == []
    assert w.adopted == [] and w.checks == 0, "nothing to adopt: no fresh read either"


async def test_an_owner_being_deleted_neither_adopts_nor_releases_but_keeps_its_own() -> None:
    rs = owner(deleting=True)
    w = Writes(rs)
    claimed = await w.claim(pod("kept", owned_by=rs), pod("orphan"), pod("leaving", app="db", owned_by=rs))
    assert claimed == ["kept"]
    assert (w.adopted, w.released, w.checks) == ([], [], 0)


async def test_can_adopt_runs_once_and_its_refusal_stops_every_adoption_but_not_the_rest() -> None:
    rs = owner()
    w = Writes(rs, refuse=errors.Conflict("web has just been deleted"))
    with pytest.raises(errors.Conflict, match="just been deleted"):
        await w.claim(pod("a"), pod("leaving", app="db", owned_by=rs), pod("b"))
    assert w.checks == 1
    assert w.adopted == []
    assert w.released == ["leaving"], "the objects after the refusal are still handled"


async def test_an_owner_gone_from_the_server_is_a_failure_not_a_skipped_object() -> None:
    w = Writes(owner(), refuse=errors.NotFound('replicasets.apps "web" not found'))
    with pytest.raises(errors.NotFound):
        await w.claim(pod("orphan"))


async def test_an_object_gone_before_its_write_is_just_not_claimed() -> None:
    rs = owner()
    w = Writes(rs, fail={"orphan": errors.NotFound("orphan"), "leaving": errors.NotFound("leaving")})
    assert await w.claim(pod("orphan"), pod("leaving", app="db", owned_by=rs), pod("other")) == ["other"]
    assert (w.adopted, w.released) == (["orphan", "other"], ["leaving"])


async def test_a_failed_write_is_raised_after_every_object_was_handled() -> None:
    rs = owner()
    w = Writes(rs, fail={"a": errors.Conflict("a was modified"), "b": errors.Conflict("b was modified")})
    with pytest.raises(errors.Conflict, match="^a was modified"):
        await w.claim(pod("a"), pod("b"), pod("c"), pod("leaving", app="db", owned_by=rs))
    assert (w.adopted, w.released) == (["a", "b", "c"], ["leaving"])


async def test_recheck_owner_wants_the_same_object_not_being_deleted() -> None:
    client = FakeClient()
    rs = owner()
    fake = cast(Any, client)
    with pytest.raises(errors.NotFound):
        await recheck_owner(fake, rs)
    client.put(copy.deepcopy(rs))
    await recheck_owner(fake, rs)
    namesake = owner()
    namesake.metadata.uid = "another-uid"
    client.put(namesake)
    with pytest.raises(errors.Conflict, match="original ReplicaSet default/web is gone"):
        await recheck_owner(fake, rs)
    client.put(owner(deleting=True))
    with pytest.raises(errors.Conflict, match="has just been deleted"):
        await recheck_owner(fake, rs)
