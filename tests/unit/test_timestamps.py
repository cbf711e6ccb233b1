"""skiff.api.timestamps: the API's two time forms and the one reader of RFC 3339 stamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from skiff.api.timestamps import epoch_seconds, parse_rfc3339, rfc3339, rfc3339_micro

MOMENT = datetime(2026, 11, 27, 16, 53, 7, 123456, tzinfo=UTC)


def test_time_has_seconds_and_micro_time_has_microseconds() -> None:
    assert rfc3339(MOMENT) == "2026-11-27T16:53:07Z"
    assert rfc3339_micro(MOMENT) == "2026-11-27T16:53:07.123456Z"


def test_any_zone_epoch_seconds_and_naive_datetimes_are_written_in_utc() -> None:
    plus_two = MOMENT.astimezone(timezone(timedelta(hours=2)))
    assert rfc3339(plus_two) == "2026-11-27T16:53:07Z"
    assert rfc3339(MOMENT.timestamp()) == "2026-11-27T16:53:07Z"
    assert rfc3339(MOMENT.replace(tzinfo=None)) == "2026-11-27T16:53:07Z"


def test_now_is_the_default() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = parse_rfc3339(rfc3339())
    assert stamp is not None and before <= stamp <= datetime.now(UTC)


def test_every_form_reads_back_and_docker_nanoseconds_are_cut_to_microseconds() -> None:
    assert parse_rfc3339("2026-11-27T16:53:07Z") == MOMENT.replace(microsecond=0)
    assert parse_rfc3339(rfc3339_micro(MOMENT)) == MOMENT
    assert parse_rfc3339("2026-11-27T16:53:07.123456789Z") == MOMENT
    assert parse_rfc3339("2026-11-27T18:53:07.123456+02:00") == MOMENT
    assert epoch_seconds("2026-11-27T16:53:07.123456Z") == MOMENT.timestamp()


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-27T16:53:07Z", MOMENT.replace(microsecond=0)),
    ("2026-11-27t16:53:07Z", MOMENT.replace(microsecond=0)),          # RFC 3339 allows a lower-case t
    ("2026-11-27T16:53:07.1Z", MOMENT.replace(microsecond=100000)),  # any number of fraction digits
    ("2026-11-27T16:53:07.123456789123Z", MOMENT),
    ("2026-11-27T14:23:07.123456-02:30", MOMENT),
    ("2026-11-27T16:53:07-00:00", MOMENT.replace(microsecond=0)),
    ("2026-11-28T16:52:07.123456+23:59", MOMENT),
])
def test_rfc3339_forms_that_metav1_time_accepts(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected and parsed is not None and parsed.tzinfo is not None


@pytest.mark.parametrize("text", [
    "2026-11-27",                     # a bare date
    "2026-11-27T16:53:07",            # no zone
    "2026-11-27T16:53",               # no seconds
    "2026-11-27T16:53Z",
    "2026-11-27 16:53:07Z",           # a space is no separator
    "2026-11-27T16:53:07z",           # the zone is an upper-case Z
    "2026-11-27T16:53:07+02",         # an offset has hours and minutes
    "2026-11-27T16:53:07+0200",
    "2026-11-27T16:53:07+24:00",      # offsets within a day
    "2026-11-27T16:53:07+02:60",
    "2026-11-27T16:53:07.Z",          # a fraction has digits
    "2026-11-27T16:53:07,5Z",         # ... after a period
    "20261127T165307Z",               # ISO 8601's basic format
    "2026-W48-5T16:53:07Z",           # ... and week dates
    "2026-11-27T16:53:60Z",           # no leap seconds
    "2026-02-30T16:53:07Z",
    "2026-11-27T24:00:00Z",
    "+2026-11-27T16:53:07Z",
    "2026-11-27T16:53:07Z\n",
    "\uff12\uff10\uff12\uff16-11-27T16:53:07Z",  # ASCII digits only (these are full-width ones)
])
def test_anything_else_is_refused(text: str) -> None:
    assert parse_rfc3339(text) is None
    assert epoch_seconds(text) is None


def test_an_unset_or_malformed_stamp_is_unknown() -> None:
    for text in ("", "yesterday", "2026-13-01T00:00:00Z", "2026-11-27T16:53:07Zulu"):
        assert parse_rfc3339(text) is None
        assert epoch_seconds(text) is None
