import datetime as dt

import pytest

from tousu import deadlines, knowledge
from tousu.errors import KnowledgeError

CHINA = deadlines.CHINA


def at(*args):
    return dt.datetime(*args, tzinfo=CHINA)


@pytest.fixture
def calendar():
    return deadlines.WorkingCalendar(notice_dirs=[])


def test_it_skips_the_national_day_holiday_and_counts_the_makeup_saturday(calendar):
    # 2026: 10-01..10-07 off, Saturday 10-10 is a 调休 working day.
    assert calendar.is_workday(dt.date(2026, 10, 7)) is False
    assert calendar.is_workday(dt.date(2026, 10, 10)) is True
    assert calendar.add_working_days(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)


def test_seven_working_days_over_the_spring_festival(calendar):
    # 2026-02-13 (Fri) + 7 working days: 02-14 (Sat, 调休) counts, 02-15..02-23 are off.
    rule = knowledge.default().rules["samr_accept"]
    deadline = deadlines.compute(rule, at(2026, 2, 13, 10), calendar)
    assert deadline.due.date() == dt.date(2026, 3, 2)
    assert deadline.provisional is False


def test_calendar_days_do_not_depend_on_holidays(calendar):
    rule = knowledge.default().rules["pboc_transfer"]
    deadline = deadlines.compute(rule, at(2026, 11, 25, 9), calendar)
    assert deadline.due.date() == dt.date(2026, 12, 10)
    assert deadline.max_due.date() == dt.date(2027, 1, 24)
    assert deadline.provisional is False


def test_a_working_day_deadline_into_a_year_without_data_is_provisional(calendar):
    rule = knowledge.default().rules["samr_mediation"]  # 45 working days
    deadline = deadlines.compute(rule, at(2026, 11, 25, 9), calendar)
    assert deadline.provisional is True
    assert "2027" in deadline.warning
    # Weekends only in 2027: 2026-11-26..12-31 has 26 working days, 19 more in January 2027.
    assert deadline.due.date() == dt.date(2027, 1, 27)


def test_a_loaded_notice_makes_the_next_year_exact(tmp_path):
    (tmp_path / "2027.toml").write_text(
        'year = 2027\nsource = "test notice"\nholidays = ["2027-01-01", "2027-01-04"]\nworkdays = ["2027-01-09"]\n',
        encoding="utf-8",
    )
    calendar = deadlines.WorkingCalendar(notice_dirs=[tmp_path])
    assert calendar.is_workday(dt.date(2027, 1, 4)) is False
    assert calendar.is_workday(dt.date(2027, 1, 9)) is True
    rule = knowledge.default().rules["samr_mediation"]
    deadline = deadlines.compute(rule, at(2026, 11, 25, 9), calendar)
    assert deadline.provisional is False
    assert deadline.warning is None


def test_hour_rules_add_hours():
    rule = knowledge.default().rules["handover"]
    deadline = deadlines.compute(rule, at(2026, 11, 25, 23, 30))
    assert deadline.due == at(2026, 11, 26, 1, 30)


def test_it_refuses_a_naive_start():
    with pytest.raises(ValueError):
        deadlines.compute(knowledge.default().rules["handover"], dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "content, message",
    [
        ('year = 2027\nholidays = ["2027-01-01"]\n', "source"),
        ('year = 2027\nsource = "x"\nholidays = ["2028-01-01"]\n', "不属于"),
        ('year = 2027\nsource = "x"\nholidays = ["2027-13-01"]\n', "无效"),
        ('year = 2027\nsource = "x"\nholidays = ["2027-01-02"]\nworkdays = ["2027-01-02"]\n', "既是"),
    ],
)
def test_it_refuses_a_malformed_notice(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message):
        deadlines.load_holiday_notice(path)


def test_working_days_between_counts_both_directions(calendar):
    assert calendar.working_days_between(dt.date(2026, 11, 20), dt.date(2026, 11, 27)) == 5
    assert calendar.working_days_between(dt.date(2026, 11, 27), dt.date(2026, 11, 20)) == -5
