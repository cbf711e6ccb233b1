"""The Pod describer, and the container, volume, scheduling and pod-template sections that the
workload describers share with it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from skiff.api.v1 import core_pb2
from skiff.cli.describe.text import (
    Out,
    Related,
    Row,
    annotation_items,
    by_key,
    controlled_by,
    events,
    fmt_time,
    header,
    ios,
    or_none,
    pairs,
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


def _env_source(e: core_pb2.EnvFromSource) -> str:
    kind, ref = ("ConfigMap", e.config_map_ref) if e.HasField("config_map_ref") else ("Secret", e.secret_ref)
    prefix = f" with prefix '{e.prefix}'" if e.prefix else ""
    return f"{ref.name}\t{kind}{prefix}\tOptional: {str(ref.optional).lower()}"


def _env(out: Out, c: core_pb2.Container) -> None:
    out.section(2, "Environment Variables from", [_env_source(e) for e in c.env_from], none=False)
    out.section(2, "Environment", [(env.name, _env_value(env)) for env in c.env])


def _mount(m: core_pb2.VolumeMount) -> str:
    flags = ["ro" if m.read_only else "rw"] + ([f'path="{m.sub_path}"'] if m.sub_path else [])
    return f"{m.mount_path} from {m.name} ({','.join(flags)})"


def _state(out: Out, title: str, state: core_pb2.ContainerState) -> None:
    """``State:  Running`` (or Terminated, Waiting) with its details one level in."""
    details: list[Row]
    if state.HasField("running"):
        name, details = "Running", [("Started", fmt_time(state.running.started_at))]
    elif state.HasField("terminated"):
        t = state.terminated
        name, details = "Terminated", [("Reason", t.reason or None), ("Message", t.message or None),
                                       ("Exit Code", t.exit_code), ("Signal", t.signal or None),
                                       ("Started", fmt_time(t.started_at)), ("Finished", fmt_time(t.finished_at))]
    else:
        name, details = "Waiting", [("Reason", state.waiting.reason or None)]
    out.rows(2, (title, name))
    out.rows(3, *details)


def containers(out: Out, title: str, items: Sequence[core_pb2.Container],
               statuses: Sequence[core_pb2.ContainerStatus] | None, *, space: str = "") -> None:
    """A ``Containers:`` section; with ``statuses`` (a pod's) also IDs, State, Ready, Restart Count."""
    out.w(1 if space else 0, f"{title}:")
    by_name = {s.name: s for s in statuses or ()}
    for c in items:
        status = by_name.get(c.name)
        out.w(1, f"{space}{c.name}:")
        ports, host_ports = _ports(c.ports, False), _ports(c.ports, True)
        out.rows(2, ("Container ID", None if status is None else status.container_id), ("Image", c.image),
                 ("Image ID", None if status is None else status.image_id),
                 ("Ports" if "," in ports else "Port", or_none(ports)),
                 ("Host Ports" if "," in host_ports else "Host Port", or_none(host_ports)))
        out.section(2, "Command", c.command, none=False)
        out.section(2, "Args", c.args, none=False)
        if status is not None:
            _state(out, "State", status.state)
            if status.last_state.HasField("terminated"):
                _state(out, "Last State", status.last_state)
            out.rows(2, ("Ready", yes_no(status.ready)), ("Restart Count", status.restart_count))
        out.section(2, "Limits", by_key(c.resources.limits), none=False)
        out.section(2, "Requests", by_key(c.resources.requests), none=False)
        out.rows(2, *((name, _probe(probe)) for name, probe, present in (
            ("Liveness", c.liveness_probe, c.HasField("liveness_probe")),
            ("Readiness", c.readiness_probe, c.HasField("readiness_probe")),
            ("Startup", c.startup_probe, c.HasField("startup_probe"))) if present))
        _env(out, c)
        out.section(2, "Mounts", [_mount(m) for m in sorted(c.volume_mounts, key=lambda m: m.mount_path)])


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


def _volume_details(v: core_pb2.Volume) -> list[Row]:
    if v.HasField("empty_dir"):
        return [("Medium", v.empty_dir.medium), ("SizeLimit", v.empty_dir.size_limit or "<unset>")]
    if v.HasField("host_path"):
        return [("Path", v.host_path.path), ("HostPathType", v.host_path.type)]
    if v.HasField("secret"):
        return [("SecretName", v.secret.secret_name), ("Optional", str(v.secret.optional).lower())]
    if v.HasField("config_map"):
        return [("Name", v.config_map.name), ("Optional", str(v.config_map.optional).lower())]
    if v.HasField("persistent_volume_claim"):
        c = v.persistent_volume_claim
        return [("ClaimName", c.claim_name), ("ReadOnly", str(c.read_only).lower())]
    if v.HasField("nfs"):
        return [("Server", v.nfs.server), ("Path", v.nfs.path), ("ReadOnly", str(v.nfs.read_only).lower())]
    if v.HasField("image"):
        return [("Reference", v.image.reference), ("PullPolicy", v.image.pull_policy)]
    return []


def _volume(out: Out, level: int, v: core_pb2.Volume) -> None:
    source = next((f for f in _VOLUME_TYPES if v.HasField(f)), "")  # type: ignore[arg-type]
    out.w(level, f"{v.name}:")
    out.rows(level + 1, ("Type", _VOLUME_TYPES.get(source, "<unknown>")), *_volume_details(v))


def volumes(out: Out, level: int, items: Sequence[core_pb2.Volume]) -> None:
    out.section(level, "Volumes", items, _volume)


def toleration_text(t: core_pb2.Toleration) -> str:
    text = t.key + (f"={t.value}" if t.value else "") + (f":{t.effect}" if t.effect else "")
    if t.operator == "Exists" and not t.value:
        text += " op=Exists" if text else "op=Exists"
    if t.HasField("toleration_seconds"):
        text += f" for {t.toleration_seconds}s"
    return text


def scheduling(out: Out, level: int, spec: core_pb2.PodSpec) -> None:
    """``Node-Selectors:`` and ``Tolerations:``, one per line."""
    out.listing(level, "Node-Selectors", pairs(spec.node_selector))
    out.listing(level, "Tolerations", [toleration_text(t) for t in sorted(spec.tolerations, key=lambda t: t.key)])


def pod_template(out: Out, template: core_pb2.PodTemplateSpec) -> None:
    meta, spec = template.metadata, template.spec
    out.w(0, "Pod Template:")
    out.listing(1, "Labels", pairs(meta.labels))
    if meta.annotations:
        out.listing(1, "Annotations", annotation_items(meta.annotations))
    out.rows(1, ("Service Account", spec.service_account_name or None))
    if spec.init_containers:
        containers(out, "Init Containers", spec.init_containers, None, space=" ")
    containers(out, "Containers", spec.containers, None, space=" ")
    volumes(out, 1, spec.volumes)
    scheduling(out, 1, spec)


def describe_pod(pod: core_pb2.Pod, rel: Related, now: datetime, out: Out) -> None:
    meta, spec, status = pod.metadata, pod.spec, pod.status
    terminating = bool(meta.deletion_timestamp)
    header(out, 0, meta, ("Priority", spec.priority), ("Priority Class Name", spec.priority_class_name or None),
           ("Runtime Class Name", spec.runtime_class_name or None),
           ("Service Account", spec.service_account_name or "default"),
           ("Node", f"{spec.node_name}/{status.host_ip}" if spec.node_name else "<none>"),
           ("Start Time", fmt_time(status.start_time) if status.start_time else None))
    out.rows(0, ("Status", f"Terminating (lasts {since(meta.deletion_timestamp, now)})" if terminating
                 else status.phase),
             ("Termination Grace Period", f"{meta.deletion_grace_period_seconds}s" if terminating else None),
             ("Reason", status.reason or None), ("Message", status.message or None), ("IP", status.pod_ip))
    out.section(0, "IPs", [("IP", ip.ip) for ip in status.pod_ips])
    out.rows(0, *controlled_by(pod), ("NominatedNodeName", status.nominated_node_name or None))
    if spec.init_containers:
        containers(out, "Init Containers", spec.init_containers, status.init_container_statuses)
    containers(out, "Containers", spec.containers, status.container_statuses)
    out.table(0, "Conditions", ("Type", "Status"), [(c.type, c.status) for c in status.conditions], rule=())
    volumes(out, 0, spec.volumes)
    out.rows(0, ("QoS Class", status.qos_class or qos_class(spec)))
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
