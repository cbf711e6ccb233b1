"""Logs, exec and port-forward: the pod streams the apiserver relays from the kubelet of the pod's node.

All are calls on the apiserver's ``PodProxy`` service over the Client's own connection:

- :func:`logs` yields the log as raw byte chunks as they arrive (``follow`` keeps the stream
  open until the container stops or the caller stops iterating);
- :func:`exec` runs a command in a container, feeds it ``stdin`` (an async iterable of byte
  chunks, forwarded as it is read), hands output to the ``stdout`` / ``stderr`` callbacks as it
  arrives, and returns the command's exit code; :func:`attach` does the same with the container's
  main process (the same Exec stream, its start marked ``attach``);
- :func:`port_forward` carries one TCP connection (an asyncio stream pair, e.g. a connection
  ``skiffctl port-forward`` accepted) to a port of the pod, until both directions are closed.

:func:`relay` is the byte pump of a port-forward, used at both ends of the stream — here between
the local connection and the call, and in the kubelet between the call and the pod's socket. It
reads one chunk ahead at most and waits for each write to be taken (``drain``, gRPC's flow
control) before reading on, so a slow reader slows the writer down instead of filling memory; an
end of data on a socket travels as a half-close (``close_write`` / the end of the request stream),
and a received one shuts down the socket's write side, while the other direction goes on.

Errors are the same StatusError classes as every other client call (NotFound for a missing pod,
BadRequest for an unbound pod or a wrong container, ServiceUnavailable for a kubelet that cannot be
reached).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import grpc

from skiff.aio import cancel_and_wait
from skiff.api import errors
from skiff.api.v1 import node_pb2 as pb
from skiff.api.v1 import node_pb2_grpc
from skiff.client.client import Client, status_error

Sink = Callable[[bytes], None]
CHUNK = 64 * 1024
"""The most bytes one port-forward frame carries (and one socket read takes)."""


def _stub(client: Client) -> node_pb2_grpc.PodProxyStub:
    return node_pb2_grpc.PodProxyStub(client.channel)


async def logs(client: Client, pod: str, *, namespace: str = "default", container: str = "",
               follow: bool = False, previous: bool = False, tail_lines: int | None = None,
               timestamps: bool = False, since_seconds: int | None = None, since_time: str = "",
               limit_bytes: int | None = None) -> AsyncIterator[bytes]:
    """The container's log, chunk by chunk (chunks are not necessarily whole lines)."""
    request = pb.LogsRequest(namespace=namespace, pod=pod, container=container, follow=follow,
                             previous=previous, timestamps=timestamps, since_time=since_time)
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
        raise status_error(exc, client.server) from None
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
    return await _session(client, start, stdin, terminal_size, stdout, stderr)


async def attach(client: Client, pod: str, *, namespace: str = "default", container: str = "",
                 stdin: AsyncIterable[bytes] | None = None, tty: bool = False,
                 terminal_size: tuple[int, int] | None = None, stdout: Sink, stderr: Sink) -> int:
    """Attach to the main process of the pod's container (``kubectl attach``): ``stdin`` goes to it
    (when it was started with ``stdin: true``), its output from now on to the callbacks, until it
    exits; returns its exit code."""
    start = pb.ExecStart(namespace=namespace, pod=pod, container=container, stdin=stdin is not None, tty=tty,
                         attach=True)
    return await _session(client, start, stdin, terminal_size, stdout, stderr)


async def _session(client: Client, start: pb.ExecStart, stdin: AsyncIterable[bytes] | None,
                   terminal_size: tuple[int, int] | None, stdout: Sink, stderr: Sink) -> int:
    """One Exec stream (an exec or an attach) to its end; the exit code. The stream is read to its
    end after the exit code (which the server sends last), so the call completes rather than being
    cancelled (the apiserver counts it as a 200, not a 499)."""
    call = _stub(client).Exec(_requests(start, stdin, terminal_size if start.tty else None))
    code: int | None = None
    try:
        async for response in call:
            which = response.WhichOneof("output")
            if which == "stdout":
                stdout(response.stdout)
            elif which == "stderr":
                stderr(response.stderr)
            elif which == "exit_code":
                code = response.exit_code
    except grpc.aio.AioRpcError as exc:
        if code is None:
            raise status_error(exc, client.server) from None
    finally:
        call.cancel()
    if code is None:
        raise errors.InternalError("the exec stream ended without the command's exit code")
    return code


# ---- port-forward ----

class Frames(Protocol):
    """One end of a PortForward stream, as :func:`relay` sees it."""

    async def read(self) -> pb.PortForwardFrame | None:
        """The next frame from the other end; None when its stream has ended."""
        ...

    async def write(self, frame: pb.PortForwardFrame) -> None:
        """Send a frame; returns once the stream has taken it (flow control)."""
        ...

    async def close_write(self) -> None:
        """Tell the other end that no more data will come (the TCP half-close)."""
        ...


async def _send(reader: asyncio.StreamReader, frames: Frames) -> None:
    """Socket → stream, chunk by chunk; the socket's end of data becomes a half-close."""
    while data := await reader.read(CHUNK):
        await frames.write(pb.PortForwardFrame(data=data))
    await frames.close_write()


async def _receive(frames: Frames, writer: asyncio.StreamWriter, *, to_the_end: bool) -> None:
    """Stream → socket until the other end half-closes (``close_write`` or the end of its stream),
    which shuts down the socket's write side; with ``to_the_end``, go on reading (nothing more
    should come) until the stream itself ends."""
    while (frame := await frames.read()) is not None and not frame.HasField("close_write"):
        if frame.HasField("data"):
            writer.write(frame.data)
            await writer.drain()
    if writer.can_write_eof() and not writer.is_closing():
        writer.write_eof()
    while to_the_end and frame is not None:
        frame = await frames.read()


async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, frames: Frames, *,
                as_client: bool) -> None:
    """Copy bytes both ways between a socket and a PortForward stream; close the socket at the end.

    The kubelet (``as_client=False``) sees the client's end of stream as a half-close only, and
    goes on until the pod's side has ended too; the client reads until the call is over, which
    the kubelet decides, and then stops (its own side has nothing left to reach). A failure on
    either side — a reset socket, a failed call — stops both and is raised.
    """
    sender = asyncio.create_task(_send(reader, frames))
    receiver = asyncio.create_task(_receive(frames, writer, to_the_end=as_client))
    pending: set[asyncio.Task[None]] = {sender, receiver}
    try:
        while pending and not (as_client and receiver.done()):
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
    finally:
        await cancel_and_wait([sender, receiver], ignore_errors=True)
        writer.close()


class _CallFrames:
    """The client's end of a PortForward call."""

    def __init__(self, call: Any) -> None:
        self.call = call

    async def read(self) -> pb.PortForwardFrame | None:
        frame = await self.call.read()
        return None if frame is grpc.aio.EOF else frame

    async def write(self, frame: pb.PortForwardFrame) -> None:
        try:
            await self.call.write(frame)
        except asyncio.InvalidStateError:
            # The call is over: reading a finished call raises its error when it failed; when it
            # ended well (the pod closed its side) the rest of the data has nowhere to go.
            await self.call.read()

    async def close_write(self) -> None:
        await self.call.done_writing()


async def port_forward(client: Client, pod: str, port: int, *, namespace: str = "default",
                       reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Carry one TCP connection (``reader`` / ``writer``, closed at the end) to ``port`` of the pod
    until both directions are closed. The pod's errors (not found, not running, the port refused)
    raise their StatusError; a failure of the local socket raises its OSError."""
    call = _stub(client).PortForward()
    try:
        await call.write(pb.PortForwardFrame(start=pb.PortForwardStart(namespace=namespace, pod=pod, port=port)))
        await relay(reader, writer, _CallFrames(call), as_client=True)
    except grpc.aio.AioRpcError as exc:
        raise status_error(exc, client.server) from None
    finally:
        call.cancel()
        writer.close()
