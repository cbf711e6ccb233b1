"""The lexer: ``Lexer`` turns the source into tokens lazily, as Go's lexer does, so that an error
early in the template is reported before a lexical error further on. It handles ``{{- `` / `` -}}``
trim markers, ``{{/* comments */}}``, strings with Go escapes, raw strings, rune and number literals.

A token (``Tok``) keeps its kind, its source text, its offset (which an execution error turns into
``line:column``) and its line (which a parse error names); ``str()`` of it is how Go's parse errors
quote a token. A lexical error is a ``ParseError``. ``unquote`` is ``strconv.Unquote``, which the
parser applies to string and rune literals.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from skiff.api.validation import go_quote
from skiff.cli.gotemplate.errors import NAME, ParseError

_SPACE = " \t\r\n"
_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template", "with"}


@dataclass(frozen=True)
class Tok:
    kind: str
    """text, left, right, space, field, variable, dot, ident, keyword, bool, number, char, string,
    raw, pipe, lparen, rparen, declare, assign, charitem, eof."""
    val: str
    pos: int
    line: int

    def __str__(self) -> str:  # Go's item.String(), as parse errors print a token
        if self.kind == "eof":
            return "EOF"
        if self.kind in ("keyword", "dot", "nil"):
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


class Lexer:
    """Tokens on demand; a lexical error raises when the parser reaches it, as in Go."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.paren = 0
        self.tokens = self._run()

    def _error(self, message: str) -> ParseError:
        return ParseError(f"template: {NAME}:{self.line}: {message}")

    def _tok(self, kind: str, start: int, end: int, line: int | None = None) -> Tok:
        return Tok(kind, self.text[start:end], start, self.line if line is None else line)

    def _run(self) -> Iterator[Tok]:
        text = self.text
        while True:
            start = self.pos
            j = text.find("{{", start)
            if j < 0:
                if start < len(text):
                    yield self._tok("text", start, len(text))
                    self.line += text.count("\n", start)
                yield Tok("eof", "", len(text), self.line)
                return
            trim = text[j + 2:j + 3] == "-" and text[j + 3:j + 4] != "" and text[j + 3] in _SPACE
            end = j
            if trim:
                while end > start and text[end - 1] in _SPACE:
                    end -= 1
            if end > start:
                yield self._tok("text", start, end)
            self.line += text.count("\n", start, j)
            self.pos = j + 2 + (2 if trim else 0)
            if text.startswith("/*", self.pos):
                self._comment()
                continue
            yield Tok("left", "{{", j, self.line)
            yield from self._action()

    def _at_right(self) -> tuple[bool, bool]:
        text, pos = self.text, self.pos
        if text[pos:pos + 1] != "" and text[pos] in _SPACE and text.startswith("-}}", pos + 1):
            return True, True
        return text.startswith("}}", pos), False

    def _after_right(self, trim: bool) -> None:
        self.pos += 4 if trim else 2
        if trim:
            while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
                if self.text[self.pos] == "\n":
                    self.line += 1
                self.pos += 1

    def _comment(self) -> None:
        """Skips ``/* ... */`` (Go emits no token for it); it must end at the closing delimiter."""
        end = self.text.find("*/", self.pos + 2)
        if end < 0:
            raise self._error("unclosed comment")
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end + 2
        delim, trim = self._at_right()
        if not delim:
            raise self._error("comment ends before closing delimiter")
        self._after_right(trim)

    def _at_terminator(self) -> bool:
        ch = self.text[self.pos:self.pos + 1]
        if ch == "" or ch in _SPACE or ch in ".,|:()":
            return True
        return self.text.startswith("}}", self.pos)

    def _action(self) -> Iterator[Tok]:
        text = self.text
        while True:
            delim, trim = self._at_right()
            if delim:
                if self.paren:
                    raise self._error("unclosed left paren")
                yield Tok("right", "}}", self.pos, self.line)
                self._after_right(trim)
                return
            if self.pos >= len(text):
                raise self._error("unclosed action")
            start = self.pos
            ch = text[start]
            if ch in _SPACE:
                end = start
                while end < len(text) and text[end] in _SPACE:
                    end += 1
                if text.startswith("-}}", end):
                    end -= 1  # the last space belongs to the " -}}" delimiter
                if end > start:
                    tok = self._tok("space", start, end)
                    self.line += text.count("\n", start, end)
                    self.pos = end
                    yield tok
                continue
            if ch == "=":
                self.pos += 1
                yield self._tok("assign", start, self.pos)
            elif ch == ":":
                if text[start + 1:start + 2] != "=":
                    raise self._error("expected :=")
                self.pos += 2
                yield self._tok("declare", start, self.pos)
            elif ch == "|":
                self.pos += 1
                yield self._tok("pipe", start, self.pos)
            elif ch == '"':
                yield self._quoted(start)
            elif ch == "`":
                end = text.find("`", start + 1)
                if end < 0:
                    raise self._error("unterminated raw quoted string")
                self.pos = end + 1
                tok = self._tok("raw", start, self.pos)
                self.line += text.count("\n", start, end)
                yield tok
            elif ch == "$":
                self.pos += 1
                yield self._field_or_var("variable", start)
            elif ch == "'":
                yield self._char(start)
            elif ch == "." and not text[start + 1:start + 2].isdigit():
                self.pos += 1
                yield self._field_or_var("field", start)
            elif ch in "+-." or ch.isdigit():
                yield self._number(start)
            elif _is_alnum(ch):
                while self.pos < len(text) and _is_alnum(text[self.pos]):
                    self.pos += 1
                if not self._at_terminator():
                    raise self._error(f"bad character {_sharp_u(text[self.pos])}")
                word = text[start:self.pos]
                kind = "keyword" if word in _KEYWORDS else "bool" if word in ("true", "false") else "ident"
                if word == "nil":
                    kind = "nil"
                yield self._tok(kind, start, self.pos)
            elif ch == "(":
                self.pos += 1
                self.paren += 1
                yield self._tok("lparen", start, self.pos)
            elif ch == ")":
                self.pos += 1
                self.paren -= 1
                if self.paren < 0:
                    raise self._error("unexpected right paren")
                yield self._tok("rparen", start, self.pos)
            elif ord(ch) < 128 and ch.isprintable():
                self.pos += 1
                yield self._tok("charitem", start, self.pos)
            else:
                raise self._error(f"unrecognized character in action: {_sharp_u(ch)}")

    def _field_or_var(self, kind: str, start: int) -> Tok:
        if self._at_terminator():
            return self._tok("dot" if kind == "field" else "variable", start, self.pos)
        while self.pos < len(self.text) and _is_alnum(self.text[self.pos]):
            self.pos += 1
        if not self._at_terminator():
            raise self._error(f"bad character {_sharp_u(self.text[self.pos])}")
        return self._tok(kind, start, self.pos)

    def _quoted(self, start: int) -> Tok:
        text = self.text
        i = start + 1
        while True:
            ch = text[i:i + 1]
            if ch == "\\":
                i += 1
                ch = text[i:i + 1]
                if ch not in ("", "\n"):
                    i += 1
                    continue
            if ch in ("", "\n"):
                raise self._error("unterminated quoted string")
            i += 1
            if ch == '"':
                break
        self.pos = i
        return self._tok("string", start, i)

    def _char(self, start: int) -> Tok:
        text = self.text
        i = start + 1
        while True:
            ch = text[i:i + 1]
            if ch == "\\":
                i += 2
                continue
            if ch in ("", "\n"):
                raise self._error("unterminated character constant")
            i += 1
            if ch == "'":
                break
        self.pos = i
        return self._tok("char", start, i)

    def _number(self, start: int) -> Tok:
        text = self.text
        i = start
        if text[i:i + 1] in "+-":
            i += 1
        digits = "0123456789_"
        if text[i:i + 1] == "0" and text[i + 1:i + 2] in ("x", "X", "o", "O", "b", "B"):
            digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[text[i + 1].lower()]
            i += 2
        while i < len(text) and text[i] in digits:
            i += 1
        if text[i:i + 1] == ".":
            i += 1
            while i < len(text) and text[i] in digits:
                i += 1
        if len(digits) == 11 and text[i:i + 1] in ("e", "E") or len(digits) > 11 and text[i:i + 1] in ("p", "P"):
            i += 1
            if text[i:i + 1] in ("+", "-"):
                i += 1
            while i < len(text) and text[i] in "0123456789_":
                i += 1
        if text[i:i + 1] == "i":
            i += 1
        if i < len(text) and _is_alnum(text[i]):
            raise self._error(f"bad number syntax: {go_quote(text[start:i + 1])}")
        self.pos = i
        return self._tok("number", start, i)


def _sharp_u(ch: str) -> str:
    return f"U+{ord(ch):04X} '{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def unquote(lit: str) -> str:
    """``strconv.Unquote`` of a ``"..."``, ``'x'`` or raw literal; ValueError("invalid syntax")."""
    if lit[0] == "`":
        return lit[1:-1].replace("\r", "")
    quote, body = lit[0], lit[1:-1]
    out: list[str] = []
    raw = bytearray()
    i = 0

    def flush() -> None:
        if raw:
            out.append(raw.decode("utf-8", "replace"))
            raw.clear()

    while i < len(body):
        ch = body[i]
        if ch == quote:
            raise ValueError("invalid syntax")
        if ch != "\\":
            flush()
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1:i + 2]
        i += 2
        if esc in _ESCAPES:
            flush()
            out.append(_ESCAPES[esc])
        elif esc == quote:
            flush()
            out.append(esc)
        elif esc in ("x", "u", "U") or esc in "01234567" and esc:
            size = {"x": 2, "u": 4, "U": 8}.get(esc, 3)
            digits = body[i:i + size] if esc in "xuU" else body[i - 1:i + 2]
            i += size if esc in "xuU" else 2
            base = 8 if esc not in "xuU" else 16
            try:
                value = int(digits, base)
            except ValueError:
                raise ValueError("invalid syntax") from None
            if len(digits) != size or (base == 8 and value > 255):
                raise ValueError("invalid syntax")
            if esc in "uU":
                if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                    raise ValueError("invalid syntax")
                flush()
                out.append(chr(value))
            elif quote == "'":
                out.append(chr(value))
            else:
                raw.append(value)
        else:
            raise ValueError("invalid syntax")
    flush()
    result = "".join(out)
    if quote == "'" and len(result) != 1:
        raise ValueError("invalid syntax")
    return result
