"""The kubelet's gRPC service: a container's logs and exec, which the apiserver relays.

The apiserver has already checked the pod, its node and the container name; here the kubelet
finds the container instance (the current one, or with ``previous`` the one before it) in its
runtime and streams: log chunks as the runtime produces them, and exec's stdin/stdout/stderr in
both directions until the command exits with its code. One server serves every node the process
runs (``--nodes N`` with the fake runtime): the pod's node picks the kubelet.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from kubelet.runtime.interface import ContainerInfo, ContainerRuntime
from skiff.api import errors
from skiff.api.v1 import core_pb2, node_pb2_grpc
from skiff.api.v1 import node_pb2 as pb

PodLookup = Callable[[str, str], tuple[core_pb2.Pod, ContainerRuntime] | None]


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
                                "ContainerCreating")
    return instances[-1]


class KubeletServicer(node_pb2_grpc.KubeletServicer):
    def __init__(self, lookup: PodLookup) -> None:
        self.lookup = lookup

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
        since = time.time() - request.since_seconds if request.HasField("since_seconds") else None
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
            info = await find_container(runtime, pod, start.container or pod.spec.containers[0].name)
            session = await runtime.exec_stream(info.id, list(start.command), stdin=start.stdin, tty=start.tty)
        except errors.StatusError as exc:
            await _abort(context, exc)
            return
        except Exception as exc:  # noqa: BLE001 - RuntimeFailure and the like
            await _abort(context, errors.InternalError(f"exec failed: {exc}"))
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


async def _pump_stdin(requests: AsyncIterator[pb.ExecRequest], session: Any) -> None:
    async for request in requests:
        if request.HasField("stdin"):
            await session.write_stdin(request.stdin)
        elif request.HasField("stdin_close"):
            await session.close_stdin()
        elif request.HasField("resize"):
            await session.resize(request.resize.width, request.resize.height)
    await session.close_stdin()
