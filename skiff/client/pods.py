"""Logs and exec: the pod streams the apiserver relays from the kubelet of the pod's node.

Both are calls on the apiserver's ``PodProxy`` service over the Client's own connection:

- :func:`logs` yields the log as raw byte chunks as they arrive (``follow`` keeps the stream
  open until the container stops or the caller stops iterating);
- :func:`exec` runs a command in a container, feeds it ``stdin`` (an async iterable of byte
  chunks, forwarded as it is read), hands output to the ``stdout`` / ``stderr`` callbacks as it
  arrives, and returns the command's exit code.

Errors are the same StatusError classes as every other client call (NotFound for a missing pod,
BadRequest for an unbound pod or a wrong container, ServiceUnavailable for a kubelet that cannot be
reached).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence

import grpc

from skiff.api import errors
from skiff.api.v1 import node_pb2 as pb
from skiff.api.v1 import node_pb2_grpc
from skiff.client.client import Client, _error

Sink = Callable[[bytes], None]


def _stub(client: Client) -> node_pb2_grpc.PodProxyStub:
    return node_pb2_grpc.PodProxyStub(client.channel)


async def logs(client: Client, pod: str, *, namespace: str = "default", container: str = "",
               follow: bool = False, previous: bool = False, tail_lines: int | None = None,
               timestamps: bool = False, since_seconds: int | None = None,
               limit_bytes: int | None = None) -> AsyncIterator[bytes]:
    """The container's log, chunk by chunk (chunks are not necessarily whole lines)."""
    request = pb.LogsRequest(namespace=namespace, pod=pod, container=container, follow=follow,
                             previous=previous, timestamps=timestamps)
    if tail_lines is not None:
        request.tail_lines = tail_lines
    if since_seconds is not None:
        request.since_seconds = since_seconds
    if limit_bytes is not None:
        request.limit_bytes = limit_bytes
    call = _stub(client).Logs(request)
    try:
        async for chunk in call:
            yield chunk.data
    except grpc.aio.AioRpcError as exc:
        raise _error(exc, client.server) from None
    finally:
        call.cancel()


async def _requests(start: pb.ExecStart, stdin: AsyncIterable[bytes] | None,
                    size: tuple[int, int] | None) -> AsyncIterator[pb.ExecRequest]:
    yield pb.ExecRequest(start=start)
    if size is not None:
        yield pb.ExecRequest(resize=pb.TerminalSize(width=size[0], height=size[1]))
    if stdin is not None:
        async for data in stdin:
            if data:
                yield pb.ExecRequest(stdin=data)
        yield pb.ExecRequest(stdin_close=True)


async def exec(client: Client, pod: str, command: Sequence[str], *, namespace: str = "default",
               container: str = "", stdin: AsyncIterable[bytes] | None = None, tty: bool = False,
               terminal_size: tuple[int, int] | None = None, stdout: Sink, stderr: Sink) -> int:
    """Run ``command`` in the pod's container; returns its exit code."""
    start = pb.ExecStart(namespace=namespace, pod=pod, container=container, command=list(command),
                         stdin=stdin is not None, tty=tty)
    call = _stub(client).Exec(_requests(start, stdin, terminal_size if tty else None))
    try:
        async for response in call:
            which = response.WhichOneof("output")
            if which == "stdout":
                stdout(response.stdout)
            elif which == "stderr":
                stderr(response.stderr)
            elif which == "exit_code":
                return response.exit_code
    except grpc.aio.AioRpcError as exc:
        raise _error(exc, client.server) from None
    finally:
        call.cancel()
    raise errors.InternalError("the exec stream ended without the command's exit code")
