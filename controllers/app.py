"""``skiff controller-manager``: the control loops (ReplicaSet, Deployment, garbage collector).

Flags follow kube-controller-manager: ``--leader-elect`` (default true) makes replicas compete
for the Lease ``kube-system/kube-controller-manager``; only the holder builds informers and runs
controllers, a standby holds nothing but its candidacy. Losing the Lease cancels the
controllers at once (before anyone else can take over, see skiff.client.leaderelection); SIGTERM
or SIGINT stops them and releases the Lease so a standby takes over without waiting for it to
expire. ``/metrics`` (``--metrics-port``) serves the ``workqueue_*`` families of every
controller's queue and ``leader_election_master_status``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass

from prometheus_client import start_http_server

from controllers.manager import CONTROLLERS, ControllerManager, ManagerSettings, enabled_controllers
from controllers.nodelifecycle import NODE_MONITOR_GRACE_PERIOD, NODE_MONITOR_PERIOD, NODE_STARTUP_GRACE_PERIOD
from controllers.podgc import TERMINATED_POD_GC_THRESHOLD
from skiff.api.strconv import parse_duration
from skiff.client.client import Client
from skiff.client.leaderelection import LEADER_STATUS, LeaderElectionConfig, LeaderElector
from skiff.lifecycle import run_daemon, serve_until_stopped

log = logging.getLogger("skiff.controller-manager")

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-controller-manager"


@dataclass(frozen=True)
class Flags:
    """The command line of ``skiff controller-manager``."""

    server: str | None
    """apiserver HOST:PORT (else SKIFF_SERVER or the config file)."""
    bind_address: str
    """Address the /metrics endpoint listens on."""
    metrics_port: int
    """HTTP port of /metrics; 0 serves none."""
    leader_elect: bool
    """Compete for the Lease and run controllers only while holding it."""
    lease_duration: float
    renew_deadline: float
    retry_period: float
    lease_name: str
    lease_namespace: str
    manager: ManagerSettings


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def _duration(text: str) -> float:
    """A Go duration flag (``40s``, ``1m``; a bare number is seconds)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str]) -> Flags:
    p = argparse.ArgumentParser(prog="skiff controller-manager",
                                description=("Runs the controllers (deployment, replicaset, statefulset, daemonset, "
                                             "job, cronjob, ttl-after-finished, endpoint, nodelifecycle, "
                                             "taint-eviction, podgc, garbagecollector)."))
    p.add_argument("--server", default=None, help="apiserver HOST:PORT (else SKIFF_SERVER / the config file)")
    p.add_argument("--bind-address", default="127.0.0.1", help="address of the /metrics endpoint")
    p.add_argument("--metrics-port", type=int, default=0, help="HTTP port serving /metrics (0: none)")
    p.add_argument("--leader-elect", type=_bool, nargs="?", const=True, default=True)
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=float, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=float, default=2.0)
    p.add_argument("--leader-elect-resource-name", default=LEASE_NAME)
    p.add_argument("--leader-elect-resource-namespace", default=LEASE_NAMESPACE)
    p.add_argument("--controllers", default="*",
                   help=f"comma-separated: '*' all, 'foo' enables, '-foo' disables (known: {', '.join(CONTROLLERS)})")
    p.add_argument("--concurrent-replicaset-syncs", type=int, default=5)
    p.add_argument("--concurrent-deployment-syncs", type=int, default=5)
    p.add_argument("--concurrent-gc-syncs", type=int, default=20)
    p.add_argument("--concurrent-job-syncs", type=int, default=5)
    p.add_argument("--concurrent-ttl-after-finished-syncs", type=int, default=5)
    p.add_argument("--concurrent-cron-job-syncs", type=int, default=5)
    p.add_argument("--concurrent-endpoint-syncs", type=int, default=5)
    p.add_argument("--concurrent-daemonset-syncs", type=int, default=2)
    p.add_argument("--concurrent-statefulset-syncs", type=int, default=5)
    p.add_argument("--node-monitor-period", type=_duration, default=NODE_MONITOR_PERIOD,
                   help="how often every node's health is looked at (Go duration; default 5s)")
    p.add_argument("--node-monitor-grace-period", type=_duration, default=NODE_MONITOR_GRACE_PERIOD,
                   help="how long a node may go unheard before it is marked Unknown (default 50s)")
    p.add_argument("--node-startup-grace-period", type=_duration, default=NODE_STARTUP_GRACE_PERIOD,
                   help="the same for a node that never reported Ready (default 1m0s)")
    p.add_argument("--terminated-pod-gc-threshold", type=int, default=TERMINATED_POD_GC_THRESHOLD,
                   help="terminated pods kept before the oldest are deleted (0: never; default 12500)")
    p.add_argument("--enable-garbage-collector", type=_bool, nargs="?", const=True, default=True)
    p.add_argument("--v", type=int, default=0)
    a = p.parse_args(argv)
    selection = tuple(s.strip() for s in a.controllers.split(",") if s.strip())
    if not a.enable_garbage_collector:
        selection = (*selection, "-garbagecollector")
    try:
        enabled_controllers(selection)
    except ValueError as exc:
        p.error(str(exc))
    logging.basicConfig(level=logging.DEBUG if a.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s] %(message)s")
    manager = ManagerSettings(controllers=selection, concurrent_replicaset_syncs=a.concurrent_replicaset_syncs,
                              concurrent_deployment_syncs=a.concurrent_deployment_syncs,
                              concurrent_gc_syncs=a.concurrent_gc_syncs,
                              concurrent_job_syncs=a.concurrent_job_syncs,
                              concurrent_ttl_after_finished_syncs=a.concurrent_ttl_after_finished_syncs,
                              concurrent_cron_job_syncs=a.concurrent_cron_job_syncs,
                              concurrent_endpoint_syncs=a.concurrent_endpoint_syncs,
                              concurrent_daemonset_syncs=a.concurrent_daemonset_syncs,
                              concurrent_statefulset_syncs=a.concurrent_statefulset_syncs,
                              node_monitor_period=a.node_monitor_period,
                              node_monitor_grace_period=a.node_monitor_grace_period,
                              node_startup_grace_period=a.node_startup_grace_period,
                              terminated_pod_gc_threshold=a.terminated_pod_gc_threshold)
    return Flags(a.server, a.bind_address, a.metrics_port, a.leader_elect, a.leader_elect_lease_duration,
                 a.leader_elect_renew_deadline, a.leader_elect_retry_period, a.leader_elect_resource_name,
                 a.leader_elect_resource_namespace, manager)


def elector_for(client: Client, flags: Flags, identity: str = "") -> LeaderElector:
    """The elector on the flags' Lease (an identity of host name and a random suffix unless given)."""
    return LeaderElector(client, LeaderElectionConfig(flags.lease_namespace, flags.lease_name, identity,
                                                      flags.lease_duration, flags.renew_deadline,
                                                      flags.retry_period))


async def serve(client: Client, flags: Flags, elector: LeaderElector | None) -> None:
    """Run the controllers until cancelled: while leading when ``elector`` is given, else always."""
    manager = ControllerManager(client, flags.manager)
    if elector is not None:
        await elector.run(manager.run)  # a failed run is retried when the Lease is next acquired
        return
    while True:
        try:
            await manager.run()
        except Exception as exc:  # noqa: BLE001 - e.g. the apiserver down at start: try again
            log.warning("controllers stopped: %s; restarting", exc)
            await asyncio.sleep(1.0)


async def run(flags: Flags) -> None:
    client = Client(flags.server)
    if flags.metrics_port:
        start_http_server(flags.metrics_port, addr=flags.bind_address)
    elector = elector_for(client, flags) if flags.leader_elect else None
    if elector is not None:
        LEADER_STATUS.labels(flags.lease_name).set(0)  # a standby reports 0, not nothing
    work = asyncio.create_task(serve(client, flags, elector), name="controller-manager")

    async def cleanup() -> None:
        if elector is not None:
            await elector.release()  # a standby takes over at once
        await client.close()

    await serve_until_stopped([work], cleanup=cleanup, grace=10.0, name="controller-manager")


def main(argv: list[str]) -> int:
    return run_daemon(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
