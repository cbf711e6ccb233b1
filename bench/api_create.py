"""API Create throughput and latency, against raw etcd measured in the same run.

What it measures
----------------
Every object the apiserver stores costs one create-if-absent etcd transaction plus the
apiserver's own work: decode the gRPC request, check the namespace, default, validate, set the
server-owned metadata, serialize, and encode the response (and the watch cache sees the event).
This benchmark puts a number on that overhead by measuring, in one run, on one machine:

1. **raw etcd** — N create-if-absent transactions (compare ``mod_revision == 0``, then put), with
   a value of the same size as a stored Pod, at concurrency C, from this process with the
   ``aetcd`` client's KV stub (the cheapest client path there is). This is the ceiling.
2. **API creates** — N ``Client.create(pod)`` calls of a small realistic Pod (one container with
   image, command, labels, resource requests and limits), unique names, at concurrency C,
   through a real apiserver → creates/s, p50, p99, and the ratio to the raw etcd rate.
3. **bare relay** — the same ``Client.create`` calls against ``bench/relay.py``, a gRPC server with
   no logic at all that stores each request with that same etcd transaction. This is the ceiling
   for any Python ``grpc.aio`` server in front of etcd on this machine; ``api/relay`` says what
   share of it the apiserver keeps after doing its real work.
4. **steady rate** — open loop at a fixed rate (default 200/s) for D seconds: each create is
   sent at its planned time whatever the previous ones are doing, and its latency is measured
   from that planned time, so a server that falls behind shows it in p99 instead of quietly
   slowing the load down (no coordinated omission).

The apiserver and the relay run as separate processes (``python -m skiff.daemons apiserver``) so that the
load generator does not share its GIL; etcd runs on free loopback ports with a scratch data
directory (on /dev/shm when there is one, so fsyncs are cheap; the output says which). For each
phase the CPU used by etcd, the apiserver (or relay) and the load generator is printed as a share of one
core: a process near 100% is the bottleneck.

The bar (from the issue): API creates/s at least a quarter of the raw etcd rate (a bare
grpc.aio relay with no logic reaches about a third on a 2-core machine), and p99 Create latency
under 50 ms at a steady 200 creates/s. The benchmark prints its figures and never fails on time;
it exits non-zero only when something broke (etcd or the apiserver would not start, a create
failed). The last line of output is one JSON object with the figures.

Profiling: ``SKIFF_BENCH_PROFILE=cprofile`` runs the apiserver under cProfile and prints its top
functions by own time at the end (the full profile is kept at ``SKIFF_BENCH_PROFILE_OUT``,
default ``bench-apiserver.prof``); ``SKIFF_BENCH_PROFILE=py-spy`` records the apiserver with
py-spy (which must be installed in the venv) into ``SKIFF_BENCH_PROFILE_OUT`` (default
``bench-apiserver.svg``; a ``.txt`` name gives collapsed stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ETCD_BINARY = os.environ.get("SKIFF_ETCD_BINARY", "etcd")
START_DEADLINE_S = 20.0
STOP_GRACE_S = 5.0
REQUEST_TIMEOUT_S = 10.0
WARMUP = 100
NAMESPACE = "default"


# ---------------------------------------------------------------------------------------------
# Processes: etcd and the apiserver
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scratch_root() -> str | None:
    """/dev/shm when it is there and writable (tmpfs: cheap fsyncs), else the default temp dir."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class BenchError(RuntimeError):
    """Something broke (not something slow): the benchmark exits non-zero with this message."""


class Child:
    """A child process with its log in the scratch directory; ``stop()`` is idempotent."""

    def __init__(self, name: str, command: list[str], log: Path, *, cwd: Path | None = None) -> None:
        self.name = name
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.process.returncode}; last lines of {self.log}:\n"
                             f"{_tail(self.log)}")

    def stop(self, *, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; reaps the process."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(timeout=10)


def start_etcd(scratch: Path) -> tuple[Child, str]:
    """A single-member etcd on free loopback ports; returns it and its client URL once healthy."""
    if shutil.which(ETCD_BINARY) is None:
        raise BenchError(f"etcd binary {ETCD_BINARY!r} not found (make etcd installs it)")
    client_url = f"http://127.0.0.1:{_free_port()}"
    peer_url = f"http://127.0.0.1:{_free_port()}"
    command = [
        ETCD_BINARY,
        "--name", "skiff-bench",
        "--data-dir", str(scratch / "etcd"),
        "--listen-client-urls", client_url,
        "--advertise-client-urls", client_url,
        "--listen-peer-urls", peer_url,
        "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"skiff-bench={peer_url}",
        "--heartbeat-interval", "20",
        "--election-timeout", "200",
        "--logger", "zap",
        "--log-level", "warn",
    ]
    etcd = Child("etcd", command, scratch / "etcd.log")
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        etcd.check_alive()
        try:
            with urllib.request.urlopen(f"{client_url}/health", timeout=0.5) as response:
                if json.load(response).get("health") == "true":
                    return etcd, client_url
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise BenchError(f"etcd on {client_url} not healthy after {START_DEADLINE_S:.0f}s; see {etcd.log}")


def _wait_listening(child: Child, port: int) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        child.check_alive()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise BenchError(f"{child.name} did not listen on 127.0.0.1:{port} within {START_DEADLINE_S:.0f}s; "
                     f"last lines of {child.log}:\n{_tail(child.log)}")


def start_relay(scratch: Path, etcd_url: str) -> tuple[Child, int]:
    """bench/relay.py in its own process; waits for its port."""
    port = _free_port()
    relay = Child("relay", [sys.executable, str(ROOT / "bench" / "relay.py"), "--etcd",
                            etcd_url.removeprefix("http://"), "--port", str(port)], scratch / "relay.log", cwd=ROOT)
    _wait_listening(relay, port)
    return relay, port


def start_apiserver(scratch: Path, etcd_url: str, profile: str, profile_out: Path,
                    workers: int = 0) -> tuple[Child, int]:
    """``skiff apiserver`` in its own process (optionally under cProfile); waits for its port."""
    port = _free_port()
    args = ["apiserver", "--etcd-servers", etcd_url, "--port", str(port), "--bind-address", "127.0.0.1"]
    if profile:
        workers = 1  # a profiler sees one process
    if workers:
        args += ["--workers", str(workers)]
    if profile == "cprofile":
        command = [sys.executable, "-m", "cProfile", "-o", str(profile_out), "-m", "skiff.daemons", *args]
    else:
        command = [sys.executable, "-m", "skiff.daemons", *args]
    apiserver = Child("apiserver", command, scratch / "apiserver.log", cwd=ROOT)
    _wait_listening(apiserver, port)
    return apiserver, port


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process and its live children (the apiserver's workers) from /proc
    (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return own + sum(_cpu_seconds(child) or 0.0 for child in _children(pid))


class CpuMeter:
    """CPU time used by each watched process over a phase, as a share of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start: dict[str, float | None] = {}
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._start = {name: self._sample(pid) for name, pid in self._pids.items()}

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        shares: dict[str, float] = {}
        for name, pid in self._pids.items():
            before, after = self._start.get(name), self._sample(pid)
            if before is not None and after is not None and wall > 0:
                shares[name] = (after - before) / wall
        return shares

    @staticmethod
    def _sample(pid: int) -> float | None:
        return time.process_time() if pid == os.getpid() else _cpu_seconds(pid)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class PhaseResult:
    name: str
    wall_s: float
    latencies_s: list[float]
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    sent_rate: float | None = None
    round_rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies_s) / self.wall_s if self.wall_s > 0 else 0.0

    def ms(self, p: float) -> float:
        return percentile(sorted(self.latencies_s), p) * 1000

    def describe(self, unit: str) -> str:
        line = (f"{self.name:<13} {len(self.latencies_s):>6} ok in {self.wall_s:6.2f} s  "
                f"{self.rate:8.0f} {unit}/s  p50 {self.ms(50):6.2f} ms  p99 {self.ms(99):6.2f} ms  "
                f"max {self.ms(100):7.2f} ms")
        if self.sent_rate is not None:
            line += f"  (sent at {self.sent_rate:.0f}/s)"
        if self.errors:
            line += f"  ERRORS {len(self.errors)} (first: {self.errors[0]})"
        if len(self.round_rates) > 1:
            line += "\n" + " " * 14 + "per round: " + " ".join(f"{r:.0f}" for r in self.round_rates) + f" {unit}/s"
        if self.cpu:
            line += "\n" + " " * 14 + "cpu (share of one core): " + ", ".join(
                f"{name} {share * 100:.0f}%" for name, share in self.cpu.items())
        return line


def combine(name: str, parts: list[PhaseResult]) -> PhaseResult:
    """Rounds of one phase as one result: summed time, pooled latencies, time-weighted CPU."""
    wall = sum(p.wall_s for p in parts)
    cpu: dict[str, float] = {}
    for p in parts:
        for proc, share in p.cpu.items():
            cpu[proc] = cpu.get(proc, 0.0) + share * p.wall_s / wall
    return PhaseResult(name, wall, [x for p in parts for x in p.latencies_s], [e for p in parts for e in p.errors],
                       cpu, round_rates=[p.rate for p in parts])


def cpu_per_op_us(result: PhaseResult, process: str) -> float | None:
    """CPU time ``process`` spent per successful operation of a phase, in microseconds."""
    share = result.cpu.get(process)
    if share is None or not result.latencies_s:
        return None
    return share * result.wall_s / len(result.latencies_s) * 1e6


Op = Callable[[int], Awaitable[object]]


async def closed_loop(name: str, op: Op, *, count: int, concurrency: int, first: int, meter: CpuMeter
                      ) -> PhaseResult:
    """``count`` calls of ``op(i)`` by ``concurrency`` workers, each starting its next when one ends."""
    latencies: list[float] = []
    errors: list[str] = []
    indices = iter(range(first, first + count))

    async def worker() -> None:
        for i in indices:
            started = time.perf_counter()
            try:
                await op(i)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append(time.perf_counter() - started)

    meter.start()
    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    wall = time.perf_counter() - t0
    return PhaseResult(name, wall, latencies, errors, meter.stop())


async def open_loop(name: str, op: Op, *, rate: float, duration: float, first: int, meter: CpuMeter
                    ) -> PhaseResult:
    """``op(i)`` sent at ``rate``/s for ``duration`` s on a fixed schedule; latency from the plan."""
    total = max(1, round(rate * duration))
    latencies: list[float] = []
    errors: list[str] = []
    last_done = 0.0

    async def one(i: int, planned: float) -> None:
        nonlocal last_done
        try:
            await op(first + i)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
            errors.append(f"{type(exc).__name__}: {exc}")
            return
        done = time.perf_counter()
        latencies.append(done - planned)
        last_done = max(last_done, done)

    meter.start()
    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        i = 0
        while i < total:
            now = time.perf_counter()
            # Send everything that is due (more than one if the loop woke up late), then sleep.
            while i < total and t0 + i / rate <= now:
                group.create_task(one(i, t0 + i / rate))
                i += 1
            if i < total:
                await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        sent_wall = time.perf_counter() - t0
    wall = (last_done or time.perf_counter()) - t0
    result = PhaseResult(name, wall, latencies, errors, meter.stop())
    result.sent_rate = (total - 1) / sent_wall if total > 1 and sent_wall > 0 else None
    return result


# ---------------------------------------------------------------------------------------------
# The workload
# ---------------------------------------------------------------------------------------------


def pod_manifest() -> dict[str, Any]:
    """tests/support/samples.py's Pod with labels and resource requests/limits added."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.samples import sample

    doc = sample("Pod", name="bench", namespace=NAMESPACE, labels={"app": "bench", "tier": "web"})
    doc["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "200m", "memory": "128Mi"},
    }
    return doc


def make_pods(count: int) -> Iterator[Any]:
    """``count`` Pods named bench-000000, bench-000001, ... built before any clock starts."""
    from skiff.api.manifest import from_manifest

    template = from_manifest(pod_manifest())
    for i in range(count):
        pod = type(template)()
        pod.CopyFrom(template)
        pod.metadata.name = f"bench-{i:06d}"  # type: ignore[attr-defined]
        yield pod


@dataclass(frozen=True)
class Options:
    count: int
    concurrency: int
    rounds: int
    rate: float
    duration: float
    profile: str
    profile_out: Path
    connections: int = 4
    workers: int = 0
    """apiserver worker processes (0: its default; profiling runs one)."""


async def measure(opts: Options, etcd: Child, etcd_url: str, apiserver: Child, port: int,
                  relay: Child, relay_port: int) -> dict[str, Any]:
    import aetcd
    from aetcd import rpc

    from skiff.api.errors import AlreadyExists
    from skiff.client.client import Client

    steady_total = max(1, round(opts.rate * opts.duration))
    pods = list(make_pods(WARMUP + opts.count + steady_total))
    meter = CpuMeter({"etcd": etcd.pid, "apiserver": apiserver.pid, "relay": relay.pid, "loadgen": os.getpid()})
    host, etcd_port = etcd_url.removeprefix("http://").rsplit(":", 1)

    # Several connections, as an apiserver sees from its many clients; the kernel spreads
    # connections (not requests) over the apiserver's worker processes.
    clients = [Client(f"127.0.0.1:{port}", timeout=REQUEST_TIMEOUT_S) for _ in range(opts.connections)]
    relay_clients = [Client(f"127.0.0.1:{relay_port}", timeout=REQUEST_TIMEOUT_S) for _ in range(opts.connections)]
    print(f"api creates over {opts.connections} client connections", flush=True)
    async with clients[0] as client:
        # The apiserver is listening; wait until it serves (its caches may still be starting).
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            try:
                await client.create(pods[0])
                break
            except AlreadyExists:  # an earlier attempt got through after all
                break
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                apiserver.check_alive()
                if time.monotonic() > deadline:
                    raise BenchError(f"the apiserver on port {port} does not serve Create: {exc}") from exc
                await asyncio.sleep(0.1)

        etcd_client = aetcd.Client(host=host, port=int(etcd_port), timeout=REQUEST_TIMEOUT_S)
        await etcd_client.connect()
        try:
            stored = await etcd_client.get(f"/registry/pods/{NAMESPACE}/{pods[0].metadata.name}".encode())
            if stored is None:
                raise BenchError("the created Pod is not in etcd under /registry/pods/")
            value = bytes(stored.value)
            print(f"pod: {pods[0].ByteSize()} bytes on the wire, {len(value)} bytes stored in etcd; "
                  f"raw etcd puts use a {len(value)}-byte value", flush=True)
            kv = etcd_client.kvstub

            async def raw_put(i: int) -> None:
                key = f"/rawbench/pods/{NAMESPACE}/bench-{i:06d}".encode()
                request = rpc.TxnRequest(
                    compare=[rpc.Compare(key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD,
                                         mod_revision=0)],
                    success=[rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value))],
                    failure=[])
                response = await kv.Txn(request, timeout=REQUEST_TIMEOUT_S)
                if not response.succeeded:
                    raise BenchError(f"raw create of {key.decode()} found the key already there")

            # Warm-up for both paths (channels, the apiserver's code paths), not measured.
            await closed_loop("warmup", raw_put, count=WARMUP, concurrency=opts.concurrency,
                              first=1_000_000, meter=meter)

            async def api_create(i: int) -> None:
                await clients[i % len(clients)].create(pods[i])

            async def relay_create(i: int) -> None:
                await relay_clients[i % len(relay_clients)].create(pods[i])

            for op in (api_create, relay_create):
                warm = await closed_loop("warmup", op, count=WARMUP - 1, concurrency=opts.concurrency, first=1,
                                         meter=meter)
                if warm.errors:
                    raise BenchError(f"warm-up creates failed: {warm.errors[0]}")

            # Raw, relay and API slices alternate, so that whatever else the machine is doing
            # meanwhile weighs on every figure alike.
            raw_parts: list[PhaseResult] = []
            relay_parts: list[PhaseResult] = []
            api_parts: list[PhaseResult] = []
            done = 0
            for r in range(opts.rounds):
                n = opts.count * (r + 1) // opts.rounds - done
                raw_parts.append(await closed_loop("raw etcd", raw_put, count=n, concurrency=opts.concurrency,
                                                   first=done, meter=meter))
                relay_parts.append(await closed_loop("bare relay", relay_create, count=n,
                                                     concurrency=opts.concurrency, first=WARMUP + done, meter=meter))
                api_parts.append(await closed_loop("api create", api_create, count=n,
                                                   concurrency=opts.concurrency, first=WARMUP + done, meter=meter))
                done += n
        finally:
            await etcd_client.close()
            for relay_client in relay_clients:
                await relay_client.close()

        raw, api = combine("raw etcd", raw_parts), combine("api create", api_parts)
        bare = combine("bare relay", relay_parts)
        for part in (raw, api):
            part.cpu.pop("relay", None)
        bare.cpu.pop("apiserver", None)
        print(raw.describe("puts"), flush=True)
        print(bare.describe("creates"), flush=True)
        print(api.describe("creates"), flush=True)
        ratio = api.rate / raw.rate if raw.rate else 0.0
        relay_ratio = bare.rate / raw.rate if raw.rate else 0.0
        kept = api.rate / bare.rate if bare.rate else 0.0
        print(f"{'ratio':<13} api/raw = {ratio:.2f}  (bar: >= 0.25); relay/raw = {relay_ratio:.2f} (the ceiling "
              f"for a Python gRPC server here); api/relay = {kept:.2f}", flush=True)
        cpu_us = cpu_per_op_us(api, "apiserver")
        if cpu_us is not None:
            print(f"{'apiserver cpu':<13} {cpu_us:.0f} us per create (what caps creates/s once it nears one core)",
                  flush=True)

        steady = await open_loop(f"steady {opts.rate:g}/s", api_create, rate=opts.rate, duration=opts.duration,
                                 first=WARMUP + opts.count, meter=meter)
        steady.cpu.pop("relay", None)
        print(steady.describe("creates"), flush=True)
        print(f"{'steady p99':<13} {steady.ms(99):.2f} ms at {opts.rate:g}/s  (bar: < 50 ms)", flush=True)

    errors = [e for phase in (raw, bare, api, steady) for e in phase.errors]
    figures: dict[str, Any] = {
        "bench": "api_create",
        "creates_per_s": round(api.rate, 1),
        "etcd_puts_per_s": round(raw.rate, 1),
        "ratio": round(ratio, 3),
        "relay_creates_per_s": round(bare.rate, 1),
        "relay_ratio": round(relay_ratio, 3),
        "api_over_relay": round(kept, 3),
        "p50_ms": round(api.ms(50), 2),
        "p99_ms": round(api.ms(99), 2),
        "etcd_p50_ms": round(raw.ms(50), 2),
        "etcd_p99_ms": round(raw.ms(99), 2),
        "steady_rate": opts.rate,
        "steady_achieved_per_s": round(steady.rate, 1),
        "steady_p50_ms": round(steady.ms(50), 2),
        "steady_p99_ms": round(steady.ms(99), 2),
        "count": opts.count,
        "concurrency": opts.concurrency,
        "rounds": opts.rounds,
        "value_bytes": len(value),
        "apiserver_cpu": round(api.cpu.get("apiserver", 0.0), 2),
        "apiserver_cpu_us_per_create": None if cpu_us is None else round(cpu_us),
        "errors": len(errors),
    }
    return figures


# ---------------------------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------------------------


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        raise BenchError(f"SKIFF_BENCH_PROFILE=py-spy needs py-spy: {Path(sys.executable).parent}/pip install py-spy")
    fmt = "raw" if out.suffix == ".txt" else "flamegraph"
    return subprocess.Popen([str(py_spy), "record", "--pid", str(pid), "--rate", "250", "--format", fmt,
                             "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def print_cprofile(path: Path, top: int = 25) -> None:
    import pstats

    if not path.exists():
        print(f"no profile written to {path}", file=sys.stderr)
        return
    print(f"\napiserver profile ({path}), top {top} by own time:")
    pstats.Stats(str(path), stream=sys.stdout).sort_stats("tottime").print_stats(top)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--count", type=int, default=2000, help="creates in each closed-loop phase (default 2000)")
    p.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    p.add_argument("--connections", type=int, default=4, help="client connections to the apiserver (default 4)")
    p.add_argument("--rounds", type=int, default=4,
                   help="alternate raw etcd and API slices this many times (default 4)")
    p.add_argument("--rate", type=float, default=200.0, help="creates/s of the steady phase (default 200)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds of the steady phase (default 5)")
    p.add_argument("--workers", type=int, default=0,
                   help="apiserver worker processes (default: the apiserver's own default; 1 when profiling)")
    a = p.parse_args(argv)
    if a.count < 1 or a.concurrency < 1 or a.rounds < 1 or a.rate <= 0 or a.duration <= 0:
        p.error("--count, --concurrency, --rounds, --rate and --duration must be positive")
    profile = os.environ.get("SKIFF_BENCH_PROFILE", "").strip().lower()
    if profile not in ("", "cprofile", "py-spy"):
        p.error(f"SKIFF_BENCH_PROFILE={profile!r}: expected cprofile or py-spy")
    default_out = "bench-apiserver.prof" if profile == "cprofile" else "bench-apiserver.svg"
    out = Path(os.environ.get("SKIFF_BENCH_PROFILE_OUT", default_out)).resolve()
    return Options(a.count, a.concurrency, min(a.rounds, a.count), a.rate, a.duration, profile, out,
                   max(1, a.connections), max(0, a.workers))


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    scratch_root = _scratch_root()
    scratch = Path(tempfile.mkdtemp(prefix="skiff-bench-", dir=scratch_root))
    children: list[Child] = []
    spy: subprocess.Popen[bytes] | None = None
    try:
        print(f"api_create: count={opts.count} concurrency={opts.concurrency} rounds={opts.rounds} "
              f"steady={opts.rate:g}/s for {opts.duration:g} s; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.2f} before the run; etcd data dir {scratch / 'etcd'} "
              f"({'tmpfs /dev/shm' if scratch_root else 'default temp dir, not tmpfs: fsyncs hit the disk'})",
              flush=True)
        etcd, etcd_url = start_etcd(scratch)
        children.append(etcd)
        apiserver, port = start_apiserver(scratch, etcd_url, opts.profile, opts.profile_out, opts.workers)
        children.append(apiserver)
        print(f"etcd {etcd_url} (pid {etcd.pid}), apiserver 127.0.0.1:{port} (pid {apiserver.pid}"
              f"{', under cProfile' if opts.profile == 'cprofile' else ''}), loadgen pid {os.getpid()}",
              flush=True)
        if opts.profile == "py-spy":
            spy = start_py_spy(apiserver.pid, opts.profile_out)
        relay, relay_port = start_relay(scratch, etcd_url)
        children.append(relay)
        figures = asyncio.run(measure(opts, etcd, etcd_url, apiserver, port, relay, relay_port))
    except BenchError as exc:
        print(f"api_create: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("api_create: interrupted", file=sys.stderr)
        return 130
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            try:
                _, err = spy.communicate(timeout=30)
                if spy.returncode:
                    print(f"py-spy failed: {err.decode(errors='replace').strip()}", file=sys.stderr)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
        for child in reversed(children):
            child.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    if opts.profile == "cprofile":
        print_cprofile(opts.profile_out)
    elif opts.profile == "py-spy":
        print(f"\napiserver py-spy profile: {opts.profile_out}")
    print(json.dumps(figures), flush=True)
    if figures["errors"]:
        print(f"api_create: error: {figures['errors']} operations failed (see the ERRORS above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
