"""Execution: ``Exec`` walks the tree. A missing map key is Go's invalid value (``MISSING``),
which prints as ``<no value>``; a JSON ``null`` met while walking a field chain is a nil interface
(an error when a field of it is asked for). Execution errors name the node and its ``line:column``
the way Go does: ``template: output:1:11: executing "output" at <.metadata.name.x>: ...``.

An ``Exec`` is one execution: the output so far (an ``ExecError`` carries it), the variable stack
and the node being evaluated. ``{{break}}`` / ``{{continue}}`` unwind to their ``range`` as
``BreakSignal`` / ``ContinueSignal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skiff.cli.gotemplate.errors import NAME, ExecError, Fail, GoTemplateError
from skiff.cli.gotemplate.fmt import Spec, format_value
from skiff.cli.gotemplate.functions import FIXED_ARGS, MIN_ARGS, STRING_PARAMS, call, truth
from skiff.cli.gotemplate.nodes import (
    Action,
    Branch,
    Break,
    ChainNode,
    Command,
    Continue,
    DotNode,
    FieldNode,
    IdentNode,
    Literal,
    Node,
    Overflow,
    Pipe,
    Text,
    VarNode,
)
from skiff.cli.gotemplate.values import MISSING, GoInt, Nil, go_type, unwrap, wrap


class BreakSignal(Exception):
    pass


class ContinueSignal(Exception):
    pass


@dataclass
class _Frame:
    name: str
    value: Any
    wrapped: bool = False
    """Whether the value sits in an ``interface{}`` (a range element): errors then name that type."""


class Exec:
    """One execution: the output so far, the variable stack and the node being evaluated (which
    an error names, as Go's ``state.at`` does)."""

    def __init__(self, source: str, root: Any) -> None:
        self.source = source
        self.out: list[str] = []
        self.vars: list[_Frame] = [_Frame("$", root)]
        self.node: Node | None = None
        self.dot_wrapped = False

    def fail(self, message: str) -> ExecError:
        node = self.node
        if node is None:
            return ExecError(f"template: {NAME}: {message}", "".join(self.out))
        before = self.source[:node.pos]
        line = before.count("\n") + 1
        col = node.pos - (before.rfind("\n") + 1) if "\n" in before else node.pos
        return ExecError(f'template: {NAME}:{line}:{col}: executing "{NAME}" at <{node.text()}>: {message}',
                         "".join(self.out))

    def at(self, node: Node) -> None:
        self.node = node

    # ---- statements ----

    def walk(self, dot: Any, nodes: Sequence[Node]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self.out.append(node.value)
            elif isinstance(node, Action):
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append(_print_value(value))
            elif isinstance(node, Branch):
                self.branch(dot, node)
            elif isinstance(node, Break):
                raise BreakSignal
            elif isinstance(node, Continue):
                raise ContinueSignal

    def walk_in(self, dot: Any, wrapped: bool, nodes: Sequence[Node]) -> None:
        saved, self.dot_wrapped = self.dot_wrapped, wrapped
        try:
            self.walk(dot, nodes)
        finally:
            self.dot_wrapped = saved

    def branch(self, dot: Any, node: Branch) -> None:
        depth = len(self.vars)
        try:
            if node.keyword == "range":
                self.walk_range(dot, node)
                return
            value = self.pipeline(dot, node.pipe)
            if truth(value):
                if node.keyword == "with":
                    self.walk_in(value, False, node.body)
                else:
                    self.walk(dot, node.body)
            elif node.otherwise is not None:
                self.walk(dot, node.otherwise)
        finally:
            del self.vars[depth:]

    def walk_range(self, dot: Any, node: Branch) -> None:
        self.at(node)
        value = self.pipeline(dot, node.pipe, declare=False)
        items: list[tuple[Any, Any]]
        if isinstance(value, list):
            items = [(GoInt(i), wrap(v)) for i, v in enumerate(value)]
        elif isinstance(value, dict):
            items = [(k, wrap(value[k])) for k in sorted(value)]
        elif value is MISSING:
            items = []
        else:
            raise self.fail(f"range can't iterate over {format_value('v', value, Spec())}")
        decl = node.pipe.decl
        depth = len(self.vars)
        for key, elem in items:
            del self.vars[depth:]
            if len(decl) == 1:
                self.set_var(decl[0], elem, node.pipe.assign, wrapped=True)
            elif len(decl) == 2:
                self.set_var(decl[0], key, node.pipe.assign)
                self.set_var(decl[1], elem, node.pipe.assign, wrapped=True)
            try:
                self.walk_in(elem, True, node.body)
            except ContinueSignal:
                continue
            except BreakSignal:
                break
        del self.vars[depth:]
        if not items and node.otherwise is not None:
            self.walk(dot, node.otherwise)

    def set_var(self, name: str, value: Any, assign: bool, wrapped: bool = False) -> None:
        if assign:
            for frame in reversed(self.vars):
                if frame.name == name:
                    frame.value, frame.wrapped = value, wrapped
                    return
            raise self.fail(f"undefined variable: {name}")
        self.vars.append(_Frame(name, value, wrapped))

    def var(self, name: str) -> _Frame:
        for frame in reversed(self.vars):
            if frame.name == name:
                return frame
        raise self.fail(f"undefined variable: {name}")

    # ---- expressions ----

    def pipeline(self, dot: Any, pipe: Pipe, declare: bool = True) -> Any:
        """The pipeline's value, unwrapped after each command as Go does (a nil interface becomes
        ``MISSING``); its variables are declared or assigned unless ``declare`` is off (range)."""
        self.at(pipe)
        value: Any = _NO_FINAL
        for cmd in pipe.cmds:
            value = unwrap(self.command(dot, cmd, value))
        if declare:
            for name in pipe.decl:
                self.set_var(name, value, pipe.assign)
        return value

    def command(self, dot: Any, cmd: Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            self.at(first)
            return self.field_chain(dot, first.names, cmd.args, final, self.dot_wrapped)
        if isinstance(first, VarNode):
            self.at(first)
            frame = self.var(first.name)
            if not first.names:
                self.not_a_function(cmd.args, final)
                return frame.value
            return self.field_chain(frame.value, first.names, cmd.args, final, frame.wrapped)
        if isinstance(first, ChainNode):
            self.at(first)
            receiver = self.arg_value(dot, first.node)
            return self.field_chain(receiver, first.names, cmd.args, final, False)
        if isinstance(first, IdentNode):
            return self.function(dot, first, cmd, final)
        if isinstance(first, Pipe):
            self.not_a_function(cmd.args, final)
            return self.pipeline(dot, first)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, DotNode):
            return dot
        assert isinstance(first, Literal)
        if first.source == "nil":
            raise self.fail("nil is not a command")
        return self.literal(first)

    def literal(self, node: Literal) -> Any:
        if isinstance(node.value, Overflow):
            raise self.fail(f"{node.source} overflows int")
        return node.value

    def not_a_function(self, args: Sequence[Node], final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            raise self.fail(f"can't give argument to non-function {args[0].text()}")

    def field_chain(self, receiver: Any, names: Sequence[str], args: Sequence[Node], final: Any,
                    wrapped: bool) -> Any:
        value = receiver
        for i, name in enumerate(names):
            has_args = i == len(names) - 1 and (len(args) > 1 or final is not _NO_FINAL)
            value = self.field(value, name, has_args, wrapped if i == 0 else True)
        return value

    def field(self, receiver: Any, name: str, has_args: bool, wrapped: bool) -> Any:
        if receiver is MISSING:
            return MISSING
        if isinstance(receiver, Nil):
            raise self.fail(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, dict):
            if has_args:
                raise self.fail(f"{name} is not a method but has arguments")
            return wrap(receiver[name]) if name in receiver else MISSING
        typ = "interface {}" if wrapped else go_type(receiver)
        raise self.fail(f"can't evaluate field {name} in type {typ}")

    def function(self, dot: Any, ident: IdentNode, cmd: Command, final: Any) -> Any:
        self.at(ident)
        name = ident.name
        arg_nodes = cmd.args[1:]
        count = len(arg_nodes) + (0 if final is _NO_FINAL else 1)
        if name in FIXED_ARGS and count != FIXED_ARGS[name]:
            raise self.fail(f"wrong number of args for {name}: want {FIXED_ARGS[name]} got {count}")
        if count < MIN_ARGS.get(name, 0):
            raise self.fail(f"wrong number of args for {name}: want at least {MIN_ARGS[name]} got {len(arg_nodes)}")
        if name in ("and", "or"):  # short-circuit: the first falsy (and) / truthy (or) argument
            value: Any = MISSING
            for node in arg_nodes:
                value = unwrap(self.arg_value(dot, node))
                if truth(value) == (name == "or"):
                    return value
            return value if final is _NO_FINAL else final
        values = [self.typed_arg(dot, node, name, i) for i, node in enumerate(arg_nodes)]
        if final is not _NO_FINAL:
            values.append(self.check_string(final) if STRING_PARAMS.get(name) == len(values) else final)
        try:
            return call(name, values)
        except (Fail, GoTemplateError) as exc:
            self.at(cmd)
            raise self.fail(f"error calling {name}: {exc}") from None

    def typed_arg(self, dot: Any, node: Node, name: str, i: int) -> Any:
        """An argument; a Go ``string`` parameter (printf's format, base64decode's input) is
        checked as Go's evalArg checks it."""
        if STRING_PARAMS.get(name) != i:
            return self.arg_value(dot, node)
        self.at(node)
        if isinstance(node, Literal):
            if isinstance(node.value, str):
                return node.value
            raise self.fail(f"expected string; found {node.text()}")
        return self.check_string(self.arg_value(dot, node))

    def check_string(self, value: Any) -> str:
        if value is MISSING:
            raise self.fail("invalid value; expected string")
        if isinstance(value, str):
            return value
        typ = "interface {}" if isinstance(value, Nil) else go_type(value)
        raise self.fail(f"wrong type for value; expected string; got {typ}")

    def arg_value(self, dot: Any, node: Node) -> Any:
        self.at(node)
        if isinstance(node, DotNode):
            return dot
        if isinstance(node, Literal):
            return self.literal(node)
        if isinstance(node, FieldNode):
            return self.field_chain(dot, node.names, [node], _NO_FINAL, self.dot_wrapped)
        if isinstance(node, VarNode):
            frame = self.var(node.name)
            return self.field_chain(frame.value, node.names, [node], _NO_FINAL, frame.wrapped)
        if isinstance(node, Pipe):
            return self.pipeline(dot, node)
        if isinstance(node, ChainNode):
            receiver = self.arg_value(dot, node.node)
            return self.field_chain(receiver, node.names, [node], _NO_FINAL, False)
        assert isinstance(node, IdentNode)
        return self.function(dot, node, Command(node.pos, [node]), _NO_FINAL)


_NO_FINAL: Any = object()
"""No value piped into a command (its first one)."""


def _print_value(value: Any) -> str:
    if value is MISSING or isinstance(value, Nil):
        return "<no value>"
    return format_value("v", value, Spec())
