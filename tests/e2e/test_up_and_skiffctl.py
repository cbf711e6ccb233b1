"""The README's path, as a new user walks it: ``skiff up`` starts a cluster, ``skiffctl`` drives
it from a shell, Secrets are encrypted at rest, /metrics answers, and ``skiff up`` again on the
same data directory brings the same objects back."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.runtime_cleanup import purge
from tests.support.waiting import wait_until

BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "web.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    process: subprocess.Popen[str]
    home: Path
    data: Path
    port: int
    etcd_url: str
    metrics_url: str
    output: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("SKIFF_SERVER", "SKIFF_CONFIG")}
        return {**env, "HOME": str(self.home)}

    def ctl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(BIN / "skiffctl"), *args], input=stdin, capture_output=True, text=True,
                                env=self.env(), timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"skiffctl {' '.join(args)} failed: {result.stderr}")
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_cluster(home: Path, data: Path, port: int, *extra: str) -> Cluster:
    env = {k: v for k, v in os.environ.items() if k not in ("SKIFF_SERVER", "SKIFF_CONFIG")}
    process = subprocess.Popen([str(BIN / "skiff"), "up", "--data-dir", str(data), "--port", str(port), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**env, "HOME": str(home)})
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Ctrl-C stops"):
            break
    text = "".join(lines)
    if "skiff cluster is up" not in text:
        process.kill()
        raise AssertionError(f"skiff up did not come up:\n{text}")
    etcd = re.search(r"etcd:\s+(\S+)", text)
    metrics = re.search(r"metrics:\s+(\S+)", text)
    assert etcd and metrics
    return Cluster(process, home, data, port, etcd.group(1), metrics.group(1), text)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """The control plane only (no kubelet): these tests bring their own Node objects."""
    c = start_cluster(tmp_path / "home", tmp_path / "data", _free_port(), "--nodes", "0")
    try:
        yield c
    finally:
        c.stop()


def test_skiffctl_drives_a_cluster_started_by_skiff_up(cluster: Cluster) -> None:
    assert (cluster.home / ".skiff" / "config").exists()
    namespaces = cluster.ctl("get", "namespaces").stdout
    assert re.search(r"^NAME\s+STATUS\s+AGE", namespaces) and "kube-system" in namespaces

    first = cluster.ctl("apply", "-f", str(EXAMPLE)).stdout.splitlines()
    assert first == ["deployment.apps/web created", "service/web created"]
    again = cluster.ctl("apply", "-f", str(EXAMPLE)).stdout.splitlines()
    assert again == ["deployment.apps/web unchanged", "service/web unchanged"]
    changed = EXAMPLE.read_text().replace("replicas: 3", "replicas: 5")
    out = cluster.ctl("apply", "-f", "-", stdin=changed).stdout.splitlines()
    assert out == ["deployment.apps/web configured", "service/web unchanged"]
    yaml_out = cluster.ctl("get", "deployment", "web", "-o", "yaml").stdout
    assert "replicas: 5" in yaml_out and "kind: Deployment" in yaml_out
    svc = cluster.ctl("get", "svc/web", "-o", "json").stdout
    assert re.search(r'"nodePort": 3\d{4}', svc) and '"clusterIP": "10.' in svc

    bad = cluster.ctl("apply", "-f", "-", stdin=changed.replace("image:", "imagee:"), check=False)
    assert bad.returncode == 1 and 'unknown field "spec.template.spec.containers[0].imagee"' in bad.stderr
    missing = cluster.ctl("get", "deployment", "nope", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'

    deleted = cluster.ctl("delete", "-f", str(EXAMPLE)).stdout.splitlines()
    assert deleted == ['deployment.apps "web" deleted', 'service "web" deleted']
    assert "No resources found" in cluster.ctl("get", "deployments").stderr


def test_secrets_are_encrypted_and_rotation_commands_work(cluster: Cluster) -> None:
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2-xyz}\n"
    assert cluster.ctl("apply", "-f", "-", stdin=secret).stdout.strip() == "secret/db created"
    raw = subprocess.run(["etcdctl", "--endpoints", cluster.etcd_url, "get", "/registry/secrets/default/db",
                          "--print-value-only"], env={**os.environ, "ETCDCTL_API": "3"}, capture_output=True,
                         check=True).stdout
    assert raw.startswith(b"k8s:enc:aesgcm:v1:key1:") and b"hunter2-xyz" not in raw
    assert "aHVudGVyMi14eXo=" in cluster.ctl("get", "secret", "db", "-o", "yaml").stdout
    dumped = cluster.ctl("get", "secrets", "-A", "-o", "json").stdout
    assert cluster.ctl("replace", "-f", "-", stdin=dumped).stdout.strip() == "secret/db replaced"
    assert "1 secrets rewritten" in cluster.ctl("reencrypt", "secrets").stdout
    metrics = urllib.request.urlopen(cluster.metrics_url, timeout=5).read().decode()
    for name in ("apiserver_request_total", "apiserver_request_duration_seconds_bucket",
                 "apiserver_registered_watchers", "etcd_request_duration_seconds_bucket"):
        assert name in metrics, name
    assert re.search(r'apiserver_request_total\{code="200",resource="secrets",verb="CREATE"\} 1\.0', metrics)


def test_the_cluster_comes_back_with_its_objects(tmp_path: Path) -> None:
    home, data, port = tmp_path / "home", tmp_path / "data", _free_port()
    first = start_cluster(home, data, port, "--nodes", "0")
    try:
        first.ctl("apply", "-f", str(EXAMPLE))
    finally:
        first.stop()
    assert first.process.returncode == 0
    second = start_cluster(home, data, port, "--nodes", "0")
    try:
        names = second.ctl("get", "deployments,services", "-o", "name").stdout.split()
        assert "deployment.apps/web" in names and "service/web" in names
    finally:
        second.stop()


def test_the_scheduler_places_pods_and_explains_a_pending_one(cluster: Cluster) -> None:
    nodes = "".join(
        f"---\napiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n"
        f"status: {{capacity: {{cpu: '{cpu}', memory: 4Gi, pods: '10'}}, "
        f"allocatable: {{cpu: '{cpu}', memory: 4Gi, pods: '10'}}}}\n" for name, cpu in (("n1", "1"), ("n2", "2")))
    cluster.ctl("apply", "-f", "-", stdin=nodes)
    pods = "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec: {{containers: [{{name: c, "
        f"image: busybox, resources: {{requests: {{cpu: '{cpu}'}}}}}}]}}\n" for name, cpu in (("a", "1500m"),
                                                                                          ("b", "4")))
    cluster.ctl("apply", "-f", "-", stdin=pods)
    deadline = time.monotonic() + 30  # one budget for both waits
    placed = wait_until(lambda: cluster.ctl("get", "pod", "a", "-o", "jsonpath={.spec.nodeName}").stdout,
                        timeout=deadline - time.monotonic(), interval=0.2, what="pod a to be placed on a node")
    assert placed == "n2"
    described = wait_until(lambda: cluster.ctl("describe", "pod", "b").stdout,
                           until=lambda text: "FailedScheduling" in text, timeout=deadline - time.monotonic(),
                           interval=0.2, what="a FailedScheduling event for pod b")
    assert "0/2 nodes are available: 2 Insufficient cpu." in described
    explained = cluster.ctl("explain-schedule", "pod/b").stdout
    assert "pod default/b fits no node: 0/2 nodes are available: 2 Insufficient cpu." in explained
    assert re.search(r"^n1\s+no\s", explained, re.M) and re.search(r"^n2\s+no\s", explained, re.M)


def test_a_new_user_runs_a_pod_on_the_local_node(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "home", tmp_path / "data", _free_port(), "--runtime", "process")
    try:
        assert "nodes:    1 (process runtime)" in cluster.output
        assert "started proxy" in cluster.output  # the service proxy joins a cluster with real pods
        deadline = time.monotonic() + 30  # one budget for both waits
        wait_until(lambda: cluster.ctl("get", "nodes", check=False).stdout, until=lambda table: "Ready" in table,
                   timeout=deadline - time.monotonic(), interval=0.3, what="the local node to be Ready")
        assert re.search(r"^skiff-node\s+Ready\s", cluster.ctl("get", "nodes").stdout, re.M)
        out = cluster.ctl("run", "hello", "--image=busybox", "--restart=Never", "--command", "--",
                          "busybox", "sh", "-c", "echo hello from skiff; sleep 600").stdout
        assert out.strip() == "pod/hello created"
        table = wait_until(lambda: cluster.ctl("get", "pod", "hello").stdout,
                           until=lambda text: re.search(r"hello\s+1/1\s+Running", text),
                           timeout=deadline - time.monotonic(), interval=0.3, what="pod hello to be Running")
        assert re.search(r"hello\s+1/1\s+Running", table), table
        assert cluster.ctl("logs", "hello").stdout == "hello from skiff\n"
        assert cluster.ctl("exec", "hello", "--", "busybox", "echo", "inside").stdout == "inside\n"
        assert cluster.ctl("delete", "pod", "hello").stdout.strip() == 'pod "hello" deleted'
    finally:
        cluster.stop()
        purge("process", cluster.data / "kubelet" / "skiff-node", "skiff-node")


def serve_web(cluster: Cluster, www: Path, page: str) -> None:
    """A Deployment ``web`` of busybox httpd on port 8080 serving ``page`` as its index, Available."""
    www.mkdir()
    (www / "index.html").write_text(page)
    cluster.ctl("create", "deployment", "web", "--image=busybox", "--port=8080", "--", "busybox", "httpd", "-f",
                "-p", "8080", "-h", str(www))
    cluster.ctl("wait", "--for=condition=Available", "deployment/web", "--timeout=60s")


def test_a_pod_reaches_a_service_by_name_through_the_cluster_dns(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "home", tmp_path / "data", _free_port(), "--runtime", "process")
    try:
        assert "dns:      10.96.0.10 (cluster.local)" in cluster.output
        serve_web(cluster, tmp_path / "www", "served by web\n")
        cluster.ctl("expose", "deployment", "web", "--port=80", "--target-port=8080")
        cluster_ip = cluster.ctl("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}").stdout
        assert "CoreDNS is running at 10.96.0.10:53" in cluster.ctl("cluster-info").stdout
        script = ("cat /etc/resolv.conf; nslookup web.default.svc.cluster.local; wget -qO- http://web/; "
                  "nslookup nope.default.svc.cluster.local || echo lookup failed")
        # The proxy syncs the new Service's listener within moments: retry the whole pod until it answers.
        out = wait_until(lambda: cluster.ctl("run", "dig", "--rm", "-i", "--image=busybox", "--restart=Never",
                                             "--", "busybox", "sh", "-c", script, stdin="", check=False).stdout,
                         until=lambda text: "served by web" in text, timeout=60, interval=1,
                         what="a pod to fetch http://web/ by name")
        assert "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local" in out
        assert re.search(rf"Name:\s+web\.default\.svc\.cluster\.local\nAddress:\s+{re.escape(cluster_ip)}\n", out), out
        assert "NXDOMAIN" in out and "lookup failed" in out
    finally:
        cluster.stop()
        purge("process", cluster.data / "kubelet" / "skiff-node", "skiff-node")


def test_a_load_balancer_service_answers_on_its_external_address(tmp_path: Path) -> None:
    if shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin") is None:
        pytest.skip("nginx is not installed (make test installs it)")
    cluster = start_cluster(tmp_path / "home", tmp_path / "data", _free_port(), "--runtime", "process")
    try:
        assert "lb:       LoadBalancer Services get addresses from 127.0.100.0/24 (nginx)" in cluster.output
        serve_web(cluster, tmp_path / "www", "served through the load balancer\n")
        cluster.ctl("expose", "deployment", "web", "--port=8000", "--target-port=8080", "--type=LoadBalancer")
        address = wait_until(lambda: cluster.ctl("get", "svc", "web", "-o",
                                                 "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout,
                             timeout=30, interval=0.3, what="the Service's external address")
        assert address.startswith("127.0.100.")
        assert re.search(rf"^web\s+LoadBalancer\s+\S+\s+{re.escape(address)}\s+8000:\d+/TCP",
                         cluster.ctl("get", "svc", "web").stdout, re.M)

        def fetch() -> str:
            try:
                with urllib.request.urlopen(f"http://{address}:8000/", timeout=5) as answer:
                    return str(answer.read().decode())
            except OSError:
                return ""

        assert wait_until(fetch, timeout=30, interval=0.5, what="the page through the load balancer") == \
            "served through the load balancer\n"
        events = cluster.ctl("events", "--for", "service/web").stdout
        assert "EnsuredLoadBalancer" in events
    finally:
        cluster.stop()
        purge("process", cluster.data / "kubelet" / "skiff-node", "skiff-node")
