"""skiff.api.cron: CronJob schedules as robfig/cron's standard parser (Kubernetes) reads them.

``parse`` is checked field by field (steps, ranges, ``N/step``, lists, names, ``?``), for every
descriptor and ``@every``, for the day-of-month/day-of-week rule and for ``CRON_TZ=``; its errors
carry robfig's wording. ``Schedule.next`` is checked for being strictly after its argument, for
rolling over months and years, for an impossible date, and for time zones across DST.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from skiff.api.cron import CronError, Schedule, parse


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def runs(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The first ``count`` activations after ``after``."""
    found: list[datetime] = []
    moment = after
    for _ in range(count):
        following = schedule.next(moment)
        assert following is not None
        found.append(following)
        moment = following
    return found


# ---- fields ----


def test_star_slash_fifteen_is_every_quarter_hour() -> None:
    s = parse("*/15 * * * *")
    assert s.minutes == frozenset({0, 15, 30, 45})
    assert runs(s, utc(2026, 1, 5, 10, 7), 3) == [utc(2026, 1, 5, 10, 15), utc(2026, 1, 5, 10, 30),
                                                  utc(2026, 1, 5, 10, 45)]


def test_a_range_with_a_step() -> None:
    assert parse("1-30/7 * * * *").minutes == frozenset({1, 8, 15, 22, 29})
    assert parse("* 9-17/4 * * *").hours == frozenset({9, 13, 17})


def test_a_single_value_with_a_step_runs_to_the_maximum() -> None:
    # robfig: "N/step" means "N-max/step"
    assert parse("5/20 * * * *").minutes == frozenset({5, 25, 45})
    assert parse("* * 10/10 * *").days == frozenset({10, 20, 30})


def test_lists_mix_values_ranges_and_steps() -> None:
    assert parse("0,10-12,50/5 * * * *").minutes == frozenset({0, 10, 11, 12, 50, 55})


def test_month_and_weekday_names_in_any_case() -> None:
    s = parse("0 0 * jan,MAR,Dec-dec mon-FRI")
    assert s.months == frozenset({1, 3, 12})
    assert s.weekdays == frozenset({1, 2, 3, 4, 5})
    assert parse("0 0 * * SUN").weekdays == frozenset({0})
    assert parse("0 0 * * sat").weekdays == frozenset({6})


def test_question_mark_is_a_star() -> None:
    assert parse("0 0 ? * 1") == parse("0 0 * * 1")
    assert parse("0 0 ? * 1").any_day


def test_a_bare_star_sets_the_star_bit_but_a_stepped_star_does_not() -> None:
    # robfig: "*" and "*/1" carry the star bit; "*/2" does not
    assert parse("0 0 * * 1").any_day and parse("0 0 */1 * 1").any_day
    assert not parse("0 0 */2 * 1").any_day
    assert not parse("0 0 1 * 1").any_day


# ---- descriptors ----


@pytest.mark.parametrize(("descriptor", "equivalent"), [
    ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"), ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *"),
])
def test_every_descriptor_is_its_five_field_form(descriptor: str, equivalent: str) -> None:
    assert parse(descriptor) == parse(equivalent)


def test_descriptors_fire_when_they_say() -> None:
    after = utc(2026, 1, 6, 10, 30)  # a Tuesday
    assert parse("@yearly").next(after) == utc(2027, 1, 1)
    assert parse("@monthly").next(after) == utc(2026, 2, 1)
    assert parse("@weekly").next(after) == utc(2026, 1, 11)  # Sunday
    assert parse("@daily").next(after) == utc(2026, 1, 7)
    assert parse("@midnight").next(after) == utc(2026, 1, 7)
    assert parse("@hourly").next(after) == utc(2026, 1, 6, 11)


def test_every_adds_its_duration_to_the_moment_cut_to_the_second() -> None:
    s = parse("@every 1h30m")
    assert s.every == 5400
    assert s.next(utc(2026, 1, 5, 10, 7, 3) + timedelta(microseconds=250_000)) == utc(2026, 1, 5, 11, 37, 3)
    assert parse("@every 90s").every == 90


def test_every_rounds_down_to_whole_seconds_and_is_at_least_one_second() -> None:
    # robfig's Every: below a second becomes a second; fractions of a second are dropped
    assert parse("@every 1500ms").every == 1
    assert parse("@every 10ms").every == 1


# ---- the two day fields ----


def test_both_day_fields_restricted_fire_on_either() -> None:
    s = parse("0 9 1 * 1")  # the 1st of the month, and every Monday
    assert runs(s, utc(2026, 1, 1, 10), 4) == [
        utc(2026, 1, 5, 9), utc(2026, 1, 12, 9), utc(2026, 1, 19, 9), utc(2026, 1, 26, 9)]
    assert runs(s, utc(2026, 1, 26, 10), 2) == [utc(2026, 2, 1, 9), utc(2026, 2, 2, 9)]  # Sun 1st, Mon 2nd


def test_a_star_in_one_day_field_means_both_must_match() -> None:
    mondays = parse("0 9 * * 1")
    assert runs(mondays, utc(2026, 1, 1), 2) == [utc(2026, 1, 5, 9), utc(2026, 1, 12, 9)]
    firsts = parse("0 9 1 * *")
    assert runs(firsts, utc(2026, 1, 1, 10), 2) == [utc(2026, 2, 1, 9), utc(2026, 3, 1, 9)]


def test_a_stepped_star_day_field_counts_as_restricted() -> None:
    # "*/2" has no star bit: the 1st (odd day) or any Monday
    s = parse("0 0 */2 * 1")
    assert s.next(utc(2026, 1, 1, 1)) == utc(2026, 1, 3)  # Saturday the 3rd: an odd day
    assert s.next(utc(2026, 1, 11, 1)) == utc(2026, 1, 12)  # Monday the 12th: even, but Monday


# ---- next ----


def test_next_is_strictly_after_its_argument() -> None:
    s = parse("*/5 * * * *")
    assert s.next(utc(2026, 1, 5, 10, 5)) == utc(2026, 1, 5, 10, 10)
    assert s.next(utc(2026, 1, 5, 10, 4, 59)) == utc(2026, 1, 5, 10, 5)
    assert s.next(utc(2026, 1, 5, 10, 5) + timedelta(microseconds=1)) == utc(2026, 1, 5, 10, 10)


def test_next_rolls_over_the_month_and_the_year() -> None:
    s = parse("* * * * *")
    assert s.next(utc(2026, 12, 31, 23, 59)) == utc(2027, 1, 1, 0, 0)
    assert parse("0 0 * * *").next(utc(2026, 1, 31, 12)) == utc(2026, 2, 1)
    assert parse("0 0 29 2 *").next(utc(2026, 3, 1)) == utc(2028, 2, 29)


def test_an_impossible_date_gives_none() -> None:
    assert parse("0 0 30 2 *").next(utc(2026, 1, 1)) is None
    assert parse("0 0 31 4,6,9,11 *").next(utc(2026, 1, 1)) is None


def test_the_result_is_in_utc_for_a_moment_in_another_zone() -> None:
    s = parse("CRON_TZ=Asia/Tokyo 0 9 * * *")
    moment = s.next(utc(2026, 1, 5, 1))
    assert moment == utc(2026, 1, 6, 0) and moment is not None and moment.utcoffset() == timedelta(0)


# ---- time zones ----


def test_cron_tz_fires_on_the_zones_wall_clock_across_daylight_saving() -> None:
    s = parse("CRON_TZ=America/New_York 0 9 * * *")
    assert s.next(utc(2026, 1, 15)) == utc(2026, 1, 15, 14)  # EST, UTC-5
    assert s.next(utc(2026, 7, 15)) == utc(2026, 7, 15, 13)  # EDT, UTC-4
    assert parse("TZ=America/New_York 0 9 * * *") == s


def test_without_a_zone_the_schedule_is_utc() -> None:
    assert parse("0 9 * * *").next(utc(2026, 7, 15)) == utc(2026, 7, 15, 9)


def test_a_time_in_the_spring_forward_gap_is_skipped_as_robfig_does() -> None:
    s = parse("CRON_TZ=America/New_York 30 2 * * *")
    assert s.next(utc(2026, 3, 7, 12)) == utc(2026, 3, 9, 6, 30)


def test_a_time_in_the_repeated_fall_back_hour_runs_twice_as_robfig_does() -> None:
    s = parse("CRON_TZ=America/New_York 30 1 * * *")
    assert runs(s, utc(2026, 10, 31, 12), 2) == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)]


# ---- errors ----


@pytest.mark.parametrize(("spec", "message"), [
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("0 0 * * * *", "expected exactly 5 fields, found 6: [0 0 * * * *]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("0 24 * * *", "end of range (24) above maximum (23): 24"),
    ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("0 0 * 13 *", "end of range (13) above maximum (12): 13"),
    ("0 0 * * 7", "end of range (7) above maximum (6): 7"),
    ("0 0 * * 5-7", "end of range (7) above maximum (6): 5-7"),
    ("30-10 * * * *", "beginning of range (30) beyond end of range (10): 30-10"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("0 0 * foo *", 'failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax'),
    ("*/x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("@every 1x", 'failed to parse duration @every 1x: time: unknown unit "x" in duration "1x"'),
    ("CRON_TZ=Mars/Olympus_Mons 0 9 * * *",
     "provided bad location Mars/Olympus_Mons: unknown time zone Mars/Olympus_Mons"),
])
def test_errors_are_worded_as_robfig_words_them(spec: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        parse(spec)
    assert str(caught.value) == message


def test_a_cron_error_is_a_value_error() -> None:
    assert issubclass(CronError, ValueError)


def test_descriptors_are_case_sensitive_as_in_robfig() -> None:
    with pytest.raises(CronError, match="unrecognized descriptor: @DAILY"):
        parse("@DAILY")


def test_go_number_syntax_is_required() -> None:
    # strconv.Atoi refuses what Python's int() would take, such as "1_0" or full-width digits
    for spec in ("1_0 * * * *", "\uff11 * * * *"):
        with pytest.raises(CronError, match="failed to parse int"):
            parse(spec)


@pytest.mark.parametrize(("spec", "message"), [
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("*/2/3 * * * *", "too many slashes: */2/3"),
])
def test_extra_hyphens_and_slashes_are_worded_as_robfig_words_them(spec: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        parse(spec)
    assert str(caught.value) == message


def test_an_empty_spec_is_worded_as_robfig_words_it() -> None:
    with pytest.raises(CronError) as caught:
        parse("")
    assert str(caught.value) == "empty spec string"


@pytest.mark.parametrize("spec", ["@every 0", "@every -5m", "@every +2s"])
def test_every_accepts_what_go_parse_duration_accepts(spec: str) -> None:
    assert parse(spec).every in (1, 2)
