"""The Job controller: run a Job's pods to completion, count them exactly once, finish the Job.

Kubernetes' ``pkg/controller/job`` (1.32), step by step. ``sync(key)``:

1. reads the Job from the informer (gone: forget its expectations and backoff); a finished Job
   (Complete or Failed) or one managed by another controller (``spec.managedBy``) is left alone;
2. claims its pods — every pod of the namespace, finished ones too — adopting matching orphans
   with the tracking finalizer (:mod:`controllers.job.tracking`) and releasing pods it no longer
   selects;
3. counts: ``succeeded``/``failed`` so far are the status counters, plus the uids waiting in
   ``uncountedTerminatedPods``, plus finished pods still carrying the finalizer. A pod being
   deleted before it succeeded counts as failed (podReplacementPolicy TerminatingOrFailed);
4. decides whether the Job is finished: more failures than ``backoffLimit`` (or, with
   restartPolicy OnFailure, container restarts reaching it) or ``activeDeadlineSeconds`` passed
   → ``FailureTarget`` (BackoffLimitExceeded / DeadlineExceeded), and the active pods are deleted;
   enough successes with nothing active → ``SuccessCriteriaMet`` (CompletionsReached);
5. otherwise, once its expectations are met, manages the pods (:meth:`JobController._manage`):
   a suspended Job deletes its active pods; else it wants ``min(parallelism, completions -
   succeeded)`` active (``parallelism`` until a first success when ``completions`` is unset),
   deletes the surplus (and, Indexed, pods with a duplicate or invalid index) or creates the
   missing ones in slow-start batches — after the backoff that failures impose
   (:mod:`controllers.job.backoff`). Indexed pods get their index (:mod:`controllers.job.indexes`);
6. writes status through the counting handshake, and only once no pod is uncounted or still
   terminating adds the terminal condition — ``Complete`` with ``completionTime``, or ``Failed``
   — with the Events ``Completed`` or the failure's reason, as Kubernetes 1.32 does (the
   ``SuccessCriteriaMet`` / ``FailureTarget`` interim conditions stay beside them).

Pod events wake the Job after ``batch_period`` (1 s, so a burst of pod changes makes one sync);
Job changes wake it at once. A pod whose Job is gone or finished still carrying the finalizer
goes to a second queue that only takes the finalizer off (``sync_orphan_pod``), so deleting a
Job never leaves pods stuck terminating.

Not acted on yet (accepted and stored): ``podFailurePolicy``, ``successPolicy``,
``backoffLimitPerIndex``/``maxFailedIndexes``, podReplacementPolicy ``Failed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controllers.base import Controller, Worker, omit_zero, run_workers, selecting
from controllers.claim import recheck_owner
from controllers.informers import SharedInformers
from controllers.job import metrics
from controllers.job.backoff import DEFAULT_BACKOFF, MAX_BACKOFF, BackoffRecord, BackoffStore
from controllers.job.indexes import (
    COMPLETION_INDEX_ENV,
    COMPLETION_INDEX_KEY,
    Intervals,
    completion_index,
    duplicated_index_pods,
    first_pending_indexes,
    succeeded_indexes,
    valid_index,
)
from controllers.job.tracking import (
    MAX_UNCOUNTED_PODS,
    TRACKING_FINALIZER,
    FinalizerExpectations,
    clean_uncounted,
    has_tracking_finalizer,
    remove_finalizer_patch,
)
from controllers.pod_control import (
    BURST_REPLICAS,
    SLOW_START_INITIAL_BATCH_SIZE,
    ControllerExpectations,
    PodControl,
    claim_pods,
    is_pod_active,
    is_pod_ready,
    namespace_terminating,
    rank_pods_for_deletion,
    slow_start_batch,
)
from skiff.api import errors
from skiff.api.labels import SelectorError, selector_from_proto
from skiff.api.ownership import controller_of, controller_ref, resolve_controller_ref
from skiff.api.timestamps import epoch_seconds, rfc3339
from skiff.api.v1 import batch_pb2, core_pb2, meta_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock
from skiff.client.events import EventRecorder
from skiff.client.informer import object_key
from skiff.client.workqueue import WorkQueue

log = logging.getLogger("skiff.controllers.job")

JOB_CONTROLLER = "kubernetes.io/job-controller"
"""``spec.managedBy`` of the Jobs this controller syncs (also when the field is unset)."""
SYNC_BATCH_PERIOD = 1.0

COMPLETE, FAILED = "Complete", "Failed"
SUCCESS_CRITERIA_MET, FAILURE_TARGET, SUSPENDED = "SuccessCriteriaMet", "FailureTarget", "Suspended"
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")


# ---- the Job's fields and conditions ----


def is_indexed(job: batch_pb2.Job) -> bool:
    return job.spec.completion_mode == "Indexed"


def completion_mode(job: batch_pb2.Job) -> str:
    return "Indexed" if is_indexed(job) else "NonIndexed"


def is_suspended(job: batch_pb2.Job) -> bool:
    return job.spec.suspend


def find_condition(job: batch_pb2.Job, kind: str) -> batch_pb2.JobCondition | None:
    return next((c for c in job.status.conditions if c.type == kind), None)


def is_finished(job: batch_pb2.Job) -> bool:
    """Complete or Failed (``util.IsJobFinished``)."""
    return any(c.type in (COMPLETE, FAILED) and c.status == "True" for c in job.status.conditions)


def new_condition(kind: str, reason: str, message: str, now: float, status: str = "True") -> batch_pb2.JobCondition:
    stamp = rfc3339(now)
    return batch_pb2.JobCondition(type=kind, status=status, reason=reason, message=message,
                                  last_probe_time=stamp, last_transition_time=stamp)


def ensure_condition(job: batch_pb2.Job, kind: str, status: str, reason: str, message: str, now: float) -> bool:
    """Set condition ``kind`` as given (``ensureJobConditionStatus``); a False one is only ever
    changed, never added. True when something changed."""
    current = find_condition(job, kind)
    if current is not None:
        if (current.status, current.reason, current.message) == (status, reason, message):
            return False
        current.CopyFrom(new_condition(kind, reason, message, now, status))
        return True
    if status == "False":
        return False
    job.status.conditions.append(new_condition(kind, reason, message, now, status))
    return True


def is_pod_failed(pod: core_pb2.Pod, job: batch_pb2.Job) -> bool:
    """Failed, or deleted before it succeeded (unless only failed pods are to be replaced)."""
    if pod.status.phase == "Failed":
        return True
    if job.spec.pod_replacement_policy == "Failed":
        return False
    return bool(pod.metadata.deletion_timestamp) and pod.status.phase != "Succeeded"


def is_terminating(pod: core_pb2.Pod) -> bool:
    return bool(pod.metadata.deletion_timestamp) and pod.status.phase not in ("Succeeded", "Failed")


def past_backoff_limit_on_failure(job: batch_pb2.Job, pods: list[core_pb2.Pod]) -> bool:
    """restartPolicy OnFailure: the running and pending pods' container restarts reach backoffLimit."""
    if job.spec.template.spec.restart_policy != "OnFailure":
        return False
    restarts = sum(s.restart_count for p in pods if p.status.phase in ("Running", "Pending")
                   for s in (*p.status.init_container_statuses, *p.status.container_statuses))
    limit = job.spec.backoff_limit
    return restarts > 0 if limit == 0 else restarts >= limit


def _pod_key(pod: core_pb2.Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


@dataclass
class SyncContext:
    """What one sync knows about its Job (``syncJobCtx``)."""

    job: batch_pb2.Job
    """A private copy: status is built on it."""
    pods: list[core_pb2.Pod]
    active: list[core_pb2.Pod]
    ready: int
    terminating: int
    expected_removals: frozenset[str]
    succeeded: int = 0
    failed: int = 0
    finished: batch_pb2.JobCondition | None = None
    backoff: BackoffRecord | None = None
    previous_indexes: Intervals = field(default_factory=Intervals)
    indexes: Intervals = field(default_factory=Intervals)


class JobController(Controller):
    """See the module docstring."""

    NAME = "job"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *, workers: int = 5,
                 clock: Clock | None = None, wall_clock: Callable[[], float] = time.time,
                 batch_period: float = SYNC_BATCH_PERIOD, pod_failure_backoff: float = DEFAULT_BACKOFF,
                 max_pod_failure_backoff: float = MAX_BACKOFF) -> None:
        super().__init__(client, recorder, workers=workers, clock=clock)
        self.orphan_queue: WorkQueue[str] = WorkQueue("job_orphan_pod", clock=clock) if clock else WorkQueue(
            "job_orphan_pod")
        self.wall_clock = wall_clock
        self.batch_period = batch_period
        self.pod_failure_backoff = pod_failure_backoff
        self.max_pod_failure_backoff = max_pod_failure_backoff
        self.expectations = ControllerExpectations(clock)
        self.finalizer_expectations = FinalizerExpectations()
        self.backoff = BackoffStore()
        self.pod_control = PodControl(client, recorder)
        self.jobs = informers.get(batch_pb2.Job)
        self.pods = informers.get(core_pb2.Pod)
        self.jobs.add_handlers(self._add_job, self._update_job, self._delete_job)
        self.pods.add_handlers(self._add_pod, self._update_pod, self._delete_pod)

    async def run(self) -> None:
        await run_workers(self.workers, Worker(self.queue, self.sync, quiet=(errors.Conflict,)),
                          Worker(self.orphan_queue, self.sync_orphan_pod))

    # ---- handlers: Jobs ----

    def _enqueue_batched(self, job: batch_pb2.Job) -> None:
        if self.batch_period > 0:
            self.enqueue_after(object_key(job), self.batch_period)
        else:
            self.enqueue(job)

    def _add_job(self, job: batch_pb2.Job) -> None:
        self.enqueue(job)

    def _update_job(self, old: batch_pb2.Job, cur: batch_pb2.Job) -> None:
        if old.metadata.uid != cur.metadata.uid:
            self._delete_job(old)  # deleted and recreated under the same name between two events
        if cur.metadata.generation == old.metadata.generation:
            self._enqueue_batched(cur)
        else:
            self.enqueue(cur)
        if is_finished(cur):
            self._release_pods_of(cur)  # a safety net: no pod of a finished Job keeps the finalizer
        start = epoch_seconds(cur.status.start_time) if cur.status.start_time else None
        deadline_changed = cur.spec.HasField("active_deadline_seconds") and (
            not old.spec.HasField("active_deadline_seconds")
            or old.spec.active_deadline_seconds != cur.spec.active_deadline_seconds)
        if start is not None and deadline_changed:
            self.enqueue_after(object_key(cur), max(0.0, start + cur.spec.active_deadline_seconds - self.wall_clock()))

    def _delete_job(self, job: batch_pb2.Job) -> None:
        self.enqueue(job)
        self._release_pods_of(job)

    def _release_pods_of(self, job: batch_pb2.Job) -> None:
        """Queue the Job's pods that still carry the finalizer for the orphan queue (``cleanupPodFinalizers``)."""
        for pod in self.pods.store.by_index("owner", job.metadata.uid):
            if has_tracking_finalizer(pod) and controller_of(pod) is not None:
                self.orphan_queue.add(_pod_key(pod))

    # ---- handlers: pods ----

    def _resolve(self, namespace: str, ref: meta_pb2.OwnerReference | None) -> batch_pb2.Job | None:
        return resolve_controller_ref(namespace, ref, "Job", self.jobs.store.get)

    def _matching_jobs(self, pod: core_pb2.Pod) -> list[batch_pb2.Job]:
        return selecting(self.jobs.store, pod.metadata.namespace, pod.metadata.labels)

    def _add_pod(self, pod: core_pb2.Pod) -> None:
        if pod.metadata.deletion_timestamp:
            self._pod_going(pod, final=False)  # seen for the first time already terminating
            return
        ref = controller_of(pod)
        if ref is not None:
            job = self._resolve(pod.metadata.namespace, ref)
            if job is not None:
                self.expectations.creation_observed(object_key(job))
                self._enqueue_batched(job)
            return
        if has_tracking_finalizer(pod):
            self.orphan_queue.add(_pod_key(pod))
        for job in self._matching_jobs(pod):
            self._enqueue_batched(job)

    def _update_pod(self, old: core_pb2.Pod, cur: core_pb2.Pod) -> None:
        if old.metadata.resource_version == cur.metadata.resource_version:
            return
        if cur.metadata.deletion_timestamp:
            self._pod_going(cur, final=False)
            return
        finalizer_gone = not has_tracking_finalizer(cur)
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        if cur_ref != old_ref and old_ref is not None:
            previous = self._resolve(old.metadata.namespace, old_ref)
            if previous is not None:
                if finalizer_gone:
                    self.finalizer_expectations.observed(object_key(previous), cur.metadata.uid)
                self._enqueue_batched(previous)
        if cur_ref is not None:
            job = self._resolve(cur.metadata.namespace, cur_ref)
            if job is None:
                if has_tracking_finalizer(cur):
                    self.orphan_queue.add(_pod_key(cur))
                return
            if finalizer_gone:
                self.finalizer_expectations.observed(object_key(job), cur.metadata.uid)
            self._enqueue_batched(job)
            return
        if dict(cur.metadata.labels) != dict(old.metadata.labels) or cur_ref != old_ref:
            for job in self._matching_jobs(cur):
                self._enqueue_batched(job)
        if has_tracking_finalizer(cur):
            self.orphan_queue.add(_pod_key(cur))

    def _delete_pod(self, pod: core_pb2.Pod) -> None:
        self._pod_going(pod, final=True)

    def _pod_going(self, pod: core_pb2.Pod, *, final: bool) -> None:
        """A pod deleted (``final``) or being deleted: settle expectations, wake its Job."""
        ref = controller_of(pod)
        job = self._resolve(pod.metadata.namespace, ref) if ref is not None else None
        if job is None or is_finished(job):
            if has_tracking_finalizer(pod) and not final:
                self.orphan_queue.add(_pod_key(pod))  # no sync of a Job will take the finalizer off
            return
        key = object_key(job)
        self.expectations.deletion_observed(key, _pod_key(pod))
        if final or not has_tracking_finalizer(pod):
            self.finalizer_expectations.observed(key, pod.metadata.uid)
        self._enqueue_batched(job)

    # ---- the orphan queue ----

    async def sync_orphan_pod(self, key: str) -> None:
        """Take the tracking finalizer off a pod no unfinished Job of ours controls."""
        pod = self.pods.store.get(key)
        if pod is None:
            return
        ref = controller_of(pod)
        if ref is not None:
            if ref.kind != "Job" or not ref.api_version.startswith("batch/"):
                return
            job = self._resolve(pod.metadata.namespace, ref)
            if job is not None and (_managed_elsewhere(job) or not is_finished(job)):
                return  # the Job's own sync counts it
        patch = remove_finalizer_patch(pod)
        if patch is None:
            return
        try:
            await self.client.patch(core_pb2.Pod, pod.metadata.name, patch, namespace=pod.metadata.namespace)
        except errors.NotFound:
            return

    # ---- sync ----

    async def sync(self, key: str) -> None:
        cached = self.jobs.store.get(key)
        if cached is None:
            log.debug("job %s has been deleted", key)
            self.expectations.delete(key)
            self.finalizer_expectations.delete(key)
            self.backoff.remove(key)
            return
        if _managed_elsewhere(cached):
            return
        if is_finished(cached):
            self.backoff.remove(key)
            return
        if cached.spec.completion_mode not in ("", "NonIndexed", "Indexed"):
            self.recorder.event(cached, "Warning", "UnknownCompletionMode",
                                "Skipped Job sync because completion mode is unknown")
            return
        started, result, action = time.monotonic(), "error", metrics.RECONCILING
        try:
            action = await self._sync(key, cached)
            result = "success"
        finally:
            labels = (completion_mode(cached), result, action)
            metrics.JOB_SYNCS.labels(*labels).inc()
            metrics.JOB_SYNC_DURATION.labels(*labels).observe(time.monotonic() - started)

    async def _sync(self, key: str, cached: batch_pb2.Job) -> str:
        job = batch_pb2.Job()
        job.CopyFrom(cached)
        job.status.uncounted_terminated_pods.SetInParent()
        satisfied = self.expectations.satisfied(key)
        pods = await self._pods_for_job(job)
        active_pods = [p for p in pods if is_pod_active(p)]
        ctx = SyncContext(job, pods, active_pods, ready=sum(1 for p in active_pods if is_pod_ready(p)),
                          terminating=sum(1 for p in pods if is_terminating(p)),
                          expected_removals=self.finalizer_expectations.expected(key))
        now = self.wall_clock()
        new_succeeded, new_failed = self._new_finished_pods(ctx)
        uncounted = job.status.uncounted_terminated_pods
        ctx.succeeded = job.status.succeeded + len(new_succeeded) + len(uncounted.succeeded)
        ctx.failed = job.status.failed + len(new_failed) + len(uncounted.failed)
        if not job.status.start_time and not is_suspended(job):
            job.status.start_time = rfc3339(now)
        ctx.backoff = self.backoff.next_record(key, new_succeeded, new_failed, now)
        ctx.finished = self._finished_condition(key, ctx, now)
        if is_indexed(job):
            ctx.previous_indexes, ctx.indexes = succeeded_indexes(
                job.status.completed_indexes, pods, job.spec.completions, self._tracked_uids(ctx))
            ctx.succeeded = ctx.indexes.total()
        active = len(active_pods)
        action = metrics.RECONCILING
        failure: Exception | None = None
        suspend_changed = False
        if ctx.finished is not None:
            deleted_ready, deleted, failure = await self._delete_active_pods(job, active_pods)
            if deleted != active or not satisfied:
                ctx.finished = None  # pods or finalizers may still be on their way
            active -= deleted
            ctx.terminating += deleted
            ctx.ready -= deleted_ready
        else:
            managed = False
            if satisfied and not job.metadata.deletion_timestamp:
                active, action, failure = await self._manage(key, ctx)
                managed = True
            if job.spec.HasField("completions"):
                complete = ctx.succeeded >= job.spec.completions and active == 0
            else:
                complete = ctx.succeeded > 0 and active == 0
            if complete:
                ctx.finished = new_condition(SUCCESS_CRITERIA_MET, *COMPLETIONS_REACHED, now)
            elif managed:
                suspend_changed = self._note_suspension(job, now)
        status = job.status
        needs_update = (suspend_changed or active != status.active or not status.HasField("ready")
                        or ctx.ready != status.ready or not status.HasField("terminating")
                        or ctx.terminating != status.terminating)
        status.active, status.ready, status.terminating = active, ctx.ready, ctx.terminating
        await self._track_status(key, ctx, needs_update)
        if failure is not None:
            raise failure
        return action

    def _finished_condition(self, key: str, ctx: SyncContext, now: float) -> batch_pb2.JobCondition | None:
        job = ctx.job
        met = find_condition(job, SUCCESS_CRITERIA_MET)
        if met is not None and met.status == "True":
            return met
        target = find_condition(job, FAILURE_TARGET)
        if target is not None and target.status == "True":
            return new_condition(FAILED, target.reason, target.message, now)
        if ctx.failed > job.spec.backoff_limit or past_backoff_limit_on_failure(job, ctx.pods):
            return new_condition(FAILURE_TARGET, *BACKOFF_LIMIT_EXCEEDED, now)
        if job.spec.HasField("active_deadline_seconds") and not is_suspended(job):
            start = epoch_seconds(job.status.start_time) or now
            remaining = start + job.spec.active_deadline_seconds - now
            if remaining <= 0:
                return new_condition(FAILURE_TARGET, *DEADLINE_EXCEEDED, now)
            self.enqueue_after(key, remaining)
        return None

    def _note_suspension(self, job: batch_pb2.Job, now: float) -> bool:
        """The Suspended condition and Event after a managed sync; resuming restarts the clock."""
        if is_suspended(job):
            changed = ensure_condition(job, SUSPENDED, "True", "JobSuspended", "Job suspended", now)
            if changed:
                self.recorder.event(job, "Normal", "Suspended", "Job suspended")
            return changed
        changed = ensure_condition(job, SUSPENDED, "False", "JobResumed", "Job resumed", now)
        if changed:
            self.recorder.event(job, "Normal", "Resumed", "Job resumed")
            job.status.start_time = rfc3339(now)
        return changed

    async def _pods_for_job(self, job: batch_pb2.Job) -> list[core_pb2.Pod]:
        """The pods the Job manages, claimed (adoptions get the tracking finalizer)."""
        try:
            selector = selector_from_proto(job.spec.selector)
        except SelectorError as exc:
            raise errors.Invalid(f"couldn't convert Job selector: {exc}") from exc
        candidates = self.pods.store.by_index("namespace", job.metadata.namespace)
        return await claim_pods(self.client, job, selector, candidates,
                                can_adopt=lambda: recheck_owner(self.client, job), finalizers=(TRACKING_FINALIZER,))

    def _tracked_uids(self, ctx: SyncContext) -> set[str]:
        """Pods still to be counted: they carry the finalizer and no removal is on its way."""
        return {p.metadata.uid for p in ctx.pods
                if has_tracking_finalizer(p) and p.metadata.uid not in ctx.expected_removals}

    def _new_finished_pods(self, ctx: SyncContext) -> tuple[list[core_pb2.Pod], list[core_pb2.Pod]]:
        """Finished pods not yet counted in status nor waiting in uncountedTerminatedPods."""
        job, uncounted = ctx.job, ctx.job.status.uncounted_terminated_pods
        tracked = self._tracked_uids(ctx)
        succeeded, failed = [], []
        for pod in ctx.pods:
            uid = pod.metadata.uid
            if uid not in tracked or (is_indexed(job) and valid_index(pod, job.spec.completions) is None):
                continue
            if pod.status.phase == "Succeeded" and uid not in uncounted.succeeded:
                succeeded.append(pod)
            elif is_pod_failed(pod, job) and uid not in uncounted.failed:
                failed.append(pod)
        return succeeded, failed

    # ---- managing pods ----

    def _want_active(self, ctx: SyncContext, active: int) -> int:
        spec = ctx.job.spec
        if not spec.HasField("completions"):
            return active if ctx.succeeded > 0 else spec.parallelism
        return max(0, min(spec.completions - ctx.succeeded, spec.parallelism))

    def _pods_for_removal(self, job: batch_pb2.Job, active: list[core_pb2.Pod], at_least: int) -> list[core_pb2.Pod]:
        """The surplus active pods to delete, least valuable first (pending before running, not
        ready before ready, ...); for an Indexed Job also every pod with a bad or repeated index."""
        ordered = rank_pods_for_deletion(active, [], self.wall_clock())
        remove: list[core_pb2.Pod] = []
        if is_indexed(job):
            remove = duplicated_index_pods(active, job.spec.completions, list(reversed(ordered)))
        removing = {p.metadata.uid for p in remove}
        rest = [p for p in ordered if p.metadata.uid not in removing]
        return remove + rest[:max(0, at_least - len(remove))]

    async def _manage(self, key: str, ctx: SyncContext) -> tuple[int, str, Exception | None]:
        """Create or delete pods toward the wanted number (``manageJob``): (active, action, error)."""
        job = ctx.job
        active = len(ctx.active)
        if is_suspended(job):
            return await self._remove_pods(key, ctx, self._pods_for_removal(job, ctx.active, active))
        want = self._want_active(ctx, active)
        surplus = self._pods_for_removal(job, ctx.active, max(0, active - want))[:BURST_REPLICAS]
        if surplus:
            return await self._remove_pods(key, ctx, surplus)
        terminating = ctx.terminating if job.spec.pod_replacement_policy == "Failed" else 0
        missing = want - terminating - active
        if missing <= 0:
            return active, metrics.TRACKING, None
        assert ctx.backoff is not None
        wait = ctx.backoff.remaining(self.wall_clock(), self.pod_failure_backoff, self.max_pod_failure_backoff)
        if wait > 0:
            self.enqueue_after(key, wait)
            return active, metrics.PODS_CREATED, None
        missing = min(missing, BURST_REPLICAS)
        indexes: list[int | None] = [None] * missing
        if is_indexed(job):
            indexes = list(first_pending_indexes(ctx.indexes, ctx.active, missing, job.spec.completions))
        created, failure = await self._create_pods(key, job, indexes)
        return active + created, metrics.PODS_CREATED, failure

    async def _remove_pods(self, key: str, ctx: SyncContext,
                           pods: list[core_pb2.Pod]) -> tuple[int, str, Exception | None]:
        self.expectations.expect_deletions(key, [_pod_key(p) for p in pods])
        removed_ready, removed, failure = await self._delete_job_pods(key, ctx.job, pods)
        ctx.terminating += removed
        ctx.ready -= removed_ready
        return len(ctx.active) - removed, metrics.PODS_DELETED, failure

    def _pod_template(self, job: batch_pb2.Job) -> core_pb2.PodTemplateSpec:
        template = core_pb2.PodTemplateSpec()
        template.CopyFrom(job.spec.template)
        if is_indexed(job):
            for container in (*template.spec.init_containers, *template.spec.containers):
                if not any(e.name == COMPLETION_INDEX_ENV for e in container.env):
                    env = container.env.add(name=COMPLETION_INDEX_ENV)
                    env.value_from.field_ref.field_path = f"metadata.labels['{COMPLETION_INDEX_KEY}']"
        if TRACKING_FINALIZER not in template.metadata.finalizers:
            template.metadata.finalizers.append(TRACKING_FINALIZER)
        return template

    async def _create_pods(self, key: str, job: batch_pb2.Job,
                           indexes: list[int | None]) -> tuple[int, Exception | None]:
        """Create one pod per entry (an Indexed Job's index, else None) in slow-start batches."""
        log.info("job %s: too few pods running, creating %d", key, len(indexes))
        self.expectations.expect_creations(key, len(indexes))
        template, ref = self._pod_template(job), controller_ref(job)
        pending = iter(indexes)

        async def create_one() -> None:
            index = next(pending)
            pod_template, generate_name = template, ""
            if index is not None:
                pod_template = core_pb2.PodTemplateSpec()
                pod_template.CopyFrom(template)
                pod_template.metadata.annotations[COMPLETION_INDEX_KEY] = str(index)
                pod_template.metadata.labels[COMPLETION_INDEX_KEY] = str(index)
                pod_template.spec.hostname = f"{job.metadata.name}-{index}"
                generate_name = f"{job.metadata.name}-{index}-"
            try:
                await self.pod_control.create_pod(pod_template, job, ref, generate_name)
            except errors.Forbidden as exc:
                if not namespace_terminating(exc):
                    raise  # a terminating namespace refuses pods: nothing to retry

        created, error = await slow_start_batch(len(indexes), SLOW_START_INITIAL_BATCH_SIZE, create_one)
        for _ in range(len(indexes) - created):
            self.expectations.creation_observed(key)  # never coming: do not wait for them
        return created, error if isinstance(error, Exception) else None

    async def _delete_job_pods(self, key: str, job: batch_pb2.Job,
                               pods: list[core_pb2.Pod]) -> tuple[int, int, Exception | None]:
        """Take each pod's finalizer off, then delete it: (ready ones, deleted, first error)."""

        ready = 0

        async def delete_one(pod: core_pb2.Pod) -> Exception | None:
            nonlocal ready
            try:
                patch = remove_finalizer_patch(pod)
                if patch is not None:
                    await self.client.patch(core_pb2.Pod, pod.metadata.name, patch, namespace=pod.metadata.namespace)
            except errors.StatusError as exc:  # the pod keeps running: it stays counted as it is
                self.expectations.deletion_observed(key, _pod_key(pod))
                return None if isinstance(exc, errors.NotFound) else exc
            ready += 1 if is_pod_ready(pod) else 0
            try:
                await self.pod_control.delete_pod(pod.metadata.namespace, pod.metadata.name, job)
            except errors.NotFound:
                self.expectations.deletion_observed(key, _pod_key(pod))
            except errors.StatusError as exc:
                self.expectations.deletion_observed(key, _pod_key(pod))
                return exc
            return None

        outcomes = await asyncio.gather(*(delete_one(p) for p in pods))
        failures = [o for o in outcomes if o is not None]
        return ready, len(pods) - len(failures), failures[0] if failures else None

    async def _delete_active_pods(self, job: batch_pb2.Job,
                                  pods: list[core_pb2.Pod]) -> tuple[int, int, Exception | None]:
        """A finished Job's active pods deleted, finalizers kept (counting takes them off)."""

        async def delete_one(pod: core_pb2.Pod) -> Exception | None:
            try:
                await self.pod_control.delete_pod(pod.metadata.namespace, pod.metadata.name, job)
            except errors.NotFound:
                pass
            except errors.StatusError as exc:
                return exc
            return None

        outcomes = await asyncio.gather(*(delete_one(p) for p in pods))
        failures = [o for o in outcomes if o is not None]
        ready = sum(1 for p in pods if is_pod_ready(p))
        return ready, len(pods) - len(failures), failures[0] if failures else None

    # ---- counting and status ----

    async def _track_status(self, key: str, ctx: SyncContext, needs_flush: bool) -> None:
        """Count finished pods through the handshake, then finish the Job when it may
        (``trackJobStatusAndRemoveFinalizers``)."""
        job = ctx.job
        status, uncounted = job.status, job.status.uncounted_terminated_pods
        with_finalizer = self._tracked_uids(ctx)
        counted = [status.succeeded, status.failed]
        needs_flush = clean_uncounted(status, with_finalizer) or needs_flush
        to_release: list[core_pb2.Pod] = []
        new_indexes: list[int] = []
        full = False
        pods = ctx.pods
        if is_indexed(job):
            pods = sorted(pods, key=lambda p: (completion_index(p) is None, completion_index(p) or 0))
        for pod in pods:
            uid = pod.metadata.uid
            if uid not in with_finalizer:
                continue  # counted by an earlier sync
            failed = is_pod_failed(pod, job)
            if not (job.metadata.deletion_timestamp or ctx.finished is not None
                    or pod.status.phase == "Succeeded" or failed):
                continue
            to_release.append(pod)
            index = valid_index(pod, job.spec.completions) if is_indexed(job) else None
            if pod.status.phase == "Succeeded" and uid not in uncounted.failed:
                if is_indexed(job):
                    if index is not None and not ctx.previous_indexes.has(index):
                        new_indexes.append(index)
                        needs_flush = True
                elif uid not in uncounted.succeeded:
                    uncounted.succeeded.append(uid)
                    needs_flush = True
            elif failed or (ctx.finished is not None and ctx.finished.type != SUCCESS_CRITERIA_MET):
                if uid not in uncounted.failed and (not is_indexed(job) or index is not None):
                    uncounted.failed.append(uid)
                    needs_flush = True
            if len(new_indexes) + len(uncounted.succeeded) + len(uncounted.failed) >= MAX_UNCOUNTED_PODS:
                full = True
                break
        if is_indexed(job):
            ctx.indexes = ctx.indexes.with_indexes(new_indexes)
            if str(ctx.indexes) != status.completed_indexes:
                needs_flush = True
            status.succeeded = ctx.indexes.total()
            status.completed_indexes = str(ctx.indexes)
        needs_flush = self._interim_condition(ctx) or needs_flush
        needs_flush = await self._flush_and_release(key, ctx, to_release, with_finalizer, needs_flush, counted)
        finished = not full and self._enact_finished(ctx)
        if needs_flush or finished:
            ctx.job = await self._update_status(ctx.job)
            if finished:
                self._record_finished(ctx)
            self._record_pods_finished(ctx.job, counted)

    def _interim_condition(self, ctx: SyncContext) -> bool:
        """Write FailureTarget / SuccessCriteriaMet now; the terminal condition comes once every pod
        is counted and gone. True when the status changed."""
        finished = ctx.finished
        if finished is None:
            return False
        if finished.type == FAILURE_TARGET:
            ctx.job.status.conditions.append(finished)
            ctx.finished = new_condition(FAILED, finished.reason, finished.message, self.wall_clock())
            return True
        if finished.type == SUCCESS_CRITERIA_MET:
            added = find_condition(ctx.job, SUCCESS_CRITERIA_MET) is None
            if added:
                ctx.job.status.conditions.append(finished)
            ctx.finished = new_condition(COMPLETE, finished.reason, finished.message, self.wall_clock())
            return added
        return False

    async def _flush_and_release(self, key: str, ctx: SyncContext, pods: list[core_pb2.Pod],
                                 with_finalizer: set[str], needs_flush: bool, counted: list[int]) -> bool:
        """Write the uncounted uids, take the finalizers off, count what lost it
        (``flushUncountedAndRemoveFinalizers``). Returns whether status changes wait to be written."""
        if needs_flush:
            ctx.job = await self._update_status(ctx.job)
            if ctx.backoff is not None:
                self.backoff.update(ctx.backoff)
            self._record_pods_finished(ctx.job, counted)
            needs_flush = False
        failure: Exception | None = None
        if pods:
            self.finalizer_expectations.expect_removed(key, [p.metadata.uid for p in pods])
            outcomes = await asyncio.gather(*(self._release(key, p) for p in pods))
            for pod, outcome in zip(pods, outcomes, strict=True):
                if outcome is None:
                    with_finalizer.discard(pod.metadata.uid)
                elif failure is None:
                    failure = outcome
        needs_flush = clean_uncounted(ctx.job.status, with_finalizer) or needs_flush
        if failure is not None:
            if needs_flush:
                ctx.job = await self._update_status(ctx.job)
            raise failure
        return needs_flush

    async def _release(self, key: str, pod: core_pb2.Pod) -> Exception | None:
        """Take the tracking finalizer off one pod; None when it is off (or the pod is gone)."""
        patch = remove_finalizer_patch(pod)
        if patch is None:
            return None
        try:
            await self.client.patch(core_pb2.Pod, pod.metadata.name, patch, namespace=pod.metadata.namespace)
        except errors.NotFound:
            return None
        except errors.StatusError as exc:
            self.finalizer_expectations.observed(key, pod.metadata.uid)
            return exc
        return None

    def _enact_finished(self, ctx: SyncContext) -> bool:
        """Add the terminal condition once nothing is uncounted or terminating (``enactJobFinished``)."""
        finished, status = ctx.finished, ctx.job.status
        if finished is None:
            return False
        if status.uncounted_terminated_pods.succeeded or status.uncounted_terminated_pods.failed:
            return False
        if ctx.terminating > 0:
            return False
        now = epoch_seconds(finished.last_transition_time) or self.wall_clock()
        ensure_condition(ctx.job, finished.type, finished.status, finished.reason, finished.message, now)
        if finished.type == COMPLETE:
            status.completion_time = finished.last_transition_time
        return True

    def _record_finished(self, ctx: SyncContext) -> None:
        job, finished = ctx.job, ctx.finished
        assert finished is not None
        mode = completion_mode(job)
        if finished.type == COMPLETE:
            if job.spec.HasField("completions") and job.status.succeeded > job.spec.completions:
                self.recorder.event(job, "Warning", "TooManySucceededPods",
                                    "Too many succeeded pods running after completion count reached")
            self.recorder.event(job, "Normal", "Completed", "Job completed")
            metrics.JOBS_FINISHED.labels(mode, "succeeded", "").inc()
        else:
            self.recorder.event(job, "Warning", finished.reason, finished.message)
            metrics.JOBS_FINISHED.labels(mode, "failed", finished.reason).inc()

    @staticmethod
    def _record_pods_finished(job: batch_pb2.Job, counted: list[int]) -> None:
        """Count the pods the written status newly counts; ``counted`` is updated to it."""
        mode = completion_mode(job)
        now = [job.status.succeeded, job.status.failed]
        for result, was, is_ in zip(("succeeded", "failed"), counted, now, strict=True):
            if is_ > was:
                metrics.JOB_PODS_FINISHED.labels(mode, result).inc(is_ - was)
        counted[:] = now

    async def _update_status(self, job: batch_pb2.Job) -> batch_pb2.Job:
        omit_zero(job.status, "active", "succeeded", "failed")
        if not job.status.completed_indexes:
            job.status.ClearField("completed_indexes")
        updated = await self.client.update_status(job)
        updated.status.uncounted_terminated_pods.SetInParent()
        return updated


def _managed_elsewhere(job: batch_pb2.Job) -> bool:
    return job.spec.HasField("managed_by") and job.spec.managed_by != JOB_CONTROLLER

