"""``delete``: by name, from files, by selector or ``--all``; with kubectl's cascade, grace and
wait semantics (``--wait`` is on by default: the command returns once the objects are gone)."""

from __future__ import annotations

import argparse
import asyncio

from skiff.api import errors, kinds
from skiff.cli.commands.files import add_file_flags, namespace_for
from skiff.cli.context import Context, UsageError
from skiff.cli.failures import error_text
from skiff.cli.resources import load_files, parse_targets, singular_name

CASCADE = {"background": "Background", "true": "Background", "foreground": "Foreground", "orphan": "Orphan",
           "false": "Orphan"}


async def _targets(ctx: Context) -> list[tuple[kinds.Kind, str, str]]:
    args = ctx.args
    if args.filename:
        return [(kinds.of(obj), namespace_for(ctx, obj), obj.metadata.name)  # type: ignore[attr-defined]
                for _, obj in load_files(args.filename, args.recursive)]
    out: list[tuple[kinds.Kind, str, str]] = []
    for kind, names in parse_targets(args.targets, verb="delete"):
        ns = ctx.namespace if kind.namespaced else ""
        if names:
            out.extend((kind, ns, n) for n in names)
        elif args.selector or args.all:
            listed = await ctx.client.list(kind.message, namespace=ns, label_selector=args.selector)
            out.extend((kind, ns, o.metadata.name) for o in listed.items)  # type: ignore[attr-defined]
        else:
            raise UsageError("error: resource(s) were provided, but no name was specified")
    return out


async def run_delete(ctx: Context) -> int:
    args = ctx.args
    targets = await _targets(ctx)
    if not targets and (args.selector or args.all):
        ctx.warn("No resources found" + (f" in {ctx.namespace} namespace." if ctx.namespace else "."))
        return 0
    policy = CASCADE[args.cascade]
    grace = 0 if args.now else args.grace_period
    failed = 0
    deleted: list[tuple[kinds.Kind, str, str]] = []
    for kind, ns, name in targets:
        try:
            await ctx.client.delete(kind.message, name, namespace=ns, propagation_policy=policy,
                                    grace_period_seconds=grace if grace is not None and grace >= 0 else None)
            ctx.print(f'{singular_name(kind)} "{name}" deleted')
            deleted.append((kind, ns, name))
        except errors.StatusError as exc:
            failed += 1
            ctx.warn(error_text(exc))
    if args.wait:
        await asyncio.gather(*(wait_gone(ctx, k, ns, n, args.timeout) for k, ns, n in deleted))
    return 1 if failed else 0


async def wait_gone(ctx: Context, kind: kinds.Kind, namespace: str, name: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.05
    while timeout <= 0 or loop.time() < deadline:
        try:
            await ctx.client.get(kind.message, name, namespace=namespace)
        except errors.NotFound:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    raise errors.StatusError(f'timed out waiting for the condition on {kind.resource}/{name}')


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("delete", help="delete objects by name, file, selector or --all")
    p.add_argument("targets", nargs="*")
    add_file_flags(p, required=False)
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--all", action="store_true")
    p.add_argument("--cascade", default="background", choices=sorted(CASCADE), nargs="?", const="background")
    p.add_argument("--grace-period", type=int, default=None)
    p.add_argument("--now", action="store_true")
    p.add_argument("--wait", default=True, type=lambda v: v.lower() != "false", nargs="?", const=True)
    p.add_argument("--timeout", type=float, default=0, help="how long --wait waits (0: forever)")
    p.set_defaults(run=run_delete)
