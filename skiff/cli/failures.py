"""How an API error reads on skiffctl's stderr: kubectl's CheckErr, in one place.

Most errors read ``Error from server (NotFound): pods "web" not found`` — the reason, then the
server's message, with ``error when creating "web.yaml": `` before it when a file was being
processed. An Invalid error is the exception, as in kubectl: it names the object and lists the
causes, ``The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be greater than
or equal to 0`` — several causes one per line after ``* `` — and says no file (kubectl drops it
because the object is named). The kind, name and causes come from the error's details, as
kubectl reads them from the Status; an Invalid error without them names what its message names
(``Binding "p" is invalid: ...``), and a message of any other form reads ``The request is invalid:
...``.
"""

from __future__ import annotations

import re

from skiff.api import errors
from skiff.api.validation import go_quote

__all__ = ["error_text"]

_INVALID = re.compile(r'^(?P<kind>[A-Za-z]+)(?:\.[a-z0-9.-]+)? (?P<name>"(?:[^"\\]|\\.)*") is invalid'
                      r"(?:: (?P<rest>.*))?$", re.DOTALL)


def error_text(exc: errors.StatusError, *, when: str = "") -> str:
    """The stderr line(s) for ``exc``; ``when`` is ``creating "web.yaml"`` while a file is processed."""
    if isinstance(exc, errors.Invalid):
        return _invalid_text(exc)
    prefix = f"error when {when}: " if when else ""
    return f"Error from server ({exc.reason}): {prefix}{exc}"


def _invalid_text(exc: errors.Invalid) -> str:
    if exc.kind or exc.name:
        return _named(exc.kind, go_quote(exc.name), list(exc.causes))
    match = _INVALID.match(exc.message)
    if match is None:
        return f"The request is invalid: {exc.message}"
    return _named(match["kind"], match["name"], [match["rest"]] if match["rest"] else [])


def _named(kind: str, quoted_name: str, causes: list[str]) -> str:
    head = f"The {kind} {quoted_name} is invalid"
    if not causes:
        return head
    if len(causes) == 1:
        return f"{head}: {causes[0]}"
    return f"{head}: \n" + "\n".join(f"* {cause}" for cause in causes)
