"""The Endpoints controller: keep each Service's Endpoints object listing the pods it selects.

Kubernetes' ``pkg/controller/endpoint`` (1.32). ``sync(key)`` for a Service:

* gone: its Endpoints object is deleted too. ExternalName, or no selector: left alone (such a
  Service's Endpoints are written by hand);
* otherwise every pod of the namespace matching the selector that is not terminal (Succeeded or
  Failed), has an IP and is not terminating (unless ``publishNotReadyAddresses``) gives an
  address — ``ip``, ``nodeName``, a ``targetRef`` to the pod, and ``hostname`` when the pod's
  ``subdomain`` is the Service's name — under ``addresses`` when the pod is Ready (or the Service
  publishes not-ready addresses), else ``notReadyAddresses``; once per Service port whose
  ``targetPort`` the pod has (a number, or a container port of that name and protocol). A headless
  Service without ports lists the addresses without ports;
* the addresses and ports are packed as Kubernetes' ``RepackSubsets`` does: one subset per set of
  addresses offering the same ports, addresses sorted by IP;
* the object is written only when its subsets or labels (the Service's, plus
  ``service.kubernetes.io/headless`` for a headless Service) changed. More than 1000 addresses are
  truncated, with ``endpoints.kubernetes.io/over-capacity: truncated``.

Services are woken by their own changes and by any change of a pod they select (before or after
the change).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from controllers.base import Controller, split_key
from controllers.informers import SharedInformers
from controllers.pod_control import is_pod_ready
from skiff.api import errors
from skiff.api.labels import selector_from_set
from skiff.api.pods import is_sidecar
from skiff.api.v1 import core_pb2, meta_pb2
from skiff.client.client import Client
from skiff.client.events import EventRecorder
from skiff.client.informer import object_key

log = logging.getLogger("skiff.controllers.endpoints")

HEADLESS_LABEL = "service.kubernetes.io/headless"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
MAX_CAPACITY = 1000

PortKey = tuple[str, int, str, str]
"""(name, port, protocol, appProtocol) of an EndpointPort; port -1 for "no ports"."""
AddressKey = tuple[str, str]
"""(ip, target pod uid)."""


def should_be_in_endpoints(pod: core_pb2.Pod, include_terminating: bool) -> bool:
    """``ShouldPodBeInEndpoints``: not terminal, has an IP, not terminating unless asked."""
    if pod.status.phase in ("Succeeded", "Failed"):
        return False
    if not pod.status.pod_ip and not pod.status.pod_ips:
        return False
    return include_terminating or not pod.metadata.deletion_timestamp


def find_port(pod: core_pb2.Pod, port: core_pb2.ServicePort) -> int | None:
    """The pod's port for a Service port (``podutil.FindPort``): a number as is, a name looked up
    among the containers' (and sidecars') ports of the same protocol."""
    target = port.target_port
    if not target.str_val:
        return int(target.int_val) if target.int_val else port.port
    protocol = port.protocol or "TCP"
    containers = [*pod.spec.containers, *(c for c in pod.spec.init_containers if is_sidecar(c))]
    for container in containers:
        for container_port in container.ports:
            if container_port.name == target.str_val and (container_port.protocol or "TCP") == protocol:
                return container_port.container_port
    return None


def _address(service: core_pb2.Service, pod: core_pb2.Pod) -> core_pb2.EndpointAddress:
    meta = pod.metadata
    address = core_pb2.EndpointAddress(ip=pod.status.pod_ip or pod.status.pod_ips[0].ip, node_name=pod.spec.node_name)
    address.target_ref.CopyFrom(meta_pb2.ObjectReference(kind="Pod", namespace=meta.namespace, name=meta.name,
                                                         uid=meta.uid))
    if pod.spec.hostname and pod.spec.subdomain == service.metadata.name:
        address.hostname = pod.spec.hostname
    return address


def endpoint_subsets(service: core_pb2.Service, pods: list[core_pb2.Pod]) -> list[core_pb2.EndpointSubset]:
    """The Service's subsets from its selected pods, packed as ``RepackSubsets`` packs them."""
    publish = service.spec.publish_not_ready_addresses
    addresses: dict[AddressKey, core_pb2.EndpointAddress] = {}
    by_port: dict[PortKey, dict[AddressKey, bool]] = defaultdict(dict)
    for pod in pods:
        if not should_be_in_endpoints(pod, publish):
            continue
        address = _address(service, pod)
        key = (address.ip, address.target_ref.uid)
        ready = publish or is_pod_ready(pod)
        ports: list[PortKey] = []
        if not service.spec.ports:
            if service.spec.cluster_ip == "None":
                ports.append(("", -1, "", ""))
        for port in service.spec.ports:
            number = find_port(pod, port)
            if number is not None:
                ports.append((port.name, number, port.protocol or "TCP", port.app_protocol))
        for port_key in ports:
            addresses.setdefault(key, address)
            holders = by_port[port_key]
            holders[key] = holders.get(key, False) or ready  # ready anywhere wins
    groups: dict[tuple[tuple[AddressKey, bool], ...], list[PortKey]] = defaultdict(list)
    for port_key, holders in by_port.items():
        groups[tuple(sorted(holders.items()))].append(port_key)
    subsets = []
    for holders_key, port_keys in groups.items():
        subset = core_pb2.EndpointSubset()
        for key, ready in holders_key:
            (subset.addresses if ready else subset.not_ready_addresses).append(addresses[key])
        for name, number, protocol, app_protocol in sorted(port_keys):
            if number < 0:
                continue
            endpoint_port = subset.ports.add(port=number, protocol=protocol)
            if name:
                endpoint_port.name = name
            if app_protocol:
                endpoint_port.app_protocol = app_protocol
        subsets.append(subset)
    subsets.sort(key=lambda s: [(a.ip, a.target_ref.uid) for a in (*s.addresses, *s.not_ready_addresses)])
    return subsets


def truncate(subsets: list[core_pb2.EndpointSubset]) -> bool:
    """Keep at most MAX_CAPACITY addresses, ready ones first (``truncateEndpoints``)."""
    total = sum(len(s.addresses) + len(s.not_ready_addresses) for s in subsets)
    if total <= MAX_CAPACITY:
        return False
    ready_total = sum(len(s.addresses) for s in subsets)
    keep_ready = min(ready_total, MAX_CAPACITY)
    keep_not_ready = MAX_CAPACITY - keep_ready
    for subset in subsets:
        ready_share = min(len(subset.addresses), keep_ready)
        del subset.addresses[ready_share:]
        keep_ready -= ready_share
        not_ready_share = min(len(subset.not_ready_addresses), keep_not_ready)
        del subset.not_ready_addresses[not_ready_share:]
        keep_not_ready -= not_ready_share
    return True


class EndpointsController(Controller):
    """See the module docstring."""

    NAME = "endpoint"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *,
                 workers: int = 5) -> None:
        super().__init__(client, recorder, workers=workers)
        self.services = informers.get(core_pb2.Service)
        self.pods = informers.get(core_pb2.Pod)
        self.endpoints = informers.get(core_pb2.Endpoints)
        self.services.add_handlers(self.enqueue, lambda old, cur: self.enqueue(cur), self.enqueue)
        self.pods.add_handlers(self._pod_changed, self._update_pod, self._pod_changed)

    def _pod_changed(self, pod: core_pb2.Pod) -> None:
        for service in self._services_of(pod):
            self.enqueue(service)

    def _update_pod(self, old: core_pb2.Pod, cur: core_pb2.Pod) -> None:
        if old.metadata.resource_version == cur.metadata.resource_version:
            return
        keys = {object_key(s) for s in (*self._services_of(old), *self._services_of(cur))}
        for key in keys:
            self.enqueue_key(key)

    def _services_of(self, pod: core_pb2.Pod) -> list[core_pb2.Service]:
        return [s for s in self.services.store.by_index("namespace", pod.metadata.namespace)
                if s.spec.selector and selector_from_set(s.spec.selector).matches(pod.metadata.labels)]

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.store.get(key)
        if service is None:
            try:
                await self.client.delete(core_pb2.Endpoints, name, namespace=namespace)
            except errors.NotFound:
                pass
            return
        if service.spec.type == "ExternalName" or not service.spec.selector:
            return
        selector = selector_from_set(service.spec.selector)
        pods = [p for p in self.pods.store.by_index("namespace", namespace) if selector.matches(p.metadata.labels)]
        subsets = endpoint_subsets(service, pods)
        truncated = truncate(subsets)
        labels = dict(service.metadata.labels)
        if service.spec.cluster_ip in ("", "None"):
            labels[HEADLESS_LABEL] = ""
        current = self.endpoints.store.get(key)
        if current is not None and list(current.subsets) == subsets and dict(current.metadata.labels) == labels \
                and (OVER_CAPACITY in current.metadata.annotations) == truncated:
            return
        endpoints = core_pb2.Endpoints(api_version="v1", kind="Endpoints")
        if current is not None:
            endpoints.CopyFrom(current)
        endpoints.metadata.name, endpoints.metadata.namespace = name, namespace
        endpoints.metadata.labels.clear()
        endpoints.metadata.labels.update(labels)
        if truncated:
            endpoints.metadata.annotations[OVER_CAPACITY] = "truncated"
        else:
            endpoints.metadata.annotations.pop(OVER_CAPACITY, None)
        del endpoints.subsets[:]
        endpoints.subsets.extend(subsets)
        try:
            if current is None:
                await self.client.create(endpoints)
            else:
                await self.client.update(endpoints)
        except errors.Forbidden as exc:
            if current is None and "being terminated" in str(exc):
                return  # the namespace is going away: every create would fail
            self._failed(endpoints, current is None, exc)
            raise
        except errors.AlreadyExists:
            raise errors.Conflict(f"endpoints {key} appeared meanwhile") from None
        except errors.StatusError as exc:
            self._failed(endpoints, current is None, exc)
            raise

    def _failed(self, endpoints: core_pb2.Endpoints, creating: bool, exc: Exception) -> None:
        key = object_key(endpoints)
        if creating:
            self.recorder.event(endpoints, "Warning", "FailedToCreateEndpoint",
                                f"Failed to create endpoint for service {key}: {exc}")
        else:
            self.recorder.event(endpoints, "Warning", "FailedToUpdateEndpoint",
                                f"Failed to update endpoint {key}: {exc}")
