"""Resource usage sampling: what ``Kubelet.Stats`` answers (``skiffctl top``) and the resource metrics.

Every ``period`` seconds (10 s by default, as the kubelet's housekeeping) the sampler asks the
runtime for the usage of every running container of the pods bound to its node, and measures the
node itself. A sample holds cumulative CPU time and the memory working set; the sampler keeps the
last two, and :func:`node_usage` turns them into a ``NodeUsage``: CPU as a rate over the window
between them (nanocores = CPU seconds used / window seconds × 1e9, rounded), memory as the latest
working set. A container that has no earlier sample (it just started, or restarted: a new
container id) has no rate yet and is left out until the next window; before a first window the
pods are listed without containers and the node without CPU, rather than with made-up numbers.

The node's own usage depends on the runtime. For the process and docker runtimes it is the host's:
CPU time from ``/proc/stat`` (every state but idle and iowait) and ``MemTotal - MemAvailable`` from
``/proc/meminfo`` as the working set. For the fake runtime (``--nodes N`` hollow nodes sharing one
machine) it is the sum of the node's pods, so hollow nodes do not all report the host.

The samples also feed the Prometheus resource metrics of :mod:`kubelet.metrics` (Kubernetes'
``/metrics/resource`` names), read at scrape time from each sampler's latest sample, so a
container's series goes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kubelet.metrics import RESOURCE_METRICS
from kubelet.runtime.interface import ContainerRuntime, State
from skiff.api.v1 import core_pb2
from skiff.api.v1 import metrics_pb2 as mpb

log = logging.getLogger("skiff.kubelet")

DEFAULT_PERIOD_S = 10.0
IDLE_FIELDS = (3, 4)
"""Of /proc/stat's ``cpu`` line (user nice system idle iowait irq softirq steal guest guest_nice):
idle and iowait. guest and guest_nice are already counted in user and nice."""


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class ContainerSample:
    pod_uid: str
    name: str
    cpu_seconds: float
    memory_bytes: int


@dataclass(frozen=True)
class Sample:
    """One look at the node: wall time, the node's usage (None: summed from its pods), its pods
    and their running containers by container id."""

    at: float
    pods: list[PodRef]
    containers: dict[str, ContainerSample] = field(default_factory=dict)
    node_cpu_seconds: float | None = None
    node_memory_bytes: int | None = None


def rate_nano_cores(before: float, after: float, window: float) -> int:
    """CPU seconds used between two cumulative readings, as billionths of a core over ``window``
    (0 for an empty window or a counter that went back)."""
    if window <= 0 or after <= before:
        return 0
    return round((after - before) / window * 1e9)


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_rates(previous: Sample | None, latest: Sample) -> dict[str, int]:
    """Nanocores of each container of ``latest`` that ``previous`` also saw, by container id."""
    if previous is None:
        return {}
    window = latest.at - previous.at
    return {cid: rate_nano_cores(previous.containers[cid].cpu_seconds, c.cpu_seconds, window)
            for cid, c in latest.containers.items() if cid in previous.containers}


def node_usage(node_name: str, previous: Sample | None, latest: Sample | None) -> mpb.NodeUsage:
    """The NodeUsage of the window between two samples (see the module docstring)."""
    usage = mpb.NodeUsage(node_name=node_name)
    if latest is None:
        return usage
    usage.timestamp = rfc3339(latest.at)
    rates = container_rates(previous, latest)
    if previous is not None:
        usage.window_seconds = latest.at - previous.at
    by_pod: dict[str, list[mpb.ContainerUsage]] = {}
    for cid, c in sorted(latest.containers.items(), key=lambda item: item[1].name):
        if cid in rates:
            by_pod.setdefault(c.pod_uid, []).append(
                mpb.ContainerUsage(name=c.name, cpu_nano_cores=rates[cid], memory_working_set_bytes=c.memory_bytes))
    for pod in latest.pods:
        usage.pods.append(mpb.PodUsage(namespace=pod.namespace, name=pod.name, uid=pod.uid,
                                       containers=by_pod.get(pod.uid, [])))
    if latest.node_memory_bytes is None:  # a hollow node: the sum of its pods
        usage.cpu_nano_cores = sum(rates.values())
        usage.memory_working_set_bytes = sum(c.memory_bytes for c in latest.containers.values())
    else:
        usage.memory_working_set_bytes = latest.node_memory_bytes
        if previous is not None and previous.node_cpu_seconds is not None and latest.node_cpu_seconds is not None:
            usage.cpu_nano_cores = rate_nano_cores(previous.node_cpu_seconds, latest.node_cpu_seconds,
                                                   latest.at - previous.at)
    return usage


def host_cpu_seconds(proc: Path = Path("/proc")) -> float:
    """CPU time the host has spent busy since boot, all cores together (/proc/stat)."""
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            busy = sum(v for i, v in enumerate(values[:8]) if i not in IDLE_FIELDS)
            return busy / os.sysconf("SC_CLK_TCK")
    raise ValueError("no cpu line in /proc/stat")


def host_memory_working_set(proc: Path = Path("/proc")) -> int:
    """MemTotal - MemAvailable (/proc/meminfo), in bytes."""
    fields: dict[str, int] = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            fields[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return fields["MemTotal"] - fields["MemAvailable"]


class StatsSampler:
    """Samples one node every ``period`` seconds and keeps the last two samples."""

    def __init__(self, runtime: ContainerRuntime, node_name: str, pods: Callable[[], list[core_pb2.Pod]], *,
                 period: float = DEFAULT_PERIOD_S, clock: Callable[[], float] = time.time,
                 host_node: bool | None = None) -> None:
        self.runtime = runtime
        self.node_name = node_name
        self.pods = pods
        """The pods bound to the node (the kubelet's informer); those not yet finished are sampled."""
        self.period = period
        self.clock = clock
        """Wall time, for the window and its timestamp; the fake runtime's own clock, so its usage rates
        come out exact."""
        self.host_node = runtime.name != "fake" if host_node is None else host_node
        self.previous: Sample | None = None
        self.latest: Sample | None = None
        self._task: asyncio.Task[None] | None = None

    async def sample(self) -> Sample:
        """Take one sample now and make it the latest."""
        pods = [p for p in self.pods() if p.status.phase not in ("Succeeded", "Failed")]
        refs = [PodRef(p.metadata.namespace, p.metadata.name, p.metadata.uid) for p in pods]
        uids = {ref.uid for ref in refs}
        running = [c for c in await self.runtime.list_containers()
                   if c.state is State.RUNNING and c.pod_uid in uids]
        at = self.clock()
        node_cpu, node_memory = None, None
        if self.host_node:
            with contextlib.suppress(OSError, ValueError, KeyError):
                node_cpu, node_memory = host_cpu_seconds(), host_memory_working_set()
        found = await asyncio.gather(*(self.runtime.container_stats(c.id) for c in running), return_exceptions=True)
        containers = {}
        for info, stats in zip(running, found, strict=True):
            if isinstance(stats, BaseException):
                log.debug("stats of container %s: %s", info.id, stats)
            elif stats is not None:
                containers[info.id] = ContainerSample(pod_uid=info.pod_uid, name=info.name,
                                                      cpu_seconds=stats.cpu_usage_seconds,
                                                      memory_bytes=stats.memory_working_set_bytes)
        sample = Sample(at=at, pods=refs, containers=containers, node_cpu_seconds=node_cpu,
                        node_memory_bytes=node_memory)
        if self.latest is None or sample.at > self.latest.at:
            self.previous = self.latest
        self.latest = sample  # no time passed (a test's frozen clock): it replaces the latest, the window stays
        return sample

    def usage(self) -> mpb.NodeUsage:
        """The node's usage over the last window (what ``Kubelet.Stats`` answers)."""
        return node_usage(self.node_name, self.previous, self.latest)

    def start(self) -> None:
        RESOURCE_METRICS.add(self)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"stats:{self.node_name}")

    async def stop(self) -> None:
        RESOURCE_METRICS.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as exc:  # noqa: BLE001 - a runtime hiccup must not end the sampling
                log.warning("%s: sampling resource usage failed: %s", self.node_name, exc)
            await asyncio.sleep(self.period)
