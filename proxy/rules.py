"""What the proxy forwards: Services and Endpoints turned into forwarding rules.

One :class:`Rule` per TCP or UDP port of a Service with a cluster IP (headless and ExternalName
Services get none): the *frontends* it listens on — ``clusterIP:port``, every
``spec.externalIPs`` address at that port, and ``nodePort`` on the node's addresses for NodePort
and LoadBalancer Services — and the *backends*: the ready addresses of the Service's Endpoints
at the port of the same name. A Service without ready endpoints still gets its rule, with no
backends: a connection to it is refused at once (kube-proxy rejects it the same way) instead of
hanging. SCTP ports are not forwarded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from skiff.api.v1 import core_pb2

Address = tuple[str, int]


@dataclass(frozen=True)
class Rule:
    service: str
    """``namespace/name:port-name`` (the port name may be empty)."""
    protocol: str
    frontends: tuple[Address, ...]
    backends: tuple[Address, ...]
    affinity: bool = False
    """sessionAffinity ClientIP: one client address keeps its backend."""


def _backends(endpoints: core_pb2.Endpoints | None, port_name: str, protocol: str) -> tuple[Address, ...]:
    if endpoints is None:
        return ()
    found: list[Address] = []
    for subset in endpoints.subsets:
        for port in subset.ports:
            if port.name == port_name and (port.protocol or "TCP") == protocol:
                found.extend((address.ip, port.port) for address in subset.addresses)
    return tuple(sorted(set(found)))


def rules_for(services: Iterable[core_pb2.Service], endpoints: dict[str, core_pb2.Endpoints],
              node_addresses: Iterable[str]) -> list[Rule]:
    """The rules of ``services`` (``endpoints`` by ``namespace/name``; NodePorts on ``node_addresses``)."""
    node_ips = tuple(node_addresses)
    rules: list[Rule] = []
    for service in services:
        spec, meta = service.spec, service.metadata
        if spec.type == "ExternalName" or spec.cluster_ip in ("", "None"):
            continue
        key = f"{meta.namespace}/{meta.name}"
        for port in spec.ports:
            protocol = port.protocol or "TCP"
            if protocol not in ("TCP", "UDP"):
                continue
            frontends: list[Address] = [(spec.cluster_ip, port.port)]
            frontends += [(ip, port.port) for ip in spec.external_ips]
            if spec.type in ("NodePort", "LoadBalancer") and port.node_port:
                frontends += [(ip, port.node_port) for ip in node_ips]
            rules.append(Rule(f"{key}:{port.name}", protocol, tuple(frontends),
                              _backends(endpoints.get(key), port.name, protocol), spec.session_affinity == "ClientIP"))
    return rules
