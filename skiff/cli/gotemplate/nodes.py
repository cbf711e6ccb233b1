"""The tree the parser builds and the executor walks: ``Text``, ``Action``, ``Branch`` for
if / with / range, ``Break`` / ``Continue``; ``Pipe`` of ``Command`` of operands (``Literal``,
``DotNode``, ``FieldNode``, ``VarNode``, ``IdentNode`` for a function, ``ChainNode`` for fields of a
parenthesized pipeline, or a ``Pipe`` itself).

Every node keeps its offset in the source, and ``text()`` is Go's ``Node.String()``: how an
execution error names the node it failed at. A literal holds its value parsed; an unsigned literal
too large for Go's int is an ``Overflow``, an error only if it is evaluated, as in Go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Node:
    pos: int

    def text(self) -> str:  # Go's Node.String(): how an error names the node
        raise NotImplementedError


@dataclass
class Literal(Node):
    source: str
    value: Any  # str, GoInt, float, bool, or None for nil

    def text(self) -> str:
        return self.source


@dataclass
class DotNode(Node):
    def text(self) -> str:
        return "."


@dataclass
class FieldNode(Node):
    names: list[str]

    def text(self) -> str:
        return "".join("." + n for n in self.names)


@dataclass
class VarNode(Node):
    name: str  # "$", "$x"
    names: list[str] = field(default_factory=list)

    def text(self) -> str:
        return self.name + "".join("." + n for n in self.names)


@dataclass
class IdentNode(Node):
    name: str

    def text(self) -> str:
        return self.name


@dataclass
class Command(Node):
    args: list[Node]

    def text(self) -> str:
        return " ".join(f"({a.text()})" if isinstance(a, Pipe) else a.text() for a in self.args)


@dataclass
class Pipe(Node):
    decl: list[str]
    assign: bool
    cmds: list[Command]

    def text(self) -> str:
        head = ", ".join(self.decl) + (" = " if self.assign else " := ") if self.decl else ""
        return head + " | ".join(c.text() for c in self.cmds)


@dataclass
class ChainNode(Node):
    node: Node
    names: list[str]

    def text(self) -> str:
        inner = f"({self.node.text()})" if isinstance(self.node, Pipe) else self.node.text()
        return inner + "".join("." + n for n in self.names)


@dataclass
class Text(Node):
    value: str


@dataclass
class Action(Node):
    pipe: Pipe


@dataclass
class Branch(Node):
    """if / with / range: the pipeline, the body, and the else body (an ``else if`` is a nested
    branch in it)."""

    keyword: str
    pipe: Pipe
    body: list[Node]
    otherwise: list[Node] | None


@dataclass
class Break(Node):
    pass


@dataclass
class Continue(Node):
    pass


@dataclass(frozen=True)
class Overflow:
    """An unsigned literal too large for Go's int: an error when it is evaluated."""

    text: str
