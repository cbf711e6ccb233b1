"""``skiff apiserver``: the gRPC API server over etcd.

Start-up: parse flags, load the encryption config (or warn that Secrets are stored in the clear),
connect to etcd, start the registry (one watch cache per kind), then serve gRPC — the Resources
service, the standard health service and reflection — and ``/metrics`` over HTTP. One shutdown
path: SIGTERM / SIGINT stops accepting, drains in-flight calls for a grace period, closes the
watch caches and etcd; a second signal exits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from apiserver.encryption import EncryptionConfigError, describe, identity_config, load_encryption_config
from apiserver.registry.api import Registry
from apiserver.server.metrics_api import MetricsServicer
from apiserver.server.podproxy import PodProxyServicer
from apiserver.server.resources import ResourcesServicer
from apiserver.server.schedulerproxy import SchedulerProxyServicer
from apiserver.server.workers import default_workers, is_worker, supervise
from apiserver.storage.etcd import EtcdStorage
from skiff.api.v1 import (
    metrics_pb2,
    metrics_pb2_grpc,
    node_pb2,
    node_pb2_grpc,
    resources_pb2,
    resources_pb2_grpc,
    scheduler_pb2,
    scheduler_pb2_grpc,
)
from skiff.lifecycle import listen, run_daemon, serve_until_stopped

log = logging.getLogger("skiff.apiserver")


@dataclass(frozen=True)
class Settings:
    """The apiserver's flags."""

    etcd_servers: list[str]
    """etcd client URLs (``--etcd-servers``)."""
    bind_address: str = "127.0.0.1"
    """Address the gRPC server listens on."""
    port: int = 6443
    """gRPC port (0 picks a free one)."""
    metrics_port: int = 0
    """HTTP port for /metrics (0: none)."""
    encryption_provider_config: str = ""
    """EncryptionConfiguration file for encryption at rest."""
    service_cluster_ip_range: str = "10.96.0.0/12"
    service_node_port_range: str = "30000-32767"
    shutdown_grace: float = 5.0
    watch_cache_window: int = 10000
    """Events each watch cache keeps for watches that resume from an older resourceVersion."""
    workers: int = 1
    """Processes serving the port together (see apiserver.server.workers)."""


def parse_args(argv: list[str]) -> Settings:
    p = argparse.ArgumentParser(prog="skiff apiserver", description="The skiff API server (gRPC over etcd).")
    p.add_argument("--etcd-servers", default="http://127.0.0.1:2379", help="comma-separated etcd URLs")
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6443, help="gRPC port (default 6443)")
    p.add_argument("--metrics-port", type=int, default=0, help="HTTP port serving /metrics")
    p.add_argument("--encryption-provider-config", default="", help="EncryptionConfiguration file")
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12")
    p.add_argument("--service-node-port-range", default="30000-32767")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="apiserver processes sharing the port (default: one per core, at most 4)")
    p.add_argument("--v", type=int, default=0, help="log verbosity")
    a = p.parse_args(argv)
    if a.workers < 1:
        p.error("--workers must be at least 1")
    logging.basicConfig(level=logging.DEBUG if a.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s] %(message)s")
    return Settings(etcd_servers=[s for s in a.etcd_servers.split(",") if s], bind_address=a.bind_address,
                    port=a.port, metrics_port=a.metrics_port, encryption_provider_config=a.encryption_provider_config,
                    service_cluster_ip_range=a.service_cluster_ip_range,
                    service_node_port_range=a.service_node_port_range, workers=a.workers)


class APIServer:
    """A running apiserver: ``await start()``, ``port``, ``await stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._storage: EtcdStorage | None = None
        self.registry: Registry | None = None
        self._health = health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()

    async def start(self) -> None:
        s = self.settings
        if s.encryption_provider_config:
            config = load_encryption_config(s.encryption_provider_config)
            log.info("encryption at rest: %s", describe(config))
        else:
            config = identity_config()
            log.warning("no --encryption-provider-config: Secrets are stored in etcd unencrypted")
        self._storage = await EtcdStorage.connect(s.etcd_servers)
        self.registry = Registry(self._storage, transformer_for=lambda r: config.transformer_for(_group_resource(r)),
                                 service_cluster_ip_range=s.service_cluster_ip_range,
                                 service_node_port_range=s.service_node_port_range,
                                 watch_window=s.watch_cache_window)
        await self.registry.start()
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20),
                                          ("grpc.max_send_message_length", 64 << 20),
                                          ("grpc.so_reuseport", 1 if is_worker() else 0)])
        resources_pb2_grpc.add_ResourcesServicer_to_server(ResourcesServicer(self.registry), server)
        node_pb2_grpc.add_PodProxyServicer_to_server(PodProxyServicer(self.registry), server)
        scheduler_pb2_grpc.add_SchedulerServicer_to_server(SchedulerProxyServicer(self.registry), server)
        metrics_pb2_grpc.add_MetricsServicer_to_server(MetricsServicer(self.registry), server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = (resources_pb2.DESCRIPTOR.services_by_name["Resources"].full_name,
                 node_pb2.DESCRIPTOR.services_by_name["PodProxy"].full_name,
                 scheduler_pb2.DESCRIPTOR.services_by_name["Scheduler"].full_name,
                 metrics_pb2.DESCRIPTOR.services_by_name["Metrics"].full_name,
                 health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server)
        self.port = listen(server, f"{s.bind_address}:{s.port}")
        await server.start()
        await _set_serving(self._health)
        self._server = server
        if s.metrics_port and not is_worker():
            start_http_server(s.metrics_port, addr=s.bind_address)
        log.info("serving gRPC on %s:%d (metrics on :%s)", s.bind_address, self.port, s.metrics_port or "-")

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace)
        if self.registry is not None:
            await self.registry.stop()
        if self._storage is not None:
            await self._storage.close()

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def _group_resource(resource: str) -> str:
    from skiff.api import kinds

    return kinds.by_resource(resource).group_resource


async def _set_serving(servicer: object) -> None:
    result = servicer.set("", health_pb2.HealthCheckResponse.SERVING)  # type: ignore[attr-defined]
    if asyncio.iscoroutine(result):
        await result


async def run(settings: Settings) -> None:
    server = APIServer(settings)
    await server.start()
    forever = asyncio.create_task(asyncio.Event().wait(), name="apiserver")
    await serve_until_stopped([forever], cleanup=server.stop, grace=settings.shutdown_grace + 10.0, name="apiserver")


def main(argv: list[str]) -> int:
    settings = parse_args(argv)
    if settings.workers > 1 and not is_worker():
        return supervise(argv, workers=settings.workers, bind_address=settings.bind_address, port=settings.port,
                         metrics_port=settings.metrics_port)
    return run_daemon(_named_config_errors(run(settings)))


async def _named_config_errors(main: Awaitable[None]) -> None:
    """An unusable encryption config is reported under the flag that names it."""
    try:
        await main
    except EncryptionConfigError as exc:
        raise ValueError(f"--encryption-provider-config: {exc}") from exc
