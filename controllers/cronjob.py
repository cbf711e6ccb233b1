"""The CronJob controller: create a Job at each time the schedule names.

Kubernetes' ``pkg/controller/cronjob`` (cronjob_controllerv2, 1.32). ``sync(key)``:

1. takes the Jobs the CronJob controls (controller reference) and deletes the oldest finished
   ones beyond ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit`` (Events
   SuccessfulDelete);
2. reconciles ``status.active`` with them: a finished Job leaves it (SawCompletedJob), a
   succeeded one moves ``lastSuccessfulTime``, an active Job missing from it is reported
   (UnexpectedJob), an entry whose Job is gone (checked with a fresh read) is dropped (MissingJob);
3. unless the CronJob is suspended or being deleted, finds the most recent scheduled time not
   yet run (from ``lastScheduleTime``, else the creation time; no earlier than
   ``startingDeadlineSeconds`` ago) in the schedule's time zone (``spec.timeZone``). None due:
   look again at the next one. Too late for its deadline: MissSchedule. Already run (its Job
   name is in the active list, or it is ``lastScheduleTime``): wait for the next. Forbid with a
   Job still active: JobAlreadyActive. Replace: the active Jobs are deleted first;
4. creates the Job named ``<cronjob>-<scheduled time in minutes since the epoch>`` — the name is
   the lock that keeps a restarted controller from running one time twice (AlreadyExists is
   taken as done) — from ``jobTemplate`` with the controller reference and the annotation
   ``batch.kubernetes.io/cronjob-scheduled-timestamp``; records it in ``status.active`` and
   ``lastScheduleTime`` (Event SuccessfulCreate), then looks again at the next scheduled time.

Status is written once per sync, last. Schedules are :mod:`skiff.api.cron`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prometheus_client import Histogram

from controllers.base import Controller
from controllers.informers import SharedInformers
from controllers.job.controller import COMPLETE, FAILED
from skiff.api import cron, errors
from skiff.api.ownership import controller_of, controller_ref, resolve_controller_ref
from skiff.api.timestamps import epoch_seconds, rfc3339
from skiff.api.v1 import batch_pb2, meta_pb2
from skiff.api.validation import go_quote
from skiff.client.client import Client
from skiff.client.clock import Clock
from skiff.client.events import EventRecorder
from skiff.client.informer import object_key

log = logging.getLogger("skiff.controllers.cronjob")

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1
"""Seconds past a scheduled time at which the CronJob is looked at again."""
TOO_MANY_MISSED = 100
MAX_WALK = 1000
"""Missed times counted one by one; beyond, estimated from the schedule's spacing."""

CREATION_SKEW = Histogram(
    "cronjob_controller_job_creation_skew_duration_seconds",
    "Time between when a cronjob is scheduled to be run, and when the corresponding job is created",
    buckets=tuple(float(2**i) for i in range(10)))


def finished_condition(job: batch_pb2.Job) -> str | None:
    """``Complete`` or ``Failed`` when the Job finished, else None."""
    return next((c.type for c in job.status.conditions if c.type in (COMPLETE, FAILED) and c.status == "True"),
                None)


def job_name(cj: batch_pb2.CronJob, scheduled: datetime) -> str:
    return f"{cj.metadata.name}-{int(scheduled.timestamp()) // 60}"


def _go_rfc3339(moment: datetime) -> str:
    """Go's ``time.RFC3339`` (``Z`` for UTC, else the offset)."""
    text = moment.replace(microsecond=0).isoformat()
    return text.removesuffix("+00:00") + "Z" if moment.utcoffset() == UTC.utcoffset(None) else text


def _rfc1123z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def job_from_template(cj: batch_pb2.CronJob, scheduled: datetime, zone: ZoneInfo | None) -> batch_pb2.Job:
    """The Job for the run at ``scheduled`` (``getJobFromTemplate2``)."""
    job = batch_pb2.Job(api_version="batch/v1", kind="Job")
    meta, template = job.metadata, cj.spec.job_template
    meta.name, meta.namespace = job_name(cj, scheduled), cj.metadata.namespace
    meta.labels.update(template.metadata.labels)
    meta.annotations.update(template.metadata.annotations)
    meta.annotations[SCHEDULED_TIMESTAMP] = _go_rfc3339(scheduled.astimezone(zone or UTC))
    meta.owner_references.append(controller_ref(cj))
    job.spec.CopyFrom(template.spec)
    return job


def _object_reference(job: batch_pb2.Job) -> meta_pb2.ObjectReference:
    return meta_pb2.ObjectReference(kind="Job", api_version="batch/v1", namespace=job.metadata.namespace,
                                    name=job.metadata.name, uid=job.metadata.uid,
                                    resource_version=job.metadata.resource_version)


def _remove_active(cj: batch_pb2.CronJob, uid: str) -> None:
    kept = [ref for ref in cj.status.active if ref.uid != uid]
    del cj.status.active[:]
    cj.status.active.extend(kept)


def _start_order(job: batch_pb2.Job) -> tuple[bool, float, str]:
    """Oldest first by start time; Jobs that never started last (``byJobStartTime``)."""
    started = epoch_seconds(job.status.start_time) if job.status.start_time else None
    return started is None, started or 0.0, job.metadata.name


class CronJobController(Controller):
    """See the module docstring."""

    NAME = "cronjob"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *, workers: int = 5,
                 clock: Clock | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, recorder, workers=workers, clock=clock)
        self.wall_clock = wall_clock
        self.cronjobs = informers.get(batch_pb2.CronJob)
        self.jobs = informers.get(batch_pb2.Job)
        self.cronjobs.add_handlers(self.enqueue, self._update_cronjob, self.enqueue)
        self.jobs.add_handlers(self._job_changed, self._update_job, self._job_changed)

    # ---- handlers ----

    def _owner(self, job: batch_pb2.Job, ref: meta_pb2.OwnerReference | None) -> batch_pb2.CronJob | None:
        return resolve_controller_ref(job.metadata.namespace, ref, "CronJob", self.cronjobs.store.get)

    def _job_changed(self, job: batch_pb2.Job) -> None:
        owner = self._owner(job, controller_of(job))
        if owner is not None:
            self.enqueue(owner)

    def _update_job(self, old: batch_pb2.Job, cur: batch_pb2.Job) -> None:
        old_ref, cur_ref = controller_of(old), controller_of(cur)
        if old_ref != cur_ref and old_ref is not None:
            previous = self._owner(old, old_ref)
            if previous is not None:
                self.enqueue(previous)
        self._job_changed(cur)

    def _update_cronjob(self, old: batch_pb2.CronJob, cur: batch_pb2.CronJob) -> None:
        if old.spec.schedule == cur.spec.schedule and old.spec.time_zone == cur.spec.time_zone:
            self.enqueue(cur)
            return
        try:
            schedule = cron.parse(self._schedule_text(cur, warn=False))
        except cron.CronError:
            self.recorder.event(cur, "Warning", "UnParseableCronJobSchedule",
                                f"unparseable schedule for cronjob: {cur.spec.schedule}")
            return
        delay = self._until_next(cur, self._now(), schedule)
        if delay is not None:
            self.enqueue_after(object_key(cur), delay)

    # ---- time and schedules ----

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.wall_clock(), UTC)

    def _schedule_text(self, cj: batch_pb2.CronJob, *, warn: bool = True) -> str:
        """The schedule with the CronJob's time zone in front (``formatSchedule``)."""
        schedule = cj.spec.schedule
        if "TZ" in schedule:
            if warn:
                self.recorder.event(cj, "Warning", "UnsupportedSchedule",
                                    f"CRON_TZ or TZ used in schedule {go_quote(schedule)} is not officially "
                                    "supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/"
                                    " for more details")
            return schedule
        if cj.spec.HasField("time_zone"):
            return f"TZ={cj.spec.time_zone} {schedule}"
        return schedule

    @staticmethod
    def _earliest(cj: batch_pb2.CronJob) -> datetime:
        stamp = cj.status.last_schedule_time or cj.metadata.creation_timestamp
        return datetime.fromtimestamp(epoch_seconds(stamp) or 0.0, UTC)

    def _most_recent(self, cj: batch_pb2.CronJob, now: datetime, schedule: cron.Schedule,
                     with_deadline: bool) -> tuple[datetime | None, int]:
        """The latest scheduled time in (earliest, now] and about how many were missed
        (``mostRecentScheduleTime``)."""
        earliest = self._earliest(cj)
        if with_deadline and cj.spec.HasField("starting_deadline_seconds"):
            deadline = datetime.fromtimestamp(now.timestamp() - cj.spec.starting_deadline_seconds, UTC)
            earliest = max(earliest, deadline)
        first = schedule.next(earliest)
        if first is None:  # an impossible date (Feb 30): robfig's zero times, 0 s apart
            raise cron.CronError("time difference between two schedules is less than 1 second")
        if first > now:
            return None, 0
        recent, count = first, 1
        while count <= MAX_WALK:
            following = schedule.next(recent)
            if following is None or following > now:
                return recent, count
            recent, count = following, count + 1
        # Too many to walk: estimate from the spacing of the first two, as Kubernetes does.
        second = schedule.next(first)
        gap = round((second - first).total_seconds()) if second is not None else 0
        if gap < 1:
            raise cron.CronError("time difference between two schedules is less than 1 second")
        missed = int((now - first).total_seconds()) // gap + 1
        return datetime.fromtimestamp(first.timestamp() + (missed - 1) * gap, UTC), missed

    def _until_next(self, cj: batch_pb2.CronJob, now: datetime, schedule: cron.Schedule) -> float | None:
        """Seconds until just past the next scheduled time (``nextScheduleTimeDuration``)."""
        try:
            recent, _ = self._most_recent(cj, now, schedule, with_deadline=False)
        except cron.CronError:
            return None
        following = schedule.next(recent or self._earliest(cj))
        if following is None:
            return None
        return max(0.0, (following - now).total_seconds() + NEXT_SCHEDULE_DELTA)

    # ---- sync ----

    async def sync(self, key: str) -> None:
        cached = self.cronjobs.store.get(key)
        if cached is None:
            return
        jobs = [j for j in self.jobs.store.by_index("owner", cached.metadata.uid)
                if (ref := controller_of(j)) is not None and ref.uid == cached.metadata.uid]
        cj = batch_pb2.CronJob()
        cj.CopyFrom(cached)
        changed = await self._clean_up_finished(cj, jobs)
        requeue: float | None = None
        failure: Exception | None = None
        try:
            requeue, synced = await self._sync_cronjob(cj, jobs)
            changed = changed or synced
        except errors.StatusError as exc:
            failure = exc
            changed = True
        if changed and cj.status != cached.status:
            await self.client.update_status(cj)
        if requeue is not None:
            self.enqueue_after(key, requeue)
            return
        if failure is not None:
            raise failure

    async def _sync_cronjob(self, cj: batch_pb2.CronJob, jobs: list[batch_pb2.Job]) -> tuple[float | None, bool]:
        """Reconcile the active list and start the run that is due: (requeue after, status changed)."""
        changed = await self._reconcile_active(cj, jobs)
        if cj.metadata.deletion_timestamp:
            return None, changed
        zone: ZoneInfo | None = None
        if cj.spec.HasField("time_zone"):
            try:
                zone = ZoneInfo(cj.spec.time_zone)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                self.recorder.event(cj, "Warning", "UnknownTimeZone",
                                    f"invalid timeZone: {go_quote(cj.spec.time_zone)}: unknown time zone "
                                    f"{cj.spec.time_zone}")
                return None, changed
        if cj.spec.suspend:
            return None, changed
        try:
            schedule = cron.parse(self._schedule_text(cj))
        except cron.CronError as exc:
            self.recorder.event(cj, "Warning", "UnparseableSchedule",
                                f"unparseable schedule: {go_quote(cj.spec.schedule)} : {exc}")
            return None, changed
        now = self._now()
        try:
            scheduled, missed = self._most_recent(cj, now, schedule, with_deadline=True)
        except cron.CronError as exc:
            self.recorder.event(cj, "Warning", "InvalidSchedule", f"invalid schedule: {cj.spec.schedule} : {exc}")
            return None, changed
        if missed > TOO_MANY_MISSED:
            self.recorder.event(cj, "Warning", "TooManyMissedTimes",
                                f"too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds "
                                "or check clock skew")
        if scheduled is None:
            return self._until_next(cj, now, schedule), changed
        if (cj.spec.HasField("starting_deadline_seconds")
                and scheduled.timestamp() + cj.spec.starting_deadline_seconds < now.timestamp()):
            self.recorder.event(cj, "Warning", "MissSchedule",
                                f"Missed scheduled time to start a job: {_rfc1123z(scheduled)}")
            return self._until_next(cj, now, schedule), changed
        name = job_name(cj, scheduled)
        last = epoch_seconds(cj.status.last_schedule_time) if cj.status.last_schedule_time else None
        if any(ref.name == name for ref in cj.status.active) or last == scheduled.timestamp():
            return self._until_next(cj, now, schedule), changed
        if cj.spec.concurrency_policy == "Forbid" and cj.status.active:
            self.recorder.event(cj, "Normal", "JobAlreadyActive",
                                "Not starting job because prior execution is running and concurrency policy is Forbid")
            return self._until_next(cj, now, schedule), changed
        if cj.spec.concurrency_policy == "Replace":
            for ref in list(cj.status.active):
                try:
                    job = await self.client.get(batch_pb2.Job, ref.name, namespace=ref.namespace)
                except errors.StatusError as exc:
                    self.recorder.event(cj, "Warning", "FailedGet", f"Get job: {exc}")
                    raise
                if not await self._delete_job(cj, job):
                    raise errors.InternalError(f"could not replace job {ref.namespace}/{ref.name}")
                changed = True
        await self._start(cj, job_from_template(cj, scheduled, zone), scheduled)
        return self._until_next(cj, now, schedule), True

    async def _start(self, cj: batch_pb2.CronJob, job: batch_pb2.Job, scheduled: datetime) -> None:
        """Create the run's Job and record it in status (AlreadyExists: someone made it already)."""
        try:
            created = await self.client.create(job)
        except errors.AlreadyExists:
            created = await self.client.get(batch_pb2.Job, job.metadata.name, namespace=job.metadata.namespace)
            ref = controller_of(created)
            if ref is None or ref.uid != cj.metadata.uid or any(a.uid == created.metadata.uid
                                                                 for a in cj.status.active):
                return
        except errors.StatusError as exc:
            if not (isinstance(exc, errors.Forbidden) and "being terminated" in str(exc)):
                self.recorder.event(cj, "Warning", "FailedCreate", f"Error creating job: {exc}")
            raise
        else:
            skew = (epoch_seconds(created.metadata.creation_timestamp) or self.wall_clock()) - scheduled.timestamp()
            CREATION_SKEW.observe(max(0.0, skew))
            self.recorder.event(cj, "Normal", "SuccessfulCreate", f"Created job {created.metadata.name}")
        cj.status.active.append(_object_reference(created))
        cj.status.last_schedule_time = rfc3339(scheduled.timestamp())

    async def _reconcile_active(self, cj: batch_pb2.CronJob, jobs: list[batch_pb2.Job]) -> bool:
        changed = False
        children = {j.metadata.uid for j in jobs}
        for job in jobs:
            active = any(ref.uid == job.metadata.uid for ref in cj.status.active)
            finished = finished_condition(job)
            if not active and finished is None:
                fresh = await self.client.get(batch_pb2.CronJob, cj.metadata.name, namespace=cj.metadata.namespace)
                if any(ref.uid == job.metadata.uid for ref in fresh.status.active):
                    cj.CopyFrom(fresh)
                    continue
                self.recorder.event(cj, "Warning", "UnexpectedJob",
                                    f"Saw a job that the controller did not create or forgot: {job.metadata.name}")
            elif active and finished is not None:
                _remove_active(cj, job.metadata.uid)
                self.recorder.event(cj, "Normal", "SawCompletedJob",
                                    f"Saw completed job: {job.metadata.name}, condition: {finished}")
                changed = True
            if finished == COMPLETE and job.status.completion_time:
                done = epoch_seconds(job.status.completion_time)
                last = epoch_seconds(cj.status.last_successful_time) if cj.status.last_successful_time else None
                if done is not None and (last is None or done > last):
                    cj.status.last_successful_time = job.status.completion_time
                    changed = True
        for ref in list(cj.status.active):
            if ref.uid in children:
                continue
            try:
                await self.client.get(batch_pb2.Job, ref.name, namespace=ref.namespace)
            except errors.NotFound:
                self.recorder.event(cj, "Normal", "MissingJob", f"Active job went missing: {ref.name}")
                _remove_active(cj, ref.uid)
                changed = True
        return changed

    async def _clean_up_finished(self, cj: batch_pb2.CronJob, jobs: list[batch_pb2.Job]) -> bool:
        """Delete the oldest finished Jobs beyond the history limits (``cleanupFinishedJobs``)."""
        changed = False
        spec = cj.spec
        limits = ((COMPLETE, spec.successful_jobs_history_limit if spec.HasField("successful_jobs_history_limit")
                   else None),
                  (FAILED, spec.failed_jobs_history_limit if spec.HasField("failed_jobs_history_limit") else None))
        for kind, limit in limits:
            if limit is None:
                continue
            finished = sorted((j for j in jobs if finished_condition(j) == kind), key=_start_order)
            surplus = len(finished) - limit
            for job in finished[:max(0, surplus)]:
                changed = await self._delete_job(cj, job) or changed
        return changed

    async def _delete_job(self, cj: batch_pb2.CronJob, job: batch_pb2.Job) -> bool:
        try:
            await self.client.delete(batch_pb2.Job, job.metadata.name, namespace=job.metadata.namespace,
                                     propagation_policy="Background")
        except errors.StatusError as exc:
            self.recorder.event(cj, "Warning", "FailedDelete", f"Deleted job: {exc}")
            return False
        _remove_active(cj, job.metadata.uid)
        self.recorder.event(cj, "Normal", "SuccessfulDelete", f"Deleted job {job.metadata.name}")
        return True
