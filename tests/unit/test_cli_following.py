"""skiff.cli.following on a fake client: the list-then-watch loop, relists, and follow's edges.

wait's, port-forward's and logs' own tests drive it through their verbs; these pin down what
those leave out: a selector's set of objects, a missing object, the deadline, and an apiserver
that cannot be reached."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from skiff.api import errors, kinds
from skiff.api.v1 import core_pb2
from skiff.cli import following
from skiff.cli.resources import Target
from skiff.client.client import ObjectList, WatchEvent

PODS = kinds.lookup("pods")


def pod(name: str, rv: str = "1") -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name, p.metadata.namespace, p.metadata.resource_version = name, "ns", rv
    return p


class FakeClient:
    """Lists pop ``lists`` (each item list gets resourceVersion "L<n>"); each watch plays the next
    of ``watches`` (events, or an exception to raise), then blocks."""

    def __init__(self, lists: list[list[core_pb2.Pod]], watches: list[list[Any]], obj: Any = None) -> None:
        self.lists, self.watches, self.obj = lists, watches, obj
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def get(self, cls: Any, name: str, *, namespace: str | None = None) -> Any:
        if self.obj is None:
            raise errors.NotFound(f'pods "{name}" not found')
        return self.obj

    async def list(self, cls: Any, **kwargs: Any) -> ObjectList[core_pb2.Pod]:
        self.calls.append(("list", kwargs))
        return ObjectList(self.lists.pop(0), f"L{len(self.calls)}")

    async def watch(self, cls: Any, **kwargs: Any) -> AsyncIterator[WatchEvent[core_pb2.Pod]]:
        self.calls.append(("watch", kwargs))
        for step in self.watches.pop(0) if self.watches else []:
            if isinstance(step, Exception):
                raise step
            yield step
        await asyncio.Event().wait()


async def take(changes: Any, n: int) -> list[Any]:
    got = [await anext(changes) for _ in range(n)]
    await changes.aclose()
    return got


async def test_selected_keeps_the_set_and_relists_when_the_watch_expires() -> None:
    client = FakeClient([[pod("a")], [pod("a", "5"), pod("c")]], [
        [WatchEvent("ADDED", pod("b")), WatchEvent("BOOKMARK", pod("")), WatchEvent("DELETED", pod("a")),
         errors.Expired("too old")],
    ])
    changes = following.selected(client, PODS, namespace="ns", label_selector="app=web")  # type: ignore[arg-type]
    seen = [[p.metadata.name for p in objs] for objs in await take(changes, 4)]
    assert seen == [["a"], ["a", "b"], ["b"], ["a", "c"]]
    assert [(call, kwargs.get("resource_version")) for call, kwargs in client.calls] == [
        ("list", None), ("watch", "L1"), ("list", None)]
    assert all("field_selector" not in kwargs for _, kwargs in client.calls)  # only the selectors given


async def test_an_unreachable_apiserver_ends_the_loop_unless_retried() -> None:
    client = FakeClient([[pod("a")], [pod("a", "9")]], [[errors.ServiceUnavailable("refused")]])
    with pytest.raises(errors.ServiceUnavailable):
        await take(following.selected(client, PODS, namespace="ns"), 2)  # type: ignore[arg-type]
    client = FakeClient([[pod("a")], [pod("a", "9")]], [[errors.ServiceUnavailable("refused")]])
    changes = following.selected(client, PODS, namespace="ns", unavailable_retry=0)  # type: ignore[arg-type]
    assert [objs[0].metadata.resource_version for objs in await take(changes, 2)] == ["1", "9"]


async def test_follow_returns_the_first_state_that_meets_the_condition() -> None:
    target = Target(PODS, "ns", "p")
    client = FakeClient([], [[WatchEvent("MODIFIED", pod("p", "6")), WatchEvent("DELETED", pod("p", "7"))]],
                        obj=pod("p", "5"))
    assert await following.follow(client, target, lambda state: state is None) is None  # type: ignore[arg-type]
    assert client.calls[0][1]["resource_version"] == "5"  # watched from the read, no list
    assert client.calls[0][1]["field_selector"] == "metadata.name=p"
    first = pod("p", "5")
    assert await following.follow(FakeClient([], []), target, lambda s: s is first, first=first) is first  # type: ignore[arg-type]


async def test_follow_of_a_missing_object_and_past_its_deadline() -> None:
    target = Target(PODS, "ns", "p")
    with pytest.raises(errors.NotFound):
        await following.follow(FakeClient([], []), target, lambda state: True)  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        await following.follow(FakeClient([], [], obj=pod("p")), target, lambda state: state is None,  # type: ignore[arg-type]
                               timeout=0.05)


def test_gone_means_no_object_by_the_name_or_one_created_again() -> None:
    def pod_with_uid(uid: str) -> core_pb2.Pod:
        pod = core_pb2.Pod()
        pod.metadata.uid = uid
        return pod

    gone = following.gone("uid-1")
    assert gone(None) and gone(pod_with_uid("uid-2")) and not gone(pod_with_uid("uid-1"))
