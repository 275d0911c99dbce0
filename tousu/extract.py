"""Fact extraction from a Chinese POS-complaint text.

``extract_facts`` finds money amounts, fee rates, dates, device models and serial numbers, merchant,
terminal and transaction numbers, phone numbers, hotlines, ID and bank card numbers. Each extractor
is a precompiled regular expression that does bounded work per position (bounded repeats,
possessive quantifiers, atomic groups, lookbehinds that only let a number start where a run
starts), so extraction stays linear in the length of the text. All of them run over
``privacy.normalize(text)``, a length-preserving fold of full-width and Traditional characters,
so every position found is a position in the original text.

Candidates from different extractors may overlap ("3元/笔" is both an amount and a per-transaction
fee); the more specific kind wins, then the longer match.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from tousu.privacy import find_personal_data, normalize

__all__ = ["Fact", "Facts", "extract_facts"]


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact found in a text.

    ``value`` is JSON-able: amounts and rates are Decimal strings (rates in percent: "0.6" means
    0.6%), dates ISO strings, everything else a normalised string. ``text`` is the matched substring
    of the original text, ``start``/``end`` its position, ``note`` a qualifier: "约" for approximate
    values, a date's precision ("日", "周", "月", "年", "约"), a label ("参考号"), a phone's type.
    """

    kind: str
    value: str
    text: str
    start: int
    end: int
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fact as a JSON-able dict (``kind`` left out: it is the group's key)."""
        return {"value": self.value, "text": self.text, "start": self.start, "end": self.end, "note": self.note}


@dataclass(frozen=True, slots=True)
class Facts:
    """All facts of one text, one tuple per kind, each sorted by position."""

    amount: tuple[Fact, ...] = ()
    rate: tuple[Fact, ...] = ()
    per_txn_fee: tuple[Fact, ...] = ()
    date: tuple[Fact, ...] = ()
    device_model: tuple[Fact, ...] = ()
    serial_number: tuple[Fact, ...] = ()
    merchant_number: tuple[Fact, ...] = ()
    terminal_number: tuple[Fact, ...] = ()
    transaction_ref: tuple[Fact, ...] = ()
    phone: tuple[Fact, ...] = ()
    hotline: tuple[Fact, ...] = ()
    id_number: tuple[Fact, ...] = ()
    bank_card: tuple[Fact, ...] = ()

    def all(self) -> list[Fact]:
        """Every fact, sorted by position."""
        return sorted((f for kind in fields(self) for f in getattr(self, kind.name)), key=lambda f: f.start)

    def values(self, kind: str) -> list[str]:
        """The values of one kind, in text order (``facts.values("amount") == ["2600"]``)."""
        return [f.value for f in getattr(self, kind)]

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """A JSON-able dict ``{kind: [fact dict, …]}`` with every kind present, empty or not."""
        return {kind.name: [f.to_dict() for f in getattr(self, kind.name)] for kind in fields(self)}


KINDS: tuple[str, ...] = tuple(f.name for f in fields(Facts))


class _Candidate(NamedTuple):
    kind: str
    value: str
    start: int
    end: int
    note: str | None = None


# Overlap ranks: labelled numbers beat everything, validated numbers beat guesses, and amounts,
# the loosest pattern, lose to every other kind.
_RANK = {
    "merchant_number": 0,
    "terminal_number": 0,
    "transaction_ref": 0,
    "serial_number": 0,
    "id_number": 1,
    "bank_card": 1,
    "phone": 2,
    "hotline": 2,
    "per_txn_fee": 3,
    "rate": 4,
    "date": 5,
    "device_model": 6,
    "amount": 7,
}


# ---------------------------------------------------------------------------------------------
# Numbers: Arabic and Chinese
# ---------------------------------------------------------------------------------------------

# Possessive quantifiers and atomic groups (Python 3.11+) keep the engine from backtracking into a
# number it has already read, which keeps every pattern linear and fast on long digit runs.
_NUM = r"[0-9]++(?:\.[0-9]++)?+"
_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "两": 2, "贰": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
    "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
_CN_NUMERAL = "".join((*_CN_DIGITS, *_CN_UNITS, *_CN_BIG_UNITS))


def _cn_int(numeral: str) -> int | None:
    """Value of a Chinese integer numeral: 一千二百 → 1200, 一千二 → 1200, 两万五 → 25000, 二零二五 → 2025."""
    total = section = number = 0
    last_unit = 0
    after_unit = False  # a bare trailing digit right after a unit means the next lower unit
    for ch in numeral:
        if ch in _CN_DIGITS:
            number = number * 10 + _CN_DIGITS[ch] if not after_unit and number else _CN_DIGITS[ch]
            after_unit = after_unit and ch != "零"
        elif ch in _CN_UNITS:
            section += (number or 1) * _CN_UNITS[ch]
            number, last_unit, after_unit = 0, _CN_UNITS[ch], True
        elif ch in _CN_BIG_UNITS:
            total = (total + section + number) * _CN_BIG_UNITS[ch]
            section = number = 0
            last_unit, after_unit = _CN_BIG_UNITS[ch], True
        else:
            return None
    if number and after_unit and last_unit >= 100:
        number *= last_unit // 10
    return total + section + number


def _number(text: str) -> Decimal | None:
    """An Arabic or Chinese number, with 点 as the Chinese decimal point (零点六 → 0.6)."""
    text = text.replace(",", "")
    if text[:1].isdigit():
        try:
            return Decimal(text)
        except InvalidOperation:
            return None
    whole, _, frac = text.partition("点")
    whole_value = _cn_int(whole) if whole else 0
    if whole_value is None or not all(ch in _CN_DIGITS for ch in frac):
        return None
    return Decimal(f"{whole_value}.{''.join(str(_CN_DIGITS[ch]) for ch in frac) or '0'}")


def _dec(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# ---------------------------------------------------------------------------------------------
# Amounts
# ---------------------------------------------------------------------------------------------

_MULTIPLIERS = {"万": Decimal(10_000), "千": Decimal(1000)}
_ARABIC = r"[0-9](?<![0-9.,].)(?>[0-9]{0,2}(?:,[0-9]{3})+|[0-9]*)(?>\.[0-9]+)?"
_UNIT = r"元|块钱|块|圆|RMB|CNY|rmb"
# A number is money when a unit or 万/千 follows ("2600元", "1.2万") or a currency sign precedes it;
# the suffix is required inside the pattern so that bare digit runs fail fast in the engine.
_AMOUNT = re.compile(
    rf"(?P<num>{_ARABIC})(?:(?P<mul>万|千)(?P<approx>多|余|来)?(?:\s?(?P<unit>{_UNIT}))?"
    rf"|(?P<approx2>多|余|来)?\s?(?P<unit2>{_UNIT}))"
)
_AMOUNT_CURRENCY = re.compile(
    rf"(?:¥|￥|RMB|CNY|rmb|人民币)\s?(?P<num>[0-9]+(?:,[0-9]{{3}})*(?:\.[0-9]+)?)(?![0-9])"
    rf"(?P<mul>万|千)?(?P<approx>多|余|来)?(?:\s?(?P<unit>{_UNIT}))?"
)
_AMOUNT_CN = re.compile(rf"(?P<num>[{_CN_NUMERAL}]+)(?P<approx>多|余|来)?(?P<unit>元|块钱|块|圆)?")
# Money words after which a bare number is an amount in yuan: "押金299", "扣了99".
_AMOUNT_CUE = re.compile(
    r"(?:押金|保证金|服务费|年费|会员费|流量费|激活费|金额|扣了|扣款|扣费|扣除|收取|收了|刷了|到账|退还|退款|赔偿|损失|共计|合计|总共)"
    r"(?:了|为|是|:)?\s?[¥￥]?(?P<num>[0-9]{1,7}(?:\.[0-9]{1,2})?)(?![0-9.万千])(?P<approx>多|余)?"
)
# What may not follow a bare "1.2万" / "两万" or a cue number: counters, fractions, units of rates
# and dates ("1.2万笔" counts transactions, "万分之" starts a rate, "十万火急" is no money).
_NOT_MONEY_AFTER = re.compile(r"\s?(?:[%‰笔台个人次户家张条单件年月日号天期倍火]|分之|个点)")


def _not_money_after(folded: str, end: int) -> bool:
    return _NOT_MONEY_AFTER.match(folded, end) is not None


def _amounts(folded: str, today: dt.date) -> Iterator[_Candidate]:
    yield from _arabic_amounts(folded)
    yield from _chinese_amounts(folded)
    for m in _AMOUNT_CUE.finditer(folded):
        if not _not_money_after(folded, m.end()):
            note = "约" if m.group("approx") else None
            yield _Candidate("amount", _dec(Decimal(m.group("num"))), m.start("num"), m.end(), note)


def _arabic_amounts(folded: str) -> Iterator[_Candidate]:
    for m in _AMOUNT.finditer(folded):
        if m.group("mul") and not m.group("unit") and _not_money_after(folded, m.end()):
            continue
        yield _arabic_amount(m)
    for m in _AMOUNT_CURRENCY.finditer(folded):
        yield _arabic_amount(m)


def _arabic_amount(m: re.Match[str]) -> _Candidate:
    number, mul = m.group("num").replace(",", ""), m.group("mul")
    if mul or "." in number:
        value = _dec(Decimal(number) * _MULTIPLIERS.get(mul or "", Decimal(1)))
    else:
        value = number.lstrip("0") or "0"  # a plain integer needs no Decimal round trip
    approx = m.group("approx") or m.groupdict().get("approx2")
    return _Candidate("amount", value, m.start(), m.end(), "约" if approx else None)


def _chinese_amounts(folded: str) -> Iterator[_Candidate]:
    for m in _AMOUNT_CN.finditer(folded):
        numeral, unit, approx = m.group("num"), m.group("unit"), m.group("approx")
        if unit:
            if unit == "块" and numeral == "一":  # 一块 mostly means "together"
                continue
        # Without 元/块 only a numeral with 万 reads as money ("两万"); "一直", "三次" do not.
        elif ("万" not in numeral and "亿" not in numeral) or approx == "来" or _not_money_after(folded, m.end()):
            continue
        value = _cn_int(numeral) if numeral[0] not in "百千万亿佰仟" else None
        if value:
            yield _Candidate("amount", str(value), m.start(), m.end(), "约" if approx else None)


# ---------------------------------------------------------------------------------------------
# Rates and per-transaction fees
# ---------------------------------------------------------------------------------------------

_CN_DECIMAL = "零〇一二两三四五六七八九十点"
_RATE_PERCENT = re.compile(
    r"(?P<num>[0-9](?<![0-9.].)[0-9]*+(?:\.[0-9]++)?+)\s?(?P<sign>%|‰)"
    rf"(?:\s?(?:\+|加)\s?(?P<fee>{_NUM})\s?(?:元|块)?(?:\s?(?:/|每)\s?笔)?)?"
)
_RATE_FRACTION = re.compile(rf"(?P<base>百|千|万)分之\s?(?P<num>{_NUM}|[{_CN_DECIMAL}]+)")
_RATE_POINTS = re.compile(rf"(?<![0-9.{_CN_DECIMAL}])(?P<num>{_NUM}|[{_CN_DECIMAL}]++)\s?个(?:百分)?点(?!钟|半)")
_PER_TXN = re.compile(r"(?P<num>[0-9](?<![0-9.].)[0-9]*+(?:\.[0-9]++)?+)\s?(?:元|块)\s?(?:/|每)\s?笔")
_PER_TXN_BEFORE = re.compile(rf"(?:每笔|单笔)(?:加收|另收|收取|收|加|扣)?\s?(?P<num>{_NUM})\s?(?:元|块)")
# "费率0.38": a bare number shortly after a rate word is a percentage. The window stops at the end
# of the clause, so "费率不变，扣了26" does not make 26 a rate.
_RATE_CUE = re.compile(r"费率|扣率|点位|手续费率")
_CLAUSE_END = re.compile(r"[,，。;；!！?？\n]")
_BARE_NUMBER = re.compile(rf"(?<![0-9.])(?P<num>{_NUM})(?![0-9.]|\s?(?:[%‰元块万千笔月年日号天次个]|分之))")
_RATE_WINDOW = 16
_FRACTION_SCALE = {"百": 0, "千": -1, "万": -2}


def _rates(folded: str, today: dt.date) -> Iterator[_Candidate]:
    # Cheap substring checks first: most texts have no "%", "分之", "个点" or "笔" at all.
    if "%" in folded or "‰" in folded:
        yield from _percent_rates(folded)
    if "分之" in folded:
        for m in _RATE_FRACTION.finditer(folded):
            number = _number(m.group("num"))
            if number is not None:
                value = number.scaleb(_FRACTION_SCALE[m.group("base")])
                yield _Candidate("rate", _dec(value), m.start(), m.end())
    if "个点" in folded or "百分点" in folded:
        for m in _RATE_POINTS.finditer(folded):
            number = _number(m.group("num"))
            if number:
                yield _Candidate("rate", _dec(number), m.start(), m.end())
    if "笔" in folded:
        for pattern in (_PER_TXN, _PER_TXN_BEFORE):
            for m in pattern.finditer(folded):
                yield _Candidate("per_txn_fee", _dec(Decimal(m.group("num"))), m.start(), m.end())
    yield from _rates_after_cue(folded)


def _percent_rates(folded: str) -> Iterator[_Candidate]:
    for m in _RATE_PERCENT.finditer(folded):
        value = Decimal(m.group("num"))
        value = value.scaleb(-1) if m.group("sign") == "‰" else value
        fee = m.group("fee")
        yield _Candidate("rate", _dec(value), m.start(), m.end("sign"), f"+{fee}元/笔" if fee else None)
        if fee:
            yield _Candidate("per_txn_fee", _dec(Decimal(fee)), m.start("fee"), m.end())


def _rates_after_cue(folded: str) -> Iterator[_Candidate]:
    for cue in _RATE_CUE.finditer(folded):
        window_end = min(len(folded), cue.end() + _RATE_WINDOW)
        clause_end = _CLAUSE_END.search(folded, cue.end(), window_end)
        stop = clause_end.start() if clause_end else window_end
        for m in _BARE_NUMBER.finditer(folded, cue.end(), stop):
            value = Decimal(m.group("num"))
            if 0 < value < 10:
                yield _Candidate("rate", _dec(value), m.start(), m.end())


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

_RELATIVE_YEAR = {"今年": 0, "去年": 1, "前年": 2}
_DATE_CHARS = "0-9一二三四五六七八九十"
_DATE_CN = re.compile(
    rf"(?P<m>[{_DATE_CHARS}](?<![0-9.].)[{_DATE_CHARS}]?)\s?月(?P<fen>份)?"
    rf"(?:\s?(?P<d>[{_DATE_CHARS}]{{1,3}})\s?(?:日|号))?"
)
_YEAR_BEFORE = re.compile(r"(?:(?<![0-9])(?P<y>[0-9]{4}|[0-9]{2})\s?年|(?P<ry>今年|去年|前年))\s?$")
_DATE_YEAR = re.compile(r"(?P<y>[12](?<![0-9].)[0-9]{3})\s?年(?!代|前|后|多|来|间)")
_DATE_NUMERIC = re.compile(
    r"(?P<y>[12](?<![0-9.].)[0-9]{3})(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})(?![0-9])"
)
# "10.3号": found by its separator (rare) rather than by its month digits (everywhere).
_DATE_MONTH_DAY = re.compile(r"[./](?<=[0-9][./])(?P<d>[0-9]{1,2})\s?(?:号|日)")
_MONTH_BEFORE = re.compile(r"(?<![0-9.])[0-9]{1,2}$")
_DATE_DOUBLE = re.compile(r"双\s?(?P<which>十一|十二|11|12)(?![0-9])")
# "三天前" is found by its unit and 前 first: every alternative opens with a literal, a fast scan.
_AGO_HINT = re.compile(r"天前|日前|周前|期前|拜前|月前|年前|之前|以前")
_DATE_AGO = re.compile(
    r"(?P<n>[0-9一二两三四五六七八九十半几](?<![0-9].)[0-9一二两三四五六七八九十]{0,2}+)\s?"
    r"(?:(?P<day>天|日)|(?P<week>个?(?:星期|礼拜)|周)|(?P<month>个月)|(?P<year>年))\s?(?:之|以)?前"
)
# Every alternative opens with a literal character, which lets the regex engine skip ahead.
_DATE_RELATIVE = re.compile(
    r"大前天|前天|昨天|昨日|今天|今日|前几天|前些天|前两天|这几天|上上个?月|上个?月|本月|这个月|去年|前年|今年"
)
_DATE_WEEK = re.compile(r"(?P<week>上上|上|本|这)个?(?:周|星期|礼拜)(?P<weekday>[一二三四五六日天1-7])?")
_WEEKDAYS = {ch: i for i, ch in enumerate("一二三四五六日")} | {"天": 6} | {str(i + 1): i for i in range(7)}
_RELATIVE_DAYS = {"大前天": (-3, "日"), "前天": (-2, "日"), "昨天": (-1, "日"), "昨日": (-1, "日")}
_RELATIVE_DAYS |= {"今天": (0, "日"), "今日": (0, "日"), "前两天": (-2, "约")}
_RELATIVE_DAYS |= {"前几天": (-3, "约"), "前些天": (-3, "约"), "这几天": (-2, "约")}
_RELATIVE_MONTHS = {"上上个月": 2, "上上月": 2, "上个月": 1, "上月": 1, "本月": 0, "这个月": 0}
_WEEK_OFFSETS = {"上上": 2, "上": 1, "本": 0, "这": 0}
_VAGUE_COUNTS = {"几": 3, "半": 1}


def _month_start(today: dt.date, months_back: int) -> dt.date:
    index = today.year * 12 + today.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def _latest(month: int, day: int, today: dt.date) -> dt.date | None:
    """The latest date with this month and day that is not after ``today``."""
    for year in range(today.year, today.year - 9, -1):  # 2月29日 may need to go back to a leap year
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    return None


def _small_int(text: str) -> int | None:
    return int(text) if text.isdigit() else _cn_int(text)


def _year(m: re.Match[str] | None, today: dt.date) -> int | None:
    if m is None:
        return None
    if m.group("y"):
        year = int(m.group("y"))
        return year + 2000 if year < 100 else year
    return today.year - _RELATIVE_YEAR[m.group("ry")]


def _dates(folded: str, today: dt.date) -> Iterator[_Candidate]:
    if "月" in folded:
        yield from _dates_cn(folded, today)
    if "年" in folded:
        for m in _DATE_YEAR.finditer(folded):
            if 1900 <= int(m.group("y")) <= 2099:
                yield _Candidate("date", f"{m.group('y')}-01-01", m.start(), m.end(), "年")
    yield from _dates_numeric(folded, today)
    yield from _dates_relative(folded, today)
    if _AGO_HINT.search(folded):
        yield from _dates_ago(folded, today)


def _dates_cn(folded: str, today: dt.date) -> Iterator[_Candidate]:
    for m in _DATE_CN.finditer(folded):
        prefix = _YEAR_BEFORE.search(folded, max(0, m.start() - 7), m.start())
        year, month = _year(prefix, today), _small_int(m.group("m"))
        day = _small_int(m.group("d")) if m.group("d") else None
        # "三月" alone is too often no date ("一月一次"): a Chinese month needs a year, a day or 份.
        if not month or (not m.group("m").isdigit() and year is None and day is None and not m.group("fen")):
            continue
        date, note = _resolve(year, month, day, today)
        if date:
            start = prefix.start() if prefix else m.start()
            yield _Candidate("date", date.isoformat(), start, m.end(), note)


def _resolve(year: int | None, month: int, day: int | None, today: dt.date) -> tuple[dt.date | None, str]:
    try:
        if day is None:
            if year is None:
                year = today.year if month <= today.month else today.year - 1
            return dt.date(year, month, 1), "月"
        if year is None:
            return _latest(month, day, today), "日"
        return dt.date(year, month, day), "日"
    except ValueError:
        return None, ""


def _dates_numeric(folded: str, today: dt.date) -> Iterator[_Candidate]:
    for m in _DATE_NUMERIC.finditer(folded):
        date, note = _resolve(int(m.group("y")), int(m.group("m")), int(m.group("d")), today)
        if date and 1900 <= date.year <= 2099:
            yield _Candidate("date", date.isoformat(), m.start(), m.end(), note)
    for m in _DATE_MONTH_DAY.finditer(folded):
        month = _MONTH_BEFORE.search(folded, max(0, m.start() - 2), m.start())
        date = _latest(int(month.group()), int(m.group("d")), today) if month else None
        if date and month:
            yield _Candidate("date", date.isoformat(), month.start(), m.end(), "日")
    if "双" in folded:
        for m in _DATE_DOUBLE.finditer(folded):
            yield from _double_day(folded, m, today)


def _double_day(folded: str, m: re.Match[str], today: dt.date) -> Iterator[_Candidate]:
    """双十一 / 双十二, optionally after 今年 / 去年 / 前年."""
    month = 11 if m.group("which") in ("十一", "11") else 12
    relative = folded[max(0, m.start() - 2) : m.start()]
    if relative in _RELATIVE_YEAR:
        date: dt.date | None = dt.date(today.year - _RELATIVE_YEAR[relative], month, month)
    else:
        date, relative = _latest(month, month, today), ""
    if date:
        yield _Candidate("date", date.isoformat(), m.start() - len(relative), m.end(), "日")


def _dates_relative(folded: str, today: dt.date) -> Iterator[_Candidate]:
    for m in _DATE_RELATIVE.finditer(folded):
        word = m.group()
        if word in _RELATIVE_DAYS:
            offset, note = _RELATIVE_DAYS[word]
            date = today + dt.timedelta(days=offset)
        elif word in _RELATIVE_MONTHS:
            date, note = _month_start(today, _RELATIVE_MONTHS[word]), "月"
        else:
            date, note = dt.date(today.year - _RELATIVE_YEAR[word], 1, 1), "年"
        yield _Candidate("date", date.isoformat(), m.start(), m.end(), note)
    for m in _DATE_WEEK.finditer(folded):
        monday = today - dt.timedelta(days=today.weekday() + 7 * _WEEK_OFFSETS[m.group("week")])
        weekday = m.group("weekday")
        date, note = (monday + dt.timedelta(days=_WEEKDAYS[weekday]), "日") if weekday else (monday, "周")
        yield _Candidate("date", date.isoformat(), m.start(), m.end(), note)


def _dates_ago(folded: str, today: dt.date) -> Iterator[_Candidate]:
    for m in _DATE_AGO.finditer(folded):
        count = m.group("n")
        n = _VAGUE_COUNTS.get(count) or _small_int(count)
        if n is None:
            continue
        if m.group("day"):
            date, note = today - dt.timedelta(days=n), "日"
        elif m.group("week"):
            date, note = today - dt.timedelta(weeks=n), "约"
        elif m.group("month"):
            date, note = _month_start(today, n), "月"
        else:
            date, note = dt.date(today.year - n, 1, 1), "年"
        if count == "半":
            date = today - dt.timedelta(days=15 if m.group("month") else 182)
        yield _Candidate("date", date.isoformat(), m.start(), m.end(), "约" if count in _VAGUE_COUNTS else note)


# ---------------------------------------------------------------------------------------------
# Devices, labelled numbers, hotlines
# ---------------------------------------------------------------------------------------------

_POS = "[Pp][Oo][Ss]"
_DEVICE_TYPE = re.compile(
    rf"拉卡拉考拉超收|考拉超收|智能\s?{_POS}|电签版?(?:\s?{_POS})?|大\s?{_POS}|传统\s?{_POS}|手机\s?{_POS}"
    rf"|蓝牙\s?{_POS}|M{_POS}|m{_POS}|云音箱|扫码盒子"
)
_DEVICE_CODE = re.compile(
    r"(?P<code>[A-Za-z](?<![A-Za-z0-9].)(?:[A-Za-z]{1,3}-)?[A-Za-z]?[0-9]{1,4}[A-Za-z]?(?:\s?(?:Pro|Plus|Max))?)"
    r"(?![A-Za-z0-9])"
)
# Model codes seen on POS terminals in China; other codes count only beside a device word.
_KNOWN_MODELS = frozenset(
    "A8 A7 A6 A5 Q50 Q1 Q2 Q3 P1 P2 P3 N910 N950 N5 N6 N86 ME30 ME31 ME50 ME51 A910 A920 A930 S90 S910 "
    "D180 D190 K9 V2 SP600 SP630 MP45 M2".split()
)
_NOT_MODELS = frozenset("T0 T1 D0 D1 S0 S1".split())  # settlement cycles, not devices
_DEVICE_CONTEXT = re.compile(rf"\s?(?:型|款|版|{_POS}|机|终端|设备|刷卡器)")
_MODEL_CUE = re.compile(r"(?:型号|机型)[:是为\s]{0,3}$")

_SERIAL = re.compile(
    r"(?:S(?<![A-Za-z].)/?[Nn]|s(?<![A-Za-z].)/?[Nn]|序列号|机身号|机身编号|机身码|机器编号|机器号|设备编号|设备号|机具号|机具编号)码?"
    r"[\s:是为]{0,3}(?P<v>(?=[A-Za-z0-9-]{0,31}[0-9])[A-Za-z0-9][A-Za-z0-9-]{5,31})(?![A-Za-z0-9])"
)
_LABEL_GAP = r"[^0-9A-Za-z\n,，。;；]{0,6}?"
_MERCHANT = re.compile(rf"商户(?:编号|号|编码|代码)码?{_LABEL_GAP}(?P<v>[0-9]{{15}})(?![0-9])")
_MERCHANT_BARE = re.compile(r"8(?<![0-9].)[0-9]{14}(?![0-9])")
_TERMINAL = re.compile(rf"终端(?:编号|号码|号|ID){_LABEL_GAP}(?P<v>[0-9A-Za-z]{{8}})(?![0-9A-Za-z])")
_TRANSACTION = re.compile(
    r"(?P<label>检索参考号|参考号|交易流水号|流水号|凭证号|交易单号|订单号|订单编号|交易号|批次号)"
    rf"{_LABEL_GAP}(?P<v>(?=[A-Za-z0-9]{{0,39}}[0-9])[A-Za-z0-9]{{4,40}})(?![A-Za-z0-9])"
)
_HOTLINE = re.compile(
    r"(?:400[ \-]?[0-9]{3}[ \-]?[0-9]{4}|800[ \-]?[0-9]{3}[ \-]?[0-9]{4}|95[0-9]{3}|123[0-9]{2}|100(?:86|10|00))"
    r"(?![0-9])"
)
_NOT_HOTLINE_AFTER = re.compile(r"\s?(?:[元块万千%‰个笔台天年月日号次人]|\.[0-9])")


def _devices(folded: str, today: dt.date) -> Iterator[_Candidate]:
    for m in _DEVICE_TYPE.finditer(folded):
        value = "".join(m.group().split()).upper()
        yield _Candidate("device_model", value, m.start(), m.end())
    for m in _DEVICE_CODE.finditer(folded):
        code = "".join(m.group("code").split()).upper()
        if code in _NOT_MODELS or not _is_device_code(folded, code, m.start(), m.end()):
            continue
        yield _Candidate("device_model", code, m.start(), m.end())


def _is_device_code(folded: str, code: str, start: int, end: int) -> bool:
    if code in _KNOWN_MODELS or code.split("-")[-1] in _KNOWN_MODELS:
        return True
    return bool(_DEVICE_CONTEXT.match(folded, end) or _MODEL_CUE.search(folded[max(0, start - 6) : start]))


def _labelled_numbers(folded: str, today: dt.date) -> Iterator[_Candidate]:
    for m in _SERIAL.finditer(folded):
        yield _Candidate("serial_number", m.group("v").upper(), m.start("v"), m.end("v"))
    for m in _MERCHANT.finditer(folded):
        yield _Candidate("merchant_number", m.group("v"), m.start("v"), m.end("v"))
    for m in _MERCHANT_BARE.finditer(folded):
        yield _Candidate("merchant_number", m.group(), m.start(), m.end(), "推断")
    for m in _TERMINAL.finditer(folded):
        yield _Candidate("terminal_number", m.group("v").upper(), m.start("v"), m.end("v"))
    for m in _TRANSACTION.finditer(folded):
        yield _Candidate("transaction_ref", m.group("v"), m.start("v"), m.end("v"), m.group("label"))
    for m in _HOTLINE.finditer(folded):
        if m.start() > 0 and folded[m.start() - 1] in "0123456789.":
            continue
        if m.end() - m.start() > 5 or not _NOT_HOTLINE_AFTER.match(folded, m.end()):
            yield _Candidate("hotline", re.sub(r"[ \-]", "", m.group()), m.start(), m.end())


_NOT_ID_CHAR = re.compile(r"[^0-9Xx]")


def _personal_numbers(folded: str, today: dt.date) -> Iterator[_Candidate]:
    for span in find_personal_data(folded, names=False):
        digits = _NOT_ID_CHAR.sub("", span.text).upper()
        if span.kind == "mobile":
            yield _Candidate("phone", digits[-11:], span.start, span.end, "手机")
        elif span.kind == "landline":
            area = 3 if digits[:2] in ("01", "02") else 4
            yield _Candidate("phone", f"{digits[:area]}-{digits[area:]}", span.start, span.end, "固话")
        else:
            yield _Candidate(span.kind, digits, span.start, span.end)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

_EXTRACTORS: tuple[Callable[[str, dt.date], Iterator[_Candidate]], ...] = (
    _labelled_numbers,
    _personal_numbers,
    _rates,
    _dates,
    _devices,
    _amounts,
)


def _overlap_order(c: _Candidate) -> tuple[int, int, int]:
    return _RANK[c.kind], c.start - c.end, c.start


def _without_overlaps(candidates: list[_Candidate], length: int) -> list[_Candidate]:
    candidates.sort(key=_overlap_order)
    claimed = bytearray(length)
    kept: list[_Candidate] = []
    for c in candidates:
        if claimed.find(1, c.start, c.end) == -1:
            claimed[c.start : c.end] = b"\x01" * (c.end - c.start)
            kept.append(c)
    return kept


def extract_facts(text: str, *, today: dt.date) -> Facts:
    """Extract the facts of one complaint text.

    Parameters
    ----------
    text:
        The complaint, Simplified or Traditional Chinese, half- or full-width characters.
    today:
        The date relative dates are resolved against ("上个月", "前天", "10月3日" without a year).

    Returns
    -------
    Facts
        One tuple of ``Fact`` per kind (see ``KINDS``), each sorted by position; no two facts
        overlap. Positions and ``Fact.text`` refer to ``text`` as given.
    """
    folded = normalize(text)
    candidates = [c for extractor in _EXTRACTORS for c in extractor(folded, today)]
    grouped: dict[str, list[Fact]] = {kind: [] for kind in KINDS}
    for c in sorted(_without_overlaps(candidates, len(text)), key=lambda c: c.start):
        grouped[c.kind].append(Fact(c.kind, c.value, text[c.start : c.end], c.start, c.end, c.note))
    return Facts(**{kind: tuple(facts) for kind, facts in grouped.items()})
