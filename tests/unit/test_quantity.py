"""Quantities: parse values, formats, canonical strings and errors as apimachinery does.

The tables follow apimachinery's quantity_test.go (TestQuantityParse, TestQuantityString,
TestQuantityParseEmit).
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from skiff.api.quantity import (
    ERR_FORMAT_WRONG,
    ERR_NUMERIC,
    ERR_SUFFIX,
    Format,
    Quantity,
    QuantityError,
    parse_quantity,
)

DSI, BSI, DEX = Format.DECIMAL_SI, Format.BINARY_SI, Format.DECIMAL_EXPONENT
MAX_INT64 = (1 << 63) - 1


def dec(coefficient: int, exponent: int) -> Fraction:
    return Fraction(coefficient) * Fraction(10) ** exponent


PARSE_TABLE: list[tuple[str, Fraction, Format]] = [
    ("0", dec(0, 0), DSI),
    ("0n", dec(0, 0), DSI),
    ("0Ki", dec(0, 0), BSI),
    ("0Ti", dec(0, 0), BSI),
    ("1", dec(1, 0), DSI),
    ("1Ki", dec(1024, 0), BSI),
    ("7Mi", dec(7 * 1024**2, 0), BSI),
    ("5Ti", dec(5 * 1024**4, 0), BSI),
    ("3Ei", dec(3 * 1024**6, 0), BSI),
    ("5n", dec(5, -9), DSI),
    ("4u", dec(4, -6), DSI),
    ("3m", dec(3, -3), DSI),
    ("8k", dec(8, 3), DSI),
    ("50k", dec(5, 4), DSI),
    ("300T", dec(3, 14), DSI),
    ("1E", dec(1, 18), DSI),
    ("1E-3", dec(1, -3), DEX),
    ("1e3", dec(1, 3), DEX),
    ("1E18", dec(1, 18), DEX),
    ("1e14", dec(1, 14), DEX),
    ("100.035k", dec(100035, 0), DSI),
    ("0.001", dec(1, -3), DSI),
    ("0.0005k", dec(5, -1), DSI),
    ("0.5e-2", dec(5, -3), DEX),
    ("10.035M", dec(10035, 3), DSI),
    ("1.3E+6", dec(13, 5), DEX),
    ("1.53E12", dec(153, 10), DEX),
    ("6.987654321G", dec(6987654321, 0), DSI),
    ("1.01E", dec(101, 16), DSI),
    ("3.001n", dec(4, -9), DSI),
    ("1.1E-9", dec(2, -9), DEX),
    ("0.0000000001", dec(1, -9), DSI),
    ("0.5e-9", dec(1, -9), DEX),
    ("0.9n", dec(1, -9), DSI),
    ("0.00000012345", dec(124, -9), DSI),
    ("9Ei", dec(MAX_INT64, 0), BSI),
    ("9223372036854775807Ki", dec(MAX_INT64, 0), BSI),
    ("12E", dec(12, 18), DSI),
    ("100.035Ki", dec(10243584, -2), BSI),
    ("0.5Mi", dec(512 * 1024, 0), BSI),
    ("0.05Gi", dec(536870912, -1), BSI),
    ("0.025Ti", dec(274877906944, -1), BSI),
    ("0.000000000001Ki", dec(2, -9), DSI),
    (".001", dec(1, -3), DSI),
    (".0001k", dec(100, -3), DSI),
    ("1.", dec(1, 0), DSI),
    ("1.G", dec(1, 9), DSI),
    # the brief's examples
    ("500m", dec(5, -1), DSI),
    ("1.5Gi", dec(3 * 2**29, 0), BSI),
    ("128Mi", dec(128 * 2**20, 0), BSI),
    ("0.1", dec(1, -1), DSI),
    ("+1", dec(1, 0), DSI),
    ("-1", dec(-1, 0), DSI),
    ("100n", dec(1, -7), DSI),
    ("1u", dec(1, -6), DSI),
]


@pytest.mark.parametrize(("text", "value", "fmt"), PARSE_TABLE)
def test_parse_value_and_format(text: str, value: Fraction, fmt: Format) -> None:
    q = parse_quantity(text)
    assert q.value == value
    assert q.format is fmt


@pytest.mark.parametrize(("text", "value", "fmt"), PARSE_TABLE)
def test_parse_negative_and_explicit_plus(text: str, value: Fraction, fmt: Format) -> None:
    if text.startswith(("+", "-")):
        return
    negative = parse_quantity("-" + text)
    assert negative.value == -value
    assert negative.format is fmt
    assert parse_quantity("+" + text).value == value


CANONICAL_TABLE = [
    ("500m", "500m"),
    ("1.5Gi", "1536Mi"),
    ("1e3", "1e3"),  # DecimalExponent keeps its family (Kubernetes prints 1e3, not 1k)
    ("128Mi", "128Mi"),
    ("2", "2"),
    ("0.1", "100m"),
    ("1k", "1k"),
    ("1E", "1E"),
    ("+1", "1"),
    ("-1", "-1"),
    ("100n", "100n"),
    ("1u", "1u"),
    ("1500m", "1500m"),
    ("1.5", "1500m"),
    ("1024Mi", "1Gi"),
    ("1Ki", "1Ki"),
    ("1000M", "1G"),
    (".001Ki", "1024m"),
    (".000001Ki", "1024u"),
    (".000000001Ki", "1024n"),
    (".000000000001Ki", "2n"),
    ("1G", "1G"),
    ("0.001T", "1G"),
    ("1000u", "1m"),
    ("1.08", "1080m"),
    ("1080000000n", "1080m"),
    ("1000E", "1e21"),
    ("5000E", "5e21"),
    ("1000000E", "1e24"),
    ("307200Ki", "300Mi"),
    ("1025024Mi", "1001Gi"),
    ("1024Gi", "1Ti"),
    ("5000m", "5"),
    ("0.5", "500m"),
    ("1025", "1025"),
    ("1025Ki", "1025Ki"),
    ("0Ki", "0"),
    ("00", "0"),
    (".001e12", "1e9"),
    ("0.001e0", "1e-3"),
    ("1000e-12", "1e-9"),
    ("80e-3", "80e-3"),
    ("300e6", "300e6"),
    ("1234567M", "1234567M"),
    ("9Ei", "9223372036854775807"),
    ("1e4294967296", "1"),  # the exponent wraps to int32, as in Go
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL_TABLE)
def test_canonical(text: str, canonical: str) -> None:
    q = parse_quantity(text)
    assert q.canonical() == canonical
    assert str(q) == canonical
    assert parse_quantity(canonical) == q


@pytest.mark.parametrize(("text", "canonical"), CANONICAL_TABLE)
def test_canonical_of_negative(text: str, canonical: str) -> None:
    q = -parse_quantity(text)
    if canonical.startswith("-"):
        assert q.canonical() == canonical[1:]
    else:
        assert q.canonical() == (canonical if canonical == "0" else "-" + canonical)


def test_binary_not_whole_or_small_is_shown_decimal() -> None:
    assert Quantity(1234567, -3, BSI).canonical() == "1234567m"
    assert Quantity(5, 0, BSI).canonical() == "5"
    assert Quantity(1023, 0, BSI).canonical() == "1023"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ERR_FORMAT_WRONG),
        ("1.1.M", ERR_FORMAT_WRONG),
        ("1+1.0M", ERR_FORMAT_WRONG),
        ("0.1am", ERR_FORMAT_WRONG),
        ("aoeu", ERR_FORMAT_WRONG),
        (" 1", ERR_FORMAT_WRONG),
        ("1 ", ERR_FORMAT_WRONG),
        ("0.1mi", ERR_SUFFIX),
        (".5i", ERR_SUFFIX),
        ("1i", ERR_SUFFIX),
        ("-3.01i", ERR_SUFFIX),
        ("-3.01e-", ERR_SUFFIX),
        ("1e", ERR_SUFFIX),
        ("1ki", ERR_SUFFIX),
        ("1e99999999999999999999", ERR_SUFFIX),
        ("e-10", ERR_NUMERIC),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as caught:
        parse_quantity(text)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_format_error_message_is_kubernetes() -> None:
    assert ERR_FORMAT_WRONG == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


@pytest.mark.parametrize(
    ("text", "milli", "value"),
    [
        ("1", 1000, 1),
        ("1.5", 1500, 2),
        ("100m", 100, 1),
        ("0.1m", 1, 1),
        ("1n", 1, 1),
        ("1Ki", 1024000, 1024),
        ("-1.5", -1500, -2),  # away from zero, like int64Amount.AsScaledInt64
        ("-1n", -1, -1),
        ("0", 0, 0),
        ("1e3", 1000000, 1000),
    ],
)
def test_milli_and_int_value(text: str, milli: int, value: int) -> None:
    q = parse_quantity(text)
    assert q.milli_value() == milli
    assert q.int_value() == value


def test_comparison_and_equality_are_by_value() -> None:
    assert parse_quantity("100m") > parse_quantity("50m")
    assert parse_quantity("10000T") > parse_quantity("100Gi")
    assert parse_quantity("1Gi") == parse_quantity("1073741824")
    assert parse_quantity("1Gi") == 1073741824
    assert parse_quantity("1500m") == parse_quantity("1.5")
    assert parse_quantity("1") != parse_quantity("1001m")
    assert parse_quantity("-1") < 0 < parse_quantity("1n")
    assert sorted([parse_quantity("1Ki"), parse_quantity("1k"), parse_quantity("1")]) == [
        parse_quantity("1"),
        parse_quantity("1k"),
        parse_quantity("1Ki"),
    ]


def test_hash_agrees_with_numbers() -> None:
    assert hash(parse_quantity("1Gi")) == hash(1073741824)
    assert hash(parse_quantity("500m")) == hash(Fraction(1, 2))
    assert hash(parse_quantity("-3m")) == hash(Fraction(-3, 1000))
    assert len({parse_quantity("1"), parse_quantity("1000m"), parse_quantity("1e0")}) == 1


def test_huge_exponents_compare_without_expanding() -> None:
    huge = parse_quantity("1e2000000000")
    assert huge > parse_quantity("9Ei")
    assert -huge < parse_quantity("-1")
    assert huge.canonical() == "100e1999999998"
    assert parse_quantity("1e-2000000000").canonical() == "1e-9"  # rounded up to 1n, still DecimalExponent
    assert parse_quantity("0.000000000000001").canonical() == "1n"


def test_numbers_longer_than_pythons_int_string_limit() -> None:
    q = parse_quantity("1" + "0" * 5000)
    assert q.canonical() == "100e4998"  # DecimalSI past E: exponent form, multiple of 3
    assert parse_quantity("1" * 5000).canonical() == "1" * 5000


def test_add_and_sub_keep_format_unless_zero() -> None:
    zero = parse_quantity("0")
    for text in ("100m", "1Gi"):
        q = parse_quantity(text)
        assert (q + zero).canonical() == text
        assert (zero + q).canonical() == text
        assert (q - zero).canonical() == text
        assert (zero - q).canonical() == "-" + text
    total = parse_quantity("1Gi") + parse_quantity("512Mi")
    assert total.format is BSI and total.canonical() == "1536Mi"
    assert (parse_quantity("1") - parse_quantity("1")).canonical() == "0"
    assert (parse_quantity("250m") + parse_quantity("1")).canonical() == "1250m"


def test_multiply_and_constructors() -> None:
    assert (parse_quantity("100m") * 3).canonical() == "300m"
    assert Quantity.from_int(1024, BSI).canonical() == "1Ki"
    assert Quantity.from_int(1000).canonical() == "1k"
    assert Quantity.from_milli(1).canonical() == "1m"
    assert Quantity.from_milli(1024, BSI).canonical() == "1024m"
    assert Quantity.from_int(1000000, DEX).canonical() == "1e6"


def test_binary_sum_beyond_exa_keeps_a_suffix() -> None:
    q = Quantity.from_int(1 << 70, BSI)
    assert q.canonical() == "1024Ei"


def test_quantity_is_immutable_and_repr() -> None:
    q = parse_quantity("1.5Gi")
    with pytest.raises(AttributeError):
        q.coefficient = 3  # type: ignore[misc]
    assert repr(q) == "Quantity('1536Mi')"
    assert bool(parse_quantity("0")) is False
