"""``skiff proxy``: the service proxy of a node (kube-proxy's flags where they exist).

``--hostname-override`` names the node (logged; the rules are the same on every node),
``--nodeport-addresses`` the addresses NodePorts listen on (default all), ``--udp-timeout`` how
long an idle UDP session lives (250ms), ``--metrics-port`` /
``--metrics-bind-address`` where ``/metrics`` is served. SIGTERM closes every listener and
removes the cluster IPs it added.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
from dataclasses import dataclass

from prometheus_client import start_http_server

from proxy.proxier import Proxier
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
    p.add_argument("--v", type=int, default=0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s] %(message)s")
    addresses = tuple(x.strip() for x in a.nodeport_addresses.split(",") if x.strip())
    return Flags(a.server, a.hostname_override or socket.gethostname(), addresses or ("0.0.0.0",),
                 a.metrics_port, a.metrics_bind_address, a.udp_timeout)


async def run(flags: Flags) -> None:
    client = Client(flags.server)
    proxier = Proxier(client, nodeport_addresses=flags.nodeport_addresses, udp_timeout=flags.udp_timeout)
    if flags.metrics_port:
        start_http_server(flags.metrics_port, addr=flags.metrics_bind_address)
    log.info("proxy for node %s: NodePorts on %s", flags.hostname, ", ".join(flags.nodeport_addresses))
    work = asyncio.create_task(proxier.run(), name="proxy")

    async def cleanup() -> None:
        await proxier.close()
        await client.close()

    await serve_until_stopped([work], cleanup=cleanup, grace=5.0, name="proxy")


def main(argv: list[str]) -> int:
    return run_daemon(run(parse_args(argv)))
