"""``events [-n NS|-A] [--for TYPE/NAME] [--types Normal,Warning] [-w] [-o FORMAT] [--no-headers]``:
kubectl 1.32's ``kubectl events`` (staging/src/k8s.io/kubectl/pkg/cmd/events: events.go and
event_printer.go).

The Events of a namespace (``-A``: of all) are listed in pages of ``--chunk-size``, those of other
``--types`` left out, and printed oldest first — by the time an Event was last seen: its series'
lastObservedTime, else lastTimestamp, else eventTime — in kubectl's table::

    LAST SEEN           TYPE     REASON              OBJECT           MESSAGE
    12m (x3 over 20m)   Normal   ScalingReplicaSet   Deployment/web   Scaled up replica set web-5d4 to 3

LAST SEEN is the age of the last occurrence, with ``(xN over AGE)`` when the Event happened N
times (its count, or its series' count) since its first occurrence, ``<unknown>`` for a time that
was never set — the Age ``describe`` shows in its Events, in the ages ``get`` prints. OBJECT is
the involvedObject's ``Kind/name`` as recorded. ``-A`` puts a NAMESPACE column first. Cells are
escaped as kubectl escapes them (ESC as ``^[``, CR as ``\\r``), so a message cannot drive the
terminal. Nothing to show prints ``No events found in NS namespace.`` (``No events found.`` with
``-A``) on stderr and exits 0.

``--for TYPE/NAME`` keeps the Events whose involvedObject has that kind, apiVersion and name — a
field selector, so the server filters (any namespace of the name with ``-A``, as kubectl).
``-w`` watches instead of listing: the Events that exist, then each new or updated one as it
comes (deletions are not shown); as in kubectl every line is flushed on its own, so only the
header and the first line share column widths. ``-o json|yaml`` prints an ``EventList`` (one
Event per document with ``-w``); ``name`` and ``jsonpath`` work too — all through skiff.cli.printers.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from skiff.api import kinds
from skiff.api.timestamps import parse_rfc3339
from skiff.api.v1 import core_pb2
from skiff.cli import printers
from skiff.cli.context import Context, UsageError
from skiff.cli.describe import text as describe_text
from skiff.cli.printers import EVENT_LIST, OutputFormat, render_generic, table

HEADERS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")

OUTPUT_FORMATS = ("go-template", "go-template-file", "json", "jsonpath", "jsonpath-as-json", "jsonpath-file",
                  "name", "template", "templatefile", "yaml")
"""kubectl events' -o values (its PrintFlags), sorted as its error message lists them."""

DEFAULT_CHUNK_SIZE = 500

_ESCAPES = str.maketrans({"\x1b": "^[", "\r": "\\r"})
_NEVER = datetime.min.replace(tzinfo=UTC)


# ---- flags ----


@dataclass(frozen=True)
class ForObject:
    """``--for TYPE/NAME``: the involvedObject an Event must name."""

    kind: str
    api_version: str
    name: str

    @property
    def field_selector(self) -> str:
        return (f"involvedObject.kind={self.kind},involvedObject.apiVersion={self.api_version},"
                f"involvedObject.name={self.name}")


def parse_for(text: str) -> ForObject | None:
    """``pod/web-1`` as a ForObject (None when empty); kubectl's errors for other forms."""
    if not text:
        return None
    if "/" not in text:
        raise UsageError("error: --for must be in resource/name form")
    parts = text.split("/")
    if len(parts) != 2:
        raise UsageError("error: arguments in resource/name form may not have more than one slash")
    resource, name = parts
    try:
        kind = kinds.lookup(resource)
    except kinds.UnknownKind:
        group_resource = resource.lower().split(".", 1)
        group = group_resource[1] if len(group_resource) == 2 else ""
        raise UsageError(f"error: no matches for {group}/, Resource={group_resource[0]}") from None
    return ForObject(kind.kind, kind.api_version, name)


def parse_types(values: Sequence[str]) -> tuple[str, ...]:
    """``--types`` (repeatable, comma-separated; any case) as a sorted set of names."""
    types = sorted({t for value in values for t in value.split(",") if t})
    if any(t.lower() not in ("normal", "warning") for t in types):
        raise UsageError("error: valid --types are Normal or Warning")
    return tuple(types)


def shown_type(event: core_pb2.Event, types: Sequence[str]) -> bool:
    """kubectl's filteredEventType: every type when none is asked for, else a case-blind match."""
    return not types or any(t.lower() == event.type.lower() for t in types)


def output_format(spec: str) -> OutputFormat | None:
    """``-o`` as a format; None for kubectl events' own table (the default)."""
    return printers.output_format(spec, OUTPUT_FORMATS) if spec else None


# ---- order and table ----


def last_seen_time(event: core_pb2.Event) -> datetime:
    """events.go's eventTime: what Events are sorted by (unset times first)."""
    if event.HasField("series"):
        stamp = event.series.last_observed_time
    else:
        stamp = event.last_timestamp or event.event_time
    return parse_rfc3339(stamp) or _NEVER


def sort_events(events: Sequence[core_pb2.Event]) -> list[core_pb2.Event]:
    """Oldest first (stable for Events seen at the same time)."""
    return sorted(events, key=last_seen_time)


last_seen = describe_text.event_age
"""LAST SEEN (event_printer.go's getInterval, the same as describe's Age): ``2m3s``,
``12m (x3 over 20m)``, ``<unknown>`` — the age of the last occurrence, and the count and the age
of the first when it happened more than once."""


def escape_terminal(text: str) -> str:
    """printers.EscapeTerminal: ESC as ``^[``, CR as ``\\r``."""
    return text.translate(_ESCAPES)


def event_row(event: core_pb2.Event, now: datetime, *, all_namespaces: bool = False) -> list[str]:
    involved = event.involved_object
    row = [last_seen(event, now), escape_terminal(event.type), escape_terminal(event.reason),
           escape_terminal(f"{involved.kind}/{involved.name}"), escape_terminal(event.message.strip())]
    return [event.metadata.namespace, *row] if all_namespaces else row


def headers(*, all_namespaces: bool = False) -> list[str]:
    return ["NAMESPACE", *HEADERS] if all_namespaces else list(HEADERS)


def event_table(events: Sequence[core_pb2.Event], now: datetime, *, all_namespaces: bool = False,
                no_headers: bool = False) -> str:
    """The table kubectl events prints (rows in the order given)."""
    rows = [event_row(e, now, all_namespaces=all_namespaces) for e in events]
    return table([] if no_headers else headers(all_namespaces=all_namespaces), rows)


# ---- other formats ----


def render_list(events: Sequence[core_pb2.Event], fmt: OutputFormat) -> str:
    """Events in a -o format, as printed (trailing newline included): yaml, json and jsonpath see
    the EventList kubectl prints."""
    return render_generic(events, fmt, list_kind=EVENT_LIST)


# ---- the verb ----


@dataclass(frozen=True)
class _Request:
    namespace: str
    """Where to look ("" for every namespace)."""
    field_selector: str
    types: tuple[str, ...]
    fmt: OutputFormat | None
    all_namespaces: bool
    no_headers: bool


def _request(ctx: Context) -> _Request:
    """The flags checked in kubectl's order: --for, then -o, then --types."""
    args = ctx.args
    target = parse_for(args.for_object)
    fmt = output_format(args.output)
    types = parse_types(args.types)
    return _Request(namespace="" if args.all_namespaces else ctx.namespace,
                    field_selector=target.field_selector if target else "", types=types, fmt=fmt,
                    all_namespaces=args.all_namespaces, no_headers=args.no_headers)


async def _list(ctx: Context, req: _Request) -> list[core_pb2.Event]:
    """Every Event asked for, page by page (``--chunk-size``; 0: one page)."""
    found: list[core_pb2.Event] = []
    token = ""
    while True:
        page = await ctx.client.list(core_pb2.Event, namespace=req.namespace, field_selector=req.field_selector,
                                     limit=max(ctx.args.chunk_size, 0), continue_token=token)
        found += page.items
        token = page.continue_token
        if not token:
            return [e for e in found if shown_type(e, req.types)]


def _nothing_found(ctx: Context, req: _Request) -> str:
    return "No events found." if req.all_namespaces else f"No events found in {ctx.namespace} namespace."


async def _print_list(ctx: Context, req: _Request) -> int:
    events = sort_events(await _list(ctx, req))
    if not events:
        ctx.warn(_nothing_found(ctx, req))
    elif req.fmt is None:
        ctx.print(event_table(events, datetime.now(UTC), all_namespaces=req.all_namespaces,
                              no_headers=req.no_headers))
    else:
        ctx.out.write(render_list(events, req.fmt))
        ctx.out.flush()
    return 0


class _WatchPrinter:
    """One Event at a time, each line flushed (and so aligned) on its own, as kubectl prints them."""

    def __init__(self, ctx: Context, req: _Request) -> None:
        self.ctx, self.req = ctx, req
        self.headers_due = not req.no_headers
        self.printed = 0

    def print(self, event: core_pb2.Event) -> None:
        if self.req.fmt is not None:
            text = render_generic([event], self.req.fmt, single=True)
            separator = "---\n" if self.req.fmt.name == "yaml" and self.printed else ""
            self.ctx.out.write(separator + text)
            self.ctx.out.flush()
        else:
            row = event_row(event, datetime.now(UTC), all_namespaces=self.req.all_namespaces)
            self.ctx.print(table(headers(all_namespaces=self.req.all_namespaces) if self.headers_due else [], [row]))
            self.headers_due = False
        self.printed += 1


async def _watch(ctx: Context, req: _Request) -> int:
    printer = _WatchPrinter(ctx, req)
    async for change in ctx.client.watch(core_pb2.Event, namespace=req.namespace, field_selector=req.field_selector):
        if change.type in ("ADDED", "MODIFIED") and shown_type(change.object, req.types):
            printer.print(change.object)
    return 0


async def run_events(ctx: Context) -> int:
    req = _request(ctx)
    return await (_watch(ctx, req) if ctx.args.watch else _print_list(ctx, req))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``events`` to skiffctl."""
    p = sub.add_parser("events", help="list events, oldest first (--for TYPE/NAME, --types, -w)",
                       usage="skiffctl events [(-o|--output=)json|yaml|name|jsonpath=...] [--for TYPE/NAME] "
                             "[--watch] [--types=Normal,Warning]")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="events of every namespace")
    p.add_argument("--for", dest="for_object", default="", metavar="TYPE/NAME",
                   help="only the events about this object")
    p.add_argument("--types", action="append", default=[], help="only events of these types (Normal,Warning)")
    p.add_argument("-w", "--watch", action="store_true", help="after listing, print each new event as it comes")
    p.add_argument("-o", "--output", default="", help="json | yaml | name | jsonpath=... | jsonpath-as-json=...")
    p.add_argument("--no-headers", action="store_true", help="no header line in the table")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                   help="list in pages of this many events (0: all at once)")
    p.set_defaults(run=run_events)
