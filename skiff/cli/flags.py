"""Flag values and messages several skiffctl verbs share, parsed as kubectl parses them.

* Durations (``--timeout=30s``, ``1m30s``, ``500ms``, ``0``) are Go's ``time.ParseDuration``:
  a unit is required except for a bare ``0``, fractions and signs are allowed, and a bad value is
  kubectl's ``invalid argument "1" for "--timeout" flag: time: missing unit in duration "1"``.
  drain, rollout status, delete and wait all read their ``--timeout`` through :func:`duration_flag`.
* :data:`NO_RESOURCES` is cli-runtime's message for a verb given neither resources nor files.
"""

from __future__ import annotations

import json

from skiff.api.strconv import atoi
from skiff.api.strconv import parse_duration as go_duration
from skiff.cli.context import UsageError

__all__ = ["NO_RESOURCES", "duration_flag", "go_duration", "request_timeout", "validate_flag"]

NO_RESOURCES = ("error: You must provide one or more resources by argument or filename.\n"
                "Example resource specifications include:\n"
                "   '-f rsrc.yaml'\n"
                "   '--filename=rsrc.json'\n"
                "   '<resource> <name>'\n"
                "   '<resource>'")

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
