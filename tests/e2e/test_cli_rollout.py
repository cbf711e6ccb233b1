"""``skiffctl rollout`` against a real apiserver.

The deployment controller does not exist yet, so each test writes the history a controller
would leave: ReplicaSets owned by the Deployment with ``deployment.kubernetes.io/revision``
annotations (ControllerRevisions for a StatefulSet), and the status a controller would report
(through update_status) to drive ``rollout status``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from skiff.api import codec
from skiff.api.v1 import apps_pb2
from skiff.client.client import Client
from tests.support.plane_client import create, get_json
from tests.support.processes import ControlPlane
from tests.support.samples import sample
from tests.support.waiting import wait_until


def owner(doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc["metadata"]
    return {"apiVersion": doc["apiVersion"], "kind": doc["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True}


def replica_set(deploy: dict[str, Any], revision: int, image: str, cause: str = "") -> dict[str, Any]:
    rs = sample("ReplicaSet", name=f"web-{revision}")
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    rs["metadata"].update(annotations=annotations, ownerReferences=[owner(deploy)])
    labels = {"app": "demo", "pod-template-hash": f"h{revision}"}
    rs["spec"]["selector"] = {"matchLabels": labels}
    rs["spec"]["template"]["metadata"]["labels"] = labels
    rs["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return rs


def web_with_history(plane: ControlPlane, ns: str) -> dict[str, Any]:
    """Deployment web at revision 2 (nginx:1.27), revision 1 was busybox:1.36."""
    doc = sample("Deployment", name="web")
    doc["spec"]["replicas"] = 3
    doc["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    doc["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    create(plane, ns, doc)
    deploy = get_json(plane, ns, "deploy/web")
    create(plane, ns, replica_set(deploy, 1, "busybox:1.36", "first"), replica_set(deploy, 2, "nginx:1.27"))
    return deploy


def set_deploy_status(plane: ControlPlane, ns: str, **status: Any) -> None:
    async def go() -> None:
        async with Client(plane.server) as client:
            d = await client.get(apps_pb2.Deployment, "web", namespace=ns)
            d.status.CopyFrom(codec.from_dict(apps_pb2.DeploymentStatus, status))
            d.status.observed_generation = d.metadata.generation
            await client.update_status(d)

    asyncio.run(go())


# ---- history / undo ----

def test_history_lists_revisions(plane: ControlPlane, ns: str) -> None:
    web_with_history(plane, ns)
    out = plane.ctl("rollout", "history", "deployment/web", "-n", ns).stdout
    assert out == "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         first\n2         <none>\n\n"
    one = plane.ctl("rollout", "history", "deploy/web", "--revision=1", "-n", ns).stdout
    assert one.startswith("deployment.apps/web with revision #1\nPod Template:\n")
    assert "\tpod-template-hash=h1\n" in one and "  Annotations:\tkubernetes.io/change-cause: first\n" in one
    assert "   app:\n    Image:\tbusybox:1.36\n" in one
    r = plane.ctl("rollout", "history", "deploy/web", "--revision=7", "-n", ns, check=False)
    assert r.returncode == 1 and r.stderr.strip() == "error: unable to find the specified revision"


def test_undo_restores_previous_template(plane: ControlPlane, ns: str) -> None:
    web_with_history(plane, ns)
    r = plane.ctl("rollout", "undo", "deploy/web", "--to-revision=9", "-n", ns, check=False)
    assert r.returncode == 1 and r.stderr.strip() == "error: unable to find specified revision 9 in history"
    assert plane.ctl("rollout", "undo", "deploy/web", "-n", ns).stdout == "deployment.apps/web rolled back\n"
    d = get_json(plane, ns, "deploy/web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert d["spec"]["template"]["metadata"]["labels"] == {"app": "demo"}
    assert d["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "2",
                                            "kubernetes.io/change-cause": "first"}
    out = plane.ctl("rollout", "undo", "deploy/web", "--to-revision=1", "-n", ns).stdout
    assert out == "deployment.apps/web skipped rollback (current template already matches revision 1)\n"


def test_statefulset_history_and_undo(plane: ControlPlane, ns: str) -> None:
    sts = sample("StatefulSet", name="db")
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = "postgres:17"
    create(plane, ns, sts)
    sts = get_json(plane, ns, "sts/db")
    revisions = []
    for n, image in ((1, "postgres:16"), (2, "postgres:17")):
        template = json.loads(json.dumps(sts["spec"]["template"]))
        template["spec"]["containers"][0]["image"] = image
        revisions.append({"apiVersion": "apps/v1", "kind": "ControllerRevision",
                          "metadata": {"name": f"db-{n}", "ownerReferences": [owner(sts)]},
                          "revision": n, "data": {"spec": {"template": {**template, "$patch": "replace"}}}})
    create(plane, ns, *revisions)
    assert plane.ctl("rollout", "history", "sts/db", "-n", ns).stdout == \
        "statefulset.apps/db \nREVISION\n1\n2\n\n"
    assert "Image:\tpostgres:16" in plane.ctl("rollout", "history", "sts/db", "--revision=1", "-n", ns).stdout
    assert plane.ctl("rollout", "undo", "statefulset/db", "-n", ns).stdout == "statefulset.apps/db rolled back\n"
    image = get_json(plane, ns, "sts/db")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "postgres:16"


# ---- pause / resume / restart ----

def test_pause_resume_restart(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("Deployment", name="web"))
    assert plane.ctl("rollout", "pause", "deploy/web", "-n", ns).stdout == "deployment.apps/web paused\n"
    r = plane.ctl("rollout", "pause", "deploy/web", "-n", ns, check=False)
    assert r.returncode == 1 and r.stderr.strip() == 'error: deployments.apps "web" is already paused'
    r = plane.ctl("rollout", "restart", "deploy/web", "-n", ns, check=False)
    assert r.stderr.strip() == ("error: deployments.apps \"web\" can't restart paused deployment "
                                "(run rollout resume first)")
    assert plane.ctl("rollout", "resume", "deploy/web", "-n", ns).stdout == "deployment.apps/web resumed\n"
    assert "paused" not in get_json(plane, ns, "deploy/web")["spec"]
    assert plane.ctl("rollout", "restart", "deploy/web", "-n", ns).stdout == "deployment.apps/web restarted\n"
    annotations = get_json(plane, ns, "deploy/web")["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations


# ---- status ----

def test_status_once_and_progress_deadline(plane: ControlPlane, ns: str) -> None:
    web_with_history(plane, ns)
    set_deploy_status(plane, ns, replicas=3, updatedReplicas=3, availableReplicas=1)
    r = plane.ctl("rollout", "status", "deploy/web", "--watch=false", "-n", ns)
    assert r.stdout == 'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...\n'
    r = plane.ctl("rollout", "status", "deploy/web", "--timeout=1s", "-n", ns, check=False)
    assert r.returncode == 1 and r.stderr.strip() == "error: timed out waiting for the condition"
    set_deploy_status(plane, ns, replicas=3, updatedReplicas=1, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}])
    r = plane.ctl("rollout", "status", "deploy/web", "-n", ns, check=False)
    assert r.returncode == 1 and r.stderr.strip() == 'error: deployment "web" exceeded its progress deadline'


def test_status_follows_until_rolled_out(plane: ControlPlane, ns: str) -> None:
    web_with_history(plane, ns)
    set_deploy_status(plane, ns, replicas=3, updatedReplicas=1, availableReplicas=1)
    proc = plane.popen("rollout", "status", "deployment/web", "-n", ns)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first == 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...\n'
        set_deploy_status(plane, ns, replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=3)
        wait_until(proc.poll, until=lambda code: code is not None, timeout=10, interval=0.05,
                   what="`rollout status` to exit once the rollout is complete")
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == 'deployment "web" successfully rolled out\n'


def test_status_statefulset_and_daemonset(plane: ControlPlane, ns: str) -> None:
    create(plane, ns, sample("StatefulSet", name="db"), sample("DaemonSet", name="agent"))

    async def go() -> None:
        async with Client(plane.server) as client:
            sts = await client.get(apps_pb2.StatefulSet, "db", namespace=ns)
            sts.status.observed_generation = sts.metadata.generation
            sts.status.replicas = sts.status.ready_replicas = sts.status.updated_replicas = 1
            await client.update_status(sts)
            ds = await client.get(apps_pb2.DaemonSet, "agent", namespace=ns)
            ds.status.observed_generation = ds.metadata.generation
            ds.status.desired_number_scheduled, ds.status.updated_number_scheduled = 2, 2
            ds.status.number_available = 1
            await client.update_status(ds)

    asyncio.run(go())
    out = plane.ctl("rollout", "status", "sts/db", "-n", ns).stdout
    assert out == "partitioned roll out complete: 1 new pods have been updated...\n"
    out = plane.ctl("rollout", "status", "ds/agent", "--watch=false", "-n", ns).stdout
    assert out == 'Waiting for daemon set "agent" rollout to finish: 1 of 2 updated pods are available...\n'
