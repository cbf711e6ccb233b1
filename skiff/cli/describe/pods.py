"""The Pod describer, and the container, volume, scheduling and pod-template sections that the
workload describers share with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from skiff.api.v1 import core_pb2
from skiff.cli.describe.text import (
    Out,
    Related,
    annotation_lines,
    controlled_by,
    events,
    fmt_time,
    ios,
    is_controlled_by,
    labels,
    multiline,
    or_none,
    since,
    yes_no,
)

# ---- containers and pod templates ----


def _ports(ports: Iterable[core_pb2.ContainerPort], host: bool) -> str:
    return ",".join(f"{p.host_port if host else p.container_port}/{p.protocol or 'TCP'}" for p in ports)


def _probe(probe: core_pb2.Probe) -> str:
    if probe.HasField("exec"):
        action = f"exec [{' '.join(probe.exec.command)}]"
    elif probe.HasField("http_get"):
        g = probe.http_get
        action = f"http-get {(g.scheme or 'HTTP').lower()}://{g.host}:{ios(g.port)}{g.path}"
    elif probe.HasField("tcp_socket"):
        action = f"tcp-socket {probe.tcp_socket.host}:{ios(probe.tcp_socket.port)}"
    elif probe.HasField("grpc"):
        action = f"grpc <pod>:{probe.grpc.port} {probe.grpc.service}"
    else:
        action = "unknown"
    p = probe
    timeout = p.timeout_seconds if p.HasField("timeout_seconds") else 1
    period = p.period_seconds if p.HasField("period_seconds") else 10
    success = p.success_threshold if p.HasField("success_threshold") else 1
    failure = p.failure_threshold if p.HasField("failure_threshold") else 3
    return (f"{action} delay={p.initial_delay_seconds}s timeout={timeout}s period={period}s "
            f"#success={success} #failure={failure}")


def _env_value(env: core_pb2.EnvVar) -> str:
    if not env.HasField("value_from"):
        return env.value
    src = env.value_from
    if src.HasField("secret_key_ref"):
        r = src.secret_key_ref
        return f"<set to the key '{r.key}' in secret '{r.name}'>\tOptional: {str(r.optional).lower()}"
    if src.HasField("config_map_key_ref"):
        c = src.config_map_key_ref
        return f"<set to the key '{c.key}' of config map '{c.name}'>\tOptional: {str(c.optional).lower()}"
    if src.HasField("field_ref"):
        return f"({src.field_ref.api_version or 'v1'}:{src.field_ref.field_path})"
    if src.HasField("resource_field_ref"):
        return f"{src.resource_field_ref.resource}"
    return "<unknown>"


def _env(out: Out, c: core_pb2.Container) -> None:
    if c.env_from:
        out.w(2, "Environment Variables from:")
        for e in c.env_from:
            kind, ref = ("ConfigMap", e.config_map_ref) if e.HasField("config_map_ref") else ("Secret", e.secret_ref)
            prefix = f" with prefix '{e.prefix}'" if e.prefix else ""
            out.w(3, f"{ref.name}\t{kind}{prefix}\tOptional: {str(ref.optional).lower()}")
    if not c.env:
        out.w(2, "Environment:\t<none>")
        return
    out.w(2, "Environment:")
    for env in c.env:
        out.w(3, f"{env.name}:\t{_env_value(env)}")


def _mounts(out: Out, c: core_pb2.Container) -> None:
    if not c.volume_mounts:
        out.w(2, "Mounts:\t<none>")
        return
    out.w(2, "Mounts:")
    for m in sorted(c.volume_mounts, key=lambda m: m.mount_path):
        flags = ["ro" if m.read_only else "rw"] + ([f'path="{m.sub_path}"'] if m.sub_path else [])
        out.w(3, f"{m.mount_path} from {m.name} ({','.join(flags)})")


def _state(out: Out, title: str, state: core_pb2.ContainerState) -> None:
    if state.HasField("running"):
        out.w(2, f"{title}:\tRunning")
        out.w(3, f"Started:\t{fmt_time(state.running.started_at)}")
    elif state.HasField("terminated"):
        t = state.terminated
        out.w(2, f"{title}:\tTerminated")
        if t.reason:
            out.w(3, f"Reason:\t{t.reason}")
        if t.message:
            out.w(3, f"Message:\t{t.message}")
        out.w(3, f"Exit Code:\t{t.exit_code}")
        if t.signal:
            out.w(3, f"Signal:\t{t.signal}")
        out.w(3, f"Started:\t{fmt_time(t.started_at)}")
        out.w(3, f"Finished:\t{fmt_time(t.finished_at)}")
    elif state.HasField("waiting"):
        out.w(2, f"{title}:\tWaiting")
        if state.waiting.reason:
            out.w(3, f"Reason:\t{state.waiting.reason}")
    else:
        out.w(2, f"{title}:\tWaiting")


def _resources(out: Out, title: str, values: Mapping[str, str]) -> None:
    if values:
        out.w(2, f"{title}:")
        for name in sorted(values):
            out.w(3, f"{name}:\t{values[name]}")


def containers(out: Out, title: str, items: Sequence[core_pb2.Container],
               statuses: Sequence[core_pb2.ContainerStatus] | None, *, space: str = "") -> None:
    """A ``Containers:`` section; with ``statuses`` (a pod's) also IDs, State, Ready, Restart Count."""
    out.w(1 if space else 0, f"{title}:")
    by_name = {s.name: s for s in statuses or ()}
    for c in items:
        status = by_name.get(c.name)
        out.w(1, f"{space}{c.name}:")
        if status is not None:
            out.w(2, f"Container ID:\t{status.container_id}")
        out.w(2, f"Image:\t{c.image}")
        if status is not None:
            out.w(2, f"Image ID:\t{status.image_id}")
        ports, host_ports = _ports(c.ports, False), _ports(c.ports, True)
        out.w(2, f"{'Ports' if ',' in ports else 'Port'}:\t{or_none(ports)}")
        out.w(2, f"{'Host Ports' if ',' in host_ports else 'Host Port'}:\t{or_none(host_ports)}")
        for name, words in (("Command", c.command), ("Args", c.args)):
            if words:
                out.w(2, f"{name}:")
                for word in words:
                    out.w(3, word)
        if status is not None:
            _state(out, "State", status.state)
            if status.last_state.HasField("terminated"):
                _state(out, "Last State", status.last_state)
            out.w(2, f"Ready:\t{yes_no(status.ready)}")
            out.w(2, f"Restart Count:\t{status.restart_count}")
        _resources(out, "Limits", c.resources.limits)
        _resources(out, "Requests", c.resources.requests)
        for name, probe, present in (("Liveness", c.liveness_probe, c.HasField("liveness_probe")),
                                     ("Readiness", c.readiness_probe, c.HasField("readiness_probe")),
                                     ("Startup", c.startup_probe, c.HasField("startup_probe"))):
            if present:
                out.w(2, f"{name}:\t{_probe(probe)}")
        _env(out, c)
        _mounts(out, c)


_VOLUME_TYPES: dict[str, str] = {
    "empty_dir": "EmptyDir (a temporary directory that shares a pod's lifetime)",
    "host_path": "HostPath (bare host directory volume)",
    "secret": "Secret (a volume populated by a Secret)",
    "config_map": "ConfigMap (a volume populated by a ConfigMap)",
    "persistent_volume_claim": "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)",
    "downward_api": "DownwardAPI (a volume populated by information about the pod)",
    "projected": "Projected (a volume that contains injected data from multiple sources)",
    "nfs": "NFS (an NFS mount that lasts the lifetime of a pod)",
    "image": "Image (a container image or OCI artifact)",
}


def _volume_details(v: core_pb2.Volume) -> list[str]:
    if v.HasField("empty_dir"):
        return [f"Medium:\t{v.empty_dir.medium}", f"SizeLimit:\t{v.empty_dir.size_limit or '<unset>'}"]
    if v.HasField("host_path"):
        return [f"Path:\t{v.host_path.path}", f"HostPathType:\t{v.host_path.type}"]
    if v.HasField("secret"):
        return [f"SecretName:\t{v.secret.secret_name}", f"Optional:\t{str(v.secret.optional).lower()}"]
    if v.HasField("config_map"):
        return [f"Name:\t{v.config_map.name}", f"Optional:\t{str(v.config_map.optional).lower()}"]
    if v.HasField("persistent_volume_claim"):
        c = v.persistent_volume_claim
        return [f"ClaimName:\t{c.claim_name}", f"ReadOnly:\t{str(c.read_only).lower()}"]
    if v.HasField("nfs"):
        return [f"Server:\t{v.nfs.server}", f"Path:\t{v.nfs.path}", f"ReadOnly:\t{str(v.nfs.read_only).lower()}"]
    if v.HasField("image"):
        return [f"Reference:\t{v.image.reference}", f"PullPolicy:\t{v.image.pull_policy}"]
    return []


def volumes(out: Out, level: int, items: Sequence[core_pb2.Volume]) -> None:
    if not items:
        out.w(level, "Volumes:\t<none>")
        return
    out.w(level, "Volumes:")
    for v in items:
        out.w(level + 1, f"{v.name}:")
        source = next((f for f in _VOLUME_TYPES if v.HasField(f)), "")  # type: ignore[arg-type]
        out.w(level + 2, f"Type:\t{_VOLUME_TYPES.get(source, '<unknown>')}")
        for line in _volume_details(v):
            out.w(level + 2, line)


def toleration_text(t: core_pb2.Toleration) -> str:
    text = t.key + (f"={t.value}" if t.value else "") + (f":{t.effect}" if t.effect else "")
    if t.operator == "Exists" and not t.value:
        text += " op=Exists" if text else "op=Exists"
    if t.HasField("toleration_seconds"):
        text += f" for {t.toleration_seconds}s"
    return text


def scheduling(out: Out, level: int, spec: core_pb2.PodSpec) -> None:
    """``Node-Selectors:`` and ``Tolerations:``, one per line."""
    labels(out, level, "Node-Selectors", spec.node_selector)
    ordered = sorted(spec.tolerations, key=lambda t: t.key)
    multiline(out, level, "Tolerations", [toleration_text(t) for t in ordered])


def pod_template(out: Out, template: core_pb2.PodTemplateSpec) -> None:
    out.w(0, "Pod Template:")
    labels(out, 1, "Labels", template.metadata.labels)
    if template.metadata.annotations:
        annotation_lines(out, 1, template.metadata.annotations)
    if template.spec.service_account_name:
        out.w(1, f"Service Account:\t{template.spec.service_account_name}")
    if template.spec.init_containers:
        containers(out, "Init Containers", template.spec.init_containers, None, space=" ")
    containers(out, "Containers", template.spec.containers, None, space=" ")
    volumes(out, 1, template.spec.volumes)
    scheduling(out, 1, template.spec)


def conditions(out: Out, items: Sequence[Any], *, reason: bool = True, dashes: bool = True) -> None:
    if not items:
        return
    out.w(0, "Conditions:")
    out.w(1, "Type\tStatus" + ("\tReason" if reason else ""))
    if dashes:
        out.w(1, "----\t------" + ("\t------" if reason else ""))
    for c in items:
        out.w(1, f"{c.type}\t{c.status}" + (f"\t{c.reason}" if reason else ""))


def pods_status(out: Out, pods: Sequence[core_pb2.Pod], owner_uid: str) -> None:
    counts = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for pod in pods:
        if is_controlled_by(pod.metadata, owner_uid) and pod.status.phase in counts:
            counts[pod.status.phase] += 1
    out.w(0, f"Pods Status:\t{counts['Running']} Running / {counts['Pending']} Waiting / "
             f"{counts['Succeeded']} Succeeded / {counts['Failed']} Failed")


def describe_pod(pod: core_pb2.Pod, rel: Related, now: datetime, out: Out) -> None:
    meta, spec, status = pod.metadata, pod.spec, pod.status
    out.w(0, f"Name:\t{meta.name}")
    out.w(0, f"Namespace:\t{meta.namespace}")
    out.w(0, f"Priority:\t{spec.priority}")
    if spec.priority_class_name:
        out.w(0, f"Priority Class Name:\t{spec.priority_class_name}")
    if spec.runtime_class_name:
        out.w(0, f"Runtime Class Name:\t{spec.runtime_class_name}")
    out.w(0, f"Service Account:\t{spec.service_account_name or 'default'}")
    out.w(0, f"Node:\t{spec.node_name + '/' + status.host_ip if spec.node_name else '<none>'}")
    if status.start_time:
        out.w(0, f"Start Time:\t{fmt_time(status.start_time)}")
    labels(out, 0, "Labels", meta.labels)
    annotation_lines(out, 0, meta.annotations)
    if meta.deletion_timestamp:
        out.w(0, f"Status:\tTerminating (lasts {since(meta.deletion_timestamp, now)})")
        out.w(0, f"Termination Grace Period:\t{meta.deletion_grace_period_seconds}s")
    else:
        out.w(0, f"Status:\t{status.phase}")
    if status.reason:
        out.w(0, f"Reason:\t{status.reason}")
    if status.message:
        out.w(0, f"Message:\t{status.message}")
    out.w(0, f"IP:\t{status.pod_ip}")
    if status.pod_ips:
        out.w(0, "IPs:")
        for ip in status.pod_ips:
            out.w(1, f"IP:\t{ip.ip}")
    else:
        out.w(0, "IPs:\t<none>")
    controlled_by(out, meta)
    if status.nominated_node_name:
        out.w(0, f"NominatedNodeName:\t{status.nominated_node_name}")
    if spec.init_containers:
        containers(out, "Init Containers", spec.init_containers, status.init_container_statuses)
    containers(out, "Containers", spec.containers, status.container_statuses)
    conditions(out, status.conditions, reason=False, dashes=False)
    volumes(out, 0, spec.volumes)
    out.w(0, f"QoS Class:\t{status.qos_class or qos_class(spec)}")
    scheduling(out, 0, spec)
    events(out, rel.events, now)


def qos_class(spec: core_pb2.PodSpec) -> str:
    """Guaranteed (every container's cpu and memory limits equal its requests), BestEffort
    (nothing requested or limited), else Burstable."""
    all_containers = [*spec.init_containers, *spec.containers]
    if not any(c.resources.limits or c.resources.requests for c in all_containers):
        return "BestEffort"
    for c in all_containers:
        for resource in ("cpu", "memory"):
            limit = c.resources.limits.get(resource)
            request = c.resources.requests.get(resource, limit)
            if limit is None or request != limit:
                return "Burstable"
    return "Guaranteed"
