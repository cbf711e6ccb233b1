"""Describers of the other kinds with a layout of their own — Service, Node, Namespace, Secret,
ConfigMap, PersistentVolumeClaim, Endpoints — and the generic describer for the rest."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from skiff.api import kinds
from skiff.api.manifest import to_manifest
from skiff.api.quantity import Quantity, QuantityError, parse_quantity
from skiff.api.v1 import core_pb2, meta_pb2
from skiff.cli.describe.text import (
    Out,
    Related,
    by_key,
    events,
    fmt_time,
    header,
    ios,
    map_text,
    or_none,
    since,
)


def _endpoints_for(ep: core_pb2.Endpoints | None, port_name: str) -> str:
    if ep is None:
        return "<none>"
    found = [f"{a.ip}:{p.port}" for s in ep.subsets for p in s.ports if p.name == port_name for a in s.addresses]
    return ",".join(found) or "<none>"


def _joined(items: Sequence[str], sep: str = ",") -> str | None:
    """The items joined, or None (the line left out) when there are none."""
    return sep.join(items) if items else None


def describe_service(svc: core_pb2.Service, rel: Related, now: datetime, out: Out) -> None:
    spec = svc.spec
    header(out, 0, svc.metadata)
    out.rows(0, ("Selector", map_text(spec.selector)), ("Type", spec.type or "ClusterIP"),
             ("IP Family Policy", spec.ip_family_policy or None), ("IP Families", _joined(spec.ip_families)),
             ("IP", spec.cluster_ip), ("IPs", _joined(spec.cluster_ips)), ("External IPs", _joined(spec.external_ips)),
             ("LoadBalancer Ingress", _joined([i.ip or i.hostname for i in svc.status.load_balancer.ingress], ", ")),
             ("External Name", spec.external_name or None))
    for port in spec.ports:
        name, proto = port.name or "<unset>", port.protocol or "TCP"
        out.rows(0, ("Port", f"{name}\t{port.port}/{proto}"),
                 ("TargetPort", f"{ios(port.target_port) or str(port.port)}/{proto}"),
                 ("NodePort", f"{name}\t{port.node_port}/{proto}" if port.node_port else None),
                 ("Endpoints", _endpoints_for(rel.endpoints, port.name)))
    out.rows(0, ("Session Affinity", spec.session_affinity or "None"),
             ("External Traffic Policy", spec.external_traffic_policy or None),
             ("Internal Traffic Policy", spec.internal_traffic_policy or None))
    events(out, rel.events, now)


def _quantity(text: str) -> Quantity:
    try:
        return parse_quantity(text)
    except QuantityError:
        return Quantity()


def _total(pods: Sequence[core_pb2.Pod], which: str, resource: str) -> Quantity:
    total = Quantity()
    for pod in pods:
        for c in pod.spec.containers:
            value = getattr(c.resources, which).get(resource)
            if value is not None:
                total = total + _quantity(value)
    return total


def _share(q: Quantity, allocatable: str) -> str:
    whole = _quantity(allocatable) if allocatable else Quantity()
    percent = 0 if whole.is_zero() else int(q.value * 100 / whole.value)
    return f"{q} ({percent}%)"


_NODE_POD_COLUMNS = ("Namespace", "Name", "CPU Requests", "CPU Limits", "Memory Requests", "Memory Limits", "Age")
_NODE_CONDITION_COLUMNS = ("Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message")


def _node_pods(out: Out, node: core_pb2.Node, pods: Sequence[core_pb2.Pod], now: datetime) -> None:
    running = [p for p in pods if p.status.phase not in ("Succeeded", "Failed")]
    alloc = node.status.allocatable

    def share(which: str, resource: str, of: Sequence[core_pb2.Pod]) -> str:
        return _share(_total(of, which, resource), alloc.get(resource, ""))

    out.rows(0, ("Non-terminated Pods", f"({len(running)} in total)"))
    out.table(0, "", _NODE_POD_COLUMNS, [
        (p.metadata.namespace, p.metadata.name, share("requests", "cpu", [p]), share("limits", "cpu", [p]),
         share("requests", "memory", [p]), share("limits", "memory", [p]), since(p.metadata.creation_timestamp, now))
        for p in running])
    out.w(0, "Allocated resources:")
    out.w(1, "(Total limits may be over 100 percent, i.e., overcommitted.)")
    out.table(0, "", ("Resource", "Requests", "Limits"),
              [(res, share("requests", res, running), share("limits", res, running)) for res in ("cpu", "memory")])


def describe_node(node: core_pb2.Node, rel: Related, now: datetime, out: Out) -> None:
    meta, spec, st = node.metadata, node.spec, node.status
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in meta.labels if k.startswith(prefix))
    taints = sorted(spec.taints, key=lambda t: (t.effect, t.key))
    header(out, 0, meta, ("Roles", or_none(",".join(roles))), namespaced=False)
    out.rows(0, ("CreationTimestamp", fmt_time(meta.creation_timestamp)))
    out.listing(0, "Taints", [f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}" for t in taints])
    out.rows(0, ("Unschedulable", str(spec.unschedulable).lower()))
    if rel.lease is not None:
        lease = rel.lease.spec
        out.section(0, "Lease", [("HolderIdentity", lease.holder_identity or "<unset>"),
                                 ("AcquireTime", fmt_time(lease.acquire_time)),
                                 ("RenewTime", fmt_time(lease.renew_time))])
    out.table(0, "Conditions", _NODE_CONDITION_COLUMNS, [
        (c.type, c.status, fmt_time(c.last_heartbeat_time), fmt_time(c.last_transition_time), c.reason, c.message)
        for c in st.conditions])
    out.section(0, "Addresses", [(a.type, a.address) for a in st.addresses])
    out.section(0, "Capacity", by_key(st.capacity), none=False)
    out.section(0, "Allocatable", by_key(st.allocatable), none=False)
    _system_info(out, st.node_info)
    out.rows(0, ("PodCIDR", spec.pod_cidr or None))
    _node_pods(out, node, rel.pods, now)
    events(out, rel.events, now)


def _system_info(out: Out, info: core_pb2.NodeSystemInfo) -> None:
    fields = [("Machine ID", info.machine_id), ("System UUID", info.system_uuid), ("Boot ID", info.boot_id),
              ("Kernel Version", info.kernel_version), ("OS Image", info.os_image),
              ("Operating System", info.operating_system), ("Architecture", info.architecture),
              ("Container Runtime Version", info.container_runtime_version),
              ("Kubelet Version", info.kubelet_version)]
    out.section(0, "System Info", fields if any(value for _, value in fields) else [], none=False)


def describe_namespace(ns: core_pb2.Namespace, rel: Related, now: datetime, out: Out) -> None:
    header(out, 0, ns.metadata, namespaced=False)
    out.rows(0, ("Status", ns.status.phase), "", "No resource quota.", "", "No LimitRange resource.")


def describe_secret(secret: core_pb2.Secret, rel: Related, now: datetime, out: Out) -> None:
    """Sizes only: a describe must never show a Secret's values."""
    header(out, 0, secret.metadata)
    out.rows(0, "", ("Type", secret.type), "", "Data", "====",
             *((key, f"{len(secret.data[key])} bytes") for key in sorted(secret.data)))


def describe_config_map(cm: core_pb2.ConfigMap, rel: Related, now: datetime, out: Out) -> None:
    header(out, 0, cm.metadata)
    out.rows(0, "", "Data", "====")
    for key in sorted(cm.data):
        out.rows(0, f"{key}:", "----", cm.data[key].rstrip("\n"), "")
    binary = [f"{key}: {len(cm.binary_data[key])} bytes" for key in sorted(cm.binary_data)]
    out.rows(0, "", "BinaryData", "====", *binary, "")
    events(out, rel.events, now)


def describe_pvc(pvc: core_pb2.PersistentVolumeClaim, rel: Related, now: datetime, out: Out) -> None:
    meta, spec, st = pvc.metadata, pvc.spec, pvc.status
    users = [p.metadata.name for p in rel.pods
             if any(v.persistent_volume_claim.claim_name == meta.name for v in p.spec.volumes)]
    header(out, 0, meta, ("StorageClass", spec.storage_class_name), ("Status", st.phase), ("Volume", spec.volume_name))
    out.rows(0, ("Finalizers", f"[{' '.join(meta.finalizers)}]"), ("Capacity", st.capacity.get("storage", "")),
             ("Access Modes", ",".join(st.access_modes)), ("VolumeMode", spec.volume_mode))
    out.listing(0, "Used By", sorted(users))
    events(out, rel.events, now)


def describe_endpoints(ep: core_pb2.Endpoints, rel: Related, now: datetime, out: Out) -> None:
    header(out, 0, ep.metadata)
    out.w(0, "Subsets:")
    for s in ep.subsets:
        out.rows(1, ("Addresses", or_none(",".join(a.ip for a in s.addresses))),
                 ("NotReadyAddresses", or_none(",".join(a.ip for a in s.not_ready_addresses))))
        out.table(1, "Ports", ("Name", "Port", "Protocol"),
                  [(p.name or "<unset>", p.port, p.protocol or "TCP") for p in s.ports])
    out.blank()
    events(out, rel.events, now)


# ---- generic ----


def _title(key: str) -> str:
    """``holderIdentity`` -> ``Holder Identity``; ``uid`` -> ``UID`` (kubectl's smart labels)."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key).split(" ")
    special = {"uid": "UID", "ip": "IP", "id": "ID", "url": "URL", "api": "API"}
    return " ".join(special.get(w.lower(), w[:1].upper() + w[1:]) for w in words)


def _generic_value(out: Out, level: int, key: str, value: Any) -> None:
    if not isinstance(value, Mapping | list):
        out.rows(level, (_title(key), str(value)))
        return
    out.w(level, f"{_title(key)}:")
    for item in [value] if isinstance(value, Mapping) else value:
        if isinstance(item, Mapping):
            for k in sorted(item):
                _generic_value(out, level + 1, k, item[k])
        else:
            out.w(level + 1, str(item))


def describe_generic(obj: Message, rel: Related, now: datetime, out: Out) -> None:
    """Any kind: the metadata lines, then the rest of the manifest as indented titled fields."""
    meta: meta_pb2.ObjectMeta = obj.metadata  # type: ignore[attr-defined]  # every kind has one
    header(out, 0, meta, namespaced=kinds.of(obj).namespaced)
    doc = to_manifest(obj)
    out.rows(0, ("API Version", doc.pop("apiVersion")), ("Kind", doc.pop("kind")))
    metadata = {k: v for k, v in doc.pop("metadata", {}).items()
                if k not in ("name", "namespace", "labels", "annotations", "managedFields")}
    for key, value in [("metadata", metadata), *sorted(doc.items())]:
        _generic_value(out, 0, key, value)
    events(out, rel.events, now)
