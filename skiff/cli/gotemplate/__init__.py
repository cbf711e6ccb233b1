"""kubectl's Go templates: ``-o go-template=...``, ``-o go-template-file=...`` (and their
``template`` / ``templatefile`` aliases), a subset of Go's ``text/template`` run on JSON data.

kubectl marshals the object to JSON and decodes it into ``map[string]interface{}`` (integers as
int64, other numbers as float64), then executes the template with ``missingkey=default``. This
package does the same with the plain dicts of ``skiff.api.manifest``, in three stages: the lexer
turns the source into tokens, the parser builds a small node tree and reports Go's parse errors,
and the executor walks the tree, naming the node and its ``line:column`` in an error the way Go
does.

Supported: fields and chains (``.a.b``, ``$x.a``, ``(pipeline).a``), ``$``, variable declaration
and assignment, ``if / else if / else``, ``with / else with / else``, ``range`` over lists and maps
(sorted keys) with one or two variables and ``else``, ``break`` / ``continue``, pipelines, Go
literals, and the functions ``and or not len index slice eq ne lt le gt ge print printf println
html js urlquery`` plus kubectl's ``base64decode`` and ``exists``. ``printf`` follows Go's fmt
for the verbs ``v s d q x X o b c U t e E f F g G T %`` with flags, width and precision, and its
``%!d(string=x)`` / ``%!d(MISSING)`` / ``%!(EXTRA ...)`` wording.

Not supported, with an error naming the construct: ``define``, ``template``, ``block``, the
``call`` function, complex numbers and explicit argument indexes (``%[1]d``) in ``printf``.

Modules:

- ``template``: GoTemplate (parse, then execute), the entry point; kubectl's debug dump after a
  failed execution (``debug_dump``, ``go_json``).
- ``errors``: the template's name in messages, GoTemplateError and its ParseError and ExecError.
- ``values``: the Go value model: MISSING (Go's invalid value), GoInt, Byte, Nil, ``go_type``.
- ``fmt``: Go's fmt verbs: ``sprintf``, ``sprint``, ``sprintln``, ``format_value``.
- ``lexer``: the source to tokens, lazily; ``unquote`` for Go's string and rune literals.
- ``nodes``: the tree.
- ``parser``: tokens to the tree, with Go's parse errors.
- ``functions``: and, or, not, len, index, slice, eq ... base64decode, exists.
- ``execute``: the walker, with Go's execution errors.

Imports run one way, with no cycle: ``errors``, ``values`` and ``nodes`` import nothing of the
package; ``fmt`` builds on errors and values, ``functions`` on fmt, ``lexer`` on errors; ``parser``
uses the lexer, the nodes and the function names, ``execute`` the nodes, functions and fmt; and
``template`` puts the parser and the executor together.
"""

from skiff.cli.gotemplate.errors import ExecError, GoTemplateError, ParseError
from skiff.cli.gotemplate.fmt import sprintf
from skiff.cli.gotemplate.template import GoTemplate, debug_dump, go_json
from skiff.cli.gotemplate.values import go_type

__all__ = ["ExecError", "GoTemplate", "GoTemplateError", "ParseError", "debug_dump", "go_json", "go_type",
           "sprintf"]
