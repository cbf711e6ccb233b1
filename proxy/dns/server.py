"""The cluster DNS server: answer the cluster's names, forward the rest upstream.

One :class:`DnsServer` listens on an address and port over UDP and TCP (RFC 1035 framing: a
two-byte length before each TCP message; a TCP client may send several queries on one
connection, idle for ``TCP_IDLE`` seconds it is closed). Each query goes through
:meth:`DnsServer.answer`:

* a name of the cluster zone (or a reverse name of a cluster address) is answered from
  :class:`~proxy.dns.records.ClusterRecords`, authoritatively (AA), with NXDOMAIN / NODATA and
  the zone's SOA where the name or the type does not exist — as CoreDNS's kubernetes plugin;
* any other name is forwarded to the upstream servers in turn (CoreDNS's ``forward . /etc/resolv.conf``)
  over the protocol the client used, and the upstream's answer relayed; when none answers in
  ``timeout`` the client gets SERVFAIL;
* a message that does not parse gets FORMERR (when it has a header to answer), an opcode other
  than QUERY NOTIMP.

A UDP answer longer than the client can take (512 bytes, or its EDNS payload size) is sent
truncated (TC, no records) so that the client asks again over TCP.

Metrics carry CoreDNS's names: ``coredns_dns_requests_total{server,zone,proto,family,type}``,
``coredns_dns_responses_total{server,zone,rcode}``,
``coredns_dns_request_duration_seconds{server,zone,type}`` and
``coredns_forward_requests_total{to}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import struct
import time
from collections.abc import Sequence

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
from prometheus_client import Counter, Histogram

from proxy.dns.records import ClusterRecords
from skiff import aio

log = logging.getLogger("skiff.proxy.dns")

Upstream = tuple[str, int]
TCP_IDLE = 10.0
UDP_MAX = 512

REQUESTS = Counter("coredns_dns_requests", "Counter of DNS requests made per zone, protocol and family.",
                   ["server", "zone", "proto", "family", "type"])
RESPONSES = Counter("coredns_dns_responses", "Counter of response status codes.", ["server", "zone", "rcode"])
DURATION = Histogram("coredns_dns_request_duration_seconds", "Histogram of the time (in seconds) each request took.",
                     ["server", "zone", "type"], buckets=tuple(0.00025 * 2**i for i in range(16)))
FORWARDS = Counter("coredns_forward_requests", "Counter of requests made per upstream.", ["to"])


class DnsServer:
    """See the module docstring."""

    def __init__(self, records: ClusterRecords, *, upstreams: Sequence[Upstream] = (), timeout: float = 2.0) -> None:
        self.records = records
        self.upstreams = tuple(upstreams)
        self.timeout = timeout
        self.label = ""
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- listening ----

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` over UDP and TCP (raises OSError when it cannot)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), local_addr=(host, port))
        self._udp = transport
        try:
            self._tcp = await asyncio.start_server(self._serve_tcp, host, port, reuse_address=True)
        except OSError:
            transport.close()
            raise
        self.label = f"dns://{host}:{port}"
        log.info("cluster DNS for %s listening on %s:%d (udp, tcp)", self.records.zone.to_text(), host, port)

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn_udp(self, data: bytes, client: tuple[str, int]) -> None:
        task = asyncio.create_task(self._answer_udp(data, client))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_udp(self, data: bytes, client: tuple[str, int]) -> None:
        reply = await self.answer(data, proto="udp", family=_family(client[0]))
        if reply is not None and self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(reply, client)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("0.0.0.0", 0)
        try:
            while True:
                header = await aio.wait_for(reader.readexactly(2), TCP_IDLE)
                (length,) = struct.unpack("!H", header)
                data = await aio.wait_for(reader.readexactly(length), TCP_IDLE)
                reply = await self.answer(data, proto="tcp", family=_family(peer[0]))
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # ---- answering ----

    async def answer(self, data: bytes, *, proto: str = "udp", family: str = "1") -> bytes | None:
        """The wire answer to the wire query ``data`` (None: nothing can be answered)."""
        started = time.perf_counter()
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return _format_error(data)
        if query.flags & dns.flags.QR:
            return None  # a response, not a query: never answer those
        qtype = dns.rdatatype.to_text(query.question[0].rdtype) if query.question else "NONE"
        zone, response = await self._respond(query, proto)
        REQUESTS.labels(self.label, zone, proto, family, qtype).inc()
        RESPONSES.labels(self.label, zone, dns.rcode.to_text(response.rcode())).inc()
        DURATION.labels(self.label, zone, qtype).observe(time.perf_counter() - started)
        return _to_wire(response, _max_size(query) if proto == "udp" else 65535)

    async def _respond(self, query: dns.message.Message, proto: str) -> tuple[str, dns.message.Message]:
        """(the zone label for metrics, the response)."""
        if query.opcode() != dns.opcode.QUERY:
            return ".", _reply(query, dns.rcode.NOTIMP)
        if len(query.question) != 1:
            return ".", _reply(query, dns.rcode.FORMERR)
        question = query.question[0]
        found = self.records.resolve(question.name, question.rdtype)
        if found is None:
            return ".", await self._forward(query, proto)
        response = _reply(query, found.rcode)
        response.flags |= dns.flags.AA
        response.answer.extend(found.answer)
        response.authority.extend(found.authority)
        response.additional.extend(found.additional)
        return self.records.zone.to_text(), response

    async def _forward(self, query: dns.message.Message, proto: str) -> dns.message.Message:
        """Ask the upstreams in turn; SERVFAIL when none answers."""
        for host, port in self.upstreams:
            FORWARDS.labels(f"{host}:{port}").inc()
            try:
                if proto == "tcp":
                    answer = await dns.asyncquery.tcp(query, host, timeout=self.timeout, port=port)
                else:
                    answer = await dns.asyncquery.udp(query, host, timeout=self.timeout, port=port,
                                                      ignore_unexpected=True)
            except (dns.exception.DNSException, OSError, EOFError) as exc:
                log.debug("upstream %s:%d failed for %s: %s", host, port, query.question[0].name, exc)
                continue
            return answer
        return _reply(query, dns.rcode.SERVFAIL)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server._spawn_udp(data, addr)


def _reply(query: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
    response = dns.message.make_response(query, recursion_available=True)
    response.set_rcode(rcode)
    return response


def _format_error(data: bytes) -> bytes | None:
    """FORMERR for a message that did not parse, when it has a header whose id can be echoed."""
    if len(data) < 12:
        return None
    (ident, flags) = struct.unpack("!HH", data[:4])
    if flags & dns.flags.QR:
        return None  # a response, not a query: never answer those
    opcode_and_rd = flags & (0x7800 | dns.flags.RD)
    return struct.pack("!HHHHHH", ident, dns.flags.QR | dns.flags.RA | opcode_and_rd | dns.rcode.FORMERR, 0, 0, 0, 0)


def _max_size(query: dns.message.Message) -> int:
    return max(UDP_MAX, query.payload) if query.edns >= 0 else UDP_MAX


def _to_wire(response: dns.message.Message, max_size: int) -> bytes:
    try:
        return response.to_wire(max_size=max_size)
    except dns.exception.TooBig:
        truncated = _empty_copy(response)
        truncated.flags |= dns.flags.TC
        return truncated.to_wire(max_size=max_size)


def _empty_copy(response: dns.message.Message) -> dns.message.Message:
    copy = dns.message.Message(id=response.id)
    copy.flags = response.flags
    copy.question = list(response.question)
    if response.edns >= 0:
        copy.use_edns(response.edns, response.ednsflags, response.payload)
    return copy


def _family(host: str) -> str:
    with contextlib.suppress(ValueError):
        return "2" if ipaddress.ip_address(host.split("%")[0]).version == 6 else "1"
    return "1"
