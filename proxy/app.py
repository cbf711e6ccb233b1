"""``skiff proxy``: the service proxy of a node (kube-proxy's flags where they exist).

``--hostname-override`` names the node (logged; the rules are the same on every node),
``--nodeport-addresses`` the addresses NodePorts listen on (default all), ``--udp-timeout`` how
long an idle UDP session lives (250ms), ``--metrics-port`` /
``--metrics-bind-address`` where ``/metrics`` is served. SIGTERM closes every listener and
removes the cluster IPs it added.

With ``--cluster-dns IP`` the proxy also answers the cluster's DNS names on that address (port
``--dns-port``, 53), for the zone ``--cluster-domain`` (cluster.local), forwarding other names to
``--dns-upstream`` (default: the nameservers of the host's /etc/resolv.conf); it makes sure the
``kube-system/kube-dns`` Service holds that address (:mod:`proxy.dns.service`). A DNS address that
cannot be bound yet is tried again every few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
from dataclasses import dataclass

from prometheus_client import start_http_server

from proxy.dns.records import ClusterRecords
from proxy.dns.server import DnsServer, Upstream
from proxy.dns.service import ensure_kube_dns_service
from proxy.proxier import Proxier
from skiff.api import errors
from skiff.api.strconv import parse_duration
from skiff.client.client import Client
from skiff.lifecycle import run_daemon, serve_until_stopped

log = logging.getLogger("skiff.proxy")


@dataclass(frozen=True)
class Flags:
    server: str | None
    hostname: str
    nodeport_addresses: tuple[str, ...]
    metrics_port: int
    metrics_bind_address: str
    udp_timeout: float
    cluster_dns: str = ""
    cluster_domain: str = "cluster.local"
    dns_port: int = 53
    dns_upstreams: tuple[Upstream, ...] = ()


DNS_RETRY = 5.0
RESOLV_CONF = "/etc/resolv.conf"


def host_nameservers(path: str = RESOLV_CONF) -> tuple[Upstream, ...]:
    """The ``nameserver`` lines of a resolv.conf, as (address, 53)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return ()
    return tuple((fields[1], 53) for fields in (line.split() for line in lines)
                 if len(fields) >= 2 and fields[0] == "nameserver")


def _upstream(text: str) -> Upstream:
    """``IP`` or ``IP:PORT`` (``[IPv6]:PORT``) as an upstream."""
    host, sep, port = text.rpartition(":")
    if not sep or (":" in host and not host.startswith("[")):
        return text.strip("[]"), 53
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"invalid upstream {text!r}: want IP or IP:PORT")
    return host.strip("[]"), int(port)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str]) -> Flags:
    p = argparse.ArgumentParser(prog="skiff proxy",
                                description="Forwards Service traffic (cluster IPs, NodePorts) to ready endpoints.")
    p.add_argument("--server", default=None, help="apiserver HOST:PORT (else SKIFF_SERVER / the config file)")
    p.add_argument("--hostname-override", default="", help="the node's name (default: this host's name)")
    p.add_argument("--nodeport-addresses", default="0.0.0.0",
                   help="comma-separated addresses NodePorts listen on (default 0.0.0.0: all)")
    p.add_argument("--metrics-port", type=int, default=0, help="HTTP port serving /metrics (0: none)")
    p.add_argument("--metrics-bind-address", default="127.0.0.1", help="address of the /metrics endpoint")
    p.add_argument("--udp-timeout", type=_duration, default=0.25,
                   help="how long an idle UDP session is kept (Go duration; default 250ms)")
    p.add_argument("--cluster-dns", default="",
                   help="answer cluster DNS on this address (the kube-dns Service's cluster IP; default: no DNS)")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS domain (cluster.local)")
    p.add_argument("--dns-port", type=int, default=53, help="the port cluster DNS answers on (53)")
    p.add_argument("--dns-upstream", default="",
                   help="comma-separated IP[:PORT] servers other names are forwarded to "
                        "(default: the nameservers in /etc/resolv.conf)")
    p.add_argument("--v", type=int, default=0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s] %(message)s")
    addresses = tuple(x.strip() for x in a.nodeport_addresses.split(",") if x.strip())
    try:
        upstreams = tuple(_upstream(x.strip()) for x in a.dns_upstream.split(",") if x.strip())
    except argparse.ArgumentTypeError as exc:
        p.error(f"argument --dns-upstream: {exc}")
    if a.cluster_dns and not upstreams:
        upstreams = tuple(u for u in host_nameservers() if u[0] != a.cluster_dns)
    return Flags(a.server, a.hostname_override or socket.gethostname(), addresses or ("0.0.0.0",),
                 a.metrics_port, a.metrics_bind_address, a.udp_timeout, a.cluster_dns,
                 a.cluster_domain.strip("."), a.dns_port, upstreams)


async def serve_dns(client: Client, proxier: Proxier, flags: Flags) -> None:
    """Answer cluster DNS on ``--cluster-dns`` (retrying until the address can be bound), until cancelled."""
    records = ClusterRecords(domain=flags.cluster_domain, services=proxier.services.store,
                             endpoints=proxier.endpoints.store, nameservers=(flags.cluster_dns,))
    for informer in (proxier.services, proxier.endpoints):  # the SOA serial follows the data
        informer.add_handlers(lambda _: records.note_change(), lambda _old, _new: records.note_change(),
                              lambda _: records.note_change())
    server = DnsServer(records, upstreams=flags.dns_upstreams)
    reserved = warned = False
    try:
        await proxier.services.wait_for_sync()  # no NXDOMAIN for a Service not yet seen
        await proxier.endpoints.wait_for_sync()
        while True:
            if not reserved:
                try:
                    await ensure_kube_dns_service(client, flags.cluster_dns)
                    reserved = True
                except errors.StatusError as exc:
                    log.warning("cannot check the kube-dns Service yet: %s", exc)
            try:
                if proxier.addresses.pin(flags.cluster_dns):
                    await server.start(flags.cluster_dns, flags.dns_port)
                    break
            except OSError as exc:
                if not warned:
                    log.warning("cannot serve cluster DNS on %s:%d yet: %s", flags.cluster_dns, flags.dns_port, exc)
                    warned = True
            await asyncio.sleep(DNS_RETRY)
        await asyncio.Event().wait()
    finally:
        await server.close()


async def run(flags: Flags) -> None:
    client = Client(flags.server)
    proxier = Proxier(client, nodeport_addresses=flags.nodeport_addresses, udp_timeout=flags.udp_timeout)
    if flags.metrics_port:
        start_http_server(flags.metrics_port, addr=flags.metrics_bind_address)
    log.info("proxy for node %s: NodePorts on %s", flags.hostname, ", ".join(flags.nodeport_addresses))
    work = [asyncio.create_task(proxier.run(), name="proxy")]
    if flags.cluster_dns:
        work.append(asyncio.create_task(serve_dns(client, proxier, flags), name="cluster-dns"))

    async def cleanup() -> None:
        await proxier.close()
        await client.close()

    await serve_until_stopped(work, cleanup=cleanup, grace=5.0, name="proxy")


def main(argv: list[str]) -> int:
    return run_daemon(run(parse_args(argv)))
