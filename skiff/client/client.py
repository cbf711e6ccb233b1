"""The async Client: typed verbs over the Resources gRPC service.

The message class is the argument, as in lightkube: ``await client.get(Pod, "web-1",
namespace="default")`` returns a ``Pod``; ``client.list(Deployment)`` an ``ObjectList`` of
Deployments. Every gRPC error becomes one of skiff.api.errors' classes (NotFound, Conflict,
Invalid, Expired, ...) through the one table there, so callers catch ``NotFound`` rather than
inspecting status codes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import grpc
from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.patch import MERGE_PATCH, PATCH_TYPES, STRATEGIC_PATCH, patch_kind
from skiff.api.v1 import apps_pb2, core_pb2, resources_pb2_grpc
from skiff.api.v1 import resources_pb2 as pb
from skiff.client.config import resolve

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class ObjectList(Generic[M]):
    items: list[M]
    resource_version: str
    continue_token: str = ""


@dataclass(frozen=True)
class WatchEvent(Generic[M]):
    type: str
    """ADDED, MODIFIED, DELETED or BOOKMARK."""
    object: M


@dataclass(frozen=True)
class DeleteResult(Generic[M]):
    object: M
    finalized: bool
    """True when the object is gone; False when it is only marked (finalizers, graceful pods)."""


class Unreachable(errors.ServiceUnavailable):
    """No apiserver answers at the address (connection refused, unknown host, timeout)."""


def status_error(exc: grpc.aio.AioRpcError, server: str) -> errors.StatusError:
    reason, details = None, b""
    for key, value in exc.trailing_metadata() or ():
        if key == errors.REASON_METADATA_KEY:
            reason = str(value)
        elif key == errors.INVALID_DETAILS_KEY and isinstance(value, bytes):
            details = value
    message = exc.details() or str(exc.code())
    if reason is None and exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        cause = "connection refused" if "refused" in message.lower() else message
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            cause = "the request timed out"
        return Unreachable(f"unable to connect to the server at {server}: {cause}")
    if details and reason == errors.Invalid.reason:
        return errors.Invalid.with_details(message, details)
    return errors.from_grpc(exc.code(), message, reason)


def _namespace(kind: kinds.Kind, namespace: str | None) -> str:
    if not kind.namespaced:
        return ""
    return namespace if namespace is not None else "default"


class Client:
    """A connection to one apiserver."""

    def __init__(self, server: str | None = None, *, timeout: float | None = 30.0) -> None:
        """``timeout``: seconds each unary call may take; None puts no deadline on them."""
        self.server = resolve(server).server
        self.timeout = timeout
        # A local subchannel pool: each Client has its own connection (gRPC otherwise shares one
        # TCP connection between channels to the same address), so the apiserver's workers —
        # which the kernel hands connections to — share the load of several clients.
        self._channel = grpc.aio.insecure_channel(
            self.server, options=[("grpc.max_receive_message_length", 64 << 20),
                                  ("grpc.max_send_message_length", 64 << 20),
                                  ("grpc.use_local_subchannel_pool", 1)])
        self._stub = resources_pb2_grpc.ResourcesStub(self._channel)

    @property
    def channel(self) -> grpc.aio.Channel:
        """The gRPC channel, for the other services the apiserver serves (PodProxy, Scheduler)."""
        return self._channel

    async def call(self, method: Any, request: Any) -> Any:
        """A unary call on another service's stub, with errors mapped like every verb's."""
        return await self._unary(method, request)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _unary(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise status_error(exc, self.server) from None

    # ---- reads ----

    async def get(self, cls: type[M], name: str, *, namespace: str | None = None) -> M:
        kind = kinds.of(cls)
        wrapped = await self._unary(self._stub.Get, pb.GetRequest(
            resource=kind.resource, namespace=_namespace(kind, namespace), name=name))
        return cast(M, kinds.unpack(wrapped))

    async def list(self, cls: type[M], *, namespace: str = "", label_selector: str = "", field_selector: str = "",
                   limit: int = 0, continue_token: str = "", resource_version: str = "",
                   metadata_only: bool = False) -> ObjectList[M]:
        """``metadata_only``: each item carries its type and metadata only (no spec, status or data)."""
        kind = kinds.of(cls)
        request = pb.ListRequest(resource=kind.resource, namespace=namespace if kind.namespaced else "",
                                 label_selector=label_selector, field_selector=field_selector, limit=limit,
                                 resource_version=resource_version, metadata_only=metadata_only)
        setattr(request, "continue", continue_token)
        response = await self._unary(self._stub.List, request)
        items = [cast(M, kinds.unpack(item)) for item in response.items]
        return ObjectList(items, response.metadata.resource_version, getattr(response.metadata, "continue"))

    async def watch(self, cls: type[M], *, namespace: str = "", label_selector: str = "", field_selector: str = "",
                    resource_version: str = "", allow_bookmarks: bool = False,
                    metadata_only: bool = False) -> AsyncIterator[WatchEvent[M]]:
        """Events from ``resource_version`` on; raises Expired when it is too old (relist)."""
        kind = kinds.of(cls)
        request = pb.WatchRequest(resource=kind.resource, namespace=namespace if kind.namespaced else "",
                                  label_selector=label_selector, field_selector=field_selector,
                                  resource_version=resource_version, allow_bookmarks=allow_bookmarks,
                                  metadata_only=metadata_only)
        call = self._stub.Watch(request)
        try:
            async for event in call:
                yield WatchEvent(event.type, cast(M, kinds.unpack(event.object)))
        except grpc.aio.AioRpcError as exc:
            raise status_error(exc, self.server) from None
        finally:
            call.cancel()

    # ---- writes ----

    async def create(self, obj: M, *, namespace: str | None = None, dry_run: bool = False) -> M:
        kind = kinds.of(obj)
        ns = _namespace(kind, namespace or obj.metadata.namespace or None)  # type: ignore[attr-defined]
        wrapped = await self._unary(self._stub.Create, pb.CreateRequest(
            resource=kind.resource, namespace=ns, object=kinds.pack(obj), dry_run=dry_run))
        return cast(M, kinds.unpack(wrapped))

    async def update(self, obj: M, *, namespace: str | None = None, dry_run: bool = False) -> M:
        return await self._update(self._stub.Update, obj, namespace, dry_run)

    async def update_status(self, obj: M, *, namespace: str | None = None) -> M:
        return await self._update(self._stub.UpdateStatus, obj, namespace, False)

    async def _update(self, method: Any, obj: M, namespace: str | None, dry_run: bool) -> M:
        kind = kinds.of(obj)
        ns = _namespace(kind, namespace or obj.metadata.namespace or None)  # type: ignore[attr-defined]
        wrapped = await self._unary(method, pb.UpdateRequest(
            resource=kind.resource, namespace=ns, object=kinds.pack(obj), dry_run=dry_run))
        return cast(M, kinds.unpack(wrapped))

    async def patch(self, cls: type[M], name: str, patch: Mapping[str, Any] | Sequence[Any], *,
                    namespace: str | None = None, strategic: bool = True, patch_type: str = "",
                    subresource: str = "", dry_run: bool = False) -> M:
        """A strategic merge patch (``strategic=False``: a JSON merge patch); ``patch_type`` (json,
        merge, strategic) overrides both — a ``json`` patch is a list of RFC 6902 operations."""
        kind = kinds.of(cls)
        mime = PATCH_TYPES[patch_kind(patch_type)] if patch_type else (STRATEGIC_PATCH if strategic else MERGE_PATCH)
        wrapped = await self._unary(self._stub.Patch, pb.PatchRequest(
            resource=kind.resource, namespace=_namespace(kind, namespace), name=name,
            patch_type=mime, patch=json.dumps(patch).encode(),
            subresource=subresource, dry_run=dry_run))
        return cast(M, kinds.unpack(wrapped))

    async def delete(self, cls: type[M], name: str, *, namespace: str | None = None,
                     propagation_policy: str = "", grace_period_seconds: int | None = None,
                     uid: str | None = None, resource_version: str | None = None,
                     dry_run: bool = False) -> DeleteResult[M]:
        kind = kinds.of(cls)
        request = pb.DeleteRequest(resource=kind.resource, namespace=_namespace(kind, namespace), name=name,
                                   propagation_policy=propagation_policy, dry_run=dry_run)
        if grace_period_seconds is not None:
            request.grace_period_seconds = grace_period_seconds
        if uid is not None:
            request.preconditions.uid = uid
        if resource_version is not None:
            request.preconditions.resource_version = resource_version
        response = await self._unary(self._stub.Delete, request)
        return DeleteResult(cast(M, kinds.unpack(response.object)), response.finalized)

    # ---- subresources ----

    async def bind(self, pod: str, node: str, *, namespace: str = "default", uid: str = "") -> core_pb2.Pod:
        binding = core_pb2.Binding(api_version="v1", kind="Binding")
        binding.metadata.name, binding.metadata.namespace = pod, namespace
        if uid:
            binding.metadata.uid = uid
        binding.target.kind, binding.target.name = "Node", node
        response = await self._unary(self._stub.Bind, pb.BindRequest(namespace=namespace, binding=binding))
        return cast(core_pb2.Pod, response.pod)

    async def get_scale(self, cls: type[Message], name: str, *, namespace: str = "default") -> apps_pb2.Scale:
        kind = kinds.of(cls)
        return cast(apps_pb2.Scale, await self._unary(self._stub.GetScale, pb.GetScaleRequest(
            resource=kind.resource, namespace=namespace, name=name)))

    async def scale(self, cls: type[Message], name: str, replicas: int, *, namespace: str = "default",
                    resource_version: str = "") -> apps_pb2.Scale:
        kind = kinds.of(cls)
        scale = apps_pb2.Scale(api_version="autoscaling/v1", kind="Scale")
        scale.metadata.name, scale.metadata.namespace = name, namespace
        if resource_version:
            scale.metadata.resource_version = resource_version
        scale.spec.replicas = replicas
        return cast(apps_pb2.Scale, await self._unary(self._stub.UpdateScale, pb.UpdateScaleRequest(
            resource=kind.resource, namespace=namespace, scale=scale)))

    async def discovery(self) -> pb.DiscoveryResponse:
        return cast(pb.DiscoveryResponse, await self._unary(self._stub.Discovery, pb.DiscoveryRequest()))
