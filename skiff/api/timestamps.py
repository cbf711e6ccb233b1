"""Points in time as the API writes them, made and read in one place.

Kubernetes has two wire forms, both RFC 3339 in UTC with a ``Z``:

* ``metav1.Time`` (creationTimestamp, conditions, container states, Events' first/lastTimestamp)
  has second precision: ``2026-11-27T16:53:07Z`` — :func:`rfc3339`;
* ``metav1.MicroTime`` (a Lease's acquire/renew times, an Event's eventTime, and the CRI log
  lines the kubelet writes) has microseconds: ``2026-11-27T16:53:07.123456Z`` — :func:`rfc3339_micro`.

Both take a ``datetime`` (any zone; naive means UTC), Unix seconds, or nothing for now.
:func:`parse_rfc3339` reads an RFC 3339 stamp as strictly as ``metav1.Time`` does (Go's
``time.RFC3339``, ``2006-01-02T15:04:05Z07:00``): a full date and time with seconds, ``T`` or
``t`` between them, any number of fraction digits after a ``.`` (Docker writes nanoseconds), and
a zone, ``Z`` or ``±hh:mm``, always. It answers None for an empty or malformed one — a bare date,
a time without seconds or without a zone included — because an unset time is common in the API
and every reader treats it as "not known". It is cached: the printers parse the same stamps of a
listing again and again.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["epoch_seconds", "go_duration", "parse_rfc3339", "rfc3339", "rfc3339_micro"]

Moment = datetime | float | None

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)", re.ASCII)
"""The shape Go's ``time.RFC3339`` parses; the ranges of the date and time are datetime's to check."""


def _utc(moment: Moment) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if isinstance(moment, datetime):
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return datetime.fromtimestamp(moment, UTC)


def rfc3339(moment: Moment = None) -> str:
    """``metav1.Time``: ``2026-11-27T16:53:07Z`` (now when ``moment`` is None)."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(moment: Moment = None) -> str:
    """``metav1.MicroTime``: ``2026-11-27T16:53:07.123456Z`` (now when ``moment`` is None)."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@lru_cache(maxsize=4096)
def parse_rfc3339(text: str) -> datetime | None:
    """The aware datetime of an RFC 3339 stamp; None when empty or malformed (see the module docstring).

    Fractions beyond microseconds are cut off.
    """
    if not _RFC3339.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # a month, day, hour, ... out of range
        return None


def epoch_seconds(text: str) -> float | None:
    """Unix seconds of an RFC 3339 stamp; None when empty or malformed."""
    parsed = parse_rfc3339(text)
    return parsed.timestamp() if parsed is not None else None


def go_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String()``: ``10s``, ``20.064s``, ``1m30s``, ``1h0m0s``, ``500ms``, ``0s``."""
    sign, left = ("-" if nanoseconds < 0 else ""), abs(nanoseconds)
    if left < 1_000_000_000:
        if left == 0:
            return "0s"
        if left < 1000:
            return f"{sign}{left}ns"
        unit, scale = ("µs", 1000) if left < 1_000_000 else ("ms", 1_000_000)
        return sign + _with_fraction(left, scale) + unit
    seconds = left // 1_000_000_000
    text = _with_fraction(left % 60_000_000_000, 1_000_000_000) + "s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m" + text
        if minutes // 60:
            text = f"{minutes // 60}h" + text
    return sign + text


def _with_fraction(value: int, scale: int) -> str:
    """``value / scale`` with the fraction's trailing zeros dropped (Go's fmtFrac)."""
    whole, fraction = divmod(value, scale)
    digits = str(fraction).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)
