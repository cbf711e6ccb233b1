"""Following objects through the API until they are what a verb waits for: one loop for all.

``wait``, ``rollout status``, ``delete --wait`` and ``port-forward`` (which ends when its pod stops
running) each wait for one object to reach a state, and ``logs``, ``exec`` and ``port-forward``
wait for a workload's pods (skiff.cli.targetpods). They all go through the loop here, built in
three layers:

- ``selected``: the objects a label or field selector picks, as a list after every change. They
  are listed (or, given a resourceVersion the caller already read at, taken from there), then
  kept current by a watch from that resourceVersion. When the watch ends, breaks or has expired
  (``Expired``: its resourceVersion is too old), a new list gives the current objects and the next
  watch starts from the list's resourceVersion, so no change is lost. An apiserver that cannot
  be reached (``ServiceUnavailable``) ends the loop with that error, or, given
  ``unavailable_retry``, is tried again after that many seconds (``wait`` rides it out).
- ``states``: one object's view of it (a ``metadata.name`` field selector): the object after each
  change, ``None`` while it does not exist.
- ``follow``: the object read (or taken as just read), then its states, until one meets the
  caller's condition — that state is returned — or the deadline passes (``TimeoutError``).

The verbs keep their own words: each turns a missing object, a deletion and a ``TimeoutError``
into its own message, most of them around kubectl's ``TIMED_OUT``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypedDict, cast

from google.protobuf.message import Message

from skiff import aio
from skiff.api import errors, kinds
from skiff.cli.resources import Target
from skiff.client.client import Client, WatchEvent

__all__ = ["RETRY", "TIMED_OUT", "Until", "follow", "gone", "selected", "states"]

TIMED_OUT = "timed out waiting for the condition"
"""kubectl's words (wait.ErrWaitTimeout) when a wait runs out of time."""
RETRY = 1.0
"""How long to wait before listing again while the apiserver cannot be reached (``wait``'s choice)."""

Until = Callable[[Message | None], bool]
"""Whether a state of the followed object (None: it does not exist) is the one waited for."""


def gone(uid: str) -> Until:
    """The object with ``uid`` no longer exists: none by its name, or one created again (another uid)."""
    return lambda state: state is None or state.metadata.uid != uid  # type: ignore[attr-defined]


class _Selectors(TypedDict, total=False):
    label_selector: str
    field_selector: str


def _key(obj: Message) -> tuple[str, str]:
    return obj.metadata.namespace, obj.metadata.name  # type: ignore[attr-defined]


async def selected(client: Client, kind: kinds.Kind, *, namespace: str, label_selector: str = "",
                   field_selector: str = "", resource_version: str = "",
                   unavailable_retry: float | None = None) -> AsyncGenerator[list[Message], None]:
    """The objects of ``kind`` the selectors pick in ``namespace`` ("" for all), after each change:
    first as listed, unless ``resource_version`` says where to start watching from (the caller has
    the state of then); then one list per ADDED, MODIFIED or DELETED event, and after every relist."""
    selectors = _Selectors()  # only the selectors given go into the requests
    if label_selector:
        selectors["label_selector"] = label_selector
    if field_selector:
        selectors["field_selector"] = field_selector
    objs: dict[tuple[str, str], Message] = {}
    while True:
        try:
            if not resource_version:
                listed = await client.list(kind.message, namespace=namespace, **selectors)
                resource_version = listed.resource_version
                objs = {_key(o): o for o in listed.items}
                yield list(objs.values())
            events = cast(AsyncGenerator[WatchEvent[Any], None], client.watch(
                kind.message, namespace=namespace, resource_version=resource_version, **selectors))
            async with contextlib.aclosing(events):
                async for event in events:
                    if event.type == "DELETED":
                        objs.pop(_key(event.object), None)
                    elif event.type in ("ADDED", "MODIFIED"):
                        objs[_key(event.object)] = event.object
                    else:
                        continue
                    yield list(objs.values())
            resource_version = ""
        except errors.Expired:
            resource_version = ""
        except errors.ServiceUnavailable:
            if unavailable_retry is None:
                raise
            resource_version = ""
            await asyncio.sleep(unavailable_retry)


async def states(client: Client, target: Target, resource_version: str = "", *,
                 unavailable_retry: float | None = None) -> AsyncGenerator[Message | None, None]:
    """The object after each change from ``resource_version`` on (None once it is gone), relisted
    as ``selected`` does; without a resourceVersion, its current state comes first."""
    changes = selected(client, target.kind, namespace=target.namespace,
                       field_selector=f"metadata.name={target.name}", resource_version=resource_version,
                       unavailable_retry=unavailable_retry)
    async with contextlib.aclosing(changes):
        async for objs in changes:
            yield objs[0] if objs else None


async def follow(client: Client, target: Target, until: Until, *, first: Message | None = None,
                 timeout: float | None = None, unavailable_retry: float | None = None) -> Message | None:
    """The first state of the object that meets ``until``: ``first`` (the object as the caller just
    read it; else it is read here, and a missing object is ``NotFound``) or a later one. Raises
    ``TimeoutError`` when none has within ``timeout`` seconds (None: no deadline)."""

    async def first_met() -> Message | None:
        state = first if first is not None else await client.get(target.kind.message, target.name,
                                                                  namespace=target.namespace)
        if until(state):
            return state
        changes = states(client, target, state.metadata.resource_version,  # type: ignore[attr-defined]
                         unavailable_retry=unavailable_retry)
        async with contextlib.aclosing(changes):
            while not until(later := await anext(changes)):
                pass
            return later

    return await aio.wait_for(first_met(), timeout)
