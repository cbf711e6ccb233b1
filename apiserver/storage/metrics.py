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
from typing import Any

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


class observe:  # noqa: N801 - used like a function: ``with observe("get", key):``
    """Time the block into ``etcd_request_duration_seconds`` (also when it raises).

    A plain class rather than a @contextmanager generator: it runs on every etcd call, and the
    labelled child histograms are cached per (operation, type).
    """

    __slots__ = ("_child", "_start")
    _children: dict[tuple[str, str], Any] = {}

    def __init__(self, operation: str, key: str) -> None:
        label = (operation, resource_type(key))
        child = self._children.get(label)
        if child is None:
            child = self._children[label] = ETCD_REQUEST_DURATION.labels(operation=label[0], type=label[1])
        self._child = child
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._child.observe(time.perf_counter() - self._start)
