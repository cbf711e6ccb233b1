"""``delete``: by name, from files, by selector or ``--all``; with kubectl's cascade, grace, wait,
dry-run and not-found semantics (``--wait`` is on by default: the command returns once the objects
are gone).

The grace period follows kubectl's delete.go: ``--now`` is one second; ``--grace-period=0`` alone
becomes one second too, and only ``--force`` (which implies 0) removes an object from the API at
once — with kubectl's warning, and ``pod "web" force deleted`` for each; ``--force`` with a grace
period above 0 is refused. ``--ignore-not-found`` is on by default with ``--all``, ``-l`` and
``--field-selector`` (an object another client removed meanwhile is no failure), off otherwise.
``--dry-run=client`` prints what would be deleted and sends nothing; ``--dry-run=server`` sends the
delete with dryRun (the server checks it and keeps the object); neither waits. ``-o name`` prints
``pod/web`` instead of ``pod "web" deleted``. ``--wait`` follows each deleted object
(skiff.cli.following) until it is gone."""

from __future__ import annotations

import argparse
import asyncio

from skiff.api import errors
from skiff.cli.commands.files import add_file_flags
from skiff.cli.commands.label import add_dry_run, resolve
from skiff.cli.context import Context, UsageError
from skiff.cli.deletion import CASCADE, deleted_line, grace_period, wait_gone
from skiff.cli.failures import error_text
from skiff.cli.flags import duration_flag
from skiff.cli.resources import Target

IMMEDIATE_WARNING = ("Warning: Immediate deletion does not wait for confirmation that the running resource has "
                     "been terminated. The resource may continue to run on the cluster indefinitely.")
CLUSTER_SCOPE_WARNING = "Warning: deleting cluster-scoped resources, not scoped to the provided namespace"


def check_flags(args: argparse.Namespace, grace: int | None) -> None:
    """kubectl's Validate: -o is name or nothing; --all excludes the selectors; --force needs grace 0."""
    if args.output not in ("", "name"):
        raise UsageError(f"error: unexpected -o output mode: {args.output}. We only support '-o name'")
    if args.all and args.selector:
        raise UsageError("error: cannot set --all and --selector at the same time")
    if args.all and args.field_selector:
        raise UsageError("error: cannot set --all and --field-selector at the same time")
    if args.force and grace is not None and grace > 0:
        raise UsageError("error: --force and --grace-period greater than 0 cannot be specified together")


def ignores_not_found(args: argparse.Namespace) -> bool:
    """--ignore-not-found as given; unset, it is on when the objects were listed by a selector or --all."""
    if args.ignore_not_found is not None:
        return bool(args.ignore_not_found)
    return bool(args.all or args.selector or args.field_selector)


async def run_delete(ctx: Context) -> int:
    args = ctx.args
    grace = grace_period(args)
    check_flags(args, grace)
    timeout = duration_flag(args.timeout)
    if args.force and grace == 0:
        ctx.warn(IMMEDIATE_WARNING)
    targets = await resolve(ctx, args.targets, verb="delete", selector=args.selector,
                            field_selector=args.field_selector, select_all=args.all,
                            all_namespaces=args.all_namespaces, filenames=args.filename, recursive=args.recursive)
    if not targets:
        ctx.print("No resources found")
        return 0
    ignore_missing = ignores_not_found(args)
    warn_cluster_scope = ctx.namespace_explicit and not args.all_namespaces
    failed = 0
    deleted: list[tuple[Target, str]] = []  # and the uid each had
    for target in targets:
        if warn_cluster_scope and not target.kind.namespaced:
            ctx.warn(CLUSTER_SCOPE_WARNING)
            warn_cluster_scope = False
        if args.dry_run == "client":
            ctx.print(deleted_line(target, args, grace))
            continue
        try:
            result = await ctx.client.delete(target.kind.message, target.name, namespace=target.namespace,
                                             propagation_policy=CASCADE[args.cascade], grace_period_seconds=grace,
                                             dry_run=args.dry_run == "server")
        except errors.StatusError as exc:
            if ignore_missing and isinstance(exc, errors.NotFound):
                continue
            failed += 1
            ctx.warn(error_text(exc, when=f'deleting "{target.source}"' if target.source else ""))
            continue
        ctx.print(deleted_line(target, args, grace))
        deleted.append((target, result.object.metadata.uid))  # type: ignore[attr-defined]
    if args.wait and args.dry_run == "none":
        await asyncio.gather(*(wait_gone(ctx, t, uid, timeout) for t, uid in deleted))
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("delete", help="delete objects by name, file, selector or --all")
    p.add_argument("targets", nargs="*")
    add_file_flags(p, required=False)
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--field-selector", default="", help="field selector (metadata.name=x, status.phase=Failed)")
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
    p.add_argument("--ignore-not-found", default=None, type=lambda v: v.lower() != "false", nargs="?", const=True,
                   help="no error for objects that do not exist (the default with --all, -l, --field-selector)")
    p.add_argument("-o", "--output", default="", help="name: print resource/name for each deleted object")
    add_dry_run(p)
    p.set_defaults(run=run_delete)
