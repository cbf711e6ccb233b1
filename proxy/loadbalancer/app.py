"""``skiff loadbalancer``: nginx in front of the nodes for LoadBalancer Services.

``--addresses`` is the pool the Services' external addresses come from (a CIDR or FIRST-LAST;
default 127.0.100.0/24, loopback addresses: reachable from this host only — give a routable
range on a machine others should reach). ``--work-dir`` holds nginx's config, pid and logs,
``--nginx`` names its binary (default: found on PATH or in /usr/sbin). ``--metrics-port`` /
``--metrics-bind-address`` serve ``/metrics``. One runs per cluster (``skiff up`` starts it when
nginx is installed); SIGTERM stops nginx gracefully. See :mod:`proxy.loadbalancer.controller`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import start_http_server

from proxy.loadbalancer.allocation import Pool
from proxy.loadbalancer.controller import LoadBalancerController
from proxy.loadbalancer.nginx import Nginx
from proxy.loadbalancer.nginxconf import find_nginx
from skiff.client.client import Client
from skiff.client.events import EventRecorder
from skiff.lifecycle import run_daemon, serve_until_stopped

log = logging.getLogger("skiff.loadbalancer")

DEFAULT_POOL = "127.0.100.0/24"


@dataclass(frozen=True)
class Flags:
    server: str | None
    pool: Pool
    work_dir: Path
    nginx: str
    metrics_port: int
    metrics_bind_address: str


def parse_args(argv: list[str]) -> Flags:
    p = argparse.ArgumentParser(prog="skiff loadbalancer",
                                description="Gives LoadBalancer Services an address and balances it across the "
                                            "nodes' NodePorts with nginx.")
    p.add_argument("--server", default=None, help="apiserver HOST:PORT (else SKIFF_SERVER / the config file)")
    p.add_argument("--addresses", default=DEFAULT_POOL,
                   help=f"the external address pool, a CIDR or FIRST-LAST (default {DEFAULT_POOL})")
    p.add_argument("--work-dir", default=str(Path.home() / ".skiff" / "loadbalancer"),
                   help="where nginx's config, pid file and logs live")
    p.add_argument("--nginx", default="", help="the nginx binary (default: nginx on PATH, or /usr/sbin/nginx)")
    p.add_argument("--metrics-port", type=int, default=0, help="HTTP port serving /metrics (0: none)")
    p.add_argument("--metrics-bind-address", default="127.0.0.1", help="address of the /metrics endpoint")
    p.add_argument("--v", type=int, default=0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s] %(message)s")
    try:
        pool = Pool.parse(a.addresses)
    except ValueError as exc:
        p.error(f"argument --addresses: {exc}")
    binary = a.nginx or find_nginx()
    if not binary:
        p.error("nginx not found: install it (apt-get install nginx-light libnginx-mod-stream) or pass --nginx")
    return Flags(a.server, pool, Path(a.work_dir), binary, a.metrics_port, a.metrics_bind_address)


async def run(flags: Flags) -> None:
    client = Client(flags.server)
    flags.work_dir.mkdir(parents=True, exist_ok=True)
    nginx = Nginx(flags.work_dir, binary=flags.nginx)
    await nginx.start()
    recorder = EventRecorder(client, "service-controller")
    recorder.start()
    controller = LoadBalancerController(client, nginx, flags.pool, recorder=recorder)
    if flags.metrics_port:
        start_http_server(flags.metrics_port, addr=flags.metrics_bind_address)
    log.info("load balancer: addresses from %s, nginx %s in %s", flags.pool.text, flags.nginx, flags.work_dir)
    work = asyncio.create_task(controller.run(), name="loadbalancer")

    async def cleanup() -> None:
        await nginx.stop()
        await recorder.stop()
        await client.close()

    await serve_until_stopped([work], cleanup=cleanup, grace=5.0, name="loadbalancer")


def main(argv: list[str]) -> int:
    return run_daemon(run(parse_args(argv)))
