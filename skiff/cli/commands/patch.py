"""``patch``: change fields of objects with a strategic merge, JSON merge or JSON patch.

As kubectl's patch.go: the patch comes from ``-p`` or ``--patch-file`` as JSON or YAML (turned
into JSON), its kind from ``--type`` (``strategic``, the default; ``merge``; ``json`` — a list of
RFC 6902 operations), the objects from ``TYPE NAME``, ``TYPE/NAME`` or ``-f``. The server applies
the patch to the object as it is when the request arrives (skiff.api.patch, shared with the
apiserver), so a patch never undoes someone else's concurrent change to another field. Each object
prints ``deployment.apps/web patched``, or ``patched (no change)`` when the result equals what was
there. ``--dry-run=client`` and ``--local`` (with ``-f``: the file's objects, the server never
asked) apply the same patch code here instead; ``--subresource status`` patches the status;
``--subresource scale`` patches the Scale (``spec.replicas``) read from and written to the scale
subresource, guarded by the resourceVersion it was read at.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml
from google.protobuf.message import Message

from skiff.api import codec, errors, kinds
from skiff.api.manifest import from_manifest, to_manifest
from skiff.api.patch import PATCH_TYPES, PatchError, apply_patch
from skiff.api.v1 import apps_pb2
from skiff.cli.commands.files import add_file_flags, namespace_for
from skiff.cli.commands.label import VerbError, add_dry_run, allow_intermixed, report, resolve
from skiff.cli.context import Context, UsageError
from skiff.cli.printers import result_text
from skiff.cli.resources import Target, load_files

SUBRESOURCES = ("status", "scale")


def _validate(args: argparse.Namespace) -> None:
    """kubectl's PatchOptions.Validate, with its messages."""
    if args.patch and args.patch_file:
        raise UsageError("error: cannot specify --patch and --patch-file together")
    if not args.patch and not args.patch_file:
        raise UsageError("error: must specify --patch or --patch-file containing the contents of the patch")
    if args.local and args.targets:
        raise UsageError("error: cannot specify --local and server resources")
    if args.local and args.dry_run == "server":
        raise UsageError("error: cannot specify --local and --dry-run=server - did you mean --dry-run=client?")
    if args.local and not args.filename:
        raise UsageError("error: must specify -f when using --local")
    if args.type.lower() not in PATCH_TYPES:
        raise UsageError(f'error: --type must be one of [{" ".join(sorted(PATCH_TYPES))}], not "{args.type}"')
    if args.subresource and args.subresource not in SUBRESOURCES:
        raise UsageError(f'error: invalid subresource value: "{args.subresource}". Must be one of '
                         f"[{' '.join(SUBRESOURCES)}]")


def read_patch(args: argparse.Namespace) -> Any:
    """The patch as a JSON value: ``-p`` text or the ``--patch-file`` contents, JSON or YAML."""
    text = args.patch
    if args.patch_file:
        try:
            text = Path(args.patch_file).read_text()
        except OSError as exc:
            raise UsageError(f"error: unable to read patch file: {exc.strerror}: {args.patch_file}") from None
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"error: unable to parse {json.dumps(text)}: {_first_line(exc)}") from None
    if body is None:
        raise UsageError("error: the contents of the patch is empty")
    kind = args.type.lower()
    if kind == "json" and not isinstance(body, list):
        raise UsageError("error: a json patch must be a list of operations, such as "
                         '[{"op": "replace", "path": "/spec/replicas", "value": 3}]')
    if kind != "json" and not isinstance(body, dict):
        raise UsageError(f"error: a {kind} patch must be an object, such as {{\"spec\": {{\"replicas\": 3}}}}")
    return body


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def patched_locally(obj: Message, patch_type: str, body: Any) -> Message:
    """``obj`` with the patch applied here, as the server would (for --local and --dry-run=client)."""
    try:
        doc = apply_patch(patch_type, to_manifest(obj), body)
    except PatchError as exc:
        raise VerbError(str(exc)) from None
    if not isinstance(doc, dict):
        raise VerbError(f"the patch does not leave a {kinds.of(obj).kind} object")
    try:
        return from_manifest(doc)
    except ValueError as exc:
        raise VerbError(str(exc)) from None


def _same(a: Message, b: Message) -> bool:
    return bool(to_manifest(a) == to_manifest(b))


def _emit(ctx: Context, obj: Message, changed: bool, name: str = "") -> None:
    action = "patched" if changed else "patched (no change)"
    ctx.print(result_text(obj, action, output=ctx.args.output, dry_run=ctx.args.dry_run, name=name))


async def _patch_one(ctx: Context, target: Target, body: Any) -> None:
    args = ctx.args
    if args.subresource == "scale":
        await _patch_scale(ctx, target, body)
        return
    original = await ctx.client.get(target.kind.message, target.name, namespace=target.namespace)
    if args.dry_run == "client":
        result = patched_locally(original, args.type.lower(), body)
    else:
        result = await ctx.client.patch(target.kind.message, target.name, body, namespace=target.namespace,
                                        patch_type=args.type.lower(), subresource=args.subresource,
                                        dry_run=args.dry_run == "server")
    _emit(ctx, result, not _same(original, result))


async def _patch_scale(ctx: Context, target: Target, body: Any) -> None:
    """The Scale read, patched here, written back through the scale subresource at its resourceVersion."""
    if not target.kind.scalable:
        raise errors.NotFound(f"the server could not find the requested resource ({target.kind.resource}/scale)")
    scale = await ctx.client.get_scale(target.kind.message, target.name, namespace=target.namespace)
    try:
        doc = apply_patch(ctx.args.type.lower(), codec.to_dict(scale), body)
        wanted = codec.from_dict(apps_pb2.Scale, doc)
    except (PatchError, codec.DecodeError) as exc:
        raise VerbError(str(exc)) from None
    result = wanted
    if ctx.args.dry_run != "client" and wanted.spec.replicas != scale.spec.replicas:
        result = await ctx.client.scale(target.kind.message, target.name, wanted.spec.replicas,
                                        namespace=target.namespace, resource_version=scale.metadata.resource_version)
    _emit(ctx, result, wanted.spec.replicas != scale.spec.replicas, name=f"scale.autoscaling/{target.name}")


async def _patch_local(ctx: Context, body: Any) -> int:
    failed = 0
    for source, obj in load_files(ctx.args.filename, ctx.args.recursive, verb="patch"):
        namespace_for(ctx, obj)  # the file's namespace must agree with -n
        try:
            result = patched_locally(obj, ctx.args.type.lower(), body)
        except VerbError as exc:
            failed += 1
            ctx.warn(f'error: error when patching "{source}": {exc}')
            continue
        _emit(ctx, result, not _same(obj, result))
    return 1 if failed else 0


async def run_patch(ctx: Context) -> int:
    args = ctx.args
    _validate(args)
    body = read_patch(args)
    if args.local:
        return await _patch_local(ctx, body)
    targets = await resolve(ctx, args.targets, verb="patch", filenames=args.filename, recursive=args.recursive)
    if not targets:
        raise UsageError("error: no objects passed to patch")
    return await report(ctx, targets, lambda t: _patch_one(ctx, t, body))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = allow_intermixed(sub.add_parser(
        "patch", help="update fields of a resource with a strategic merge, JSON merge or JSON patch"))
    p.add_argument("targets", nargs="*", metavar="TYPE NAME | TYPE/NAME")
    p.add_argument("-p", "--patch", default="", help="the patch, as JSON or YAML")
    p.add_argument("--patch-file", default="", help="a file holding the patch")
    p.add_argument("--type", default="strategic", help="the type of patch: json, merge or strategic (the default)")
    p.add_argument("--subresource", default="", help="patch the object's status or scale subresource")
    p.add_argument("--local", action="store_true", help="patch the -f file's objects here; the server is not asked")
    p.add_argument("-o", "--output", default="", help="yaml | json | name | jsonpath=...")
    p.add_argument("--field-manager", default="kubectl-patch", help="(accepted for kubectl compatibility)")
    add_file_flags(p, required=False)
    add_dry_run(p)
    p.set_defaults(run=run_patch)
