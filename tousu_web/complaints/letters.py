"""Where a complainant turns next, and the complaint letter addressed to that outside body.

Everything here is a pure function of a complaint, its public events and a date: nothing is written,
no request is read, so the portal, the console and the tests get the same text. Personal numbers
never appear unmasked: the complaint is quoted from ``text_masked``, event bodies and the contact
phone go through :func:`tousu.privacy.mask`, and facts of personal kinds (phone, ID, card) are left out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from tousu import deadlines, knowledge
from tousu.knowledge import CERTAINTY_LABELS
from tousu.privacy import mask

from .models import ComplainantType, Complaint, ComplaintEvent, Status

Kind = ComplaintEvent.Kind
CHINA = deadlines.CHINA
UNITS = {"calendar": "个自然日", "working": "个工作日"}

# What the company said, as the letter retells it, by event kind.
COMPANY_SAID = {
    Kind.REPLY: "机构答复",
    Kind.INFO_REQUESTED: "机构要求补充材料",
    Kind.EXTENSION_DECIDED: "机构通知延期",
    Kind.VISIT: "机构安排上门服务",
    Kind.RESOLUTION_PROPOSED: "机构提出解决方案",
    Kind.CLOSED: "机构办结投诉，办结说明",
    Kind.REOPENED: "机构重新打开投诉",
}
COMPLAINANT_SAID = {
    Kind.RESOLUTION_REJECTED: "本人不接受该方案",
    Kind.RESOLUTION_ACCEPTED: "本人接受该方案",
}

# Facts worth retelling, in this order; phone, ID and card numbers are personal and never retold.
FACT_LABELS = (
    ("amount", "涉及金额"),
    ("rate", "费率"),
    ("per_txn_fee", "每笔手续费"),
    ("date", "相关日期"),
    ("device_model", "机具型号"),
    ("serial_number", "机具序列号"),
    ("merchant_number", "商户号"),
    ("terminal_number", "终端号"),
    ("transaction_ref", "交易参考号"),
)
_DEMAND = re.compile("要求|希望|请求|诉求|恳请|退还|退回|返还|退款|退押金|赔偿|解冻|恢复|撤销|注销|解约")
_CLAUSE = re.compile(r"[。！？!?；;，,\n]+")
SECTION_NUMBERS = "一二三四五六"
DEFAULT_DEMAND = "请督促被投诉机构依法核实处理上述问题，并将处理结果告知本人。"


# ---------------------------------------------------------------------------- where next


def applies(applies_to: str, complainant_type: str) -> bool:
    """Whether an outside body takes this complainant: "any" always, "consumer"/"merchant" that type or unknown."""
    if applies_to == "any":
        return True
    return applies_to in ("consumer", "merchant") and complainant_type in (applies_to, ComplainantType.UNKNOWN)


def outside_bodies(complaint: Complaint) -> list[dict]:
    """The external steps of the complaint's escalation ladder that accept this complainant, in order."""
    steps = complaint.verdict.get("escalation") or []
    return [
        step
        for step in steps
        if step.get("level") == "external" and applies(step.get("applies_to", ""), complaint.complainant_type)
    ]


def body_for(complaint: Complaint, body_id: str | None = None) -> dict | None:
    """The outside body ``body_id`` if it accepts this complainant, or the next one when ``body_id`` is None."""
    bodies = outside_bodies(complaint)
    if body_id is None:
        return bodies[0] if bodies else None
    return next((b for b in bodies if b.get("id") == body_id), None)


def rejected_resolution(events: Iterable[ComplaintEvent]) -> ComplaintEvent | None:
    """The complainant's rejection, if their latest answer to a proposed resolution was a rejection."""
    last = None
    for event in events:
        if event.kind in (Kind.RESOLUTION_ACCEPTED, Kind.RESOLUTION_REJECTED):
            last = event
    return last if last is not None and last.kind == Kind.RESOLUTION_REJECTED else None


def where_next_reason(complaint: Complaint, events: Iterable[ComplaintEvent], now: dt.datetime) -> str | None:
    """Why the complainant may now turn to an outside body, or None while there is no such reason.

    Two reasons: the complainant rejected the company's resolution (their latest answer), or the
    statutory deadline passed before the complaint was finished. An accepted resolution ends it.
    """
    if complaint.status == Status.RESOLVED:
        return None
    if rejected_resolution(events) is not None:
        return "您不接受机构提出的解决方案"
    finished = complaint.closed_at if complaint.status == Status.CLOSED else None
    if (finished or now) > complaint.statutory_due:
        return "机构未在处理期限内办结您的投诉"
    return None


def rule_text(rule: dict | None) -> str:
    """A body's deadline rule for people: "市场监管部门受理决定期限：7个工作日"."""
    if not rule:
        return "未规定明确期限"
    if rule.get("unit") == "hours" and not rule.get("days"):
        return f"{rule['name']}"
    if rule.get("unit") in UNITS and rule.get("days"):
        return f"{rule['name']}：{rule['days']}{UNITS[rule['unit']]}"
    return rule.get("name", "")


def describe_body(step: dict) -> dict:
    """What a page shows of one outside body, certainty labels included."""
    rule = step.get("deadline") or None
    certainty = step.get("certainty") or "UNVERIFIED"
    rule_certainty = (rule or {}).get("certainty") or "UNVERIFIED"
    return {
        "id": step.get("id", ""),
        "name": step.get("name", ""),
        "short": step.get("short") or step.get("name", ""),
        "contact": step.get("contact") or "",
        "note": step.get("note") or "",
        "certainty": certainty,
        "certainty_label": CERTAINTY_LABELS.get(certainty, "未核实"),
        "deadline_text": rule_text(rule),
        "deadline_basis": (rule or {}).get("basis", ""),
        "deadline_certainty": rule_certainty if rule else "",
        "deadline_certainty_label": CERTAINTY_LABELS.get(rule_certainty, "未核实") if rule else "",
    }


# ---------------------------------------------------------------------------- the letter


def _date(moment: dt.datetime | dt.date) -> str:
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(CHINA).date()
    return f"{moment.year}年{moment.month}月{moment.day}日"


def _fact_value(kind: str, fact: dict) -> str:
    value = str(fact.get("value", ""))
    if kind == "amount":
        return f"{value}元"
    if kind == "rate":
        return f"{value}%"
    if kind == "per_txn_fee":
        return f"每笔{value}元"
    if kind == "date":
        said = fact.get("text") or value
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return said
        precise = {"日": _date(day), "月": f"{day.year}年{day.month}月", "年": f"{day.year}年"}
        found = precise.get(fact.get("note") or "", f"约{_date(day)}")
        return found if said == found else f"{said}（{found}）"
    return value


def fact_lines(complaint: Complaint) -> list[str]:
    """The extracted facts worth retelling, one line per kind, plus the numbers given on the form."""
    facts = complaint.verdict.get("facts") or {}
    given = {
        "device_model": complaint.device_model,
        "merchant_number": complaint.merchant_number,
        "terminal_number": complaint.terminal_number,
    }
    lines = []
    for kind, label in FACT_LABELS:
        values = [_fact_value(kind, fact) for fact in facts.get(kind, [])]
        if given.get(kind):
            values.append(given[kind])
        values = list(dict.fromkeys(v for v in values if v))
        if values:
            lines.append(f"{label}：{'、'.join(values)}")
    if complaint.brand_given:
        lines.append(f"所述品牌：{complaint.brand_given}")
    return lines


def demands(text: str) -> list[str]:
    """What the complainant asks for: the clauses of their text that state a demand."""
    clauses = (c.strip() for c in _CLAUSE.split(text))
    return list(dict.fromkeys(c for c in clauses if c and _DEMAND.search(c)))[:5]


def history_lines(complaint: Complaint, events: Iterable[ComplaintEvent], company_name: str) -> list[str]:
    """The complaint's course with the company: submission, each public answer, the complainant's responses."""
    lines = [f"{_date(complaint.received_at)}，本人向{company_name}投诉，受理编号 {complaint.tracking_number}。"]
    answered = False
    for event in events:
        said = COMPANY_SAID.get(event.kind) or COMPLAINANT_SAID.get(event.kind)
        if said is None:
            continue
        answered = answered or event.kind in COMPANY_SAID
        body = mask(event.body.strip())
        lines.append(f"{_date(event.created_at)}，{said}" + (f"：{_sentence(body)}" if body else "。"))
    if not answered:
        lines.append("截至目前，被投诉机构未作实质答复。")
    return lines


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in "。！？!?.；;" else text + "。"


def _standing(complaint: Complaint, events: list[ComplaintEvent], today: dt.date) -> str:
    due = complaint.statutory_due.astimezone(CHINA)
    rule = knowledge.default().rules.get(complaint.statutory_rule)
    certainty = CERTAINTY_LABELS.get(rule.certainty if rule else "UNVERIFIED", "未核实")
    name = rule.name if rule else "处理期限"
    text = f"按{name}，被投诉机构应于{_date(due)}前办结（该期限依据：{certainty}）。"
    if rejected_resolution(events) is not None:
        text += "本人不接受机构提出的解决方案。"
    if complaint.status == Status.CLOSED and complaint.closed_at:
        late = "，已超过上述期限" if complaint.closed_at > complaint.statutory_due else ""
        return text + f"机构于{_date(complaint.closed_at)}办结{late}，本人对处理结果仍有异议。"
    if today > due.date():
        return text + f"截至{_date(today)}，已超过上述期限，投诉仍未解决。"
    return text + f"截至{_date(today)}，投诉仍未解决。"


def _phone(value: str) -> str:
    """A contact phone, masked; a number mask() does not recognise keeps only its first 3 and last 2 digits."""
    masked = mask(value)
    if masked != value:
        return masked
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    hidden = set(digits[3:-2])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(value))


def masked_phone(value: str) -> str:
    return _phone(value) if value else ""


def masked_email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at:
        return _phone(value)
    return f"{local[:2]}{'*' * max(len(local) - 2, 1)}@{domain}"


def _numbered(items: list[str]) -> list[str]:
    return [f"{i}. {item}" for i, item in enumerate(items, 1)]


def build_letter(
    complaint: Complaint,
    step: dict,
    *,
    events: Iterable[ComplaintEvent],
    evidence_names: Iterable[str] = (),
    today: dt.date,
    company: knowledge.Company | None = None,
) -> str:
    """The complaint letter to the outside body ``step`` (an external step of the complaint's verdict).

    ``events`` are the complaint's public events in order; ``evidence_names`` the uploaded files.
    The letter names the company, quotes the (masked) complaint, retells the facts and the company's
    answers, states what the complainant asks for, and leaves the signature and full phone to fill in.
    """
    company = company or knowledge.default().company
    events = [e for e in events if e.public]
    who = ComplainantType(complaint.complainant_type).label if complaint.complainant_type != "unknown" else ""
    phone = masked_phone(complaint.contact_phone)
    lines = [
        "投诉书",
        "",
        f"致：{step.get('name', '')}",
        "",
        f"投诉人：{complaint.contact_name or '（请填写姓名）'}" + (f"（{who}）" if who else ""),
        f"联系电话：{phone + '（已部分隐藏，请补全）' if phone else '（请填写）'}",
        f"被投诉机构：{company.name}",
        f"原投诉受理编号：{complaint.tracking_number}",
        f"首次投诉日期：{_date(complaint.received_at)}",
        "",
    ]
    sections = [("投诉事项", [complaint.text_masked.strip()])]
    facts = fact_lines(complaint)
    if facts:
        sections.append(("相关事实（由投诉内容整理，请核对）", _numbered(facts)))
    history = [*history_lines(complaint, events, company.name), _standing(complaint, events, today)]
    sections.append(("向被投诉机构投诉的经过", history))
    rejection = rejected_resolution(events)
    asked = demands(complaint.text_masked + "。" + (mask(rejection.body) if rejection else ""))
    sections.append(("投诉请求", _numbered([*(_sentence(a) for a in asked), DEFAULT_DEMAND])))
    names = [mask(n) for n in evidence_names]
    if names:
        sections.append(("证据材料", _numbered(names)))
    for number, (title, body) in zip(SECTION_NUMBERS, sections, strict=False):
        lines += [f"{number}、{title}", *body, ""]
    lines += ["此致", step.get("name", ""), "", "投诉人（签名）：", f"日期：{_date(today)}", ""]
    return "\n".join(lines)
