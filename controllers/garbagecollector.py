"""The garbage collector: dependents follow their owners (Kubernetes' ``pkg/controller/garbagecollector``).

An object whose ``metadata.ownerReferences`` all point at owners that no longer exist — looked
up by *uid*: an object of the same name but another uid is a different owner — is garbage. The
apiserver turns the three propagation policies into state this controller acts on:

* **Background** (the default): the owner is deleted at once; its dependents, found through
  the shared informers' ``owner`` index (dependents by owner uid), are queued and deleted.
* **Foreground**: the owner stays, with a deletionTimestamp and the ``foregroundDeletion``
  finalizer, while its dependents are deleted — themselves in the foreground, so the whole
  chain goes bottom-up. The finalizer is removed (and the owner goes) once no dependent with
  ``blockOwnerDeletion: true`` is left; a pod still terminating on its node still blocks.
* **Orphan**: the owner stays with the ``orphan`` finalizer until every dependent has lost its
  ownerReference to it; then the finalizer is removed.

Instead of Kubernetes' separate dependency graph, the informers *are* the graph: a uid → object
map kept by the handlers, and the ``owner`` index. Like Kubernetes' collector it asks for metadata
only (``SharedInformers.get(..., metadata_only=True)``): kinds no other controller needs whole —
Secrets, ConfigMaps, Services, ... — are held as metadata alone. Two work queues, as in
Kubernetes: ``attempt_to_delete`` (an object that may be garbage, or an owner deleting its
dependents) and ``attempt_to_orphan`` (an owner orphaning its dependents), drained by the
controllers' common :class:`~controllers.base.Worker` loop; any failure, a Conflict too, is logged
and retried with backoff. Handlers enqueue on the transitions that matter: an object deleted (its
dependents), a deletion that starts in the foreground (the owner and its dependents) or with
orphaning (the owner), references that change (the owner that may now be unblocked), and any
object whose owner is not known to the informers. That last rule is what collects dependents of an
owner deleted while the collector was down: after a start, every such dependent shows up in the
initial lists with an unknown owner, the owner is looked up (cache first, then a live read), found
absent, and the dependent is deleted.

Absent owners are remembered by uid (an LRU, like ``absentOwnerCache``) so many dependents of
one deleted owner cost one lookup. Deletes carry a uid precondition, so a new object that took
a deleted one's name is never collected by mistake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from controllers.base import Worker, run_workers
from controllers.informers import SharedInformers
from skiff.api import errors, kinds, ownership
from skiff.api.v1 import core_pb2, meta_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock
from skiff.client.events import EventRecorder
from skiff.client.informer import Informer
from skiff.client.workqueue import WorkQueue

log = logging.getLogger("skiff.controllers.garbagecollector")

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
ABSENT_OWNER_CACHE_SIZE = 500
FINALIZER_RETRIES = 5
IGNORED_KINDS = frozenset({core_pb2.Event})
"""Kinds never collected nor watched (Kubernetes ignores events too)."""


def collected_kinds() -> list[type[Message]]:
    """Every kind the API serves that the collector watches (owners and dependents)."""
    return [k.message for k in kinds.KINDS if k.message not in IGNORED_KINDS]


@dataclass(frozen=True)
class Identity:
    """One object, by kind and uid: a name reused by a new object is another identity."""

    cls: type[Message]
    namespace: str
    name: str
    uid: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def __str__(self) -> str:
        return f"{kinds.of(self.cls).kind} {self.key} ({self.uid})"


def identity_of(obj: Any) -> Identity:
    meta = obj.metadata
    return Identity(type(obj), meta.namespace, meta.name, meta.uid)


def being_deleted(obj: Any) -> bool:
    return bool(obj.metadata.deletion_timestamp)


def deleting_dependents(obj: Any) -> bool:
    return being_deleted(obj) and FOREGROUND_FINALIZER in obj.metadata.finalizers


def orphaning_dependents(obj: Any) -> bool:
    return being_deleted(obj) and ORPHAN_FINALIZER in obj.metadata.finalizers


class _AbsentOwners:
    """Uids of owners known not to exist, least recently used forgotten first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._uids: OrderedDict[str, None] = OrderedDict()

    def add(self, uid: str) -> None:
        self._uids[uid] = None
        self._uids.move_to_end(uid)
        while len(self._uids) > self.size:
            self._uids.popitem(last=False)

    def __contains__(self, uid: object) -> bool:
        return uid in self._uids


@dataclass(frozen=True)
class _Classified:
    solid: list[meta_pb2.OwnerReference]
    dangling: list[meta_pb2.OwnerReference]
    waiting: list[meta_pb2.OwnerReference]
    """Owners that exist and are deleting their dependents in the foreground."""


class GarbageCollector:
    """See the module docstring. ``run()`` drains both queues with ``workers`` coroutines each."""

    NAME = "garbagecollector"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *,
                 workers: int = 20, clock: Clock | None = None) -> None:
        self.client = client
        self.recorder = recorder
        self.workers = workers
        self.attempt_to_delete: WorkQueue[Identity] = WorkQueue("garbage_collector_attempt_to_delete", clock=clock)
        self.attempt_to_orphan: WorkQueue[Identity] = WorkQueue("garbage_collector_attempt_to_orphan", clock=clock)
        self.absent = _AbsentOwners(ABSENT_OWNER_CACHE_SIZE)
        self._by_uid: dict[str, Identity] = {}
        self._informers: dict[type[Message], Informer[Any]] = {}
        for cls in collected_kinds():
            informer = informers.get(cls, metadata_only=True)  # ownership lives in metadata
            self._informers[cls] = informer
            informer.add_handlers(self._on_add, self._on_update, self._on_delete)

    # ---- the graph, read from the informers ----

    def cached(self, ident: Identity) -> Any | None:
        """The informer's copy of ``ident``, if it has this very object (same uid)."""
        informer = self._informers.get(ident.cls)
        obj = informer.store.get(ident.key) if informer is not None else None
        return obj if obj is not None and obj.metadata.uid == ident.uid else None

    def _cached_by_uid(self, uid: str) -> Any | None:
        ident = self._by_uid.get(uid)
        return self.cached(ident) if ident is not None else None

    def dependents(self, owner_uid: str) -> list[Any]:
        """Every cached object with an ownerReference to ``owner_uid``."""
        found: list[Any] = []
        for informer in self._informers.values():
            found.extend(informer.store.by_index("owner", owner_uid))
        return found

    # ---- handlers: enqueue on the transitions that matter ----

    def _on_add(self, obj: Any) -> None:
        self._on_change(None, obj)

    def _on_update(self, old: Any, new: Any) -> None:
        if old.metadata.uid != new.metadata.uid:
            self._on_delete(old)
            old = None
        self._on_change(old, new)

    def _on_change(self, old: Any | None, new: Any) -> None:
        ident = identity_of(new)
        self._by_uid[ident.uid] = ident
        refs = new.metadata.owner_references
        if any(self._owner_in_question(ref) for ref in refs):
            self.attempt_to_delete.add(ident)
        if orphaning_dependents(new) and (old is None or not orphaning_dependents(old)):
            self.attempt_to_orphan.add(ident)
        if deleting_dependents(new) and (old is None or not deleting_dependents(old)):
            self._enqueue_dependents(ident.uid)
            self.attempt_to_delete.add(ident)
        if old is not None:
            self._wake_owners(_changed_refs(old.metadata.owner_references, refs))

    def _owner_in_question(self, ref: meta_pb2.OwnerReference) -> bool:
        """An owner not seen (it may be gone), known absent, or deleting its dependents."""
        if ref.uid in self.absent:
            return True
        owner = self._cached_by_uid(ref.uid)
        return owner is None or deleting_dependents(owner)

    def _on_delete(self, obj: Any) -> None:
        ident = identity_of(obj)
        if self._by_uid.get(ident.uid) == ident:
            del self._by_uid[ident.uid]
        if self.dependents(ident.uid):
            self.absent.add(ident.uid)
        self._enqueue_dependents(ident.uid)
        self._wake_owners(obj.metadata.owner_references)

    def _enqueue_dependents(self, owner_uid: str) -> None:
        for dependent in self.dependents(owner_uid):
            self.attempt_to_delete.add(identity_of(dependent))

    def _wake_owners(self, refs: Iterable[meta_pb2.OwnerReference]) -> None:
        """Owners deleting their dependents look again when one of them goes or lets go."""
        for ref in refs:
            owner = self._cached_by_uid(ref.uid)
            if owner is not None and deleting_dependents(owner):
                self.attempt_to_delete.add(identity_of(owner))

    # ---- attempt to delete ----

    async def attempt_to_delete_item(self, ident: Identity) -> None:
        """Delete ``ident`` if it is garbage; finish an owner's foreground deletion."""
        cached = self.cached(ident)
        if cached is not None and being_deleted(cached) and not deleting_dependents(cached):
            return  # already going
        if cached is not None and self._owned_by_live_owners(cached):
            return  # the cache shows every owner present: nothing to collect
        try:
            latest: Any = await self.client.get(ident.cls, ident.name, namespace=ident.namespace or None)
        except errors.NotFound:
            self._virtual_delete(ident)
            return
        if latest.metadata.uid != ident.uid:
            self._virtual_delete(ident)
            return
        if deleting_dependents(latest):
            await self._process_deleting_dependents(ident)
            return
        if being_deleted(latest) or not latest.metadata.owner_references:
            return
        await self._collect_if_garbage(ident, latest)

    def _owned_by_live_owners(self, obj: Any) -> bool:
        """True when the cache shows every owner present and none deleting its dependents."""
        if deleting_dependents(obj):
            return False
        for ref in obj.metadata.owner_references:
            owner = self._cached_by_uid(ref.uid)
            if owner is None or ref.uid in self.absent or deleting_dependents(owner):
                return False
        return True

    def _virtual_delete(self, ident: Identity) -> None:
        """The object is gone (or replaced): what it owned must be looked at."""
        if self.dependents(ident.uid):
            self.absent.add(ident.uid)
        self._enqueue_dependents(ident.uid)

    async def _collect_if_garbage(self, ident: Identity, latest: Any) -> None:
        refs = list(latest.metadata.owner_references)
        classified = await self._classify(latest, refs)
        if classified.solid:
            stale = classified.dangling + classified.waiting
            if stale:
                log.info("%s: removing references to owners that are gone or going", ident)
                await self._remove_references(ident, [ref.uid for ref in stale])
            return
        if classified.waiting and self.dependents(ident.uid):
            if any(deleting_dependents(d) for d in self.dependents(ident.uid)):
                await self._unblock_owners(ident, refs)  # a cycle of foreground deletions
            await self._delete(ident, "Foreground")
            return
        finalizers = latest.metadata.finalizers
        policy = ("Orphan" if ORPHAN_FINALIZER in finalizers else
                  "Foreground" if FOREGROUND_FINALIZER in finalizers else "Background")
        await self._delete(ident, policy)

    async def _classify(self, item: Any, refs: list[meta_pb2.OwnerReference]) -> _Classified:
        solid: list[meta_pb2.OwnerReference] = []
        dangling: list[meta_pb2.OwnerReference] = []
        waiting: list[meta_pb2.OwnerReference] = []
        for ref in refs:
            owner = await self._lookup_owner(item, ref)
            if owner is None:
                dangling.append(ref)
            elif deleting_dependents(owner):
                waiting.append(ref)
            else:
                solid.append(ref)
        return _Classified(solid, dangling, waiting)

    async def _lookup_owner(self, item: Any, ref: meta_pb2.OwnerReference) -> Any | None:
        """The owner ``ref`` names, or None when no object with its uid exists."""
        if ref.uid in self.absent:
            return None
        kind = kinds.by_gvk(ref.api_version, ref.kind)  # UnknownKind: retried with backoff
        if kind.namespaced and not item.metadata.namespace:
            self.recorder.event(item, "Warning", "OwnerRefInvalidNamespace",
                                f"ownerRef [{ref.api_version}/{ref.kind}, namespace: , name: {ref.name}, "
                                f"uid: {ref.uid}] does not exist in namespace \"\"")
            return None
        cached = self._cached_by_uid(ref.uid)
        if cached is not None:
            return cached
        namespace = item.metadata.namespace if kind.namespaced else None
        try:
            owner: Any = await self.client.get(kind.message, ref.name, namespace=namespace)
        except errors.NotFound:
            self.absent.add(ref.uid)
            return None
        if not ownership.refers_to(ref, owner):  # a namesake: the owner itself is gone
            self.absent.add(ref.uid)
            return None
        return owner

    async def _process_deleting_dependents(self, ident: Identity) -> None:
        blocking = [d for d in self.dependents(ident.uid)
                    if any(r.uid == ident.uid and r.block_owner_deletion for r in d.metadata.owner_references)]
        if not blocking:
            log.info("%s: no blocking dependents left; removing %s", ident, FOREGROUND_FINALIZER)
            await self._remove_finalizer(ident, FOREGROUND_FINALIZER)
            return
        for dependent in blocking:
            if not deleting_dependents(dependent):
                self.attempt_to_delete.add(identity_of(dependent))

    # ---- attempt to orphan ----

    async def attempt_to_orphan_item(self, owner: Identity) -> None:
        """Take ``owner``'s reference off every dependent, then its ``orphan`` finalizer."""
        dependents = [identity_of(d) for d in self.dependents(owner.uid)]
        results = await asyncio.gather(*(self._remove_references(d, [owner.uid]) for d in dependents),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        if dependents:
            log.info("%s: orphaned %d dependents", owner, len(dependents))
        await self._remove_finalizer(owner, ORPHAN_FINALIZER)

    # ---- writes ----

    async def _delete(self, ident: Identity, policy: str) -> None:
        log.info("%s: deleting garbage (propagationPolicy=%s)", ident, policy)
        with contextlib.suppress(errors.NotFound, errors.Conflict):  # gone, or the name is another object's
            await self.client.delete(ident.cls, ident.name, namespace=ident.namespace or None,
                                     propagation_policy=policy, uid=ident.uid)

    async def _remove_references(self, ident: Identity, owner_uids: list[str]) -> None:
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": u} for u in owner_uids],
                              "uid": ident.uid}}
        with contextlib.suppress(errors.NotFound):
            await self.client.patch(ident.cls, ident.name, patch, namespace=ident.namespace or None)

    async def _unblock_owners(self, ident: Identity, refs: list[meta_pb2.OwnerReference]) -> None:
        unblocked = [{"uid": r.uid, "blockOwnerDeletion": False} for r in refs if r.block_owner_deletion]
        if unblocked:
            with contextlib.suppress(errors.NotFound):
                await self.client.patch(ident.cls, ident.name, {"metadata": {"ownerReferences": unblocked}},
                                        namespace=ident.namespace or None)

    async def _remove_finalizer(self, ident: Identity, finalizer: str) -> None:
        """Read, drop ``finalizer``, write with the read's resourceVersion; retried on conflicts."""
        for attempt in range(FINALIZER_RETRIES):
            try:
                obj: Any = await self.client.get(ident.cls, ident.name, namespace=ident.namespace or None)
            except errors.NotFound:
                return
            if obj.metadata.uid != ident.uid or finalizer not in obj.metadata.finalizers:
                return
            kept = [f for f in obj.metadata.finalizers if f != finalizer]
            del obj.metadata.finalizers[:]
            obj.metadata.finalizers.extend(kept)
            try:
                await self.client.update(obj)
                return
            except errors.NotFound:
                return
            except errors.Conflict:
                if attempt == FINALIZER_RETRIES - 1:
                    raise

    # ---- workers ----

    async def run(self) -> None:
        await run_workers(self.workers, Worker(self.attempt_to_delete, self.attempt_to_delete_item, logger=log),
                          Worker(self.attempt_to_orphan, self.attempt_to_orphan_item, logger=log))


def _changed_refs(old: Iterable[meta_pb2.OwnerReference],
                  new: Iterable[meta_pb2.OwnerReference]) -> list[meta_pb2.OwnerReference]:
    """References removed, or whose blockOwnerDeletion changed, between ``old`` and ``new``."""
    current = {ref.uid: ref for ref in new}
    return [ref for ref in old if ref.uid not in current
            or current[ref.uid].block_owner_deletion != ref.block_owner_deletion]
