"""``apply -f``, ``create -f`` and ``replace -f``: objects from manifests.

``--dry-run=client`` prints what would be sent and sends nothing; ``--dry-run=server`` sends the
request with dryRun so the server validates and defaults without storing; ``-o yaml|json|name``
prints the resulting objects instead of the ``<kind>/<name> <action>`` lines.

``create -f`` and ``replace -f`` take kubectl's ``--save-config``: the object is sent with the
last-applied-configuration annotation apply would write for the same manifest, so a later apply of
it is ``unchanged``. ``replace --force`` is kubectl's delete-and-create (replace.go's forceReplace):
every object of the files is deleted (a missing one is no failure: replace then creates it), each
deletion is waited for, and the objects are created again — ``configmap "x" deleted``, then
``configmap/x replaced``. Its delete flags are delete's (``--cascade``, ``--grace-period``,
``--wait``, ``--timeout``, with skiff.cli.deletion's code) under replace's rules: a grace
period or a timeout needs ``--force``, ``--grace-period=0`` is one second, ``--force`` does not
mean a grace period of 0 (the object's own applies), and ``--force`` refuses ``--dry-run``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Collection

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.manifest import LAST_APPLIED
from skiff.cli import deletion
from skiff.cli.applying import applied_form, apply_object, last_applied_text
from skiff.cli.context import Context, UsageError
from skiff.cli.failures import error_text
from skiff.cli.flags import duration_flag, validate_flag
from skiff.cli.printers import print_objects, result_text
from skiff.cli.resources import Target, load_files

_GERUNDS = {"apply": "applying", "create": "creating", "replace": "replacing"}


def add_file_flags(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("-f", "--filename", action="append", required=required, default=[],
                   help="file, directory or - (stdin) with the manifests")
    p.add_argument("-R", "--recursive", action="store_true", help="process directories recursively")


def add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="", help="yaml | json | name")
    p.add_argument("--dry-run", choices=["none", "client", "server"], default="none", nargs="?", const="client")
    add_validate_flag(p)


def add_validate_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--validate", default="strict", nargs="?", const="strict",
                   help="strict (or true): an unknown field fails; warn: dropped with a warning; "
                        "ignore (or false): dropped")


class NamespaceMismatch(UsageError):
    """A manifest's metadata.namespace that differs from an explicit -n (kubectl's client-side check)."""


def namespace_for(ctx: Context, obj: Message) -> str:
    """The namespace to send ``obj`` to: its own, else -n / the config's; "" for cluster-wide kinds."""
    if not kinds.of(obj).namespaced:
        return ""
    ns = obj.metadata.namespace  # type: ignore[attr-defined]
    if ns and ctx.namespace_explicit and ns != ctx.namespace:
        raise NamespaceMismatch(
            f"error: the namespace from the provided object \"{ns}\" does not match the namespace "
            f"\"{ctx.namespace}\". You must pass '--namespace={ns}' to perform this operation.")
    return str(ns or ctx.namespace)


def add_save_config_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--save-config", action="store_true",
                   help="store the object's configuration in its last-applied annotation, for a later apply")


def save_config(ctx: Context, obj: Message) -> Message:
    """``--save-config``: ``obj`` with the last-applied annotation apply would write for it (the same
    text, so a later apply of the manifest is ``unchanged``); ``obj`` itself without the flag."""
    if not ctx.args.save_config:
        return obj
    saved = type(obj)()
    saved.CopyFrom(obj)
    text = last_applied_text(applied_form(obj, namespace_for(ctx, obj)))
    saved.metadata.annotations[LAST_APPLIED] = text  # type: ignore[attr-defined]
    return saved


def print_results(ctx: Context, done: list[tuple[str, Message]]) -> None:
    """Each result as ``<kind>/<name> <action>``, or all of them in the -o format."""
    if ctx.args.output in ("yaml", "json", "name"):
        if done:
            ctx.print(print_objects([obj for _, obj in done], ctx.args.output, single=len(done) == 1))
        return
    for action, obj in done:
        ctx.print(result_text(obj, action, dry_run=ctx.args.dry_run))


async def for_each_object(ctx: Context, verb: str, fn: Callable[[Message], Awaitable[tuple[str, Message]]]) -> int:
    """Run ``fn`` on every -f object; print each result; report failures like kubectl, go on.
    ``verb`` is the command (``apply``); its failures read ``error when applying "<file>"``."""
    done: list[tuple[str, Message]] = []
    failed = 0
    objects = load_files(ctx.args.filename, ctx.args.recursive, verb=verb,
                         validate=validate_flag(ctx.args.validate), warn=ctx.warn)
    for source, obj in objects:
        try:
            namespace_for(ctx, obj)  # a file's namespace must agree with -n, --dry-run=client too
            action, result = await fn(obj)
        except errors.StatusError as exc:
            failed += 1
            ctx.warn(error_text(exc, when=f'{_GERUNDS[verb]} "{source}"'))
            continue
        except NamespaceMismatch as exc:
            failed += 1
            ctx.warn(str(exc))
            continue
        if ctx.args.output in ("yaml", "json", "name"):
            done.append((action, result))
        else:
            print_results(ctx, [(action, result)])
    print_results(ctx, done)
    return 1 if failed else 0


async def run_apply(ctx: Context) -> int:
    async def one(obj: Message) -> tuple[str, Message]:
        if ctx.args.dry_run == "client":
            return "created", obj
        return await apply_object(ctx.client, obj, namespace=namespace_for(ctx, obj),
                                  dry_run=ctx.args.dry_run == "server")

    return await for_each_object(ctx, "apply", one)


async def run_create_from_files(ctx: Context) -> int:
    async def one(obj: Message) -> tuple[str, Message]:
        obj = save_config(ctx, obj)
        if ctx.args.dry_run == "client":
            return "created", obj
        created = await ctx.client.create(obj, namespace=namespace_for(ctx, obj) or None,
                                          dry_run=ctx.args.dry_run == "server")
        return "created", created

    return await for_each_object(ctx, "create", one)


async def run_replace(ctx: Context) -> int:
    check_replace_flags(ctx.args, deletion.CASCADE)
    if ctx.args.force:
        return await force_replace(ctx)

    async def one(obj: Message) -> tuple[str, Message]:
        obj = save_config(ctx, obj)
        if ctx.args.dry_run == "client":
            return "replaced", obj
        replaced = await ctx.client.update(obj, namespace=namespace_for(ctx, obj) or None,
                                           dry_run=ctx.args.dry_run == "server")
        return "replaced", replaced

    return await for_each_object(ctx, "replace", one)


FORCE_REPLACE_WAIT_S = 300.0
"""replace.go: how long --force waits for each deletion when --timeout is 0 (and --wait is off)."""


def check_replace_flags(args: argparse.Namespace, cascades: Collection[str]) -> None:
    """replace.go's Validate: the delete flags only with --force, and --force never with --dry-run;
    ``cascades`` are the --cascade values delete takes."""
    if args.cascade not in cascades:
        raise UsageError(f'error: invalid cascade value ({args.cascade}). Must be "background", "foreground", '
                         'or "orphan"')
    if args.grace_period is not None and args.grace_period >= 0 and not args.force:
        raise UsageError("error: --grace-period must have --force specified")
    if duration_flag(args.timeout) != 0 and not args.force:
        raise UsageError("error: --timeout must have --force specified")
    if args.force and args.dry_run != "none":
        raise UsageError("error: --dry-run can not be used when --force is set")


async def force_replace(ctx: Context) -> int:
    """``replace --force``: delete every object of the files, wait until each is gone, create them
    again. A failed delete stops it before anything is created, as in kubectl."""
    args = ctx.args
    # replace.go takes delete's flags but not delete's Complete: --force is no grace period of 0 here,
    # and 0 becomes 1 s (so "force deleted" never shows).
    grace = deletion.grace_period(argparse.Namespace(grace_period=args.grace_period, now=False, force=False))
    timeout = duration_flag(args.timeout)
    if timeout <= 0:
        timeout = 0 if args.wait or args.grace_period == 0 else FORCE_REPLACE_WAIT_S
    objects = load_files(args.filename, args.recursive, verb="replace",
                         validate=validate_flag(args.validate), warn=ctx.warn)
    failed = 0
    to_create: list[Message] = []
    deleted: list[tuple[Target, str]] = []
    for source, obj in objects:
        try:
            namespace = namespace_for(ctx, obj)
        except NamespaceMismatch as exc:
            failed += 1
            ctx.warn(str(exc))
            continue
        to_create.append(obj)
        target = Target(kinds.of(obj), namespace, obj.metadata.name, source=source)  # type: ignore[attr-defined]
        try:
            result = await ctx.client.delete(target.kind.message, target.name, namespace=namespace or None,
                                             propagation_policy=deletion.CASCADE[args.cascade],
                                             grace_period_seconds=grace)
        except errors.NotFound:
            continue  # replace creates what is not there
        except errors.StatusError as exc:
            failed += 1
            ctx.warn(error_text(exc, when=f'deleting "{source}"'))
            continue
        ctx.print(deletion.deleted_line(target, args, grace))
        deleted.append((target, result.object.metadata.uid))  # type: ignore[attr-defined]
    if failed:
        return 1
    await asyncio.gather(*(deletion.wait_gone(ctx, t, uid, timeout) for t, uid in deleted))
    done: list[tuple[str, Message]] = []
    for obj in to_create:
        try:
            created = await ctx.client.create(save_config(ctx, obj), namespace=namespace_for(ctx, obj) or None)
        except errors.StatusError as exc:
            failed += 1
            ctx.warn(error_text(exc))
            continue
        if args.output in ("yaml", "json", "name"):
            done.append(("replaced", created))
        else:
            print_results(ctx, [("replaced", created)])
    print_results(ctx, done)
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("apply", help="create or update objects from files (keeps the last-applied configuration)")
    add_file_flags(p)
    add_output_flags(p)
    p.set_defaults(run=run_apply)
    p = sub.add_parser("replace", help="replace objects from files (--force: delete and create them again)")
    add_file_flags(p)
    add_output_flags(p)
    add_save_config_flag(p)
    p.add_argument("--force", action="store_true", help="delete the objects and create them again")
    p.add_argument("--cascade", default="background", nargs="?", const="background",
                   help="with --force: background, foreground or orphan, for the dependents of the deleted")
    p.add_argument("--grace-period", type=int, default=None,
                   help="with --force: seconds the deleted objects get to stop (0 is 1)")
    p.add_argument("--wait", default=False, type=lambda v: v.lower() != "false", nargs="?", const=True,
                   help="with --force: wait for the deleted objects to be gone, without the 5-minute limit")
    p.add_argument("--timeout", default="0s", help="with --force: how long to wait for each deletion (0s: 5m)")
    p.set_defaults(run=run_replace)
