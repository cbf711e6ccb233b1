"""Label selectors and field selectors, parsed and matched exactly as apimachinery does.

Label selectors (``-l`` / ``labelSelector``)
    :func:`parse_selector` is a port of ``labels.Parse``: the same lexer (identifiers end at
    whitespace or one of ``=!(),<>``; ``in``/``notin`` are keywords except where a value is
    expected), the same recursive-descent parser and the same error texts, each prefixed
    ``unable to parse requirement:`` where Kubernetes prefixes it. A :class:`Selector` is an
    AND of :class:`Requirement` values sorted by key; values of set requirements are deduplicated
    and sorted, so ``str(selector)`` is canonical and parses back to an equal selector.
    Semantics follow ``Requirement.Matches``: ``!=`` and ``notin`` also match objects that lack
    the key, ``gt``/``lt`` compare int64 values.

    :func:`selector_from_proto` is ``metav1.LabelSelectorAsSelector``: ``None`` selects nothing,
    an empty selector everything. :func:`validate_label_selector` is ``ValidateLabelSelector``
    and reports :class:`~skiff.api.validation.FieldError` values.

Field selectors (``--field-selector``)
    :func:`parse_field_selector` is ``fields.ParseSelector``: comma-separated ``f=v``, ``f==v``
    or ``f!=v`` terms, with ``\\``, ``,`` and ``=`` escaped by a backslash in values. No
    whitespace is trimmed (Kubernetes does not). A missing field reads as the empty string, so
    ``spec.nodeName=`` finds unscheduled pods. The server checks :attr:`FieldSelector.requirements`
    against the fields it supports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum, auto
from typing import NamedTuple

from skiff.api import validation
from skiff.api.strconv import atoi
from skiff.api.v1 import meta_pb2
from skiff.api.validation import FieldError

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "FieldRequirement",
    "FieldSelector",
    "Operator",
    "Requirement",
    "Selector",
    "SelectorError",
    "escape_field_value",
    "new_requirement",
    "parse_field_selector",
    "parse_selector",
    "selector_from_proto",
    "selector_from_set",
    "validate_label_selector",
]


class SelectorError(ValueError):
    """A label or field selector that cannot be parsed or built; Kubernetes' message."""


class Operator(StrEnum):
    """``selection.Operator`` values."""

    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    IN = "in"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    EXISTS = "exists"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_BINARY_OPERATORS = (
    Operator.IN,
    Operator.NOT_IN,
    Operator.EQUALS,
    Operator.DOUBLE_EQUALS,
    Operator.NOT_EQUALS,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
)
_VALID_OPERATORS = (*_BINARY_OPERATORS, Operator.EXISTS, Operator.DOES_NOT_EXIST)
_SET_OPERATORS = frozenset({Operator.IN, Operator.NOT_IN})
_EXACT_OPERATORS = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS})
_NUMERIC_OPERATORS = frozenset({Operator.GREATER_THAN, Operator.LESS_THAN})
_UNARY_OPERATORS = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})


# --------------------------------------------------------------------------- requirements


@dataclass(frozen=True)
class Requirement:
    """One ``key <operator> values`` term of a label selector."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """``Requirement.Matches``."""
        op, present = self.operator, self.key in labels
        if op in _UNARY_OPERATORS:
            return present == (op is Operator.EXISTS)
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        if op in _NUMERIC_OPERATORS:
            return self._compare_numbers(labels[self.key])
        return labels[self.key] in self.values

    def _compare_numbers(self, label_value: str) -> bool:
        actual = atoi(label_value)
        wanted = atoi(self.values[0]) if len(self.values) == 1 else None
        if actual is None or wanted is None:
            return False
        return actual > wanted if self.operator is Operator.GREATER_THAN else actual < wanted

    def __str__(self) -> str:
        prefix = "!" if self.operator is Operator.DOES_NOT_EXIST else ""
        if self.operator in _UNARY_OPERATORS:
            return prefix + self.key
        shown = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if self.operator in _SET_OPERATORS:
            return f"{self.key} {self.operator.value} ({shown})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(self.operator, self.operator.value)
        return f"{self.key}{symbol}{shown}"


def _values_errors(operator: str, values: Sequence[str], path: str) -> list[FieldError]:
    """The operator/value-count checks of ``NewRequirement``."""
    values_path = validation.child(path, "values")
    if operator in _SET_OPERATORS and not values:
        detail = "for 'in', 'notin' operators, values set can't be empty"
        return [validation.invalid(values_path, validation.go_string_slice(values), detail)]
    if operator in _EXACT_OPERATORS and len(values) != 1:
        detail = "exact-match compatibility requires one single value"
        return [validation.invalid(values_path, validation.go_string_slice(values), detail)]
    if operator in _UNARY_OPERATORS and values:
        detail = "values set must be empty for exists and does not exist"
        return [validation.invalid(values_path, validation.go_string_slice(values), detail)]
    if operator in _NUMERIC_OPERATORS:
        return _numeric_values_errors(values, values_path)
    if operator not in _VALID_OPERATORS:
        supported = [op.value for op in _VALID_OPERATORS]
        return [validation.not_supported(validation.child(path, "operator"), operator, supported)]
    return []


def _numeric_values_errors(values: Sequence[str], values_path: str) -> list[FieldError]:
    errs = []
    if len(values) != 1:
        detail = "for 'Gt', 'Lt' operators, exactly one value is required"
        errs.append(validation.invalid(values_path, validation.go_string_slice(values), detail))
    for i, value in enumerate(values):
        if atoi(value) is None:
            detail = "for 'Gt', 'Lt' operators, the value must be an integer"
            errs.append(validation.invalid(validation.index(values_path, i), value, detail))
    return errs


def _key_error(key: str, field: str) -> FieldError | None:
    """``validateLabelKey``: one Invalid error joining every problem with the key."""
    problems = validation.is_qualified_name(key)
    return validation.invalid(field, key, "; ".join(problems)) if problems else None


def _requirement_errors(key: str, operator: str, values: Sequence[str], path: str) -> list[FieldError]:
    errs = []
    key_error = _key_error(key, validation.child(path, "key"))
    if key_error is not None:
        errs.append(key_error)
    errs.extend(_values_errors(operator, values, path))
    values_path = validation.child(path, "values")
    for i, value in enumerate(values):
        problems = validation.is_valid_label_value(value)
        if problems:
            field = validation.key(validation.index(values_path, i), key)
            errs.append(validation.invalid(field, value, "; ".join(problems)))
    return errs


def new_requirement(key: str, operator: str, values: Iterable[str] = (), *, path: str = "") -> Requirement:
    """``NewRequirement``: a validated requirement, or :class:`SelectorError`."""
    values = tuple(values)
    errs = _requirement_errors(key, operator, values, path)
    if errs:
        raise SelectorError(validation.aggregate(errs))
    return Requirement(key, Operator(operator), values)


# --------------------------------------------------------------------------- selectors


@dataclass(frozen=True)
class Selector:
    """An AND of requirements; ``NOTHING`` (``selects_nothing``) matches no object at all."""

    requirements: tuple[Requirement, ...] = ()
    selects_nothing: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.selects_nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (it matches every object)."""
        return not self.selects_nothing and not self.requirements

    def add(self, *requirements: Requirement) -> Selector:
        """A new selector with more requirements, kept sorted by key (``Selector.Add``)."""
        if self.selects_nothing:
            return self
        merged = sorted((*self.requirements, *requirements), key=lambda r: r.key)
        return Selector(tuple(merged))

    def requires_exact_match(self, label: str) -> str | None:
        """The single value ``label`` must have, if the selector pins it (``RequiresExactMatch``)."""
        for r in self.requirements:
            if r.key != label:
                continue
            exact = r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
            return r.values[0] if exact and len(r.values) == 1 else None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = Selector()
NOTHING = Selector(selects_nothing=True)


def selector_from_set(labels: Mapping[str, str] | None) -> Selector:
    """``SelectorFromSet``: equality on every label of the set; empty or None -> everything."""
    if not labels:
        return EVERYTHING
    return EVERYTHING.add(*(Requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items()))


_PROTO_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def selector_from_proto(selector: meta_pb2.LabelSelector | None) -> Selector:
    """``LabelSelectorAsSelector``: None -> nothing, empty -> everything; bad input raises."""
    if selector is None:
        return NOTHING
    if not selector.match_labels and not selector.match_expressions:
        return EVERYTHING
    requirements = [
        new_requirement(k, Operator.EQUALS, (selector.match_labels[k],))
        for k in sorted(selector.match_labels)
    ]
    for expression in selector.match_expressions:
        operator = _PROTO_OPERATORS.get(expression.operator)
        if operator is None:
            raise SelectorError(
                f"{validation.go_quote(expression.operator)} is not a valid label selector operator"
            )
        requirements.append(new_requirement(expression.key, operator, expression.values))
    return EVERYTHING.add(*requirements)


def validate_label_selector(selector: meta_pb2.LabelSelector | None, path: str) -> list[FieldError]:
    """``ValidateLabelSelector`` (label values in expressions are validated too)."""
    if selector is None:
        return []
    errs = validation.validate_labels(selector.match_labels, validation.child(path, "matchLabels"))
    expressions_path = validation.child(path, "matchExpressions")
    for i, expression in enumerate(selector.match_expressions):
        errs.extend(_validate_expression(expression, validation.index(expressions_path, i)))
    return errs


def _validate_expression(expression: meta_pb2.LabelSelectorRequirement, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    values_path = validation.child(path, "values")
    if expression.operator in ("In", "NotIn"):
        if not expression.values:
            errs.append(
                validation.required(values_path, "must be specified when `operator` is 'In' or 'NotIn'")
            )
    elif expression.operator in ("Exists", "DoesNotExist"):
        if expression.values:
            detail = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            errs.append(validation.forbidden(values_path, detail))
    else:
        operator_path = validation.child(path, "operator")
        errs.append(validation.invalid(operator_path, expression.operator, "not a valid selector operator"))
    errs.extend(validation.validate_label_name(expression.key, validation.child(path, "key")))
    for i, value in enumerate(expression.values):
        field = validation.index(values_path, i)
        errs.extend(validation.invalid(field, value, msg) for msg in validation.is_valid_label_value(value))
    return errs


# --------------------------------------------------------------------------- label selector lexer


class _Token(Enum):
    ERROR = auto()
    END = auto()
    CLOSED_PAR = auto()
    COMMA = auto()
    DOES_NOT_EXIST = auto()
    DOUBLE_EQUALS = auto()
    EQUALS = auto()
    GREATER_THAN = auto()
    IDENTIFIER = auto()
    IN = auto()
    LESS_THAN = auto()
    NOT_EQUALS = auto()
    NOT_IN = auto()
    OPEN_PAR = auto()


_LITERAL_TOKENS = {
    ")": _Token.CLOSED_PAR,
    ",": _Token.COMMA,
    "!": _Token.DOES_NOT_EXIST,
    "==": _Token.DOUBLE_EQUALS,
    "=": _Token.EQUALS,
    ">": _Token.GREATER_THAN,
    "in": _Token.IN,
    "<": _Token.LESS_THAN,
    "!=": _Token.NOT_EQUALS,
    "notin": _Token.NOT_IN,
    "(": _Token.OPEN_PAR,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_END = "\x00"  # what the Go lexer reads past the end (a NUL byte in the input also ends it)


class _Item(NamedTuple):
    token: _Token
    literal: str


class _Lexer:
    """``labels.Lexer``: turns a selector string into tokens."""

    def __init__(self, text: str) -> None:
        self._text, self._pos = text, 0

    def _read(self) -> str:
        if self._pos >= len(self._text):
            return _END
        ch = self._text[self._pos]
        self._pos += 1
        return ch

    def _unread(self) -> None:
        self._pos -= 1

    def _scan_identifier(self) -> _Item:
        chars = []
        while (ch := self._read()) != _END:
            if ch in _SPECIAL or ch in _WHITESPACE:
                self._unread()
                break
            chars.append(ch)
        literal = "".join(chars)
        return _Item(_LITERAL_TOKENS.get(literal, _Token.IDENTIFIER), literal)

    def _scan_special(self) -> _Item:
        buffer, last = "", None
        while True:
            ch = self._read()
            if ch == _END:
                break
            if ch not in _SPECIAL:
                self._unread()
                break
            buffer += ch
            if buffer in _LITERAL_TOKENS:
                last = _Item(_LITERAL_TOKENS[buffer], buffer)
            elif last is not None:
                self._unread()
                break
        return last or _Item(_Token.ERROR, f"error expected: keyword found '{buffer}'")

    def lex(self) -> _Item:
        ch = self._read()
        while ch in _WHITESPACE:
            ch = self._read()
        if ch == _END:
            return _Item(_Token.END, "")
        self._unread()
        return self._scan_special() if ch in _SPECIAL else self._scan_identifier()

    def items(self) -> list[_Item]:
        items = [self.lex()]
        while items[-1].token is not _Token.END:
            items.append(self.lex())
        return items


# --------------------------------------------------------------------------- label selector parser

_KEYWORDS = frozenset({_Token.IN, _Token.NOT_IN})
_OPERATOR_TOKENS = {
    _Token.IN: Operator.IN,
    _Token.EQUALS: Operator.EQUALS,
    _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    _Token.GREATER_THAN: Operator.GREATER_THAN,
    _Token.LESS_THAN: Operator.LESS_THAN,
    _Token.NOT_IN: Operator.NOT_IN,
    _Token.NOT_EQUALS: Operator.NOT_EQUALS,
}
_REQUIREMENT_START = frozenset({_Token.IDENTIFIER, _Token.DOES_NOT_EXIST})


class _Parser:
    """``labels.Parser``: recursive descent over the scanned tokens.

    ``values=True`` is Go's ``Values`` context, where the keywords ``in``/``notin`` are plain
    identifiers (so ``in in (in)`` is a valid requirement).
    """

    def __init__(self, text: str) -> None:
        self._items = _Lexer(text).items()
        self._position = 0

    def _lookahead(self, values: bool = True) -> _Item:
        item = self._items[self._position]
        if values and item.token in _KEYWORDS:
            return _Item(_Token.IDENTIFIER, item.literal)
        return item

    def _consume(self, values: bool = True) -> _Item:
        item = self._lookahead(values)
        self._position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            item = self._lookahead()
            if item.token is _Token.END:
                return requirements
            if item.token not in _REQUIREMENT_START:
                raise SelectorError(f"found '{item.literal}', expected: !, identifier, or 'end of string'")
            requirements.append(self._requirement())
            if self._after_requirement():
                return requirements

    def _after_requirement(self) -> bool:
        """Consume the separator after a requirement; True at the end of the string."""
        item = self._consume()
        if item.token is _Token.END:
            return True
        if item.token is not _Token.COMMA:
            raise SelectorError(f"found '{item.literal}', expected: ',' or 'end of string'")
        following = self._lookahead()
        if following.token not in _REQUIREMENT_START:
            raise SelectorError(f"found '{following.literal}', expected: identifier after ','")
        return False

    def _requirement(self) -> Requirement:
        try:
            key, operator = self._key_and_inferred_operator()
            if operator is not None:  # inferred: exists / does not exist
                return new_requirement(key, operator)
            binary = self._operator()
            values = self._set_values() if binary in _SET_OPERATORS else self._exact_value()
            return new_requirement(key, binary, sorted(values))
        except SelectorError as err:
            raise SelectorError(f"unable to parse requirement: {err}") from None

    def _key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        operator: Operator | None = None
        item = self._consume()
        if item.token is _Token.DOES_NOT_EXIST:
            operator, item = Operator.DOES_NOT_EXIST, self._consume()
        if item.token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{item.literal}', expected: identifier")
        key_error = _key_error(item.literal, "<nil>")  # Go validates with a nil *field.Path
        if key_error is not None:
            raise SelectorError(str(key_error))
        if self._lookahead().token in (_Token.END, _Token.COMMA) and operator is None:
            operator = Operator.EXISTS
        return item.literal, operator

    def _operator(self) -> Operator:
        item = self._consume(values=False)
        operator = _OPERATOR_TOKENS.get(item.token)
        if operator is None:
            expected = ", ".join(op.value for op in _BINARY_OPERATORS)
            raise SelectorError(f"found '{item.literal}', expected: {expected}")
        return operator

    def _set_values(self) -> set[str]:
        item = self._consume()
        if item.token is not _Token.OPEN_PAR:
            raise SelectorError(f"found '{item.literal}' expected: '('")
        first = self._lookahead()
        if first.token is _Token.CLOSED_PAR:
            self._consume()
            return {""}
        if first.token not in (_Token.IDENTIFIER, _Token.COMMA):
            raise SelectorError(f"found '{first.literal}', expected: ',', ')' or identifier")
        values = self._identifier_list()
        if self._consume().token is not _Token.CLOSED_PAR:
            raise SelectorError(f"found '{first.literal}', expected: ')'")
        return values

    def _identifier_list(self) -> set[str]:
        """Comma-separated, possibly empty identifiers, up to (not including) ')'."""
        values: set[str] = set()
        while True:
            item = self._consume()
            if item.token is _Token.IDENTIFIER:
                values.add(item.literal)
                following = self._lookahead()
                if following.token is _Token.CLOSED_PAR:
                    return values
                if following.token is not _Token.COMMA:
                    raise SelectorError(f"found '{following.literal}', expected: ',' or ')'")
            elif item.token is _Token.COMMA:
                if not values or self._lookahead().token in (_Token.COMMA, _Token.CLOSED_PAR):
                    values.add("")
                if self._lookahead().token is _Token.CLOSED_PAR:
                    return values
            else:
                raise SelectorError(f"found '{item.literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._lookahead().token in (_Token.END, _Token.COMMA):
            return {""}
        item = self._consume()
        if item.token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{item.literal}', expected: identifier")
        return {item.literal}


def parse_selector(text: str) -> Selector:
    """``labels.Parse``: a selector string such as ``app=web,tier in (fe,be),!canary``."""
    return EVERYTHING.add(*_Parser(text).parse())


# --------------------------------------------------------------------------- field selectors


class FieldRequirement(NamedTuple):
    """One term of a field selector; ``operator`` is ``"="`` (also for ``==``) or ``"!="``."""

    field: str
    operator: str
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return equal if self.operator == Operator.EQUALS else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of field requirements, in the sorted order Kubernetes parses them."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def requires_exact_match(self, field: str) -> str | None:
        for r in self.requirements:
            if r.field == field and r.operator == Operator.EQUALS:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_FIELD_OPERATORS = ("!=", "==", "=")  # "==" before "=" so no "=" is left on the value


def escape_field_value(value: str) -> str:
    """``fields.EscapeValue``: backslash-escape backslashes, ``,`` and ``=``."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    """``fields.UnescapeValue``."""
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_field_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped (escapes are kept)."""
    if not text:
        return []
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_field_term(term: str) -> tuple[str, str, str] | None:
    """(lhs, operator, rhs) split at the first operator, or None."""
    for i in range(len(term)):
        for operator in _FIELD_OPERATORS:
            if term.startswith(operator, i):
                return term[:i], operator, term[i + len(operator) :]
    return None


def parse_field_selector(text: str) -> FieldSelector:
    """``fields.ParseSelector``: ``a=b``, ``a==b``, ``a!=b`` joined by commas."""
    requirements = []
    for term in sorted(_split_field_terms(text)):
        if not term:
            continue
        split = _split_field_term(term)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, raw_value = split
        operator = Operator.NOT_EQUALS if operator == "!=" else Operator.EQUALS
        requirements.append(FieldRequirement(field, operator.value, _unescape_field_value(raw_value)))
    return FieldSelector(tuple(requirements))
