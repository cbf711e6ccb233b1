"""WatchCache over a real etcd: replay, selectors, fan-out, bookmarks, restart and compaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from apiserver.storage.etcd import EtcdStorage
from apiserver.storage.interface import CompactedError
from apiserver.storage.watchcache import CacheEvent, WatchCache, Watcher

PODS = "/registry/pods/default/"


@dataclass(frozen=True)
class Pod:
    name: str
    phase: str
    revision: int


def decode(key: str, value: bytes, revision: int) -> Pod:
    return Pod(key.rsplit("/", 1)[-1], value.decode(), revision)


def running(pod: Pod) -> bool:
    return pod.phase == "Running"


def summary(events: list[CacheEvent[Pod]]) -> list[tuple[str, str | None, str | None, int]]:
    return [(e.type, e.object.name if e.object else None, e.object.phase if e.object else None, e.revision)
            for e in events]


async def take(watcher: Watcher[Pod], count: int, timeout: float = 10.0) -> list[CacheEvent[Pod]]:
    events: list[CacheEvent[Pod]] = []
    async with asyncio.timeout(timeout):
        while len(events) < count:
            events.append(await anext(watcher))
    return events


async def start_cache(storage: EtcdStorage, **options: float) -> WatchCache[Pod]:
    cache: WatchCache[Pod] = WatchCache(storage, PODS, decode, **options)  # type: ignore[arg-type]
    await cache.start()
    return cache


@pytest.fixture
async def cache(etcd_storage: EtcdStorage) -> AsyncIterator[WatchCache[Pod]]:
    await etcd_storage.create(f"{PODS}a", b"Pending")
    await etcd_storage.create(f"{PODS}b", b"Running")
    await etcd_storage.create("/registry/nodes/n1", b"Ready")
    cache = await start_cache(etcd_storage, bookmark_interval=0.1)
    yield cache
    await cache.stop()


async def test_initial_state_and_replay_from_a_revision(
    cache: WatchCache[Pod], etcd_storage: EtcdStorage,
) -> None:
    assert [p.name for p in cache.snapshot()[0]] == ["a", "b"]
    a = await etcd_storage.get(f"{PODS}a")
    assert a is not None
    r1 = await etcd_storage.update(f"{PODS}a", b"Running", expected_revision=a.mod_revision)
    r2 = await etcd_storage.create(f"{PODS}c", b"Pending")
    r3, _ = await etcd_storage.delete(f"{PODS}b")
    await cache.wait_until_fresh(r3)

    watcher = cache.watch(from_revision=r1)  # replays r2, r3 from the window, then live
    r4 = await etcd_storage.create(f"{PODS}d", b"Running")
    assert summary(await take(watcher, 3)) == [
        ("ADDED", "c", "Pending", r2), ("DELETED", "b", "Running", r3), ("ADDED", "d", "Running", r4)]

    everything = cache.watch(from_revision=0)
    assert summary(await take(everything, 3)) == [
        ("ADDED", "a", "Running", r4), ("ADDED", "c", "Pending", r4), ("ADDED", "d", "Running", r4)]


async def test_selector_transitions_and_two_watchers(
    cache: WatchCache[Pod], etcd_storage: EtcdStorage,
) -> None:
    first = cache.watch(from_revision=cache.revision, predicate=running)
    second = cache.watch(from_revision=cache.revision, predicate=running)
    key = f"{PODS}a"
    a = await etcd_storage.get(key)
    assert a is not None
    r1 = await etcd_storage.update(key, b"Running", expected_revision=a.mod_revision)    # enters
    r2 = await etcd_storage.update(key, b"Running", expected_revision=r1)                # stays
    r3 = await etcd_storage.update(key, b"Succeeded", expected_revision=r2)              # leaves
    await etcd_storage.delete(key)                                                       # unseen
    r5, _ = await etcd_storage.delete(f"{PODS}b")                                        # deleted
    expected = [("ADDED", "a", "Running", r1), ("MODIFIED", "a", "Running", r2),
                ("DELETED", "a", "Running", r3), ("DELETED", "b", "Running", r5)]
    one, two = await take(first, 4), await take(second, 4)
    assert summary(one) == expected
    assert one == two


async def test_bookmarks(cache: WatchCache[Pod], etcd_storage: EtcdStorage) -> None:
    watcher = cache.watch(from_revision=cache.revision, predicate=running, bookmarks=True)
    hidden = await etcd_storage.create(f"{PODS}quiet", b"Pending")  # filtered out
    await cache.wait_until_fresh(hidden)
    bookmark = (await take(watcher, 1))[0]
    assert (bookmark.type, bookmark.object, bookmark.revision) == ("BOOKMARK", None, hidden)


async def test_consistent_read_of_a_quiet_resource(cache: WatchCache[Pod], etcd_storage: EtcdStorage) -> None:
    before = cache.revision
    await etcd_storage.create("/registry/nodes/n2", b"Ready")  # another resource moves etcd on
    current = await etcd_storage.current_revision()
    await cache.wait_until_fresh(current, timeout=1.0)
    assert cache.revision == before  # proven fresh without an event of its own


async def test_cache_follows_across_an_etcd_restart(  # type: ignore[no-untyped-def]
    etcd, cache: WatchCache[Pod], etcd_storage: EtcdStorage,
) -> None:
    watcher = cache.watch(from_revision=cache.revision)
    r1 = await etcd_storage.create(f"{PODS}before", b"Pending")
    assert summary(await take(watcher, 1)) == [("ADDED", "before", "Pending", r1)]
    etcd.stop()
    await asyncio.to_thread(etcd.start)
    r2 = await etcd_storage.create(f"{PODS}after", b"Pending")
    r3, _ = await etcd_storage.delete(f"{PODS}before")
    assert summary(await take(watcher, 2)) == [
        ("ADDED", "after", "Pending", r2), ("DELETED", "before", "Pending", r3)]
    await cache.wait_until_fresh(r3)


async def test_relist_after_compaction_while_disconnected(  # type: ignore[no-untyped-def]
    etcd_storage: EtcdStorage, etcd_proxy,
) -> None:
    await etcd_storage.create(f"{PODS}gone", b"Running")
    await etcd_storage.create(f"{PODS}changed", b"Pending")
    await etcd_storage.create(f"{PODS}same", b"Pending")
    behind_proxy = await EtcdStorage.connect([etcd_proxy.url], request_timeout=2.0, unavailable_timeout=2.0)
    cache = await start_cache(behind_proxy)
    try:
        watcher = cache.watch(from_revision=cache.revision)
        etcd_proxy.cut()
        await etcd_storage.delete(f"{PODS}gone")
        changed = await etcd_storage.get(f"{PODS}changed")
        assert changed is not None
        await etcd_storage.update(f"{PODS}changed", b"Running", expected_revision=changed.mod_revision)
        await etcd_storage.create(f"{PODS}new", b"Pending")
        await etcd_storage.compact(await etcd_storage.current_revision())
        etcd_proxy.restore()

        relisted = await etcd_storage.current_revision()
        assert summary(await take(watcher, 3)) == [
            ("MODIFIED", "changed", "Running", relisted),
            ("DELETED", "gone", "Running", relisted),
            ("ADDED", "new", "Pending", relisted),
        ]
        assert [(p.name, p.phase) for p in cache.snapshot()[0]] == [
            ("changed", "Running"), ("new", "Pending"), ("same", "Pending")]
        with pytest.raises(CompactedError):
            cache.watch(from_revision=1)
    finally:
        await cache.stop()
        await behind_proxy.close()
