"""Cluster DNS answered by the proxy, against a real apiserver and etcd, over real UDP and TCP.

The apiserver hands out cluster IPs from 127.77.0.0/24, so the DNS address (the kube-dns
Service's 127.77.0.10) is a loopback address the test may use; the DNS port is a free one. The
"upstream" that names outside the cluster are forwarded to is a small DNS responder the test runs
on 127.0.0.5. Shown: a Service's name resolves (UDP and TCP, authoritative, TTL 30) and stops
resolving when it goes; an unknown name is NXDOMAIN with the zone's SOA; a headless Service too
big for a UDP answer is truncated there and whole over TCP; other names are forwarded and, with
no upstream answering, SERVFAIL; a malformed query gets FORMERR; the kube-dns Service holds the
address.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from proxy.addresses import LocalAddresses
from proxy.app import Flags, serve_dns
from proxy.proxier import Proxier
from skiff.api.manifest import from_manifest
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.cluster import client_for, eventually, running_apiserver
from tests.support.processes import free_port

DNS_IP = "127.77.0.10"
UPSTREAM_IP = "127.0.0.5"


@pytest.fixture
async def client(etcd: Any) -> AsyncIterator[Client]:
    async with running_apiserver(etcd.url, service_cluster_ip_range="127.77.0.0/24") as server:
        made = client_for(server)
        try:
            yield made
        finally:
            await made.close()


class Upstream(asyncio.DatagramProtocol):
    """A resolver outside the cluster: every A query gets 192.0.2.7."""

    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.7"))
        self.transport.sendto(response.to_wire(), addr)


@contextlib.asynccontextmanager
async def cluster_dns(client: Client, upstream_port: int) -> AsyncIterator[int]:
    """The proxy's informers and its DNS server on DNS_IP; yields the DNS port."""
    port = udp_and_tcp_free_port(DNS_IP)
    proxy = Proxier(client, nodeport_addresses=("127.0.0.1",), addresses=LocalAddresses(run=_never_run),
                    min_sync_period=0.02)
    flags = Flags(server=None, hostname="n1", nodeport_addresses=("127.0.0.1",), metrics_port=0,
                  metrics_bind_address="127.0.0.1", udp_timeout=0.25, cluster_dns=DNS_IP,
                  cluster_domain="cluster.local", dns_port=port, dns_upstreams=((UPSTREAM_IP, upstream_port),))
    tasks = [asyncio.create_task(proxy.run()), asyncio.create_task(serve_dns(client, proxy, flags))]

    async def answering() -> bool:
        with contextlib.suppress(OSError, dns.exception.DNSException):
            await dns.asyncquery.tcp(dns.message.make_query("kube-dns.kube-system.svc.cluster.local", "A"), DNS_IP,
                                     port=port, timeout=1)
            return True
        return False

    try:
        await eventually(answering, what="the DNS server to answer")
        yield port
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def upstream() -> AsyncIterator[int]:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Upstream, local_addr=(UPSTREAM_IP, 0))
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def udp_and_tcp_free_port(ip: str) -> int:
    """A port free for both UDP and TCP on ``ip``."""
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, contextlib.suppress(OSError):
            udp.bind((ip, port))
            return port


def _never_run(argv: list[str]) -> Any:
    raise AssertionError(f"loopback addresses need no change: {argv}")


async def ask(name: str, rdtype: str, port: int, *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return await dns.asyncquery.tcp(query, DNS_IP, port=port, timeout=3)
    return await dns.asyncquery.udp(query, DNS_IP, port=port, timeout=3)


def addresses(response: dns.message.Message) -> set[str]:
    return {rdata.address for rrset in response.answer for rdata in rrset
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)}


async def test_a_service_name_resolves_while_the_service_exists(client: Client) -> None:
    async with upstream() as upstream_port, cluster_dns(client, upstream_port) as port:
        kube_dns = await client.get(core_pb2.Service, "kube-dns", namespace="kube-system")
        assert kube_dns.spec.cluster_ip == DNS_IP and kube_dns.metadata.labels["k8s-app"] == "kube-dns"
        web = await client.create(from_manifest({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}))

        async def resolves() -> bool:
            return addresses(await ask("web.default.svc.cluster.local", "A", port)) == {web.spec.cluster_ip}

        await eventually(resolves, what="the Service's name to resolve")
        for tcp in (False, True):
            found = await ask("WEB.default.svc.cluster.local.", "A", port, tcp=tcp)
            assert found.rcode() == dns.rcode.NOERROR and found.flags & dns.flags.AA
            assert addresses(found) == {web.spec.cluster_ip} and found.answer[0].ttl == 30

        missing = await ask("nope.default.svc.cluster.local", "A", port)
        assert missing.rcode() == dns.rcode.NXDOMAIN and not missing.answer
        assert missing.authority and missing.authority[0].rdtype == dns.rdatatype.SOA

        await client.delete(core_pb2.Service, "web", namespace="default")

        async def gone() -> bool:
            return (await ask("web.default.svc.cluster.local", "A", port)).rcode() == dns.rcode.NXDOMAIN

        await eventually(gone, what="the deleted Service's name to stop resolving")


async def test_a_large_headless_answer_is_truncated_over_udp_and_whole_over_tcp(client: Client) -> None:
    async with upstream() as upstream_port, cluster_dns(client, upstream_port) as port:
        await client.create(from_manifest({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "default"},
            "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}}))
        ips = {f"10.88.1.{i}" for i in range(1, 61)}
        await client.create(from_manifest({
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "db", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": ip} for ip in sorted(ips)], "ports": [{"name": "pg", "port": 5432}]}]}))

        async def all_over_tcp() -> bool:
            return addresses(await ask("db.default.svc.cluster.local", "A", port, tcp=True)) == ips

        await eventually(all_over_tcp, what="every endpoint of the headless Service over TCP")
        truncated = await dns.asyncquery.udp(dns.message.make_query("db.default.svc.cluster.local", "A",
                                                                    use_edns=False), DNS_IP, port=port, timeout=3)
        assert truncated.flags & dns.flags.TC and not truncated.answer


async def test_other_names_are_forwarded_upstream_and_fail_when_it_is_gone(client: Client) -> None:
    async with upstream() as upstream_port, cluster_dns(client, upstream_port) as port:
        found = await ask("example.org", "A", port)
        assert found.rcode() == dns.rcode.NOERROR and addresses(found) == {"192.0.2.7"}
        assert not found.flags & dns.flags.AA  # the upstream's answer, relayed
    async with cluster_dns(client, udp_and_tcp_free_port(UPSTREAM_IP)) as port:  # nothing listens upstream
        assert (await ask("example.org", "A", port)).rcode() == dns.rcode.SERVFAIL


async def test_a_malformed_query_gets_formerr_and_a_stray_response_nothing(client: Client) -> None:
    async with upstream() as upstream_port, cluster_dns(client, upstream_port) as port:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, (DNS_IP, port))
            await loop.sock_sendall(sock, b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07broken")
            reply = await asyncio.wait_for(loop.sock_recv(sock, 512), 3)
            assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == dns.rcode.FORMERR and reply[2] & 0x80
            stray = dns.message.make_response(dns.message.make_query("web.default.svc.cluster.local", "A"))
            stray.id = 0x5555
            await loop.sock_sendall(sock, stray.to_wire())  # a response: never answered
            query = dns.message.make_query("kube-dns.kube-system.svc.cluster.local", "A")
            await loop.sock_sendall(sock, query.to_wire())
            reply = await asyncio.wait_for(loop.sock_recv(sock, 512), 3)
        assert dns.message.from_wire(reply).id == query.id


async def test_the_kube_dns_service_is_left_alone_when_it_already_exists(client: Client) -> None:
    await client.create(from_manifest({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": {"clusterIP": "127.77.0.53", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}}))
    async with upstream() as upstream_port, cluster_dns(client, upstream_port) as port:
        found = await ask("kube-dns.kube-system.svc.cluster.local", "A", port)
        assert addresses(found) == {"127.77.0.53"}  # DNS is served anyway
    kept = await client.get(core_pb2.Service, "kube-dns", namespace="kube-system")
    assert kept.spec.cluster_ip == "127.77.0.53"  # the existing Service is left as it was
