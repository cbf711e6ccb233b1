"""The prober: one check of one container, as Kubernetes' ``pkg/probe`` runs it.

:func:`run_probe` runs a single ``exec``, ``httpGet``, ``tcpSocket`` or ``grpc`` check and returns a
:class:`ProbeOutcome`; the thresholds, periods and gating live in :mod:`kubelet.probe_manager`.
Results follow Kubernetes' three values:

* ``success`` - the check passed (for httpGet a 2xx, or a 3xx that was not followed: Kubernetes'
  *warning*, which counts as success, with the message ``Probe terminated redirects, ...``);
* ``failure`` - the check ran and the container failed it; the message is Kubernetes' own wording
  (``HTTP probe failed with statuscode: 500``, ``Get "http://10.0.0.5:8080/healthz": dial tcp
  10.0.0.5:8080: connect: connection refused``, ``dial tcp 10.0.0.5:9000: i/o timeout``) because it
  ends up in the ``Unhealthy`` events users read;
* ``unknown`` - the probe could not be run at all (a named port the container does not declare,
  no handler, the runtime erroring); Kubernetes throws such results away instead of counting
  them towards a threshold, and so does the manager.

Everything is asyncio: TCP through ``asyncio.open_connection``; httpGet through a small HTTP/1.1
GET client on asyncio streams, whose wire format is :mod:`kubelet.http1` (``Connection: close``,
body read up to 10 KiB like the kubelet, ``Content-Length``/chunked/close-delimited bodies,
redirects followed only to the same host and at most 10 times, TLS without verification for
``scheme: HTTPS``); grpc through grpcio with the ``grpc.health.v1`` messages and stub of
grpcio-health-checking. Each check runs under ``timeoutSeconds`` as a whole (Go's
``http.Client.Timeout``). Exec goes through the runtime's ``exec_sync`` (exit code -1 means it
timed out).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kubelet import http1
from kubelet.runtime.interface import ContainerRuntime
from skiff import aio
from skiff.api.codec import int_or_string
from skiff.api.strconv import atoi
from skiff.api.v1 import core_pb2, meta_pb2

__all__ = [
    "USER_AGENT", "ProbeOutcome", "ProbeResult", "exec_check", "grpc_check", "http_get_check", "http_probe",
    "probe_headers", "probe_url", "resolve_container_port", "run_probe", "tcp_check",
]

ProbeResult = Literal["success", "failure", "unknown"]

USER_AGENT = "kube-probe/1.32"
"""What Kubernetes 1.32's kubelet sends (``kube-probe/<major>.<minor>``) unless the probe sets one."""

MAX_BODY = 10 * 1024
"""The kubelet reads at most 10 KiB of a probe's response body or exec output."""

MAX_REDIRECTS = 10
DEFAULT_TIMEOUT_SECONDS = 1
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class ProbeOutcome:
    result: ProbeResult
    message: str = ""


class _ProbeError(Exception):
    """The probe cannot be run (Kubernetes: an error next to probe.Unknown)."""


# ---------------------------------------------------------------------------------------------
# entry point


async def run_probe(probe: core_pb2.Probe, *, container: core_pb2.Container, pod_ip: str,
                    container_id: str, runtime: ContainerRuntime) -> ProbeOutcome:
    """Run ``probe`` once against the container; never raises for the container's faults."""
    timeout = _timeout_seconds(probe)
    try:
        if probe.HasField("exec"):
            return await exec_check(probe.exec, container_id=container_id, runtime=runtime, timeout=timeout)
        if probe.HasField("http_get"):
            return await http_get_check(probe.http_get, container=container, pod_ip=pod_ip, timeout=timeout)
        if probe.HasField("tcp_socket"):
            port = resolve_container_port(probe.tcp_socket.port, container)
            host = probe.tcp_socket.host or pod_ip
            return await tcp_check(host, port, timeout=timeout)
        if probe.HasField("grpc"):
            return await grpc_check(pod_ip, probe.grpc.port, probe.grpc.service, timeout=timeout)
    except _ProbeError as error:
        return ProbeOutcome("unknown", str(error))
    return ProbeOutcome("unknown", f"missing probe handler for container {container.name}")


def _timeout_seconds(probe: core_pb2.Probe) -> float:
    if probe.HasField("timeout_seconds") and probe.timeout_seconds > 0:
        return float(probe.timeout_seconds)
    return float(DEFAULT_TIMEOUT_SECONDS)


def resolve_container_port(port: meta_pb2.IntOrString, container: core_pb2.Container) -> int:
    """A probe's port: a number, a named container port, or a number written as a string."""
    value = int_or_string(port)
    if value is None:
        raise _ProbeError(f"intOrString had no kind: {port}")
    if isinstance(value, str):
        value = _named_port(value, container)
    if 0 < value < 65536:
        return value
    raise _ProbeError(f"invalid port number: {value}")


def _named_port(name: str, container: core_pb2.Container) -> int:
    for declared in container.ports:
        if declared.name == name:
            return int(declared.container_port)
    number = atoi(name)
    if number is None:
        raise _ProbeError(f'strconv.Atoi: parsing "{name}": invalid syntax')
    return number


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------------------------------------
# exec


async def exec_check(action: core_pb2.ExecAction, *, container_id: str, runtime: ContainerRuntime,
                     timeout: float) -> ProbeOutcome:
    """Exit code 0 passes; -1 is the runtime's timeout; the output (10 KiB) is the message."""
    command = list(action.command)
    try:
        result = await runtime.exec_sync(container_id, command, timeout)
    except Exception as error:  # noqa: BLE001 - any runtime error makes the result unknown
        return ProbeOutcome("unknown", str(error) or type(error).__name__)
    output = result.output[:MAX_BODY].decode("utf-8", errors="replace")
    if result.exit_code == 0:
        return ProbeOutcome("success", output)
    if result.exit_code == -1:
        return ProbeOutcome("failure", f'command "{" ".join(command)}" timed out')
    return ProbeOutcome("failure", output)


# ---------------------------------------------------------------------------------------------
# tcpSocket


async def tcp_check(host: str, port: int, *, timeout: float) -> ProbeOutcome:
    """Passes when a TCP connection opens within ``timeout``; closed again at once."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return ProbeOutcome("failure", f"dial tcp {_join_host_port(host, port)}: i/o timeout")
    except OSError as error:
        return ProbeOutcome("failure", dial_error(host, port, error))
    await _close(writer)
    return ProbeOutcome("success", "")


def dial_error(host: str, port: int, error: OSError) -> str:
    """Go's ``net.Dial`` wording for a failed connect (``connect: connection refused``)."""
    if isinstance(error, socket.gaierror):
        return f"dial tcp: lookup {host}: no such host"
    return f"dial tcp {_join_host_port(host, port)}: connect: {_errno_text(error)}"


def _errno_text(error: OSError) -> str:
    """The system's text for the error's errno, lower-cased as Go's syscall errors are."""
    number = error.errno
    if number is None:  # asyncio's "Multiple exceptions: [Errno 111] ..." when several addresses failed
        found = re.search(r"\[Errno (\d+)\]", str(error))
        number = int(found.group(1)) if found else None
    text = os.strerror(number) if number is not None else str(error)
    return text[:1].lower() + text[1:]


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except (OSError, ssl.SSLError):
        pass


# ---------------------------------------------------------------------------------------------
# httpGet


@dataclass(frozen=True)
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


class _HTTPFailure(Exception):
    """A transport failure; ``reason`` is what follows ``Get "url": `` in Go's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def probe_url(action: core_pb2.HTTPGetAction, *, container: core_pb2.Container, pod_ip: str) -> str:
    """The URL the kubelet requests: ``scheme://host:port/path`` (host defaults to the pod IP)."""
    scheme = (action.scheme or "HTTP").lower()
    host = action.host or pod_ip
    port = resolve_container_port(action.port, container)
    path = action.path
    if path and not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{_join_host_port(host, port)}{path}"


def probe_headers(action: core_pb2.HTTPGetAction) -> list[tuple[str, str]]:
    """The probe's httpHeaders plus Kubernetes' User-Agent and ``Accept: */*`` defaults."""
    headers = [(header.name, header.value) for header in action.http_headers]
    names = {name.lower() for name, _ in headers}
    if "user-agent" not in names:
        headers.append(("User-Agent", USER_AGENT))
    if "accept" not in names:
        headers.append(("Accept", "*/*"))
    # An Accept header given empty means "send none" (Kubernetes removes it).
    return [(name, value) for name, value in headers if not (name.lower() == "accept" and value == "")]


async def http_get_check(action: core_pb2.HTTPGetAction, *, container: core_pb2.Container, pod_ip: str,
                         timeout: float) -> ProbeOutcome:
    """GET the probe's URL; 200 <= status < 400 passes (see the module docstring)."""
    url = probe_url(action, container=container, pod_ip=pod_ip)
    return await http_probe(url, probe_headers(action), timeout=timeout)


async def http_probe(url: str, headers: list[tuple[str, str]], *, timeout: float) -> ProbeOutcome:
    """Kubernetes' ``DoHTTPProbe``: one GET (with its redirects) under one deadline."""
    visited = [url]
    try:
        async with asyncio.timeout(timeout):
            response = await _follow(visited, headers)
    except TimeoutError:
        return ProbeOutcome(
            "failure",
            f'Get "{visited[-1]}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)')
    except _HTTPFailure as failure:
        return ProbeOutcome("failure", f'Get "{visited[-1]}": {failure.reason}')
    return _judge(response)


def _judge(response: _Response) -> ProbeOutcome:
    body = response.body.decode("utf-8", errors="replace")
    if 200 <= response.status < 400:
        if response.status >= 300:
            return ProbeOutcome("success", f"Probe terminated redirects, Response body: {body}")
        return ProbeOutcome("success", body)
    return ProbeOutcome("failure", f"HTTP probe failed with statuscode: {response.status}")


async def _follow(visited: list[str], headers: list[tuple[str, str]]) -> _Response:
    """GET ``visited[0]``, following redirects to the same hostname, at most 10 of them.

    ``visited`` grows with each URL requested, so that errors name the last one (as Go does).
    A redirect to another host is not followed: its 3xx is the response (Kubernetes' warning).
    """
    first_host = urlsplit(visited[0]).hostname
    while True:
        response = await _get(visited[-1], headers)
        location = response.headers.get("location")
        if response.status not in _REDIRECT_CODES or not location:
            return response
        target = urljoin(visited[-1], location)
        if urlsplit(target).hostname != first_host:
            return response
        visited.append(target)
        if len(visited) > MAX_REDIRECTS:
            raise _HTTPFailure(f"stopped after {MAX_REDIRECTS} redirects")


async def _get(url: str, headers: list[tuple[str, str]]) -> _Response:
    parts = urlsplit(url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=_insecure_tls() if secure else None)
    except OSError as error:
        raise _HTTPFailure(dial_error(host, port, error)) from None
    try:
        writer.write(_request_bytes(parts.path or "/", parts.query, parts.netloc, headers))
        await writer.drain()
        return await _read_response(reader)
    except (ConnectionError, asyncio.IncompleteReadError) as error:
        raise _HTTPFailure(_read_error(error)) from None
    except ValueError as error:  # http1.ProtocolError: a malformed status line or chunk size; a line too long
        raise _HTTPFailure(f"net/http: HTTP/1.x transport connection broken: {error}") from None
    finally:
        await _close(writer)


def _read_error(error: Exception) -> str:
    if isinstance(error, asyncio.IncompleteReadError) or not str(error):
        return "EOF"
    if isinstance(error, ConnectionResetError):
        return "read: connection reset by peer"
    return str(error)


def _insecure_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _request_bytes(path: str, query: str, netloc: str, headers: list[tuple[str, str]]) -> bytes:
    target = f"{path}?{query}" if query else path
    host = next((value for name, value in headers if name.lower() == "host"), netloc)
    fields = [(name, value) for name, value in headers if name.lower() not in ("host", "connection")]
    return http1.request_head("GET", target, [("Host", host), *fields, ("Connection", "close")])


async def _read_response(reader: asyncio.StreamReader) -> _Response:
    """The response, its body cut at :data:`MAX_BODY` (the rest is dropped with the connection)."""
    head = await http1.read_head(reader)
    body = await http1.read_body(reader, head.headers, limit=MAX_BODY)
    return _Response(head.status, head.headers, body)


# ---------------------------------------------------------------------------------------------
# grpc


async def grpc_check(host: str, port: int, service: str, *, timeout: float) -> ProbeOutcome:
    """The gRPC health protocol (``grpc.health.v1.Health/Check``); SERVING passes."""
    target = _join_host_port(host, port)
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            await aio.wait_for(channel.channel_ready(), timeout)
        except TimeoutError:
            return ProbeOutcome("failure", f"timeout: failed to connect service {target!r} within {timeout:g}s")
        try:
            response = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.aio.AioRpcError as error:
            return _grpc_error(error, timeout)
    status: int = response.status
    if status == health_pb2.HealthCheckResponse.SERVING:
        return ProbeOutcome("success", "")
    return ProbeOutcome("failure", f"service unhealthy (responded with {_serving_status_name(status)!r})")


def _serving_status_name(status: int) -> str:
    """The enum value's name, or its number for one this version does not know (as Go's String())."""
    names = health_pb2.HealthCheckResponse.ServingStatus
    return names.Name(status) if status in names.values() else str(status)


def _grpc_error(error: grpc.aio.AioRpcError, timeout: float) -> ProbeOutcome:
    if error.code() == grpc.StatusCode.UNIMPLEMENTED:
        return ProbeOutcome("failure", "this server does not implement the grpc health protocol "
                                       "(grpc.health.v1.Health): " + (error.details() or ""))
    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ProbeOutcome("failure", f"timeout: health rpc did not complete within {timeout:g}s")
    return ProbeOutcome("failure", f"health rpc probe failed: {error.details() or error.code().name}")
