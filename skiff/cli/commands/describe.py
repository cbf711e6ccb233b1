"""``describe``: a person-readable account of objects and of what happened to them.

The forms are kubectl's: ``describe TYPE NAME...`` (a NAME that matches no object exactly
describes every object whose name starts with it, as ``describe pods web`` shows a Deployment's
pods), ``describe TYPE/NAME...``, ``describe TYPE -l SELECTOR``, ``describe TYPE`` (all of the
namespace, or of every namespace with ``-A``) and ``describe -f FILE`` (the objects a manifest names).

This module only fetches: the object, then what its describer shows beside it (its Events by
field selector on ``involvedObject``, the pods a workload controls, a Deployment's ReplicaSets, a
Service's Endpoints, a Node's pods and lease). The text itself is made by the pure describers in
``skiff.cli.describe``. Several objects are separated by two blank lines, as kubectl does.
"""

from __future__ import annotations

import argparse
from typing import Any

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.v1 import apps_pb2, core_pb2
from skiff.cli.commands.files import add_file_flags
from skiff.cli.commands.label import resolve
from skiff.cli.context import Context
from skiff.cli.describe import Related, describe, selector_text
from skiff.cli.resources import list_selected, parse_targets
from skiff.client.client import Client

NODE_LEASE_NAMESPACE = "kube-node-lease"


async def find(ctx: Context, kind: kinds.Kind, name: str, namespace: str) -> list[Message]:
    """The object named ``name``, else every object whose name starts with it (kubectl's prefix match)."""
    try:
        return [await ctx.client.get(kind.message, name, namespace=namespace)]
    except errors.NotFound:
        listed = await ctx.client.list(kind.message, namespace=namespace)
        matches = [o for o in listed.items if o.metadata.name.startswith(name)]  # type: ignore[attr-defined]
        if not matches:
            raise
        return matches


async def object_events(client: Client, obj: Any) -> list[core_pb2.Event]:
    """Events about ``obj``: by name, namespace and kind in the API, by uid here (when both have one)."""
    meta = obj.metadata
    kind = kinds.of(obj)
    selector = f"involvedObject.name={meta.name},involvedObject.kind={kind.kind}"
    if kind.namespaced:
        selector += f",involvedObject.namespace={meta.namespace}"
    listed = await client.list(core_pb2.Event, namespace=meta.namespace if kind.namespaced else "",
                               field_selector=selector)
    return [e for e in listed.items
            if not e.involved_object.uid or not meta.uid or e.involved_object.uid == meta.uid]


async def _pods(client: Client, namespace: str, *, label_selector: str = "",
                field_selector: str = "") -> list[core_pb2.Pod]:
    listed = await client.list(core_pb2.Pod, namespace=namespace, label_selector=label_selector,
                               field_selector=field_selector)
    return list(listed.items)


async def _maybe(coro: Any) -> Any:
    try:
        return await coro
    except errors.NotFound:
        return None


async def related(client: Client, obj: Any) -> Related:
    """Everything the object's describer shows besides the object."""
    meta = obj.metadata
    found: dict[str, Any] = {"events": await object_events(client, obj)}
    kind = kinds.of(obj).kind
    if kind == "Deployment":
        listed = await client.list(apps_pb2.ReplicaSet, namespace=meta.namespace,
                                   label_selector=selector_text(obj.spec.selector))
        found["replica_sets"] = list(listed.items)
    elif kind in ("ReplicaSet", "StatefulSet", "DaemonSet"):
        found["pods"] = await _pods(client, meta.namespace, label_selector=selector_text(obj.spec.selector))
    elif kind == "PersistentVolumeClaim":
        found["pods"] = await _pods(client, meta.namespace)
    elif kind == "Service":
        found["endpoints"] = await _maybe(client.get(core_pb2.Endpoints, meta.name, namespace=meta.namespace))
    elif kind == "Node":
        found["pods"] = await _pods(client, "", field_selector=f"spec.nodeName={meta.name}")
        found["lease"] = await _maybe(client.get(apps_pb2.Lease, meta.name, namespace=NODE_LEASE_NAMESPACE))
    return Related(**found)


async def run_describe(ctx: Context) -> int:
    args = ctx.args
    if args.filename:
        return await _describe_files(ctx)
    objs: list[Message] = []
    for kind, names in parse_targets(args.targets, verb="describe"):
        namespace = ctx.namespace if kind.namespaced else ""
        if names:
            for name in names:
                objs.extend(await find(ctx, kind, name, namespace))
        else:
            listed = await list_selected(ctx.client, kind, namespace="" if args.all_namespaces else namespace,
                                         label_selector=args.selector)
            objs.extend(listed.items)
    if not objs:
        namespaced = any(k.namespaced for k, _ in parse_targets(args.targets, verb="describe"))
        where = f" in {ctx.namespace} namespace" if namespaced and not args.all_namespaces else ""
        ctx.warn(f"No resources found{where}.")
        return 0
    await _print(ctx, objs)
    return 0


async def _describe_files(ctx: Context) -> int:
    """``describe -f``: exactly the objects a manifest names (no name prefixes), each from its namespace."""
    args = ctx.args
    targets = await resolve(ctx, args.targets, verb="describe", selector=args.selector,
                            all_namespaces=args.all_namespaces, filenames=args.filename, recursive=args.recursive)
    await _print(ctx, [await ctx.client.get(t.kind.message, t.name, namespace=t.namespace) for t in targets])
    return 0


async def _print(ctx: Context, objs: list[Message]) -> None:
    texts = [describe(obj, await related(ctx.client, obj)) for obj in objs]
    ctx.print("\n\n".join(texts).rstrip("\n"))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's verbs to skiffctl."""
    p = sub.add_parser("describe", help="show details of objects, with their events")
    p.add_argument("targets", nargs="*", help="TYPE [NAME_PREFIX...] | TYPE/NAME...")
    add_file_flags(p, required=False)
    p.add_argument("-l", "--selector", default="", help="label selector")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.set_defaults(run=run_describe)
