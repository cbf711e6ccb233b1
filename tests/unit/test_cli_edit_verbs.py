"""The pure parts of skiffctl's verbs that change objects, on hand-built objects: taint parsing
and merging, drain's pod filters, label/annotate edits, set image/env, rollout status lines,
revision history and rollback, and the argument helpers."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import pytest

from skiff.api import codec, deployments
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.cli import rollout_history as rh
from skiff.cli.commands import label, nodes, rollout, scale
from skiff.cli.context import UsageError
from skiff.cli.flags import duration_flag

# ---- arguments ----


def test_split_pairs_orders_resources_before_changes() -> None:
    assert label.split_pairs(["pods", "a", "x=1", "y-"], "label") == (["pods", "a"], ["x=1", "y-"])
    with pytest.raises(UsageError, match="all resources must be specified before label changes: b"):
        label.split_pairs(["pods", "x=1", "b"], "label")


def test_parse_pairs() -> None:
    assert label.parse_pairs(["a=1", "b-"], "label", label_values=True) == ({"a": "1"}, ["b"])
    assert label.parse_pairs(["note=x=y"], "annotation", label_values=False) == ({"note": "x=y"}, [])
    with pytest.raises(UsageError, match="invalid label spec: a=b=c"):
        label.parse_pairs(["a=b=c"], "label", label_values=True)
    with pytest.raises(UsageError, match='invalid label value: "a=b c"'):
        label.parse_pairs(["a=b c"], "label", label_values=True)


def test_intermixed_positionals() -> None:
    p = label.allow_intermixed(argparse.ArgumentParser())
    p.add_argument("args", nargs="*")
    p.add_argument("-l")
    ns = p.parse_args(["pods", "-l", "app=x", "k=v"])
    assert ns.args == ["pods", "k=v"] and ns.l == "app=x"


def test_duration_flags_are_go_durations() -> None:
    assert duration_flag("90s") == 90
    assert duration_flag("1m30s") == 90
    assert duration_flag("0") == 0
    with pytest.raises(UsageError, match='invalid argument "soon" for "--timeout" flag: time: invalid duration "soon"'):
        duration_flag("soon")
    with pytest.raises(UsageError, match='time: missing unit in duration "60"'):
        duration_flag("60")  # kubectl wants a unit


# ---- label / annotate ----

def pod(**meta: Any) -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name = "p"
    for key, value in meta.items():
        getattr(p.metadata, key).update(value)
    return p


def test_label_edit_and_messages() -> None:
    edit = label.MapEdit("labels", {"tier": "web"}, ["gone"], overwrite=False)
    p = pod(labels={"app": "x", "gone": "1"})
    assert edit.apply(p) and dict(p.metadata.labels) == {"app": "x", "tier": "web"}
    with pytest.raises(label.VerbError, match=r"^'tier' already has a value \(web\), and --overwrite is false$"):
        edit.apply(p)
    remove = label.MapEdit("labels", {}, ["app"], overwrite=False)
    assert label.message(remove, {"app": "x"}, {}) == "unlabeled"
    assert label.message(remove, {}, {}) == "not labeled"
    assert label.message(label.MapEdit("labels", {"a": "1"}, [], overwrite=True), {}, {"a": "1"}) == "labeled"


def test_annotate_overwrite_message_and_change_cause() -> None:
    p = pod(annotations={"a": "1", "kubernetes.io/change-cause": "x"})
    with pytest.raises(label.VerbError) as err:
        label.MapEdit("annotations", {"a": "2"}, [], overwrite=False).apply(p)
    assert str(err.value) == "--overwrite is false but found the following declared annotation(s): 'a' already " \
                             "has a value (1)"
    assert label.MapEdit("annotations", {"kubernetes.io/change-cause": "y"}, [], overwrite=False).apply(p)


# ---- taint ----

def node(*taints: tuple[str, str, str]) -> core_pb2.Node:
    n = core_pb2.Node()
    n.metadata.name = "n1"
    for key, value, effect in taints:
        n.spec.taints.append(nodes.TaintSpec(key, value, effect).to_proto())
    return n


def test_parse_taints() -> None:
    add, remove = nodes.parse_taints(["a=b:NoSchedule", "c:NoExecute", "d-", "e:NoSchedule-"])
    assert [str(t) for t in add] == ["a=b:NoSchedule", "c:NoExecute"]
    assert [str(t) for t in remove] == ["d", "e:NoSchedule"]
    with pytest.raises(UsageError, match="invalid taint effect: Never, unsupported taint effect"):
        nodes.parse_taints(["a=b:Never"])
    with pytest.raises(UsageError, match="invalid taint spec: a=b"):
        nodes.parse_taints(["a=b"])
    with pytest.raises(UsageError, match=r'can not both modify and remove the following taint\(s\) in the same '
                                         r'command: \{"a":""\}'):
        nodes.parse_taints(["a=b:NoSchedule", "a-"])


def test_reorganize_taints_words() -> None:
    n = node()
    assert nodes.reorganize(n, [nodes.TaintSpec("a", "1", "NoSchedule")], [], overwrite=False) == "tainted"
    with pytest.raises(nodes.VerbError, match="node n1 already has a taint"):
        nodes.reorganize(n, [nodes.TaintSpec("a", "2", "NoSchedule")], [], overwrite=False)
    assert nodes.reorganize(n, [nodes.TaintSpec("a", "2", "NoSchedule")], [], overwrite=True) == "modified"
    assert [(t.key, t.value) for t in n.spec.taints] == [("a", "2")]
    assert nodes.reorganize(n, [], [nodes.TaintSpec("a")], overwrite=False) == "untainted"
    assert not n.spec.taints
    with pytest.raises(nodes.VerbError, match='taint "a:NoSchedule" not found'):
        nodes.reorganize(n, [], [nodes.TaintSpec("a", "", "NoSchedule")], overwrite=False)


# ---- drain ----

def owned_pod(name: str, kind: str = "", *, empty_dir: bool = False, phase: str = "Running") -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name, p.metadata.namespace = name, "ns"
    p.status.phase = phase
    if kind:
        p.metadata.owner_references.append(
            codec.from_dict(core_pb2.Pod, {"metadata": {"ownerReferences": [
                {"kind": kind, "name": "o", "uid": "u", "controller": True}]}}).metadata.owner_references[0])
    if empty_dir:
        p.spec.volumes.add(name="s").empty_dir.SetInParent()
    return p


def test_drain_filters_in_kubectl_order() -> None:
    strict = nodes.DrainFlags()
    assert nodes.judge(owned_pod("a", "ReplicaSet"), strict) == nodes.OKAY
    assert nodes.judge(owned_pod("b"), strict).message == nodes.UNMANAGED_FATAL
    assert nodes.judge(owned_pod("c", "ReplicaSet", empty_dir=True), strict).message == nodes.LOCAL_STORAGE_FATAL
    assert nodes.judge(owned_pod("d", "DaemonSet"), strict).message == nodes.DAEMONSET_FATAL
    assert nodes.judge(owned_pod("e", phase="Succeeded"), strict) == nodes.OKAY
    lenient = nodes.DrainFlags(force=True, ignore_daemonsets=True, delete_emptydir_data=True)
    assert nodes.judge(owned_pod("d", "DaemonSet"), lenient) == nodes.Verdict(False, "Warning",
                                                                              nodes.DAEMONSET_WARNING)
    assert nodes.judge(owned_pod("b"), lenient).delete
    assert nodes.judge(owned_pod("x", "DaemonSet"), strict, daemonset_exists=False).message == \
        'daemonsets.apps "o" not found'


def test_drain_error_and_warning_lines() -> None:
    pods = [owned_pod("b"), owned_pod("b2"), owned_pod("d", "DaemonSet")]
    verdicts = [(p, nodes.judge(p, nodes.DrainFlags())) for p in pods]
    assert nodes.drain_errors(verdicts) == [
        "cannot delete Pods that declare no controller (use --force to override): ns/b, ns/b2",
        "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ns/d"]
    lenient = [(p, nodes.judge(p, nodes.DrainFlags(ignore_daemonsets=True, force=True))) for p in pods]
    assert nodes.drain_warnings(lenient) == ("deleting Pods that declare no controller: ns/b, ns/b2; "
                                             "ignoring DaemonSet-managed Pods: ns/d")


# ---- set image / env ----

def deployment(image: str = "nginx:1", **status: Any) -> apps_pb2.Deployment:
    d = codec.from_dict(apps_pb2.Deployment, {
        "metadata": {"name": "web", "generation": 2, "uid": "d-uid"},
        "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}},
                                             "spec": {"containers": [{"name": "app", "image": image}]}}},
        "status": {"observedGeneration": 2, **status}})
    return d


def test_set_image_and_env() -> None:
    d = deployment()
    assert scale.set_images(d, {"app": "nginx:2"}) and not scale.set_images(d, {"*": "nginx:2"})
    with pytest.raises(label.VerbError, match='unable to find container named "db"'):
        scale.set_images(d, {"db": "x"})
    app = d.spec.template.spec.containers[0]
    scale.update_env(app, [core_pb2.EnvVar(name="A", value="1"), core_pb2.EnvVar(name="B", value="2")], [])
    scale.update_env(app, [core_pb2.EnvVar(name="C", value="0"), core_pb2.EnvVar(name="A", value="3")], ["B"])
    assert [(e.name, e.value) for e in app.env] == [("A", "3"), ("C", "0")]  # A keeps its place, C is appended


# ---- rollout status ----

def test_deployment_status_lines() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"updatedReplicas": 1, "replicas": 3}, 'rollout to finish: 1 out of 3 new replicas have been updated...'),
        ({"updatedReplicas": 3, "replicas": 4}, "rollout to finish: 1 old replicas are pending termination..."),
        ({"updatedReplicas": 3, "replicas": 3, "availableReplicas": 1},
         "rollout to finish: 1 of 3 updated replicas are available..."),
    ]
    for status, tail in cases:
        s = rollout.deployment_status(deployment("nginx:1", **status))
        assert s == rollout.Status(f'Waiting for deployment "web" {tail}', False)
    done = rollout.deployment_status(deployment(updatedReplicas=3, replicas=3, availableReplicas=3))
    assert done == rollout.Status('deployment "web" successfully rolled out', True)
    late = deployment(conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}])
    assert rollout.deployment_status(late).error == 'deployment "web" exceeded its progress deadline'
    stale = deployment()
    stale.status.observed_generation = 1
    assert rollout.deployment_status(stale).message == "Waiting for deployment spec update to be observed..."


def test_statefulset_and_daemonset_status_lines() -> None:
    sts = codec.from_dict(apps_pb2.StatefulSet, {
        "metadata": {"name": "db", "generation": 1},
        "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}},
        "status": {"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 2, "currentReplicas": 1,
                   "updateRevision": "db-2", "currentRevision": "db-1"}})
    assert rollout.statefulset_status(sts).message == \
        "waiting for statefulset rolling update to complete 2 pods at revision db-2..."
    sts.status.ready_replicas = 1
    assert rollout.statefulset_status(sts).message == "Waiting for 2 pods to be ready..."
    ds = codec.from_dict(apps_pb2.DaemonSet, {
        "metadata": {"name": "agent", "generation": 1}, "spec": {"updateStrategy": {"type": "OnDelete"}},
        "status": {"observedGeneration": 1}})
    assert rollout.daemonset_status(ds).error == "rollout status is only available for RollingUpdate strategy type"


# ---- history / rollback ----

def rs(revision: int, image: str, cause: str = "", owner_uid: str = "d-uid") -> apps_pb2.ReplicaSet:
    annotations = {deployments.REVISION: str(revision)}
    if cause:
        annotations[rh.CHANGE_CAUSE_ANNOTATION] = cause
    return codec.from_dict(apps_pb2.ReplicaSet, {
        "metadata": {"name": f"web-{revision}", "annotations": annotations,
                     "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": owner_uid,
                                          "controller": True}]},
        "spec": {"template": {"metadata": {"labels": {"app": "web", deployments.POD_TEMPLATE_HASH: f"h{revision}"}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}}})


def test_deployment_history_table_and_template() -> None:
    d = deployment()
    history = rh.deployment_history(d, [rs(2, "nginx:2"), rs(1, "nginx:1", "first"), rs(3, "x", owner_uid="other")])
    assert history.numbers() == [1, 2]
    assert rh.history_table(d, history) == "REVISION  CHANGE-CAUSE\n1         first\n2         <none>\n"
    text = rh.describe_template(history.get(1).template)
    assert text.startswith("Pod Template:\n  Labels:\tapp=web\n\tpod-template-hash=h1\n"
                           "  Annotations:\tkubernetes.io/change-cause: first\n  Containers:\n   app:\n"
                           "    Image:\tnginx:1\n    Port:\t<none>\n")
    assert text.endswith("  Volumes:\t<none>\n  Node-Selectors:\t<none>\n  Tolerations:\t<none>\n")
    with pytest.raises(rh.HistoryError, match="unable to find the specified revision"):
        history.get(5)
    assert rh.history_table(d, rh.History()) == "No rollout history found."


def test_pick_and_deployment_rollback() -> None:
    d = deployment("nginx:2")
    d.metadata.annotations.update({deployments.REVISION: "2", "keep": "me"})
    history = rh.deployment_history(d, [rs(1, "nginx:1", "first"), rs(2, "nginx:2")])
    assert rh.pick(history, 0, what="none").number == 1
    with pytest.raises(rh.HistoryError, match="unable to find specified revision 9 in history"):
        rh.pick(history, 9, what="none")
    with pytest.raises(rh.HistoryError, match="^no history$"):
        rh.pick(rh.History({1: history.get(1)}), 0, what="no history")
    rh.deployment_rollback(d, history.get(1))
    assert d.spec.template.spec.containers[0].image == "nginx:1"
    assert dict(d.spec.template.metadata.labels) == {"app": "web"}
    assert dict(d.metadata.annotations) == {deployments.REVISION: "2", rh.CHANGE_CAUSE_ANNOTATION: "first"}
    assert deployments.equal_ignoring_hash(history.get(1).source.spec.template, d.spec.template)  # type: ignore[union-attr]


def test_controller_revision_history() -> None:
    ds = codec.from_dict(apps_pb2.DaemonSet, {
        "metadata": {"name": "agent", "uid": "ds-uid"},
        "spec": {"template": {"metadata": {"labels": {"app": "a"}},
                              "spec": {"containers": [{"name": "c", "image": "v2"}]}}}})
    cr = codec.from_dict(apps_pb2.ControllerRevision, {
        "metadata": {"name": "agent-1", "ownerReferences": [{"uid": "ds-uid", "controller": True}]},
        "revision": 1,
        "data": {"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"app": "a"}},
                                       "spec": {"containers": [{"name": "c", "image": "v1"}]}}}}})
    history = rh.controller_history(ds, [cr])
    assert history.get(1).template.spec.containers[0].image == "v1"
    assert rh.history_table(ds, history) == "REVISION  CHANGE-CAUSE\n1         <none>\n"


def test_restart_stamp() -> None:
    d = deployment()
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rollout.restart_stamp(d, now)
    assert d.spec.template.metadata.annotations[rollout.RESTARTED_AT] == "2026-01-02T03:04:05Z"
    with pytest.raises(label.VerbError, match="within the past second"):
        rollout.restart_stamp(d, now)
    d.spec.paused = True
    with pytest.raises(label.VerbError, match="can't restart paused deployment"):
        rollout.restart_stamp(d, now)
