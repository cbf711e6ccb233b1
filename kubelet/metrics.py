"""The kubelet's Prometheus metrics, with Kubernetes' names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from kubelet.stats import StatsSampler

RUNNING_PODS = Gauge("kubelet_running_pods", "Number of pods that have a running pod sandbox", ["node"])
RUNNING_CONTAINERS = Gauge("kubelet_running_containers", "Number of containers currently running",
                           ["node", "container_state"])
POD_START_DURATION = Histogram("kubelet_pod_start_duration_seconds",
                               "Duration in seconds from kubelet seeing a pod for the first time to the pod "
                               "starting to run", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30,
                                                           45, 60, 120, 300, 600))
POD_WORKER_DURATION = Histogram("kubelet_pod_worker_duration_seconds",
                                "Duration in seconds to sync a single pod.", ["operation"])
CONTAINER_RESTARTS = Counter("kubelet_restart_count", "Containers restarted by the kubelet (crash loops, "
                             "liveness failures)")


class ResourceMetrics(Collector):
    """Kubernetes' ``/metrics/resource``, read at scrape time from each node's latest usage sample
    (:mod:`kubelet.stats`): a container's series lasts as long as it runs. With ``--nodes N`` one
    process serves every node, so the node series carry a ``node`` label."""

    def __init__(self) -> None:
        self.samplers: list[StatsSampler] = []

    def add(self, sampler: StatsSampler) -> None:
        if sampler not in self.samplers:
            self.samplers.append(sampler)

    def discard(self, sampler: StatsSampler) -> None:
        if sampler in self.samplers:
            self.samplers.remove(sampler)

    def collect(self) -> Iterator[Metric]:
        container_cpu = CounterMetricFamily("container_cpu_usage_seconds_total",
                                            "Cumulative cpu time consumed by the container in core-seconds",
                                            labels=["container", "pod", "namespace"])
        container_memory = GaugeMetricFamily("container_memory_working_set_bytes",
                                             "Current working set of the container in bytes",
                                             labels=["container", "pod", "namespace"])
        node_cpu = CounterMetricFamily("node_cpu_usage_seconds_total",
                                       "Cumulative cpu time consumed by the node in core-seconds", labels=["node"])
        node_memory = GaugeMetricFamily("node_memory_working_set_bytes", "Current working set of the node in bytes",
                                        labels=["node"])
        for sampler in list(self.samplers):
            sample = sampler.latest
            if sample is None:
                continue
            pods = {p.uid: p for p in sample.pods}
            for c in sample.containers.values():
                pod = pods.get(c.pod_uid)
                if pod is None:
                    continue
                labels = [c.name, pod.name, pod.namespace]
                container_cpu.add_metric(labels, c.cpu_seconds, timestamp=sample.at)
                container_memory.add_metric(labels, c.memory_bytes, timestamp=sample.at)
            if sample.node_memory_bytes is not None:
                if sample.node_cpu_seconds is not None:
                    node_cpu.add_metric([sampler.node_name], sample.node_cpu_seconds, timestamp=sample.at)
                node_memory.add_metric([sampler.node_name], sample.node_memory_bytes, timestamp=sample.at)
            else:  # a hollow node: the sum of its pods
                node_cpu.add_metric([sampler.node_name], sum(c.cpu_seconds for c in sample.containers.values()),
                                    timestamp=sample.at)
                node_memory.add_metric([sampler.node_name], sum(c.memory_bytes for c in sample.containers.values()),
                                       timestamp=sample.at)
        yield from (container_cpu, container_memory, node_cpu, node_memory)


RESOURCE_METRICS = ResourceMetrics()
REGISTRY.register(RESOURCE_METRICS)
