"""The apiserver's Metrics service and ``skiffctl top`` over a real etcd and apiserver.

Each node's kubelet is a small in-test gRPC ``Kubelet`` servicer answering ``Stats`` with fixed
numbers, registered as the Node's kubelet endpoint; so ListNodeMetrics / ListPodMetrics and the
lines ``skiffctl top`` prints can be asserted exactly. n1 and n2 answer, n3 is Ready but its
kubelet's port is closed, n4 is not Ready.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from apiserver.server import metrics
from apiserver.server.app import APIServer
from skiff.api import errors
from skiff.api.v1 import core_pb2, node_pb2_grpc
from skiff.api.v1 import metrics_pb2 as pb
from skiff.client import metrics_api
from skiff.client.client import Client
from tests.support.cli import skiffctl
from tests.support.fake_kubelet import node_for, pod_with

STAMP = "2026-11-28T00:00:00Z"


class StatsKubelet(node_pb2_grpc.KubeletServicer):
    """A kubelet that only answers Stats, with whatever ``usage`` holds."""

    def __init__(self, usage: pb.NodeUsage) -> None:
        self.usage = usage
        self.asked: list[str | None] = []
        """The node each call named in its ``skiff-node-name`` metadata."""

    async def Stats(self, request: pb.StatsRequest, context: Any) -> pb.NodeUsage:
        self.asked.append(dict(context.invocation_metadata() or ()).get("skiff-node-name"))
        return self.usage


@dataclass
class Kubelet:
    servicer: StatsKubelet
    port: int


@pytest.fixture
async def kubelets() -> AsyncIterator[dict[str, Kubelet]]:
    servers, running = [], {}
    for name in ("n1", "n2"):
        servicer = StatsKubelet(pb.NodeUsage(node_name=name))
        server = grpc.aio.server()
        node_pb2_grpc.add_KubeletServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        running[name] = Kubelet(servicer, port)
    try:
        yield running
    finally:
        for server in servers:
            await server.stop(0)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _node(client: Client, name: str, port: int, *, ready: bool = True, cpu: str = "4", memory: str = "8Gi",
                labels: dict[str, str] | None = None) -> None:
    node = node_for(name, port)
    node.metadata.labels.update(labels or {})
    created = await client.create(node)
    created.status.CopyFrom(node.status)
    created.status.allocatable.update({"cpu": cpu, "memory": memory, "pods": "110"})
    created.status.capacity.update({"cpu": "8", "memory": "16Gi", "pods": "110"})
    created.status.conditions.add(type="Ready", status="True" if ready else "False",
                                  last_heartbeat_time=STAMP, last_transition_time=STAMP)
    await client.update_status(created)


async def _pod(client: Client, name: str, node: str, *containers: str, namespace: str = "default",
               labels: dict[str, str] | None = None) -> core_pb2.Pod:
    created = await client.create(pod_with(name, *containers, namespace=namespace, labels=labels))
    await client.bind(name, node, namespace=namespace)
    return created


def _container(name: str, cpu: int, memory: int) -> pb.ContainerUsage:
    return pb.ContainerUsage(name=name, cpu_nano_cores=cpu, memory_working_set_bytes=memory)


@dataclass
class Cluster:
    client: Client
    server: APIServer
    kubelets: dict[str, Kubelet]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@pytest.fixture
async def cluster(client: Client, server: APIServer, kubelets: dict[str, Kubelet]) -> Cluster:
    await _node(client, "n1", kubelets["n1"].port, labels={"zone": "a"})
    await _node(client, "n2", kubelets["n2"].port, cpu="2", memory="4Gi", labels={"zone": "b"})
    await _node(client, "n3", _closed_port(), labels={"zone": "a"})
    await _node(client, "n4", kubelets["n1"].port, ready=False)
    web = await _pod(client, "web", "n1", "app", "sidecar", labels={"app": "web"})
    await _pod(client, "db", "n2", "postgres", labels={"app": "db"})
    await _pod(client, "new", "n1", "c")
    await _pod(client, "lost", "n3", "c")
    await _pod(client, "dns", "n2", "coredns", namespace="kube-system")
    kubelets["n1"].servicer.usage = pb.NodeUsage(
        node_name="n1", timestamp=STAMP, window_seconds=10.0, cpu_nano_cores=329087452,
        memory_working_set_bytes=2814136320,
        pods=[pb.PodUsage(namespace="default", name="web", uid=web.metadata.uid,
                          containers=[_container("sidecar", 1000000, 3146240),
                                      _container("app", 12345678, 10485760)]),
              pb.PodUsage(namespace="default", name="new", uid="")])
    kubelets["n2"].servicer.usage = pb.NodeUsage(
        node_name="n2", timestamp=STAMP, window_seconds=20.064, cpu_nano_cores=1500000000,
        memory_working_set_bytes=524288000,
        pods=[pb.PodUsage(namespace="default", name="db", containers=[_container("postgres", 200000000, 104857600)]),
              pb.PodUsage(namespace="kube-system", name="dns", containers=[_container("coredns", 3000000, 20971520)])])
    return Cluster(client, server, kubelets)


def _requests(verb: str, resource: str, code: str) -> float:
    return float(metrics.REQUESTS.labels(verb, resource, code)._value.get())


# ---- the API

async def test_node_metrics_of_ready_nodes_that_answer(cluster: Cluster) -> None:
    before = _requests("LIST", "nodes.metrics.k8s.io", "200")
    items = await metrics_api.node_metrics(cluster.client)
    assert [(m.name, dict(m.labels), m.timestamp, m.window, dict(m.usage)) for m in items] == [
        ("n1", {"zone": "a"}, STAMP, "10s", {"cpu": "329087452n", "memory": "2748180Ki"}),
        ("n2", {"zone": "b"}, STAMP, "20.064s", {"cpu": "1500m", "memory": "500Mi"}),
    ]
    assert _requests("LIST", "nodes.metrics.k8s.io", "200") == before + 1
    # n4 shares n1's kubelet port but is not Ready: it is not asked
    assert (cluster.kubelets["n1"].servicer.asked, cluster.kubelets["n2"].servicer.asked) == (["n1"], ["n2"])
    assert [m.name for m in await metrics_api.node_metrics(cluster.client, label_selector="zone=a")] == ["n1"]
    one = await metrics_api.node_metrics(cluster.client, "n2")
    assert [m.name for m in one] == ["n2"]
    assert _requests("GET", "nodes.metrics.k8s.io", "200") >= 1


async def test_named_node_without_metrics_is_not_found(cluster: Cluster) -> None:
    for name in ("n3", "n4"):  # kubelet unreachable; not Ready
        with pytest.raises(errors.NotFound) as caught:
            await metrics_api.node_metrics(cluster.client, name)
        assert str(caught.value) == f'nodemetrics.metrics.k8s.io "{name}" not found'
    with pytest.raises(errors.NotFound) as caught:
        await metrics_api.node_metrics(cluster.client, "nope")
    assert str(caught.value) == 'nodes "nope" not found'
    assert _requests("GET", "nodes.metrics.k8s.io", "404") >= 3


async def test_pod_metrics_with_selectors(cluster: Cluster) -> None:
    items = await metrics_api.pod_metrics(cluster.client, "default")
    assert [(m.namespace, m.name, m.timestamp, m.window, dict(m.labels),
             [(c.name, dict(c.usage)) for c in m.containers]) for m in items] == [
        ("default", "db", STAMP, "20.064s", {"app": "db"}, [("postgres", {"cpu": "200m", "memory": "100Mi"})]),
        ("default", "web", STAMP, "10s", {"app": "web"},
         [("sidecar", {"cpu": "1m", "memory": "3146240"}), ("app", {"cpu": "12345678n", "memory": "10Mi"})]),
    ]
    every = await metrics_api.pod_metrics(cluster.client, "")
    assert [(m.namespace, m.name) for m in every] == [("default", "db"), ("default", "web"), ("kube-system", "dns")]
    by_label = await metrics_api.pod_metrics(cluster.client, "default", label_selector="app=web")
    assert [m.name for m in by_label] == ["web"]
    by_field = await metrics_api.pod_metrics(cluster.client, "", field_selector="spec.nodeName=n2")
    assert [m.name for m in by_field] == ["db", "dns"]
    assert [m.name for m in await metrics_api.pod_metrics(cluster.client, "default", "web")] == ["web"]
    assert _requests("LIST", "pods.metrics.k8s.io", "200") >= 4


async def test_named_pod_without_metrics_is_not_found(cluster: Cluster) -> None:
    for name in ("new", "lost"):  # no containers reported yet; its kubelet is unreachable
        with pytest.raises(errors.NotFound) as caught:
            await metrics_api.pod_metrics(cluster.client, "default", name)
        assert str(caught.value) == f'podmetrics.metrics.k8s.io "default/{name}" not found'
    with pytest.raises(errors.NotFound) as caught:
        await metrics_api.pod_metrics(cluster.client, "default", "nope")
    assert str(caught.value) == 'pods "nope" not found'
    assert _requests("GET", "pods.metrics.k8s.io", "404") >= 3


async def test_a_stale_uid_is_not_the_pod(cluster: Cluster) -> None:
    usage = cluster.kubelets["n1"].servicer.usage
    usage.pods[0].uid = "someone-else"
    assert [m.name for m in await metrics_api.pod_metrics(cluster.client, "default")] == ["db"]


# ---- skiffctl top

async def _top(cluster: Cluster, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(skiffctl, ["-s", cluster.address, "top", *args], capsys)


async def test_top_node(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _top(cluster, capsys, "node") == (0, (
        "NAME   CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   \n"
        "n1     330m         8%          2683Mi          32%         \n"
        "n2     1500m        75%         500Mi           12%         \n"
        "n3     <unknown>    <unknown>   <unknown>       <unknown>   \n"
        "n4     <unknown>    <unknown>   <unknown>       <unknown>   \n"), "")
    assert await _top(cluster, capsys, "nodes", "--sort-by=cpu", "--no-headers", "-l", "zone=b") == (0, (
        "n2    1500m   75%   500Mi   12%   \n"), "")
    assert await _top(cluster, capsys, "no", "n1", "--show-capacity") == (0, (
        "NAME   CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   \n"
        "n1     330m         4%       2683Mi          16%         \n"), "")
    assert await _top(cluster, capsys, "node", "n3") == (
        1, "", 'Error from server (NotFound): nodemetrics.metrics.k8s.io "n3" not found\n')
    assert await _top(cluster, capsys, "node", "-l", "zone=c") == (1, "", "error: metrics not available yet\n")
    assert await _top(cluster, capsys, "node", "--sort-by=name") == (
        1, "", "error: --sort-by accepts only cpu or memory\n")
    assert await _top(cluster, capsys, "node", "n1", "-l", "zone=a") == (
        1, "", "error: only one of NAME or --selector can be provided\n")


async def test_top_pod(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _top(cluster, capsys, "pod") == (0, (
        "NAME   CPU(cores)   MEMORY(bytes)   \n"
        "db     200m         100Mi           \n"
        "web    14m          13Mi            \n"), "")
    assert await _top(cluster, capsys, "pods", "-A", "--sort-by=memory") == (0, (
        "NAMESPACE     NAME   CPU(cores)   MEMORY(bytes)   \n"
        "default       db     200m         100Mi           \n"
        "kube-system   dns    3m           20Mi            \n"
        "default       web    14m          13Mi            \n"), "")
    assert await _top(cluster, capsys, "po", "web", "--containers") == (0, (
        "POD   NAME      CPU(cores)   MEMORY(bytes)   \n"
        "web   app       13m          10Mi            \n"
        "web   sidecar   1m           3Mi             \n"), "")
    assert await _top(cluster, capsys, "pod", "--sum", "--field-selector", "spec.nodeName=n1") == (0, (
        "NAME   CPU(cores)   MEMORY(bytes)   \n"
        "web    14m          13Mi            \n"
        "       ________     ________        \n"
        "       14m          13Mi            \n"), "")
    assert await _top(cluster, capsys, "pod", "-l", "app=nothing") == (
        0, "", "No resources found in default namespace.\n")
    assert await _top(cluster, capsys, "pod", "-l", "app=nothing", "-n", "kube-system") == (
        0, "", "No resources found in kube-system namespace.\n")
    assert await _top(cluster, capsys, "pod", "--field-selector", "metadata.name=new") == (
        1, "", "error: metrics not available yet\n")
    assert await _top(cluster, capsys, "pod", "new") == (
        1, "", 'Error from server (NotFound): podmetrics.metrics.k8s.io "default/new" not found\n')
    assert await _top(cluster, capsys, "pod", "web", "-l", "app=web") == (
        1, "", "error: only one of NAME or selector can be provided\n")


async def test_top_without_the_metrics_api(kubelets: dict[str, Kubelet], capsys: pytest.CaptureFixture[str]) -> None:
    # a gRPC server without the Metrics service: a kubelet's port
    address = f"127.0.0.1:{kubelets['n1'].port}"
    for kind in ("node", "pod"):
        result = await asyncio.to_thread(skiffctl, ["-s", address, "top", kind], capsys)
        assert result == (1, "", "error: Metrics API not available\n")
