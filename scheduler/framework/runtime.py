"""Running the extension points for one pod: the scheduling cycle and its explanation.

``Framework.schedule`` is Kubernetes' ``schedulePod``: PreFilter (a Skip drops the plugin for this
cycle), Filter over the nodes starting where the previous cycle stopped (so load spreads) until
enough feasible nodes are found (``percentageOfNodesToScore``: all nodes up to 100, then an
adaptive share), PreScore, Score × weight after NormalizeScore, and the highest total wins
(ties broken at random, as Kubernetes does). A node's failure is its first failing Filter, and
``FitError`` renders them in Kubernetes' message shape:
``0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}.``

``Framework.explain`` runs every plugin on every node — no early stop — for the Explain call.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scheduler.framework.interface import (
    FilterPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    ScorePlugin,
)
from scheduler.framework.status import Code, Status
from scheduler.framework.types import CycleState, NodeInfo, PodInfo

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5


class FitError(Exception):
    """No node fits; ``str()`` is Kubernetes' FailedScheduling message."""

    def __init__(self, num_nodes: int, failures: dict[str, Status], prefilter: Status | None = None) -> None:
        self.num_nodes = num_nodes
        self.failures = failures
        self.prefilter = prefilter
        super().__init__(self.message())

    def reasons(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        if self.prefilter is not None:
            for reason in self.prefilter.reasons:
                counts[reason] += self.num_nodes
            return counts
        for status in self.failures.values():
            for reason in status.reasons:
                counts[reason] += 1
        return counts

    def message(self) -> str:
        parts = sorted(f"{count} {reason}" for reason, count in self.reasons().items())
        text = f"0/{self.num_nodes} nodes are available"
        return f"{text}: {', '.join(parts)}." if parts else f"{text}."


@dataclass
class ScheduleResult:
    node: str
    evaluated: int
    feasible: int


@dataclass
class NodeExplanation:
    node: str
    filters: list[tuple[str, Status]] = field(default_factory=list)
    scores: dict[str, tuple[int, int]] = field(default_factory=dict)
    """plugin → (normalized score, weighted score)"""
    total: int = 0

    @property
    def feasible(self) -> bool:
        return all(s.is_success for _, s in self.filters)


@dataclass
class Explanation:
    prefilter: list[tuple[str, Status]]
    nodes: list[NodeExplanation]
    winner: str
    message: str


Timer = Callable[[str, str, float], None]
"""Records (extension point, plugin, seconds) for the framework duration metric."""


def _no_timer(point: str, status: str, seconds: float) -> None:
    return None


class Framework:
    """The configured plugins of one scheduler profile and the cycle that runs them."""

    def __init__(self, plugins: Sequence[object], weights: dict[str, int] | None = None, *,
                 percentage_of_nodes_to_score: int = 0, timer: Timer = _no_timer,
                 rng: random.Random | None = None) -> None:
        self.plugins = list(plugins)
        self.pre_filters = [p for p in plugins if isinstance(p, PreFilterPlugin)]
        self.filters = [p for p in plugins if isinstance(p, FilterPlugin)]
        self.pre_scores = [p for p in plugins if isinstance(p, PreScorePlugin)]
        self.scorers = [p for p in plugins if isinstance(p, ScorePlugin)]
        self.weights = {p.NAME: (weights or {}).get(p.NAME, 1) for p in self.scorers}
        self.percentage = percentage_of_nodes_to_score
        self.timer = timer
        self.rng = rng or random.Random()
        self._next_start = 0

    # ---- the cycle ----

    def num_feasible_nodes_to_find(self, num_nodes: int) -> int:
        if num_nodes < MIN_FEASIBLE_NODES_TO_FIND:
            return num_nodes
        pct = self.percentage or max(50 - num_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE)
        if pct >= 100:
            return num_nodes
        return max(num_nodes * pct // 100, MIN_FEASIBLE_NODES_TO_FIND)

    def run_pre_filters(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                        ) -> tuple[set[str], Status | None]:
        """Returns the plugins to skip and the first rejection (None when none)."""
        skipped: set[str] = set()
        for plugin in self.pre_filters:
            start = time.perf_counter()
            status = plugin.pre_filter(state, pod, nodes)
            self.timer("PreFilter", status.code.name, time.perf_counter() - start)
            if status.is_skip:
                skipped.add(plugin.NAME)
            elif not status.is_success:
                return skipped, status.with_plugin(plugin.NAME)
        return skipped, None

    def schedule(self, pod: PodInfo, nodes: list[NodeInfo]) -> ScheduleResult:
        """Choose a node for ``pod``; FitError when none fits."""
        if not nodes:
            raise FitError(0, {})
        state = CycleState()
        skipped, rejection = self.run_pre_filters(state, pod, nodes)
        if rejection is not None:
            raise FitError(len(nodes), {}, rejection)
        filters = [p for p in self.filters if p.NAME not in skipped]
        feasible, failures, evaluated = self._find_feasible(state, pod, nodes, filters)
        if not feasible:
            raise FitError(len(nodes), failures)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        totals = self._score(state, pod, feasible)
        return ScheduleResult(self._select(totals), evaluated, len(feasible))

    def _find_feasible(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo],
                       filters: list[FilterPlugin]) -> tuple[list[NodeInfo], dict[str, Status], int]:
        want = self.num_feasible_nodes_to_find(len(nodes))
        start_at = self._next_start % len(nodes)
        feasible: list[NodeInfo] = []
        failures: dict[str, Status] = {}
        evaluated = 0
        started = time.perf_counter()
        count = len(nodes)
        for i in range(count):
            node = nodes[(start_at + i) % count]
            evaluated += 1
            for plugin in filters:
                status = plugin.filter(state, pod, node)
                if status.code is not Code.SUCCESS:
                    failures[node.name] = status.with_plugin(plugin.NAME)
                    break
            else:
                feasible.append(node)
                if len(feasible) >= want:
                    break
        self._next_start = (start_at + evaluated) % count
        self.timer("Filter", "Success", time.perf_counter() - started)
        return feasible, failures, evaluated

    def _plugin_scores(self, state: CycleState, pod: PodInfo, feasible: list[NodeInfo]
                       ) -> dict[str, dict[str, int]]:
        """PreScore, then each scorer's normalized scores (plugin → node → 0..100)."""
        for pre in self.pre_scores:
            if pre.pre_score(state, pod, feasible).is_skip:
                state[f"skip-score:{pre.NAME}"] = True
        out: dict[str, dict[str, int]] = {}
        for scorer in self.scorers:
            if state.get(f"skip-score:{scorer.NAME}"):
                continue
            scores = {n.name: scorer.score(state, pod, n) for n in feasible}
            scorer.normalize(state, pod, scores)
            out[scorer.NAME] = scores
        return out

    def _score(self, state: CycleState, pod: PodInfo, feasible: list[NodeInfo]) -> dict[str, int]:
        started = time.perf_counter()
        totals = dict.fromkeys((n.name for n in feasible), 0)
        for plugin, scores in self._plugin_scores(state, pod, feasible).items():
            weight = self.weights[plugin]
            for name, value in scores.items():
                totals[name] += value * weight
        self.timer("Score", "Success", time.perf_counter() - started)
        return totals

    def _select(self, totals: dict[str, int]) -> str:
        best_score = -1
        best = ""
        ties = 0
        for name, value in totals.items():
            if value > best_score:
                best_score, best, ties = value, name, 1
            elif value == best_score:
                ties += 1
                if self.rng.randrange(ties) == 0:
                    best = name
        return best

    # ---- explain ----

    def explain(self, pod: PodInfo, nodes: list[NodeInfo]) -> Explanation:
        """Every plugin's verdict and score on every node, and the winner the cycle would pick."""
        state = CycleState()
        prefilter: list[tuple[str, Status]] = []
        skipped: set[str] = set()
        for pre in self.pre_filters:
            status = pre.pre_filter(state, pod, nodes)
            prefilter.append((pre.NAME, status))
            if status.is_skip:
                skipped.add(pre.NAME)
        rejected = next((s for _, s in prefilter if s.is_rejected or s.code == Code.ERROR), None)
        out = [NodeExplanation(n.name) for n in nodes]
        for node, ex in zip(nodes, out, strict=True):
            for plugin in self.filters:
                if plugin.NAME in skipped:
                    continue
                ex.filters.append((plugin.NAME, plugin.filter(state, pod, node)))
        feasible = [n for n, ex in zip(nodes, out, strict=True) if ex.feasible] if rejected is None else []
        winner, message = "", ""
        if feasible:
            self._explain_scores(state, pod, feasible, {ex.node: ex for ex in out})
            best = max(ex.total for ex in out if ex.feasible)
            winner = next(ex.node for ex in out if ex.feasible and ex.total == best)
        else:
            failures = {ex.node: next(s for _, s in ex.filters if not s.is_success) for ex in out
                        if not ex.feasible}
            message = FitError(len(nodes), failures, rejected).message()
        return Explanation(prefilter, out, winner, message)

    def _explain_scores(self, state: CycleState, pod: PodInfo, feasible: list[NodeInfo],
                        by_name: dict[str, NodeExplanation]) -> None:
        for plugin, scores in self._plugin_scores(state, pod, feasible).items():
            weight = self.weights[plugin]
            for name, value in scores.items():
                by_name[name].scores[plugin] = (value, value * weight)
                by_name[name].total += value * weight
