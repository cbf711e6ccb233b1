"""Completion indexes of an Indexed Job, and the interval strings its status holds them in.

An Indexed Job gives each pod one index in ``0..completions-1``: the annotation and label
``batch.kubernetes.io/job-completion-index`` carry it, the ``JOB_COMPLETION_INDEX`` environment
variable reads the label through the downward API, the pod's hostname is ``<job>-<index>`` and its
name starts ``<job>-<index>-``. The Job is complete once every index has a succeeded pod.

``status.completedIndexes`` lists the succeeded indexes as Kubernetes writes them: sorted
intervals, a run of three or more as ``first-last``, two neighbours as ``a,b`` — ``"1,3-5,7"``.
:class:`Intervals` reads such a string (ignoring what is malformed or out of range, as the
controller must survive a hand-edited status) and writes it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from skiff.api.strconv import atoi
from skiff.api.v1 import core_pb2

COMPLETION_INDEX_KEY = "batch.kubernetes.io/job-completion-index"
"""The annotation (and label) holding a pod's completion index."""
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"


def completion_index(pod: core_pb2.Pod) -> int | None:
    """The pod's completion index, or None when its annotation is missing or not an index."""
    text = pod.metadata.annotations.get(COMPLETION_INDEX_KEY)
    if text is None:
        return None
    index = atoi(text)
    return index if index is not None and index >= 0 else None


def valid_index(pod: core_pb2.Pod, completions: int) -> int | None:
    """The pod's completion index when it is one of the Job's (below ``completions``)."""
    index = completion_index(pod)
    return index if index is not None and index < completions else None


@dataclass(frozen=True)
class Intervals:
    """Sorted, disjoint, non-adjacent ``(first, last)`` runs of indexes."""

    spans: tuple[tuple[int, int], ...] = ()

    @classmethod
    def parse(cls, text: str, completions: int) -> Intervals:
        """``"1,3-5,7"`` read as Kubernetes' ``parseIndexesFromString``: bad parts and indexes at or
        above ``completions`` are left out."""
        indexes: list[int] = []
        for part in text.split(",") if text else ():
            first_text, dash, last_text = part.partition("-")
            first = atoi(first_text)
            last = atoi(last_text) if dash else first
            if first is None or last is None or first < 0 or last < first or first >= completions:
                continue
            indexes.extend(range(first, min(last, completions - 1) + 1))
        return cls().with_indexes(indexes)

    def with_indexes(self, indexes: Iterable[int]) -> Intervals:
        """These intervals and ``indexes`` together."""
        merged = sorted({i for first, last in self.spans for i in range(first, last + 1)} | set(indexes))
        spans: list[tuple[int, int]] = []
        for index in merged:
            if spans and spans[-1][1] + 1 == index:
                spans[-1] = (spans[-1][0], index)
            else:
                spans.append((index, index))
        return Intervals(tuple(spans))

    def has(self, index: int) -> bool:
        return any(first <= index <= last for first, last in self.spans)

    def total(self) -> int:
        return sum(last - first + 1 for first, last in self.spans)

    def __str__(self) -> str:
        parts = []
        for first, last in self.spans:
            if last == first:
                parts.append(str(first))
            elif last == first + 1:
                parts.append(f"{first},{last}")
            else:
                parts.append(f"{first}-{last}")
        return ",".join(parts)


def succeeded_indexes(completed: str, pods: Sequence[core_pb2.Pod], completions: int,
                      tracked: Iterable[str]) -> tuple[Intervals, Intervals]:
    """(the indexes ``status.completedIndexes`` already holds, those plus the indexes of the
    succeeded pods whose uid is in ``tracked`` — those still carrying the tracking finalizer)."""
    previous = Intervals.parse(completed, completions)
    tracked_uids = set(tracked)
    new = [ix for p in pods if p.status.phase == "Succeeded" and p.metadata.uid in tracked_uids
           and (ix := valid_index(p, completions)) is not None]
    return previous, previous.with_indexes(new)


def first_pending_indexes(succeeded: Intervals, active: Sequence[core_pb2.Pod], count: int,
                          completions: int) -> list[int]:
    """The ``count`` lowest indexes that neither succeeded nor have an active pod."""
    busy = succeeded.with_indexes(ix for p in active if (ix := valid_index(p, completions)) is not None)
    pending: list[int] = []
    index = 0
    while index < completions and len(pending) < count:
        if not busy.has(index):
            pending.append(index)
        index += 1
    return pending


def duplicated_index_pods(pods: Sequence[core_pb2.Pod], completions: int,
                          keep_first: Sequence[core_pb2.Pod]) -> list[core_pb2.Pod]:
    """Active pods to remove because their index is missing, out of range, or held by another pod.

    ``keep_first`` is the same pods ordered from the one most worth keeping (running, ready, old)
    to the least; of the pods sharing an index, the first in that order stays.
    """
    seen: set[int] = set()
    remove: list[core_pb2.Pod] = []
    for pod in keep_first:
        index = valid_index(pod, completions)
        if index is None or index in seen:
            remove.append(pod)
        else:
            seen.add(index)
    wanted = {p.metadata.uid for p in pods}
    return [p for p in remove if p.metadata.uid in wanted]
