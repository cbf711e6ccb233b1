"""The generic store: the verbs of the API for one kind, on etcd, with the kind's strategy.

One ``Store`` per kind does what Kubernetes' generic registry does:

* **Create** — the object's quantities read first (a malformed one anywhere is Kubernetes' decode
  BadRequest, see apiserver.registry.quantities), namespace check, defaulting, validation,
  server-set metadata (uid, creationTimestamp, generation, a name from generateName), then a
  create-if-absent etcd txn. Update and UpdateStatus read the quantities first too.
* **Update / UpdateStatus** — a compare-and-swap on the object's ``mod_revision`` (which *is* its
  resourceVersion): a stale resourceVersion is a Conflict. Update keeps the stored status,
  UpdateStatus keeps the stored spec and metadata; ``metadata.generation`` moves only when the
  spec changes. A write that changes nothing is not written (the resourceVersion stays), unless
  the stored value is *stale* — encrypted under a key that is no longer the first one — so that
  rewriting every Secret re-encrypts it.
* **Delete** — preconditions, finalizers (an object with finalizers is only marked with a
  deletionTimestamp; it goes when the last finalizer is removed), the propagation policies
  (Orphan and Foreground become the ``orphan`` / ``foregroundDeletion`` finalizers that the
  garbage collector acts on) and graceful pod deletion (a pod bound to a node is marked and left
  for its kubelet to remove).
* **Get** reads etcd; **List** and **Watch** are served from the kind's watch cache (List first
  waits until the cache has caught up with etcd's current revision, so it is consistent).

Values are the serialized protobuf, passed through the kind's transformer (encryption for
Secrets). The resourceVersion is never stored: it is the etcd revision, set on the way out.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets as pysecrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.message import Message

from apiserver.registry.quantities import check_quantities
from apiserver.registry.strategy import Strategy
from apiserver.storage.interface import (
    CompactedError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    RevisionConflictError,
    Storage,
    StorageUnavailableError,
)
from apiserver.storage.watchcache import WatchCache
from skiff.api import errors, kinds
from skiff.api.kinds import Kind
from skiff.api.labels import FieldSelector, Selector, parse_field_selector, parse_selector
from skiff.api.quantity import QuantityError
from skiff.api.timestamps import rfc3339
from skiff.api.validation import invalid_error

log = logging.getLogger("skiff.apiserver")

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_UNCONDITIONAL_RETRIES = 5


class ValueTransformer(Protocol):
    """What the store needs of encryption (see apiserver.encryption)."""

    def to_storage(self, data: bytes, context: bytes) -> bytes: ...

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]: ...


class IdentityTransformer:
    def to_storage(self, data: bytes, context: bytes) -> bytes:
        return data

    def from_storage(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        return data, False


class NamespaceGate(Protocol):
    """Answers whether new objects may be created in a namespace."""

    async def check_create(self, namespace: str, kind: Kind, name: str) -> None: ...


@dataclass(frozen=True)
class DeleteOptions:
    propagation_policy: str = ""
    grace_period_seconds: int | None = None
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class ListResult:
    items: list[Message]
    resource_version: str
    continue_token: str = ""
    remaining: int | None = None


@dataclass(frozen=True)
class WatchEventOut:
    type: str
    object: Message | None
    resource_version: str


def object_key(kind: Kind, namespace: str, name: str) -> str:
    if kind.namespaced:
        return f"/registry/{kind.resource}/{namespace}/{name}"
    return f"/registry/{kind.resource}/{name}"


def kind_prefix(kind: Kind, namespace: str = "") -> str:
    if kind.namespaced and namespace:
        return f"/registry/{kind.resource}/{namespace}/"
    return f"/registry/{kind.resource}/"


class Store:
    """The API verbs for one kind."""

    def __init__(
        self,
        kind: Kind,
        strategy: Strategy,
        storage: Storage,
        *,
        transformer: ValueTransformer | None = None,
        namespaces: NamespaceGate | None = None,
        watch_window: int = 10000,
    ) -> None:
        self.kind = kind
        self.strategy = strategy
        self.storage = storage
        self.transformer: ValueTransformer = transformer or IdentityTransformer()
        self.namespaces = namespaces
        self.cache: WatchCache[Message] = WatchCache(storage, kind_prefix(kind), self._decode, window=watch_window)

    # ---- lifecycle ----

    async def start(self) -> None:
        await self.cache.start()

    async def stop(self) -> None:
        await self.cache.stop()

    # ---- encoding ----

    def _decode(self, key: str, value: bytes, revision: int) -> Message:
        plain, _ = self.transformer.from_storage(value, key.encode())
        obj = self.kind.message.FromString(plain)
        obj.metadata.resource_version = str(revision)  # type: ignore[attr-defined]
        return obj

    def _decode_kv(self, kv: KeyValue) -> tuple[Message, bool]:
        plain, stale = self.transformer.from_storage(kv.value, kv.key.encode())
        obj = self.kind.message.FromString(plain)
        obj.metadata.resource_version = str(kv.mod_revision)  # type: ignore[attr-defined]
        return obj, stale

    def _encode(self, key: str, obj: Message) -> bytes:
        meta = obj.metadata  # type: ignore[attr-defined]
        rv = meta.resource_version
        meta.ClearField("resource_version")
        try:
            data = obj.SerializeToString(deterministic=True)
        finally:
            if rv:
                meta.resource_version = rv
        return self.transformer.to_storage(data, key.encode())

    # ---- messages ----

    def _not_found(self, name: str) -> errors.NotFound:
        return errors.NotFound(f'{self.kind.group_resource} "{name}" not found')

    def _conflict(self, name: str, detail: str = "") -> errors.Conflict:
        detail = detail or (
            "the object has been modified; please apply your changes to the latest version and try again"
        )
        return errors.Conflict(f'Operation cannot be fulfilled on {self.kind.group_resource} "{name}": {detail}')

    def _invalid(self, name: str, errs: list[Any]) -> errors.Invalid:
        return invalid_error(self.kind.kind, self.kind.group, name, errs)

    def _namespace_of(self, obj: Message, namespace: str) -> str:
        if not self.kind.namespaced:
            return ""
        meta = obj.metadata  # type: ignore[attr-defined]
        if meta.namespace and namespace and meta.namespace != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        return meta.namespace or namespace or "default"

    # ---- reads ----

    async def get(self, namespace: str, name: str) -> Message:
        kv = await _storage_call(self.storage.get(object_key(self.kind, namespace, name)))
        if kv is None:
            raise self._not_found(name)
        return self._decode_kv(kv)[0]

    async def get_with_staleness(self, namespace: str, name: str) -> tuple[Message, KeyValue, bool]:
        kv = await _storage_call(self.storage.get(object_key(self.kind, namespace, name)))
        if kv is None:
            raise self._not_found(name)
        obj, stale = self._decode_kv(kv)
        return obj, kv, stale

    def _predicate(
        self, namespace: str, label_selector: str, field_selector: str
    ) -> Callable[[Message], bool] | None:
        labels = _parse_labels(label_selector)
        fields = _parse_fields(field_selector)
        self._check_fields(fields)
        if not namespace and labels.empty and not fields.requirements:
            return None
        strategy = self.strategy

        def match(obj: Message) -> bool:
            meta = obj.metadata  # type: ignore[attr-defined]
            if namespace and meta.namespace != namespace:
                return False
            if not labels.empty and not labels.matches(meta.labels):
                return False
            return not fields.requirements or fields.matches(strategy.field_set(obj))

        return match

    def _check_fields(self, fields: FieldSelector) -> None:
        supported = self.strategy.field_names()
        for requirement in fields.requirements:
            if requirement[0] not in supported:
                raise errors.BadRequest(
                    f'field label not supported: {requirement[0]} (for {self.kind.group_resource}; '
                    f"supported: {', '.join(sorted(supported))})"
                )

    async def list(
        self,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
    ) -> ListResult:
        predicate = self._predicate(namespace, label_selector, field_selector)
        if resource_version not in ("0",) and not continue_token:
            current = await _storage_call(self.storage.current_revision())
            try:
                await self.cache.wait_until_fresh(current)
            except TimeoutError:
                raise errors.ServiceUnavailable(
                    f"the watch cache for {self.kind.resource} is not ready; try again"
                ) from None
        items, revision = self.cache.snapshot(predicate)
        start_key = ""
        if continue_token:
            start_key, revision = _decode_continue(continue_token)
            items = [o for o in items if self._key_of(o) > start_key]
        if limit and len(items) > limit:
            page = items[:limit]
            token = _encode_continue(self._key_of(page[-1]), revision)
            return ListResult(page, str(revision), token, len(items) - limit)
        return ListResult(list(items), str(revision))

    def _key_of(self, obj: Message) -> str:
        meta = obj.metadata  # type: ignore[attr-defined]
        return object_key(self.kind, meta.namespace, meta.name)

    async def watch(
        self,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
        bookmarks: bool = False,
    ) -> AsyncIterator[WatchEventOut]:
        predicate = self._predicate(namespace, label_selector, field_selector)
        try:
            from_revision = int(resource_version or "0")
        except ValueError:
            raise errors.BadRequest(f'invalid resourceVersion "{resource_version}"') from None
        try:
            watcher = self.cache.watch(from_revision=from_revision, predicate=predicate, bookmarks=bookmarks)
        except CompactedError:
            raise _expired(from_revision) from None
        return self._relay(watcher, from_revision)

    async def _relay(self, watcher: Any, from_revision: int) -> AsyncIterator[WatchEventOut]:
        try:
            async for event in watcher:
                yield WatchEventOut(event.type, event.object, str(event.revision))
        except CompactedError:
            raise _expired(from_revision) from None
        finally:
            watcher.close()

    # ---- create ----

    async def create(self, obj: Message, *, namespace: str = "", dry_run: bool = False) -> Message:
        """Create ``obj`` (the store takes ownership of it and returns it filled in)."""
        self._decode_quantities(obj)
        kinds.set_type_meta(obj)
        meta = obj.metadata  # type: ignore[attr-defined]
        ns = self._namespace_of(obj, namespace)
        if self.kind.namespaced:
            meta.namespace = ns
        else:
            meta.ClearField("namespace")
        if not meta.name and not meta.generate_name:
            raise self._invalid("", [_required_name()])
        self.strategy.prepare_for_create(obj)
        self.strategy.default(obj)
        if meta.name:
            return await self._create_named(obj, ns, dry_run=dry_run)
        for _ in range(8):
            meta.name = meta.generate_name + "".join(pysecrets.choice(_NAME_ALPHABET) for _ in range(5))
            try:
                return await self._create_named(obj, ns, dry_run=dry_run)
            except errors.AlreadyExists:
                continue
        raise errors.ServiceUnavailable(
            f"could not generate a unique name for {self.kind.group_resource} from {meta.generate_name!r}"
        )

    async def _create_named(self, obj: Message, namespace: str, *, dry_run: bool) -> Message:
        meta = obj.metadata  # type: ignore[attr-defined]
        errs = self.strategy.validate(obj)
        if errs:
            raise self._invalid(meta.name, errs)
        if self.namespaces is not None and self.kind.namespaced:
            await self.namespaces.check_create(namespace, self.kind, meta.name)
        meta.uid = str(uuid.uuid4())
        meta.creation_timestamp = rfc3339()
        meta.ClearField("resource_version")
        key = object_key(self.kind, namespace, meta.name)
        if dry_run:
            if await _storage_call(self.storage.get(key)) is not None:
                raise errors.AlreadyExists(f'{self.kind.group_resource} "{meta.name}" already exists')
            return obj
        undo = await self.strategy.before_create(obj)
        try:
            revision = await _storage_call(self.storage.create(key, self._encode(key, obj)))
        except KeyExistsError:
            await undo()
            raise errors.AlreadyExists(f'{self.kind.group_resource} "{meta.name}" already exists') from None
        except BaseException:
            await undo()
            raise
        meta.resource_version = str(revision)
        return obj

    # ---- update ----

    async def update(
        self, obj: Message, *, namespace: str = "", status: bool = False, dry_run: bool = False
    ) -> Message:
        self._decode_quantities(obj)
        ns = self._namespace_of(obj, namespace)
        name = obj.metadata.name  # type: ignore[attr-defined]
        if not name:
            raise self._invalid("", [_required_name()])
        conditional = bool(obj.metadata.resource_version)  # type: ignore[attr-defined]
        for _ in range(1 if conditional else _UNCONDITIONAL_RETRIES):
            try:
                return await self._update_once(obj, ns, status=status, dry_run=dry_run)
            except RevisionConflictError:
                if conditional:
                    raise self._conflict(name) from None
        raise self._conflict(name)

    async def _update_once(self, obj: Message, namespace: str, *, status: bool, dry_run: bool) -> Message:
        name = obj.metadata.name  # type: ignore[attr-defined]
        old, kv, stale = await self.get_with_staleness(namespace, name)
        wanted_rv = obj.metadata.resource_version  # type: ignore[attr-defined]
        if wanted_rv and wanted_rv != str(kv.mod_revision):
            raise self._conflict(name)
        wanted_uid = obj.metadata.uid  # type: ignore[attr-defined]
        if wanted_uid and wanted_uid != old.metadata.uid:  # type: ignore[attr-defined]
            raise self._conflict(name, f"Precondition failed: UID in precondition: {wanted_uid}, "
                                       f"UID in object meta: {old.metadata.uid}")  # type: ignore[attr-defined]
        new = self.prepare_update(obj, old, status=status)
        return await self.write_update(new, old, kv, stale=stale, dry_run=dry_run)

    def _decode_quantities(self, obj: Message) -> None:
        """Read every quantity of a request's object first, as Kubernetes does while decoding the
        body: a malformed one, in whatever field, is that decode error (a BadRequest), not a field
        error."""
        try:
            check_quantities(obj)
        except QuantityError as exc:
            kind = self.kind.kind
            raise errors.BadRequest(f'{kind} in version "{self.kind.version}" cannot be handled as a {kind}: {exc}') \
                from None

    def prepare_update(self, obj: Message, old: Message, *, status: bool) -> Message:
        """The object to store for an Update (or UpdateStatus) of ``old`` with ``obj``."""
        new = _copy(obj)
        kinds.set_type_meta(new)
        if status:
            self.strategy.prepare_for_status_update(new, old)
        else:
            self.strategy.prepare_for_update(new, old)
        _keep_server_metadata(new, old)
        self.strategy.default(new)
        if not status:
            self.strategy.prepare_defaulted_update(new, old)
            if self.strategy.spec_changed(new, old):
                new.metadata.generation = old.metadata.generation + 1  # type: ignore[attr-defined]
        return new

    async def write_update(
        self, new: Message, old: Message, kv: KeyValue, *, stale: bool = False, dry_run: bool = False,
        skip_update_rules: bool = False,
    ) -> Message:
        """Validate and compare-and-swap ``new`` over ``kv``; RevisionConflictError on a race.

        ``skip_update_rules``: a subresource (pods/binding) made the change, so the kind's update
        rules (a pod's immutable spec) do not apply, as they do not to Kubernetes' binding REST."""
        name = new.metadata.name  # type: ignore[attr-defined]
        errs = self.strategy.validate(new)
        if not skip_update_rules:
            errs += self.strategy.validate_update(new, old)
        if errs:
            raise self._invalid(name, errs)
        new.metadata.resource_version = str(kv.mod_revision)  # type: ignore[attr-defined]
        if _same(new, old) and not stale:
            return old
        if dry_run:
            return new
        meta = new.metadata  # type: ignore[attr-defined]
        if meta.deletion_timestamp and not meta.finalizers:
            return await self._remove(kv, new)
        undo = await self.strategy.before_update(new, old)
        try:
            revision = await _storage_call(
                self.storage.update(kv.key, self._encode(kv.key, new), expected_revision=kv.mod_revision)
            )
        except KeyNotFoundError:
            await undo()
            raise self._not_found(name) from None
        except BaseException:
            await undo()
            raise
        meta.resource_version = str(revision)
        await self.strategy.after_update(new, old)
        return new

    async def guaranteed_update(
        self, namespace: str, name: str, mutate: Callable[[Message], Message | None], *, status: bool = False
    ) -> Message:
        """Read, mutate, compare-and-swap; retried on conflicts (server-side read-modify-write)."""
        for _ in range(_UNCONDITIONAL_RETRIES * 2):
            old, kv, stale = await self.get_with_staleness(namespace, name)
            changed = mutate(_copy(old))
            if changed is None:
                return old
            new = self.prepare_update(changed, old, status=status)
            try:
                return await self.write_update(new, old, kv, stale=stale)
            except RevisionConflictError:
                continue
        raise self._conflict(name)

    # ---- delete ----

    async def delete(self, namespace: str, name: str, options: DeleteOptions) -> tuple[Message, bool]:
        """Delete or mark for deletion; returns (object, gone-from-storage)."""
        for _ in range(_UNCONDITIONAL_RETRIES * 2):
            obj, kv, _ = await self.get_with_staleness(namespace, name)
            self._check_preconditions(obj, options)
            try:
                return await self._delete_once(obj, kv, options)
            except RevisionConflictError:
                continue
        raise self._conflict(name)

    def _check_preconditions(self, obj: Message, options: DeleteOptions) -> None:
        meta = obj.metadata  # type: ignore[attr-defined]
        if options.precondition_uid and options.precondition_uid != meta.uid:
            raise self._conflict(
                meta.name,
                f"Precondition failed: UID in precondition: {options.precondition_uid}, "
                f"UID in object meta: {meta.uid}",
            )
        rv = options.precondition_resource_version
        if rv and rv != meta.resource_version:
            raise self._conflict(
                meta.name,
                f"Precondition failed: ResourceVersion in precondition: {rv}, "
                f"ResourceVersion in object meta: {meta.resource_version}",
            )

    async def _delete_once(self, obj: Message, kv: KeyValue, options: DeleteOptions) -> tuple[Message, bool]:
        new = _copy(obj)
        meta = new.metadata  # type: ignore[attr-defined]
        policy = options.propagation_policy or "Background"
        if policy not in ("Background", "Foreground", "Orphan"):
            raise errors.BadRequest(
                f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                '"Background", "Foreground", "Orphan"'
            )
        wanted = {"Orphan": ORPHAN_FINALIZER, "Foreground": FOREGROUND_FINALIZER}.get(policy)
        grace = self.strategy.grace_period(new, options.grace_period_seconds)
        if meta.deletion_timestamp:
            return await self._redelete(new, obj, kv, grace, options)
        if wanted and wanted not in meta.finalizers:
            other = FOREGROUND_FINALIZER if wanted == ORPHAN_FINALIZER else ORPHAN_FINALIZER
            kept = [f for f in meta.finalizers if f != other]
            del meta.finalizers[:]
            meta.finalizers.extend([*kept, wanted])
        if not meta.finalizers and grace == 0:
            if options.dry_run:
                return new, True
            return await self._remove(kv, obj), True
        meta.deletion_timestamp = rfc3339(time.time() + grace)
        meta.deletion_grace_period_seconds = grace
        if options.dry_run:
            return new, False
        revision = await _storage_call(
            self.storage.update(kv.key, self._encode(kv.key, new), expected_revision=kv.mod_revision)
        )
        meta.resource_version = str(revision)
        return new, False

    async def _redelete(
        self, new: Message, old: Message, kv: KeyValue, grace: int, options: DeleteOptions
    ) -> tuple[Message, bool]:
        """A second delete of an object already marked: it may shorten the grace period."""
        meta = new.metadata  # type: ignore[attr-defined]
        if not meta.finalizers and grace == 0:
            if options.dry_run:
                return new, True
            return await self._remove(kv, old), True
        if meta.HasField("deletion_grace_period_seconds") and grace < meta.deletion_grace_period_seconds:
            meta.deletion_grace_period_seconds = grace
            meta.deletion_timestamp = rfc3339(time.time() + grace)
            if not options.dry_run:
                revision = await _storage_call(
                    self.storage.update(kv.key, self._encode(kv.key, new), expected_revision=kv.mod_revision)
                )
                meta.resource_version = str(revision)
        return new, False

    async def _remove(self, kv: KeyValue, obj: Message) -> Message:
        try:
            revision, _ = await _storage_call(self.storage.delete(kv.key, expected_revision=kv.mod_revision))
        except KeyNotFoundError:
            raise self._not_found(obj.metadata.name) from None  # type: ignore[attr-defined]
        obj = _copy(obj)
        obj.metadata.resource_version = str(revision)  # type: ignore[attr-defined]
        await self.strategy.after_delete(obj)
        return obj


# ---- helpers ----


def _copy(obj: Message) -> Message:
    new = type(obj)()
    new.CopyFrom(obj)
    return new


def _same(a: Message, b: Message) -> bool:
    return a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


def _keep_server_metadata(new: Message, old: Message) -> None:
    """Fields of metadata that only the server sets survive any update."""
    nm, om = new.metadata, old.metadata  # type: ignore[attr-defined]
    nm.name, nm.uid = om.name, om.uid
    nm.creation_timestamp = om.creation_timestamp
    if om.namespace:
        nm.namespace = om.namespace
    else:
        nm.ClearField("namespace")
    for field in ("deletion_timestamp", "deletion_grace_period_seconds", "generation", "generate_name"):
        if om.HasField(field):
            setattr(nm, field, getattr(om, field))
        else:
            nm.ClearField(field)


def _required_name() -> Any:
    from skiff.api.validation import required

    return required("metadata.name", "name or generateName is required")


def _parse_labels(text: str) -> Selector:
    try:
        return parse_selector(text)
    except ValueError as exc:
        text = str(exc)
        raise errors.BadRequest(text if text.startswith("unable to parse") else
                                f"unable to parse requirement: {text}") from None


def _parse_fields(text: str) -> FieldSelector:
    try:
        return parse_field_selector(text)
    except ValueError as exc:
        raise errors.BadRequest(f"invalid field selector: {exc}") from None


def _expired(revision: int) -> errors.Expired:
    return errors.Expired(f"too old resource version: {revision}")


def _encode_continue(key: str, revision: int) -> str:
    raw = json.dumps({"start": key, "rv": revision}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[str, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(data["start"]), int(data["rv"])
    except (ValueError, KeyError, TypeError):
        raise errors.BadRequest("continue key is not valid: malformed continue token") from None


async def _storage_call(awaitable: Any) -> Any:
    try:
        return await awaitable
    except StorageUnavailableError as exc:
        raise errors.ServiceUnavailable(f"etcd is unavailable: {exc}") from None
