"""The printers and per-kind columns on hand-built objects, with a fixed clock: kubectl's pod
STATUS logic, RESTARTS "(5s ago)", AGE, services, nodes, events, and the table layout."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from skiff.api import kinds
from skiff.api.manifest import load_objects
from skiff.api.v1 import apps_pb2, batch_pb2, core_pb2
from skiff.cli.commands.get import _WatchPrinter
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import (
    OutputFormat,
    TableOptions,
    TableWriter,
    custom_column_rows,
    human_duration,
    parse_output,
    print_objects,
    render_generic,
    render_tables,
    sort_objects,
    table,
    table_rows,
)

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rows(objs: list[Any], **opts: Any) -> list[list[str]]:
    kind = kinds.of(objs[0])
    return table_rows(objs, kind, TableOptions(**opts), NOW)


def pod(name: str = "web", *, containers: int = 1, init: int = 0, phase: str = "Running") -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name, p.metadata.namespace, p.metadata.creation_timestamp = name, "default", ts(300)
    for i in range(containers):
        p.spec.containers.add(name=f"c{i}", image="nginx")
    for i in range(init):
        p.spec.init_containers.add(name=f"i{i}", image="busybox")
    p.status.phase = phase
    return p


def running(p: core_pb2.Pod, index: int = 0, *, ready: bool = True, restarts: int = 0) -> core_pb2.ContainerStatus:
    cs = p.status.container_statuses.add(name=p.spec.containers[index].name, ready=ready, restart_count=restarts)
    cs.state.running.started_at = ts(60)
    return cs


def status_of(p: core_pb2.Pod) -> list[str]:
    return rows([p], no_headers=True)[0]


# ---- durations ----


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (-1, "0s"), (-5, "<invalid>"), (59, "59s"), (119, "119s"), (120, "2m"), (125, "2m5s"),
    (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 600, "3h10m"), (8 * 3600, "8h"),
    (47 * 3600, "47h"), (48 * 3600, "2d"), (52 * 3600, "2d4h"), (8 * 86400, "8d"), (400 * 86400, "400d"),
    (730 * 86400, "2y"), (750 * 86400, "2y20d"), (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


# ---- pods ----


def test_pod_pending_without_status() -> None:
    p = pod(phase="Pending")
    assert rows([p]) == [["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["web", "0/1", "Pending", "0", "5m"]]


def test_pod_running_ready() -> None:
    p = pod(containers=2)
    running(p, 0)
    running(p, 1, ready=False)
    assert status_of(p)[1:3] == ["1/2", "Running"]


def test_pod_container_creating_and_image_pull() -> None:
    p = pod(phase="Pending")
    p.status.container_statuses.add(name="c0").state.waiting.reason = "ContainerCreating"
    assert status_of(p)[2] == "ContainerCreating"
    p.status.container_statuses[0].state.waiting.reason = "ImagePullBackOff"
    assert status_of(p)[2] == "ImagePullBackOff"


def test_pod_crashloop_restarts_ago() -> None:
    p = pod()
    cs = p.status.container_statuses.add(name="c0", restart_count=5)
    cs.state.waiting.reason = "CrashLoopBackOff"
    cs.last_state.terminated.exit_code = 1
    cs.last_state.terminated.finished_at = ts(5)
    assert status_of(p) == ["web", "0/1", "CrashLoopBackOff", "5 (5s ago)", "5m"]


def test_pod_terminated_reasons() -> None:
    p = pod(phase="Succeeded")
    cs = p.status.container_statuses.add(name="c0")
    cs.state.terminated.reason, cs.state.terminated.exit_code = "Completed", 0
    assert status_of(p)[1:3] == ["0/1", "Completed"]
    cs.state.terminated.reason = "OOMKilled"
    assert status_of(p)[2] == "OOMKilled"
    cs.state.terminated.reason = "Error"
    assert status_of(p)[2] == "Error"
    cs.state.terminated.ClearField("reason")
    cs.state.terminated.exit_code = 2
    assert status_of(p)[2] == "ExitCode:2"
    cs.state.terminated.signal = 9
    assert status_of(p)[2] == "Signal:9"


def test_pod_completed_with_a_running_container_is_running() -> None:
    p = pod(containers=2)
    running(p, 0)
    done = p.status.container_statuses.add(name="c1")
    done.state.terminated.reason = "Completed"
    p.status.conditions.add(type="Ready", status="True")
    assert status_of(p)[1:3] == ["1/2", "Running"]
    p.status.conditions[0].status = "False"
    assert status_of(p)[2] == "NotReady"


def test_pod_init_containers() -> None:
    p = pod(init=2, phase="Pending")
    first = p.status.init_container_statuses.add(name="i0")
    first.state.running.started_at = ts(3)
    p.status.init_container_statuses.add(name="i1").state.waiting.reason = "PodInitializing"
    assert status_of(p)[1:3] == ["0/1", "Init:0/2"]
    first.ClearField("state")
    first.state.terminated.exit_code = 0
    assert status_of(p)[2] == "Init:1/2"
    second = p.status.init_container_statuses[1]
    second.state.waiting.reason = "CrashLoopBackOff"
    second.restart_count = 3
    assert status_of(p)[2:4] == ["Init:CrashLoopBackOff", "3"]
    second.ClearField("state")
    second.state.terminated.exit_code, second.state.terminated.reason = 1, "Error"
    assert status_of(p)[2] == "Init:Error"
    second.state.terminated.ClearField("reason")
    assert status_of(p)[2] == "Init:ExitCode:1"


def test_pod_sidecar_counts_as_a_container() -> None:
    p = pod(init=1)
    p.spec.init_containers[0].restart_policy = "Always"
    side = p.status.init_container_statuses.add(name="i0", started=True, ready=True, restart_count=2)
    side.state.running.started_at = ts(100)
    running(p, 0, restarts=1)
    p.status.conditions.add(type="Initialized", status="True")
    assert status_of(p)[1:4] == ["2/2", "Running", "3"]


def test_pod_terminating_and_node_lost() -> None:
    p = pod()
    running(p)
    p.metadata.deletion_timestamp = ts(1)
    assert status_of(p)[2] == "Terminating"
    p.status.reason = "NodeLost"
    assert status_of(p)[2] == "Unknown"
    p.metadata.ClearField("deletion_timestamp")
    assert status_of(p)[2] == "NodeLost"
    done = pod(phase="Succeeded")
    done.metadata.deletion_timestamp = ts(1)
    assert status_of(done)[2] == "Succeeded"


def test_pod_scheduling_gated() -> None:
    p = pod(phase="Pending")
    p.status.conditions.add(type="PodScheduled", status="False", reason="SchedulingGated")
    assert status_of(p)[2] == "SchedulingGated"


def test_pod_wide() -> None:
    p = pod()
    running(p)
    p.spec.node_name = "node-1"
    p.status.pod_ips.add(ip="10.244.0.5")
    p.spec.readiness_gates.add(condition_type="example.com/ready")
    p.status.conditions.add(type="example.com/ready", status="True")
    assert rows([p], wide=True) == [
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
        ["web", "1/1", "Running", "0", "5m", "10.244.0.5", "node-1", "<none>", "1/1"]]


# ---- workloads ----


def test_deployment_and_replicaset() -> None:
    d = apps_pb2.Deployment()
    d.metadata.name, d.metadata.creation_timestamp = "web", ts(3 * 86400 + 4 * 3600)
    d.spec.replicas = 3
    d.spec.selector.match_labels["app"] = "web"
    d.spec.template.spec.containers.add(name="app", image="nginx:1.27")
    d.status.ready_replicas, d.status.updated_replicas, d.status.available_replicas = 2, 3, 2
    assert rows([d], wide=True) == [
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
        ["web", "2/3", "3", "2", "3d4h", "app", "nginx:1.27", "app=web"]]
    rs = apps_pb2.ReplicaSet()
    rs.metadata.name, rs.metadata.creation_timestamp = "web-5d4f", ts(10)
    rs.spec.replicas, rs.status.replicas, rs.status.ready_replicas = 3, 3, 1
    assert rows([rs])[1] == ["web-5d4f", "3", "3", "1", "10s"]


def test_job_and_cronjob() -> None:
    job = batch_pb2.Job()
    job.metadata.name, job.metadata.creation_timestamp = "pi", ts(200)
    job.spec.completions = 3
    job.status.succeeded = 3
    job.status.start_time, job.status.completion_time = ts(190), ts(130)
    job.status.conditions.add(type="Complete", status="True")
    assert rows([job]) == [["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
                           ["pi", "Complete", "3/3", "60s", "3m20s"]]
    cj = batch_pb2.CronJob()
    cj.metadata.name, cj.metadata.creation_timestamp = "hello", ts(60)
    cj.spec.schedule, cj.spec.suspend = "*/1 * * * *", False
    assert rows([cj]) == [["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"],
                          ["hello", "*/1 * * * *", "<none>", "False", "0", "<none>", "60s"]]


# ---- services, endpoints, nodes, events ----


def service(kind: str, *ports: tuple[int, int]) -> core_pb2.Service:
    svc = core_pb2.Service()
    svc.metadata.name, svc.metadata.creation_timestamp = "web", ts(5)
    svc.spec.type = kind
    svc.spec.cluster_ips.append("10.96.0.10")
    for port, node_port in ports:
        p = svc.spec.ports.add(port=port, protocol="TCP")
        if node_port:
            p.node_port = node_port
    return svc


def test_services() -> None:
    assert rows([service("NodePort", (80, 30080), (443, 30443))])[1] == [
        "web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,443:30443/TCP", "5s"]
    lb = service("LoadBalancer", (80, 31000))
    assert rows([lb])[1][3] == "<pending>"
    lb.status.load_balancer.ingress.add(ip="192.168.1.50")
    assert rows([lb])[1][3] == "192.168.1.50"
    headless = service("ClusterIP")
    headless.spec.cluster_ips[0] = "None"
    assert rows([headless])[1][2:5] == ["None", "<none>", "<none>"]
    ext = service("ExternalName")
    ext.spec.external_name = "db.example.com"
    assert rows([ext])[1][3] == "db.example.com"


def test_endpoints_more() -> None:
    ep = core_pb2.Endpoints()
    ep.metadata.name = "web"
    subset = ep.subsets.add()
    for i in range(5):
        subset.addresses.add(ip=f"10.0.0.{i}")
    subset.ports.add(port=8080)
    assert rows([ep])[1][1] == "10.0.0.0:8080,10.0.0.1:8080,10.0.0.2:8080 + 2 more..."
    assert rows([core_pb2.Endpoints()])[1][1] == "<none>"


def test_nodes() -> None:
    node = core_pb2.Node()
    node.metadata.name, node.metadata.creation_timestamp = "n1", ts(86400 * 2)
    node.metadata.labels.update({"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": ""})
    node.status.conditions.add(type="Ready", status="True")
    node.status.node_info.kubelet_version = "v1.32.0"
    node.status.addresses.add(type="InternalIP", address="192.168.0.2")
    assert rows([node]) == [["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
                            ["n1", "Ready", "control-plane,worker", "2d", "v1.32.0"]]
    node.spec.unschedulable = True
    assert rows([node])[1][1] == "Ready,SchedulingDisabled"
    node.status.conditions[0].status = "Unknown"
    assert rows([node], wide=True)[1][1:2] + rows([node], wide=True)[1][5:7] == [
        "NotReady,SchedulingDisabled", "192.168.0.2", "<none>"]


def test_events() -> None:
    ev = core_pb2.Event()
    ev.metadata.name = "web.17a"
    ev.involved_object.kind, ev.involved_object.name = "Pod", "web"
    ev.type, ev.reason, ev.message = "Warning", "BackOff", "Back-off restarting failed container\n"
    ev.first_timestamp, ev.last_timestamp, ev.count = ts(600), ts(30), 4
    assert rows([ev]) == [["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
                          ["30s", "Warning", "BackOff", "pod/web", "Back-off restarting failed container"]]
    assert rows([ev], wide=True)[1][7:] == ["10m", "4", "web.17a"]


def test_small_kinds() -> None:
    cm = core_pb2.ConfigMap()
    cm.metadata.name = "cfg"
    cm.data.update({"a": "1", "b": "2"})
    assert rows([cm])[1] == ["cfg", "2", "<unknown>"]
    pvc = core_pb2.PersistentVolumeClaim()
    pvc.metadata.name = "data"
    pvc.status.phase = "Bound"
    pvc.spec.volume_name, pvc.spec.storage_class_name = "pv-1", "standard"
    pvc.status.access_modes.extend(["ReadWriteMany", "ReadWriteOnce"])
    pvc.status.capacity["storage"] = "1Gi"
    assert rows([pvc])[1] == ["data", "Bound", "pv-1", "1Gi", "RWO,RWX", "standard", "<unset>", "<unknown>"]
    rev = apps_pb2.ControllerRevision()
    rev.metadata.name, rev.revision = "web-7f", 2
    rev.metadata.owner_references.add(api_version="apps/v1", kind="StatefulSet", name="web", controller=True)
    assert rows([rev])[1][:3] == ["web-7f", "statefulset.apps/web", "2"]


# ---- layout and options ----


def test_table_layout_matches_tabwriter() -> None:
    assert table(["A", "BB", "LAST"], [["x", "yyyyyyy", "z"]]).splitlines() == [
        "A     BB        LAST",
        "x     yyyyyyy   z"]


def test_table_writer_keeps_widths() -> None:
    writer = TableWriter()
    assert writer.format([["NAME", "AGE"], ["a", "1s"]]) == "NAME   AGE\na      1s"
    assert writer.format([["b", "2s"]]) == "b      2s"


def test_labels_namespace_and_kind_prefix() -> None:
    p = pod()
    p.metadata.labels.update({"app": "web", "app.kubernetes.io/tier": "front"})
    out = rows([p], with_namespace=True, with_kind=True, show_labels=True, label_columns=("app.kubernetes.io/tier",))
    assert out[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "TIER", "LABELS"]
    assert out[1][0:2] == ["default", "pod/web"]
    assert out[1][-2:] == ["front", "app=web,app.kubernetes.io/tier=front"]


def test_several_kinds_print_one_table_each() -> None:
    svc = service("ClusterIP", (80, 0))
    text = print_objects([pod(), svc], "")
    blocks = text.split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].splitlines()[1].startswith("pod/web ")
    assert blocks[1].splitlines()[1].startswith("service/web ")


def test_yaml_round_trips_and_lists() -> None:
    one = render_generic([pod()], OutputFormat("yaml"), single=True)
    assert yaml.safe_load(one)["kind"] == "Pod"
    assert load_objects(one)[0] == kinds.set_type_meta(pod())
    many = yaml.safe_load(render_generic([pod("a"), pod("b")], OutputFormat("yaml")))
    assert many["kind"] == "List" and [i["metadata"]["name"] for i in many["items"]] == ["a", "b"]
    assert render_generic([pod("a"), pod("b")], OutputFormat("name")) == "pod/a\npod/b\n"


def test_jsonpath_and_custom_columns() -> None:
    objs = [pod("a"), pod("b")]
    assert render_generic(objs, parse_output("jsonpath={.items[*].metadata.name}")) == "a b"
    assert render_generic(objs, parse_output('jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}')) == "a\nb\n"
    text = render_tables([(kinds.of(objs[0]), objs)],
                         parse_output("custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[*].image,X:.nope"),
                         TableOptions())
    assert text.splitlines() == ["NAME   IMAGE   X", "a      nginx   <none>", "b      nginx   <none>"]


def test_sort_by() -> None:
    older, newer = pod("z"), pod("a")
    newer.metadata.creation_timestamp = ts(1)
    by_age = sort_objects([newer, older], ".metadata.creationTimestamp")
    by_name = sort_objects([older, newer], "{.metadata.name}")
    assert [p.metadata.name for p in by_age] == ["z", "a"]  # type: ignore[attr-defined]
    assert [p.metadata.name for p in by_name] == ["a", "z"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("column", [".spec.containers[5].name", ".spec.containers[::0].name"])
def test_a_custom_column_that_cannot_be_evaluated_is_an_error_line(column: str) -> None:
    with pytest.raises(UsageError, match=r"^error: error executing jsonpath "):
        custom_column_rows([pod("a")], f"NAME:{column}")


def test_sort_by_a_field_no_object_has_is_an_error_as_in_kubectl() -> None:
    with pytest.raises(UsageError) as caught:
        sort_objects([pod("a"), pod("b")], ".spec.nope")
    assert str(caught.value) == 'error: couldn\'t find any field with path "{.spec.nope}" in the list of objects'
    assert sort_objects([], ".spec.nope") == []
    one_has_it = pod("b")
    one_has_it.spec.node_name = "n1"
    assert [p.metadata.name for p in sort_objects([one_has_it, pod("a")], ".spec.nodeName")] == \
        ["a", "b"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("spec", ["bogus", "jsonpath=", "custom-columns=NAME", "jsonpath={.a"])
def test_bad_output_formats(spec: str) -> None:
    with pytest.raises(UsageError, match="^error: "):
        parse_output(spec)


# ---- -w ----


def _watch_printer(output: str, **flags: Any) -> tuple[Any, io.StringIO]:
    args = argparse.Namespace(output=output, label_columns=[], all_namespaces=False, show_labels=False,
                              no_headers=False, output_watch_events=False, **flags)
    out = io.StringIO()
    ctx = Context(args=args, server="unused:1", namespace="default", namespace_explicit=False, out=out)
    return _WatchPrinter(ctx, parse_output(output), kinds.of(core_pb2.Pod)), out


def test_watch_rows_keep_the_first_widths() -> None:
    printer, out = _watch_printer("")
    printer.print([pod("web")])
    printer.print([pod("a")], "MODIFIED")
    header, first, second = out.getvalue().splitlines()
    assert header.startswith("NAME   READY")
    assert first.startswith("web    0/1") and second.startswith("a      0/1")


def test_watch_yaml_separates_documents() -> None:
    printer, out = _watch_printer("yaml")
    printer.print([pod("a")])
    printer.print([pod("b")], "MODIFIED")
    docs = out.getvalue().split("---\n")
    assert len(docs) == 2 and [yaml.safe_load(d)["metadata"]["name"] for d in docs] == ["a", "b"]


@pytest.mark.parametrize(("output", "text"), [
    ("go-template={{.metadata.name}},", "a,b,"),  # as kubectl: only what the template writes
    ("jsonpath={.metadata.name}", "ab"),
    ("name", "pod/a\npod/b\n"),
])
def test_watch_templates_print_only_what_they_write(output: str, text: str) -> None:
    printer, out = _watch_printer(output)
    printer.print([pod("a")])
    printer.print([pod("b")], "MODIFIED")
    assert out.getvalue() == text
