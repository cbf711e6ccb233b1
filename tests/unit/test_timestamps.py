"""skiff.api.timestamps: the API's two time forms and the one reader of RFC 3339 stamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

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
    assert parse_rfc3339("2026-11-27T16:53:07") == MOMENT.replace(microsecond=0)  # no zone: UTC
    assert epoch_seconds("2026-11-27T16:53:07.123456Z") == MOMENT.timestamp()


def test_an_unset_or_malformed_stamp_is_unknown() -> None:
    for text in ("", "yesterday", "2026-13-01T00:00:00Z", "2026-11-27T16:53:07Zulu"):
        assert parse_rfc3339(text) is None
        assert epoch_seconds(text) is None
