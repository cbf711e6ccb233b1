"""The controller manager: every controller of the process over one set of shared informers.

Like kube-controller-manager, controllers are registered by name with a factory
(:data:`CONTROLLERS`), and ``--controllers`` picks them (``*`` all, ``foo`` enable, ``-foo``
disable). :meth:`ControllerManager.run` builds the enabled controllers — each registers its
handlers on :class:`~controllers.informers.SharedInformers`, so one list+watch per kind serves
them all — then starts the informers, waits until every one has listed (a controller must never
act on a half-filled cache), and runs every controller's workers until cancelled. Each
controller records Events under its own component name (``replicaset-controller``, ...).

Everything is built anew on each ``run()``: under leader election the manager runs only while
its process holds the Lease, and a standby holds no caches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from controllers.cronjob import CronJobController
from controllers.daemonset.controller import DaemonSetController
from controllers.deployment.controller import DeploymentController
from controllers.endpoints import EndpointsController
from controllers.garbagecollector import GarbageCollector
from controllers.informers import SharedInformers
from controllers.job.controller import JobController
from controllers.nodelifecycle import (
    NODE_MONITOR_GRACE_PERIOD,
    NODE_MONITOR_PERIOD,
    NODE_STARTUP_GRACE_PERIOD,
    NodeLifecycleController,
)
from controllers.podgc import TERMINATED_POD_GC_THRESHOLD, PodGarbageCollector
from controllers.replicaset import ReplicaSetController
from controllers.statefulset.controller import StatefulSetController
from controllers.tainteviction import TaintEvictionController
from controllers.ttlafterfinished import TTLAfterFinishedController
from skiff.client.client import Client
from skiff.client.events import EventRecorder

log = logging.getLogger("skiff.controllers.manager")


class Runnable(Protocol):
    def run(self) -> Coroutine[Any, Any, None]: ...


@dataclass(frozen=True)
class ManagerSettings:
    """What the manager runs, and with how many workers."""

    controllers: tuple[str, ...] = ("*",)
    """``--controllers``: ``*`` for all, a name to enable it, ``-name`` to disable it."""
    concurrent_replicaset_syncs: int = 5
    """Workers of the ReplicaSet controller (ReplicaSets synced at once)."""
    concurrent_deployment_syncs: int = 5
    """Workers of the Deployment controller."""
    concurrent_gc_syncs: int = 20
    """Workers of each of the garbage collector's two queues."""
    concurrent_job_syncs: int = 5
    """Workers of the Job controller (Jobs synced at once; as many again free orphaned pods)."""
    concurrent_ttl_after_finished_syncs: int = 5
    """Workers of the TTL-after-finished controller."""
    concurrent_cron_job_syncs: int = 5
    """Workers of the CronJob controller."""
    concurrent_endpoint_syncs: int = 5
    """Workers of the Endpoints controller (Services synced at once)."""
    concurrent_daemonset_syncs: int = 2
    """Workers of the DaemonSet controller."""
    concurrent_statefulset_syncs: int = 5
    """Workers of the StatefulSet controller."""
    node_monitor_period: float = NODE_MONITOR_PERIOD
    """Seconds between two looks at every node's health."""
    node_monitor_grace_period: float = NODE_MONITOR_GRACE_PERIOD
    """Seconds a node may go unheard before its conditions become Unknown."""
    node_startup_grace_period: float = NODE_STARTUP_GRACE_PERIOD
    """The same, for a node that never posted a Ready condition."""
    terminated_pod_gc_threshold: int = TERMINATED_POD_GC_THRESHOLD
    """Terminated pods kept before the oldest are deleted (0: never)."""
    sync_timeout: float = 60.0
    """Seconds to wait for the informers' first lists before giving up (and retrying)."""


@dataclass
class ControllerContext:
    """What a controller factory gets: the client, the shared informers, the settings."""

    client: Client
    informers: SharedInformers
    settings: ManagerSettings
    recorders: list[EventRecorder] = field(default_factory=list)

    def recorder(self, component: str) -> EventRecorder:
        recorder = EventRecorder(self.client, component)
        self.recorders.append(recorder)
        return recorder


def _replicaset(ctx: ControllerContext) -> Runnable:
    return ReplicaSetController(ctx.client, ctx.informers, ctx.recorder("replicaset-controller"),
                                workers=ctx.settings.concurrent_replicaset_syncs)


def _deployment(ctx: ControllerContext) -> Runnable:
    return DeploymentController(ctx.client, ctx.informers, ctx.recorder("deployment-controller"),
                                workers=ctx.settings.concurrent_deployment_syncs)


def _job(ctx: ControllerContext) -> Runnable:
    return JobController(ctx.client, ctx.informers, ctx.recorder("job-controller"),
                         workers=ctx.settings.concurrent_job_syncs)


def _nodelifecycle(ctx: ControllerContext) -> Runnable:
    s = ctx.settings
    return NodeLifecycleController(ctx.client, ctx.informers, ctx.recorder("node-controller"),
                                   monitor_period=s.node_monitor_period, grace_period=s.node_monitor_grace_period,
                                   startup_grace_period=s.node_startup_grace_period)


def _podgc(ctx: ControllerContext) -> Runnable:
    return PodGarbageCollector(ctx.client, ctx.informers, ctx.recorder("pod-garbage-collector"),
                               terminated_pod_gc_threshold=ctx.settings.terminated_pod_gc_threshold)


def _taint_eviction(ctx: ControllerContext) -> Runnable:
    return TaintEvictionController(ctx.client, ctx.informers, ctx.recorder("taint-eviction-controller"))


def _statefulset(ctx: ControllerContext) -> Runnable:
    return StatefulSetController(ctx.client, ctx.informers, ctx.recorder("statefulset-controller"),
                                 workers=ctx.settings.concurrent_statefulset_syncs)


def _daemonset(ctx: ControllerContext) -> Runnable:
    return DaemonSetController(ctx.client, ctx.informers, ctx.recorder("daemonset-controller"),
                               workers=ctx.settings.concurrent_daemonset_syncs)


def _endpoint(ctx: ControllerContext) -> Runnable:
    return EndpointsController(ctx.client, ctx.informers, ctx.recorder("endpoint-controller"),
                               workers=ctx.settings.concurrent_endpoint_syncs)


def _cronjob(ctx: ControllerContext) -> Runnable:
    return CronJobController(ctx.client, ctx.informers, ctx.recorder("cronjob-controller"),
                             workers=ctx.settings.concurrent_cron_job_syncs)


def _ttl_after_finished(ctx: ControllerContext) -> Runnable:
    return TTLAfterFinishedController(ctx.client, ctx.informers, ctx.recorder("ttl-after-finished-controller"),
                                      workers=ctx.settings.concurrent_ttl_after_finished_syncs)


def _garbagecollector(ctx: ControllerContext) -> Runnable:
    return GarbageCollector(ctx.client, ctx.informers, ctx.recorder("garbage-collector-controller"),
                            workers=ctx.settings.concurrent_gc_syncs)


CONTROLLERS: dict[str, Callable[[ControllerContext], Runnable]] = {
    "deployment": _deployment,
    "replicaset": _replicaset,
    "statefulset": _statefulset,
    "daemonset": _daemonset,
    "job": _job,
    "cronjob": _cronjob,
    "ttl-after-finished": _ttl_after_finished,
    "endpoint": _endpoint,
    "nodelifecycle": _nodelifecycle,
    "taint-eviction": _taint_eviction,
    "podgc": _podgc,
    "garbagecollector": _garbagecollector,
}


def enabled_controllers(selection: tuple[str, ...]) -> list[str]:
    """The registered names ``--controllers`` enables (kube-controller-manager's rules)."""
    unknown = [s.lstrip("-") for s in selection if s != "*" and s.lstrip("-") not in CONTROLLERS]
    if unknown:
        raise ValueError(f"unknown controllers: {', '.join(unknown)} (known: {', '.join(CONTROLLERS)})")
    star = "*" in selection
    return [name for name in CONTROLLERS
            if f"-{name}" not in selection and (name in selection or star)]


class ControllerManager:
    """Builds and runs the enabled controllers; see the module docstring."""

    def __init__(self, client: Client, settings: ManagerSettings | None = None) -> None:
        self.client = client
        self.settings = settings or ManagerSettings()
        self.names = enabled_controllers(self.settings.controllers)
        self.running: dict[str, Runnable] = {}
        """The controllers of the current ``run()`` (empty while not running)."""

    async def run(self) -> None:
        ctx = ControllerContext(self.client, SharedInformers(self.client), self.settings)
        controllers = {name: CONTROLLERS[name](ctx) for name in self.names}
        for recorder in ctx.recorders:
            recorder.start()
        ctx.informers.start()
        try:
            await ctx.informers.wait_for_sync(self.settings.sync_timeout)
            log.info("caches synced; starting controllers: %s", ", ".join(controllers))
            self.running = controllers
            async with asyncio.TaskGroup() as group:
                for name, controller in controllers.items():
                    group.create_task(controller.run(), name=f"controller:{name}")
        finally:
            self.running = {}
            await ctx.informers.stop()
            for recorder in ctx.recorders:
                with contextlib.suppress(Exception):
                    await recorder.stop()
