"""Normalisation of complaint text before classification.

Normalisation keeps one character for one character where it can, so that a
phrase found in the normalised text can be shown in the complainant's own
words: Traditional to Simplified, full-width to half-width, lower case, and
every digit to ``0`` (amounts differ from complaint to complaint; their shape,
such as ``0.00%``, is what carries meaning).
"""

from __future__ import annotations

import re

import zhconv_rs

MAX_CHARS = 20_000
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_WHITESPACE = {ord(c): " " for c in "\t\n\r\x0b\x0c\u3000\xa0"}
_DIGITS = {ord(d): "0" for d in "123456789０１２３４５６７８９"}
_TABLE = str.maketrans({**_FULLWIDTH, **_WHITESPACE, **_DIGITS})
_HAN = re.compile(r"[\u3400-\u9fff]")


def has_chinese(text: str) -> bool:
    return _HAN.search(text) is not None


def to_simplified(text: str) -> str:
    return zhconv_rs.zhconv(text, "zh-hans")


def normalize(text: str) -> str:
    """Normalised form of ``text`` for the classifier (same length as ``text`` unless the
    Traditional-to-Simplified conversion rewrote a phrase)."""
    return to_simplified(text).translate(_TABLE).lower()


def char_ngrams(normalized: str, low: int = 1, high: int = 3) -> list[str]:
    """All character n-grams of ``normalized`` with ``low`` <= n <= ``high``."""
    grams: list[str] = []
    length = len(normalized)
    for n in range(low, high + 1):
        grams += [normalized[i : i + n] for i in range(length - n + 1)]
    return grams
