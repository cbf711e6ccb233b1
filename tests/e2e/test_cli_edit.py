"""skiffctl's verbs that change objects, as a subprocess against a real apiserver: label,
annotate, taint, cordon / uncordon, drain, scale, set image, set env.

There are no controllers yet, so the tests create what a verb acts on themselves (nodes, pods
bound to a node through spec.nodeName, a DaemonSet to own a pod) and check both what a person
sees and what the API then holds (through ``get -o json``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml

from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from tests.support.plane_client import create, get_json
from tests.support.processes import ControlPlane
from tests.support.samples import sample


def pod_names(plane: ControlPlane, ns: str, selector: str = "") -> list[str]:
    async def go() -> list[str]:
        async with Client(plane.server) as client:
            listed = await client.list(core_pb2.Pod, namespace=ns, label_selector=selector)
            return sorted(p.metadata.name for p in listed.items)

    return asyncio.run(go())


def pod(name: str, *, node: str = "", owner: dict[str, Any] | None = None, empty_dir: bool = False,
        labels: dict[str, str] | None = None) -> dict[str, Any]:
    doc = sample("Pod", name=name)
    doc["metadata"]["labels"] = labels or {"app": "demo"}
    doc["spec"]["terminationGracePeriodSeconds"] = 0
    if node:
        doc["spec"]["nodeName"] = node
    if owner:
        doc["metadata"]["ownerReferences"] = [{**owner, "controller": True}]
    if empty_dir:
        doc["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    return doc


# ---- label / annotate ----

def test_label_add_overwrite_remove_and_list(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("p"))
    assert plane.ctl("label", "pod", "p", "tier=web", "-n", ns).stdout == "pod/p labeled\n"
    r = plane.ctl("label", "pod/p", "tier=db", "-n", ns, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == "error: 'tier' already has a value (web), and --overwrite is false"
    assert plane.ctl("label", "pod/p", "tier=db", "--overwrite", "-n", ns).stdout == "pod/p labeled\n"
    assert get_json(plane, ns, "pod/p")["metadata"]["labels"] == {"app": "demo", "tier": "db"}
    assert plane.ctl("label", "pod/p", "--list", "-n", ns).stdout == "app=demo\ntier=db\n"
    assert plane.ctl("label", "pod/p", "tier-", "-n", ns).stdout == "pod/p unlabeled\n"
    assert plane.ctl("label", "pod/p", "tier-", "-n", ns).stdout == 'label "tier" not found.\npod/p not labeled\n'


def test_label_by_selector_and_all(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("a", labels={"app": "x"}), pod("b", labels={"app": "y"}))
    assert plane.ctl("label", "pods", "-l", "app=x", "hot=yes", "-n", ns).stdout == "pod/a labeled\n"
    assert plane.ctl("label", "pods", "--all", "zone=1", "-n", ns).stdout == "pod/a labeled\npod/b labeled\n"
    assert pod_names(plane, ns, "zone=1,hot=yes") == ["a"]
    assert plane.ctl("label", "pods", "--field-selector", "metadata.name=b", "cold=yes", "-n", ns).stdout == \
        "pod/b labeled\n"
    other = plane.new_namespace()
    create(plane, other, pod("c", labels={"app": "x"}))
    everywhere = plane.ctl("annotate", "pods", "-A", "-l", "app=x", "seen=1").stdout
    assert everywhere.splitlines() == ["pod/a annotated", "pod/c annotated"]
    assert get_json(plane, other, "pod/c")["metadata"]["annotations"] == {"seen": "1"}


def test_label_local_changes_the_file_objects_only(plane: ControlPlane, ns: str, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(yaml.safe_dump(sample("ConfigMap", name="local-cm")))
    out = plane.ctl("label", "--local", "-f", str(manifest), "tier=web", "-o", "yaml").stdout
    assert yaml.safe_load(out)["metadata"]["labels"] == {"tier": "web"}
    assert plane.ctl("get", "configmap", "local-cm", "-n", ns, check=False).returncode == 1  # nothing was sent
    named = plane.ctl("label", "--local", "configmap", "x", "a=b", check=False)
    assert named.stderr == ("error: can only use local files by -f rsrc.yaml or --filename=rsrc.json when "
                            "--local=true is set\n")


def test_annotate(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("ConfigMap", name="cm"))
    assert plane.ctl("annotate", "cm", "cm", "note=hello world", "-n", ns).stdout == "configmap/cm annotated\n"
    r = plane.ctl("annotate", "configmap/cm", "note=x", "-n", ns, check=False)
    assert r.returncode == 1 and r.stderr.strip() == (
        "error: --overwrite is false but found the following declared annotation(s): 'note' already has a value "
        "(hello world)")
    plane.ctl("annotate", "configmap/cm", "note-", "-n", ns)
    assert "annotations" not in get_json(plane, ns, "configmap/cm")["metadata"]


def test_label_and_annotate_print_the_changed_object_with_output(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("p"), pod("q"))
    out = yaml.safe_load(plane.ctl("label", "pod/p", "tier=web", "-o", "yaml", "-n", ns).stdout)
    assert out["kind"] == "Pod" and out["metadata"]["labels"] == {"app": "demo", "tier": "web"}
    assert out["metadata"]["resourceVersion"] == get_json(plane, ns, "pod/p")["metadata"]["resourceVersion"]
    assert plane.ctl("label", "pods", "--all", "zone=1", "-o", "name", "-n", ns).stdout == "pod/p\npod/q\n"
    assert plane.ctl("label", "pod/p", "gone-", "-o", "name", "-n", ns).stdout == 'label "gone" not found.\npod/p\n'
    jsonpath = plane.ctl("annotate", "pod/p", "note=hi", "-o", "jsonpath={.metadata.annotations.note}", "-n", ns)
    assert jsonpath.stdout == "hi\n"
    assert get_json(plane, ns, "pod/p")["metadata"]["annotations"] == {"note": "hi"}

    for dry_run in ("client", "server"):
        printed = json.loads(plane.ctl("label", "pod/q", "dry=run", f"--dry-run={dry_run}", "-o", "json",
                                       "-n", ns).stdout)
        assert printed["metadata"]["labels"] == {"app": "demo", "zone": "1", "dry": "run"}
        annotated = json.loads(plane.ctl("annotate", "pod/q", "a=b", f"--dry-run={dry_run}", "-o", "json",
                                         "-n", ns).stdout)
        assert annotated["metadata"]["annotations"] == {"a": "b"}
    stored = get_json(plane, ns, "pod/q")["metadata"]
    assert stored["labels"] == {"app": "demo", "zone": "1"} and "annotations" not in stored


def test_label_and_annotate_output_errors(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, pod("p"))
    r = plane.ctl("label", "pod/p", "a=b", "-o", "wide", "-n", ns, check=False)
    assert (r.returncode, r.stdout, r.stderr.strip()) == (1, "", (
        'error: unable to match a printer suitable for the output format "wide", allowed formats are: '
        "go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,yaml"))
    r = plane.ctl("label", "pod/p", "--list", "-o", "yaml", "-n", ns, check=False)
    assert (r.returncode, r.stderr.strip()) == (1, "error: --list and --output may not be specified together")
    assert "a" not in get_json(plane, ns, "pod/p")["metadata"]["labels"]
    plane.ctl("annotate", "pod/p", "note=hi", "-n", ns)
    assert plane.ctl("annotate", "pod/p", "--list", "-o", "yaml", "-n", ns).stdout == "note=hi\n"


# ---- nodes ----

def _node(plane: ControlPlane, name: str) -> None:
    create(plane, "", sample("Node", name=name))


def test_taint_add_overwrite_remove(plane: ControlPlane) -> None:
    _node(plane, "taint-n1")
    assert plane.ctl("taint", "node", "taint-n1", "gpu=yes:NoSchedule").stdout == "node/taint-n1 tainted\n"
    r = plane.ctl("taint", "nodes", "taint-n1", "gpu=no:NoSchedule", check=False)
    assert r.returncode == 1 and r.stderr.strip() == (
        "error: node taint-n1 already has gpu taint(s) with same effect(s) and --overwrite is false")
    out = plane.ctl("taint", "node/taint-n1", "gpu=no:NoSchedule", "--overwrite").stdout
    assert out == "node/taint-n1 modified\n"
    plane.ctl("taint", "node", "taint-n1", "gpu:NoExecute")
    taints = get_json(plane, "", "node/taint-n1")["spec"]["taints"]
    assert [(t["key"], t.get("value"), t["effect"]) for t in taints] == [
        ("gpu", None, "NoExecute"), ("gpu", "no", "NoSchedule")]
    assert plane.ctl("taint", "node", "taint-n1", "gpu:NoSchedule-").stdout == "node/taint-n1 untainted\n"
    assert plane.ctl("taint", "node", "taint-n1", "gpu-").stdout == "node/taint-n1 untainted\n"
    r = plane.ctl("taint", "node", "taint-n1", "gpu-", check=False)
    assert r.returncode == 1 and r.stderr.strip() == 'error: taint "gpu" not found'
    r = plane.ctl("taint", "pod", "x", "a=b:NoSchedule", check=False)
    assert r.stderr.strip() == "error: invalid resource type pod, only node types are supported"


def test_cordon_uncordon(plane: ControlPlane) -> None:
    _node(plane, "cordon-n1")
    assert plane.ctl("cordon", "cordon-n1").stdout == "node/cordon-n1 cordoned\n"
    assert plane.ctl("cordon", "cordon-n1").stdout == "node/cordon-n1 already cordoned\n"
    assert get_json(plane, "", "node/cordon-n1")["spec"]["unschedulable"] is True
    assert plane.ctl("uncordon", "cordon-n1").stdout == "node/cordon-n1 uncordoned\n"
    assert plane.ctl("uncordon", "cordon-n1").stdout == "node/cordon-n1 already uncordoned\n"


def test_drain_refuses_then_deletes(plane: ControlPlane, ns: str) -> None:
    _node(plane, "drain-n1")
    create(plane, ns, sample("DaemonSet", name="agent"))
    ds_uid = get_json(plane, ns, "daemonset/agent")["metadata"]["uid"]
    rs_owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "00000000-0000-0000-0000-1"}
    ds_owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": ds_uid}
    create(plane, ns, pod("managed", node="drain-n1", owner=rs_owner), pod("bare", node="drain-n1"),
           pod("scratch", node="drain-n1", owner=rs_owner, empty_dir=True),
           pod("agent-x", node="drain-n1", owner=ds_owner), pod("elsewhere", node="other"))

    r = plane.ctl("drain", "drain-n1", check=False)
    assert r.returncode == 1
    assert r.stdout == "node/drain-n1 cordoned\n"
    errors = r.stderr.splitlines()
    assert errors[:4] == ['error: unable to drain node "drain-n1", aborting command...', "",
                          "There are pending nodes to be drained:", " drain-n1"]
    for line in (f"cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): {ns}/agent-x",
                 f"cannot delete Pods that declare no controller (use --force to override): {ns}/bare",
                 f"cannot delete Pods with local storage (use --delete-emptydir-data to override): {ns}/scratch"):
        assert line in errors[4]
    assert len(pod_names(plane, ns)) == 5

    r = plane.ctl("drain", "drain-n1", "--ignore-daemonsets", "--delete-emptydir-data", "--force",
                  "--grace-period=0", "--timeout=15s")
    lines = r.stdout.splitlines()
    assert lines[0] == "node/drain-n1 already cordoned" and lines[-1] == "node/drain-n1 drained"
    assert sorted(lines[1:-1]) == ["pod/bare deleted", "pod/managed deleted", "pod/scratch deleted"]
    assert f"Warning: ignoring DaemonSet-managed Pods: {ns}/agent-x" in r.stderr
    assert pod_names(plane, ns) == ["agent-x", "elsewhere"]


def test_drain_timeout(plane: ControlPlane, ns: str) -> None:
    _node(plane, "drain-n2")
    doc = pod("slow", node="drain-n2", owner={"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x",
                                              "uid": "00000000-0000-0000-0000-2"})
    doc["spec"]["terminationGracePeriodSeconds"] = 300   # no kubelet finishes it: it stays Terminating
    create(plane, ns, doc)
    r = plane.ctl("drain", "drain-n2", "--timeout=1s", check=False)
    assert r.returncode == 1
    assert 'There are pending pods in node "drain-n2" when an error occurred: drain did not complete within 1s' \
        in r.stderr
    assert r.stderr.strip().endswith("error: drain did not complete within 1s")


# ---- scale / set ----

def test_scale(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("Deployment", name="web"))
    assert plane.ctl("scale", "deployment/web", "--replicas=5", "-n", ns).stdout == "deployment.apps/web scaled\n"
    assert get_json(plane, ns, "deploy/web")["spec"]["replicas"] == 5
    r = plane.ctl("scale", "deploy", "web", "--replicas=1", "--current-replicas=3", "-n", ns, check=False)
    assert r.returncode == 1 and r.stderr.strip() == "error: Expected replicas to be 3, was 5"
    plane.ctl("scale", "deploy", "web", "--replicas=1", "--current-replicas=5", "-n", ns)
    assert get_json(plane, ns, "deploy/web")["spec"]["replicas"] == 1
    r = plane.ctl("scale", "deploy/web", "-n", ns, check=False)
    assert r.stderr.strip() == 'error: required flag(s) "replicas" not set'


def test_set_image_and_env(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("Deployment", name="web"))
    out = plane.ctl("set", "image", "deployment/web", "app=nginx:1.27", "-n", ns).stdout
    assert out == "deployment.apps/web image updated\n"
    spec = get_json(plane, ns, "deploy/web")["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "nginx:1.27"
    r = plane.ctl("set", "image", "deploy/web", "nope=x", "-n", ns, check=False)
    assert r.returncode == 1 and r.stderr.strip() == 'error: unable to find container named "nope"'
    assert plane.ctl("set", "env", "deploy/web", "A=1", "B=2", "-n", ns).stdout == "deployment.apps/web env updated\n"
    plane.ctl("set", "env", "deploy/web", "A-", "-n", ns)
    env = get_json(plane, ns, "deploy/web")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "B", "value": "2"}]
    assert plane.ctl("set", "env", "deploy/web", "--list", "-n", ns).stdout == \
        "# Deployment web, container app\nB=2\n"
