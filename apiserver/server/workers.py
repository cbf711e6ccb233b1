"""Several apiserver worker processes on one port, so the API uses every core.

Python runs one thread of Python at a time, so one apiserver process tops out at one core. With
``--workers N`` the ``skiff apiserver`` process becomes a small supervisor: it starts N copies of
itself (``SKIFF_APISERVER_WORKER`` set) that all bind the same gRPC port with SO_REUSEPORT — the
kernel spreads connections over them — and serves ``/metrics`` itself, summing the workers'
metrics through prometheus_client's multiprocess mode. Each worker is a complete apiserver with
its own watch caches; they agree through etcd exactly as separate apiserver replicas do
(compare-and-swap writes, allocations as etcd keys). A worker that dies is restarted; SIGTERM is
passed on to all of them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import FrameType

WORKER_ENV = "SKIFF_APISERVER_WORKER"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def is_worker() -> bool:
    return os.environ.get(WORKER_ENV) == "1"


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _worker_argv(argv: list[str], port: int) -> list[str]:
    """The worker's command line: the same flags, the chosen port, no metrics port, one worker."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--port", "--metrics-port", "--workers"):
            skip = "=" not in arg and i + 1 < len(argv)
            continue
        out.append(arg)
    return [sys.executable, "-m", "skiff.daemons", "apiserver", *out, "--port", str(port), "--workers", "1"]


def _serve_metrics(port: int, host: str) -> None:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)


def supervise(argv: list[str], *, workers: int, bind_address: str, port: int, metrics_port: int) -> int:
    """Run ``workers`` apiserver processes until SIGTERM/SIGINT; returns the exit code."""
    port = port or _free_port(bind_address)
    metrics_dir = tempfile.mkdtemp(prefix="skiff-apiserver-metrics-")
    env = {**os.environ, WORKER_ENV: "1", MULTIPROC_ENV: metrics_dir}
    command = _worker_argv(argv, port)
    procs = [subprocess.Popen(command, env=env) for _ in range(workers)]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            for p in procs:
                p.kill()
            return
        stopping = True
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if metrics_port:
            os.environ[MULTIPROC_ENV] = metrics_dir
            _serve_metrics(metrics_port, bind_address)
        print(f"skiff apiserver: {workers} workers serving 127.0.0.1:{port}", file=sys.stderr, flush=True)
        return _watch(procs, command, env, lambda: stopping)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _watch(procs: list[subprocess.Popen[bytes]], command: list[str], env: dict[str, str],
           stopping: object) -> int:
    restarts = 0
    while True:
        if stopping():  # type: ignore[operator]
            deadline = time.monotonic() + 15
            for p in procs:
                p.wait(max(0.1, deadline - time.monotonic()))
            return 0
        for i, p in enumerate(procs):
            code = p.poll()
            if code is None:
                continue
            if code != 0 and restarts >= 10:
                print(f"skiff apiserver: worker exited with {code} too often; giving up", file=sys.stderr)
                return code
            restarts += 1
            time.sleep(min(5.0, 0.2 * 2**restarts))
            procs[i] = subprocess.Popen(command, env=env)
        time.sleep(0.2)
