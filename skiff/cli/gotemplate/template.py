"""``GoTemplate``, the entry point: a template parsed once (``GoTemplate.parse``, the ``parser``)
and executed on each object (``execute``, the ``execute`` walker); and ``debug_dump``, what kubectl
writes to stdout after a failed execution, with ``go_json``, the compact JSON it shows there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skiff.cli.gotemplate.errors import ExecError, GoTemplateError
from skiff.cli.gotemplate.execute import BreakSignal, ContinueSignal, Exec
from skiff.cli.gotemplate.fmt import Spec, format_value
from skiff.cli.gotemplate.nodes import Node
from skiff.cli.gotemplate.parser import Parser


@dataclass(frozen=True)
class GoTemplate:
    """A parsed template; ``execute`` runs it on JSON data and returns the text it prints."""

    source: str
    nodes: tuple[Node, ...]

    @classmethod
    def parse(cls, source: str) -> GoTemplate:
        return cls(source, tuple(Parser(source).parse()))

    def execute(self, data: Any) -> str:
        state = Exec(self.source, data)
        try:
            state.walk(data, list(self.nodes))
        except (BreakSignal, ContinueSignal):  # pragma: no cover - the parser forbids them outside range
            pass
        except GoTemplateError as exc:
            if isinstance(exc, ExecError):
                exc.output = "".join(state.out)
                raise
            raise state.fail(str(exc)) from None
        return "".join(state.out)


def go_json(data: Any) -> str:
    """Compact JSON as Go's ``encoding/json`` writes it (``<``, ``>``, ``&`` escaped)."""
    import json

    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def debug_dump(source: str, data: Any, error: ExecError) -> str:
    """What kubectl writes to stdout after a failed execution (before its ``error:`` line)."""
    return (f"Error executing template: {error}. Printing more information for debugging the template:\n"
            f"\ttemplate was:\n\t\t{source}\n"
            f"\traw data was:\n\t\t{go_json(data)}\n"
            f"\tobject given to template engine was:\n\t\t{format_value('v', data, Spec())}\n\n")
