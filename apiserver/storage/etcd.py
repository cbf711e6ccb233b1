"""EtcdStorage: the ``Storage`` Protocol over etcd v3, using aetcd's channel and generated stubs.

Design
------
* **Connections.** One ``aetcd.Client`` (one gRPC channel) per endpoint; the storage uses one at
  a time and rotates to the next endpoint when the current one is unreachable. Channels get
  keepalive pings (so a silently dead etcd breaks the watch stream instead of hanging it), a
  short reconnect backoff (so a restarted etcd is noticed within a second or two instead of
  gRPC's default of up to two minutes) and no limit on received message size (lists are big).
* **Requests** are built from etcd's protobuf messages and sent on the KV stub directly, because
  aetcd's wrappers drop what we need (the header revision of a txn, count-only ranges,
  min_mod_revision). Create/update/guarded delete are single txns whose compare is on the key's
  mod_revision (0 means absent), with a range of the key in the failure branch so a conflict
  reports what is there now.
* **Unavailability.** Every call has a per-attempt deadline. An attempt that fails with
  UNAVAILABLE (reads also on DEADLINE_EXCEEDED) is retried with a short doubling backoff until
  ``unavailable_timeout`` has passed, then ``StorageUnavailableError`` is raised. Writes are not
  retried after a deadline because the outcome is unknown; every write is guarded, so a retry
  can never apply twice.
* **Supervised watch.** No etcd client resumes a watch by itself. ``watch()`` opens a raw gRPC
  Watch stream (prev_kv on, so DELETE events carry the old value), remembers the revision of the
  last event it delivered, and when the stream breaks (etcd restarted, connection reset, watch
  canceled by the server) it reconnects with backoff (0.1 s doubling to 2 s, forever) and
  resumes from that revision + 1, so the consumer sees every event once and in order. If the
  revision to resume from has been compacted, ``CompactedError`` comes out of the iterator.
  etcd never splits one revision over two watch responses (fragmentation is off), and events
  of a response are delivered before the next one is read, so a break never cuts a revision.
* **Metrics.** Every call is timed into ``etcd_request_duration_seconds{operation,type}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import Any, TypeVar

import aetcd
import grpc
from aetcd import rpc
from aetcd.utils import prefix_range_end

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
from apiserver.storage.metrics import observe
from skiff import aio

__all__ = ["EtcdStorage", "parse_endpoint"]

log = logging.getLogger(__name__)

R = TypeVar("R")

# Module-level aliases: inside EtcdStorage, ``list`` is the method.
_Events = list[StorageEvent]
_Ops = list[Any]

_DEFAULT_PORT = 2379

_CHANNEL_OPTIONS: dict[str, Any] = {
    "grpc.keepalive_time_ms": 10_000,  # etcd's enforcement minimum is 5 s
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.http2.max_pings_without_data": 0,
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1_000,
    "grpc.max_receive_message_length": 2**31 - 1,
    "grpc.max_send_message_length": 2**31 - 1,
}

_TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE})
_TRANSIENT_FOR_READS = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_FATAL_FOR_WATCH = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED,
})

_RETRY_INITIAL_DELAY = 0.05
_RETRY_MAX_DELAY = 0.5
_WATCH_INITIAL_BACKOFF = 0.1
_WATCH_MAX_BACKOFF = 2.0


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``http://host:port``, ``host:port`` or ``host`` -> (host, port)."""
    rest = endpoint.strip()
    for scheme in ("http://", "https://"):
        if rest.startswith(scheme):
            rest = rest[len(scheme):]
    rest = rest.rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return rest, _DEFAULT_PORT
    return host.strip("[]"), int(port)


class _Backoff:
    """Doubling delays, capped; ``reset`` after a success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._next = initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._maximum)
        return delay

    def reset(self) -> None:
        self._next = self._initial


class _StreamBroken(Exception):
    """The watch stream ended for a reason that a reconnect can cure."""


# ---------------------------------------------------------------------------------------------
# protobuf helpers
# ---------------------------------------------------------------------------------------------


def _key_range(prefix: str) -> tuple[bytes, bytes]:
    """[key, range_end) covering every key that starts with ``prefix``."""
    if not prefix:
        return b"\0", b"\0"
    key = prefix.encode()
    return key, prefix_range_end(key)


def _range_request(key: str, **fields: Any) -> Any:
    return rpc.RangeRequest(key=key.encode(), **fields)


def _prefix_request(prefix: str, **fields: Any) -> Any:
    key, range_end = _key_range(prefix)
    return rpc.RangeRequest(key=key, range_end=range_end, **fields)


def _mod_revision_is(key: str, revision: int) -> Any:
    return rpc.Compare(
        key=key.encode(),
        result=rpc.Compare.EQUAL,
        target=rpc.Compare.MOD,
        mod_revision=revision,
    )


def _put_op(key: str, value: bytes) -> Any:
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key.encode(), value=value))


def _get_op(key: str) -> Any:
    return rpc.RequestOp(request_range=_range_request(key))


def _delete_op(key: str) -> Any:
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key.encode(), prev_kv=True))


def _to_kv(kv: Any) -> KeyValue:
    return KeyValue(
        key=kv.key.decode(),
        value=kv.value,
        mod_revision=kv.mod_revision,
        create_revision=kv.create_revision,
    )


def _to_event(event: Any) -> StorageEvent:
    is_put = event.type == rpc.Event.PUT
    prev_value = event.prev_kv.value if event.HasField("prev_kv") else None
    return StorageEvent(
        type="PUT" if is_put else "DELETE",
        key=event.kv.key.decode(),
        value=event.kv.value if is_put else None,
        prev_value=prev_value,
        revision=event.kv.mod_revision,
    )


def _failure_kv(response: Any) -> KeyValue | None:
    """The key read by the failure branch of a guarded txn, if it still exists."""
    kvs = response.responses[0].response_range.kvs
    return _to_kv(kvs[0]) if kvs else None


def _is_compacted_error(error: grpc.aio.AioRpcError) -> bool:
    return error.code() == grpc.StatusCode.OUT_OF_RANGE and "compacted" in (error.details() or "")


def _watch_create_request(prefix: str, start_revision: int) -> Any:
    key, range_end = _key_range(prefix)
    create = rpc.WatchCreateRequest(key=key, range_end=range_end, start_revision=start_revision,
                                    prev_kv=True)
    return rpc.WatchRequest(create_request=create)


# ---------------------------------------------------------------------------------------------
# EtcdStorage
# ---------------------------------------------------------------------------------------------


class EtcdStorage:
    """``Storage`` backed by etcd v3 (see the module docstring for the design)."""

    def __init__(
        self,
        clients: Sequence[aetcd.Client],
        *,
        request_timeout: float = 5.0,
        unavailable_timeout: float = 5.0,
    ) -> None:
        if not clients:
            raise ValueError("at least one etcd endpoint is required")
        self._clients = list(clients)
        self._active = 0
        self._request_timeout = request_timeout
        self._unavailable_timeout = unavailable_timeout
        self._closed = False

    @classmethod
    async def connect(
        cls,
        endpoints: list[str],
        *,
        request_timeout: float = 5.0,
        unavailable_timeout: float = 5.0,
        username: str | None = None,
        password: str | None = None,
    ) -> EtcdStorage:
        """Open channels to ``endpoints`` and check that etcd answers.

        Raises StorageUnavailableError if no endpoint answers within ``unavailable_timeout``.
        """
        clients = [_make_client(endpoint, request_timeout, username, password) for endpoint in endpoints]
        storage = cls(clients, request_timeout=request_timeout, unavailable_timeout=unavailable_timeout)
        try:
            for client in clients:
                await _open(client)
            await storage.current_revision()
        except BaseException:
            await storage.close()
            raise
        return storage

    # -- reads --------------------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        response = await self._call("get", key, lambda kv, t: kv.Range(_range_request(key), timeout=t))
        return _to_kv(response.kvs[0]) if response.kvs else None

    async def list(self, prefix: str) -> tuple[list[KeyValue], int]:
        request = _prefix_request(prefix, sort_order=rpc.RangeRequest.ASCEND,
                                  sort_target=rpc.RangeRequest.KEY)
        response = await self._call("list", prefix, lambda kv, t: kv.Range(request, timeout=t))
        return [_to_kv(kv) for kv in response.kvs], response.header.revision

    async def count(self, prefix: str) -> int:
        request = _prefix_request(prefix, count_only=True)
        response = await self._call("count", prefix, lambda kv, t: kv.Range(request, timeout=t))
        return int(response.count)

    async def current_revision(self) -> int:
        request = _range_request("\0", count_only=True)
        response = await self._call("current_revision", "", lambda kv, t: kv.Range(request, timeout=t))
        return int(response.header.revision)

    async def changes_since(self, prefix: str, revision: int) -> PrefixChanges:
        # Both ranges run in one txn, so they read the same revision.
        count_op = rpc.RequestOp(request_range=_prefix_request(prefix, count_only=True))
        modified_op = rpc.RequestOp(request_range=_prefix_request(
            prefix, keys_only=True, min_mod_revision=revision + 1))
        request = rpc.TxnRequest(compare=[], success=[count_op, modified_op], failure=[])
        response = await self._call("changes_since", prefix, lambda kv, t: kv.Txn(request, timeout=t))
        counted, modified = (op.response_range for op in response.responses)
        return PrefixChanges(
            revision=response.header.revision,
            count=int(counted.count),
            modified_keys=tuple(kv.key.decode() for kv in modified.kvs),
        )

    # -- writes -------------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> int:
        response = await self._txn("create", key, [_mod_revision_is(key, 0)], [_put_op(key, value)], [])
        if not response.succeeded:
            raise KeyExistsError(key)
        return int(response.header.revision)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        if expected_revision <= 0:
            raise ValueError(f"update of {key!r} needs the revision it was read at, got {expected_revision}")
        response = await self._txn(
            "update", key, [_mod_revision_is(key, expected_revision)], [_put_op(key, value)], [_get_op(key)])
        if not response.succeeded:
            raise _conflict_or_missing(key, _failure_kv(response))
        return int(response.header.revision)

    async def delete(self, key: str, *, expected_revision: int | None = None) -> tuple[int, KeyValue]:
        compare = [] if expected_revision is None else [_mod_revision_is(key, expected_revision)]
        response = await self._txn("delete", key, compare, [_delete_op(key)], [_get_op(key)])
        if not response.succeeded:
            raise _conflict_or_missing(key, _failure_kv(response))
        deleted = response.responses[0].response_delete_range.prev_kvs
        if not deleted:
            raise KeyNotFoundError(key)
        return int(response.header.revision), _to_kv(deleted[0])

    async def compact(self, revision: int) -> None:
        request = rpc.CompactionRequest(revision=revision, physical=False)
        try:
            await self._call("compact", "", lambda kv, t: kv.Compact(request, timeout=t))
        except CompactedError:
            log.debug("etcd history is already compacted past revision %d", revision)

    # -- watch --------------------------------------------------------------------------------

    async def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[StorageEvent]:
        """Every change under ``prefix`` from ``start_revision`` on; resumes across etcd restarts."""
        next_revision = start_revision if start_revision > 0 else await self.current_revision() + 1
        backoff = _Backoff(_WATCH_INITIAL_BACKOFF, _WATCH_MAX_BACKOFF)
        while not self._closed:
            try:
                async with aclosing(self._watch_stream(prefix, next_revision, backoff)) as stream:
                    async for events in stream:
                        for event in events:
                            yield event
                        next_revision = events[-1].revision + 1
            except _StreamBroken as broken:
                if self._closed:
                    return
                delay = backoff.next_delay()
                log.warning("etcd watch on %s broke (%s); resuming from revision %d in %.1fs",
                            prefix, broken, next_revision, delay)
                await asyncio.sleep(delay)

    async def _watch_stream(
        self, prefix: str, start_revision: int, backoff: _Backoff
    ) -> AsyncGenerator[_Events, None]:
        """One Watch RPC: yields each response's events; raises _StreamBroken when it breaks."""
        index = self._active
        call = rpc.WatchStub(self._clients[index].channel).Watch(metadata=self._clients[index].metadata)
        try:
            with observe("watch", prefix):
                await call.write(_watch_create_request(prefix, start_revision))
                created = await aio.wait_for(call.read(), self._request_timeout)
                _check_watch_response(created, prefix)
            backoff.reset()
            while True:
                response = await call.read()
                _check_watch_response(response, prefix)
                if response.events:
                    yield [_to_event(event) for event in response.events]
        except grpc.aio.AioRpcError as error:
            if error.code() in _FATAL_FOR_WATCH:
                raise StorageError(f"etcd watch on {prefix} failed: {error.details()}") from error
            self._rotate(index)
            raise _StreamBroken(f"{error.code().name}: {error.details()}") from error
        except TimeoutError as error:
            self._rotate(index)
            raise _StreamBroken("no answer to the watch request") from error
        except asyncio.CancelledError:
            if self._closed and _not_cancelling():
                return
            raise
        finally:
            call.cancel()

    # -- lifecycle ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Close every channel; running watches end (StopAsyncIteration)."""
        self._closed = True
        for client in self._clients:
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - closing must not fail the caller
                log.debug("error closing etcd client", exc_info=True)

    # -- plumbing -----------------------------------------------------------------------------

    async def _txn(self, operation: str, key: str, compare: _Ops, success: _Ops, failure: _Ops) -> Any:
        request = rpc.TxnRequest(compare=compare, success=success, failure=failure)
        return await self._call(operation, key, lambda kv, t: kv.Txn(request, timeout=t), idempotent=False)

    async def _call(
        self,
        operation: str,
        key: str,
        request: Callable[[Any, float], Awaitable[R]],
        *,
        idempotent: bool = True,
    ) -> R:
        """Send one KV request with metrics, retries on unavailability and error mapping."""
        if self._closed:
            raise StorageUnavailableError("storage is closed")
        retryable = _TRANSIENT_FOR_READS if idempotent else _TRANSIENT
        deadline = time.monotonic() + self._unavailable_timeout
        backoff = _Backoff(_RETRY_INITIAL_DELAY, _RETRY_MAX_DELAY)
        with observe(operation, key):
            while True:
                index = self._active
                try:
                    return await request(self._clients[index].kvstub, self._request_timeout)
                except grpc.aio.AioRpcError as error:
                    delay = backoff.next_delay()
                    if error.code() not in retryable or time.monotonic() + delay > deadline:
                        raise _translate(error, operation, key) from error
                    self._rotate(index)
                await asyncio.sleep(delay)

    def _rotate(self, failed: int) -> None:
        """Move off endpoint ``failed`` (once, however many calls saw it fail)."""
        if len(self._clients) > 1 and self._active == failed:
            self._active = (failed + 1) % len(self._clients)
            log.info("switching etcd endpoint to #%d", self._active)


def _make_client(endpoint: str, timeout: float, username: str | None, password: str | None) -> aetcd.Client:
    host, port = parse_endpoint(endpoint)
    return aetcd.Client(host=host, port=port, username=username, password=password,
                        timeout=timeout, options=dict(_CHANNEL_OPTIONS))


async def _open(client: aetcd.Client) -> None:
    """Create the client's channel (and authenticate, if it has credentials)."""
    try:
        await client.connect()
    except aetcd.ClientError as error:
        raise StorageUnavailableError(f"cannot connect to etcd: {error}") from error


def _conflict_or_missing(key: str, current: KeyValue | None) -> StorageError:
    if current is None:
        return KeyNotFoundError(key)
    return RevisionConflictError(current)


def _check_watch_response(response: Any, prefix: str) -> None:
    """Raise for a watch response that ends the stream (EOF, compaction, cancellation)."""
    if response is grpc.aio.EOF:
        raise _StreamBroken("stream closed by etcd")
    if response.compact_revision:
        raise CompactedError(
            response.compact_revision,
            f"watch on {prefix}: history before revision {response.compact_revision} was compacted",
        )
    if response.canceled:
        raise _StreamBroken(f"watch canceled by etcd: {response.cancel_reason or 'no reason given'}")


def _translate(error: grpc.aio.AioRpcError, operation: str, key: str) -> StorageError:
    """Map a gRPC failure of a KV call to the storage error hierarchy."""
    code = error.code()
    what = f"etcd {operation} {key!r}" if key else f"etcd {operation}"
    if _is_compacted_error(error):
        return CompactedError(0, f"{what}: {error.details()}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return StorageUnavailableError(f"{what}: {code.name}: {error.details()}")
    return StorageError(f"{what}: {code.name}: {error.details()}")


def _not_cancelling() -> bool:
    """True unless the current task itself is being cancelled."""
    task = asyncio.current_task()
    return task is None or task.cancelling() == 0
