"""Probe workers on a FakeClock with scripted checks, and the exec check on a stub runtime.

Each probe in these tests is an exec probe whose command names it (``["liveness"]`` ...); the
scripted prober looks the name up and returns the next scripted outcome, recording when it was
called. Time moves only through :func:`run_for`, one second at a time, letting the worker tasks
run between steps.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kubelet.probe_manager import ProbeEvent, ProbeManager
from kubelet.probes import ProbeOutcome, exec_check, probe_headers, probe_url, resolve_container_port, run_probe
from kubelet.runtime.interface import ExecResult, RuntimeFailure
from skiff.api.v1 import core_pb2, meta_pb2
from skiff.client.clock import FakeClock

OK = ProbeOutcome("success", "ok")
BAD = ProbeOutcome("failure", "HTTP probe failed with statuscode: 500")
UNKNOWN = ProbeOutcome("unknown", "invalid port number: 0")


class ScriptedProber:
    """Returns scripted outcomes per probe name; the last outcome repeats."""

    def __init__(self, clock: FakeClock, **scripts: list[ProbeOutcome]) -> None:
        self.clock = clock
        self.scripts = {name: list(outcomes) for name, outcomes in scripts.items()}
        self.calls: dict[str, list[float]] = defaultdict(list)

    async def __call__(self, probe: core_pb2.Probe, **_: Any) -> ProbeOutcome:
        name = probe.exec.command[0]
        self.calls[name].append(self.clock.now())
        script = self.scripts[name]
        return script.pop(0) if len(script) > 1 else script[0]


def make_probe(name: str, **fields: int) -> core_pb2.Probe:
    probe = core_pb2.Probe(**fields)
    probe.exec.command.append(name)
    return probe


def make_pod(uid: str = "uid-1", **probes: core_pb2.Probe) -> tuple[core_pb2.Pod, core_pb2.Container]:
    pod = core_pb2.Pod()
    pod.metadata.uid = uid
    pod.metadata.name = "web"
    pod.metadata.namespace = "shop"
    container = pod.spec.containers.add()
    container.name = "app"
    for field, probe in probes.items():
        getattr(container, field).CopyFrom(probe)
    return pod, container


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def run_for(clock: FakeClock, seconds: int) -> None:
    await settle()
    for _ in range(seconds):
        clock.advance(1)
        await settle()


class Harness:
    def __init__(self, **scripts: list[ProbeOutcome]) -> None:
        self.clock = FakeClock()
        self.prober = ScriptedProber(self.clock, **scripts)
        self.events: list[ProbeEvent] = []
        """Changes of a probe's effective result."""
        self.reports: list[ProbeEvent] = []
        """Each failed or errored probe, as it happens (the kubelet's Unhealthy events)."""
        self.manager = ProbeManager(object(), clock=self.clock, on_result=self._record,  # type: ignore[arg-type]
                                    prober=self.prober)

    def _record(self, event: ProbeEvent) -> None:
        (self.events if event.changed else self.reports).append(event)

    def add(self, pod: core_pb2.Pod, container: core_pb2.Container, container_id: str = "c1") -> None:
        self.manager.add(pod, container, container_id, "10.0.0.5")

    def kinds(self) -> list[tuple[str, str]]:
        return [(event.probe_type, event.result) for event in self.events]


@pytest.fixture
async def cleanup() -> Any:
    harnesses: list[Harness] = []
    yield harnesses.append
    for harness in harnesses:
        await harness.manager.stop()


# ---------------------------------------------------------------------------------------------
# timing


async def test_probes_run_at_once_then_every_period(cleanup: Any) -> None:
    h = Harness(readiness=[OK])
    cleanup(h)
    h.add(*make_pod(readiness_probe=make_probe("readiness", period_seconds=5)))
    await run_for(h.clock, 16)
    assert h.prober.calls["readiness"] == [0, 5, 10, 15]


async def test_initial_delay_waits_for_the_first_tick_after_it(cleanup: Any) -> None:
    h = Harness(readiness=[OK])
    cleanup(h)
    h.add(*make_pod(readiness_probe=make_probe("readiness", initial_delay_seconds=5, period_seconds=10)))
    await run_for(h.clock, 9)
    assert h.prober.calls["readiness"] == []
    assert not h.manager.is_ready("uid-1", "app")
    await run_for(h.clock, 12)
    assert h.prober.calls["readiness"] == [10, 20]


async def test_unset_fields_take_kubernetes_defaults(cleanup: Any) -> None:
    h = Harness(liveness=[BAD])
    cleanup(h)
    h.add(*make_pod(liveness_probe=make_probe("liveness")))
    await run_for(h.clock, 19)
    assert h.prober.calls["liveness"] == [0, 10]
    assert h.events == []
    await run_for(h.clock, 1)
    assert h.kinds() == [("liveness", "failure")]


# ---------------------------------------------------------------------------------------------
# readiness


async def test_readiness_starts_not_ready_and_flips_on_first_success(cleanup: Any) -> None:
    h = Harness(readiness=[BAD, OK])
    cleanup(h)
    h.add(*make_pod(readiness_probe=make_probe("readiness", period_seconds=1)))
    assert not h.manager.is_ready("uid-1", "app")
    await run_for(h.clock, 0)
    assert not h.manager.is_ready("uid-1", "app")
    assert h.events == []
    await run_for(h.clock, 3)
    assert h.manager.is_ready("uid-1", "app")
    assert h.kinds() == [("readiness", "success")]
    assert h.events[0] == ProbeEvent("uid-1", "app", "readiness", "success", "ok")


async def test_readiness_success_threshold_needs_consecutive_successes(cleanup: Any) -> None:
    h = Harness(readiness=[OK, BAD, OK, OK])
    cleanup(h)
    h.add(*make_pod(readiness_probe=make_probe("readiness", period_seconds=1, success_threshold=2)))
    await run_for(h.clock, 2)
    assert not h.manager.is_ready("uid-1", "app")  # OK, BAD, OK: never two in a row
    await run_for(h.clock, 1)
    assert h.manager.is_ready("uid-1", "app")
    assert h.kinds() == [("readiness", "success")]


async def test_readiness_flips_back_after_failure_threshold_and_recovers(cleanup: Any) -> None:
    h = Harness(readiness=[OK, BAD, BAD, OK, BAD, BAD, BAD, OK])
    cleanup(h)
    h.add(*make_pod(readiness_probe=make_probe("readiness", period_seconds=1, failure_threshold=3)))
    await run_for(h.clock, 5)
    assert h.manager.is_ready("uid-1", "app")  # two failures, a success, two failures: below threshold
    await run_for(h.clock, 1)
    assert not h.manager.is_ready("uid-1", "app")
    assert h.events[-1].result == "failure"
    assert h.events[-1].message == BAD.message
    await run_for(h.clock, 1)
    assert h.manager.is_ready("uid-1", "app")
    assert h.kinds() == [("readiness", "success"), ("readiness", "failure"), ("readiness", "success")]
    assert len(h.prober.calls["readiness"]) == 8  # readiness keeps probing after a failure


async def test_no_readiness_probe_means_ready_at_once(cleanup: Any) -> None:
    h = Harness(liveness=[OK])
    cleanup(h)
    h.add(*make_pod(liveness_probe=make_probe("liveness")))
    assert h.manager.is_ready("uid-1", "app")
    assert h.manager.is_started("uid-1", "app")
    assert h.manager.is_ready("unknown-pod", "app")


# ---------------------------------------------------------------------------------------------
# liveness


async def test_liveness_failure_is_reported_once_then_holds(cleanup: Any) -> None:
    h = Harness(liveness=[BAD])
    cleanup(h)
    h.add(*make_pod(liveness_probe=make_probe("liveness", period_seconds=1, failure_threshold=2)))
    await run_for(h.clock, 0)
    assert h.events == []
    await run_for(h.clock, 1)
    assert h.kinds() == [("liveness", "failure")]
    await run_for(h.clock, 10)
    assert h.kinds() == [("liveness", "failure")]
    assert h.prober.calls["liveness"] == [0, 1]  # on hold: no probing until the new container


async def test_liveness_restarted_container_is_probed_and_reported_again(cleanup: Any) -> None:
    h = Harness(liveness=[BAD])
    cleanup(h)
    pod, container = make_pod(liveness_probe=make_probe("liveness", period_seconds=1, failure_threshold=1))
    h.add(pod, container, "c1")
    await run_for(h.clock, 3)
    assert h.kinds() == [("liveness", "failure")]
    h.manager.remove("uid-1", "app")
    h.add(pod, container, "c2")
    await run_for(h.clock, 3)
    assert h.kinds() == [("liveness", "failure"), ("liveness", "failure")]


async def test_liveness_successes_and_sub_threshold_failures_change_nothing(cleanup: Any) -> None:
    h = Harness(liveness=[OK, BAD, BAD, OK, BAD, BAD, OK])
    cleanup(h)
    h.add(*make_pod(liveness_probe=make_probe("liveness", period_seconds=1, failure_threshold=3)))
    await run_for(h.clock, 10)
    assert h.events == []
    assert len(h.prober.calls["liveness"]) == 11
    # but each failed probe is reported as it happens, as Kubernetes records an event for each
    assert [(e.result, e.message) for e in h.reports] == [("failure", BAD.message)] * 4


async def test_add_with_a_new_container_id_restarts_the_workers(cleanup: Any) -> None:
    h = Harness(liveness=[BAD])
    cleanup(h)
    pod, container = make_pod(liveness_probe=make_probe("liveness", period_seconds=1, failure_threshold=1))
    h.add(pod, container, "c1")
    await run_for(h.clock, 1)
    h.add(pod, container, "c1")  # same container: nothing changes, still on hold
    await run_for(h.clock, 2)
    assert len(h.events) == 1
    h.add(pod, container, "c2")
    await run_for(h.clock, 1)
    assert len(h.events) == 2


# ---------------------------------------------------------------------------------------------
# startup


async def test_startup_gates_liveness_and_readiness_until_it_succeeds(cleanup: Any) -> None:
    h = Harness(startup=[BAD, BAD, OK], readiness=[OK], liveness=[OK])
    cleanup(h)
    h.add(*make_pod(
        startup_probe=make_probe("startup", period_seconds=1, failure_threshold=5),
        readiness_probe=make_probe("readiness", period_seconds=1),
        liveness_probe=make_probe("liveness", period_seconds=1)))
    await run_for(h.clock, 1)
    assert not h.manager.is_started("uid-1", "app")
    assert not h.manager.is_ready("uid-1", "app")
    assert h.prober.calls["readiness"] == [] and h.prober.calls["liveness"] == []
    await run_for(h.clock, 1)
    assert h.manager.is_started("uid-1", "app")
    assert h.kinds()[0] == ("startup", "success")
    await run_for(h.clock, 5)
    assert h.prober.calls["startup"] == [0, 1, 2]  # no more startup probes once started
    # readiness and liveness begin on the tick where startup succeeded (or the next one)
    assert 2 <= h.prober.calls["readiness"][0] <= 3 and 2 <= h.prober.calls["liveness"][0] <= 3
    assert len(h.prober.calls["readiness"]) >= 5
    assert h.manager.is_ready("uid-1", "app")


async def test_startup_without_readiness_probe_is_not_ready_until_started(cleanup: Any) -> None:
    h = Harness(startup=[BAD, OK])
    cleanup(h)
    h.add(*make_pod(startup_probe=make_probe("startup", period_seconds=1)))
    await run_for(h.clock, 0)
    assert not h.manager.is_ready("uid-1", "app")
    await run_for(h.clock, 1)
    assert h.manager.is_ready("uid-1", "app")


async def test_startup_failure_after_threshold_is_reported_once(cleanup: Any) -> None:
    h = Harness(startup=[BAD], liveness=[OK])
    cleanup(h)
    h.add(*make_pod(startup_probe=make_probe("startup", period_seconds=1, failure_threshold=3),
                    liveness_probe=make_probe("liveness", period_seconds=1)))
    await run_for(h.clock, 1)
    assert h.events == []
    await run_for(h.clock, 10)
    assert h.kinds() == [("startup", "failure")]
    assert h.prober.calls["startup"] == [0, 1, 2]
    assert h.prober.calls["liveness"] == []
    assert not h.manager.is_started("uid-1", "app")


# ---------------------------------------------------------------------------------------------
# unknown results, metrics, robustness


async def test_unknown_results_are_retried_and_never_count(cleanup: Any) -> None:
    h = Harness(liveness=[UNKNOWN])
    cleanup(h)
    h.add(*make_pod(liveness_probe=make_probe("liveness", period_seconds=1, failure_threshold=1)))
    await run_for(h.clock, 3)
    # each tick's errored probe is said (Kubernetes' "probe errored" event) but changes nothing
    assert h.events == []
    assert [(e.probe_type, e.result, e.message) for e in h.reports] == [
        ("liveness", "unknown", "invalid port number: 0")] * 4
    assert h.manager.is_started("uid-1", "app")
    assert h.prober.calls["liveness"] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


async def test_a_retry_that_succeeds_counts_once(cleanup: Any) -> None:
    h = Harness(readiness=[UNKNOWN, OK])
    cleanup(h)
    h.add(*make_pod(readiness_probe=make_probe("readiness", period_seconds=1)))
    await run_for(h.clock, 0)
    assert h.manager.is_ready("uid-1", "app")
    assert h.prober.calls["readiness"] == [0, 0]


def sample(probe_type: str, result: str, pod: str = "web") -> float | None:
    return REGISTRY.get_sample_value("prober_probe_total", {
        "probe_type": probe_type, "result": result, "container": "app", "pod": pod, "namespace": "shop"})


async def test_prober_probe_total_counts_results_like_kubernetes(cleanup: Any) -> None:
    h = Harness(liveness=[OK, BAD, UNKNOWN])
    cleanup(h)
    pod, container = make_pod(liveness_probe=make_probe("liveness", period_seconds=1))
    pod.metadata.name = "metrics-pod"
    h.add(pod, container)
    await run_for(h.clock, 2)
    assert sample("Liveness", "successful", "metrics-pod") == 1
    assert sample("Liveness", "failed", "metrics-pod") == 1
    assert sample("Liveness", "unknown", "metrics-pod") == 1  # three unknown attempts, one probe
    h.manager.remove("uid-1")
    assert sample("Liveness", "successful", "metrics-pod") is None


async def test_remove_stops_probing_one_container_or_the_whole_pod(cleanup: Any) -> None:
    h = Harness(readiness=[OK])
    cleanup(h)
    pod, container = make_pod(readiness_probe=make_probe("readiness", period_seconds=1))
    second = pod.spec.containers.add()
    second.CopyFrom(container)
    second.name = "sidecar"
    h.add(pod, container)
    h.manager.add(pod, second, "c2", "10.0.0.5")
    await run_for(h.clock, 1)
    assert len(h.prober.calls["readiness"]) == 4
    h.manager.remove("uid-1", "app")
    await run_for(h.clock, 2)
    assert len(h.prober.calls["readiness"]) == 6
    assert h.manager.is_ready("uid-1", "sidecar")
    h.manager.remove("uid-1")
    await run_for(h.clock, 3)
    assert len(h.prober.calls["readiness"]) == 6
    assert h.clock.pending() == 0


async def test_stop_ends_every_worker() -> None:
    h = Harness(readiness=[OK], liveness=[OK])
    h.add(*make_pod(readiness_probe=make_probe("readiness"), liveness_probe=make_probe("liveness")))
    h.add(*make_pod(uid="uid-2", readiness_probe=make_probe("readiness")))
    await run_for(h.clock, 0)
    tasks = [task for task in asyncio.all_tasks() if (task.get_name() or "").startswith("probe-")]
    assert len(tasks) == 3
    await h.manager.stop()
    assert all(task.done() for task in tasks)
    assert h.clock.pending() == 0


async def test_a_failing_handler_or_check_does_not_end_the_worker(cleanup: Any) -> None:
    clock = FakeClock()
    calls: list[float] = []

    async def flaky(probe: core_pb2.Probe, **_: Any) -> ProbeOutcome:
        calls.append(clock.now())
        if len(calls) == 1:
            raise RuntimeError("boom")
        return OK

    def handler(event: ProbeEvent) -> None:
        raise ValueError("handler bug")

    manager = ProbeManager(object(), clock=clock, on_result=handler, prober=flaky)  # type: ignore[arg-type]
    manager.add(*make_pod(readiness_probe=make_probe("readiness", period_seconds=1)), "c1", "10.0.0.5")
    await run_for(clock, 2)
    await manager.stop()
    assert calls == [0, 1, 2]
    assert manager.is_ready("uid-1", "app")  # unknown again after stop: no workers


# ---------------------------------------------------------------------------------------------
# the checks themselves (exec on a stub runtime; URL and port rules)


class StubRuntime:
    def __init__(self, result: ExecResult | Exception) -> None:
        self.result = result
        self.calls: list[tuple[str, list[str], float]] = []

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        self.calls.append((container_id, command, timeout))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


async def run_exec(result: ExecResult | Exception, **fields: int) -> tuple[ProbeOutcome, StubRuntime]:
    runtime = StubRuntime(result)
    probe = core_pb2.Probe(**fields)
    probe.exec.command.extend(["cat", "/tmp/healthy"])
    outcome = await run_probe(probe, container=core_pb2.Container(name="app"), pod_ip="10.0.0.5",
                              container_id="cid", runtime=runtime)  # type: ignore[arg-type]
    return outcome, runtime


async def test_exec_exit_zero_passes_with_output() -> None:
    outcome, runtime = await run_exec(ExecResult(0, b"fine\n"), timeout_seconds=4)
    assert outcome == ProbeOutcome("success", "fine\n")
    assert runtime.calls == [("cid", ["cat", "/tmp/healthy"], 4.0)]


async def test_exec_nonzero_fails_with_its_output_truncated_to_10k() -> None:
    outcome, runtime = await run_exec(ExecResult(1, b"x" * 20000))
    assert outcome.result == "failure"
    assert len(outcome.message) == 10240
    assert runtime.calls[0][2] == 1.0  # timeoutSeconds defaults to 1


async def test_exec_timeout_and_runtime_errors() -> None:
    outcome, _ = await run_exec(ExecResult(-1, b""))
    assert outcome == ProbeOutcome("failure", 'command "cat /tmp/healthy" timed out')
    outcome, _ = await run_exec(RuntimeFailure("container not running"))
    assert outcome == ProbeOutcome("unknown", "container not running")


async def test_probe_without_handler_is_unknown() -> None:
    outcome = await run_probe(core_pb2.Probe(), container=core_pb2.Container(name="app"), pod_ip="10.0.0.5",
                              container_id="cid", runtime=StubRuntime(ExecResult(0, b"")))  # type: ignore[arg-type]
    assert outcome.result == "unknown"


def container_with_port(name: str, number: int) -> core_pb2.Container:
    container = core_pb2.Container(name="app")
    port = container.ports.add()
    port.name = name
    port.container_port = number
    return container


def test_ports_resolve_by_number_name_or_numeric_string() -> None:
    container = container_with_port("http", 8080)
    assert resolve_container_port(meta_pb2.IntOrString(int_val=9000), container) == 9000
    assert resolve_container_port(meta_pb2.IntOrString(str_val="http"), container) == 8080
    assert resolve_container_port(meta_pb2.IntOrString(str_val="9100"), container) == 9100


async def test_bad_ports_make_the_probe_unknown_with_kubernetes_messages() -> None:
    container = container_with_port("http", 8080)
    messages = []
    for port in (meta_pb2.IntOrString(str_val="metrics"), meta_pb2.IntOrString(int_val=0),
                 meta_pb2.IntOrString(int_val=70000)):
        probe = core_pb2.Probe()
        probe.tcp_socket.port.CopyFrom(port)
        outcome = await run_probe(probe, container=container, pod_ip="10.0.0.5", container_id="cid",
                                  runtime=StubRuntime(ExecResult(0, b"")))  # type: ignore[arg-type]
        assert outcome.result == "unknown"
        messages.append(outcome.message)
    assert messages == ['strconv.Atoi: parsing "metrics": invalid syntax', "invalid port number: 0",
                        "invalid port number: 70000"]


def test_probe_url_defaults_to_pod_ip_and_http() -> None:
    action = core_pb2.HTTPGetAction(path="/healthz?full=1", port=meta_pb2.IntOrString(str_val="http"))
    container = container_with_port("http", 8080)
    assert probe_url(action, container=container, pod_ip="10.0.0.5") == "http://10.0.0.5:8080/healthz?full=1"
    action = core_pb2.HTTPGetAction(path="ready", host="fd00::1", scheme="HTTPS",
                                    port=meta_pb2.IntOrString(int_val=8443))
    assert probe_url(action, container=container, pod_ip="10.0.0.5") == "https://[fd00::1]:8443/ready"


def test_probe_headers_add_kubernetes_defaults_unless_overridden() -> None:
    action = core_pb2.HTTPGetAction()
    assert probe_headers(action) == [("User-Agent", "kube-probe/1.32"), ("Accept", "*/*")]
    action.http_headers.add(name="user-agent", value="mine")
    action.http_headers.add(name="Accept", value="")
    action.http_headers.add(name="X-Probe", value="1")
    assert probe_headers(action) == [("user-agent", "mine"), ("X-Probe", "1")]


async def test_exec_check_directly_passes_timeout() -> None:
    runtime = StubRuntime(ExecResult(3, b"nope"))
    outcome = await exec_check(core_pb2.ExecAction(command=["false"]), container_id="x",
                               runtime=runtime, timeout=7)  # type: ignore[arg-type]
    assert outcome == ProbeOutcome("failure", "nope")
    assert runtime.calls == [("x", ["false"], 7)]
