from __future__ import annotations

import random

import pytest

from scheduler.framework.interface import FilterPlugin, PreFilterPlugin, PreScorePlugin, ScorePlugin
from scheduler.framework.runtime import FitError, Framework
from scheduler.plugins import DEFAULT_WEIGHTS, REGISTRY, PluginArgs, build, default_plugins
from scheduler.plugins.node_resources_fit import NodeResourcesFit
from tests.unit.scheduler.builders import make_node, make_pod, node_info

DEFAULT_ORDER = ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodeResourcesFit",
                 "PodTopologySpread", "InterPodAffinity", "NodeResourcesBalancedAllocation"]


def test_default_profile_order_and_weights() -> None:
    plugins = default_plugins(PluginArgs())
    assert [p.NAME for p in plugins] == DEFAULT_ORDER  # type: ignore[attr-defined]
    assert DEFAULT_WEIGHTS == {"TaintToleration": 3, "NodeAffinity": 2, "PodTopologySpread": 2,
                               "InterPodAffinity": 2, "NodeResourcesFit": 1, "NodeResourcesBalancedAllocation": 1}
    assert set(REGISTRY) == set(DEFAULT_ORDER)
    for plugin in plugins:
        assert plugin.NAME in REGISTRY  # type: ignore[attr-defined]
        assert isinstance(plugin, FilterPlugin | ScorePlugin)
        if isinstance(plugin, ScorePlugin):
            assert plugin.NAME in DEFAULT_WEIGHTS


def test_extension_points_are_found_by_the_framework() -> None:
    fw = Framework(default_plugins(), DEFAULT_WEIGHTS)
    assert [p.NAME for p in fw.filters] == DEFAULT_ORDER[:-1]
    assert [p.NAME for p in fw.scorers] == ["TaintToleration", "NodeAffinity", "NodeResourcesFit",
                                            "PodTopologySpread", "InterPodAffinity",
                                            "NodeResourcesBalancedAllocation"]
    assert {p.NAME for p in fw.pre_filters} == {"NodeName", "NodeAffinity", "NodeResourcesFit",
                                                "PodTopologySpread", "InterPodAffinity"}
    assert all(isinstance(p, PreScorePlugin) for p in fw.scorers)
    assert not any(isinstance(p, PreFilterPlugin) for p in fw.scorers if p.NAME == "TaintToleration")


def test_args_reach_the_plugins() -> None:
    (fit,) = build(["NodeResourcesFit"], PluginArgs(scoring_strategy="MostAllocated", fit_resources={"cpu": 2}))
    assert isinstance(fit, NodeResourcesFit)
    assert fit.strategy == "MostAllocated"
    assert fit.resources == [("cpu", 0, 2)]
    with pytest.raises(KeyError, match="NodePorts"):
        build(["NodePorts"])


def test_fit_error_message_from_the_plugins() -> None:
    nodes = [
        node_info(make_node("small", cpu="1")),
        node_info(make_node("gpu1", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])),
        node_info(make_node("gpu2", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])),
    ]
    fw = Framework(default_plugins(), DEFAULT_WEIGHTS)
    with pytest.raises(FitError) as err:
        fw.schedule(make_pod(cpu="2"), nodes)
    assert str(err.value) == ("0/3 nodes are available: 1 Insufficient cpu, "
                              "2 node(s) had untolerated taint {dedicated: gpu}.")


def test_schedule_picks_the_best_node() -> None:
    nodes = [node_info(make_node("busy", cpu="4"), make_pod("x", cpu="3")),
             node_info(make_node("idle", cpu="4")),
             node_info(make_node("tainted", taints=[{"key": "k", "effect": "PreferNoSchedule"}]))]
    fw = Framework(default_plugins(), DEFAULT_WEIGHTS, rng=random.Random(1))
    assert fw.schedule(make_pod(cpu="500m", memory="1Gi"), nodes).node == "idle"
    preferring = make_pod(cpu="500m", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["busy"]}]}}]}})
    assert fw.schedule(preferring, nodes).node == "busy"


def test_explain_runs_every_plugin_on_every_node() -> None:
    nodes = [node_info(make_node("small", cpu="1")), node_info(make_node("cordoned", unschedulable=True))]
    explanation = Framework(default_plugins(), DEFAULT_WEIGHTS).explain(make_pod(cpu="2"), nodes)
    assert explanation.winner == ""
    assert explanation.message == "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable."
