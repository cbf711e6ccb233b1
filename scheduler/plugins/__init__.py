"""The scheduler plugins, one module each, and the registry that builds them by name.

``REGISTRY`` maps a plugin's NAME to a factory taking :class:`PluginArgs` (the settings of a
scheduler profile's pluginConfig); ``default_plugins(args)`` builds Kubernetes' default profile in
its order, and ``DEFAULT_WEIGHTS`` are its score weights. Pass both to
``scheduler.framework.runtime.Framework``::

    args = PluginArgs()
    framework = Framework(default_plugins(args), DEFAULT_WEIGHTS)

Plugins without volumes, ports or images (NodePorts, VolumeBinding, ImageLocality, ...) are not
implemented yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from scheduler.plugins import (
    balanced_allocation,
    inter_pod_affinity,
    node_affinity,
    node_name,
    node_resources_fit,
    node_unschedulable,
    pod_topology_spread,
    taint_toleration,
)
from scheduler.plugins.helpers import NamespaceLabels


def _default_fit_resources() -> dict[str, int]:
    return dict(node_resources_fit.DEFAULT_RESOURCES)


@dataclass(frozen=True)
class PluginArgs:
    """Settings of the configurable plugins (KubeSchedulerConfiguration's pluginConfig)."""

    scoring_strategy: str = node_resources_fit.LEAST_ALLOCATED
    """NodeResourcesFit's scoringStrategy.type: ``LeastAllocated`` (spread) or ``MostAllocated`` (bin-pack)."""

    fit_resources: Mapping[str, int] = field(default_factory=_default_fit_resources)
    """NodeResourcesFit's scoringStrategy.resources: resource name → weight (default cpu=1, memory=1)."""

    balanced_resources: tuple[str, ...] = balanced_allocation.DEFAULT_RESOURCES
    """NodeResourcesBalancedAllocation's resources (default cpu and memory)."""

    hard_pod_affinity_weight: int = inter_pod_affinity.DEFAULT_HARD_POD_AFFINITY_WEIGHT
    """InterPodAffinity's hardPodAffinityWeight: the score an existing pod's *required* affinity
    term adds for a pod it selects (0 turns it off)."""

    namespace_labels: NamespaceLabels | None = None
    """Looks up a namespace's labels, for pod affinity terms with a namespaceSelector; without it
    only an empty selector (``{}``: every namespace) matches."""


Factory = Callable[[PluginArgs], object]

REGISTRY: dict[str, Factory] = {
    node_unschedulable.NAME: lambda args: node_unschedulable.NodeUnschedulable(),
    node_name.NAME: lambda args: node_name.NodeName(),
    taint_toleration.NAME: lambda args: taint_toleration.TaintToleration(),
    node_affinity.NAME: lambda args: node_affinity.NodeAffinity(),
    node_resources_fit.NAME: lambda args: node_resources_fit.NodeResourcesFit(
        args.scoring_strategy, args.fit_resources),
    pod_topology_spread.NAME: lambda args: pod_topology_spread.PodTopologySpread(),
    inter_pod_affinity.NAME: lambda args: inter_pod_affinity.InterPodAffinity(
        args.hard_pod_affinity_weight, args.namespace_labels),
    balanced_allocation.NAME: lambda args: balanced_allocation.BalancedAllocation(args.balanced_resources),
}
"""Plugin factories by NAME, in Kubernetes' default profile order."""

DEFAULT_PLUGINS: tuple[str, ...] = tuple(REGISTRY)
"""Kubernetes' default profile (the implemented part), in its order."""

DEFAULT_WEIGHTS: dict[str, int] = {
    taint_toleration.NAME: 3,
    node_affinity.NAME: 2,
    pod_topology_spread.NAME: 2,
    inter_pod_affinity.NAME: 2,
    node_resources_fit.NAME: 1,
    balanced_allocation.NAME: 1,
}
"""Kubernetes' default Score weights."""


def build(names: list[str] | tuple[str, ...], args: PluginArgs | None = None) -> list[object]:
    """The named plugins, in the given order; KeyError names an unknown plugin."""
    args = args if args is not None else PluginArgs()
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown scheduler plugin(s): {', '.join(unknown)}")
    return [REGISTRY[n](args) for n in names]


def default_plugins(args: PluginArgs | None = None) -> list[object]:
    """Kubernetes' default profile: NodeUnschedulable, NodeName, TaintToleration, NodeAffinity,
    NodeResourcesFit, PodTopologySpread, InterPodAffinity, NodeResourcesBalancedAllocation."""
    return build(DEFAULT_PLUGINS, args)


__all__ = ["DEFAULT_PLUGINS", "DEFAULT_WEIGHTS", "REGISTRY", "Factory", "PluginArgs", "build", "default_plugins"]
