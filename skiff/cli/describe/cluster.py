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
from skiff.api.v1 import core_pb2
from skiff.cli.describe.text import (
    Out,
    Related,
    annotation_lines,
    events,
    fmt_time,
    ios,
    labels,
    map_text,
    meta_lines,
    multiline,
    or_none,
    since,
)


def _endpoints_for(ep: core_pb2.Endpoints | None, port_name: str) -> str:
    if ep is None:
        return "<none>"
    found = [f"{a.ip}:{p.port}" for s in ep.subsets for p in s.ports if p.name == port_name for a in s.addresses]
    return ",".join(found) or "<none>"


def describe_service(svc: core_pb2.Service, rel: Related, now: datetime, out: Out) -> None:
    spec = svc.spec
    meta_lines(out, svc)
    out.w(0, f"Selector:\t{map_text(spec.selector)}")
    out.w(0, f"Type:\t{spec.type or 'ClusterIP'}")
    if spec.ip_family_policy:
        out.w(0, f"IP Family Policy:\t{spec.ip_family_policy}")
    if spec.ip_families:
        out.w(0, f"IP Families:\t{','.join(spec.ip_families)}")
    out.w(0, f"IP:\t{spec.cluster_ip}")
    if spec.cluster_ips:
        out.w(0, f"IPs:\t{','.join(spec.cluster_ips)}")
    if spec.external_ips:
        out.w(0, f"External IPs:\t{','.join(spec.external_ips)}")
    ingress = [i.ip or i.hostname for i in svc.status.load_balancer.ingress]
    if ingress:
        out.w(0, f"LoadBalancer Ingress:\t{', '.join(ingress)}")
    if spec.external_name:
        out.w(0, f"External Name:\t{spec.external_name}")
    for port in spec.ports:
        name, proto = port.name or "<unset>", port.protocol or "TCP"
        out.w(0, f"Port:\t{name}\t{port.port}/{proto}")
        target = ios(port.target_port) or str(port.port)
        out.w(0, f"TargetPort:\t{target}/{proto}")
        if port.node_port:
            out.w(0, f"NodePort:\t{name}\t{port.node_port}/{proto}")
        out.w(0, f"Endpoints:\t{_endpoints_for(rel.endpoints, port.name)}")
    out.w(0, f"Session Affinity:\t{spec.session_affinity or 'None'}")
    if spec.external_traffic_policy:
        out.w(0, f"External Traffic Policy:\t{spec.external_traffic_policy}")
    if spec.internal_traffic_policy:
        out.w(0, f"Internal Traffic Policy:\t{spec.internal_traffic_policy}")
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


def _node_pods(out: Out, node: core_pb2.Node, pods: Sequence[core_pb2.Pod], now: datetime) -> None:
    running = [p for p in pods if p.status.phase not in ("Succeeded", "Failed")]
    alloc = node.status.allocatable
    out.w(0, f"Non-terminated Pods:\t({len(running)} in total)")
    if running:
        out.w(1, "Namespace\tName\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge")
        out.w(1, "---------\t----\t------------\t----------\t---------------\t-------------\t---")
    for pod in running:
        cells = [_share(_total([pod], which, res), alloc.get(res, ""))
                 for res in ("cpu", "memory") for which in ("requests", "limits")]
        out.w(1, "\t".join([pod.metadata.namespace, pod.metadata.name, cells[0], cells[1], cells[2], cells[3],
                            since(pod.metadata.creation_timestamp, now)]))
    out.w(0, "Allocated resources:")
    out.w(1, "(Total limits may be over 100 percent, i.e., overcommitted.)")
    out.w(1, "Resource\tRequests\tLimits")
    out.w(1, "--------\t--------\t------")
    for res in ("cpu", "memory"):
        out.w(1, f"{res}\t{_share(_total(running, 'requests', res), alloc.get(res, ''))}\t"
                 f"{_share(_total(running, 'limits', res), alloc.get(res, ''))}")


def describe_node(node: core_pb2.Node, rel: Related, now: datetime, out: Out) -> None:
    meta, spec, st = node.metadata, node.spec, node.status
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in meta.labels if k.startswith(prefix))
    out.w(0, f"Name:\t{meta.name}")
    out.w(0, f"Roles:\t{or_none(','.join(roles))}")
    labels(out, 0, "Labels", meta.labels)
    annotation_lines(out, 0, meta.annotations)
    out.w(0, f"CreationTimestamp:\t{fmt_time(meta.creation_timestamp)}")
    taints = sorted(spec.taints, key=lambda t: (t.effect, t.key))
    multiline(out, 0, "Taints", [f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}" for t in taints])
    out.w(0, f"Unschedulable:\t{str(spec.unschedulable).lower()}")
    if rel.lease is not None:
        lease = rel.lease.spec
        out.w(0, "Lease:")
        out.w(1, f"HolderIdentity:\t{lease.holder_identity or '<unset>'}")
        out.w(1, f"AcquireTime:\t{fmt_time(lease.acquire_time)}")
        out.w(1, f"RenewTime:\t{fmt_time(lease.renew_time)}")
    if st.conditions:
        out.w(0, "Conditions:")
        out.w(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage")
        out.w(1, "----\t------\t-----------------\t------------------\t------\t-------")
        for c in st.conditions:
            out.w(1, f"{c.type}\t{c.status}\t{fmt_time(c.last_heartbeat_time)}\t{fmt_time(c.last_transition_time)}"
                     f"\t{c.reason}\t{c.message}")
    out.w(0, "Addresses:" if st.addresses else "Addresses:\t<none>")
    for a in st.addresses:
        out.w(1, f"{a.type}:\t{a.address}")
    for title, values in (("Capacity", st.capacity), ("Allocatable", st.allocatable)):
        if values:
            out.w(0, f"{title}:")
            for name in sorted(values):
                out.w(1, f"{name}:\t{values[name]}")
    _system_info(out, st.node_info)
    if spec.pod_cidr:
        out.w(0, f"PodCIDR:\t{spec.pod_cidr}")
    _node_pods(out, node, rel.pods, now)
    events(out, rel.events, now)


def _system_info(out: Out, info: core_pb2.NodeSystemInfo) -> None:
    fields = [("Machine ID", info.machine_id), ("System UUID", info.system_uuid), ("Boot ID", info.boot_id),
              ("Kernel Version", info.kernel_version), ("OS Image", info.os_image),
              ("Operating System", info.operating_system), ("Architecture", info.architecture),
              ("Container Runtime Version", info.container_runtime_version),
              ("Kubelet Version", info.kubelet_version)]
    if any(value for _, value in fields):
        out.w(0, "System Info:")
        for name, value in fields:
            out.w(1, f"{name}:\t{value}")


def describe_namespace(ns: core_pb2.Namespace, rel: Related, now: datetime, out: Out) -> None:
    meta_lines(out, ns, namespaced=False)
    out.w(0, f"Status:\t{ns.status.phase}")
    out.blank()
    out.w(0, "No resource quota.")
    out.blank()
    out.w(0, "No LimitRange resource.")


def describe_secret(secret: core_pb2.Secret, rel: Related, now: datetime, out: Out) -> None:
    """Sizes only: a describe must never show a Secret's values."""
    meta_lines(out, secret)
    out.blank()
    out.w(0, f"Type:\t{secret.type}")
    out.blank()
    out.w(0, "Data")
    out.w(0, "====")
    for key in sorted(secret.data):
        out.w(0, f"{key}:\t{len(secret.data[key])} bytes")


def describe_config_map(cm: core_pb2.ConfigMap, rel: Related, now: datetime, out: Out) -> None:
    meta_lines(out, cm)
    out.blank()
    out.w(0, "Data")
    out.w(0, "====")
    for key in sorted(cm.data):
        out.w(0, f"{key}:")
        out.w(0, "----")
        out.w(0, cm.data[key].rstrip("\n"))
        out.blank()
    out.blank()
    out.w(0, "BinaryData")
    out.w(0, "====")
    for key in sorted(cm.binary_data):
        out.w(0, f"{key}: {len(cm.binary_data[key])} bytes")
    out.blank()
    events(out, rel.events, now)


def describe_pvc(pvc: core_pb2.PersistentVolumeClaim, rel: Related, now: datetime, out: Out) -> None:
    spec, st = pvc.spec, pvc.status
    out.w(0, f"Name:\t{pvc.metadata.name}")
    out.w(0, f"Namespace:\t{pvc.metadata.namespace}")
    out.w(0, f"StorageClass:\t{spec.storage_class_name}")
    out.w(0, f"Status:\t{st.phase}")
    out.w(0, f"Volume:\t{spec.volume_name}")
    labels(out, 0, "Labels", pvc.metadata.labels)
    annotation_lines(out, 0, pvc.metadata.annotations)
    out.w(0, f"Finalizers:\t[{' '.join(pvc.metadata.finalizers)}]")
    out.w(0, f"Capacity:\t{st.capacity.get('storage', '')}")
    out.w(0, f"Access Modes:\t{','.join(st.access_modes)}")
    out.w(0, f"VolumeMode:\t{spec.volume_mode}")
    users = [p.metadata.name for p in rel.pods
             if any(v.persistent_volume_claim.claim_name == pvc.metadata.name for v in p.spec.volumes)]
    multiline(out, 0, "Used By", sorted(users))
    events(out, rel.events, now)


def describe_endpoints(ep: core_pb2.Endpoints, rel: Related, now: datetime, out: Out) -> None:
    meta_lines(out, ep)
    out.w(0, "Subsets:")
    for s in ep.subsets:
        out.w(1, f"Addresses:\t{or_none(','.join(a.ip for a in s.addresses))}")
        out.w(1, f"NotReadyAddresses:\t{or_none(','.join(a.ip for a in s.not_ready_addresses))}")
        if s.ports:
            out.w(1, "Ports:")
            out.w(2, "Name\tPort\tProtocol")
            out.w(2, "----\t----\t--------")
            for p in s.ports:
                out.w(2, f"{p.name or '<unset>'}\t{p.port}\t{p.protocol or 'TCP'}")
    out.blank()
    events(out, rel.events, now)


# ---- generic ----


def _title(key: str) -> str:
    """``holderIdentity`` -> ``Holder Identity``; ``uid`` -> ``UID`` (kubectl's smart labels)."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key).split(" ")
    special = {"uid": "UID", "ip": "IP", "id": "ID", "url": "URL", "api": "API"}
    return " ".join(special.get(w.lower(), w[:1].upper() + w[1:]) for w in words)


def _generic_value(out: Out, level: int, key: str, value: Any) -> None:
    if isinstance(value, Mapping):
        out.w(level, f"{_title(key)}:")
        for k in sorted(value):
            _generic_value(out, level + 1, k, value[k])
    elif isinstance(value, list):
        out.w(level, f"{_title(key)}:")
        for item in value:
            if isinstance(item, Mapping):
                for k in sorted(item):
                    _generic_value(out, level + 1, k, item[k])
            else:
                out.w(level + 1, str(item))
    else:
        out.w(level, f"{_title(key)}:\t{value}")


def describe_generic(obj: Message, rel: Related, now: datetime, out: Out) -> None:
    """Any kind: the metadata lines, then the rest of the manifest as indented titled fields."""
    kind = kinds.of(obj)
    meta_lines(out, obj, namespaced=kind.namespaced)
    doc = to_manifest(obj)
    out.w(0, f"API Version:\t{doc.pop('apiVersion')}")
    out.w(0, f"Kind:\t{doc.pop('kind')}")
    metadata = {k: v for k, v in doc.pop("metadata", {}).items()
                if k not in ("name", "namespace", "labels", "annotations", "managedFields")}
    for key, value in [("metadata", metadata), *sorted(doc.items())]:
        _generic_value(out, 0, key, value)
    events(out, rel.events, now)
