"""Cron schedules as Kubernetes reads a CronJob's ``spec.schedule`` (robfig/cron's standard parser).

Five fields — minute, hour, day of month, month, day of week — each ``*`` (or ``?``), a value, a
range ``a-b``, any of those with a step (``*/15``, ``1-30/2``, ``5/10`` = ``5-max/10``), or a
comma list of them; months and weekdays also by name (``JAN``, ``mon``); Sunday is 0. The
descriptors ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight``,
``@hourly`` and ``@every <duration>`` are accepted, and a ``CRON_TZ=``/``TZ=`` prefix names the
time zone. When both day fields are restricted a day matching either runs (cron's rule); when
either is ``*`` both must match.

:meth:`Schedule.next` gives the first activation strictly after a moment in the schedule's zone
(UTC unless one is named), stepping as robfig does (see its docstring for daylight saving).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from skiff.api.strconv import atoi, parse_duration

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_MONTHS = {name: i + 1 for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (low, high, names) per field: minute, hour, day of month, month, day of week.
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _DAYS))
_SEARCH_YEARS = 5


class CronError(ValueError):
    """A schedule that does not parse (the message says why, as robfig/cron words it)."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    """Day of month or day of week is ``*``: both must match (else either may)."""
    zone: ZoneInfo | None = None
    every: float | None = None
    """``@every``: seconds between runs (the fields are unused)."""

    def next(self, after: datetime) -> datetime | None:
        """The first activation strictly after ``after`` (an aware datetime), in UTC; None if
        there is none within five years (``0 0 30 2 *``).

        robfig's ``SpecSchedule.Next`` step by step: months and days move on the zone's wall
        clock, hours and minutes on the absolute clock — so across a daylight-saving change a
        time inside the skipped hour does not run that day, and one inside the repeated hour runs
        twice, as in Kubernetes.
        """
        if self.every is not None:
            try:
                return (after.replace(microsecond=0) + timedelta(seconds=self.every)).astimezone(UTC)
            except OverflowError:
                return None
        zone = self.zone or UTC
        t = _shift(after.astimezone(zone).replace(microsecond=0), 1)
        added = False
        year_limit = t.year + _SEARCH_YEARS
        while t.year <= year_limit:
            if t.month not in self.months:
                if not added:
                    added, t = True, _wall(zone, t.year, t.month, 1)
                t = _wall(zone, t.year, t.month + 1, t.day, t.hour, t.minute, t.second)
                continue  # robfig goes back to the top after every month step that wraps; re-checking is the same
            if not self._day_matches(t):
                if not added:
                    added, t = True, _wall(zone, t.year, t.month, t.day)
                t = _wall(zone, t.year, t.month, t.day + 1, t.hour, t.minute, t.second)
                if t.hour != 0:  # midnight missing (DST): back to the day's start
                    t = _shift(t, (24 - t.hour) * 3600 if t.hour > 12 else -t.hour * 3600)
                continue
            if t.hour not in self.hours:
                if not added:
                    added, t = True, _wall(zone, t.year, t.month, t.day, t.hour)
                t = _shift(t, 3600)
                continue
            if t.minute not in self.minutes:
                if not added:
                    added, t = True, t.replace(second=0)
                t = _shift(t, 60)
                continue
            if t.second != 0:
                added = True
                t = _shift(t, 60 - t.second)
                continue
            return t.astimezone(UTC)
        return None

    def _day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.days
        dow = (moment.isoweekday() % 7) in self.weekdays
        return (dom and dow) if self.any_day else (dom or dow)


def _wall(zone: ZoneInfo | timezone, year: int, month: int, day: int, hour: int = 0, minute: int = 0,
          second: int = 0) -> datetime:
    """Go's ``time.Date`` in ``zone``: out-of-range parts carry over, a wall time that does not
    exist (a DST gap) moves past the gap."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    naive = datetime(year, month, 1) + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second)
    return datetime.fromtimestamp(naive.replace(tzinfo=zone).timestamp(), zone)


def _shift(moment: datetime, seconds: float) -> datetime:
    """``moment`` plus ``seconds`` of real time, read in its own zone."""
    return datetime.fromtimestamp(moment.timestamp() + seconds, moment.tzinfo)


def parse(spec: str) -> Schedule:
    """``spec`` as a Schedule; CronError when it does not parse."""
    text = spec.strip()
    if not text:
        raise CronError("empty spec string")
    zone: ZoneInfo | None = None
    if text.startswith(("TZ=", "CRON_TZ=")):
        name, _, text = text.partition(" ")
        zone_name = name.split("=", 1)[1]
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise CronError(f"provided bad location {zone_name}: unknown time zone {zone_name}") from exc
        text = text.strip()
    if text.startswith("@"):
        if text.startswith("@every "):
            every = max(1.0, float(int(_duration(text.removeprefix("@every ").strip()))))  # whole seconds, >= 1
            return Schedule(frozenset(), frozenset(), frozenset(), frozenset(), frozenset(), True, zone, every=every)
        if text not in DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {text}")
        text = DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_field(f, *bounds) for f, bounds in zip(fields, _BOUNDS, strict=True)]
    any_day = parsed[2][1] or parsed[4][1]
    return Schedule(parsed[0][0], parsed[1][0], parsed[2][0], parsed[3][0], parsed[4][0], any_day, zone)


def _field(text: str, low: int, high: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    """The values one field allows, and whether it is a bare ``*``/``?`` (robfig's star bit)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        if part.count("/") > 1:
            raise CronError(f"too many slashes: {part}")
        range_text, slash, step_text = part.partition("/")
        step = _number(step_text, {}) if slash else 1
        if range_text in ("*", "?"):
            first, last = low, high
            star = star or step == 1
        else:
            if range_text.count("-") > 1:
                raise CronError(f"too many hyphens: {range_text}")
            first_text, dash, last_text = range_text.partition("-")
            first = _number(first_text, names)
            last = _number(last_text, names) if dash else (high if slash else first)
        if first < low:
            raise CronError(f"beginning of range ({first}) below minimum ({low}): {part}")
        if last > high:
            raise CronError(f"end of range ({last}) above maximum ({high}): {part}")
        if first > last:
            raise CronError(f"beginning of range ({first}) beyond end of range ({last}): {part}")
        if step == 0:
            raise CronError(f"step of range should be a positive number: {part}")
        values.update(range(first, last + 1, step))
    return frozenset(values), star


def _number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    value = atoi(text)
    if value is None:
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    if value < 0:
        raise CronError(f"negative number ({value}) not allowed: {text}")
    return value


def _duration(text: str) -> float:
    """A Go duration (``1h30m``, ``90s``, ``-5m``, ``0``) in seconds, as ``@every`` takes it."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise CronError(f"failed to parse duration @every {text}: {exc}") from None
