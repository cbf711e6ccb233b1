"""The kubelet's usage sampler: CPU rates over the window of two samples, the NodeUsage it answers
before and after a first window, hollow nodes summing their pods, the resource metrics, and the
parsers behind the runtimes' figures (cgroup files, /proc, the Docker engine's stats)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest

from kubelet.metrics import RESOURCE_METRICS
from kubelet.runtime.docker import stats_from_engine
from kubelet.runtime.fake import FakeRuntime, FakeUsage
from kubelet.runtime.interface import ContainerConfig, SandboxConfig
from kubelet.runtime.process.cgroups import Cgroups
from kubelet.stats import (
    ContainerSample,
    PodRef,
    Sample,
    StatsSampler,
    host_cpu_seconds,
    host_memory_working_set,
    node_usage,
    rate_nano_cores,
)
from skiff.api.v1 import core_pb2


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_rate_is_cpu_seconds_over_the_window_in_nanocores() -> None:
    assert rate_nano_cores(1.0, 3.5, 10.0) == 250_000_000
    assert rate_nano_cores(0.0, 20.0, 10.0) == 2_000_000_000  # two cores busy
    assert rate_nano_cores(5.0, 5.0, 10.0) == 0


def test_no_rate_for_an_empty_window_or_a_counter_that_went_back() -> None:
    assert rate_nano_cores(1.0, 2.0, 0.0) == 0
    assert rate_nano_cores(3.0, 1.0, 10.0) == 0


def test_before_a_first_window_pods_have_no_containers_and_the_node_no_cpu() -> None:
    pod = PodRef("default", "web", "u1")
    first = Sample(at=100.0, pods=[pod], containers={"c1": ContainerSample("u1", "app", 5.0, 1024)},
                   node_cpu_seconds=50.0, node_memory_bytes=4096)
    usage = node_usage("n1", None, first)
    assert usage.node_name == "n1" and usage.timestamp == "1970-01-01T00:01:40Z"
    assert usage.window_seconds == 0 and usage.cpu_nano_cores == 0 and usage.memory_working_set_bytes == 4096
    assert [(p.namespace, p.name, p.uid, len(p.containers)) for p in usage.pods] == [("default", "web", "u1", 0)]
    assert node_usage("n1", None, None).node_name == "n1"


def test_a_window_gives_rates_and_a_new_container_waits_for_the_next_one() -> None:
    pods = [PodRef("default", "web", "u1")]
    before = Sample(at=100.0, pods=pods, containers={"c1": ContainerSample("u1", "app", 5.0, 1024)},
                    node_cpu_seconds=50.0, node_memory_bytes=4096)
    after = Sample(at=110.0, pods=pods, containers={"c1": ContainerSample("u1", "app", 7.5, 2048),
                                                    "c2": ContainerSample("u1", "sidecar", 1.0, 512)},
                   node_cpu_seconds=60.0, node_memory_bytes=8192)
    usage = node_usage("n1", before, after)
    assert usage.window_seconds == 10.0 and usage.timestamp == "1970-01-01T00:01:50Z"
    assert usage.cpu_nano_cores == 1_000_000_000 and usage.memory_working_set_bytes == 8192
    [pod] = usage.pods
    assert [(c.name, c.cpu_nano_cores, c.memory_working_set_bytes) for c in pod.containers] == [
        ("app", 250_000_000, 2048)]


def pod(name: str, uid: str, phase: str = "Running") -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.namespace, p.metadata.name, p.metadata.uid = "default", name, uid
    p.status.phase = phase
    return p


async def start(runtime: FakeRuntime, p: core_pb2.Pod, *names: str) -> None:
    sandbox = await runtime.run_sandbox(SandboxConfig(pod_uid=p.metadata.uid, namespace="default", name=p.metadata.name,
                                                      hostname=p.metadata.name))
    for name in names:
        await runtime.start_container(sandbox, ContainerConfig(name=name, image="busybox", command=["x"], args=[],
                                                               env=[]))


async def test_the_sampler_with_the_fake_runtime_reports_exact_figures() -> None:
    clock = Clock()
    runtime = FakeRuntime(node_name="n1", clock=clock)
    runtime.usage["app"] = FakeUsage(cpu_nano_cores=250_000_000, memory_bytes=64 << 20)
    runtime.usage["side"] = FakeUsage(cpu_nano_cores=1_000_000, memory_bytes=1 << 20)
    web, done = pod("web", "u1"), pod("done", "u2", phase="Succeeded")
    await start(runtime, web, "app", "side")
    await start(runtime, done, "app")
    sampler = StatsSampler(runtime, "n1", lambda: [web, done], period=0.01, clock=clock)

    await sampler.sample()
    first = sampler.usage()
    assert [(p.name, list(p.containers)) for p in first.pods] == [("web", [])]
    assert first.cpu_nano_cores == 0 and first.memory_working_set_bytes == (64 << 20) + (1 << 20)

    clock.now += 10
    await sampler.sample()
    usage = sampler.usage()
    assert usage.window_seconds == 10
    [p] = usage.pods
    assert {c.name: (c.cpu_nano_cores, c.memory_working_set_bytes) for c in p.containers} == {
        "app": (250_000_000, 64 << 20), "side": (1_000_000, 1 << 20)}
    # a hollow node is the sum of its pods, not the host
    assert usage.cpu_nano_cores == 251_000_000 and usage.memory_working_set_bytes == (65 << 20)


async def test_a_stopped_container_has_no_stats_and_leaves_the_metrics() -> None:
    clock = Clock()
    runtime = FakeRuntime(node_name="metrics-node", clock=clock)
    runtime.usage["app"] = FakeUsage(cpu_nano_cores=500_000_000, memory_bytes=4096)
    web = pod("metrics-web", "u9")
    await start(runtime, web, "app")
    sampler = StatsSampler(runtime, "metrics-node", lambda: [web], clock=clock)
    RESOURCE_METRICS.add(sampler)
    try:
        await sampler.sample()
        clock.now += 4
        await sampler.sample()
        text = generate_latest().decode()
        assert ('container_cpu_usage_seconds_total{container="app",namespace="default",pod="metrics-web"} 2.0'
                in text)
        assert 'container_memory_working_set_bytes{container="app",namespace="default",pod="metrics-web"} 4096.0' \
            in text
        assert 'node_memory_working_set_bytes{node="metrics-node"} 4096.0' in text
        [container] = await runtime.list_containers()
        await runtime.stop_container(container.id, 0)
        assert await runtime.container_stats(container.id) is None
        await sampler.sample()
        assert 'pod="metrics-web"' not in generate_latest().decode()
    finally:
        RESOURCE_METRICS.discard(sampler)
    assert "metrics-node" not in generate_latest().decode()


def test_cgroup_v2_usage_is_usage_usec_and_current_minus_inactive_file(tmp_path: Path) -> None:
    (tmp_path / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (tmp_path / "memory.current").write_text("10485760\n")
    (tmp_path / "memory.stat").write_text("anon 8388608\nfile 2097152\ninactive_file 1048576\n")
    assert Cgroups.usage([tmp_path]) == (2.5, 10485760 - 1048576)


def test_cgroup_v1_usage_is_cpuacct_and_usage_minus_total_inactive_file(tmp_path: Path) -> None:
    memory, cpuacct, cpu = (tmp_path / d for d in ("memory", "cpuacct", "cpu"))
    for d in (memory, cpuacct, cpu):
        d.mkdir()
    (memory / "memory.usage_in_bytes").write_text("4096000\n")
    (memory / "memory.stat").write_text("inactive_file 10\ntotal_inactive_file 96000\n")
    (cpuacct / "cpuacct.usage").write_text("1500000000\n")
    (cpu / "cpu.stat").write_text("nr_periods 0\nnr_throttled 0\nthrottled_time 0\n")
    assert Cgroups.usage([memory, cpuacct, cpu]) == (1.5, 4000000)
    assert Cgroups.usage([memory, cpu]) == (None, 4000000)  # no cpuacct cgroup: the runtime asks /proc
    assert Cgroups.usage([tmp_path / "gone"]) == (None, None)


def test_host_cpu_and_memory_from_proc(tmp_path: Path) -> None:
    import os

    hz = os.sysconf("SC_CLK_TCK")
    (tmp_path / "stat").write_text(f"cpu  {hz} 0 {hz} {100 * hz} {hz} 0 0 0 0 0\ncpu0 1 2 3 4\n")
    (tmp_path / "meminfo").write_text("MemTotal:        8000 kB\nMemFree:  1000 kB\nMemAvailable:    6000 kB\n")
    assert host_cpu_seconds(tmp_path) == pytest.approx(2.0)  # user + system; not idle, not iowait
    assert host_memory_working_set(tmp_path) == 2000 * 1024


def test_docker_engine_stats_working_set_as_cadvisor() -> None:
    v1 = {"read": "2026-01-01T00:00:00Z", "cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}},
          "memory_stats": {"usage": 983040, "stats": {"inactive_file": 4096, "total_inactive_file": 8192,
                                                      "cache": 446464}}}
    stats = stats_from_engine(v1)
    assert stats is not None and stats.cpu_usage_seconds == 2.5 and stats.memory_working_set_bytes == 983040 - 8192
    v2 = {"read": "2026-01-01T00:00:00Z", "cpu_stats": {"cpu_usage": {"total_usage": 1_000_000}},
          "memory_stats": {"usage": 5000, "stats": {"inactive_file": 1000}}}
    assert stats_from_engine(v2) == type(stats)(cpu_usage_seconds=0.001, memory_working_set_bytes=4000)
    stopped = {"read": "0001-01-01T00:00:00Z", "cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {}}
    assert stats_from_engine(stopped) is None


async def test_the_housekeeping_interval_sets_the_sampling_period_and_stats_pick_the_named_node(
        tmp_path: Path) -> None:  # async: the Client's gRPC channel needs the running loop
    from kubelet.app import _settings, node_stats, parse_args
    from kubelet.kubelet import Kubelet
    from skiff.client.client import Client

    a = parse_args(["--runtime", "fake", "--nodes", "2", "--node-name", "hollow", "--root-dir", str(tmp_path),
                    "--housekeeping-interval", "2.5"])
    assert _settings(a, 0, 1).stats_period == 2.5 and parse_args([]).housekeeping_interval == 10.0
    client = Client("127.0.0.1:1")
    kubelets = [Kubelet(client, FakeRuntime(node_name=f"hollow-{i}"), _settings(a, i, 1)) for i in range(2)]
    usage = node_stats(kubelets, "hollow-1")
    assert usage is not None and usage.node_name == "hollow-1"
    assert node_stats(kubelets, "") is None and node_stats(kubelets, "other") is None
    only = node_stats(kubelets[:1], "")
    assert only is not None and only.node_name == "hollow-0"
    await client.close()
