"""The PodProxy gRPC service: ``logs``, ``exec`` and ``port-forward`` relayed to the kubelet of the pod's node.

As in Kubernetes, clients never dial a kubelet themselves. For each call the apiserver

1. reads the pod (NotFound ``pods "x" not found``), checks that it is bound to a node
   (BadRequest ``pod x does not have a host assigned``) and settles the container — the only one
   when none is named, else BadRequest naming the choices, or ``container c is not valid for pod
   web`` for an unknown name (port-forward names no container, and wants the pod Running);
2. reads that Node and finds its kubelet: the InternalIP in ``status.addresses`` (else an
   ExternalIP or Hostname) and ``status.daemonEndpoints.kubeletEndpoint.Port`` (default 10250);
3. dials the kubelet's ``Kubelet`` service and relays the stream chunk by chunk in both
   directions — nothing is buffered beyond one message, so ``logs -f``, an interactive
   ``exec -i`` and a port-forwarded connection flow as they are produced, and a slow reader
   holds back the writer instead of filling the apiserver's memory. A client's end of stream is
   passed on as the kubelet's end of stream, which is how a port-forward's half-close travels.

A kubelet that cannot be reached is ServiceUnavailable naming the node; an error the kubelet
itself answers (with its ``skiff-reason``) passes through unchanged. Each call is counted in
``apiserver_request_total`` like the other verbs: ``GET pods/log``, ``CONNECT pods/exec``,
``CONNECT pods/attach`` (an Exec stream whose start has ``attach``: the container's main process,
refused for a completed pod as kubectl attach words it) and ``CONNECT pods/portforward`` (one per
forwarded connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc

from apiserver.registry.api import Registry
from apiserver.server import metrics
from apiserver.server.resources import _abort
from skiff.api import errors
from skiff.api.timestamps import epoch_seconds
from skiff.api.v1 import core_pb2, node_pb2_grpc
from skiff.api.v1 import node_pb2 as pb

log = logging.getLogger("skiff.apiserver")

DEFAULT_KUBELET_PORT = 10250
ADDRESS_PREFERENCE = ("InternalIP", "ExternalIP", "Hostname")


@dataclass(frozen=True)
class Target:
    """Where one pod's container is served: the container name and its node's kubelet."""

    container: str
    """Empty for port-forward, which reaches the pod rather than one of its containers."""
    node: str
    endpoint: str
    """``HOST:PORT`` of the node's kubelet."""


def choose_container(pod: core_pb2.Pod, requested: str) -> str:
    """The container a request means, or BadRequest in Kubernetes' words."""
    name = pod.metadata.name
    containers = [c.name for c in pod.spec.containers]
    init_containers = [c.name for c in pod.spec.init_containers]
    if not requested:
        if len(containers) == 1:
            return containers[0]
        message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        if init_containers:
            message += f" or one of the init containers: [{' '.join(init_containers)}]"
        raise errors.BadRequest(message)
    if requested not in containers and requested not in init_containers:
        raise errors.BadRequest(f"container {requested} is not valid for pod {name}")
    return requested


def kubelet_endpoint(node: core_pb2.Node) -> str:
    """``HOST:PORT`` of a node's kubelet, from its status; ServiceUnavailable when it has none."""
    by_type: dict[str, str] = {}
    for address in node.status.addresses:
        by_type.setdefault(address.type, address.address)
    host = next((by_type[t] for t in ADDRESS_PREFERENCE if by_type.get(t)), "")
    if not host:
        raise errors.ServiceUnavailable(f"node {node.metadata.name} has no address to reach its kubelet")
    port = node.status.daemon_endpoints.kubelet_endpoint.port or DEFAULT_KUBELET_PORT
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _relayed_error(exc: grpc.aio.AioRpcError, target: Target) -> errors.StatusError:
    """A kubelet's error as the client should see it."""
    reason = next((str(v) for k, v in exc.trailing_metadata() or () if k == errors.REASON_METADATA_KEY), None)
    if reason is None and exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return errors.ServiceUnavailable(
            f"unable to reach the kubelet of node {target.node} at {target.endpoint}: {exc.details()}")
    return errors.from_grpc(exc.code(), exc.details() or str(exc.code()), reason)


@dataclass
class _Call:
    """What one proxied call is counted as; an Exec stream turns out to be ``pods/attach`` once its
    start has been read."""

    verb: str
    resource: str


@contextlib.asynccontextmanager
async def boundary(verb: str, resource: str, context: Any) -> AsyncIterator[_Call]:
    """One proxied call: timed and counted in apiserver_request_total with its final code; a
    StatusError becomes the gRPC status of the one error table, anything unexpected a logged 500."""
    start = time.perf_counter()
    code = 200
    call = _Call(verb, resource)
    try:
        yield call
    except errors.StatusError as exc:
        code = exc.code
        await _abort(context, exc)
    except (asyncio.CancelledError, GeneratorExit):
        code = 499  # the client went away (kube-apiserver's "client closed request")
        raise
    except grpc.aio.AbortError:
        raise
    except Exception as exc:  # noqa: BLE001 - the boundary: log, answer 500, keep serving
        code = 500
        log.exception("%s %s failed", call.verb, call.resource)
        await _abort(context, errors.InternalError(f"Internal error occurred: {type(exc).__name__}: {exc}"))
    finally:
        metrics.REQUESTS.labels(call.verb, call.resource, str(code)).inc()
        metrics.REQUEST_DURATION.labels(call.verb, call.resource).observe(time.perf_counter() - start)


class PodProxyServicer(node_pb2_grpc.PodProxyServicer):
    """Serves PodProxy's Logs, Exec and PortForward by relaying to the node's Kubelet service."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def resolve(self, namespace: str, pod_name: str,
                      container: str | None) -> tuple[core_pb2.Pod, Target]:
        """The pod and where its container runs (``container`` None: the pod's node only), or the
        StatusError a client should see."""
        pod = await self.registry.store("pods").get(namespace or "default", pod_name)
        assert isinstance(pod, core_pb2.Pod)
        chosen = "" if container is None else choose_container(pod, container)
        node_name = pod.spec.node_name
        if not node_name:
            raise errors.BadRequest(f"pod {pod_name} does not have a host assigned")
        node = await self.registry.store("nodes").get("", node_name)
        assert isinstance(node, core_pb2.Node)
        return pod, Target(chosen, node_name, kubelet_endpoint(node))

    async def Logs(self, request: pb.LogsRequest, context: Any) -> AsyncIterator[pb.LogsChunk]:
        async with boundary("GET", "pods/log", context):
            _check_log_options(request)
            _, target = await self.resolve(request.namespace, request.pod, request.container)
            upstream = pb.LogsRequest()
            upstream.CopyFrom(request)
            upstream.namespace = request.namespace or "default"
            upstream.container = target.container
            async with contextlib.aclosing(_relay_logs(target, upstream)) as chunks:
                async for chunk in chunks:
                    yield chunk

    async def Exec(self, request_iterator: AsyncIterator[pb.ExecRequest],
                   context: Any) -> AsyncIterator[pb.ExecResponse]:
        async with boundary("CONNECT", "pods/exec", context) as call:
            start = await _first_start(request_iterator)
            if start.attach:
                call.resource = "pods/attach"
            pod, target = await self.resolve(start.namespace, start.pod, start.container)
            if pod.status.phase in ("Succeeded", "Failed"):
                doing = "attach a container" if start.attach else "exec into a container"
                raise errors.BadRequest(f"cannot {doing} in a completed pod; current phase is {pod.status.phase}")
            upstream = pb.ExecStart()
            upstream.CopyFrom(start)
            upstream.namespace = start.namespace or "default"
            upstream.container = target.container
            relay = _relay_stream(target, "Exec", pb.ExecRequest(start=upstream), request_iterator)
            async with contextlib.aclosing(relay) as responses:
                async for response in responses:
                    yield response

    async def PortForward(self, request_iterator: AsyncIterator[pb.PortForwardFrame],
                          context: Any) -> AsyncIterator[pb.PortForwardFrame]:
        async with boundary("CONNECT", "pods/portforward", context):
            start = await _first_port_forward(request_iterator)
            pod, target = await self.resolve(start.namespace, start.pod, None)
            if pod.status.phase != "Running":
                raise errors.BadRequest("unable to forward port because pod is not running. "
                                        f"Current status={pod.status.phase}")
            upstream = pb.PortForwardStart(namespace=start.namespace or "default", pod=start.pod, port=start.port)
            relay = _relay_stream(target, "PortForward", pb.PortForwardFrame(start=upstream), request_iterator)
            async with contextlib.aclosing(relay) as frames:
                async for frame in frames:
                    yield frame


async def _relay_logs(target: Target, request: pb.LogsRequest) -> AsyncGenerator[pb.LogsChunk, None]:
    """The kubelet's log stream, chunk by chunk; leaving early cancels the kubelet's call."""
    async with grpc.aio.insecure_channel(target.endpoint) as channel:
        call = node_pb2_grpc.KubeletStub(channel).Logs(request)
        try:
            async for chunk in call:
                yield chunk
        except grpc.aio.AioRpcError as exc:
            raise _relayed_error(exc, target) from None
        finally:
            call.cancel()


async def _first_start(requests: AsyncIterator[pb.ExecRequest]) -> pb.ExecStart:
    """The ExecStart that must open every exec stream."""
    try:
        first = await anext(requests)
    except StopAsyncIteration:
        raise errors.BadRequest("exec: the stream ended before naming a pod and a command") from None
    if first.WhichOneof("input") != "start":
        raise errors.BadRequest("exec: the first message must name the pod, container and command")
    if not first.start.command and not first.start.attach:
        raise errors.BadRequest("you must specify at least one command for the container")
    return first.start


async def _first_port_forward(frames: AsyncIterator[pb.PortForwardFrame]) -> pb.PortForwardStart:
    """The PortForwardStart that must open every port-forward stream, with a port in range."""
    first = await anext(frames, None)
    if first is None or first.WhichOneof("frame") != "start":
        raise errors.BadRequest("port-forward: the first message must name the pod and the port")
    if not 0 < first.start.port < 65536:
        raise errors.BadRequest(f"invalid port {first.start.port}: must be between 1 and 65535")
    return first.start


async def _relay_stream(target: Target, method: str, first: Any,
                        requests: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """Both directions of one ``Exec`` or ``PortForward`` (``method``) call: ``first`` and then the
    client's messages → kubelet in a task, kubelet → client here."""
    async with grpc.aio.insecure_channel(target.endpoint) as channel:
        call = getattr(node_pb2_grpc.KubeletStub(channel), method)()
        pump: asyncio.Task[None] | None = None
        try:
            await call.write(first)
            pump = asyncio.create_task(_pump(requests, call))
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as exc:
            raise _relayed_error(exc, target) from None
        finally:
            if pump is not None:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump
            call.cancel()


async def _pump(requests: AsyncIterator[Any], call: Any) -> None:
    """Forward the client's messages (stdin, resizes, port-forward data) to the kubelet one at a
    time, then half-close as the client did. A second start is not forwarded."""
    try:
        async for request in requests:
            if not request.HasField("start"):
                await call.write(request)
        await call.done_writing()
    except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
        # The kubelet finished the call first (the command exited, the pod closed); nothing more to forward.
        pass


def _check_log_options(request: pb.LogsRequest) -> None:
    """PodLogOptions validation, with Kubernetes' messages."""
    if request.since_time and request.HasField("since_seconds"):
        raise errors.BadRequest("at most one of `sinceTime` or `sinceSeconds` may be specified")
    if request.since_time and epoch_seconds(request.since_time) is None:
        raise errors.BadRequest(f"sinceTime: Invalid value: {json.dumps(request.since_time)}: "
                                "must be an RFC 3339 time")
