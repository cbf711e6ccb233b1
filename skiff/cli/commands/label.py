"""``label`` and ``annotate``, and the small kit every verb that changes objects shares.

The kit (used by nodes, scale, rollout, wait, edit and the other verbs that name objects):

- ``split_pairs`` splits kubectl's ``TYPE NAME... KEY=VAL... KEY-`` argument lists;
- ``resolve`` turns ``TYPE NAME``, ``TYPE/NAME``, ``-l`` / ``--field-selector`` / ``--all`` (in one
  namespace or all) and ``-f`` into ``Target`` (kind, namespace, name) values, a listed one
  carrying the object the list gave (edit edits it as listed; wait prints it for an object gone
  before its turn);
- ``mutate`` is the read-modify-write loop: get the object, let a function change it (or raise
  a ``VerbError`` with kubectl's message), update with the read resourceVersion, and start over
  on a Conflict — so concurrent writers never lose each other's change;
- ``report`` runs a verb over every target the way kubectl's ContinueOnError visitor does:
  each failure is printed (``error: ...`` or ``Error from server (...)``), the others go on,
  and the exit code is 1 when anything failed.

label / annotate follow kubectl's label.go and annotate.go: ``key=value`` sets, ``key-``
removes, an existing key needs ``--overwrite`` (``'app' already has a value (web), and
--overwrite is false``), ``--list`` prints the keys, and each object prints ``pod/p labeled``,
``unlabeled`` or ``not labeled`` (``annotated`` for annotate) — or, with ``-o yaml|json|name|
jsonpath=...``, the object as changed (as the server returned it, or as it would be with
``--dry-run``). label refuses ``--list`` with ``-o``; annotate's ``--list`` wins, as in kubectl 1.32.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.api.validation import is_valid_label_value
from skiff.cli.commands.files import add_file_flags, namespace_for
from skiff.cli.context import Context, UsageError
from skiff.cli.failures import error_text
from skiff.cli.flags import NO_RESOURCES
from skiff.cli.printers import output_format, result_text
from skiff.cli.resources import Target, list_selected, load_files, parse_targets

CONFLICT_RETRIES = 5
OUTPUT_FORMATS = ("", "go-template", "go-template-file", "json", "jsonpath", "jsonpath-as-json", "jsonpath-file",
                  "name", "template", "templatefile", "yaml")
"""label's and annotate's -o values (kubectl's PrintFlags for them), "" the ``pod/p labeled`` line."""


class VerbError(Exception):
    """A failure of the verb on one object, printed as ``error: <message>``."""


# ---- arguments ----

def split_pairs(args: list[str], what: str, *, is_pair: Callable[[str], bool] | None = None
                ) -> tuple[list[str], list[str]]:
    """kubectl's GetResourcesAndPairs: resources first, then ``k=v`` / ``k-`` changes."""
    test = is_pair or (lambda a: "=" in a or a.endswith("-"))
    resources: list[str] = []
    pairs: list[str] = []
    for arg in args:
        if test(arg):
            pairs.append(arg)
        elif pairs:
            raise UsageError(f"error: all resources must be specified before {what} changes: {arg}")
        else:
            resources.append(arg)
    return resources, pairs


def parse_pairs(pairs: list[str], what: str, *, label_values: bool) -> tuple[dict[str, str], list[str]]:
    """``k=v`` to set and ``k-`` to remove; labels allow one ``=`` and a valid label value."""
    new: dict[str, str] = {}
    remove: list[str] = []
    for pair in pairs:
        if "=" in pair:
            if label_values and pair.count("=") != 1:
                raise UsageError(f"error: invalid {what} spec: {pair}")
            key, value = pair.split("=", 1)
            problems = is_valid_label_value(value) if label_values else []
            if problems:
                raise UsageError(f'error: invalid label value: "{pair}": {";".join(problems)}')
            new[key] = value
        elif pair.endswith("-"):
            remove.append(pair[:-1])
        else:
            raise UsageError(f"error: unknown {what} spec: {pair}")
    return new, remove


# ---- targets ----

def _check_sources(resources: list[str], *, selecting: bool, all_namespaces: bool,
                   filenames: list[str] | None) -> None:
    """kubectl's builder refuses resources beside -f, and names beside a selector, --all or -A."""
    if filenames and resources:
        raise UsageError("error: when paths, URLs, or stdin is provided as input, you may not specify "
                         "resource arguments as well")
    named = bool(resources) and any(names for _, names in parse_targets(resources))
    if named and selecting:
        raise UsageError("error: selectors and the all flag cannot be used when passing resource/name arguments"
                         if all("/" in a for a in resources)
                         else "error: name cannot be provided when a selector is specified")
    if named and all_namespaces:
        raise UsageError("error: a resource cannot be retrieved by name across all namespaces")


async def resolve(ctx: Context, resources: list[str], *, verb: str, selector: str = "", field_selector: str = "",
                  select_all: bool = False, all_namespaces: bool = False, filenames: list[str] | None = None,
                  recursive: bool = False) -> list[Target]:
    """The objects the command line names, in the order given. A type without names is listed
    (with ``-l`` / ``--field-selector`` / ``--all``; in every namespace with ``all_namespaces``),
    and its targets carry the objects so found (``Target.listed``)."""
    _check_sources(resources, selecting=bool(selector or field_selector or select_all),
                   all_namespaces=all_namespaces, filenames=filenames)
    if filenames:
        return [Target(kinds.of(obj), namespace_for(ctx, obj), obj.metadata.name,  # type: ignore[attr-defined]
                       source=source)
                for source, obj in load_files(filenames, recursive, verb=verb)]
    if not resources:
        raise UsageError("error: one or more resources must be specified as <resource> <name> or "
                         "<resource>/<name>")
    out: list[Target] = []
    for kind, names in parse_targets(resources, verb=verb):
        ns = ctx.namespace if kind.namespaced else ""
        if names:
            out.extend(Target(kind, ns, n) for n in names)
        elif selector or field_selector or select_all:
            listed = await list_selected(ctx.client, kind, namespace="" if all_namespaces else ns,
                                         label_selector=selector, field_selector=field_selector)
            out.extend(Target(kind, o.metadata.namespace, o.metadata.name, o)  # type: ignore[attr-defined]
                       for o in listed.items)
        else:
            raise UsageError("error: resource(s) were provided, but no name was specified")
    return out


# ---- writing ----

Change = Callable[[Any], bool]
"""Changes the object in place; False when there was nothing to change (no write is made)."""


async def mutate(ctx: Context, target: Target, change: Change, *, resource_version: str = "",
                 dry_run: str = "none") -> tuple[Message, bool]:
    """Read, change, write back; retry on Conflict unless a resourceVersion was demanded."""
    for _ in range(CONFLICT_RETRIES):
        obj = await ctx.client.get(target.kind.message, target.name, namespace=target.namespace)
        if not change(obj):
            return obj, False
        if resource_version:
            obj.metadata.resource_version = resource_version  # type: ignore[attr-defined]
        if dry_run == "client":
            return obj, True
        try:
            return await ctx.client.update(obj, namespace=target.namespace, dry_run=dry_run == "server"), True
        except errors.Conflict:
            if resource_version:
                raise
    raise errors.Conflict(f'Operation cannot be fulfilled on {target.kind.group_resource} "{target.name}": '
                          "the object has been modified; please apply your changes to the latest version and "
                          "try again")


async def report(ctx: Context, targets: Iterable[Target], one: Callable[[Target], Awaitable[None]]) -> int:
    """Run ``one`` on every target; print each failure as kubectl does and go on."""
    failed = 0
    for target in targets:
        try:
            await one(target)
        except VerbError as exc:
            failed += 1
            ctx.warn(f"error: {exc}")
        except errors.StatusError as exc:
            failed += 1
            ctx.warn(error_text(exc))
    return 1 if failed else 0


def allow_intermixed(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Let a verb's positionals come after its flags, as kubectl allows (``label pods -l app=x k=v``).

    skiffctl's subcommand action calls ``parse_known_args`` on the verb's parser; on this one
    parser that call becomes argparse's intermixed parsing (which itself calls the ordinary
    ``parse_known_args``, restored for the duration)."""
    original = p.parse_known_args

    def parse_known_args(args: Any = None, namespace: Any = None) -> Any:
        p.parse_known_args = original  # type: ignore[method-assign]
        try:
            return p.parse_known_intermixed_args(args, namespace)
        finally:
            p.parse_known_args = parse_known_args  # type: ignore[method-assign]

    p.parse_known_args = parse_known_args  # type: ignore[method-assign]
    return p


def add_dry_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", choices=["none", "client", "server"], default="none", nargs="?", const="client")


# ---- label / annotate ----

@dataclass(frozen=True)
class MapEdit:
    """One label or annotate command: the keys to set and remove on ``metadata.<field>``."""

    field: str
    new: dict[str, str]
    remove: list[str]
    overwrite: bool

    def check(self, current: dict[str, str]) -> None:
        if self.overwrite:
            return
        if self.field == "labels":
            clashes = [f"'{k}' already has a value ({current[k]}), and --overwrite is false"
                       for k in self.new if k in current]
            if clashes:
                raise VerbError(clashes[0] if len(clashes) == 1 else "[" + ", ".join(clashes) + "]")
            return
        found = [f"'{k}' already has a value ({current[k]})" for k in self.new
                 if k in current and k != "kubernetes.io/change-cause"]
        if found:
            raise VerbError("--overwrite is false but found the following declared annotation(s): "
                            + "; ".join(found))

    def apply(self, obj: Any) -> bool:
        field = getattr(obj.metadata, self.field)
        current = dict(field)
        self.check(current)
        for key, value in self.new.items():
            field[key] = value
        for key in self.remove:
            if key in field:
                del field[key]
        return dict(field) != current


def message(edit: MapEdit, before: dict[str, str], after: dict[str, str]) -> str:
    """kubectl's updateDataChangeMsg: labeled / unlabeled / not labeled; annotate says annotated."""
    if edit.field == "annotations":
        return "annotated"
    if before == after:
        return "not labeled"
    if not edit.overwrite and len(after) < len(before):
        return "unlabeled"
    return "labeled"


async def _edit_one(ctx: Context, edit: MapEdit, target: Target, *, single: bool) -> None:
    args = ctx.args
    before: dict[str, str] = {}
    warned: set[str] = set()

    def change(obj: Any) -> bool:
        before.clear()
        before.update(getattr(obj.metadata, edit.field))
        if edit.field == "labels" and not args.list:
            for key in edit.remove:
                if key not in before and key not in warned:
                    warned.add(key)
                    ctx.print(f'label "{key}" not found.')
        return edit.apply(obj)

    dry = "client" if args.list else args.dry_run
    obj, _ = await mutate(ctx, target, change, resource_version=args.resource_version, dry_run=dry)
    after = dict(getattr(obj.metadata, edit.field))  # type: ignore[attr-defined]
    if args.list:
        _list(ctx, obj, edit.field, after, single=single)
        return
    ctx.print(result_text(obj, message(edit, before, after), output=args.output, dry_run=args.dry_run))


def _edit_local(ctx: Context, edit: MapEdit, resources: list[str]) -> int:
    """``--local``: change the -f objects here and print them; nothing is sent to the server."""
    args = ctx.args
    if resources:
        raise UsageError("error: can only use local files by -f rsrc.yaml or --filename=rsrc.json when "
                         "--local=true is set")
    if args.dry_run == "server":
        raise UsageError("error: cannot specify --local and --dry-run=server - did you mean --dry-run=client?")
    if not args.filename:
        raise UsageError(NO_RESOURCES)
    for _, obj in load_files(args.filename, args.recursive, verb=edit.field.removesuffix("s")):
        before = dict(getattr(obj.metadata, edit.field))  # type: ignore[attr-defined]
        try:
            edit.apply(obj)
        except VerbError as exc:
            raise UsageError(f"error: {exc}") from None
        after = dict(getattr(obj.metadata, edit.field))  # type: ignore[attr-defined]
        ctx.print(result_text(obj, message(edit, before, after), output=args.output, dry_run=args.dry_run))
    return 0


def _list(ctx: Context, obj: Message, field: str, values: dict[str, str], *, single: bool) -> None:
    indent = ""
    if not single:
        kind = kinds.of(obj)
        ctx.print(f"Listing {field} for {kind.kind}.{kind.group}/{obj.metadata.name}:")  # type: ignore[attr-defined]
        indent = " "
    for key in sorted(values):
        ctx.print(f"{indent}{key}={values[key]}")


def _make_run(field: str, what: str) -> Callable[[Context], Awaitable[int]]:
    async def run(ctx: Context) -> int:
        args = ctx.args
        if field == "labels" and args.list and args.output:
            raise UsageError("error: --list and --output may not be specified together")
        if args.output:
            output_format(args.output, OUTPUT_FORMATS)
        resources, pairs = split_pairs(args.args, what)
        if not pairs and not args.list:
            raise UsageError(f"error: at least one {what} update is required")
        new, remove = parse_pairs(pairs, what, label_values=field == "labels")
        both = [k for k in remove if k in new]
        if both:
            if field == "labels":
                raise UsageError("error: can not both modify and remove a label in the same command")
            raise UsageError("error: can not both modify and remove the following annotation(s) in the same "
                             f"command: {', '.join(both)}")
        if args.selector and args.all:
            raise UsageError("error: cannot set --all and --selector at the same time")
        edit = MapEdit(field, new, remove, args.overwrite)
        if args.local:
            return _edit_local(ctx, edit, resources)
        targets = await resolve(ctx, resources, verb=what, selector=args.selector, select_all=args.all,
                                field_selector=args.field_selector, all_namespaces=args.all_namespaces,
                                filenames=args.filename, recursive=args.recursive)
        if args.resource_version and len(targets) != 1:
            raise UsageError("error: --resource-version may only be used with a single resource")
        single = len(targets) == 1 and not (args.selector or args.all or args.field_selector)
        return await report(ctx, targets, lambda t: _edit_one(ctx, edit, t, single=single))

    return run


def _add_parser(sub: argparse._SubParsersAction, verb: str, field: str, what: str,  # type: ignore[type-arg]
                help_text: str) -> None:
    p = allow_intermixed(sub.add_parser(verb, help=help_text))
    p.add_argument("args", nargs="*", metavar="TYPE NAME KEY=VAL... KEY-")
    add_file_flags(p, required=False)
    p.add_argument("-l", "--selector", default="")
    p.add_argument("--field-selector", default="", help="field selector (metadata.name=x, status.phase=Running)")
    p.add_argument("--all", action="store_true")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="with a selector or --all: the matching objects of every namespace")
    p.add_argument("--local", action="store_true", help="with -f: change the file's objects here and print them")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--list", action="store_true", help=f"list the current {field}")
    p.add_argument("--resource-version", default="")
    p.add_argument("-o", "--output", default="", help="yaml | json | name | jsonpath=...: print the changed objects")
    add_dry_run(p)
    p.set_defaults(run=_make_run(field, what))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    _add_parser(sub, "label", "labels", "label", "update the labels on objects (key=value sets, key- removes)")
    _add_parser(sub, "annotate", "annotations", "annotation",
                "update the annotations on objects (key=value sets, key- removes)")
