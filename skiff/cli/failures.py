"""How a failure reads on skiffctl's stderr: kubectl's CheckErr, in one place.

``failure_text`` covers every failure a verb may end with (``FAILURES``): a command-line mistake
(``UsageError``, its text as it is), an apiserver that cannot be reached (``error: ...``), and an
error from the API (``error_text``). ``main`` prints them so (exit 1), and so does ``diff``,
whose errors exit 2.

Most API errors read ``Error from server (NotFound): pods "web" not found`` — the reason, then the
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

from skiff.api import errors, kinds
from skiff.api.validation import go_quote
from skiff.cli.context import UsageError
from skiff.client.client import Unreachable

__all__ = ["FAILURES", "error_text", "failure_text", "list_error"]

FAILURES = (UsageError, Unreachable, errors.StatusError)
"""What a verb may end with that is reported as a line on stderr rather than a traceback."""


def failure_text(exc: UsageError | errors.StatusError) -> str:
    """The stderr text of one of ``FAILURES``."""
    if isinstance(exc, UsageError):
        return str(exc)
    if isinstance(exc, Unreachable):
        return f"error: {exc}"
    return error_text(exc)

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


def list_error(exc: errors.StatusError, kind: kinds.Kind, *, label_selector: str = "",
               field_selector: str = "") -> errors.StatusError:
    """kubectl's EnhanceListError: a BadRequest or NotFound from a list names what was listed
    (``Unable to find "/v1, Resource=pods" that match label selector "a in (b", field selector
    "": ...``); other errors are returned as they are."""
    if not isinstance(exc, (errors.BadRequest, errors.NotFound)):
        return exc
    subject = go_quote(f"{kind.group}/{kind.version}, Resource={kind.resource}")
    if label_selector or field_selector:
        message = (f"Unable to find {subject} that match label selector {go_quote(label_selector)}, "
                   f"field selector {go_quote(field_selector)}: {exc.message}")
    else:
        message = f"Unable to list {subject}: {exc.message}"
    return type(exc)(message)
