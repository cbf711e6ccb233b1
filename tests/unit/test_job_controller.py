"""The Job controller's sync(key) on seeded informer stores, against an in-memory client.

Nothing runs in the background: each test seeds the stores, calls ``sync`` (or ``sync_orphan_pod``)
and looks at what the FakeClient received — pod creates, finalizer patches, deletes and Job status
writes, in order — and at the Job status those writes leave. Time is a FakeClock (expectations,
delayed requeues) and a wall clock the harness holds still (``WALL``) unless a test moves it on
(start times, pod-failure backoff, activeDeadlineSeconds). ``batch_period=0`` so a handler's
enqueue is immediate.

Covered: pod creation from the template (generateName, controller reference, tracking finalizer),
the three-step counting handshake and its finalizer expectations, SuccessCriteriaMet/Complete and
FailureTarget/Failed (backoffLimit, restartPolicy OnFailure restarts, activeDeadlineSeconds), the
pod-failure backoff, suspend and resume, Indexed Jobs, Jobs left alone (managedBy, finished), the
orphan-pod queue, and Jobs without completions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from controllers.informers import SharedInformers
from controllers.job.controller import JobController
from controllers.job.indexes import COMPLETION_INDEX_ENV, COMPLETION_INDEX_KEY
from controllers.job.tracking import TRACKING_FINALIZER
from skiff.api import errors
from skiff.api.ownership import controller_ref
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import batch_pb2, core_pb2
from skiff.client.clock import FakeClock
from tests.unit.controller_fakes import Call, FakeClient, FakeRecorder, deliver

WALL = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
KEY = "default/pi"
JOB_UID = "job-uid"
LABELS = {"app": "pi", "tier": "batch"}


def at(offset: float) -> str:
    """The RFC 3339 stamp ``offset`` seconds after WALL (negative: before)."""
    return rfc3339(WALL + offset)


def make_job(completions: int | None = 3, parallelism: int = 2, *, backoff_limit: int = 6,
             indexed: bool = False, suspend: bool = False, deadline: int | None = None,
             restart_policy: str = "Never", started: float | None = None) -> batch_pb2.Job:
    job = batch_pb2.Job(api_version="batch/v1", kind="Job")
    job.metadata.name, job.metadata.namespace, job.metadata.uid = "pi", "default", JOB_UID
    job.metadata.generation = 1
    spec = job.spec
    if completions is not None:
        spec.completions = completions
    spec.parallelism = parallelism
    spec.backoff_limit = backoff_limit
    spec.completion_mode = "Indexed" if indexed else "NonIndexed"
    spec.suspend = suspend
    spec.pod_replacement_policy = "TerminatingOrFailed"
    if deadline is not None:
        spec.active_deadline_seconds = deadline
    spec.selector.match_labels["app"] = "pi"
    spec.template.metadata.labels.update(LABELS)
    spec.template.spec.restart_policy = restart_policy
    spec.template.spec.containers.add(name="main", image="perl:5.34")
    if started is not None:
        job.status.start_time = at(started)
    return job


def make_pod(name: str, *, phase: str = "Running", finalizer: bool = True, owned: bool = True,
             index: int | None = None, deleting: bool = False, finished_at: float | None = None,
             restarts: int = 0, ready: bool = False, age: float = 600) -> core_pb2.Pod:
    pod = core_pb2.Pod(api_version="v1", kind="Pod")
    pod.metadata.name, pod.metadata.namespace, pod.metadata.uid = name, "default", f"uid-{name}"
    pod.metadata.labels.update(LABELS)
    pod.metadata.creation_timestamp = at(-age)
    if owned:
        pod.metadata.owner_references.append(controller_ref(make_job()))
    if finalizer:
        pod.metadata.finalizers.append(TRACKING_FINALIZER)
    if index is not None:
        pod.metadata.annotations[COMPLETION_INDEX_KEY] = str(index)
        pod.metadata.labels[COMPLETION_INDEX_KEY] = str(index)
    if deleting:
        pod.metadata.deletion_timestamp = at(0)
    pod.spec.node_name = "n1"
    pod.status.phase = phase
    status = pod.status.container_statuses.add(name="main", restart_count=restarts)
    if finished_at is not None:
        status.state.terminated.exit_code = 0 if phase == "Succeeded" else 1
        status.state.terminated.finished_at = at(finished_at)
    if ready:
        pod.status.conditions.add(type="Ready", status="True", last_transition_time=at(-age))
    return pod


class Harness:
    def __init__(self, *objects: Any) -> None:
        self.client = FakeClient()
        self.recorder = FakeRecorder()
        self.clock = FakeClock()
        self.now = WALL
        self.informers = SharedInformers(cast(Any, self.client))
        self.ctl = JobController(cast(Any, self.client), self.informers, cast(Any, self.recorder),
                                 clock=self.clock, wall_clock=lambda: self.now, batch_period=0)
        for obj in objects:
            self.seed(obj)

    def seed(self, obj: Any) -> Any:
        self.client.put(obj)
        self.informers.get(type(obj)).store.put(obj)
        return obj

    def refresh_job(self) -> None:
        """Let the Job informer catch up with the server's copy (its status writes)."""
        self.informers.get(batch_pb2.Job).store.put(self.client.stored(batch_pb2.Job, "pi"))

    def refresh_pods(self) -> None:
        """Let the pod informer catch up: every change, deletion and creation is delivered."""
        pods = self.informers.get(core_pb2.Pod)
        for pod in list(pods.store.list()):
            if self.client.stored(core_pb2.Pod, pod.metadata.name) is None:
                deliver(pods, "DELETED", pod)
        for key, obj in list(self.client.objects.items()):
            if key[0] == "pods":
                deliver(pods, "MODIFIED", obj)

    def created(self) -> list[core_pb2.Pod]:
        return [c.detail for c in self.client.verbs("create")]

    def deleted(self) -> list[str]:
        return [c.name for c in self.client.verbs("delete")]

    def patched(self) -> list[str]:
        return [c.name for c in self.client.verbs("patch")]

    def writes(self) -> list[batch_pb2.JobStatus]:
        """Every Job status sent, in order."""
        return [c.detail.status for c in self.client.verbs("update_status")]

    def job(self) -> batch_pb2.Job:
        job = self.client.stored(batch_pb2.Job, "pi")
        assert job is not None
        return cast(batch_pb2.Job, job)

    def status(self) -> batch_pb2.JobStatus:
        return self.job().status

    def conditions(self) -> list[tuple[str, str, str, str]]:
        return [(c.type, c.status, c.reason, c.message) for c in self.status().conditions]

    def pod(self, name: str) -> core_pb2.Pod | None:
        return cast(core_pb2.Pod | None, self.client.stored(core_pb2.Pod, name))


def finalizer_patch(uid: str) -> dict[str, Any]:
    return {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER], "uid": uid}}


def verbs_for(calls: list[Call], name: str) -> list[str]:
    return [c.verb for c in calls if c.name == name]


# ---- creating pods ----


async def test_a_new_job_creates_parallelism_pods_with_owner_finalizer_and_labels() -> None:
    h = Harness(make_job(completions=3, parallelism=2))
    await h.ctl.sync(KEY)
    pods = h.created()
    assert len(pods) == 2
    for pod in pods:
        assert pod.metadata.generate_name == "pi-"
        assert not pod.metadata.name
        (ref,) = pod.metadata.owner_references
        assert (ref.api_version, ref.kind, ref.name, ref.uid) == ("batch/v1", "Job", "pi", JOB_UID)
        assert ref.controller and ref.block_owner_deletion
        assert list(pod.metadata.finalizers) == [TRACKING_FINALIZER]
        assert dict(pod.metadata.labels) == LABELS
        assert pod.spec.containers[0].image == "perl:5.34"
        assert not pod.spec.hostname
    assert h.recorder.reasons() == ["SuccessfulCreate"] * 2
    assert h.ctl.expectations.pending(KEY) == (2, 0)
    (sent,) = h.writes()
    assert sent.HasField("uncounted_terminated_pods")
    assert list(sent.uncounted_terminated_pods.succeeded) == []
    assert list(sent.uncounted_terminated_pods.failed) == []
    status = h.status()
    assert status.start_time == at(0)
    assert (status.active, status.ready, status.terminating) == (2, 0, 0)
    assert status.HasField("ready") and status.HasField("terminating")
    assert not status.HasField("succeeded") and not status.HasField("failed")
    assert list(status.conditions) == []


async def test_no_second_create_until_the_informer_shows_the_pods() -> None:
    h = Harness(make_job(completions=3, parallelism=2))
    await h.ctl.sync(KEY)
    h.refresh_job()
    await h.ctl.sync(KEY)
    assert len(h.created()) == 2
    h.refresh_pods()
    assert h.ctl.expectations.satisfied(KEY)
    await h.ctl.sync(KEY)
    assert len(h.created()) == 2  # two active, two wanted


async def test_an_orphan_matching_the_selector_is_adopted_with_the_tracking_finalizer() -> None:
    h = Harness(make_job(completions=1, parallelism=1), make_pod("stray", owned=False, finalizer=False))
    await h.ctl.sync(KEY)
    stray = h.pod("stray")
    assert stray is not None
    assert [r.uid for r in stray.metadata.owner_references] == [JOB_UID]
    assert list(stray.metadata.finalizers) == [TRACKING_FINALIZER]
    assert h.created() == []  # the adopted pod is the one wanted
    assert h.status().active == 1


# ---- counting: the handshake ----


async def test_a_succeeded_pod_is_counted_through_uncounted_then_finalizer_removal() -> None:
    h = Harness(make_job(completions=3, parallelism=2),
                make_pod("a", phase="Succeeded", finished_at=-5), make_pod("b"))
    await h.ctl.sync(KEY)
    tracking = [c for c in h.client.calls if c.verb in ("update_status", "patch")]
    assert [c.verb for c in tracking] == ["update_status", "patch", "update_status"]
    first, patch, last = tracking
    assert list(first.detail.status.uncounted_terminated_pods.succeeded) == ["uid-a"]
    assert not first.detail.status.HasField("succeeded")
    assert (patch.kind, patch.name, patch.detail) == ("Pod", "a", finalizer_patch("uid-a"))
    assert last.detail.status.succeeded == 1
    assert list(last.detail.status.uncounted_terminated_pods.succeeded) == []
    stored_a = h.pod("a")
    assert stored_a is not None and list(stored_a.metadata.finalizers) == []
    assert h.ctl.finalizer_expectations.expected(KEY) == frozenset({"uid-a"})
    # 3 - 1 succeeded = 2 wanted, b is active: one more pod
    assert len(h.created()) == 1
    assert h.status().active == 2


async def test_a_pod_whose_finalizer_removal_is_on_its_way_is_not_counted_twice() -> None:
    h = Harness(make_job(completions=3, parallelism=2),
                make_pod("a", phase="Succeeded", finished_at=-5), make_pod("b"))
    await h.ctl.sync(KEY)
    h.refresh_job()  # the pod store still shows "a" with its finalizer
    calls = len(h.client.calls)
    await h.ctl.sync(KEY)
    later = h.client.calls[calls:]
    assert [c for c in later if c.verb == "patch"] == []
    assert h.status().succeeded == 1
    assert list(h.status().uncounted_terminated_pods.succeeded) == []
    # once the informer shows the finalizer gone, the expectation is settled
    h.refresh_pods()
    assert h.ctl.finalizer_expectations.expected(KEY) == frozenset()
    h.refresh_job()
    await h.ctl.sync(KEY)
    assert h.status().succeeded == 1


async def test_uids_left_in_uncounted_by_an_earlier_sync_are_counted_once_their_finalizer_is_gone() -> None:
    job = make_job(completions=3, parallelism=1)
    job.status.uncounted_terminated_pods.succeeded.append("uid-a")
    job.status.uncounted_terminated_pods.failed.append("uid-gone")
    h = Harness(job, make_pod("a", phase="Succeeded", finalizer=False), make_pod("b"))
    await h.ctl.sync(KEY)
    status = h.status()
    assert (status.succeeded, status.failed) == (1, 1)
    assert list(status.uncounted_terminated_pods.succeeded) == []
    assert list(status.uncounted_terminated_pods.failed) == []
    assert h.patched() == []


# ---- completion ----


async def test_all_completions_succeeded_adds_success_criteria_met_then_complete() -> None:
    h = Harness(make_job(completions=2, parallelism=2),
                make_pod("a", phase="Succeeded", finished_at=-20), make_pod("b", phase="Succeeded", finished_at=-10))
    await h.ctl.sync(KEY)
    assert h.created() == [] and h.deleted() == []
    first, last = h.writes()
    assert sorted(first.uncounted_terminated_pods.succeeded) == ["uid-a", "uid-b"]
    assert [(c.type, c.reason) for c in first.conditions] == [("SuccessCriteriaMet", "CompletionsReached")]
    assert sorted(h.patched()) == ["a", "b"]
    message = "Reached expected number of succeeded pods"
    assert h.conditions() == [("SuccessCriteriaMet", "True", "CompletionsReached", message),
                              ("Complete", "True", "CompletionsReached", message)]
    status = h.status()
    assert status.succeeded == 2 and not status.HasField("active")
    assert status.completion_time == at(0)
    assert h.recorder.events == [(KEY, "Normal", "Completed", "Job completed")]


async def test_complete_waits_for_terminating_pods() -> None:
    h = Harness(make_job(completions=2, parallelism=2),
                make_pod("a", phase="Succeeded", finished_at=-20), make_pod("b", phase="Succeeded", finished_at=-10),
                make_pod("c", deleting=True, finalizer=False))
    await h.ctl.sync(KEY)
    assert [c[0] for c in h.conditions()] == ["SuccessCriteriaMet"]
    assert not h.status().completion_time
    assert h.status().terminating == 1
    assert "Completed" not in h.recorder.reasons()
    # c goes away: the next sync completes the Job
    h.client.objects.pop(("pods", "default", "c"))
    h.refresh_pods()
    h.refresh_job()
    await h.ctl.sync(KEY)
    assert [c[0] for c in h.conditions()] == ["SuccessCriteriaMet", "Complete"]
    assert h.status().terminating == 0
    assert h.recorder.reasons() == ["Completed"]


async def test_a_finished_job_is_not_touched() -> None:
    job = make_job(completions=1, parallelism=1)
    job.status.conditions.add(type="Complete", status="True")
    h = Harness(job, make_pod("a", phase="Succeeded"), make_pod("b"))
    await h.ctl.sync(KEY)
    assert h.client.calls == []
    assert h.recorder.events == []


async def test_a_job_managed_by_another_controller_is_not_touched() -> None:
    job = make_job()
    job.spec.managed_by = "example.com/my-job-controller"
    h = Harness(job, make_pod("a", phase="Succeeded"))
    await h.ctl.sync(KEY)
    assert h.client.calls == []


async def test_managed_by_the_job_controller_itself_is_synced() -> None:
    job = make_job(completions=1, parallelism=1)
    job.spec.managed_by = "kubernetes.io/job-controller"
    h = Harness(job)
    await h.ctl.sync(KEY)
    assert len(h.created()) == 1


# ---- failures ----


async def test_failures_past_the_backoff_limit_fail_the_job() -> None:
    h = Harness(make_job(completions=3, parallelism=2, backoff_limit=1),
                make_pod("f1", phase="Failed", finished_at=-30), make_pod("f2", phase="Failed", finished_at=-20))
    await h.ctl.sync(KEY)
    assert h.created() == []
    first, last = h.writes()
    assert sorted(first.uncounted_terminated_pods.failed) == ["uid-f1", "uid-f2"]
    message = "Job has reached the specified backoff limit"
    assert [(c.type, c.reason, c.message) for c in first.conditions] == [
        ("FailureTarget", "BackoffLimitExceeded", message)]
    assert sorted(h.patched()) == ["f1", "f2"]
    assert h.conditions() == [("FailureTarget", "True", "BackoffLimitExceeded", message),
                              ("Failed", "True", "BackoffLimitExceeded", message)]
    assert h.status().failed == 2
    assert not h.status().completion_time
    assert h.recorder.events == [(KEY, "Warning", "BackoffLimitExceeded", message)]


async def test_a_failing_job_deletes_its_active_pods_and_fails_once_they_are_gone() -> None:
    h = Harness(make_job(completions=3, parallelism=3, backoff_limit=1),
                make_pod("f1", phase="Failed", finished_at=-30), make_pod("f2", phase="Failed", finished_at=-20),
                make_pod("r", ready=True))
    await h.ctl.sync(KEY)
    assert h.deleted() == ["r"]
    # the active pod is deleted with its finalizer kept; counting takes it off afterwards
    assert verbs_for(h.client.calls, "r") == ["delete", "patch"]
    assert [c[0] for c in h.conditions()] == ["FailureTarget"]
    status = h.status()
    assert (status.failed, status.terminating, status.ready) == (3, 1, 0)
    assert not status.HasField("active")
    assert h.recorder.reasons() == ["SuccessfulDelete"]
    h.refresh_pods()
    h.refresh_job()
    await h.ctl.sync(KEY)  # r is still terminating (its kubelet has not stopped it yet)
    assert [c[0] for c in h.conditions()] == ["FailureTarget"]
    h.client.objects.pop(("pods", "default", "r"))
    h.refresh_pods()
    h.refresh_job()
    await h.ctl.sync(KEY)
    assert [c[0] for c in h.conditions()] == ["FailureTarget", "Failed"]
    assert h.recorder.reasons() == ["SuccessfulDelete", "BackoffLimitExceeded"]
    assert h.status().failed == 3


async def test_on_failure_restarts_reaching_the_backoff_limit_fail_the_job() -> None:
    h = Harness(make_job(completions=2, parallelism=2, backoff_limit=3, restart_policy="OnFailure"),
                make_pod("a", restarts=2), make_pod("b", restarts=1))
    await h.ctl.sync(KEY)
    assert sorted(h.deleted()) == ["a", "b"]
    assert [(c[0], c[2]) for c in h.conditions()] == [("FailureTarget", "BackoffLimitExceeded")]


async def test_on_failure_restarts_below_the_backoff_limit_do_not() -> None:
    h = Harness(make_job(completions=2, parallelism=2, backoff_limit=4, restart_policy="OnFailure"),
                make_pod("a", restarts=2), make_pod("b", restarts=1))
    await h.ctl.sync(KEY)
    assert h.deleted() == []
    assert h.conditions() == []


async def test_a_replacement_waits_for_the_pod_failure_backoff() -> None:
    h = Harness(make_job(completions=1, parallelism=1), make_pod("f", phase="Failed", finished_at=-3))
    await h.ctl.sync(KEY)
    assert h.created() == []
    assert h.status().failed == 1
    assert h.ctl.queue.delayed() == 1 and len(h.ctl.queue) == 0
    h.clock.advance(6.9)
    assert len(h.ctl.queue) == 0
    h.clock.advance(0.2)  # 10 s after the failure
    assert len(h.ctl.queue) == 1
    h.refresh_pods()
    h.refresh_job()
    h.now = WALL + 5  # still 2 s to go: the record survived the first sync
    await h.ctl.sync(KEY)
    assert h.created() == []
    h.now = WALL + 8
    await h.ctl.sync(KEY)
    assert len(h.created()) == 1


async def test_a_second_failure_doubles_the_backoff() -> None:
    h = Harness(make_job(completions=1, parallelism=1),
                make_pod("f1", phase="Failed", finished_at=-40), make_pod("f2", phase="Failed", finished_at=-15))
    await h.ctl.sync(KEY)  # 2 failures: 20 s from the later one
    assert h.created() == []
    h.refresh_pods()
    h.refresh_job()
    h.now = WALL + 4
    await h.ctl.sync(KEY)
    assert h.created() == []
    h.now = WALL + 6
    await h.ctl.sync(KEY)
    assert len(h.created()) == 1


async def test_a_pod_deleted_before_it_succeeded_counts_as_failed() -> None:
    h = Harness(make_job(completions=1, parallelism=1), make_pod("gone", deleting=True))
    await h.ctl.sync(KEY)
    first = h.writes()[0]
    assert list(first.uncounted_terminated_pods.failed) == ["uid-gone"]
    assert h.patched() == ["gone"]
    status = h.status()
    assert (status.failed, status.terminating) == (1, 1)
    assert not status.HasField("succeeded")


async def test_a_succeeded_pod_being_deleted_counts_as_succeeded() -> None:
    h = Harness(make_job(completions=2, parallelism=1),
                make_pod("done", phase="Succeeded", deleting=True, finished_at=-5))
    await h.ctl.sync(KEY)
    status = h.status()
    assert (status.succeeded, status.failed, status.terminating) == (1, 0, 0)


# ---- activeDeadlineSeconds ----


async def test_past_the_active_deadline_the_job_fails() -> None:
    h = Harness(make_job(completions=2, parallelism=1, deadline=30, started=-31), make_pod("r"))
    await h.ctl.sync(KEY)
    assert h.deleted() == ["r"]
    message = "Job was active longer than specified deadline"
    assert h.conditions() == [("FailureTarget", "True", "DeadlineExceeded", message)]
    h.client.objects.pop(("pods", "default", "r"))
    h.refresh_pods()
    h.refresh_job()
    await h.ctl.sync(KEY)
    assert h.conditions()[-1] == ("Failed", "True", "DeadlineExceeded", message)
    assert h.recorder.events[-1] == (KEY, "Warning", "DeadlineExceeded", message)


async def test_exactly_at_the_active_deadline_the_job_fails() -> None:
    h = Harness(make_job(completions=2, parallelism=1, deadline=30, started=-30))
    await h.ctl.sync(KEY)
    assert [c[0] for c in h.conditions()] == ["FailureTarget", "Failed"]
    assert h.created() == []


async def test_before_the_active_deadline_the_job_is_looked_at_again_when_it_passes() -> None:
    h = Harness(make_job(completions=2, parallelism=1, deadline=30, started=-10), make_pod("r"))
    await h.ctl.sync(KEY)
    assert h.conditions() == [] and h.deleted() == []
    assert h.ctl.queue.delayed() == 1
    h.clock.advance(19.9)
    assert len(h.ctl.queue) == 0
    h.clock.advance(0.2)
    assert len(h.ctl.queue) == 1


# ---- suspend ----


async def test_a_suspended_job_deletes_its_active_pods_finalizer_first() -> None:
    h = Harness(make_job(completions=3, parallelism=2, suspend=True, started=-100),
                make_pod("p1", ready=True), make_pod("p2"))
    await h.ctl.sync(KEY)
    for name in ("p1", "p2"):
        assert verbs_for(h.client.calls, name) == ["patch", "delete"]
        patch = next(c for c in h.client.verbs("patch") if c.name == name)
        assert patch.detail == finalizer_patch(f"uid-{name}")
        assert h.pod(name) is None
    assert h.created() == []
    assert h.conditions() == [("Suspended", "True", "JobSuspended", "Job suspended")]
    status = h.status()
    assert (status.active, status.ready, status.terminating) == (0, 0, 2)
    assert not status.HasField("failed")  # the finalizer went first: not counted
    assert h.recorder.reasons().count("Suspended") == 1
    assert (KEY, "Normal", "Suspended", "Job suspended") in h.recorder.events


async def test_a_ready_pod_that_could_not_be_deleted_stays_counted_ready() -> None:
    h = Harness(make_job(completions=3, parallelism=2, suspend=True, started=-100), make_pod("p1", ready=True))

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise errors.InternalError("etcd is down")

    h.client.patch = refuse  # type: ignore[method-assign]
    with pytest.raises(errors.InternalError):
        await h.ctl.sync(KEY)
    assert h.deleted() == []
    assert (h.status().active, h.status().ready) == (1, 1)


async def test_a_job_created_suspended_has_no_start_time() -> None:
    h = Harness(make_job(suspend=True))
    await h.ctl.sync(KEY)
    assert h.created() == []
    assert not h.status().start_time
    assert [c[0] for c in h.conditions()] == ["Suspended"]


async def test_resuming_sets_suspended_false_and_restarts_the_clock() -> None:
    job = make_job(completions=3, parallelism=2, started=-1000)
    job.status.conditions.add(type="Suspended", status="True", reason="JobSuspended", message="Job suspended",
                              last_transition_time=at(-500))
    h = Harness(job)
    await h.ctl.sync(KEY)
    assert h.conditions() == [("Suspended", "False", "JobResumed", "Job resumed")]
    assert h.status().start_time == at(0)
    assert (KEY, "Normal", "Resumed", "Job resumed") in h.recorder.events
    assert len(h.created()) == 2


# ---- Indexed ----


async def test_an_indexed_job_creates_pods_for_the_lowest_indexes() -> None:
    h = Harness(make_job(completions=3, parallelism=2, indexed=True))
    await h.ctl.sync(KEY)
    pods = h.created()
    assert [p.metadata.generate_name for p in pods] == ["pi-0-", "pi-1-"]
    for index, pod in enumerate(pods):
        assert pod.metadata.annotations[COMPLETION_INDEX_KEY] == str(index)
        assert pod.metadata.labels[COMPLETION_INDEX_KEY] == str(index)
        assert pod.spec.hostname == f"pi-{index}"
        (env,) = [e for e in pod.spec.containers[0].env if e.name == COMPLETION_INDEX_ENV]
        assert env.value_from.field_ref.field_path == f"metadata.labels['{COMPLETION_INDEX_KEY}']"
        assert list(pod.metadata.finalizers) == [TRACKING_FINALIZER]


async def test_an_indexed_job_counts_succeeded_indexes_and_fills_the_next_one() -> None:
    h = Harness(make_job(completions=3, parallelism=2, indexed=True),
                make_pod("i0", phase="Succeeded", index=0, finished_at=-5), make_pod("i1", index=1))
    await h.ctl.sync(KEY)
    first = h.writes()[0]
    assert first.completed_indexes == "0"
    assert list(first.uncounted_terminated_pods.succeeded) == []  # counted by index, not uid
    assert h.patched() == ["i0"]
    status = h.status()
    assert (status.completed_indexes, status.succeeded) == ("0", 1)
    (pod,) = h.created()
    assert pod.metadata.annotations[COMPLETION_INDEX_KEY] == "2"


async def test_an_indexed_job_completes_when_every_index_succeeded() -> None:
    job = make_job(completions=3, parallelism=2, indexed=True)
    job.status.completed_indexes = "0,1"
    job.status.succeeded = 2
    h = Harness(job, make_pod("i2", phase="Succeeded", index=2, finished_at=-1))
    await h.ctl.sync(KEY)
    status = h.status()
    assert (status.completed_indexes, status.succeeded) == ("0-2", 3)
    assert [c[0] for c in h.conditions()] == ["SuccessCriteriaMet", "Complete"]


async def test_two_active_pods_with_one_index_lose_one() -> None:
    h = Harness(make_job(completions=3, parallelism=2, indexed=True),
                make_pod("keep", index=1, ready=True, age=3600), make_pod("dup", index=1, age=10))
    await h.ctl.sync(KEY)
    assert h.deleted() == ["dup"]
    assert verbs_for(h.client.calls, "dup") == ["patch", "delete"]
    assert h.created() == []  # deleting takes this sync; index 0 comes next time
    assert h.status().active == 1


async def test_an_active_pod_with_an_index_out_of_range_is_deleted() -> None:
    h = Harness(make_job(completions=2, parallelism=2, indexed=True),
                make_pod("ok", index=0), make_pod("bad", index=7))
    await h.ctl.sync(KEY)
    assert h.deleted() == ["bad"]


# ---- orphans ----


async def test_the_finalizer_comes_off_a_pod_whose_job_is_gone() -> None:
    h = Harness(make_pod("lost", phase="Succeeded"))
    await h.ctl.sync_orphan_pod("default/lost")
    (patch,) = h.client.verbs("patch")
    assert (patch.name, patch.detail) == ("lost", finalizer_patch("uid-lost"))
    lost = h.pod("lost")
    assert lost is not None and list(lost.metadata.finalizers) == []


async def test_the_finalizer_stays_on_a_pod_of_an_unfinished_job() -> None:
    h = Harness(make_job(), make_pod("mine", phase="Succeeded"))
    await h.ctl.sync_orphan_pod("default/mine")
    assert h.client.verbs("patch") == []


async def test_the_finalizer_comes_off_a_pod_of_a_finished_job() -> None:
    job = make_job()
    job.status.conditions.add(type="Failed", status="True")
    h = Harness(job, make_pod("late"))
    await h.ctl.sync_orphan_pod("default/late")
    assert h.patched() == ["late"]


async def test_a_pod_controlled_by_something_else_keeps_its_finalizer() -> None:
    pod = make_pod("foreign", owned=False)
    pod.metadata.owner_references.add(api_version="apps/v1", kind="ReplicaSet", name="rs", uid="rs-uid",
                                      controller=True)
    h = Harness(pod)
    await h.ctl.sync_orphan_pod("default/foreign")
    assert h.client.verbs("patch") == []


async def test_deleting_a_job_queues_its_pods_that_keep_the_finalizer() -> None:
    job = make_job()
    h = Harness(job, make_pod("a"), make_pod("b", finalizer=False))
    deliver(h.informers.get(batch_pb2.Job), "DELETED", job)
    assert len(h.ctl.orphan_queue) == 1
    assert await h.ctl.orphan_queue.get() == "default/a"


async def test_an_update_showing_the_job_finished_queues_pods_that_keep_the_finalizer() -> None:
    job = make_job()
    h = Harness(job, make_pod("a", phase="Succeeded"))
    finished = make_job()
    finished.metadata.resource_version = "999"
    finished.status.conditions.add(type="Complete", status="True")
    deliver(h.informers.get(batch_pb2.Job), "MODIFIED", finished)
    assert len(h.ctl.orphan_queue) == 1


# ---- completions unset ----


async def test_without_completions_a_success_stops_new_pods_and_the_rest_finish_the_job() -> None:
    h = Harness(make_job(completions=None, parallelism=2),
                make_pod("a", phase="Succeeded", finished_at=-5), make_pod("b"))
    await h.ctl.sync(KEY)
    assert h.created() == [] and h.deleted() == []
    assert h.conditions() == []
    assert (h.status().succeeded, h.status().active) == (1, 1)
    # b finishes: nothing is active, one success: complete
    b = h.pod("b")
    assert b is not None
    b.status.phase = "Succeeded"
    h.client.put(b)
    h.refresh_pods()
    h.refresh_job()
    await h.ctl.sync(KEY)
    assert h.created() == []
    assert [c[0] for c in h.conditions()] == ["SuccessCriteriaMet", "Complete"]
    assert h.status().succeeded == 2


async def test_without_completions_and_no_success_yet_parallelism_pods_run() -> None:
    h = Harness(make_job(completions=None, parallelism=3), make_pod("a"))
    await h.ctl.sync(KEY)
    assert len(h.created()) == 2
