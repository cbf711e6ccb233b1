"""The service proxy: listen on every Service's frontends and forward to its ready endpoints.

Like kube-proxy, it watches Services and Endpoints (informers; a change schedules a sync within
``min_sync_period``, and a full sync runs every ``sync_period`` anyway) and on each sync turns
them into :mod:`proxy.rules`. This proxy works in user space (kube-proxy's old ``userspace``
mode): for every frontend of a rule with backends it keeps a listener (TCP, or a UDP socket
relaying datagrams) — the cluster IP made local by :mod:`proxy.addresses`, NodePorts on
``nodeport_addresses`` — whose connections go to the rule's :class:`~proxy.forwarder.Balancer`.
A rule without ready backends has no listener, so connecting is refused at once. Listeners and
addresses no rule needs any more are closed and removed; a frontend that cannot be bound (the
port is taken) is logged and tried again on the next sync.

Metrics: ``kubeproxy_sync_proxy_rules_duration_seconds``,
``kubeproxy_sync_proxy_rules_last_timestamp_seconds``, ``skiff_proxy_connections_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time

from prometheus_client import Gauge, Histogram

from proxy.addresses import LocalAddresses
from proxy.forwarder import Balancer, UdpForwarder, forward
from proxy.resync import Changes, resync_forever
from proxy.rules import rules_for
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.informer import Informer

log = logging.getLogger("skiff.proxy")

Frontend = tuple[str, str, int]
"""(protocol, address, port) a listener serves."""

SYNC_DURATION = Histogram("kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds",
                          buckets=tuple(0.001 * 2**i for i in range(15)))
LAST_SYNC = Gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "The last time proxy rules were synced")


class Proxier:
    """See the module docstring."""

    def __init__(self, client: Client, *, nodeport_addresses: tuple[str, ...] = ("0.0.0.0",),
                 addresses: LocalAddresses | None = None, min_sync_period: float = 0.1,
                 sync_period: float = 30.0, udp_timeout: float = 0.25) -> None:
        self.nodeport_addresses = nodeport_addresses
        self.udp_timeout = udp_timeout
        self.addresses = addresses or LocalAddresses()
        self.min_sync_period, self.sync_period = min_sync_period, sync_period
        self.services = Informer(client, core_pb2.Service)
        self.endpoints = Informer(client, core_pb2.Endpoints)
        self.listeners: dict[Frontend, asyncio.Server | UdpForwarder] = {}
        self.balancers: dict[str, Balancer] = {}
        self.failed: set[Frontend] = set()
        self._changes = Changes([self.services, self.endpoints])

    async def run(self) -> None:
        try:
            await resync_forever([self.services, self.endpoints], self.sync, self._changes,
                                 min_sync_period=self.min_sync_period, sync_period=self.sync_period)
        finally:
            await self.close()

    async def sync(self) -> None:
        """Make the listeners what the Services and Endpoints say (``syncProxyRules``)."""
        self._changes.clear()
        started = time.monotonic()
        endpoints = {f"{e.metadata.namespace}/{e.metadata.name}": e for e in self.endpoints.store.list()}
        rules = rules_for(self.services.store.list(), endpoints, self.nodeport_addresses)
        wanted: dict[Frontend, Balancer] = {}
        for rule in rules:
            balancer = self.balancers.setdefault(rule.service, Balancer(rule.service))
            balancer.update(rule.backends, rule.affinity)
            if rule.backends:
                for ip, port in rule.frontends:
                    wanted[(rule.protocol, ip, port)] = balancer
        self.balancers = {r.service: self.balancers[r.service] for r in rules}
        for frontend in set(self.listeners) - set(wanted):
            await self._close(frontend)
        for frontend, balancer in wanted.items():
            if frontend not in self.listeners:
                await self._open(frontend, balancer)
        in_use = {ip for _, ip, _ in wanted}
        for ip in set(self.addresses.added) - in_use:
            self.addresses.release(ip)
        SYNC_DURATION.observe(time.monotonic() - started)
        LAST_SYNC.set(time.time())

    async def _open(self, frontend: Frontend, balancer: Balancer) -> None:
        protocol, ip, port = frontend
        if not self.addresses.ensure(ip):
            return
        try:
            if protocol == "UDP":
                _, forwarder = await asyncio.get_running_loop().create_datagram_endpoint(
                    lambda: UdpForwarder(balancer, self.udp_timeout), local_addr=(ip, port))
                self.listeners[frontend] = forwarder
            else:
                self.listeners[frontend] = await asyncio.start_server(functools.partial(forward, balancer), ip,
                                                                      port, reuse_address=True)
        except OSError as exc:
            if frontend not in self.failed:
                log.warning("cannot listen on %s %s:%d for %s: %s", protocol, ip, port, balancer.name, exc)
                self.failed.add(frontend)
            return
        self.failed.discard(frontend)
        log.info("proxying %s %s:%d for %s", protocol, ip, port, balancer.name)

    async def _close(self, frontend: Frontend) -> None:
        listener = self.listeners.pop(frontend)
        listener.close()
        if isinstance(listener, asyncio.Server):
            with contextlib.suppress(Exception):
                await listener.wait_closed()

    async def close(self) -> None:
        for frontend in list(self.listeners):
            await self._close(frontend)
        self.addresses.release_all()
