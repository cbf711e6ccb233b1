"""The template's name and its errors, whose ``str()`` is Go's message word for word.

``ParseError`` comes from the lexer and the parser (``template: output:LINE: MESSAGE``), ``ExecError``
from execution (``template: output:LINE:COL: executing "output" at <NODE>: MESSAGE``). ``Fail`` is the
bare message a function or a comparison raises: the executor, which knows the node being evaluated,
turns it into an ``ExecError`` naming that node, as Go's ``state.errorf`` does.
"""

from __future__ import annotations

NAME = "output"
"""The template's name, as kubectl names it in its messages."""


class GoTemplateError(ValueError):
    """A template that does not parse or fails on the data; ``str()`` is Go's message."""


class ParseError(GoTemplateError):
    """``template: output:LINE: MESSAGE``."""


class ExecError(GoTemplateError):
    """``template: output:LINE:COL: executing "output" at <NODE>: MESSAGE``; ``output`` holds
    what the template had printed before it failed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class Fail(Exception):
    """An execution error; wrapped with the location of the node being evaluated."""
