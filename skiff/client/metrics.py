"""Prometheus metrics of the client library, with client-go's names, defined once.

prometheus-client refuses to register a metric name twice, so every metric lives here at module
level on the default registry and components only take labelled children. The work-queue family
mirrors ``k8s.io/component-base/metrics/prometheus/workqueue``: the same names, help texts, the
single label ``name`` (the queue's name) and the same exponential buckets (10ns .. 10s).

``workqueue_unfinished_work_seconds`` and ``workqueue_longest_running_processor_seconds`` are
computed when scraped (``Gauge.set_function``), instead of by client-go's 500 ms ticker, so no
background task is needed and a fake clock drives them in tests.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "WORKQUEUE_ADDS",
    "WORKQUEUE_DEPTH",
    "WORKQUEUE_LONGEST_RUNNING_PROCESSOR",
    "WORKQUEUE_QUEUE_DURATION",
    "WORKQUEUE_RETRIES",
    "WORKQUEUE_UNFINISHED_WORK",
    "WORKQUEUE_WORK_DURATION",
]

# prometheus.ExponentialBuckets(10e-9, 10, 10)
_DURATION_BUCKETS = tuple(1e-8 * 10**i for i in range(10))

WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name"])
WORKQUEUE_ADDS = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ["name"])
WORKQUEUE_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested.",
    ["name"],
    buckets=_DURATION_BUCKETS,
)
WORKQUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes.",
    ["name"],
    buckets=_DURATION_BUCKETS,
)
WORKQUEUE_UNFINISHED_WORK = Gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has done that is in progress and hasn't been observed by work_duration. "
    "Large values indicate stuck threads. One can deduce the number of stuck threads by observing the "
    "rate at which this increases.",
    ["name"],
)
WORKQUEUE_LONGEST_RUNNING_PROCESSOR = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    ["name"],
)
WORKQUEUE_RETRIES = Counter(
    "workqueue_retries_total", "Total number of retries handled by workqueue", ["name"]
)
