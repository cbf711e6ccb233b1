"""Counting a Job's finished pods exactly once: the tracking finalizer and uncounted pods.

Kubernetes' Job controller never counts a pod by looking at what exists (pods get deleted; a
count from a list would go down). Every pod it creates carries the finalizer
``batch.kubernetes.io/job-tracking``, so a finished pod cannot disappear before it is counted.
Counting is a three-step handshake that survives a controller crash at any point:

1. the uids of newly finished pods are written to ``status.uncountedTerminatedPods``
   (``succeeded`` / ``failed``) — the Job's own record that they are being counted;
2. the finalizer is taken off those pods (a strategic-merge patch with
   ``$deleteFromPrimitiveList/finalizers`` and the pod's uid as precondition);
3. uids whose pod no longer has the finalizer move from ``uncountedTerminatedPods`` into the
   ``succeeded`` / ``failed`` counters (:func:`clean_uncounted`).

An Indexed Job's successes are counted by index in ``completedIndexes`` instead of by uid.
Between step 2 and the informer seeing the patched pod, :class:`FinalizerExpectations` remembers
the uids whose finalizer is on its way out, so a sync in between does not count them again.
"""

from __future__ import annotations

from typing import Any

from skiff.api.v1 import batch_pb2, core_pb2

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
MAX_UNCOUNTED_PODS = 500
"""At most this many uids wait in uncountedTerminatedPods; a sync stops counting there."""


def has_tracking_finalizer(pod: core_pb2.Pod) -> bool:
    return TRACKING_FINALIZER in pod.metadata.finalizers


def remove_finalizer_patch(pod: core_pb2.Pod) -> dict[str, Any] | None:
    """The patch that takes the tracking finalizer off ``pod`` (None when it has none)."""
    if not has_tracking_finalizer(pod):
        return None
    return {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER], "uid": pod.metadata.uid}}


def clean_uncounted(status: batch_pb2.JobStatus, with_finalizer: set[str]) -> bool:
    """Move the uncounted uids whose pod lost its finalizer into the counters; True if any moved."""
    uncounted = status.uncounted_terminated_pods
    changed = False
    for field, counter in (("succeeded", "succeeded"), ("failed", "failed")):
        waiting = list(getattr(uncounted, field))
        kept = [uid for uid in waiting if uid in with_finalizer]
        if len(kept) != len(waiting):
            changed = True
            setattr(status, counter, getattr(status, counter) + len(waiting) - len(kept))
            uncounted.ClearField(field)  # type: ignore[arg-type]
            getattr(uncounted, field).extend(kept)
    return changed


class FinalizerExpectations:
    """Per Job key, the pod uids whose finalizer removal was sent but not yet seen."""

    def __init__(self) -> None:
        self._uids: dict[str, set[str]] = {}

    def expect_removed(self, key: str, uids: list[str]) -> None:
        self._uids.setdefault(key, set()).update(uids)

    def observed(self, key: str, uid: str) -> None:
        waiting = self._uids.get(key)
        if waiting is not None:
            waiting.discard(uid)
            if not waiting:
                del self._uids[key]

    def expected(self, key: str) -> frozenset[str]:
        return frozenset(self._uids.get(key, ()))

    def delete(self, key: str) -> None:
        self._uids.pop(key, None)
