"""Pods: defaults and validation of a pod spec (shared with every kind that has a pod template),
the pod strategy (graceful deletion, the fields pods are selected by), and binding.

Defaults are Kubernetes' (SetDefaults_Pod / _PodSpec / _Container / _Probe): restartPolicy Always,
dnsPolicy ClusterFirst, schedulerName default-scheduler, terminationGracePeriodSeconds 30,
imagePullPolicy Always for ``:latest`` or untagged images and IfNotPresent otherwise, probe
timings 1/10/1/3, container port protocol TCP, and the not-ready / unreachable tolerations of
300 s that the DefaultTolerationSeconds admission plugin adds.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from google.protobuf import json_format

from apiserver.registry.strategy import Strategy
from skiff.api.codec import int_or_string
from skiff.api.quantity import Quantity, parse_quantity
from skiff.api.validation import (
    FieldError,
    duplicate,
    forbidden,
    invalid,
    is_dns1123_label,
    is_relaxed_env_var_name,
    is_valid_port_name,
    not_found,
    not_supported,
    required,
    validate_labels,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")  # sorted, as sets.List(supportedPortProtocols) gives them
TOLERATION_OPERATORS = ("Equal", "Exists")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
DEFAULT_TOLERATION_SECONDS = 300
_NOT_READY = "node.kubernetes.io/not-ready"
_UNREACHABLE = "node.kubernetes.io/unreachable"


# ---- defaults ----


def default_pull_policy(image: str) -> str:
    """Always for ``:latest`` or no tag (and no digest), IfNotPresent otherwise."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def default_probe(probe: Any) -> None:
    for field, value in (("timeout_seconds", 1), ("period_seconds", 10), ("success_threshold", 1),
                         ("failure_threshold", 3)):
        if not probe.HasField(field):
            setattr(probe, field, value)
    if probe.HasField("http_get"):
        if not probe.http_get.HasField("path"):
            probe.http_get.path = "/"
        if not probe.http_get.HasField("scheme"):
            probe.http_get.scheme = "HTTP"


def default_container(c: Any) -> None:
    if not c.HasField("termination_message_path"):
        c.termination_message_path = "/dev/termination-log"
    if not c.HasField("termination_message_policy"):
        c.termination_message_policy = "File"
    if not c.HasField("image_pull_policy") and c.image:
        c.image_pull_policy = default_pull_policy(c.image)
    for port in c.ports:
        if not port.protocol:  # SetDefaults_ContainerPort: an empty protocol is TCP
            port.protocol = "TCP"
    for name in ("liveness_probe", "readiness_probe", "startup_probe"):
        if c.HasField(name):
            default_probe(getattr(c, name))
    for env in c.env:
        ref = env.value_from.field_ref if env.HasField("value_from") else None
        if ref is not None and env.value_from.HasField("field_ref") and not ref.HasField("api_version"):
            ref.api_version = "v1"
    if c.HasField("resources"):
        for key, value in c.resources.limits.items():
            if key not in c.resources.requests:
                c.resources.requests[key] = value


def default_pod_spec(spec: Any) -> None:
    defaults = (("restart_policy", "Always"), ("dns_policy", "ClusterFirst"),
                ("scheduler_name", "default-scheduler"), ("termination_grace_period_seconds", 30),
                ("enable_service_links", True))
    for field, value in defaults:
        if not spec.HasField(field):
            setattr(spec, field, value)
    if not spec.HasField("security_context"):
        spec.security_context.SetInParent()
    for c in (*spec.init_containers, *spec.containers):
        default_container(c)
    for volume in spec.volumes:
        _default_volume(volume)


def _default_volume(volume: Any) -> None:
    if volume.HasField("secret") and not volume.secret.HasField("default_mode"):
        volume.secret.default_mode = 0o644
    if volume.HasField("config_map") and not volume.config_map.HasField("default_mode"):
        volume.config_map.default_mode = 0o644
    if volume.HasField("downward_api") and not volume.downward_api.HasField("default_mode"):
        volume.downward_api.default_mode = 0o644
    if volume.HasField("host_path") and not volume.host_path.HasField("type"):
        volume.host_path.type = ""


def add_default_tolerations(spec: Any) -> None:
    """DefaultTolerationSeconds: tolerate not-ready/unreachable NoExecute for 300 s."""
    for key in (_NOT_READY, _UNREACHABLE):
        if any(t.key == key and t.effect in ("NoExecute", "") for t in spec.tolerations):
            continue
        if any(not t.key and t.operator == "Exists" for t in spec.tolerations):
            continue
        t = spec.tolerations.add()
        t.key, t.operator, t.effect, t.toleration_seconds = key, "Exists", "NoExecute", DEFAULT_TOLERATION_SECONDS


# ---- validation ----


def _check_quantity(value: str, path: str, errs: list[FieldError]) -> Quantity | None:
    """The parsed quantity, or None with the error appended when it is negative. Every quantity
    was read when the request was decoded (apiserver.registry.quantities), so it parses."""
    q = parse_quantity(value)
    if q.sign < 0:
        errs.append(invalid(path, value, "must be greater than or equal to 0"))
        return None
    return q


def validate_resources(res: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    limits = {name: _check_quantity(value, f"{path}.limits[{name}]", errs) for name, value in res.limits.items()}
    for name, value in res.requests.items():
        req = _check_quantity(value, f"{path}.requests[{name}]", errs)
        limit = limits.get(name)
        if req is not None and limit is not None and req > limit:
            # ValidateResourceRequirements reports this one on `requests` itself, quantities canonical
            errs.append(invalid(f"{path}.requests", str(req), f"must be less than or equal to {name} limit of {limit}"))
    return errs


def _validate_port_value(port: int, path: str) -> list[FieldError]:
    if not 1 <= port <= 65535:
        return [invalid(path, port, "must be between 1 and 65535, inclusive")]
    return []


def _validate_probe(probe: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    # validateHandler: the first handler set is validated, each further one is Forbidden at its own path
    handlers = [(h, camel) for h, camel in (("exec", "exec"), ("http_get", "httpGet"), ("tcp_socket", "tcpSocket"),
                                            ("grpc", "grpc")) if probe.HasField(h)]
    if not handlers:
        errs.append(required(path, "must specify a handler type"))
    for _, camel in handlers[1:]:
        errs.append(forbidden(f"{path}.{camel}", "may not specify more than 1 handler type"))
    if handlers and handlers[0][0] == "exec" and not probe.exec.command:
        errs.append(required(f"{path}.exec.command", ""))
    for field, camel in (("initial_delay_seconds", "initialDelaySeconds"), ("timeout_seconds", "timeoutSeconds"),
                         ("period_seconds", "periodSeconds"), ("success_threshold", "successThreshold"),
                         ("failure_threshold", "failureThreshold")):
        value = getattr(probe, field)
        if value < 0:
            errs.append(invalid(f"{path}.{camel}", value, "must be greater than or equal to 0"))
    for handler, camel in (("http_get", "httpGet"), ("tcp_socket", "tcpSocket")):
        if handlers and handlers[0][0] == handler:
            port = int_or_string(getattr(probe, handler).port)
            ppath = f"{path}.{camel}.port"
            if port is None:
                errs.append(required(ppath, ""))
            elif isinstance(port, int):
                errs += _validate_port_value(port, ppath)
            else:  # a name is checked for its form only, as Kubernetes does; the kubelet resolves it
                errs += [invalid(ppath, port, m) for m in is_valid_port_name(port)]
    return errs


def validate_container(c: Any, path: str, volumes: set[str], *, init: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    if not c.name:
        errs.append(required(f"{path}.name", ""))
    else:
        errs += [invalid(f"{path}.name", c.name, m) for m in is_dns1123_label(c.name)]
    if not c.image:
        errs.append(required(f"{path}.image", ""))
    if c.HasField("image_pull_policy") and c.image_pull_policy not in PULL_POLICIES:
        errs.append(not_supported(f"{path}.imagePullPolicy", c.image_pull_policy, PULL_POLICIES))
    port_names: set[str] = set()
    for i, port in enumerate(c.ports):  # validateContainerPorts
        ppath = f"{path}.ports[{i}]"
        if port.name:
            name_errs = is_valid_port_name(port.name)
            if name_errs:
                errs += [invalid(f"{ppath}.name", port.name, m) for m in name_errs]
            elif port.name in port_names:
                errs.append(duplicate(f"{ppath}.name", port.name))
            else:
                port_names.add(port.name)
        if port.container_port == 0:
            errs.append(required(f"{ppath}.containerPort", ""))
        else:
            errs += _validate_port_value(port.container_port, f"{ppath}.containerPort")
        if port.HasField("host_port") and port.host_port != 0:
            errs += _validate_port_value(port.host_port, f"{ppath}.hostPort")
        if port.HasField("protocol") and port.protocol not in PROTOCOLS:
            errs.append(not_supported(f"{ppath}.protocol", port.protocol, PROTOCOLS))
    for i, env in enumerate(c.env):  # validateEnv, with 1.32's RelaxedEnvironmentVariableValidation (beta, on)
        if not env.name:
            errs.append(required(f"{path}.env[{i}].name", ""))
        else:
            errs += [invalid(f"{path}.env[{i}].name", env.name, m) for m in is_relaxed_env_var_name(env.name)]
        if env.HasField("value") and env.HasField("value_from") and env.value:
            errs.append(invalid(f"{path}.env[{i}].valueFrom", "",
                                "may not be specified when `value` is not empty"))
    if c.HasField("resources"):
        errs += validate_resources(c.resources, f"{path}.resources")
    mount_paths: set[str] = set()
    for i, mount in enumerate(c.volume_mounts):
        mpath = f"{path}.volumeMounts[{i}]"
        if not mount.name:
            errs.append(required(f"{mpath}.name", ""))
        elif mount.name not in volumes:
            errs.append(not_found(f"{mpath}.name", mount.name))
        if not mount.mount_path:
            errs.append(required(f"{mpath}.mountPath", ""))
        elif mount.mount_path in mount_paths:
            errs.append(invalid(f"{mpath}.mountPath", mount.mount_path, "must be unique"))
        mount_paths.add(mount.mount_path)
    for name, camel in (("liveness_probe", "livenessProbe"), ("readiness_probe", "readinessProbe"),
                        ("startup_probe", "startupProbe")):
        if c.HasField(name):
            if init and c.restart_policy != "Always":
                errs.append(forbidden(f"{path}.{camel}", "may not be set for init containers"))
            else:
                probe = getattr(c, name)
                errs += _validate_probe(probe, f"{path}.{camel}")
                if name != "readiness_probe" and probe.success_threshold != 1:  # validateLiveness/StartupProbe
                    errs.append(invalid(f"{path}.{camel}.successThreshold", probe.success_threshold, "must be 1"))
    return errs


def _validate_volume(v: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not v.name:
        errs.append(required(f"{path}.name", ""))
    else:
        errs += [invalid(f"{path}.name", v.name, m) for m in is_dns1123_label(v.name)]
    sources = [f.name for f, _ in v.ListFields() if f.name != "name"]
    if not sources:
        errs.append(required(path, "must specify a volume type"))
    elif len(sources) > 1:
        errs.append(forbidden(path, "may not specify more than 1 volume type"))
    if v.HasField("host_path") and not v.host_path.path:
        errs.append(required(f"{path}.hostPath.path", ""))
    if v.HasField("persistent_volume_claim") and not v.persistent_volume_claim.claim_name:
        errs.append(required(f"{path}.persistentVolumeClaim.claimName", ""))
    if v.HasField("secret") and not v.secret.secret_name:
        errs.append(required(f"{path}.secret.secretName", ""))
    limit = v.empty_dir.size_limit if v.HasField("empty_dir") and v.empty_dir.HasField("size_limit") else None
    if limit is not None and parse_quantity(limit).sign < 0:  # validateVolumeSource's words
        errs.append(forbidden(f"{path}.emptyDir.sizeLimit", "SizeLimit field must be a valid resource quantity"))
    return errs


def validate_pod_spec(spec: Any, path: str, *, restart_policies: tuple[str, ...] = RESTART_POLICIES,
                      claim_volumes: frozenset[str] = frozenset()) -> list[FieldError]:
    """``claim_volumes``: names a StatefulSet's volumeClaimTemplates add to its pods' volumes."""
    errs: list[FieldError] = []
    volumes: set[str] = set(claim_volumes)
    for i, v in enumerate(spec.volumes):
        errs += _validate_volume(v, f"{path}.volumes[{i}]")
        if v.name in volumes:
            errs.append(duplicate(f"{path}.volumes[{i}].name", v.name))
        volumes.add(v.name)
    if not spec.containers:
        errs.append(required(f"{path}.containers", ""))
    names: set[str] = set()
    # ValidatePodSpec checks containers first, then init containers (whose names may not repeat any)
    for field, camel, init in (("containers", "containers", False), ("init_containers", "initContainers", True)):
        for i, c in enumerate(getattr(spec, field)):
            cpath = f"{path}.{camel}[{i}]"
            errs += validate_container(c, cpath, volumes, init=init)
            if c.name in names:  # an unnamed regular container counts too, as in validateContainers
                errs.append(duplicate(f"{cpath}.name", c.name))
            elif c.name or not init:
                names.add(c.name)
    if spec.HasField("restart_policy") and spec.restart_policy not in restart_policies:
        errs.append(not_supported(f"{path}.restartPolicy", spec.restart_policy, restart_policies))
    if spec.HasField("dns_policy") and spec.dns_policy not in DNS_POLICIES:
        errs.append(not_supported(f"{path}.dnsPolicy", spec.dns_policy, DNS_POLICIES))
    if spec.termination_grace_period_seconds < 0:
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", spec.termination_grace_period_seconds,
                            "must be greater than or equal to 0"))
    if spec.HasField("active_deadline_seconds") and spec.active_deadline_seconds <= 0:
        errs.append(invalid(f"{path}.activeDeadlineSeconds", spec.active_deadline_seconds,
                            "must be between 1 and 2147483647, inclusive"))
    errs += validate_labels(dict(spec.node_selector), f"{path}.nodeSelector")
    for i, t in enumerate(spec.tolerations):
        errs += _validate_toleration(t, f"{path}.tolerations[{i}]")
    if spec.hostname:
        errs += [invalid(f"{path}.hostname", spec.hostname, m) for m in is_dns1123_label(spec.hostname)]
    if spec.subdomain:
        errs += [invalid(f"{path}.subdomain", spec.subdomain, m) for m in is_dns1123_label(spec.subdomain)]
    return errs


def _validate_toleration(t: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if t.HasField("operator") and t.operator not in TOLERATION_OPERATORS:
        errs.append(not_supported(f"{path}.operator", t.operator, TOLERATION_OPERATORS))
    if t.operator == "Exists" and t.value:
        errs.append(invalid(f"{path}.operator", t.value, "value must be empty when `operator` is 'Exists'"))
    if not t.key and t.operator != "Exists":
        errs.append(invalid(f"{path}.operator", t.operator,
                            'operator must be Exists when `key` is empty, which means "match all values '
                            'and all keys"'))
    if t.effect and t.effect not in TAINT_EFFECTS:
        errs.append(not_supported(f"{path}.effect", t.effect, TAINT_EFFECTS))
    if t.HasField("toleration_seconds") and t.effect != "NoExecute":
        errs.append(invalid(f"{path}.effect", t.effect,
                            "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    return errs


def validate_template(template: Any, path: str, selector_labels: dict[str, str] | None,
                      *, restart_policies: tuple[str, ...] = RESTART_POLICIES,
                      claim_volumes: frozenset[str] = frozenset()) -> list[FieldError]:
    errs = validate_labels(dict(template.metadata.labels), f"{path}.metadata.labels")
    errs += validate_pod_spec(template.spec, f"{path}.spec", restart_policies=restart_policies,
                              claim_volumes=claim_volumes)
    return errs


# ---- the strategy ----


class PodStrategy(Strategy):
    extra_field_names = ("spec.nodeName", "spec.schedulerName", "spec.restartPolicy", "spec.serviceAccountName",
                         "status.phase", "status.podIP", "status.nominatedNodeName", "spec.hostNetwork")

    def default(self, obj: Any) -> None:
        default_pod_spec(obj.spec)
        add_default_tolerations(obj.spec)

    def prepare_for_create(self, obj: Any) -> None:
        super().prepare_for_create(obj)
        obj.status.phase = "Pending"
        obj.status.qos_class = qos_class(obj.spec)

    def validate(self, obj: Any) -> list[FieldError]:
        return super().validate(obj) + validate_pod_spec(obj.spec, "spec")

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        return validate_pod_update(new.spec, old.spec)

    def extra_fields(self, obj: Any) -> dict[str, str]:
        s, st = obj.spec, obj.status
        return {"spec.nodeName": s.node_name, "spec.schedulerName": s.scheduler_name,
                "spec.restartPolicy": s.restart_policy, "spec.serviceAccountName": s.service_account_name,
                "spec.hostNetwork": str(s.host_network).lower(), "status.phase": st.phase,
                "status.podIP": st.pod_ip, "status.nominatedNodeName": st.nominated_node_name}

    def grace_period(self, obj: Any, requested: int | None) -> int:
        """Unscheduled or finished pods go at once; a running one waits for its kubelet."""
        if not obj.spec.node_name or obj.status.phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(requested, 0)
        return int(obj.spec.termination_grace_period_seconds) if obj.spec.HasField(
            "termination_grace_period_seconds") else 30


POD_UPDATABLE_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)
_MAX_INT32 = 2**31 - 1


def validate_pod_update(new: Any, old: Any) -> list[FieldError]:
    """``ValidatePodUpdate`` on two pod specs (``ValidatePodSpec`` of the new one runs apart): only
    images, activeDeadlineSeconds (down, never unset), added tolerations and a negative grace
    period set to 1 may change; anything else is the one Forbidden error on ``spec``, followed on
    the next line by a diff of the two specs (Kubernetes prints ``cmp.Diff``'s; this one is a
    unified diff of their JSON — the first line is the part that matches)."""
    errs: list[FieldError] = []
    for field, camel in (("containers", "containers"), ("init_containers", "initContainers")):
        new_list, old_list = getattr(new, field), getattr(old, field)
        if len(new_list) != len(old_list):  # ValidateContainerUpdates stops the validation here
            return errs + [forbidden(f"spec.{camel}", "pod updates may not add or remove containers")]
        for i, c in enumerate(new_list):
            if not c.image:
                errs.append(required(f"spec.{camel}[{i}].image", ""))
            if c.image != c.image.strip():
                errs.append(invalid(f"spec.{camel}[{i}].image", c.image,
                                    "must not have leading or trailing whitespace"))
    if new.HasField("active_deadline_seconds"):
        value = new.active_deadline_seconds
        if value < 0 or value > _MAX_INT32:
            return errs + [invalid("spec.activeDeadlineSeconds", value,
                                   f"must be between 0 and {_MAX_INT32}, inclusive")]
        if old.HasField("active_deadline_seconds") and old.active_deadline_seconds < value:
            return errs + [invalid("spec.activeDeadlineSeconds", value, "must be less than or equal to previous value")]
    elif old.HasField("active_deadline_seconds"):
        errs.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    for old_toleration in old.tolerations:  # validateOnlyAddedTolerations
        wanted = type(old_toleration)()
        wanted.CopyFrom(old_toleration)
        found = False
        for t in new.tolerations:
            if t.HasField("toleration_seconds"):
                wanted.toleration_seconds = t.toleration_seconds
            else:
                wanted.ClearField("toleration_seconds")
            if wanted == t:
                found = True
                break
        if not found:
            errs.append(forbidden("spec.tolerations",
                                  "existing toleration can not be modified except its tolerationSeconds"))
            break
    munged = type(new)()
    munged.CopyFrom(new)
    for field in ("containers", "init_containers"):
        for c, before in zip(getattr(munged, field), getattr(old, field), strict=True):
            c.image = before.image
    if old.HasField("active_deadline_seconds"):
        munged.active_deadline_seconds = old.active_deadline_seconds
    else:
        munged.ClearField("active_deadline_seconds")
    del munged.tolerations[:]
    munged.tolerations.extend(old.tolerations)
    if old.termination_grace_period_seconds < 0 and munged.termination_grace_period_seconds == 1:
        munged.termination_grace_period_seconds = old.termination_grace_period_seconds
    if munged != old:
        detail = "pod updates may not change fields other than " + ",".join(POD_UPDATABLE_FIELDS)
        errs.append(forbidden("spec", f"{detail}\n{_spec_diff(old, munged)}"))
    return errs


def _spec_diff(old: Any, new: Any) -> str:
    def lines(spec: Any) -> list[str]:
        return json.dumps(json_format.MessageToDict(spec), indent=1, sort_keys=True).splitlines()

    return "\n".join(line for line in difflib.unified_diff(lines(old), lines(new), lineterm="", n=1)
                     if not line.startswith(("---", "+++")))


def qos_class(spec: Any) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = [*spec.init_containers, *spec.containers]
    any_set = any(c.resources.requests or c.resources.limits for c in containers)
    if not any_set:
        return "BestEffort"
    for c in containers:
        for res in ("cpu", "memory"):
            limit = c.resources.limits.get(res)
            if limit is None or c.resources.requests.get(res, limit) != limit:
                return "Burstable"
    return "Guaranteed"
