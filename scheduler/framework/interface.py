"""The extension points, one small Protocol each, as in Kubernetes' scheduling framework.

A plugin is a class with a ``NAME`` and the methods of the points it implements; the framework
finds them with ``isinstance(plugin, FilterPlugin)`` and so on. Filter and Score are called once
per node, so they must be cheap: precompute in PreFilter / PreScore and keep the result in the
CycleState under the plugin's name. Scores are raw in Score; NormalizeScore brings them to
0..100 (``MAX_NODE_SCORE``) before the framework multiplies by the plugin's weight.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from scheduler.framework.status import Status
from scheduler.framework.types import CycleState, NodeInfo, PodInfo

MAX_NODE_SCORE = 100


@runtime_checkable
class Plugin(Protocol):
    NAME: str


@runtime_checkable
class PreFilterPlugin(Protocol):
    NAME: str

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        """Once per cycle; Skip leaves this plugin's Filter out, a rejection fails the pod."""
        ...


@runtime_checkable
class FilterPlugin(Protocol):
    NAME: str

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        """Whether the pod may run on the node."""
        ...


@runtime_checkable
class PreScorePlugin(Protocol):
    NAME: str

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status:
        """Once per cycle with the feasible nodes; Skip leaves this plugin's Score out."""
        ...


@runtime_checkable
class ScorePlugin(Protocol):
    NAME: str

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """A raw score for one feasible node."""
        ...

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        """Rescale the raw scores (by node name) to 0..MAX_NODE_SCORE in place."""
        ...


@runtime_checkable
class ReservePlugin(Protocol):
    NAME: str

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status: ...

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


@runtime_checkable
class BindPlugin(Protocol):
    NAME: str

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Make the decision real (the default binder calls pods/binding)."""
        ...
