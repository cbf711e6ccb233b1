"""The storage seam of the apiserver: a small, etcd-shaped key-value Protocol.

Everything above this module (registry, watch cache) talks to ``Storage`` and never to etcd
directly, so unit tests can swap in an in-memory fake and the etcd client stays in one place
(``apiserver.storage.etcd``).

The model is etcd's MVCC store:

* Every write bumps one global, monotonically increasing *revision*. A key's ``mod_revision`` is
  the revision of its last write, and it doubles as the object's ``resourceVersion``.
* Writes are optimistic: ``create`` succeeds only if the key is absent (``mod_revision == 0``),
  ``update`` / guarded ``delete`` only if the key is still at the revision the caller read.
  A lost race raises ``RevisionConflictError`` carrying what is there now.
* ``watch(prefix, start_revision=R)`` streams every change with revision >= R, in order, exactly
  once, even across etcd restarts; if history before R was compacted away it raises
  ``CompactedError`` and the caller must relist.
* ``changes_since`` answers, in one cheap read, whether anything under a prefix changed after a
  revision; the watch cache uses it to prove it is fresh for resources that see no events.

Values are opaque bytes (serialized, possibly encrypted, protobuf). Keys are ``str``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "CompactedError",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyValue",
    "PrefixChanges",
    "RevisionConflictError",
    "Storage",
    "StorageError",
    "StorageEvent",
    "StorageUnavailableError",
]


@dataclass(frozen=True)
class KeyValue:
    """One stored key at one revision."""

    key: str
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass(frozen=True)
class StorageEvent:
    """One change under a watched prefix.

    ``value`` is the new value on PUT and None on DELETE; ``prev_value`` is the value before the
    change (PUT of an existing key, and DELETE), None for a creation. ``revision`` is the
    mod_revision of the change (for a DELETE, the revision of the delete itself).
    """

    type: Literal["PUT", "DELETE"]
    key: str
    value: bytes | None
    prev_value: bytes | None
    revision: int


@dataclass(frozen=True)
class PrefixChanges:
    """The answer of ``Storage.changes_since``, read atomically at store revision ``revision``.

    ``count`` is the number of keys under the prefix at ``revision``; ``modified_keys`` are the
    keys under the prefix whose mod_revision is greater than the revision asked about. If
    ``modified_keys`` is empty and ``count`` equals the number of keys the caller held at the
    revision it asked about, nothing under the prefix was created, modified or deleted since.
    """

    revision: int
    count: int
    modified_keys: tuple[str, ...]


class StorageError(Exception):
    """Base class of every storage failure."""


class KeyExistsError(StorageError):
    """``create`` found the key already present."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"key {key!r} already exists")


class KeyNotFoundError(StorageError):
    """``update`` / ``delete`` found no key."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"key {key!r} not found")


class RevisionConflictError(StorageError):
    """A guarded write lost: the key is no longer at the expected revision.

    ``current`` is what is stored now (None if the caller did not ask for it).
    """

    def __init__(self, current: KeyValue | None = None, message: str = "") -> None:
        self.current = current
        if not message and current is not None:
            message = f"key {current.key!r} is now at revision {current.mod_revision}"
        super().__init__(message or "revision conflict")


class CompactedError(StorageError):
    """The requested revision is older than what is still available; relist and rewatch.

    ``compact_revision`` is the oldest revision that can still be read or watched from.
    """

    def __init__(self, compact_revision: int, message: str = "") -> None:
        self.compact_revision = compact_revision
        super().__init__(message or f"revision compacted; history starts at {compact_revision}")


class StorageUnavailableError(StorageError):
    """etcd could not be reached (or did not answer) within the deadline."""


class Storage(Protocol):
    """An etcd-like key-value store with revisions, compare-and-swap and resumable watches."""

    async def get(self, key: str) -> KeyValue | None:
        """The key's current value, or None."""
        ...

    async def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` sorted by key, and the store revision of the read."""
        ...

    async def count(self, prefix: str) -> int:
        """How many keys are under ``prefix``."""
        ...

    async def create(self, key: str, value: bytes) -> int:
        """Store ``value`` if ``key`` is absent; the new mod_revision. KeyExistsError otherwise."""
        ...

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        """Replace ``value`` if the key is at ``expected_revision``; the new mod_revision.

        RevisionConflictError(current) if it moved on, KeyNotFoundError if it is gone.
        """
        ...

    async def delete(self, key: str, *, expected_revision: int | None = None) -> tuple[int, KeyValue]:
        """Delete ``key`` (only if at ``expected_revision`` when given).

        Returns the revision of the delete and the deleted key-value. KeyNotFoundError if absent,
        RevisionConflictError(current) if guarded and the key moved on.
        """
        ...

    def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[StorageEvent]:
        """Every change under ``prefix`` with revision >= ``start_revision``, in order, once.

        ``start_revision`` <= 0 means "from now". Raises CompactedError from the iterator if
        the revision to (re)start from has been compacted.
        """
        ...

    async def current_revision(self) -> int:
        """The store's current revision."""
        ...

    async def compact(self, revision: int) -> None:
        """Discard history older than ``revision`` (a no-op if already compacted further)."""
        ...

    async def changes_since(self, prefix: str, revision: int) -> PrefixChanges:
        """Count the keys under ``prefix`` and name those modified after ``revision``, atomically."""
        ...

    async def close(self) -> None:
        """Release connections; running watches end."""
        ...
