"""The load balancer controller: LoadBalancer Services get an address, and nginx in front of the nodes.

Kubernetes leaves ``type: LoadBalancer`` to a cloud's service controller; this is skiff's, modelled
on ``k8s.io/cloud-provider``'s: it watches Services and Nodes and, on every change (and every
``sync_period`` anyway), makes the whole picture true at once:

* a Service wants a load balancer when its type is LoadBalancer, it is not being deleted and it
  names no ``loadBalancerClass`` (those belong to another implementation and are left alone). It
  first gets the finalizer ``service.kubernetes.io/load-balancer-cleanup``, then an address from
  the pool (:mod:`proxy.loadbalancer.allocation`), then one listener per TCP/UDP port on
  ``address:port`` whose backends are ``nodeIP:nodePort`` of every node (:class:`Nginx` keeps
  nginx's stream config to that). Its status then shows ``loadBalancer.ingress: [{ip, ipMode:
  Proxy}]`` — Proxy, because the traffic really goes through the load balancer to the nodes'
  NodePorts (kube-proxy does not short-cut it on the nodes, as it would for VIP);
* nodes are the load balancer's backends unless labelled
  ``node.kubernetes.io/exclude-from-external-load-balancers`` or tainted
  ``ToBeDeletedByClusterAutoscaler`` (Kubernetes 1.32's stable node set: readiness is not
  filtered, nginx stops sending to a node that refuses for ``fail_timeout``); a node's address is
  its InternalIP (else its first address);
* a Service holding the finalizer that no longer wants a load balancer (deleted, or its type
  changed) loses its listeners, its ingress status and then the finalizer.

Events as the cloud service controller records them, once per change rather than on every resync:
``EnsuringLoadBalancer`` / ``EnsuredLoadBalancer``, ``DeletingLoadBalancer`` /
``DeletedLoadBalancer``, Warning ``SyncLoadBalancerFailed`` ("Error syncing load balancer: ...")
and ``UnAvailableLoadBalancer`` ("There are no available nodes for LoadBalancer"). A Service with
``allocateLoadBalancerNodePorts: false`` has no NodePorts to send to: its listeners refuse.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from proxy.loadbalancer.allocation import Pool, allocate, current_ip, service_key
from proxy.loadbalancer.nginxconf import Listener, NginxError
from proxy.resync import Changes, resync_forever
from skiff.api import errors
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.events import EventRecorder
from skiff.client.informer import Informer

log = logging.getLogger("skiff.loadbalancer")

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"
IP_MODE = "Proxy"


class Balancer(Protocol):
    async def apply(self, listeners: Sequence[Listener]) -> None: ...


def wants_load_balancer(service: core_pb2.Service) -> bool:
    return (service.spec.type == "LoadBalancer" and not service.spec.load_balancer_class
            and not service.metadata.deletion_timestamp)


def needs_cleanup(service: core_pb2.Service) -> bool:
    return FINALIZER in service.metadata.finalizers and not wants_load_balancer(service)


def node_address(node: core_pb2.Node) -> str:
    addresses = node.status.addresses
    internal = next((a.address for a in addresses if a.type == "InternalIP"), "")
    return internal or (addresses[0].address if addresses else "")


def eligible(node: core_pb2.Node) -> bool:
    return (EXCLUDE_LABEL not in node.metadata.labels
            and not any(t.key == TO_BE_DELETED_TAINT for t in node.spec.taints) and bool(node_address(node)))


def listeners_for(service: core_pb2.Service, ip: str, nodes: Sequence[str]) -> list[Listener]:
    """One listener per TCP/UDP port of the Service on ``ip``, to every node's NodePort."""
    key = service_key(service)
    return [Listener(name=f"{key}:{port.name or port.port}/{port.protocol or 'TCP'}", address=ip, port=port.port,
                     protocol=port.protocol or "TCP",
                     backends=tuple((node, port.node_port) for node in nodes) if port.node_port else ())
            for port in service.spec.ports if (port.protocol or "TCP") in ("TCP", "UDP")]


class LoadBalancerController:
    """See the module docstring."""

    def __init__(self, client: Client, balancer: Balancer, pool: Pool, *, recorder: EventRecorder,
                 min_sync_period: float = 0.1, sync_period: float = 30.0) -> None:
        self.client, self.balancer, self.pool, self.recorder = client, balancer, pool, recorder
        self.min_sync_period, self.sync_period = min_sync_period, sync_period
        self.services = Informer(client, core_pb2.Service)
        self.nodes = Informer(client, core_pb2.Node)
        self.ensured: dict[str, tuple[Listener, ...]] = {}
        """What each Service's load balancer was last made to be (events only on a change)."""
        self.failures: dict[str, str] = {}
        self.unavailable: set[str] = set()
        self._changes = Changes([self.services, self.nodes])

    async def run(self) -> None:
        await resync_forever([self.services, self.nodes], self.sync, self._changes,
                             min_sync_period=self.min_sync_period, sync_period=self.sync_period,
                             logged=(errors.StatusError,))

    async def sync(self) -> None:
        """Make nginx and every LoadBalancer Service's status what the Services and Nodes say."""
        self._changes.clear()
        services = self.services.store.list()
        wanting = [s for s in services if wants_load_balancer(s)]
        for service in wanting:
            if FINALIZER not in service.metadata.finalizers:
                await self._set_finalizer(service, present=True)
        nodes = sorted(node_address(n) for n in self.nodes.store.list() if eligible(n))
        allocation = allocate(wanting, self.pool)
        wanted = {service_key(s): listeners_for(s, ip, nodes)
                  for s in wanting if isinstance(ip := allocation[service_key(s)], str)}
        try:
            await self.balancer.apply([listener for key in sorted(wanted) for listener in wanted[key]])
        except NginxError as exc:
            for service in wanting:
                self._failed(service, f"failed to ensure load balancer: {exc}")
            return
        for service in wanting:
            await self._ensured(service, allocation[service_key(service)], wanted.get(service_key(service), []),
                                bool(nodes))
        for service in services:
            if needs_cleanup(service):
                await self._clean_up(service)

    async def _ensured(self, service: core_pb2.Service, ip: str | ValueError, listeners: list[Listener],
                       any_nodes: bool) -> None:
        key = service_key(service)
        if isinstance(ip, ValueError):
            self._failed(service, f"failed to ensure load balancer: {ip}")
            return
        self.failures.pop(key, None)
        if not any_nodes and key not in self.unavailable:
            self.recorder.event(service, "Warning", "UnAvailableLoadBalancer",
                                "There are no available nodes for LoadBalancer")
        self.unavailable = (self.unavailable | {key}) if not any_nodes else (self.unavailable - {key})
        if self.ensured.get(key) != tuple(listeners):
            self.recorder.event(service, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
            self.recorder.event(service, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
            log.info("load balancer for %s on %s (%d ports, %d backends each)", key, ip, len(listeners),
                     len(listeners[0].backends) if listeners else 0)
            self.ensured[key] = tuple(listeners)
        if current_ip(service) != ip or len(service.status.load_balancer.ingress) != 1:
            await self._set_ingress(service, ip)

    def _failed(self, service: core_pb2.Service, message: str) -> None:
        key = service_key(service)
        if self.failures.get(key) != message:
            self.failures[key] = message
            log.warning("load balancer for %s: %s", key, message)
            self.recorder.event(service, "Warning", "SyncLoadBalancerFailed", f"Error syncing load balancer: {message}")

    async def _clean_up(self, service: core_pb2.Service) -> None:
        key = service_key(service)
        self.recorder.event(service, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
        if service.status.load_balancer.ingress and not service.metadata.deletion_timestamp:
            await self._set_ingress(service, "")
        await self._set_finalizer(service, present=False)
        self.recorder.event(service, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
        self.ensured.pop(key, None)
        self.failures.pop(key, None)
        self.unavailable.discard(key)

    async def _set_finalizer(self, service: core_pb2.Service, *, present: bool) -> None:
        fresh = core_pb2.Service()
        fresh.CopyFrom(service)
        kept = [f for f in fresh.metadata.finalizers if f != FINALIZER]
        del fresh.metadata.finalizers[:]
        fresh.metadata.finalizers.extend([*kept, FINALIZER] if present else kept)
        try:
            await self.client.update(fresh)
        except (errors.Conflict, errors.NotFound) as exc:
            log.info("finalizer of %s: %s (next sync)", service_key(service), exc)
            self._changes.mark()

    async def _set_ingress(self, service: core_pb2.Service, ip: str) -> None:
        fresh = await self.client.get(core_pb2.Service, service.metadata.name, namespace=service.metadata.namespace)
        del fresh.status.load_balancer.ingress[:]
        if ip:
            fresh.status.load_balancer.ingress.add(ip=ip, ip_mode=IP_MODE)
        try:
            await self.client.update_status(fresh)
        except (errors.Conflict, errors.NotFound) as exc:
            log.info("status of %s: %s (next sync)", service_key(service), exc)
            self._changes.mark()
