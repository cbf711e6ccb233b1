"""The apiserver's Prometheus metrics, with kube-apiserver's names and labels."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "apiserver_request_total",
    "Counter of apiserver requests broken out by verb, resource and HTTP-style response code.",
    ["verb", "resource", "code"],
)
REQUEST_DURATION = Histogram(
    "apiserver_request_duration_seconds",
    "Response latency distribution in seconds for each verb and resource.",
    ["verb", "resource"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
)
REGISTERED_WATCHERS = Gauge(
    "apiserver_registered_watchers",
    "Number of currently registered watchers for a given resource.",
    ["resource"],
    multiprocess_mode="livesum",
)
