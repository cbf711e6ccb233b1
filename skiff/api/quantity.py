"""Resource quantities ("500m", "1.5Gi", "1e3") with Kubernetes' exact semantics.

A :class:`Quantity` is a fixed-point number, never a float: it holds an integer coefficient and a
base-10 exponent (``value = coefficient * 10**exponent``), kept normalised (no trailing zeros in
the coefficient), plus the *format* the number was written in. Every binary suffix maps to an
exact decimal (``2**n`` for ``n >= 0`` always has a finite decimal expansion), so one
representation serves all three formats, and comparisons of numbers with wildly different
exponents ("1e300000000" against "1") settle on digit counts without building huge integers.

Parsing follows apimachinery's ``ParseQuantity`` step by step:

* the string is scanned into sign, integer digits, fraction digits and a suffix by the same
  permissive scanner Kubernetes uses (so ``"."``, ``"m"`` and ``"1."`` parse, as they do there);
* the suffix selects a format: ``DecimalSI`` (``n u m "" k M G T P E``), ``BinarySI``
  (``Ki Mi Gi Ti Pi Ei``) or ``DecimalExponent`` (``e3``, ``E-6``; the exponent wraps to int32
  like Go's conversion does);
* non-zero values are rounded *away from zero* to a multiple of 1n (``0.1n`` becomes ``1n``),
  binary values are capped at ``2**63-1``, and binary values strictly between 0 and 1 switch to
  ``DecimalSI``.

:meth:`Quantity.canonical` is ``Quantity.String()``'s canonical form: the largest suffix of the
quantity's own format that needs no fractional digits (``1.5`` -> ``1500m``, ``1024Mi`` ->
``1Gi``, ``1e3`` stays ``1e3``, ``1.5Gi`` -> ``1536Mi``). Binary quantities that are not whole
numbers, or lie in (-1024, 1024), are shown in ``DecimalSI``; decimal exponents beyond ``E``
fall back to ``e<n>`` (as current apimachinery does).

Differences from Go, on purpose: Kubernetes echoes some already-parsed spellings verbatim from a
string cache (``"+1"``, ``"01"``, ``"1."``), :meth:`canonical` always computes the canonical
form; integer results are exact Python ints instead of overflowing int64; a binary sum beyond
``Ei`` is written with ``Ei`` instead of losing its suffix.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple

__all__ = [
    "Format",
    "Quantity",
    "QuantityError",
    "parse_quantity",
    "ERR_FORMAT_WRONG",
    "ERR_NUMERIC",
    "ERR_SUFFIX",
]

_SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{_SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_DIGITS = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_NANO = -9
_MAX_INT64 = (1 << 63) - 1
_MAX_INT64_FACTORS = 18  # decimal digits that always fit an int64
_HASH_MODULUS = sys.hash_info.modulus


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity; the message is apimachinery's."""


class Format(StrEnum):
    """The three spellings of a quantity; a parsed quantity remembers its own."""

    DECIMAL_EXPONENT = "DecimalExponent"  # 12e6
    BINARY_SI = "BinarySI"  # 12Mi (12 * 2**20)
    DECIMAL_SI = "DecimalSI"  # 12M (12 * 10**6)


_DECIMAL_SUFFIXES: dict[str, int] = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES: dict[str, int] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {exp: suffix for suffix, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_POWER = {power // 10: suffix for suffix, power in _BINARY_SUFFIXES.items()}
_MAX_BINARY_POWER = max(_BINARY_BY_POWER)


# --------------------------------------------------------------------------- scanning


class _Scanned(NamedTuple):
    positive: bool
    value: str  # the numeric part as written, sign included (what Go hands to inf.Dec)
    num: str  # integer digits without leading zeros ("0" when there are none)
    denom: str  # fraction digits
    suffix: str


def _scan_digits(s: str, pos: int) -> int:
    """Index of the first non-digit at or after ``pos``."""
    while pos < len(s) and s[pos] in _DIGITS:
        pos += 1
    return pos


def _scan(s: str) -> _Scanned:
    """Split ``s`` like apimachinery's ``parseQuantityString`` (deliberately permissive)."""
    end = len(s)
    pos = 1 if s[:1] in ("+", "-") else 0
    positive = s[:1] != "-"
    while pos < end and s[pos] == "0":
        pos += 1
    if pos >= end:
        return _Scanned(positive, "0", "0", "", "")
    num_end = _scan_digits(s, pos)
    num = s[pos:num_end] or "0"
    pos, denom = num_end, ""
    if pos < end and s[pos] == ".":
        denom_end = _scan_digits(s, pos + 1)
        denom, pos = s[pos + 1 : denom_end], denom_end
    value, suffix_start = s[:pos], pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    if _scan_digits(s, pos) != end:
        raise QuantityError(ERR_FORMAT_WRONG)
    return _Scanned(positive, value, num, denom, s[suffix_start:])


def _wrap_int32(value: int) -> int:
    """Go's ``int32(x)`` conversion of an int64."""
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


def _parse_go_int64(text: str) -> int | None:
    """``strconv.ParseInt(text, 10, 64)``: optional sign, ASCII digits, int64 range."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or any(c not in _DIGITS for c in body) or len(body.lstrip("0")) > 19:
        return None
    value = int(text)
    return value if -(1 << 63) <= value <= _MAX_INT64 else None


def _interpret_suffix(suffix: str) -> tuple[int, int, Format]:
    """(base, exponent, format) for a suffix, or :data:`ERR_SUFFIX`."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], Format.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], Format.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent = _parse_go_int64(suffix[1:])
        if exponent is not None:
            return 10, _wrap_int32(exponent), Format.DECIMAL_EXPONENT
    raise QuantityError(ERR_SUFFIX)


def _takes_fast_path(scanned: _Scanned, base: int, exponent: int) -> bool:
    """Whether Go parses this with int64 arithmetic (which never reports ERR_NUMERIC)."""
    digits = len(scanned.num) + len(scanned.denom)
    if base == 10:
        return digits <= _MAX_INT64_FACTORS and exponent - len(scanned.denom) >= _NANO
    if scanned.denom:
        return False
    precision = 15 - len(scanned.num) - int(exponent * 3 / 10) - 1
    return precision >= 0 and _int_from_digits(scanned.num) << exponent <= _MAX_INT64


# --------------------------------------------------------------------------- arithmetic helpers


# Python refuses str(int) / int(str) beyond 4300 digits; quantities have no such limit, so the
# few conversions that could meet a huge number go through these chunked helpers.
_CHUNK_DIGITS = 4000
_CHUNK = 10**_CHUNK_DIGITS


def _int_from_digits(digits: str) -> int:
    """``int(digits)`` for a string of ASCII digits of any length."""
    if len(digits) <= _CHUNK_DIGITS:
        return int(digits)
    head, tail = digits[:-_CHUNK_DIGITS], digits[-_CHUNK_DIGITS:]
    return _int_from_digits(head) * _CHUNK + int(tail)


def _int_to_text(value: int) -> str:
    """``str(value)`` for an int of any size."""
    magnitude = abs(value)
    if magnitude < _CHUNK:
        return str(value)
    head, tail = divmod(magnitude, _CHUNK)
    text = _int_to_text(head) + str(tail).rjust(_CHUNK_DIGITS, "0")
    return "-" + text if value < 0 else text


def _decimal_digits(value: int) -> int:
    """Number of decimal digits of ``|value|`` (1 for zero)."""
    magnitude = abs(value)
    if magnitude < 10**18:
        return len(str(magnitude))
    estimate = max(1, int(magnitude.bit_length() * 0.30102999566398120))
    while 10**estimate <= magnitude:
        estimate += 1
    while 10 ** (estimate - 1) > magnitude:
        estimate -= 1
    return estimate


def _strip_tens(coef: int, exp: int) -> tuple[int, int]:
    """Move trailing decimal zeros of ``coef`` into ``exp``; zero is (0, 0)."""
    if coef == 0:
        return 0, 0
    for chunk_digits in (16, 4, 1):
        chunk = 10**chunk_digits
        while coef % chunk == 0:
            coef, exp = coef // chunk, exp + chunk_digits
    return coef, exp


def _divide_away_from_zero(coef: int, shift: int) -> int:
    """``coef / 10**shift`` rounded away from zero, without building 10**shift needlessly."""
    if coef == 0:
        return 0
    sign = 1 if coef > 0 else -1
    magnitude = abs(coef)
    if shift > _decimal_digits(magnitude):
        return sign
    quotient, remainder = divmod(magnitude, 10**shift)
    return sign * (quotient + (1 if remainder else 0))


def _round_to_nano(coef: int, exp: int) -> tuple[int, int]:
    """Round a non-zero value away from zero to a multiple of 10**-9."""
    if exp >= _NANO:
        return coef, exp
    return _divide_away_from_zero(coef, _NANO - exp), _NANO


def _magnitude(coef: int, exp: int) -> int:
    """The decimal exponent ``m`` with ``10**(m-1) <= |value| < 10**m`` (value non-zero)."""
    return _decimal_digits(coef) + exp


def _compare_parts(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Three-way comparison of two (coefficient, exponent) values."""
    (ca, ea), (cb, eb) = a, b
    sa, sb = (ca > 0) - (ca < 0), (cb > 0) - (cb < 0)
    if sa != sb or sa == 0:
        return (sa > sb) - (sa < sb)
    ma, mb = _magnitude(ca, ea), _magnitude(cb, eb)
    if ma != mb:
        return sa if ma > mb else -sa
    low = min(ea, eb)
    xa, xb = ca * 10 ** (ea - low), cb * 10 ** (eb - low)
    return (xa > xb) - (xa < xb)


def _aligned_sum(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (ca, ea), (cb, eb) = a, b
    low = min(ea, eb)
    return ca * 10 ** (ea - low) + cb * 10 ** (eb - low), low


def _numeric_hash(coef: int, exp: int) -> int:
    """Python's numeric hash of ``coef * 10**exp`` (equal to ``hash(Fraction(...))``)."""
    residue = abs(coef) % _HASH_MODULUS * pow(10, exp, _HASH_MODULUS) % _HASH_MODULUS
    result = residue if coef >= 0 else -residue
    return -2 if result == -1 else result


# --------------------------------------------------------------------------- the value type


@dataclass(frozen=True, eq=False, repr=False, slots=True)
class Quantity:
    """An exact quantity: ``coefficient * 10**exponent``, written in ``format``.

    Build one with :func:`parse_quantity`, :meth:`from_int`, :meth:`from_milli` or directly.
    Equality, ordering and hashing compare values only (``1Gi == 1073741824``), like
    ``Quantity.Cmp``; ``+``/``-`` keep the left operand's format unless it is zero.
    """

    coefficient: int = 0
    exponent: int = 0
    format: Format = Format.DECIMAL_SI

    def __post_init__(self) -> None:
        coef, exp = _strip_tens(self.coefficient, self.exponent)
        object.__setattr__(self, "coefficient", coef)
        object.__setattr__(self, "exponent", exp)

    # ---- construction

    @classmethod
    def from_int(cls, value: int, fmt: Format = Format.DECIMAL_SI) -> Quantity:
        """``NewQuantity``: an integer amount in the given format."""
        return cls(value, 0, fmt)

    @classmethod
    def from_milli(cls, value: int, fmt: Format = Format.DECIMAL_SI) -> Quantity:
        """``NewMilliQuantity``: ``value / 1000`` in the given format."""
        return cls(value, -3, fmt)

    # ---- exact views

    @property
    def value(self) -> Fraction:
        """The exact value (beware: materialises 10**exponent)."""
        if self.exponent >= 0:
            return Fraction(self.coefficient * 10**self.exponent)
        return Fraction(self.coefficient, 10**-self.exponent)

    @property
    def sign(self) -> int:
        return (self.coefficient > 0) - (self.coefficient < 0)

    def is_zero(self) -> bool:
        return self.coefficient == 0

    def scaled_value(self, scale: int) -> int:
        """``ScaledValue``: the value in units of 10**scale, rounded away from zero."""
        shift = self.exponent - scale
        if shift >= 0:
            return self.coefficient * 10**shift
        return _divide_away_from_zero(self.coefficient, -shift)

    def int_value(self) -> int:
        """``Value()``: the integer value, rounded away from zero (ceil for positives)."""
        return self.scaled_value(0)

    def milli_value(self) -> int:
        """``MilliValue()``: the value in thousandths, rounded away from zero."""
        return self.scaled_value(-3)

    # ---- canonical form

    def canonical(self) -> str:
        """The canonical string Kubernetes serialises (``Quantity.String()``)."""
        if self.coefficient == 0:
            return "0"
        if self.format is Format.BINARY_SI:
            binary = self._binary_canonical()
            if binary is not None:
                return binary
            return self._decimal_canonical(Format.DECIMAL_SI)
        return self._decimal_canonical(self.format)

    def _binary_canonical(self) -> str | None:
        """The BinarySI spelling, or None when Kubernetes falls back to DecimalSI."""
        if self._compare_int(-1024) > 0 and self._compare_int(1024) < 0:
            return None
        if self.exponent < 0:
            return None  # not a whole number: rounding it would lose precision
        amount, power = self.coefficient * 10**self.exponent, 0
        while amount % 1024 == 0:
            amount, power = amount // 1024, power + 1
        if power > _MAX_BINARY_POWER:
            amount, power = amount * 1024 ** (power - _MAX_BINARY_POWER), _MAX_BINARY_POWER
        return _int_to_text(amount) + _BINARY_BY_POWER.get(power, "")

    def _decimal_canonical(self, fmt: Format) -> str:
        exp3 = self.exponent - self.exponent % 3
        amount = self.coefficient * 10 ** (self.exponent - exp3)
        number = _int_to_text(amount)
        if fmt is Format.DECIMAL_SI and exp3 in _DECIMAL_BY_EXPONENT:
            return number + _DECIMAL_BY_EXPONENT[exp3]
        return f"{number}e{exp3}" if exp3 else number

    def __str__(self) -> str:
        return self.canonical()

    def __repr__(self) -> str:
        return f"Quantity({self.canonical()!r})"

    # ---- comparison

    def _parts(self) -> tuple[int, int]:
        return self.coefficient, self.exponent

    def _compare_int(self, other: int) -> int:
        return _compare_parts(self._parts(), (other, 0))

    def compare(self, other: Quantity | int) -> int:
        """``Cmp``: -1, 0 or 1."""
        if isinstance(other, Quantity):
            return _compare_parts(self._parts(), other._parts())
        return self._compare_int(other)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Quantity | int):
            return self.compare(other) == 0
        return NotImplemented

    def __hash__(self) -> int:
        return _numeric_hash(self.coefficient, self.exponent)

    def __lt__(self, other: Quantity | int) -> bool:
        return self.compare(other) < 0

    def __le__(self, other: Quantity | int) -> bool:
        return self.compare(other) <= 0

    def __gt__(self, other: Quantity | int) -> bool:
        return self.compare(other) > 0

    def __ge__(self, other: Quantity | int) -> bool:
        return self.compare(other) >= 0

    def __bool__(self) -> bool:
        return self.coefficient != 0

    # ---- arithmetic

    def __add__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = other.format if self.is_zero() else self.format
        coef, exp = _aligned_sum(self._parts(), other._parts())
        return Quantity(coef, exp, fmt)

    def __sub__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self + Quantity(-other.coefficient, other.exponent, other.format)

    def __neg__(self) -> Quantity:
        return Quantity(-self.coefficient, self.exponent, self.format)

    def __mul__(self, factor: int) -> Quantity:
        if not isinstance(factor, int):
            return NotImplemented
        return Quantity(self.coefficient * factor, self.exponent, self.format)

    __rmul__ = __mul__


# --------------------------------------------------------------------------- parsing


def _exact_parts(scanned: _Scanned, base: int, exponent: int) -> tuple[int, int]:
    """The written number times its suffix, as (coefficient, base-10 exponent)."""
    coef = _int_from_digits(scanned.num + scanned.denom)
    if not scanned.positive:
        coef = -coef
    exp = -len(scanned.denom)
    if base == 10:
        return coef, exp + exponent
    return coef << exponent, exp


def _cap_binary(coef: int, exp: int) -> tuple[int, int]:
    """Binary quantities saturate at 2**63-1 in magnitude (their exponent is never positive)."""
    limit = _MAX_INT64 * 10**-exp
    if abs(coef) > limit:
        return (limit if coef > 0 else -limit), exp
    return coef, exp


@functools.lru_cache(maxsize=4096)
def parse_quantity(text: str) -> Quantity:
    """Parse a Kubernetes quantity string exactly as ``resource.ParseQuantity`` does.

    Quantities are immutable, so parses are cached: the same few strings ("100m", "128Mi")
    recur in every pod.
    """
    if not text:
        raise QuantityError(ERR_FORMAT_WRONG)
    if text == "0":
        return Quantity(0, 0, Format.DECIMAL_SI)
    scanned = _scan(text)
    base, exponent, fmt = _interpret_suffix(scanned.suffix)
    if not _takes_fast_path(scanned, base, exponent) and not _DIGITS.intersection(scanned.value):
        raise QuantityError(ERR_NUMERIC)
    coef, exp = _round_to_nano(*_exact_parts(scanned, base, exponent))
    if fmt is Format.BINARY_SI:
        coef, exp = _cap_binary(coef, exp)
        if coef != 0 and _compare_parts((abs(coef), exp), (1, 0)) < 0:
            fmt = Format.DECIMAL_SI
    return Quantity(coef, exp, fmt)
