"""How the machine was obtained, when the complaint says it in so many words.

A phrase that ties a seller named in ``channels.toml`` to an acquisition verb
(通过代理商办理, 业务员上门推销, 在淘宝买的, 官网申请) decides the channel; the
classifier decides the rest. Third-party phrases are looked for first: a machine
sold by an agent and later serviced by customer service is still third-party.
"""

from __future__ import annotations

import re
from functools import cache

from tousu import knowledge

_STOP = "，。,；;！!？?\n"
_LEAD = "(?:通过|经过|经|找|让|跟|从|在|由|是|打|拨打|向)"
_RIGHT_AFTER = "(?:上门|推销|推荐|介绍|给我办|帮我办|办的|办理|申请|开通|领取)"
_ORDER = ("third_party", "official")


def _either(words) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


@cache
def _patterns(kb: knowledge.KnowledgeBase) -> list[tuple[str, re.Pattern]]:
    verbs = _either(kb.acquisition_verbs)
    gap = f"[^{_STOP}]"
    patterns = []
    for channel_id in _ORDER:
        channel = kb.channels.get(channel_id)
        if channel is None or not (channel.sellers or channel.shops):
            continue
        forms = []
        if channel.sellers:
            sellers = _either(channel.sellers)
            forms += [f"{_LEAD}{gap}{{0,10}}{sellers}{gap}{{0,12}}{verbs}", f"{sellers}{_RIGHT_AFTER}"]
        if channel.shops:
            shops = _either(channel.shops)
            forms += [f"{shops}{gap}{{0,8}}(?:买|购|下单|拍)", f"(?:在|从){shops}"]
        patterns.append((channel_id, re.compile("|".join(forms))))
    return patterns


def detect(simplified_text: str, kb: knowledge.KnowledgeBase | None = None) -> tuple[str | None, str | None]:
    """The channel a complaint states, and the phrase that states it; ``(None, None)`` when it says none.

    Parameters
    ----------
    simplified_text:
        The complaint in Simplified Chinese (see :func:`tousu.text.to_simplified`).
    """
    for channel_id, pattern in _patterns(kb or knowledge.default()):
        match = pattern.search(simplified_text)
        if match:
            return channel_id, match.group(0)
    return None, None
