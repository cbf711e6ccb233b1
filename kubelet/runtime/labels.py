"""The labels that tie what a runtime creates to its pod, built in one place for every runtime.

Like the labels Kubernetes' kubelet puts on CRI objects (``io.kubernetes.pod.uid`` and friends,
``newPodLabels`` / ``newContainerLabels``), every sandbox and container carries the ``LABEL_*`` of
:mod:`kubelet.runtime.interface`: the pod's uid, name and namespace and the node, and on a
container also its name and attempt. They are how a restarted kubelet finds and adopts what it
started before, so all three runtimes must stamp them alike.

The identity comes from the typed configs, never from labels a caller passes: a sandbox's from
:class:`SandboxConfig` (its node: the config's ``node_name``, else the runtime's own), a
container's from its :class:`Sandbox` (a container belongs to its sandbox's pod and node) and its
:class:`ContainerConfig`. A caller's ``labels`` (the kubelet's ``LABEL_RUNTIME``) ride along, but
the identity labels win over them. A runtime adds only labels of its own on top (docker: the
object's kind and, on app containers, the sandbox id).
"""

from __future__ import annotations

from kubelet.runtime.interface import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    ContainerConfig,
    Sandbox,
    SandboxConfig,
)

__all__ = ["container_labels", "sandbox_labels"]


def sandbox_labels(config: SandboxConfig, *, node_name: str = "") -> dict[str, str]:
    """``config.labels`` plus the pod's identity; ``node_name`` is the node when the config names none."""
    return {**config.labels, LABEL_POD_UID: config.pod_uid, LABEL_POD_NAME: config.name,
            LABEL_POD_NAMESPACE: config.namespace, LABEL_NODE: config.node_name or node_name}


def container_labels(sandbox: Sandbox, config: ContainerConfig, *, node_name: str = "") -> dict[str, str]:
    """``config.labels`` plus the sandbox's pod identity, the container's name and its attempt;
    ``node_name`` is the node when the sandbox names none."""
    return {**config.labels, LABEL_POD_UID: sandbox.pod_uid,
            LABEL_POD_NAME: sandbox.labels.get(LABEL_POD_NAME, ""),
            LABEL_POD_NAMESPACE: sandbox.labels.get(LABEL_POD_NAMESPACE, ""),
            LABEL_NODE: sandbox.labels.get(LABEL_NODE, "") or node_name,
            LABEL_CONTAINER_NAME: config.name, LABEL_ATTEMPT: str(config.attempt)}
