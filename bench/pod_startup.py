"""Pod startup latency, as Kubernetes' SLO measures it: from the pod's creation to all of its
containers running, observed through a watch — p50 and p99 over 100 pods on 2 nodes, for each
runtime (process, docker, fake).

Each run starts etcd, the apiserver, the scheduler and two kubelets as processes; pods are created
at a steady rate the slowest runtime sustains here (default 2/s: like Kubernetes' density test,
which measures startup latency on pods created slowly after the saturation phase, so the figure
is latency, not queueing — one Docker engine on 2 cores starts about 4 containers a second, and
at 10 pods/s docker pods queue for seconds; try ``--rate 10`` to see it), and the latency of a pod
is the time between its creation timestamp (taken by this process when Create returns) and the
first watch event showing every container running. The baseline in the same run is the fake
runtime, where "starting a container" costs nothing: the difference is the runtime's own cost.
The bar for skiff: p99 under 2 s with docker, under 1 s with the process runtime (Kubernetes'
SLO is 5 s). Nothing fails on time; the last line is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api_create import percentile  # noqa: E402 - one nearest-rank percentile for every bench
from skiff.api.v1 import core_pb2  # noqa: E402
from skiff.client.client import Client  # noqa: E402
from tests.support.processes import BIN, ControlPlane, free_port  # noqa: E402
from tests.support.runtime_cleanup import purge  # noqa: E402


def make_pod(i: int) -> core_pb2.Pod:
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace = f"start-{i:04d}", "default"
    pod.metadata.labels["app"] = "startup"
    c = pod.spec.containers.add(name="app", image="busybox:latest", image_pull_policy="IfNotPresent")
    c.command.extend(["busybox", "sleep", "3600"])
    pod.spec.termination_grace_period_seconds = 1
    return pod


def _running(pod: core_pb2.Pod) -> bool:
    statuses = pod.status.container_statuses
    return bool(statuses) and all(s.state.HasField("running") for s in statuses)


async def measure(runtime: str, pods: int, rate: float, timeout: float) -> dict[str, float]:
    plane = ControlPlane()
    plane.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        log = open(plane.root / "components.log", "ab")  # noqa: SIM115
        procs.append(subprocess.Popen([str(BIN / "python"), "-m", "skiff.daemons", "scheduler", "--server",
                                       plane.server, "--leader-elect=false"], stdout=log, stderr=log))
        for n in range(2):
            procs.append(subprocess.Popen(
                [str(BIN / "python"), "-m", "skiff.daemons", "kubelet", "--server", plane.server, "--runtime",
                 runtime, "--node-name", f"bench-{runtime}-{n}", "--root-dir", str(plane.root / f"kubelet-{n}"),
                 "--port", str(free_port()), "--capacity", "cpu=32,memory=64Gi,pods=200",
                 "--cluster-dns", "10.96.0.10", "--cluster-domain", "cluster.local"], stdout=log, stderr=log))
        async with Client(plane.server, timeout=60) as client:
            await _wait_nodes(client, 2)
            created: dict[str, float] = {}
            running: dict[str, float] = {}
            watcher = asyncio.create_task(_watch(client, running, pods))
            for i in range(pods):
                pod = make_pod(i)
                await client.create(pod)
                created[pod.metadata.name] = time.monotonic()
                await asyncio.sleep(1 / rate)
            try:
                await asyncio.wait_for(watcher, timeout)
            except TimeoutError:
                pass
        latencies = [running[n] - created[n] for n in created if n in running]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for n in range(2):  # containers outlive their kubelet (adoption): remove them
            purge(runtime, plane.root / f"kubelet-{n}", f"bench-{runtime}-{n}")
        plane.stop()
    return {"runtime": runtime, "pods": pods, "started": len(latencies),
            "p50_s": round(percentile(sorted(latencies), 50), 3), "p99_s": round(percentile(sorted(latencies), 99), 3),
            "mean_s": round(statistics.mean(latencies), 3) if latencies else 0.0}


async def _wait_nodes(client: Client, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        nodes = (await client.list(core_pb2.Node)).items
        ready = [n for n in nodes if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)]
        if len(ready) >= count:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the kubelets did not register")


async def _watch(client: Client, running: dict[str, float], total: int) -> None:
    listed = await client.list(core_pb2.Pod, namespace="default", label_selector="app=startup")
    async for event in client.watch(core_pb2.Pod, namespace="default", label_selector="app=startup",
                                    resource_version=listed.resource_version):
        name = event.object.metadata.name
        if name not in running and _running(event.object):
            running[name] = time.monotonic()
            if len(running) >= total:
                return


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--runtimes", default="fake,process,docker")
    p.add_argument("--pods", type=int, default=100)
    p.add_argument("--rate", type=float, default=2.0, help="pods created per second (default 2)")
    p.add_argument("--timeout", type=float, default=120.0)
    a = p.parse_args()
    results = []
    for runtime in a.runtimes.split(","):
        if runtime == "docker" and (shutil.which("docker") is None or subprocess.run(
                ["docker", "image", "inspect", "busybox:latest"], capture_output=True).returncode != 0):
            print("docker: skipped (no engine or no busybox:latest image; run tools/ensure-docker.sh)", flush=True)
            continue
        r = asyncio.run(measure(runtime, a.pods, a.rate, a.timeout))
        results.append(r)
        print(f"{runtime:8s} {r['started']}/{r['pods']} pods running: p50 {r['p50_s']} s, p99 {r['p99_s']} s "
              f"(mean {r['mean_s']} s)", flush=True)
    figures = {r["runtime"]: {"p50_s": r["p50_s"], "p99_s": r["p99_s"], "started": r["started"]} for r in results}
    print(json.dumps({"bench": "pod_startup", "pods": a.pods, "nodes": 2, "rate_per_s": a.rate, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
