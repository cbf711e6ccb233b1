"""``taint``, ``cordon``, ``uncordon`` and ``drain``: the verbs that act on nodes.

- taint follows kubectl's taint.go: ``key=value:Effect`` / ``key:Effect`` add, ``key:Effect-`` /
  ``key-`` remove; adding a key+effect the node has needs ``--overwrite``; each node prints
  ``node/n1 tainted``, ``untainted`` or ``modified``.
- cordon / uncordon set ``spec.unschedulable`` (``node/n1 cordoned``, ``node/n1 already
  uncordoned``).
- drain cordons, then sorts the node's pods with kubectl's filters (pkg/drain/filters.go), in
  kubectl's order: DaemonSet pods are refused without ``--ignore-daemonsets`` and never deleted;
  mirror pods are skipped; pods with an emptyDir need ``--delete-emptydir-data``; pods no
  controller owns need ``--force``; finished pods always go. Any refusal aborts the drain with
  kubectl's messages before anything is deleted. skiff has no Eviction API yet, so the pods are
  deleted (with their own grace period, or ``--grace-period``) — the output is kubectl's
  ``--disable-eviction`` form, ``pod/web-1 deleted`` as each one is gone — and drain waits
  until they are (``--timeout``, 0 = forever), then prints ``node/n1 drained``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from skiff import aio
from skiff.api import errors, kinds
from skiff.api.ownership import controller_of
from skiff.api.v1 import core_pb2
from skiff.cli.commands.label import (
    VerbError,
    add_dry_run,
    allow_intermixed,
    mutate,
    report,
    split_pairs,
)
from skiff.cli.context import Context, UsageError
from skiff.cli.flags import duration_flag
from skiff.cli.printers import dry_suffix
from skiff.cli.resources import Target

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
DAEMONSET_FATAL = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
DAEMONSET_WARNING = "ignoring DaemonSet-managed Pods"
LOCAL_STORAGE_FATAL = "Pods with local storage (use --delete-emptydir-data to override)"
LOCAL_STORAGE_WARNING = "deleting Pods with local storage"
UNMANAGED_FATAL = "cannot delete Pods that declare no controller (use --force to override)"
UNMANAGED_WARNING = "deleting Pods that declare no controller"


# ---- taint ----

@dataclass(frozen=True)
class TaintSpec:
    key: str
    value: str = ""
    effect: str = ""

    def __str__(self) -> str:
        """kubectl's Taint.ToString: key[=value][:effect]."""
        text = self.key + (f"={self.value}" if self.value else "")
        return text + (f":{self.effect}" if self.effect else "")

    def to_proto(self) -> core_pb2.Taint:
        taint = core_pb2.Taint(key=self.key, effect=self.effect)
        if self.value:
            taint.value = self.value
        return taint

    def matches(self, taint: Any) -> bool:
        """Taint.MatchTaint: same key and effect."""
        return bool(taint.key == self.key and taint.effect == self.effect)


def parse_taint(spec: str) -> TaintSpec:
    parts = spec.split(":")
    if len(parts) > 2:
        raise UsageError(f"error: invalid taint spec: {spec}")
    effect = parts[1] if len(parts) == 2 else ""
    if len(parts) == 2 and effect not in EFFECTS:
        raise UsageError(f"error: invalid taint effect: {effect}, unsupported taint effect")
    kv = parts[0].split("=")
    if len(kv) > 2 or (len(parts) == 1 and len(kv) == 2) or not kv[0]:
        raise UsageError(f"error: invalid taint spec: {spec}")
    return TaintSpec(kv[0], kv[1] if len(kv) == 2 else "", effect)


def parse_taints(specs: list[str]) -> tuple[list[TaintSpec], list[TaintSpec]]:
    add: list[TaintSpec] = []
    remove: list[TaintSpec] = []
    for spec in specs:
        if spec.endswith("-"):
            remove.append(parse_taint(spec[:-1]))
            continue
        taint = parse_taint(spec)
        if not taint.effect:
            raise UsageError(f"error: invalid taint spec: {spec}")
        if any(t.key == taint.key and t.effect == taint.effect for t in add):
            raise UsageError(f"error: duplicated taints with the same key and effect: {taint}")
        add.append(taint)
    conflicts = [f'{{"{r.key}":"{r.effect}"}}' for a in add for r in remove
                 if a.key == r.key and (not r.effect or a.effect == r.effect)]
    if conflicts:
        raise UsageError("error: can not both modify and remove the following taint(s) in the same command: "
                         + ", ".join(conflicts))
    return add, remove


def reorganize(node: Any, add: list[TaintSpec], remove: list[TaintSpec], *, overwrite: bool) -> str:
    """Replace the node's taints; returns kubectl's word for what happened."""
    if not overwrite:
        exists = [t.key for t in add for old in node.spec.taints if old.key == t.key and old.effect == t.effect]
        if exists:
            raise VerbError(f"node {node.metadata.name} already has {','.join(exists)} taint(s) with same "
                            "effect(s) and --overwrite is false")
    new = [t.to_proto() for t in add]
    kept = [old for old in node.spec.taints if not any(t.matches(old) for t in add)]
    added = bool(add) and len(kept) + len(new) != len(node.spec.taints)
    current = [*new, *kept]
    missing: list[str] = []
    removed = False
    for r in remove:
        before = len(current)
        current = [t for t in current if not (t.key == r.key and (not r.effect or t.effect == r.effect))]
        removed = len(current) != before
        if not removed:
            missing.append(f'taint "{r}" not found')
    if missing:
        raise VerbError(missing[0] if len(missing) == 1 else "[" + ", ".join(missing) + "]")
    del node.spec.taints[:]
    node.spec.taints.extend(current)
    if (added and removed) or overwrite:
        return "modified"
    return "tainted" if added else "untainted"


async def node_targets(ctx: Context, names: list[str], *, selector: str = "", select_all: bool = False) -> list[Target]:
    kind = kinds.of(core_pb2.Node)
    if selector or select_all:
        listed = await ctx.client.list(core_pb2.Node, label_selector=selector)
        return [Target(kind, "", n.metadata.name) for n in listed.items]
    return [Target(kind, "", n) for n in names]


def _node_names(resources: list[str]) -> list[str]:
    """``node n1 n2`` or ``node/n1``; only nodes."""
    if not resources:
        raise UsageError("error: one or more resources must be specified as <resource> <name>")
    names: list[str] = []
    first = resources[0]
    type_name = first.split("/", 1)[0]
    try:
        kind = kinds.lookup(type_name)
    except kinds.UnknownKind as exc:
        raise UsageError(f"error: {exc}") from None
    if kind.kind != "Node":
        raise UsageError(f"error: invalid resource type {type_name}, only node types are supported")
    for r in resources:
        names.append(r.split("/", 1)[1] if "/" in r else r)
    return names[1:] if "/" not in first else names


async def run_taint(ctx: Context) -> int:
    args = ctx.args
    resources, specs = split_pairs(args.args, "taint", is_pair=lambda a: "=" in a or ":" in a or a.endswith("-"))
    if not resources:
        raise UsageError("error: one or more resources must be specified as <resource> <name>")
    if not specs:
        raise UsageError("error: at least one taint update is required")
    add, remove = parse_taints(specs)
    names = _node_names(resources)
    if args.all and args.selector:
        raise UsageError("error: setting 'all' parameter with a non empty selector is prohibited")
    if not (args.all or args.selector) and not names:
        raise UsageError("error: at least one resource name must be specified since 'all' parameter is not set")
    targets = await node_targets(ctx, names, selector=args.selector, select_all=args.all)

    async def one(target: Target) -> None:
        word = ""

        def change(node: Any) -> bool:
            nonlocal word
            before = list(node.spec.taints)
            word = reorganize(node, add, remove, overwrite=args.overwrite)
            return list(node.spec.taints) != before

        await mutate(ctx, target, change, dry_run=args.dry_run)
        ctx.print(f"node/{target.name} {word}{dry_suffix(args.dry_run)}")

    return await report(ctx, targets, one)


# ---- cordon / uncordon ----

async def set_unschedulable(ctx: Context, target: Target, desired: bool) -> None:
    def change(node: Any) -> bool:
        if bool(node.spec.unschedulable) == desired:
            return False
        if desired:
            node.spec.unschedulable = True
        else:
            node.spec.ClearField("unschedulable")
        return True

    _, changed = await mutate(ctx, target, change, dry_run=ctx.args.dry_run)
    word = "cordoned" if desired else "uncordoned"
    ctx.print(f"node/{target.name} {word if changed else 'already ' + word}{dry_suffix(ctx.args.dry_run)}")


def _cordon_run(desired: bool) -> Any:
    async def run(ctx: Context) -> int:
        args = ctx.args
        if args.selector and args.nodes:
            raise UsageError("error: cannot specify both a node name and a --selector option")
        if not args.nodes and not args.selector:
            raise UsageError("error: USAGE: cordon NODE [flags]" if desired else "error: USAGE: uncordon NODE [flags]")
        targets = await node_targets(ctx, args.nodes, selector=args.selector)
        return await report(ctx, targets, lambda t: set_unschedulable(ctx, t, desired))

    return run


# ---- drain ----

@dataclass(frozen=True)
class Verdict:
    """What drain does with one pod: delete it or not, and why (kubectl's PodDeleteStatus)."""

    delete: bool
    reason: str = "Okay"
    """Okay, Skip, Warning or Error."""
    message: str = ""


OKAY = Verdict(True)


def _finished(pod: Any) -> bool:
    return pod.status.phase in ("Succeeded", "Failed")


def daemonset_filter(pod: Any, *, ignore_daemonsets: bool, daemonset_exists: bool, force: bool) -> Verdict:
    ref = controller_of(pod)
    if ref is None or ref.kind != "DaemonSet" or _finished(pod):
        return OKAY
    if not daemonset_exists:
        if force:
            return Verdict(True, "Warning", f'daemonsets.apps "{ref.name}" not found')
        return Verdict(False, "Error", f'daemonsets.apps "{ref.name}" not found')
    if not ignore_daemonsets:
        return Verdict(False, "Error", DAEMONSET_FATAL)
    return Verdict(False, "Warning", DAEMONSET_WARNING)


def mirror_filter(pod: Any) -> Verdict:
    return Verdict(False, "Skip") if MIRROR_POD_ANNOTATION in pod.metadata.annotations else OKAY


def local_storage_filter(pod: Any, *, delete_emptydir_data: bool) -> Verdict:
    if not any(v.HasField("empty_dir") for v in pod.spec.volumes) or _finished(pod):
        return OKAY
    if not delete_emptydir_data:
        return Verdict(False, "Error", LOCAL_STORAGE_FATAL)
    return Verdict(True, "Warning", LOCAL_STORAGE_WARNING)


def unreplicated_filter(pod: Any, *, force: bool) -> Verdict:
    if _finished(pod) or controller_of(pod) is not None:
        return OKAY
    if force:
        return Verdict(True, "Warning", UNMANAGED_WARNING)
    return Verdict(False, "Error", UNMANAGED_FATAL)


@dataclass(frozen=True)
class DrainFlags:
    force: bool = False
    ignore_daemonsets: bool = False
    delete_emptydir_data: bool = False


def judge(pod: Any, flags: DrainFlags, *, daemonset_exists: bool = True) -> Verdict:
    """kubectl's filters in kubectl's order; the first that keeps the pod decides."""
    checks = (
        lambda: daemonset_filter(pod, ignore_daemonsets=flags.ignore_daemonsets,
                                 daemonset_exists=daemonset_exists, force=flags.force),
        lambda: mirror_filter(pod),
        lambda: local_storage_filter(pod, delete_emptydir_data=flags.delete_emptydir_data),
        lambda: unreplicated_filter(pod, force=flags.force),
    )
    verdict = OKAY
    for check in checks:
        verdict = check()
        if not verdict.delete:
            break
    return verdict


def _group(verdicts: Iterable[tuple[Any, Verdict]], reason: str) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for pod, v in verdicts:
        if v.reason == reason:
            grouped.setdefault(v.message, []).append(f"{pod.metadata.namespace}/{pod.metadata.name}")
    return grouped


def drain_errors(verdicts: list[tuple[Any, Verdict]]) -> list[str]:
    out = []
    for msg, pods in _group(verdicts, "Error").items():
        prefix = "" if msg.lower().startswith("cannot delete") else "cannot delete "
        out.append(f"{prefix}{msg}: {', '.join(pods)}")
    return out


def drain_warnings(verdicts: list[tuple[Any, Verdict]]) -> str:
    return "; ".join(f"{msg}: {', '.join(pods)}" for msg, pods in _group(verdicts, "Warning").items())


async def _pods_on(ctx: Context, node: str, pod_selector: str) -> list[Any]:
    listed = await ctx.client.list(core_pb2.Pod, field_selector=f"spec.nodeName={node}",
                                   label_selector=pod_selector)
    return listed.items


async def _daemonset_exists(ctx: Context, pod: Any) -> bool:
    from skiff.api.v1 import apps_pb2

    ref = controller_of(pod)
    if ref is None or ref.kind != "DaemonSet":
        return True
    try:
        await ctx.client.get(apps_pb2.DaemonSet, ref.name, namespace=pod.metadata.namespace)
    except errors.NotFound:
        return False
    return True


async def plan_drain(ctx: Context, node: str, flags: DrainFlags) -> list[tuple[Any, Verdict]]:
    pods = await _pods_on(ctx, node, ctx.args.pod_selector)
    return [(p, judge(p, flags, daemonset_exists=await _daemonset_exists(ctx, p))) for p in pods]


async def _wait_pod_gone(ctx: Context, pod: Any) -> None:
    delay = 0.05
    while True:
        try:
            current = await ctx.client.get(core_pb2.Pod, pod.metadata.name, namespace=pod.metadata.namespace)
        except errors.NotFound:
            break
        if current.metadata.uid != pod.metadata.uid:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    ctx.print(f"pod/{pod.metadata.name} deleted")


async def delete_pods(ctx: Context, pods: list[Any], *, grace: int | None, timeout: float) -> None:
    for pod in pods:
        try:
            await ctx.client.delete(core_pb2.Pod, pod.metadata.name, namespace=pod.metadata.namespace,
                                    grace_period_seconds=grace)
        except errors.NotFound:
            pass
    waits = asyncio.gather(*(_wait_pod_gone(ctx, p) for p in pods))
    try:
        await aio.wait_for(waits, timeout if timeout > 0 else None)
    except TimeoutError:
        raise VerbError(f"drain did not complete within {ctx.args.timeout}") from None


async def drain_node(ctx: Context, node: str, flags: DrainFlags) -> None:
    args = ctx.args
    verdicts = await plan_drain(ctx, node, flags)
    problems = drain_errors(verdicts)
    if problems:
        raise VerbError(problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]")
    warnings = drain_warnings(verdicts)
    if warnings:
        ctx.warn(f"Warning: {warnings}")
    doomed = [p for p, v in verdicts if v.delete]
    if args.dry_run == "client":
        for pod in doomed:
            ctx.print(f"evicting pod {pod.metadata.namespace}/{pod.metadata.name} (dry run)")
        return
    grace = args.grace_period if args.grace_period is not None and args.grace_period >= 0 else None
    try:
        await delete_pods(ctx, doomed, grace=grace, timeout=duration_flag(args.timeout))
    except VerbError as exc:
        pending = [p for p, v in await plan_drain(ctx, node, flags) if v.delete]
        if pending:
            ctx.warn(f'There are pending pods in node "{node}" when an error occurred: {exc}')
            for pod in pending:
                ctx.warn(f"pod/{pod.metadata.name}")
        raise


async def run_drain(ctx: Context) -> int:
    args = ctx.args
    if args.selector and args.nodes:
        raise UsageError("error: cannot specify both a node name and a --selector option")
    if not args.nodes and not args.selector:
        raise UsageError("error: USAGE: drain NODE [flags]")
    duration_flag(args.timeout)
    targets = await node_targets(ctx, args.nodes, selector=args.selector)
    for target in targets:
        await set_unschedulable(ctx, target, True)
    flags = DrainFlags(force=args.force, ignore_daemonsets=args.ignore_daemonsets,
                       delete_emptydir_data=args.delete_emptydir_data)
    drained: list[str] = []
    for target in targets:
        try:
            await drain_node(ctx, target.name, flags)
        except VerbError as exc:
            _abort(ctx, target.name, [t.name for t in targets if t.name not in drained])
            ctx.warn(f"error: {exc}")
            return 1
        drained.append(target.name)
        ctx.print(f"node/{target.name} drained{dry_suffix(args.dry_run)}")
    return 0


def _abort(ctx: Context, node: str, remaining: list[str]) -> None:
    ctx.warn(f'error: unable to drain node "{node}", aborting command...\n')
    if remaining:
        ctx.warn("There are pending nodes to be drained:")
        for name in remaining:
            ctx.warn(f" {name}")


# ---- registration ----

def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = allow_intermixed(sub.add_parser(
        "taint", help="update the taints on nodes (key=value:Effect adds, key:Effect- removes)"))
    p.add_argument("args", nargs="*", metavar="node NAME KEY=VAL:EFFECT... KEY-")
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--all", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    add_dry_run(p)
    p.set_defaults(run=run_taint)
    for verb, desired in (("cordon", True), ("uncordon", False)):
        p = allow_intermixed(sub.add_parser(verb, help=f"mark nodes as {'un' if desired else ''}schedulable"))
        p.add_argument("nodes", nargs="*", metavar="NODE")
        p.add_argument("-l", "--selector", default="")
        add_dry_run(p)
        p.set_defaults(run=_cordon_run(desired))
    p = allow_intermixed(sub.add_parser("drain", help="cordon a node and delete its pods"))
    p.add_argument("nodes", nargs="*", metavar="NODE")
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--pod-selector", default="")
    p.add_argument("--force", action="store_true", help="also delete pods no controller manages")
    p.add_argument("--ignore-daemonsets", action="store_true", help="leave DaemonSet-managed pods in place")
    p.add_argument("--delete-emptydir-data", action="store_true", help="also delete pods using emptyDir")
    p.add_argument("--disable-eviction", action="store_true", help="(skiff always deletes: no Eviction API yet)")
    p.add_argument("--grace-period", type=int, default=-1, help="seconds; -1 uses each pod's own")
    p.add_argument("--timeout", default="0s", help="how long to wait for the pods to go (0s: forever)")
    add_dry_run(p)
    p.set_defaults(run=run_drain)
