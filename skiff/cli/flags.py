"""Flag values and messages several skiffctl verbs share, parsed as kubectl parses them.

* Durations (``--timeout=30s``, ``1m30s``, ``500ms``, ``0``) are Go's ``time.ParseDuration``:
  a unit is required except for a bare ``0``, fractions and signs are allowed, and a bad value is
  kubectl's ``invalid argument "1" for "--timeout" flag: time: missing unit in duration "1"``.
  drain, rollout status, delete and wait all read their ``--timeout`` through :func:`duration_flag`.
* :data:`NO_RESOURCES` is cli-runtime's message for a verb given neither resources nor files.
"""

from __future__ import annotations

import json
import re

from skiff.api.strconv import atoi
from skiff.cli.context import UsageError

__all__ = ["NO_RESOURCES", "duration_flag", "go_duration", "request_timeout", "validate_flag"]

NO_RESOURCES = ("error: You must provide one or more resources by argument or filename.\n"
                "Example resource specifications include:\n"
                "   '-f rsrc.yaml'\n"
                "   '--filename=rsrc.json'\n"
                "   '<resource> <name>'\n"
                "   '<resource>'")

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


def go_duration(text: str) -> float:
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


def duration_flag(text: str, flag: str = "--timeout") -> float:
    """A duration flag's value in seconds, or kubectl's usage error naming the flag."""
    try:
        return go_duration(text)
    except ValueError as exc:
        raise UsageError(f"error: invalid argument {json.dumps(text)} for \"{flag}\" flag: {exc}") from None


DEFAULT_REQUEST_TIMEOUT_S = 30.0
_BAD_REQUEST_TIMEOUT = ("error: Invalid timeout value. Timeout must be a single integer in seconds, or an integer "
                        "followed by a corresponding time unit (e.g. 1s | 2m | 3h)")


def request_timeout(text: str) -> float | None:
    """``--request-timeout`` as client-go reads it: whole seconds or a Go duration; 0 is no
    timeout (None); not given, skiff's own 30 s."""
    if not text:
        return DEFAULT_REQUEST_TIMEOUT_S
    whole = atoi(text)
    try:
        seconds = float(whole) if whole is not None else go_duration(text)
    except ValueError:
        raise UsageError(_BAD_REQUEST_TIMEOUT) from None
    if seconds < 0:
        raise UsageError(_BAD_REQUEST_TIMEOUT)
    return seconds or None


_VALIDATE = {"strict": "strict", "true": "strict", "warn": "warn", "ignore": "ignore", "false": "ignore"}


def validate_flag(text: str) -> str:
    """``--validate`` as kubectl's GetValidationDirective reads it: strict, warn or ignore."""
    directive = _VALIDATE.get(text.lower())
    if directive is None:
        raise UsageError(f"error: invalid - validate option {json.dumps(text)}; must be one of: strict (or true), "
                         "warn, ignore (or false)")
    return directive
