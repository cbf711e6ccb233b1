"""``skiffctl get`` as a person runs it, against real etcd + apiserver processes.

No controllers or kubelet run here, so each test creates the objects it lists (pods with a status
written through UpdateStatus, nodes with conditions) and asserts the lines kubectl would print.
``-w`` runs as a background process whose lines are read with a deadline, never a sleep.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.processes import ControlPlane
from tests.support.waiting import OutputLines, wait_until

POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {app}, tier: {tier}}}}}
spec: {{containers: [{{name: app, image: "{image}"}}]}}
"""


def add_pod(plane: ControlPlane, ns: str, name: str, *, app: str = "web", tier: str = "front",
            image: str = "nginx:1.27") -> None:
    plane.ctl("apply", "-n", ns, "-f", "-", stdin=POD.format(name=name, app=app, tier=tier, image=image))


def add_pods(plane: ControlPlane, ns: str, *specs: dict[str, str]) -> None:
    """Several pods in one apply (one skiffctl start-up): each spec gives name, and app/tier/image."""
    docs = [POD.format(**{"app": "web", "tier": "front", "image": "nginx:1.27", **spec}) for spec in specs]
    plane.ctl("apply", "-n", ns, "-f", "-", stdin="---\n".join(docs))


def set_running(plane: ControlPlane, ns: str, name: str, *, restarts: int = 0, restarted_ago: int = 0) -> None:
    async def go() -> None:
        async with Client(plane.server) as client:
            pod = await client.get(core_pb2.Pod, name, namespace=ns)
            pod.status.phase = "Running"
            pod.status.pod_ip = "10.244.0.7"
            pod.status.pod_ips.add(ip="10.244.0.7")
            cs = pod.status.container_statuses.add(name="app", ready=True, restart_count=restarts)
            cs.state.running.started_at = pod.metadata.creation_timestamp
            if restarts:
                finished = datetime.now(UTC) - timedelta(seconds=restarted_ago)
                cs.last_state.terminated.exit_code = 1
                cs.last_state.terminated.finished_at = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
            await client.update_status(pod, namespace=ns)

    asyncio.run(go())


def lines(text: str) -> list[str]:
    return text.rstrip("\n").splitlines()


def test_pods_table_with_status_and_restarts(plane: ControlPlane, ns: str) -> None:
    add_pods(plane, ns, {"name": "web-1"}, {"name": "web-2"})
    set_running(plane, ns, "web-1", restarts=3, restarted_ago=65)
    out = lines(plane.ctl("get", "pods", "-n", ns).stdout)
    assert out[0] == "NAME    READY   STATUS    RESTARTS      AGE"
    assert re.fullmatch(r"web-1   1/1     Running   3 \(6[5-9]s ago\)   \d+s", out[1])
    assert re.fullmatch(r"web-2   0/1     Pending   0             \d+s", out[2])
    wide = lines(plane.ctl("get", "po", "web-1", "-n", ns, "-o", "wide").stdout)
    assert re.split(r"\s{2,}", wide[0])[-4:] == ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    assert wide[1].split()[-4:] == ["10.244.0.7", "<none>", "<none>", "<none>"]


def test_several_kinds_and_all(plane: ControlPlane, ns: str) -> None:
    add_pod(plane, ns, "web-1")
    plane.ctl("apply", "-n", ns, "-f", "-", stdin=(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n"
        "  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n"))
    out = plane.ctl("get", "pods,svc", "-n", ns).stdout
    blocks = out.rstrip("\n").split("\n\n")
    assert len(blocks) == 2
    assert lines(blocks[0])[1].startswith("pod/web-1   0/1     Pending")
    svc_header, svc_row = lines(blocks[1])
    assert svc_header.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert re.fullmatch(r"service/web   NodePort   [\d.]+ +<none>        80:3\d{4}/TCP   \d+s", svc_row)
    everything = plane.ctl("get", "all", "-n", ns).stdout
    assert [lines(b)[1].split("/")[0] for b in everything.rstrip("\n").split("\n\n")] == ["pod", "service"]
    named = plane.ctl("get", "pod/web-1", "svc/web", "-n", ns, "-o", "name").stdout
    assert named == "pod/web-1\nservice/web\n"


def test_yaml_json_round_trip_and_lists(plane: ControlPlane, ns: str) -> None:
    add_pods(plane, ns, {"name": "a"}, {"name": "b"})
    one = plane.ctl("get", "pod", "a", "-n", ns, "-o", "yaml").stdout
    doc = yaml.safe_load(one)
    assert doc["kind"] == "Pod" and doc["metadata"]["name"] == "a"
    assert plane.ctl("replace", "-f", "-", stdin=one).stdout == "pod/a replaced\n"
    listed = json.loads(plane.ctl("get", "pods", "-n", ns, "-o", "json").stdout)
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["a", "b"]
    both = yaml.safe_load(plane.ctl("get", "pod", "a", "b", "-n", ns, "-o", "yaml").stdout)
    assert both["kind"] == "List" and len(both["items"]) == 2


def test_jsonpath_custom_columns_and_headers(plane: ControlPlane, ns: str) -> None:
    add_pods(plane, ns, {"name": "a", "image": "nginx:1.27"}, {"name": "b", "image": "redis:7"})
    assert plane.ctl("get", "pods", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}").stdout == "a b"
    ranged = plane.ctl("get", "pods", "-n", ns, "-o",
                       'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.spec.containers[0].image}{"\\n"}{end}')
    assert ranged.stdout == "a\tnginx:1.27\nb\tredis:7\n"
    spec = "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[*].image"
    cols = plane.ctl("get", "pods", "-n", ns, "-o", spec)
    assert lines(cols.stdout) == ["NAME   IMAGE", "a      nginx:1.27", "b      redis:7"]
    bare = plane.ctl("get", "pods", "-n", ns, "--no-headers").stdout
    assert [line.split()[0] for line in lines(bare)] == ["a", "b"]
    as_json = plane.ctl("get", "pod", "a", "-n", ns, "-o", "jsonpath-as-json={.metadata.name}").stdout
    assert json.loads(as_json) == ["a"]


def test_selectors_labels_and_sorting(plane: ControlPlane, ns: str) -> None:
    add_pods(plane, ns, {"name": "a", "app": "web", "tier": "front"}, {"name": "b", "app": "db", "tier": "back"},
             {"name": "c", "app": "cache", "tier": "back"})

    def names(*args: str) -> list[str]:
        return [line.split()[0] for line in lines(plane.ctl("get", "pods", "-n", ns, "--no-headers", *args).stdout)]

    assert names("-l", "app=web") == ["a"]
    assert names("-l", "tier!=front") == ["b", "c"]
    assert names("-l", "app in (db,cache)") == ["b", "c"]
    assert names("-l", "app notin (db)") == ["a", "c"]
    assert names("-l", "app") == ["a", "b", "c"]
    assert names("--field-selector", "metadata.name=b") == ["b"]
    assert names("--sort-by", ".metadata.labels.app") == ["c", "b", "a"]
    shown = lines(plane.ctl("get", "pods", "-n", ns, "-l", "app=web", "--show-labels", "-L", "tier").stdout)
    assert shown[0].split()[-2:] == ["TIER", "LABELS"]
    assert shown[1].split()[-2:] == ["front", "app=web,tier=front"]
    none = plane.ctl("get", "pods", "-n", ns, "-l", "app=nothing")
    assert none.stdout == "" and none.stderr == f"No resources found in {ns} namespace.\n"


def test_all_namespaces_and_not_found(plane: ControlPlane, ns: str) -> None:
    add_pod(plane, ns, "a", app=f"only-{ns}")
    out = lines(plane.ctl("get", "pods", "-A", "-l", f"app=only-{ns}").stdout)
    assert out[0] == "NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE"
    assert re.fullmatch(rf"{ns} +a      0/1     Pending   0          \d+s", out[1])
    r = plane.ctl("get", "pods", "a", "missing", "-n", ns, check=False)
    assert r.returncode == 1
    assert lines(r.stdout)[1].startswith("a ")
    assert r.stderr == 'Error from server (NotFound): pods "missing" not found\n'
    ignored = plane.ctl("get", "pod", "missing", "-n", ns, "--ignore-not-found")
    assert (ignored.stdout, ignored.stderr) == ("", "")


def test_nodes(plane: ControlPlane) -> None:
    async def go() -> None:
        async with Client(plane.server) as client:
            node = core_pb2.Node(api_version="v1", kind="Node")
            node.metadata.name = "get-node-1"
            node.metadata.labels["node-role.kubernetes.io/control-plane"] = ""
            node.spec.unschedulable = True
            created = await client.create(node)
            created.status.conditions.add(type="Ready", status="True")
            created.status.node_info.kubelet_version = "v1.32.0"
            await client.update_status(created)

    asyncio.run(go())
    out = lines(plane.ctl("get", "no", "get-node-1").stdout)
    assert out[0] == "NAME         STATUS                     ROLES           AGE   VERSION"
    assert re.fullmatch(r"get-node-1   Ready,SchedulingDisabled   control-plane   \d+s +v1\.32\.0", out[1])


def _cm(name: str, value: str = "1") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{k: '{value}'}}\n"


def test_watch_prints_the_table_then_each_change(plane: ControlPlane, ns: str) -> None:
    plane.ctl("apply", "-n", ns, "-f", "-", stdin=_cm("first"))
    proc = plane.popen("get", "configmaps", "-n", ns, "-w")
    try:
        out = OutputLines(proc)
        assert out.next() == "NAME    DATA   AGE"
        assert out.next().startswith("first   1      ")
        plane.ctl("apply", "-n", ns, "-f", "-", stdin=_cm("second"))
        assert re.fullmatch(r"second  +1 +\d+s", out.until("second"))
    finally:
        proc.terminate()
        proc.wait(10)


def test_watch_only_with_events(plane: ControlPlane, ns: str) -> None:
    plane.ctl("apply", "-n", ns, "-f", "-", stdin=_cm("old"))
    proc = plane.popen("get", "cm", "-n", ns, "--watch-only", "--output-watch-events")
    try:
        out = OutputLines(proc)
        # The watch starts after the list: keep changing the object until the first event shows.
        values = itertools.count(2)

        def change_and_read() -> str:
            plane.ctl("apply", "-n", ns, "-f", "-", stdin=_cm("old", str(next(values))))
            try:
                return out.next(timeout=0.5)
            except queue.Empty:
                return ""

        header = wait_until(change_and_read, timeout=10, interval=0, what="the watch's first line")
        assert header == "EVENT      NAME   DATA   AGE"
        assert out.next().startswith("MODIFIED   old    1")
        plane.ctl("delete", "cm", "old", "-n", ns)
        assert out.until("DELETED").startswith("DELETED    old")
    finally:
        proc.terminate()
        proc.wait(10)


def test_get_f_shows_the_objects_a_manifest_names(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    manifest = tmp_path / "objs.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n---\n"
        "apiVersion: v1\nkind: Secret\nmetadata: {name: three}\n")
    plane.ctl("apply", "-n", ns, "-f", str(manifest))
    names = plane.ctl("get", "-n", ns, "-f", str(manifest), "-o", "name")
    assert names.stdout == "configmap/one\nconfigmap/two\nsecret/three\n"
    blocks = plane.ctl("get", "-n", ns, "-f", str(manifest)).stdout.rstrip("\n").split("\n\n")
    assert [[row.split()[0] for row in lines(b)] for b in blocks] == [
        ["NAME", "configmap/one", "configmap/two"], ["NAME", "secret/three"]]
    plane.ctl("delete", "secret", "three", "-n", ns)
    missing = plane.ctl("get", "-n", ns, "-f", str(manifest), "-o", "name", check=False)
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        1, "configmap/one\nconfigmap/two\n", 'Error from server (NotFound): secrets "three" not found\n')
    both = plane.ctl("get", "configmaps", "-n", ns, "-f", str(manifest), check=False)
    assert both.stderr.startswith("error: when paths, URLs, or stdin is provided as input, you may not specify")
