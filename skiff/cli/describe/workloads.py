"""Describers of the workload kinds: Deployment (with its old and new ReplicaSets), ReplicaSet,
StatefulSet, DaemonSet, Job and CronJob."""

from __future__ import annotations

from datetime import datetime

from skiff.api.v1 import apps_pb2, batch_pb2, core_pb2
from skiff.cli.describe.pods import conditions, pod_template, pods_status
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
    map_text,
    meta_lines,
    or_none,
    parse_time,
    selector_text,
    yes_no,
)
from skiff.cli.printers import human_duration


def _rs_line(rs: apps_pb2.ReplicaSet) -> str:
    return f"{rs.metadata.name} ({rs.status.replicas}/{rs.spec.replicas} replicas created)"


def _template_key(template: core_pb2.PodTemplateSpec) -> bytes:
    copy = core_pb2.PodTemplateSpec()
    copy.CopyFrom(template)
    copy.metadata.labels.pop("pod-template-hash", None)
    return copy.SerializeToString(deterministic=True)


def describe_deployment(d: apps_pb2.Deployment, rel: Related, now: datetime, out: Out) -> None:
    meta_lines(out, d, created=True)
    spec, status = d.spec, d.status
    out.w(0, f"Selector:\t{selector_text(spec.selector)}")
    out.w(0, f"Replicas:\t{spec.replicas} desired | {status.updated_replicas} updated | {status.replicas} total | "
             f"{status.available_replicas} available | {status.unavailable_replicas} unavailable")
    out.w(0, f"StrategyType:\t{spec.strategy.type}")
    out.w(0, f"MinReadySeconds:\t{spec.min_ready_seconds}")
    if spec.strategy.HasField("rolling_update"):
        ru = spec.strategy.rolling_update
        out.w(0, f"RollingUpdateStrategy:\t{ios(ru.max_unavailable)} max unavailable, {ios(ru.max_surge)} max surge")
    pod_template(out, spec.template)
    conditions(out, status.conditions)
    owned = [rs for rs in rel.replica_sets if is_controlled_by(rs.metadata, d.metadata.uid)]
    key = _template_key(spec.template)
    new = [rs for rs in owned if _template_key(rs.spec.template) == key]
    old = [rs for rs in owned if rs not in new and rs.spec.replicas + rs.status.replicas > 0]
    out.w(0, f"OldReplicaSets:\t{or_none(', '.join(_rs_line(rs) for rs in old))}")
    out.w(0, f"NewReplicaSet:\t{_rs_line(new[0]) if new else '<none>'}")
    events(out, rel.events, now)


def describe_replica_set(rs: apps_pb2.ReplicaSet, rel: Related, now: datetime, out: Out) -> None:
    out.w(0, f"Name:\t{rs.metadata.name}")
    out.w(0, f"Namespace:\t{rs.metadata.namespace}")
    out.w(0, f"Selector:\t{selector_text(rs.spec.selector)}")
    labels(out, 0, "Labels", rs.metadata.labels)
    annotation_lines(out, 0, rs.metadata.annotations)
    controlled_by(out, rs.metadata)
    out.w(0, f"Replicas:\t{rs.status.replicas} current / {rs.spec.replicas} desired")
    pods_status(out, rel.pods, rs.metadata.uid)
    pod_template(out, rs.spec.template)
    conditions(out, rs.status.conditions)
    events(out, rel.events, now)


def _claim_template(out: Out, pvc: core_pb2.PersistentVolumeClaim) -> None:
    out.w(1, f"Name:\t{pvc.metadata.name}")
    out.w(1, f"StorageClass:\t{pvc.spec.storage_class_name}")
    labels(out, 1, "Labels", pvc.metadata.labels)
    annotation_lines(out, 1, pvc.metadata.annotations)
    out.w(1, f"Capacity:\t{pvc.spec.resources.requests.get('storage', '')}")
    out.w(1, f"Access Modes:\t[{' '.join(pvc.spec.access_modes)}]")


def describe_stateful_set(s: apps_pb2.StatefulSet, rel: Related, now: datetime, out: Out) -> None:
    out.w(0, f"Name:\t{s.metadata.name}")
    out.w(0, f"Namespace:\t{s.metadata.namespace}")
    out.w(0, f"CreationTimestamp:\t{fmt_time(s.metadata.creation_timestamp)}")
    out.w(0, f"Selector:\t{selector_text(s.spec.selector)}")
    labels(out, 0, "Labels", s.metadata.labels)
    annotation_lines(out, 0, s.metadata.annotations)
    out.w(0, f"Replicas:\t{s.spec.replicas} desired | {s.status.replicas} total")
    out.w(0, f"Update Strategy:\t{s.spec.update_strategy.type}")
    if s.spec.update_strategy.rolling_update.HasField("partition"):
        out.w(1, f"Partition:\t{s.spec.update_strategy.rolling_update.partition}")
    pods_status(out, rel.pods, s.metadata.uid)
    pod_template(out, s.spec.template)
    if s.spec.volume_claim_templates:
        out.w(0, "Volume Claims:")
        for pvc in s.spec.volume_claim_templates:
            _claim_template(out, pvc)
    else:
        out.w(0, "Volume Claims:\t<none>")
    events(out, rel.events, now)


def describe_daemon_set(ds: apps_pb2.DaemonSet, rel: Related, now: datetime, out: Out) -> None:
    st = ds.status
    out.w(0, f"Name:\t{ds.metadata.name}")
    out.w(0, f"Namespace:\t{ds.metadata.namespace}")
    out.w(0, f"Selector:\t{selector_text(ds.spec.selector)}")
    out.w(0, f"Node-Selector:\t{or_none(map_text(ds.spec.template.spec.node_selector))}")
    labels(out, 0, "Labels", ds.metadata.labels)
    annotation_lines(out, 0, ds.metadata.annotations)
    out.w(0, f"Desired Number of Nodes Scheduled: {st.desired_number_scheduled}")
    out.w(0, f"Current Number of Nodes Scheduled: {st.current_number_scheduled}")
    out.w(0, f"Number of Nodes Scheduled with Up-to-date Pods: {st.updated_number_scheduled}")
    out.w(0, f"Number of Nodes Scheduled with Available Pods: {st.number_available}")
    out.w(0, f"Number of Nodes Misscheduled: {st.number_misscheduled}")
    pods_status(out, rel.pods, ds.metadata.uid)
    pod_template(out, ds.spec.template)
    events(out, rel.events, now)


def describe_job(job: batch_pb2.Job, rel: Related, now: datetime, out: Out) -> None:
    spec, st = job.spec, job.status
    out.w(0, f"Name:\t{job.metadata.name}")
    out.w(0, f"Namespace:\t{job.metadata.namespace}")
    out.w(0, f"Selector:\t{selector_text(spec.selector)}")
    labels(out, 0, "Labels", job.metadata.labels)
    annotation_lines(out, 0, job.metadata.annotations)
    controlled_by(out, job.metadata)
    out.w(0, f"Parallelism:\t{spec.parallelism if spec.HasField('parallelism') else 1}")
    out.w(0, f"Completions:\t{spec.completions if spec.HasField('completions') else '<unset>'}")
    out.w(0, f"Completion Mode:\t{spec.completion_mode or 'NonIndexed'}")
    out.w(0, f"Suspend:\t{str(spec.suspend).lower()}")
    out.w(0, f"Backoff Limit:\t{spec.backoff_limit if spec.HasField('backoff_limit') else 6}")
    if spec.HasField("ttl_seconds_after_finished"):
        out.w(0, f"TTL Seconds After Finished:\t{spec.ttl_seconds_after_finished}")
    if spec.HasField("active_deadline_seconds"):
        out.w(0, f"Active Deadline Seconds:\t{spec.active_deadline_seconds}s")
    if st.start_time:
        out.w(0, f"Start Time:\t{fmt_time(st.start_time)}")
    if st.completion_time:
        out.w(0, f"Completed At:\t{fmt_time(st.completion_time)}")
        start, end = parse_time(st.start_time), parse_time(st.completion_time)
        if start and end:
            out.w(0, f"Duration:\t{human_duration((end - start).total_seconds())}")
    out.w(0, f"Pods Statuses:\t{st.active} Active ({st.ready} Ready) / {st.succeeded} Succeeded / "
             f"{st.failed} Failed")
    pod_template(out, spec.template)
    events(out, rel.events, now)


def describe_cron_job(cj: batch_pb2.CronJob, rel: Related, now: datetime, out: Out) -> None:
    spec, job = cj.spec, cj.spec.job_template.spec
    meta_lines(out, cj)
    out.w(0, f"Schedule:\t{spec.schedule}")
    out.w(0, f"Concurrency Policy:\t{spec.concurrency_policy or 'Allow'}")
    out.w(0, f"Suspend:\t{yes_no(spec.suspend)}")
    out.w(0, f"Successful Job History Limit:\t{spec.successful_jobs_history_limit}")
    out.w(0, f"Failed Job History Limit:\t{spec.failed_jobs_history_limit}")
    deadline = spec.starting_deadline_seconds if spec.HasField("starting_deadline_seconds") else None
    out.w(0, f"Starting Deadline Seconds:\t{'<unset>' if deadline is None else f'{deadline}s'}")
    out.w(0, f"Selector:\t{selector_text(job.selector) or '<unset>'}")
    out.w(0, f"Parallelism:\t{job.parallelism if job.HasField('parallelism') else '<unset>'}")
    out.w(0, f"Completions:\t{job.completions if job.HasField('completions') else '<unset>'}")
    pod_template(out, job.template)
    out.w(0, f"Last Schedule Time:\t{fmt_time(cj.status.last_schedule_time)}")
    out.w(0, f"Active Jobs:\t{or_none(', '.join(ref.name for ref in cj.status.active))}")
    events(out, rel.events, now)
