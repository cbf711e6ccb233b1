"""The Resources gRPC service: a thin translation between the wire and the Registry.

Every method goes through ``_call``, the one place that times the request for
``apiserver_request_duration_seconds``, counts it in ``apiserver_request_total`` with its
HTTP-style code, and turns a StatusError into the gRPC status of the one error table
(``skiff.api.errors.GRPC_CODES``) with the Kubernetes reason in the trailing metadata. An
unexpected exception is logged and answered as InternalError; it never takes the server down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message

from apiserver.registry.api import Registry
from apiserver.registry.store import DeleteOptions
from apiserver.server import metrics
from skiff.api import errors, kinds
from skiff.api.v1 import resources_pb2 as pb
from skiff.api.v1 import resources_pb2_grpc

log = logging.getLogger("skiff.apiserver")
T = TypeVar("T")
VERSION = "v1.31.0-skiff"


def _unpack(wrapped: any_pb2.Any, resource: str) -> Message:
    kind = kinds.by_resource(resource)
    if wrapped.type_url != kind.type_url:
        raise errors.BadRequest(
            f"the object's type {wrapped.type_url.rsplit('/', 1)[-1]!r} does not match the resource "
            f"{resource!r} (expected {kind.message.DESCRIPTOR.full_name})"
        )
    obj = kind.message()
    try:
        wrapped.Unpack(obj)
    except ProtoDecodeError:
        raise errors.BadRequest("the object could not be decoded") from None
    return obj


def _kind(resource: str) -> kinds.Kind:
    try:
        return kinds.by_resource(resource)
    except kinds.UnknownKind as exc:
        raise errors.NotFound(str(exc)) from None


def _namespace(kind: kinds.Kind, namespace: str) -> str:
    return namespace if kind.namespaced else ""


class ResourcesServicer(resources_pb2_grpc.ResourcesServicer):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        for kind in kinds.KINDS:  # every resource reports its watcher count, 0 included
            metrics.REGISTERED_WATCHERS.labels(kind.group_resource).set(0)

    async def _call(self, verb: str, resource: str, context: grpc.aio.ServicerContext,
                    fn: Callable[[], Awaitable[T]]) -> T:
        start = time.perf_counter()
        code = 200
        try:
            return await fn()
        except errors.StatusError as exc:
            code = exc.code
            await _abort(context, exc)
            raise  # unreachable: abort raises
        except kinds.UnknownKind as exc:
            code = 404
            await _abort(context, errors.NotFound(str(exc)))
            raise
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:  # noqa: BLE001 - the boundary: log, answer 500, keep serving
            code = 500
            log.exception("%s %s failed", verb, resource)
            await _abort(context, errors.InternalError(f"Internal error occurred: {type(exc).__name__}: {exc}"))
            raise
        finally:
            metrics.REQUESTS.labels(verb, resource, str(code)).inc()
            metrics.REQUEST_DURATION.labels(verb, resource).observe(time.perf_counter() - start)

    async def Create(self, request: pb.CreateRequest, context: Any) -> any_pb2.Any:
        async def run() -> any_pb2.Any:
            kind = _kind(request.resource)
            obj = _unpack(request.object, request.resource)
            store = self.registry.store(request.resource)
            created = await store.create(obj, namespace=_namespace(kind, request.namespace), dry_run=request.dry_run)
            return kinds.pack(created)

        return await self._call("CREATE", request.resource, context, run)

    async def Get(self, request: pb.GetRequest, context: Any) -> any_pb2.Any:
        async def run() -> any_pb2.Any:
            kind = _kind(request.resource)
            obj = await self.registry.store(request.resource).get(_namespace(kind, request.namespace), request.name)
            return kinds.pack(kinds.set_type_meta(obj))

        return await self._call("GET", request.resource, context, run)

    async def List(self, request: pb.ListRequest, context: Any) -> pb.ListResponse:
        async def run() -> pb.ListResponse:
            kind = _kind(request.resource)
            result = await self.registry.store(request.resource).list(
                _namespace(kind, request.namespace), label_selector=request.label_selector,
                field_selector=request.field_selector, limit=request.limit,
                continue_token=getattr(request, "continue"), resource_version=request.resource_version)
            response = pb.ListResponse()
            for item in result.items:
                response.items.add().Pack(kinds.set_type_meta(_copy(item, request.metadata_only)))
            response.metadata.resource_version = result.resource_version
            if result.continue_token:
                setattr(response.metadata, "continue", result.continue_token)
                response.metadata.remaining_item_count = result.remaining or 0
            return response

        return await self._call("LIST", request.resource, context, run)

    async def _update(self, request: pb.UpdateRequest, context: Any, *, status: bool) -> any_pb2.Any:
        async def run() -> any_pb2.Any:
            kind = _kind(request.resource)
            obj = _unpack(request.object, request.resource)
            store = self.registry.store(request.resource)
            if status and not kind.has_status:
                raise errors.NotFound(f"the server could not find the requested resource ({request.resource}/status)")
            updated = await store.update(obj, namespace=_namespace(kind, request.namespace), status=status,
                                         dry_run=request.dry_run)
            return kinds.pack(kinds.set_type_meta(updated))

        return await self._call("UPDATE" if not status else "UPDATE_STATUS", request.resource, context, run)

    async def Update(self, request: pb.UpdateRequest, context: Any) -> any_pb2.Any:
        return await self._update(request, context, status=False)

    async def UpdateStatus(self, request: pb.UpdateRequest, context: Any) -> any_pb2.Any:
        return await self._update(request, context, status=True)

    async def Patch(self, request: pb.PatchRequest, context: Any) -> any_pb2.Any:
        async def run() -> any_pb2.Any:
            kind = _kind(request.resource)
            patched = await self.registry.patch(
                request.resource, _namespace(kind, request.namespace), request.name, patch_type=request.patch_type,
                patch=request.patch, subresource=request.subresource, dry_run=request.dry_run)
            return kinds.pack(kinds.set_type_meta(patched))

        return await self._call("PATCH", request.resource, context, run)

    async def Delete(self, request: pb.DeleteRequest, context: Any) -> pb.DeleteResponse:
        async def run() -> pb.DeleteResponse:
            kind = _kind(request.resource)
            pre = request.preconditions
            options = DeleteOptions(
                propagation_policy=request.propagation_policy,
                grace_period_seconds=request.grace_period_seconds if request.HasField("grace_period_seconds")
                else None,
                precondition_uid=pre.uid if pre.HasField("uid") else None,
                precondition_resource_version=pre.resource_version if pre.HasField("resource_version") else None,
                dry_run=request.dry_run)
            obj, gone = await self.registry.delete(request.resource, _namespace(kind, request.namespace),
                                                   request.name, options)
            return pb.DeleteResponse(object=kinds.pack(kinds.set_type_meta(obj)), finalized=gone)

        return await self._call("DELETE", request.resource, context, run)

    async def Watch(self, request: pb.WatchRequest, context: Any) -> AsyncIterator[pb.WatchEvent]:
        resource = request.resource
        try:
            kind = _kind(resource)
            events = await self.registry.store(resource).watch(
                _namespace(kind, request.namespace), label_selector=request.label_selector,
                field_selector=request.field_selector, resource_version=request.resource_version,
                bookmarks=request.allow_bookmarks)
        except errors.StatusError as exc:
            metrics.REQUESTS.labels("WATCH", resource, str(exc.code)).inc()
            await _abort(context, exc)
            return
        metrics.REQUESTS.labels("WATCH", resource, "200").inc()
        gauge = metrics.REGISTERED_WATCHERS.labels(kind.group_resource)
        gauge.inc()
        try:
            async for event in events:
                yield _watch_event(kind, event, request.metadata_only)
        except errors.StatusError as exc:
            await _abort(context, exc)
        finally:
            gauge.dec()

    async def Bind(self, request: pb.BindRequest, context: Any) -> pb.BindResponse:
        async def run() -> pb.BindResponse:
            pod = await self.registry.bind(request.namespace or "default", request.binding)
            return pb.BindResponse(pod=kinds.set_type_meta(pod))  # type: ignore[arg-type]

        return await self._call("CREATE", "pods/binding", context, run)

    async def GetScale(self, request: pb.GetScaleRequest, context: Any) -> Any:
        async def run() -> Any:
            return await self.registry.get_scale(request.resource, request.namespace or "default", request.name)

        return await self._call("GET", f"{request.resource}/scale", context, run)

    async def UpdateScale(self, request: pb.UpdateScaleRequest, context: Any) -> Any:
        async def run() -> Any:
            return await self.registry.update_scale(request.resource, request.namespace or "default", request.scale)

        return await self._call("UPDATE", f"{request.resource}/scale", context, run)

    async def Discovery(self, request: pb.DiscoveryRequest, context: Any) -> pb.DiscoveryResponse:
        response = pb.DiscoveryResponse(server_version=VERSION)
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        for kind in kinds.KINDS:
            response.resources.add(name=kind.resource, short_names=list(kind.short_names), kind=kind.kind,
                                   group=kind.group, version=kind.version, namespaced=kind.namespaced,
                                   verbs=verbs, singular_name=kind.singular)
        return response


def _copy(obj: Message, metadata_only: bool = False) -> Message:
    """A copy to send: the whole object, or (``metadata_only``) only its metadata."""
    new = type(obj)()
    if metadata_only:
        new.metadata.CopyFrom(obj.metadata)  # type: ignore[attr-defined]
    else:
        new.CopyFrom(obj)
    return new


def _watch_event(kind: kinds.Kind, event: Any, metadata_only: bool = False) -> pb.WatchEvent:
    out = pb.WatchEvent(type=event.type)
    if event.object is not None:
        out.object.Pack(kinds.set_type_meta(_copy(event.object, metadata_only)))
    else:
        bookmark = kind.message()
        bookmark.metadata.resource_version = event.resource_version  # type: ignore[attr-defined]
        out.object.Pack(kinds.set_type_meta(bookmark))
    return out


async def _abort(context: Any, exc: errors.StatusError) -> None:
    metadata: tuple[tuple[str, str | bytes], ...] = ((errors.REASON_METADATA_KEY, exc.reason),)
    if isinstance(exc, errors.Invalid) and (exc.kind or exc.causes):
        metadata += ((errors.INVALID_DETAILS_KEY, exc.details()),)
    context.set_trailing_metadata(metadata)
    await context.abort(errors.GRPC_CODES.get(type(exc), grpc.StatusCode.INTERNAL), exc.message)
