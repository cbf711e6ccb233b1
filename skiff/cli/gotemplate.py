"""kubectl's Go templates: ``-o go-template=...``, ``-o go-template-file=...`` (and their
``template`` / ``templatefile`` aliases), a subset of Go's ``text/template`` run on JSON data.

kubectl marshals the object to JSON and decodes it into ``map[string]interface{}`` (integers as
int64, other numbers as float64), then executes the template with ``missingkey=default``. This
module does the same with the plain dicts of ``skiff.api.manifest``, in three stages:

- ``_Lexer`` turns the source into tokens lazily, as Go's lexer does, so that an error early in
  the template is reported before a lexical error further on. It handles ``{{- `` / `` -}}`` trim
  markers, ``{{/* comments */}}``, strings with Go escapes, raw strings, rune and number literals.
- ``_Parser`` builds a small node tree (``_Text``, ``_Action``, ``_Branch`` for if / with / range,
  ``_Break`` / ``_Continue``; ``_Pipe`` of ``_Command`` of operands) and reports Go's parse errors
  (``unexpected "," in operand``, ``undefined variable "$x"``, ``function "f" not defined`` ...).
- ``_Exec`` walks the tree. A missing map key is Go's invalid value (``MISSING``), which prints
  as ``<no value>``; a JSON ``null`` met while walking a field chain is a nil interface (an error
  when a field of it is asked for). Execution errors name the node and its ``line:column`` the way
  Go does: ``template: output:1:11: executing "output" at <.metadata.name.x>: ...``.

Supported: fields and chains (``.a.b``, ``$x.a``, ``(pipeline).a``), ``$``, variable declaration
and assignment, ``if / else if / else``, ``with / else with / else``, ``range`` over lists and maps
(sorted keys) with one or two variables and ``else``, ``break`` / ``continue``, pipelines, Go
literals, and the functions ``and or not len index slice eq ne lt le gt ge print printf println
html js urlquery`` plus kubectl's ``base64decode`` and ``exists``. ``printf`` follows Go's fmt
for the verbs ``v s d q x X o b c U t e E f F g G T %`` with flags, width and precision, and its
``%!d(string=x)`` / ``%!d(MISSING)`` / ``%!(EXTRA ...)`` wording.

Not supported, with an error naming the construct: ``define``, ``template``, ``block``, the
``call`` function, complex numbers and explicit argument indexes (``%[1]d``) in ``printf``.
"""

from __future__ import annotations

import base64
import math
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from skiff.api.validation import go_quote

NAME = "output"
"""The template's name, as kubectl names it in its messages."""


class GoTemplateError(ValueError):
    """A template that does not parse or fails on the data; ``str()`` is Go's message."""


class ParseError(GoTemplateError):
    """``template: output:LINE: MESSAGE``."""


class ExecError(GoTemplateError):
    """``template: output:LINE:COL: executing "output" at <NODE>: MESSAGE``; ``output`` holds
    what the template had printed before it failed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class _Missing:
    """Go's invalid ``reflect.Value``: a map key that is not there. Prints as ``<no value>``."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class GoInt(int):
    """A template's integer literal (Go ``int``); plain Python ints are JSON's int64."""


class _Byte(int):
    """A byte of a string (``index "abc" 0``): Go ``uint8``."""


class _Nil:
    """A nil interface reached while walking a field chain (JSON ``null`` inside a map or list)."""


# ---- Go's fmt ----


def go_type(value: Any) -> str:
    """The Go type kubectl's decoded JSON has: ``%T`` and fmt's ``%!d(string=x)``."""
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, GoInt):
        return "int"
    if isinstance(value, _Byte):
        return "uint8"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return type(value).__name__


def _float_digits(value: float) -> tuple[str, int]:
    """The shortest round-tripping digits of ``abs(value)`` and its decimal exponent."""
    dec = Decimal(repr(abs(value)))
    sign, digits, exponent = dec.normalize().as_tuple()
    text = "".join(map(str, digits)) or "0"
    assert isinstance(exponent, int)
    return text, exponent + len(text) - 1


def _exp_text(mant: str, exp: int) -> str:
    return f"{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fmt_float(value: float, verb: str, prec: int | None, sharp: bool = False) -> str:
    """``strconv.FormatFloat`` for the verbs e E f F g G; ``prec`` None is the shortest form
    (``%v``: ``%g`` switching to an exponent below 1e-4 and from 1e+06 on, as Go's %v does)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    lower = verb.lower()
    if lower == "f":
        return sign + (format(Decimal(repr(abs(value))), "f") if prec is None else f"{abs(value):.{prec}f}")
    if lower == "e":
        if prec is None:
            digits, exp = _float_digits(value) if value else ("0", 0)
            out = _exp_text(digits[0] + ("." + digits[1:] if len(digits) > 1 else ""), exp)
        else:
            mant, _, e = f"{abs(value):.{prec}e}".partition("e")
            out = _exp_text(mant, int(e))
        return sign + (out.upper() if verb == "E" else out)
    if value == 0:
        return sign + "0"
    if prec is None:
        digits, exp = _float_digits(value)
        if exp < -4 or exp >= 6:
            out = _exp_text(digits[0] + ("." + digits[1:] if len(digits) > 1 else ""), exp)
        else:
            out = format(Decimal(repr(abs(value))).normalize(), "f")
    else:
        p = prec or 1
        mant, _, e = f"{abs(value):.{p - 1}e}".partition("e")
        exp = int(e)
        if exp < -4 or exp >= p:
            if "." in mant and not sharp:
                mant = mant.rstrip("0").rstrip(".")
            out = _exp_text(mant, exp)
        else:
            out = f"{abs(value):.{max(p - 1 - exp, 0)}f}"
            if "." in out and not sharp:
                out = out.rstrip("0").rstrip(".")
    return sign + (out.upper() if verb == "G" else out)


@dataclass
class _Spec:
    """One ``%`` directive's flags, width and precision."""

    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    prec: int | None = None

    def pad(self, text: str, numeric: bool = False) -> str:
        if self.width is None or len(text) >= self.width:
            return text
        if self.minus:
            return text.ljust(self.width)
        if self.zero and numeric:
            sign = text[0] if text[:1] in ("+", "-", " ") else ""
            return sign + text[len(sign):].rjust(self.width - len(sign), "0")
        if self.zero and not numeric:
            return text.rjust(self.width, "0")
        return text.rjust(self.width)


def _bad_verb(verb: str, value: Any) -> str:
    if value is None or value is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(value)}={format_value('v', value, _Spec())})"


def _int_text(n: int, verb: str, spec: _Spec) -> str:
    digits = abs(n)
    if verb == "d":
        body = str(digits)
    elif verb in "xX":
        body = format(digits, "x" if verb == "x" else "X")
        if spec.sharp:
            body = ("0x" if verb == "x" else "0X") + body
    elif verb == "o":
        body = format(digits, "o")
        if spec.sharp:
            body = "0" + body
    elif verb == "O":
        body = "0o" + format(digits, "o")
    else:
        body = format(digits, "b")
    if spec.prec is not None:
        body = body.rjust(spec.prec, "0") if spec.prec or n else ""
    sign = "-" if n < 0 else "+" if spec.plus else " " if spec.space else ""
    return spec.pad(sign + body, numeric=spec.prec is None)


def format_value(verb: str, value: Any, spec: _Spec) -> str:
    """One argument as Go's fmt prints it for ``verb`` (``v`` for print/println/actions)."""
    if verb == "T":
        return spec.pad(go_type(value))
    if value is None or value is MISSING:
        return spec.pad("<nil>") if verb == "v" else _bad_verb(verb, value)
    if isinstance(value, dict):
        if verb == "v" and spec.sharp:
            inner = ", ".join(f"{go_quote(k)}:{_sharp_v(value[k])}" for k in sorted(value))
            return "map[string]interface {}{" + inner + "}"
        return "map[" + " ".join(f"{format_value(verb, k, spec)}:{format_value(verb, value[k], spec)}"
                                 for k in sorted(value)) + "]"
    if isinstance(value, list):
        if verb == "v" and spec.sharp:
            return "[]interface {}{" + ", ".join(_sharp_v(v) for v in value) + "}"
        return "[" + " ".join(format_value(verb, v, spec) for v in value) + "]"
    if isinstance(value, bool):
        return spec.pad("true" if value else "false") if verb in "vt" else _bad_verb(verb, value)
    if isinstance(value, int):
        if verb in "vdxXobO":
            return _int_text(value, "d" if verb == "v" else verb, spec)
        if verb == "c":
            return spec.pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd")
        if verb == "q":
            return spec.pad(_quote_rune(value))
        if verb == "U":
            return spec.pad(f"U+{value:04X}" if value >= 0 else f"U+{value & 0xFFFFFFFFFFFFFFFF:X}")
        return _bad_verb(verb, value)
    if isinstance(value, float):
        if verb == "v":
            text = _fmt_float(value, "g", spec.prec)
        elif verb in "eEfFgG":
            text = _fmt_float(value, verb, 6 if spec.prec is None and verb not in "gG" else spec.prec, spec.sharp)
        elif verb in "xX" and spec.prec is None and math.isfinite(value):
            mant, _, exp = value.hex().partition("p")
            mant = mant.rstrip("0").rstrip(".") if "." in mant else mant
            text = f"{mant}p{exp[0]}{int(exp[1:]):02d}"
            text = text.upper() if verb == "X" else text
        else:
            return _bad_verb(verb, value)
        if spec.plus and not text.startswith("-"):
            text = "+" + text
        elif spec.space and not text.startswith("-"):
            text = " " + text
        return spec.pad(text, numeric=True)
    if isinstance(value, str):
        if verb in "vs":
            return spec.pad(value if spec.prec is None else value[:spec.prec])
        text = value if spec.prec is None else value[:spec.prec]
        if verb == "q":
            if spec.sharp and "`" not in text:
                return spec.pad("`" + text + "`")
            quoted = go_quote(text)
            if spec.plus:  # strconv.QuoteToASCII
                quoted = "".join(c if ord(c) < 0x80 else f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF
                                 else f"\\U{ord(c):08x}" for c in quoted)
            return spec.pad(quoted)
        if verb in "xX":
            hexed = text.encode().hex()
            return spec.pad(hexed.upper() if verb == "X" else hexed)
        return _bad_verb(verb, value)
    return spec.pad(str(value))


def _sharp_v(value: Any) -> str:
    if isinstance(value, str):
        return go_quote(value)
    if value is None or value is MISSING:
        return "interface {}(nil)"
    return format_value("v", value, _Spec(sharp=True))


def _quote_rune(n: int) -> str:
    if n == ord("'"):
        return "'\\''"
    text = go_quote(chr(n)) if 0 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF else '"\\ufffd"'
    return "'" + text[1:-1].replace('\\"', '"') + "'"


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    """Go's ``fmt.Sprintf`` for the verbs this module supports."""
    out: list[str] = []
    argi = 0
    i = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            j = fmt.find("%", i)
            j = n if j < 0 else j
            out.append(fmt[i:j])
            i = j
            continue
        i += 1
        spec = _Spec()
        while i < n and fmt[i] in "-+# 0":
            flag = fmt[i]
            spec.minus |= flag == "-"
            spec.plus |= flag == "+"
            spec.sharp |= flag == "#"
            spec.space |= flag == " "
            spec.zero |= flag == "0"
            i += 1
        if i < n and fmt[i] == "[":
            raise GoTemplateError("printf argument indexes (%[n]) are not supported")
        if i < n and fmt[i] == "*":
            i += 1
            if argi < len(args) and isinstance(args[argi], int) and not isinstance(args[argi], bool):
                spec.width = int(args[argi])
                if spec.width < 0:
                    spec.minus, spec.width = True, -spec.width
            else:
                out.append("%!(BADWIDTH)")
            argi += 1
        else:
            start = i
            while i < n and fmt[i].isdigit():
                i += 1
            if i > start:
                spec.width = int(fmt[start:i])
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                i += 1
                if argi < len(args) and isinstance(args[argi], int) and not isinstance(args[argi], bool):
                    spec.prec = int(args[argi])
                else:
                    out.append("%!(BADPREC)")
                argi += 1
            else:
                start = i
                while i < n and fmt[i].isdigit():
                    i += 1
                spec.prec = int(fmt[start:i] or "0")
        if spec.minus:
            spec.zero = False
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        if verb == "v" and spec.plus:
            spec.plus = False  # %+v adds field names to structs only
        if verb not in "vsdqxXobOcUteEfFgGT":
            out.append(_bad_verb(verb, arg))
            continue
        out.append(format_value(verb, arg, spec))
    if argi < len(args):
        extra = ", ".join("<nil>" if a is None or a is MISSING else f"{go_type(a)}={format_value('v', a, _Spec())}"
                          for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def sprint(args: Sequence[Any]) -> str:
    """``fmt.Sprint``: a space between two operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value("v", arg, _Spec()))
    return "".join(out)


def sprintln(args: Sequence[Any]) -> str:
    return " ".join(format_value("v", a, _Spec()) for a in args) + "\n"


# ---- lexer ----

_SPACE = " \t\r\n"
_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template", "with"}


@dataclass(frozen=True)
class _Tok:
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


class _Lexer:
    """Tokens on demand; a lexical error raises when the parser reaches it, as in Go."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.paren = 0
        self.tokens = self._run()

    def _error(self, message: str) -> ParseError:
        return ParseError(f"template: {NAME}:{self.line}: {message}")

    def _tok(self, kind: str, start: int, end: int, line: int | None = None) -> _Tok:
        return _Tok(kind, self.text[start:end], start, self.line if line is None else line)

    def _run(self) -> Iterator[_Tok]:
        text = self.text
        while True:
            start = self.pos
            j = text.find("{{", start)
            if j < 0:
                if start < len(text):
                    yield self._tok("text", start, len(text))
                    self.line += text.count("\n", start)
                yield _Tok("eof", "", len(text), self.line)
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
            yield _Tok("left", "{{", j, self.line)
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

    def _action(self) -> Iterator[_Tok]:
        text = self.text
        while True:
            delim, trim = self._at_right()
            if delim:
                if self.paren:
                    raise self._error("unclosed left paren")
                yield _Tok("right", "}}", self.pos, self.line)
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

    def _field_or_var(self, kind: str, start: int) -> _Tok:
        if self._at_terminator():
            return self._tok("dot" if kind == "field" else "variable", start, self.pos)
        while self.pos < len(self.text) and _is_alnum(self.text[self.pos]):
            self.pos += 1
        if not self._at_terminator():
            raise self._error(f"bad character {_sharp_u(self.text[self.pos])}")
        return self._tok(kind, start, self.pos)

    def _quoted(self, start: int) -> _Tok:
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

    def _char(self, start: int) -> _Tok:
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

    def _number(self, start: int) -> _Tok:
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


def _unquote(lit: str) -> str:
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


# ---- the tree ----


@dataclass
class _Node:
    pos: int

    def text(self) -> str:  # Go's Node.String(): how an error names the node
        raise NotImplementedError


@dataclass
class _Literal(_Node):
    source: str
    value: Any  # str, GoInt, float, bool, or None for nil

    def text(self) -> str:
        return self.source


@dataclass
class _DotNode(_Node):
    def text(self) -> str:
        return "."


@dataclass
class _FieldNode(_Node):
    names: list[str]

    def text(self) -> str:
        return "".join("." + n for n in self.names)


@dataclass
class _VarNode(_Node):
    name: str  # "$", "$x"
    names: list[str] = field(default_factory=list)

    def text(self) -> str:
        return self.name + "".join("." + n for n in self.names)


@dataclass
class _IdentNode(_Node):
    name: str

    def text(self) -> str:
        return self.name


@dataclass
class _Command(_Node):
    args: list[_Node]

    def text(self) -> str:
        return " ".join(f"({a.text()})" if isinstance(a, _Pipe) else a.text() for a in self.args)


@dataclass
class _Pipe(_Node):
    decl: list[str]
    assign: bool
    cmds: list[_Command]

    def text(self) -> str:
        head = ", ".join(self.decl) + (" = " if self.assign else " := ") if self.decl else ""
        return head + " | ".join(c.text() for c in self.cmds)


@dataclass
class _ChainNode(_Node):
    node: _Node
    names: list[str]

    def text(self) -> str:
        inner = f"({self.node.text()})" if isinstance(self.node, _Pipe) else self.node.text()
        return inner + "".join("." + n for n in self.names)


@dataclass
class _Text(_Node):
    value: str


@dataclass
class _Action(_Node):
    pipe: _Pipe


@dataclass
class _Branch(_Node):
    """if / with / range: the pipeline, the body, and the else body (an ``else if`` is a nested
    branch in it)."""

    keyword: str
    pipe: _Pipe
    body: list[_Node]
    otherwise: list[_Node] | None


@dataclass
class _Break(_Node):
    pass


@dataclass
class _Continue(_Node):
    pass


FUNCTIONS = frozenset({"and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt", "ge",
                       "print", "printf", "println", "html", "js", "urlquery", "call", "base64decode", "exists"})


# ---- parser ----


class _Parser:
    def __init__(self, text: str) -> None:
        self.lexer = _Lexer(text)
        self.ahead: list[_Tok] = []
        self.line = 1
        self.vars: list[str] = ["$"]
        self.range_depth = 0

    # tokens
    def next(self) -> _Tok:
        tok = self.ahead.pop() if self.ahead else next(self.lexer.tokens)
        self.line = tok.line
        return tok

    def backup(self, tok: _Tok) -> None:
        self.ahead.append(tok)

    def peek(self) -> _Tok:
        tok = self.next()
        self.backup(tok)
        return tok

    def next_non_space(self) -> _Tok:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def peek_non_space(self) -> _Tok:
        tok = self.next_non_space()
        self.backup(tok)
        return tok

    def error(self, message: str) -> ParseError:
        return ParseError(f"template: {NAME}:{self.line}: {message}")

    def unexpected(self, tok: _Tok, context: str) -> ParseError:
        return self.error(f"unexpected {tok} in {context}")

    # structure
    def parse(self) -> list[_Node]:
        return self.item_list(top=True)[0]

    def item_list(self, top: bool = False) -> tuple[list[_Node], str]:
        """Nodes up to ``{{end}}`` / ``{{else}}`` (returned as the stop word; after an ``else``
        followed by ``if`` / ``with`` that keyword is left pending) or, at the top, EOF."""
        nodes: list[_Node] = []
        while True:
            tok = self.next()
            if tok.kind == "eof":
                if top:
                    return nodes, "eof"
                raise self.error("unexpected EOF")
            if tok.kind == "text":
                nodes.append(_Text(tok.pos, tok.val))
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

    def action(self) -> _Node:
        tok = self.next_non_space()
        if tok.kind == "keyword":
            if tok.val in ("if", "with", "range"):
                return self.branch(tok)
            if tok.val in ("break", "continue"):
                self.expect_right(f"{{{{{tok.val}}}}}")
                if not self.range_depth:
                    raise self.error(f"{{{{{tok.val}}}}} outside {{{{range}}}}")
                return _Break(tok.pos) if tok.val == "break" else _Continue(tok.pos)
            if tok.val in ("define", "template", "block"):
                raise self.error(f"{{{{{tok.val}}}}} is not supported by skiffctl's go-template printer")
        self.backup(tok)
        return _Action(tok.pos, self.pipeline("command", "right"))

    def branch(self, keyword: _Tok) -> _Node:
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
        otherwise: list[_Node] | None = None
        if stop == "else":
            pending = self.peek_non_space()
            if kind in ("if", "with") and pending.kind == "keyword" and pending.val == kind:
                otherwise = [self.branch(self.next_non_space())]
            else:
                otherwise, stop = self.item_list()
                if stop != "end":
                    raise self.error("expected end; found {{else}}")
        del self.vars[depth:]
        return _Branch(keyword.pos, kind, pipe, body, otherwise)

    def pipeline(self, context: str, end: str) -> _Pipe:
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
        cmds: list[_Command] = []
        while True:
            tok = self.next_non_space()
            if tok.kind == end:
                if not cmds:
                    raise self.error(f"missing value for {context}")
                for i, cmd in enumerate(cmds[1:]):
                    if isinstance(cmd.args[0], (_Literal, _DotNode)):
                        raise self.error(f"non executable command in pipeline stage {i + 2}")
                return _Pipe(start.pos, decl, assign, cmds)
            if tok.kind in ("bool", "char", "dot", "field", "ident", "number", "nil", "raw", "string",
                            "variable", "lparen"):
                self.backup(tok)
                cmds.append(self.command())
            else:
                raise self.unexpected(tok, context)

    def command(self) -> _Command:
        cmd = _Command(self.peek_non_space().pos, [])
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

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == "field":
            pos = self.peek().pos
            names: list[str] = []
            while self.peek().kind == "field":
                names.append(self.next().val[1:])
            if isinstance(node, _FieldNode):
                return _FieldNode(pos, node.names + names)
            if isinstance(node, _VarNode):
                return _VarNode(pos, node.name, node.names + names)
            if isinstance(node, (_Literal, _DotNode)):
                raise self.error(f"unexpected . after term {go_quote(node.text())}")
            return _ChainNode(pos, node, names)
        return node

    def term(self) -> _Node | None:
        tok = self.next_non_space()
        kind = tok.kind
        if kind == "ident":
            if tok.val not in FUNCTIONS:
                raise self.error(f"function {go_quote(tok.val)} not defined")
            if tok.val == "call":
                raise self.error("the call function is not supported by skiffctl's go-template printer")
            return _IdentNode(tok.pos, tok.val)
        if kind == "dot":
            return _DotNode(tok.pos)
        if kind == "nil":
            return _Literal(tok.pos, "nil", None)
        if kind == "variable":
            name = tok.val.partition(".")[0]
            if name not in self.vars:
                raise self.error(f"undefined variable {go_quote(name)}")
            return _VarNode(tok.pos, name)
        if kind == "field":
            return _FieldNode(tok.pos, [tok.val[1:]])
        if kind == "bool":
            return _Literal(tok.pos, tok.val, tok.val == "true")
        if kind in ("number", "char"):
            return _Literal(tok.pos, tok.val, self.number(tok))
        if kind == "lparen":
            return self.pipeline("parenthesized pipeline", "rparen")
        if kind in ("string", "raw"):
            try:
                return _Literal(tok.pos, tok.val, _unquote(tok.val))
            except ValueError as exc:
                raise self.error(str(exc)) from None
        self.backup(tok)
        return None

    def number(self, tok: _Tok) -> Any:
        """A number or rune literal as Go's parse.NumberNode reads it."""
        text = tok.val
        if tok.kind == "char":
            if text[1:2] != "\\" and len(text) > 3:
                raise self.error(f"malformed character constant: {text}")
            try:
                return GoInt(ord(_unquote(text)))
            except ValueError as exc:
                raise self.error(str(exc)) from None
        if text.endswith("i"):
            raise self.error(f"complex number {text} is not supported by skiffctl's go-template printer")
        value = _parse_int(text)
        if value is not None:
            if value >= 1 << 64 or value < -(1 << 63):
                raise self.error(f"integer overflow: {go_quote(text)}")
            return _Overflow(text) if value >= 1 << 63 else GoInt(value)
        parsed = _parse_float(text)
        if parsed is None or math.isinf(parsed):
            raise self.error(f"illegal number syntax: {go_quote(text)}")
        return parsed


@dataclass(frozen=True)
class _Overflow:
    """An unsigned literal too large for Go's int: an error when it is evaluated."""

    text: str


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


# ---- execution ----


class _BreakSignal(Exception):
    pass


class _ContinueSignal(Exception):
    pass


class _Fail(Exception):
    """An execution error; wrapped with the location of the node being evaluated."""


def _truth(value: Any) -> bool:
    """Go's ``isTrue``: empty values, zero, false, nil and missing are false."""
    if value is None or value is MISSING or isinstance(value, _Nil):
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return bool(value)


def _base_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "invalid"


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise _Fail("missing argument for comparison")
    k1 = _base_kind(first)
    for other in others:
        k2 = _base_kind(other)
        if k1 != k2:
            if _valid(first) and _valid(other):
                raise _Fail("incompatible types for comparison")
            continue
        if k1 != "invalid":
            if first == other:
                return True
            continue
        a_nil, b_nil = not _valid(first), not _valid(other)
        if a_nil or b_nil:
            if a_nil == b_nil:
                return True
            continue
        raise _Fail(f"non-comparable type {format_value('s', other, _Spec())}: {go_type(other)}")
    return False


def _valid(value: Any) -> bool:
    return value is not None and value is not MISSING


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _base_kind(a), _base_kind(b)
    if ka in ("invalid", "bool") or kb in ("invalid", "bool"):
        raise _Fail("invalid type for comparison")
    if ka != kb:
        raise _Fail("incompatible types for comparison")
    return bool(a < b)


def _index_arg(index: Any, cap: int) -> int:
    """Go's indexArg: an integer index in ``0..cap`` (``cap`` itself passes, as in Go)."""
    if index is None or index is MISSING:
        raise _Fail("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise _Fail(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > cap:
        raise _Fail(f"index out of range: {index}")
    return int(index)


def _index(item: Any, *indexes: Any) -> Any:
    if isinstance(item, _Nil) or not _valid(item):
        raise _Fail("index of untyped nil")
    for index in indexes:
        if isinstance(item, _Nil) or item is None:
            raise _Fail("index of nil pointer")
        if isinstance(item, (list, str)):
            data = item.encode() if isinstance(item, str) else item
            x = _index_arg(index, len(data))
            if x == len(data):
                raise _Fail(f"reflect: {'string' if isinstance(item, str) else 'slice'} index out of range")
            item = _Byte(data[x]) if isinstance(data, bytes) else _wrap(data[x])
        elif isinstance(item, dict):
            if index is None or index is MISSING:
                raise _Fail("value is nil; should be of type string")
            if not isinstance(index, str):
                raise _Fail(f"value has type {go_type(index)}; should be string")
            item = _wrap(item.get(index))
        else:
            raise _Fail(f"can't index item of type {go_type(item)}")
    return item


def _wrap(value: Any) -> Any:
    """A value read out of a map or list: JSON null is a nil interface there."""
    return _Nil() if value is None else value


def _unwrap(value: Any) -> Any:
    """What Go's pipeline does after each command: an interface holding nil becomes invalid."""
    return MISSING if isinstance(value, _Nil) else value


def _slice(item: Any, *indexes: Any) -> Any:
    if isinstance(item, _Nil) or not _valid(item):
        raise _Fail("slice of untyped nil")
    if len(indexes) > 3:
        raise _Fail(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _Fail("cannot 3-index slice a string")
        data: Any = item.encode()
    elif isinstance(item, list):
        data = item
    else:
        raise _Fail(f"can't slice item of type {go_type(item)}")
    bounds = [0, len(data)]
    for i, index in enumerate(indexes):
        x = _index_arg(index, len(data))
        if i < 2:
            bounds[i] = x
    if bounds[0] > bounds[1]:
        raise _Fail(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > _index_arg(indexes[2], len(data)):
        raise _Fail(f"invalid slice index: {bounds[1]} > {indexes[2]}")
    part = data[bounds[0]:bounds[1]]
    return part.decode("utf-8", "replace") if isinstance(part, bytes) else part


def _len(item: Any) -> int:
    if isinstance(item, _Nil):
        raise _Fail("len of nil pointer")
    if item is MISSING or item is None:
        raise _Fail("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(item, str):
        return GoInt(len(item.encode()))
    if isinstance(item, (list, dict)):
        return GoInt(len(item))
    raise _Fail(f"len of type {go_type(item)}")


def _exists(item: Any, *indices: Any) -> bool:
    """kubectl's ``exists``: whether ``index`` would find a non-nil value (true without indices)."""
    if not indices:
        return True
    value = item
    for index in indices:
        if not _valid(value) or isinstance(value, _Nil):
            return False
        if isinstance(value, (list, str)):
            if isinstance(index, bool) or not isinstance(index, int):
                return False
            size = len(value.encode()) if isinstance(value, str) else len(value)
            if not 0 <= index < size:
                return False
            value = value.encode()[index] if isinstance(value, str) else value[index]
        elif isinstance(value, dict):
            if not isinstance(index, str):
                return False
            value = value.get(index)
        else:
            return False
    return _valid(value) and not isinstance(value, _Nil)


_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _base64decode(text: str) -> str:
    """kubectl's base64decode: ``base64.StdEncoding`` (padding required, CR/LF skipped), with
    Go's ``illegal base64 data at input byte N``."""
    bad = _b64_corrupt_at(text)
    if bad is not None:
        raise _Fail(f"base64 decode failed: illegal base64 data at input byte {bad}")
    data = base64.b64decode(text.replace("\r", "").replace("\n", "").encode())
    return data.decode("utf-8", "replace")


def _b64_corrupt_at(src: str) -> int | None:
    """Where Go's decoder reports corrupt input, or None when the input decodes."""
    si, n = 0, len(src)
    while True:
        j = 0
        while j < 4:
            if si == n:
                return None if j == 0 else si - j
            ch = src[si]
            si += 1
            if ch in _B64:
                j += 1
                continue
            if ch in "\r\n":
                continue
            if ch != "=" or j < 2:
                return si - 1
            if j == 2:  # a second "=" must follow
                while si < n and src[si] in "\r\n":
                    si += 1
                if si == n:
                    return n
                if src[si] != "=":
                    return si - 1
                si += 1
            while si < n and src[si] in "\r\n":
                si += 1
            return si if si < n else None
        if si == n:
            return None


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("\0", "\ufffd"))


def _js(text: str) -> str:
    """``template.JSEscapeString``."""
    out = []
    for ch in text:
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=" or ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) >= 0x80 and not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _text_of(args: Sequence[Any]) -> str:
    """html / js / urlquery: one string argument as it is, otherwise ``fmt.Sprint`` of all."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(args)


_FIXED_ARGS = {"not": 1, "len": 1, "base64decode": 1, "ne": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2}
_MIN_ARGS = {"and": 1, "or": 1, "index": 1, "slice": 1, "eq": 1, "printf": 1, "exists": 1}


def _call(name: str, args: list[Any]) -> Any:
    """A function other than and/or on evaluated arguments (MISSING for Go's invalid values)."""
    plain = [None if a is MISSING or isinstance(a, _Nil) else a for a in args]
    if name == "not":
        return not _truth(args[0])
    if name == "len":
        return _len(args[0])
    if name == "index":
        return _index(args[0], *[_unwrap(a) for a in args[1:]])
    if name == "slice":
        return _slice(args[0], *[_unwrap(a) for a in args[1:]])
    if name == "eq":
        return _eq(*[_unwrap(a) for a in args])
    if name == "ne":
        return not _eq(_unwrap(args[0]), _unwrap(args[1]))
    if name in ("lt", "le", "gt", "ge"):
        a, b = _unwrap(args[0]), _unwrap(args[1])
        less = _lt(a, b)
        if name == "lt":
            return less
        less_eq = less or _eq(a, b)
        return {"le": less_eq, "gt": not less_eq, "ge": not less}[name]
    if name == "print":
        return sprint(plain)
    if name == "println":
        return sprintln(plain)
    if name == "printf":
        return sprintf(str(plain[0]), plain[1:])
    if name == "html":
        return _html(_text_of(plain))
    if name == "js":
        return _js(_text_of(plain))
    if name == "urlquery":
        return urllib.parse.quote_plus(_text_of(plain), safe="")
    if name == "base64decode":
        return _base64decode(str(plain[0]))
    if name == "exists":
        return _exists(plain[0], *plain[1:])
    raise _Fail(f"{name} is not supported")


_STRING_PARAMS = {"printf": 0, "base64decode": 0}
"""Functions whose (first) parameter is a Go string rather than ``any``."""


@dataclass
class _Frame:
    name: str
    value: Any
    wrapped: bool = False
    """Whether the value sits in an ``interface{}`` (a range element): errors then name that type."""


class _Exec:
    """One execution: the output so far, the variable stack and the node being evaluated (which
    an error names, as Go's ``state.at`` does)."""

    def __init__(self, source: str, root: Any) -> None:
        self.source = source
        self.out: list[str] = []
        self.vars: list[_Frame] = [_Frame("$", root)]
        self.node: _Node | None = None
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

    def at(self, node: _Node) -> None:
        self.node = node

    # ---- statements ----

    def walk(self, dot: Any, nodes: Sequence[_Node]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.value)
            elif isinstance(node, _Action):
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append(_print_value(value))
            elif isinstance(node, _Branch):
                self.branch(dot, node)
            elif isinstance(node, _Break):
                raise _BreakSignal
            elif isinstance(node, _Continue):
                raise _ContinueSignal

    def walk_in(self, dot: Any, wrapped: bool, nodes: Sequence[_Node]) -> None:
        saved, self.dot_wrapped = self.dot_wrapped, wrapped
        try:
            self.walk(dot, nodes)
        finally:
            self.dot_wrapped = saved

    def branch(self, dot: Any, node: _Branch) -> None:
        depth = len(self.vars)
        try:
            if node.keyword == "range":
                self.walk_range(dot, node)
                return
            value = self.pipeline(dot, node.pipe)
            if _truth(value):
                if node.keyword == "with":
                    self.walk_in(value, False, node.body)
                else:
                    self.walk(dot, node.body)
            elif node.otherwise is not None:
                self.walk(dot, node.otherwise)
        finally:
            del self.vars[depth:]

    def walk_range(self, dot: Any, node: _Branch) -> None:
        self.at(node)
        value = self.pipeline(dot, node.pipe, declare=False)
        items: list[tuple[Any, Any]]
        if isinstance(value, list):
            items = [(GoInt(i), _wrap(v)) for i, v in enumerate(value)]
        elif isinstance(value, dict):
            items = [(k, _wrap(value[k])) for k in sorted(value)]
        elif value is MISSING:
            items = []
        else:
            raise self.fail(f"range can't iterate over {format_value('v', value, _Spec())}")
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
            except _ContinueSignal:
                continue
            except _BreakSignal:
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

    def pipeline(self, dot: Any, pipe: _Pipe, declare: bool = True) -> Any:
        """The pipeline's value, unwrapped after each command as Go does (a nil interface becomes
        ``MISSING``); its variables are declared or assigned unless ``declare`` is off (range)."""
        self.at(pipe)
        value: Any = _NO_FINAL
        for cmd in pipe.cmds:
            value = _unwrap(self.command(dot, cmd, value))
        if declare:
            for name in pipe.decl:
                self.set_var(name, value, pipe.assign)
        return value

    def command(self, dot: Any, cmd: _Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _FieldNode):
            self.at(first)
            return self.field_chain(dot, first.names, cmd.args, final, self.dot_wrapped)
        if isinstance(first, _VarNode):
            self.at(first)
            frame = self.var(first.name)
            if not first.names:
                self.not_a_function(cmd.args, final)
                return frame.value
            return self.field_chain(frame.value, first.names, cmd.args, final, frame.wrapped)
        if isinstance(first, _ChainNode):
            self.at(first)
            receiver = self.arg_value(dot, first.node)
            return self.field_chain(receiver, first.names, cmd.args, final, False)
        if isinstance(first, _IdentNode):
            return self.function(dot, first, cmd, final)
        if isinstance(first, _Pipe):
            self.not_a_function(cmd.args, final)
            return self.pipeline(dot, first)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, _DotNode):
            return dot
        assert isinstance(first, _Literal)
        if first.source == "nil":
            raise self.fail("nil is not a command")
        return self.literal(first)

    def literal(self, node: _Literal) -> Any:
        if isinstance(node.value, _Overflow):
            raise self.fail(f"{node.source} overflows int")
        return node.value

    def not_a_function(self, args: Sequence[_Node], final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            raise self.fail(f"can't give argument to non-function {args[0].text()}")

    def field_chain(self, receiver: Any, names: Sequence[str], args: Sequence[_Node], final: Any,
                    wrapped: bool) -> Any:
        value = receiver
        for i, name in enumerate(names):
            has_args = i == len(names) - 1 and (len(args) > 1 or final is not _NO_FINAL)
            value = self.field(value, name, has_args, wrapped if i == 0 else True)
        return value

    def field(self, receiver: Any, name: str, has_args: bool, wrapped: bool) -> Any:
        if receiver is MISSING:
            return MISSING
        if isinstance(receiver, _Nil):
            raise self.fail(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, dict):
            if has_args:
                raise self.fail(f"{name} is not a method but has arguments")
            return _wrap(receiver[name]) if name in receiver else MISSING
        typ = "interface {}" if wrapped else go_type(receiver)
        raise self.fail(f"can't evaluate field {name} in type {typ}")

    def function(self, dot: Any, ident: _IdentNode, cmd: _Command, final: Any) -> Any:
        self.at(ident)
        name = ident.name
        arg_nodes = cmd.args[1:]
        count = len(arg_nodes) + (0 if final is _NO_FINAL else 1)
        if name in _FIXED_ARGS and count != _FIXED_ARGS[name]:
            raise self.fail(f"wrong number of args for {name}: want {_FIXED_ARGS[name]} got {count}")
        if count < _MIN_ARGS.get(name, 0):
            raise self.fail(f"wrong number of args for {name}: want at least {_MIN_ARGS[name]} got {len(arg_nodes)}")
        if name in ("and", "or"):  # short-circuit: the first falsy (and) / truthy (or) argument
            value: Any = MISSING
            for node in arg_nodes:
                value = _unwrap(self.arg_value(dot, node))
                if _truth(value) == (name == "or"):
                    return value
            return value if final is _NO_FINAL else final
        values = [self.typed_arg(dot, node, name, i) for i, node in enumerate(arg_nodes)]
        if final is not _NO_FINAL:
            values.append(self.check_string(final) if _STRING_PARAMS.get(name) == len(values) else final)
        try:
            return _call(name, values)
        except (_Fail, GoTemplateError) as exc:
            self.at(cmd)
            raise self.fail(f"error calling {name}: {exc}") from None

    def typed_arg(self, dot: Any, node: _Node, name: str, i: int) -> Any:
        """An argument; a Go ``string`` parameter (printf's format, base64decode's input) is
        checked as Go's evalArg checks it."""
        if _STRING_PARAMS.get(name) != i:
            return self.arg_value(dot, node)
        self.at(node)
        if isinstance(node, _Literal):
            if isinstance(node.value, str):
                return node.value
            raise self.fail(f"expected string; found {node.text()}")
        return self.check_string(self.arg_value(dot, node))

    def check_string(self, value: Any) -> str:
        if value is MISSING:
            raise self.fail("invalid value; expected string")
        if isinstance(value, str):
            return value
        typ = "interface {}" if isinstance(value, _Nil) else go_type(value)
        raise self.fail(f"wrong type for value; expected string; got {typ}")

    def arg_value(self, dot: Any, node: _Node) -> Any:
        self.at(node)
        if isinstance(node, _DotNode):
            return dot
        if isinstance(node, _Literal):
            return self.literal(node)
        if isinstance(node, _FieldNode):
            return self.field_chain(dot, node.names, [node], _NO_FINAL, self.dot_wrapped)
        if isinstance(node, _VarNode):
            frame = self.var(node.name)
            return self.field_chain(frame.value, node.names, [node], _NO_FINAL, frame.wrapped)
        if isinstance(node, _Pipe):
            return self.pipeline(dot, node)
        if isinstance(node, _ChainNode):
            receiver = self.arg_value(dot, node.node)
            return self.field_chain(receiver, node.names, [node], _NO_FINAL, False)
        assert isinstance(node, _IdentNode)
        return self.function(dot, node, _Command(node.pos, [node]), _NO_FINAL)


_NO_FINAL: Any = object()
"""No value piped into a command (its first one)."""


def _print_value(value: Any) -> str:
    if value is MISSING or isinstance(value, _Nil):
        return "<no value>"
    return format_value("v", value, _Spec())


@dataclass(frozen=True)
class GoTemplate:
    """A parsed template; ``execute`` runs it on JSON data and returns the text it prints."""

    source: str
    nodes: tuple[_Node, ...]

    @classmethod
    def parse(cls, source: str) -> GoTemplate:
        return cls(source, tuple(_Parser(source).parse()))

    def execute(self, data: Any) -> str:
        state = _Exec(self.source, data)
        try:
            state.walk(data, list(self.nodes))
        except (_BreakSignal, _ContinueSignal):  # pragma: no cover - the parser forbids them outside range
            pass
        except GoTemplateError as exc:
            if isinstance(exc, ExecError):
                exc.output = "".join(state.out)
                raise
            raise state.fail(str(exc)) from None
        return "".join(state.out)


def go_json(data: Any) -> str:
    """Compact JSON as Go's ``encoding/json`` writes it (``<``, ``>``, ``&`` escaped)."""
    import json

    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def debug_dump(source: str, data: Any, error: ExecError) -> str:
    """What kubectl writes to stdout after a failed execution (before its ``error:`` line)."""
    return (f"Error executing template: {error}. Printing more information for debugging the template:\n"
            f"\ttemplate was:\n\t\t{source}\n"
            f"\traw data was:\n\t\t{go_json(data)}\n"
            f"\tobject given to template engine was:\n\t\t{format_value('v', data, _Spec())}\n\n")

