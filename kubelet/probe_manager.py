"""Probe workers: when to run a container's probes and what their results mean.

Kubernetes' ``pkg/kubelet/prober`` in small. :meth:`ProbeManager.add` starts one worker task per
probe a container declares (startup, readiness, liveness); each worker ticks every
``periodSeconds`` from the moment it starts (the first tick at once) and, on each tick:

1. does nothing while *on hold* (a liveness or startup probe that has already failed: the
   kubelet is restarting the container and will ``remove`` + ``add`` the new one);
2. does nothing until ``initialDelaySeconds`` have passed since the container started - so the
   first probe runs on the first *tick* after the delay, as in Kubernetes;
3. gates on startup: a startup worker stops probing once the container has started; readiness
   and liveness workers wait until it has (containers without a startup probe start at once);
4. runs the check (:func:`kubelet.probes.run_probe`), retrying up to 3 times while the result is
   ``unknown`` (the probe could not be run), and counts it in ``prober_probe_total``;
5. keeps a run of identical results; a result only takes effect once the run reaches
   ``successThreshold`` (success) or ``failureThreshold`` (failure) - unknown results are thrown
   away without touching the run;
6. reports a :class:`ProbeEvent` through ``on_result`` with ``changed=True`` when the effective
   result *changes* (Kubernetes' results manager); a liveness or startup failure then puts the
   worker on hold, so it is reported once per threshold crossing.

Besides, every probe that fails or cannot be run at all (``unknown`` after the retries) is
reported as it happens, with ``changed=False``, as Kubernetes' prober records an Unhealthy event
for each one ("Readiness probe failed: ...", "... probe errored and resulted in unknown
state: ..."): a container that is not ready always says why.

Initial values are Kubernetes': readiness starts as failure (not ready), liveness as success,
startup as unknown (not started). :meth:`ProbeManager.is_ready` is Kubernetes' container
``ready``: started, and either the readiness probe's result is success or there is no readiness
probe. Containers the manager does not know have no probes: ready and started.

Time comes from a :class:`~skiff.client.clock.Clock`, so tests drive workers on a FakeClock.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from prometheus_client import Counter

from kubelet.probes import ProbeOutcome, ProbeResult, run_probe
from kubelet.runtime.interface import ContainerRuntime
from skiff.api.v1 import core_pb2
from skiff.client.clock import Clock, RealClock

__all__ = ["PROBER_PROBE_TOTAL", "ProbeEvent", "ProbeManager", "ProbeType", "Prober"]

log = logging.getLogger(__name__)

ProbeType = Literal["liveness", "readiness", "startup"]

PROBER_PROBE_TOTAL = Counter(
    "prober_probe_total",
    "Cumulative number of a liveness, readiness or startup probe for a container by result.",
    ["probe_type", "result", "container", "pod", "namespace"],
)

HANG_GRACE_SECONDS = 5.0
MAX_PROBE_RETRIES = 3
_METRIC_RESULT = {"success": "successful", "failure": "failed", "unknown": "unknown"}
_METRIC_TYPE = {"liveness": "Liveness", "readiness": "Readiness", "startup": "Startup"}
_INITIAL: dict[ProbeType, ProbeResult] = {"readiness": "failure", "liveness": "success", "startup": "unknown"}

@dataclass(frozen=True)
class ProbeEvent:
    """A probe's report: an effective result that changed, or (``changed=False``) one failed or
    errored probe that may not change anything yet."""

    pod_uid: str
    container_name: str
    probe_type: ProbeType
    result: ProbeResult
    message: str
    changed: bool = True


class Prober(Protocol):
    """The shape of :func:`kubelet.probes.run_probe` (tests pass stubs)."""

    def __call__(self, probe: core_pb2.Probe, *, container: core_pb2.Container, pod_ip: str,
                 container_id: str, runtime: ContainerRuntime) -> Awaitable[ProbeOutcome]: ...


@dataclass(frozen=True)
class _Spec:
    """A probe's timing and thresholds with Kubernetes' defaults filled in."""

    initial_delay: float
    period: float
    success_threshold: int
    failure_threshold: int
    timeout: float = 1.0

    @classmethod
    def of(cls, probe: core_pb2.Probe) -> _Spec:
        """Unset or out-of-range values fall back to 0/10/1/3 like the apiserver's defaults."""
        return cls(
            initial_delay=_value(probe.HasField("initial_delay_seconds"), probe.initial_delay_seconds, 0, minimum=0),
            period=_value(probe.HasField("period_seconds"), probe.period_seconds, 10),
            success_threshold=_value(probe.HasField("success_threshold"), probe.success_threshold, 1),
            failure_threshold=_value(probe.HasField("failure_threshold"), probe.failure_threshold, 3),
            timeout=_value(probe.HasField("timeout_seconds"), probe.timeout_seconds, 1),
        )


def _value(present: bool, value: int, default: int, *, minimum: int = 1) -> int:
    return int(value) if present and value >= minimum else default


@dataclass(frozen=True)
class _Target:
    """What a worker probes."""

    pod_uid: str
    pod_name: str
    namespace: str
    container: core_pb2.Container
    container_id: str
    pod_ip: str
    started_at: float


class _Worker:
    """One probe of one container; see the module docstring for the loop."""

    def __init__(self, manager: ProbeManager, target: _Target, probe_type: ProbeType,
                 probe: core_pb2.Probe) -> None:
        self.manager = manager
        self.target = target
        self.probe_type: ProbeType = probe_type
        self.probe = probe
        self.spec = _Spec.of(probe)
        self.result: ProbeResult = _INITIAL[probe_type]
        self.last: ProbeResult | None = None
        self.run_length = 0
        self.on_hold = False
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self.run(), name=f"probe-{self.probe_type}-{self.target.pod_uid}-{self.target.container.name}")

    async def run(self) -> None:
        clock = self.manager.clock
        begin = clock.now()
        ticks = 0
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in one probe must not end the worker (Kubernetes' HandleCrash)
                log.exception("probe worker %s/%s %s crashed", self.target.namespace, self.target.pod_name,
                              self.probe_type)
            ticks = max(ticks + 1, math.floor((clock.now() - begin) / self.spec.period) + 1)
            await clock.sleep(begin + ticks * self.spec.period - clock.now())

    async def tick(self) -> None:
        if not self.should_probe():
            return
        outcome = await self.probe_with_retries()
        self.count(outcome.result)
        if outcome.result != "success":
            log.info("%s probe of %s/%s %s: %s %s", self.probe_type, self.target.namespace, self.target.pod_name,
                     self.target.container.name, outcome.result, outcome.message)
            self.manager.emit(ProbeEvent(self.target.pod_uid, self.target.container.name, self.probe_type,
                                         outcome.result, outcome.message, changed=False))
        if outcome.result != "unknown":  # an unknown result is thrown away
            self.record(outcome)

    def should_probe(self) -> bool:
        if self.on_hold:
            return False
        if self.manager.clock.now() - self.target.started_at < self.spec.initial_delay:
            return False
        started = self.manager.is_started(self.target.pod_uid, self.target.container.name)
        return not started if self.probe_type == "startup" else started

    async def probe_with_retries(self) -> ProbeOutcome:
        outcome = ProbeOutcome("unknown", "")
        for _ in range(MAX_PROBE_RETRIES):
            # A hard bound on top of the check's own timeout: a hung runtime call must not
            # silence this worker for good.
            bound = self.spec.timeout + HANG_GRACE_SECONDS
            try:
                async with asyncio.timeout(bound):  # a timer on this task: no extra scheduling hop
                    outcome = await self.manager.prober(
                        self.probe, container=self.target.container, pod_ip=self.target.pod_ip,
                        container_id=self.target.container_id, runtime=self.manager.runtime)
            except TimeoutError:
                outcome = ProbeOutcome("failure", f"probe did not complete within {bound:g}s")
            if outcome.result != "unknown":
                break
        return outcome

    def count(self, result: ProbeResult) -> None:
        PROBER_PROBE_TOTAL.labels(*self.metric_labels(result)).inc()

    def metric_labels(self, result: ProbeResult) -> tuple[str, str, str, str, str]:
        return (_METRIC_TYPE[self.probe_type], _METRIC_RESULT[result], self.target.container.name,
                self.target.pod_name, self.target.namespace)

    def record(self, outcome: ProbeOutcome) -> None:
        if outcome.result == self.last:
            self.run_length += 1
        else:
            self.last, self.run_length = outcome.result, 1
        threshold = self.spec.success_threshold if outcome.result == "success" else self.spec.failure_threshold
        if self.run_length < threshold:
            return
        self.set_result(outcome)
        if self.probe_type != "readiness" and outcome.result == "failure":
            self.on_hold, self.run_length = True, 0

    def set_result(self, outcome: ProbeOutcome) -> None:
        if outcome.result == self.result:
            return
        self.result = outcome.result
        self.manager.emit(ProbeEvent(self.target.pod_uid, self.target.container.name, self.probe_type,
                                     outcome.result, outcome.message))

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for result in _METRIC_RESULT:
            try:
                PROBER_PROBE_TOTAL.remove(*self.metric_labels(result))  # type: ignore[arg-type]
            except KeyError:
                pass


def _probes_of(container: core_pb2.Container) -> list[tuple[ProbeType, core_pb2.Probe]]:
    probes: list[tuple[ProbeType, core_pb2.Probe]] = []
    if container.HasField("startup_probe"):
        probes.append(("startup", container.startup_probe))
    if container.HasField("readiness_probe"):
        probes.append(("readiness", container.readiness_probe))
    if container.HasField("liveness_probe"):
        probes.append(("liveness", container.liveness_probe))
    return probes


class ProbeManager:
    """Runs the probe workers of a node's containers and answers ready/started questions."""

    def __init__(self, runtime: ContainerRuntime, *, clock: Clock | None = None,
                 on_result: Callable[[ProbeEvent], None], prober: Prober = run_probe) -> None:
        self.runtime = runtime
        self.clock: Clock = clock or RealClock()
        self.prober = prober
        self._on_result = on_result
        self._workers: dict[tuple[str, str], dict[ProbeType, _Worker]] = {}

    def add(self, pod: core_pb2.Pod, container: core_pb2.Container, container_id: str, pod_ip: str) -> None:
        """Start the container's probe workers (again, if it is a new container id)."""
        key = (pod.metadata.uid, container.name)
        current = self._workers.get(key)
        if current is not None:
            if next(iter(current.values())).target.container_id == container_id:
                return
            self.remove(*key)
        target = _Target(pod.metadata.uid, pod.metadata.name, pod.metadata.namespace or "default",
                         container, container_id, pod_ip, self.clock.now())
        workers: dict[ProbeType, _Worker] = {}
        for probe_type, probe in _probes_of(container):
            workers[probe_type] = _Worker(self, target, probe_type, probe)
        if not workers:
            return
        self._workers[key] = workers
        for worker in workers.values():
            worker.start()

    def remove(self, pod_uid: str, container_name: str | None = None) -> None:
        """Stop the workers of one container, or of every container of the pod."""
        keys = [key for key in self._workers if key[0] == pod_uid and container_name in (None, key[1])]
        for key in keys:
            for worker in self._workers.pop(key).values():
                worker.stop()

    def is_started(self, pod_uid: str, container_name: str) -> bool:
        worker = self._workers.get((pod_uid, container_name), {}).get("startup")
        return worker is None or worker.result == "success"

    def is_ready(self, pod_uid: str, container_name: str) -> bool:
        if not self.is_started(pod_uid, container_name):
            return False
        worker = self._workers.get((pod_uid, container_name), {}).get("readiness")
        return worker is None or worker.result == "success"

    def emit(self, event: ProbeEvent) -> None:
        try:
            self._on_result(event)
        except Exception:
            log.exception("probe result handler failed for %s", event)

    async def stop(self) -> None:
        """Stop every worker and wait for them to end."""
        workers = [worker for per_container in self._workers.values() for worker in per_container.values()]
        self._workers.clear()
        for worker in workers:
            worker.stop()
        tasks = [worker.task for worker in workers if worker.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
