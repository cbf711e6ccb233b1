"""The DaemonSet controller (``controllers.daemonset``) against Kubernetes 1.32's pkg/controller/daemon.

* :mod:`controllers.daemonset.placement`, table-driven: ``should_run`` (``NodeShouldRunDaemonPod``)
  for nodeSelector, required node affinity, a template ``nodeName``, taints and the default daemon
  tolerations; ``add_daemon_tolerations``, ``pin_to_node`` and ``target_node``.
* ``sync(key)`` on seeded informer stores (DaemonSet, Pod, Node, ControllerRevision) against the
  in-memory FakeClient, nothing running in the background: the first revision and the pods of a
  fresh DaemonSet; the manage loop (duplicates, failed pods and their back-off, succeeded pods,
  nodes it no longer belongs on, nodes that are gone); expectations; rolling updates without and
  with surge, and OnDelete; the status counts and their omitempty; the revision history
  (renumbering, clean-up); the empty selector.

Time is a FakeClock (back-off, delayed requeues) and a fixed wall clock (availability under
minReadySeconds). Tests marked ``xfail(strict=True)`` pin behaviour that differs from Kubernetes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from controllers.daemonset.controller import DaemonSetController
from controllers.daemonset.placement import (
    REVISION_HASH_LABEL,
    TEMPLATE_GENERATION_ANNOTATION,
    TEMPLATE_GENERATION_LABEL,
    add_daemon_tolerations,
    pin_to_node,
    pod_template,
    should_run,
    target_node,
)
from controllers.history import HashCollision, revision_data, revision_hash
from controllers.informers import SharedInformers
from skiff.api import codec, errors
from skiff.api.manifest import to_manifest
from skiff.api.ownership import controller_ref
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.clock import FakeClock
from tests.unit.controller_fakes import NOW, FakeClient, FakeRecorder, deliver

WALL = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
KEY = "default/agent"
OLD_HASH = "oldhash"
DEFAULT_TOLERATION_KEYS = {
    ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule"),
}


def at(seconds_before_now: float) -> str:
    return datetime.fromtimestamp(WALL - seconds_before_now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_ds(*, strategy: str = "RollingUpdate", max_unavailable: int | str | None = 1,
            max_surge: int | str | None = None, min_ready: int = 0, generation: int = 1,
            template_generation: int | None = 1, node_selector: dict[str, str] | None = None,
            history_limit: int | None = None) -> apps_pb2.DaemonSet:
    ds = apps_pb2.DaemonSet(api_version="apps/v1", kind="DaemonSet")
    ds.metadata.name, ds.metadata.namespace, ds.metadata.uid = "agent", "default", "ds-uid"
    ds.metadata.generation = generation
    if template_generation is not None:
        ds.metadata.annotations[TEMPLATE_GENERATION_ANNOTATION] = str(template_generation)
    ds.spec.selector.match_labels["app"] = "agent"
    ds.spec.template.metadata.labels["app"] = "agent"
    ds.spec.template.spec.containers.add(name="agent", image="agent:2")
    ds.spec.template.spec.node_selector.update(node_selector or {})
    ds.spec.min_ready_seconds = min_ready
    if history_limit is not None:
        ds.spec.revision_history_limit = history_limit
    ds.spec.update_strategy.type = strategy
    if strategy == "RollingUpdate":
        rolling = ds.spec.update_strategy.rolling_update
        for field, value in (("max_unavailable", max_unavailable), ("max_surge", max_surge)):
            if isinstance(value, int):
                getattr(rolling, field).int_val = value
            elif isinstance(value, str):
                getattr(rolling, field).str_val = value
    return ds


def make_node(name: str, *, labels: dict[str, str] | None = None,
              taints: tuple[tuple[str, str, str], ...] = ()) -> core_pb2.Node:
    node = core_pb2.Node(api_version="v1", kind="Node")
    node.metadata.name = name
    node.metadata.labels.update(labels or {})
    for key, value, effect in taints:
        node.spec.taints.add(key=key, value=value, effect=effect)
    return node


def make_pod(name: str, ds: apps_pb2.DaemonSet | None, node: str = "n1", *, current: bool = False,
             phase: str = "Running", ready_for: float | None = 3600, age: float = 3600, pinned: bool = False,
             deleting: bool = False, hash_: str | None = None) -> core_pb2.Pod:
    """A daemon pod on ``node`` (bound, or only pinned by affinity); of the current revision when
    ``current`` (needs ``ds``), else of ``hash_`` or an old one."""
    pod = core_pb2.Pod(api_version="v1", kind="Pod")
    pod.metadata.name, pod.metadata.namespace, pod.metadata.uid = name, "default", f"uid-{name}"
    pod.metadata.labels["app"] = "agent"
    if current:
        assert ds is not None
        pod.metadata.labels[REVISION_HASH_LABEL] = revision_hash(ds)
    else:
        pod.metadata.labels[REVISION_HASH_LABEL] = hash_ or OLD_HASH
        pod.metadata.labels[TEMPLATE_GENERATION_LABEL] = "0"
    pod.metadata.creation_timestamp = at(age)
    if ds is not None:
        pod.metadata.owner_references.append(controller_ref(ds))
    if deleting:
        pod.metadata.deletion_timestamp = NOW
    template = core_pb2.PodTemplateSpec()
    if pinned:
        pin_to_node(template, node)
        pod.spec.affinity.CopyFrom(template.spec.affinity)
    else:
        pod.spec.node_name = node
    pod.status.phase = phase
    if ready_for is not None:
        pod.status.conditions.add(type="Ready", status="True", last_transition_time=at(ready_for))
    return pod


def make_revision(ds: apps_pb2.DaemonSet, name: str, number: int, *, hash_: str,
                  data: dict[str, Any] | None = None) -> apps_pb2.ControllerRevision:
    manifest = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": name, "namespace": "default",
                             "labels": {"app": "agent", REVISION_HASH_LABEL: hash_}},
                "data": data if data is not None else {"spec": {"template": {"$patch": "replace", "x": name}}},
                "revision": number}
    revision = codec.from_dict(apps_pb2.ControllerRevision, manifest)
    revision.metadata.owner_references.append(controller_ref(ds))
    return revision


class Harness:
    def __init__(self, *objects: Any) -> None:
        self.client = FakeClient()
        self.recorder = FakeRecorder()
        self.clock = FakeClock()
        self.informers = SharedInformers(cast(Any, self.client))
        self.ctl = DaemonSetController(cast(Any, self.client), self.informers, cast(Any, self.recorder),
                                       clock=self.clock, wall_clock=lambda: WALL)
        for obj in objects:
            self.seed(obj)

    def seed(self, obj: Any) -> Any:
        self.client.put(obj)
        self.informers.get(type(obj)).store.put(obj)
        return obj

    def refresh_ds(self) -> apps_pb2.DaemonSet:
        """Show the server's DaemonSet (status written by a sync) in the informer."""
        ds = cast(apps_pb2.DaemonSet, self.client.stored(apps_pb2.DaemonSet, "agent"))
        self.informers.get(apps_pb2.DaemonSet).store.put(ds)
        return ds

    def created_pods(self) -> list[core_pb2.Pod]:
        return [c.detail for c in self.client.verbs("create") if c.kind == "Pod"]

    def created_nodes(self) -> list[str | None]:
        return [target_node(p) for p in self.created_pods()]

    def deleted_pods(self) -> list[str]:
        return [c.name for c in self.client.verbs("delete") if c.kind == "Pod"]

    def deleted_revisions(self) -> list[str]:
        return [c.name for c in self.client.verbs("delete") if c.kind == "ControllerRevision"]

    def status(self) -> dict[str, Any]:
        ds = self.client.stored(apps_pb2.DaemonSet, "agent")
        assert ds is not None
        return cast(dict[str, Any], to_manifest(ds).get("status", {}))

    def show_deleted(self, *names: str) -> None:
        """The informer sees the pods go (the expectations for them are met)."""
        informer = self.informers.get(core_pb2.Pod)
        for name in names:
            pod = informer.store.get(f"default/{name}")
            assert pod is not None
            deliver(informer, "DELETED", pod)


def three_nodes() -> list[core_pb2.Node]:
    return [make_node(n) for n in ("n1", "n2", "n3")]


# ---- placement ----

def _ds_with(**template: Any) -> apps_pb2.DaemonSet:
    ds = make_ds()
    spec = ds.spec.template.spec
    if "node_selector" in template:
        spec.node_selector.update(template["node_selector"])
    if "node_name" in template:
        spec.node_name = template["node_name"]
    if "host_network" in template:
        spec.host_network = template["host_network"]
    for expr in template.get("match_expressions", ()):
        term = spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
        term.add().match_expressions.add(key=expr[0], operator=expr[1], values=expr[2])
    for field in template.get("match_fields", ()):
        term = spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
        term.add().match_fields.add(key=field[0], operator=field[1], values=field[2])
    for key, value, effect in template.get("tolerations", ()):
        spec.tolerations.add(key=key, operator="Equal", value=value, effect=effect)
    return ds


TAINTED = "dedicated", "infra"
PLACEMENT_CASES: list[tuple[str, dict[str, Any], core_pb2.Node, tuple[bool, bool]]] = [
    ("no constraints", {}, make_node("n1"), (True, True)),
    ("nodeSelector matches", {"node_selector": {"role": "agent"}},
     make_node("n1", labels={"role": "agent", "zone": "a"}), (True, True)),
    ("nodeSelector value differs", {"node_selector": {"role": "agent"}},
     make_node("n1", labels={"role": "db"}), (False, False)),
    ("nodeSelector label missing", {"node_selector": {"role": "agent"}}, make_node("n1"), (False, False)),
    ("matchExpressions In matches", {"match_expressions": [("zone", "In", ["a", "b"])]},
     make_node("n1", labels={"zone": "b"}), (True, True)),
    ("matchExpressions In does not match", {"match_expressions": [("zone", "In", ["a"])]},
     make_node("n1", labels={"zone": "c"}), (False, False)),
    ("matchExpressions DoesNotExist", {"match_expressions": [("gpu", "DoesNotExist", [])]},
     make_node("n1", labels={"gpu": "yes"}), (False, False)),
    ("matchFields metadata.name is the node", {"match_fields": [("metadata.name", "In", ["n1"])]},
     make_node("n1"), (True, True)),
    ("matchFields metadata.name is another node", {"match_fields": [("metadata.name", "In", ["n2"])]},
     make_node("n1"), (False, False)),
    ("template nodeName is this node", {"node_name": "n1"}, make_node("n1"), (True, True)),
    ("template nodeName is another node", {"node_name": "n2"}, make_node("n1"), (False, False)),
    ("NoSchedule taint not tolerated: an existing pod may stay", {},
     make_node("n1", taints=((*TAINTED, "NoSchedule"),)), (False, True)),
    ("NoExecute taint not tolerated", {}, make_node("n1", taints=((*TAINTED, "NoExecute"),)), (False, False)),
    ("NoExecute and NoSchedule, NoSchedule tolerated", {"tolerations": [(*TAINTED, "NoSchedule")]},
     make_node("n1", taints=((*TAINTED, "NoSchedule"), ("other", "", "NoExecute"))), (False, False)),
    ("tolerated NoSchedule taint", {"tolerations": [(*TAINTED, "NoSchedule")]},
     make_node("n1", taints=((*TAINTED, "NoSchedule"),)), (True, True)),
    ("toleration with another value", {"tolerations": [("dedicated", "db", "NoSchedule")]},
     make_node("n1", taints=((*TAINTED, "NoSchedule"),)), (False, True)),
    ("PreferNoSchedule is ignored", {}, make_node("n1", taints=((*TAINTED, "PreferNoSchedule"),)), (True, True)),
    ("default toleration: unschedulable", {},
     make_node("n1", taints=(("node.kubernetes.io/unschedulable", "", "NoSchedule"),)), (True, True)),
    ("default toleration: not-ready NoExecute", {},
     make_node("n1", taints=(("node.kubernetes.io/not-ready", "", "NoExecute"),)), (True, True)),
    ("default toleration: unreachable NoExecute", {},
     make_node("n1", taints=(("node.kubernetes.io/unreachable", "", "NoExecute"),)), (True, True)),
    ("default tolerations: memory, disk, pid pressure", {},
     make_node("n1", taints=tuple((f"node.kubernetes.io/{p}-pressure", "", "NoSchedule")
                                  for p in ("memory", "disk", "pid"))), (True, True)),
    ("not-ready is tolerated as NoExecute only, not as NoSchedule", {},
     make_node("n1", taints=(("node.kubernetes.io/not-ready", "", "NoSchedule"),)), (False, True)),
    ("network-unavailable without hostNetwork", {},
     make_node("n1", taints=(("node.kubernetes.io/network-unavailable", "", "NoSchedule"),)), (False, True)),
    ("network-unavailable with hostNetwork", {"host_network": True},
     make_node("n1", taints=(("node.kubernetes.io/network-unavailable", "", "NoSchedule"),)), (True, True)),
]


@pytest.mark.parametrize(("template", "node", "expected"), [c[1:] for c in PLACEMENT_CASES],
                         ids=[c[0] for c in PLACEMENT_CASES])
def test_should_run(template: dict[str, Any], node: core_pb2.Node, expected: tuple[bool, bool]) -> None:
    ds = _ds_with(**template)
    before = apps_pb2.DaemonSet()
    before.CopyFrom(ds)
    assert should_run(node, ds) == expected
    assert ds == before, "should_run must not add the daemon tolerations to the DaemonSet itself"


def _toleration_keys(spec: core_pb2.PodSpec) -> list[tuple[str, str]]:
    return [(t.key, t.effect) for t in spec.tolerations]


def test_add_daemon_tolerations_adds_each_once_and_is_idempotent() -> None:
    spec = core_pb2.PodSpec()
    spec.tolerations.add(key="node.kubernetes.io/not-ready", operator="Exists", effect="NoExecute")
    spec.tolerations.add(key="custom", operator="Equal", value="x", effect="NoSchedule")
    add_daemon_tolerations(spec)
    add_daemon_tolerations(spec)
    keys = _toleration_keys(spec)
    assert len(keys) == len(set(keys)) == 7
    assert set(keys) == DEFAULT_TOLERATION_KEYS | {("custom", "NoSchedule")}
    assert all(t.operator == "Exists" for t in spec.tolerations if t.key != "custom")

    host = core_pb2.PodSpec(host_network=True)
    add_daemon_tolerations(host)
    add_daemon_tolerations(host)
    assert sorted(_toleration_keys(host)) == sorted(
        DEFAULT_TOLERATION_KEYS | {("node.kubernetes.io/network-unavailable", "NoSchedule")})


def test_a_user_not_ready_toleration_with_seconds_is_replaced_by_the_infinite_one() -> None:
    ds = make_ds()
    ds.spec.template.spec.tolerations.add(key="node.kubernetes.io/not-ready", operator="Exists",
                                          effect="NoExecute", toleration_seconds=300)
    template = pod_template(ds, "h")
    not_ready = [t for t in template.spec.tolerations if t.key == "node.kubernetes.io/not-ready"]
    assert len(not_ready) == 1
    assert not not_ready[0].HasField("toleration_seconds")


def test_pin_to_node_replaces_the_required_terms_and_keeps_the_rest() -> None:
    template = core_pb2.PodTemplateSpec()
    affinity = template.spec.affinity.node_affinity
    affinity.required_during_scheduling_ignored_during_execution.node_selector_terms.add().match_expressions.add(
        key="zone", operator="In", values=["a"])
    affinity.required_during_scheduling_ignored_during_execution.node_selector_terms.add().match_fields.add(
        key="metadata.name", operator="In", values=["elsewhere"])
    affinity.preferred_during_scheduling_ignored_during_execution.add(weight=5).preference.match_expressions.add(
        key="ssd", operator="Exists")
    pin_to_node(template, "n7")
    manifest = codec.to_dict(template.spec.affinity)["nodeAffinity"]
    assert manifest["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}]}
    assert manifest["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 5
    pin_to_node(template, "n8")
    assert target_node(core_pb2.Pod(spec=template.spec)) == "n8"


def test_target_node_reads_node_name_first_then_the_pinned_metadata_name() -> None:
    bound = make_pod("bound", None, "n1")
    assert target_node(bound) == "n1"
    pinned = make_pod("pinned", None, "n2", pinned=True)
    assert not pinned.spec.node_name and target_node(pinned) == "n2"
    pinned.spec.node_name = "n3"  # the binding wins over the affinity
    assert target_node(pinned) == "n3"
    loose = core_pb2.Pod()
    loose.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms.add(
    ).match_fields.add(key="metadata.name", operator="In", values=["a", "b"])
    assert target_node(loose) is None  # not one node
    assert target_node(core_pb2.Pod()) is None


# ---- a fresh DaemonSet ----

async def test_a_fresh_daemonset_gets_a_revision_then_one_pinned_pod_per_node() -> None:
    ds = make_ds(generation=4, template_generation=3)
    h = Harness(ds, *three_nodes())
    await h.ctl.sync(KEY)
    creates = h.client.verbs("create")
    assert [c.kind for c in creates] == ["ControllerRevision", "Pod", "Pod", "Pod"]

    revision = creates[0].detail
    hash_ = revision_hash(ds)
    assert revision.metadata.name == f"agent-{hash_}"
    assert dict(revision.metadata.labels) == {"app": "agent", REVISION_HASH_LABEL: hash_}
    assert revision.revision == 1
    template = to_manifest(ds)["spec"]["template"]
    assert codec.to_dict(revision)["data"] == {"spec": {"template": {**template, "$patch": "replace"}}}
    (ref,) = revision.metadata.owner_references
    assert (ref.kind, ref.name, ref.uid, ref.controller) == ("DaemonSet", "agent", "ds-uid", True)

    pods = h.created_pods()
    assert sorted(h.created_nodes()) == ["n1", "n2", "n3"]  # type: ignore[type-var]
    for pod in pods:
        assert pod.metadata.generate_name == "agent-"
        assert dict(pod.metadata.labels) == {"app": "agent", REVISION_HASH_LABEL: hash_,
                                             TEMPLATE_GENERATION_LABEL: "3"}
        assert not pod.spec.node_name  # the scheduler binds it
        assert set(_toleration_keys(pod.spec)) == DEFAULT_TOLERATION_KEYS
        (pod_ref,) = pod.metadata.owner_references
        assert (pod_ref.uid, pod_ref.controller) == ("ds-uid", True)
    assert h.recorder.reasons() == ["SuccessfulCreate"] * 3
    # status from the stores as they were: the new pods are not in the informer yet
    assert h.status() == {"desiredNumberScheduled": 3, "currentNumberScheduled": 0, "numberMisscheduled": 0,
                          "numberReady": 0, "numberUnavailable": 3, "observedGeneration": 4}
    assert h.ctl.expectations.pending(KEY) == (3, 0)


async def test_a_node_excluded_by_the_node_selector_gets_no_pod() -> None:
    ds = make_ds(node_selector={"role": "agent"})
    h = Harness(ds, make_node("n1", labels={"role": "agent"}), make_node("n2"))
    await h.ctl.sync(KEY)
    assert h.created_nodes() == ["n1"]
    assert h.status()["desiredNumberScheduled"] == 1


async def test_an_empty_selector_is_refused_with_a_selecting_all_event_and_nothing_else() -> None:
    ds = make_ds()
    ds.spec.selector.Clear()
    h = Harness(ds, *three_nodes())
    await h.ctl.sync(KEY)
    assert h.recorder.events == [(KEY, "Warning", "SelectingAll",
                                  "This daemon set is selecting all pods. A non-empty selector is required.")]
    assert h.client.calls == []


async def test_a_daemonset_being_deleted_is_left_alone() -> None:
    ds = make_ds()
    ds.metadata.deletion_timestamp = NOW
    h = Harness(ds, *three_nodes())
    await h.ctl.sync(KEY)
    assert h.client.calls == [] and h.recorder.events == []


# ---- expectations ----

async def test_a_second_sync_before_the_informer_shows_the_pods_only_writes_status() -> None:
    ds = make_ds(generation=2)
    h = Harness(ds, *three_nodes())
    await h.ctl.sync(KEY)
    assert len(h.created_pods()) == 3
    served = h.refresh_ds()
    assert served.status.observed_generation == 2
    served.metadata.generation = 3  # the user edited something that is not the template
    h.seed(served)
    first = next(c.detail for c in h.client.verbs("create") if c.kind == "Pod")
    created = next(p for p in h.client.objects.values()
                   if isinstance(p, core_pb2.Pod) and target_node(p) == target_node(first))
    deliver(h.informers.get(core_pb2.Pod), "ADDED", created)  # one of three shows up
    assert h.ctl.expectations.pending(KEY) == (2, 0)

    status_writes = len(h.client.verbs("update_status"))
    await h.ctl.sync(KEY)
    assert len(h.created_pods()) == 3 and h.deleted_pods() == []
    writes = h.client.verbs("update_status")[status_writes:]
    assert len(writes) == 1
    assert writes[0].detail.status.current_number_scheduled == 1
    assert writes[0].detail.status.observed_generation == 2, "not raised: this generation was not acted on"


# ---- manage ----

async def test_two_pods_on_a_node_keep_the_oldest() -> None:
    ds = make_ds()
    h = Harness(ds, make_node("n1"), make_pod("old", ds, "n1", current=True, age=7200),
                make_pod("young", ds, "n1", current=True, age=60))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["young"]
    assert h.created_pods() == []
    assert h.recorder.reasons() == ["SuccessfulDelete"]


async def test_two_pods_on_a_node_keep_the_bound_one_over_an_older_unbound_one() -> None:
    ds = make_ds()
    h = Harness(ds, make_node("n1"), make_pod("pinned-older", ds, "n1", current=True, pinned=True, age=9000),
                make_pod("bound", ds, "n1", current=True, age=60))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["pinned-older"]


async def test_a_failed_pod_is_deleted_with_an_event_and_a_second_failure_waits_for_the_backoff() -> None:
    ds = make_ds()
    h = Harness(ds, make_node("n1"), make_pod("crashed", ds, "n1", current=True, phase="Failed", ready_for=None))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["crashed"]
    assert (KEY, "Warning", "FailedDaemonPod",
            "Found failed daemon pod default/crashed on node n1, will try to kill it") in h.recorder.events
    assert h.created_pods() == []  # the replacement comes on the next sync, once the node is empty

    h.show_deleted("crashed")
    h.seed(make_pod("crashed-again", ds, "n1", current=True, phase="Failed", ready_for=None))
    assert h.ctl.queue.delayed() == 0
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["crashed"], "within the back-off the failed pod stays"
    assert h.recorder.reasons().count("FailedDaemonPod") == 1
    assert h.ctl.queue.delayed() == 1  # requeued after the back-off (1 s)
    h.clock.advance(0.5)
    assert h.ctl.queue.delayed() == 1
    h.clock.advance(0.5)
    assert h.ctl.queue.delayed() == 0

    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["crashed", "crashed-again"]
    assert h.recorder.reasons().count("FailedDaemonPod") == 2


async def test_a_succeeded_pod_is_deleted_without_a_failure_event() -> None:
    ds = make_ds()
    h = Harness(ds, make_node("n1"), make_pod("done", ds, "n1", current=True, phase="Succeeded", ready_for=None))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["done"]
    assert "FailedDaemonPod" not in h.recorder.reasons()


async def test_a_pod_on_a_node_that_no_longer_qualifies_is_deleted_and_counted_misscheduled() -> None:
    ds = make_ds(node_selector={"role": "agent"})
    h = Harness(ds, make_node("n1", labels={"role": "agent"}), make_node("n2", labels={"role": "db"}),
                make_pod("right", ds, "n1", current=True), make_pod("wrong", ds, "n2", current=True))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["wrong"]
    assert h.created_pods() == []
    status = h.status()
    assert (status["desiredNumberScheduled"], status["numberMisscheduled"]) == (1, 1)


async def test_a_pod_may_stay_on_a_node_with_an_untolerated_no_schedule_taint() -> None:
    ds = make_ds()
    node = make_node("n1", taints=(("dedicated", "infra", "NoSchedule"),))
    h = Harness(ds, node, make_node("n2", taints=(("dedicated", "infra", "NoExecute"),)),
                make_pod("stays", ds, "n1", current=True), make_pod("evicted", ds, "n2", current=True))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["evicted"]
    assert h.status()["numberMisscheduled"] == 2  # neither node should run it


async def test_a_pod_pinned_to_a_node_that_is_gone_is_deleted_but_a_bound_one_is_left_to_pod_gc() -> None:
    ds = make_ds()
    h = Harness(ds, make_node("n1"), make_pod("home", ds, "n1", current=True),
                make_pod("stranded", ds, "ghost", current=True, pinned=True),
                make_pod("bound-to-ghost", ds, "ghost2", current=True))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["stranded"]
    assert h.created_pods() == []


# ---- rolling update ----

def old_pods(ds: apps_pb2.DaemonSet, nodes: list[str], **kw: Any) -> list[core_pb2.Pod]:
    return [make_pod(f"old-{n}", ds, n, **kw) for n in nodes]


async def test_rolling_update_without_surge_deletes_one_old_pod_per_sync() -> None:
    ds = make_ds(max_unavailable=1, template_generation=2)
    names = ["n1", "n2", "n3"]
    h = Harness(ds, *three_nodes(), *old_pods(ds, names))
    await h.ctl.sync(KEY)
    assert h.created_pods() == []
    (first,) = h.deleted_pods()
    assert h.client.stored(core_pb2.Pod, first) is None
    assert sum(h.client.stored(core_pb2.Pod, f"old-{n}") is not None for n in names) == 2
    assert "updatedNumberScheduled" not in h.status()

    # the manage loop replaces it; while the new pod is not available, no other old pod goes
    h.show_deleted(first)
    node = first.removeprefix("old-")
    h.seed(make_pod(f"new-{node}", ds, node, current=True, ready_for=None))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == [first]
    assert h.created_pods() == []

    h.seed(make_pod(f"new-{node}", ds, node, current=True, ready_for=60))
    await h.ctl.sync(KEY)
    assert len(h.deleted_pods()) == 2 and h.deleted_pods()[1] != first
    assert h.status()["updatedNumberScheduled"] == 1


async def test_rolling_update_without_surge_replaces_an_unavailable_old_pod_in_addition() -> None:
    ds = make_ds(max_unavailable=2, template_generation=2)
    h = Harness(ds, *three_nodes(), *old_pods(ds, ["n1", "n3"]),
                make_pod("old-n2", ds, "n2", ready_for=None))
    await h.ctl.sync(KEY)
    deleted = h.deleted_pods()
    assert "old-n2" in deleted and len(deleted) == 2


async def test_rolling_update_without_surge_an_unavailable_old_pod_uses_up_max_unavailable() -> None:
    ds = make_ds(max_unavailable=1, template_generation=2)
    h = Harness(ds, *three_nodes(), *old_pods(ds, ["n1", "n3"]),
                make_pod("old-n2", ds, "n2", ready_for=None))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["old-n2"]


async def test_rolling_update_max_unavailable_percent_rounds_up_over_desired_nodes() -> None:
    ds = make_ds(max_unavailable="50%", template_generation=2)
    names = ["n1", "n2", "n3", "n4"]
    h = Harness(ds, *(make_node(n) for n in names), *old_pods(ds, names))
    await h.ctl.sync(KEY)
    assert len(h.deleted_pods()) == 2
    assert h.created_pods() == []


async def test_rolling_update_counts_template_generation_as_updated() -> None:
    ds = make_ds(max_unavailable=1, template_generation=2)
    legacy = make_pod("legacy", ds, "n1")
    legacy.metadata.labels[TEMPLATE_GENERATION_LABEL] = "2"  # IsPodUpdated: the generation label matches
    h = Harness(ds, make_node("n1"), legacy)
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == []
    assert h.status()["updatedNumberScheduled"] == 1


async def test_rolling_update_with_surge_starts_one_new_pod_beside_an_available_old_one() -> None:
    ds = make_ds(max_surge=1, max_unavailable=0, template_generation=2)
    h = Harness(ds, *three_nodes(), *old_pods(ds, ["n1", "n2", "n3"]))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == []
    (node,) = h.created_nodes()
    assert node in ("n1", "n2", "n3")
    assert h.created_pods()[0].metadata.labels[REVISION_HASH_LABEL] == revision_hash(ds)


async def test_rolling_update_with_surge_waits_while_the_new_pod_is_not_available() -> None:
    ds = make_ds(max_surge=1, max_unavailable=0, template_generation=2)
    h = Harness(ds, *three_nodes(), *old_pods(ds, ["n1", "n2", "n3"]),
                make_pod("new-n1", ds, "n1", current=True, ready_for=None, age=10))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == [] and h.created_pods() == []  # the surge room is used up on n1


async def test_rolling_update_with_surge_deletes_the_old_pod_once_the_new_one_is_available() -> None:
    ds = make_ds(max_surge=1, max_unavailable=0, min_ready=30, template_generation=2)
    h = Harness(ds, *three_nodes(), *old_pods(ds, ["n1", "n2", "n3"]),
                make_pod("new-n1", ds, "n1", current=True, ready_for=20, age=40))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == [], "ready for 20 s of minReadySeconds 30: not available yet"

    h.seed(make_pod("new-n1", ds, "n1", current=True, ready_for=31, age=40))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["old-n1"]
    assert h.created_pods() == []


async def test_rolling_update_with_surge_replaces_an_unavailable_old_pod_without_surge_room() -> None:
    ds = make_ds(max_surge=1, max_unavailable=0, template_generation=2)
    h = Harness(ds, *three_nodes(), *old_pods(ds, ["n1", "n3"]), make_pod("old-n2", ds, "n2", ready_for=None),
                make_pod("new-n3", ds, "n3", current=True, ready_for=None, age=10))
    await h.ctl.sync(KEY)
    # n3 already surges (its new pod is not available): the only surge room is taken, yet n2 gets its pod
    assert h.created_nodes() == ["n2"]
    assert h.deleted_pods() == []


async def test_with_surge_a_node_whose_only_pod_is_terminating_gets_a_new_pod_at_once() -> None:
    ds = make_ds(max_surge=1, max_unavailable=0, template_generation=2)
    h = Harness(ds, make_node("n1"), make_pod("leaving", ds, "n1", current=True, deleting=True))
    await h.ctl.sync(KEY)
    assert h.created_nodes() == ["n1"]


async def test_on_delete_never_deletes_old_pods() -> None:
    ds = make_ds(strategy="OnDelete", template_generation=2)
    h = Harness(ds, *three_nodes(), *old_pods(ds, ["n1", "n2"]), make_pod("old-n3", ds, "n3", ready_for=None))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == [] and h.created_pods() == []
    status = h.status()
    assert "updatedNumberScheduled" not in status
    assert (status["currentNumberScheduled"], status["numberAvailable"]) == (3, 2)


# ---- status ----

async def test_status_counts() -> None:
    ds = make_ds(min_ready=30, generation=7, template_generation=7, node_selector={"role": "agent"})
    agent = {"role": "agent"}
    h = Harness(ds, *(make_node(n, labels=agent) for n in ("n1", "n2", "n3", "n4")), make_node("n5"),
                make_pod("available", ds, "n1", current=True, ready_for=60),
                make_pod("just-ready", ds, "n2", ready_for=10),
                make_pod("not-ready", ds, "n3", current=True, ready_for=None),
                make_pod("misplaced", ds, "n5", current=True))
    await h.ctl.sync(KEY)
    assert h.status() == {
        "desiredNumberScheduled": 4,  # n1..n4
        "currentNumberScheduled": 3,  # n4 has none (its pod is being created)
        "numberMisscheduled": 1,  # n5
        "numberReady": 2,  # n1, n2
        "numberAvailable": 1,  # n2 ready for only 10 of 30 s
        "updatedNumberScheduled": 2,  # n1, n3
        "numberUnavailable": 3,
        "observedGeneration": 7,
    }
    assert h.created_nodes() == ["n4"] and h.deleted_pods() == ["misplaced"]
    assert h.ctl.queue.delayed() == 1  # ready != available: look again after minReadySeconds


async def test_status_counts_only_the_oldest_pod_of_a_node() -> None:
    ds = make_ds(template_generation=2)
    h = Harness(ds, make_node("n1"), make_pod("old", ds, "n1", ready_for=None, age=7200),
                make_pod("new", ds, "n1", current=True, ready_for=60, age=60))
    await h.ctl.sync(KEY)
    status = h.status()
    assert (status["currentNumberScheduled"], status["numberReady"]) == (1, 0)
    assert "updatedNumberScheduled" not in status and "numberAvailable" not in status


async def test_zero_counts_are_omitted_but_the_four_scheduling_counts_stay() -> None:
    h = Harness(make_ds(generation=2))
    await h.ctl.sync(KEY)
    assert h.status() == {"desiredNumberScheduled": 0, "currentNumberScheduled": 0, "numberMisscheduled": 0,
                          "numberReady": 0, "observedGeneration": 2}


async def test_all_available_leaves_out_number_unavailable() -> None:
    ds = make_ds()
    h = Harness(ds, make_node("n1"), make_pod("p", ds, "n1", current=True))
    await h.ctl.sync(KEY)
    assert h.status() == {"desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberMisscheduled": 0,
                          "numberReady": 1, "numberAvailable": 1, "updatedNumberScheduled": 1,
                          "observedGeneration": 1}
    h.refresh_ds()
    writes = len(h.client.verbs("update_status"))
    await h.ctl.sync(KEY)
    assert len(h.client.verbs("update_status")) == writes, "an unchanged status is not written again"


# ---- history ----

async def test_a_matching_revision_with_an_older_number_is_renumbered_to_max_plus_one() -> None:
    ds = make_ds(strategy="OnDelete")
    hash_ = revision_hash(ds)
    current = make_revision(ds, f"agent-{hash_}", 1, hash_=hash_, data=revision_data(ds))
    newer = make_revision(ds, "agent-other", 2, hash_="other")
    h = Harness(ds, current, newer)
    await h.ctl.sync(KEY)
    (update,) = [c for c in h.client.verbs("update") if c.kind == "ControllerRevision"]
    assert (update.name, update.detail.revision) == (f"agent-{hash_}", 3)
    assert [c for c in h.client.verbs("create") if c.kind == "ControllerRevision"] == []
    assert h.deleted_revisions() == []


async def test_a_matching_revision_with_the_highest_number_is_left_as_it_is() -> None:
    ds = make_ds(strategy="OnDelete")
    hash_ = revision_hash(ds)
    h = Harness(ds, make_revision(ds, f"agent-{hash_}", 5, hash_=hash_, data=revision_data(ds)),
                make_revision(ds, "agent-other", 2, hash_="other"))
    await h.ctl.sync(KEY)
    assert h.client.verbs("update") == []
    assert [c for c in h.client.verbs("create") if c.kind == "ControllerRevision"] == []


async def test_a_new_template_gets_the_next_revision_number() -> None:
    ds = make_ds(strategy="OnDelete")
    h = Harness(ds, make_revision(ds, "agent-a", 4, hash_="a"), make_revision(ds, "agent-b", 2, hash_="b"))
    await h.ctl.sync(KEY)
    (created,) = [c.detail for c in h.client.verbs("create") if c.kind == "ControllerRevision"]
    assert created.revision == 5


async def test_revisions_of_another_owner_are_not_counted() -> None:
    ds = make_ds(strategy="OnDelete")
    other = make_ds()
    other.metadata.name, other.metadata.uid = "other", "other-uid"
    h = Harness(ds, make_revision(other, "other-a", 9, hash_="a"))
    await h.ctl.sync(KEY)
    (created,) = [c.detail for c in h.client.verbs("create") if c.kind == "ControllerRevision"]
    assert created.revision == 1


async def test_history_beyond_the_limit_is_deleted_oldest_first_sparing_revisions_pods_use() -> None:
    ds = make_ds(strategy="OnDelete", history_limit=2)
    h = Harness(ds, make_node("n1"),
                make_revision(ds, "agent-h1", 1, hash_="h1"), make_revision(ds, "agent-h2", 2, hash_="h2"),
                make_revision(ds, "agent-h3", 3, hash_="h3"),
                make_pod("still-h1", ds, "n1", hash_="h1"))
    await h.ctl.sync(KEY)
    # three old revisions, two kept: h1 is the oldest but a pod uses it, so h2 goes
    assert h.deleted_revisions() == ["agent-h2"]
    assert h.deleted_pods() == []


async def test_history_within_the_limit_is_kept() -> None:
    ds = make_ds(strategy="OnDelete", history_limit=2)
    h = Harness(ds, make_revision(ds, "agent-h1", 1, hash_="h1"), make_revision(ds, "agent-h2", 2, hash_="h2"))
    await h.ctl.sync(KEY)
    assert h.deleted_revisions() == []


async def test_history_limit_zero_deletes_every_unused_old_revision() -> None:
    ds = make_ds(strategy="OnDelete", history_limit=0)
    h = Harness(ds, make_revision(ds, "agent-h1", 1, hash_="h1"), make_revision(ds, "agent-h2", 2, hash_="h2"))
    await h.ctl.sync(KEY)
    assert h.deleted_revisions() == ["agent-h1", "agent-h2"]


async def test_a_terminal_pod_being_deleted_still_keeps_its_revision() -> None:
    ds = make_ds(strategy="OnDelete", history_limit=1)
    h = Harness(ds, make_node("n1"),
                make_revision(ds, "agent-h1", 1, hash_="h1"), make_revision(ds, "agent-h2", 2, hash_="h2"),
                make_pod("finished", ds, "n1", hash_="h1", phase="Succeeded", deleting=True))
    await h.ctl.sync(KEY)
    assert h.deleted_revisions() == ["agent-h2"]


async def test_a_new_revision_carries_the_daemonset_annotations() -> None:
    ds = make_ds()
    ds.metadata.annotations["kubernetes.io/change-cause"] = "kubectl set image"
    h = Harness(ds)
    await h.ctl.sync(KEY)
    (created,) = [c.detail for c in h.client.verbs("create") if c.kind == "ControllerRevision"]
    assert dict(created.metadata.annotations) == dict(ds.metadata.annotations)


async def test_a_current_revision_tied_with_an_old_number_is_renumbered() -> None:
    ds = make_ds(strategy="OnDelete")
    hash_ = revision_hash(ds)
    h = Harness(ds, make_revision(ds, f"agent-{hash_}", 2, hash_=hash_, data=revision_data(ds)),
                make_revision(ds, "agent-other", 2, hash_="other"))
    await h.ctl.sync(KEY)
    updates = [c.detail.revision for c in h.client.verbs("update") if c.kind == "ControllerRevision"]
    assert updates == [3]


async def test_the_failed_pod_backoff_is_keyed_on_the_observed_generation() -> None:
    ds = make_ds(generation=5)
    ds.status.observed_generation = 4
    h = Harness(ds, make_node("n1"), make_pod("crashed", ds, "n1", current=True, phase="Failed", ready_for=None))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["crashed"]
    assert h.refresh_ds().status.observed_generation == 5
    h.show_deleted("crashed")
    h.seed(make_pod("crashed-again", ds, "n1", current=True, phase="Failed", ready_for=None))
    await h.ctl.sync(KEY)
    assert h.deleted_pods() == ["crashed", "crashed-again"]


async def test_a_revision_name_held_by_another_template_bumps_the_collision_count() -> None:
    ds = make_ds()
    h = Harness(ds, make_node("n1"))
    squatter = make_revision(ds, f"agent-{revision_hash(ds)}", 1, hash_=revision_hash(ds))
    h.client.put(squatter)  # on the server, with another template
    h.client.refuse_create = lambda n: errors.AlreadyExists("exists") if n == 0 else None
    with pytest.raises(HashCollision):
        await h.ctl.sync(KEY)
    stored = h.client.stored(apps_pb2.DaemonSet, "agent")
    assert stored is not None and stored.status.collision_count == 1
    assert h.created_pods() == []
    bumped = apps_pb2.DaemonSet()
    bumped.CopyFrom(stored)
    assert revision_hash(bumped) != revision_hash(ds)  # the next name differs


# ---- handlers ----

async def test_node_events_wake_the_daemonsets_whose_eligibility_changed() -> None:
    ds = make_ds(node_selector={"role": "agent"})
    h = Harness(ds)
    nodes = h.informers.get(core_pb2.Node)
    deliver(nodes, "ADDED", make_node("other"))
    assert len(h.ctl.queue) == 0
    deliver(nodes, "ADDED", make_node("n1", labels={"role": "agent"}))
    assert len(h.ctl.queue) == 1 and await h.ctl.queue.get() == KEY
    h.ctl.queue.done(KEY)

    heartbeat = make_node("n1", labels={"role": "agent"})
    heartbeat.status.conditions.add(type="Ready", status="True")
    deliver(nodes, "MODIFIED", heartbeat)
    assert len(h.ctl.queue) == 0, "a status-only change does not change eligibility"
    deliver(nodes, "MODIFIED", make_node("n1", labels={"role": "db"}))
    assert len(h.ctl.queue) == 1
