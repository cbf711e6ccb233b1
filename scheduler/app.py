"""``skiff scheduler``: watches pending pods, binds them to nodes, with leader election.

Flags follow kube-scheduler where they exist (``--leader-elect``, ``--leader-elect-lease-duration``,
...). Every replica keeps its informers and cache warm; only the Lease holder schedules, and it
advertises its Explain endpoint. SIGTERM releases the Lease so a standby takes over at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
from dataclasses import dataclass

import grpc
from prometheus_client import start_http_server

from scheduler.framework.runtime import Framework
from scheduler.metrics import extension_point_timer
from scheduler.plugins import DEFAULT_WEIGHTS, PluginArgs, default_plugins
from scheduler.scheduler import Scheduler, SchedulerSettings
from scheduler.service import SchedulerServicer, advertise
from skiff.api.v1 import scheduler_pb2_grpc
from skiff.client.client import Client
from skiff.client.leaderelection import LeaderElectionConfig, LeaderElector
from skiff.lifecycle import listen, run_daemon, serve_until_stopped

log = logging.getLogger("skiff.scheduler")


@dataclass(frozen=True)
class Flags:
    server: str | None
    bind_address: str
    port: int
    metrics_port: int
    leader_elect: bool
    lease_duration: float
    renew_deadline: float
    retry_period: float
    scheduler_name: str
    scoring_strategy: str
    percentage_of_nodes_to_score: int


def parse_args(argv: list[str]) -> Flags:
    p = argparse.ArgumentParser(prog="skiff scheduler", description="Assigns pending pods to nodes.")
    p.add_argument("--server", default=None, help="apiserver HOST:PORT (else SKIFF_SERVER / the config file)")
    p.add_argument("--bind-address", default="127.0.0.1", help="address of the Explain gRPC service")
    p.add_argument("--port", type=int, default=0, help="port of the Explain gRPC service (0: any free)")
    p.add_argument("--metrics-port", type=int, default=0, help="HTTP port serving /metrics (0: none)")
    p.add_argument("--leader-elect", default=True, type=lambda v: v.lower() != "false", nargs="?", const=True)
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=float, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=float, default=2.0)
    p.add_argument("--scheduler-name", default="default-scheduler")
    p.add_argument("--scoring-strategy", choices=["LeastAllocated", "MostAllocated"], default="LeastAllocated")
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=0,
                   help="0: adaptive, as Kubernetes (50%% at 0 nodes down to 5%% at 5625+)")
    p.add_argument("--v", type=int, default=0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s] %(message)s")
    return Flags(a.server, a.bind_address, a.port, a.metrics_port, a.leader_elect, a.leader_elect_lease_duration,
                 a.leader_elect_renew_deadline, a.leader_elect_retry_period, a.scheduler_name, a.scoring_strategy,
                 a.percentage_of_nodes_to_score)


def build_scheduler(client: Client, flags: Flags) -> Scheduler:
    plugins = default_plugins(PluginArgs(scoring_strategy=flags.scoring_strategy))
    framework = Framework(plugins, DEFAULT_WEIGHTS, percentage_of_nodes_to_score=flags.percentage_of_nodes_to_score,
                          timer=extension_point_timer(flags.scheduler_name))  # type: ignore[arg-type]
    return Scheduler(client, framework, SchedulerSettings(scheduler_name=flags.scheduler_name,
                                                          profile=flags.scheduler_name))


async def run(flags: Flags) -> None:
    client = Client(flags.server)
    sched = build_scheduler(client, flags)
    identity = f"{socket.gethostname()}_{os.getpid()}"
    server = grpc.aio.server()
    scheduler_pb2_grpc.add_SchedulerServicer_to_server(SchedulerServicer(sched, identity), server)
    port = listen(server, f"{flags.bind_address}:{flags.port}")
    await server.start()
    if flags.metrics_port:
        start_http_server(flags.metrics_port, addr=flags.bind_address)
    log.info("scheduler %s: Explain on %s:%d", identity, flags.bind_address, port)

    async def lead() -> None:
        await advertise(client, flags.bind_address, port)
        await sched.run()

    elector = LeaderElector(client, LeaderElectionConfig(
        "kube-system", "kube-scheduler", identity, flags.lease_duration, flags.renew_deadline, flags.retry_period))
    work = asyncio.create_task(elector.run(lead) if flags.leader_elect else lead(), name="scheduler")

    async def cleanup() -> None:
        await elector.release()
        await server.stop(1)
        await client.close()

    await serve_until_stopped([work], cleanup=cleanup, grace=10.0, name="scheduler")


def main(argv: list[str]) -> int:
    return run_daemon(run(parse_args(argv)))
