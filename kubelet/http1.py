"""A small HTTP/1.1 client codec on asyncio streams: a request's head out, a response in.

Two parts of the kubelet speak HTTP/1.1 by hand, each on a connection it opened itself: the
httpGet probe (:mod:`kubelet.probes`, to the pod) and the docker runtime's streaming calls
(:mod:`kubelet.runtime.docker`, to the engine's socket: followed logs, the hijacked exec). Neither
wants a client library: the probe must fail with Go's words, under one deadline, and keep only
10 KiB; the engine hands over the raw connection after a ``101``. So this module is only the
wire format, and each caller keeps its connection, its timeouts and its error messages:

- :func:`request_head` formats a request line and header fields (the body, if any, follows);
- :func:`read_head` reads the status line and the header fields (names lower-cased);
- :func:`body_chunks` yields the body as it arrives, framed as the head says: ``chunked``, else
  ``Content-Length``, else until the peer closes; :func:`read_body` collects it (up to a limit);
- :func:`until_close` yields raw bytes until the peer closes (what follows a ``101``).

Leniency is the probe's, as it always was: a stream that ends inside the header fields ends them;
a ``Content-Length`` body cut short ends where the stream ends; a ``Content-Length`` that is not a
number reads until close; chunk extensions and trailers are ignored. What cannot be read raises:
:class:`asyncio.IncompleteReadError` when the stream ends before the status line or inside a chunk,
:class:`ProtocolError` (a ValueError) for a malformed status line or chunk size, and a plain
ValueError from asyncio for a line longer than the stream's limit. Each caller maps those to its
own words.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass

__all__ = ["ProtocolError", "ResponseHead", "body_chunks", "read_body", "read_head", "request_head",
           "until_close"]

READ_SIZE = 65536
"""The most one read of a close-delimited or Content-Length body asks for."""


class ProtocolError(ValueError):
    """The peer does not speak HTTP/1.x: a malformed status line or chunk size."""


@dataclass(frozen=True)
class ResponseHead:
    status: int
    reason: str
    """The status line's reason phrase (``OK``), possibly empty."""
    headers: dict[str, str]
    """Field names lower-cased, values stripped; a repeated field keeps its last value."""


def request_head(method: str, target: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """``METHOD target HTTP/1.1``, the fields in order, and the blank line (Latin-1, as on the wire)."""
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in fields)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")


async def read_head(reader: asyncio.StreamReader) -> ResponseHead:
    """The status line and header fields; the reader is left at the first byte of the body."""
    status_line = await reader.readline()
    if not status_line:
        raise asyncio.IncompleteReadError(b"", None)
    fields = status_line.decode("latin-1").split(None, 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ProtocolError(f"malformed HTTP response {status_line!r}")
    headers: dict[str, str] = {}
    while line := (await reader.readline()).decode("latin-1").rstrip("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return ResponseHead(int(fields[1]), fields[2].strip() if len(fields) > 2 else "", headers)


def body_chunks(reader: asyncio.StreamReader, headers: dict[str, str]) -> AsyncGenerator[bytes, None]:
    """The body's bytes as they arrive (never an empty chunk), framed as ``headers`` say."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _chunked(reader)
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        return _counted(reader, int(length))
    return until_close(reader)


async def _counted(reader: asyncio.StreamReader, length: int) -> AsyncGenerator[bytes, None]:
    while length > 0 and (data := await reader.read(min(length, READ_SIZE))):
        length -= len(data)
        yield data


async def _chunked(reader: asyncio.StreamReader) -> AsyncGenerator[bytes, None]:
    while size_line := (await reader.readline()).split(b";")[0].strip():
        try:
            size = int(size_line, 16)
        except ValueError as error:
            raise ProtocolError(str(error)) from None
        if size == 0:
            return
        chunk = await reader.readexactly(size)
        await reader.readline()  # the CRLF after the chunk
        yield chunk


async def until_close(reader: asyncio.StreamReader) -> AsyncGenerator[bytes, None]:
    """Raw bytes until the peer closes."""
    while data := await reader.read(READ_SIZE):
        yield data


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str], *, limit: int | None = None) -> bytes:
    """The body, or its first ``limit`` bytes (the rest is left unread, to go with the connection)."""
    data = bytearray()
    async with contextlib.aclosing(body_chunks(reader, headers)) as chunks:
        async for chunk in chunks:
            data += chunk
            if limit is not None and len(data) >= limit:
                return bytes(data[:limit])
    return bytes(data)
