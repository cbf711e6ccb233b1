"""Timestamps as the API writes them: RFC 3339 in UTC with second precision, like Kubernetes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_after(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
