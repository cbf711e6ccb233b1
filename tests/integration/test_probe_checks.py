"""The real httpGet, tcpSocket and grpc checks against real servers on 127.0.0.1 free ports.

The HTTP server is a small asyncio one that answers by path (``/status/<code>``, ``/redirect/...``,
``/hang``, ``/chunked``, ``/big``) and records every request line and header it receives, so the
tests see exactly what the prober sent.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubelet.probes import ProbeOutcome, run_probe, tcp_check
from kubelet.runtime.interface import ExecResult
from skiff.api.v1 import core_pb2, meta_pb2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Recorded:
    def __init__(self, target: str, headers: dict[str, str]) -> None:
        self.target = target
        self.headers = headers


class HTTPServer:
    """Answers by path; see the module docstring."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode()
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode().rstrip("\r\n")):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            target = request_line.split()[1]
            self.requests.append(Recorded(target, headers))
            await self.respond(target, writer)
        except (ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    async def respond(self, target: str, writer: asyncio.StreamWriter) -> None:
        if target == "/hang":
            await asyncio.sleep(30)
            return
        if target.startswith("/close"):
            return
        if target == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        elif target == "/bad-chunk":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n")
        elif target == "/cut-chunk":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort")
        elif target == "/not-http":
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        elif target == "/until-close":
            writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
        elif target == "/big":
            body = b"y" * 50000
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        elif target.startswith("/redirect/"):
            location = target[len("/redirect/"):].replace("~", "/")
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 5\r\n\r\nmoved".encode())
        elif target.startswith("/loop"):
            count = int(target.split("/")[-1] or 0)
            writer.write(f"HTTP/1.1 301 Moved\r\nLocation: /loop/{count + 1}\r\n\r\n".encode())
        elif target.startswith("/status/"):
            code = int(target.split("/")[2].split("?")[0])
            writer.write(f"HTTP/1.1 {code} X\r\nContent-Length: 4\r\n\r\nbody".encode())
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()


@pytest.fixture
async def http_server() -> AsyncIterator[HTTPServer]:
    server = HTTPServer()
    await server.start()
    yield server
    await server.close()


def http_probe(port: int | str, path: str, *, host: str = "", timeout: int = 2,
               headers: dict[str, str] | None = None, scheme: str = "") -> core_pb2.Probe:
    probe = core_pb2.Probe(timeout_seconds=timeout)
    action = probe.http_get
    action.path = path
    if host:
        action.host = host
    if scheme:
        action.scheme = scheme
    if isinstance(port, int):
        action.port.CopyFrom(meta_pb2.IntOrString(int_val=port))
    else:
        action.port.CopyFrom(meta_pb2.IntOrString(str_val=port))
    for name, value in (headers or {}).items():
        action.http_headers.add(name=name, value=value)
    return probe


class NoRuntime:
    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        raise AssertionError("no exec expected")


async def check(probe: core_pb2.Probe, container: core_pb2.Container | None = None) -> ProbeOutcome:
    return await run_probe(probe, container=container or core_pb2.Container(name="app"), pod_ip="127.0.0.1",
                           container_id="cid", runtime=NoRuntime())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# httpGet


async def test_http_2xx_passes_and_sends_kubernetes_headers(http_server: HTTPServer) -> None:
    outcome = await check(http_probe(http_server.port, "/healthz"))
    assert outcome == ProbeOutcome("success", "ok")
    request = http_server.requests[-1]
    assert request.target == "/healthz"
    assert request.headers["user-agent"] == "kube-probe/1.32"
    assert request.headers["accept"] == "*/*"
    assert request.headers["host"] == f"127.0.0.1:{http_server.port}"
    assert request.headers["connection"] == "close"


async def test_http_custom_headers_and_host_override(http_server: HTTPServer) -> None:
    probe = http_probe(http_server.port, "/healthz?x=1",
                       headers={"X-Custom": "yes", "Host": "example.test", "User-Agent": "mine"})
    assert (await check(probe)).result == "success"
    request = http_server.requests[-1]
    assert request.target == "/healthz?x=1"
    assert request.headers["x-custom"] == "yes"
    assert request.headers["host"] == "example.test"
    assert request.headers["user-agent"] == "mine"


@pytest.mark.parametrize("code", [200, 204, 399])
async def test_http_status_below_400_passes(http_server: HTTPServer, code: int) -> None:
    assert (await check(http_probe(http_server.port, f"/status/{code}"))).result == "success"


@pytest.mark.parametrize("code", [400, 404, 500, 503])
async def test_http_status_400_and_up_fails_with_kubernetes_message(http_server: HTTPServer, code: int) -> None:
    outcome = await check(http_probe(http_server.port, f"/status/{code}"))
    assert outcome == ProbeOutcome("failure", f"HTTP probe failed with statuscode: {code}")


async def test_http_named_port_resolves_through_the_container(http_server: HTTPServer) -> None:
    container = core_pb2.Container(name="app")
    container.ports.add(name="web", container_port=http_server.port)
    outcome = await check(http_probe("web", "/status/200"), container)
    assert outcome.result == "success"
    assert http_server.requests[-1].target == "/status/200"


async def test_http_refused_connection_message() -> None:
    port = free_port()
    outcome = await check(http_probe(port, "/healthz"))
    assert outcome == ProbeOutcome(
        "failure", f'Get "http://127.0.0.1:{port}/healthz": dial tcp 127.0.0.1:{port}: connect: connection refused')


async def test_http_timeout_fails_within_timeout_seconds(http_server: HTTPServer) -> None:
    loop = asyncio.get_running_loop()
    begin = loop.time()
    outcome = await check(http_probe(http_server.port, "/hang", timeout=1))
    assert 0.9 <= loop.time() - begin < 3
    assert outcome == ProbeOutcome(
        "failure", f'Get "http://127.0.0.1:{http_server.port}/hang": context deadline exceeded '
                   "(Client.Timeout exceeded while awaiting headers)")


async def test_http_connection_closed_without_response_fails(http_server: HTTPServer) -> None:
    outcome = await check(http_probe(http_server.port, "/close"))
    assert outcome == ProbeOutcome("failure", f'Get "http://127.0.0.1:{http_server.port}/close": EOF')


async def test_http_chunked_and_oversized_bodies(http_server: HTTPServer) -> None:
    assert await check(http_probe(http_server.port, "/chunked")) == ProbeOutcome("success", "hello world")
    big = await check(http_probe(http_server.port, "/big"))
    assert big.result == "success" and len(big.message) == 10240


async def test_http_close_delimited_body(http_server: HTTPServer) -> None:
    assert await check(http_probe(http_server.port, "/until-close")) == ProbeOutcome("success", "until the end")


@pytest.mark.parametrize(("path", "reason"), [
    ("/not-http", "net/http: HTTP/1.x transport connection broken: malformed HTTP response "
                  "b'SSH-2.0-OpenSSH_9.6\\r\\n'"),
    ("/bad-chunk", "net/http: HTTP/1.x transport connection broken: invalid literal for int() with base 16: b'zz'"),
    ("/cut-chunk", "EOF"),
])
async def test_http_malformed_responses_fail_with_gos_words(http_server: HTTPServer, path: str, reason: str) -> None:
    outcome = await check(http_probe(http_server.port, path))
    assert outcome == ProbeOutcome("failure", f'Get "http://127.0.0.1:{http_server.port}{path}": {reason}')


async def test_http_redirect_to_same_host_is_followed(http_server: HTTPServer) -> None:
    assert (await check(http_probe(http_server.port, "/redirect/~status~500"))).message == \
        "HTTP probe failed with statuscode: 500"
    assert [request.target for request in http_server.requests[-2:]] == ["/redirect/~status~500", "/status/500"]
    assert (await check(http_probe(http_server.port, "/redirect/~status~204"))).result == "success"


async def test_http_redirect_to_another_host_is_not_followed(http_server: HTTPServer) -> None:
    other = f"http://localhost:{free_port()}/elsewhere".replace("/", "~")
    outcome = await check(http_probe(http_server.port, f"/redirect/{other}"))
    assert outcome == ProbeOutcome("success", "Probe terminated redirects, Response body: moved")
    assert len(http_server.requests) == 1


async def test_http_redirect_loop_stops_after_ten(http_server: HTTPServer) -> None:
    outcome = await check(http_probe(http_server.port, "/loop/0"))
    assert outcome == ProbeOutcome(
        "failure", f'Get "http://127.0.0.1:{http_server.port}/loop/10": stopped after 10 redirects')
    assert len(http_server.requests) == 10


def self_signed(directory: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


async def test_https_without_certificate_verification(tmp_path: Path) -> None:
    server = HTTPServer()
    await server.start(self_signed(tmp_path))
    try:
        outcome = await check(http_probe(server.port, "/status/200", scheme="HTTPS"))
    finally:
        await server.close()
    assert outcome == ProbeOutcome("success", "body")


# ---------------------------------------------------------------------------------------------
# tcpSocket


def tcp_probe(port: int | str, host: str = "") -> core_pb2.Probe:
    probe = core_pb2.Probe(timeout_seconds=1)
    if isinstance(port, int):
        probe.tcp_socket.port.CopyFrom(meta_pb2.IntOrString(int_val=port))
    else:
        probe.tcp_socket.port.CopyFrom(meta_pb2.IntOrString(str_val=port))
    if host:
        probe.tcp_socket.host = host
    return probe


async def test_tcp_open_port_passes_named_or_numbered(http_server: HTTPServer) -> None:
    assert await check(tcp_probe(http_server.port)) == ProbeOutcome("success", "")
    container = core_pb2.Container(name="app")
    container.ports.add(name="db", container_port=http_server.port)
    assert (await check(tcp_probe("db"), container)).result == "success"


async def test_tcp_refused_message() -> None:
    port = free_port()
    outcome = await check(tcp_probe(port, host="127.0.0.1"))
    assert outcome == ProbeOutcome("failure", f"dial tcp 127.0.0.1:{port}: connect: connection refused")


async def test_tcp_timeout_message(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(*args: Any, **kwargs: Any) -> Any:
        await asyncio.Event().wait()

    monkeypatch.setattr(asyncio, "open_connection", never)
    outcome = await tcp_check("10.0.0.5", 9000, timeout=0.05)
    assert outcome == ProbeOutcome("failure", "dial tcp 10.0.0.5:9000: i/o timeout")


# ---------------------------------------------------------------------------------------------
# grpc


async def start_health_server(status: int | None, services: list[bytes] | None = None) -> tuple[Any, int]:
    """A Health/Check that answers ``status`` in raw protobuf bytes (None: no Health service at all);
    the raw requests it receives go into ``services``."""
    import grpc

    async def check_rpc(request: bytes, context: Any) -> bytes:
        if services is not None:
            services.append(request)
        return b"\x08" + bytes([status or 0])

    handlers = {} if status is None else {
        "Check": grpc.unary_unary_rpc_method_handler(
            check_rpc, request_deserializer=lambda raw: raw, response_serializer=lambda raw: raw)}
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("grpc.health.v1.Health", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


def grpc_probe(port: int, service: str = "") -> core_pb2.Probe:
    probe = core_pb2.Probe(timeout_seconds=2)
    probe.grpc.port = port
    if service:
        probe.grpc.service = service
    return probe


@pytest.mark.parametrize(("status", "expected"), [
    (1, ProbeOutcome("success", "")),
    (0, ProbeOutcome("failure", "service unhealthy (responded with 'UNKNOWN')")),
    (2, ProbeOutcome("failure", "service unhealthy (responded with 'NOT_SERVING')")),
    (3, ProbeOutcome("failure", "service unhealthy (responded with 'SERVICE_UNKNOWN')")),
    (9, ProbeOutcome("failure", "service unhealthy (responded with '9')")),  # a value this version has no name for
])
async def test_grpc_health_check(status: int, expected: ProbeOutcome) -> None:
    server, port = await start_health_server(status)
    try:
        assert await check(grpc_probe(port)) == expected
    finally:
        await server.stop(None)


async def test_grpc_health_check_asks_for_the_probes_service() -> None:
    requests: list[bytes] = []
    server, port = await start_health_server(1, requests)
    try:
        assert (await check(grpc_probe(port))).result == "success"
        assert (await check(grpc_probe(port, "liveness.v1"))).result == "success"
    finally:
        await server.stop(None)
    assert requests == [b"", b"\x0a\x0bliveness.v1"]  # HealthCheckRequest{} and HealthCheckRequest{service}


async def test_grpc_server_without_health_service_fails() -> None:
    server, port = await start_health_server(None)
    try:
        outcome = await check(grpc_probe(port))
    finally:
        await server.stop(None)
    assert outcome.result == "failure"
    assert outcome.message.startswith("this server does not implement the grpc health protocol")
