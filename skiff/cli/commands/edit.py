"""``edit``: change objects in a text editor, as kubectl 1.32's ``kubectl edit`` does.

The objects named (``TYPE NAME``, ``TYPE/NAME``, a bare ``TYPE`` for all of them, or ``-f``; through
the shared ``resolve`` kit) are fetched and written to a temporary file — one object as itself,
several as a ``kind: List`` — in YAML under kubectl's header comment, or in JSON (``-o json``,
no header). The editor is ``$KUBE_EDITOR``, else ``$EDITOR``, else ``vi``, started the way
kubectl's editor.go starts it: a value without spaces is the program, one with spaces but no
quotes or backslashes is split on the spaces (``code --wait``), anything else runs through
``$SHELL -c`` (``/bin/bash`` when unset) with the quoted path appended.

What was saved decides what happens (editoptions.go's loop):

- the same content as before, comments aside: ``Edit cancelled, no changes made.`` (exit 0);
- nothing but comments and blank lines: ``Edit cancelled, saved file was empty.`` (exit 0);
- text that is not YAML, or an object that does not decode: the editor opens again on what was
  written, the reason in the header (``The edited file had a syntax error: ...``, or ``... was not
  valid`` with ``The edited file failed validation``); saving that unchanged stops with
  ``Edit cancelled, no valid changes were saved.`` and names the file keeping the changes;
- otherwise each object is sent as a JSON merge patch from the object as fetched to the object as
  saved — only the fields the person changed, removed ones as ``null``, lists whole — so writes
  made meanwhile to other fields survive (there is no resourceVersion in the patch unless the
  person edited it). An object left as it was prints ``skipped``, a patched one ``edited``.
  Changing apiVersion, kind or name is refused, as is a namespace other than the command's.
  The apiserver refusing an object as Invalid reopens the editor with the causes in the header;
  not found, or any other error, stops and says where the edits were kept.

``--output-patch`` prints each patch, ``--save-config`` records the edited object in the
last-applied annotation (as ``apply`` will diff against), ``--subresource status`` edits status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.manifest import (
    LAST_APPLIED,
    ManifestError,
    from_manifest,
    parse_documents,
    to_manifest,
)
from skiff.api.validation import go_quote
from skiff.cli.applying import last_applied_text, three_way_patch
from skiff.cli.commands.files import add_file_flags
from skiff.cli.commands.label import VerbError, allow_intermixed, resolve
from skiff.cli.context import Context, UsageError
from skiff.cli.flags import NO_RESOURCES
from skiff.cli.printers import EDIT_LIST, OutputFormat, output_format, render_generic, resource_name, result_text

PROGRAM = "skiffctl"
HEADER = ("# Please edit the object below. Lines beginning with a '#' will be ignored,\n"
          "# and an empty file will abort the edit. If an error occurs while saving this file will be\n"
          "# reopened with the relevant failures.\n"
          "#\n")
EDITOR_ENVS = ("KUBE_EDITOR", "EDITOR")
FORMATS = ("yaml", "json")
SUBRESOURCES = ("status",)
IDENTITY_CHANGED = "At least one of apiVersion, kind and name was changed"


# ---- the text: header, comments, changes ----

@dataclass(frozen=True)
class Reason:
    """Why the file is open again: a line, and the causes listed under it."""

    head: str
    other: tuple[str, ...] = ()


def hash_on_line_break(text: str) -> str:
    """A multi-line message kept inside the comment: each new line starts with ``# ``."""
    return re.sub(r"\n(?!#)", "\n# ", text)


def header(reasons: list[Reason]) -> str:
    """kubectl's header comment, followed by the reasons of the last failed save."""
    lines = [HEADER]
    for reason in reasons:
        lines.append(f"# {hash_on_line_break(reason.head)}{':' if reason.other else ''}\n")
        lines.extend(f"# * {hash_on_line_break(o)}\n" for o in reason.other)
        lines.append("#\n")
    return "".join(lines)


def manual_strip(text: str) -> str:
    """The text without its comment lines (what kubectl keeps of a file it could not parse)."""
    return "\n".join(line for line in text.split("\n") if not line.strip().startswith("#"))


def strip_comments(text: str) -> str:
    """What two saves are compared by: the documents as canonical JSON, or the text less its
    comment lines when it does not parse (kubectl's StripComments)."""
    try:
        return json.dumps(parse_documents(text), sort_keys=True)
    except ManifestError:
        return manual_strip(text)


def has_lines(text: str) -> bool:
    """Whether anything but blank lines and comments is left."""
    return any(line.strip() and not line.strip().startswith("#") for line in text.splitlines())


def edit_patch(original: dict[str, Any], edited: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch from the object as fetched to the object as saved: changed and added
    fields, removed ones as ``null``, a changed list whole; ``{}`` when nothing changed."""
    return three_way_patch(original, edited, original)


def changes_identity(patch: Mapping[str, Any]) -> bool:
    """Whether a patch would change apiVersion, kind or name (kubectl's preconditions)."""
    meta = patch.get("metadata")
    return "apiVersion" in patch or "kind" in patch or (isinstance(meta, dict) and "name" in meta)


def with_last_applied(doc: dict[str, Any]) -> dict[str, Any]:
    """``--save-config``: the object with itself (less this annotation) in the last-applied annotation,
    in the text apply writes (``last_applied_text``), so a later apply of the same manifest is ``unchanged``."""
    out = copy.deepcopy(doc)
    meta = out.setdefault("metadata", {})
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    meta["annotations"][LAST_APPLIED] = last_applied_text(out)
    return out


def invalid_causes(message: str) -> tuple[str, ...]:
    """The field errors of an Invalid error's message (``Kind "x" is invalid: a: ..., b: ...``), for
    an error that came without its causes."""
    _, found, body = message.partition(" is invalid: ")
    if not found:
        return ()
    if body.startswith("[") and body.endswith("]"):
        return tuple(re.split(r", (?=[\w.\-/\[\]]+: )", body[1:-1]))
    return (body,)


def render(objs: list[Message], fmt: str) -> str:
    """The objects as the editor shows them: one as itself, several as a List."""
    return render_generic(objs, OutputFormat(fmt), single=True, list_kind=EDIT_LIST)


# ---- the editor ----

@dataclass(frozen=True)
class Editor:
    """The command line that opens a file (kubectl's editor.go)."""

    args: tuple[str, ...]
    shell: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Editor:
        editor = next((env[name] for name in EDITOR_ENVS if env.get(name)), "vi")
        if " " not in editor:
            return cls((editor,))
        if not any(c in editor for c in "\"'\\"):
            return cls(tuple(editor.split(" ")))
        return cls((env.get("SHELL") or "/bin/bash", "-c", editor), shell=True)

    def command(self, path: str) -> list[str]:
        if self.shell:
            return [*self.args[:-1], f"{self.args[-1]} {go_quote(path)}"]
        return [*self.args, path]

    def launch(self, path: str) -> None:
        shown = go_quote(" ".join(self.args))
        try:
            code = subprocess.run(self.command(os.path.abspath(path))).returncode
        except FileNotFoundError:
            raise VerbError(f"unable to launch the editor {shown}") from None
        except OSError:
            code = -1
        if code != 0:
            raise VerbError(f"there was a problem with the editor {shown}")


async def edit_in_temp_file(editor: Editor, text: str, ext: str) -> tuple[str, str]:
    """Write ``text`` to a new temporary file, open the editor on it; (what was saved, the path)."""
    fd, path = tempfile.mkstemp(prefix=f"{PROGRAM}-edit-", suffix=ext)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    try:
        await asyncio.to_thread(editor.launch, path)
    except VerbError:
        remove(path)
        raise
    with open(path) as f:
        return f.read(), path


def remove(path: str) -> None:
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


# ---- one edit session ----

def described(kind: kinds.Kind, name: str) -> str:
    """``deployments.apps "web"``: how the edit's messages name an object."""
    return f"{kind.group_resource} {go_quote(name)}"


@dataclass
class Results:
    """What one save did (editoptions.go's editResults)."""

    reasons: list[Reason] = field(default_factory=list)
    invalid: int = 0
    notfound: int = 0
    retryable: int = 0

    def add_error(self, exc: errors.StatusError, kind: kinds.Kind, name: str) -> str:
        what = described(kind, name)
        if isinstance(exc, errors.Invalid):
            self.invalid += 1
            self.reasons.append(Reason(f"{what} was not valid", exc.causes or invalid_causes(str(exc))))
            return f"error: {what} is invalid"
        if isinstance(exc, errors.NotFound):
            self.notfound += 1
            return f"error: {what} could not be found on the server"
        self.retryable += 1
        return f"error: {what} could not be patched: {exc}"


@dataclass
class Session:
    """The edit loop over a set of fetched objects: open, check, patch, open again on errors."""

    ctx: Context
    objs: list[Message]
    fmt: str
    editor: Editor
    original: str = ""
    edited: str = ""
    file: str = ""
    """The file of the last pass: kept (and named) when the edit stops on an error."""
    failed: bool = False
    """The last save had errors: the next pass shows what was saved rather than the objects."""
    reasons: list[Reason] = field(default_factory=list)

    async def run(self) -> int:
        while True:
            text = self.compose()
            before = self.edited
            self.edited, path = await edit_in_temp_file(self.editor, text, f".{self.fmt}")
            remove(self.file)
            self.file = path
            if self.failed and strip_comments(before) == strip_comments(self.edited):
                raise VerbError("Edit cancelled, no valid changes were saved.")
            if strip_comments(self.original) == strip_comments(self.edited):
                return self.cancel("Edit cancelled, no changes made.")
            if not has_lines(self.edited):
                return self.cancel("Edit cancelled, saved file was empty.")
            done = await self.save()
            if done is not None:
                return done

    def compose(self) -> str:
        head = header(self.reasons) if self.fmt == "yaml" else ""
        if self.failed:
            return head + manual_strip(self.edited)
        self.original = head + render(self.objs, self.fmt)
        return self.original

    def cancel(self, message: str) -> int:
        remove(self.file)
        self.ctx.warn(message)
        return 0

    def preserve(self) -> None:
        if self.file and os.path.exists(self.file):
            self.ctx.warn(f"A copy of your changes has been stored to {go_quote(self.file)}")

    async def save(self) -> int | None:
        """Check and send what was saved; an exit code, or None to open the editor again."""
        self.reasons = []
        self.failed = True
        try:
            docs = parse_documents(self.edited)
        except ManifestError as exc:
            self.reasons.append(Reason(f"The edited file had a syntax error: error parsing edited-file: {exc}"))
            return None
        try:
            edited = [from_manifest(doc) for doc in docs]
        except ManifestError as exc:
            self.not_valid(exc)
            return None
        self.failed = False
        for doc, obj in zip(docs, edited, strict=True):
            self.require_namespace(doc, obj)
        if self.ctx.args.save_config:
            docs = [with_last_applied(doc) for doc in docs]
        results = Results()
        for doc, obj in zip(docs, edited, strict=True):
            await self.patch(doc, obj, results)
        return self.conclude(results)

    def not_valid(self, exc: ManifestError) -> None:
        """kubectl's client-side validation failure, named after the first object."""
        what = described(kinds.of(self.objs[0]), self.objs[0].metadata.name)  # type: ignore[attr-defined]
        cause = f'<nil>: Invalid value: "The edited file failed validation": {exc}'
        self.reasons = [Reason(f"{what} was not valid", (cause,))]
        self.ctx.warn(f"error: {what} is invalid")

    def require_namespace(self, doc: dict[str, Any], obj: Message) -> None:
        """An object of the command's namespace (filled in when left out), as kubectl requires."""
        if not kinds.of(obj).namespaced:
            return
        namespace = obj.metadata.namespace  # type: ignore[attr-defined]
        if not namespace:
            obj.metadata.namespace = self.ctx.namespace  # type: ignore[attr-defined]
            doc.setdefault("metadata", {})["namespace"] = self.ctx.namespace
        elif namespace != self.ctx.namespace:
            raise VerbError(f"the namespace from the provided object {go_quote(namespace)} does not match the "
                            f"namespace {go_quote(self.ctx.namespace)}. You must pass '--namespace={namespace}' "
                            "to perform this operation.")

    def original_of(self, obj: Message) -> Message:
        uid = obj.metadata.uid  # type: ignore[attr-defined]
        for original in self.objs:
            if original.metadata.uid == uid:  # type: ignore[attr-defined]
                return original
        raise VerbError(f"no original object found for {resource_name(obj)} (uid {go_quote(uid)})")

    async def patch(self, doc: dict[str, Any], obj: Message, results: Results) -> None:
        original = self.original_of(obj)
        before = to_manifest(original)
        if doc == before:
            self.show(original, "skipped")
            return
        patch = edit_patch(before, doc)
        if changes_identity(patch):
            raise VerbError(IDENTITY_CHANGED)
        args = self.ctx.args
        if args.output_patch:
            self.ctx.print("Patch: " + json.dumps(patch, separators=(",", ":"), sort_keys=True, ensure_ascii=False))
        kind, name = kinds.of(original), original.metadata.name  # type: ignore[attr-defined]
        try:
            patched = await self.ctx.client.patch(kind.message, name, patch, namespace=self.ctx.namespace,
                                                  strategic=False, subresource=args.subresource)
        except errors.StatusError as exc:
            self.ctx.warn(results.add_error(exc, kind, name))
            return
        self.show(patched, "edited")

    def show(self, obj: Message, operation: str) -> None:
        self.ctx.print(result_text(obj, operation, output=self.ctx.args.output))

    def conclude(self, results: Results) -> int | None:
        if results.retryable:
            self.ctx.warn(f"You can run `{PROGRAM} replace -f {self.file}` to try this update again.")
            return 1
        if results.notfound:
            self.ctx.warn(f"The edits you made on deleted resources have been saved to {go_quote(self.file)}")
            return 1
        if not results.invalid:
            remove(self.file)
            return 0
        self.reasons = results.reasons
        self.failed = True
        return None


# ---- the verb ----

def check_args(args: argparse.Namespace) -> None:
    if not args.targets and not args.filename:
        raise UsageError(NO_RESOURCES)
    if args.output:
        output_format(args.output, FORMATS)
    if args.subresource and args.subresource not in SUBRESOURCES:
        raise UsageError(f"error: invalid subresource value: {go_quote(args.subresource)}. "
                         f"Must be one of [{' '.join(SUBRESOURCES)}]")


async def fetch(ctx: Context) -> list[Message]:
    """The objects named, as the server has them now (one bare TYPE means all of that type, as listed)."""
    args = ctx.args
    select_all = len(args.targets) == 1 and "/" not in args.targets[0]
    targets = await resolve(ctx, args.targets, verb="edit", select_all=select_all, filenames=args.filename,
                            recursive=args.recursive)
    return [t.listed if t.listed is not None else await ctx.client.get(t.kind.message, t.name, namespace=t.namespace)
            for t in targets]


async def run_edit(ctx: Context) -> int:
    check_args(ctx.args)
    objs = await fetch(ctx)
    if not objs:
        raise UsageError("error: edit cancelled, no objects found")
    session = Session(ctx, objs, ctx.args.output or "yaml", Editor.from_env(os.environ))
    try:
        return await session.run()
    except VerbError as exc:
        session.preserve()
        ctx.warn(f"error: {exc}")
        return 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = allow_intermixed(sub.add_parser(
        "edit", help="edit objects in $KUBE_EDITOR / $EDITOR / vi and save the changes as a patch"))
    p.add_argument("targets", nargs="*", metavar="TYPE NAME | TYPE/NAME")
    add_file_flags(p, required=False)
    p.add_argument("-o", "--output", default="", help="yaml (default) | json: the format to edit in and to print")
    p.add_argument("--output-patch", action="store_true", help="print the patch of each edited object")
    p.add_argument("--save-config", action="store_true",
                   help="record the edited object in the last-applied-configuration annotation")
    p.add_argument("--subresource", default="", help="status: edit the status subresource")
    p.set_defaults(run=run_edit)
