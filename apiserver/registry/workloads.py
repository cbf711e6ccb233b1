"""Workload kinds: ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, CronJob, ControllerRevision.

Defaults follow Kubernetes' apps/v1 and batch/v1 (Deployment: replicas 1, RollingUpdate 25%/25%,
revisionHistoryLimit 10, progressDeadlineSeconds 600; Job: backoffLimit 6, parallelism and
completions 1, a generated selector on the job's uid; CronJob: concurrencyPolicy Allow, history
limits 3 and 1). Validation checks what a person most often gets wrong: a selector that does
not match the template's labels, negative counts, a restartPolicy the kind cannot run, a
maxSurge and maxUnavailable that are both zero; and selectors are immutable after create.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apiserver.registry.pods import RESTART_POLICIES, default_pod_spec, validate_template
from apiserver.registry.strategy import Strategy
from skiff.api import cron
from skiff.api.codec import int_or_string
from skiff.api.labels import selector_from_proto, validate_label_selector
from skiff.api.strconv import atoi
from skiff.api.validation import (
    FieldError,
    GoValue,
    forbidden,
    go_quote,
    go_string_map,
    invalid,
    not_supported,
    required,
)

_PERCENT = re.compile(r"[0-9]+%")
_PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%' "
                "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")


def selector_value(spec: Any) -> object:
    """``spec.selector`` as ``ErrorBody`` prints a ``*metav1.LabelSelector``: its gogo-protobuf
    ``String()``, or "null" when there is none."""
    if not spec.HasField("selector"):
        return "null"
    selector = spec.selector
    labels = "".join(f"{k}: {selector.match_labels[k]}," for k in sorted(selector.match_labels))
    expressions = "".join(
        f"LabelSelectorRequirement{{Key:{e.key},Operator:{e.operator},Values:[{' '.join(e.values)}],}},"
        for e in selector.match_expressions)
    return GoValue(f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
                   f"MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}")


def _int_or_string_value(value: Any) -> GoValue:
    """An ``intstr.IntOrString`` as ``ErrorBody`` prints it: its ``String()``, bare."""
    raw = int_or_string(value)
    return GoValue(str(raw if raw is not None else 0))


def _non_negative(value: int, path: str) -> list[FieldError]:
    if value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def _validate_selector_and_template(spec: Any, *, restart_policies: tuple[str, ...] = ("Always",),
                                    selector_required: bool = True, empty_selector_for: str = "deployment",
                                    claim_volumes: frozenset[str] = frozenset()) -> list[FieldError]:
    """``ValidateDeploymentSpec``'s / ``ValidateReplicaSetSpec``'s selector and template part: the
    template (a value, never absent in Kubernetes) is checked against the selector, a missing one
    included, unless the selector cannot be built at all. An empty selector is refused naming
    ``empty_selector_for`` as Kubernetes does (a ReplicaSet's message says "deployment" there too);
    "" allows it (a Job's)."""
    errs: list[FieldError] = []
    has_selector = spec.HasField("selector")
    if not has_selector:
        if selector_required:
            errs.append(required("spec.selector", ""))
    else:
        errs += validate_label_selector(spec.selector, "spec.selector")
        if empty_selector_for and not spec.selector.match_labels and not spec.selector.match_expressions:
            errs.append(invalid("spec.selector", selector_value(spec),
                                f"empty selector is invalid for {empty_selector_for}"))
    labels = dict(spec.template.metadata.labels)
    try:
        selector = selector_from_proto(spec.selector if has_selector else None)
    except ValueError:
        errs.append(invalid("spec.selector", selector_value(spec), "invalid label selector"))
        return errs
    if (has_selector or selector_required) and not selector.empty and not selector.matches(labels):
        errs.append(invalid("spec.template.metadata.labels", go_string_map(labels),
                            "`selector` does not match template `labels`"))
    errs += validate_template(spec.template, "spec.template", labels, restart_policies=RESTART_POLICIES,
                              claim_volumes=claim_volumes)
    policy = spec.template.spec.restart_policy
    if policy and policy not in restart_policies:
        errs.append(not_supported("spec.template.spec.restartPolicy", policy, restart_policies))
    return errs


def _int_or_percent(value: Any, path: str) -> list[FieldError]:
    """``ValidatePositiveIntOrPercent``."""
    raw = int_or_string(value)
    if raw is None:
        return []
    if isinstance(raw, str):
        if not _PERCENT.fullmatch(raw):
            return [invalid(path, _int_or_string_value(value), _PERCENT_MSG)]
        return []
    return _non_negative(raw, path)


def _percent_value(raw: int | str | None) -> int | None:
    """``getPercentValue``: the number of a valid percent string, else None."""
    if isinstance(raw, str) and _PERCENT.fullmatch(raw):
        return int(raw[:-1])
    return None


def _int_or_percent_value(value: Any) -> int:
    """``getIntOrPercentValue``: a percent's number, an int, or ``IntValue()`` of a string (0 unless
    it is a number)."""
    raw = int_or_string(value)
    percent = _percent_value(raw)
    if percent is not None:
        return percent
    if isinstance(raw, str):
        return int(raw) if re.fullmatch(r"[+-]?[0-9]+", raw) else 0
    return raw or 0


def _immutable_selector(new: Any, old: Any) -> list[FieldError]:
    """``ValidateImmutableField(new.Spec.Selector, old.Spec.Selector)`` (nil and empty maps are equal)."""
    if new.spec.selector.SerializeToString(deterministic=True) != old.spec.selector.SerializeToString(
            deterministic=True):
        return [invalid("spec.selector", selector_value(new.spec), "field is immutable")]
    return []


def _default_template(spec: Any) -> None:
    if spec.HasField("template"):
        default_pod_spec(spec.template.spec)


class ReplicaSetStrategy(Strategy):
    def default(self, obj: Any) -> None:
        if not obj.spec.HasField("replicas"):
            obj.spec.replicas = 1
        _default_template(obj.spec)

    def validate(self, obj: Any) -> list[FieldError]:
        errs = super().validate(obj) + _non_negative(obj.spec.replicas, "spec.replicas")
        errs += _non_negative(obj.spec.min_ready_seconds, "spec.minReadySeconds")
        return errs + _validate_selector_and_template(obj.spec)

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        return _immutable_selector(new, old)


class DeploymentStrategy(Strategy):
    def default(self, obj: Any) -> None:
        spec = obj.spec
        for field, value in (("replicas", 1), ("revision_history_limit", 10), ("progress_deadline_seconds", 600)):
            if not spec.HasField(field):
                setattr(spec, field, value)
        if not spec.strategy.HasField("type"):
            spec.strategy.type = "RollingUpdate"
        if spec.strategy.type == "RollingUpdate":
            ru = spec.strategy.rolling_update
            if not ru.HasField("max_unavailable"):
                ru.max_unavailable.str_val = "25%"
            if not ru.HasField("max_surge"):
                ru.max_surge.str_val = "25%"
        _default_template(spec)

    def validate(self, obj: Any) -> list[FieldError]:
        spec = obj.spec  # in ValidateDeploymentSpec's order
        errs = super().validate(obj) + _non_negative(spec.replicas, "spec.replicas")
        errs += _validate_selector_and_template(spec)
        errs += self._validate_strategy(spec)
        errs += _non_negative(spec.min_ready_seconds, "spec.minReadySeconds")
        errs += _non_negative(spec.revision_history_limit, "spec.revisionHistoryLimit")
        if spec.HasField("progress_deadline_seconds"):
            errs += _non_negative(spec.progress_deadline_seconds, "spec.progressDeadlineSeconds")
            if spec.progress_deadline_seconds <= spec.min_ready_seconds:
                errs.append(invalid("spec.progressDeadlineSeconds", spec.progress_deadline_seconds,
                                    "must be greater than minReadySeconds"))
        return errs

    def _validate_strategy(self, spec: Any) -> list[FieldError]:
        kind = spec.strategy.type
        if kind not in ("RollingUpdate", "Recreate"):  # the whole *apps.DeploymentStrategy, as %#v prints it
            rolling = ("(*apps.RollingUpdateDeployment)(0xc000000000)" if spec.strategy.HasField("rolling_update")
                       else "(*apps.RollingUpdateDeployment)(nil)")
            shown = GoValue(f"apps.DeploymentStrategy{{Type:{go_quote(kind)}, RollingUpdate:{rolling}}}")
            return [not_supported("spec.strategy", shown, ("Recreate", "RollingUpdate"))]
        ru = spec.strategy.rolling_update
        if kind == "Recreate":
            if spec.strategy.HasField("rolling_update"):
                return [forbidden("spec.strategy.rollingUpdate",
                                  "may not be specified when strategy `type` is 'Recreate'")]
            return []
        # ValidateRollingUpdateDeployment
        path = "spec.strategy.rollingUpdate"
        errs = _int_or_percent(ru.max_unavailable, f"{path}.maxUnavailable")
        errs += _int_or_percent(ru.max_surge, f"{path}.maxSurge")
        if _int_or_percent_value(ru.max_unavailable) == 0 and _int_or_percent_value(ru.max_surge) == 0:
            errs.append(invalid(f"{path}.maxUnavailable", _int_or_string_value(ru.max_unavailable),
                                "may not be 0 when `maxSurge` is 0"))
        percent = _percent_value(int_or_string(ru.max_unavailable))
        if percent is not None and percent > 100:  # IsNotMoreThan100Percent
            errs.append(invalid(f"{path}.maxUnavailable", _int_or_string_value(ru.max_unavailable),
                                "must not be greater than 100%"))
        return errs

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        return _immutable_selector(new, old)


class StatefulSetStrategy(Strategy):
    def default(self, obj: Any) -> None:
        spec = obj.spec
        for field, value in (("replicas", 1), ("pod_management_policy", "OrderedReady"),
                             ("revision_history_limit", 10)):
            if not spec.HasField(field):
                setattr(spec, field, value)
        if not spec.update_strategy.HasField("type"):
            spec.update_strategy.type = "RollingUpdate"
        if spec.update_strategy.type == "RollingUpdate" and not spec.update_strategy.rolling_update.HasField(
                "partition"):
            spec.update_strategy.rolling_update.partition = 0
        policy = spec.persistent_volume_claim_retention_policy
        if not policy.HasField("when_deleted"):
            policy.when_deleted = "Retain"
        if not policy.HasField("when_scaled"):
            policy.when_scaled = "Retain"
        for claim in spec.volume_claim_templates:
            if not claim.spec.HasField("volume_mode"):
                claim.spec.volume_mode = "Filesystem"
        _default_template(spec)

    def validate(self, obj: Any) -> list[FieldError]:
        spec = obj.spec
        errs = super().validate(obj) + _non_negative(spec.replicas, "spec.replicas")
        claims = frozenset(c.metadata.name for c in spec.volume_claim_templates)
        errs += _validate_selector_and_template(spec, empty_selector_for="statefulset", claim_volumes=claims)
        if spec.pod_management_policy not in ("OrderedReady", "Parallel"):
            errs.append(not_supported("spec.podManagementPolicy", spec.pod_management_policy,
                                      ("OrderedReady", "Parallel")))
        if spec.update_strategy.type not in ("RollingUpdate", "OnDelete"):
            errs.append(not_supported("spec.updateStrategy.type", spec.update_strategy.type,
                                      ("OnDelete", "RollingUpdate")))
        return errs

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        errs = _immutable_selector(new, old)
        if new.spec.service_name != old.spec.service_name:
            errs.append(forbidden("spec", "updates to statefulset spec for fields other than 'replicas', "
                                  "'ordinals', 'template', 'updateStrategy', "
                                  "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
        return errs


TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
"""apps/v1's form of a DaemonSet's templateGeneration: 1 at create, +1 whenever the template changes."""


class DaemonSetStrategy(Strategy):
    def prepare_for_create(self, obj: Any) -> None:
        super().prepare_for_create(obj)
        obj.metadata.annotations[TEMPLATE_GENERATION] = "1"

    def prepare_defaulted_update(self, new: Any, old: Any) -> None:
        """The template generation is the server's: kept, and moved on when the template changed."""
        generation = atoi(old.metadata.annotations.get(TEMPLATE_GENERATION, "")) or 0
        if new.spec.template != old.spec.template:
            generation += 1
        if generation:
            new.metadata.annotations[TEMPLATE_GENERATION] = str(generation)
        else:
            new.metadata.annotations.pop(TEMPLATE_GENERATION, None)

    def default(self, obj: Any) -> None:
        spec = obj.spec
        if not spec.update_strategy.HasField("type"):
            spec.update_strategy.type = "RollingUpdate"
        if spec.update_strategy.type == "RollingUpdate":
            ru = spec.update_strategy.rolling_update
            if not ru.HasField("max_unavailable"):
                ru.max_unavailable.int_val = 1
            if not ru.HasField("max_surge"):
                ru.max_surge.int_val = 0
        if not spec.HasField("revision_history_limit"):
            spec.revision_history_limit = 10
        _default_template(spec)

    def validate(self, obj: Any) -> list[FieldError]:
        spec = obj.spec
        errs = super().validate(obj) + _validate_selector_and_template(spec, empty_selector_for="daemonset")
        if spec.update_strategy.type not in ("RollingUpdate", "OnDelete"):
            errs.append(not_supported("spec.updateStrategy.type", spec.update_strategy.type,
                                      ("OnDelete", "RollingUpdate")))
        return errs

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        return _immutable_selector(new, old)


JOB_RESTART_POLICIES = ("OnFailure", "Never")


def default_job_spec(spec: Any) -> None:
    if not spec.HasField("parallelism"):
        spec.parallelism = 1
    if not spec.HasField("completions") and not spec.HasField("parallelism"):
        spec.completions = 1
    for field, value in (("backoff_limit", 6), ("completion_mode", "NonIndexed"), ("suspend", False),
                         ("manual_selector", False), ("pod_replacement_policy", "TerminatingOrFailed")):
        if not spec.HasField(field):
            setattr(spec, field, value)
    _default_template(spec)


MAX_INDEXED_JOB_SIZE = 100_000
"""An Indexed Job's most completions and parallelism (Kubernetes' maxCompletionsForIndexedJob)."""


def _validate_indexed(spec: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    if not spec.HasField("completions"):
        errs.append(required("spec.completions", "when completion mode is Indexed"))
    for field in ("parallelism", "completions"):
        if spec.HasField(field) and getattr(spec, field) > MAX_INDEXED_JOB_SIZE:
            errs.append(invalid(f"spec.{field}", getattr(spec, field), f"must be less than or equal to "
                                f"{MAX_INDEXED_JOB_SIZE} when completion mode is Indexed"))
    return errs


class JobStrategy(Strategy):
    def prepare_for_create(self, obj: Any) -> None:
        super().prepare_for_create(obj)
        spec = obj.spec
        completions_set = spec.HasField("completions")
        parallelism_set = spec.HasField("parallelism")
        if not completions_set and not parallelism_set:
            spec.completions = 1

    def default(self, obj: Any) -> None:
        default_job_spec(obj.spec)

    def validate(self, obj: Any) -> list[FieldError]:
        spec = obj.spec
        errs = super().validate(obj)
        for field, camel in (("parallelism", "parallelism"), ("completions", "completions"),
                             ("backoff_limit", "backoffLimit"), ("active_deadline_seconds", "activeDeadlineSeconds"),
                             ("ttl_seconds_after_finished", "ttlSecondsAfterFinished")):
            if spec.HasField(field):
                errs += _non_negative(getattr(spec, field), f"spec.{camel}")
        if spec.completion_mode not in ("NonIndexed", "Indexed"):
            errs.append(not_supported("spec.completionMode", spec.completion_mode, ("Indexed", "NonIndexed")))
        elif spec.completion_mode == "Indexed":
            errs += _validate_indexed(spec)
        errs += _validate_selector_and_template(spec, restart_policies=JOB_RESTART_POLICIES,
                                                selector_required=False, empty_selector_for="")
        if spec.HasField("template") and not spec.template.spec.HasField("restart_policy"):
            errs.append(required("spec.template.spec.restartPolicy", ""))
        return errs

    async def before_create(self, obj: Any) -> Any:
        """The generated selector on the job's uid, set once the uid is known."""
        spec, meta = obj.spec, obj.metadata
        if not spec.manual_selector:
            labels = {"batch.kubernetes.io/controller-uid": meta.uid, "batch.kubernetes.io/job-name": meta.name,
                      "controller-uid": meta.uid, "job-name": meta.name}
            for k, v in labels.items():
                spec.template.metadata.labels[k] = v
            if not spec.HasField("selector"):
                spec.selector.match_labels["batch.kubernetes.io/controller-uid"] = meta.uid
        return await super().before_create(obj)

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        return _immutable_selector(new, old)


class CronJobStrategy(Strategy):
    def default(self, obj: Any) -> None:
        spec = obj.spec
        for field, value in (("concurrency_policy", "Allow"), ("suspend", False),
                             ("successful_jobs_history_limit", 3), ("failed_jobs_history_limit", 1)):
            if not spec.HasField(field):
                setattr(spec, field, value)
        if spec.HasField("job_template"):
            job = spec.job_template.spec
            for field, value in (("backoff_limit", 6), ("completion_mode", "NonIndexed"), ("suspend", False)):
                if not job.HasField(field):
                    setattr(job, field, value)
            _default_template(job)

    def validate(self, obj: Any) -> list[FieldError]:
        spec = obj.spec
        errs = super().validate(obj)
        if len(obj.metadata.name) > 52:
            errs.append(invalid("metadata.name", obj.metadata.name, "must be no more than 52 characters"))
        if not spec.schedule:
            errs.append(required("spec.schedule", ""))
        else:
            errs += _validate_schedule(spec.schedule)
        if spec.HasField("time_zone"):
            errs += _validate_time_zone(spec.time_zone)
        if spec.concurrency_policy not in ("Allow", "Forbid", "Replace"):
            errs.append(not_supported("spec.concurrencyPolicy", spec.concurrency_policy,
                                      ("Allow", "Forbid", "Replace")))
        if not spec.HasField("job_template"):
            errs.append(required("spec.jobTemplate", ""))
        else:
            tmpl = spec.job_template.spec
            if not tmpl.template.spec.HasField("restart_policy"):
                errs.append(required("spec.jobTemplate.spec.template.spec.restartPolicy", ""))
            elif tmpl.template.spec.restart_policy not in JOB_RESTART_POLICIES:
                errs.append(not_supported("spec.jobTemplate.spec.template.spec.restartPolicy",
                                          tmpl.template.spec.restart_policy, JOB_RESTART_POLICIES))
            errs += validate_template(tmpl.template, "spec.jobTemplate.spec.template", None)
        return errs


def _validate_schedule(schedule: str) -> list[FieldError]:
    """``validateScheduleFormat``: robfig/cron's own error, and no time zone inside the schedule."""
    errs: list[FieldError] = []
    try:
        cron.parse(schedule)
    except cron.CronError as exc:
        errs.append(invalid("spec.schedule", schedule, str(exc)))
    if "TZ" in schedule:
        errs.append(invalid("spec.schedule", schedule,
                            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    return errs


_TIME_ZONE_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")


def _validate_time_zone(zone: str) -> list[FieldError]:
    """``validateTimeZone``: an IANA name this machine's time zone database knows."""
    path = "spec.timeZone"
    if not zone:
        return [invalid(path, zone, "timeZone must be nil or non-empty string")]
    if any(part in (".", "..") or part.startswith("-") or not _TIME_ZONE_PART.match(part) for part in zone.split("/")):
        return [invalid(path, zone, f"unknown time zone {zone}")]
    if zone.lower() == "local":
        return [invalid(path, zone, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")]
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return [invalid(path, zone, f"unknown time zone {zone}")]
    return []


class ControllerRevisionStrategy(Strategy):
    def validate(self, obj: Any) -> list[FieldError]:
        errs = super().validate(obj)
        return errs + _non_negative(obj.revision, "revision")

    def validate_update(self, new: Any, old: Any) -> list[FieldError]:
        if new.data.SerializeToString(deterministic=True) != old.data.SerializeToString(deterministic=True):
            return [invalid("data", "", "field is immutable")]
        return []
