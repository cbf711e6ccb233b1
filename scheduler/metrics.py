"""The scheduler's Prometheus metrics, with kube-scheduler's names and labels."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_BUCKETS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512,
            1.024, 2.048, 4.096, 8.192, 16.384)

SCHEDULE_ATTEMPTS = Counter("scheduler_schedule_attempts_total",
                            "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod "
                            "could not be scheduled, while 'error' means an internal scheduler problem.",
                            ["result", "profile"])
ATTEMPT_DURATION = Histogram("scheduler_scheduling_attempt_duration_seconds",
                             "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
                             ["result", "profile"], buckets=_BUCKETS)
POD_SCHEDULING_DURATION = Histogram("scheduler_pod_scheduling_duration_seconds",
                                    "E2e latency for a pod being scheduled which may include multiple "
                                    "scheduling attempts.", ["attempts"],
                                    buckets=(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                                             20.48, 40.96, 81.92, 163.84, 327.68, 655.36))
EXTENSION_POINT_DURATION = Histogram("scheduler_framework_extension_point_duration_seconds",
                                     "Latency for running all plugins of a specific extension point.",
                                     ["extension_point", "status", "profile"], buckets=_BUCKETS)


def observe_attempt(result: str, profile: str, seconds: float) -> None:
    SCHEDULE_ATTEMPTS.labels(result, profile).inc()
    ATTEMPT_DURATION.labels(result, profile).observe(seconds)


def observe_scheduled(attempts: int, seconds: float) -> None:
    POD_SCHEDULING_DURATION.labels(str(min(attempts, 15))).observe(seconds)


def extension_point_timer(profile: str) -> object:
    children: dict[tuple[str, str], object] = {}

    def timer(point: str, status: str, seconds: float) -> None:
        child = children.get((point, status))
        if child is None:
            child = children[(point, status)] = EXTENSION_POINT_DURATION.labels(point, status, profile)
        child.observe(seconds)  # type: ignore[attr-defined]

    return timer
