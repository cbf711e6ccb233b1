"""The DaemonSet and StatefulSet examples as a person runs them: etcd, the apiserver, the scheduler,
the controller-manager and ``skiff kubelet --runtime process`` as processes (tests/support/node.py),
driven through skiffctl only.

``deploy/examples/daemonset.yaml`` puts its pod on the node, logging the node's name;
``set image`` rolls it and ``rollout undo`` brings the first template back as revision 3.
``deploy/examples/statefulset.yaml`` starts ``store-0`` then ``store-1``, each writing its own
hostname into its own PersistentVolumeClaim; a deleted pod comes back under its name and finds
its data; scaling down removes ``store-1`` and keeps its claim.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.node import Node, node_with_controllers

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not found")
    with node_with_controllers("process") as n:
        yield n


@pytest.fixture
def ns(node: Node) -> str:
    return node.plane.new_namespace()


def test_the_daemonset_example_runs_a_pod_on_the_node_and_rolls(node: Node, ns: str) -> None:
    node.ctl("apply", "-n", ns, "-f", str(EXAMPLES / "daemonset.yaml"))
    status = node.ctl("rollout", "status", "ds/node-logger", "-n", ns, "--timeout=60s", check=False)
    assert status.returncode == 0, f"{status.stdout}{status.stderr}\n{node.diagnosis()}"
    assert status.stdout.endswith('daemon set "node-logger" successfully rolled out\n')
    [pod] = node.json("get", "pods", "-l", "app=node-logger", "-n", ns)["items"]
    assert pod["spec"]["nodeName"] == node.name
    node.wait(lambda: f"on {node.name}" in node.ctl("logs", pod["metadata"]["name"], "-n", ns, check=False).stdout,
              "the pod to log its node's name")
    row = node.ctl("get", "ds", "node-logger", "-n", ns, "--no-headers").stdout.split()
    assert row[1:6] == ["1", "1", "1", "1", "1"]  # desired, current, ready, up-to-date, available

    node.ctl("set", "image", "ds/node-logger", "logger=busybox:v2", "-n", ns)
    node.ctl("rollout", "status", "ds/node-logger", "-n", ns, "--timeout=60s")
    [rolled] = node.json("get", "pods", "-l", "app=node-logger", "-n", ns)["items"]
    assert rolled["spec"]["containers"][0]["image"] == "busybox:v2"
    assert rolled["metadata"]["labels"]["pod-template-generation"] == "2"
    node.ctl("rollout", "undo", "ds/node-logger", "-n", ns)
    node.ctl("rollout", "status", "ds/node-logger", "-n", ns, "--timeout=60s")
    history = node.ctl("rollout", "history", "ds/node-logger", "-n", ns).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]
    [back] = node.json("get", "pods", "-l", "app=node-logger", "-n", ns)["items"]
    assert back["spec"]["containers"][0]["image"] == "busybox:latest"


def test_the_statefulset_example_keeps_names_and_storage(node: Node, ns: str) -> None:
    node.ctl("apply", "-n", ns, "-f", str(EXAMPLES / "statefulset.yaml"))
    status = node.ctl("rollout", "status", "sts/store", "-n", ns, "--timeout=90s", check=False)
    assert status.returncode == 0, f"{status.stdout}{status.stderr}\n{node.diagnosis()}"
    created = [line for line in node.ctl("events", "--for", "sts/store", "-n", ns).stdout.splitlines()
               if "create Pod" in line]
    assert [line.split("create Pod ")[1].split()[0] for line in created] == ["store-0", "store-1"]
    for name in ("store-0", "store-1"):
        assert node.ctl("exec", name, "-n", ns, "--", "cat", "/data/owner").stdout == f"{name}\n"
    claims = node.json("get", "pvc", "-n", ns)["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["data-store-0", "data-store-1"]

    old_uid = node.json("get", "pod", "store-1", "-n", ns)["metadata"]["uid"]
    node.ctl("exec", "store-1", "-n", ns, "--", "sh", "-c", "echo kept > /data/mark")
    node.ctl("delete", "pod", "store-1", "-n", ns)
    node.wait(lambda: (p := node.pod("store-1", ns)).get("metadata", {}).get("uid") not in (None, old_uid)
              and p.get("status", {}).get("phase") == "Running", "store-1 back under its name")
    node.wait(lambda: node.ctl("exec", "store-1", "-n", ns, "--", "cat", "/data/mark", check=False).stdout == "kept\n",
              "store-1 to find its data again")

    node.ctl("scale", "sts/store", "--replicas=1", "-n", ns)
    node.wait(lambda: [p["metadata"]["name"] for p in node.json("get", "pods", "-l", "app=store", "-n", ns)["items"]]
              == ["store-0"], "store-1 gone after the scale-down", timeout=60)
    assert len(node.json("get", "pvc", "-n", ns)["items"]) == 2  # claims are kept
