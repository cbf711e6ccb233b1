"""The Metrics gRPC service: metrics.k8s.io's NodeMetrics and PodMetrics, what ``skiffctl top`` shows.

In Kubernetes metrics-server scrapes the kubelets and serves the metrics.k8s.io API; here the
apiserver does it itself, per request, from the ``Kubelet.Stats`` of each node (metrics.proto):

- **ListNodeMetrics** reads the Nodes (one by name — ``nodes "x" not found`` when there is none —
  or all matching the label selector, from the watch cache), asks the kubelet of every Ready one
  for its Stats at once with a short deadline (``STATS_TIMEOUT``; the node is named in the
  ``skiff-node-name`` metadata, for a kubelet process serving several nodes), and answers one
  NodeMetrics per node that answered: the node's labels, the sample's timestamp, its window as a Go duration
  (``10s``) and ``usage`` as metrics-server writes the quantities — CPU as nanocores in the
  canonical DecimalSI form (``12345678n``, ``12m`` when it is a whole number of millicores) and
  memory as the working set in bytes in the canonical BinarySI form (``2748180Ki``). A node that
  is not Ready, has no address, or does not answer in time is left out, as metrics-server leaves
  out a node it could not scrape; asked by name, that is ``nodemetrics.metrics.k8s.io "x" not
  found``.
- **ListPodMetrics** reads the pods as List does (namespace, label and field selectors, from the
  watch cache; one by name — ``pods "x" not found`` when there is none), asks the kubelets of the
  Ready nodes they are bound to, and answers one PodMetrics per pod whose kubelet reported
  containers for it (same namespace, name and UID); a pod with none reported yet is left out, and
  asked by name is ``podmetrics.metrics.k8s.io "ns/x" not found`` (metrics-server's wording).

Items come sorted by name (pods by namespace, then name), as metrics-server sorts them. Each call
is counted in ``apiserver_request_total`` like the other verbs, through PodProxy's boundary:
``LIST`` (or ``GET`` for one name) of ``nodes.metrics.k8s.io`` / ``pods.metrics.k8s.io`` — the
resources' group-qualified names, as kube-apiserver labels the metrics.k8s.io group's requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import grpc

from apiserver.registry.api import Registry
from apiserver.server.podproxy import boundary, kubelet_endpoint
from skiff.api import errors
from skiff.api.metrics import NODE_METADATA_KEY
from skiff.api.quantity import Format, Quantity
from skiff.api.timestamps import go_duration
from skiff.api.v1 import core_pb2, metrics_pb2_grpc, node_pb2_grpc
from skiff.api.v1 import metrics_pb2 as pb

log = logging.getLogger("skiff.apiserver")

STATS_TIMEOUT = 3.0
"""Seconds a kubelet has to answer Stats before its node is left out of the answer."""
NODE_METRICS = "nodes.metrics.k8s.io"
POD_METRICS = "pods.metrics.k8s.io"
"""Names the node a Stats call asks about, for a kubelet process that serves several nodes."""


def cpu_quantity(nano_cores: int) -> str:
    """metrics-server's CPU usage: nanocores as a DecimalSI quantity at scale -9 (``12345678n``)."""
    return Quantity(nano_cores, -9, Format.DECIMAL_SI).canonical()


def memory_quantity(working_set_bytes: int) -> str:
    """metrics-server's memory usage: bytes as a BinarySI quantity (``2748180Ki``, ``512``)."""
    return Quantity.from_int(working_set_bytes, Format.BINARY_SI).canonical()


def usage(cpu_nano_cores: int, memory_working_set_bytes: int) -> dict[str, str]:
    return {"cpu": cpu_quantity(cpu_nano_cores), "memory": memory_quantity(memory_working_set_bytes)}


def window(seconds: float) -> str:
    """The sample window as a Go duration (metav1.Duration's JSON form): ``10s``, ``20.064s``."""
    return go_duration(round(seconds * 1e9))


def is_ready(node: core_pb2.Node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def node_metrics(node: core_pb2.Node, stats: pb.NodeUsage) -> pb.NodeMetrics:
    return pb.NodeMetrics(name=node.metadata.name, labels=dict(node.metadata.labels), timestamp=stats.timestamp,
                          window=window(stats.window_seconds),
                          usage=usage(stats.cpu_nano_cores, stats.memory_working_set_bytes))


def pod_metrics(pod: core_pb2.Pod, stats: pb.NodeUsage, reported: pb.PodUsage) -> pb.PodMetrics:
    item = pb.PodMetrics(namespace=pod.metadata.namespace, name=pod.metadata.name, labels=dict(pod.metadata.labels),
                         timestamp=stats.timestamp, window=window(stats.window_seconds))
    for container in reported.containers:
        item.containers.add(name=container.name,
                            usage=usage(container.cpu_nano_cores, container.memory_working_set_bytes))
    return item


class MetricsServicer(metrics_pb2_grpc.MetricsServicer):
    """Serves ListNodeMetrics and ListPodMetrics from the kubelets' Stats."""

    def __init__(self, registry: Registry, *, timeout: float = STATS_TIMEOUT) -> None:
        self.registry = registry
        self.timeout = timeout

    async def ListNodeMetrics(self, request: pb.NodeMetricsRequest, context: Any) -> pb.NodeMetricsList:
        response = pb.NodeMetricsList()
        async with boundary("GET" if request.name else "LIST", NODE_METRICS, context):
            nodes = self.registry.store("nodes")
            if request.name:
                found = [await nodes.get("", request.name)]
            else:
                found = (await nodes.list("", label_selector=request.label_selector)).items
            listed = [n for n in found if isinstance(n, core_pb2.Node)]
            stats = await self.stats(listed)
            for node in sorted(listed, key=lambda n: n.metadata.name):
                if node.metadata.name in stats:
                    response.items.append(node_metrics(node, stats[node.metadata.name]))
            if request.name and not response.items:
                raise errors.NotFound(f'nodemetrics.metrics.k8s.io "{request.name}" not found')
        return response

    async def ListPodMetrics(self, request: pb.PodMetricsRequest, context: Any) -> pb.PodMetricsList:
        response = pb.PodMetricsList()
        async with boundary("GET" if request.name else "LIST", POD_METRICS, context):
            store = self.registry.store("pods")
            namespace = request.namespace or ("default" if request.name else "")
            if request.name:
                found = [await store.get(namespace, request.name)]
            else:
                found = (await store.list(namespace, label_selector=request.label_selector,
                                          field_selector=request.field_selector)).items
            pods = [p for p in found if isinstance(p, core_pb2.Pod) and p.spec.node_name]
            wanted = {p.spec.node_name for p in pods}
            all_nodes = (await self.registry.store("nodes").list("", resource_version="0")).items
            stats = await self.stats(n for n in all_nodes
                                     if isinstance(n, core_pb2.Node) and n.metadata.name in wanted)
            reported = {(p.namespace, p.name): (node, p) for node, s in stats.items() for p in s.pods}
            for pod in sorted(pods, key=lambda p: (p.metadata.namespace, p.metadata.name)):
                node_name, usage_of = reported.get((pod.metadata.namespace, pod.metadata.name), ("", None))
                if (usage_of is None or not usage_of.containers or node_name != pod.spec.node_name
                        or (usage_of.uid and usage_of.uid != pod.metadata.uid)):
                    continue
                response.items.append(pod_metrics(pod, stats[node_name], usage_of))
            if request.name and not response.items:
                raise errors.NotFound(f'podmetrics.metrics.k8s.io "{namespace}/{request.name}" not found')
        return response

    async def stats(self, nodes: Iterable[core_pb2.Node]) -> dict[str, pb.NodeUsage]:
        """The Stats of every Ready node's kubelet that answers within the deadline, by node name."""
        ready = [n for n in nodes if is_ready(n)]
        answers = await asyncio.gather(*(self._node_stats(n) for n in ready))
        return {n.metadata.name: a for n, a in zip(ready, answers, strict=True) if a is not None}

    async def _node_stats(self, node: core_pb2.Node) -> pb.NodeUsage | None:
        name = node.metadata.name
        try:
            endpoint = kubelet_endpoint(node)
        except errors.StatusError as exc:
            log.info("no metrics for node %s: %s", name, exc)
            return None
        try:
            async with grpc.aio.insecure_channel(endpoint) as channel:
                answer: pb.NodeUsage = await node_pb2_grpc.KubeletStub(channel).Stats(
                    pb.StatsRequest(), timeout=self.timeout, metadata=((NODE_METADATA_KEY, name),))
                return answer
        except grpc.aio.AioRpcError as exc:
            log.info("no metrics for node %s: the kubelet at %s answered %s: %s", name, endpoint,
                     exc.code().name, exc.details())
            return None
