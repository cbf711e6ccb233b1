"""``delete``: by name, from files, by selector or ``--all``; with kubectl's cascade, grace and
wait semantics (``--wait`` is on by default: the command returns once the objects are gone).

The grace period follows kubectl's delete.go: ``--now`` is one second; ``--grace-period=0`` alone
becomes one second too, and only ``--force`` (which implies 0) removes an object from the API at
once — with kubectl's warning, and ``pod "web" force deleted`` for each. ``--wait`` follows each
deleted object (skiff.cli.following) until it is gone."""

from __future__ import annotations

import argparse
import asyncio

from skiff.api import errors
from skiff.cli import following
from skiff.cli.commands.files import add_file_flags
from skiff.cli.commands.label import resolve
from skiff.cli.context import Context, UsageError
from skiff.cli.failures import error_text
from skiff.cli.flags import duration_flag
from skiff.cli.resources import Target, singular_name

CASCADE = {"background": "Background", "true": "Background", "foreground": "Foreground", "orphan": "Orphan",
           "false": "Orphan"}


IMMEDIATE_WARNING = ("Warning: Immediate deletion does not wait for confirmation that the running resource has "
                     "been terminated. The resource may continue to run on the cluster indefinitely.")


def grace_period(args: argparse.Namespace) -> int | None:
    """kubectl's rules: --now is 1 s; 0 without --force becomes 1 (no accidental data loss);
    --force without a grace period is 0; None leaves the object's own."""
    grace: int | None = args.grace_period
    if args.now:
        if grace is not None and grace >= 0:
            raise UsageError("error: --now and --grace-period cannot be specified together")
        grace = 1
    if grace == 0 and not args.force:
        grace = 1
    if args.force and (grace is None or grace < 0):
        grace = 0
    return grace if grace is not None and grace >= 0 else None


async def run_delete(ctx: Context) -> int:
    args = ctx.args
    if args.all and args.selector:
        raise UsageError("error: cannot set --all and --selector at the same time")
    grace = grace_period(args)
    timeout = duration_flag(args.timeout)
    if args.force:
        ctx.warn(IMMEDIATE_WARNING if grace == 0 else "warning: --force is ignored because --grace-period is not 0.")
    targets = await resolve(ctx, args.targets, verb="delete", selector=args.selector, select_all=args.all,
                            all_namespaces=args.all_namespaces, filenames=args.filename, recursive=args.recursive)
    if not targets and (args.selector or args.all):
        where = "" if args.all_namespaces or not ctx.namespace else f" in {ctx.namespace} namespace"
        ctx.warn(f"No resources found{where}.")
        return 0
    policy = CASCADE[args.cascade]
    done = "force deleted" if grace == 0 else "deleted"
    failed = 0
    deleted: list[tuple[Target, str]] = []  # and the uid each had
    for target in targets:
        try:
            result = await ctx.client.delete(target.kind.message, target.name, namespace=target.namespace,
                                             propagation_policy=policy, grace_period_seconds=grace)
            ctx.print(f'{singular_name(target.kind)} "{target.name}" {done}')
            deleted.append((target, result.object.metadata.uid))  # type: ignore[attr-defined]
        except errors.StatusError as exc:
            failed += 1
            ctx.warn(error_text(exc))
    if args.wait:
        await asyncio.gather(*(wait_gone(ctx, t, uid, timeout) for t, uid in deleted))
    return 1 if failed else 0


async def wait_gone(ctx: Context, target: Target, uid: str, timeout: float) -> None:
    """Return once the object with ``uid`` no longer exists (one created again under its name does
    not hold the wait, as kubectl compares uids); ``timeout`` 0 or less waits as long as it takes."""
    try:
        await following.follow(ctx.client, target, following.gone(uid),
                               timeout=timeout if timeout > 0 else None)
    except errors.NotFound:
        return
    except TimeoutError:
        raise errors.StatusError(f"{following.TIMED_OUT} on {target.kind.resource}/{target.name}") from None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("delete", help="delete objects by name, file, selector or --all")
    p.add_argument("targets", nargs="*")
    add_file_flags(p, required=False)
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--all", action="store_true")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="with a selector or --all: the matching objects of every namespace")
    p.add_argument("--cascade", default="background", choices=sorted(CASCADE), nargs="?", const="background")
    p.add_argument("--grace-period", type=int, default=None)
    p.add_argument("--now", action="store_true", help="signal the objects to stop at once (a 1 s grace period)")
    p.add_argument("--force", action="store_true",
                   help="with --grace-period=0 (the default then): remove the objects from the API at once")
    p.add_argument("--wait", default=True, type=lambda v: v.lower() != "false", nargs="?", const=True)
    p.add_argument("--timeout", default="0s", help="how long --wait waits (0s: forever)")
    p.set_defaults(run=run_delete)
