"""Informer: a local, always-converging copy of one kind, with change handlers.

``run()`` lists, replaces the Store with the result (telling handlers what was added, changed or
removed since the last state it knew), then watches from the list's resourceVersion. A broken
stream (apiserver restart, network) is resumed from the last resourceVersion seen, with backoff;
an ``Expired`` answer (the resourceVersion was compacted away) makes it relist. With
``metadata_only`` it keeps each object's type and metadata only (Kubernetes' metadata informer:
enough to follow owners and finalizers, without holding specs or Secrets' data). Handlers run
inline and must be quick — controllers only enqueue keys from them (DESIGN.md §6). Objects in the
Store are shared: never mutate one; copy it first.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from skiff import aio
from skiff.api import errors
from skiff.client.client import Client

log = logging.getLogger("skiff.informer")
M = TypeVar("M", bound=Message)
IndexFunc = Callable[[Any], Iterable[str]]


def object_key(obj: Any) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), the Store and workqueue key."""
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


class Store(Generic[M]):
    """Objects by key, with optional secondary indexes (e.g. pods by node name)."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, M] = {}
        self._indexers = dict(indexers or {})
        self._indexes: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}

    def get(self, key: str) -> M | None:
        return self._items.get(key)

    def list(self) -> builtins.list[M]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def by_index(self, index: str, value: str) -> builtins.list[M]:
        keys = self._indexes[index].get(value, set())
        return [self._items[k] for k in sorted(keys) if k in self._items]

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        self._indexers[name] = fn
        self._indexes[name] = {}
        for key, obj in self._items.items():
            self._index(name, key, obj)

    def put(self, obj: M) -> M | None:
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name in self._indexers:
            self._index(name, key, obj)
        return old

    def remove(self, key: str) -> M | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _index(self, name: str, key: str, obj: M) -> None:
        for value in self._indexers[name](obj):
            self._indexes[name].setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: M) -> None:
        for name, fn in self._indexers.items():
            for value in fn(obj):
                bucket = self._indexes[name].get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del self._indexes[name][value]


@dataclass
class Handlers:
    on_add: Callable[[Any], None] | None = None
    on_update: Callable[[Any, Any], None] | None = None
    on_delete: Callable[[Any], None] | None = None


@dataclass
class InformerStats:
    lists: int = 0
    watches: int = 0
    events: int = 0
    expired: int = 0
    reconnects: int = 0


class Informer(Generic[M]):
    """List + watch one kind into a Store; call handlers on every change."""

    def __init__(self, client: Client, cls: type[M], *, namespace: str = "", label_selector: str = "",
                 field_selector: str = "", indexers: dict[str, IndexFunc] | None = None,
                 max_backoff: float = 5.0, metadata_only: bool = False) -> None:
        self.client = client
        self.cls = cls
        self.metadata_only = metadata_only
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.store: Store[M] = Store(indexers)
        self.resource_version = ""
        self.stats = InformerStats()
        self.max_backoff = max_backoff
        self._handlers: list[Handlers] = []
        self._synced = asyncio.Event()

    def add_handlers(self, on_add: Callable[[Any], None] | None = None,
                     on_update: Callable[[Any, Any], None] | None = None,
                     on_delete: Callable[[Any], None] | None = None) -> None:
        self._handlers.append(Handlers(on_add, on_update, on_delete))

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> None:
        await aio.wait_for(self._synced.wait(), timeout)

    async def run(self) -> None:
        """Forever: list, watch, resume or relist. Cancel the task to stop."""
        backoff = 0.1
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                await self._watch()
                backoff = 0.1
            except errors.Expired:
                self.stats.expired += 1
                log.info("%s watch expired at %s; relisting", self.cls.__name__, self.resource_version)
                need_list = True
            except (errors.ServiceUnavailable, errors.InternalError, errors.TooManyRequests) as exc:
                self.stats.reconnects += 1
                log.debug("%s watch broke (%s); resuming in %.1fs", self.cls.__name__, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def _list(self) -> None:
        self.stats.lists += 1
        result = await self.client.list(self.cls, namespace=self.namespace, label_selector=self.label_selector,
                                        field_selector=self.field_selector, metadata_only=self.metadata_only)
        self._replace(result.items)
        self.resource_version = result.resource_version
        self._synced.set()

    def _replace(self, items: builtins.list[M]) -> None:
        fresh = {object_key(o): o for o in items}
        for key in self.store.keys():
            if key not in fresh:
                old = self.store.remove(key)
                self._emit_delete(old)
        for obj in items:
            old = self.store.put(obj)
            if old is None:
                self._emit_add(obj)
            elif old.metadata.resource_version != obj.metadata.resource_version:  # type: ignore[attr-defined]
                self._emit_update(old, obj)

    async def _watch(self) -> None:
        self.stats.watches += 1
        async for event in self.client.watch(self.cls, namespace=self.namespace, label_selector=self.label_selector,
                                             field_selector=self.field_selector,
                                             resource_version=self.resource_version, allow_bookmarks=True,
                                             metadata_only=self.metadata_only):
            self.stats.events += 1
            self._apply(event.type, event.object)
            self.resource_version = event.object.metadata.resource_version  # type: ignore[attr-defined]
        raise errors.ServiceUnavailable("watch stream ended")

    def _apply(self, kind: str, obj: M) -> None:
        if kind == "BOOKMARK":
            return
        if kind == "DELETED":
            old = self.store.remove(object_key(obj))
            self._emit_delete(old if old is not None else obj)
            return
        old = self.store.put(obj)
        if old is None:
            self._emit_add(obj)
        else:
            self._emit_update(old, obj)

    def _emit_add(self, obj: Any) -> None:
        for h in self._handlers:
            if h.on_add:
                h.on_add(obj)

    def _emit_update(self, old: Any, new: Any) -> None:
        for h in self._handlers:
            if h.on_update:
                h.on_update(old, new)

    def _emit_delete(self, obj: Any) -> None:
        for h in self._handlers:
            if h.on_delete:
                h.on_delete(obj)
