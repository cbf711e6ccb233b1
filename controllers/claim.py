"""Adoption and release: which objects an owner manages (Kubernetes' ``ControllerRefManager``).

A controller manages what carries its controller reference, not whatever its selector happens to
match. :func:`claim` reconciles the two for one owner over the candidates its caller lists (the
active pods of a ReplicaSet's namespace, the ReplicaSets of a Deployment's), object by object as
``controller_ref_manager.go``'s ``ClaimObject`` does:

* controlled by another owner: left alone;
* controlled by this owner and still selected: claimed;
* controlled by this owner but no longer selected: *released* (its reference to the owner taken
  off), unless the owner is being deleted, when it is neither claimed nor released;
* an orphan that is selected: *adopted* (the owner's controller reference added) and claimed,
  unless the owner or the orphan is being deleted.

Before the first adoption ``can_adopt`` runs, once per claim: normally :func:`recheck_owner`, a
fresh read proving the cached owner still exists as the same object and is not being deleted,
so a stale cache never makes a deleted owner adopt. Its outcome, a failure included, stands for
every orphan of that claim.

How one object is adopted or released is the caller's: the ReplicaSet controller patches pods
(``pod_control.claim_pods``), the Deployment controller updates ReplicaSets
(``deployment.sync.claim_replica_sets``). An object gone before its write (NotFound) is just not
claimed. Any other failure of a write, and any failure of ``can_adopt`` (there a NotFound means
the *owner* is gone), is kept and the next object handled; the first one is raised once every
object was, so a single bad object neither stops the others nor goes unnoticed: the sync fails
and is retried.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from skiff.api import errors, kinds
from skiff.api.labels import Selector
from skiff.api.ownership import Object, controller_of
from skiff.client.client import Client
from skiff.client.informer import object_key

T = TypeVar("T", bound=Object)


async def claim(owner: Object, selector: Selector, candidates: Iterable[T], *,
                adopt: Callable[[T], Awaitable[T]], release: Callable[[T], Awaitable[None]],
                can_adopt: Callable[[], Awaitable[None]], accepts: Callable[[T], bool] | None = None) -> list[T]:
    """The candidates ``owner`` manages: its own that it still selects, and the orphans it adopts.

    ``adopt`` writes the owner's controller reference onto an orphan and returns the written object;
    ``release`` takes the owner's reference off; ``can_adopt`` raises when the owner must not adopt.
    ``accepts`` narrows what "selected" means beyond the labels (a StatefulSet takes only pods
    named as its members). See the module docstring for the rules and the error handling.
    """
    uid = owner.metadata.uid
    owner_deleting = bool(owner.metadata.deletion_timestamp)
    checked = False  # can_adopt has run (lazily, before the first adoption, at most once)
    refusal: Exception | None = None  # its failure, raised again for every orphan
    claimed: list[T] = []
    failures: list[Exception] = []
    for obj in candidates:
        ref = controller_of(obj)
        matches = selector.matches(obj.metadata.labels) and (accepts is None or accepts(obj))
        try:
            if ref is not None:
                if ref.uid != uid:
                    continue
                if matches:
                    claimed.append(obj)
                elif not owner_deleting:
                    with contextlib.suppress(errors.NotFound):  # gone: nothing to release
                        await release(obj)
                continue
            if owner_deleting or not matches or obj.metadata.deletion_timestamp:
                continue
            if not checked:
                try:
                    await can_adopt()
                except Exception as exc:  # noqa: BLE001 - kept, raised here and for every later orphan
                    refusal = exc
                checked = True
            if refusal is not None:
                raise refusal
            try:
                claimed.append(await adopt(obj))
            except errors.NotFound:
                continue  # gone: nothing to adopt
        except Exception as exc:  # noqa: BLE001 - the first is raised below
            failures.append(exc)
    if failures:
        raise failures[0]
    return claimed


async def recheck_owner(client: Client, owner: Any) -> None:
    """Raise Conflict unless a fresh read shows ``owner`` as the same object (uid), not being deleted."""
    meta = owner.metadata
    fresh = await client.get(type(owner), meta.name, namespace=meta.namespace)
    if fresh.metadata.uid != meta.uid:
        raise errors.Conflict(f"original {kinds.of(owner).kind} {object_key(owner)} is gone: got uid "
                              f"{fresh.metadata.uid}, wanted {meta.uid}")
    if fresh.metadata.deletion_timestamp:
        raise errors.Conflict(f"{object_key(owner)} has just been deleted at {fresh.metadata.deletion_timestamp}")
