"""Attach to a container's main process: the shim's attach socket, its wire format, and both ends.

The shim of a container started by this version of the runtime serves a Unix socket, ``attach.sock``
in the container's directory, or ``<tmp>/skiff-attach-<container id>.sock`` when that path would
be longer than an AF_UNIX path may be (``MAX_SOCKET_PATH``). The path is recorded as
``attach_socket`` in ``spec.json`` and ``state.json``; a container without one (its shim predates
attach) cannot be attached to. The shim binds the socket (mode 0600) before it starts the command
and removes it when it exits.

Wire format, both ways: frames of a 5-byte header, one type byte and a big-endian u32 length
(at most ``MAX_FRAME``), then the payload.

- client -> shim: ``H`` hello ``{"stdin": bool}`` (first, once), ``i`` stdin bytes, ``c`` this
  client's stdin is done, ``r`` resize (``>HH``: width, height).
- shim -> client: ``H`` hello ``{"stdin": bool, "tty": bool}`` (whether the command's stdin is
  open, whether it has a tty; the client is registered for output once it is sent), ``1`` stdout
  bytes, ``2`` stderr bytes (on a tty all output is ``1``), ``X`` exit ``{"exit_code": int}``,
  sent after ``exit.json`` is written; the shim then closes the connection.

Semantics (Kubernetes' attach): a client gets the output read after it attached. Several clients
may attach at once, each gets all of it; a client that falls more than ``MAX_BACKLOG`` behind is
disconnected (the command never waits for clients). Stdin bytes of every client that asked for
stdin go to the command's stdin, in the order the shim reads them. ``c`` or a disconnect ends a
client's stdin; with ``stdin_once``, when that client is the first that attached with stdin, the
shim closes the command's stdin (on a tty, where stdin cannot be closed without hanging up, it
writes the terminal's EOF character, ^D, and stops writing to it). Without ``stdin_once`` the
command's stdin stays open across attaches. A resize sets the pty's window size (TIOCSWINSZ, so the
command gets SIGWINCH); without a tty it does nothing.

The runtime's end (``ProcessAttachSession``): asking for stdin from a container started without
one is not an error; its writes are dropped (the shim's hello says there is none), as are those of
a client that attached without stdin. ``tty`` is the container's, whatever the client asks for.
``output`` ends when the command exits (or the shim goes away); a reader that stops early detaches.
``wait`` gives the exit code from the shim's exit frame or, when the connection ended without one
(the shim died), what the runtime records (see ``runtime``). A container that has already exited
can be attached to: its session has no output and ``wait`` gives the recorded exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import struct
import tempfile
import termios
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from skiff import aio

ATTACH_SOCKET = "attach.sock"
MAX_SOCKET_PATH = 107
"""sun_path is 108 bytes with its NUL."""
MAX_FRAME = 1 << 20
MAX_BACKLOG = 4 << 20
"""Bytes of output a client may have unsent before the shim drops it."""
STDIN_HIGH_WATER = 1 << 20
CONNECT_TIMEOUT_S = 5.0

HEADER = struct.Struct(">BI")
HELLO, STDOUT, STDERR, EXIT = b"H", b"1", b"2", b"X"
STDIN, STDIN_CLOSE, RESIZE = b"i", b"c", b"r"
STREAMS = {STDOUT: "stdout", STDERR: "stderr"}


def socket_path(directory: Path, container_id: str) -> Path:
    """Where the shim of the container in ``directory`` serves attach (see the module docstring)."""
    path = directory / ATTACH_SOCKET
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path
    return Path(tempfile.gettempdir()) / f"skiff-attach-{container_id}.sock"


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind[0], len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The next frame; IncompleteReadError at the end, ValueError on a frame too long."""
    kind, length = HEADER.unpack(await reader.readexactly(HEADER.size))
    if length > MAX_FRAME:
        raise ValueError(f"attach frame of {length} bytes")
    return bytes([kind]), await reader.readexactly(length)


# -- the shim's end ---------------------------------------------------------------------------


def listen(path: str) -> socket.socket:
    """Bind and listen on the attach socket (only the shim's user may connect)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(umask)
    sock.listen(16)
    return sock


class StdinSink:
    """The shim's end of the command's stdin (a pipe, or the pty's master): non-blocking writes
    with a buffer, so that a command that does not read never blocks the shim."""

    def __init__(self, fd: int, *, tty: bool) -> None:
        self._fd: int | None = fd
        self._tty = tty
        self._buffer = bytearray()
        self._closing = False
        self._watching = False
        self._writable = asyncio.Event()
        self._writable.set()
        os.set_blocking(fd, False)

    @property
    def open(self) -> bool:
        return self._fd is not None and not self._closing

    def write(self, data: bytes) -> None:
        if self.open:
            self._buffer += data
            self._flush()

    async def wait_writable(self) -> None:
        """Until the buffer is below its high-water mark (back-pressure for the client)."""
        await self._writable.wait()

    def close(self) -> None:
        """EOF for the command: close the pipe; on a tty write the EOF character (^D)."""
        if not self.open or self._fd is None:
            return
        if self._tty:
            eof = b"\x04"
            with contextlib.suppress(OSError, termios.error, IndexError, TypeError):
                value = termios.tcgetattr(self._fd)[6][termios.VEOF]
                eof = value if isinstance(value, bytes) else bytes([value])
            self._buffer += eof
        self._closing = True
        self._flush()

    def _flush(self) -> None:
        fd = self._fd
        if fd is None:
            return
        while self._buffer:
            try:
                written = os.write(fd, self._buffer)
            except BlockingIOError:
                if not self._watching:
                    asyncio.get_running_loop().add_writer(fd, self._flush)
                    self._watching = True
                self._update_writable()
                return
            except OSError:  # the command closed its stdin or ended: what it did not read is lost
                self._buffer.clear()
                self._closing = True
                break
            del self._buffer[:written]
        if self._watching:
            asyncio.get_running_loop().remove_writer(fd)
            self._watching = False
        self._update_writable()
        if self._closing:
            self._fd = None
            os.close(fd)

    def _update_writable(self) -> None:
        if len(self._buffer) < STDIN_HIGH_WATER:
            self._writable.set()
        else:
            self._writable.clear()


class _Client:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.stdin = False
        self.first_stdin = False


class AttachHub:
    """The shim's attach server: clients in, the command's output out (see the module docstring)."""

    def __init__(self, *, stdin: StdinSink | None, pty_fd: int | None, stdin_once: bool) -> None:
        self._stdin = stdin
        self._pty_fd = pty_fd
        self._stdin_once = stdin_once
        self._first_stdin_taken = False
        self._clients: set[_Client] = set()
        self._exit: dict[str, Any] | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client's connection (whatever it does, it cannot end the shim)."""
        client = _Client(writer)
        try:
            kind, payload = await aio.wait_for(read_frame(reader), CONNECT_TIMEOUT_S)
            if kind != HELLO:
                return
            hello = json.loads(payload)
            has_stdin = self._stdin is not None and self._stdin.open  # not once a stdinOnce client let go
            if bool(hello.get("stdin")) and has_stdin and self._exit is None:
                client.stdin = True
                client.first_stdin = not self._first_stdin_taken
                self._first_stdin_taken = True
            writer.write(frame(HELLO, json.dumps({"stdin": has_stdin, "tty": self._pty_fd is not None}).encode()))
            if self._exit is not None:
                writer.write(frame(EXIT, json.dumps(self._exit).encode()))
                await aio.wait_for(writer.drain(), CONNECT_TIMEOUT_S)
                return
            self._clients.add(client)
            while True:
                kind, payload = await read_frame(reader)
                if kind == STDIN and client.stdin and self._stdin is not None:
                    self._stdin.write(payload)
                    await self._stdin.wait_writable()
                elif kind == STDIN_CLOSE:
                    self._stdin_done(client)
                elif kind == RESIZE and len(payload) == 4:
                    self._resize(*struct.unpack(">HH", payload))
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError, TimeoutError):
            pass
        finally:
            self._clients.discard(client)
            if self._exit is None:
                self._stdin_done(client)
            writer.close()

    def _stdin_done(self, client: _Client) -> None:
        if not client.stdin:
            return
        client.stdin = False
        if client.first_stdin and self._stdin_once and self._stdin is not None:
            self._stdin.close()

    def _resize(self, width: int, height: int) -> None:
        if self._pty_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self._pty_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def broadcast(self, stream: str, data: bytes) -> None:
        """Output the shim read from ``stream``, to every client (one that lags too far is dropped)."""
        message = frame(STDOUT if stream == "stdout" else STDERR, data)
        for client in list(self._clients):
            transport = client.writer.transport
            if client.writer.is_closing():
                continue
            if transport.get_write_buffer_size() > MAX_BACKLOG:
                self._clients.discard(client)
                transport.abort()
                continue
            client.writer.write(message)

    async def finish(self, exit_code: int, *, timeout: float = 1.0) -> None:
        """The command ended (``exit.json`` is written): tell every client, then close them."""
        self._exit = {"exit_code": exit_code}
        message = frame(EXIT, json.dumps(self._exit).encode())
        clients = list(self._clients)
        self._clients.clear()
        for client in clients:
            if not client.writer.is_closing():
                client.writer.write(message)
                client.writer.close()
        closing = [asyncio.ensure_future(_closed(c.writer)) for c in clients]
        if closing:
            _, late = await asyncio.wait(closing, timeout=timeout)
            for task in late:
                task.cancel()
        for client in clients:
            client.writer.transport.abort()


async def _closed(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


# -- the runtime's end ------------------------------------------------------------------------


class AttachUnavailable(Exception):
    """The shim did not take the connection (it is gone, or going)."""


class ProcessAttachSession:
    """An attach to a process-runtime container (the interface's ExecSession)."""

    def __init__(self, reader: asyncio.StreamReader | None, writer: asyncio.StreamWriter | None, *,
                 stdin: bool, tty: bool, recorded_exit: Callable[[], Awaitable[int]]) -> None:
        self._reader = reader
        self._writer = writer
        self._stdin = stdin and writer is not None
        self.tty = tty
        self._recorded_exit = recorded_exit
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(maxsize=64)
        self._discard = False
        self._output_started = False
        self._exit_code: int | None = None
        self._code: int | None = None
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while self._reader is not None:
                kind, payload = await read_frame(self._reader)
                if kind in STREAMS:
                    if not self._discard:
                        await self._queue.put((STREAMS[kind], payload))
                elif kind == EXIT:
                    self._exit_code = int(json.loads(payload)["exit_code"])
                    break
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError, KeyError, TypeError):
            pass
        finally:
            self._stdin = False
            if self._writer is not None:
                self._writer.close()
            if not self._discard:
                await self._queue.put(None)

    async def write_stdin(self, data: bytes) -> None:
        """Feed the command's stdin; dropped when this session has none (see the module docstring)."""
        if not self._stdin or self._writer is None:
            return
        with contextlib.suppress(ConnectionError, OSError):
            for start in range(0, len(data), MAX_FRAME):
                self._writer.write(frame(STDIN, data[start:start + MAX_FRAME]))
                await self._writer.drain()

    async def close_stdin(self) -> None:
        """This client's stdin is done (EOF for the command only with ``stdin_once``)."""
        if not self._stdin or self._writer is None:
            return
        self._stdin = False
        with contextlib.suppress(ConnectionError, OSError):
            self._writer.write(frame(STDIN_CLOSE))
            await self._writer.drain()

    async def resize(self, width: int, height: int) -> None:
        if not self.tty or self._writer is None or self._writer.is_closing():
            return
        with contextlib.suppress(ConnectionError, OSError, struct.error):
            self._writer.write(frame(RESIZE, struct.pack(">HH", width, height)))
            await self._writer.drain()

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        """What the command prints from the attach on, until it exits; stopping early detaches."""
        self._output_started = True
        try:
            while (item := await self._queue.get()) is not None:
                yield item
        finally:
            if not self._task.done():
                self.close()

    async def wait(self) -> int:
        """The command's exit code (output not read by then is dropped)."""
        if not self._output_started:
            self._discard = True
            self._drain()
        if self._code is None:
            await asyncio.shield(self._task)
            code = self._exit_code
            if code is None:
                code = await self._recorded_exit()
            self._code = code
        return self._code

    def close(self) -> None:
        """Detach (the command goes on running)."""
        self._discard = True
        self._drain()
        self._task.cancel()
        self._stdin = False
        if self._writer is not None:
            self._writer.close()

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()


async def connect(path: str, *, stdin: bool, recorded_exit: Callable[[], Awaitable[int]]) -> ProcessAttachSession:
    """Attach through the shim's socket; AttachUnavailable when the shim does not take it."""
    try:
        reader, writer = await aio.wait_for(asyncio.open_unix_connection(path), CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        raise AttachUnavailable(str(err)) from err
    try:
        writer.write(frame(HELLO, json.dumps({"stdin": stdin}).encode()))
        await writer.drain()
        kind, payload = await aio.wait_for(read_frame(reader), CONNECT_TIMEOUT_S)
        if kind != HELLO:
            raise ValueError(f"unexpected attach frame {kind!r}")
        hello = json.loads(payload)
    except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError, TimeoutError) as err:
        writer.close()
        raise AttachUnavailable(str(err) or type(err).__name__) from err
    return ProcessAttachSession(reader, writer, stdin=stdin and bool(hello.get("stdin")),
                                tty=bool(hello.get("tty")), recorded_exit=recorded_exit)
