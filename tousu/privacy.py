"""Finding and masking personal data in complaint texts.

Two layers, on purpose:

* ``find_personal_data`` reports precise spans: mobile and landline numbers, resident ID numbers
  (checksum and birth date valid), bank card numbers (Luhn valid, written whole or in groups of 4)
  and personal names introduced by a cue (姓名, 我叫, 联系人…) or followed by an honorific (先生, 女士…).
* ``mask`` masks those spans, then runs a final safety pass that masks *any* checksum-valid
  18-character ID or Luhn-valid 16–19 digit card number left in the text, however its digit groups
  are separated, so the guarantee never depends on the precision of the detectors above.

All matching happens on ``normalize(text)``, a length-preserving fold, so every position found
there is a position in the original text and untouched characters stay byte-for-byte.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from stdnum import luhn
from stdnum.cn import ric

__all__ = ["Span", "find_personal_data", "mask", "normalize"]

MASK_CHAR = "*"

# Traditional → Simplified pairs for the characters that cue words, numerals, units and common
# surnames use. One character to one character, so that folding never shifts positions.
_TRADITIONAL_PAIRS = (
    "萬万億亿兩两貳贰參参陸陆塊块錢钱幣币點点個个費费號号週周禮礼幾几雙双這这機机簽签電电傳传統统"
    "藍蓝戶户編编碼码終终憑凭證证單单訂订檢检設设備备聯联繫系係系負负責责話话熱热線线撥拨筆笔條条"
    "臺台說说讓让對对還还從从與与給给們们來来辦办買买為为雲云會会員员額额損损賠赔嗎吗後后時时間间"
    "張张陳陈劉刘楊杨黃黄趙赵吳吴許许鄭郑馮冯鄧邓孫孙葉叶蘇苏盧卢蔣蒋韓韩賈贾羅罗謝谢龍龙鍾钟譚谭"
    "顧顾賴赖鄒邹閻阎閆闫蕭萧華华嚴严範范湯汤歐欧諸诸馬马呂吕鄔邬龔龚溫温賀贺聶聂魯鲁鄺邝韋韦莊庄"
    "東东門门長长師师闆板輪轮"
)


def _build_fold_table() -> dict[int, str]:
    # Full-width ASCII (digits, letters, ％．：＋－／…) folds to ASCII, except the full-width comma,
    # which Chinese text uses as a list separator and must not read as a thousands separator.
    table = {cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F) if cp != 0xFF0C}
    table[0x3000] = " "
    pairs = _TRADITIONAL_PAIRS
    for trad, simp in zip(pairs[::2], pairs[1::2], strict=True):
        table[ord(trad)] = simp
    return table


_FOLD_TABLE = _build_fold_table()
_FOLD_MAP = {chr(cp): folded for cp, folded in _FOLD_TABLE.items()}
_NEEDS_FOLD = re.compile("[" + "".join(re.escape(chr(cp)) for cp in _FOLD_TABLE) + "]")


def normalize(text: str) -> str:
    """Fold full-width ASCII and common Traditional characters, keeping every position.

    Parameters
    ----------
    text:
        Any text.

    Returns
    -------
    str
        A string of the same length in which index ``i`` corresponds to index ``i`` of ``text``:
        ``１３８`` becomes ``138``, ``費率`` becomes ``费率``, the ideographic space a space.
    """
    # Most texts need few or no replacements; substituting only those beats str.translate, which
    # looks up every character.
    return _NEEDS_FOLD.sub(_fold_match, text)


def _fold_match(m: re.Match[str]) -> str:
    return _FOLD_MAP[m.group()]


@dataclass(frozen=True, slots=True)
class Span:
    """One piece of personal data: ``kind`` is mobile, landline, id_number, bank_card or name."""

    kind: str
    start: int
    end: int
    text: str


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------

# Each pattern opens with a plain character or character set and puts its "no digit before"
# lookbehind after that first character ("(?<![0-9].)"): the regex engine can then skip ahead with a
# fast scan, which it cannot do for a pattern that opens with a lookbehind or an optional group.
_MOBILE = re.compile(r"1[3-9][0-9](?:[ \-]?[0-9]{4}){2}(?![0-9])")
_MOBILE_PREFIX = re.compile(r"(?:\+|00)?86[ \-]?$")
# Area codes: 010, 02x, then 0 + three digits; subscriber numbers never start with 0 or 1, which
# keeps reference numbers that merely start with 0 out.
_LANDLINE = re.compile(r"0(?<![0-9].)(?:10|2[0-9]|[3-9][0-9]{2})\)?[ \-]?[2-9][0-9]{6,7}(?![0-9])")
_ID_NUMBER = re.compile(
    r"[1-9](?<![0-9].)[0-9]{5}[ \-]?(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[ \-]?[0-9]{3}[0-9Xx](?![0-9])"
)
_BANK_CARD = re.compile(r"[0-9](?<![0-9].)(?:[0-9]{15,18}|[0-9]{3}(?:[ \-][0-9]{4}){3}(?:[ \-]?[0-9]{1,3})?)(?![0-9])")
_ID_CHARS = re.compile(r"[0-9Xx]")
_DIGIT = re.compile(r"[0-9]")


def _compact(folded: str) -> str:
    return "".join(_ID_CHARS.findall(folded)).upper()


def _id_checksum_ok(compact: str) -> bool:
    """True when an 18-character string has the GB 11643 (ISO 7064 MOD 11-2) check character."""
    if len(compact) != 18 or not compact[:17].isdigit() or compact[17] not in "0123456789X":
        return False
    return ric.calc_check_digit(compact) == compact[17]


def _is_resident_id(compact: str) -> bool:
    if not _id_checksum_ok(compact):
        return False
    try:  # the birth date, as stdnum.cn.ric.get_birth_date reads it, without its re-cleaning
        dt.date(int(compact[6:10]), int(compact[10:12]), int(compact[12:14]))
    except ValueError:
        return False
    return True


def _is_digit(folded: str, i: int) -> bool:
    return i >= 0 and "0" <= folded[i] <= "9"


def _mobile_start(folded: str, start: int) -> int | None:
    """Where a mobile number found at ``start`` really starts (before +86 / 0086 / 86), if anywhere."""
    prefix = _MOBILE_PREFIX.search(folded, max(0, start - 5), start)
    if prefix and not _is_digit(folded, prefix.start() - 1):
        return prefix.start()
    return None if _is_digit(folded, start - 1) else start


# extract_facts and mask usually run back to back on the same complaint: caching the number scan
# lets the second call reuse the first one's work (the result is an immutable tuple).
@functools.lru_cache(maxsize=256)
def _number_spans(folded: str) -> tuple[tuple[str, int, int], ...]:
    spans = []
    for m in _ID_NUMBER.finditer(folded):
        if _is_resident_id(_compact(m.group())):
            spans.append(("id_number", m.start(), m.end()))
    ids = {(start, end) for _, start, end in spans}
    for m in _BANK_CARD.finditer(folded):
        if m.span() not in ids and luhn.is_valid(_compact(m.group())):
            spans.append(("bank_card", m.start(), m.end()))
    for m in _MOBILE.finditer(folded):
        start = _mobile_start(folded, m.start())
        if start is not None:
            spans.append(("mobile", start, m.end()))
    for m in _LANDLINE.finditer(folded):
        with_paren = m.start() > 0 and folded[m.start() - 1] == "(" and not _is_digit(folded, m.start() - 2)
        spans.append(("landline", m.start() - with_paren, m.end()))
    return tuple(spans)


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

# Common surnames, minus characters that are far more often function words or part of ordinary
# complaint vocabulary (和 向 于 时 明 全 应 成 单 万 商 文 安 易 关 解 费 车 路 包 司 …), which
# would otherwise turn "联系了商户李先生" into a masked "商".
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵钱严覃武"
    "戴莫孔汤常温康施牛樊葛邢齐乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿兰焦俞左柳甘祝尚符舒阮柯纪梅童凌毕"
    "季裴霍涂苗谷盛翁冉骆蓝辛靳柴蒙鲍喻祁蒲滕屈饶牟艾尤穆农卓吉缪芦麦褚娄窦戚岑景党宫卜冷晏席卫"
    "米柏宗瞿桂佟臧闵苟邬卞姬仇栾隋刁沙荣巫寇桑郎甄丛仲虞敖巩佘池麻苑迟邝阎萧"
)
_DOUBLE_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 端木 独孤 南宫 西门 "
    "百里 呼延 轩辕 澹台 闻人 申屠 太史 万俟 钟离 司空 左丘 东郭 第五 拓跋 纳兰 赫连".split()
)
# Characters that end a name: particles, verbs and nouns that follow a name in complaint prose.
_NOT_IN_NAME = frozenset(
    "的了是在于和与跟及给向从对把被让叫说要想去来到今昨年月日号天先女老师经总客店公本我你他她们什么这那"
    "哪谁不没无未已都就还也又再很太才因为办用买刷申投诉反映等请称表电手身银卡商户号码机个位名姓某"
)
_CJK_LOW, _CJK_HIGH = "\u4e00", "\u9fff"
_NAME_CUE = re.compile(
    r"(?P<cue>商户负责人|法人代表|负责人|联系人|持卡人|开户人|收款人|法人|户名|姓名|名字|我叫|本人|市民)"
    r"(?P<sep>[\s:]{0,2}(?:是|为|叫)?[\s:]{0,2})"
)
# Form-like cues introduce a name even when its surname is not in the list above.
_FORM_CUES = frozenset(("户名", "姓名"))
_HONORIFIC = re.compile(r"先生|女士|小姐|老板|师傅")
_HONORIFICS = ("先生", "女士", "小姐", "老板", "师傅")


def _is_name_char(ch: str) -> bool:
    return _CJK_LOW <= ch <= _CJK_HIGH and ch not in _NOT_IN_NAME


def _surname_length(name: str) -> int:
    return 2 if name[:2] in _DOUBLE_SURNAMES else 1


def _given_name_end(folded: str, pos: int) -> int:
    end = pos
    while end - pos < 2 and end < len(folded) and _is_name_char(folded[end]):
        if folded.startswith(_HONORIFICS, end):
            break
        end += 1
    return end


def _name_after_cue(folded: str, pos: int, any_surname: bool) -> tuple[int, int] | None:
    if folded[pos : pos + 2] in _DOUBLE_SURNAMES:
        surname = 2
    elif pos < len(folded) and (folded[pos] in _SURNAMES or (any_surname and _is_name_char(folded[pos]))):
        surname = 1
    else:
        return None
    end = _given_name_end(folded, pos + surname)
    return (pos, end) if end > pos + surname else None


def _name_before_honorific(folded: str, pos: int) -> tuple[int, int] | None:
    # Longest plausible name first: "张三丰先生" is a full name, "客服李先生" only a surname
    # (nothing to mask), "找欧阳娜娜女士" a double surname with a given name.
    for length in (4, 3, 2):
        start = pos - length
        if start < 0:
            continue
        name = folded[start:pos]
        if name[:2] in _DOUBLE_SURNAMES:
            given = name[2:]
        elif name[0] in _SURNAMES and length < 4:
            given = name[1:]
        else:
            continue
        if given and all(_is_name_char(ch) for ch in given):
            return start, pos
    return None


def _name_spans(folded: str) -> Iterator[tuple[str, int, int]]:
    for m in _NAME_CUE.finditer(folded):
        any_surname = m.group("cue") in _FORM_CUES or ":" in m.group("sep")
        found = _name_after_cue(folded, m.end(), any_surname)
        if found:
            yield "name", found[0], found[1]
    for m in _HONORIFIC.finditer(folded):
        found = _name_before_honorific(folded, m.start())
        if found:
            yield "name", found[0], found[1]


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

# When detections overlap, the more specific and more sensitive kind wins.
_PRIORITY = {"id_number": 0, "bank_card": 1, "mobile": 2, "landline": 3, "name": 4}


def _find(folded: str, names: bool) -> list[tuple[str, int, int]]:
    found = list(_number_spans(folded))
    if names:
        found.extend(_name_spans(folded))
    if len(found) < 2:
        return found
    found.sort(key=lambda f: (_PRIORITY[f[0]], f[1] - f[2], f[1]))
    claimed = bytearray(len(folded))
    kept: list[tuple[str, int, int]] = []
    for kind, start, end in found:
        if claimed.find(1, start, end) == -1:
            claimed[start:end] = b"\x01" * (end - start)
            kept.append((kind, start, end))
    kept.sort(key=lambda f: f[1])
    return kept


def find_personal_data(text: str, *, names: bool = True) -> list[Span]:
    """Find phone numbers, resident ID numbers, bank card numbers and personal names.

    Parameters
    ----------
    text:
        A complaint text, Simplified or Traditional, half- or full-width.
    names:
        Whether to look for personal names too (callers that only need the numbers skip the work).

    Returns
    -------
    list[Span]
        Non-overlapping spans sorted by start, positions into ``text``, ``Span.text`` the original
        substring. Kinds: ``mobile``, ``landline``, ``id_number`` (checksum and birth date valid),
        ``bank_card`` (Luhn valid) and ``name`` (only names with a given name to mask; 王女士 is
        not reported). Hotlines (95016, 12363, 400-…) are not personal and never reported.
    """
    folded = normalize(text)
    return [Span(kind, start, end, text[start:end]) for kind, start, end in _find(folded, names)]


def mask(text: str) -> str:
    """Mask the personal data in ``text``.

    Mobiles keep their first 3 and last 4 digits (``138****5678``), ID and card numbers their first
    6 and last 4 (``110101********1233``), landlines their area code and last 2 digits, names their
    surname (``张三丰`` → ``张**``). Each masked character becomes one ``*``, so the length and all
    non-personal text stay exactly as they were.

    Guarantee: the result contains no checksum-valid 18-character ID number and no Luhn-valid
    16–19 digit card number, whether written whole, with whitespace or dashes between digit groups,
    in full-width digits, or glued to other characters. A number is a maximal run of digits, or a
    run of digit groups joined by up to 3 separators read group by group. ``mask`` is idempotent.

    Parameters
    ----------
    text:
        A complaint text.

    Returns
    -------
    str
        The masked text, of the same length as ``text``.
    """
    # Masking only ever turns characters into "*", so this reaches a fixpoint; looping until it
    # does makes mask(mask(t)) == mask(t) hold by construction rather than by luck.
    folded = normalize(text)
    while True:
        masked, masked_folded = _mask_once(text, folded)
        if masked == text:
            return masked
        text, folded = masked, masked_folded


def _mask_once(text: str, folded: str) -> tuple[str, str]:
    positions: list[int] = []
    for kind, start, end in _find(folded, names=True):
        positions.extend(_positions_to_mask(folded, kind, start, end))
    positions.extend(_safety_positions(_apply(folded, positions)))
    return _apply(text, positions), _apply(folded, positions)


def _positions_to_mask(folded: str, kind: str, start: int, end: int) -> list[int]:
    if kind == "name":
        return list(range(start + _surname_length(folded[start:end]), end))
    if kind == "id_number":
        return [m.start() for m in _ID_CHARS.finditer(folded, start, end)][6:-4]
    digits = [m.start() for m in _DIGIT.finditer(folded, start, end)]
    if kind == "mobile":
        return digits[-11:][3:7]  # skip a +86 / 0086 prefix
    if kind == "landline":
        area = 3 if folded[digits[0]] + folded[digits[1]] in ("01", "02") else 4
        return digits[area:-2]
    return digits[6:-4]


def _apply(text: str, positions: list[int]) -> str:
    if not positions:
        return text
    chars = list(text)
    for i in positions:
        chars[i] = MASK_CHAR
    return "".join(chars)


# ---------------------------------------------------------------------------------------------
# Final safety pass
# ---------------------------------------------------------------------------------------------

# Separators people put between digit groups: any whitespace (the ideographic space included), the
# dash family and underscores. Full-width forms are folded before this runs.
_SEP = r"[\s\-_\u2010-\u2015\u2212]"
# A run shorter than 16 characters cannot hold a card or an ID: the lookahead drops it early.
_DIGIT_GROUPS = re.compile(rf"[0-9](?<![0-9].)(?=(?:[0-9Xx]|{_SEP}){{15}})[0-9]*[Xx]?(?:{_SEP}{{1,3}}[0-9]+[Xx]?)*")
_GROUP = re.compile(r"[0-9]+")


def _safety_positions(folded: str) -> list[int]:
    positions: list[int] = []
    for run in _DIGIT_GROUPS.finditer(folded):
        positions.extend(_sensitive_positions(folded, run.start(), run.end()))
    return positions


def _sensitive_positions(folded: str, start: int, end: int) -> Iterator[int]:
    """Positions to mask for every group-aligned card or ID number in one run of digit groups.

    Every stretch of consecutive groups with 16–19 digits is checked as a card, every stretch of
    18 characters (17 digits and an X closing the last group count too) as an ID number.
    """
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(folded, start, end)]
    for first in range(len(groups)):
        number, digits = "", []
        for g_start, g_end in (groups[j] for j in range(first, len(groups))):  # stops after ≤ 19 digits
            number += folded[g_start:g_end]
            digits.extend(range(g_start, g_end))
            if len(number) > 19:
                break
            if len(number) >= 16 and luhn.is_valid(number):
                yield from digits[6:-4]
            x_after = g_end < len(folded) and folded[g_end] in "Xx"
            if len(number) == 18 and _id_checksum_ok(number):
                yield from digits[6:-4]
            elif len(number) == 17 and x_after and _id_checksum_ok(number + "X"):
                yield from [*digits, g_end][6:-4]
            if x_after:
                break  # an X closes a number
