"""The kubelet's gRPC service: a container's logs, exec and attach, and port-forward, which the apiserver relays.

The apiserver has already checked the pod, its node and the container name; here the kubelet
finds the container instance (the current one, or with ``previous`` the one before it) in its
runtime and streams: log chunks as the runtime produces them, and exec's stdin/stdout/stderr in
both directions until the command exits with its code. An attach (``ExecStart.attach``) takes the
same stream to the container's main process instead (``runtime.attach``), on the terminal the
container was started with, until that process exits. One server serves every node the process
runs (``--nodes N`` with the fake runtime): the pod's node picks the kubelet.

Port-forward is one TCP connection per call: the kubelet asks the runtime for the pod's sandbox,
dials its IP on the port (the pod network, or the node's address for a hostNetwork pod) and
relays bytes both ways with :func:`skiff.client.pods.relay` until both sides have closed. A port
that refuses (or a pod without a sandbox) ends the call with an error in the words of
Kubernetes' kubelet, ``error forwarding port 80 to pod <sandbox>, uid <uid>: dial tcp
10.88.0.5:80: connect: connection refused``; a connection the pod resets simply ends.

``Stats`` answers the node's latest resource usage (:mod:`kubelet.stats`). Its request names no
node, so a caller of a process that serves several nodes names one in the ``skiff-node-name``
metadata (:data:`NODE_METADATA_KEY`); without it, a process serving one node answers for that node.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from kubelet.runtime.interface import ContainerInfo, ContainerRuntime, Sandbox
from skiff.aio import wait_for
from skiff.api import errors
from skiff.api.metrics import NODE_METADATA_KEY
from skiff.api.timestamps import epoch_seconds
from skiff.api.v1 import core_pb2, metrics_pb2, node_pb2_grpc
from skiff.api.v1 import node_pb2 as pb
from skiff.client.pods import relay

DIAL_TIMEOUT_S = 10.0
"""How long dialing a pod's port may take before the connection is given up (``i/o timeout``)."""

PodLookup = Callable[[str, str], tuple[core_pb2.Pod, ContainerRuntime] | None]
StatsLookup = Callable[[str], metrics_pb2.NodeUsage | None]
"""A node's latest usage by node name ("": the only node of the process); None: no such node."""


async def _abort(context: Any, exc: errors.StatusError) -> None:
    context.set_trailing_metadata(((errors.REASON_METADATA_KEY, exc.reason),))
    await context.abort(errors.GRPC_CODES.get(type(exc), grpc.StatusCode.INTERNAL), exc.message)


async def find_container(runtime: ContainerRuntime, pod: core_pb2.Pod, name: str, *,
                         previous: bool = False) -> ContainerInfo:
    instances = sorted((c for c in await runtime.list_containers(pod.metadata.uid) if c.name == name),
                       key=lambda c: c.attempt)
    if previous:
        if len(instances) < 2:
            raise errors.BadRequest(f'previous terminated container "{name}" in pod "{pod.metadata.name}" '
                                    "not found")
        return instances[-2]
    if not instances:
        raise errors.BadRequest(f'container "{name}" in pod "{pod.metadata.name}" is waiting to start: '
                                f"{_waiting_reason(pod, name)}")
    return instances[-1]


def _waiting_reason(pod: core_pb2.Pod, name: str) -> str:
    """Why the container waits, as its status says (PodInitializing, ImagePullBackOff, ...)."""
    for status in (*pod.status.init_container_statuses, *pod.status.container_statuses):
        if status.name == name and status.state.waiting.reason:
            return status.state.waiting.reason
    return "ContainerCreating"


class KubeletServicer(node_pb2_grpc.KubeletServicer):
    def __init__(self, lookup: PodLookup, stats: StatsLookup | None = None) -> None:
        self.lookup = lookup
        self.stats = stats

    def _pod(self, namespace: str, name: str) -> tuple[core_pb2.Pod, ContainerRuntime]:
        found = self.lookup(namespace or "default", name)
        if found is None:
            raise errors.NotFound(f'pods "{name}" not found on this node')
        return found

    async def Logs(self, request: pb.LogsRequest, context: Any) -> AsyncIterator[pb.LogsChunk]:
        try:
            pod, runtime = self._pod(request.namespace, request.pod)
            container = request.container or pod.spec.containers[0].name
            info = await find_container(runtime, pod, container, previous=request.previous)
        except errors.StatusError as exc:
            await _abort(context, exc)
            return
        since = _since(request)
        tail = request.tail_lines if request.HasField("tail_lines") else None
        budget = request.limit_bytes if request.HasField("limit_bytes") else None
        async for chunk in runtime.logs(info.id, follow=request.follow, tail=tail, timestamps=request.timestamps,
                                        since=since):
            if budget is not None:
                chunk = chunk[:budget]
                budget -= len(chunk)
            if chunk:
                yield pb.LogsChunk(data=chunk)
            if budget is not None and budget <= 0:
                return

    async def Exec(self, request_iterator: AsyncIterator[pb.ExecRequest], context: Any
                   ) -> AsyncIterator[pb.ExecResponse]:
        first = await anext(request_iterator, None)
        if first is None or not first.HasField("start"):
            await _abort(context, errors.BadRequest("the first exec message must be a start"))
            return
        start = first.start
        try:
            pod, runtime = self._pod(start.namespace, start.pod)
            name = start.container or pod.spec.containers[0].name
            info = await find_container(runtime, pod, name)
            if start.attach:
                session = await runtime.attach(info.id, stdin=start.stdin, tty=_container_tty(pod, name))
            else:
                session = await runtime.exec_stream(info.id, list(start.command), stdin=start.stdin, tty=start.tty)
        except errors.StatusError as exc:
            await _abort(context, exc)
            return
        except Exception as exc:  # noqa: BLE001 - RuntimeFailure and the like
            verb = "attach" if start.attach else "exec"
            await _abort(context, errors.InternalError(f"{verb} failed: {exc}"))
            return
        pump = asyncio.get_running_loop().create_task(_pump_stdin(request_iterator, session))
        try:
            async for stream, data in session.output():
                yield pb.ExecResponse(stdout=data) if stream == "stdout" else pb.ExecResponse(stderr=data)
            yield pb.ExecResponse(exit_code=await session.wait())
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump

    async def Stats(self, request: metrics_pb2.StatsRequest, context: Any) -> metrics_pb2.NodeUsage:
        node = dict(context.invocation_metadata() or ()).get(NODE_METADATA_KEY, "")
        usage = self.stats(node) if self.stats is not None else None
        if usage is None:
            await _abort(context, errors.NotFound(f'node "{node}" is not served here' if node or self.stats is None
                                                  else "this kubelet serves several nodes: name one in the "
                                                  f"{NODE_METADATA_KEY} metadata"))
        assert usage is not None
        return usage

    async def PortForward(self, request_iterator: AsyncIterator[pb.PortForwardFrame], context: Any) -> None:
        first = await context.read()
        if first is grpc.aio.EOF or not first.HasField("start"):
            await _abort(context, errors.BadRequest("the first port-forward message must be a start"))
            return
        start = first.start
        try:
            pod, runtime = self._pod(start.namespace, start.pod)
            sandbox = await pod_sandbox(runtime, pod)
            reader, writer = await dial(pod, sandbox, start.port)
        except errors.StatusError as exc:
            await _abort(context, exc)
            return
        with contextlib.suppress(OSError):  # the pod reset the connection: it simply ends
            await relay(reader, writer, _ContextFrames(context), as_client=False)


async def pod_sandbox(runtime: ContainerRuntime, pod: core_pb2.Pod) -> Sandbox:
    """The pod's sandbox (its network identity) in the runtime."""
    for sandbox in await runtime.list_sandboxes():
        if sandbox.pod_uid == pod.metadata.uid:
            return sandbox
    raise errors.BadRequest(f'pod "{pod.metadata.name}" has no running sandbox on this node')


async def dial(pod: core_pb2.Pod, sandbox: Sandbox, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to the pod's IP on ``port``, or InternalError in the kubelet's words."""
    address = f"[{sandbox.ip}]:{port}" if ":" in sandbox.ip else f"{sandbox.ip}:{port}"
    try:
        return await wait_for(asyncio.open_connection(sandbox.ip, port), DIAL_TIMEOUT_S)
    except TimeoutError:
        cause = "i/o timeout"
    except (OSError, OverflowError) as exc:  # asyncio words errno's message its own way: use errno's
        errno = getattr(exc, "errno", None)
        cause = f"connect: {(os.strerror(errno) if errno else str(exc)).lower()}"
    raise errors.InternalError(f"error forwarding port {port} to pod {sandbox.id}, uid {pod.metadata.uid}: "
                               f"dial tcp {address}: {cause}")


class _ContextFrames:
    """The kubelet's end of a PortForward call; it half-closes with a ``close_write`` frame (a
    server's stream ends only with the call)."""

    def __init__(self, context: Any) -> None:
        self.context = context

    async def read(self) -> pb.PortForwardFrame | None:
        frame = await self.context.read()
        return None if frame is grpc.aio.EOF else frame

    async def write(self, frame: pb.PortForwardFrame) -> None:
        await self.context.write(frame)

    async def close_write(self) -> None:
        await self.context.write(pb.PortForwardFrame(close_write=True))


def _container_tty(pod: core_pb2.Pod, name: str) -> bool:
    """Whether the container runs on a terminal: an attach gets the terminal the container was
    started with (whatever the client asked), as Kubernetes' kubelet decides it from the spec."""
    return any(c.tty for c in (*pod.spec.containers, *pod.spec.init_containers) if c.name == name)


async def _pump_stdin(requests: AsyncIterator[pb.ExecRequest], session: Any) -> None:
    async for request in requests:
        if request.HasField("stdin"):
            await session.write_stdin(request.stdin)
        elif request.HasField("stdin_close"):
            await session.close_stdin()
        elif request.HasField("resize"):
            await session.resize(request.resize.width, request.resize.height)
    await session.close_stdin()


def _since(request: pb.LogsRequest) -> float | None:
    """The Unix time the log starts after: ``since_time``, else ``since_seconds`` before now."""
    if request.since_time:
        return epoch_seconds(request.since_time)
    return time.time() - request.since_seconds if request.HasField("since_seconds") else None
