"""Services: defaults, validation, and the clusterIP / nodePort allocation around each write.

As in Kubernetes the apiserver gives a Service its addresses: a clusterIP from
``--service-cluster-ip-range`` (unless ``clusterIP: None``, a headless Service, or ExternalName),
and for NodePort and LoadBalancer types a nodePort per port from ``--service-node-port-range``.
A requested value must be in range and free. ``before_create`` / ``before_update`` allocate and
return an undo that frees what they took if the write then fails; ``after_update`` and
``after_delete`` free what the Service no longer holds.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from apiserver.registry.allocator import AllocationError, Allocator
from apiserver.registry.pods import PROTOCOLS
from apiserver.registry.strategy import Strategy, Undo
from skiff.api import errors
from skiff.api.codec import int_or_string
from skiff.api.validation import (
    FieldError,
    GoValue,
    duplicate,
    forbidden,
    go_quote,
    go_string_slice,
    invalid,
    invalid_error,
    is_dns1035_label,
    is_dns1123_label,
    is_valid_port_name,
    not_supported,
    required,
    validate_labels,
)

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _has_node_ports(spec: Any) -> bool:
    return spec.type == "NodePort" or (spec.type == "LoadBalancer" and spec.allocate_load_balancer_node_ports)


def _wants_cluster_ip(spec: Any) -> bool:
    return spec.type != "ExternalName" and spec.cluster_ip != "None"


def _owner(obj: Any) -> str:
    return f"{obj.metadata.namespace}/{obj.metadata.name}"


class ServiceStrategy(Strategy):
    name_check = staticmethod(is_dns1035_label)

    def __init__(self, kind: Any, *, ips: Allocator, ports: Allocator) -> None:
        super().__init__(kind)
        self.ips = ips
        self.ports = ports

    # ---- defaults & validation ----

    def default(self, obj: Any) -> None:
        spec = obj.spec
        for field, value in (("type", "ClusterIP"), ("session_affinity", "None"),
                             ("internal_traffic_policy", "Cluster")):
            if not spec.HasField(field):
                setattr(spec, field, value)
        if spec.type in ("NodePort", "LoadBalancer") and not spec.HasField("external_traffic_policy"):
            spec.external_traffic_policy = "Cluster"
        if spec.type == "LoadBalancer" and not spec.HasField("allocate_load_balancer_node_ports"):
            spec.allocate_load_balancer_node_ports = True
        if spec.type != "ExternalName":
            if not spec.ip_families:
                spec.ip_families.append("IPv4")
            if not spec.HasField("ip_family_policy"):
                spec.ip_family_policy = "SingleStack"
        for port in spec.ports:
            if not port.protocol:  # SetDefaults_ServicePort: an empty protocol is TCP
                port.protocol = "TCP"
            if not port.HasField("target_port") and spec.type != "ExternalName":
                port.target_port.int_val = port.port
        if spec.cluster_ip and not spec.cluster_ips:
            spec.cluster_ips.append(spec.cluster_ip)

    def validate(self, obj: Any) -> list[FieldError]:
        spec = obj.spec
        errs = super().validate(obj)
        if spec.type not in SERVICE_TYPES:
            return errs + [not_supported("spec.type", spec.type, SERVICE_TYPES)]
        if spec.type == "ExternalName":
            if not spec.external_name:
                errs.append(required("spec.externalName", ""))
        elif not spec.ports and spec.cluster_ip != "None":
            errs.append(required("spec.ports", ""))
        errs += self._validate_ports(spec)
        if spec.session_affinity not in ("None", "ClientIP"):
            errs.append(not_supported("spec.sessionAffinity", spec.session_affinity, ("ClientIP", "None")))
        if spec.cluster_ip == "None" and spec.type in ("NodePort", "LoadBalancer"):
            errs.append(invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {spec.type} services"))
        if spec.cluster_ip and spec.cluster_ip != "None":
            try:
                ipaddress.ip_address(spec.cluster_ip)
            except ValueError:
                errs.append(invalid("spec.clusterIPs[0]", spec.cluster_ip,
                                    "must be empty, 'None', or a valid IP address"))
        errs += validate_labels(dict(spec.selector), "spec.selector")
        return errs

    def _validate_ports(self, spec: Any) -> list[FieldError]:
        errs: list[FieldError] = []
        names: set[str] = set()
        seen: set[tuple[int, str]] = set()
        for i, port in enumerate(spec.ports):  # validateServicePort
            path = f"spec.ports[{i}]"
            if len(spec.ports) > 1 and not port.name:
                errs.append(required(f"{path}.name", ""))
            elif port.name:
                errs += [invalid(f"{path}.name", port.name, m) for m in is_dns1123_label(port.name)]
                if port.name in names:
                    errs.append(duplicate(f"{path}.name", port.name))
                names.add(port.name)
            if not 1 <= port.port <= 65535:
                errs.append(invalid(f"{path}.port", port.port, "must be between 1 and 65535, inclusive"))
            if port.protocol not in PROTOCOLS:  # an empty one was defaulted to TCP
                errs.append(not_supported(f"{path}.protocol", port.protocol, PROTOCOLS))
            errs += self._validate_target_port(port, path)
        for i, port in enumerate(spec.ports):
            path = f"spec.ports[{i}]"
            if port.node_port:
                if not _has_node_ports(spec):
                    errs.append(forbidden(f"{path}.nodePort", f"may not be used when `type` is '{spec.type}'"))
                elif not 1 <= port.node_port <= 65535:
                    errs.append(invalid(f"{path}.nodePort", port.node_port, "must be between 1 and 65535, inclusive"))
        for i, port in enumerate(spec.ports):
            path = f"spec.ports[{i}]"
            if (port.port, port.protocol) in seen:  # the key printed as Go's %#v of a core.ServicePort
                errs.append(duplicate(path, GoValue(
                    f'core.ServicePort{{Name:"", Protocol:{go_quote(port.protocol)}, AppProtocol:(*string)(nil), '
                    f'Port:{port.port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}')))
            seen.add((port.port, port.protocol))
        return errs

    @staticmethod
    def _validate_target_port(port: Any, path: str) -> list[FieldError]:
        """``ValidatePortNumOrName``."""
        target = int_or_string(port.target_port)
        if isinstance(target, int) and not 1 <= target <= 65535:
            return [invalid(f"{path}.targetPort", target, "must be between 1 and 65535, inclusive")]
        if isinstance(target, str):
            return [invalid(f"{path}.targetPort", target, m) for m in is_valid_port_name(target)]
        return []

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        if old.spec.type == "ExternalName" or new.spec.type == "ExternalName":
            return []
        if new.spec.cluster_ip != old.spec.cluster_ip:
            return [invalid("spec.clusterIPs[0]", new.spec.cluster_ip, "may not change once set")]
        return []

    def prepare_for_update(self, new: Any, old: Any) -> None:
        super().prepare_for_update(new, old)
        if not new.spec.cluster_ip and old.spec.cluster_ip and new.spec.type != "ExternalName" \
                and old.spec.type != "ExternalName":
            new.spec.cluster_ip = old.spec.cluster_ip
            del new.spec.cluster_ips[:]
            new.spec.cluster_ips.extend(old.spec.cluster_ips)
        old_ports = {(p.port, p.protocol): p.node_port for p in old.spec.ports}
        if _has_node_ports(new.spec):
            for port in new.spec.ports:
                if not port.node_port and old_ports.get((port.port, port.protocol or "TCP")):
                    port.node_port = old_ports[(port.port, port.protocol or "TCP")]

    # ---- allocation ----

    async def before_create(self, obj: Any) -> Undo:
        return await self._allocate(obj, held_ip="", held_ports=set())

    async def before_update(self, new: Any, old: Any) -> Undo:
        held_ip = old.spec.cluster_ip if _wants_cluster_ip(old.spec) else ""
        held_ports = {str(p.node_port) for p in old.spec.ports if p.node_port}
        return await self._allocate(new, held_ip=held_ip, held_ports=held_ports)

    async def after_update(self, new: Any, old: Any) -> None:
        owner = _owner(old)
        if _wants_cluster_ip(old.spec) and old.spec.cluster_ip and old.spec.cluster_ip != new.spec.cluster_ip:
            await self.ips.release(old.spec.cluster_ip, owner)
        kept = {p.node_port for p in new.spec.ports if p.node_port}
        for port in old.spec.ports:
            if port.node_port and port.node_port not in kept:
                await self.ports.release(str(port.node_port), owner)

    async def after_delete(self, obj: Any) -> None:
        owner = _owner(obj)
        if _wants_cluster_ip(obj.spec) and obj.spec.cluster_ip:
            await self.ips.release(obj.spec.cluster_ip, owner)
        for port in obj.spec.ports:
            if port.node_port:
                await self.ports.release(str(port.node_port), owner)

    async def _allocate(self, obj: Any, *, held_ip: str, held_ports: set[str]) -> Undo:
        owner = _owner(obj)
        taken: list[tuple[Allocator, str]] = []

        async def undo() -> None:
            for allocator, value in taken:
                await allocator.release(value, owner)

        try:
            await self._allocate_ip(obj, owner, held_ip, taken)
            await self._allocate_ports(obj, owner, held_ports, taken)
        except BaseException:
            await undo()
            raise
        return undo

    def _invalid(self, obj: Any, field: str, value: object, detail: str) -> errors.Invalid:

        return invalid_error("Service", "", obj.metadata.name, [invalid(field, value, detail)])

    async def _allocate_ip(self, obj: Any, owner: str, held: str, taken: list[tuple[Allocator, str]]) -> None:
        spec = obj.spec
        if not _wants_cluster_ip(spec):
            if spec.type == "ExternalName":
                spec.ClearField("cluster_ip")
                del spec.cluster_ips[:]
            else:
                del spec.cluster_ips[:]
                spec.cluster_ips.append("None")
            return
        wanted = spec.cluster_ip
        if wanted and wanted == held:
            return
        if wanted:
            if not self.ips.contains(wanted):
                raise self._invalid(obj, "spec.clusterIPs", go_string_slice([wanted]),
                                    f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the "
                                    f"valid range. The range of valid IPs is {self.ips.describe}")
            try:
                await self.ips.allocate(wanted, owner)
            except AllocationError as exc:
                raise self._invalid(obj, "spec.clusterIPs", go_string_slice([wanted]),
                                    f"failed to allocate IP {wanted}: {exc}") from None
        else:
            try:
                wanted = await self.ips.allocate_next(owner)
            except AllocationError as exc:
                raise errors.InternalError(f"failed to allocate a serviceIP: {exc}") from None
            spec.cluster_ip = wanted
        taken.append((self.ips, wanted))
        del spec.cluster_ips[:]
        spec.cluster_ips.append(wanted)

    async def _allocate_ports(self, obj: Any, owner: str, held: set[str],
                              taken: list[tuple[Allocator, str]]) -> None:
        spec = obj.spec
        if not _has_node_ports(spec):
            for port in spec.ports:
                port.ClearField("node_port")
            return
        for i, port in enumerate(spec.ports):
            await self._allocate_port(obj, i, port, owner, held, taken)

    async def _allocate_port(self, obj: Any, i: int, port: Any, owner: str, held: set[str],
                             taken: list[tuple[Allocator, str]]) -> None:
        path = f"spec.ports[{i}].nodePort"
        if port.node_port:
            value = str(port.node_port)
            if value in held:
                return
            if not self.ports.contains(value):
                raise self._invalid(obj, path, port.node_port,
                                    f"provided port is not in the valid range. The range of valid ports is "
                                    f"{self.ports.describe}")
            try:
                await self.ports.allocate(value, owner)
            except AllocationError as exc:
                raise self._invalid(obj, path, port.node_port, str(exc)) from None
        else:
            try:
                value = await self.ports.allocate_next(owner)
            except AllocationError as exc:
                raise errors.InternalError(f"failed to allocate a nodePort: {exc}") from None
            port.node_port = int(value)
        taken.append((self.ports, value))


