"""EtcdStorage against a real etcd: CAS semantics, revisions, the supervised watch, compaction."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from apiserver.storage.etcd import EtcdStorage, parse_endpoint
from apiserver.storage.interface import (
    CompactedError,
    KeyExistsError,
    KeyNotFoundError,
    RevisionConflictError,
    StorageEvent,
    StorageUnavailableError,
)
from apiserver.storage.metrics import resource_type

PODS = "/registry/pods/default/"


class Recorder:
    """Consumes a storage watch in the background; wait for conditions with a deadline."""

    def __init__(self, events: AsyncIterator[StorageEvent]) -> None:
        self.events: list[StorageEvent] = []
        self.error: BaseException | None = None
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._consume(events))

    async def _consume(self, events: AsyncIterator[StorageEvent]) -> None:
        try:
            async for event in events:
                self.events.append(event)
                self._changed.set()
        except Exception as error:  # noqa: BLE001 - recorded for the test to assert on
            self.error = error
            self._changed.set()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[StorageEvent]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count and self.error is None:
                self._changed.clear()
                await self._changed.wait()
        if self.error is not None and len(self.events) < count:
            raise AssertionError(f"watch failed after {len(self.events)} events") from self.error
        return self.events

    async def wait_for_error(self, timeout: float = 10.0) -> BaseException:
        async with asyncio.timeout(timeout):
            while self.error is None:
                self._changed.clear()
                await self._changed.wait()
        return self.error

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def write_batch(storage: EtcdStorage, tag: str) -> list[StorageEvent]:
    """Create three pods, update one, delete one; the events a watch must report, in order."""
    expected: list[StorageEvent] = []
    for i in range(3):
        key, value = f"{PODS}{tag}{i}", f"{tag}{i}-v1".encode()
        revision = await storage.create(key, value)
        expected.append(StorageEvent("PUT", key, value, None, revision))
    key = f"{PODS}{tag}0"
    current = await storage.get(key)
    assert current is not None
    revision = await storage.update(key, b"updated", expected_revision=current.mod_revision)
    expected.append(StorageEvent("PUT", key, b"updated", current.value, revision))
    revision, deleted = await storage.delete(f"{PODS}{tag}1")
    expected.append(StorageEvent("DELETE", f"{PODS}{tag}1", None, deleted.value, revision))
    return expected


# -- key-value semantics ------------------------------------------------------------------------


async def test_create_get_list_count(etcd_storage: EtcdStorage) -> None:
    rev_b = await etcd_storage.create(f"{PODS}b", b"B")
    rev_a = await etcd_storage.create(f"{PODS}a", b"A")
    await etcd_storage.create("/registry/nodes/n1", b"N")

    got = await etcd_storage.get(f"{PODS}a")
    assert got is not None
    assert (got.key, got.value, got.mod_revision, got.create_revision) == (f"{PODS}a", b"A", rev_a, rev_a)
    assert await etcd_storage.get(f"{PODS}missing") is None

    kvs, revision = await etcd_storage.list(PODS)
    assert [kv.key for kv in kvs] == [f"{PODS}a", f"{PODS}b"]
    assert [kv.mod_revision for kv in kvs] == [rev_a, rev_b]
    assert revision == await etcd_storage.current_revision() == rev_a + 1
    assert await etcd_storage.count(PODS) == 2
    assert await etcd_storage.count("/registry/") == 3

    with pytest.raises(KeyExistsError):
        await etcd_storage.create(f"{PODS}a", b"again")


async def test_update_is_compare_and_swap(etcd_storage: EtcdStorage) -> None:
    key = f"{PODS}web"
    rev1 = await etcd_storage.create(key, b"v1")
    rev2 = await etcd_storage.update(key, b"v2", expected_revision=rev1)
    assert rev2 > rev1

    with pytest.raises(RevisionConflictError) as conflict:
        await etcd_storage.update(key, b"stale", expected_revision=rev1)
    assert conflict.value.current is not None
    assert (conflict.value.current.value, conflict.value.current.mod_revision) == (b"v2", rev2)

    with pytest.raises(KeyNotFoundError):
        await etcd_storage.update(f"{PODS}nope", b"x", expected_revision=rev1)
    got = await etcd_storage.get(key)
    assert got is not None and got.value == b"v2" and got.create_revision == rev1


async def test_concurrent_updates_from_one_revision_exactly_one_wins(etcd_storage: EtcdStorage) -> None:
    key = f"{PODS}race"
    rev = await etcd_storage.create(key, b"v0")
    values = [f"writer-{i}".encode() for i in range(8)]
    results = await asyncio.gather(
        *(etcd_storage.update(key, value, expected_revision=rev) for value in values),
        return_exceptions=True,
    )
    winners = [(value, r) for value, r in zip(values, results, strict=True) if isinstance(r, int)]
    losers = [r for r in results if not isinstance(r, int)]
    assert len(winners) == 1
    assert all(isinstance(r, RevisionConflictError) for r in losers)
    won_value, won_revision = winners[0]
    assert all(r.current is not None and r.current.value == won_value
               for r in losers if isinstance(r, RevisionConflictError))
    got = await etcd_storage.get(key)
    assert got is not None and (got.value, got.mod_revision) == (won_value, won_revision)


async def test_delete_guarded_and_unguarded(etcd_storage: EtcdStorage) -> None:
    key = f"{PODS}d"
    rev1 = await etcd_storage.create(key, b"v1")
    rev2 = await etcd_storage.update(key, b"v2", expected_revision=rev1)

    with pytest.raises(RevisionConflictError) as conflict:
        await etcd_storage.delete(key, expected_revision=rev1)
    assert conflict.value.current is not None and conflict.value.current.mod_revision == rev2
    assert await etcd_storage.get(key) is not None

    delete_revision, deleted = await etcd_storage.delete(key, expected_revision=rev2)
    assert delete_revision > rev2 and (deleted.value, deleted.mod_revision) == (b"v2", rev2)
    assert await etcd_storage.get(key) is None
    with pytest.raises(KeyNotFoundError):
        await etcd_storage.delete(key)
    with pytest.raises(KeyNotFoundError):
        await etcd_storage.delete(key, expected_revision=rev2)

    await etcd_storage.create(key, b"again")
    revision, deleted = await etcd_storage.delete(key)
    assert deleted.value == b"again" and revision == await etcd_storage.current_revision()


async def test_changes_since(etcd_storage: EtcdStorage) -> None:
    rev = await etcd_storage.create(f"{PODS}a", b"A")
    await etcd_storage.create("/registry/nodes/n1", b"N")
    quiet = await etcd_storage.changes_since(PODS, rev)
    assert (quiet.count, quiet.modified_keys) == (1, ())
    assert quiet.revision == await etcd_storage.current_revision()

    await etcd_storage.create(f"{PODS}b", b"B")
    busy = await etcd_storage.changes_since(PODS, rev)
    assert (busy.count, busy.modified_keys) == (2, (f"{PODS}b",))


async def test_operations_fail_fast_when_etcd_is_down(etcd) -> None:  # type: ignore[no-untyped-def]
    storage = await EtcdStorage.connect([etcd.url], request_timeout=1.0, unavailable_timeout=0.5)
    try:
        etcd.stop()
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError):
            await storage.get(f"{PODS}x")
        with pytest.raises(StorageUnavailableError):
            await storage.create(f"{PODS}x", b"x")
        assert time.monotonic() - started < 3.0  # two calls, each bounded by its deadlines

        await asyncio.to_thread(etcd.start)
        async with asyncio.timeout(10):
            while True:  # the channel reconnects by itself (within gRPC's 1 s reconnect backoff)
                with contextlib.suppress(StorageUnavailableError):
                    assert await storage.create(f"{PODS}x", b"x") > 0
                    break
    finally:
        await storage.close()


async def test_connect_fails_over_to_a_live_endpoint(etcd) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{unused.getsockname()[1]}"  # bound but not listening: refused
        storage = await EtcdStorage.connect([dead, etcd.url], unavailable_timeout=3.0)
    try:
        assert await storage.create(f"{PODS}failover", b"x") > 0
    finally:
        await storage.close()

    with pytest.raises(StorageUnavailableError):
        await EtcdStorage.connect([dead], unavailable_timeout=0.3)


async def test_metrics_are_recorded_per_operation_and_type(etcd_storage: EtcdStorage) -> None:
    def count(operation: str, kind: str) -> float:
        value = REGISTRY.get_sample_value(
            "etcd_request_duration_seconds_count", {"operation": operation, "type": kind})
        return value or 0.0

    before = count("create", "pods"), count("get", "nodes"), count("list", "pods")
    await etcd_storage.create(f"{PODS}m", b"m")
    await etcd_storage.get("/registry/nodes/n1")
    await etcd_storage.list(PODS)
    after = count("create", "pods"), count("get", "nodes"), count("list", "pods")
    assert [b - a for a, b in zip(before, after, strict=True)] == [1.0, 1.0, 1.0]


def test_resource_type_and_endpoint_parsing() -> None:
    assert resource_type("/registry/pods/default/x") == "pods"
    assert resource_type("/registry/nodes/n1") == "nodes"
    assert resource_type("/registry/pods/") == "pods"
    assert resource_type("") == ""
    assert parse_endpoint("http://127.0.0.1:2379") == ("127.0.0.1", 2379)
    assert parse_endpoint("127.0.0.1:23790") == ("127.0.0.1", 23790)
    assert parse_endpoint("etcd.local") == ("etcd.local", 2379)


# -- the supervised watch -----------------------------------------------------------------------


async def test_watch_from_revision_delivers_every_event_once_in_order(etcd_storage: EtcdStorage) -> None:
    start = await etcd_storage.current_revision() + 1
    expected = await write_batch(etcd_storage, "a")
    await etcd_storage.create("/registry/nodes/other", b"not watched")
    expected += await write_batch(etcd_storage, "b")

    recorder = Recorder(etcd_storage.watch(PODS, start_revision=start))
    try:
        assert await recorder.wait_for(len(expected)) == expected
        # And live events continue after the replayed history, with nothing repeated.
        expected.append(StorageEvent("PUT", f"{PODS}live", b"L", None,
                                     await etcd_storage.create(f"{PODS}live", b"L")))
        assert await recorder.wait_for(len(expected)) == expected
    finally:
        await recorder.close()

    # Watching from the middle starts exactly there.
    middle = expected[4].revision
    recorder = Recorder(etcd_storage.watch(PODS, start_revision=middle))
    try:
        assert await recorder.wait_for(len(expected) - 4) == expected[4:]
    finally:
        await recorder.close()


async def test_watch_resumes_across_an_etcd_restart(
    etcd, etcd_storage: EtcdStorage, caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    start = await etcd_storage.current_revision() + 1
    recorder = Recorder(etcd_storage.watch(PODS, start_revision=start))
    try:
        expected = await write_batch(etcd_storage, "before")
        await recorder.wait_for(len(expected))

        etcd.stop()
        await asyncio.to_thread(etcd.start)
        expected += await write_batch(etcd_storage, "after")
        sentinel = await etcd_storage.create(f"{PODS}sentinel", b"end")
        expected.append(StorageEvent("PUT", f"{PODS}sentinel", b"end", None, sentinel))

        # Everything, in order, once: a duplicate or a gap would shift the sentinel.
        assert await recorder.wait_for(len(expected)) == expected
        assert "broke" in caplog.text  # the stream really was broken and resumed
    finally:
        await recorder.close()


async def test_watch_resumes_after_connection_reset_with_writes_in_between(
    etcd_storage: EtcdStorage, etcd_proxy, caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    watching = await EtcdStorage.connect([etcd_proxy.url], request_timeout=2.0, unavailable_timeout=2.0)
    start = await etcd_storage.current_revision() + 1
    recorder = Recorder(watching.watch(PODS, start_revision=start))
    try:
        expected = await write_batch(etcd_storage, "one")
        await recorder.wait_for(len(expected))
        etcd_proxy.cut()
        expected += await write_batch(etcd_storage, "two")  # written while the watch is cut off
        etcd_proxy.restore()
        assert await recorder.wait_for(len(expected)) == expected
        assert "broke" in caplog.text
    finally:
        await recorder.close()
        await watching.close()


async def test_watch_from_a_compacted_revision_raises(etcd_storage: EtcdStorage) -> None:
    old = await etcd_storage.current_revision() + 1
    await write_batch(etcd_storage, "c")
    await etcd_storage.compact(await etcd_storage.current_revision())
    await etcd_storage.compact(old)  # compacting to an older revision again is a no-op

    stream = etcd_storage.watch(PODS, start_revision=old)
    with pytest.raises(CompactedError) as compacted:
        async with asyncio.timeout(5):
            await anext(stream)
    assert compacted.value.compact_revision == await etcd_storage.current_revision()


async def test_compaction_while_disconnected_surfaces_as_compacted_error(
    etcd_storage: EtcdStorage, etcd_proxy,  # type: ignore[no-untyped-def]
) -> None:
    watching = await EtcdStorage.connect([etcd_proxy.url], request_timeout=2.0, unavailable_timeout=2.0)
    recorder = Recorder(watching.watch(PODS, start_revision=await etcd_storage.current_revision() + 1))
    try:
        first = await write_batch(etcd_storage, "x")
        await recorder.wait_for(len(first))
        etcd_proxy.cut()
        await write_batch(etcd_storage, "y")
        await etcd_storage.compact(await etcd_storage.current_revision())
        etcd_proxy.restore()
        error = await recorder.wait_for_error()
        assert isinstance(error, CompactedError)
        assert recorder.events == first
    finally:
        await recorder.close()
        await watching.close()


async def test_close_ends_running_watches(etcd) -> None:  # type: ignore[no-untyped-def]
    storage = await EtcdStorage.connect([etcd.endpoint])
    recorder = Recorder(storage.watch(PODS, start_revision=await storage.current_revision() + 1))
    await storage.create(f"{PODS}z", b"z")
    await recorder.wait_for(1)
    await storage.close()
    async with asyncio.timeout(5):
        await recorder._task
    assert recorder.error is None and len(recorder.events) == 1
