"""The parser: ``Parser`` builds the tree of ``nodes`` and reports Go's parse errors
(``unexpected "," in operand``, ``undefined variable "$x"``, ``function "f" not defined`` ...).

A recursive descent over the lexer's tokens with pushback, in the shape of Go's
``text/template/parse``: item lists up to ``{{end}}`` / ``{{else}}``, pipelines with their variable
declarations, commands of operands. It keeps the variables in scope and whether it is inside a
``range`` (for break / continue), knows the function names of ``functions``, and refuses
``define``, ``template``, ``block``, ``call`` and complex numbers with an error naming them. A
number literal is read as ``strconv.ParseInt(text, 0, 64)`` reads it, or else as ``ParseFloat`` does.
"""

from __future__ import annotations

import math
from typing import Any

from skiff.api.validation import go_quote
from skiff.cli.gotemplate.errors import NAME, ParseError
from skiff.cli.gotemplate.functions import FUNCTIONS
from skiff.cli.gotemplate.lexer import Lexer, Tok, unquote
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
from skiff.cli.gotemplate.values import GoInt


class Parser:
    def __init__(self, text: str) -> None:
        self.lexer = Lexer(text)
        self.ahead: list[Tok] = []
        self.line = 1
        self.vars: list[str] = ["$"]
        self.range_depth = 0

    # tokens
    def next(self) -> Tok:
        tok = self.ahead.pop() if self.ahead else next(self.lexer.tokens)
        self.line = tok.line
        return tok

    def backup(self, tok: Tok) -> None:
        self.ahead.append(tok)

    def peek(self) -> Tok:
        tok = self.next()
        self.backup(tok)
        return tok

    def next_non_space(self) -> Tok:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def peek_non_space(self) -> Tok:
        tok = self.next_non_space()
        self.backup(tok)
        return tok

    def error(self, message: str) -> ParseError:
        return ParseError(f"template: {NAME}:{self.line}: {message}")

    def unexpected(self, tok: Tok, context: str) -> ParseError:
        return self.error(f"unexpected {tok} in {context}")

    # structure
    def parse(self) -> list[Node]:
        return self.item_list(top=True)[0]

    def item_list(self, top: bool = False) -> tuple[list[Node], str]:
        """Nodes up to ``{{end}}`` / ``{{else}}`` (returned as the stop word; after an ``else``
        followed by ``if`` / ``with`` that keyword is left pending) or, at the top, EOF."""
        nodes: list[Node] = []
        while True:
            tok = self.next()
            if tok.kind == "eof":
                if top:
                    return nodes, "eof"
                raise self.error("unexpected EOF")
            if tok.kind == "text":
                nodes.append(Text(tok.pos, tok.val))
                continue
            if tok.kind != "left":
                raise self.unexpected(tok, "input")
            word = self.peek_non_space()
            if word.kind == "keyword" and word.val in ("end", "else"):
                self.next_non_space()
                pending = self.peek_non_space()
                if not (word.val == "else" and pending.kind == "keyword" and pending.val in ("if", "with")):
                    self.expect_right(word.val)
                if top:
                    raise self.error(f"unexpected {{{{{word.val}}}}}")
                return nodes, word.val
            nodes.append(self.action())

    def expect_right(self, context: str) -> None:
        tok = self.next_non_space()
        if tok.kind != "right":
            raise self.unexpected(tok, context)

    def action(self) -> Node:
        tok = self.next_non_space()
        if tok.kind == "keyword":
            if tok.val in ("if", "with", "range"):
                return self.branch(tok)
            if tok.val in ("break", "continue"):
                self.expect_right(f"{{{{{tok.val}}}}}")
                if not self.range_depth:
                    raise self.error(f"{{{{{tok.val}}}}} outside {{{{range}}}}")
                return Break(tok.pos) if tok.val == "break" else Continue(tok.pos)
            if tok.val in ("define", "template", "block"):
                raise self.error(f"{{{{{tok.val}}}}} is not supported by skiffctl's go-template printer")
        self.backup(tok)
        return Action(tok.pos, self.pipeline("command", "right"))

    def branch(self, keyword: Tok) -> Node:
        """if / with / range up to its {{end}}; ``{{else if x}}`` is parsed as
        ``{{else}}{{if x}}...{{end}}`` sharing the outer {{end}}, as Go does."""
        depth = len(self.vars)
        kind = keyword.val
        pipe = self.pipeline(kind, "right")
        if kind == "range":
            self.range_depth += 1
        body, stop = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        otherwise: list[Node] | None = None
        if stop == "else":
            pending = self.peek_non_space()
            if kind in ("if", "with") and pending.kind == "keyword" and pending.val == kind:
                otherwise = [self.branch(self.next_non_space())]
            else:
                otherwise, stop = self.item_list()
                if stop != "end":
                    raise self.error("expected end; found {{else}}")
        del self.vars[depth:]
        return Branch(keyword.pos, kind, pipe, body, otherwise)

    def pipeline(self, context: str, end: str) -> Pipe:
        decl: list[str] = []
        assign = False
        start = self.peek_non_space()
        while start.kind == "variable":
            var = self.next_non_space()
            after = self.next()
            nxt = self.next_non_space() if after.kind == "space" else after
            if nxt.kind in ("declare", "assign"):
                assign = nxt.kind == "assign"
                decl.append(var.val)
                self.vars.append(var.val)
            elif nxt.kind == "charitem" and nxt.val == ",":
                decl.append(var.val)
                self.vars.append(var.val)
                if context == "range" and len(decl) < 2:
                    if self.peek_non_space().kind in ("variable", "right", "rparen"):
                        start = self.peek_non_space()
                        continue
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            else:
                self.backup(nxt)
                if after is not nxt:
                    self.backup(after)
                self.backup(var)
            break
        cmds: list[Command] = []
        while True:
            tok = self.next_non_space()
            if tok.kind == end:
                if not cmds:
                    raise self.error(f"missing value for {context}")
                for i, cmd in enumerate(cmds[1:]):
                    if isinstance(cmd.args[0], (Literal, DotNode)):
                        raise self.error(f"non executable command in pipeline stage {i + 2}")
                return Pipe(start.pos, decl, assign, cmds)
            if tok.kind in ("bool", "char", "dot", "field", "ident", "number", "nil", "raw", "string",
                            "variable", "lparen"):
                self.backup(tok)
                cmds.append(self.command())
            else:
                raise self.unexpected(tok, context)

    def command(self) -> Command:
        cmd = Command(self.peek_non_space().pos, [])
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("right", "rparen"):
                self.backup(tok)
            elif tok.kind != "pipe":
                raise self.unexpected(tok, "operand")
            break
        if not cmd.args:
            raise self.error("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == "field":
            pos = self.peek().pos
            names: list[str] = []
            while self.peek().kind == "field":
                names.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(pos, node.names + names)
            if isinstance(node, VarNode):
                return VarNode(pos, node.name, node.names + names)
            if isinstance(node, (Literal, DotNode)):
                raise self.error(f"unexpected . after term {go_quote(node.text())}")
            return ChainNode(pos, node, names)
        return node

    def term(self) -> Node | None:
        tok = self.next_non_space()
        kind = tok.kind
        if kind == "ident":
            if tok.val not in FUNCTIONS:
                raise self.error(f"function {go_quote(tok.val)} not defined")
            if tok.val == "call":
                raise self.error("the call function is not supported by skiffctl's go-template printer")
            return IdentNode(tok.pos, tok.val)
        if kind == "dot":
            return DotNode(tok.pos)
        if kind == "nil":
            return Literal(tok.pos, "nil", None)
        if kind == "variable":
            name = tok.val.partition(".")[0]
            if name not in self.vars:
                raise self.error(f"undefined variable {go_quote(name)}")
            return VarNode(tok.pos, name)
        if kind == "field":
            return FieldNode(tok.pos, [tok.val[1:]])
        if kind == "bool":
            return Literal(tok.pos, tok.val, tok.val == "true")
        if kind in ("number", "char"):
            return Literal(tok.pos, tok.val, self.number(tok))
        if kind == "lparen":
            return self.pipeline("parenthesized pipeline", "rparen")
        if kind in ("string", "raw"):
            try:
                return Literal(tok.pos, tok.val, unquote(tok.val))
            except ValueError as exc:
                raise self.error(str(exc)) from None
        self.backup(tok)
        return None

    def number(self, tok: Tok) -> Any:
        """A number or rune literal as Go's parse.NumberNode reads it."""
        text = tok.val
        if tok.kind == "char":
            if text[1:2] != "\\" and len(text) > 3:
                raise self.error(f"malformed character constant: {text}")
            try:
                return GoInt(ord(unquote(text)))
            except ValueError as exc:
                raise self.error(str(exc)) from None
        if text.endswith("i"):
            raise self.error(f"complex number {text} is not supported by skiffctl's go-template printer")
        value = _parse_int(text)
        if value is not None:
            if value >= 1 << 64 or value < -(1 << 63):
                raise self.error(f"integer overflow: {go_quote(text)}")
            return Overflow(text) if value >= 1 << 63 else GoInt(value)
        parsed = _parse_float(text)
        if parsed is None or math.isinf(parsed):
            raise self.error(f"illegal number syntax: {go_quote(text)}")
        return parsed


def _parse_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)``'s syntax (range checked by the caller)."""
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if text[:1] in "+-" and text[1:2] in "+-":
        return None
    if "_" in body and (body.startswith("_") or body.endswith("_") or "__" in body):
        return None
    clean = body.replace("_", "")
    try:
        if clean[:2].lower() in ("0x", "0o", "0b"):
            return sign * int(clean, 0)
        if len(clean) > 1 and clean.startswith("0"):
            return sign * int(clean, 8)
        if clean.isdigit():
            return sign * int(clean)
    except ValueError:
        return None
    return None


def _parse_float(text: str) -> float | None:
    clean = text.replace("_", "")
    try:
        if clean.lstrip("+-")[:2].lower() == "0x":
            return float.fromhex(clean)
        if not any(c.isdigit() for c in clean):
            return None
        return float(clean)
    except ValueError:
        return None
