"""Describers of the workload kinds: Deployment (with its old and new ReplicaSets), ReplicaSet,
StatefulSet, DaemonSet, Job and CronJob, and the ``Conditions:`` and ``Pods Status:`` sections they share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from skiff.api.deployments import equal_ignoring_hash
from skiff.api.ownership import Object, is_controlled_by
from skiff.api.timestamps import parse_rfc3339
from skiff.api.v1 import apps_pb2, batch_pb2, core_pb2
from skiff.cli.describe.pods import pod_template
from skiff.cli.describe.text import (
    Out,
    Related,
    Row,
    controlled_by,
    events,
    fmt_time,
    header,
    ios,
    map_text,
    or_none,
    selector_text,
    yes_no,
)
from skiff.cli.printers import human_duration


def _conditions(out: Out, items: Sequence[Any]) -> None:
    out.table(0, "Conditions", ("Type", "Status", "Reason"), [(c.type, c.status, c.reason) for c in items])


def _pods_status(pods: Sequence[core_pb2.Pod], owner: Object) -> Row:
    counts = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for pod in pods:
        if is_controlled_by(pod, owner) and pod.status.phase in counts:
            counts[pod.status.phase] += 1
    return ("Pods Status", f"{counts['Running']} Running / {counts['Pending']} Waiting / "
                           f"{counts['Succeeded']} Succeeded / {counts['Failed']} Failed")


def _rs_line(rs: apps_pb2.ReplicaSet) -> str:
    return f"{rs.metadata.name} ({rs.status.replicas}/{rs.spec.replicas} replicas created)"


def describe_deployment(d: apps_pb2.Deployment, rel: Related, now: datetime, out: Out) -> None:
    spec, status, ru = d.spec, d.status, d.spec.strategy.rolling_update
    header(out, 0, d.metadata, ("CreationTimestamp", fmt_time(d.metadata.creation_timestamp)))
    out.rows(0, ("Selector", selector_text(spec.selector)),
             ("Replicas", f"{spec.replicas} desired | {status.updated_replicas} updated | {status.replicas} total | "
                          f"{status.available_replicas} available | {status.unavailable_replicas} unavailable"),
             ("StrategyType", spec.strategy.type), ("MinReadySeconds", spec.min_ready_seconds),
             ("RollingUpdateStrategy", f"{ios(ru.max_unavailable)} max unavailable, {ios(ru.max_surge)} max surge"
              if spec.strategy.HasField("rolling_update") else None))
    pod_template(out, spec.template)
    _conditions(out, status.conditions)
    owned = [rs for rs in rel.replica_sets if is_controlled_by(rs, d)]
    new = [rs for rs in owned if equal_ignoring_hash(rs.spec.template, spec.template)]
    old = [rs for rs in owned if rs not in new and rs.spec.replicas + rs.status.replicas > 0]
    out.rows(0, ("OldReplicaSets", or_none(", ".join(_rs_line(rs) for rs in old))),
             ("NewReplicaSet", _rs_line(new[0]) if new else "<none>"))
    events(out, rel.events, now)


def describe_replica_set(rs: apps_pb2.ReplicaSet, rel: Related, now: datetime, out: Out) -> None:
    header(out, 0, rs.metadata, ("Selector", selector_text(rs.spec.selector)))
    out.rows(0, *controlled_by(rs), ("Replicas", f"{rs.status.replicas} current / {rs.spec.replicas} desired"),
             _pods_status(rel.pods, rs))
    pod_template(out, rs.spec.template)
    _conditions(out, rs.status.conditions)
    events(out, rel.events, now)


def _claim_template(out: Out, level: int, pvc: core_pb2.PersistentVolumeClaim) -> None:
    header(out, level, pvc.metadata, ("StorageClass", pvc.spec.storage_class_name), namespaced=False)
    out.rows(level, ("Capacity", pvc.spec.resources.requests.get("storage", "")),
             ("Access Modes", f"[{' '.join(pvc.spec.access_modes)}]"))


def describe_stateful_set(s: apps_pb2.StatefulSet, rel: Related, now: datetime, out: Out) -> None:
    rolling = s.spec.update_strategy.rolling_update
    header(out, 0, s.metadata, ("CreationTimestamp", fmt_time(s.metadata.creation_timestamp)),
           ("Selector", selector_text(s.spec.selector)))
    out.rows(0, ("Replicas", f"{s.spec.replicas} desired | {s.status.replicas} total"),
             ("Update Strategy", s.spec.update_strategy.type))
    out.rows(1, ("Partition", rolling.partition if rolling.HasField("partition") else None))
    out.rows(0, _pods_status(rel.pods, s))
    pod_template(out, s.spec.template)
    out.section(0, "Volume Claims", s.spec.volume_claim_templates, _claim_template)
    events(out, rel.events, now)


def describe_daemon_set(ds: apps_pb2.DaemonSet, rel: Related, now: datetime, out: Out) -> None:
    st = ds.status
    header(out, 0, ds.metadata, ("Selector", selector_text(ds.spec.selector)),
           ("Node-Selector", or_none(map_text(ds.spec.template.spec.node_selector))))
    out.rows(0, f"Desired Number of Nodes Scheduled: {st.desired_number_scheduled}",
             f"Current Number of Nodes Scheduled: {st.current_number_scheduled}",
             f"Number of Nodes Scheduled with Up-to-date Pods: {st.updated_number_scheduled}",
             f"Number of Nodes Scheduled with Available Pods: {st.number_available}",
             f"Number of Nodes Misscheduled: {st.number_misscheduled}",
             _pods_status(rel.pods, ds))
    pod_template(out, ds.spec.template)
    events(out, rel.events, now)


def describe_job(job: batch_pb2.Job, rel: Related, now: datetime, out: Out) -> None:
    spec, st = job.spec, job.status
    start, end = parse_rfc3339(st.start_time), parse_rfc3339(st.completion_time)
    header(out, 0, job.metadata, ("Selector", selector_text(spec.selector)))
    out.rows(0, *controlled_by(job),
             ("Parallelism", spec.parallelism if spec.HasField("parallelism") else 1),
             ("Completions", spec.completions if spec.HasField("completions") else "<unset>"),
             ("Completion Mode", spec.completion_mode or "NonIndexed"),
             ("Suspend", str(spec.suspend).lower()),
             ("Backoff Limit", spec.backoff_limit if spec.HasField("backoff_limit") else 6),
             ("TTL Seconds After Finished",
              spec.ttl_seconds_after_finished if spec.HasField("ttl_seconds_after_finished") else None),
             ("Active Deadline Seconds",
              f"{spec.active_deadline_seconds}s" if spec.HasField("active_deadline_seconds") else None),
             ("Start Time", fmt_time(st.start_time) if st.start_time else None),
             ("Completed At", fmt_time(st.completion_time) if st.completion_time else None),
             ("Duration", human_duration((end - start).total_seconds()) if start and end else None),
             ("Pods Statuses", f"{st.active} Active ({st.ready} Ready) / {st.succeeded} Succeeded / "
                               f"{st.failed} Failed"))
    pod_template(out, spec.template)
    events(out, rel.events, now)


def describe_cron_job(cj: batch_pb2.CronJob, rel: Related, now: datetime, out: Out) -> None:
    spec, job = cj.spec, cj.spec.job_template.spec
    deadline = spec.starting_deadline_seconds if spec.HasField("starting_deadline_seconds") else None
    header(out, 0, cj.metadata)
    out.rows(0, ("Schedule", spec.schedule), ("Concurrency Policy", spec.concurrency_policy or "Allow"),
             ("Suspend", yes_no(spec.suspend)),
             ("Successful Job History Limit", spec.successful_jobs_history_limit),
             ("Failed Job History Limit", spec.failed_jobs_history_limit),
             ("Starting Deadline Seconds", "<unset>" if deadline is None else f"{deadline}s"),
             ("Selector", selector_text(job.selector) or "<unset>"),
             ("Parallelism", job.parallelism if job.HasField("parallelism") else "<unset>"),
             ("Completions", job.completions if job.HasField("completions") else "<unset>"))
    pod_template(out, job.template)
    out.rows(0, ("Last Schedule Time", fmt_time(cj.status.last_schedule_time)),
             ("Active Jobs", or_none(", ".join(ref.name for ref in cj.status.active))))
    events(out, rel.events, now)
