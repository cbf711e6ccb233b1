"""The kubelet's Prometheus metrics, with Kubernetes' names."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNNING_PODS = Gauge("kubelet_running_pods", "Number of pods that have a running pod sandbox", ["node"])
RUNNING_CONTAINERS = Gauge("kubelet_running_containers", "Number of containers currently running",
                           ["node", "container_state"])
POD_START_DURATION = Histogram("kubelet_pod_start_duration_seconds",
                               "Duration in seconds from kubelet seeing a pod for the first time to the pod "
                               "starting to run", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30,
                                                           45, 60, 120, 300, 600))
POD_WORKER_DURATION = Histogram("kubelet_pod_worker_duration_seconds",
                                "Duration in seconds to sync a single pod.", ["operation"])
CONTAINER_RESTARTS = Counter("kubelet_restart_count", "Containers restarted by the kubelet (crash loops, "
                             "liveness failures)")
