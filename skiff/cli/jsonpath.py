"""kubectl's JSONPath templates: ``-o jsonpath=...``, ``custom-columns`` cells and ``--sort-by``.

A template is text with actions in braces: ``{.items[*].metadata.name}``,
``{range .items[*]}{.metadata.name}{"\\n"}{end}``. It is parsed once into a small tree —
``_Text``, ``_Expr`` (a path or a literal) and ``_Range`` (a body repeated for each value) — and
then executed against plain JSON data (the manifest dicts of ``skiff.api.manifest``).

A path is a list of steps applied to a list of nodes, each step giving the next list:
``.name`` / ``['name','other']`` (fields), ``[*]`` / ``.*`` (every element), ``[2]``, ``[-1:]``,
``[0:4:2]`` (index and slices), ``..name`` (recursive descent) and ``[?(@.name=="web")]`` (filters,
with ``== != < <= > >=`` or bare existence). ``$`` is the root and ``@`` (or nothing) the current
node, which ``range`` moves along. As in ``kubectl get``, a missing field yields nothing rather
than an error (``allow_missing``); an index out of range is an error. Values print as kubectl
prints them: strings bare, maps and lists as compact JSON, several results separated by spaces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


class JSONPathError(ValueError):
    """A template that does not parse, or that fails on the data (index out of range)."""


# ---- the tree ----


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Field:
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Recursive:
    pass


@dataclass(frozen=True)
class _Index:
    index: int


@dataclass(frozen=True)
class _Slice:
    start: int | None
    stop: int | None
    step: int | None


@dataclass(frozen=True)
class _Filter:
    left: tuple[Any, ...]
    """The steps of the path on the element (``@.status``)."""
    op: str
    """``==`` ``!=`` ``<`` ``<=`` ``>`` ``>=``, or ``exists`` for a bare path."""
    right: Any


Step = _Field | _Wildcard | _Recursive | _Index | _Slice | _Filter


@dataclass(frozen=True)
class _Expr:
    steps: tuple[Step, ...] = ()
    root: bool = False
    literal: Any = None
    is_literal: bool = False


@dataclass
class _Range:
    expr: _Expr
    body: list[Node] = field(default_factory=list)


Node = _Text | _Expr | _Range


# ---- parsing ----

_NUMBER = re.compile(r"-?\d+(\.\d+)?$")
_FIELD_END = set(".[ \t,)=!<>")


def _split_actions(template: str) -> Iterator[tuple[bool, str]]:
    """(is_action, text) pieces of a template: text outside braces and action bodies inside."""
    pos = 0
    while pos < len(template):
        start = template.find("{", pos)
        if start < 0:
            yield False, template[pos:]
            return
        if start > pos:
            yield False, template[pos:start]
        end = _action_end(template, start + 1)
        if end < 0:
            raise JSONPathError(f"error parsing jsonpath {template}, unclosed action")
        yield True, template[start + 1:end]
        pos = end + 1


def _action_end(template: str, pos: int) -> int:
    quote = ""
    while pos < len(template):
        ch = template[pos]
        if quote:
            if ch == "\\":
                pos += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "}":
            return pos
        pos += 1
    return -1


def parse(template: str) -> list[Node]:
    """The tree of a template; raises JSONPathError naming the template."""
    top: list[Node] = []
    stack: list[list[Node]] = [top]
    for is_action, text in _split_actions(template):
        if not is_action:
            stack[-1].append(_Text(text))
            continue
        body = text.strip()
        if body == "end":
            if len(stack) == 1:
                raise JSONPathError(f"error parsing jsonpath {template}, not in range, nothing to end")
            stack.pop()
        elif body.startswith("range ") or body.startswith("range\t"):
            node = _Range(_parse_expr(body[6:].strip(), template))
            stack[-1].append(node)
            stack.append(node.body)
        elif body:
            stack[-1].append(_parse_expr(body, template))
    if len(stack) > 1:
        raise JSONPathError(f"error parsing jsonpath {template}, unclosed range")
    return top


def _parse_expr(text: str, template: str) -> _Expr:
    literal = _literal(text)
    if literal is not _NO_LITERAL:
        return _Expr(literal=literal, is_literal=True)
    root = text.startswith("$")
    if text[:1] in "$@":
        text = text[1:]
    steps, rest = _Steps(text, template).parse()
    if rest.strip():
        raise JSONPathError(f"error parsing jsonpath {template}, unrecognized character in action: {rest[0]!r}")
    return _Expr(steps=tuple(steps), root=root)


_NO_LITERAL = object()


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return _unquote(text)
    if text in ("true", "false"):
        return text == "true"
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    return _NO_LITERAL


def _unquote(text: str) -> str:
    if text[0] == '"':
        try:
            return str(json.loads(text))
        except json.JSONDecodeError:
            pass
    return text[1:-1].encode("utf-8").decode("unicode_escape") if "\\" in text else text[1:-1]


class _Steps:
    """A recursive-descent reader of one path (``.items[*].metadata.name``)."""

    def __init__(self, text: str, template: str) -> None:
        self.text, self.pos, self.template = text, 0, template

    def error(self, detail: str) -> JSONPathError:
        return JSONPathError(f"error parsing jsonpath {self.template}, {detail}")

    def parse(self) -> tuple[list[Step], str]:
        steps: list[Step] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if self.text.startswith("..", self.pos):
                self.pos += 1
                steps.append(_Recursive())
                if self.text[self.pos + 1:self.pos + 2] == "[":
                    self.pos += 1
            elif ch == ".":
                self.pos += 1
                steps.append(self.field())
            elif ch == "[":
                steps.append(self.bracket())
            else:
                break
        return steps, self.text[self.pos:]

    def field(self) -> Step:
        if self.text[self.pos:self.pos + 1] == "*":
            self.pos += 1
            return _Wildcard()
        name = []
        while self.pos < len(self.text) and self.text[self.pos] not in _FIELD_END:
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            name.append(self.text[self.pos])
            self.pos += 1
        return _Field(("".join(name),) if name else ())

    def bracket(self) -> Step:
        end = _bracket_end(self.text, self.pos)
        if end < 0:
            raise self.error("unterminated array")
        inner = self.text[self.pos + 1:end].strip()
        self.pos = end + 1
        if inner == "*":
            return _Wildcard()
        if inner.startswith("?(") and inner.endswith(")"):
            return self.filter(inner[2:-1].strip())
        if inner[:1] in "'\"":
            return _Field(tuple(_unquote(part.strip()) for part in _split_union(inner)))
        return self.index(inner)

    def index(self, inner: str) -> Step:
        parts = inner.split(":")
        try:
            values = [int(p) if p.strip() else None for p in parts]
        except ValueError:
            raise self.error(f"invalid array index {inner!r}".replace("'", '"')) from None
        if len(parts) == 1 and values[0] is not None:
            return _Index(values[0])
        if 1 < len(parts) <= 3:
            values += [None] * (3 - len(values))
            return _Slice(values[0], values[1], values[2])
        raise self.error(f'invalid array index "{inner}"')

    def filter(self, text: str) -> Step:
        match = re.match(r"(.*?)\s*(==|!=|<=|>=|<|>)\s*(.*)$", text)
        left_text, op, right_text = (match.groups() if match else (text, "exists", ""))
        if not left_text.startswith("@"):
            raise self.error(f"unrecognized filter {text!r}")
        left, rest = _Steps(left_text[1:], self.template).parse()
        if rest.strip():
            raise self.error(f"unrecognized filter {text!r}")
        right: Any = None
        if op != "exists":
            right = _literal(right_text.strip())
            if right is _NO_LITERAL:
                raise self.error(f"unrecognized filter value {right_text!r}")
        return _Filter(tuple(left), op, right)


def _bracket_end(text: str, pos: int) -> int:
    depth, quote = 0, ""
    for i in range(pos, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _split_union(inner: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for ch in inner:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


# ---- evaluation ----


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [node[k] for k in sorted(node)]
    if isinstance(node, list):
        return list(node)
    return []


def _descendants(node: Any) -> Iterator[Any]:
    yield node
    for child in _children(node):
        yield from _descendants(child)


def _step(nodes: list[Any], step: Step) -> list[Any]:
    out: list[Any] = []
    if isinstance(step, _Field):
        for name in step.names:
            out.extend(n[name] for n in nodes if isinstance(n, dict) and name in n)
        if not step.names:
            out.extend(nodes)
    elif isinstance(step, _Wildcard):
        for n in nodes:
            out.extend(_children(n))
    elif isinstance(step, _Recursive):
        for n in nodes:
            out.extend(_descendants(n))
    elif isinstance(step, _Index):
        for n in nodes:
            if isinstance(n, list):
                i = step.index + len(n) if step.index < 0 else step.index
                if not 0 <= i < len(n):
                    raise JSONPathError(f"array index out of bounds: index {step.index}, length {len(n)}")
                out.append(n[i])
    elif isinstance(step, _Slice):
        if step.step is not None and step.step <= 0:
            raise JSONPathError("step must be > 0")  # Go's jsonpath walks forward only
        for n in nodes:
            if isinstance(n, list):
                out.extend(n[step.start:step.stop:step.step])
    else:
        for n in nodes:
            out.extend(e for e in _children(n) if isinstance(n, list) and _matches(e, step))
    return out


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b), "!=": lambda a, b: bool(a != b), "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b), ">": lambda a, b: bool(a > b), ">=": lambda a, b: bool(a >= b),
}


def _matches(element: Any, flt: _Filter) -> bool:
    values = _walk([element], flt.left)
    if flt.op == "exists":
        return bool(values)
    for value in values:
        try:
            if _COMPARE[flt.op](value, flt.right):
                return True
        except TypeError:
            continue
    return False


def _walk(nodes: list[Any], steps: tuple[Step, ...]) -> list[Any]:
    for step in steps:
        nodes = _step(nodes, step)
    return nodes


def format_value(value: Any) -> str:
    """How ``-o jsonpath`` prints one value: strings bare, ``true``, ``null``, compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return str(value)


class JSONPath:
    """A parsed template, ready to run against data many times."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.nodes = parse(template)

    def find(self, data: Any) -> list[list[Any]]:
        """The results of every expression, in order (a list of values per expression)."""
        results: list[list[Any]] = []
        self._run(self.nodes, data, data, lambda values: results.append(values))
        return results

    def values(self, data: Any) -> list[Any]:
        """Every value every expression gives, flattened (custom-columns, sort-by)."""
        return [v for group in self.find(data) for v in group]

    def render(self, data: Any) -> str:
        """The text the template prints for ``data``."""
        out: list[str] = []

        def emit(values: list[Any]) -> None:
            out.append(" ".join(format_value(v) for v in values))

        self._run(self.nodes, data, data, emit, text=out.append)
        return "".join(out)

    def _run(self, nodes: list[Node], root: Any, current: Any, emit: Callable[[list[Any]], None],
             *, text: Callable[[str], None] | None = None) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                if text is not None:
                    text(node.text)
            elif isinstance(node, _Range):
                for item in self._eval(node.expr, root, current):
                    self._run(node.body, root, item, emit, text=text)
            else:
                emit(self._eval(node, root, current))

    def _eval(self, expr: _Expr, root: Any, current: Any) -> list[Any]:
        if expr.is_literal:
            return [expr.literal]
        try:
            return _walk([root if expr.root else current], expr.steps)
        except JSONPathError as exc:
            raise JSONPathError(f'error executing jsonpath "{self.template}": Error executing template: {exc}') \
                from None


def relaxed(expression: str) -> str:
    """kubectl's relaxed form for --sort-by and custom-columns: ``.a.b``, ``a.b`` and ``{.a.b}`` alike."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text and text[0] not in ".[$@":
        text = "." + text
    return "{" + text + "}"
