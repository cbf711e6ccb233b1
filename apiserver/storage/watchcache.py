"""WatchCache: one etcd watch per resource type, fanned out to many client watchers.

Design
------
The cache lists the prefix once, then follows ``Storage.watch`` from the list revision + 1 in a
background task. Each storage event is applied to an in-memory map ``key -> (value, revision,
decoded object)``, turned into a *change* (ADDED / MODIFIED / DELETED, with the previous object
for MODIFIED), appended to a bounded window of recent changes, and offered to every watcher —
all synchronously, with no await between applying a change, advancing ``revision`` and
dispatching it. That gives the ordering guarantees for free:

* ``watch(from_revision=R)`` builds its replay from the window and registers the watcher in one
  synchronous step, so the replay and the live stream join without a gap or an overlap, and a
  watcher sees every change > R once, in revision order. ``R == 0`` replays the current state as
  ADDED events (at the cache revision) instead. ``R`` older than the window raises
  ``CompactedError`` (the apiserver answers Expired and the client relists).
* Predicates are applied per watcher the way Kubernetes does: a change is MODIFIED when old and
  new objects match, ADDED when only the new one matches, and DELETED (the old content decoded at
  the change's revision) when only the old one matches.
* A watcher has a bounded queue of live events. One that falls further behind is terminated with
  ``CompactedError`` on its next read, so a slow client can neither block the cache nor grow
  memory without bound. (Replayed events are already in memory and do not count.)
* With ``bookmarks=True`` a watcher that has had no event for ``bookmark_interval`` seconds gets a
  BOOKMARK carrying the revision it is known to be current at.
* If the storage watch raises ``CompactedError`` (etcd compacted past us while we were
  disconnected), the cache relists, diffs the fresh list against its state and publishes the
  differences as synthetic ADDED / MODIFIED / DELETED changes at the list revision, so watchers
  converge without missing a deletion.
* ``wait_until_fresh(R)`` gives consistent reads. It returns once the cache has applied revision R
  — or once ``Storage.changes_since`` proves that nothing under the prefix changed between the
  cache's revision and a store revision >= R, which is how a resource that sees no events (while
  others do) still answers a consistent List promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from apiserver.storage.interface import (
    CompactedError,
    KeyValue,
    Storage,
    StorageError,
    StorageEvent,
)

__all__ = ["CacheEvent", "WatchCache", "Watcher"]

log = logging.getLogger(__name__)

T = TypeVar("T")

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
Decode = Callable[[str, bytes, int], T]
Predicate = Callable[[T], bool]

DEFAULT_WATCHER_QUEUE = 1000
_RESYNC_INITIAL_BACKOFF = 0.1
_RESYNC_MAX_BACKOFF = 2.0
_FRESHNESS_POLL_S = 0.05


@dataclass(frozen=True)
class CacheEvent(Generic[T]):
    """One event as a client watcher sees it; ``object`` is None only for BOOKMARK."""

    type: EventType
    object: T | None
    revision: int


@dataclass(frozen=True)
class _Entry(Generic[T]):
    """A cached key: its stored bytes, its mod_revision and the decoded object."""

    value: bytes
    revision: int
    obj: T


@dataclass
class _Change(Generic[T]):
    """One applied change, kept in the window and offered to watchers.

    ``obj`` is the new object (for DELETED: the last content, decoded at the delete revision);
    ``prev`` is the entry it replaced (MODIFIED only), used for predicate transitions.
    """

    type: ChangeType
    key: str
    obj: T
    revision: int
    prev: _Entry[T] | None = None
    _exit_obj: T | None = field(default=None, repr=False)

    def exit_object(self, decode: Decode[T]) -> T:
        """The previous content at this change's revision: the object of a selector exit."""
        if self._exit_obj is None:
            assert self.prev is not None
            self._exit_obj = decode(self.key, self.prev.value, self.revision)
        return self._exit_obj


def _visible(change: _Change[T], predicate: Predicate[T] | None, decode: Decode[T]) -> CacheEvent[T] | None:
    """What a watcher with ``predicate`` sees of ``change`` (None: nothing)."""
    if predicate is None or change.type == "ADDED":
        if predicate is None or predicate(change.obj):
            return CacheEvent(change.type, change.obj, change.revision)
        return None
    if change.type == "DELETED":
        return CacheEvent("DELETED", change.obj, change.revision) if predicate(change.obj) else None
    assert change.prev is not None
    now, before = predicate(change.obj), predicate(change.prev.obj)
    if now:
        return CacheEvent("MODIFIED" if before else "ADDED", change.obj, change.revision)
    if before:
        return CacheEvent("DELETED", change.exit_object(decode), change.revision)
    return None


class Watcher(Generic[T]):
    """A client's view of the cache: an async iterator of CacheEvent; ``close()`` to stop.

    Iteration ends (StopAsyncIteration) when closed or when the cache stops; it raises
    CompactedError once if the watcher fell too far behind.
    """

    def __init__(
        self,
        cache: WatchCache[T],
        *,
        predicate: Predicate[T] | None,
        backlog: Iterable[CacheEvent[T]],
        after_revision: int,
        bookmarks: bool,
    ) -> None:
        self._cache = cache
        self._predicate = predicate
        self._backlog: deque[CacheEvent[T]] = deque(backlog)
        self._live: deque[CacheEvent[T]] = deque()
        self._after_revision = after_revision
        self._last_revision = after_revision
        self._bookmark_interval = cache.bookmark_interval if bookmarks else None
        self._queue_size = cache.watcher_queue_size
        self._wakeup = asyncio.Event()
        self._error: Exception | None = None
        self._done = False

    def __aiter__(self) -> Watcher[T]:
        return self

    async def __anext__(self) -> CacheEvent[T]:
        while True:
            if self._error is not None:
                error, self._error = self._error, None
                self._done = True
                raise error
            if self._done:
                raise StopAsyncIteration
            event = self._pop()
            if event is not None:
                return event
            if not await self._wait():
                return self._bookmark()

    def close(self) -> None:
        """Stop watching; a pending or later read ends the iteration."""
        self._finish()
        self._cache._forget(self)

    @property
    def closed(self) -> bool:
        return self._done or self._error is not None

    # -- called by the cache, synchronously -------------------------------------------------

    def _offer(self, change: _Change[T]) -> None:
        if self.closed or change.revision <= self._after_revision:
            return
        try:
            event = _visible(change, self._predicate, self._cache._decode)
        except Exception as error:  # noqa: BLE001 - a bad predicate/decoder ends only this watcher
            self._fail(error)
            return
        if event is None:
            return
        if len(self._live) >= self._queue_size:
            behind = f"watcher fell more than {self._queue_size} events behind"
            self._fail(CompactedError(change.revision, behind))
            return
        self._live.append(event)
        self._wakeup.set()

    def _finish(self) -> None:
        self._done = True
        self._backlog.clear()
        self._live.clear()
        self._wakeup.set()

    def _fail(self, error: Exception) -> None:
        log.warning("terminating watcher on %s: %s", self._cache.prefix, error)
        self._backlog.clear()
        self._live.clear()
        self._error = error
        self._wakeup.set()
        self._cache._forget(self)

    # -- helpers ------------------------------------------------------------------------------

    def _pop(self) -> CacheEvent[T] | None:
        queue = self._backlog or self._live
        if not queue:
            return None
        event = queue.popleft()
        self._last_revision = max(self._last_revision, event.revision)
        return event

    async def _wait(self) -> bool:
        """Wait for news; False if the bookmark interval passed first."""
        self._wakeup.clear()
        if self._bookmark_interval is None:
            await self._wakeup.wait()
            return True
        try:
            async with asyncio.timeout(self._bookmark_interval):
                await self._wakeup.wait()
        except TimeoutError:
            return False
        return True

    def _bookmark(self) -> CacheEvent[T]:
        self._last_revision = max(self._last_revision, self._cache.revision)
        return CacheEvent("BOOKMARK", None, self._last_revision)


class WatchCache(Generic[T]):
    """The decoded objects under one prefix, kept current from one storage watch."""

    def __init__(
        self,
        storage: Storage,
        prefix: str,
        decode: Decode[T],
        *,
        window: int = 10000,
        bookmark_interval: float = 5.0,
        watcher_queue_size: int = DEFAULT_WATCHER_QUEUE,
    ) -> None:
        self.prefix = prefix
        self.bookmark_interval = bookmark_interval
        self.watcher_queue_size = watcher_queue_size
        self._storage = storage
        self._decode = decode
        self._window_size = max(1, window)
        self._entries: dict[str, _Entry[T]] = {}
        self._undecodable: set[str] = set()
        self._window: deque[_Change[T]] = deque()
        self._window_start = 0  # every change with a revision above this is in the window
        self._revision = 0
        self._fresh_until = 0  # store revision up to which the state is proven current
        self._proof: asyncio.Future[None] | None = None  # the freshness check in flight
        self._advanced = asyncio.Event()
        self._watchers: set[Watcher[T]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the initial list, then follow the storage watch in the background."""
        if self._task is not None or self._stopped:
            raise RuntimeError(f"watch cache for {self.prefix} already started")
        kvs, revision = await self._storage.list(self.prefix)
        for kv in kvs:
            self._store(kv.key, kv.value, kv.mod_revision)
        self._window_start = revision
        self._advance(revision)
        self._task = asyncio.create_task(self._run(), name=f"watchcache:{self.prefix}")

    async def stop(self) -> None:
        """Stop following storage; every watcher's iteration ends."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._end_watchers()

    # -- reads --------------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """The last revision the cache has applied."""
        return self._revision

    @property
    def num_watchers(self) -> int:
        return len(self._watchers)

    def snapshot(self, predicate: Predicate[T] | None = None) -> tuple[list[T], int]:
        """The current objects (matching ``predicate``) sorted by key, and the cache revision."""
        objects = [self._entries[key].obj for key in sorted(self._entries)]
        if predicate is not None:
            objects = [obj for obj in objects if predicate(obj)]
        return objects, self._revision

    def get(self, key: str) -> T | None:
        entry = self._entries.get(key)
        return entry.obj if entry is not None else None

    async def wait_until_fresh(self, revision: int, timeout: float = 3.0) -> None:
        """Return once the cache reflects every write up to store revision ``revision``.

        Raises TimeoutError if that cannot be established within ``timeout`` seconds.
        """
        if self._is_fresh(revision):
            return
        try:
            async with asyncio.timeout(timeout):
                await self._become_fresh(revision)
        except TimeoutError:
            raise TimeoutError(
                f"watch cache for {self.prefix} is at revision {self._revision}, "
                f"not yet at {revision}"
            ) from None

    # -- watch --------------------------------------------------------------------------------

    def watch(
        self,
        *,
        from_revision: int,
        predicate: Predicate[T] | None = None,
        bookmarks: bool = False,
    ) -> Watcher[T]:
        """A watcher of every change after ``from_revision`` (0: the current state, then changes).

        Raises CompactedError if ``from_revision`` is older than the window.
        """
        if self._task is None or self._stopped:
            raise RuntimeError(f"watch cache for {self.prefix} is not running")
        if from_revision <= 0:
            backlog, after = self._initial_events(predicate), self._revision
        else:
            backlog, after = self._replay(from_revision, predicate), from_revision
        watcher = Watcher(self, predicate=predicate, backlog=backlog, after_revision=after,
                          bookmarks=bookmarks)
        self._watchers.add(watcher)
        return watcher

    def _initial_events(self, predicate: Predicate[T] | None) -> list[CacheEvent[T]]:
        objects, revision = self.snapshot(predicate)
        return [CacheEvent("ADDED", obj, revision) for obj in objects]

    def _replay(self, from_revision: int, predicate: Predicate[T] | None) -> list[CacheEvent[T]]:
        if from_revision < self._window_start:
            raise CompactedError(
                self._window_start,
                f"revision {from_revision} of {self.prefix} is too old; the oldest available is "
                f"{self._window_start}",
            )
        changes: list[_Change[T]] = []
        for change in reversed(self._window):
            if change.revision <= from_revision:
                break
            changes.append(change)
        events = (_visible(change, predicate, self._decode) for change in reversed(changes))
        return [event for event in events if event is not None]

    def _forget(self, watcher: Watcher[T]) -> None:
        self._watchers.discard(watcher)

    def _end_watchers(self) -> None:
        watchers, self._watchers = self._watchers, set()
        for watcher in watchers:
            watcher._finish()

    # -- following storage --------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = _RESYNC_INITIAL_BACKOFF
        while True:
            try:
                await self._follow()
                log.warning("storage watch on %s ended; the watch cache stops", self.prefix)
                self._stopped = True
                self._end_watchers()
                return
            except CompactedError as error:
                log.warning("watch cache for %s fell behind compaction (%s); relisting", self.prefix, error)
                await self._resync()
            except Exception:
                log.exception("watch cache for %s failed; relisting in %.1fs", self.prefix, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _RESYNC_MAX_BACKOFF)
                await self._resync()

    async def _follow(self) -> None:
        """Apply the storage watch from the cache revision on, until it ends or raises."""
        stream = self._storage.watch(self.prefix, start_revision=self._revision + 1)
        try:
            async for event in stream:
                self._apply(event)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    def _apply(self, event: StorageEvent) -> None:
        if event.revision < self._revision:
            log.debug("ignoring stale event %s@%d on %s", event.key, event.revision, self.prefix)
            return
        if event.type == "PUT":
            assert event.value is not None
            change = self._put(event.key, event.value, event.revision)
        else:
            change = self._delete(event.key, event.prev_value, event.revision)
        self._advance(event.revision)
        if change is not None:
            self._publish(change)

    def _put(self, key: str, value: bytes, revision: int) -> _Change[T] | None:
        prev = self._entries.get(key)
        entry = self._store(key, value, revision)
        if entry is None:
            return None
        if prev is None:
            return _Change("ADDED", key, entry.obj, revision)
        return _Change("MODIFIED", key, entry.obj, revision, prev=prev)

    def _delete(self, key: str, prev_value: bytes | None, revision: int) -> _Change[T] | None:
        prev = self._entries.pop(key, None)
        self._undecodable.discard(key)
        last = prev_value if prev_value is not None else (prev.value if prev is not None else None)
        if last is None:
            return None
        obj = self._try_decode(key, last, revision)
        return None if obj is None else _Change("DELETED", key, obj, revision)

    def _store(self, key: str, value: bytes, revision: int) -> _Entry[T] | None:
        """Cache ``key``; an undecodable value drops it (and is counted for freshness checks)."""
        obj = self._try_decode(key, value, revision)
        if obj is None:
            self._entries.pop(key, None)
            self._undecodable.add(key)
            return None
        self._undecodable.discard(key)
        entry = _Entry(value, revision, obj)
        self._entries[key] = entry
        return entry

    def _try_decode(self, key: str, value: bytes, revision: int) -> T | None:
        try:
            return self._decode(key, value, revision)
        except Exception:
            log.exception("watch cache for %s cannot decode %s at revision %d", self.prefix, key, revision)
            return None

    def _publish(self, change: _Change[T]) -> None:
        self._window.append(change)
        while len(self._window) > self._window_size:
            self._window_start = self._window.popleft().revision
        for watcher in list(self._watchers):
            watcher._offer(change)

    def _advance(self, revision: int) -> None:
        self._revision = max(self._revision, revision)
        self._advanced.set()
        self._advanced = asyncio.Event()

    # -- recovery after compaction ------------------------------------------------------------

    async def _resync(self) -> None:
        """Relist until it works, then publish the difference as changes at the list revision."""
        backoff = _RESYNC_INITIAL_BACKOFF
        while True:
            try:
                kvs, revision = await self._storage.list(self.prefix)
                break
            except StorageError as error:
                log.warning("relist of %s failed (%s); retrying in %.1fs", self.prefix, error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _RESYNC_MAX_BACKOFF)
        if revision <= self._revision:
            return
        for change in self._diff(kvs, revision):
            self._publish(change)
        self._advance(revision)

    def _diff(self, kvs: list[KeyValue], revision: int) -> list[_Change[T]]:
        """Apply a fresh list to the cache; the changes it implies, in key order."""
        fresh = {kv.key: kv for kv in kvs}
        changes: list[_Change[T]] = []
        for key in sorted(set(self._entries) | set(fresh) | self._undecodable):
            kv = fresh.get(key)
            if kv is None:
                change = self._delete(key, None, revision)
            elif key not in self._entries or self._entries[key].revision != kv.mod_revision:
                change = self._relisted_put(kv, revision)
            else:
                continue
            if change is not None:
                changes.append(change)
        return changes

    def _relisted_put(self, kv: KeyValue, revision: int) -> _Change[T] | None:
        change = self._put(kv.key, kv.value, kv.mod_revision)
        if change is not None:
            change.revision = revision
        return change

    # -- freshness ----------------------------------------------------------------------------

    def _is_fresh(self, revision: int) -> bool:
        return self._revision >= revision or self._fresh_until >= revision

    async def _become_fresh(self, revision: int) -> None:
        while not self._is_fresh(revision):
            advanced = self._advanced
            await self._shared_proof()
            if self._is_fresh(revision):
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_FRESHNESS_POLL_S):
                    await advanced.wait()

    async def _shared_proof(self) -> None:
        """Run one freshness check at a time; concurrent waiters share the one in flight."""
        if self._proof is None or self._proof.done():
            self._proof = asyncio.ensure_future(self._prove_unchanged())
        await asyncio.shield(self._proof)

    async def _prove_unchanged(self) -> None:
        """Ask storage whether anything under the prefix changed after our revision.

        If not, our state is the state at the store revision of that read (see PrefixChanges),
        so ``_fresh_until`` moves up to it. The cache revision itself does not move: events
        that left no trace (a key created and deleted again) may still be on their way.
        """
        since, held = self._revision, len(self._entries) + len(self._undecodable)
        try:
            changes = await self._storage.changes_since(self.prefix, since)
        except StorageError as error:
            log.debug("freshness check of %s failed: %s", self.prefix, error)
            return
        if self._revision == since and not changes.modified_keys and changes.count == held:
            self._fresh_until = max(self._fresh_until, changes.revision)
