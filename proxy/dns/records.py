"""What the cluster DNS answers: Services and Endpoints turned into DNS records.

The pure half of the cluster DNS (the server, the wire and the forwarding live elsewhere): given a
query name and type, :meth:`ClusterRecords.resolve` answers from the informers' Stores, following
the Kubernetes "DNS-Based Service Discovery" specification (kubernetes/dns
``docs/specification.md``) as CoreDNS's *kubernetes* plugin implements it with kubeadm's Corefile
(``kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure; fallthrough in-addr.arpa
ip6.arpa; ttl 30 }``). Every name compares case-insensitively; answers keep the query's spelling.

In the cluster zone ``<zone>`` (``cluster.local.``):

* ``<svc>.<ns>.svc``: A/AAAA of the cluster IPs (``spec.clusterIPs``, else ``spec.clusterIP``) of a
  ClusterIP, NodePort or LoadBalancer Service. A headless one (``clusterIP: None``) answers its
  endpoint addresses instead — the ready ones, plus the not-ready ones when it publishes not-ready
  addresses — and does not exist while it has none (NXDOMAIN, as the specification says). An
  ExternalName Service is a CNAME to ``spec.externalName`` for every query type (RFC 1034); a
  target inside the zone is followed here (up to 8 links), one outside is left to the server.
* ``<host>.<svc>.<ns>.svc``: the endpoint address(es) whose ``hostname`` is ``<host>``, or, without
  a hostname, whose IP written with dashes is ``<host>`` (``10-1-0-5``, ``fd00--5``). Like CoreDNS,
  for a ClusterIP Service's endpoints too, not only a headless one's.
* ``_<port>._<proto>.<svc>.<ns>.svc`` SRV: priority 0, the port, and as target the Service's name
  (ClusterIP) or each endpoint's name (headless, the endpoint's port), with the targets' A/AAAA in
  the additional section. SRV on ``<svc>.<ns>.svc`` (or an endpoint name) lists every port, named
  or not. Weights as CoreDNS computes them: ``100 // n`` (at least 1) for ``n`` address/port pairs.
* ``<a-b-c-d>.<ns>.pod`` (and dashed IPv6): A/AAAA of that IP, unverified (``pods insecure``), when
  the namespace is known.
* ``dns-version`` TXT ``"1.1.0"`` (specification §2.2, TTL 28800 as CoreDNS); at the apex, SOA and
  NS ``ns.dns.<zone>``, whose A/AAAA are the ``nameservers`` addresses given.
* Negative answers carry the zone's SOA (``ns.dns.<zone>. hostmaster.<zone>. serial 7200 1800
  86400 <ttl>``, TTL ``min(ttl, 300)``). NODATA (NOERROR, nothing in the answer) where the name
  exists without that type: the apex, ``svc``, ``pod``, ``dns``, a known ``<ns>.svc`` /
  ``<ns>.pod``, ``_<proto>.<svc>.<ns>.svc`` over a named port, or an existing name asked for
  another type. NXDOMAIN for any other name in the zone. Zone transfers are REFUSED.

A namespace is known when the ``namespaces`` Store (if given) holds it, else when a Service lives
in it. In the reverse zones only PTR of a Service's cluster IP (``<svc>.<ns>.svc.<zone>``) or of an
endpoint address (``<host>.<svc>.<ns>.svc.<zone>``, every Service it backs) is answered;
everything else there — unknown addresses, partial names, other types — is ``None``: the server
forwards it, as ``fallthrough in-addr.arpa ip6.arpa`` does. Names outside these zones are ``None``.

Forward lookups go by key (``store.get("ns/name")``). The reverse lookups and the namespace check
use Store indexes this class adds to the Stores it is given (cluster IPs, endpoint IPs,
namespaces), kept up to date by the Stores themselves: nothing is scanned per query.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.SRV import SRV

from skiff.api.v1 import core_pb2
from skiff.client.informer import Store

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
IN = dns.rdataclass.IN
RDTYPE = dns.rdatatype.RdataType

SCHEMA_VERSION = "1.1.0"
"""The specification's schema version, as CoreDNS publishes it in ``dns-version.<zone>``."""
SCHEMA_VERSION_TTL = 28800
MAX_CNAME_CHAIN = 8
"""Links of in-zone CNAMEs followed (CoreDNS stops after 8 too)."""
SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, SOA_MAX_TTL = 7200, 1800, 86400, 300
REVERSE_ZONES = (dns.name.from_text("in-addr.arpa."), dns.name.from_text("ip6.arpa."))
CLUSTER_IP_INDEX = "proxy.dns/cluster-ip"
ADDRESS_INDEX = "proxy.dns/address"
NAMESPACE_INDEX = "proxy.dns/namespace"


@dataclass(frozen=True)
class Answer:
    rcode: dns.rcode.Rcode
    """``dns.rcode.NOERROR``, ``NXDOMAIN``, or ``REFUSED`` (zone transfers)."""
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    """The zone's SOA for NXDOMAIN and NODATA."""
    additional: list[dns.rrset.RRset] = field(default_factory=list)
    """A/AAAA of SRV (and NS) targets where known."""


@dataclass(frozen=True)
class _Target:
    """One address at a name, with a port for SRV (``port`` None: no port, no SRV)."""

    name: dns.name.Name
    """The address's own name: the SRV target, the owner in the additional section."""
    ip: IP
    host: str = ""
    """The endpoint's name label (hostname or dashed IP)."""
    port: int | None = None
    port_name: str = ""
    protocol: str = ""


@dataclass(frozen=True)
class _Node:
    """What lives at an existing name (no targets, alias or text: the name has no records)."""

    targets: tuple[_Target, ...] = ()
    alias: dns.name.Name | None = None
    text: str | None = None


def _ip(text: str) -> IP | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _dashed(ip: str) -> str:
    """The endpoint name of an address without hostname (CoreDNS ``endpointHostname``)."""
    return ip.replace(".", "-") if "." in ip else ip.replace(":", "-")


def _undashed(label: str) -> IP | None:
    """The IP of a pod name ``1-2-3-4`` / ``fd00--1`` (CoreDNS ``findPods``)."""
    if label.count("-") == 3 and "--" not in label:
        return _ip(label.replace("-", "."))
    return _ip(label.replace("-", ":"))


def _ports(ports: Iterable[core_pb2.ServicePort | core_pb2.EndpointPort]) -> list[tuple[int | None, str, str]]:
    """(number, name, protocol) of each port, lower case; no ports: one without number (CoreDNS's -1)."""
    found: list[tuple[int | None, str, str]] = [(p.port, p.name.lower(), (p.protocol or "TCP").lower()) for p in ports]
    return found or [(None, "", "")]


def _is_external(service: core_pb2.Service) -> bool:
    return service.spec.type == "ExternalName"


def _is_headless(service: core_pb2.Service) -> bool:
    first = service.spec.cluster_ips[0] if service.spec.cluster_ips else service.spec.cluster_ip
    return first == "None"


def _cluster_ips(service: core_pb2.Service) -> list[IP]:
    if _is_external(service) or _is_headless(service):
        return []
    texts = service.spec.cluster_ips or [service.spec.cluster_ip]
    return [ip for ip in map(_ip, texts) if ip is not None]


def _published(service: core_pb2.Service, subset: core_pb2.EndpointSubset) -> list[core_pb2.EndpointAddress]:
    """The subset's addresses DNS publishes: the ready ones, and the not-ready ones too when the
    Service publishes them (the specification's *ready*)."""
    if service.spec.publish_not_ready_addresses:
        return [*subset.addresses, *subset.not_ready_addresses]
    return list(subset.addresses)


def _service_index(service: core_pb2.Service) -> list[str]:
    return [ip.compressed for ip in _cluster_ips(service)]


def _address_index(endpoints: core_pb2.Endpoints) -> list[str]:
    found = {ip.compressed for subset in endpoints.subsets
             for address in (*subset.addresses, *subset.not_ready_addresses)
             if (ip := _ip(address.ip)) is not None}
    return sorted(found)


def _namespace_index(service: core_pb2.Service) -> list[str]:
    return [service.metadata.namespace]


def _rrset(name: dns.name.Name, ttl: int, rdatas: Iterable[dns.rdata.Rdata]) -> dns.rrset.RRset | None:
    rdatas = list(rdatas)
    return dns.rrset.from_rdata_list(name, ttl, rdatas) if rdatas else None


def _address_rdata(ip: IP) -> A | AAAA:
    if ip.version == 4:
        return A(IN, RDTYPE.A, ip.compressed)
    return AAAA(IN, RDTYPE.AAAA, ip.compressed)


class ClusterRecords:
    """See the module docstring. ``nameservers``: this server's addresses (``ns.dns.<zone>``);
    ``namespaces``: a Namespace Store, when there is one, for which namespaces exist."""

    def __init__(self, *, domain: str, services: Store[core_pb2.Service], endpoints: Store[core_pb2.Endpoints],
                 ttl: int = 30, nameservers: Sequence[str] = (),
                 namespaces: Store[core_pb2.Namespace] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0 <= ttl <= 3600:
            raise ValueError(f"ttl must be between 0 and 3600 seconds, not {ttl}")
        self.zone = dns.name.from_text(domain)
        self.services, self.endpoints, self.namespaces = services, endpoints, namespaces
        self.ttl = ttl
        self.clock = clock
        self.serial = int(clock())
        """The SOA serial: when the data last changed, as far as :meth:`note_change` was told."""
        self.nameserver_name = dns.name.Name((b"ns", b"dns", *self.zone.labels))
        self.nameserver_ips = tuple(ip for ip in map(_ip, nameservers) if ip is not None)
        services.add_indexer(CLUSTER_IP_INDEX, _service_index)
        services.add_indexer(NAMESPACE_INDEX, _namespace_index)
        endpoints.add_indexer(ADDRESS_INDEX, _address_index)

    def note_change(self) -> None:
        """A Service or Endpoints changed: move the SOA serial on (CoreDNS: the last change's time)."""
        self.serial = max(self.serial + 1, int(self.clock()))

    def resolve(self, qname: dns.name.Name, qtype: int) -> Answer | None:
        """None: not ours (outside the cluster zones, or a reverse name of no cluster address) — the
        server forwards it upstream."""
        if qname.is_subdomain(self.zone):
            return self._forward(qname, qtype)
        if any(qname.is_subdomain(zone) for zone in REVERSE_ZONES):
            return self._reverse(qname, qtype)
        return None

    # ---- the cluster zone

    def _forward(self, qname: dns.name.Name, qtype: int) -> Answer:
        if qtype in (RDTYPE.AXFR, RDTYPE.IXFR):
            return Answer(dns.rcode.REFUSED)
        chain: list[dns.rrset.RRset] = []
        name, node, seen = qname, self._lookup(qname), {qname}
        while node is not None and node.alias is not None and qtype != RDTYPE.CNAME:
            chain.append(self._one(name, CNAME(IN, RDTYPE.CNAME, node.alias)))
            name = node.alias
            if len(chain) >= MAX_CNAME_CHAIN or name in seen or not name.is_subdomain(self.zone):
                return Answer(dns.rcode.NOERROR, chain)
            seen.add(name)
            node = self._lookup(name)
        end = self._answer_at(name, qtype, node)
        return Answer(end.rcode, chain + end.answer, end.authority, end.additional)

    def _answer_at(self, qname: dns.name.Name, qtype: int, node: _Node | None) -> Answer:
        if node is None:
            return Answer(dns.rcode.NXDOMAIN, authority=[self._soa()])
        answer, additional = self._records(qname, qtype, node)
        if not answer:
            return Answer(dns.rcode.NOERROR, authority=[self._soa()])
        return Answer(dns.rcode.NOERROR, answer, additional=additional)

    def _records(self, qname: dns.name.Name, qtype: int,
                 node: _Node) -> tuple[list[dns.rrset.RRset], list[dns.rrset.RRset]]:
        """(answer, additional) of the records of ``qtype`` at an existing name."""
        if node.alias is not None:
            return [self._one(qname, CNAME(IN, RDTYPE.CNAME, node.alias))], []
        if qname == self.zone and qtype == RDTYPE.SOA:
            return [self._soa()], []
        if qname == self.zone and qtype == RDTYPE.NS:
            return [self._one(qname, NS(IN, RDTYPE.NS, self.nameserver_name))], self._nameserver_addresses()
        if qtype in (RDTYPE.A, RDTYPE.AAAA):
            version = 4 if qtype == RDTYPE.A else 6
            found = _rrset(qname, self.ttl, (_address_rdata(t.ip) for t in node.targets if t.ip.version == version))
            return ([found] if found else []), []
        if qtype == RDTYPE.SRV:
            return self._srv(qname, node.targets)
        if qtype == RDTYPE.TXT and node.text is not None:
            return [dns.rrset.from_rdata(qname, SCHEMA_VERSION_TTL, TXT(IN, RDTYPE.TXT, [node.text]))], []
        return [], []

    def _srv(self, qname: dns.name.Name,
             targets: Sequence[_Target]) -> tuple[list[dns.rrset.RRset], list[dns.rrset.RRset]]:
        """CoreDNS ``plugin.SRV``: every pair counts in the weight, pairs without a port give no SRV."""
        weight = max(1, 100 // len(targets)) if targets else 0
        with_port = [t for t in targets if t.port is not None]
        srv = _rrset(qname, self.ttl, (SRV(IN, RDTYPE.SRV, 0, weight, t.port or 0, t.name) for t in with_port))
        if srv is None:
            return [], []
        return [srv], self._addresses_of(with_port)

    def _addresses_of(self, targets: Sequence[_Target]) -> list[dns.rrset.RRset]:
        """One A and one AAAA RRset per target name, in order of first appearance."""
        grouped: dict[tuple[dns.name.Name, int], list[IP]] = {}
        for target in targets:
            grouped.setdefault((target.name, target.ip.version), []).append(target.ip)
        return [dns.rrset.from_rdata_list(name, self.ttl, [_address_rdata(ip) for ip in ips])
                for (name, _), ips in grouped.items()]

    def _nameserver_addresses(self) -> list[dns.rrset.RRset]:
        return self._addresses_of([_Target(self.nameserver_name, ip) for ip in self.nameserver_ips])

    def _one(self, name: dns.name.Name, rdata: dns.rdata.Rdata) -> dns.rrset.RRset:
        return dns.rrset.from_rdata(name, self.ttl, rdata)

    def _soa(self) -> dns.rrset.RRset:
        rdata = SOA(IN, RDTYPE.SOA, self.nameserver_name, dns.name.Name((b"hostmaster", *self.zone.labels)),
                    self.serial % 2**32, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, self.ttl)
        return dns.rrset.from_rdata(self.zone, min(self.ttl, SOA_MAX_TTL), rdata)

    # ---- names in the cluster zone

    def _lookup(self, qname: dns.name.Name) -> _Node | None:
        """What is at ``qname`` (inside the zone); None: the name does not exist."""
        labels = [label.decode("ascii", "replace").lower() for label in reversed(qname.relativize(self.zone).labels)]
        if any("/" in label for label in labels):
            return None  # never part of a Store key
        if not labels:
            return _Node()
        head, rest = labels[0], labels[1:]
        if head == "svc":
            return self._service_lookup(rest)
        if head == "pod":
            return self._pod_lookup(rest)
        if head == "dns":
            return self._nameserver_lookup(rest)
        if labels == ["dns-version"]:
            return _Node(text=SCHEMA_VERSION)
        return None

    def _nameserver_lookup(self, rest: list[str]) -> _Node | None:
        if not rest:
            return _Node()  # dns.<zone>: above ns.dns.<zone>
        if rest == ["ns"]:
            return _Node(tuple(_Target(self.nameserver_name, ip) for ip in self.nameserver_ips))
        return None

    def _namespace_known(self, namespace: str) -> bool:
        if self.namespaces is not None:
            return self.namespaces.get(namespace) is not None
        return bool(self.services.by_index(NAMESPACE_INDEX, namespace))

    def _pod_lookup(self, rest: list[str]) -> _Node | None:
        """``<dashed-ip>.<ns>.pod``: the IP itself, unverified (``pods insecure``)."""
        if not rest:
            return _Node()
        if not self._namespace_known(rest[0]):
            return None
        if len(rest) == 1:
            return _Node()
        ip = _undashed(rest[1]) if len(rest) == 2 else None
        name = self._name(rest[1], rest[0], "pod")
        if ip is None or name is None:
            return None
        return _Node((_Target(name, ip),))

    def _service_lookup(self, rest: list[str]) -> _Node | None:
        """``[<ns>, <svc>, <endpoint> | <_proto>, <_port>]`` under ``svc.<zone>``."""
        if not rest:
            return _Node()
        if len(rest) == 1:
            return _Node() if self._namespace_known(rest[0]) else None
        if len(rest) > 4:
            return None
        service = self.services.get(f"{rest[0]}/{rest[1]}")
        if service is None:
            return None
        below = rest[2:]
        if _is_external(service):
            return None if below else self._external(service)
        if not below:
            return self._service_node(service)
        if len(below) == 1:
            return self._endpoint_node(service, below[0])
        return self._port_node(service, protocol=below[0], port=below[1])

    def _external(self, service: core_pb2.Service) -> _Node | None:
        """The CNAME of an ExternalName Service; an IP there is not a name (NXDOMAIN, as CoreDNS)."""
        target = service.spec.external_name
        if not target or _ip(target) is not None:
            return None
        try:
            return _Node(alias=dns.name.from_text(target))
        except dns.exception.DNSException:
            return None

    def _service_node(self, service: core_pb2.Service) -> _Node | None:
        if _is_headless(service):
            targets = self._endpoint_targets(service)
            return _Node(targets) if targets else None  # specification: no ready endpoints, NXDOMAIN
        return _Node(self._cluster_targets(service))

    def _endpoint_node(self, service: core_pb2.Service, host: str) -> _Node | None:
        targets = tuple(t for t in self._endpoint_targets(service) if t.host == host)
        if targets:
            return _Node(targets)
        # _<proto>.<svc>: the empty name above _<port>._<proto>.<svc> exists (NODATA, RFC 8020)
        ports = self._port_targets(service)
        if host.startswith("_") and any(t.port_name and t.protocol == host[1:] for t in ports):
            return _Node()
        return None

    def _port_node(self, service: core_pb2.Service, *, protocol: str, port: str) -> _Node | None:
        if not (protocol.startswith("_") and port.startswith("_")):
            return None
        targets = tuple(t for t in self._port_targets(service)
                        if t.port is not None and t.port_name and (t.port_name, t.protocol) == (port[1:], protocol[1:]))
        return _Node(targets) if targets else None

    def _port_targets(self, service: core_pb2.Service) -> tuple[_Target, ...]:
        return self._endpoint_targets(service) if _is_headless(service) else self._cluster_targets(service)

    def _cluster_targets(self, service: core_pb2.Service) -> tuple[_Target, ...]:
        """Cluster IP x Service port (no ports: the addresses alone)."""
        name = self._service_name(service)
        if name is None:
            return ()
        return tuple(_Target(name, ip, "", port, port_name, protocol)
                     for port, port_name, protocol in _ports(service.spec.ports)
                     for ip in _cluster_ips(service))

    def _endpoint_targets(self, service: core_pb2.Service) -> tuple[_Target, ...]:
        """Published endpoint address x the subset's ports (no ports: the addresses alone)."""
        meta = service.metadata
        endpoints = self.endpoints.get(f"{meta.namespace}/{meta.name}")
        if endpoints is None:
            return ()
        found: list[_Target] = []
        for subset in endpoints.subsets:
            ports = _ports(subset.ports)
            for address in _published(service, subset):
                ip = _ip(address.ip)
                host = (address.hostname or _dashed(address.ip)).lower()
                name = self._name(host, meta.name, meta.namespace, "svc")
                if ip is None or name is None:
                    continue
                found += [_Target(name, ip, host, port, port_name, protocol)
                          for port, port_name, protocol in ports]
        return tuple(found)

    def _service_name(self, service: core_pb2.Service) -> dns.name.Name | None:
        return self._name(service.metadata.name, service.metadata.namespace, "svc")

    def _name(self, *labels: str) -> dns.name.Name | None:
        """``<labels>.<zone>``; None if that is no valid name (a label too long)."""
        try:
            return dns.name.Name((*(label.encode() for label in labels), *self.zone.labels))
        except dns.exception.DNSException:
            return None

    # ---- the reverse zones

    def _reverse(self, qname: dns.name.Name, qtype: int) -> Answer | None:
        if qtype != RDTYPE.PTR:
            return None
        try:
            ip = _ip(dns.reversename.to_address(qname))
        except dns.exception.DNSException:
            return None
        if ip is None:
            return None
        found = _rrset(qname, self.ttl, (PTR(IN, RDTYPE.PTR, name) for name in self._names_of(ip)))
        return None if found is None else Answer(dns.rcode.NOERROR, [found])

    def _names_of(self, ip: IP) -> list[dns.name.Name]:
        """A Service's name for its cluster IP; else every endpoint name with that address."""
        for service in self.services.by_index(CLUSTER_IP_INDEX, ip.compressed):
            name = self._service_name(service)
            if name is not None:
                return [name]
        names: list[dns.name.Name] = []
        for endpoints in self.endpoints.by_index(ADDRESS_INDEX, ip.compressed):
            owner = self.services.get(f"{endpoints.metadata.namespace}/{endpoints.metadata.name}")
            if owner is None or _is_external(owner):
                continue
            for target in self._endpoint_targets(owner):
                if target.ip == ip and target.name not in names:
                    names.append(target.name)
        return names
