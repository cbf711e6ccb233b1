"""The pieces every describer is made of: :class:`Out` (lines at kubectl's indentation levels,
aligned by :func:`align` as Go's ``text/tabwriter`` aligns them with kubectl's settings) with its
section builders — :data:`Row` lines, listings, titled sections and tables — that every describer
writes with; the :class:`Related` data the verb fetches; kubectl's small formats (timestamps, ages,
selectors, ``<none>``); the :func:`header` every describe begins with and the ``Events:`` table."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from skiff.api.codec import int_or_string
from skiff.api.manifest import LAST_APPLIED
from skiff.api.ownership import Object, controller_of
from skiff.api.timestamps import parse_rfc3339
from skiff.api.v1 import apps_pb2, core_pb2, meta_pb2
from skiff.cli.printers import human_duration

_MAX_ANNOTATION_LEN = 140


@dataclass(frozen=True)
class Related:
    """What a describer shows besides the object itself, fetched by the verb."""

    events: Sequence[core_pb2.Event] = ()
    """Events whose involvedObject is the described object."""
    pods: Sequence[core_pb2.Pod] = ()
    """Pods a workload selects, the pods bound to a Node, or a PVC's namespace's pods."""
    replica_sets: Sequence[apps_pb2.ReplicaSet] = ()
    """A Deployment's namespace's ReplicaSets (the describer keeps those it controls)."""
    endpoints: core_pb2.Endpoints | None = None
    """A Service's Endpoints object of the same name."""
    lease: apps_pb2.Lease | None = None
    """A Node's lease in kube-node-lease."""


# ---- tabwriter ----


def align(lines: Sequence[str], *, padding: int = 2) -> list[str]:
    """Pad tab-separated cells like Go's tabwriter (minwidth 0, padding 2, no trailing blanks)."""
    rows = [line.split("\t") for line in lines]
    out: list[str] = []
    _format(rows, [], 0, len(rows), 0, out, padding)
    return out


def _format(rows: list[list[str]], widths: list[int], start: int, end: int, column: int, out: list[str],
            padding: int) -> None:
    line0 = this = start
    while this < end:
        if column >= len(rows[this]) - 1:
            this += 1
            continue
        _emit(rows, widths, line0, this, out)
        line0 = this
        width = 0
        while this < end and column < len(rows[this]) - 1:
            width = max(width, len(rows[this][column]) + padding)
            this += 1
        _format(rows, [*widths, width], line0, this, column + 1, out, padding)
        line0 = this
    _emit(rows, widths, line0, end, out)


def _emit(rows: list[list[str]], widths: list[int], start: int, end: int, out: list[str]) -> None:
    for row in rows[start:end]:
        cells = [cell.ljust(widths[j]) if j < len(widths) else cell for j, cell in enumerate(row)]
        out.append("".join(cells).rstrip())


Row = tuple[str, object]
"""A ``Name:  value`` line as (name, value); a value of None leaves the line out."""

Line = str | Row
"""What :meth:`Out.rows` writes: a ready line (its cells separated by tabs) or a :data:`Row`."""

T = TypeVar("T")


class Out:
    """Lines at kubectl's indentation levels, rendered through :func:`align`, and the section builders
    every describer is written with: :meth:`rows` (``Name:  value`` lines), :meth:`listing`
    (``Labels:``-style values one per line), :meth:`section` (a titled block one level in) and
    :meth:`table` (a titled table with its header and rule)."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def w(self, level: int, text: str) -> None:
        self._lines.append("  " * level + text)

    def blank(self) -> None:
        self._lines.append("")

    def render(self) -> str:
        return "\n".join(align(self._lines)) + "\n"

    def rows(self, level: int, *lines: Line) -> None:
        """Each line at ``level``: a string as it is, a :data:`Row` as ``Name:<tab>value`` unless its value is None."""
        for line in lines:
            if isinstance(line, str):
                self.w(level, line)
            elif line[1] is not None:
                self.w(level, f"{line[0]}:\t{line[1]}")

    def listing(self, level: int, title: str, items: Sequence[str]) -> None:
        """``Title:  first`` and the rest under it, one a line, or ``Title:  <none>``."""
        self.rows(level, (title, items[0] if items else "<none>"), *(f"\t{item}" for item in items[1:]))

    @overload
    def section(self, level: int, title: str, items: Sequence[Line], *, none: bool = True) -> None: ...

    @overload
    def section(self, level: int, title: str, items: Sequence[T], write: Callable[[Out, int, T], None], *,
                none: bool = True) -> None: ...

    def section(self, level: int, title: str, items: Sequence[Any],
                write: Callable[[Out, int, Any], None] | None = None, *, none: bool = True) -> None:
        """``Title:`` with its items one level in, each written by ``write(out, level, item)`` (by default as
        :meth:`rows` lines); without items ``Title:  <none>``, or nothing at all when ``none`` is False."""
        if self._heading(level, title, bool(items), none):
            for item in items:
                (write or Out.rows)(self, level + 1, item)

    def table(self, level: int, title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], *,
              rule: Sequence[str] | None = None, none: bool = False) -> None:
        """``Title:`` with, one level in, the column headers, their rule (by default dashes as long as each header;
        ``rule=()`` for none) and a line of tab-separated cells per row. Without rows ``Title:  <none>``, or
        nothing at all when ``none`` is False. An empty title writes no title line (the table still stands one
        level in, under the line the caller wrote)."""
        body = ["\t".join(str(cell) for cell in row) for row in rows]
        if self._heading(level, title, bool(body), none):
            dashes = ["-" * len(c) for c in columns] if rule is None else rule
            self.rows(level + 1, "\t".join(columns), *(["\t".join(dashes)] if dashes else []), *body)

    def _heading(self, level: int, title: str, filled: bool, none: bool) -> bool:
        """The title line of a section or table; whether its body follows."""
        if title and (filled or none):
            self.w(level, f"{title}:" if filled else f"{title}:\t<none>")
        return filled


# ---- small formatters ----




def fmt_time(ts: str) -> str:
    """kubectl's describe timestamp: ``Fri, 27 Nov 2026 12:00:00 +0000``."""
    when = parse_rfc3339(ts)
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S %z") if when else "<unset>"


def since(ts: str, now: datetime) -> str:
    when = parse_rfc3339(ts)
    return human_duration((now - when).total_seconds()) if when else "<unknown>"


def yes_no(value: bool) -> str:
    return "True" if value else "False"


def or_none(text: str) -> str:
    return text if text else "<none>"


def ios(value: meta_pb2.IntOrString) -> str:
    got = int_or_string(value)
    return "" if got is None else str(got)


def selector_text(selector: meta_pb2.LabelSelector) -> str:
    """``app=web,tier in (a,b)``: a LabelSelector as kubectl prints it."""
    parts = [f"{k}={selector.match_labels[k]}" for k in sorted(selector.match_labels)]
    for e in selector.match_expressions:
        values = ",".join(e.values)
        parts.append({"In": f"{e.key} in ({values})", "NotIn": f"{e.key} notin ({values})", "Exists": e.key,
                      "DoesNotExist": f"!{e.key}"}.get(e.operator, f"{e.key} {e.operator} ({values})"))
    return ",".join(parts)


def pairs(mapping: Mapping[str, str]) -> list[str]:
    """``key=value`` by key: labels, selectors, node selectors."""
    return [f"{k}={mapping[k]}" for k in sorted(mapping)]


def map_text(mapping: Mapping[str, str]) -> str:
    return ",".join(pairs(mapping))


def by_key(mapping: Mapping[str, str]) -> list[Row]:
    """A mapping as ``key:  value`` rows by key: resource amounts (``cpu:  500m``), Capacity, Allocatable."""
    return [(k, mapping[k]) for k in sorted(mapping)]


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most - 3] + "..."


def annotation_items(mapping: Mapping[str, str]) -> list[str]:
    """The ``Annotations:`` listing's lines: last-applied-configuration left out, long values wrapped."""
    items: list[str] = []
    for key in sorted(k for k in mapping if k != LAST_APPLIED):
        value = mapping[key].rstrip("\n")
        if len(key) + len(value) + 2 > _MAX_ANNOTATION_LEN or "\n" in value:
            items += [f"{key}:", *(f"  {_clip(part, _MAX_ANNOTATION_LEN - 2)}" for part in value.split("\n"))]
        else:
            items.append(f"{key}: {value}")
    return items


def header(out: Out, level: int, meta: meta_pb2.ObjectMeta, *rows: Row, namespaced: bool = True) -> None:
    """How a describe begins: ``Name:``, ``Namespace:`` (when ``namespaced``), the kind's own ``rows``, then
    ``Labels:`` and ``Annotations:``."""
    out.rows(level, ("Name", meta.name), ("Namespace", meta.namespace if namespaced else None), *rows)
    out.listing(level, "Labels", pairs(meta.labels))
    out.listing(level, "Annotations", annotation_items(meta.annotations))


def controlled_by(obj: Object) -> list[Row]:
    """``Controlled By:  Kind/name``, from the owner reference that is the controller."""
    ref = controller_of(obj)
    return [("Controlled By", f"{ref.kind}/{ref.name}")] if ref is not None else []


# ---- events ----

_EVENT_COLUMNS = ("Type", "Reason", "Age", "From", "Message")
_EVENT_RULE = ("----", "------", "----", "----", "-------")  # kubectl's: Age's rule is four dashes


def event_age(e: core_pb2.Event, now: datetime) -> str:
    """An Event's age as describe and ``events`` print it: ``2m3s``, ``12m (x3 over 20m)``, ``<unknown>``."""
    first = since(e.event_time or e.first_timestamp, now)
    if e.HasField("series"):
        return f"{since(e.series.last_observed_time, now)} (x{e.series.count} over {first})"
    if e.count > 1:
        return f"{since(e.last_timestamp, now)} (x{e.count} over {first})"
    return first


def events(out: Out, items: Sequence[core_pb2.Event], now: datetime) -> None:
    """The ``Events:`` table (oldest first) or ``Events:  <none>``."""
    ordered = sorted(items, key=lambda e: e.last_timestamp or e.event_time or e.first_timestamp)
    rows = [(e.type, e.reason, event_age(e, now), e.source.component or e.reporting_component, e.message.strip())
            for e in ordered]
    out.table(0, "Events", _EVENT_COLUMNS, rows, rule=_EVENT_RULE, none=True)


Describer = Callable[[Any, Related, datetime, Out], None]
"""A describer writes one object's text, given what the verb fetched and the time to age against."""
