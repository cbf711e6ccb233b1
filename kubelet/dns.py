"""A pod's DNS resolver settings, worked out as Kubernetes' kubelet does (pkg/kubelet/network/dns,
1.32): what its containers' ``/etc/resolv.conf`` will say.

Inputs are the kubelet's flags (:class:`DnsSettings`: ``--cluster-dns``, ``--cluster-domain``,
``--resolv-conf``), the node's own resolver file parsed (:func:`read_resolv_conf`), and the pod's
``dnsPolicy``, ``dnsConfig``, ``hostNetwork`` and namespace. :func:`pod_dns` is a pure function of
those: it returns the :class:`~kubelet.runtime.interface.DnsConfig` (which the runtimes turn into
the file, see ``DnsConfig.render``) and the Warning events the kubelet records on the way
(:class:`DnsEvent`), so every rule is testable without files, a recorder or a runtime. The
kubelet asks once per sandbox, as Kubernetes does in generatePodSandboxConfig: a pod keeps the
settings its sandbox was made with.

The policies (getPodDNSType, GetPodDNS):

- ``ClusterFirst`` (the apiserver's default): the cluster DNS servers only, the search list
  ``<namespace>.svc.<domain> svc.<domain> <domain>`` followed by the node's own search domains
  (duplicates dropped), and ``options ndots:5`` (the node's options are not kept). Without a
  cluster domain the search list is the node's. A hostNetwork pod falls back to ``Default``.
  Without any ``--cluster-dns`` the pod falls back to ``Default`` too, and a ``MissingClusterDNS``
  Warning is recorded on the node and on the pod.
- ``ClusterFirstWithHostNet``: as ClusterFirst, also for hostNetwork pods.
- ``Default``: the node's resolver file as parsed. With ``--resolv-conf ""`` there is none:
  then one ``nameserver 127.0.0.1`` (``::1`` for an IPv6 node IP) per node IP and ``search .``,
  which effectively disables lookups, as Kubernetes does.
- ``None``: nothing but the pod's ``dnsConfig``.
- Any other value (the apiserver rejects them): logged, and treated as ClusterFirst. An empty
  policy (a pod that never went through the apiserver's defaulting) is ClusterFirst.

Then ``spec.dnsConfig`` is appended (appendDNSConfig): its nameservers and searches after the
policy's, duplicates omitted; its options merged by name, a name given again overriding the value
(``ndots: "2"`` replaces ``ndots:5``). Last the limits (formDNSConfigFitsLimits): at most 3
nameservers; at most 32 search domains, none longer than 253 characters, 2048 characters for the
whole search line (domains cut from the end); whatever is dropped is told in a ``DNSConfigForming``
Warning with Kubernetes' words.

Kubernetes keeps merged options in a Go map, so its order is unspecified; here an option keeps the
place where its name first appeared, which makes the file stable. The node's resolver file is
parsed as Kubernetes parses it (parseResolvConf): ``#`` comment lines skipped, ``nameserver`` lines
accumulate, the last ``search`` line wins (as in glibc) with trailing dots trimmed and a lone ``.``
dropped, ``options`` of every line merged by name (the later wins), other keywords ignored, and a
``nameserver`` line without an address is an error. :func:`check_resolv_conf_limits` is the
kubelet's start-up check of that file (CheckLimitsForResolvConf), told as Warnings on the node.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kubelet.runtime.interface import DnsConfig
from skiff.api.v1 import core_pb2

__all__ = [
    "DEFAULT_RESOLV_CONF", "DnsConfig", "DnsError", "DnsEvent", "DnsSettings", "check_resolv_conf_limits",
    "parse_cluster_dns", "parse_resolv_conf", "pod_dns", "read_resolv_conf",
]

log = logging.getLogger("skiff.kubelet")

DEFAULT_RESOLV_CONF = "/etc/resolv.conf"
"""The kubelet's ``--resolv-conf`` default (kubetypes.ResolvConfDefault)."""
DEFAULT_OPTIONS = ("ndots:5",)
"""The options of a pod on the cluster DNS (defaultDNSOptions)."""
MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_LIST_CHARS = 2048
MAX_SEARCH_PATH_CHARS = 253
"""DNS1123SubdomainMaxLength: a longer search path can make glibc abort, so it is dropped."""
MAX_RESOLV_CONF_BYTES = 10 << 20
"""How much of the node's resolver file is read (maxResolvConfLength)."""

CLUSTER_FIRST = "ClusterFirst"
CLUSTER_FIRST_WITH_HOST_NET = "ClusterFirstWithHostNet"
DEFAULT = "Default"
NONE = "None"

MISSING_CLUSTER_DNS = (f"kubelet does not have ClusterDNS IP configured and cannot create Pod using "
                       f'"{CLUSTER_FIRST}" policy. Falling back to "{DEFAULT}" policy.')


class DnsError(Exception):
    """The node's resolver file cannot be read or parsed; the message is the kubelet's."""


@dataclass(frozen=True)
class DnsSettings:
    """The kubelet's DNS flags, and the node addresses the ``--resolv-conf ""`` case needs."""

    cluster_dns: tuple[str, ...] = ()
    """``--cluster-dns``: the cluster DNS servers of ClusterFirst pods (valid IPs, see :func:`parse_cluster_dns`)."""
    cluster_domain: str = ""
    """``--cluster-domain``: the domain searched first (``<ns>.svc.<domain> svc.<domain> <domain>``); empty: none."""
    resolv_conf: str = DEFAULT_RESOLV_CONF
    """``--resolv-conf``: the node's resolver file, the base of every policy but None; empty: none."""
    node_ips: tuple[str, ...] = ()
    """The node's IPs: with no resolver file, a Default pod gets a loopback server per address family."""


@dataclass(frozen=True)
class DnsEvent:
    """A Warning to record while forming a pod's DNS: about the pod, or (``on_node``) the node."""

    reason: str
    message: str
    on_node: bool = False
    type: str = "Warning"


# ---- the kubelet's flags and the node's file ----


def parse_cluster_dns(values: Iterable[str]) -> tuple[str, ...]:
    """``--cluster-dns`` entries as IP strings; an entry that is no IP is logged and left out, as the
    kubelet does ("Invalid clusterDNS IP"). IPv4 with leading zeros is read as decimal, like Go's
    ParseIPSloppy, and addresses are written as Go writes them."""
    servers = []
    for value in values:
        ip = _parse_ip_sloppy(value.strip())
        if ip is None:
            log.info("Invalid clusterDNS IP %r", value)
            continue
        servers.append(ip)
    return tuple(servers)


def _parse_ip_sloppy(value: str) -> str | None:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        if not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", value) or any(int(p) > 255 for p in value.split(".")):
            return None
        return ".".join(str(int(p)) for p in value.split("."))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)  # Go prints an IPv4-mapped address as the IPv4 one
    return str(ip)


def parse_resolv_conf(text: str) -> DnsConfig:
    """A resolver file's nameservers, search list and options, parsed as the kubelet does (see the
    module docstring); DnsError("nameserver list is empty ") for a ``nameserver`` line without an
    address (Kubernetes' words, its trailing space included)."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    empty_nameserver = False
    for line in text.split("\n"):
        trimmed = line.strip()
        if trimmed.startswith("#"):
            continue
        fields = trimmed.split()
        if not fields:
            continue
        if fields[0] == "nameserver":
            if len(fields) >= 2:
                servers.append(fields[1])
            else:
                empty_nameserver = True
        if fields[0] == "search":
            searches = [s.removesuffix(".") for s in fields[1:] if s != "."]
        if fields[0] == "options":
            options = _append_options(options, fields[1:])
    if empty_nameserver:
        raise DnsError("nameserver list is empty ")
    return DnsConfig(servers=tuple(servers), searches=tuple(searches), options=tuple(options))


def _append_options(options: Sequence[str], new: Iterable[str]) -> list[str]:
    """appendOptions: options keyed by the name before ``:``; a later one replaces an earlier one."""
    merged: dict[str, str] = {option.split(":")[0]: option for option in options}
    for option in new:
        merged[option.split(":")[0]] = option
    return list(merged.values())


def read_resolv_conf(path: str) -> DnsConfig:
    """The node's resolver file parsed (getHostDNSConfig); an empty path is no file: an empty
    config. DnsError with the kubelet's message when it cannot be read or parsed."""
    if not path:
        return DnsConfig()
    text = _read_at_most(path)
    try:
        return parse_resolv_conf(text)
    except DnsError as err:
        raise DnsError(f"Encountered error while parsing resolv conf file. Error: {err}") from err


def _read_at_most(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_RESOLV_CONF_BYTES + 1)
    except IsADirectoryError as err:
        raise DnsError(_go_path_error("read", path, err)) from err
    except OSError as err:
        raise DnsError(_go_path_error("open", path, err)) from err
    if len(data) > MAX_RESOLV_CONF_BYTES:
        raise DnsError("the read limit is reached")
    return data.decode(errors="replace")


def _go_path_error(op: str, path: str, err: OSError) -> str:
    """An OSError worded as Go's *PathError ("open /etc/resolv.conf: no such file or directory")."""
    reason = os.strerror(err.errno) if err.errno else str(err)
    return f"{op} {path}: {reason[:1].lower()}{reason[1:]}"


def check_resolv_conf_limits(path: str, cluster_domain: str) -> str | None:
    """The kubelet's start-up check of its resolver file (CheckLimitsForResolvConf): the first
    problem, worded as Kubernetes words it for its ``CheckLimitsForResolvConf`` Warning on the
    node, or None. The search domains may number 32 (29 when the cluster's three come first), each
    at most 253 characters, 2048 characters in all."""
    try:
        searches = parse_resolv_conf(_read_at_most(path)).searches
    except DnsError as err:
        return str(err)
    count_limit = MAX_SEARCH_PATHS - (3 if cluster_domain else 0)
    if len(searches) > count_limit:
        return f"Resolv.conf file '{path}' contains search line consisting of more than {count_limit} domains!"
    if any(_length(s) > MAX_SEARCH_PATH_CHARS for s in searches):
        return (f"Resolv.conf file {_go_quote(path)} contains a search path which length is more than allowed "
                f"{MAX_SEARCH_PATH_CHARS} chars!")
    if _length(" ".join(searches)) > MAX_SEARCH_LIST_CHARS:
        return (f"Resolv.conf file '{path}' contains search line which length is more than allowed "
                f"{MAX_SEARCH_LIST_CHARS} chars!")
    return None


# ---- a pod's settings ----


def pod_dns(pod: core_pb2.Pod, settings: DnsSettings, host: DnsConfig) -> tuple[DnsConfig, list[DnsEvent]]:
    """The pod's resolver settings and the Warnings to record (GetPodDNS, see the module docstring).
    ``host`` is the node's resolver file as :func:`read_resolv_conf` gives it."""
    events: list[DnsEvent] = []
    servers, searches, options = list(host.servers), list(host.searches), list(host.options)
    kind = _dns_type(pod)
    if kind == NONE:
        servers, searches, options = [], [], []
    elif kind == CLUSTER_FIRST and settings.cluster_dns:
        # the cluster DNS is the pod's only server: it forwards what it cannot answer itself
        servers = list(settings.cluster_dns)
        searches = _cluster_searches(searches, pod.metadata.namespace, settings.cluster_domain)
        options = list(DEFAULT_OPTIONS)
    else:
        if kind == CLUSTER_FIRST:
            events.append(DnsEvent("MissingClusterDNS", MISSING_CLUSTER_DNS, on_node=True))
            events.append(DnsEvent("MissingClusterDNS", f"pod: {_go_quote(_format_pod(pod))}. {MISSING_CLUSTER_DNS}"))
        if not settings.resolv_conf:  # no resolver file: lookups go nowhere, as the bind docs describe
            servers += ["::1" if ":" in ip else "127.0.0.1" for ip in settings.node_ips] or ["127.0.0.1"]
            searches = ["."]
    if pod.spec.HasField("dns_config"):
        extra = pod.spec.dns_config
        servers = _omit_duplicates([*servers, *extra.nameservers])
        searches = _omit_duplicates([*searches, *extra.searches])
        options = _merge_options(options, extra.options)
    servers = _fit_nameservers(servers, events)
    searches = _fit_searches(searches, events)
    return DnsConfig(servers=tuple(servers), searches=tuple(searches), options=tuple(options)), events


def _dns_type(pod: core_pb2.Pod) -> str:
    """getPodDNSType: NONE, CLUSTER_FIRST (the cluster DNS) or DEFAULT (the node's settings)."""
    policy = pod.spec.dns_policy or CLUSTER_FIRST  # unset: the apiserver's default
    if policy == NONE:
        return NONE
    if policy == CLUSTER_FIRST_WITH_HOST_NET:
        return CLUSTER_FIRST
    if policy == CLUSTER_FIRST:
        return DEFAULT if pod.spec.host_network else CLUSTER_FIRST
    if policy == DEFAULT:
        return DEFAULT
    log.error("Failed to get DNS type for pod %s/%s: invalid DNSPolicy=%s. Falling back to DNSClusterFirst policy.",
              pod.metadata.namespace, pod.metadata.name, policy)
    return CLUSTER_FIRST


def _cluster_searches(host_searches: list[str], namespace: str, domain: str) -> list[str]:
    if not domain:
        return host_searches
    return _omit_duplicates([f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host_searches])


def _omit_duplicates(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _merge_options(existing: Iterable[str], extra: Iterable[core_pb2.PodDNSConfigOption]) -> list[str]:
    """mergeDNSOptions: ``name[:value]`` strings keyed by name; the pod's options override."""
    merged: dict[str, str] = {}
    for option in existing:
        name, _, value = option.partition(":")
        merged[name] = value
    for given in extra:
        merged[given.name] = given.value if given.HasField("value") else ""
    return [f"{name}:{value}" if value else name for name, value in merged.items()]


def _fit_nameservers(servers: list[str], events: list[DnsEvent]) -> list[str]:
    if len(servers) <= MAX_NAMESERVERS:
        return servers
    servers = servers[:MAX_NAMESERVERS]
    events.append(DnsEvent("DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been "
                                               f"omitted, the applied nameserver line is: {' '.join(servers)}"))
    return servers


def _fit_searches(searches: list[str], events: list[DnsEvent]) -> list[str]:
    exceeded = len(searches) > MAX_SEARCH_PATHS
    searches = searches[:MAX_SEARCH_PATHS]
    kept = [s for s in searches if _length(s) <= MAX_SEARCH_PATH_CHARS]
    exceeded = exceeded or len(kept) < len(searches)
    line_length = _length(" ".join(kept))
    if line_length > MAX_SEARCH_LIST_CHARS:
        cut = 0
        for domain in reversed(kept):  # drop domains from the end until the line fits
            line_length -= _length(domain) + 1
            cut += 1
            if line_length <= MAX_SEARCH_LIST_CHARS:
                break
        kept = kept[:len(kept) - cut]
        exceeded = True
    if exceeded:
        events.append(DnsEvent("DNSConfigForming", "Search Line limits were exceeded, some search paths have been "
                                                   f"omitted, the applied search line is: {' '.join(kept)}"))
    return kept


def _length(text: str) -> int:
    """Go's len(): bytes."""
    return len(text.encode())


def _format_pod(pod: core_pb2.Pod) -> str:
    """format.Pod: ``name_namespace(uid)``."""
    return f"{pod.metadata.name}_{pod.metadata.namespace}({pod.metadata.uid})"


def _go_quote(text: str) -> str:
    """Go's %q for the plain strings quoted here (names, paths)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'
