"""The template's functions: Go's ``and or not len index slice eq ne lt le gt ge print printf
println html js urlquery`` plus kubectl's ``base64decode`` and ``exists``.

``FUNCTIONS`` are the names the parser accepts (``call`` among them, so that it is refused by name).
``and`` / ``or`` short-circuit, so the executor evaluates them itself; ``call`` runs any other on its
evaluated arguments, after the executor has checked their number against ``FIXED_ARGS`` /
``MIN_ARGS`` and the Go ``string`` parameters of ``STRING_PARAMS``. A function fails by raising
``Fail`` with Go's message, which the executor reports as ``error calling NAME: ...``. ``truth`` is
Go's ``isTrue``, which ``not``, ``and``, ``or``, ``if`` and ``with`` share.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Sequence
from typing import Any

from skiff.cli.gotemplate.errors import Fail
from skiff.cli.gotemplate.fmt import Spec, format_value, sprint, sprintf, sprintln
from skiff.cli.gotemplate.values import MISSING, Byte, GoInt, Nil, go_type, unwrap, wrap


def truth(value: Any) -> bool:
    """Go's ``isTrue``: empty values, zero, false, nil and missing are false."""
    if value is None or value is MISSING or isinstance(value, Nil):
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
        raise Fail("missing argument for comparison")
    k1 = _base_kind(first)
    for other in others:
        k2 = _base_kind(other)
        if k1 != k2:
            if _valid(first) and _valid(other):
                raise Fail("incompatible types for comparison")
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
        raise Fail(f"non-comparable type {format_value('s', other, Spec())}: {go_type(other)}")
    return False


def _valid(value: Any) -> bool:
    return value is not None and value is not MISSING


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _base_kind(a), _base_kind(b)
    if ka in ("invalid", "bool") or kb in ("invalid", "bool"):
        raise Fail("invalid type for comparison")
    if ka != kb:
        raise Fail("incompatible types for comparison")
    return bool(a < b)


def _index_arg(index: Any, cap: int) -> int:
    """Go's indexArg: an integer index in ``0..cap`` (``cap`` itself passes, as in Go)."""
    if index is None or index is MISSING:
        raise Fail("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise Fail(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > cap:
        raise Fail(f"index out of range: {index}")
    return int(index)


def _index(item: Any, *indexes: Any) -> Any:
    if isinstance(item, Nil) or not _valid(item):
        raise Fail("index of untyped nil")
    for index in indexes:
        if isinstance(item, Nil) or item is None:
            raise Fail("index of nil pointer")
        if isinstance(item, (list, str)):
            data = item.encode() if isinstance(item, str) else item
            x = _index_arg(index, len(data))
            if x == len(data):
                raise Fail(f"reflect: {'string' if isinstance(item, str) else 'slice'} index out of range")
            item = Byte(data[x]) if isinstance(data, bytes) else wrap(data[x])
        elif isinstance(item, dict):
            if index is None or index is MISSING:
                raise Fail("value is nil; should be of type string")
            if not isinstance(index, str):
                raise Fail(f"value has type {go_type(index)}; should be string")
            item = wrap(item.get(index))
        else:
            raise Fail(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if isinstance(item, Nil) or not _valid(item):
        raise Fail("slice of untyped nil")
    if len(indexes) > 3:
        raise Fail(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise Fail("cannot 3-index slice a string")
        data: Any = item.encode()
    elif isinstance(item, list):
        data = item
    else:
        raise Fail(f"can't slice item of type {go_type(item)}")
    bounds = [0, len(data)]
    for i, index in enumerate(indexes):
        x = _index_arg(index, len(data))
        if i < 2:
            bounds[i] = x
    if bounds[0] > bounds[1]:
        raise Fail(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > _index_arg(indexes[2], len(data)):
        raise Fail(f"invalid slice index: {bounds[1]} > {indexes[2]}")
    part = data[bounds[0]:bounds[1]]
    return part.decode("utf-8", "replace") if isinstance(part, bytes) else part


def _len(item: Any) -> int:
    if isinstance(item, Nil):
        raise Fail("len of nil pointer")
    if item is MISSING or item is None:
        raise Fail("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(item, str):
        return GoInt(len(item.encode()))
    if isinstance(item, (list, dict)):
        return GoInt(len(item))
    raise Fail(f"len of type {go_type(item)}")


def _exists(item: Any, *indices: Any) -> bool:
    """kubectl's ``exists``: whether ``index`` would find a non-nil value (true without indices)."""
    if not indices:
        return True
    value = item
    for index in indices:
        if not _valid(value) or isinstance(value, Nil):
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
    return _valid(value) and not isinstance(value, Nil)


_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _base64decode(text: str) -> str:
    """kubectl's base64decode: ``base64.StdEncoding`` (padding required, CR/LF skipped), with
    Go's ``illegal base64 data at input byte N``."""
    bad = _b64_corrupt_at(text)
    if bad is not None:
        raise Fail(f"base64 decode failed: illegal base64 data at input byte {bad}")
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


FUNCTIONS = frozenset({"and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt", "ge",
                       "print", "printf", "println", "html", "js", "urlquery", "call", "base64decode", "exists"})


FIXED_ARGS = {"not": 1, "len": 1, "base64decode": 1, "ne": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2}
MIN_ARGS = {"and": 1, "or": 1, "index": 1, "slice": 1, "eq": 1, "printf": 1, "exists": 1}


def call(name: str, args: list[Any]) -> Any:
    """A function other than and/or on evaluated arguments (MISSING for Go's invalid values)."""
    plain = [None if a is MISSING or isinstance(a, Nil) else a for a in args]
    if name == "not":
        return not truth(args[0])
    if name == "len":
        return _len(args[0])
    if name == "index":
        return _index(args[0], *[unwrap(a) for a in args[1:]])
    if name == "slice":
        return _slice(args[0], *[unwrap(a) for a in args[1:]])
    if name == "eq":
        return _eq(*[unwrap(a) for a in args])
    if name == "ne":
        return not _eq(unwrap(args[0]), unwrap(args[1]))
    if name in ("lt", "le", "gt", "ge"):
        a, b = unwrap(args[0]), unwrap(args[1])
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
    raise Fail(f"{name} is not supported")


STRING_PARAMS = {"printf": 0, "base64decode": 0}
"""Functions whose (first) parameter is a Go string rather than ``any``."""
