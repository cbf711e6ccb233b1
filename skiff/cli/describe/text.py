"""The pieces every describer is made of: :class:`Out` (lines at kubectl's indentation levels,
aligned by :func:`align` as Go's ``text/tabwriter`` aligns them with kubectl's settings), the
:class:`Related` data the verb fetches, kubectl's small formats (timestamps, ages, selectors,
``<none>``), the metadata lines and the ``Events:`` table."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skiff.api.codec import int_or_string
from skiff.api.v1 import apps_pb2, core_pb2, meta_pb2
from skiff.cli.printers import human_duration

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
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


class Out:
    """Lines at kubectl's indentation levels, rendered through :func:`align`."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def w(self, level: int, text: str) -> None:
        self._lines.append("  " * level + text)

    def blank(self) -> None:
        self._lines.append("")

    def render(self) -> str:
        return "\n".join(align(self._lines)) + "\n"


# ---- small formatters ----


def parse_time(ts: str) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def fmt_time(ts: str) -> str:
    """kubectl's describe timestamp: ``Fri, 27 Nov 2026 12:00:00 +0000``."""
    when = parse_time(ts)
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S %z") if when else "<unset>"


def since(ts: str, now: datetime) -> str:
    when = parse_time(ts)
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


def map_text(mapping: Mapping[str, str]) -> str:
    return ",".join(f"{k}={mapping[k]}" for k in sorted(mapping))


def multiline(out: Out, level: int, title: str, items: Sequence[str]) -> None:
    """``Title:  first`` then the rest under it, or ``Title:  <none>``."""
    if not items:
        out.w(level, f"{title}:\t<none>")
        return
    out.w(level, f"{title}:\t{items[0]}")
    for item in items[1:]:
        out.w(level, f"\t{item}")


def labels(out: Out, level: int, title: str, mapping: Mapping[str, str]) -> None:
    multiline(out, level, title, [f"{k}={mapping[k]}" for k in sorted(mapping)])


def annotation_lines(out: Out, level: int, mapping: Mapping[str, str]) -> None:
    """Annotations one per line, last-applied-configuration left out, long values wrapped."""
    keys = sorted(k for k in mapping if k != LAST_APPLIED)
    if not keys:
        out.w(level, "Annotations:\t<none>")
        return
    for i, key in enumerate(keys):
        prefix = "Annotations:\t" if i == 0 else "\t"
        value = mapping[key].rstrip("\n")
        if len(key) + len(value) + 2 > _MAX_ANNOTATION_LEN or "\n" in value:
            out.w(level, f"{prefix}{key}:")
            for part in value.split("\n"):
                short = part if len(part) <= _MAX_ANNOTATION_LEN - 2 else part[:_MAX_ANNOTATION_LEN - 5] + "..."
                out.w(level, f"\t  {short}")
        else:
            out.w(level, f"{prefix}{key}: {value}")


def meta_lines(out: Out, obj: Any, *, namespaced: bool = True, created: bool = False) -> None:
    """``Name:``, ``Namespace:``, (``CreationTimestamp:``), ``Labels:``, ``Annotations:``."""
    meta = obj.metadata
    out.w(0, f"Name:\t{meta.name}")
    if namespaced:
        out.w(0, f"Namespace:\t{meta.namespace}")
    if created:
        out.w(0, f"CreationTimestamp:\t{fmt_time(meta.creation_timestamp)}")
    labels(out, 0, "Labels", meta.labels)
    annotation_lines(out, 0, meta.annotations)


def controlled_by(out: Out, meta: meta_pb2.ObjectMeta) -> None:
    for ref in meta.owner_references:
        if ref.controller:
            out.w(0, f"Controlled By:\t{ref.kind}/{ref.name}")


def is_controlled_by(meta: meta_pb2.ObjectMeta, uid: str) -> bool:
    return any(ref.controller and ref.uid == uid for ref in meta.owner_references)


# ---- events ----


def events(out: Out, items: Sequence[core_pb2.Event], now: datetime) -> None:
    """The ``Events:`` table (oldest first) or ``Events:  <none>``."""
    if not items:
        out.w(0, "Events:\t<none>")
        return
    out.w(0, "Events:")
    out.w(1, "Type\tReason\tAge\tFrom\tMessage")
    out.w(1, "----\t------\t----\t----\t-------")
    for e in sorted(items, key=lambda e: e.last_timestamp or e.event_time or e.first_timestamp):
        first = since(e.event_time or e.first_timestamp, now)
        if e.HasField("series"):
            age = f"{since(e.series.last_observed_time, now)} (x{e.series.count} over {first})"
        elif e.count > 1:
            age = f"{since(e.last_timestamp, now)} (x{e.count} over {first})"
        else:
            age = first
        source = e.source.component or e.reporting_component
        out.w(1, f"{e.type}\t{e.reason}\t{age}\t{source}\t{e.message.strip()}")


Describer = Callable[[Any, Related, datetime, Out], None]
"""A describer writes one object's text, given what the verb fetched and the time to age against."""
