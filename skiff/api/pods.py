"""Facts about a Pod's spec that several components read the same way.

A *sidecar* is an init container with ``restartPolicy: Always`` (Kubernetes' native sidecars,
KEP-753): it starts in init order but keeps running beside the app containers, is restarted
whatever the pod's restart policy, counts in READY, and is stopped after them. The kubelet (pod
sync and status), skiffctl's columns and anything else that must tell one apart asks here.
"""

from __future__ import annotations

from skiff.api.v1 import core_pb2


def is_sidecar(container: core_pb2.Container) -> bool:
    """An init container that runs beside the app containers (``restartPolicy: Always``)."""
    return container.restart_policy == "Always"


def sidecar_names(pod: core_pb2.Pod) -> set[str]:
    """The names of the pod's sidecar init containers."""
    return {c.name for c in pod.spec.init_containers if is_sidecar(c)}
