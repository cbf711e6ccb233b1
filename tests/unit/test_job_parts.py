"""The Job controller's pure parts, and the strategic-merge directive its finalizer patch uses.

``controllers.job.indexes``: completedIndexes strings read and written (``Intervals``), the pending
indexes a Job creates pods for, the active pods with a repeated or invalid index.
``controllers.job.backoff``: the pod-failure delay (10 s doubling, capped), how a record follows
new successes and failures, and when a pod finished. ``controllers.job.tracking``: moving uids
out of uncountedTerminatedPods into the counters, and the finalizer expectations.
``skiff.api.patch``: ``$deleteFromPrimitiveList/<field>`` in ``strategic_merge_patch``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controllers.job.backoff import DEFAULT_BACKOFF, MAX_BACKOFF, BackoffRecord, BackoffStore, finished_time
from controllers.job.indexes import (
    COMPLETION_INDEX_KEY,
    Intervals,
    duplicated_index_pods,
    first_pending_indexes,
    succeeded_indexes,
)
from controllers.job.tracking import (
    TRACKING_FINALIZER,
    FinalizerExpectations,
    clean_uncounted,
    remove_finalizer_patch,
)
from skiff.api.patch import PatchError, strategic_merge_patch
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import batch_pb2, core_pb2

WALL = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def at(offset: float) -> str:
    return rfc3339(WALL + offset)


def pod(name: str, *, index: str | None = None, phase: str = "Running", finished: list[float | None] | None = None,
        not_ready_since: float | None = None, deleted: float | None = None) -> core_pb2.Pod:
    """A pod; ``finished`` gives each container's finishedAt offset (None: still running)."""
    p = core_pb2.Pod()
    p.metadata.name, p.metadata.uid = name, f"uid-{name}"
    if index is not None:
        p.metadata.annotations[COMPLETION_INDEX_KEY] = index
    p.status.phase = phase
    for i, offset in enumerate(finished or []):
        status = p.status.container_statuses.add(name=f"c{i}")
        if offset is None:
            status.state.running.started_at = at(-100)
        else:
            status.state.terminated.finished_at = at(offset)
    if not_ready_since is not None:
        p.status.conditions.add(type="Ready", status="False", last_transition_time=at(not_ready_since))
    if deleted is not None:
        p.metadata.deletion_timestamp = at(deleted)
    return p


def names(pods: list[core_pb2.Pod]) -> list[str]:
    return [p.metadata.name for p in pods]


# ---- Intervals ----


@pytest.mark.parametrize(("text", "indexes"), [
    ("", []),
    ("0", [0]),
    ("1,3-5,7", [1, 3, 4, 5, 7]),
    ("1,2", [1, 2]),
    ("0-2,3", [0, 1, 2, 3]),  # adjacent runs merge
])
def test_intervals_parse_well_formed_strings(text: str, indexes: list[int]) -> None:
    parsed = Intervals.parse(text, 10)
    assert [i for i in range(10) if parsed.has(i)] == indexes
    assert parsed.total() == len(indexes)


@pytest.mark.parametrize(("text", "written"), [
    ("1,3-5,7", "1,3-5,7"),
    ("1,2", "1,2"),
    ("1-2", "1,2"),  # two neighbours are written as two
    ("0,1,2", "0-2"),
    ("0-2,3", "0-3"),
    ("", ""),
])
def test_intervals_are_written_as_kubernetes_writes_them(text: str, written: str) -> None:
    assert str(Intervals.parse(text, 10)) == written


@pytest.mark.parametrize(("text", "written"), [
    ("1,x,3", "1,3"),  # not a number
    ("1,5-3,7", "1,7"),  # backwards
    ("-2,4", "4"),  # negative
    ("1,3-a", "1"),
    ("2,,4", "2,4"),  # empty part
    ("8,9,12", "8,9"),  # at or above completions (10)
    ("7-15", "7-9"),  # a run crossing completions is cut
])
def test_intervals_ignore_malformed_parts_and_indexes_out_of_range(text: str, written: str) -> None:
    assert str(Intervals.parse(text, 10)) == written


def test_with_indexes_merges_and_leaves_the_original_alone() -> None:
    base = Intervals.parse("1,5-6", 10)
    merged = base.with_indexes([2, 4, 9, 2])
    assert str(merged) == "1,2,4-6,9"
    assert merged.total() == 6
    assert str(base) == "1,5,6"
    assert str(Intervals().with_indexes([3, 1, 2])) == "1-3"
    assert Intervals().total() == 0 and not Intervals().has(0)


def test_has() -> None:
    spans = Intervals.parse("1,3-5", 10)
    assert [spans.has(i) for i in range(7)] == [False, True, False, True, True, True, False]


def test_succeeded_indexes_only_takes_tracked_succeeded_pods_with_valid_indexes() -> None:
    pods = [pod("a", index="2", phase="Succeeded"), pod("b", index="3", phase="Succeeded"),
            pod("c", index="4", phase="Running"), pod("d", index="9", phase="Succeeded"),
            pod("e", phase="Succeeded")]
    previous, now = succeeded_indexes("0", pods, 5, ["uid-a", "uid-c", "uid-d", "uid-e"])
    assert str(previous) == "0"
    assert str(now) == "0,2"


# ---- pending and duplicated indexes ----


def test_first_pending_indexes_skip_succeeded_and_active() -> None:
    succeeded = Intervals.parse("0,2", 6)
    active = [pod("a", index="1"), pod("b", index="4")]
    assert first_pending_indexes(succeeded, active, 2, 6) == [3, 5]
    assert first_pending_indexes(succeeded, active, 5, 6) == [3, 5]  # no more than there are
    assert first_pending_indexes(Intervals(), [], 3, 6) == [0, 1, 2]
    assert first_pending_indexes(Intervals(), [], 0, 6) == []


def test_first_pending_indexes_ignore_active_pods_without_a_valid_index() -> None:
    active = [pod("a", index="x"), pod("b", index="8"), pod("c")]
    assert first_pending_indexes(Intervals(), active, 2, 3) == [0, 1]


def test_duplicated_index_pods_keep_the_first_of_each_index_in_keep_order() -> None:
    a, b, c = pod("a", index="1"), pod("b", index="1"), pod("c", index="2")
    bad, far, none = pod("bad", index="x"), pod("far", index="5"), pod("none")
    everyone = [a, b, c, bad, far, none]
    assert names(duplicated_index_pods(everyone, 3, [a, b, c, bad, far, none])) == ["b", "bad", "far", "none"]
    assert names(duplicated_index_pods(everyone, 3, [b, a, c, bad, far, none])) == ["a", "bad", "far", "none"]


def test_duplicated_index_pods_are_limited_to_the_pods_given() -> None:
    a, b = pod("a", index="1"), pod("b", index="1")
    assert duplicated_index_pods([a], 3, [b, a]) == [a]
    assert duplicated_index_pods([b], 3, [b, a]) == []
    assert duplicated_index_pods([], 3, []) == []


# ---- backoff ----


@pytest.mark.parametrize(("failures", "delay"), [
    (1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 320), (7, 600), (30, 600)])
def test_the_backoff_doubles_from_ten_seconds_capped_at_six_minutes(failures: int, delay: float) -> None:
    record = BackoffRecord("ns/j", failures, WALL)
    assert record.remaining(WALL) == delay
    assert record.remaining(WALL + 3) == delay - 3


def test_the_backoff_is_over_once_it_elapsed_and_without_failures() -> None:
    assert BackoffRecord("ns/j", 1, WALL).remaining(WALL + 10.5) == 0
    assert BackoffRecord("ns/j", 2, WALL).remaining(WALL + 100) == 0
    assert BackoffRecord("ns/j", 0, WALL).remaining(WALL) == 0
    assert BackoffRecord("ns/j", 3, None).remaining(WALL) == 0
    assert BackoffRecord("ns/j").remaining(WALL) == 0


def test_the_backoff_base_and_cap_can_be_set() -> None:
    assert (DEFAULT_BACKOFF, MAX_BACKOFF) == (10.0, 600.0)  # Kubernetes' MaxJobPodFailureBackOff
    assert BackoffRecord("k", 3, WALL).remaining(WALL, base=1, cap=3) == 3
    assert BackoffRecord("k", 2, WALL).remaining(WALL, base=1, cap=3) == 2


def test_finished_time_is_the_last_container_finish() -> None:
    assert finished_time(pod("p", finished=[-30, -10, -20]), WALL) == WALL - 10


def test_finished_time_falls_back_to_ready_false_then_deletion_then_creation() -> None:
    running = pod("p", finished=[-30, None], not_ready_since=-25, deleted=-5)
    assert finished_time(running, WALL) == WALL - 25
    assert finished_time(pod("p", finished=[None], deleted=-5), WALL) == WALL - 5
    assert finished_time(pod("p"), WALL) == WALL
    ready = pod("p")
    ready.status.conditions.add(type="Ready", status="True", last_transition_time=at(-50))
    assert finished_time(ready, WALL + 1) == WALL + 1  # a Ready=True condition says nothing


def test_next_record_adds_failures_and_keeps_the_latest_failure_time() -> None:
    store = BackoffStore()
    first = store.next_record("k", [], [pod("f1", finished=[-30]), pod("f2", finished=[-50])], WALL)
    assert (first.failures_after_last_success, first.last_failure_time) == (2, WALL - 30)
    assert store.get("k") == BackoffRecord("k")  # nothing stored until update
    store.update(first)
    second = store.next_record("k", [], [pod("f3", finished=[-5])], WALL)
    assert (second.failures_after_last_success, second.last_failure_time) == (3, WALL - 5)
    assert store.next_record("k", [], [], WALL) == first  # nothing new: the stored record


def test_next_record_a_success_resets_and_only_later_failures_count() -> None:
    store = BackoffStore()
    store.update(BackoffRecord("k", 4, WALL - 100))
    success_only = store.next_record("k", [pod("s", finished=[-20])], [], WALL)
    assert (success_only.failures_after_last_success, success_only.last_failure_time) == (0, None)
    mixed = store.next_record("k", [pod("s1", finished=[-40]), pod("s2", finished=[-20])],
                              [pod("before", finished=[-30]), pod("after1", finished=[-10]),
                               pod("after2", finished=[-15])], WALL)
    assert (mixed.failures_after_last_success, mixed.last_failure_time) == (2, WALL - 10)
    tie = store.next_record("k", [pod("s", finished=[-20])], [pod("same", finished=[-20])], WALL)
    assert tie.failures_after_last_success == 0  # failed at the same moment: not after


def test_backoff_store_remove_forgets() -> None:
    store = BackoffStore()
    store.update(BackoffRecord("k", 1, WALL))
    store.remove("k")
    store.remove("never")
    assert store.get("k") == BackoffRecord("k")


# ---- tracking ----


def test_clean_uncounted_moves_uids_without_finalizer_into_the_counters() -> None:
    status = batch_pb2.JobStatus(succeeded=2, failed=1)
    status.uncounted_terminated_pods.succeeded.extend(["s1", "s2", "s3"])
    status.uncounted_terminated_pods.failed.extend(["f1", "f2"])
    assert clean_uncounted(status, {"s2", "f1", "f2"})
    assert (status.succeeded, status.failed) == (4, 1)
    assert list(status.uncounted_terminated_pods.succeeded) == ["s2"]
    assert list(status.uncounted_terminated_pods.failed) == ["f1", "f2"]
    assert not clean_uncounted(status, {"s2", "f1", "f2"})  # nothing moves: no change
    assert clean_uncounted(status, set())
    assert (status.succeeded, status.failed) == (5, 3)
    assert list(status.uncounted_terminated_pods.succeeded) == []
    assert list(status.uncounted_terminated_pods.failed) == []


def test_remove_finalizer_patch_carries_the_uid_and_is_none_without_the_finalizer() -> None:
    p = pod("p")
    assert remove_finalizer_patch(p) is None
    p.metadata.finalizers.extend(["other", TRACKING_FINALIZER])
    assert remove_finalizer_patch(p) == {
        "metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER], "uid": "uid-p"}}


def test_finalizer_expectations() -> None:
    exp = FinalizerExpectations()
    assert exp.expected("k") == frozenset()
    exp.expect_removed("k", ["a", "b"])
    exp.expect_removed("k", ["c"])
    exp.expect_removed("other", ["z"])
    assert exp.expected("k") == {"a", "b", "c"}
    exp.observed("k", "a")
    exp.observed("k", "never")
    exp.observed("missing", "a")
    assert exp.expected("k") == {"b", "c"}
    exp.observed("k", "b")
    exp.observed("k", "c")
    assert exp.expected("k") == frozenset()
    assert exp.expected("other") == {"z"}
    exp.delete("other")
    exp.delete("missing")
    assert exp.expected("other") == frozenset()


# ---- $deleteFromPrimitiveList ----


def test_delete_from_primitive_list_removes_the_listed_values() -> None:
    target = {"metadata": {"name": "p", "finalizers": ["a", TRACKING_FINALIZER, "b", TRACKING_FINALIZER]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER, "absent"]}}
    assert strategic_merge_patch(target, patch) == {"metadata": {"name": "p", "finalizers": ["a", "b"]}}
    assert target["metadata"]["finalizers"] == ["a", TRACKING_FINALIZER, "b", TRACKING_FINALIZER]  # untouched


def test_a_list_emptied_by_the_directive_goes() -> None:
    target = {"metadata": {"name": "p", "finalizers": [TRACKING_FINALIZER]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}
    assert strategic_merge_patch(target, patch) == {"metadata": {"name": "p"}}


def test_the_directive_on_a_missing_list_changes_nothing() -> None:
    target = {"metadata": {"name": "p"}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}
    assert strategic_merge_patch(target, patch) == {"metadata": {"name": "p"}}


def test_the_rest_of_the_patch_still_merges() -> None:
    target = {"metadata": {"name": "p", "uid": "u", "labels": {"a": "1"}, "finalizers": ["x", "y"]},
              "spec": {"nodeName": "n1"}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"], "labels": {"b": "2"}, "uid": "u"},
             "spec": {"nodeName": "n2"}}
    assert strategic_merge_patch(target, patch) == {
        "metadata": {"name": "p", "uid": "u", "labels": {"a": "1", "b": "2"}, "finalizers": ["y"]},
        "spec": {"nodeName": "n2"}}


def test_the_directive_applies_before_the_lists_merge() -> None:
    target = {"metadata": {"finalizers": ["x", "y"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"], "finalizers": ["z"]}}
    merged = strategic_merge_patch(target, patch)
    assert sorted(merged["metadata"]["finalizers"]) == ["y", "z"]  # x went, z was added


@pytest.mark.parametrize("value", ["x", {"a": 1}, 3, None])
def test_a_directive_whose_value_is_not_a_list_is_an_error(value: object) -> None:
    target = {"metadata": {"finalizers": ["x"]}}
    with pytest.raises(PatchError, match=r"\$deleteFromPrimitiveList/finalizers must be a list"):
        strategic_merge_patch(target, {"metadata": {"$deleteFromPrimitiveList/finalizers": value}})
