"""A pod's life on a real node, for the docker runtime (a real Docker engine) and the process
runtime (real host processes): etcd, the apiserver and `skiff kubelet` run as processes, and the
checks go through skiffctl as a person would use it.

Commands are busybox applets (`busybox sh -c ...`), which exist both in the locally imported
busybox image and on the host (busybox-static), so one set of pods serves both runtimes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.node import Node

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "busybox:latest"


def _docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0


@pytest.fixture(scope="module", params=["process", "docker"])
def node(request: pytest.FixtureRequest) -> Iterator[Node]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not found")
    if request.param == "docker" and not _docker_ready():
        pytest.skip("no Docker engine with a busybox:latest image (make test runs tools/ensure-docker.sh)")
    n = Node(request.param)
    try:
        yield n
    finally:
        n.close()


@pytest.fixture
def ns(node: Node) -> str:
    return node.plane.new_namespace()


def pod_yaml(name: str, node_name: str, containers: str, extra: str = "") -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {node_name}\n"
            f"  terminationGracePeriodSeconds: 5\n{extra}  containers:\n{containers}")


def container(name: str, script: str, extra: str = "") -> str:
    return (f"  - name: {name}\n    image: {IMAGE}\n    imagePullPolicy: IfNotPresent\n"
            f"    command: [busybox, sh, -c, {json.dumps(script)}]\n{extra}")


def status_of(pod: dict[str, Any], name: str) -> dict[str, Any]:
    for s in pod.get("status", {}).get("containerStatuses", []) + pod.get("status", {}).get(
            "initContainerStatuses", []):
        if s["name"] == name:
            return dict(s)
    return {}


def condition(pod: dict[str, Any], kind: str) -> str:
    return next((c["status"] for c in pod.get("status", {}).get("conditions", []) if c["type"] == kind), "")


def test_two_containers_share_localhost_and_an_empty_dir(node: Node, ns: str) -> None:
    server = container("server", "echo hello-from-server > /www/index.html && busybox httpd -f -p 8080 -h /www",
                       "    volumeMounts: [{name: shared, mountPath: /www}]\n")
    client = container("client", "while true; do busybox wget -qO- http://127.0.0.1:8080/ > /out/got 2>&1; "
                       "sleep 0.3; done", "    volumeMounts: [{name: shared, mountPath: /out}]\n")
    node.apply(pod_yaml("pair", node.name, server + client, "  volumes: [{name: shared, emptyDir: {}}]\n"), ns)
    node.wait(lambda: node.pod("pair", ns).get("status", {}).get("phase") == "Running", "pair to run")
    got = node.wait(lambda: _exec(node, ns, "pair", "server", "cat /www/got").strip(), "the client's download")
    assert got == "hello-from-server"
    assert node.pod("pair", ns)["status"]["podIP"]


def _exec(node: Node, ns: str, pod: str, container_name: str, script: str) -> str:
    result = node.ctl("exec", "-n", ns, pod, "-c", container_name, "--", "busybox", "sh", "-c", script, check=False)
    return str(result.stdout) if result.returncode == 0 else ""


def test_top_shows_a_busy_containers_usage_through_kubelet_and_apiserver(node: Node, ns: str) -> None:
    busy = container("spin", "while :; do :; done", "    resources: {limits: {cpu: 100m, memory: 32Mi}}\n")
    node.apply(pod_yaml("busy", node.name, busy), ns)

    def row() -> list[str]:  # NAME CPU(cores) MEMORY(bytes): once the kubelet has sampled two windows
        result = node.ctl("top", "pod", "busy", "-n", ns, "--no-headers", check=False)
        cells = result.stdout.split() if result.returncode == 0 else []
        return cells if cells and cells[1] != "0m" else []

    name, cpu, memory = node.wait(row, "top to show the busy loop's CPU", timeout=60)
    assert name == "busy" and cpu.endswith("m") and 0 < int(cpu[:-1]) <= 150 and memory.endswith("Mi")
    nodes = node.ctl("top", "node", "--no-headers").stdout.split()
    assert nodes[0] == node.name and nodes[1].endswith("m") and nodes[2].endswith("%")


def test_over_the_memory_limit_is_oomkilled(node: Node, ns: str) -> None:
    hog = container("hog", "busybox head -c 300000000 /dev/zero | busybox tail > /dev/null",
                    "    resources: {limits: {memory: 32Mi}}\n")
    node.apply(pod_yaml("hog", node.name, hog, "  restartPolicy: Never\n"), ns)
    terminated = node.wait(lambda: status_of(node.pod("hog", ns), "hog").get("state", {}).get("terminated"),
                           "the hog to be killed")
    assert terminated["reason"] == "OOMKilled"


def test_a_crash_loop_backs_off_with_the_reason(node: Node, ns: str) -> None:
    node.apply(pod_yaml("crash", node.name, container("crash", "echo dying; exit 3")), ns)
    waiting = node.wait(lambda: status_of(node.pod("crash", ns), "crash").get("restartCount", 0) >= 2 and
                        status_of(node.pod("crash", ns), "crash")["state"].get("waiting"), "CrashLoopBackOff",
                        timeout=60)
    assert waiting["reason"] == "CrashLoopBackOff" and "last exit code 3 (Error)" in waiting["message"]
    assert "restarting failed container=crash pod=crash_" in waiting["message"]
    status = status_of(node.pod("crash", ns), "crash")
    assert status["lastState"]["terminated"]["exitCode"] == 3
    table = node.ctl("get", "pod", "crash", "-n", ns).stdout
    assert "CrashLoopBackOff" in table
    assert node.ctl("logs", "-n", ns, "crash", "--previous").stdout.strip() == "dying"


def test_liveness_restarts_and_readiness_flips(node: Node, ns: str) -> None:
    # the first liveness check waits 2 s: the command creates /tmp/alive as it starts
    probes = ("    livenessProbe: {exec: {command: [busybox, test, -f, /tmp/alive]}, initialDelaySeconds: 2, "
              "periodSeconds: 1, failureThreshold: 1}\n"
              "    readinessProbe: {exec: {command: [busybox, test, -f, /tmp/ready]}, periodSeconds: 1}\n")
    script = "busybox touch /tmp/alive /tmp/ready; sleep 3600"
    node.apply(pod_yaml("probed", node.name, container("app", script, probes)), ns)
    node.wait(lambda: condition(node.pod("probed", ns), "Ready") == "True", "Ready")
    _exec(node, ns, "probed", "app", "busybox rm /tmp/ready")
    node.wait(lambda: condition(node.pod("probed", ns), "Ready") == "False", "not Ready")
    _exec(node, ns, "probed", "app", "busybox touch /tmp/ready")
    node.wait(lambda: condition(node.pod("probed", ns), "Ready") == "True", "Ready again")
    _exec(node, ns, "probed", "app", "busybox rm /tmp/alive")
    node.wait(lambda: status_of(node.pod("probed", ns), "app").get("restartCount", 0) >= 1, "a liveness restart")
    events = node.ctl("describe", "pod", "probed", "-n", ns).stdout
    assert "Unhealthy" in events and "Liveness probe failed" in events and "Killing" in events


def test_secret_and_configmap_as_env_and_files(node: Node, ns: str) -> None:
    node.ctl("create", "configmap", "cfg", "-n", ns, "--from-literal=color=blue")
    node.ctl("create", "secret", "generic", "sec", "-n", ns, "--from-literal=token=s3cret")
    extra = ("    env: [{name: COLOR, valueFrom: {configMapKeyRef: {name: cfg, key: color}}}]\n"
             "    envFrom: [{secretRef: {name: sec}}]\n"
             "    volumeMounts: [{name: cfg, mountPath: /etc/cfg}, {name: sec, mountPath: /etc/sec}]\n")
    volumes = "  volumes: [{name: cfg, configMap: {name: cfg}}, {name: sec, secret: {secretName: sec}}]\n"
    node.apply(pod_yaml("configured", node.name, container("app", "sleep 3600", extra), volumes), ns)
    node.wait(lambda: node.pod("configured", ns).get("status", {}).get("phase") == "Running", "running")
    assert _exec(node, ns, "configured", "app", "echo $COLOR-$token").strip() == "blue-s3cret"
    assert _exec(node, ns, "configured", "app", "cat /etc/cfg/color /etc/sec/token") == "blues3cret"
    node.apply(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: {ns}}}\ndata: {{color: green}}\n",
               ns)
    node.wait(lambda: _exec(node, ns, "configured", "app", "cat /etc/cfg/color") == "green", "the file to change")


def test_image_never_pulled_and_init_containers_in_order(node: Node, ns: str) -> None:
    missing = ("  - name: app\n    image: not-here:1\n    imagePullPolicy: Never\n"
               "    command: [busybox, sleep, '3600']\n")
    node.apply(pod_yaml("nopull", node.name, missing), ns)
    if node.runtime == "docker":
        waiting = node.wait(lambda: status_of(node.pod("nopull", ns), "app").get("state", {}).get("waiting", {}).get(
            "reason") == "ErrImageNeverPull", "ErrImageNeverPull")
        assert waiting
    init = ("  initContainers:\n"
            + container("first", "echo first >> /work/order").replace("    command", "    volumeMounts: "
                                                                       "[{name: w, mountPath: /work}]\n    command")
            + container("second", "echo second >> /work/order").replace("    command", "    volumeMounts: "
                                                                         "[{name: w, mountPath: /work}]\n    command"))
    app = container("app", "echo app >> /work/order; sleep 3600", "    volumeMounts: [{name: w, mountPath: /work}]\n")
    node.apply(pod_yaml("inits", node.name, app, init + "  volumes: [{name: w, emptyDir: {}}]\n"), ns)
    node.wait(lambda: node.pod("inits", ns).get("status", {}).get("phase") == "Running", "inits to run")
    order = node.wait(lambda: _exec(node, ns, "inits", "app", "cat /work/order").split(), "the order file")
    assert order == ["first", "second", "app"]
    assert node.ctl("logs", "-n", ns, "inits", "-c", "app").returncode == 0


def test_delete_runs_prestop_then_sigterm(node: Node, ns: str) -> None:
    hooks = ("    lifecycle: {preStop: {exec: {command: [busybox, sh, -c, 'echo prestop >> /shared/log']}}}\n"
             "    volumeMounts: [{name: shared, mountPath: /shared}]\n")
    script = "trap 'echo term >> /shared/log; exit 0' TERM; while true; do sleep 0.2; done"
    volumes = "  volumes: [{name: shared, hostPath: {path: /tmp/skiff-e2e-" + ns + ", type: DirectoryOrCreate}}]\n"
    node.apply(pod_yaml("graceful", node.name, container("app", script, hooks), volumes), ns)
    node.wait(lambda: node.pod("graceful", ns).get("status", {}).get("phase") == "Running", "running")
    node.ctl("delete", "pod", "graceful", "-n", ns, "--timeout", "60s")
    assert not node.pod("graceful", ns)
    log = Path(f"/tmp/skiff-e2e-{ns}/log").read_text().split()
    assert log[:2] == ["prestop", "term"]


def test_a_restarted_kubelet_leaves_pods_running(node: Node, ns: str) -> None:
    node.apply(pod_yaml("steady", node.name, container("app", "sleep 3600")), ns)
    before = node.wait(lambda: status_of(node.pod("steady", ns), "app").get("state", {}).get("running") and
                       status_of(node.pod("steady", ns), "app")["containerID"], "running")
    node.stop_kubelet()
    node.start_kubelet()
    node.apply(pod_yaml("after", node.name, container("app", "sleep 3600")), ns)
    node.wait(lambda: node.pod("after", ns).get("status", {}).get("phase") == "Running", "the new kubelet syncs")
    status = status_of(node.pod("steady", ns), "app")
    assert status["containerID"] == before and status["restartCount"] == 0
    assert _exec(node, ns, "steady", "app", "echo still-here").strip() == "still-here"
