"""``explain-schedule pod/NAME``: why a pod goes (or cannot go) where it does.

Beyond kubectl: asks the leading scheduler, through the apiserver, to run every filter and
score plugin on every node for this pod right now, and prints one row per node — each Filter's
verdict (``ok`` or its reason) and the total score — then the score breakdown of the feasible
nodes and the node that would win, or the FailedScheduling message when none fits.
"""

from __future__ import annotations

import argparse

import grpc

from skiff.api import errors
from skiff.api.v1 import scheduler_pb2 as pb
from skiff.api.v1 import scheduler_pb2_grpc
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import table


def _pod_name(target: str) -> str:
    kind, _, name = target.rpartition("/")
    if kind and kind not in ("pod", "pods", "po"):
        raise UsageError(f"error: explain-schedule takes a pod (pod/NAME or NAME), not {kind}")
    return name


async def _explain(ctx: Context, name: str) -> pb.ExplainResponse:
    stub = scheduler_pb2_grpc.SchedulerStub(ctx.client.channel)
    return await ctx.client.call(stub.Explain, pb.ExplainRequest(namespace=ctx.namespace, name=name))


def render(response: pb.ExplainResponse) -> str:
    filters: list[str] = []
    for node in response.nodes:
        for verdict in node.filters:
            if verdict.plugin not in filters:
                filters.append(verdict.plugin)
    rows = []
    for node in sorted(response.nodes, key=lambda n: (not n.feasible, -n.total, n.node)):
        cells = {v.plugin: ("ok" if v.code == "Success" else "; ".join(v.reasons) or v.code) for v in node.filters}
        rows.append([node.node, "yes" if node.feasible else "no", *[cells.get(f, "-") for f in filters],
                     str(node.total) if node.feasible else "-"])
    lines = []
    rejected = [v for v in response.prefilter if v.code not in ("Success", "Skip")]
    for v in rejected:
        lines.append(f"PreFilter {v.plugin}: {'; '.join(v.reasons) or v.code}")
    lines.append(table(["NODE", "FITS", *filters, "SCORE"], rows))
    breakdown = [n for n in response.nodes if n.feasible and n.scores]
    if breakdown:
        lines.append("")
        lines.append("Scores (normalized x weight):")
        for node in sorted(breakdown, key=lambda n: -n.total):
            parts = ", ".join(f"{s.plugin} {s.score}x{s.weighted // s.score if s.score else 0}={s.weighted}"
                              for s in node.scores)
            lines.append(f"  {node.node}: {parts}  => {node.total}")
    lines.append("")
    if response.winner:
        lines.append(f"pod {response.pod} would be scheduled to {response.winner}")
    else:
        lines.append(f"pod {response.pod} fits no node: {response.message}")
    return "\n".join(lines)


async def run_explain(ctx: Context) -> int:
    name = _pod_name(ctx.args.pod)
    try:
        response = await _explain(ctx, name)
    except errors.StatusError:
        raise
    except grpc.aio.AioRpcError as exc:  # pragma: no cover - call() maps these
        raise errors.ServiceUnavailable(str(exc)) from None
    ctx.print(render(response))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("explain-schedule",
                       help="show every node's filter verdicts and scores for a pod, and where it would go")
    p.add_argument("pod", help="pod/NAME or NAME")
    p.set_defaults(run=run_explain)
