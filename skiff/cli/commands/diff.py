"""``diff -f FILE|DIR|- [-R]``: the live objects against what ``apply`` would make of them, as
kubectl 1.32's ``kubectl diff`` shows it (staging/src/k8s.io/kubectl/pkg/cmd/diff/diff.go).

For every object in the files, two versions are written as YAML into two temporary directories,
``LIVE-XXXX`` and ``MERGED-XXXX``, each in a file named ``[group.]version.Kind.namespace.name``
(``apps.v1.Deployment.default.web``; a cluster-scoped object has an empty namespace, so
``v1.Namespace..dev``): LIVE is the object as the server holds it (an empty file when it does not
exist yet), MERGED what it would become — the very apply skiffctl does (``apply_object``), sent as
a server-side dry run, so defaults, validation and admission are the server's. Both go through
one printer with ``metadata.managedFields`` removed (``--show-managed-fields`` keeps them), and a
v1 Secret's ``data`` values are masked as kubectl masks them: ``***``, or ``*** (before)`` /
``*** (after)`` where a value changed, so a diff shows *which* keys change but no value.

Then the diff program compares the two directories, its output passed through: ``diff -u -N``,
or ``$KUBECTL_EXTERNAL_DIFF`` split on spaces — the first word the program, later words appended
after the two directories when made only of letters, digits, ``-`` and ``=`` (others dropped), as
kubectl does. Exit status, as kubectl's: 0 no differences, 1 differences (the program said so),
2 for any error — a bad flag or file, an error from the server (nothing is compared then), and a
diff program that fails (``error: failed to run "diff": exit status 2``).

kubectl retries an object whose live version changes while it is diffed (a Conflict, up to four
times, the last without the resourceVersion lock). skiff's apply patch carries no precondition,
so the same check is made here by resourceVersion: the dry run must have started from the live
object that LIVE shows, else both are read again (four times at most).

Not here: ``--server-side`` — skiff has no server-side apply (no field managers or apply
patches), so it is refused with a message saying so rather than quietly diffing a client-side
apply; ``--prune`` and ``-k``. ``--field-manager`` is accepted and has no effect (skiff records
no managed fields), ``--concurrency`` likewise (objects are diffed one after the other).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import re
import signal
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.labels import SelectorError, parse_selector
from skiff.api.manifest import dump_yaml, to_manifest
from skiff.cli.applying import apply_object
from skiff.cli.commands.files import add_file_flags, namespace_for
from skiff.cli.context import Context, UsageError
from skiff.cli.failures import FAILURES, failure_text
from skiff.cli.resources import load_files
from skiff.client.client import Client

MASK, MASK_BEFORE, MASK_AFTER = "***", "*** (before)", "*** (after)"
"""diff.go's sensitiveMaskDefault / sensitiveMaskBefore / sensitiveMaskAfter."""

MAX_TRIES = 4
"""diff.go's maxRetries: reads of an object that keeps changing before it is diffed without lock."""

EXTERNAL_DIFF = "KUBECTL_EXTERNAL_DIFF"
_SAFE_ARG = re.compile(r"^[a-zA-Z0-9-=]+$")

EXIT_ERROR = 2
"""kubectl's CheckDiffErr: every error exits one above the usual 1, which here means "differences"."""


class DiffProgramError(Exception):
    """The diff program could not run, or exited above 1 (kubectl: ``failed to run "diff": ...``)."""


# ---- the two versions ----


def file_name(obj: Message, namespace: str) -> str:
    """diff.go's InfoObject.Name: ``apps.v1.Deployment.default.web``, ``v1.Namespace..dev``."""
    kind = kinds.of(obj)
    group = f"{kind.group}." if kind.group else ""
    return f"{group}{kind.version}.{kind.kind}.{namespace}.{obj.metadata.name}"  # type: ignore[attr-defined]


def printable(obj: Message | None, *, show_managed_fields: bool = False) -> dict[str, Any] | None:
    """The manifest both versions are printed from: managedFields dropped unless asked for."""
    if obj is None:
        return None
    doc = to_manifest(obj)
    if not show_managed_fields:
        doc.get("metadata", {}).pop("managedFields", None)
    return doc


def _is_secret(doc: dict[str, Any] | None) -> bool:
    return doc is not None and doc.get("apiVersion") == "v1" and doc.get("kind") == "Secret"


def _data(doc: dict[str, Any] | None) -> dict[str, Any]:
    """A manifest's ``data`` map itself (changes to it change the manifest); empty when absent."""
    data = doc.get("data") if doc is not None else None
    return data if isinstance(data, dict) else {}


def mask_secret_data(live: dict[str, Any] | None, merged: dict[str, Any] | None
                     ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """diff.go's Masker on copies of a Secret's two versions: every ``data`` value becomes ``***``;
    a key whose value differs becomes ``*** (before)`` in LIVE and ``*** (after)`` in MERGED."""
    live, merged = copy.deepcopy(live), copy.deepcopy(merged)
    before, after = _data(live), _data(merged)
    added = set(after) - set(before)
    for key in before:
        if key in after and before[key] != after[key]:
            before[key], after[key] = MASK_BEFORE, MASK_AFTER
            continue
        before[key] = MASK
        if key in after:
            after[key] = MASK
    for key in added:
        after[key] = MASK
    return live, merged


def version_texts(live: Message | None, merged: Message, *, show_managed_fields: bool = False) -> tuple[str, str]:
    """The LIVE and MERGED file contents (LIVE empty when the object does not exist)."""
    before = printable(live, show_managed_fields=show_managed_fields)
    after = printable(merged, show_managed_fields=show_managed_fields)
    if _is_secret(after):
        before, after = mask_secret_data(before, after)
    return ("" if before is None else dump_yaml(before)), ("" if after is None else dump_yaml(after))


@dataclass(frozen=True)
class Versions:
    """The LIVE-XXXX and MERGED-XXXX directories (diff.go's Differ)."""

    live: Path
    merged: Path

    def write(self, name: str, live_text: str, merged_text: str) -> None:
        (self.live / name).write_text(live_text)
        (self.merged / name).write_text(merged_text)


# ---- the diff program ----


def diff_command(live_dir: str, merged_dir: str, external: str = "") -> list[str]:
    """diff.go's getCommand: ``diff -u -N LIVE MERGED``, or ``$KUBECTL_EXTERNAL_DIFF`` split on
    spaces with its safe extra words after the two directories."""
    if not external:
        return ["diff", "-u", "-N", live_dir, merged_dir]
    program, *extra = external.split(" ")
    return [program, live_dir, merged_dir, *(word for word in extra if _SAFE_ARG.match(word))]


def _launch_error(program: str, exc: OSError) -> str:
    """What Go's exec says when a program cannot start."""
    if not program:
        return "exec: no command"
    if "/" not in program and isinstance(exc, FileNotFoundError | PermissionError):
        return f'exec: "{program}": executable file not found in $PATH'
    return f"fork/exec {program}: {(exc.strerror or str(exc)).lower()}"


def _exit_text(code: int) -> str:
    """Go's ExitError text: ``exit status 2``, ``signal: killed``."""
    if code < 0:
        return f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
    return f"exit status {code}"


def _passthrough(stream: IO[str]) -> IO[str] | int:
    """The stream itself when it is a real file (the program writes to it directly), else a pipe."""
    try:
        stream.fileno()
    except (OSError, ValueError, AttributeError):
        return asyncio.subprocess.PIPE
    return stream


async def run_program(argv: Sequence[str], *, out: IO[str], err: IO[str]) -> int:
    """Run the diff program with its output passed through; 0 or 1 as it said, else DiffProgramError."""
    out.flush()
    err.flush()
    try:
        if not argv[0]:
            raise FileNotFoundError
        proc = await asyncio.create_subprocess_exec(*argv, stdout=_passthrough(out), stderr=_passthrough(err))
    except OSError as exc:
        raise DiffProgramError(f'failed to run "{argv[0]}": {_launch_error(argv[0], exc)}') from None
    stdout, stderr = await proc.communicate()
    for stream, data in ((out, stdout), (err, stderr)):
        if data:
            stream.write(data.decode(errors="replace"))
            stream.flush()
    code = proc.returncode if proc.returncode is not None else 0
    if code > 1 or code < 0:
        raise DiffProgramError(f'failed to run "{argv[0]}": {_exit_text(code)}')
    return code


# ---- live and merged ----


async def _live(client: Client, obj: Message, namespace: str) -> Message | None:
    kind = kinds.of(obj)
    try:
        return await client.get(kind.message, obj.metadata.name, namespace=namespace or None)  # type: ignore[attr-defined]
    except errors.NotFound:
        return None


def from_same_version(live: Message | None, action: str, merged: Message) -> bool:
    """Whether the dry-run apply started from ``live`` (no write came between the two reads)."""
    if live is None:
        return action == "created"
    return bool(merged.metadata.resource_version == live.metadata.resource_version)  # type: ignore[attr-defined]


async def _dry_run(client: Client, obj: Message, namespace: str) -> tuple[Message | None, str, Message]:
    live = await _live(client, obj, namespace)
    action, merged = await apply_object(client, obj, namespace=namespace, dry_run=True)
    return live, action, merged


async def live_and_merged(ctx: Context, obj: Message, namespace: str) -> tuple[Message | None, Message]:
    """The live object (None when absent) and the result of a dry-run apply of ``obj``, read
    again while a write comes between the two; the last try takes them as they come."""
    for _ in range(MAX_TRIES - 1):
        live, action, merged = await _dry_run(ctx.client, obj, namespace)
        if from_same_version(live, action, merged):
            return live, merged
    kind = kinds.of(obj)
    ctx.warn(f"Warning: Object ({kind.api_version}, Kind={kind.kind}: {obj.metadata.name}) keeps "  # type: ignore[attr-defined]
             "changing, diffing without lock")
    live, _, merged = await _dry_run(ctx.client, obj, namespace)
    return live, merged


def _warn_if_deleting(ctx: Context, live: Message | None) -> None:
    """apply.WarnIfDeleting: a change to an object on its way out may never take effect."""
    if live is not None and live.metadata.deletion_timestamp:  # type: ignore[attr-defined]
        ctx.warn(f"Warning: Detected changes to resource {live.metadata.name} "  # type: ignore[attr-defined]
                 "which is currently being deleted.")


# ---- the verb ----


def _check_flags(args: argparse.Namespace) -> None:
    if args.args:
        raise UsageError(f"error: Unexpected args: [{' '.join(args.args)}]\n"
                         "See 'skiffctl diff -h' for help and examples")
    if not args.filename:
        raise UsageError("error: must specify one of -f and -k")
    if args.force_conflicts and not args.server_side:
        raise UsageError("error: --force-conflicts only works with --server-side")
    if args.server_side:
        raise UsageError("error: --server-side is not supported: skiff has no server-side apply (no field "
                         "managers, no apply patches); drop the flag to diff what 'skiffctl apply' would change")


def _objects(ctx: Context) -> list[tuple[Message, str]]:
    """The -f objects (filtered by -l) with the namespace each is diffed in; none at all is no
    error for diff (kubectl compares two empty directories)."""
    try:
        selector = parse_selector(ctx.args.selector)
    except SelectorError as exc:
        raise UsageError(f"error: {exc}") from None
    out = []
    for _, obj in load_files(ctx.args.filename, ctx.args.recursive, allow_empty=True):
        if not selector.matches(obj.metadata.labels):  # type: ignore[attr-defined]
            continue
        try:
            out.append((obj, namespace_for(ctx, obj)))
        except errors.BadRequest as exc:
            raise UsageError(f"error: {exc}") from None
    return out


async def _diff(ctx: Context) -> int:
    args = ctx.args
    _check_flags(args)
    objects = _objects(ctx)
    with tempfile.TemporaryDirectory(prefix="LIVE-") as live_dir, \
            tempfile.TemporaryDirectory(prefix="MERGED-") as merged_dir:
        versions = Versions(Path(live_dir), Path(merged_dir))
        for obj, namespace in objects:
            live, merged = await live_and_merged(ctx, obj, namespace)
            versions.write(file_name(obj, namespace),
                           *version_texts(live, merged, show_managed_fields=args.show_managed_fields))
            _warn_if_deleting(ctx, live)
        argv = diff_command(live_dir, merged_dir, os.environ.get(EXTERNAL_DIFF, ""))
        return await run_program(argv, out=ctx.out, err=ctx.err)


async def run_diff(ctx: Context) -> int:
    """``diff``, its errors printed here as skiffctl prints them (``failure_text``) but exiting 2,
    since 1 means "differences found"."""
    try:
        return await _diff(ctx)
    except DiffProgramError as exc:
        ctx.warn(f"error: {exc}")
    except FAILURES as exc:
        ctx.warn(failure_text(exc))
    return EXIT_ERROR


def _exit_2_on_usage_errors(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """kubectl diff's flag errors exit 2, not 1 (which means "differences found"): the verb's own
    parser reports them, unknown words included (which would otherwise reach skiffctl's parser)."""

    def error(message: str) -> NoReturn:
        p.exit(EXIT_ERROR, f"error: {message}\nSee '{p.prog} -h' for help and examples\n")

    original = p.parse_known_args

    def parse_known_args(args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = original(args, namespace)
        if extras:
            error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    p.error = error  # type: ignore[method-assign]
    p.parse_known_args = parse_known_args  # type: ignore[method-assign]
    return p


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``diff`` to skiffctl."""
    p = _exit_2_on_usage_errors(sub.add_parser(
        "diff", help="diff the live objects against what apply -f would make of them (exit 1: differences)",
        description="Diff the live version of each object in the files against what 'skiffctl apply' would "
                    "make of it (a server-side dry run), as YAML. KUBECTL_EXTERNAL_DIFF chooses the diff "
                    "program (default: diff -u -N). Exit status: 0 no differences, 1 differences, >1 error."))
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    add_file_flags(p, required=False)
    p.add_argument("-l", "--selector", default="", help="only the objects from the files with these labels")
    p.add_argument("--show-managed-fields", action="store_true", help="include metadata.managedFields")
    p.add_argument("--server-side", action="store_true",
                   help="not supported: skiff has no server-side apply (refused with an error)")
    p.add_argument("--force-conflicts", action="store_true", help="only with --server-side (not supported)")
    p.add_argument("--field-manager", default="kubectl-client-side-apply",
                   help="accepted for kubectl compatibility; no effect (skiff records no managed fields)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="accepted for kubectl compatibility; objects are diffed one after the other")
    p.set_defaults(run=run_diff)
