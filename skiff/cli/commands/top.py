"""``top node`` and ``top pod``: CPU and memory in use, as kubectl 1.32 prints them.

The numbers come from the apiserver's Metrics service (metrics.k8s.io's NodeMetrics / PodMetrics,
gathered from the kubelets); the layout is kubectl's metricsutil printer:

- ``top node [NAME] [-l SEL]``: ``NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)``, CPU as
  millicores rounded up (``%vm`` of ``MilliValue``), memory in whole MiB (``Value / 1Mi``), the
  percentages of the node's allocatable (``--show-capacity``: its capacity), truncated; then a row
  of ``<unknown>`` for each listed node without metrics (a kubelet that did not answer). No
  metrics at all is ``error: metrics not available yet``.
- ``top pod [NAME] [-n NS|-A] [-l SEL] [--field-selector SEL]``: ``NAME CPU(cores)
  MEMORY(bytes)`` (``NAMESPACE`` first with ``-A``), each pod the sum of its containers;
  ``--containers`` prints one ``POD NAME ...`` row per container, ``--sum`` adds kubectl's
  ``________`` line and the totals. When nothing is reported, the pods are looked at as kubectl
  does: none is ``No resources found in NS namespace.`` (stderr, exit 0); one older than two
  minutes is ``error: Metrics not available for pod NS/NAME, age: 5m3.2s``; younger ones are
  ``error: metrics not available yet``.

``--sort-by=cpu|memory`` sorts the largest first (else by name; by namespace, then name, with
``-A``); ``--no-headers`` drops the header line. Every cell ends in a tab as kubectl writes them, so
the lines keep kubectl's trailing padding. An apiserver without the Metrics service is ``error:
Metrics API not available``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from typing import Any

from skiff.api.labels import SelectorError, parse_field_selector, parse_selector
from skiff.api.quantity import Quantity, QuantityError, parse_quantity
from skiff.api.timestamps import epoch_seconds, go_duration
from skiff.api.v1 import core_pb2
from skiff.api.v1 import metrics_pb2 as pb
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import table
from skiff.client import metrics_api

NODE_COLUMNS = ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
POD_COLUMNS = ["NAME", "CPU(cores)", "MEMORY(bytes)"]
NAMESPACE_COLUMN = "NAMESPACE"
POD_COLUMN = "POD"
MEASURED = ("cpu", "memory")
UNKNOWN = "<unknown>"
METRICS_CREATION_DELAY = 120.0
"""Seconds after which a pod without metrics is an error of its own (kubectl's metricsCreationDelay)."""
_MI = 1024 * 1024
_ZERO = Quantity()


# ---- kubectl's printer (pkg/metricsutil/metrics_printer.go)

def quantity(usage: Mapping[str, str], resource: str) -> Quantity:
    """One resource of a usage map; absent (or unreadable) is zero, as a Go map lookup gives."""
    try:
        return parse_quantity(usage[resource]) if resource in usage else _ZERO
    except QuantityError:
        return _ZERO


def usage_cell(resource: str, amount: Quantity) -> str:
    """``%vm`` of the millicores for CPU, ``%vMi`` of the whole MiB for memory."""
    if resource == "cpu":
        return f"{amount.milli_value()}m"
    if resource == "memory":
        return f"{amount.int_value() // _MI}Mi"
    return str(amount.int_value())


def percent_cell(amount: Quantity, available: Quantity) -> str:
    """The share of ``available``, truncated to a whole percent (``int64(fraction)``)."""
    fraction = 0.0 if available.is_zero() else amount.milli_value() / available.milli_value() * 100
    return f"{int(fraction)}%"


def _usage_cells(usage: Mapping[str, Quantity], available: Mapping[str, Quantity] | None) -> list[str]:
    cells = []
    for resource in MEASURED:
        amount = usage.get(resource, _ZERO)
        cells.append(usage_cell(resource, amount))
        if available is not None and resource in available:
            cells.append(percent_cell(amount, available[resource]))
    return cells


def _node_usage(m: pb.NodeMetrics) -> dict[str, Quantity]:
    return {r: quantity(m.usage, r) for r in MEASURED}


def _pod_usage(m: pb.PodMetrics) -> dict[str, Quantity]:
    """The sum of the pod's containers (getPodMetrics)."""
    total = {r: _ZERO for r in MEASURED}
    for container in m.containers:
        for r in MEASURED:
            total[r] = total[r] + quantity(container.usage, r)
    return total


def _descending(usage: Mapping[str, Quantity], sort_by: str) -> int:
    amount = usage.get(sort_by, _ZERO)
    return -(amount.milli_value() if sort_by == "cpu" else amount.int_value())


def render_nodes(metrics: Sequence[pb.NodeMetrics], available: Mapping[str, Mapping[str, Quantity]], *,
                 no_headers: bool = False, sort_by: str = "") -> str:
    """kubectl's PrintNodeMetrics: the nodes with metrics (sorted), then ``<unknown>`` rows for the
    nodes in ``available`` that have none. Empty when there are no metrics."""
    if not metrics:
        return ""
    usages = {m.name: _node_usage(m) for m in metrics}
    if sort_by in MEASURED:
        ordered = sorted(metrics, key=lambda m: _descending(usages[m.name], sort_by))
    else:
        ordered = sorted(metrics, key=lambda m: m.name)
    remaining = dict(available)
    rows = []
    for m in ordered:
        rows.append([m.name, *_usage_cells(usages[m.name], remaining.pop(m.name, None))])
    for name in sorted(remaining):  # kubectl walks a Go map here: any order
        rows.append([name, *[UNKNOWN] * (2 * len(MEASURED))])
    return table([] if no_headers else NODE_COLUMNS, rows, pad_last=True)


def render_pods(metrics: Sequence[pb.PodMetrics], *, containers: bool = False, with_namespace: bool = False,
                no_headers: bool = False, sort_by: str = "", total: bool = False) -> str:
    """kubectl's PrintPodMetrics. Empty when there are no metrics."""
    if not metrics:
        return ""
    headers: list[str] = []
    width = len(POD_COLUMNS)
    if not no_headers:  # kubectl widens the --sum columns only when it prints the headers
        if with_namespace:
            headers.append(NAMESPACE_COLUMN)
            width += 1
        if containers:
            headers.append(POD_COLUMN)
            width += 1
        headers.extend(POD_COLUMNS)
    usages = [(m, _pod_usage(m)) for m in metrics]
    if sort_by in MEASURED:
        usages.sort(key=lambda mu: _descending(mu[1], sort_by))
    elif with_namespace:
        usages.sort(key=lambda mu: (mu[0].namespace, mu[0].name))
    else:
        usages.sort(key=lambda mu: mu[0].name)
    rows: list[list[str]] = []
    for m, pod_usage in usages:
        prefix = [m.namespace] if with_namespace else []
        if not containers:
            rows.append([*prefix, m.name, *_usage_cells(pod_usage, None)])
            continue
        each = [(c.name, {r: quantity(c.usage, r) for r in MEASURED}) for c in m.containers]
        if sort_by in MEASURED:
            each.sort(key=lambda cu: _descending(cu[1], sort_by))
        else:
            each.sort(key=lambda cu: cu[0])
        for name, container_usage in each:
            rows.append([*prefix, m.name, name, *_usage_cells(container_usage, None)])
    if total:
        sums = {r: _ZERO for r in MEASURED}
        for _, pod_usage in usages:
            for r in MEASURED:
                sums[r] = sums[r] + pod_usage[r]
        rows.append([*[""] * (width - 2), "________", "________"])
        rows.append([*[""] * (width - 3), "", *_usage_cells(sums, None)])
    return table(headers, rows, pad_last=True)


# ---- the verbs

def _check_common(ctx: Context, kind: str) -> str:
    """The one NAME (or none), after kubectl's argument checks."""
    args = ctx.args
    if len(args.names) > 1:
        raise UsageError(f"error: {kind} [NAME | -l label]\nSee 'skiffctl top {kind} -h' for help and examples")
    if args.sort_by and args.sort_by not in MEASURED:
        raise UsageError("error: --sort-by accepts only cpu or memory")
    try:
        parse_selector(args.selector)
        parse_field_selector(getattr(args, "field_selector", ""))
    except (SelectorError, ValueError) as exc:
        raise UsageError(f"error: {exc}") from None
    return args.names[0] if args.names else ""


async def run_top_node(ctx: Context) -> int:
    args = ctx.args
    name = _check_common(ctx, "node")
    if name and args.selector:
        raise UsageError("error: only one of NAME or --selector can be provided")
    try:
        metrics = await metrics_api.node_metrics(ctx.client, name, label_selector=args.selector)
    except metrics_api.MetricsAPINotAvailable:
        raise UsageError("error: Metrics API not available") from None
    if not metrics:
        raise UsageError("error: metrics not available yet")
    if name:
        nodes = [await ctx.client.get(core_pb2.Node, name)]
    else:
        nodes = (await ctx.client.list(core_pb2.Node, label_selector=args.selector)).items
    available = {}
    for node in nodes:
        resources = node.status.capacity if args.show_capacity else node.status.allocatable
        available[node.metadata.name] = {r: quantity(resources, r) for r in resources}
    text = render_nodes(metrics, available, no_headers=args.no_headers, sort_by=args.sort_by)
    if text:
        ctx.print(text)
    return 0


async def run_top_pod(ctx: Context) -> int:
    args = ctx.args
    name = _check_common(ctx, "pod")
    if name and (args.selector or args.field_selector):
        raise UsageError("error: only one of NAME or selector can be provided")
    namespace = "" if args.all_namespaces else ctx.namespace
    try:
        metrics = await metrics_api.pod_metrics(ctx.client, namespace, name, label_selector=args.selector,
                                                field_selector=args.field_selector)
    except metrics_api.MetricsAPINotAvailable:
        raise UsageError("error: Metrics API not available") from None
    if not metrics:
        await _verify_empty_metrics(ctx, name)
        ctx.warn("No resources found" if args.all_namespaces else f"No resources found in {ctx.namespace} namespace.")
        return 0
    ctx.print(render_pods(metrics, containers=args.containers, with_namespace=args.all_namespaces,
                          no_headers=args.no_headers, sort_by=args.sort_by, total=args.sum))
    return 0


async def _verify_empty_metrics(ctx: Context, name: str) -> None:
    """kubectl's verifyEmptyMetrics: returns when there are no pods (in the current namespace, even
    with -A, as kubectl looks), else raises why none has metrics."""
    if name:
        pods: list[Any] = [await ctx.client.get(core_pb2.Pod, name, namespace=ctx.namespace)]
    else:
        pods = (await ctx.client.list(core_pb2.Pod, namespace=ctx.namespace, label_selector=ctx.args.selector,
                                      field_selector=ctx.args.field_selector)).items
        if not pods:
            return
    now = time.time()
    for pod in pods:
        created = epoch_seconds(pod.metadata.creation_timestamp)
        age = now - created if created is not None else 0.0
        if age > METRICS_CREATION_DELAY:
            raise UsageError(f"error: Metrics not available for pod {pod.metadata.namespace}/{pod.metadata.name}, "
                             f"age: {go_duration(int(age * 1e9))}")
    raise UsageError("error: metrics not available yet")


def _top_help(parser: argparse.ArgumentParser) -> Any:
    async def run(ctx: Context) -> int:
        ctx.print(parser.format_help().rstrip("\n"))
        return 0

    return run


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    top = sub.add_parser("top", help="display resource (CPU/memory) usage of nodes or pods")
    top.set_defaults(run=_top_help(top))
    kinds = top.add_subparsers(dest="top_kind", metavar="RESOURCE", parser_class=type(top))
    p = kinds.add_parser("node", aliases=["nodes", "no"], help="display resource (CPU/memory) usage of nodes")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("-l", "--selector", default="", help="label selector (=, ==, !=)")
    p.add_argument("--sort-by", default="", help="sort by cpu or memory, largest first")
    p.add_argument("--no-headers", action="store_true", help="print no header line")
    p.add_argument("--show-capacity", action="store_true",
                   help="percentages of the node's capacity instead of its allocatable")
    p.set_defaults(run=run_top_node)
    p = kinds.add_parser("pod", aliases=["pods", "po"], help="display resource (CPU/memory) usage of pods")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="pods of every namespace")
    p.add_argument("-l", "--selector", default="", help="label selector (=, ==, !=)")
    p.add_argument("--field-selector", default="", help="field selector (=, ==, !=)")
    p.add_argument("--containers", action="store_true", help="one row per container")
    p.add_argument("--sort-by", default="", help="sort by cpu or memory, largest first")
    p.add_argument("--no-headers", action="store_true", help="print no header line")
    p.add_argument("--sum", action="store_true", help="print the sum of the resource usage")
    p.set_defaults(run=run_top_pod)
