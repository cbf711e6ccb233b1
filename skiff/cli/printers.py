"""How skiffctl prints objects: kubectl's tables and its ``-o`` formats.

``parse_output`` turns ``-o`` into an ``OutputFormat`` (``wide``, ``yaml``, ``json``, ``name``,
``jsonpath=...``, ``jsonpath-as-json=...``, ``jsonpath-file=...``, ``custom-columns=...``,
``custom-columns-file=...``, ``go-template=...`` / ``template=...`` and their ``-file`` forms, run by
``skiff.cli.gotemplate``) or a kubectl-worded error; ``output_format`` does the same for a verb
that prints only some of them (kubectl's ``unable to match a printer`` error names those). ``render``
prints a group of objects per kind in that format; ``print_objects`` is the one-call form the other
verbs use, and ``result_text`` what a verb that changed an object prints: the object with ``-o``,
else ``deployment.apps/web patched`` with kubectl's `` (dry run)`` / `` (server dry run)``.

Tables follow kubectl's layout exactly: the per-kind columns of ``skiff.cli.columns``, cells padded
as Go's tabwriter pads them (three spaces, a cell at least six wide, the last column unpadded),
``kind/name`` in the NAME column when several kinds print together, NAMESPACE first with ``-A``,
``-L`` label columns and ``--show-labels`` last, EVENT first with ``--output-watch-events``.
``TableWriter`` keeps the column widths of the first rows so that ``get -w`` lines stay aligned.
yaml and json print the object itself for a single named object and a ``kind: List`` otherwise,
so the output can be fed back to ``apply -f`` / ``replace -f``; a ``ListKind`` is that envelope
(``get``'s List, ``edit``'s, or a typed one such as ``events``' EventList).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from skiff.api import kinds
from skiff.api.manifest import dump_json, dump_yaml, to_manifest
from skiff.api.validation import go_quote
from skiff.cli import columns
from skiff.cli.context import UsageError
from skiff.cli.gotemplate import ExecError, GoTemplate, ParseError, debug_dump
from skiff.cli.jsonpath import JSONPath, JSONPathError, relaxed

human_duration = columns.human_duration

OUTPUT_FORMATS = ("custom-columns", "custom-columns-file", "go-template", "go-template-file", "json", "jsonpath",
            "jsonpath-as-json", "jsonpath-file", "name", "template", "templatefile", "wide", "yaml")


def age(timestamp: str, now: datetime | None = None) -> str:
    """The AGE cell of a creation timestamp (``5s``, ``3m``, ``2d4h``; ``<unknown>`` when unset)."""
    return columns.since(timestamp, now or datetime.now(UTC))


def _pad(cell: str, width: int) -> str:
    return cell.ljust(max(width + 3, 6))


def _format_rows(rows: Sequence[Sequence[str]], widths: Sequence[int], *, pad_last: bool = False) -> list[str]:
    lines = []
    for row in rows:
        if not row:
            lines.append("")
            continue
        if pad_last:
            lines.append("".join(_pad(cell, widths[i]) for i, cell in enumerate(row)))
            continue
        head = "".join(_pad(cell, widths[i]) for i, cell in enumerate(row[:-1]))
        lines.append((head + row[-1]).rstrip())
    return lines


def _widths(rows: Sequence[Sequence[str]], start: Sequence[int] = ()) -> list[int]:
    widths = list(start)
    for row in rows:
        for i, cell in enumerate(row):
            if i == len(widths):
                widths.append(len(cell))
            elif len(cell) > widths[i]:
                widths[i] = len(cell)
    return widths


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, pad_last: bool = False) -> str:
    """Rows under headers, padded as kubectl's tabwriter pads them (no headers when empty).

    ``pad_last``: every cell ends in a tab, as kubectl top's printer writes them, so the last
    column is padded too (the lines keep their trailing spaces)."""
    all_rows = [list(headers), *rows] if headers else list(rows)
    return "\n".join(_format_rows(all_rows, _widths(all_rows), pad_last=pad_last))


class TableWriter:
    """Formats rows in columns that only ever widen, so successive prints (``get -w``) line up."""

    def __init__(self) -> None:
        self.widths: list[int] = []

    def format(self, rows: Sequence[Sequence[str]]) -> str:
        self.widths = _widths(rows, self.widths)
        return "\n".join(_format_rows(rows, self.widths))


def resource_name(obj: Message) -> str:
    """``deployment.apps/web`` or ``pod/web-1``: the -o name form and apply's messages."""
    kind = kinds.of(obj)
    singular = f"{kind.singular}.{kind.group}" if kind.group else kind.singular
    return f"{singular}/{obj.metadata.name}"  # type: ignore[attr-defined]


def dry_suffix(dry_run: str) -> str:
    """What ``--dry-run`` adds to a verb's line: `` (dry run)``, `` (server dry run)``, or nothing."""
    return {"server": " (server dry run)", "client": " (dry run)"}.get(dry_run, "")


def result_text(obj: Message, action: str, *, output: str = "", dry_run: str = "none", name: str = "") -> str:
    """What a verb prints of an object it changed (kubectl's PrintFlags): the object in the ``-o``
    format when one is given, else ``<kind>/<name> <action>`` (``name`` in place of the object's
    own when given) and the ``--dry-run`` suffix: ``deployment.apps/web scaled (server dry run)``."""
    if output:
        return print_objects([obj], output, single=True)
    return f"{name or resource_name(obj)} {action}{dry_suffix(dry_run)}"


# ---- -o ----


@dataclass(frozen=True)
class OutputFormat:
    """A parsed ``-o``: ``name`` is the format, ``arg`` its template or column spec."""

    name: str
    arg: str = ""

    @property
    def is_table(self) -> bool:
        return self.name in ("", "wide")


def parse_output(spec: str, template: str = "") -> OutputFormat:
    """``-o`` as a format; file forms are read here; unknown formats fail as kubectl fails.
    ``template`` is kubectl's ``--template``: the argument of ``-o go-template`` (the format it
    implies when ``-o`` is not given), ``-o jsonpath`` and their file forms."""
    if template and "=" not in spec:
        spec = f"{spec or 'go-template'}={template}"
    name, _, arg = spec.partition("=")
    if name in ("", "wide", "yaml", "json", "name") and not arg:
        return OutputFormat(name)
    if name in ("go-template", "template", "go-template-file", "templatefile"):
        return _go_template_format(name, arg)
    if name in ("jsonpath-file", "custom-columns-file"):
        try:
            arg = Path(arg).read_text()
        except OSError as exc:
            raise UsageError(f"error: error reading {name.removesuffix('-file')} file {arg}: {exc.strerror}") from None
        name = name.removesuffix("-file")
        arg = arg.strip() if name == "jsonpath" else _columns_file_spec(arg)
    if name in ("jsonpath", "jsonpath-as-json", "custom-columns"):
        if not arg:
            what = "custom-columns format specified but no custom columns given" if name == "custom-columns" \
                else "template format specified but no template given"
            raise UsageError(f"error: {what}")
        fmt = OutputFormat(name, arg)
        _check(fmt)
        return fmt
    raise no_printer(spec, OUTPUT_FORMATS)


def _go_template_format(name: str, arg: str) -> OutputFormat:
    """``go-template=T`` / ``template=T`` (kubectl's alias), or the ``-file`` forms whose file is
    the template as it is (a trailing newline included); parsed now, so that a bad template fails
    before anything is fetched, in kubectl's words."""
    if not arg:
        raise UsageError("error: template format specified but no template given")
    if name in ("go-template-file", "templatefile"):
        try:
            arg = Path(arg).read_text()
        except OSError as exc:
            reason = (exc.strerror or str(exc))
            raise UsageError(f"error: error reading --template {arg}, open {arg}: "
                             f"{reason[:1].lower()}{reason[1:]}") from None
    go_template(arg)
    return OutputFormat("go-template", arg)


def go_template(source: str) -> GoTemplate:
    """A ``-o go-template`` template, or kubectl's ``error parsing template`` error."""
    try:
        return GoTemplate.parse(source)
    except ParseError as exc:
        raise UsageError(f"error: error parsing template {source}, {exc}") from None


def no_printer(spec: str, allowed: Collection[str]) -> UsageError:
    """kubectl's NoCompatiblePrinterError: ``-o SPEC`` is none of the ``allowed`` formats."""
    return UsageError(f"error: unable to match a printer suitable for the output format {go_quote(spec)}, "
                      f"allowed formats are: {','.join(sorted(f for f in allowed if f))}")


def output_format(spec: str, allowed: Collection[str]) -> OutputFormat:
    """``-o`` for a verb that prints only the ``allowed`` formats (``""`` among them when it has a
    default output); another one is refused with kubectl's message naming those."""
    if spec.partition("=")[0] not in allowed:
        raise no_printer(spec, allowed)
    return parse_output(spec)


def _columns_file_spec(text: str) -> str:
    """A custom-columns file (a header line, then the paths line) as the inline spec."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) != 2 or len(lines[0]) != len(lines[1]):
        raise UsageError("error: custom-columns file must have a header line and a path line of the same length")
    return ",".join(f"{h}:{p}" for h, p in zip(lines[0], lines[1], strict=True))


def _check(fmt: OutputFormat) -> None:
    try:
        if fmt.name == "custom-columns":
            custom_columns(fmt.arg)
        else:
            JSONPath(fmt.arg)
    except JSONPathError as exc:
        raise UsageError(f"error: {exc}") from None


def custom_columns(spec: str) -> list[tuple[str, JSONPath]]:
    """``NAME:.metadata.name,IMAGE:.spec.containers[*].image`` as (header, path) pairs."""
    out = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not header:
            raise UsageError(f"error: unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        out.append((header, JSONPath(relaxed(path))))
    return out


def go_value(value: Any) -> str:
    """A value as Go's ``%v`` prints it (custom-columns cells): ``map[a:1]``, ``[x y]``, ``<nil>``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    return str(value)


# ---- tables ----


@dataclass(frozen=True)
class TableOptions:
    """The table flags: ``-o wide``, ``-A``, ``--show-labels``, ``-L``, ``--no-headers``..."""

    wide: bool = False
    with_kind: bool = False
    """NAME as ``kind/name`` (several kinds print together)."""
    with_namespace: bool = False
    show_labels: bool = False
    label_columns: tuple[str, ...] = ()
    no_headers: bool = False
    watch_events: bool = False
    """An EVENT column first (``--output-watch-events``)."""


def table_headers(kind: kinds.Kind, opts: TableOptions) -> list[str]:
    headers = columns.headers_for(kind.kind, opts.wide)
    if opts.with_namespace:
        headers.insert(0, "NAMESPACE")
    if opts.watch_events:
        headers.insert(0, "EVENT")
    headers += [label.rsplit("/", 1)[-1].upper() for label in opts.label_columns]
    if opts.show_labels:
        headers.append("LABELS")
    return headers


def table_row(obj: Any, kind: kinds.Kind, opts: TableOptions, now: datetime, event: str = "") -> list[str]:
    meta = obj.metadata
    name = f"{_kind_prefix(kind)}/{meta.name}" if opts.with_kind else meta.name
    row = columns.columns_for(kind.kind).cells(obj, name, now, opts.wide)
    if opts.with_namespace:
        row.insert(0, meta.namespace)
    if opts.watch_events:
        row.insert(0, event)
    if opts.label_columns:
        labels = meta.labels
        row += [labels.get(label, "") for label in opts.label_columns]
    if opts.show_labels:
        row.append(columns.format_labels(meta.labels))
    return row


def _kind_prefix(kind: kinds.Kind) -> str:
    return f"{kind.singular}.{kind.group}" if kind.group else kind.singular


def table_rows(objs: Sequence[Message], kind: kinds.Kind, opts: TableOptions,
               now: datetime | None = None) -> list[list[str]]:
    """Header (unless --no-headers) and one row per object, all of one kind."""
    now = now or datetime.now(UTC)
    rows = [] if opts.no_headers else [table_headers(kind, opts)]
    rows += [table_row(obj, kind, opts, now) for obj in objs]
    return rows


def custom_column_rows(objs: Sequence[Message], spec: str, *, no_headers: bool = False) -> list[list[str]]:
    cols = custom_columns(spec)
    rows = [] if no_headers else [[header for header, _ in cols]]
    try:
        for obj in objs:
            data = to_manifest(obj)
            rows.append([",".join(go_value(v) for v in path.values(data)) or "<none>" for _, path in cols])
    except JSONPathError as exc:  # an index past a list's end, a slice step of 0
        raise UsageError(f"error: {exc}") from None
    return rows


# ---- everything else ----


@dataclass(frozen=True)
class ListKind:
    """The envelope yaml, json and jsonpath print several objects in. kubectl's own ``List`` is an
    unstructured map, its keys in sorted order; a typed list (``EventList``) keeps its Go struct's
    field order — kind, apiVersion, metadata, items — which is what ``-o json`` shows."""

    kind: str = "List"
    resource_version: str | None = ""
    """``metadata.resourceVersion`` (``get``'s List has an empty one); None: ``metadata: {}``."""

    def wrap(self, objs: Sequence[Message]) -> dict[str, Any]:
        items = [to_manifest(o) for o in objs]
        metadata = {} if self.resource_version is None else {"resourceVersion": self.resource_version}
        if self.kind == "List":
            return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": metadata}
        return {"kind": self.kind, "apiVersion": "v1", "metadata": metadata, "items": items}


LIST = ListKind()
"""``get``'s (and every verb's but these below): ``kind: List``, ``metadata.resourceVersion: ""``."""
EDIT_LIST = ListKind(resource_version=None)
"""What ``edit`` opens several objects as: ``kind: List``, ``metadata: {}``."""
EVENT_LIST = ListKind("EventList", resource_version=None)
"""``events``' typed EventList."""


def data_for(objs: Sequence[Message], single: bool, list_kind: ListKind = LIST) -> dict[str, Any]:
    """What yaml, json and jsonpath print: the object itself when one was named, else a list."""
    return to_manifest(objs[0]) if single and len(objs) == 1 else list_kind.wrap(objs)


def render_generic(objs: Sequence[Message], fmt: OutputFormat, *, single: bool = False,
                   list_kind: ListKind = LIST) -> str:
    """yaml / json / name / jsonpath / go-template output, exactly as printed (trailing newline
    included); several objects (or any, unless ``single``) in the ``list_kind`` envelope."""
    if fmt.name == "name":
        return "".join(resource_name(o) + "\n" for o in objs)
    data = data_for(objs, single, list_kind)
    if fmt.name == "yaml":
        return dump_yaml(data)
    if fmt.name == "json":
        return dump_json(data) + "\n"
    if fmt.name == "go-template":
        try:
            return go_template(fmt.arg).execute(data)
        except ExecError as exc:  # kubectl prints what ran, then a dump for debugging, then the error
            raise UsageError(f"error: error executing template {go_quote(fmt.arg)}: {exc}",
                             output=exc.output + debug_dump(fmt.arg, data, exc)) from None
    try:
        path = JSONPath(fmt.arg)
        if fmt.name == "jsonpath-as-json":
            return json.dumps(path.values(data), indent=4, ensure_ascii=False) + "\n"
        return path.render(data)
    except JSONPathError as exc:
        raise UsageError(f"error: {exc}") from None


def render_tables(groups: Sequence[tuple[kinds.Kind, Sequence[Message]]], fmt: OutputFormat,
                  opts: TableOptions, now: datetime | None = None) -> str:
    """One table per kind (empty ones left out), a blank line between them; custom columns make
    one table of every object under one header (printed even when there are none), as in kubectl."""
    if fmt.name == "custom-columns":
        objs = [obj for _, found in groups for obj in found]
        return table([], custom_column_rows(objs, fmt.arg, no_headers=opts.no_headers))
    now = now or datetime.now(UTC)
    blocks = []
    for kind, found in groups:
        if found:
            kind_opts = opts if kind.namespaced else _replace(opts, with_namespace=False)
            blocks.append(table([], table_rows(found, kind, kind_opts, now)))
    return "\n\n".join(b for b in blocks if b)


def _replace(opts: TableOptions, **changes: Any) -> TableOptions:
    return TableOptions(**{**opts.__dict__, **changes})


def group_by_kind(objs: Sequence[Message]) -> list[tuple[kinds.Kind, list[Message]]]:
    groups: dict[str, tuple[kinds.Kind, list[Message]]] = {}
    for obj in objs:
        kind = kinds.of(obj)
        groups.setdefault(kind.kind, (kind, []))[1].append(obj)
    return list(groups.values())


def print_objects(objs: Sequence[Message], output: str, *, all_namespaces: bool = False,
                  single: bool = False) -> str:
    """The text (no trailing newline) for objects in any ``-o`` format; tables grouped by kind."""
    fmt = parse_output(output)
    if fmt.is_table or fmt.name == "custom-columns":
        groups = group_by_kind(objs)
        opts = TableOptions(wide=fmt.name == "wide", with_kind=len(groups) > 1, with_namespace=all_namespaces)
        return render_tables(groups, fmt, opts)
    return render_generic(objs, fmt, single=single).rstrip("\n")


def default_table(objs: Sequence[Message], *, all_namespaces: bool = False) -> str:
    """The default table of objects (kept for callers of the earlier API)."""
    return print_objects(objs, "", all_namespaces=all_namespaces)


# ---- --sort-by ----


def sort_key(values: list[Any]) -> tuple[int, Any]:
    """Missing values first, then numbers by value, then everything else as text."""
    if not values:
        return (0, 0)
    value = values[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value)
    return (2, value if isinstance(value, str) else json.dumps(value, sort_keys=True))


def sort_objects(objs: Sequence[Message], expression: str) -> list[Message]:
    """Objects ordered by a JSONPath (``--sort-by .metadata.name`` / ``{.status.startTime}``)."""
    try:
        path = JSONPath(relaxed(expression))
        keyed = [(sort_key(path.values(to_manifest(o))), i, o) for i, o in enumerate(objs)]
    except JSONPathError as exc:
        raise UsageError(f"error: {exc}") from None
    if keyed and all(key == sort_key([]) for key, _, _ in keyed):
        raise UsageError(f'error: couldn\'t find any field with path "{path.template}" in the list of objects')
    try:
        keyed.sort(key=lambda t: (t[0], t[1]))
    except TypeError:
        keyed.sort(key=lambda t: (t[0][0], str(t[0][1]), t[1]))
    return [o for _, _, o in keyed]
