"""How skiffctl prints objects: tables like kubectl's, and -o yaml | json | name.

Tables are plain columns padded to the widest cell, separated by three spaces, headers in
capitals — kubectl's layout. AGE uses kubectl's short durations (5s, 3m, 2d4h).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from skiff.api import kinds
from skiff.api.manifest import dump_json, dump_yaml, to_manifest


def human_duration(seconds: float) -> str:
    """kubectl's HumanDuration: 45s, 5m, 3h10m, 2d4h, 400d."""
    s = int(seconds)
    if s < 0:
        s = 0
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rem = s % 60
        return f"{minutes}m{rem}s" if rem else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rem = minutes % 60
        return f"{hours}h{rem}m" if rem else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rem = hours % 24
        return f"{hours // 24}d{rem}h" if rem else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: str, now: datetime | None = None) -> str:
    if not timestamp:
        return "<unknown>"
    then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return human_duration(((now or datetime.now(UTC)) - then).total_seconds())


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def resource_name(obj: Message) -> str:
    """``deployment.apps/web`` or ``pod/web-1``: the -o name form and apply's messages."""
    kind = kinds.of(obj)
    singular = f"{kind.singular}.{kind.group}" if kind.group else kind.singular
    return f"{singular}/{obj.metadata.name}"  # type: ignore[attr-defined]


def print_objects(objs: Sequence[Message], output: str, *, all_namespaces: bool = False,
                  single: bool = False) -> str:
    if output in ("yaml", "json"):
        data: Any
        if single and len(objs) == 1:
            data = to_manifest(objs[0])
        else:
            data = {"apiVersion": "v1", "items": [to_manifest(o) for o in objs], "kind": "List",
                    "metadata": {"resourceVersion": ""}}
        return dump_yaml(data).rstrip("\n") if output == "yaml" else dump_json(data)
    if output == "name":
        return "\n".join(resource_name(o) for o in objs)
    return default_table(objs, all_namespaces=all_namespaces)


def default_table(objs: Sequence[Message], *, all_namespaces: bool = False) -> str:
    headers = (["NAMESPACE"] if all_namespaces else []) + ["NAME", "AGE"]
    rows = []
    for obj in objs:
        meta: Any = obj.metadata  # type: ignore[attr-defined]
        row = ([meta.namespace] if all_namespaces else []) + [meta.name, age(meta.creation_timestamp)]
        rows.append(row)
    return table(headers, rows)
