"""The delay before a Job replaces failed pods (Kubernetes' ``backoff_utils.go``).

Each Job has a record: how many of its pods failed since the last success, and when the latest
of those failed. A sync that finds new finished pods builds the next record from them, ordered
by when each finished: a success resets the count, failures after the last success add to it.
Before creating pods the controller waits ``base * 2^(failures-1)`` (10 s, 20 s, 40 s, ... capped
at 10 minutes, Kubernetes' MaxJobPodFailureBackOff) from the last failure. Records live in the
controller's memory only, as in Kubernetes; a record is stored once the Job's status counting
those pods was written.

A pod's finish time is the latest ``finishedAt`` of its containers when all of them terminated,
else when its Ready condition turned False, else its deletion time, else its creation time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from skiff.api.timestamps import epoch_seconds
from skiff.api.v1 import core_pb2

DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 600.0


@dataclass(frozen=True)
class BackoffRecord:
    key: str
    failures_after_last_success: int = 0
    last_failure_time: float | None = None

    def remaining(self, now: float, base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF) -> float:
        """Seconds still to wait before creating pods (0: go ahead)."""
        if self.failures_after_last_success == 0 or self.last_failure_time is None:
            return 0.0
        delay = min(cap, base * 2 ** (self.failures_after_last_success - 1))
        elapsed = now - self.last_failure_time
        return 0.0 if delay < elapsed else delay - elapsed


def finished_time(pod: core_pb2.Pod, now: float) -> float:
    """When the pod finished (see the module docstring)."""
    latest: float | None = None
    for status in pod.status.container_statuses:
        finished = epoch_seconds(status.state.terminated.finished_at) if status.state.HasField("terminated") else None
        if finished is None:
            latest = None
            break
        latest = finished if latest is None else max(latest, finished)
    if latest is not None:
        return latest
    ready = next((c for c in pod.status.conditions if c.type == "Ready" and c.status == "False"), None)
    for stamp in (ready.last_transition_time if ready else "", pod.metadata.deletion_timestamp,
                  pod.metadata.creation_timestamp):
        moment = epoch_seconds(stamp) if stamp else None
        if moment is not None:
            return moment
    return now


class BackoffStore:
    """The records of every Job the controller syncs, by key."""

    def __init__(self) -> None:
        self._records: dict[str, BackoffRecord] = {}

    def next_record(self, key: str, succeeded: Sequence[core_pb2.Pod], failed: Sequence[core_pb2.Pod],
                    now: float) -> BackoffRecord:
        """The record once ``succeeded`` and ``failed`` (pods not counted before) are taken in."""
        old = self._records.get(key, BackoffRecord(key))
        failed_times = sorted(finished_time(p, now) for p in failed)
        if not succeeded:
            if not failed_times:
                return old
            return BackoffRecord(key, old.failures_after_last_success + len(failed_times), failed_times[-1])
        last_success = max(finished_time(p, now) for p in succeeded)
        after = [t for t in failed_times if t > last_success]
        return BackoffRecord(key, len(after), after[-1] if after else None)

    def update(self, record: BackoffRecord) -> None:
        self._records[record.key] = record

    def remove(self, key: str) -> None:
        self._records.pop(key, None)

    def get(self, key: str) -> BackoffRecord:
        return self._records.get(key, BackoffRecord(key))
