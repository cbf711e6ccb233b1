"""``get``: list or show objects, and follow their changes, as kubectl prints them.

The targets are kubectl's (``pods``, ``pods a b``, ``pod/a svc/b``, ``pods,svc``, ``all``); each
requested kind is one List (with ``-l`` / ``--field-selector``, one namespace or all) or one Get
per name. Names that do not exist are reported after whatever was found (``Error from server
(NotFound): pods "x" not found``, exit 1) unless ``--ignore-not-found``. Tables print one per kind,
a blank line between, ``kind/name`` when several kinds were asked for; every other format prints
the objects together (one object when a single one was named, a ``kind: List`` otherwise).

``-w`` prints the current objects and then a line (or an object) per change, from a watch that
starts at the list's resourceVersion so nothing between the two is lost; ``--watch-only`` skips
the current objects. It runs until interrupted or until the server ends the stream.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf.message import Message

from skiff.api import errors, kinds
from skiff.cli.commands.files import add_file_flags
from skiff.cli.commands.label import resolve
from skiff.cli.context import Context, UsageError
from skiff.cli.failures import error_text
from skiff.cli.printers import (
    OutputFormat,
    TableOptions,
    TableWriter,
    custom_column_rows,
    parse_output,
    render_generic,
    render_tables,
    sort_objects,
    table_headers,
    table_row,
)
from skiff.cli.resources import list_selected, parse_targets

Request = tuple[kinds.Kind, list[str]]
Group = tuple[kinds.Kind, list[Message]]


# kubectl's order for `get all`: discovery order, core group first, then apps, then batch.
_ALL_ORDER = ("Pod", "Service", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet", "CronJob", "Job")


def _targets(targets: list[str]) -> list[Request]:
    """parse_targets, with ``all`` expanded in kubectl's order (pods, services, daemonsets, ...)."""
    if targets and "/" not in targets[0] and "all" in targets[0].split(","):
        in_all = sorted((k for k in kinds.KINDS if "all" in k.categories),
                        key=lambda k: _ALL_ORDER.index(k.kind) if k.kind in _ALL_ORDER else len(_ALL_ORDER))
        expanded = [",".join(k.group_resource for k in in_all) if t == "all" else t for t in targets[0].split(",")]
        targets = [",".join(expanded), *targets[1:]]
    return parse_targets(targets)


def _check_flags(ctx: Context, requests: list[Request]) -> None:
    args = ctx.args
    named = any(names for _, names in requests)
    if named and args.selector:
        raise UsageError("error: name cannot be provided when a selector is specified")
    if named and args.all_namespaces:
        raise UsageError("error: a resource cannot be retrieved by name across all namespaces")
    if (args.watch or args.watch_only) and len(requests) > 1:
        raise UsageError("error: watch is only supported on individual resources and resource collections, "
                         f"but {len(requests)} resources were found")


def _namespace(ctx: Context, kind: kinds.Kind) -> str:
    return "" if ctx.args.all_namespaces or not kind.namespaced else ctx.namespace


async def _fetch(ctx: Context, kind: kinds.Kind, names: list[str],
                 failures: list[errors.StatusError]) -> list[Message]:
    args = ctx.args
    if not names:
        result = await list_selected(ctx.client, kind, namespace=_namespace(ctx, kind), label_selector=args.selector,
                                     field_selector=args.field_selector)
        return list(result.items)
    found: list[Message] = []
    for name in names:
        try:
            found.append(await ctx.client.get(kind.message, name, namespace=ctx.namespace))
        except errors.NotFound as exc:
            if not args.ignore_not_found:
                failures.append(exc)
    return found


def _table_options(ctx: Context, fmt: OutputFormat, *, with_kind: bool, watch_events: bool = False) -> TableOptions:
    args = ctx.args
    labels = tuple(label.strip() for value in args.label_columns for label in value.split(",") if label.strip())
    return TableOptions(wide=fmt.name == "wide", with_kind=with_kind, with_namespace=args.all_namespaces,
                        show_labels=args.show_labels, label_columns=labels, no_headers=args.no_headers,
                        watch_events=watch_events)


def _no_resources(ctx: Context, requests: list[Request]) -> str:
    if ctx.args.all_namespaces or not any(k.namespaced for k, _ in requests):
        return "No resources found"
    return f"No resources found in {ctx.namespace} namespace."


def _write(ctx: Context, text: str) -> None:
    if text:
        ctx.out.write(text)
        ctx.out.flush()


def _print(ctx: Context, fmt: OutputFormat, groups: list[Group], requests: list[Request]) -> None:
    if fmt.is_table or fmt.name == "custom-columns":
        if fmt.is_table and not any(objs for _, objs in groups):
            if not any(names for _, names in requests):
                ctx.warn(_no_resources(ctx, requests))
            return
        opts = _table_options(ctx, fmt, with_kind=len(requests) > 1)
        text = render_tables(groups, fmt, opts)
        _write(ctx, text + "\n" if text else "")
        return
    objs = [obj for _, found in groups for obj in found]
    single = len(requests) == 1 and len(requests[0][1]) == 1
    _write(ctx, render_generic(objs, fmt, single=single))


def _sorted(objs: list[Message], sort_by: str, fmt: OutputFormat) -> list[Message]:
    """``--sort-by`` as kubectl applies it: tables always (a field no row has is an error), other
    formats only when there are two objects or more."""
    if not sort_by or (len(objs) < 2 and not fmt.is_table):
        return objs
    return sort_objects(objs, sort_by)


async def run_get(ctx: Context) -> int:
    args = ctx.args
    fmt = parse_output(args.output, args.template)
    if args.filename:
        return await _get_files(ctx, fmt)
    requests = _targets(args.targets)
    _check_flags(ctx, requests)
    if args.watch or args.watch_only:
        return await _watch(ctx, fmt, *requests[0])
    failures: list[errors.StatusError] = []
    groups: list[Group] = []
    for kind, names in requests:
        found = await _fetch(ctx, kind, names, failures)
        groups.append((kind, _sorted(found, args.sort_by, fmt)))
    return _finish(ctx, fmt, groups, requests, failures)


async def _get_files(ctx: Context, fmt: OutputFormat) -> int:
    """``get -f``: the objects a manifest names, each read from its own namespace, grouped by kind
    in the file's order."""
    args = ctx.args
    if args.watch or args.watch_only:
        raise UsageError("error: --watch is not supported with -f in skiffctl; name the object instead")
    targets = await resolve(ctx, args.targets, verb="get", selector=args.selector,
                            field_selector=args.field_selector, all_namespaces=args.all_namespaces,
                            filenames=args.filename, recursive=args.recursive)
    failures: list[errors.StatusError] = []
    groups: list[Group] = []
    requests: list[Request] = []
    for target in targets:
        if not groups or groups[-1][0] is not target.kind:
            groups.append((target.kind, []))
            requests.append((target.kind, []))
        requests[-1][1].append(target.name)
        try:
            groups[-1][1].append(await ctx.client.get(target.kind.message, target.name, namespace=target.namespace))
        except errors.NotFound as exc:
            if not args.ignore_not_found:
                failures.append(exc)
    return _finish(ctx, fmt, [(k, _sorted(objs, args.sort_by, fmt)) for k, objs in groups], requests, failures)


def _finish(ctx: Context, fmt: OutputFormat, groups: list[Group], requests: list[Request],
            failures: list[errors.StatusError]) -> int:
    """Print what was found, then each failure as kubectl does; exit 1 if any."""
    _print(ctx, fmt, groups, requests)
    for exc in failures:
        ctx.warn(error_text(exc))
    return 1 if failures else 0


# ---- -w ----


class _WatchPrinter:
    """Prints the objects of one kind as they change: table rows in stable columns, or documents."""

    def __init__(self, ctx: Context, fmt: OutputFormat, kind: kinds.Kind) -> None:
        self.ctx, self.fmt, self.kind = ctx, fmt, kind
        self.opts = _table_options(ctx, fmt, with_kind=False, watch_events=ctx.args.output_watch_events)
        if not kind.namespaced:
            self.opts = TableOptions(**{**self.opts.__dict__, "with_namespace": False})
        self.writer = TableWriter()
        self.headers_done = self.opts.no_headers
        self.printed = 0

    def print(self, objs: Sequence[Message], event: str = "ADDED") -> None:
        if not objs:
            return
        if self.fmt.is_table:
            now = datetime.now(UTC)
            rows = [table_row(o, self.kind, self.opts, now, event) for o in objs]
            self._rows(rows, table_headers(self.kind, self.opts))
        elif self.fmt.name == "custom-columns":
            rows = custom_column_rows(objs, self.fmt.arg, no_headers=True)
            self._rows(rows, custom_column_rows([], self.fmt.arg)[0])
        else:
            for obj in objs:
                text = render_generic([obj], self.fmt, single=True)
                sep = "---\n" if self.fmt.name == "yaml" and self.printed else ""
                as_written = text.endswith("\n") or self.fmt.name in ("jsonpath", "go-template")  # as kubectl
                _write(self.ctx, sep + text + ("" if as_written else "\n"))
                self.printed += 1

    def _rows(self, rows: list[list[str]], headers: list[str]) -> None:
        if not self.headers_done:
            rows = [headers, *rows]
            self.headers_done = True
        _write(self.ctx, self.writer.format(rows) + "\n")


async def _watch(ctx: Context, fmt: OutputFormat, kind: kinds.Kind, names: list[str]) -> int:
    args = ctx.args
    field_selector = args.field_selector
    if names:
        if len(names) > 1:
            raise UsageError("error: watch is only supported on individual resources and resource collections, "
                             f"but {len(names)} resources were found")
        field_selector = ",".join(s for s in (field_selector, f"metadata.name={names[0]}") if s)
    namespace = ctx.namespace if names and kind.namespaced else _namespace(ctx, kind)
    current = await list_selected(ctx.client, kind, namespace=namespace, label_selector=args.selector,
                                  field_selector=field_selector)
    if names and not current.items and not args.watch_only:
        raise errors.NotFound(f'{kind.group_resource} "{names[0]}" not found')
    printer = _WatchPrinter(ctx, fmt, kind)
    if not args.watch_only:
        printer.print(_sorted(list(current.items), args.sort_by, fmt))
    async for event in ctx.client.watch(kind.message, namespace=namespace, label_selector=args.selector,
                                        field_selector=field_selector, resource_version=current.resource_version):
        if event.type in ("ADDED", "MODIFIED", "DELETED"):
            printer.print([event.object], event.type)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("get", help="list or show objects")
    p.add_argument("targets", nargs="*", help="TYPE[,TYPE...] [NAME...] | TYPE/NAME...")
    add_file_flags(p, required=False)
    p.add_argument("-o", "--output", default="",
                   help="wide | yaml | json | name | jsonpath=TEMPLATE | jsonpath-as-json=TEMPLATE | "
                        "jsonpath-file=FILE | custom-columns=SPEC | custom-columns-file=FILE")
    p.add_argument("--template", default="",
                   help="the template of -o go-template|go-template-file|jsonpath|jsonpath-file (go-template "
                        "when -o is not given)")
    p.add_argument("-l", "--selector", default="", help="label selector (=, ==, !=, in, notin, exists, !key)")
    p.add_argument("--field-selector", default="", help="field selector (metadata.name=x, status.phase!=Running)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
    p.add_argument("-w", "--watch", action="store_true", help="after listing, print each change as it comes")
    p.add_argument("--watch-only", action="store_true", help="print only the changes, not the current objects")
    p.add_argument("--output-watch-events", action="store_true", help="with -w: an EVENT column (ADDED...)")
    p.add_argument("--show-labels", action="store_true", help="a LABELS column with every label")
    p.add_argument("-L", "--label-columns", action="append", default=[], help="a column per label key")
    p.add_argument("--sort-by", default="", help="a JSONPath to sort by (.metadata.name)")
    p.add_argument("--no-headers", action="store_true", help="no header line in tables and custom columns")
    p.add_argument("--ignore-not-found", action="store_true", help="no error for named objects that do not exist")
    p.set_defaults(run=run_get)
