"""``scale``, ``set image`` and ``set env``.

- scale goes through the scale subresource (``client.scale``), as kubectl does: only kinds with
  one (Deployment, ReplicaSet, StatefulSet); ``--current-replicas`` is a precondition read from
  the same subresource and its resourceVersion guards the write (``Expected replicas to be 3, was
  2``); each object prints ``deployment.apps/web scaled``.
- set image / set env change the pod template of any kind that has one (Pod, Deployment,
  ReplicaSet, StatefulSet, DaemonSet, Job, CronJob) with the shared read-modify-write loop;
  ``CONTAINER=IMAGE`` (``*`` = every container), ``KEY=VALUE`` / ``KEY-`` with ``-c`` to pick
  containers. Each changed object prints ``deployment.apps/web image updated`` / ``env updated``;
  an unchanged one prints nothing, as in kubectl.
"""

from __future__ import annotations

import argparse
import fnmatch
from typing import Any

from skiff.api import kinds
from skiff.api.v1 import core_pb2
from skiff.cli.commands.files import add_file_flags
from skiff.cli.commands.label import (
    Target,
    VerbError,
    add_dry_run,
    allow_intermixed,
    dry_suffix,
    mutate,
    parse_pairs,
    report,
    resolve,
    split_pairs,
)
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import resource_name
from skiff.cli.resources import singular_name

# ---- scale ----


async def scale_one(ctx: Context, target: Target) -> None:
    args = ctx.args
    if not target.kind.scalable:
        raise VerbError(f'no scaler has been implemented for {{"{target.kind.group}" "{target.kind.kind}"}}')
    resource_version = args.resource_version
    if args.current_replicas >= 0:
        current = await ctx.client.get_scale(target.kind.message, target.name, namespace=target.namespace)
        if current.spec.replicas != args.current_replicas:
            raise VerbError(f"Expected replicas to be {args.current_replicas}, was {current.spec.replicas}")
        resource_version = resource_version or current.metadata.resource_version
    if args.dry_run == "client":
        await ctx.client.get(target.kind.message, target.name, namespace=target.namespace)
    else:
        await ctx.client.scale(target.kind.message, target.name, args.replicas, namespace=target.namespace,
                               resource_version=resource_version)
    ctx.print(f"{singular_name(target.kind)}/{target.name} scaled{dry_suffix(args.dry_run)}")


async def run_scale(ctx: Context) -> int:
    args = ctx.args
    if args.replicas is None:
        raise UsageError('error: required flag(s) "replicas" not set')
    if args.replicas < 0:
        raise UsageError("error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    targets = await resolve(ctx, args.targets, verb="scale", selector=args.selector, select_all=args.all,
                            filenames=args.filename, recursive=args.recursive)
    if args.resource_version and len(targets) != 1:
        raise UsageError("error: cannot use --resource-version with multiple resources")
    return await report(ctx, targets, lambda t: scale_one(ctx, t))


# ---- the pod template of any kind ----

def pod_spec_of(obj: Any) -> Any:
    """The pod spec a kind runs: the pod's own, a template's, or a CronJob's job template's."""
    kind = kinds.of(obj).kind
    if kind == "Pod":
        return obj.spec
    if kind == "CronJob":
        return obj.spec.job_template.spec.template.spec
    if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        return obj.spec.template.spec
    raise VerbError(f"{resource_name(obj)} has no pod template")


def all_containers(spec: Any) -> list[Any]:
    return [*spec.init_containers, *spec.containers]


# ---- set image ----

def set_images(obj: Any, images: dict[str, str]) -> bool:
    spec = pod_spec_of(obj)
    changed = False
    for name, image in images.items():
        found = False
        for c in all_containers(spec):
            if c.name == name or name == "*":
                found = True
                if c.image != image:
                    c.image = image
                    changed = True
        if not found:
            raise VerbError(f'unable to find container named "{name}"')
    return changed


async def run_set_image(ctx: Context) -> int:
    args = ctx.args
    resources, pairs = split_pairs(args.args, "image", is_pair=lambda a: "=" in a)
    if not pairs:
        raise UsageError("error: at least one image update is required")
    images = dict(p.split("=", 1) for p in pairs)
    targets = await resolve(ctx, resources, verb="set image", selector=args.selector, select_all=args.all,
                            filenames=args.filename, recursive=args.recursive)

    async def one(target: Target) -> None:
        obj, changed = await mutate(ctx, target, lambda o: set_images(o, images), dry_run=args.dry_run)
        if changed:
            ctx.print(f"{resource_name(obj)} image updated{dry_suffix(args.dry_run)}")

    return await report(ctx, targets, one)


# ---- set env ----

def set_env(obj: Any, new: dict[str, str], remove: list[str], containers: str) -> bool:
    spec = pod_spec_of(obj)
    chosen = [c for c in all_containers(spec) if fnmatch.fnmatchcase(c.name, containers)]
    if not chosen:
        raise VerbError(f'unable to find container named {containers}')
    changed = False
    for c in chosen:
        before = [e.SerializeToString(deterministic=True) for e in c.env]
        by_name = {e.name: e for e in c.env}
        for key, value in new.items():
            if key in by_name:
                by_name[key].ClearField("value_from")
                by_name[key].value = value
            else:
                c.env.append(core_pb2.EnvVar(name=key, value=value))
        kept = [e for e in c.env if e.name not in remove]
        del c.env[:]
        c.env.extend(kept)
        changed = changed or before != [e.SerializeToString(deterministic=True) for e in c.env]
    return changed


def print_env(ctx: Context, obj: Any, containers: str) -> None:
    kind = kinds.of(obj)
    for c in all_containers(pod_spec_of(obj)):
        if not fnmatch.fnmatchcase(c.name, containers):
            continue
        ctx.print(f"# {kind.kind} {obj.metadata.name}, container {c.name}")
        for e in c.env:
            if e.HasField("value_from"):
                ctx.print(f"# {e.name} from a reference")
            else:
                ctx.print(f"{e.name}={e.value}")


async def run_set_env(ctx: Context) -> int:
    args = ctx.args
    resources, pairs = split_pairs(args.args, "env")
    if not pairs and not args.list:
        raise UsageError("error: at least one environment variable must be provided")
    new, remove = parse_pairs(pairs, "env", label_values=False)
    targets = await resolve(ctx, resources, verb="set env", selector=args.selector, select_all=args.all,
                            filenames=args.filename, recursive=args.recursive)

    async def one(target: Target) -> None:
        if args.list:
            print_env(ctx, await ctx.client.get(target.kind.message, target.name, namespace=target.namespace),
                      args.containers)
            return
        obj, changed = await mutate(ctx, target, lambda o: set_env(o, new, remove, args.containers),
                                    dry_run=args.dry_run)
        if changed:
            ctx.print(f"{resource_name(obj)} env updated{dry_suffix(args.dry_run)}")

    return await report(ctx, targets, one)


# ---- registration ----

def _selection_flags(p: argparse.ArgumentParser) -> None:
    add_file_flags(p, required=False)
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--all", action="store_true")
    add_dry_run(p)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = allow_intermixed(sub.add_parser("scale", help="set a new size for a Deployment, ReplicaSet or StatefulSet"))
    p.add_argument("targets", nargs="*", metavar="TYPE NAME | TYPE/NAME")
    p.add_argument("--replicas", type=int, default=None, help="the new desired number of replicas")
    p.add_argument("--current-replicas", type=int, default=-1, help="precondition: the current size")
    p.add_argument("--resource-version", default="", help="precondition: the resource version")
    p.add_argument("--timeout", default="0s", help="(accepted for kubectl compatibility)")
    _selection_flags(p)
    p.set_defaults(run=run_scale)

    set_parser = sub.add_parser("set", help="set specific features on objects (image, env)")
    set_sub = set_parser.add_subparsers(dest="set_command", metavar="COMMAND", parser_class=type(set_parser))
    p = allow_intermixed(set_sub.add_parser("image", help="update the images of a pod template (CONTAINER=IMAGE)"))
    p.add_argument("args", nargs="*", metavar="TYPE NAME CONTAINER=IMAGE...")
    _selection_flags(p)
    p.set_defaults(run=run_set_image)
    p = allow_intermixed(set_sub.add_parser("env", help="update the environment of a pod template (KEY=VALUE, KEY-)"))
    p.add_argument("args", nargs="*", metavar="TYPE NAME KEY=VALUE... KEY-")
    p.add_argument("-c", "--containers", default="*", help="the containers to change (a glob)")
    p.add_argument("--list", action="store_true", help="print the environment")
    _selection_flags(p)
    p.set_defaults(run=run_set_env)
