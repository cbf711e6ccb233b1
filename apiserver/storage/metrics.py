"""Prometheus metrics of the storage layer.

``etcd_request_duration_seconds{operation, type}`` has Kubernetes' name and labels: ``operation``
is the storage call (get, list, count, create, update, delete, watch, current_revision, compact,
changes_since) and ``type`` is the resource segment of the key (``/registry/pods/default/x`` ->
``pods``). Calls that are not about a key (current_revision, compact) have an empty ``type``. A
watch observes the time taken to establish (or re-establish) its etcd stream. Metrics live in
the default registry, so every component's ``/metrics`` endpoint exports them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Histogram

_REGISTRY_ROOT = "registry"

# Kubernetes' buckets for etcd_request_duration_seconds.
_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0,
            8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)

ETCD_REQUEST_DURATION = Histogram(
    "etcd_request_duration_seconds",
    "Etcd request latency in seconds for each operation and object type.",
    ["operation", "type"],
    buckets=_BUCKETS,
)


def resource_type(key: str) -> str:
    """The resource segment of a storage key or prefix.

    ``/registry/pods/default/x`` -> ``pods``; ``/registry/nodes/n1`` -> ``nodes``; a key outside
    ``/registry`` gives its first segment; an empty key gives "".
    """
    parts = [part for part in key.split("/") if part]
    if parts and parts[0] == _REGISTRY_ROOT:
        parts = parts[1:]
    return parts[0] if parts else ""


@contextmanager
def observe(operation: str, key: str) -> Iterator[None]:
    """Time the block into ``etcd_request_duration_seconds`` (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        ETCD_REQUEST_DURATION.labels(operation=operation, type=resource_type(key)).observe(elapsed)
