"""Field errors print like apimachinery's, and the name/label/port checks use its messages."""

from __future__ import annotations

import pytest

from skiff.api import errors, validation
from skiff.api.quantity import parse_quantity
from skiff.api.validation import (
    ErrorType,
    FieldError,
    duplicate,
    forbidden,
    format_invalid,
    go_quote,
    internal_error,
    invalid,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    is_valid_port_name,
    not_found,
    not_supported,
    required,
    too_long,
    too_many,
    validate_annotations,
    validate_labels,
    validate_port_number,
)

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            invalid("spec.replicas", -1, "must be greater than or equal to 0"),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            required("metadata.name", "name or generateName is required"),
            "metadata.name: Required value: name or generateName is required",
        ),
        (required("spec.containers[0].image"), "spec.containers[0].image: Required value"),
        (
            not_supported("spec.restartPolicy", "Sometimes", ["Always", "Never", "OnFailure"]),
            'spec.restartPolicy: Unsupported value: "Sometimes": '
            'supported values: "Always", "Never", "OnFailure"',
        ),
        (not_supported("spec.x", "y", []), 'spec.x: Unsupported value: "y"'),
        (duplicate("spec.containers[1].name", "web"), 'spec.containers[1].name: Duplicate value: "web"'),
        (too_long("metadata.name", "x" * 64, 63), "metadata.name: Too long: may not be more than 63 bytes"),
        (too_long("f", "xx", 1), "f: Too long: may not be more than 1 byte"),
        (too_long("f", "xx", -1), "f: Too long: value is too long"),
        (forbidden("spec.nodeName", "may not be set"), "spec.nodeName: Forbidden: may not be set"),
        (too_many("spec.items", 5, 3), "spec.items: Too many: 5: must have at most 3 items"),
        (too_many("spec.items", -1, 1), "spec.items: Too many: must have at most 1 item"),
        (not_found("spec.volumes[0]", "data"), 'spec.volumes[0]: Not found: "data"'),
        (internal_error("spec", RuntimeError("boom")), "spec: Internal error: boom"),
        (invalid("spec.paused", True, "nope"), "spec.paused: Invalid value: true: nope"),
        (invalid("spec.ratio", 1.5, "nope"), "spec.ratio: Invalid value: 1.5: nope"),
        (invalid("spec.big", 1e6, "nope"), "spec.big: Invalid value: 1e+06: nope"),
        (invalid("spec.list", ["a", "b"], "nope"), 'spec.list: Invalid value: ["a","b"]: nope'),
        (invalid("spec.map", {"b": 1, "a": "<"}, "x"), 'spec.map: Invalid value: {"a":"\\u003c","b":1}: x'),
        (invalid("spec.none", None, "x"), "spec.none: Invalid value: null: x"),
        (invalid("spec.cpu", parse_quantity("0.5"), "x"), 'spec.cpu: Invalid value: "500m": x'),
        (invalid("spec.x", "v", ""), 'spec.x: Invalid value: "v"'),
    ],
)
def test_error_strings(error: FieldError, text: str) -> None:
    assert str(error) == text


def test_error_types_are_kubernetes_cause_types() -> None:
    assert required("a").type == ErrorType.REQUIRED == "FieldValueRequired"
    assert invalid("a", 1, "").type == "FieldValueInvalid"
    assert not_supported("a", "b", ["c"]).type == "FieldValueNotSupported"
    assert duplicate("a", 1).type == "FieldValueDuplicate"
    assert too_long("a", "", 1).type == "FieldValueTooLong"


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("web", '"web"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("café", '"café"'),
        ("\u00a0", '"\\u00a0"'),
        ("\u200b", '"\\u200b"'),
        ("\U0001f600", '"\U0001f600"'),
        ("\U000e0001", '"\\U000e0001"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_format_invalid_one_error() -> None:
    errs = [invalid("spec.replicas", -1, "must be greater than or equal to 0")]
    assert format_invalid("Deployment", "apps", "web", errs) == (
        'Deployment.apps "web" is invalid: '
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    )


def test_format_invalid_several_errors_core_group() -> None:
    errs = [required("spec.containers[0].name"), required("spec.containers[0].image")]
    assert format_invalid("Pod", "", "p", errs) == (
        'Pod "p" is invalid: '
        "[spec.containers[0].name: Required value, spec.containers[0].image: Required value]"
    )


def test_format_invalid_dedups_and_handles_empty() -> None:
    same = [required("a"), required("a")]
    assert format_invalid("Pod", "", "p", same) == 'Pod "p" is invalid: a: Required value'
    assert format_invalid("Pod", "", "p", []) == 'Pod "p" is invalid'
    assert format_invalid("Job", "batch", 'we"ird', [required("a")]).startswith(
        'Job.batch "we\\"ird" is invalid'
    )


def test_invalid_error_is_the_api_error() -> None:
    err = validation.invalid_error("Pod", "", "p", [required("spec")])
    assert isinstance(err, errors.Invalid)
    assert str(err) == 'Pod "p" is invalid: spec: Required value'


def test_field_path_helpers() -> None:
    path = validation.index(validation.child("spec", "containers"), 1)
    assert validation.child(path, "name") == "spec.containers[1].name"
    assert validation.key("metadata.labels", "app") == "metadata.labels[app]"
    assert validation.child("", "key") == "key"


@pytest.mark.parametrize("name", ["a", "ab", "a-b", "0", "a.b", "example.com", "a" * 253, "1.2.3.4"])
def test_dns1123_subdomain_valid(name: str) -> None:
    assert is_dns1123_subdomain(name) == []


@pytest.mark.parametrize("name", ["", "A", "a_b", "-a", "a-", "a..b", ".a", "a.", "ab\n"])
def test_dns1123_subdomain_invalid(name: str) -> None:
    assert is_dns1123_subdomain(name) == [SUBDOMAIN_MSG]


def test_dns1123_subdomain_too_long() -> None:
    assert is_dns1123_subdomain("a" * 254) == ["must be no more than 253 characters"]
    assert is_dns1123_subdomain("A" * 254) == ["must be no more than 253 characters", SUBDOMAIN_MSG]


def test_dns1123_label() -> None:
    assert is_dns1123_label("my-name") == []
    assert is_dns1123_label("123-abc") == []
    assert is_dns1123_label("a.b") == ["must not contain dots"]
    assert is_dns1123_label("My") == [LABEL_MSG]
    assert is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]


def test_dns1035_label() -> None:
    assert is_dns1035_label("web") == []
    assert is_dns1035_label("abc-123") == []
    assert is_dns1035_label("1web") == [DNS1035_MSG]
    assert is_dns1035_label("a" * 64) == ["must be no more than 63 characters"]


@pytest.mark.parametrize(
    "key",
    ["simple", "now-with-dashes", "1-starts-with-num", "1234", "simple/simple", "example.com/Name", "a" * 63],
)
def test_qualified_name_valid(key: str) -> None:
    assert is_qualified_name(key) == []


def test_qualified_name_invalid() -> None:
    assert is_qualified_name("-a") == [NAME_PART_MSG]
    assert is_qualified_name("") == ["name part must be non-empty", NAME_PART_MSG]
    assert is_qualified_name("a" * 64) == ["name part must be no more than 63 characters"]
    assert is_qualified_name("/a") == ["prefix part must be non-empty"]
    assert is_qualified_name("Example.com/a") == ["prefix part " + SUBDOMAIN_MSG]
    assert is_qualified_name("a/b/c") == [
        "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
        "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
        "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
        "and '/' (e.g. 'example.com/MyName')"
    ]


def test_label_value() -> None:
    assert is_valid_label_value("") == []
    assert is_valid_label_value("my_value") == []
    assert is_valid_label_value("-bad") == [LABEL_VALUE_MSG]
    assert is_valid_label_value("a" * 64) == ["must be no more than 63 characters"]
    assert is_valid_label_value("é") == [LABEL_VALUE_MSG]


def test_validate_labels() -> None:
    assert validate_labels({"app": "web", "example.com/tier": "fe"}, "metadata.labels") == []
    errs = validate_labels({"-bad": "ok", "good": "-bad"}, "metadata.labels")
    assert [str(e) for e in errs] == [
        f'metadata.labels: Invalid value: "-bad": {NAME_PART_MSG}',
        f'metadata.labels: Invalid value: "-bad": {LABEL_VALUE_MSG}',
    ]


def test_validate_annotations() -> None:
    assert validate_annotations({"Example.com/Mixed-Case": "any value at all"}, "metadata.annotations") == []
    errs = validate_annotations({"a/b/c": "x"}, "metadata.annotations")
    assert len(errs) == 1 and errs[0].type == ErrorType.INVALID
    big = {"k": "x" * (256 * 1024)}
    assert [str(e) for e in validate_annotations(big, "metadata.annotations")] == [
        "metadata.annotations: Too long: may not be more than 262144 bytes"
    ]
    assert validate_annotations({"k": "x" * (256 * 1024 - 1)}, "metadata.annotations") == []


def test_port_number() -> None:
    assert validate_port_number(80, "spec.ports[0].port") == []
    assert validate_port_number(65535, "p") == []
    assert [str(e) for e in validate_port_number(0, "spec.ports[0].port")] == [
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
    ]
    assert len(validate_port_number(65536, "p")) == 1


def test_port_name() -> None:
    assert is_valid_port_name("http") == []
    assert is_valid_port_name("h2c-1") == []
    assert is_valid_port_name("a" * 16) == ["must be no more than 15 characters"]
    assert is_valid_port_name("HTTP") == [
        "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        "must contain at least one letter (a-z)",
    ]
    assert is_valid_port_name("8080") == ["must contain at least one letter (a-z)"]
    assert is_valid_port_name("a--b") == ["must not contain consecutive hyphens"]
    assert is_valid_port_name("-ab") == ["must not begin or end with a hyphen"]


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (invalid("l", validation.go_string_map({"b": "2", "a": "x\"y"}), "d"),
         'l: Invalid value: map[string]string{"a":"x\\"y", "b":"2"}: d'),
        (invalid("l", validation.go_string_map({}), "d"), "l: Invalid value: map[string]string(nil): d"),
        (invalid("s", validation.GoValue("&LabelSelector{}"), "d"), "s: Invalid value: &LabelSelector{}: d"),
        (duplicate("s", validation.GoValue("0%")), "s: Duplicate value: 0%"),
    ],
)
def test_go_values_print_as_go_prints_them(error: FieldError, text: str) -> None:
    assert str(error) == text


RELAXED_ENV_MSG = "a valid environment variable name must consist only of printable ASCII characters other than '='"


@pytest.mark.parametrize(
    ("name", "problems"),
    [
        ("MY_VAR", []),
        ("1ST VAR", []),  # what the strict IsEnvVarName refused, 1.32 (gate beta, on) accepts
        ("a:b~!", []),
        ("", ["environment variable name must be non-empty"]),
        ("A=B", [RELAXED_ENV_MSG]),
        ("tab\there", [RELAXED_ENV_MSG]),
        ("caf\u00e9", [RELAXED_ENV_MSG]),
    ],
)
def test_relaxed_env_var_names(name: str, problems: list[str]) -> None:
    assert validation.is_relaxed_env_var_name(name) == problems
