"""Business-hours arithmetic for SLAs: working intervals per weekday, public holidays, make-up workdays.

Pure functions of their arguments: nothing here reads the clock, the database or the environment
(``WorkCalendar.load`` reads the one file it is given).

Model
-----
* Working hours are wall-clock intervals in the calendar's time zone, e.g. ``09:00-12:00`` and
  ``13:30-18:00`` (start inclusive, end exclusive; ``24:00`` ends a day).
* A date listed as a holiday has no working hours, even on a weekday. A date listed as a make-up
  workday (调休上班, usually a weekend) gets ``workday_hours`` or, by default, Monday's hours.
* Working time is real elapsed time inside those intervals. On a day with a DST change inside an
  interval the interval is an hour shorter or longer; China has no DST, but nothing assumes that.
* A calendar without weekly hours (``WorkCalendar.always()``) is 24x7: every second counts, and
  holidays and workdays are ignored.

Implementation: for each calendar year the working intervals are converted once to UTC microseconds
with a running total of working time (a few milliseconds per year, cached on the calendar). ``add``
and ``elapsed`` then bisect those lists: O(log n) per call, whatever the distance. All arithmetic is
in integer microseconds (the resolution of ``datetime``), so ``elapsed(a, add(a, s))`` equals ``s``
rounded to the microsecond.
"""

from __future__ import annotations

import math
import tomllib
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CN_MAINLAND",
    "DAY_NAMES",
    "Intervals",
    "WeeklyHours",
    "WorkCalendar",
    "parse_hours",
]

CN_MAINLAND = Path(__file__).resolve().parent / "calendars" / "cn_mainland.toml"
"""Mainland China public holidays and make-up workdays (State Council notices), see the file's header."""

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")

Intervals = tuple[tuple[int, int], ...]
"""Working intervals of one day: sorted, disjoint ``(start, end)`` pairs in seconds since local midnight."""

_DAY_SECONDS = 86_400
_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Year 1 and 9999 are left out so that local midnights +-1 day never overflow datetime.
_MIN_YEAR, _MAX_YEAR = 2, 9998


# --------------------------------------------------------------------------- weekly hours


def _parse_clock(text: str, where: str) -> int:
    """'09:30' -> 34200 seconds since midnight; '24:00' is allowed (callers reject it as a start)."""
    text = text.strip()
    hours, sep, minutes = text.partition(":")
    well_formed = (
        sep == ":"
        and 1 <= len(hours) <= 2
        and len(minutes) == 2
        and (hours + minutes).isascii()
        and (hours + minutes).isdigit()
    )
    if well_formed and ((int(hours) <= 23 and int(minutes) <= 59) or (int(hours), int(minutes)) == (24, 0)):
        return int(hours) * 3600 + int(minutes) * 60
    raise ValueError(f"{where}: {text!r} is not a time of day (expected HH:MM between 00:00 and 24:00)")


def _format_clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _format_intervals(intervals: Intervals) -> str:
    return ",".join(f"{_format_clock(s)}-{_format_clock(e)}" for s, e in intervals)


def _check_intervals(intervals: Intervals, where: str) -> None:
    previous_end = -1
    for start, end in intervals:
        if not 0 <= start < end <= _DAY_SECONDS:
            raise ValueError(
                f"{where}: interval ({start}, {end}) must satisfy 0 <= start < end <= 86400 seconds since midnight"
            )
        if start < previous_end:
            raise ValueError(f"{where}: intervals {_format_intervals(intervals)} overlap or are not in order")
        previous_end = end


def parse_hours(text: str, where: str = "hours") -> Intervals:
    """Parse one day's hours: ``"09:00-12:00,13:30-18:00"``; ``""`` means closed.

    Intervals are given in order and must not overlap (touching, as in ``09:00-12:00,12:00-13:00``, is
    fine). An overnight shift is two intervals on two days: ``22:00-24:00`` and ``00:00-06:00``.
    """
    if not isinstance(text, str):
        raise ValueError(f"{where}: expected a string like '09:00-18:00', got {text!r}")
    intervals: list[tuple[int, int]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            if text.strip():
                raise ValueError(f"{where}: empty interval in {text!r}")
            continue
        first, sep, last = part.partition("-")
        if not sep:
            raise ValueError(f"{where}: {part!r} is not an interval like '09:00-18:00'")
        start, end = _parse_clock(first, where), _parse_clock(last, where)
        if start == _DAY_SECONDS:
            raise ValueError(f"{where}: {part!r} starts at 24:00; start the interval at 00:00 of the next day")
        if end <= start:
            raise ValueError(
                f"{where}: interval {part!r} ends before it starts; for an overnight shift split it into"
                f" '{first.strip()}-24:00' on one day and '00:00-{last.strip()}' on the next"
            )
        if intervals and start < intervals[-1][1]:
            previous = _format_intervals((intervals[-1],))
            raise ValueError(f"{where}: interval {part!r} overlaps or comes before {previous!r}; list them in order")
        intervals.append((start, end))
    return tuple(intervals)


@dataclass(frozen=True)
class WeeklyHours:
    """Working intervals per weekday, Monday first (``days[0]`` is Monday, ``days[6]`` Sunday)."""

    days: tuple[Intervals, ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError(f"WeeklyHours needs 7 days (Monday first), got {len(self.days)}")
        for name, intervals in zip(DAY_NAMES, self.days, strict=True):
            _check_intervals(intervals, name)

    @classmethod
    def parse(cls, spec: Mapping[str, str]) -> WeeklyHours:
        """Build from ``{"mon": "09:00-12:00,13:30-18:00", "sat": ""}``.

        Keys are ``mon`` .. ``sun`` or a range such as ``mon-fri``; a day not mentioned is closed.
        """
        days: dict[int, Intervals] = {}
        for key, value in spec.items():
            for index in _day_indexes(key):
                if index in days:
                    raise ValueError(f"{DAY_NAMES[index]} is given twice (key {key!r})")
                days[index] = parse_hours(value, key)
        weekly = cls(tuple(days.get(i, ()) for i in range(7)))
        if weekly.seconds_per_week == 0:
            raise ValueError(f"no working hours on any day in {dict(spec)!r}; use a 24x7 calendar for round-the-clock")
        return weekly

    @property
    def seconds_per_week(self) -> int:
        return sum(end - start for day in self.days for start, end in day)

    def to_dict(self) -> dict[str, str]:
        """The inverse of ``parse``: ``{"mon": "09:00-18:00", ..., "sun": ""}``."""
        return {name: _format_intervals(intervals) for name, intervals in zip(DAY_NAMES, self.days, strict=True)}


def _day_indexes(key: str) -> range:
    names = ", ".join(DAY_NAMES)
    first, sep, last = key.strip().lower().partition("-")
    if first not in DAY_NAMES or (sep and last not in DAY_NAMES):
        raise ValueError(f"unknown day {key!r}; use {names} or a range like 'mon-fri'")
    start = DAY_NAMES.index(first)
    stop = DAY_NAMES.index(last) if sep else start
    if stop < start:
        raise ValueError(f"day range {key!r} runs backwards; write it Monday first, like 'mon-fri'")
    return range(start, stop + 1)


# --------------------------------------------------------------------------- instants <-> microseconds


def _to_us(moment: datetime, what: str = "datetime") -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{what} must be timezone-aware, got naive {moment.isoformat()}; attach a zone, e.g."
            " .replace(tzinfo=datetime.UTC) or ZoneInfo('Asia/Shanghai')"
        )
    return (moment - _EPOCH) // _US


def _from_us(us: int) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=us)
    except OverflowError:
        raise ValueError(f"the result is outside the supported years {_MIN_YEAR}-{_MAX_YEAR}") from None


def _seconds_to_us(seconds: float) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"seconds must be a number, got {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
    return round(seconds * 1_000_000)


@dataclass(frozen=True)
class _Year:
    """One calendar year's working intervals as UTC microseconds, with the working time before each."""

    lo: int  # local midnight of 1 January
    hi: int  # local midnight of 1 January of the next year
    starts: list[int]
    ends: list[int]
    before: list[int]  # before[i]: working microseconds in this year before starts[i]; before[-1] = total

    @property
    def total(self) -> int:
        return self.before[-1]

    def worked(self, us: int) -> int:
        """Working microseconds from the start of this year up to the instant ``us`` (clamped)."""
        i = bisect_right(self.starts, us) - 1
        if i < 0:
            return 0
        return self.before[i] + min(us - self.starts[i], self.ends[i] - self.starts[i])


# --------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class WorkCalendar:
    """Working time of a team: weekly hours in a time zone, minus holidays, plus make-up workdays.

    ``weekly=None`` means 24x7 (every second counts; holidays and workdays are then ignored).
    ``tz`` defaults to Asia/Shanghai. ``workday_hours`` are the hours of a make-up workday (default:
    Monday's). ``names`` maps listed dates to their names (春节, 国庆节调休...) for display only.
    """

    weekly: WeeklyHours | None
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    tz: tzinfo = DEFAULT_TZ
    workday_hours: Intervals | None = None
    names: Mapping[date, str] = field(default_factory=dict, compare=False, hash=False)
    _years: dict[int, _Year] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        if not isinstance(self.tz, tzinfo):
            raise ValueError(f"tz must be a tzinfo such as ZoneInfo('Asia/Shanghai'), got {self.tz!r}")
        both = sorted(self.holidays & self.workdays)
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"dates listed both as holiday and as make-up workday: {listed}")
        if self.workday_hours is not None:
            object.__setattr__(self, "workday_hours", tuple(self.workday_hours))
            _check_intervals(self.workday_hours, "workday_hours")
        if self.weekly is None:
            return
        if self.weekly.seconds_per_week == 0:
            raise ValueError("weekly hours are empty: the calendar has no working time (use weekly=None for 24x7)")
        if self.workdays and not (self.workday_hours if self.workday_hours is not None else self.weekly.days[0]):
            raise ValueError("make-up workdays need hours: Monday is closed, so pass workday_hours explicitly")

    # ---------------------------------------------------------------- construction

    @classmethod
    def always(cls) -> WorkCalendar:
        """24x7: every second is working time."""
        return cls(None, tz=UTC)

    @classmethod
    def load(
        cls, path: str | Path, weekly: WeeklyHours | None, *, workday_hours: Intervals | None = None
    ) -> WorkCalendar:
        """Read holidays, make-up workdays and the time zone from a TOML file (see calendars/cn_mainland.toml)."""
        path = Path(path)
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except OSError as exc:
            raise ValueError(f"{path}: cannot read holiday calendar ({exc.strerror or exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from exc

        unknown = set(data) - {"timezone", "holiday", "workday"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}; expected timezone, [[holiday]], [[workday]]")
        zone = data.get("timezone")
        if not isinstance(zone, str):
            raise ValueError(f'{path}: missing timezone, e.g. timezone = "Asia/Shanghai"')
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{path}: unknown timezone {zone!r}") from exc

        names: dict[date, str] = {}
        holidays = _read_days(path, data, "holiday", names)
        workdays = _read_days(path, data, "workday", names)
        try:
            return cls(weekly, holidays, workdays, tz, workday_hours=workday_hours, names=names)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    # ---------------------------------------------------------------- queries

    def hours_on(self, day: date) -> Intervals:
        """Working intervals of a local date, after holidays and make-up workdays."""
        if self.weekly is None:
            return ((0, _DAY_SECONDS),)
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.workday_hours if self.workday_hours is not None else self.weekly.days[0]
        return self.weekly.days[day.weekday()]

    @property
    def listed_years(self) -> frozenset[int]:
        """Years with at least one listed holiday or workday: beyond them only the weekly hours apply."""
        return frozenset(d.year for d in self.holidays | self.workdays)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant at which ``seconds`` of working time have elapsed after ``start`` (UTC).

        If ``start`` is outside working hours the clock starts at the next opening. With ``seconds == 0``
        the result is ``start`` itself when it is inside working hours, otherwise the next opening: a
        target of zero is due as soon as someone could act on it, and ``add`` stays monotonic and
        continuous in ``seconds``. Resolution is one microsecond.
        """
        us = _to_us(start, "start")
        need = _seconds_to_us(seconds)
        if self.weekly is None:
            return _from_us(us + need)
        year, table = self._year_of(start, us)
        if need == 0:
            while True:
                i = bisect_right(table.ends, us)  # first interval ending after us
                if i < len(table.ends):
                    return _from_us(max(us, table.starts[i]))
                year, table = year + 1, self._year(year + 1)
        target = table.worked(us) + need
        while target > table.total:
            target -= table.total
            year, table = year + 1, self._year(year + 1)
        i = bisect_left(table.before, target) - 1  # before[i] < target <= before[i + 1]
        return _from_us(max(us, table.starts[i] + target - table.before[i]))

    def elapsed(self, a: datetime, b: datetime) -> float:
        """Working seconds between ``a`` and ``b``; 0.0 if ``b <= a``."""
        ua, ub = _to_us(a, "a"), _to_us(b, "b")
        if ub <= ua:
            return 0.0
        if self.weekly is None:
            return (ub - ua) / 1_000_000
        year_a, table_a = self._year_of(a, ua)
        year_b, table_b = self._year_of(b, ub)
        if year_a == year_b:
            return (table_b.worked(ub) - table_a.worked(ua)) / 1_000_000
        total = table_a.total - table_a.worked(ua) + table_b.worked(ub)
        total += sum(self._year(y).total for y in range(year_a + 1, year_b))
        return total / 1_000_000

    # ---------------------------------------------------------------- year tables

    def _year_of(self, moment: datetime, us: int) -> tuple[int, _Year]:
        year = moment.astimezone(self.tz).year
        table = self._year(year)
        # Local midnight can be odd around DST changes; trust the table bounds over astimezone.
        if us < table.lo:
            year -= 1
        elif us >= table.hi:
            year += 1
        else:
            return year, table
        return year, self._year(year)

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is None:
            table = self._years[year] = self._build_year(year)
        return table

    def _build_year(self, year: int) -> _Year:
        if not _MIN_YEAR <= year <= _MAX_YEAR:
            raise ValueError(f"year {year} is outside the supported years {_MIN_YEAR}-{_MAX_YEAR}")
        lo = self._wall_us(date(year, 1, 1), 0)
        hi = self._wall_us(date(year + 1, 1, 1), 0)
        starts: list[int] = []
        ends: list[int] = []
        before = [0]
        previous_end = lo
        day = date(year, 1, 1)
        while day.year == year:
            for start_s, end_s in self.hours_on(day):
                # Clip so intervals stay ordered and inside the year even across odd DST transitions.
                start = max(self._wall_us(day, start_s), previous_end)
                end = min(self._wall_us(day, end_s), hi)
                if end > start:
                    starts.append(start)
                    ends.append(end)
                    before.append(before[-1] + end - start)
                    previous_end = end
            day += timedelta(days=1)
        return _Year(lo, hi, starts, ends, before)

    def _wall_us(self, day: date, seconds: int) -> int:
        """UTC microseconds of a local wall-clock time (``seconds`` after local midnight, up to 24:00)."""
        return _to_us(datetime.combine(day, time(), tzinfo=self.tz) + timedelta(seconds=seconds))


def _read_days(path: Path, data: Mapping[str, object], kind: str, names: dict[date, str]) -> frozenset[date]:
    entries = data.get(kind, [])
    if not isinstance(entries, list):
        raise ValueError(f"{path}: '{kind}' must be an array of tables, written [[{kind}]]")
    days: set[date] = set()
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: [[{kind}]] entry {number}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a table with date and name")
        unknown = set(entry) - {"date", "name"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; expected date and name")
        day = entry.get("date")
        # TOML local dates arrive as date; reject strings and datetimes (a datetime is also a date).
        if not isinstance(day, date) or isinstance(day, datetime):
            raise ValueError(f"{where}: date must be a bare TOML date like 2025-10-01 (no quotes), got {day!r}")
        name = entry.get("name", "")
        if not isinstance(name, str):
            raise ValueError(f"{where}: name must be a string, got {name!r}")
        if day in days:
            raise ValueError(f"{where}: {day.isoformat()} is listed twice")
        days.add(day)
        names[day] = name
    return frozenset(days)
