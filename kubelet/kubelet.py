"""One node's kubelet: the parts wired together.

An informer on the pods bound to this node (field selector ``spec.nodeName=<node>``) feeds the pod
workers; probe results come back as wake-ups (and, for a failed liveness or startup probe, a
kill request); the node agent registers the Node and keeps its Lease and Ready condition. At
start, before syncing anything, the kubelet looks at what its runtime already runs: pods that
still exist are adopted as they are (a kubelet restart does not restart pods), and what belongs
to pods that are gone is removed. A stats sampler (:mod:`kubelet.stats`) measures the node's and
its pods' resource usage every ``stats_period`` seconds for ``Kubelet.Stats`` and the resource metrics.
Each new sandbox gets the pod's DNS settings (:mod:`kubelet.dns`) from the ``cluster_dns``,
``cluster_domain`` and ``resolv_conf`` settings; the resolver file's limits are checked once at start.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelet.backoff import Backoff
from kubelet.dns import DEFAULT_RESOLV_CONF, DnsSettings, check_resolv_conf_limits
from kubelet.env import expand_command, resolve_env
from kubelet.node import NodeAgent, NodeSettings
from kubelet.podsync import PodSyncer, SyncSettings, node_reference
from kubelet.podworkers import PodWorkers
from kubelet.probe_manager import ProbeManager
from kubelet.runtime.interface import LABEL_NODE, ContainerRuntime
from kubelet.stats import DEFAULT_PERIOD_S, StatsSampler
from kubelet.status import StatusManager
from kubelet.volumes import VolumeManager
from skiff.aio import cancel_and_wait
from skiff.api.v1 import core_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock, RealClock
from skiff.client.events import EventRecorder
from skiff.client.informer import Informer

log = logging.getLogger("skiff.kubelet")


@dataclass(frozen=True)
class KubeletSettings:
    """The node (name, address, capacity, labels, lease…) and what only the pod side needs."""

    node: NodeSettings
    root_dir: Path
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    relist_period: float = 1.0
    stats_period: float = DEFAULT_PERIOD_S
    """How often resource usage is sampled (``--housekeeping-interval``): the window of ``skiffctl top``."""
    cluster_dns: tuple[str, ...] = ()
    """``--cluster-dns``: the DNS servers of ClusterFirst pods (IPs); none: they fall back to Default,
    with a MissingClusterDNS Warning (see :mod:`kubelet.dns`)."""
    cluster_domain: str = ""
    """``--cluster-domain``: the cluster's DNS domain, searched first by ClusterFirst pods; empty: none."""
    resolv_conf: str = DEFAULT_RESOLV_CONF
    """``--resolv-conf``: the node's resolver file, the base of the pods' DNS settings; empty: none
    (Default pods then get a loopback nameserver and ``search .``, as in Kubernetes)."""

    @property
    def node_name(self) -> str:
        return self.node.name

    def dns(self) -> DnsSettings:
        return DnsSettings(cluster_dns=self.cluster_dns, cluster_domain=self.cluster_domain,
                           resolv_conf=self.resolv_conf, node_ips=(self.node.ip,) if self.node.ip else ())


class Kubelet:
    def __init__(self, client: Client, runtime: ContainerRuntime, settings: KubeletSettings, *,
                 clock: Clock | None = None) -> None:
        self.client = client
        self.clock: Clock = clock or RealClock()
        """The one monotonic clock of this kubelet's backoff, probes, pod workers and pod sync."""
        self.runtime = runtime
        self.settings = settings
        self.node = NodeAgent(client, runtime, settings.node)
        allocatable = settings.node.allocatable()
        self.recorder = EventRecorder(client, "kubelet", host=settings.node_name)
        self.statuses = StatusManager(client)
        self.probes = ProbeManager(runtime, clock=self.clock, on_result=self._probe_result)
        self.volumes = VolumeManager(client, settings.root_dir, allocatable=allocatable)
        self.syncer = PodSyncer(client=client, runtime=runtime, volumes=self.volumes, probes=self.probes,
                                statuses=self.statuses, recorder=self.recorder,
                                backoff=Backoff(initial=settings.backoff_initial, maximum=settings.backoff_max,
                                                clock=self.clock.now),
                                resolve_env=functools.partial(resolve_env, allocatable=allocatable),
                                expand=expand_command,
                                settings=SyncSettings(node_name=settings.node.name, node_ip=settings.node.ip,
                                                      runtime_scheme=runtime.name, dns=settings.dns()),
                                clock=self.clock)
        self.workers = PodWorkers(self.syncer, runtime, node_name=settings.node_name,
                                  relist_period=settings.relist_period, clock=self.clock)
        self.pods: Informer[core_pb2.Pod] = Informer(client, core_pb2.Pod,
                                                     field_selector=f"spec.nodeName={settings.node_name}")
        self.pods.add_handlers(self._pod_changed, lambda old, new: self._pod_changed(new), self._pod_gone)
        runtime_clock = getattr(runtime, "clock", None)  # the fake runtime's usage accrues on its clock
        self.stats = StatsSampler(runtime, settings.node_name, self.pods.store.list, period=settings.stats_period,
                                  clock=runtime_clock if callable(runtime_clock) else time.time)

    # ---- handlers ----

    def _pod_changed(self, pod: core_pb2.Pod) -> None:
        if self.pods.has_synced:
            self.workers.update(pod)

    def _pod_gone(self, pod: core_pb2.Pod) -> None:
        self.workers.forget(pod.metadata.uid)

    def _probe_result(self, event: Any) -> None:
        pod = self._by_uid(event.pod_uid)
        if pod is None:
            return
        kind = event.probe_type.capitalize()
        if not event.changed:  # one probe's failure, said as Kubernetes' prober says it
            message = (f"{kind} probe errored and resulted in unknown state: {event.message}"
                       if event.result == "unknown" else f"{kind} probe failed: {event.message}")
            self.recorder.event(pod, "Warning", "Unhealthy", message)
            return
        if event.result == "failure" and event.probe_type in ("liveness", "startup"):
            self.syncer.request_kill(event.pod_uid, event.container_name,
                                     f"Container {event.container_name} failed {event.probe_type} probe, "
                                     "will be restarted")
        self.workers.wake(event.pod_uid)

    def _by_uid(self, uid: str) -> core_pb2.Pod | None:
        for worker_pod in self.workers.pods:
            if worker_pod.metadata.uid == uid:
                return worker_pod
        return None

    def lookup(self, namespace: str, name: str) -> core_pb2.Pod | None:
        return self.pods.store.get(f"{namespace}/{name}")

    # ---- running ----

    async def run(self) -> None:
        await self.node.register()
        self.node.start()
        self.recorder.start()
        self._check_resolv_conf()
        informer = asyncio.get_running_loop().create_task(self.pods.run())
        try:
            await self.pods.wait_for_sync()
            await self._adopt_or_clean()
            for pod in self.pods.store.list():
                self.workers.update(pod)
            self.workers.start()
            self.stats.start()
            await asyncio.Event().wait()
        finally:
            await self.stats.stop()
            await cancel_and_wait([informer])
            await self.workers.stop()
            await self.probes.stop()
            await self.node.stop()
            await self.statuses.flush()
            await self.recorder.stop()

    def _check_resolv_conf(self) -> None:
        """What is wrong with the node's resolver file, once at start (CheckLimitsForResolvConf)."""
        if not self.settings.resolv_conf:
            return
        problem = check_resolv_conf_limits(self.settings.resolv_conf, self.settings.cluster_domain)
        if problem is not None:
            log.debug("Check limits for resolv.conf failed: %s", problem)
            self.recorder.event(node_reference(self.settings.node_name), "Warning", "CheckLimitsForResolvConf",
                                problem)

    async def _adopt_or_clean(self) -> None:
        known = {p.metadata.uid for p in self.pods.store.list()}
        mine = [s for s in await self.runtime.list_sandboxes(dead=True)
                if s.labels.get(LABEL_NODE, self.settings.node_name) == self.settings.node_name]
        for sandbox in mine:
            if sandbox.pod_uid in known:
                log.info("adopting the running pod %s", sandbox.pod_uid)
            else:
                await self.syncer.cleanup(sandbox.pod_uid, sandbox)
