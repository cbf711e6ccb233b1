"""The Go value model: what kubectl's decoded JSON is to Go's reflection, on plain Python data.

kubectl decodes the object into ``map[string]interface{}`` (integers as int64, other numbers as
float64). The JSON values stay what ``json`` makes of them (dict, list, str, bool, None; a Python int
is an int64, a float a float64); only what Go tells apart and Python cannot gets a type of its own:

- ``MISSING``: Go's invalid ``reflect.Value``, a map key that is not there (``missingkey=default``).
- ``GoInt``: a template's integer literal, Go ``int`` rather than JSON's int64.
- ``Byte``: a byte of a string (``index "abc" 0``), Go ``uint8``.
- ``Nil``: a JSON ``null`` met while walking a field chain, a nil interface. ``wrap`` makes one of
  a null read out of a map or list; ``unwrap`` turns it into ``MISSING`` after each pipeline
  command, as Go's pipeline does.

``go_type`` names the Go type of any of them, as ``%T`` and fmt's ``%!d(string=x)`` print it.
"""

from __future__ import annotations

from typing import Any


class _Missing:
    """Go's invalid ``reflect.Value``: a map key that is not there. Prints as ``<no value>``."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class GoInt(int):
    """A template's integer literal (Go ``int``); plain Python ints are JSON's int64."""


class Byte(int):
    """A byte of a string (``index "abc" 0``): Go ``uint8``."""


class Nil:
    """A nil interface reached while walking a field chain (JSON ``null`` inside a map or list)."""


def go_type(value: Any) -> str:
    """The Go type kubectl's decoded JSON has: ``%T`` and fmt's ``%!d(string=x)``."""
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, GoInt):
        return "int"
    if isinstance(value, Byte):
        return "uint8"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return type(value).__name__


def wrap(value: Any) -> Any:
    """A value read out of a map or list: JSON null is a nil interface there."""
    return Nil() if value is None else value


def unwrap(value: Any) -> Any:
    """What Go's pipeline does after each command: an interface holding nil becomes invalid."""
    return MISSING if isinstance(value, Nil) else value
