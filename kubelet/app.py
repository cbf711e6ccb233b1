"""``skiff kubelet``: turn this machine (or, with the fake runtime, N hollow nodes) into nodes.

``--runtime docker`` runs real containers through the local Docker engine; ``process`` (the
default) runs each container's command as a host process, in its own network namespace and
cgroup when root; ``fake`` runs nothing — with ``--nodes N`` one process hosts N hollow nodes
(``<node-name>-0`` .. ``-N-1``) for the scheduler and scale benchmarks. One gRPC server (logs,
exec) serves every node of the process. ``--cluster-dns``, ``--cluster-domain`` and ``--resolv-conf``
are Kubernetes' flags of the same names: what the pods' ``/etc/resolv.conf`` says (see ``kubelet.dns``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import socket
from pathlib import Path

import grpc
from prometheus_client import start_http_server

from kubelet.dns import DEFAULT_RESOLV_CONF, parse_cluster_dns
from kubelet.kubelet import Kubelet, KubeletSettings
from kubelet.node import NodeSettings, parse_pairs, parse_taints
from kubelet.runtime.interface import ContainerRuntime
from kubelet.server import KubeletServicer
from skiff.api.v1 import core_pb2, metrics_pb2, node_pb2_grpc
from skiff.client.client import Client
from skiff.lifecycle import listen, run_daemon, serve_until_stopped

log = logging.getLogger("skiff.kubelet")

SHUTDOWN_GRACE_S = 15.0
"""SIGTERM to exit: the pods' workers stop, pending statuses and events are written (pods keep running)."""


def make_runtime(kind: str, *, root_dir: Path, node_name: str, node_ip: str, index: int = 0) -> ContainerRuntime:
    if kind == "docker":
        from kubelet.runtime.docker import DockerRuntime, DockerSettings

        return DockerRuntime(DockerSettings(node_name=node_name, node_ip=node_ip))
    if kind == "process":
        from kubelet.runtime.process import ProcessRuntime

        return ProcessRuntime(root_dir / "runtime", node_name=node_name, node_ip=node_ip)
    from kubelet.runtime.fake import FakeRuntime

    return FakeRuntime(node_ip=node_ip, node_name=node_name)


def node_stats(kubelets: list[Kubelet], node_name: str) -> metrics_pb2.NodeUsage | None:
    """The named node's latest usage; with no name, the only node's (None for several, or none)."""
    for k in kubelets:
        if k.settings.node_name == node_name or (not node_name and len(kubelets) == 1):
            return k.stats.usage()
    return None


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="skiff kubelet", description="Run pods on this node.")
    p.add_argument("--server", default=None, help="apiserver HOST:PORT (else SKIFF_SERVER / the config file)")
    p.add_argument("--node-name", default=socket.gethostname())
    p.add_argument("--node-ip", default="127.0.0.1")
    p.add_argument("--runtime", choices=["docker", "process", "fake"], default="process")
    p.add_argument("--root-dir", default="", help="state directory (default ~/.skiff/kubelet/<node>)")
    p.add_argument("--register-with-taints", default="", help="key=value:Effect,...")
    p.add_argument("--node-labels", default="", help="key=value,...")
    p.add_argument("--capacity", default="", help="cpu=4,memory=8Gi,pods=110 (default: this machine's)")
    p.add_argument("--system-reserved", default="", help="cpu=500m,memory=1Gi")
    p.add_argument("--bind-address", default="127.0.0.1", help="address of the kubelet's gRPC service")
    p.add_argument("--port", type=int, default=0, help="gRPC port for logs/exec (0: any free port)")
    p.add_argument("--metrics-port", type=int, default=0)
    p.add_argument("--nodes", type=int, default=1, help="with --runtime fake: how many hollow nodes")
    p.add_argument("--crash-loop-backoff-initial", type=float, default=10.0)
    p.add_argument("--crash-loop-backoff-max", type=float, default=300.0)
    p.add_argument("--node-status-update-frequency", type=float, default=10.0)
    p.add_argument("--housekeeping-interval", type=float, default=10.0,
                   help="seconds between resource usage samples (the window of skiffctl top)")
    p.add_argument("--cluster-dns", action="append", default=[], metavar="IP[,IP]",
                   help="DNS server(s) of ClusterFirst pods, comma-separated (repeatable); none: such pods "
                        "fall back to the Default policy")
    p.add_argument("--cluster-domain", default="",
                   help="the cluster's domain; pods search <ns>.svc.<domain>, svc.<domain> and <domain> first")
    p.add_argument("--resolv-conf", default=DEFAULT_RESOLV_CONF,
                   help="resolver file the pods' DNS settings start from; \"\": none (lookups disabled "
                        "for Default pods)")
    p.add_argument("--v", type=int, default=0)
    a = p.parse_args(argv)
    if a.nodes > 1 and a.runtime != "fake":
        p.error("--nodes N needs --runtime fake (one real node per machine)")
    logging.basicConfig(level=logging.DEBUG if a.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s] %(message)s")
    return a


def _settings(a: argparse.Namespace, index: int, port: int) -> KubeletSettings:
    name = a.node_name if a.nodes == 1 else f"{a.node_name}-{index}"
    root = Path(a.root_dir or Path.home() / ".skiff" / "kubelet" / a.node_name) / (name if a.nodes > 1 else "")
    node = NodeSettings(name=name, ip=a.node_ip, port=port, reserved=parse_pairs(a.system_reserved),
                        labels=parse_pairs(a.node_labels), taints=parse_taints(a.register_with_taints),
                        status_period=a.node_status_update_frequency)
    if a.capacity:
        node.capacity = parse_pairs(a.capacity)
    return KubeletSettings(node=node, root_dir=root, backoff_initial=a.crash_loop_backoff_initial,
                           backoff_max=a.crash_loop_backoff_max, stats_period=a.housekeeping_interval,
                           cluster_dns=parse_cluster_dns(_csv(a.cluster_dns)), cluster_domain=a.cluster_domain,
                           resolv_conf=a.resolv_conf)


def _csv(values: list[str]) -> list[str]:
    """A repeatable comma-separated flag's entries (pflag's StringSlice: an empty value is none)."""
    return [item for value in values for item in value.split(",") if item]


async def run(a: argparse.Namespace) -> None:
    client = Client(a.server)
    kubelets: list[Kubelet] = []

    def lookup(namespace: str, name: str) -> tuple[core_pb2.Pod, ContainerRuntime] | None:
        for k in kubelets:
            pod = k.lookup(namespace, name)
            if pod is not None:
                return pod, k.runtime
        return None

    server = grpc.aio.server()
    node_pb2_grpc.add_KubeletServicer_to_server(KubeletServicer(lookup, functools.partial(node_stats, kubelets)),
                                                server)
    port = listen(server, f"{a.bind_address}:{a.port}")
    await server.start()
    if a.metrics_port:
        start_http_server(a.metrics_port, addr=a.bind_address)
    for index in range(a.nodes):
        settings = _settings(a, index, port)
        settings.root_dir.mkdir(parents=True, exist_ok=True)
        runtime = make_runtime(a.runtime, root_dir=settings.root_dir, node_name=settings.node_name,
                               node_ip=a.node_ip, index=index)
        kubelets.append(Kubelet(client, runtime, settings))
    log.info("kubelet: %d node(s) with the %s runtime; logs/exec on %s:%d", a.nodes, a.runtime, a.bind_address,
             port)
    tasks = [asyncio.create_task(k.run(), name=f"kubelet:{k.settings.node_name}") for k in kubelets]

    async def cleanup() -> None:
        await server.stop(1)
        await client.close()

    await serve_until_stopped(tasks, cleanup=cleanup, grace=SHUTDOWN_GRACE_S, name="kubelet")


def main(argv: list[str]) -> int:
    return run_daemon(run(parse_args(argv)))
