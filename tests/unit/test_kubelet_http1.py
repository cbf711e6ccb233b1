"""kubelet.http1 on in-memory streams: heads, the three body framings, limits and malformed input."""

from __future__ import annotations

import asyncio

import pytest

from kubelet import http1


def stream(data: bytes, *, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


async def response(data: bytes, *, limit: int | None = None) -> tuple[http1.ResponseHead, bytes]:
    reader = stream(data)
    head = await http1.read_head(reader)
    return head, await http1.read_body(reader, head.headers, limit=limit)


async def chunks(data: bytes) -> list[bytes]:
    reader = stream(data)
    head = await http1.read_head(reader)
    return [chunk async for chunk in http1.body_chunks(reader, head.headers)]


def test_request_head_is_the_request_line_fields_and_a_blank_line() -> None:
    assert http1.request_head("GET", "/healthz?x=1", [("Host", "10.0.0.5:80"), ("Connection", "close")]) == (
        b"GET /healthz?x=1 HTTP/1.1\r\nHost: 10.0.0.5:80\r\nConnection: close\r\n\r\n")
    assert http1.request_head("POST", "/v1.41/exec/x/start", []) == b"POST /v1.41/exec/x/start HTTP/1.1\r\n\r\n"


async def test_head_status_reason_and_lower_cased_headers() -> None:
    reader = stream(b"HTTP/1.1 404 Not Found\r\nContent-Type:  text/plain \r\nX-A: 1\r\nx-a: 2\r\n\r\nrest")
    head = await http1.read_head(reader)
    assert head == http1.ResponseHead(404, "Not Found", {"content-type": "text/plain", "x-a": "2"})
    assert await reader.read() == b"rest"  # left at the body


async def test_head_without_reason_phrase_or_headers() -> None:
    head = await http1.read_head(stream(b"HTTP/1.0 204\r\n\r\n"))
    assert (head.status, head.reason, head.headers) == (204, "", {})


async def test_content_length_body_stops_at_its_length() -> None:
    head, body = await response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and what follows")
    assert (head.status, body) == (200, b"hello")


async def test_content_length_body_cut_short_ends_with_the_stream() -> None:
    assert (await response(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"))[1] == b"short"


async def test_chunked_body_is_decoded_and_ignores_extensions_and_trailers() -> None:
    data = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
    assert await chunks(data) == [b"hello", b" world"]
    assert (await response(data))[1] == b"hello world"


async def test_chunked_wins_over_content_length() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    assert (await response(data))[1] == b"abc"


async def test_close_delimited_body_reads_until_the_peer_closes() -> None:
    assert (await response(b"HTTP/1.1 200 OK\r\n\r\nall of\r\nthis"))[1] == b"all of\r\nthis"


async def test_a_content_length_that_is_not_a_number_reads_until_close() -> None:
    assert (await response(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc"))[1] == b"abc"


@pytest.mark.parametrize("framing", [b"Content-Length: 50000\r\n", b"", b"Transfer-Encoding: chunked\r\n"])
async def test_limit_keeps_only_the_first_bytes(framing: bytes) -> None:
    body = b"y" * 50000
    payload = b"c350\r\n" + body + b"\r\n0\r\n\r\n" if framing.startswith(b"Transfer") else body
    _, got = await response(b"HTTP/1.1 200 OK\r\n" + framing + b"\r\n" + payload, limit=10240)
    assert got == b"y" * 10240


async def test_limit_returns_without_waiting_for_the_rest_of_the_body() -> None:
    reader = stream(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"z" * 20, eof=False)
    head = await http1.read_head(reader)
    assert await asyncio.wait_for(http1.read_body(reader, head.headers, limit=10), 1) == b"z" * 10


@pytest.mark.parametrize("status_line", [b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 abc OK\r\n", b"HTTP/1.1\r\n",
                                         b"hello world\r\n"])
async def test_malformed_status_line_is_a_protocol_error(status_line: bytes) -> None:
    with pytest.raises(http1.ProtocolError) as raised:
        await http1.read_head(stream(status_line + b"\r\n"))
    assert str(raised.value) == f"malformed HTTP response {status_line!r}"
    assert isinstance(raised.value, ValueError)


async def test_malformed_chunk_size_is_a_protocol_error_with_the_parsers_words() -> None:
    with pytest.raises(http1.ProtocolError, match=r"^invalid literal for int\(\) with base 16: b'zz'$"):
        await response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n")


async def test_a_stream_that_ends_before_the_status_line_or_inside_a_chunk_is_incomplete() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        await http1.read_head(stream(b""))
    with pytest.raises(asyncio.IncompleteReadError):
        await response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort")


async def test_a_stream_that_ends_inside_the_headers_ends_them() -> None:
    head, body = await response(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n")
    assert (head.status, head.headers, body) == (200, {"x-a": "1"}, b"")


async def test_until_close_yields_raw_bytes_after_an_upgrade() -> None:
    frame = b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    reader = stream(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + frame)
    head = await http1.read_head(reader)
    assert head.status == 101
    assert b"".join([chunk async for chunk in http1.until_close(reader)]) == frame
