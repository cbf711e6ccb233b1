"""``skiff up``: a whole local cluster from one command.

It starts etcd (a data directory under ``--data-dir``, ports picked free), an apiserver with
Secrets encrypted at rest (an AES-GCM key generated once into the data directory), the
scheduler, the controller-manager, the kubelets and the service proxy; then it writes
``~/.skiff/config`` so ``skiffctl`` finds the cluster, and supervises: a component that exits is restarted with
backoff, Ctrl-C / SIGTERM stops everything in reverse order. State lives in the data directory,
so ``skiff up`` again brings the same cluster back.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from skiff import aio
from skiff.client.config import write_cluster_config


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class Component:
    """One supervised child process."""

    name: str
    argv: list[str]
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    env: dict[str, str] = field(default_factory=dict)

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, **self.env}, start_new_session=True)
        log.close()
        self.started_at = time.monotonic()

    async def stop(self, grace: float = 10.0) -> None:
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await aio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def encryption_config(data_dir: Path) -> Path:
    """The cluster's EncryptionConfiguration, created once with a fresh AES-GCM key."""
    path = data_dir / "encryption.yaml"
    if not path.exists():
        key = base64.b64encode(os.urandom(32)).decode()
        path.write_text(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
            "  - resources: [secrets]\n    providers:\n"
            f"      - aesgcm:\n          keys:\n            - name: key1\n              secret: {key}\n"
            "      - identity: {}\n")
        path.chmod(0o600)
    return path


def etcd_binary() -> str:
    found = shutil.which("etcd")
    if not found:
        raise SystemExit("skiff up: the etcd binary is not installed (Debian: apt-get install etcd-server; "
                         "`make up` installs it for you)")
    return found


@dataclass(frozen=True)
class UpSettings:
    data_dir: Path
    port: int
    nodes: int
    runtime: str
    metrics_port: int


@dataclass(frozen=True)
class Plan:
    components: list[Component]
    etcd_url: str


def plan(settings: UpSettings) -> Plan:
    """The components of the cluster, in start order."""
    d = settings.data_dir
    logs = d / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    etcd_client, etcd_peer = free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_client}"
    py = [sys.executable, "-m", "skiff.daemons"]
    etcd = Component("etcd", [etcd_binary(), "--name", "skiff", "--data-dir", str(d / "etcd"),
                              "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
                              "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
                              "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
                              "--initial-cluster", f"skiff=http://127.0.0.1:{etcd_peer}"],
                     logs / "etcd.log")
    apiserver = Component("apiserver", [*py, "apiserver", "--etcd-servers", etcd_url, "--port", str(settings.port),
                                        "--metrics-port", str(settings.metrics_port),
                                        "--encryption-provider-config", str(encryption_config(d))],
                          logs / "apiserver.log")
    server = f"127.0.0.1:{settings.port}"
    scheduler = Component("scheduler", [*py, "scheduler", "--server", server, "--metrics-port", str(free_port())],
                          logs / "scheduler.log")
    controller_manager = Component("controller-manager", [*py, "controller-manager", "--server", server,
                                                          "--metrics-port", str(free_port())],
                                   logs / "controller-manager.log")
    return Plan([etcd, apiserver, scheduler, controller_manager, *kubelets(settings, server, py, logs),
                 *proxies(settings, server, py, logs), *load_balancers(settings, server, py, logs)], etcd_url)


CLUSTER_DNS = "10.96.0.10"
"""The cluster DNS address: the tenth of the apiserver's default service range, as in kubeadm."""
CLUSTER_DOMAIN = "cluster.local"
DNS_FLAGS = ["--cluster-dns", CLUSTER_DNS, "--cluster-domain", CLUSTER_DOMAIN]


def proxies(settings: UpSettings, server: str, py: list[str], logs: Path) -> list[Component]:
    """The service proxy: one for the host (its nodes share the host's network); none for hollow nodes,
    whose pods have no addresses to forward to."""
    if settings.nodes < 1 or settings.runtime == "fake":
        return []
    node = "skiff-node-0" if settings.nodes > 1 else "skiff-node"
    return [Component("proxy", [*py, "proxy", "--server", server, "--hostname-override", node, "--metrics-port",
                                str(free_port()), *DNS_FLAGS], logs / "proxy.log")]


LOAD_BALANCER_POOL = "127.0.100.0/24"
"""LoadBalancer Services' external addresses: loopback, so reachable from this host only."""


def load_balancers(settings: UpSettings, server: str, py: list[str], logs: Path) -> list[Component]:
    """nginx in front of the nodes for LoadBalancer Services, where nginx is installed and pods are real."""
    nginx = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if settings.nodes < 1 or settings.runtime == "fake" or nginx is None:
        return []
    return [Component("loadbalancer", [*py, "loadbalancer", "--server", server, "--addresses", LOAD_BALANCER_POOL,
                                       "--nginx", nginx,
                                       "--work-dir", str(settings.data_dir / "loadbalancer"), "--metrics-port",
                                       str(free_port())], logs / "loadbalancer.log")]


def kubelets(settings: UpSettings, server: str, py: list[str], logs: Path) -> list[Component]:
    """The nodes: one process per node, or one process of hollow nodes with the fake runtime."""
    backoff = ["--crash-loop-backoff-initial", "10", "--crash-loop-backoff-max", "300"]
    if settings.nodes < 1:
        return []
    if settings.runtime == "fake":
        return [Component("kubelet", [*py, "kubelet", "--server", server, "--runtime", "fake", "--nodes",
                                      str(settings.nodes), "--node-name", "skiff-node", "--root-dir",
                                      str(settings.data_dir / "kubelet"), *DNS_FLAGS, *backoff],
                              logs / "kubelet.log")]
    out = []
    for i in range(settings.nodes):
        name = f"skiff-node-{i}" if settings.nodes > 1 else "skiff-node"
        out.append(Component(f"kubelet {name}", [*py, "kubelet", "--server", server, "--runtime", settings.runtime,
                                                 "--node-name", name, "--root-dir",
                                                 str(settings.data_dir / "kubelet" / name), "--metrics-port",
                                                 str(free_port()), *DNS_FLAGS, *backoff],
                             logs / f"kubelet-{name}.log"))
    return out


def default_runtime() -> str:
    """docker where a Docker engine answers, else the process runtime (DESIGN.md §4)."""
    docker = shutil.which("docker")
    if docker is None:
        return "process"
    try:
        done = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "process"
    return "docker" if done.returncode == 0 else "process"


async def wait_for_port(port: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return True
        await asyncio.sleep(0.1)
    return False


async def supervise(components: list[Component], stop: asyncio.Event) -> None:
    """Restart any component that exits, with backoff (1 s doubling to 30 s), until stop."""
    while not stop.is_set():
        for c in components:
            if c.process is not None and c.process.returncode is not None:
                delay = min(30.0, 2.0 ** min(c.restarts, 5))
                if time.monotonic() - c.started_at > 60:
                    c.restarts = 0
                    delay = 1.0
                print(f"skiff up: {c.name} exited with code {c.process.returncode}; restarting in {delay:.0f}s "
                      f"(log: {c.log_path})", flush=True)
                c.restarts += 1
                await asyncio.sleep(delay)
                await c.start()
        await aio.wait_event(stop, 0.5)


async def run(settings: UpSettings) -> int:
    cluster = plan(settings)
    components = cluster.components
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for c in components:
            await c.start()
            print(f"skiff up: started {c.name} (log: {c.log_path})", flush=True)
            if c.name == "apiserver" and not await wait_for_port(settings.port):
                print(f"skiff up: the apiserver did not come up; see {c.log_path}", file=sys.stderr)
                return 1
        config = write_cluster_config(f"127.0.0.1:{settings.port}")
        extras = (f"  dns:      {CLUSTER_DNS} ({CLUSTER_DOMAIN}), answered by the proxy\n"
                  if any(c.name == "proxy" for c in components) else "")
        extras += (f"  lb:       LoadBalancer Services get addresses from {LOAD_BALANCER_POOL} (nginx)\n"
                   if any(c.name == "loadbalancer" for c in components) else "")
        print(f"\nskiff cluster is up: apiserver 127.0.0.1:{settings.port}, data in {settings.data_dir}\n"
              f"  nodes:    {settings.nodes} ({settings.runtime} runtime)\n{extras}"
              f"  etcd:     {cluster.etcd_url}\n"
              f"  metrics:  http://127.0.0.1:{settings.metrics_port}/metrics\n"
              f"skiffctl is configured through {config}; try:  skiffctl get namespaces\n"
              "Ctrl-C stops the cluster (its state stays in the data directory).", flush=True)
        await supervise(components, stop)
    finally:
        print("skiff up: stopping", flush=True)
        for c in reversed(components):
            await c.stop()
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="skiff up", description="Start a whole local skiff cluster.")
    p.add_argument("--data-dir", default=str(Path.home() / ".skiff" / "data"))
    p.add_argument("--port", type=int, default=6443, help="apiserver gRPC port (default 6443)")
    p.add_argument("--nodes", type=int, default=1, help="number of nodes (kubelets); 0: the control plane only")
    p.add_argument("--runtime", choices=["docker", "process", "fake"], default=None,
                   help="container runtime of the nodes (default: docker if an engine answers, else process)")
    p.add_argument("--metrics-port", type=int, default=0, help="apiserver /metrics port (default: a free one)")
    a = p.parse_args(argv)
    if not port_is_free(a.port):
        print(f"skiff up: port {a.port} is in use (another cluster running?); choose another with --port",
              file=sys.stderr)
        return 1
    settings = UpSettings(data_dir=Path(a.data_dir).expanduser(), port=a.port, nodes=a.nodes,
                          runtime=a.runtime or default_runtime(),
                          metrics_port=a.metrics_port or free_port())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run(settings))
