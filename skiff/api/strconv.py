"""Go's ``strconv.Atoi`` / ``ParseInt(s, 10, 64)``, as Kubernetes parses numbers kept in strings.

Annotations (a Deployment's revision, desired and max replicas, the rollback revision), an
IntOrString's string form and port names that may be numbers are all read by Kubernetes with
Go's parser: an optional sign and ASCII digits, nothing else, within 64 bits. Python's ``int()``
is laxer (surrounding whitespace, ``1_000``, other scripts' digits), so a value Kubernetes would
refuse would be taken; every such parse in skiff goes through :func:`atoi`.
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
