"""The node lifecycle controller: notice a node whose kubelet went silent, and taint it.

Kubernetes' ``pkg/controller/nodelifecycle`` (1.32, without zones and eviction rate limits). Every
``node_monitor_period`` (5 s) it looks at every node:

* **health** — a node is heard from when its Ready condition's ``lastHeartbeatTime`` or its Lease
  in ``kube-node-lease`` (renewed by the kubelet every 10 s) moves. Not heard from for
  ``node_monitor_grace_period`` (50 s; ``node_startup_grace_period``, 60 s, while it never posted
  a Ready condition), its Ready, MemoryPressure, DiskPressure and PIDPressure conditions become
  ``Unknown`` — reason NodeStatusUnknown, "Kubelet stopped posting node status." (or
  NodeStatusNeverUpdated, "Kubelet never posted node status.");
* **taints** — NoExecute ``node.kubernetes.io/not-ready`` while Ready is False,
  ``node.kubernetes.io/unreachable`` while it is Unknown, neither once it is True again (the taint
  eviction controller, :mod:`controllers.tainteviction`, then evicts the pods that do not tolerate
  them); and the NoSchedule taints of conditions (not-ready, unreachable, memory-, disk- and
  pid-pressure, network-unavailable) and of ``spec.unschedulable``, so the scheduler keeps new
  pods away. Taints it does not manage are left as they are;
* **pods** — when a node stops being Ready, the Ready condition of its pods turns False (so
  Endpoints drop them) and the node gets a NodeNotReady event.

The controller's view of when it last heard from a node lives in memory: after a restart every
node gets a full grace period again, as in Kubernetes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from controllers.informers import SharedInformers
from skiff.api import errors
from skiff.api.timestamps import rfc3339
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.client.client import Client
from skiff.client.clock import Clock, RealClock
from skiff.client.events import EventRecorder

log = logging.getLogger("skiff.controllers.nodelifecycle")

NODE_MONITOR_PERIOD = 5.0
NODE_MONITOR_GRACE_PERIOD = 50.0
NODE_STARTUP_GRACE_PERIOD = 60.0
LEASE_NAMESPACE = "kube-node-lease"

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE, NO_SCHEDULE = "NoExecute", "NoSchedule"
_CONDITION_TAINTS = {  # condition type -> (status that taints, taint key), for NoSchedule
    "MemoryPressure": ("True", "node.kubernetes.io/memory-pressure"),
    "DiskPressure": ("True", "node.kubernetes.io/disk-pressure"),
    "PIDPressure": ("True", "node.kubernetes.io/pid-pressure"),
    "NetworkUnavailable": ("True", "node.kubernetes.io/network-unavailable"),
}
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
_MANAGED = {(NOT_READY, NO_EXECUTE), (UNREACHABLE, NO_EXECUTE), (NOT_READY, NO_SCHEDULE), (UNREACHABLE, NO_SCHEDULE),
            (UNSCHEDULABLE, NO_SCHEDULE), *((key, NO_SCHEDULE) for _, key in _CONDITION_TAINTS.values())}
_WATCHED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


@dataclass
class Health:
    """When the controller last heard from a node, and what it heard."""

    probed: float
    heartbeat: str
    renew: str


def condition(node: core_pb2.Node, kind: str) -> core_pb2.NodeCondition | None:
    return next((c for c in node.status.conditions if c.type == kind), None)


def ready_status(node: core_pb2.Node) -> str:
    ready = condition(node, "Ready")
    return ready.status if ready is not None else "Unknown"


def wanted_taints(node: core_pb2.Node) -> set[tuple[str, str]]:
    """The (key, effect) taints this controller wants on the node, from its conditions.

    A node that never posted a Ready condition gets none of the not-ready/unreachable taints: it is
    left alone until its startup grace period marks the condition Unknown (as Kubernetes does).
    """
    wanted: set[tuple[str, str]] = set()
    ready = condition(node, "Ready")
    if ready is not None and ready.status == "False":
        wanted |= {(NOT_READY, NO_EXECUTE), (NOT_READY, NO_SCHEDULE)}
    elif ready is not None and ready.status == "Unknown":
        wanted |= {(UNREACHABLE, NO_EXECUTE), (UNREACHABLE, NO_SCHEDULE)}
    for kind, (tainting, key) in _CONDITION_TAINTS.items():
        found = condition(node, kind)
        if found is not None and found.status == tainting:
            wanted.add((key, NO_SCHEDULE))
    if node.spec.unschedulable:
        wanted.add((UNSCHEDULABLE, NO_SCHEDULE))
    return wanted


def mark_unknown(node: core_pb2.Node, now: str) -> bool:
    """Every watched condition Unknown (``tryUpdateNodeHealth``); True when something changed."""
    changed = False
    for kind in _WATCHED_CONDITIONS:
        found = condition(node, kind)
        if found is None:
            node.status.conditions.add(type=kind, status="Unknown", reason="NodeStatusNeverUpdated",
                                       message="Kubelet never posted node status.",
                                       last_heartbeat_time=node.metadata.creation_timestamp, last_transition_time=now)
            changed = True
        elif found.status != "Unknown":
            found.status, found.reason = "Unknown", "NodeStatusUnknown"
            found.message, found.last_transition_time = "Kubelet stopped posting node status.", now
            changed = True
    return changed


class NodeLifecycleController:
    """See the module docstring."""

    NAME = "nodelifecycle"

    def __init__(self, client: Client, informers: SharedInformers, recorder: EventRecorder, *,
                 monitor_period: float = NODE_MONITOR_PERIOD, grace_period: float = NODE_MONITOR_GRACE_PERIOD,
                 startup_grace_period: float = NODE_STARTUP_GRACE_PERIOD, clock: Clock | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.client, self.recorder = client, recorder
        self.monitor_period, self.grace_period, self.startup_grace_period = (
            monitor_period, grace_period, startup_grace_period)
        self.clock = clock or RealClock()
        self.wall_clock = wall_clock
        self.nodes = informers.get(core_pb2.Node)
        self.pods = informers.get(core_pb2.Pod)
        self.leases = informers.get(apps_pb2.Lease)
        self.health: dict[str, Health] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.monitor()
            except errors.StatusError as exc:
                log.warning("monitoring node health failed: %s", exc)
            await self.clock.sleep(self.monitor_period)

    async def monitor(self) -> None:
        """One pass over every node (``monitorNodeHealth``)."""
        names = set()
        for node in self.nodes.store.list():
            names.add(node.metadata.name)
            try:
                await self._monitor_node(node)
            except errors.NotFound:
                continue  # deleted meanwhile
            except errors.Conflict:
                continue  # the kubelet wrote first: look again next pass
        for gone in set(self.health) - names:
            del self.health[gone]

    def _heard(self, node: core_pb2.Node) -> Health:
        """Update and return when the node was last heard from."""
        name = node.metadata.name
        ready = condition(node, "Ready")
        heartbeat = ready.last_heartbeat_time if ready is not None else ""
        lease = self.leases.store.get(f"{LEASE_NAMESPACE}/{name}")
        renew = lease.spec.renew_time if lease is not None else ""
        health = self.health.get(name)
        if health is None or health.heartbeat != heartbeat or health.renew != renew:
            health = self.health[name] = Health(self.clock.now(), heartbeat, renew)
        return health

    async def _monitor_node(self, cached: core_pb2.Node) -> None:
        node = core_pb2.Node()
        node.CopyFrom(cached)
        was = ready_status(node)
        health = self._heard(node)
        grace = self.startup_grace_period if condition(node, "Ready") is None else self.grace_period
        if self.clock.now() > health.probed + grace and mark_unknown(node, rfc3339(self.wall_clock())):
            log.info("node %s: kubelet stopped posting node status", node.metadata.name)
            node = await self.client.update_status(node)
        await self._taint(node)
        if was == "True" and ready_status(node) != "True":
            await self._mark_pods_not_ready(node)

    async def _taint(self, node: core_pb2.Node) -> None:
        """Make the managed taints what the conditions want; leave the others alone."""
        wanted = wanted_taints(node)
        present = {(t.key, t.effect) for t in node.spec.taints if (t.key, t.effect) in _MANAGED}
        if present == wanted:
            return
        fresh = await self.client.get(core_pb2.Node, node.metadata.name)
        kept = [t for t in fresh.spec.taints if (t.key, t.effect) not in _MANAGED or (t.key, t.effect) in wanted]
        have = {(t.key, t.effect) for t in kept}
        stamp = rfc3339(self.wall_clock())
        del fresh.spec.taints[:]
        fresh.spec.taints.extend(kept)
        for key, effect in sorted(wanted - have):
            taint = fresh.spec.taints.add(key=key, effect=effect)
            if effect == NO_EXECUTE:
                taint.time_added = stamp
        await self.client.update(fresh)

    async def _mark_pods_not_ready(self, node: core_pb2.Node) -> None:
        """``MarkPodsNotReady``: the node's pods stop being Ready; the node gets NodeNotReady."""
        name = node.metadata.name
        self.recorder.event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        stamp = rfc3339(self.wall_clock())
        for pod in self.pods.store.list():
            if pod.spec.node_name != name:
                continue
            ready = next((c for c in pod.status.conditions if c.type == "Ready"), None)
            if ready is None or ready.status == "False":
                continue
            fresh = core_pb2.Pod()
            fresh.CopyFrom(pod)
            for cond in fresh.status.conditions:
                if cond.type == "Ready":
                    cond.status, cond.last_transition_time = "False", stamp
            self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")
            try:
                await self.client.update_status(fresh)
            except (errors.NotFound, errors.Conflict):
                continue
