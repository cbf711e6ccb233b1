"""The TTL-after-finished controller: delete a finished Job ``ttlSecondsAfterFinished`` after it finished.

Kubernetes' ``pkg/controller/ttlafterfinished``. A Job with ``spec.ttlSecondsAfterFinished`` and a
Complete or Failed condition (True) expires that many seconds after the condition's
``lastTransitionTime``. ``sync(key)`` checks the cached Job; not yet expired, it looks again
when it will be; expired, it reads the Job fresh from the apiserver (the TTL may have been
changed or the Job replaced meanwhile), checks again, and deletes it with propagation Foreground
and the uid as precondition, so its pods go first and a namesake created meanwhile is never
deleted in its place. A Job that finished "in the future" (clock skew) waits until then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import Histogram

from controllers.base import Controller
from controllers.informers import SharedInformers
from controllers.job.controller import is_finished
from skiff.api import errors
from skiff.api.timestamps import epoch_seconds
from skiff.api.v1 import batch_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock
from skiff.client.events import EventRecorder

log = logging.getLogger("skiff.controllers.ttlafterfinished")

DELETION_DURATION = Histogram(
    "ttl_after_finished_controller_job_deletion_duration_seconds",
    "The time it took to delete the job since it became eligible for deletion",
    buckets=tuple(0.1 * 2**i for i in range(14)))


def finish_time(job: batch_pb2.Job) -> float | None:
    """When the Job finished: its Complete or Failed condition's lastTransitionTime."""
    for condition in job.status.conditions:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return epoch_seconds(condition.last_transition_time)
    return None


def needs_cleanup(job: batch_pb2.Job) -> bool:
    return job.spec.HasField("ttl_seconds_after_finished") and is_finished(job)


class TTLAfterFinishedController(Controller):
    """See the module docstring."""

    NAME = "ttl_jobs_to_delete"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *, workers: int = 5,
                 clock: Clock | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, recorder, workers=workers, clock=clock)
        self.wall_clock = wall_clock
        self.jobs = informers.get(batch_pb2.Job)
        self.jobs.add_handlers(self._job_changed, lambda old, cur: self._job_changed(cur), None)

    def _job_changed(self, job: batch_pb2.Job) -> None:
        if not job.metadata.deletion_timestamp and needs_cleanup(job):
            self.enqueue(job)

    def _expired_at(self, job: batch_pb2.Job, key: str) -> float | None:
        """When ``job`` expired, if it has; otherwise None (and a look again once it will have)."""
        if job.metadata.deletion_timestamp or not needs_cleanup(job):
            return None
        finished = finish_time(job)
        if finished is None:
            return None
        now = self.wall_clock()
        if finished > now:
            log.warning("job %s finished in the future (clock skew?): its cleanup waits", key)
        expires = finished + job.spec.ttl_seconds_after_finished
        if expires > now:
            self.enqueue_after(key, expires - now)
            return None
        return expires

    async def sync(self, key: str) -> None:
        cached = self.jobs.store.get(key)
        if cached is None or self._expired_at(cached, key) is None:
            return
        try:
            fresh = await self.client.get(batch_pb2.Job, cached.metadata.name, namespace=cached.metadata.namespace)
        except errors.NotFound:
            return
        expired = self._expired_at(fresh, key)
        if expired is None:
            return
        log.info("cleaning up job %s: finished %ss ago", key, fresh.spec.ttl_seconds_after_finished)
        try:
            await self.client.delete(batch_pb2.Job, fresh.metadata.name, namespace=fresh.metadata.namespace,
                                     propagation_policy="Foreground", uid=fresh.metadata.uid)
        except errors.NotFound:
            return
        DELETION_DURATION.observe(max(0.0, self.wall_clock() - expired))

