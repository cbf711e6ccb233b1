"""Label and field selectors: parsing, matching, canonical strings and errors as in apimachinery."""

from __future__ import annotations

import pytest

from skiff.api.labels import (
    EVERYTHING,
    NOTHING,
    FieldRequirement,
    Operator,
    Requirement,
    SelectorError,
    escape_field_value,
    new_requirement,
    parse_field_selector,
    parse_selector,
    selector_from_proto,
    selector_from_set,
    validate_label_selector,
)
from skiff.api.v1 import meta_pb2

NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a in (x,y)", "a in (x,y)"),
        ("a notin (x)", "a notin (x)"),
        ("a", "a"),
        ("!a", "!a"),
        ("a>5", "a>5"),
        ("a<3", "a<3"),
        ("a=", "a="),
        ("a in ()", "a in ()"),
        ("a in (,)", "a in ()"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        (" b = 1 , a in ( y , x , y ) ,!c ", "a in (x,y),b=1,!c"),
        ("\ta\t", "a"),
        ("in in (in)", "in in (in)"),
        ("example.com/app=web", "example.com/app=web"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_parse_and_round_trip(text: str, canonical: str) -> None:
    selector = parse_selector(text)
    assert str(selector) == canonical
    assert parse_selector(str(selector)) == selector


def test_requirements_are_sorted_by_key_with_sorted_unique_values() -> None:
    selector = parse_selector("z=1,a in (c,b,c),m")
    assert selector.requirements == (
        Requirement("a", Operator.IN, ("b", "c")),
        Requirement("m", Operator.EXISTS),
        Requirement("z", Operator.EQUALS, ("1",)),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=b,", "found '', expected: identifier after ','"),
        ("a=b,,c", "found ',', expected: identifier after ','"),
        ("=b", "found '=', expected: !, identifier, or 'end of string'"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a!b", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a=(b)", "unable to parse requirement: found '(', expected: identifier"),
        ("! =a", "unable to parse requirement: found '=', expected: identifier"),
        ("-a=b", f'unable to parse requirement: <nil>: Invalid value: "-a": {NAME_PART_MSG}'),
        (
            "a>b",
            'unable to parse requirement: values[0]: Invalid value: "b": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_invalid_value_error_names_the_key() -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector("app=-web")
    assert str(caught.value).startswith(
        'unable to parse requirement: values[0][app]: Invalid value: "-web": '
    )


# --------------------------------------------------------------------------- matching

LABELS = {"app": "web", "tier": "fe", "n": "10"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),  # != matches objects without the key
        ("missing notin (x)", True),  # so does notin
        ("missing in (x)", False),
        ("missing=", False),
        ("app in (db,web)", True),
        ("app notin (db,web)", False),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("n>9", True),
        ("n>10", False),
        ("n<11", True),
        ("app>1", False),  # not an integer label value
        ("missing<1", False),
        ("app=web,tier=be", False),
        ("app=web,tier in (fe,be),!canary", True),
    ],
)
def test_matches(text: str, expected: bool) -> None:
    assert parse_selector(text).matches(LABELS) is expected


def test_everything_and_nothing() -> None:
    assert EVERYTHING.empty and EVERYTHING.matches({})
    assert parse_selector("").empty
    assert not parse_selector("a").empty
    assert not NOTHING.empty and not NOTHING.matches({}) and not NOTHING.matches(LABELS)
    assert str(NOTHING) == ""


def test_selector_from_set_and_exact_match() -> None:
    selector = selector_from_set({"tier": "fe", "app": "web"})
    assert str(selector) == "app=web,tier=fe"
    assert selector.matches(LABELS)
    assert selector.requires_exact_match("app") == "web"
    assert selector.requires_exact_match("other") is None
    assert selector_from_set({}) == EVERYTHING
    assert parse_selector("a in (x,y)").requires_exact_match("a") is None
    assert parse_selector("a in (x)").requires_exact_match("a") == "x"


def test_new_requirement_validates() -> None:
    assert new_requirement("a", Operator.IN, ["x"]).matches({"a": "x"})
    with pytest.raises(SelectorError, match="values set can't be empty"):
        new_requirement("a", Operator.IN, [])
    with pytest.raises(SelectorError, match="exact-match compatibility requires one single value"):
        new_requirement("a", Operator.EQUALS, ["x", "y"])
    with pytest.raises(SelectorError, match="values set must be empty for exists and does not exist"):
        new_requirement("a", Operator.EXISTS, ["x"])
    with pytest.raises(SelectorError) as caught:
        new_requirement("a", "~", [])
    assert str(caught.value) == (
        'operator: Unsupported value: "~": supported values: "in", "notin", "=", "==", "!=", "gt", "lt", '
        '"exists", "!"'
    )


# --------------------------------------------------------------------------- LabelSelector protos


def expr(key: str, operator: str, *values: str) -> meta_pb2.LabelSelectorRequirement:
    return meta_pb2.LabelSelectorRequirement(key=key, operator=operator, values=list(values))


def test_selector_from_proto() -> None:
    proto = meta_pb2.LabelSelector(
        match_labels={"app": "web"},
        match_expressions=[
            expr("tier", "In", "fe", "be"),
            expr("canary", "DoesNotExist"),
            expr("env", "Exists"),
        ],
    )
    selector = selector_from_proto(proto)
    assert str(selector) == "app=web,!canary,env,tier in (be,fe)"
    assert selector.matches({"app": "web", "tier": "be", "env": "prod"})
    assert not selector.matches({"app": "web", "tier": "be", "env": "prod", "canary": "1"})
    assert selector_from_proto(meta_pb2.LabelSelector(match_expressions=[expr("t", "NotIn", "x")])).matches(
        {}
    )


def test_nil_selector_matches_nothing_empty_matches_everything() -> None:
    assert not selector_from_proto(None).matches({})
    assert not selector_from_proto(None).matches(LABELS)
    empty = selector_from_proto(meta_pb2.LabelSelector())
    assert empty.empty and empty.matches({}) and empty.matches(LABELS)


def test_selector_from_proto_errors() -> None:
    with pytest.raises(SelectorError) as caught:
        selector_from_proto(meta_pb2.LabelSelector(match_expressions=[expr("a", "Foo")]))
    assert str(caught.value) == '"Foo" is not a valid label selector operator'
    with pytest.raises(SelectorError) as caught:
        selector_from_proto(meta_pb2.LabelSelector(match_expressions=[expr("a", "In")]))
    assert (
        str(caught.value)
        == "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
    )


def test_validate_label_selector() -> None:
    assert validate_label_selector(None, "spec.selector") == []
    ok = meta_pb2.LabelSelector(match_labels={"app": "web"}, match_expressions=[expr("t", "In", "a")])
    assert validate_label_selector(ok, "spec.selector") == []
    bad = meta_pb2.LabelSelector(
        match_labels={"app": "-web"},
        match_expressions=[
            expr("a", "In"),
            expr("b", "Exists", "x"),
            expr("-c", "Maybe"),
            expr("d", "NotIn", "-v"),
        ],
    )
    messages = [str(e) for e in validate_label_selector(bad, "spec.selector")]
    assert messages[1:] == [
        "spec.selector.matchExpressions[0].values: Required value: "
        "must be specified when `operator` is 'In' or 'NotIn'",
        "spec.selector.matchExpressions[1].values: Forbidden: "
        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        'spec.selector.matchExpressions[2].operator: Invalid value: "Maybe": not a valid selector operator',
        f'spec.selector.matchExpressions[2].key: Invalid value: "-c": {NAME_PART_MSG}',
        messages[5],
    ]
    assert messages[0].startswith('spec.selector.matchLabels: Invalid value: "-web": a valid label must be')
    assert messages[5].startswith('spec.selector.matchExpressions[3].values[0]: Invalid value: "-v": ')


# --------------------------------------------------------------------------- field selectors


def test_field_selector_parse_and_match() -> None:
    selector = parse_field_selector("status.phase!=Failed,spec.nodeName==node-1")
    assert selector.requirements == (
        FieldRequirement("spec.nodeName", "=", "node-1"),
        FieldRequirement("status.phase", "!=", "Failed"),
    )
    assert [tuple(r) for r in selector.requirements] == [
        ("spec.nodeName", "=", "node-1"),
        ("status.phase", "!=", "Failed"),
    ]
    assert str(selector) == "spec.nodeName=node-1,status.phase!=Failed"
    assert selector.matches({"spec.nodeName": "node-1", "status.phase": "Running"})
    assert not selector.matches({"spec.nodeName": "node-1", "status.phase": "Failed"})
    assert not selector.matches({"spec.nodeName": "node-2"})
    assert selector.requires_exact_match("spec.nodeName") == "node-1"
    assert selector.requires_exact_match("status.phase") is None


def test_field_selector_missing_field_is_empty_string() -> None:
    assert parse_field_selector("spec.nodeName=").matches({})
    assert parse_field_selector("spec.nodeName!=n1").matches({})
    assert not parse_field_selector("spec.nodeName=n1").matches({})


def test_field_selector_empty_and_whitespace() -> None:
    assert parse_field_selector("").empty and parse_field_selector("").matches({"a": "b"})
    assert parse_field_selector(",,").empty
    assert parse_field_selector("a = b").requirements == (FieldRequirement("a ", "=", " b"),)


def test_field_selector_escaping() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d")
    assert selector.requirements[0].value == "a,b=c\\d"
    assert str(selector) == r"metadata.name=a\,b\=c\\d"
    assert parse_field_selector(str(selector)) == selector
    assert escape_field_value("x=y,z") == r"x\=y\,z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "invalid selector: 'a'; can't understand 'a'"),
        ("x=1,b", "invalid selector: 'x=1,b'; can't understand 'b'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_field_selector(text)
    assert str(caught.value) == message
