"""The Job controller against a real apiserver and etcd.

No kubelet runs: the test plays it, writing each pod's phase and container state with
UpdateStatus, so the counting can be followed step by step — every finished pod counted exactly
once (also by a controller started afresh), its tracking finalizer taken off once counted, a pod
deleted before it succeeded counted as failed and replaced, orphans adopted with the finalizer,
and a deleted Job's pods released so the garbage collector's deletes go through. The
TTL-after-finished controller deletes a finished Job once its ``ttlSecondsAfterFinished`` passed;
the CronJob controller (its wall clock moved by the test) starts each due run once, follows it to
completion and keeps only its history limit of finished Jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from controllers.cronjob import CronJobController
from controllers.job.controller import JobController
from controllers.manager import ControllerManager, ManagerSettings
from controllers.ttlafterfinished import TTLAfterFinishedController
from skiff.api import errors
from skiff.api.manifest import from_manifest
from skiff.api.timestamps import epoch_seconds, rfc3339
from skiff.api.v1 import batch_pb2, core_pb2
from skiff.client.client import Client
from tests.support.cluster import eventually
from tests.support.controllers import running

TRACKING = "batch.kubernetes.io/job-tracking"


def job_controller(client: Client, *, backoff: float = 0.05) -> contextlib.AbstractAsyncContextManager[list[Any]]:
    """A JobController with short pod batching and failure backoff."""
    return running(client, lambda c, i, r: JobController(c, i, r, workers=2, batch_period=0.05,
                                                         pod_failure_backoff=backoff,
                                                         max_pod_failure_backoff=backoff),
                   component="job-controller")


def job(name: str = "work", **spec: Any) -> Any:
    return from_manifest({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
        "spec": {**spec, "template": {"spec": {"restartPolicy": "Never",
                                               "containers": [{"name": "main", "image": "busybox"}]}}}})


async def pods_of(client: Client, name: str = "work") -> list[core_pb2.Pod]:
    return (await client.list(core_pb2.Pod, namespace="default", label_selector=f"job-name={name}")).items


async def wait_pods(client: Client, count: int, name: str = "work", *, active: bool = True) -> list[core_pb2.Pod]:
    found: list[core_pb2.Pod] = []

    async def check() -> bool:
        pods = await pods_of(client, name)
        found[:] = [p for p in pods if not active or (p.status.phase not in ("Succeeded", "Failed")
                                                      and not p.metadata.deletion_timestamp)]
        return len(found) == count

    await eventually(check, what=f"{count} {'active ' if active else ''}pods of job {name}")
    return found


async def finish(client: Client, pod: core_pb2.Pod, exit_code: int) -> None:
    """What a kubelet writes when the pod's only container exits."""
    fresh = await client.get(core_pb2.Pod, pod.metadata.name, namespace="default")
    fresh.status.phase = "Succeeded" if exit_code == 0 else "Failed"
    status = fresh.status.container_statuses.add(name="main", image="busybox", ready=False)
    status.state.terminated.exit_code = exit_code
    status.state.terminated.reason = "Completed" if exit_code == 0 else "Error"
    status.state.terminated.started_at = "2026-01-01T00:00:00Z"
    status.state.terminated.finished_at = "2026-01-01T00:00:01Z"
    await client.update_status(fresh)


async def job_status(client: Client, name: str = "work") -> batch_pb2.JobStatus:
    return (await client.get(batch_pb2.Job, name, namespace="default")).status


async def status_is(client: Client, what: str, check: Any, name: str = "work") -> batch_pb2.JobStatus:
    found: list[batch_pb2.JobStatus] = []

    async def done() -> bool:
        found[:] = [await job_status(client, name)]
        return bool(check(found[0]))

    await eventually(done, what=what)
    return found[0]


def conditions(status: batch_pb2.JobStatus) -> list[tuple[str, str]]:
    return [(c.type, c.reason) for c in status.conditions]


async def test_each_finished_pod_is_counted_once_and_released(client: Client) -> None:
    async with job_controller(client):
        await client.create(job(completions=3, parallelism=2))
        first = await wait_pods(client, 2)
        assert all(p.metadata.finalizers == [TRACKING] for p in first)
        await finish(client, first[0], 0)
        status = await status_is(client, "one success counted", lambda s: s.succeeded == 1)
        assert not status.uncounted_terminated_pods.succeeded and status.active == 2
        released = await client.get(core_pb2.Pod, first[0].metadata.name, namespace="default")
        assert TRACKING not in released.metadata.finalizers
        pods = await wait_pods(client, 2)
        assert first[0].metadata.name not in {p.metadata.name for p in pods}  # a third pod replaced it
    # A controller started afresh sees the counted pod without its finalizer: it is not counted again.
    async with job_controller(client):
        for pod in pods:
            await finish(client, pod, 0)
        done = await status_is(client, "the job to complete", lambda s: any(c.type == "Complete" for c in s.conditions))
    assert done.succeeded == 3 and not done.HasField("failed") and not done.HasField("active")
    assert conditions(done) == [("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")]
    assert done.completion_time
    assert all(not p.metadata.finalizers for p in await pods_of(client))


async def test_a_pod_deleted_before_it_succeeds_counts_as_failed_and_is_replaced(client: Client) -> None:
    async with job_controller(client):
        await client.create(job(backoffLimit=2))
        [pod] = await wait_pods(client, 1)
        await client.delete(core_pb2.Pod, pod.metadata.name, namespace="default")
        status = await status_is(client, "the deleted pod counted as failed", lambda s: s.failed == 1)
        assert not status.conditions
        [replacement] = await wait_pods(client, 1)
        assert replacement.metadata.name != pod.metadata.name

        async def gone() -> bool:  # its finalizer taken off, the delete went through
            try:
                await client.get(core_pb2.Pod, pod.metadata.name, namespace="default")
            except errors.NotFound:
                return True
            return False

        await eventually(gone, what="the deleted pod to go")
        await finish(client, replacement, 0)
        done = await status_is(client, "completion", lambda s: any(c.type == "Complete" for c in s.conditions))
        assert (done.succeeded, done.failed) == (1, 1)


async def test_failures_past_the_backoff_limit_fail_the_job_and_stop_its_pods(client: Client) -> None:
    async with job_controller(client):
        await client.create(job(parallelism=2, completions=4, backoffLimit=1))
        pods = await wait_pods(client, 2)
        await finish(client, pods[0], 1)
        await status_is(client, "one failure counted", lambda s: s.failed == 1)
        running = [p for p in await wait_pods(client, 2) if p.metadata.name != pods[0].metadata.name]
        await finish(client, running[0], 2)
        status = await status_is(client, "the job to fail", lambda s: any(c.type == "Failed" for c in s.conditions))
    assert conditions(status) == [("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]
    assert status.failed == 3  # the two failures and the active pod the failure deleted
    assert not status.completion_time
    assert all(p.metadata.deletion_timestamp or p.status.phase == "Failed" for p in await pods_of(client))
    events = (await client.list(core_pb2.Event, namespace="default")).items
    assert any(e.reason == "BackoffLimitExceeded" and e.type == "Warning"
               and e.message == "Job has reached the specified backoff limit" for e in events)


async def test_an_orphan_pod_is_adopted_with_the_tracking_finalizer(client: Client) -> None:
    created = await client.create(job(completions=1))
    selector = dict(created.spec.selector.match_labels)
    orphan = from_manifest({"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": "orphan", "namespace": "default",
                                         "labels": dict(created.spec.template.metadata.labels)},
                            "spec": {"containers": [{"name": "main", "image": "busybox"}]}})
    assert selector.items() <= dict(orphan.metadata.labels).items()
    await client.create(orphan)
    async with job_controller(client):

        async def adopted() -> bool:
            pod = await client.get(core_pb2.Pod, "orphan", namespace="default")
            refs = [(r.kind, r.uid, r.controller) for r in pod.metadata.owner_references]
            return refs == [("Job", created.metadata.uid, True)] and TRACKING in pod.metadata.finalizers

        await eventually(adopted, what="the orphan adopted")
        await asyncio.sleep(0.3)  # the adopted pod is the one wanted: no second pod
        assert [p.metadata.name for p in await pods_of(client)] == ["orphan"]


async def test_deleting_a_job_releases_its_pods_for_the_garbage_collector(client: Client) -> None:
    manager = ControllerManager(client, ManagerSettings(controllers=("job", "garbagecollector"),
                                                        concurrent_gc_syncs=2))
    task = asyncio.create_task(manager.run())
    try:
        await client.create(job(parallelism=2, completions=2))
        pods = await wait_pods(client, 2)
        assert all(p.metadata.finalizers == [TRACKING] for p in pods)
        await client.delete(batch_pb2.Job, "work", namespace="default")

        async def none_left() -> bool:
            return not await pods_of(client)

        await eventually(none_left, timeout=20, what="the job's pods deleted and released")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_finished_job_is_deleted_once_its_ttl_passed(client: Client) -> None:
    async with running(client, lambda c, i, r: TTLAfterFinishedController(c, i, r, workers=1)):
        for name, seconds in (("short", 1), ("long", 3600), ("unset", None)):
            spec: dict[str, Any] = {} if seconds is None else {"ttlSecondsAfterFinished": seconds}
            created = await client.create(job(name, **spec))
            created.status.start_time = rfc3339()
            created.status.completion_time = rfc3339()
            created.status.conditions.add(type="Complete", status="True", last_transition_time=rfc3339())
            await client.update_status(created)

        async def short_deleted() -> bool:  # Foreground: no collector runs here, so it stays marked
            meta = (await client.get(batch_pb2.Job, "short", namespace="default")).metadata
            return bool(meta.deletion_timestamp) and list(meta.finalizers) == ["foregroundDeletion"]

        await eventually(short_deleted, timeout=10, what="the job with a 1 s TTL to be deleted (foreground)")
        for name in ("long", "unset"):
            assert not (await client.get(batch_pb2.Job, name, namespace="default")).metadata.deletion_timestamp


async def test_a_cronjob_starts_each_due_run_once_and_keeps_its_history(client: Client) -> None:
    created = await client.create(from_manifest({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick", "namespace": "default"},
        "spec": {"schedule": "*/5 * * * *", "successfulJobsHistoryLimit": 1,
                 "jobTemplate": {"metadata": {"labels": {"run": "tick"}},
                                 "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                                     {"name": "main", "image": "busybox"}]}}}}}}))
    born = epoch_seconds(created.metadata.creation_timestamp)
    assert born is not None
    first_run = (int(born) // 300 + 1) * 300  # the first */5 minute after creation
    wall = [first_run + 1.0]
    make = lambda c, i, r: CronJobController(c, i, r, workers=1, wall_clock=lambda: wall[0])  # noqa: E731
    async with running(client, make, component="cronjob-controller") as (controller,):
        async def jobs() -> list[batch_pb2.Job]:
            return (await client.list(batch_pb2.Job, namespace="default", label_selector="run=tick")).items

        async def runs(count: int) -> bool:
            return len(await jobs()) == count

        await eventually(lambda: runs(1), what="the first run's Job")
        [first] = await jobs()
        assert first.metadata.name == f"tick-{first_run // 60}"
        assert first.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] == rfc3339(first_run)
        assert [(r.kind, r.uid) for r in first.metadata.owner_references] == [("CronJob", created.metadata.uid)]

        async def recorded() -> bool:
            status = (await client.get(batch_pb2.CronJob, "tick", namespace="default")).status
            return [a.name for a in status.active] == [first.metadata.name] and \
                status.last_schedule_time == rfc3339(first_run)

        await eventually(recorded, what="the run in status.active and lastScheduleTime")
        controller.enqueue(created)  # a second look at the same time starts nothing
        await asyncio.sleep(0.2)
        assert len(await jobs()) == 1
        # The run completes; the next one comes five minutes later, and history keeps only the newest.
        first.status.start_time = rfc3339(first_run)
        first.status.completion_time = rfc3339(first_run + 2)
        first.status.conditions.add(type="Complete", status="True", last_transition_time=rfc3339(first_run + 2))
        await client.update_status(first)

        async def saw_it_complete() -> bool:
            status = (await client.get(batch_pb2.CronJob, "tick", namespace="default")).status
            return not status.active and status.last_successful_time == rfc3339(first_run + 2)

        await eventually(saw_it_complete, what="the completed run out of status.active")
        wall[0] = first_run + 301.0
        controller.enqueue(created)
        await eventually(lambda: runs(2), what="the second run's Job")
        second = next(j for j in await jobs() if j.metadata.name != first.metadata.name)
        assert second.metadata.name == f"tick-{first_run // 60 + 5}"
        second.status.start_time = rfc3339(first_run + 301)
        second.status.conditions.add(type="Complete", status="True", last_transition_time=rfc3339(first_run + 303))
        await client.update_status(second)

        async def first_collected() -> bool:
            names = {j.metadata.name for j in await jobs() if not j.metadata.deletion_timestamp}
            return names == {second.metadata.name}

        await eventually(first_collected, what="the older completed Job deleted (history limit 1)")
        reasons = [e.reason for e in (await client.list(core_pb2.Event, namespace="default")).items
                   if e.involved_object.name == "tick"]
        assert reasons.count("SuccessfulCreate") == 2 and "SawCompletedJob" in reasons and "SuccessfulDelete" in reasons
