"""One complaint in, one verdict out: who handles it, why, what to prepare, by when, where next.

:func:`triage` is what the CLI and the web app call. It classifies the text,
routes it with the knowledge base, extracts facts, masks personal data and
computes the deadlines.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field, fields

from tousu import acquisition, brands, classifier, deadlines, knowledge
from tousu.errors import InputError
from tousu.extract import extract_facts
from tousu.privacy import mask
from tousu.text import MAX_CHARS, has_chinese, to_simplified

INTAKES = ("direct", "regulator")
COMPLAINANTS = ("consumer", "merchant", "unknown")


@dataclass
class Verdict:
    """The triage of one complaint. ``to_dict()`` is its JSON form."""

    category: str
    category_name: str
    confidence: float
    alternatives: list[dict]
    department: str
    departments: list[str]
    department_names: list[str]
    channel: str
    channel_confidence: float
    brand: str
    needs_review: bool
    cues: list[str]
    channel_cues: list[str]
    reasons: list[str]
    service_class: str
    cause: str
    major: bool
    evidence: list[str]
    self_help: list[str]
    deadline: dict
    targets: list[dict]
    escalation: list[dict]
    facts: dict = field(default_factory=dict)
    masked_text: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        # Shallow: every field already holds JSON-able values, and asdict's deep copy is a tenth of a submission.
        return {f.name: getattr(self, f.name) for f in fields(self)}


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: object) -> str:
    """Validate a complaint text; returns it stripped or raises :class:`InputError` with a stable code."""
    if not isinstance(text, str):
        raise InputError("投诉内容必须是文本", "text_not_string")
    text = text.strip()
    if not text:
        raise InputError("投诉内容不能为空", "text_empty")
    if len(text) > MAX_CHARS:
        raise InputError(f"投诉内容过长（{len(text)} 字），请控制在 {MAX_CHARS} 字以内", "text_too_long")
    if _SURROGATE.search(text):
        # What Python makes of bytes that are not UTF-8 (a command-line argument cut inside a
        # character, a file read with errors="surrogateescape"): no text can be built from it.
        raise InputError("投诉内容含有无法识别的字节（不是有效的 UTF-8 文本）", "text_not_utf8")
    controls = sum(1 for ch in text if unicodedata.category(ch) in ("Cc", "Co") and ch not in "\n\r\t")
    if controls > max(3, len(text) // 20):
        raise InputError("投诉内容含有大量不可识别字符，疑似二进制数据", "text_binary")
    if "\x00" in text:
        raise InputError("投诉内容（text）含有空字符（U+0000），无法保存", "null_character")
    return text


def statutory_rule(kb: knowledge.KnowledgeBase, category_id: str, intake: str) -> knowledge.DeadlineRule:
    """The clock a regulator would hold the company to for this complaint."""
    if intake == "regulator":
        return kb.rules["pboc_transfer"]
    if kb.company.kind == "bank":
        return kb.rules["bank_acquirer"]
    return kb.categories[category_id].statutory_deadline


def triage(
    text: str,
    *,
    received_at: dt.datetime | None = None,
    complainant: str = "unknown",
    intake: str = "direct",
    kb: knowledge.KnowledgeBase | None = None,
    model: classifier.Classifier | None = None,
    calendar: deadlines.WorkingCalendar | None = None,
) -> Verdict:
    """Triage one complaint.

    Parameters
    ----------
    text:
        The complaint, in Simplified or Traditional Chinese.
    received_at:
        When it was received (timezone-aware); now when omitted.
    complainant:
        ``"consumer"`` (a natural person), ``"merchant"`` or ``"unknown"``; decides which outside bodies apply.
    intake:
        ``"direct"`` or ``"regulator"`` (transferred by a PBoC branch, which sets its own clock).

    Returns
    -------
    Verdict
    """
    text = check_text(text)
    if complainant not in COMPLAINANTS:
        raise InputError(f"投诉人类型无效：{complainant}", "complainant_invalid")
    if intake not in INTAKES:
        raise InputError(f"受理渠道无效：{intake}", "intake_invalid")
    kb = kb or knowledge.default()
    model = model or classifier.default()
    received_at = received_at or dt.datetime.now(deadlines.CHINA)
    masked = mask(text)
    prediction = model.predict([text], display=[masked])[0]
    labels = _labels(text, masked, prediction, kb, model)
    cat, chan = prediction["category"], prediction["channel"]
    category, confidence = labels["category"], labels["confidence"]
    needs_review, warnings = labels["needs_review"], labels["warnings"]
    rule = statutory_rule(kb, category, intake)
    deadline = deadlines.compute(rule, received_at, calendar)
    if deadline.warning:
        warnings.append(deadline.warning)
    targets = [deadlines.compute(kb.rules[r], received_at, calendar).to_dict() for r in ("handover", "first_response")]
    return Verdict(
        category=category,
        confidence=round(confidence, 4),
        alternatives=[{"category": c, "name": kb.categories[c].name, "confidence": p} for c, p in cat.ranking[:3]],
        channel=labels["channel"],
        channel_confidence=labels["channel_confidence"],
        brand=labels["brand"],
        needs_review=needs_review,
        cues=[c.phrase for c in cat.cues],
        channel_cues=_channel_cues(labels, chan),
        reasons=_reasons(kb, labels, cat.cues, chan, model),
        deadline=deadline.to_dict(),
        targets=targets,
        **guidance(category, labels["channel"], complainant, kb),
        facts=_masked_facts(extract_facts(text, today=received_at.astimezone(deadlines.CHINA).date()).to_dict()),
        masked_text=masked,
        warnings=warnings,
    )


def _labels(
    text: str, masked: str, prediction: dict, kb: knowledge.KnowledgeBase, model: classifier.Classifier
) -> dict:
    """Category, departments, channel and brand of one classified text: the part every caller needs.

    Phrases quoted back (brand, channel) are taken from ``masked``, the text with personal data masked.
    """
    cat, chan = prediction["category"], prediction["channel"]
    category, confidence, warnings = cat.label, cat.confidence, []
    readable = has_chinese(text)
    if not readable:
        category, confidence = "other", 0.0
        warnings.append("投诉内容不含中文，无法可靠分类，已转人工复核")
    simplified = to_simplified(masked)
    brand, brand_phrase = brands.detect(simplified, kb)
    stated, channel_phrase = acquisition.detect(simplified, kb)
    channel = stated or chan.label
    return {
        "category": category,
        "confidence": round(confidence, 4),
        "needs_review": not readable or model.needs_review(cat),
        "passed_over": cat.passed_over if readable else None,
        "departments": kb.route(category, channel),
        "channel": channel,
        "channel_confidence": round(dict(chan.ranking)[channel], 4),
        "channel_phrase": channel_phrase,
        "brand": brand,
        "brand_phrase": brand_phrase,
        "warnings": warnings,
    }


def classify_many(
    texts: list[str],
    kb: knowledge.KnowledgeBase | None = None,
    model: classifier.Classifier | None = None,
) -> list[dict]:
    """Classify checked texts in bulk: the labels of :func:`triage`, without facts or deadlines."""
    kb = kb or knowledge.default()
    model = model or classifier.default()
    results = []
    masked = [mask(t) for t in texts]
    predictions = model.predict(texts, explain=("category",), display=masked)
    for text, shown, prediction in zip(texts, masked, predictions, strict=True):
        labels = _labels(text, shown, prediction, kb, model)
        cat = prediction["category"]
        results.append(
            {
                "category": labels["category"],
                "department": labels["departments"][0],
                "departments": labels["departments"],
                "channel": labels["channel"],
                "brand": labels["brand"],
                "confidence": labels["confidence"],
                "needs_review": labels["needs_review"],
                "alternatives": [{"category": c, "confidence": p} for c, p in cat.ranking[:3]],
                "cues": [c.phrase for c in cat.cues],
            }
        )
    return results


PERSONAL_FACTS = ("phone", "id_number", "bank_card")


def _masked_facts(facts: dict) -> dict:
    """Facts as stored and shown: personal numbers masked, since no handler needs them whole."""
    for kind in PERSONAL_FACTS:
        facts[kind] = [{**f, "value": mask(str(f["value"])), "text": mask(f["text"])} for f in facts.get(kind, [])]
    return facts


def _channel_cues(labels: dict, chan) -> list[str]:
    if labels["channel_phrase"]:
        return [labels["channel_phrase"]]
    return [c.phrase for c in chan.cues] if labels["channel"] != "unknown" else []


def _quote(cues) -> str:
    return "、".join(f"“{c.phrase}”" for c in cues[:4])


def _reasons(kb, labels, cues, chan, model) -> list[str]:
    category, confidence, departments = labels["category"], labels["confidence"], labels["departments"]
    entry = kb.categories[category]
    reasons = [f"归为「{entry.name}」（置信度 {confidence:.0%}）" + (f"，依据文中{_quote(cues)}" if cues else "")]
    reasons.append(f"按路由表，「{entry.name}」由{kb.department_name(departments[0])}主办")
    if labels["channel"] == "third_party":
        cues = _channel_cues(labels, chan)
        evidence = "（文中" + "、".join(f"“{c}”" for c in cues[:3]) + "）" if cues else ""
        reasons.append(f"机具经第三方渠道办理{evidence}，{kb.department_name('channel')}协办")
    if labels["brand_phrase"]:
        reasons.append(f"涉及的支付机构：文中提到“{labels['brand_phrase']}”")
    if labels["needs_review"] and labels["confidence"] < model.review_threshold:
        reasons.append(f"置信度低于复核阈值 {model.review_threshold:.0%}，需人工确认分类")
    if labels["passed_over"]:
        other = kb.categories[labels["passed_over"]].name
        reasons.append(f"「{other}」也相符且概率更高，按分类指引的优先顺序取「{entry.name}」，需人工确认分类")
    return reasons


def guidance(
    category: str, channel: str, complainant: str = "unknown", kb: knowledge.KnowledgeBase | None = None
) -> dict:
    """What follows from the category alone: its name, the departments (the channel adds the channel
    department when the machine came from an agent), its class and cause, the evidence and self-help lists
    and the escalation ladder. Fields of :class:`Verdict`; a corrected category takes them again from here.
    """
    kb = kb or knowledge.default()
    entry = kb.categories[category]
    departments = kb.route(category, channel)
    return {
        "category_name": entry.name,
        "department": departments[0],
        "departments": departments,
        "department_names": [kb.department_name(d) for d in departments],
        "service_class": entry.service_class,
        "cause": entry.cause,
        "major": entry.major,
        "evidence": list(entry.evidence),
        "self_help": list(entry.self_help),
        "escalation": escalation(category, complainant, kb),
    }


def escalation(category: str, complainant: str = "unknown", kb: knowledge.KnowledgeBase | None = None) -> list[dict]:
    """Where a complaint of ``category`` goes next: the company's internal steps, then the outside bodies.

    Parameters
    ----------
    category:
        A category id of the knowledge base.
    complainant:
        ``"consumer"``, ``"merchant"`` or ``"unknown"``; an outside body that takes only the other type is
        left out (``"unknown"`` keeps both).

    Returns
    -------
    list of dict
        The steps in order, as in :attr:`Verdict.escalation`.
    """
    kb = kb or knowledge.default()
    steps = [{"level": "internal", "id": step_id, "name": name} for step_id, name in kb.company.internal_steps]
    for body in kb.ladder(category, complainant):
        step = {
            "level": "external",
            "id": body.id,
            "name": body.name,
            "short": body.short,
            "contact": body.contact,
            "applies_to": body.applies_to,
            "certainty": body.certainty,
            "note": body.note,
            "source": body.source,
            "deadline": None,
        }
        if body.deadline is not None:
            rule = body.deadline
            step["deadline"] = {
                "rule": rule.id,
                "name": rule.name,
                "days": rule.days,
                "unit": rule.unit,
                "certainty": rule.certainty,
                "basis": rule.basis,
            }
        steps.append(step)
    return steps
