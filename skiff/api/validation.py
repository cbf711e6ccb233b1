"""Kubernetes' field-error model and its name, label and port checks, with apimachinery's words.

Validation in skiff works the way it does in Kubernetes: a validator walks an object and returns
a list of :class:`FieldError` values (never raises), each naming the field by its JSON path
(``spec.containers[1].name``), the kind of problem, the offending value and a detail. The API
server joins them with :func:`format_invalid` into the one message users know::

    Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0

Rendering follows ``field.Error.ErrorBody``: Required/Forbidden/TooLong errors never print the
value; the others print strings with Go's ``%q`` quoting, integers, floats and booleans bare, and
a :class:`GoValue` as the text Go would print (a ``Stringer``'s ``String()``, a ``%#v``), and
anything else as compact JSON. :func:`format_invalid` dedups identical messages and brackets
several, as ``ErrorList.ToAggregate`` does.

The string checks (``is_*``) return a list of human-readable problems, empty when the value is
fine; they are apimachinery's ``IsDNS1123Subdomain``, ``IsLabelKey`` (``IsQualifiedName``),
``IsLabelValue``, ``IsValidPortName``... with the same regexes and messages (lengths in bytes,
as current apimachinery counts them). The ``validate_*`` helpers turn them into FieldErrors the
way ``metav1/validation`` and ``api/validation`` do.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from skiff.api import errors

__all__ = [
    "ErrorType",
    "FieldError",
    "GoValue",
    "OMIT_VALUE",
    "aggregate",
    "child",
    "duplicate",
    "forbidden",
    "format_invalid",
    "go_quote",
    "go_string_map",
    "index",
    "internal_error",
    "invalid",
    "invalid_error",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "is_env_var_name",
    "is_relaxed_env_var_name",
    "is_valid_label_value",
    "is_valid_port_name",
    "is_valid_port_num",
    "key",
    "not_found",
    "not_supported",
    "required",
    "too_long",
    "too_many",
    "validate_annotations",
    "validate_label_name",
    "validate_labels",
    "validate_port_number",
    "TOTAL_ANNOTATION_SIZE_LIMIT_BYTES",
]


def _memoized(check: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """Cache a pure name check (names and label values recur across objects); callers get a
    fresh list each time, so they may keep or extend it."""
    cached = functools.lru_cache(maxsize=8192)(lambda value: tuple(check(value)))

    @functools.wraps(check)
    def wrapper(value: str) -> list[str]:
        return list(cached(value))

    return wrapper


class ErrorType(StrEnum):
    """Machine-readable error types; the values are Kubernetes' ``CauseType`` strings."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"


_TYPE_TEXT: dict[str, str] = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
    ErrorType.TYPE_INVALID: "Invalid value",
}
_VALUELESS_TYPES = frozenset(
    {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL}
)


class _OmitValue:
    """Marker for a bad value that must not be printed (``field.omitValue``)."""

    def __repr__(self) -> str:
        return "OMIT_VALUE"


OMIT_VALUE = _OmitValue()


# --------------------------------------------------------------------------- Go-style rendering

_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


def _is_go_printable(ch: str) -> bool:
    """``unicode.IsPrint``: letters, marks, numbers, punctuation, symbols and ASCII space."""
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def _go_escape(ch: str) -> str:
    if ch in ('"', "\\"):
        return "\\" + ch
    if _is_go_printable(ch):
        return ch
    if ch in _GO_ESCAPES:
        return _GO_ESCAPES[ch]
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD  # not a valid rune; Go substitutes the replacement character
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` / ``%q``: a double-quoted string with Go escapes."""
    return '"' + "".join(_go_escape(ch) for ch in text) + '"'


def _go_float(value: float) -> str:
    """Go's ``%v`` of a float64: ``%g`` with the shortest digits (``1e+06``, ``0.0001``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    shortest = Decimal(repr(abs(value)))
    if not shortest:
        return sign + "0"
    exponent = shortest.adjusted()
    if -4 <= exponent < 6:
        return sign + format(shortest.normalize(), "f")
    digits = "".join(map(str, shortest.as_tuple().digits)).rstrip("0")
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _go_json(value: object) -> str:
    """Compact JSON the way Go's ``encoding/json`` writes it (sorted keys, HTML-safe)."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


@dataclass(frozen=True)
class GoValue:
    """A bad value already rendered the way Go prints it: a ``String()`` (a ``Stringer``, such as
    ``*metav1.LabelSelector`` or ``*intstr.IntOrString``, which ``ErrorBody`` prints bare) or a
    ``%#v`` of a Go type (``map[string]string{"app":"web"}``)."""

    text: str

    def __str__(self) -> str:
        return self.text


def go_string_map(mapping: Mapping[str, str]) -> GoValue:
    """``%#v`` of a ``map[string]string``: keys sorted, Go-quoted; an empty map prints as the nil
    map a Go object has when the field was left out (``map[string]string(nil)``)."""
    if not mapping:
        return GoValue("map[string]string(nil)")
    items = ", ".join(f"{go_quote(k)}:{go_quote(mapping[k])}" for k in sorted(mapping))
    return GoValue("map[string]string{" + items + "}")


def go_string_slice(values: Sequence[str]) -> GoValue:
    """``%#v`` of a ``[]string``: ``[]string{"a", "b"}``, ``[]string{}`` when empty."""
    return GoValue("[]string{" + ", ".join(go_quote(v) for v in values) + "}")


def render_value(value: object) -> str:
    """A bad value as ``ErrorBody`` prints it."""
    if isinstance(value, GoValue):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if value is None or isinstance(value, list | tuple | dict):
        return _go_json(value)
    return _go_json(str(value))  # e.g. a Quantity marshals as its canonical string


# --------------------------------------------------------------------------- the error value


@dataclass(frozen=True)
class FieldError:
    """One field-level validation error (``field.Error``)."""

    type: str
    field: str
    bad_value: object
    detail: str

    def body(self) -> str:
        """The message without the field name (``ErrorBody``)."""
        text = _TYPE_TEXT.get(self.type, f"<unknown error {go_quote(self.type)}>")
        if self.type not in _VALUELESS_TYPES and self.bad_value is not OMIT_VALUE:
            text = f"{text}: {render_value(self.bad_value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(ErrorType.REQUIRED, field, "", detail)


def invalid(field: str, value: object, detail: str) -> FieldError:
    return FieldError(ErrorType.INVALID, field, value, detail)


def not_supported(field: str, value: object, supported: Sequence[object]) -> FieldError:
    detail = ""
    if supported:
        detail = "supported values: " + ", ".join(go_quote(str(v)) for v in supported)
    return FieldError(ErrorType.NOT_SUPPORTED, field, value, detail)


def duplicate(field: str, value: object) -> FieldError:
    return FieldError(ErrorType.DUPLICATE, field, value, "")


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError(ErrorType.FORBIDDEN, field, "", detail)


def not_found(field: str, value: object) -> FieldError:
    return FieldError(ErrorType.NOT_FOUND, field, value, "")


def too_long(field: str, value: object, max_length: int) -> FieldError:
    """The value is longer than ``max_length`` bytes (the value itself is never printed)."""
    del value
    if max_length >= 0:
        unit = "byte" if max_length == 1 else "bytes"
        detail = f"may not be more than {max_length} {unit}"
    else:
        detail = "value is too long"
    return FieldError(ErrorType.TOO_LONG, field, "<value omitted>", detail)


def too_many(field: str, actual: int, max_items: int) -> FieldError:
    if max_items >= 0:
        unit = "item" if max_items == 1 else "items"
        detail = f"must have at most {max_items} {unit}"
    else:
        detail = "has too many items"
    return FieldError(ErrorType.TOO_MANY, field, actual if actual >= 0 else OMIT_VALUE, detail)


def internal_error(field: str, error: Exception) -> FieldError:
    return FieldError(ErrorType.INTERNAL, field, error, str(error))


# --------------------------------------------------------------------------- field paths


def child(path: str, *names: str) -> str:
    """``Path.Child``: ``child("spec", "template")`` -> ``spec.template``."""
    parts = [path, *names] if path else list(names)
    return ".".join(parts)


def index(path: str, i: int) -> str:
    """``Path.Index``: ``index("spec.containers", 1)`` -> ``spec.containers[1]``."""
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    """``Path.Key``: ``key("metadata.labels", "app")`` -> ``metadata.labels[app]``."""
    return f"{path}[{k}]"


# --------------------------------------------------------------------------- aggregation


def aggregate(errors_: Sequence[FieldError]) -> str:
    """``ErrorList.ToAggregate().Error()``: deduplicated, bracketed when there are several."""
    messages = list(dict.fromkeys(str(e) for e in errors_))
    if len(messages) == 1:
        return messages[0]
    return "[" + ", ".join(messages) + "]"


def _qualified_kind(kind: str, group: str) -> str:
    return f"{kind}.{group}" if group else kind


def format_invalid(kind: str, group: str, name: str, errors_: Sequence[FieldError]) -> str:
    """``NewInvalid``'s message: ``Deployment.apps "web" is invalid: <errors>``."""
    head = f"{_qualified_kind(kind, group)} {go_quote(name)} is invalid"
    return f"{head}: {aggregate(errors_)}" if errors_ else head


def invalid_error(kind: str, group: str, name: str, errors_: Sequence[FieldError]) -> errors.Invalid:
    """The :class:`~skiff.api.errors.Invalid` API error carrying :func:`format_invalid`'s text."""
    causes = tuple(dict.fromkeys(str(e) for e in errors_))
    return errors.Invalid(format_invalid(kind, group, name, errors_), kind=kind, name=name, causes=causes)


# --------------------------------------------------------------------------- message helpers


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"  # apimachinery 1.32's MaxLenError


def regex_error(message: str, regex: str, *examples: str) -> str:
    """``RegexError``: the message, examples and the regex that was used."""
    if not examples:
        return f"{message} (regex used for validation is '{regex}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{regex}')"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(low: int, high: int) -> str:
    return f"must be between {low} and {high}, inclusive"


def _byte_len(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


# --------------------------------------------------------------------------- DNS names

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_MAX_LENGTH = 63

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)

_DNS1123_LABEL_RE = re.compile(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(DNS1035_LABEL_FMT)


@_memoized
def is_dns1123_label(value: str) -> list[str]:
    """``IsDNS1123Label``: a lowercase RFC 1123 label (namespaces, container and port names)."""
    errs = []
    if _byte_len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


@_memoized
def is_dns1123_subdomain(value: str) -> list[str]:
    """``IsDNS1123Subdomain``: a lowercase RFC 1123 subdomain (most object names)."""
    errs = []
    if _byte_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


@_memoized
def is_dns1035_label(value: str) -> list[str]:
    """``IsDNS1035Label``: an RFC 1035 label (Service names)."""
    errs = []
    if _byte_len(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


# --------------------------------------------------------------------------- label keys and values

LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_KEY_MAX_LENGTH = 63
LABEL_VALUE_FMT = "(" + LABEL_KEY_FMT + ")?"
LABEL_VALUE_MAX_LENGTH = 63

_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_KEY_RE = re.compile(LABEL_KEY_FMT)
_LABEL_VALUE_RE = re.compile(LABEL_VALUE_FMT)


def _name_part_errors(name: str) -> list[str]:
    errs = []
    if not name:
        errs.append("name part " + empty_error())
    elif _byte_len(name) > LABEL_KEY_MAX_LENGTH:
        errs.append("name part " + max_len_error(LABEL_KEY_MAX_LENGTH))
    if not _LABEL_KEY_RE.fullmatch(name):
        errs.append("name part " + regex_error(_LABEL_KEY_MSG, LABEL_KEY_FMT, "MyName", "my.name", "123-abc"))
    return errs


def _prefix_errors(prefix: str) -> list[str]:
    if not prefix:
        return ["prefix part " + empty_error()]
    return ["prefix part " + msg for msg in is_dns1123_subdomain(prefix)]


@_memoized
def is_qualified_name(value: str) -> list[str]:
    """``IsQualifiedName`` / ``IsLabelKey``: ``[dns-subdomain/]name`` with a name of at most 63."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + regex_error(_LABEL_KEY_MSG, LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errs = _prefix_errors(parts[0]) if len(parts) == 2 else []
    return errs + _name_part_errors(parts[-1])


@_memoized
def is_valid_label_value(value: str) -> list[str]:
    """``IsValidLabelValue``: empty, or at most 63 alphanumerics plus inner '-', '_', '.'."""
    errs = []
    if _byte_len(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


_ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_ENV_VAR_NAME_RE = re.compile(_ENV_VAR_NAME_FMT)
_ENV_VAR_NAME_MSG = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
                     "or '.', and must not start with a digit")


def is_env_var_name(value: str) -> list[str]:
    """``IsEnvVarName``: letters, digits, '_', '-' and '.', no leading digit, and not '.', '..' or '..*'."""
    errs = []
    if not _ENV_VAR_NAME_RE.fullmatch(value):
        errs.append(regex_error(_ENV_VAR_NAME_MSG, _ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1"))
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


_RELAXED_ENV_VAR_NAME_MSG = (
    "a valid environment variable name must consist only of printable ASCII characters other than '='"
)


def is_relaxed_env_var_name(value: str) -> list[str]:
    """``IsRelaxedEnvVarName``: what Kubernetes 1.32 checks, its RelaxedEnvironmentVariableValidation
    gate being beta and on: any printable ASCII (space included) but '='."""
    errs = []
    if not value:
        errs.append("environment variable name " + empty_error())
    if any(ord(ch) > 0x7F or not (ch == " " or ch.isprintable()) or ch == "=" for ch in value):
        errs.append(_RELAXED_ENV_VAR_NAME_MSG)
    return errs


def validate_label_name(name: str, field: str) -> list[FieldError]:
    """``ValidateLabelName``: one Invalid error per problem with the key."""
    return [invalid(field, name, msg) for msg in is_qualified_name(name)]


def validate_labels(labels: Mapping[str, str], field: str) -> list[FieldError]:
    """``ValidateLabels``: every key a qualified name, every value a label value (sorted by key)."""
    errs: list[FieldError] = []
    for k in sorted(labels):
        errs.extend(validate_label_name(k, field))
        errs.extend(invalid(field, labels[k], msg) for msg in is_valid_label_value(labels[k]))
    return errs


TOTAL_ANNOTATION_SIZE_LIMIT_BYTES = 256 * (1 << 10)


def validate_annotations(annotations: Mapping[str, str], field: str) -> list[FieldError]:
    """``ValidateAnnotations``: keys are qualified names (case-insensitively), total <= 256 KiB."""
    errs: list[FieldError] = []
    for k in sorted(annotations):
        errs.extend(invalid(field, k, msg) for msg in is_qualified_name(k.lower()))
    total = sum(_byte_len(k) + _byte_len(v) for k, v in annotations.items())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES:
        errs.append(too_long(field, "", TOTAL_ANNOTATION_SIZE_LIMIT_BYTES))
    return errs


# --------------------------------------------------------------------------- ports

_PORT_NAME_CHARSET_RE = re.compile("[-a-z0-9]+")
_PORT_NAME_LETTER_RE = re.compile("[a-z]")
PORT_NAME_MAX_LENGTH = 15


def is_valid_port_num(port: int) -> list[str]:
    """``IsValidPortNum``: 1..65535."""
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def validate_port_number(port: int, field: str) -> list[FieldError]:
    """An Invalid error when ``port`` is not a valid, non-zero port number."""
    return [invalid(field, port, msg) for msg in is_valid_port_num(port)]


def is_valid_port_name(port: str) -> list[str]:
    """``IsValidPortName``: an IANA_SVC_NAME (at most 15 of [-a-z0-9], a letter, no '--')."""
    errs = []
    if _byte_len(port) > PORT_NAME_MAX_LENGTH:
        errs.append(max_len_error(PORT_NAME_MAX_LENGTH))
    if not _PORT_NAME_CHARSET_RE.fullmatch(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER_RE.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs
