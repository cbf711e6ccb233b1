"""The CronJob controller's sync(key) on seeded informer stores, against an in-memory client.

Nothing runs in the background: each test seeds the CronJob and Job stores (and the client's copy),
calls ``sync`` and looks at the Jobs created or deleted, the status written, the events recorded and
the delayed requeue. Time is a fixed wall clock (``WALL`` moments, epoch seconds) for the schedule
and a FakeClock for the queue's delays, so a requeue "just after the next scheduled time" is read
off ``FakeClock.next_deadline()``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from controllers.cronjob import SCHEDULED_TIMESTAMP, CronJobController, _rfc1123z
from controllers.informers import SharedInformers
from skiff.api import errors
from skiff.api.ownership import controller_ref
from skiff.api.v1 import batch_pb2, meta_pb2
from skiff.client.clock import FakeClock
from tests.unit.controller_fakes import FakeClient, FakeRecorder

KEY = "default/nightly"
CREATED = datetime(2026, 1, 5, 10, 2, tzinfo=UTC)  # a Monday


def at(hour: int, minute: int, second: int = 0, day: int = 5) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def minutes(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def make_cj(schedule: str = "*/5 * * * *", *, policy: str = "Allow", last_schedule: datetime | None = None,
            deadline: int | None = None, suspend: bool = False, time_zone: str | None = None,
            successful_limit: int | None = None, failed_limit: int | None = None) -> batch_pb2.CronJob:
    cj = batch_pb2.CronJob(api_version="batch/v1", kind="CronJob")
    cj.metadata.name, cj.metadata.namespace, cj.metadata.uid = "nightly", "default", "cj-uid"
    cj.metadata.creation_timestamp = stamp(CREATED)
    cj.spec.schedule = schedule
    cj.spec.concurrency_policy = policy
    cj.spec.suspend = suspend
    if deadline is not None:
        cj.spec.starting_deadline_seconds = deadline
    if time_zone is not None:
        cj.spec.time_zone = time_zone
    if successful_limit is not None:
        cj.spec.successful_jobs_history_limit = successful_limit
    if failed_limit is not None:
        cj.spec.failed_jobs_history_limit = failed_limit
    template = cj.spec.job_template
    template.metadata.labels.update({"app": "report", "team": "data"})
    template.metadata.annotations["owner"] = "data-team"
    template.spec.backoff_limit = 2
    template.spec.template.spec.restart_policy = "OnFailure"
    template.spec.template.spec.containers.add(name="report", image="busybox:1.36")
    if last_schedule is not None:
        cj.status.last_schedule_time = stamp(last_schedule)
    return cj


def make_job(name: str, owner: batch_pb2.CronJob | None, *, finished: str | None = None,
             started: datetime | None = None, completed: datetime | None = None) -> batch_pb2.Job:
    job = batch_pb2.Job(api_version="batch/v1", kind="Job")
    job.metadata.name, job.metadata.namespace, job.metadata.uid = name, "default", f"uid-{name}"
    if owner is not None:
        job.metadata.owner_references.append(controller_ref(owner))
    if started is not None:
        job.status.start_time = stamp(started)
    if finished is not None:
        job.status.conditions.add(type=finished, status="True")
    if completed is not None:
        job.status.completion_time = stamp(completed)
    return job


def reference(job: batch_pb2.Job) -> meta_pb2.ObjectReference:
    return meta_pb2.ObjectReference(kind="Job", api_version="batch/v1", namespace="default",
                                    name=job.metadata.name, uid=job.metadata.uid)


class Harness:
    def __init__(self, cj: batch_pb2.CronJob, *jobs: batch_pb2.Job, wall: datetime) -> None:
        self.client = FakeClient()
        self.recorder = FakeRecorder()
        self.clock = FakeClock()
        self.informers = SharedInformers(cast(Any, self.client))
        self.ctl = CronJobController(cast(Any, self.client), self.informers, cast(Any, self.recorder),
                                     clock=self.clock, wall_clock=lambda: wall.timestamp())
        for obj in (cj, *jobs):
            self.seed(obj)

    def seed(self, obj: Any) -> Any:
        self.client.put(obj)
        self.informers.get(type(obj)).store.put(obj)
        return obj

    def created(self) -> list[batch_pb2.Job]:
        return [c.detail for c in self.client.verbs("create")]

    def deleted(self) -> list[str]:
        return [c.name for c in self.client.verbs("delete")]

    def status(self) -> batch_pb2.CronJobStatus:
        cj = self.client.stored(batch_pb2.CronJob, "nightly")
        assert cj is not None
        return cast(batch_pb2.CronJobStatus, cj.status)

    def active_names(self) -> list[str]:
        return [ref.name for ref in self.status().active]

    def requeue_in(self) -> float | None:
        """Seconds until the key comes back (FakeClock started at 0)."""
        return self.clock.next_deadline()


# ---- the first run ----


async def test_before_the_first_time_nothing_is_created_and_the_key_comes_back_just_after_it() -> None:
    h = Harness(make_cj(), wall=at(10, 3))
    await h.ctl.sync(KEY)
    assert h.created() == []
    assert h.client.verbs("update_status") == []
    assert h.requeue_in() == pytest.approx(120.1)  # 10:05:00.1 - 10:03:00
    h.clock.advance(120.0)
    assert len(h.ctl.queue) == 0
    h.clock.advance(0.2)
    assert len(h.ctl.queue) == 1


async def test_past_the_first_time_a_job_is_created_from_the_template() -> None:
    h = Harness(make_cj(), wall=at(10, 6))
    await h.ctl.sync(KEY)
    (job,) = h.created()
    name = f"nightly-{minutes(at(10, 5))}"
    assert job.metadata.name == name and job.metadata.namespace == "default"
    assert dict(job.metadata.labels) == {"app": "report", "team": "data"}
    assert dict(job.metadata.annotations) == {"owner": "data-team", SCHEDULED_TIMESTAMP: "2026-01-05T10:05:00Z"}
    assert job.spec.backoff_limit == 2
    assert job.spec.template.spec.restart_policy == "OnFailure"
    assert [c.image for c in job.spec.template.spec.containers] == ["busybox:1.36"]
    (ref,) = job.metadata.owner_references
    assert (ref.api_version, ref.kind, ref.name, ref.uid) == ("batch/v1", "CronJob", "nightly", "cj-uid")
    assert ref.controller and ref.block_owner_deletion
    assert h.recorder.events == [(KEY, "Normal", "SuccessfulCreate", f"Created job {name}")]
    status = h.status()
    stored = h.client.stored(batch_pb2.Job, name)
    (active,) = status.active
    assert (active.kind, active.api_version, active.namespace, active.name, active.uid) == (
        "Job", "batch/v1", "default", name, stored.metadata.uid)
    assert status.last_schedule_time == "2026-01-05T10:05:00Z"
    assert h.requeue_in() == pytest.approx(240.1)  # 10:10:00.1 - 10:06:00


async def test_the_scheduled_timestamp_carries_the_offset_of_the_time_zone() -> None:
    h = Harness(make_cj("0 9 * * *", time_zone="America/New_York"), wall=at(14, 30))
    await h.ctl.sync(KEY)
    (job,) = h.created()
    assert job.metadata.annotations[SCHEDULED_TIMESTAMP] == "2026-01-05T09:00:00-05:00"
    assert job.metadata.name == f"nightly-{minutes(at(14, 0))}"  # the name counts UTC minutes
    assert h.status().last_schedule_time == "2026-01-05T14:00:00Z"


async def test_in_the_time_zone_nothing_runs_before_nine_local() -> None:
    h = Harness(make_cj("0 9 * * *", time_zone="America/New_York"), wall=at(13, 30))
    await h.ctl.sync(KEY)
    assert h.created() == []
    assert h.requeue_in() == pytest.approx(30 * 60 + 0.1)


async def test_of_several_missed_times_only_the_most_recent_is_started() -> None:
    h = Harness(make_cj(), wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert [j.metadata.name for j in h.created()] == [f"nightly-{minutes(at(10, 20))}"]
    assert h.status().last_schedule_time == stamp(at(10, 20))
    assert h.requeue_in() == pytest.approx(120.1)


async def test_far_too_many_missed_times_are_warned_about_and_the_latest_still_runs() -> None:
    h = Harness(make_cj(), wall=at(10, 1, day=12))  # a week of five-minute slots
    await h.ctl.sync(KEY)
    assert [j.metadata.name for j in h.created()] == [f"nightly-{minutes(at(10, 0, day=12))}"]
    assert "TooManyMissedTimes" in h.recorder.reasons()


# ---- never twice ----


async def test_the_time_of_last_schedule_time_is_not_started_again() -> None:
    h = Harness(make_cj(last_schedule=at(10, 20)), wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.created() == []
    assert h.recorder.events == []
    assert h.requeue_in() == pytest.approx(120.1)


async def test_a_time_whose_job_is_in_the_active_list_is_not_started_again() -> None:
    cj = make_cj(last_schedule=at(10, 15))
    running = make_job(f"nightly-{minutes(at(10, 20))}", cj)
    cj.status.active.append(reference(running))
    h = Harness(cj, running, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.created() == []
    assert h.client.verbs("update_status") == []


async def test_already_exists_for_a_job_it_owns_is_taken_as_done() -> None:
    cj = make_cj()
    name = f"nightly-{minutes(at(10, 5))}"
    h = Harness(cj, wall=at(10, 6))
    h.client.put(make_job(name, cj))  # created earlier; the informer has not shown it yet
    h.client.refuse_create = lambda n: errors.AlreadyExists(f'jobs.batch "{name}" already exists')
    await h.ctl.sync(KEY)
    assert len(h.created()) == 1
    assert h.active_names() == [name]
    assert h.status().active[0].uid == f"uid-{name}"
    assert h.status().last_schedule_time == stamp(at(10, 5))
    assert "SuccessfulCreate" not in h.recorder.reasons()


async def test_already_exists_for_someone_elses_job_leaves_the_status_alone() -> None:
    cj = make_cj()
    name = f"nightly-{minutes(at(10, 5))}"
    h = Harness(cj, wall=at(10, 6))
    h.client.put(make_job(name, None))
    h.client.refuse_create = lambda n: errors.AlreadyExists(f'jobs.batch "{name}" already exists')
    await h.ctl.sync(KEY)
    assert h.client.verbs("update_status") == []


async def test_a_failed_create_is_an_event_and_an_error() -> None:
    h = Harness(make_cj(), wall=at(10, 6))
    h.client.refuse_create = lambda n: errors.Forbidden("exceeded quota")
    with pytest.raises(errors.Forbidden):
        await h.ctl.sync(KEY)
    assert h.recorder.events == [(KEY, "Warning", "FailedCreate", "Error creating job: exceeded quota")]
    assert h.client.verbs("update_status") == []


# ---- concurrency policy ----


def with_running_job(policy: str) -> Harness:
    cj = make_cj(policy=policy, last_schedule=at(10, 15))
    running = make_job(f"nightly-{minutes(at(10, 15))}", cj, started=at(10, 15))
    cj.status.active.append(reference(running))
    return Harness(cj, running, wall=at(10, 21))


async def test_forbid_with_an_active_job_starts_nothing() -> None:
    h = with_running_job("Forbid")
    await h.ctl.sync(KEY)
    assert h.created() == [] and h.deleted() == []
    message = "Not starting job because prior execution is running and concurrency policy is Forbid"
    assert h.recorder.events == [(KEY, "Normal", "JobAlreadyActive", message)]
    assert h.requeue_in() == pytest.approx(240.1)


async def test_forbid_without_an_active_job_starts_one() -> None:
    h = Harness(make_cj(policy="Forbid", last_schedule=at(10, 15)), wall=at(10, 21))
    await h.ctl.sync(KEY)
    assert [j.metadata.name for j in h.created()] == [f"nightly-{minutes(at(10, 20))}"]


async def test_replace_deletes_the_active_job_then_creates_the_new_one() -> None:
    h = with_running_job("Replace")
    old, new = f"nightly-{minutes(at(10, 15))}", f"nightly-{minutes(at(10, 20))}"
    await h.ctl.sync(KEY)
    (delete,) = h.client.verbs("delete")
    assert (delete.name, delete.detail["policy"]) == (old, "Background")
    assert h.client.stored(batch_pb2.Job, old) is None
    assert [j.metadata.name for j in h.created()] == [new]
    assert h.recorder.events == [(KEY, "Normal", "SuccessfulDelete", f"Deleted job {old}"),
                                 (KEY, "Normal", "SuccessfulCreate", f"Created job {new}")]
    verbs = [c.verb for c in h.client.calls if c.verb in ("delete", "create")]
    assert verbs == ["delete", "create"]
    assert h.active_names() == [new]


async def test_allow_keeps_the_active_job_and_adds_the_new_one() -> None:
    h = with_running_job("Allow")
    await h.ctl.sync(KEY)
    assert h.deleted() == []
    assert h.active_names() == [f"nightly-{minutes(at(10, 15))}", f"nightly-{minutes(at(10, 20))}"]


# ---- deadline, suspend, schedule problems ----


async def test_a_time_past_the_starting_deadline_is_not_started() -> None:
    h = Harness(make_cj(deadline=60, last_schedule=at(10, 0)), wall=at(10, 7, 30))
    await h.ctl.sync(KEY)
    assert h.created() == []
    # As in Kubernetes 1.32, a time older than the deadline is never "most recent" (the search starts
    # at now - startingDeadlineSeconds), so no MissSchedule event follows: the CronJob waits for 10:10.
    assert "MissSchedule" not in h.recorder.reasons()
    assert h.requeue_in() == pytest.approx(150.1)


async def test_a_time_within_the_starting_deadline_is_started() -> None:
    h = Harness(make_cj(deadline=600, last_schedule=at(10, 0)), wall=at(10, 7, 30))
    await h.ctl.sync(KEY)
    assert [j.metadata.name for j in h.created()] == [f"nightly-{minutes(at(10, 5))}"]


def test_the_miss_schedule_time_is_rfc1123z_in_utc() -> None:
    # the message is "Missed scheduled time to start a job: " + scheduledTime.UTC().Format(time.RFC1123Z)
    assert _rfc1123z(at(10, 5)) == "Mon, 05 Jan 2026 10:05:00 +0000"


async def test_a_suspended_cronjob_creates_nothing_and_is_not_requeued() -> None:
    h = Harness(make_cj(suspend=True), wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.created() == []
    assert h.clock.pending() == 0 and len(h.ctl.queue) == 0


async def test_a_cronjob_being_deleted_creates_nothing() -> None:
    cj = make_cj()
    cj.metadata.deletion_timestamp = stamp(at(10, 20))
    h = Harness(cj, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.created() == []


async def test_an_unparseable_schedule_is_a_warning_and_no_job() -> None:
    h = Harness(make_cj("61 * * * *"), wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.created() == []
    ((key, kind, reason, message),) = h.recorder.events
    assert (key, kind, reason) == (KEY, "Warning", "UnparseableSchedule")
    assert "end of range (61) above maximum (59): 61" in message
    assert h.clock.pending() == 0


async def test_an_unknown_time_zone_is_a_warning_and_no_job() -> None:
    h = Harness(make_cj(time_zone="Mars/Olympus_Mons"), wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.created() == []
    assert h.recorder.reasons() == ["UnknownTimeZone"]


async def test_the_unparseable_schedule_message_quotes_as_go_does() -> None:
    h = Harness(make_cj("61 * * * *"), wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.recorder.events[0][3] == (
        'unparseable schedule: "61 * * * *" : end of range (61) above maximum (59): 61')


async def test_the_unknown_time_zone_message_is_worded_as_kubernetes_words_it() -> None:
    h = Harness(make_cj(time_zone="Mars/Olympus_Mons"), wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.recorder.events[0][3] == 'invalid timeZone: "Mars/Olympus_Mons": unknown time zone Mars/Olympus_Mons'


async def test_an_impossible_date_is_an_invalid_schedule_warning() -> None:
    h = Harness(make_cj("0 0 30 2 *"), wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.created() == []
    assert h.recorder.reasons() == ["InvalidSchedule"]


async def test_tz_in_the_schedule_is_warned_about_but_used() -> None:
    h = Harness(make_cj("CRON_TZ=America/New_York 0 9 * * *"), wall=at(14, 30))
    await h.ctl.sync(KEY)
    assert h.recorder.reasons() == ["UnsupportedSchedule", "SuccessfulCreate"]
    assert h.status().last_schedule_time == stamp(at(14, 0))


# ---- the active list ----


async def test_a_completed_job_leaves_the_active_list_and_sets_last_successful_time() -> None:
    cj = make_cj(last_schedule=at(10, 20))
    name = f"nightly-{minutes(at(10, 20))}"
    done = make_job(name, cj, finished="Complete", started=at(10, 20), completed=at(10, 22))
    cj.status.active.append(reference(done))
    h = Harness(cj, done, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.recorder.events == [(KEY, "Normal", "SawCompletedJob", f"Saw completed job: {name}, condition: Complete")]
    status = h.status()
    assert list(status.active) == []
    assert status.last_successful_time == stamp(at(10, 22))
    assert h.created() == []


async def test_a_failed_job_leaves_the_active_list_without_a_successful_time() -> None:
    cj = make_cj(last_schedule=at(10, 20))
    name = f"nightly-{minutes(at(10, 20))}"
    failed = make_job(name, cj, finished="Failed", started=at(10, 20), completed=at(10, 22))
    cj.status.active.append(reference(failed))
    h = Harness(cj, failed, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.recorder.events == [(KEY, "Normal", "SawCompletedJob", f"Saw completed job: {name}, condition: Failed")]
    assert list(h.status().active) == []
    assert not h.status().HasField("last_successful_time")


async def test_last_successful_time_only_moves_forward() -> None:
    cj = make_cj(last_schedule=at(10, 20))
    cj.status.last_successful_time = stamp(at(10, 18))
    older = make_job("nightly-old", cj, finished="Complete", started=at(10, 0), completed=at(10, 1))
    newer = make_job("nightly-new", cj, finished="Complete", started=at(10, 15), completed=at(10, 19))
    h = Harness(cj, older, newer, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.status().last_successful_time == stamp(at(10, 19))


async def test_an_active_entry_whose_job_is_gone_is_dropped() -> None:
    cj = make_cj(last_schedule=at(10, 20))
    gone = make_job("nightly-gone", cj)
    cj.status.active.append(reference(gone))
    h = Harness(cj, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert [c.name for c in h.client.verbs("get")] == ["nightly-gone"]
    assert h.recorder.events == [(KEY, "Normal", "MissingJob", "Active job went missing: nightly-gone")]
    assert list(h.status().active) == []


async def test_an_active_entry_missing_only_from_the_informer_is_kept() -> None:
    cj = make_cj(last_schedule=at(10, 20))
    late = make_job("nightly-late", cj)
    cj.status.active.append(reference(late))
    h = Harness(cj, wall=at(10, 23))
    h.client.put(late)  # the server has it; the informer does not yet
    await h.ctl.sync(KEY)
    assert h.recorder.events == []
    assert h.client.verbs("update_status") == []


async def test_a_running_job_it_owns_but_does_not_list_is_an_unexpected_job() -> None:
    cj = make_cj(last_schedule=at(10, 20))
    stray = make_job("nightly-stray", cj)
    h = Harness(cj, stray, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.recorder.events == [(KEY, "Warning", "UnexpectedJob",
                                  "Saw a job that the controller did not create or forgot: nightly-stray")]


# ---- history limits ----


async def test_successful_jobs_beyond_the_limit_are_deleted_oldest_first() -> None:
    cj = make_cj(last_schedule=at(10, 20), successful_limit=1)
    jobs = [make_job("nightly-c", cj, finished="Complete", started=at(10, 0), completed=at(10, 1)),
            make_job("nightly-a", cj, finished="Complete", started=at(10, 20), completed=at(10, 21)),
            make_job("nightly-b", cj, finished="Complete", started=at(10, 10), completed=at(10, 11)),
            make_job("nightly-failed", cj, finished="Failed", started=at(9, 0))]
    h = Harness(cj, *jobs, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.deleted() == ["nightly-c", "nightly-b"]
    assert all(c.detail["policy"] == "Background" for c in h.client.verbs("delete"))
    assert h.recorder.events == [(KEY, "Normal", "SuccessfulDelete", "Deleted job nightly-c"),
                                 (KEY, "Normal", "SuccessfulDelete", "Deleted job nightly-b")]
    assert h.client.stored(batch_pb2.Job, "nightly-a") is not None


async def test_failed_jobs_beyond_the_limit_are_deleted_and_never_started_ones_go_last() -> None:
    cj = make_cj(last_schedule=at(10, 20), failed_limit=1)
    jobs = [make_job("nightly-x", cj, finished="Failed"),  # no start time: counted newest
            make_job("nightly-y", cj, finished="Failed", started=at(10, 10)),
            make_job("nightly-z", cj, finished="Failed", started=at(10, 0)),
            make_job("nightly-ok", cj, finished="Complete", started=at(9, 0))]
    h = Harness(cj, *jobs, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.deleted() == ["nightly-z", "nightly-y"]


async def test_without_limits_no_finished_job_is_deleted() -> None:
    cj = make_cj(last_schedule=at(10, 20))
    jobs = [make_job(f"nightly-{i}", cj, finished="Complete", started=at(10, i)) for i in range(3)]
    h = Harness(cj, *jobs, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.deleted() == []


async def test_a_deleted_history_job_also_leaves_the_active_list() -> None:
    cj = make_cj(last_schedule=at(10, 20), successful_limit=0)
    done = make_job("nightly-done", cj, finished="Complete", started=at(10, 0), completed=at(10, 1))
    cj.status.active.append(reference(done))
    h = Harness(cj, done, wall=at(10, 23))
    await h.ctl.sync(KEY)
    assert h.deleted() == ["nightly-done"]
    assert list(h.status().active) == []


# ---- a Replace that cannot delete ----


async def test_replace_creates_nothing_when_the_old_job_cannot_be_deleted() -> None:
    h = with_running_job("Replace")
    real_delete = h.client.delete

    async def refuse(cls: Any, name: str, **kw: Any) -> Any:
        if cls is batch_pb2.Job:
            raise errors.InternalError("etcd is down")
        return await real_delete(cls, name, **kw)

    h.client.delete = refuse  # type: ignore[method-assign]
    with pytest.raises(errors.StatusError):
        await h.ctl.sync(KEY)
    assert h.created() == []
