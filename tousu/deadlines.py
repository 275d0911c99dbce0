"""Deadlines on the Chinese working-day calendar.

Working days come from the ``chinesecalendar`` package (the State Council's
holiday notices with 调休). Its data ends with the last notice it shipped; a
deadline that reaches a later year is still computed on weekends alone, marked
provisional and carries a warning, until an administrator loads that year's
official notice as a TOML file (see ``load_holiday_notice``).
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

from tousu.errors import KnowledgeError
from tousu.knowledge import DeadlineRule

CHINA = ZoneInfo("Asia/Shanghai")
PACKAGED_NOTICES = Path(__file__).parent / "kb" / "calendar"
NOTICE_DIR_ENV = "TOUSU_CALENDAR_DIR"


@dataclass(frozen=True)
class HolidayNotice:
    """One year's official holiday arrangement, as loaded by an administrator."""

    year: int
    source: str
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]


def load_holiday_notice(path: Path | str) -> HolidayNotice:
    """Read a holiday notice file: ``year``, ``source``, ``holidays`` and ``workdays`` (调休上班).

    Raises :class:`KnowledgeError` when a date is malformed or outside the year.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise KnowledgeError(f"{path}: 无法读取节假日通知: {e}") from None
    year = data.get("year")
    if not isinstance(year, int) or not data.get("source"):
        raise KnowledgeError(f"{path}: 需要 year（整数）与 source（通知出处）")

    def dates(key: str) -> frozenset[dt.date]:
        values = data.get(key, [])
        parsed = set()
        for value in values:
            day = value if isinstance(value, dt.date) else None
            if day is None:
                try:
                    day = dt.date.fromisoformat(str(value))
                except ValueError:
                    raise KnowledgeError(f"{path}: {key} 中的日期无效: {value!r}") from None
            if day.year != year:
                raise KnowledgeError(f"{path}: {key} 中的 {day} 不属于 {year} 年")
            parsed.add(day)
        return frozenset(parsed)

    holidays, workdays = dates("holidays"), dates("workdays")
    if holidays & workdays:
        raise KnowledgeError(f"{path}: 同一天不能既是假日又是调休工作日")
    return HolidayNotice(year, data["source"], holidays, workdays)


class WorkingCalendar:
    """Answers "is this a working day?" and counts working days.

    Parameters
    ----------
    notice_dirs:
        Folders of holiday-notice TOML files. They override the package for
        their years. Defaults to the packaged folder plus ``$TOUSU_CALENDAR_DIR``.
    """

    def __init__(self, notice_dirs: list[Path] | None = None):
        if notice_dirs is None:
            notice_dirs = [PACKAGED_NOTICES]
            if os.environ.get(NOTICE_DIR_ENV):
                notice_dirs.append(Path(os.environ[NOTICE_DIR_ENV]))
        self.notices: dict[int, HolidayNotice] = {}
        for directory in notice_dirs:
            for path in sorted(Path(directory).glob("*.toml")):
                notice = load_holiday_notice(path)
                self.notices[notice.year] = notice
        # Answers never change for one calendar, and chinesecalendar scans its whole table on every call:
        # a submission asks about a few dozen days, the same ones as the submission before.
        self._workdays: dict[dt.date, bool] = {}

    def is_official(self, year: int) -> bool:
        """Whether working days in ``year`` follow an official notice (package or loaded file)."""
        if year in self.notices:
            return True
        try:
            chinese_calendar.is_workday(dt.date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def is_workday(self, day: dt.date) -> bool:
        known = self._workdays.get(day)
        if known is None:
            known = self._workdays[day] = self._is_workday(day)
        return known

    def _is_workday(self, day: dt.date) -> bool:
        notice = self.notices.get(day.year)
        if notice is not None:
            if day in notice.workdays:
                return True
            if day in notice.holidays:
                return False
            return day.weekday() < 5
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            return day.weekday() < 5

    def add_working_days(self, start: dt.date, count: int) -> dt.date:
        """The ``count``-th working day after ``start`` (``start`` itself not counted)."""
        day = start
        while count > 0:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                count -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (negative when ``end`` is earlier)."""
        sign = 1 if end >= start else -1
        low, high = sorted((start, end))
        days = sum(self.is_workday(low + dt.timedelta(days=i)) for i in range(1, (high - low).days + 1))
        return sign * days


@dataclass(frozen=True)
class Deadline:
    """A computed deadline, with everything needed to audit it."""

    rule_id: str
    name: str
    start: dt.datetime
    due: dt.datetime
    unit: str
    amount: int
    certainty: str
    source: str
    provisional: bool
    warning: str | None
    max_due: dt.datetime | None

    def to_dict(self) -> dict:
        return {
            "rule": self.rule_id,
            "name": self.name,
            "start": self.start.isoformat(),
            "due": self.due.isoformat(),
            "unit": self.unit,
            "amount": self.amount,
            "certainty": self.certainty,
            "source": self.source,
            "provisional": self.provisional,
            "warning": self.warning,
            "max_due": self.max_due.isoformat() if self.max_due else None,
        }


def _end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=CHINA)


def _due_day(rule_unit: str, start: dt.date, days: int, calendar: WorkingCalendar) -> dt.date:
    if rule_unit == "working":
        return calendar.add_working_days(start, days)
    return start + dt.timedelta(days=days)


def compute(
    rule: DeadlineRule,
    start: dt.datetime,
    calendar: WorkingCalendar | None = None,
) -> Deadline:
    """Compute when ``rule`` falls due for a complaint received at ``start``.

    Parameters
    ----------
    rule:
        A deadline rule from the knowledge base.
    start:
        When the clock starts; must be timezone-aware.
    calendar:
        The working-day calendar; a default one when omitted.

    Returns
    -------
    Deadline
        ``provisional`` is true when a working-day count crossed into a year
        with no official holiday notice; ``warning`` then says so in Chinese.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    calendar = calendar or default_calendar()
    local = start.astimezone(CHINA)
    if rule.unit == "hours":
        due = local + dt.timedelta(hours=rule.hours)
        return Deadline(
            rule.id,
            rule.name,
            local,
            due,
            "hours",
            rule.hours,
            rule.certainty,
            rule.source,
            False,
            None,
            None,
        )
    due_day = _due_day(rule.unit, local.date(), rule.days, calendar)
    max_day = _due_day(rule.unit, local.date(), rule.max_days, calendar) if rule.max_days else None
    last_day = max(d for d in (due_day, max_day) if d is not None)
    missing = []
    if rule.unit == "working":
        missing = [y for y in range(local.year, last_day.year + 1) if not calendar.is_official(y)]
    warning = None
    if missing:
        years = "、".join(str(y) for y in missing)
        warning = (
            f"{years}年的法定节假日安排尚未载入，工作日暂按周一至周五计算，期限为临时结果；"
            f"国务院办公厅发布通知后由管理员载入即可精确计算"
        )
    return Deadline(
        rule.id,
        rule.name,
        local,
        _end_of_day(due_day),
        rule.unit,
        rule.days,
        rule.certainty,
        rule.source,
        bool(missing),
        warning,
        _end_of_day(max_day) if max_day else None,
    )


_default_calendar: WorkingCalendar | None = None


def default_calendar() -> WorkingCalendar:
    """The process-wide calendar (packaged notices plus ``$TOUSU_CALENDAR_DIR``)."""
    global _default_calendar
    if _default_calendar is None:
        _default_calendar = WorkingCalendar()
    return _default_calendar


def reset_default_calendar() -> None:
    """Forget the process-wide calendar, e.g. after an administrator loaded a notice."""
    global _default_calendar
    _default_calendar = None
