"""The Kubernetes basics walkthrough on a real cluster of processes: etcd, the apiserver, the
scheduler, the controller-manager and two nodes (hollow nodes with the fake runtime; one run
with the docker runtime), driven only through skiffctl.

create deployment → 1 pod; scale to 10 → 10 Running; set image → a rolling update that never
drops below replicas − maxUnavailable available pods nor goes above replicas + maxSurge, ending
with only the new ReplicaSet scaled up; rollout status / history / undo / undo --to-revision;
ProgressDeadlineExceeded makes rollout status fail; deleting the deployment removes its
ReplicaSets and pods, and --cascade=orphan keeps them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.processes import BIN, ControlPlane, free_port
from tests.support.runtime_cleanup import purge
from tests.support.waiting import wait_until

IMAGE_V1, IMAGE_V2, IMAGE_V3 = "busybox:v1", "busybox:v2", "busybox:v3"  # tagged: IfNotPresent by default


class Cluster:
    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self.plane = ControlPlane()
        self.plane.start()
        self.procs: list[subprocess.Popen[bytes]] = []
        log = open(self.plane.root / "components.log", "ab")  # noqa: SIM115
        python = [str(BIN / "python"), "-m", "skiff.daemons"]
        self.procs.append(subprocess.Popen([*python, "scheduler", "--server", self.plane.server,
                                            "--leader-elect=false"], stdout=log, stderr=log))
        self.procs.append(subprocess.Popen([*python, "controller-manager", "--server", self.plane.server,
                                            "--leader-elect=false"], stdout=log, stderr=log))
        if runtime == "fake":
            kubelets = [[*python, "kubelet", "--server", self.plane.server, "--runtime", "fake", "--nodes", "2",
                         "--node-name", "walk", "--root-dir", str(self.plane.root / "kubelet"), "--port",
                         str(free_port())]]
        else:
            kubelets = [[*python, "kubelet", "--server", self.plane.server, "--runtime", runtime, "--node-name",
                         f"walk-{i}", "--root-dir", str(self.plane.root / f"kubelet-{i}"), "--port", str(free_port())]
                        for i in range(2)]
        for argv in kubelets:
            self.procs.append(subprocess.Popen(argv, stdout=log, stderr=log))
        self.wait(lambda: len(self.ready_nodes()) == 2, "two Ready nodes", 60)

    def close(self) -> None:
        self.ctl("delete", "deployments,replicasets,pods", "--all", "--wait=false", check=False)
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for i in range(2):
            purge(self.runtime, self.plane.root / f"kubelet-{i}", f"walk-{i}")
        self.plane.stop()

    def ctl(self, *args: str, check: bool = True, timeout: float = 120) -> Any:
        return self.plane.ctl(*args, check=check, timeout=timeout)

    def json(self, *args: str) -> Any:
        return json.loads(self.ctl(*args, "-o", "json").stdout)

    def ready_nodes(self) -> list[str]:
        nodes = self.json("get", "nodes")["items"]
        return [n["metadata"]["name"] for n in nodes
                if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]

    def pods(self, ns: str) -> list[dict[str, Any]]:
        return list(self.json("get", "pods", "-n", ns, "-l", "app=web")["items"])

    def running(self, ns: str, image: str | None = None) -> list[dict[str, Any]]:
        return [p for p in self.pods(ns) if p["status"].get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")
                and (image is None or p["spec"]["containers"][0]["image"] == image)]

    @staticmethod
    def wait(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        return wait_until(check, timeout=timeout, interval=0.3, what=what)


def _docker_ready() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "image", "inspect", "busybox:latest"], capture_output=True).returncode == 0


@pytest.fixture(scope="module", params=["fake", "docker"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd binary not found")
    if request.param == "docker":
        if not _docker_ready():
            pytest.skip("no Docker engine with busybox:latest (make test runs tools/ensure-docker.sh)")
        for tag in (IMAGE_V1, IMAGE_V2, IMAGE_V3):  # local tags for the rollout: no registry needed
            subprocess.run(["docker", "tag", "busybox:latest", tag], check=True)
    c = Cluster(request.param)
    try:
        yield c
    finally:
        c.close()


def sample_availability(cluster: Cluster, ns: str, stop: threading.Event, out: list[tuple[int, int]]) -> None:
    """(available, total) pods over time, while a rollout runs."""
    while not stop.is_set():
        try:
            dep = cluster.json("get", "deployment", "web", "-n", ns)
        except (AssertionError, json.JSONDecodeError):
            continue
        status = dep.get("status", {})
        out.append((status.get("availableReplicas", 0), status.get("replicas", 0)))
        time.sleep(0.1)


def test_the_basics_walkthrough(cluster: Cluster) -> None:
    ns = cluster.plane.new_namespace()
    command = ["--", "busybox", "sleep", "3600"] if cluster.runtime != "fake" else []
    out = cluster.ctl("create", "deployment", "web", f"--image={IMAGE_V1}", "-n", ns, *command).stdout
    assert out.strip() == "deployment.apps/web created"
    cluster.wait(lambda: len(cluster.running(ns)) == 1, "1 running pod")
    assert cluster.ctl("scale", "deployment/web", "--replicas=10", "-n", ns).stdout.strip() == \
        "deployment.apps/web scaled"
    cluster.wait(lambda: len(cluster.running(ns)) == 10, "10 running pods", 90)
    status = cluster.ctl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in status.stdout

    samples: list[tuple[int, int]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_availability, args=(cluster, ns, stop, samples))
    sampler.start()
    cluster.ctl("annotate", "deployment/web", "kubernetes.io/change-cause=image v2", "-n", ns)
    assert cluster.ctl("set", "image", "deployment/web", f"busybox={IMAGE_V2}", "-n", ns).stdout.strip() == \
        "deployment.apps/web image updated"
    done = cluster.ctl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")
    stop.set()
    sampler.join()
    assert done.returncode == 0 and 'deployment "web" successfully rolled out' in done.stdout
    # replicas 10, maxSurge 25% → 3 (rounded up), maxUnavailable 25% → 2 (rounded down)
    assert samples and all(available >= 8 for available, _ in samples), samples
    assert all(total <= 13 for _, total in samples), samples
    rs = cluster.json("get", "replicasets", "-n", ns)["items"]
    sizes = sorted((r["spec"]["template"]["spec"]["containers"][0]["image"], r["spec"]["replicas"]) for r in rs)
    assert sizes == sorted([(IMAGE_V1, 0), (IMAGE_V2, 10)])
    cluster.wait(lambda: len(cluster.running(ns, IMAGE_V2)) == 10 and len(cluster.running(ns)) == 10,
                 "10 pods of v2 and no others", 90)

    history = cluster.ctl("rollout", "history", "deployment/web", "-n", ns).stdout
    assert "REVISION" in history and "image v2" in history
    assert cluster.ctl("rollout", "undo", "deployment/web", "-n", ns).stdout.strip() == \
        "deployment.apps/web rolled back"
    cluster.ctl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")
    image = cluster.json("get", "deployment", "web", "-n", ns)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == IMAGE_V1
    cluster.ctl("set", "image", "deployment/web", f"busybox={IMAGE_V3}", "-n", ns)
    cluster.ctl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")
    revisions = [line.split()[0] for line in
                 cluster.ctl("rollout", "history", "deployment/web", "-n", ns).stdout.splitlines()[2:] if line.strip()]
    two_back = [r for r in revisions if r.isdigit()]
    v2 = next(r for r in two_back if IMAGE_V2 in cluster.ctl("rollout", "history", "deployment/web", "-n", ns,
                                                              f"--revision={r}").stdout)
    cluster.ctl("rollout", "undo", "deployment/web", f"--to-revision={v2}", "-n", ns)
    cluster.ctl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s")
    image = cluster.json("get", "deployment", "web", "-n", ns)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == IMAGE_V2

    cluster.ctl("delete", "deployment", "web", "-n", ns)
    cluster.wait(lambda: not cluster.json("get", "replicasets", "-n", ns)["items"] and not cluster.pods(ns),
                 "the ReplicaSets and pods to be collected", 90)


def test_orphan_cascade_and_progress_deadline(cluster: Cluster) -> None:
    ns = cluster.plane.new_namespace()
    command = ["--", "busybox", "sleep", "3600"] if cluster.runtime != "fake" else []
    cluster.ctl("create", "deployment", "web", f"--image={IMAGE_V1}", "--replicas=2", "-n", ns, *command)
    cluster.wait(lambda: len(cluster.running(ns)) == 2, "2 running pods")
    cluster.ctl("delete", "deployment", "web", "--cascade=orphan", "-n", ns)
    rs = cluster.json("get", "replicasets", "-n", ns)["items"]
    assert len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences")
    assert len(cluster.running(ns)) == 2

    stuck = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: stuck}\nspec:\n"
             "  progressDeadlineSeconds: 3\n  selector: {matchLabels: {app: stuck}}\n"
             "  template:\n    metadata: {labels: {app: stuck}}\n    spec:\n"
             "      nodeSelector: {nowhere: 'true'}\n"
             "      containers: [{name: c, image: busybox:latest, command: [busybox, sleep, '3600']}]\n")
    cluster.plane.ctl("apply", "-n", ns, "-f", "-", stdin=stuck)
    failed = cluster.ctl("rollout", "status", "deployment/stuck", "-n", ns, "--timeout=60s", check=False)
    assert failed.returncode != 0
    assert 'error: deployment "stuck" exceeded its progress deadline' in failed.stderr
