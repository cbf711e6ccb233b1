"""`skiff kubelet --runtime fake --nodes N`: many hollow nodes from one process, for scale tests —
they register Ready, run pods scheduled to them, and export the kubelet's metrics."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

from tests.support.processes import BIN, ControlPlane, free_port
from tests.support.waiting import wait_until


def test_fifty_hollow_nodes_run_pods_and_export_metrics(plane: ControlPlane) -> None:
    metrics_port = free_port()
    log = open(plane.root / "hollow.log", "ab")  # noqa: SIM115
    kubelet = subprocess.Popen([str(BIN / "python"), "-m", "skiff.daemons", "kubelet", "--server", plane.server,
                                "--runtime", "fake", "--nodes", "50", "--node-name", "hollow", "--root-dir",
                                str(plane.root / "hollow"), "--metrics-port", str(metrics_port)],
                               stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60  # one budget for the three waits below

        def ready_nodes() -> list[str]:
            nodes = json.loads(plane.ctl("get", "nodes", "-o", "json").stdout)["items"]
            return [n["metadata"]["name"] for n in nodes if any(
                c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]

        ready = wait_until(ready_nodes, until=lambda names: len(names) == 50, timeout=deadline - time.monotonic(),
                           interval=0.5, what="50 Ready hollow nodes")
        assert sorted(ready) == sorted(f"hollow-{i}" for i in range(50))
        pod = ("apiVersion: v1\nkind: Pod\nmetadata: {name: on-seven}\nspec:\n  nodeName: hollow-7\n"
               "  containers: [{name: app, image: pause, command: [sleep, '1']}]\n")
        plane.ctl("apply", "-f", "-", stdin=pod)
        wait_until(lambda: plane.ctl("get", "pod", "on-seven").stdout, until=lambda table: "Running" in table,
                   timeout=deadline - time.monotonic(), interval=0.3, what="pod on-seven to be Running")
        assert "Running" in plane.ctl("get", "pod", "on-seven").stdout
        text = wait_until(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode(),
            until=lambda metrics: 'kubelet_running_pods{node="hollow-7"} 1.0' in metrics,
            timeout=deadline - time.monotonic(), interval=0.3, what="the kubelet's metrics to count hollow-7's pod")
        assert 'kubelet_running_pods{node="hollow-7"} 1.0' in text
        for name in ("kubelet_running_containers", "kubelet_pod_start_duration_seconds", "kubelet_restart_count",
                     "kubelet_pod_worker_duration_seconds"):
            assert name in text, name
    finally:
        kubelet.terminate()
        try:
            kubelet.wait(20)
        except subprocess.TimeoutExpired as exc:
            kubelet.kill()
            kubelet.wait()
            tail = (plane.root / "hollow.log").read_text(errors="replace")[-8000:]
            message = f"the hollow kubelet did not stop within 20 s of SIGTERM; its log ends:\n{tail}"
            raise AssertionError(message) from exc
