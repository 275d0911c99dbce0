"""Which payment company a complaint names (GUIDELINE.md §4)."""

from __future__ import annotations

import re
from functools import cache

from tousu import knowledge


@cache
def _pattern(kb: knowledge.KnowledgeBase) -> tuple[re.Pattern, dict[str, str]]:
    owner = {alias.lower(): brand.id for brand in kb.brands.values() for alias in brand.aliases}
    # Longest alias first, so 拉卡拉考拉 wins over 考拉 and 汇付天下 over 汇付.
    alternatives = sorted(owner, key=len, reverse=True)
    return re.compile("|".join(re.escape(a) for a in alternatives)), owner


def detect(simplified_text: str, kb: knowledge.KnowledgeBase | None = None) -> tuple[str, str | None]:
    """The brand id named most often (earliest on a tie), and the phrase that named it.

    Parameters
    ----------
    simplified_text:
        The complaint in Simplified Chinese (see :func:`tousu.text.to_simplified`).

    Returns
    -------
    (brand_id, phrase)
        ``("unknown", None)`` when no known company is named.
    """
    pattern, owner = _pattern(kb or knowledge.default())
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for match in pattern.finditer(simplified_text.lower()):
        brand = owner[match.group(0)]
        counts[brand] = counts.get(brand, 0) + 1
        first.setdefault(brand, simplified_text[match.start() : match.end()])
    if not counts:
        return "unknown", None
    best = max(counts, key=lambda b: counts[b])  # dicts keep insertion order: earliest wins ties
    return best, first[best]
