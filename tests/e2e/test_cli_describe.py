"""``skiffctl describe`` against a real apiserver: objects made with skiffctl, their status and
Events written through the API (no controllers or kubelets run here), and the text a person
reads checked line by line — including that an object's Events section shows its own events and
nobody else's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from skiff.api import codec
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client
from tests.support.processes import ControlPlane

T = TypeVar("T")

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web}}
spec:
  containers:
  - {name: nginx, image: "nginx:1.25", ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, labels: {app: web}}
spec:
  containers:
  - {name: nginx, image: "nginx:1.25"}
"""

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: "nginx:1.25"}
"""


def with_client(plane: ControlPlane, action: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        async with Client(plane.server) as client:
            return await action(client)

    return asyncio.run(go())


def event_for(obj: Any, name: str, reason: str, message: str, *, uid: str | None = None,
              type_: str = "Normal") -> core_pb2.Event:
    meta = obj.metadata
    return codec.from_dict(core_pb2.Event, {
        "metadata": {"name": name, "namespace": meta.namespace or "default"},
        "involvedObject": {"kind": obj.kind or type(obj).__name__, "name": meta.name, "namespace": meta.namespace,
                           "uid": meta.uid if uid is None else uid},
        "reason": reason, "message": message, "type": type_, "count": 1,
        "firstTimestamp": meta.creation_timestamp, "lastTimestamp": meta.creation_timestamp,
        "source": {"component": "default-scheduler"}})


async def _running_pod_with_events(client: Client, namespace: str) -> None:
    pod = await client.get(core_pb2.Pod, "web-1", namespace=namespace)
    pod.status.MergeFrom(codec.from_dict(core_pb2.PodStatus, {
        "phase": "Running", "podIP": "10.244.0.7", "podIPs": [{"ip": "10.244.0.7"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "nginx", "ready": True, "restartCount": 1, "image": "nginx:1.25",
                               "state": {"running": {"startedAt": pod.metadata.creation_timestamp}}}]}))
    await client.update_status(pod)
    other = await client.get(core_pb2.Pod, "web-2", namespace=namespace)
    await client.create(event_for(pod, "web-1.a", "Scheduled", f"Successfully assigned {namespace}/web-1 to n1"))
    await client.create(event_for(pod, "web-1.b", "BackOff", "Back-off restarting failed container",
                                  type_="Warning"))
    await client.create(event_for(pod, "web-1.old", "Killing", "from an earlier web-1", uid="an-older-uid"))
    await client.create(event_for(other, "web-2.a", "Pulled", "about web-2 only"))


def test_describe_pod_with_status_and_its_own_events(plane: ControlPlane, ns: str) -> None:
    plane.ctl("apply", "-f", "-", "-n", ns, stdin=PODS)
    with_client(plane, lambda c: _running_pod_with_events(c, ns))
    out = plane.ctl("describe", "pod", "web-1", "-n", ns).stdout.splitlines()
    for expected in ["Name:             web-1", f"Namespace:        {ns}", "Labels:           app=web",
                     "Status:           Running", "IP:               10.244.0.7", "    Image:          nginx:1.25",
                     "    Port:           80/TCP", "    State:          Running", "    Ready:          True",
                     "    Restart Count:  1", "Conditions:", "Events:"]:
        assert expected in out, expected
    assert out[out.index("Conditions:") + 2].split() == ["Ready", "True"]
    table = out[out.index("Events:") + 1:]
    assert table[0].split() == ["Type", "Reason", "Age", "From", "Message"]
    rows = [row.split(None, 4) for row in table[2:]]
    assert sorted((r[0], r[1]) for r in rows) == [("Normal", "Scheduled"), ("Warning", "BackOff")]
    assert all(r[3] == "default-scheduler" for r in rows)
    assert "about web-2 only" not in "\n".join(out) and "an earlier web-1" not in "\n".join(out)


def test_describe_forms_and_errors(plane: ControlPlane, ns: str) -> None:
    plane.ctl("apply", "-f", "-", "-n", ns, stdin=PODS)
    by_prefix = plane.ctl("describe", "pods", "web", "-n", ns).stdout
    assert "Name:             web-1" in by_prefix and "Name:             web-2" in by_prefix
    assert "Events:           <none>\n\n\nName:             web-2" in by_prefix
    by_slash = plane.ctl("describe", "pod/web-2", "-n", ns).stdout
    assert by_slash.startswith("Name:             web-2\n") and "web-1" not in by_slash
    everything = plane.ctl("describe", "pods", "-n", ns).stdout
    assert everything.count("\nName:") + everything.startswith("Name:") == 2
    missing = plane.ctl("describe", "pod", "nope", "-n", ns, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'
    empty = plane.ctl("describe", "deployments", "-n", ns)
    assert empty.stdout == "" and empty.stderr.strip() == f"No resources found in {ns} namespace."


async def _deployment_event(client: Client, namespace: str) -> None:
    d = await client.get(apps_pb2.Deployment, "web", namespace=namespace)
    await client.create(event_for(d, "web.1", "ScalingReplicaSet", "Scaled up replica set web-5d to 3"))


def test_describe_deployment_by_selector(plane: ControlPlane, ns: str) -> None:
    plane.ctl("apply", "-f", "-", "-n", ns, stdin=DEPLOYMENT)
    with_client(plane, lambda c: _deployment_event(c, ns))
    out = plane.ctl("describe", "deploy", "-l", "app=web", "-n", ns).stdout.splitlines()
    assert "Replicas:               3 desired | 0 updated | 0 total | 0 available | 0 unavailable" in out
    assert "StrategyType:           RollingUpdate" in out
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in out
    assert "NewReplicaSet:     <none>" in out
    assert out[-1].split(None, 4)[1:] == ["ScalingReplicaSet", out[-1].split(None, 4)[2], "default-scheduler",
                                          "Scaled up replica set web-5d to 3"]
    assert plane.ctl("describe", "deploy", "-l", "app=other", "-n", ns).stderr.strip() == (
        f"No resources found in {ns} namespace.")


SERVICE_AND_SECRET = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web}
subsets:
- addresses: [{ip: 10.244.0.5}, {ip: 10.244.0.6}]
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Secret
metadata: {name: db}
type: Opaque
data: {password: czNjcjN0IQ==}
"""


def test_describe_service_and_secret(plane: ControlPlane, ns: str) -> None:
    plane.ctl("apply", "-f", "-", "-n", ns, stdin=SERVICE_AND_SECRET)
    svc = plane.ctl("describe", "svc", "web", "-n", ns).stdout.splitlines()
    assert any(line.split() == ["Port:", "http", "80/TCP"] for line in svc)
    assert any(line.split() == ["TargetPort:", "8080/TCP"] for line in svc)
    assert any(line.split() == ["Endpoints:", "10.244.0.5:8080,10.244.0.6:8080"] for line in svc)
    assert any(line.split() == ["Type:", "ClusterIP"] for line in svc)
    secret = plane.ctl("describe", "secret", "db", "-n", ns).stdout
    assert "password:  7 bytes" in secret.splitlines()
    assert "s3cr3t" not in secret and "czNjcjN0" not in secret
    from_file = plane.ctl("describe", "-f", "-", "-n", ns, stdin=SERVICE_AND_SECRET).stdout
    assert [line.split()[1] for line in from_file.splitlines() if line.startswith("Name:")] == ["web", "web", "db"]


def test_describe_node_lists_its_pods(plane: ControlPlane, ns: str) -> None:
    node = f"node-{ns}"
    plane.ctl("apply", "-f", "-", stdin=f"""
apiVersion: v1
kind: Node
metadata: {{name: {node}, labels: {{node-role.kubernetes.io/worker: ""}}}}
spec:
  taints: [{{key: dedicated, value: gpu, effect: NoSchedule}}]
""")
    plane.ctl("apply", "-f", "-", "-n", ns, stdin=f"""
apiVersion: v1
kind: Pod
metadata: {{name: on-node}}
spec:
  nodeName: {node}
  containers:
  - name: c
    image: busybox:latest
    resources: {{requests: {{cpu: 250m, memory: 64Mi}}}}
""")
    try:
        out = plane.ctl("describe", "node", node).stdout.splitlines()
    finally:
        plane.ctl("delete", "node", node)
    assert any(line.split() == ["Roles:", "worker"] for line in out)
    assert any(line.split() == ["Taints:", "dedicated=gpu:NoSchedule"] for line in out)
    assert any(line.split() == ["Non-terminated", "Pods:", "(1", "in", "total)"] for line in out)
    assert any(line.split()[:3] == [ns, "on-node", "250m"] for line in out)
