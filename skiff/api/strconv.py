"""Go's ``strconv.Atoi`` / ``ParseInt(s, 10, 64)`` and ``time.ParseDuration``, as Kubernetes parses
numbers and durations kept in strings.

Annotations (a Deployment's revision, desired and max replicas, the rollback revision), an
IntOrString's string form and port names that may be numbers are all read by Kubernetes with
Go's parser: an optional sign and ASCII digits, nothing else, within 64 bits. Python's ``int()``
is laxer (surrounding whitespace, ``1_000``, other scripts' digits), so a value Kubernetes would
refuse would be taken; every such parse in skiff goes through :func:`atoi`. Durations
(``1h30m``, ``500ms``, ``-2s``; flags, ``@every``) go through :func:`parse_duration`, with Go's
error messages.
"""

from __future__ import annotations

import re

_DECIMAL = re.compile(r"[+-]?[0-9]+")
_INT64 = 1 << 63


def atoi(text: str) -> int | None:
    """The number ``text`` spells as Go reads it, or None when Go would fail (syntax or range)."""
    if not _DECIMAL.fullmatch(text):
        return None
    value = int(text)
    return value if -_INT64 <= value < _INT64 else None


_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_NANOS = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}


def _go_quote(text: str) -> str:
    """Go's time package quoting: double quotes, ``\\xNN`` for control and non-ASCII bytes."""
    out: list[str] = []
    for ch in text:
        if ch < " " or ord(ch) >= 0x80:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    return '"' + "".join(out) + '"'


def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration``, in seconds; a ValueError carries Go's message."""
    invalid = ValueError(f"time: invalid duration {_go_quote(text)}")
    rest = text[1:] if text[:1] in ("-", "+") else text
    if rest == "0":
        return 0.0
    if not rest:
        raise invalid
    total = 0
    while rest:
        match = _DURATION_PART.match(rest)
        assert match is not None  # every group may be empty
        whole, fraction, unit = match.groups()
        if not whole and not fraction:
            raise invalid
        if not unit:
            raise ValueError(f"time: missing unit in duration {_go_quote(text)}")
        if unit not in _NANOS:
            raise ValueError(f"time: unknown unit {_go_quote(unit)} in duration {_go_quote(text)}")
        total += int(whole or 0) * _NANOS[unit]
        if fraction:
            total += int(int(fraction) * (_NANOS[unit] / 10 ** len(fraction)))
        if total > 1 << 63:
            raise invalid
        rest = rest[match.end():]
    if text[:1] != "-" and total > (1 << 63) - 1:
        raise invalid
    return (-total if text[:1] == "-" else total) / 1e9
