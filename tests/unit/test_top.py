"""metrics-server's quantity forms (apiserver.server.metrics_api) and kubectl top's printer
(skiff.cli.commands.top), without a cluster."""

from __future__ import annotations

import pytest

from apiserver.server.metrics_api import cpu_quantity, memory_quantity, window
from skiff.api.quantity import parse_quantity
from skiff.api.timestamps import go_duration
from skiff.api.v1 import metrics_pb2 as pb
from skiff.cli.commands.top import percent_cell, render_nodes, render_pods, usage_cell


@pytest.mark.parametrize(("nano", "text"), [
    (0, "0"), (1, "1n"), (329087452, "329087452n"), (12000000, "12m"), (1000, "1u"), (1500000000, "1500m"),
    (2000000000, "2"), (123456789012, "123456789012n"),
])
def test_cpu_is_nanocores_in_canonical_decimal_si(nano: int, text: str) -> None:
    assert cpu_quantity(nano) == text


@pytest.mark.parametrize(("size", "text"), [
    (0, "0"), (512, "512"), (1000, "1k"), (1023, "1023"), (1024, "1Ki"), (1500, "1500"), (2814136320, "2748180Ki"),
    (524288000, "500Mi"), (3146240, "3146240"), (1 << 30, "1Gi"),
])
def test_memory_is_bytes_in_canonical_binary_si(size: int, text: str) -> None:
    assert memory_quantity(size) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (10.0, "10s"), (20.064, "20.064s"), (90.0, "1m30s"), (3600.0, "1h0m0s"), (0.5, "500ms"), (0.0, "0s"),
])
def test_window_is_a_go_duration(seconds: float, text: str) -> None:
    assert window(seconds) == text


def test_go_duration_small_units_and_sign() -> None:
    assert [go_duration(n) for n in (999, 1500, 2_500_000, -2_000_000_000, 3723_500_000_000)] == [
        "999ns", "1.5µs", "2.5ms", "-2s", "1h2m3.5s"]


def test_usage_cells_round_cpu_up_and_memory_down() -> None:
    assert usage_cell("cpu", parse_quantity("12345678n")) == "13m"
    assert usage_cell("cpu", parse_quantity("12m")) == "12m"
    assert usage_cell("memory", parse_quantity("2748180Ki")) == "2683Mi"
    assert usage_cell("memory", parse_quantity("1048575")) == "0Mi"
    assert percent_cell(parse_quantity("330m"), parse_quantity("4")) == "8%"
    assert percent_cell(parse_quantity("2748180Ki"), parse_quantity("8Gi")) == "32%"
    assert percent_cell(parse_quantity("1"), parse_quantity("0")) == "0%"


def _node(name: str, cpu: str, memory: str) -> pb.NodeMetrics:
    return pb.NodeMetrics(name=name, usage={"cpu": cpu, "memory": memory})


def _pod(namespace: str, name: str, *containers: tuple[str, str, str]) -> pb.PodMetrics:
    m = pb.PodMetrics(namespace=namespace, name=name)
    for cname, cpu, memory in containers:
        m.containers.add(name=cname, usage={"cpu": cpu, "memory": memory})
    return m


def test_nodes_sorted_with_percentages_and_unknown_rows() -> None:
    q = parse_quantity
    available = {"a": {"cpu": q("2"), "memory": q("4Gi")}, "b": {"cpu": q("4"), "memory": q("8Gi")},
                 "z": {"cpu": q("1"), "memory": q("1Gi")}, "c": {"cpu": q("1"), "memory": q("1Gi")}}
    metrics = [_node("b", "100m", "1Gi"), _node("a", "1500m", "512Mi")]
    assert render_nodes(metrics, available) == (
        "NAME   CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   \n"
        "a      1500m        75%         512Mi           12%         \n"
        "b      100m         2%          1024Mi          12%         \n"
        "c      <unknown>    <unknown>   <unknown>       <unknown>   \n"
        "z      <unknown>    <unknown>   <unknown>       <unknown>   ")
    assert render_nodes(metrics, {}, sort_by="memory", no_headers=True) == (
        "b     100m    1024Mi   \n"
        "a     1500m   512Mi    ")
    assert render_nodes([], available) == ""


def test_pods_sum_containers_and_sort() -> None:
    metrics = [_pod("default", "web", ("b", "5m", "10Mi"), ("a", "1n", "1Mi")),
               _pod("kube-system", "dns", ("coredns", "3m", "20Mi")),
               _pod("default", "db", ("postgres", "200m", "100Mi"))]
    assert render_pods(metrics) == (
        "NAME   CPU(cores)   MEMORY(bytes)   \n"
        "db     200m         100Mi           \n"
        "dns    3m           20Mi            \n"
        "web    6m           11Mi            ")
    assert render_pods(metrics, with_namespace=True, sort_by="cpu") == (
        "NAMESPACE     NAME   CPU(cores)   MEMORY(bytes)   \n"
        "default       db     200m         100Mi           \n"
        "default       web    6m           11Mi            \n"
        "kube-system   dns    3m           20Mi            ")
    assert render_pods(metrics[:1], containers=True, sort_by="memory") == (
        "POD   NAME   CPU(cores)   MEMORY(bytes)   \n"
        "web   b      5m           10Mi            \n"
        "web   a      1m           1Mi             ")


def test_sum_rows_as_kubectl_places_them() -> None:
    metrics = [_pod("default", "web", ("app", "5m", "10Mi")), _pod("kube-system", "dns", ("coredns", "3m", "20Mi"))]
    assert render_pods(metrics, with_namespace=True, total=True) == (
        "NAMESPACE     NAME   CPU(cores)   MEMORY(bytes)   \n"
        "default       web    5m           10Mi            \n"
        "kube-system   dns    3m           20Mi            \n"
        "                     ________     ________        \n"
        "                     8m           30Mi            ")
    # kubectl counts the NAMESPACE / POD columns for --sum only when it prints the headers
    assert render_pods(metrics, with_namespace=True, no_headers=True, total=True) == (
        "default       web        5m         10Mi   \n"
        "kube-system   dns        3m         20Mi   \n"
        "              ________   ________   \n"
        "              8m         30Mi       ")
