"""Business-hours arithmetic (tickets.sla.calendar): explicit datetimes, no clock, no database."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickets.sla.calendar import CN_MAINLAND, WeeklyHours, WorkCalendar, parse_hours

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0

# Office hours with a lunch break: 7.5 working hours a day.
OFFICE = WeeklyHours.parse({"mon-fri": "09:00-12:00,13:30-18:00"})
DAY = 7.5 * HOUR
CN = WorkCalendar.load(CN_MAINLAND, OFFICE)
PLAIN = WorkCalendar(OFFICE, tz=SH)  # same hours, no holidays


def sh(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)  # type: ignore[misc]


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def make_toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "calendar.toml"
    path.write_text(body, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- 24x7


class TestAlways:
    def test_adds_plain_seconds(self):
        cal = WorkCalendar.always()
        start = sh(2025, 10, 1, 3, 0)  # a holiday at night: still counts
        assert cal.add(start, 90.5) == start + dt.timedelta(seconds=90.5)
        assert cal.add(start, 30 * 86400) == start + dt.timedelta(days=30)

    def test_returns_utc(self):
        result = WorkCalendar.always().add(sh(2025, 1, 1, 8, 0), 60)
        assert result.tzinfo is dt.UTC
        assert result == dt.datetime(2025, 1, 1, 0, 1, tzinfo=dt.UTC)

    def test_elapsed_is_real_time_across_dst(self):
        # Same-zone aware subtraction in Python is wall-clock; the calendar must count real seconds.
        a, b = berlin(2025, 3, 29, 12, 0), berlin(2025, 3, 30, 12, 0)
        assert WorkCalendar.always().elapsed(a, b) == 23 * HOUR

    def test_elapsed_is_zero_when_b_not_after_a(self):
        cal = WorkCalendar.always()
        assert cal.elapsed(sh(2025, 1, 2), sh(2025, 1, 1)) == 0.0
        assert cal.elapsed(sh(2025, 1, 2), sh(2025, 1, 2)) == 0.0

    def test_ignores_holiday_file(self):
        cal = WorkCalendar.load(CN_MAINLAND, None)
        assert cal.elapsed(sh(2025, 10, 1), sh(2025, 10, 2)) == 24 * HOUR


# --------------------------------------------------------------------------- weekly hours


class TestWeeklyHoursParse:
    def test_days_and_ranges(self):
        weekly = WeeklyHours.parse({"mon-thu": "09:00-18:00", "fri": "09:00-12:00,13:30-17:00", "sat": ""})
        assert weekly.days[0] == ((9 * 3600, 18 * 3600),)
        assert weekly.days[4] == ((9 * 3600, 12 * 3600), (13 * 3600 + 1800, 17 * 3600))
        assert weekly.days[5] == weekly.days[6] == ()
        assert weekly.seconds_per_week == 4 * 9 * 3600 + 6.5 * 3600

    def test_round_trip(self):
        assert WeeklyHours.parse(OFFICE.to_dict()) == OFFICE

    def test_whole_day(self):
        assert parse_hours("00:00-24:00") == ((0, 86400),)

    def test_touching_intervals_are_fine(self):
        assert parse_hours("09:00-12:00, 12:00-13:00") == ((32400, 43200), (43200, 46800))


# --------------------------------------------------------------------------- business hours


class TestAcrossNight:
    def test_continues_next_morning(self):
        # Tue 2025-03-04 17:00 + 2h = 1h today + 1h tomorrow morning.
        assert PLAIN.add(sh(2025, 3, 4, 17, 0), 2 * HOUR) == sh(2025, 3, 5, 10, 0)

    def test_ending_exactly_at_closing_is_due_at_closing(self):
        assert PLAIN.add(sh(2025, 3, 4, 17, 0), HOUR) == sh(2025, 3, 4, 18, 0)

    def test_elapsed_skips_the_night(self):
        assert PLAIN.elapsed(sh(2025, 3, 4, 17, 0), sh(2025, 3, 5, 10, 0)) == 2 * HOUR

    def test_result_is_utc(self):
        result = PLAIN.add(sh(2025, 3, 4, 17, 0), 2 * HOUR)
        assert result.tzinfo is dt.UTC
        assert result == dt.datetime(2025, 3, 5, 2, 0, tzinfo=dt.UTC)


class TestAcrossWeekend:
    def test_friday_evening_to_monday(self):
        assert PLAIN.add(sh(2025, 3, 7, 17, 0), 2 * HOUR) == sh(2025, 3, 10, 10, 0)

    def test_weekend_counts_nothing(self):
        assert PLAIN.elapsed(sh(2025, 3, 8, 0, 0), sh(2025, 3, 10, 0, 0)) == 0.0

    def test_whole_weeks(self):
        assert PLAIN.elapsed(sh(2025, 3, 3), sh(2025, 3, 31)) == 4 * 5 * DAY
        assert PLAIN.add(sh(2025, 3, 3, 9, 0), 4 * 5 * DAY) == sh(2025, 3, 28, 18, 0)


class TestLunchBreak:
    def test_skips_lunch(self):
        assert PLAIN.add(sh(2025, 3, 4, 11, 30), HOUR) == sh(2025, 3, 4, 14, 0)

    def test_start_during_lunch_waits_for_afternoon(self):
        assert PLAIN.add(sh(2025, 3, 4, 12, 45), 30 * 60) == sh(2025, 3, 4, 14, 0)

    def test_elapsed_over_lunch(self):
        assert PLAIN.elapsed(sh(2025, 3, 4, 11, 0), sh(2025, 3, 4, 14, 0)) == 1.5 * HOUR


class TestStartOutsideHours:
    def test_before_opening(self):
        assert PLAIN.add(sh(2025, 3, 4, 7, 0), 30 * 60) == sh(2025, 3, 4, 9, 30)

    def test_saturday(self):
        assert PLAIN.add(sh(2025, 3, 8, 11, 0), 30 * 60) == sh(2025, 3, 10, 9, 30)

    def test_input_in_another_zone(self):
        # 2025-03-04 01:00 UTC is 09:00 in Shanghai.
        start = dt.datetime(2025, 3, 4, 1, 0, tzinfo=dt.UTC)
        assert PLAIN.add(start, HOUR) == sh(2025, 3, 4, 10, 0)


class TestZeroSeconds:
    """Zero seconds: ``start`` if inside hours, else the next opening (due when someone can act)."""

    def test_inside_hours_is_start(self):
        assert PLAIN.add(sh(2025, 3, 4, 10, 17, 3), 0) == sh(2025, 3, 4, 10, 17, 3)

    def test_at_opening_is_start(self):
        assert PLAIN.add(sh(2025, 3, 4, 9, 0), 0) == sh(2025, 3, 4, 9, 0)

    def test_at_closing_is_next_opening(self):
        assert PLAIN.add(sh(2025, 3, 4, 18, 0), 0) == sh(2025, 3, 5, 9, 0)
        assert PLAIN.add(sh(2025, 3, 4, 12, 0), 0) == sh(2025, 3, 4, 13, 30)

    def test_on_holiday_is_next_working_morning(self):
        assert CN.add(sh(2025, 10, 3, 10, 0), 0) == sh(2025, 10, 9, 9, 0)


# --------------------------------------------------------------------------- holidays and 调休


class TestNationalDay2025:
    """国庆节、中秋节 2025: 10-01..10-08 off; Sunday 09-28 and Saturday 10-11 are working days."""

    def test_holiday_week_is_skipped(self):
        assert CN.add(sh(2025, 9, 30, 17, 0), 2 * HOUR) == sh(2025, 10, 9, 10, 0)

    def test_no_working_time_during_holiday(self):
        assert CN.elapsed(sh(2025, 10, 1), sh(2025, 10, 9)) == 0.0

    def test_weekday_holiday_has_no_hours(self):
        assert CN.hours_on(dt.date(2025, 10, 8)) == ()  # a Wednesday
        assert CN.names[dt.date(2025, 10, 6)] == "中秋节"

    def test_makeup_sunday_before(self):
        assert CN.add(sh(2025, 9, 26, 17, 0), 2 * HOUR) == sh(2025, 9, 28, 10, 0)
        assert CN.hours_on(dt.date(2025, 9, 28)) == OFFICE.days[0]

    def test_makeup_saturday_after(self):
        assert CN.add(sh(2025, 10, 10, 17, 0), 2 * HOUR) == sh(2025, 10, 11, 10, 0)
        assert CN.add(sh(2025, 10, 11, 17, 0), 2 * HOUR) == sh(2025, 10, 13, 10, 0)

    def test_ordinary_saturday_still_off(self):
        assert CN.elapsed(sh(2025, 10, 18), sh(2025, 10, 20)) == 0.0

    def test_elapsed_over_the_whole_stretch(self):
        # Working days 09-26 .. 10-12: Fri 26, Sun 28, Mon 29, Tue 30, Thu 9, Fri 10, Sat 11.
        assert CN.elapsed(sh(2025, 9, 26), sh(2025, 10, 12)) == 7 * DAY

    def test_custom_workday_hours(self):
        cal = WorkCalendar.load(CN_MAINLAND, OFFICE, workday_hours=parse_hours("10:00-16:00"))
        assert cal.elapsed(sh(2025, 10, 11), sh(2025, 10, 12)) == 6 * HOUR


class TestSpringFestival2026:
    """春节 2026 as written in the file: 02-15..02-23 off, Saturdays 02-14 and 02-28 work."""

    def test_listed_exactly(self):
        feb = [dt.date(2026, 2, d) for d in range(1, 29)]
        assert [d.day for d in feb if d in CN.holidays] == list(range(15, 24))
        assert [d.day for d in feb if d in CN.workdays] == [14, 28]
        assert {CN.names[d] for d in feb if d in CN.holidays} == {"春节"}

    def test_makeup_saturday_before(self):
        assert CN.add(sh(2026, 2, 13, 17, 0), 2 * HOUR) == sh(2026, 2, 14, 10, 0)

    def test_nine_days_off(self):
        assert CN.add(sh(2026, 2, 14, 17, 0), 2 * HOUR) == sh(2026, 2, 24, 10, 0)
        assert CN.elapsed(sh(2026, 2, 14, 18, 0), sh(2026, 2, 24, 9, 0)) == 0.0

    def test_makeup_saturday_after(self):
        # Tue 24 .. Fri 27 and Sat 28: five working days.
        assert CN.elapsed(sh(2026, 2, 24), sh(2026, 3, 1)) == 5 * DAY


class TestHolidayFile:
    FESTIVALS = frozenset({"元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"})

    def test_names(self):
        assert {CN.names[d] for d in CN.holidays} == self.FESTIVALS
        assert {CN.names[d] for d in CN.workdays} <= {f"{name}调休" for name in self.FESTIVALS}

    def test_workdays_are_weekends(self):
        assert all(d.weekday() >= 5 for d in CN.workdays)

    def test_years_and_counts(self):
        assert CN.listed_years == {2025, 2026}
        assert CN.tz == SH
        assert len([d for d in CN.holidays if d.year == 2025]) == 28
        assert len([d for d in CN.holidays if d.year == 2026]) == 33
        assert sorted(d.isoformat() for d in CN.workdays) == [
            "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
            "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
        ]  # fmt: skip

    def test_working_days_per_year(self):
        # 261 weekdays - weekday holidays + make-up days = 248 in both years.
        assert CN.elapsed(sh(2025, 1, 1), sh(2026, 1, 1)) == 248 * DAY
        assert CN.elapsed(sh(2026, 1, 1), sh(2027, 1, 1)) == 248 * DAY

    def test_unlisted_year_uses_weekly_hours(self):
        assert CN.elapsed(sh(2027, 10, 1), sh(2027, 10, 2)) == DAY  # 2027 not in the file yet


# --------------------------------------------------------------------------- DST


class TestDaylightSaving:
    ROUND_THE_CLOCK = WeeklyHours.parse({"mon-sun": "00:00-24:00"})

    def test_spring_forward_day_is_short(self):
        cal = WorkCalendar(self.ROUND_THE_CLOCK, tz=BERLIN)
        assert cal.elapsed(berlin(2025, 3, 30), berlin(2025, 3, 31)) == 23 * HOUR

    def test_fall_back_day_is_long(self):
        cal = WorkCalendar(self.ROUND_THE_CLOCK, tz=BERLIN)
        assert cal.elapsed(berlin(2025, 10, 26), berlin(2025, 10, 27)) == 25 * HOUR

    def test_interval_spanning_the_change_counts_real_time(self):
        cal = WorkCalendar(WeeklyHours.parse({"sun": "01:00-04:00"}), tz=BERLIN)
        assert cal.elapsed(berlin(2025, 3, 30), berlin(2025, 3, 31)) == 2 * HOUR
        assert cal.elapsed(berlin(2025, 10, 26), berlin(2025, 10, 27)) == 4 * HOUR

    def test_office_hours_keep_wall_clock_across_change(self):
        cal = WorkCalendar(WeeklyHours.parse({"mon-fri": "09:00-17:00"}), tz=BERLIN)
        due = cal.add(berlin(2025, 3, 28, 16, 0), 2 * HOUR)  # Friday CET -> Monday CEST
        assert due == berlin(2025, 3, 31, 10, 0)
        assert due == dt.datetime(2025, 3, 31, 8, 0, tzinfo=dt.UTC)

    @pytest.mark.parametrize("zone", ["America/Santiago", "Australia/Lord_Howe", "America/New_York", "Asia/Shanghai"])
    def test_whole_days_equal_real_time_in_odd_zones(self, zone):
        # Santiago changes at midnight, Lord Howe by 30 minutes.
        tz = ZoneInfo(zone)
        cal = WorkCalendar(self.ROUND_THE_CLOCK, tz=tz)
        a, b = dt.datetime(2025, 1, 1, tzinfo=tz), dt.datetime(2027, 1, 1, tzinfo=tz)
        real = (b.astimezone(dt.UTC) - a.astimezone(dt.UTC)).total_seconds()
        assert cal.elapsed(a, b) == real
        assert cal.add(a, real) == b


# --------------------------------------------------------------------------- properties


STARTS = st.datetimes(
    min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2026, 12, 31, 23, 59), timezones=st.just(SH)
)
DURATIONS = st.one_of(
    st.floats(min_value=0, max_value=400 * HOUR, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=800).map(lambda quarters: quarters * 900.0),  # lands on boundaries
)


def brute_force_elapsed(cal: WorkCalendar, a: dt.datetime, b: dt.datetime) -> float:
    """Independent oracle: walk the local days and sum the overlap of each interval with [a, b]."""
    total = dt.timedelta()
    day = a.astimezone(cal.tz).date() - dt.timedelta(days=1)
    while day <= b.astimezone(cal.tz).date() + dt.timedelta(days=1):
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=cal.tz)
        for start, end in cal.hours_on(day):
            lo = max((midnight + dt.timedelta(seconds=start)).astimezone(dt.UTC), a.astimezone(dt.UTC))
            hi = min((midnight + dt.timedelta(seconds=end)).astimezone(dt.UTC), b.astimezone(dt.UTC))
            total += max(hi - lo, dt.timedelta())
        day += dt.timedelta(days=1)
    return total.total_seconds()


class TestElapsedInvertsAdd:
    @settings(deadline=None)
    @given(start=STARTS, seconds=DURATIONS)
    def test_elapsed_of_add_is_seconds(self, start, seconds):
        due = CN.add(start, seconds)
        assert due >= start
        assert math.isclose(CN.elapsed(start, due), seconds, abs_tol=1e-6)

    @settings(deadline=None)
    @given(start=STARTS, first=DURATIONS, second=DURATIONS)
    def test_add_is_monotonic_in_seconds(self, start, first, second):
        low, high = sorted((first, second))
        assert CN.add(start, low) <= CN.add(start, high)

    @settings(deadline=None)
    @given(start=STARTS, first=DURATIONS, second=DURATIONS.filter(lambda s: s >= 1e-6))
    def test_add_composes(self, start, first, second):
        # second > 0: add(closing time, 0) is the next opening, by design (see TestZeroSeconds).
        stepwise = CN.add(CN.add(start, first), second)
        assert abs(stepwise - CN.add(start, first + second)) <= dt.timedelta(microseconds=1)

    @settings(deadline=None)
    @given(a=STARTS, span=st.integers(min_value=0, max_value=20 * 86400), cut=st.floats(min_value=0, max_value=1))
    def test_elapsed_matches_brute_force_and_is_additive(self, a, span, cut):
        b = a + dt.timedelta(seconds=span)
        middle = a + dt.timedelta(seconds=round(span * cut))
        assert CN.elapsed(a, b) == brute_force_elapsed(CN, a, b)
        assert math.isclose(CN.elapsed(a, b), CN.elapsed(a, middle) + CN.elapsed(middle, b), abs_tol=1e-6)


# --------------------------------------------------------------------------- errors


class TestMalformedHours:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("25:00-26:00", "'25:00' is not a time of day"),
            ("09:60-18:00", "'09:60' is not a time of day"),
            ("9-18", "'9' is not a time of day"),
            ("09:00", "not an interval"),
            ("18:00-09:00", "ends before it starts"),
            ("09:00-09:00", "ends before it starts"),
            ("24:00-24:00", "starts at 24:00"),
            ("09:00-12:00,11:00-13:00", "overlaps"),
            ("13:00-18:00,09:00-12:00", "list them in order"),
            ("09:00-12:00,,13:00-18:00", "empty interval"),
        ],
    )
    def test_parse_hours(self, text, message):
        with pytest.raises(ValueError, match=message):
            parse_hours(text)

    def test_message_names_the_day(self):
        with pytest.raises(ValueError, match=r"^wed: "):
            WeeklyHours.parse({"mon-tue": "09:00-18:00", "wed": "18:00-09:00"})

    def test_unknown_day(self):
        with pytest.raises(ValueError, match="unknown day 'monday'"):
            WeeklyHours.parse({"monday": "09:00-18:00"})

    def test_day_given_twice(self):
        with pytest.raises(ValueError, match="wed is given twice"):
            WeeklyHours.parse({"mon-fri": "09:00-18:00", "wed": "10:00-12:00"})

    def test_backwards_range(self):
        with pytest.raises(ValueError, match="runs backwards"):
            WeeklyHours.parse({"fri-mon": "09:00-18:00"})

    def test_no_hours_at_all(self):
        with pytest.raises(ValueError, match="no working hours"):
            WeeklyHours.parse({"mon": "", "sat": ""})

    def test_direct_construction_is_checked(self):
        with pytest.raises(ValueError, match="7 days"):
            WeeklyHours((((0, 3600),),))
        with pytest.raises(ValueError, match="0 <= start < end <= 86400"):
            WeeklyHours((((0, 90000),), (), (), (), (), (), ()))


class TestMalformedArguments:
    def test_naive_start(self):
        with pytest.raises(ValueError, match="start must be timezone-aware"):
            PLAIN.add(dt.datetime(2025, 3, 4, 9, 0), HOUR)

    def test_naive_elapsed(self):
        with pytest.raises(ValueError, match="b must be timezone-aware"):
            PLAIN.elapsed(sh(2025, 3, 4), dt.datetime(2025, 3, 5))
        with pytest.raises(ValueError, match="timezone-aware"):
            WorkCalendar.always().elapsed(dt.datetime(2025, 3, 4), sh(2025, 3, 5))

    @pytest.mark.parametrize("seconds", [-1, math.nan, math.inf])
    def test_bad_seconds(self, seconds):
        with pytest.raises(ValueError, match="finite number >= 0"):
            PLAIN.add(sh(2025, 3, 4), seconds)

    def test_holiday_and_workday_on_same_date(self):
        with pytest.raises(ValueError, match="both as holiday and as make-up workday: 2025-10-11"):
            WorkCalendar(OFFICE, frozenset({dt.date(2025, 10, 11)}), frozenset({dt.date(2025, 10, 11)}), SH)

    def test_workdays_need_hours(self):
        no_monday = WeeklyHours.parse({"tue-fri": "09:00-18:00"})
        with pytest.raises(ValueError, match="pass workday_hours"):
            WorkCalendar(no_monday, workdays=frozenset({dt.date(2025, 10, 11)}))


class TestMalformedFile:
    HEADER = 'timezone = "Asia/Shanghai"\n'

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ('timezone = "Mars/Olympus"\n', "unknown timezone 'Mars/Olympus'"),
            ("[[holiday]]\ndate = 2025-01-01\n", "missing timezone"),
            (HEADER + '[[holiday]]\ndate = "2025-01-01"\nname = "元旦"\n', "bare TOML date"),
            (HEADER + '[[holiday]]\ndate = 2025-01-01T00:00:00\nname = "元旦"\n', "bare TOML date"),
            (HEADER + '[[holiday]]\nname = "元旦"\n', "entry 1: date must be"),
            (HEADER + '[[holidays]]\ndate = 2025-01-01\nname = "元旦"\n', r"unknown keys \['holidays'\]"),
            (HEADER + "[[holiday]]\ndate = 2025-01-01\nnote = 1\n", r"unknown keys \['note'\]"),
            (HEADER + "[[holiday]]\ndate = 2025-01-01\n[[holiday]]\ndate = 2025-01-01\n", "listed twice"),
            (HEADER + "[[holiday]]\ndate = 2025-10-11\n[[workday]]\ndate = 2025-10-11\n", "both as holiday"),
            (HEADER + "date = \n", "not valid TOML"),
        ],
    )
    def test_rejected_with_reason(self, tmp_path, body, message):
        path = make_toml(tmp_path, body)
        with pytest.raises(ValueError, match=message) as caught:
            WorkCalendar.load(path, OFFICE)
        assert str(path) in str(caught.value)

    def test_missing_file(self, tmp_path):
        with pytest.raises(ValueError, match="cannot read holiday calendar"):
            WorkCalendar.load(tmp_path / "nope.toml", OFFICE)

    def test_minimal_file(self, tmp_path):
        path = make_toml(tmp_path, self.HEADER + '[[workday]]\ndate = 2025-03-08\nname = "调休"\n')
        cal = WorkCalendar.load(path, OFFICE)
        assert cal.elapsed(sh(2025, 3, 8), sh(2025, 3, 9)) == DAY
