"""``apply -f``, ``create -f`` and ``replace -f``: objects from manifests.

``--dry-run=client`` prints what would be sent and sends nothing; ``--dry-run=server`` sends the
request with dryRun so the server validates and defaults without storing; ``-o yaml|json|name``
prints the resulting objects instead of the ``<kind>/<name> <action>`` lines.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.cli.applying import apply_object
from skiff.cli.context import Context, UsageError
from skiff.cli.failures import error_text
from skiff.cli.flags import validate_flag
from skiff.cli.printers import print_objects, result_text
from skiff.cli.resources import load_files

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


async def for_each_object(ctx: Context, verb: str, fn: Callable[[Message], Awaitable[tuple[str, Message]]]) -> int:
    """Run ``fn`` on every -f object; print each result; report failures like kubectl, go on.
    ``verb`` is the command (``apply``); its failures read ``error when applying "<file>"``."""
    results: list[Message] = []
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
            results.append(result)
        else:
            ctx.print(result_text(result, action, dry_run=ctx.args.dry_run))
    if results:
        ctx.print(print_objects(results, ctx.args.output, single=len(results) == 1))
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
        if ctx.args.dry_run == "client":
            return "created", obj
        created = await ctx.client.create(obj, namespace=namespace_for(ctx, obj) or None,
                                          dry_run=ctx.args.dry_run == "server")
        return "created", created

    return await for_each_object(ctx, "create", one)


async def run_replace(ctx: Context) -> int:
    async def one(obj: Message) -> tuple[str, Message]:
        if ctx.args.dry_run == "client":
            return "replaced", obj
        replaced = await ctx.client.update(obj, namespace=namespace_for(ctx, obj) or None,
                                           dry_run=ctx.args.dry_run == "server")
        return "replaced", replaced

    return await for_each_object(ctx, "replace", one)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("apply", help="create or update objects from files (keeps the last-applied configuration)")
    add_file_flags(p)
    add_output_flags(p)
    p.set_defaults(run=run_apply)
    p = sub.add_parser("replace", help="replace objects from files")
    add_file_flags(p)
    add_output_flags(p)
    p.set_defaults(run=run_replace)
