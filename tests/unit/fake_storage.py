"""An in-memory ``Storage`` with etcd's semantics, for unit tests that must not start etcd.

One global revision bumped by every write, CAS on mod_revision, a full event history that
``watch`` replays from any revision that has not been compacted, and test hooks:
``disconnect()`` / ``reconnect()`` pause every watch as a broken connection would (a watch
resuming from a revision older than the compaction raises ``CompactedError``, as the supervised
etcd watch does) while reads and writes keep working; ``unavailable = True`` makes every
key-value call raise ``StorageUnavailableError``.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator

from apiserver.storage.interface import (
    CompactedError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    PrefixChanges,
    RevisionConflictError,
    StorageError,
    StorageEvent,
    StorageUnavailableError,
)


class FakeStorage:
    """``Storage`` in a dict; see the module docstring."""

    def __init__(self) -> None:
        self._data: dict[str, KeyValue] = {}
        self._history: list[StorageEvent] = []
        self._revisions: list[int] = []
        self._revision = 1  # like etcd, an empty store is at revision 1
        self._compacted = 0
        self._changed = asyncio.Event()
        self._connected = True
        self._closed = False
        self.unavailable = False
        self.watch_calls = 0
        self.list_calls = 0
        self.changes_since_calls = 0

    # -- test hooks ---------------------------------------------------------------------------

    def disconnect(self) -> None:
        """Every watch stops delivering until ``reconnect``."""
        self._connected = False
        self._notify()

    def reconnect(self) -> None:
        self._connected = True
        self._notify()

    # -- Storage ------------------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        self._check()
        return self._data.get(key)

    async def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        self._check()
        self.list_calls += 1
        return [self._data[k] for k in sorted(self._data) if k.startswith(prefix)], self._revision

    async def count(self, prefix: str) -> int:
        self._check()
        return sum(1 for k in self._data if k.startswith(prefix))

    async def create(self, key: str, value: bytes) -> int:
        self._check()
        if key in self._data:
            raise KeyExistsError(key)
        return self._put(key, value)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        self._check()
        current = self._data.get(key)
        if current is None:
            raise KeyNotFoundError(key)
        if current.mod_revision != expected_revision:
            raise RevisionConflictError(current)
        return self._put(key, value)

    async def delete(self, key: str, *, expected_revision: int | None = None) -> tuple[int, KeyValue]:
        self._check()
        current = self._data.get(key)
        if current is None:
            raise KeyNotFoundError(key)
        if expected_revision is not None and current.mod_revision != expected_revision:
            raise RevisionConflictError(current)
        del self._data[key]
        revision = self._commit(StorageEvent("DELETE", key, None, current.value, self._revision + 1))
        return revision, current

    async def current_revision(self) -> int:
        self._check()
        return self._revision

    async def compact(self, revision: int) -> None:
        self._check()
        if revision > self._revision:
            raise StorageError(f"revision {revision} is in the future")
        self._compacted = max(self._compacted, revision)
        cut = bisect.bisect_left(self._revisions, self._compacted)
        del self._history[:cut]
        del self._revisions[:cut]

    async def changes_since(self, prefix: str, revision: int) -> PrefixChanges:
        self._check()
        self.changes_since_calls += 1
        await asyncio.sleep(0)  # a real round trip lets concurrent callers pile up
        keys = [k for k in sorted(self._data) if k.startswith(prefix)]
        modified = tuple(k for k in keys if self._data[k].mod_revision > revision)
        return PrefixChanges(revision=self._revision, count=len(keys), modified_keys=modified)

    async def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[StorageEvent]:
        self.watch_calls += 1
        next_revision = start_revision if start_revision > 0 else self._revision + 1
        while not self._closed:
            changed = self._changed
            event = self._next_event(prefix, next_revision) if self._connected else None
            if event is None:
                await changed.wait()
                continue
            next_revision = event.revision + 1
            yield event

    async def close(self) -> None:
        self._closed = True
        self._notify()

    # -- internals ----------------------------------------------------------------------------

    def _next_event(self, prefix: str, next_revision: int) -> StorageEvent | None:
        if next_revision < self._compacted:
            raise CompactedError(self._compacted)
        index = bisect.bisect_left(self._revisions, next_revision)
        for event in self._history[index:]:
            if event.key.startswith(prefix):
                return event
        return None

    def _put(self, key: str, value: bytes) -> int:
        previous = self._data.get(key)
        revision = self._revision + 1
        created = previous.create_revision if previous is not None else revision
        self._data[key] = KeyValue(key, value, revision, created)
        prev_value = previous.value if previous is not None else None
        return self._commit(StorageEvent("PUT", key, value, prev_value, revision))

    def _commit(self, event: StorageEvent) -> int:
        self._revision = event.revision
        self._history.append(event)
        self._revisions.append(event.revision)
        self._notify()
        return event.revision

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _check(self) -> None:
        if self._closed or self.unavailable:
            raise StorageUnavailableError("fake storage is unavailable")
