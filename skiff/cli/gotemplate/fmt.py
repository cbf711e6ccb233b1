"""Go's fmt, as ``printf``, ``print``, ``println`` and an action's output use it.

``printf`` follows Go's fmt for the verbs ``v s d q x X o b c U t e E f F g G T %`` with flags,
width and precision, and its ``%!d(string=x)`` / ``%!d(MISSING)`` / ``%!(EXTRA ...)`` wording;
explicit argument indexes (``%[1]d``) are refused with a GoTemplateError.

``sprintf`` reads the directives, each into a ``Spec`` (flags, width, precision, and the padding
they ask for); ``format_value`` prints one argument for one verb (``v`` for print / println /
actions), maps with sorted keys and lists element by element, floats as ``strconv.FormatFloat``
does (the shortest round-tripping digits when there is no precision). Values are those of
``values``: ``go_type`` names them in ``%T`` and in the ``%!verb(type=value)`` of a bad verb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from skiff.api.validation import go_quote
from skiff.cli.gotemplate.errors import GoTemplateError
from skiff.cli.gotemplate.values import MISSING, go_type


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
class Spec:
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
    return f"%!{verb}({go_type(value)}={format_value('v', value, Spec())})"


def _int_text(n: int, verb: str, spec: Spec) -> str:
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


def format_value(verb: str, value: Any, spec: Spec) -> str:
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
    return format_value("v", value, Spec(sharp=True))


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
        spec = Spec()
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
        extra = ", ".join("<nil>" if a is None or a is MISSING else f"{go_type(a)}={format_value('v', a, Spec())}"
                          for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def sprint(args: Sequence[Any]) -> str:
    """``fmt.Sprint``: a space between two operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value("v", arg, Spec()))
    return "".join(out)


def sprintln(args: Sequence[Any]) -> str:
    return " ".join(format_value("v", a, Spec()) for a in args) + "\n"
