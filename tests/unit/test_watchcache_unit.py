"""WatchCache over the in-memory FakeStorage: ordering, replay, selectors, limits, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from apiserver.storage.interface import CompactedError
from apiserver.storage.watchcache import CacheEvent, WatchCache, Watcher
from tests.unit.fake_storage import FakeStorage

PODS = "/registry/pods/default/"


@dataclass(frozen=True)
class Item:
    key: str
    value: str
    revision: int


def decode(key: str, value: bytes, revision: int) -> Item:
    if value.startswith(b"corrupt"):
        raise ValueError("cannot decode")
    return Item(key.rsplit("/", 1)[-1], value.decode(), revision)


def matching(item: Item) -> bool:
    return item.value.startswith("match")


def summary(events: list[CacheEvent[Item]]) -> list[tuple[str, str | None, str | None, int]]:
    return [(e.type, e.object.key if e.object else None, e.object.value if e.object else None, e.revision)
            for e in events]


async def take(watcher: Watcher[Item], count: int, timeout: float = 2.0) -> list[CacheEvent[Item]]:
    events: list[CacheEvent[Item]] = []
    async with asyncio.timeout(timeout):
        while len(events) < count:
            events.append(await anext(watcher))
    return events


@pytest.fixture
def storage() -> FakeStorage:
    return FakeStorage()


@pytest.fixture
async def cache(storage: FakeStorage) -> AsyncIterator[WatchCache[Item]]:
    await storage.create(f"{PODS}b", b"B")
    await storage.create(f"{PODS}a", b"match-A")
    await storage.create("/registry/nodes/n1", b"N")
    cache: WatchCache[Item] = WatchCache(storage, PODS, decode, window=100, bookmark_interval=0.05,
                                         watcher_queue_size=10)
    await cache.start()
    yield cache
    await cache.stop()


async def test_start_loads_the_list(cache: WatchCache[Item], storage: FakeStorage) -> None:
    objects, revision = cache.snapshot()
    assert [(o.key, o.value) for o in objects] == [("a", "match-A"), ("b", "B")]
    assert revision == cache.revision == await storage.current_revision()
    assert cache.snapshot(matching)[0] == [objects[0]]
    assert cache.get(f"{PODS}b") == objects[1] and cache.get(f"{PODS}zz") is None


async def test_watch_from_zero_sends_current_state_then_changes(
    cache: WatchCache[Item], storage: FakeStorage,
) -> None:
    start = cache.revision
    watcher = cache.watch(from_revision=0)
    revision = await storage.create(f"{PODS}c", b"C")
    assert summary(await take(watcher, 3)) == [
        ("ADDED", "a", "match-A", start), ("ADDED", "b", "B", start), ("ADDED", "c", "C", revision)]


async def test_replay_from_revision_joins_live_stream_without_gap(
    cache: WatchCache[Item], storage: FakeStorage,
) -> None:
    r1 = await storage.create(f"{PODS}c", b"C")
    r2 = await storage.update(f"{PODS}c", b"C2", expected_revision=r1)
    await cache.wait_until_fresh(r2)
    watcher = cache.watch(from_revision=r1)  # replays r2 only, then goes live
    r3, _ = await storage.delete(f"{PODS}c")
    events = await take(watcher, 2)
    assert summary(events) == [("MODIFIED", "c", "C2", r2), ("DELETED", "c", "C2", r3)]
    assert events[1].object is not None and events[1].object.revision == r3  # decoded at the delete


async def test_too_old_revision_raises_compacted(storage: FakeStorage) -> None:
    await storage.create(f"{PODS}x", b"0")
    start = await storage.current_revision()
    cache: WatchCache[Item] = WatchCache(storage, PODS, decode, window=3)
    await cache.start()
    try:
        with pytest.raises(CompactedError):
            cache.watch(from_revision=start - 1)  # before the cache's start
        revision = start
        for i in range(5):
            revision = await storage.update(f"{PODS}x", str(i + 1).encode(), expected_revision=revision)
        await cache.wait_until_fresh(revision)
        with pytest.raises(CompactedError) as too_old:
            cache.watch(from_revision=start)  # the window keeps only the last 3 changes
        assert too_old.value.compact_revision == revision - 3
        watcher = cache.watch(from_revision=revision - 3)
        assert [e.object.value for e in await take(watcher, 3) if e.object] == ["3", "4", "5"]
    finally:
        await cache.stop()


async def test_selector_transitions(cache: WatchCache[Item], storage: FakeStorage) -> None:
    watcher = cache.watch(from_revision=cache.revision, predicate=matching)
    r1 = await storage.create(f"{PODS}s", b"plain")              # never matched: nothing
    r2 = await storage.update(f"{PODS}s", b"match-1", expected_revision=r1)   # enters: ADDED
    r3 = await storage.update(f"{PODS}s", b"match-2", expected_revision=r2)   # stays: MODIFIED
    r4 = await storage.update(f"{PODS}s", b"plain-2", expected_revision=r3)   # leaves: DELETED
    await storage.delete(f"{PODS}s")                                          # unmatched: nothing
    r6, _ = await storage.delete(f"{PODS}a")                                  # matched: DELETED
    events = await take(watcher, 4)
    assert summary(events) == [
        ("ADDED", "s", "match-1", r2),
        ("MODIFIED", "s", "match-2", r3),
        ("DELETED", "s", "match-2", r4),  # the last matching content ...
        ("DELETED", "a", "match-A", r6),
    ]
    assert events[2].object is not None and events[2].object.revision == r4  # ... at the exit revision


async def test_two_watchers_see_the_same_sequence(cache: WatchCache[Item], storage: FakeStorage) -> None:
    first = cache.watch(from_revision=cache.revision)
    second = cache.watch(from_revision=cache.revision)
    assert cache.num_watchers == 2
    revision = await storage.create(f"{PODS}n", b"0")
    for i in range(5):
        revision = await storage.update(f"{PODS}n", str(i).encode(), expected_revision=revision)
    one, two = await take(first, 6), await take(second, 6)
    assert one == two and [e.revision for e in one] == sorted({e.revision for e in one})


async def test_slow_watcher_is_terminated_without_blocking_others(
    cache: WatchCache[Item], storage: FakeStorage,
) -> None:
    slow = cache.watch(from_revision=cache.revision)
    fast = cache.watch(from_revision=cache.revision)
    revision = await storage.create(f"{PODS}q", b"0")
    fast_events = await take(fast, 1)
    for i in range(15):  # the queue holds 10
        revision = await storage.update(f"{PODS}q", str(i).encode(), expected_revision=revision)
        fast_events += await take(fast, 1)
    assert len(fast_events) == 16
    assert cache.num_watchers == 1
    with pytest.raises(CompactedError):
        await anext(slow)
    with pytest.raises(StopAsyncIteration):
        await anext(slow)


async def test_bookmarks_carry_the_current_revision(cache: WatchCache[Item], storage: FakeStorage) -> None:
    plain = cache.watch(from_revision=cache.revision, predicate=matching)
    bookmarked = cache.watch(from_revision=cache.revision, predicate=matching, bookmarks=True)
    revision = await storage.create(f"{PODS}hidden", b"not matching")  # filtered out for both
    await cache.wait_until_fresh(revision)
    event = (await take(bookmarked, 1))[0]
    assert (event.type, event.object, event.revision) == ("BOOKMARK", None, revision)
    shown = await storage.create(f"{PODS}shown", b"match")
    assert summary(await take(plain, 1)) == [("ADDED", "shown", "match", shown)]  # no bookmark first


async def test_relist_after_compaction_while_disconnected(
    cache: WatchCache[Item], storage: FakeStorage,
) -> None:
    watcher = cache.watch(from_revision=cache.revision)
    storage.disconnect()
    await storage.create(f"{PODS}new", b"N")
    current = await storage.get(f"{PODS}b")
    assert current is not None
    await storage.update(f"{PODS}b", b"B2", expected_revision=current.mod_revision)
    await storage.delete(f"{PODS}a")
    created_and_gone = await storage.create(f"{PODS}tmp", b"T")
    await storage.delete(f"{PODS}tmp", expected_revision=created_and_gone)
    await storage.compact(await storage.current_revision())
    storage.reconnect()

    events = await take(watcher, 3)
    relisted = await storage.current_revision()
    assert summary(events) == [
        ("DELETED", "a", "match-A", relisted),
        ("MODIFIED", "b", "B2", relisted),
        ("ADDED", "new", "N", relisted),
    ]
    assert storage.list_calls == 2
    assert cache.revision == relisted
    assert [(o.key, o.value) for o in cache.snapshot()[0]] == [("b", "B2"), ("new", "N")]
    later = await storage.create(f"{PODS}later", b"L")  # and it follows the watch again
    assert summary(await take(watcher, 1)) == [("ADDED", "later", "L", later)]


async def test_wait_until_fresh(cache: WatchCache[Item], storage: FakeStorage) -> None:
    revision = await storage.create(f"{PODS}w", b"W")
    await cache.wait_until_fresh(revision)  # read-your-writes through the watch
    assert cache.get(f"{PODS}w") is not None

    # A write elsewhere moves the store on; nothing changed here, so the cache is fresh at once.
    other = await storage.create("/registry/nodes/n2", b"N")
    await cache.wait_until_fresh(other, timeout=1.0)
    assert cache.revision == revision

    # A write here that the cache cannot see yet: not fresh.
    storage.disconnect()
    unseen = await storage.create(f"{PODS}unseen", b"U")
    with pytest.raises(TimeoutError):
        await cache.wait_until_fresh(unseen, timeout=0.2)
    storage.reconnect()
    await cache.wait_until_fresh(unseen)
    assert cache.get(f"{PODS}unseen") is not None


async def test_concurrent_freshness_checks_share_one_storage_read(
    cache: WatchCache[Item], storage: FakeStorage,
) -> None:
    other = await storage.create("/registry/nodes/n2", b"N")
    await asyncio.gather(*(cache.wait_until_fresh(other, timeout=1.0) for _ in range(20)))
    assert storage.changes_since_calls == 1


async def test_undecodable_values_do_not_stop_the_cache(
    cache: WatchCache[Item], storage: FakeStorage,
) -> None:
    watcher = cache.watch(from_revision=cache.revision)
    await storage.create(f"{PODS}bad", b"corrupt")
    good = await storage.create(f"{PODS}good", b"G")
    assert summary(await take(watcher, 1)) == [("ADDED", "good", "G", good)]
    assert cache.get(f"{PODS}bad") is None
    other = await storage.create("/registry/nodes/n3", b"N")
    await cache.wait_until_fresh(other, timeout=1.0)  # the undecodable key still counts


async def test_close_and_stop_end_iteration(storage: FakeStorage) -> None:
    cache: WatchCache[Item] = WatchCache(storage, PODS, decode)
    await cache.start()
    closed = cache.watch(from_revision=cache.revision)
    running = cache.watch(from_revision=cache.revision)
    pending = asyncio.create_task(anext(running))
    closed.close()
    assert cache.num_watchers == 1
    with pytest.raises(StopAsyncIteration):
        await anext(closed)
    await cache.stop()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 1)
    assert cache.num_watchers == 0
    with pytest.raises(RuntimeError):
        cache.watch(from_revision=0)
