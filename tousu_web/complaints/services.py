"""Every change to a complaint, one function each, shared by the portal, the console, the API and the worker.

Each function runs in one transaction, checks that the change is allowed from
the current state, bumps ``version`` (so two people editing at once cannot
silently overwrite each other), and appends a :class:`ComplaintEvent`.
Errors are :class:`ServiceError` with a stable code and a Chinese message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from tousu import deadlines, knowledge
from tousu.errors import InputError
from tousu.privacy import mask
from tousu.triage import escalation, guidance, triage

from .models import (
    OPEN_STATUSES,
    CategoryCorrection,
    ComplainantType,
    Complaint,
    ComplaintEvent,
    ComplaintShare,
    ExtensionRequest,
    IdempotencyRecord,
    Outbox,
    Partner,
    Role,
    StaffProfile,
    Status,
    TechnicianVisit,
    Webhook,
)

KB = knowledge.default()
Kind = ComplaintEvent.Kind
REPEAT_WINDOW = dt.timedelta(days=30)
SYSTEM = "系统"
COMPLAINANT = "投诉人"


class ServiceError(Exception):
    """A refused change: ``code`` for programs, ``message`` in Chinese for people, ``status`` for HTTP."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# Which state each action may start from. Anything else is refused with a clear message.
ALLOWED = {
    "assign": set(OPEN_STATUSES),
    "reply": set(OPEN_STATUSES),
    "request_info": {Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS},
    "complainant_reply": set(OPEN_STATUSES),
    "propose": {Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.AWAITING_COMPLAINANT},
    "accept": {Status.RESOLUTION_PROPOSED},
    "reject": {Status.RESOLUTION_PROPOSED},
    "close": set(OPEN_STATUSES) | {Status.RESOLVED},
    "reopen": {Status.RESOLVED, Status.CLOSED},
    "rate": {Status.RESOLVED, Status.CLOSED},
}


# Who may take the actions that are not for every handler of the complaint.
RESET_CODE_ROLES = (Role.AGENT, Role.SUPERVISOR)  # the front line, on the phone with the complainant
CORRECT_TYPE_ROLES = (Role.HANDLER, Role.SUPERVISOR, Role.COMPLIANCE)  # compliance handles regulator transfers


def _require_role(user, roles, message: str) -> None:
    if getattr(getattr(user, "staff", None), "role", None) not in roles:
        raise ServiceError("forbidden", message, 403)


def _check(complaint: Complaint, action: str) -> None:
    if complaint.status not in ALLOWED[action]:
        raise ServiceError(
            "transition_not_allowed",
            f"投诉当前状态为「{complaint.get_status_display()}」，不能执行此操作",
            409,
        )


def actor_label(user) -> str:
    if user is None:
        return SYSTEM
    return user.get_full_name() or user.username


def refuse_null_characters(**fields: str) -> None:
    """PostgreSQL cannot store NUL in text; refuse it with the field's name before anything is written."""
    for name, value in fields.items():
        if isinstance(value, str) and "\x00" in value:
            raise ServiceError("null_character", f"{name} 含有空字符（\\0），无法保存")


def _new_event(complaint, kind, *, user=None, label=None, public=False, body="", **data) -> ComplaintEvent:
    """An unsaved event; its text is masked of personal data, whoever wrote it."""
    refuse_null_characters(内容=body)
    return ComplaintEvent(
        complaint=complaint,
        kind=kind,
        actor=user,
        actor_label=label or actor_label(user),
        public=public,
        body=mask(body) if body else body,
        data=data,
    )


def record_event(complaint, kind, *, user=None, label=None, public=False, body="", **data) -> ComplaintEvent:
    """Append one event (stored masked, see ``_new_event``) and queue the webhooks of a public one."""
    event = _new_event(complaint, kind, user=user, label=label, public=public, body=body, **data)
    event.save()
    if public:
        _queue_webhooks(complaint, event)
    return event


def _queue_webhooks(complaint: Complaint, event: ComplaintEvent) -> None:
    """One signed delivery per active webhook for every change the complainant can see."""
    webhooks = Webhook.objects.filter(active=True).values_list("pk", "url")
    Outbox.objects.bulk_create(_webhook_deliveries(complaint, event, webhooks))


def _webhook_deliveries(complaint: Complaint, event: ComplaintEvent, webhooks) -> list[Outbox]:
    """Unsaved outbox items for ``event``, one per ``(pk, url)`` of ``webhooks``."""
    payload = {
        "event": event.kind,
        "tracking_number": complaint.tracking_number,
        "status": complaint.status,
        "department": complaint.department,
        "at": event.created_at.isoformat(),
    }
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return [
        Outbox(channel=Outbox.Channel.WEBHOOK, recipient=url, subject=str(pk), body=body, complaint=complaint)
        for pk, url in webhooks
    ]


def lock(complaint_id: int, version: int | None) -> Complaint:
    """Lock the row for this transaction and check the version the caller saw.

    Views may call it inside their own transaction before a service, so that the version check
    covers a service that takes no ``version`` of its own.
    """
    complaint = Complaint.objects.select_for_update().get(pk=complaint_id)
    if version is not None and complaint.version != version:
        raise ServiceError("version_conflict", "该投诉已被他人更新，请刷新页面后再操作", 409)
    return complaint


def _save(complaint: Complaint, *fields: str) -> None:
    complaint.version = F("version") + 1
    complaint.save(update_fields=[*fields, "version", "updated_at"])
    complaint.refresh_from_db(fields=["version"])


def hash_access_code(code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), code.encode(), hashlib.sha256).hexdigest()


def check_access_code(complaint: Complaint, code: str) -> bool:
    return hmac.compare_digest(complaint.access_code_hash, hash_access_code(code or ""))


def _new_tracking_number(now: dt.datetime) -> str:
    return f"TS{now.astimezone(deadlines.CHINA):%Y%m%d}{secrets.randbelow(10**6):06d}"


def _new_access_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out on the phone
    return "".join(secrets.choice(alphabet) for _ in range(8))


# ---------------------------------------------------------------------------- intake


def submit(
    text: str,
    *,
    complainant_type: str = "unknown",
    contact_name: str = "",
    contact_phone: str = "",
    contact_email: str = "",
    brand: str = "",
    device_model: str = "",
    merchant_number: str = "",
    terminal_number: str = "",
    intake: str = "portal",
    regulator_reference: str = "",
    regulator_due: dt.datetime | None = None,
    partner: Partner | None = None,
    now: dt.datetime | None = None,
    also=None,
) -> tuple[Complaint, str]:
    """Create, triage, route and assign a complaint. Returns it with the plain access code (shown once).

    Triage runs before the transaction, so no lock is held during the CPU work; ``also(complaint, code)``,
    when given, runs inside the transaction (an exception from it undoes everything).
    """
    now = now or timezone.now()
    refuse_null_characters(
        联系人=contact_name,
        联系电话=contact_phone,
        邮箱=contact_email,
        品牌=brand,
        机具型号=device_model,
        商户号=merchant_number,
        终端号=terminal_number,
        转办文号=regulator_reference,
    )
    try:
        verdict = triage(
            text,
            received_at=now,
            complainant=complainant_type,
            intake="regulator" if intake == "regulator" else "direct",
        )
    except InputError as e:
        raise ServiceError(e.code, e.message) from None
    access_code = _new_access_code()
    department = "compliance" if intake == "regulator" else verdict.department
    statutory_due = dt.datetime.fromisoformat(verdict.deadline["due"])
    if regulator_due is not None:
        statutory_due = regulator_due
    targets = {t["rule"]: dt.datetime.fromisoformat(t["due"]) for t in verdict.targets}
    resolution = deadlines.compute(KB.rules["department_resolution"], now)
    fields = dict(
        access_code_hash=hash_access_code(access_code),
        text=text.strip(),
        text_masked=verdict.masked_text,
        complainant_type=complainant_type,
        contact_name=contact_name,
        contact_phone=contact_phone,
        contact_email=contact_email,
        brand_given=brand,
        device_model=device_model,
        merchant_number=merchant_number,
        terminal_number=terminal_number,
        intake=intake,
        regulator_reference=regulator_reference,
        category=verdict.category,
        predicted_category=verdict.category,
        confidence=verdict.confidence,
        needs_review=verdict.needs_review,
        channel=verdict.channel,
        brand=verdict.brand,
        verdict=verdict.to_dict(),
        department=department,
        partner=partner,
        received_at=now,
        statutory_due=statutory_due,
        statutory_max_due=dt.datetime.fromisoformat(verdict.deadline["max_due"])
        if verdict.deadline["max_due"]
        else None,
        statutory_rule=verdict.deadline["rule"],
        deadline_provisional=verdict.deadline["provisional"],
        handover_due=targets.get("handover"),
        first_response_due=targets.get("first_response"),
        resolution_target_due=resolution.due,
    )
    for _ in range(5):
        try:
            with transaction.atomic():
                complaint = _record_intake(Complaint(tracking_number=_new_tracking_number(now), **fields), verdict)
                if also is not None:
                    also(complaint, access_code)
                return complaint, access_code
        except IntegrityError:
            continue  # tracking-number collision: draw again
    raise ServiceError("tracking_number_exhausted", "受理编号生成失败，请稍后重试", 503)


class _KeyTaken(Exception):
    """Another submission under the same key committed first."""


class KeyReused(ServiceError):
    """An idempotency key (or a portal form's token) came back with a different complaint."""

    def __init__(self, tracking_number: str):
        super().__init__("idempotency_key_reused", "该 Idempotency-Key 已用于另一份不同的投诉", 409)
        self.tracking_number = tracking_number


def request_digest(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _pad(secret: str) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), f"access-code:{secret}".encode(), hashlib.sha256).digest()


def _seal(secret: str, code: str) -> str:
    """The access code encrypted with a pad only the client's key opens: the database alone cannot reveal it."""
    return bytes(a ^ b for a, b in zip(code.encode(), _pad(secret), strict=False)).hex()


def _unseal(secret: str, sealed: str) -> str:
    return bytes(a ^ b for a, b in zip(bytes.fromhex(sealed), _pad(secret), strict=False)).decode()


def _key_hash(scope: str, secret: str) -> str:
    return hashlib.sha256(f"{scope}:{secret}".encode()).hexdigest()  # the key itself is never stored


def find_replay(scope: str, secret: str, digest: str) -> tuple[Complaint, str] | None:
    """The complaint and access code a first submission under this key made, if there was one."""
    record = _first_row(REPLAY_SQL, [scope, _key_hash(scope, secret)])
    if record is None:
        return None
    request_hash, complaint_id, response = record
    if request_hash != digest:
        raise KeyReused(Complaint.objects.values_list("tracking_number", flat=True).get(pk=complaint_id))
    return Complaint.objects.get(pk=complaint_id), _unseal(secret, json.loads(response)["sealed_code"])


def submit_once(scope: str, secret: str, text: str, **fields) -> tuple[Complaint, str]:
    """:func:`submit` at most once per ``(scope, secret)``: a retry, even a concurrent one, gets the first result.

    ``secret`` is the client's idempotency key (or a portal form's one-time token); only its hash is stored.
    """
    digest = request_digest({"text": text, **fields})
    replay = find_replay(scope, secret, digest)
    if replay is not None:
        return replay

    def keep(complaint: Complaint, code: str) -> None:
        # No savepoint of its own: a duplicate key ends submit's transaction, which rolls back whole.
        try:
            IdempotencyRecord.objects.create(
                key=_key_hash(scope, secret),
                scope=scope,
                request_hash=digest,
                complaint=complaint,
                response={"tracking_number": complaint.tracking_number, "sealed_code": _seal(secret, code)},
            )
        except IntegrityError:
            raise _KeyTaken from None

    try:
        return submit(text, **fields, also=keep)
    except _KeyTaken:
        replay = find_replay(scope, secret, digest)  # a concurrent retry with this key won the race
        if replay is None:
            raise ServiceError("idempotency_conflict", "同一请求正在处理中，请稍后重试", 409) from None
        return replay


def _record_intake(complaint: Complaint, verdict) -> Complaint:
    """Insert a new complaint with everything that happens at intake, in few statements: the hottest path.

    The repeat link and the assignee are chosen first, so the complaint is inserted once in its
    final state; shares, events and notifications then take one INSERT each.
    """
    earlier = _earlier_complaint(complaint)
    user = pick_assignee(complaint.department)
    if earlier is not None:
        complaint.repeat_of_id, earlier_number = earlier
    if user is not None:
        complaint.assignee, complaint.status = user, Status.ASSIGNED
    complaint.save(force_insert=True)
    events = [
        _new_event(
            complaint, Kind.SUBMITTED, label=COMPLAINANT, public=True, body="投诉已受理", intake=complaint.intake
        ),
        _new_event(
            complaint,
            Kind.CLASSIFIED,
            body="；".join(verdict.reasons),
            category=verdict.category,
            confidence=verdict.confidence,
            departments=verdict.departments,
            needs_review=verdict.needs_review,
        ),
    ]
    shares = [
        ComplaintShare(complaint=complaint, department=d, reason="第三方渠道办理，渠道管理部协办")
        for d in verdict.departments[1:]
    ]
    events += [
        _new_event(
            complaint, Kind.SHARED, body=f"增加协办：{KB.department_name(s.department)}", department=s.department
        )
        for s in shares
    ]
    if earlier is not None:
        body = f"同一商户号、终端号或手机号的投诉 {earlier_number} 未结或近期办结，标记为重复投诉"
        events.append(_new_event(complaint, Kind.REPEAT_LINKED, body=body, earlier=earlier_number))
    if user is not None:
        body = f"自动分派给 {actor_label(user)}（在岗且待办最少）"
        events.append(_new_event(complaint, Kind.ASSIGNED, body=body, assignee=user.pk))
    if shares:
        ComplaintShare.objects.bulk_create(shares)
    ComplaintEvent.objects.bulk_create(events)
    webhooks = list(Webhook.objects.filter(active=True).values_list("pk", "url"))
    outbox = [item for event in events if event.public for item in _webhook_deliveries(complaint, event, webhooks)]
    outbox += _complainant_messages(complaint, f"您的投诉已受理，受理编号 {complaint.tracking_number}。")
    if outbox:
        Outbox.objects.bulk_create(outbox)
    return complaint


# The three reads of every submission, in SQL: through the ORM, compiling them took more CPU than the
# rest of a submission's statements together (bench/bench_http.py measures it).
def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


User = get_user_model()
# What naming the assignee needs (``actor_label``); the user's other fields load if ever read.
ASSIGNEE_FIELDS = [
    f.attname for f in User._meta.concrete_fields if f.name in ("id", "username", "first_name", "last_name")
]
OPEN_STATUS_VALUES = [s.value for s in OPEN_STATUSES]
ASSIGNABLE_ROLES = [Role.HANDLER.value, Role.AGENT.value, Role.COMPLIANCE.value]
REPEAT_KEYS = ("merchant_number", "terminal_number", "contact_phone")
REPLAY_SQL = f"""
    SELECT request_hash, complaint_id, response FROM {IdempotencyRecord._meta.db_table}
    WHERE scope = %s AND "key" = %s
"""
EARLIER_SQL = f"""
    SELECT id, tracking_number FROM {Complaint._meta.db_table}
    WHERE ({{keys}}) AND (status IN ({_placeholders(OPEN_STATUS_VALUES)}) OR closed_at >= %s)
    ORDER BY received_at DESC, id DESC LIMIT 1
"""
ASSIGNEE_SQL = f"""
    SELECT {", ".join(f"u.{User._meta.get_field(name).column}" for name in ASSIGNEE_FIELDS)}
    FROM {StaffProfile._meta.db_table} p JOIN {User._meta.db_table} u ON u.id = p.user_id
    WHERE p.department = %s AND NOT p.absent AND u.is_active AND p.role IN ({_placeholders(ASSIGNABLE_ROLES)})
    ORDER BY (
        SELECT COUNT(*) FROM {Complaint._meta.db_table} c
        WHERE c.assignee_id = p.user_id AND c.status IN ({_placeholders(OPEN_STATUS_VALUES)})
    ), p.user_id
    LIMIT 1
"""


def _first_row(sql: str, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _earlier_complaint(complaint: Complaint) -> tuple[int, str] | None:
    """The id and tracking number of an open or recently closed complaint with the same merchant number,
    terminal number or phone, the latest first."""
    keys = [field for field in REPEAT_KEYS if getattr(complaint, field)]
    if not keys:
        return None
    sql = EARLIER_SQL.format(keys=" OR ".join(f"{field} = %s" for field in keys))
    closed_since = connection.ops.adapt_datetimefield_value(complaint.received_at - REPEAT_WINDOW)  # as the ORM would
    return _first_row(sql, [getattr(complaint, field) for field in keys] + [*OPEN_STATUS_VALUES, closed_since])


def pick_assignee(department: str):
    """The present handler of ``department`` with the fewest open complaints (lowest id on a tie)."""
    row = _first_row(ASSIGNEE_SQL, [department, *ASSIGNABLE_ROLES, *OPEN_STATUS_VALUES])
    return None if row is None else User.from_db(connection.alias, ASSIGNEE_FIELDS, row)


def _auto_assign(complaint: Complaint) -> None:
    user = pick_assignee(complaint.department)
    if user is None:
        return
    complaint.assignee = user
    complaint.status = Status.ASSIGNED
    complaint.save(update_fields=["assignee", "status"])
    record_event(complaint, Kind.ASSIGNED, body=f"自动分派给 {actor_label(user)}（在岗且待办最少）", assignee=user.pk)


# ---------------------------------------------------------------------------- staff actions


@transaction.atomic
def assign(complaint_id: int, user, assignee, *, version: int | None = None) -> Complaint:
    complaint = lock(complaint_id, version)
    _check(complaint, "assign")
    profile = getattr(assignee, "staff", None)
    if profile is None or (profile.department != complaint.department and not profile.sees_all):
        raise ServiceError("assignee_not_in_department", "只能分派给主办部门的员工")
    complaint.assignee = assignee
    if complaint.status == Status.NEW:
        complaint.status = Status.ASSIGNED
    _save(complaint, "assignee", "status")
    record_event(complaint, Kind.ASSIGNED, user=user, body=f"分派给 {actor_label(assignee)}", assignee=assignee.pk)
    return complaint


@transaction.atomic
def transfer(complaint_id: int, user, department: str, reason: str, *, version: int | None = None) -> Complaint:
    complaint = lock(complaint_id, version)
    _check(complaint, "assign")
    if department not in KB.departments:
        raise ServiceError("department_unknown", "未知部门")
    if not reason.strip():
        raise ServiceError("reason_required", "转办需要填写理由")
    old = complaint.department
    complaint.department, complaint.assignee, complaint.status = department, None, Status.NEW
    _save(complaint, "department", "assignee", "status")
    record_event(
        complaint,
        Kind.TRANSFERRED,
        user=user,
        body=f"由{KB.department_name(old)}转至{KB.department_name(department)}：{reason}",
        old=old,
        new=department,
    )
    _auto_assign(complaint)
    return complaint


@transaction.atomic
def share(complaint_id: int, user, department: str, reason: str = "") -> ComplaintShare:
    complaint = lock(complaint_id, None)
    if department not in KB.departments:
        raise ServiceError("department_unknown", "未知部门")
    if department == complaint.department or complaint.shares.filter(department=department).exists():
        raise ServiceError("already_shared", "该部门已在处理此投诉")
    shared = ComplaintShare.objects.create(complaint=complaint, department=department, reason=reason)
    _save(complaint)
    record_event(complaint, Kind.SHARED, user=user, body=f"增加协办：{KB.department_name(department)}。{reason}")
    return shared


@transaction.atomic
def reveal_text(complaint_id: int, user) -> ComplaintEvent:
    """Record that ``user`` read the unmasked text (an internal event: who looked, and when)."""
    complaint = lock(complaint_id, None)
    return record_event(complaint, Kind.TEXT_REVEALED, user=user, body="查看了投诉原文（未脱敏）")


@transaction.atomic
def add_note(complaint_id: int, user, body: str) -> ComplaintEvent:
    complaint = lock(complaint_id, None)
    if not body.strip():
        raise ServiceError("body_required", "备注内容不能为空")
    return record_event(complaint, Kind.NOTE, user=user, body=body.strip())


def _first_response(complaint: Complaint, now: dt.datetime) -> list[str]:
    if complaint.first_response_at is None:
        complaint.first_response_at = now
        return ["first_response_at"]
    return []


@transaction.atomic
def reply(complaint_id: int, user, body: str, *, version: int | None = None) -> ComplaintEvent:
    """A public reply to the complainant (masked of personal data before it is stored)."""
    complaint = lock(complaint_id, version)
    _check(complaint, "reply")
    if not body.strip():
        raise ServiceError("body_required", "答复内容不能为空")
    fields = _first_response(complaint, timezone.now())
    if complaint.status in (Status.NEW, Status.ASSIGNED):
        complaint.status = Status.IN_PROGRESS
        fields.append("status")
    _save(complaint, *fields)
    event = record_event(complaint, Kind.REPLY, user=user, public=True, body=body.strip())
    notify_complainant(complaint, f"您的投诉 {complaint.tracking_number} 有新的答复，请登录查看。")
    return event


@transaction.atomic
def request_info(complaint_id: int, user, body: str, *, version: int | None = None) -> ComplaintEvent:
    """Ask the complainant for more; internal targets pause, the statutory clock does not."""
    complaint = lock(complaint_id, version)
    _check(complaint, "request_info")
    if not body.strip():
        raise ServiceError("body_required", "请说明需要补充的内容")
    now = timezone.now()
    fields = _first_response(complaint, now)
    complaint.status, complaint.paused_at = Status.AWAITING_COMPLAINANT, now
    _save(complaint, "status", "paused_at", *fields)
    event = record_event(complaint, Kind.INFO_REQUESTED, user=user, public=True, body=body.strip())
    notify_complainant(complaint, f"您的投诉 {complaint.tracking_number} 需要补充材料，请登录查看。")
    return event


def _resume(complaint: Complaint, now: dt.datetime) -> list[str]:
    if complaint.paused_at is None:
        return []
    paused = now - complaint.paused_at
    for field in ("first_response_due", "resolution_target_due"):
        due = getattr(complaint, field)
        if due is not None:
            setattr(complaint, field, due + paused)
    complaint.paused_at = None
    return ["paused_at", "first_response_due", "resolution_target_due"]


@transaction.atomic
def complainant_reply(complaint_id: int, body: str) -> ComplaintEvent:
    complaint = lock(complaint_id, None)
    _check(complaint, "complainant_reply")
    if not body.strip():
        raise ServiceError("body_required", "留言内容不能为空")
    fields = _resume(complaint, timezone.now())
    if complaint.status == Status.AWAITING_COMPLAINANT:
        complaint.status = Status.IN_PROGRESS
        fields.append("status")
    _save(complaint, *fields)
    return record_event(complaint, Kind.COMPLAINANT_REPLY, label=COMPLAINANT, public=True, body=body.strip())


@transaction.atomic
def propose_resolution(complaint_id: int, user, body: str, *, version: int | None = None) -> ComplaintEvent:
    complaint = lock(complaint_id, version)
    _check(complaint, "propose")
    if not body.strip():
        raise ServiceError("body_required", "请填写解决方案")
    fields = _first_response(complaint, timezone.now()) + _resume(complaint, timezone.now())
    complaint.status = Status.RESOLUTION_PROPOSED
    _save(complaint, "status", *fields)
    event = record_event(complaint, Kind.RESOLUTION_PROPOSED, user=user, public=True, body=body.strip())
    notify_complainant(complaint, f"您的投诉 {complaint.tracking_number} 已有解决方案，请确认是否接受。")
    return event


@transaction.atomic
def respond_to_resolution(complaint_id: int, accept: bool, comment: str = "") -> ComplaintEvent:
    complaint = lock(complaint_id, None)
    _check(complaint, "accept" if accept else "reject")
    now = timezone.now()
    if accept:
        complaint.status, complaint.resolved_at = Status.RESOLVED, now
        _save(complaint, "status", "resolved_at")
        return record_event(complaint, Kind.RESOLUTION_ACCEPTED, label=COMPLAINANT, public=True, body=comment.strip())
    complaint.status = Status.IN_PROGRESS
    _save(complaint, "status")
    event = record_event(complaint, Kind.RESOLUTION_REJECTED, label=COMPLAINANT, public=True, body=comment.strip())
    _notify_staff(complaint, f"投诉人不接受 {complaint.tracking_number} 的解决方案，请跟进")
    return event


@transaction.atomic
def close(complaint_id: int, user, body: str, *, version: int | None = None) -> Complaint:
    complaint = lock(complaint_id, version)
    _check(complaint, "close")
    if not body.strip():
        raise ServiceError("body_required", "办结需要填写办结说明")
    complaint.status, complaint.closed_at = Status.CLOSED, timezone.now()
    _save(complaint, "status", "closed_at")
    record_event(complaint, Kind.CLOSED, user=user, public=True, body=body.strip())
    notify_complainant(complaint, f"您的投诉 {complaint.tracking_number} 已办结，欢迎对处理情况评价。")
    return complaint


@transaction.atomic
def reopen(complaint_id: int, user, reason: str, *, version: int | None = None) -> Complaint:
    complaint = lock(complaint_id, version)
    _check(complaint, "reopen")
    if not reason.strip():
        raise ServiceError("reason_required", "重新打开需要填写理由")
    complaint.status, complaint.closed_at, complaint.resolved_at = Status.IN_PROGRESS, None, None
    _save(complaint, "status", "closed_at", "resolved_at")
    record_event(complaint, Kind.REOPENED, user=user, public=True, body=reason.strip())
    return complaint


@transaction.atomic
def escalate(complaint_id: int, user, reason: str) -> Complaint:
    complaint = lock(complaint_id, None)
    if not complaint.is_open:
        raise ServiceError("transition_not_allowed", "已办结的投诉不能升级", 409)
    complaint.escalation_level += 1
    _save(complaint, "escalation_level")
    step = _internal_step(complaint.escalation_level)
    record_event(
        complaint, Kind.ESCALATED, user=user, body=f"升级至：{step}。{reason}", level=complaint.escalation_level
    )
    _notify_staff(complaint, f"投诉 {complaint.tracking_number} 已升级至{step}")
    return complaint


def _internal_step(level: int) -> str:
    steps = KB.company.internal_steps
    return steps[min(level, len(steps) - 1)][1]


@transaction.atomic
def correct_category(complaint_id: int, user, category: str, reason: str = "", channel: str = "") -> Complaint:
    """Correct the classifier; the department follows the routing table and the correction is kept as feedback."""
    complaint = lock(complaint_id, None)
    if category not in KB.categories:
        raise ServiceError("category_unknown", "未知分类")
    if channel and channel not in KB.channels:
        raise ServiceError("channel_unknown", "未知渠道")
    old_category, old_department = complaint.category, complaint.department
    CategoryCorrection.objects.create(
        complaint=complaint,
        old_category=old_category,
        new_category=category,
        new_channel=channel,
        corrected_by=user,
        reason=reason,
    )
    complaint.category = category
    complaint.needs_review = False
    complaint.channel = channel or complaint.channel
    new_department = KB.route(category, complaint.channel)[0]
    # The evidence list, self-help and outside bodies shown to the complainant follow the corrected
    # category; the deadlines already running do not move.
    refreshed = guidance(category, complaint.channel, complaint.complainant_type, KB)
    complaint.verdict = {**complaint.verdict, **refreshed, "category": category, "channel": complaint.channel}
    fields = ["category", "needs_review", "channel", "verdict"]
    if complaint.intake != "regulator" and new_department != old_department:
        complaint.department, complaint.assignee, complaint.status = new_department, None, Status.NEW
        fields += ["department", "assignee", "status"]
    _save(complaint, *fields)
    record_event(
        complaint,
        Kind.CATEGORY_CORRECTED,
        user=user,
        body=f"分类由「{KB.categories[old_category].name}」更正为「{KB.categories[category].name}」。{reason}",
        old=old_category,
        new=category,
    )
    if complaint.assignee is None and complaint.is_open:
        _auto_assign(complaint)
    return complaint


@transaction.atomic
def correct_complainant_type(
    complaint_id: int, user, complainant_type: str, reason: str, *, version: int | None = None
) -> Complaint:
    """Correct whether the complainant is a consumer or a merchant.

    Which outside bodies the complainant may turn to follows: the escalation ladder is taken again from
    the knowledge base for the new type (a body for consumers only is gone for a merchant, and back for
    a consumer), so the portal, the letters and the API all show the corrected bodies.
    """
    complaint = lock(complaint_id, version)
    _require_role(user, CORRECT_TYPE_ROLES, "只有部门处理人、投诉主管和合规专员可以更正投诉人类型")
    if complainant_type not in (ComplainantType.CONSUMER, ComplainantType.MERCHANT):
        raise ServiceError("complainant_type_invalid", "投诉人类型只能更正为个人消费者或商户")
    if complainant_type == complaint.complainant_type:
        raise ServiceError("complainant_type_unchanged", f"投诉人类型已是「{ComplainantType(complainant_type).label}」")
    if not reason.strip():
        raise ServiceError("reason_required", "更正投诉人类型需要填写理由")
    old = ComplainantType(complaint.complainant_type)
    complaint.complainant_type = complainant_type
    complaint.verdict = {**complaint.verdict, "escalation": escalation(complaint.category, complainant_type, KB)}
    _save(complaint, "complainant_type", "verdict")
    new = ComplainantType(complainant_type)
    record_event(
        complaint,
        Kind.COMPLAINANT_CORRECTED,
        user=user,
        public=True,
        body=f"投诉人类型由「{old.label}」更正为「{new.label}」，可求助的外部机构随之调整。理由：{reason.strip()}",
        old=old.value,
        new=new.value,
    )
    return complaint


def training_feedback() -> list[dict]:
    """Corrections as corpus lines for ``tousu train`` (masked text, corrected labels)."""
    rows = []
    for c in CategoryCorrection.objects.select_related("complaint").order_by("id"):
        rows.append(
            {
                "text": c.complaint.text_masked,
                "category": c.new_category,
                "channel": c.new_channel or c.complaint.channel,
                "brand": c.complaint.brand,
                "complainant": c.complaint.complainant_type,
                "source": f"correction:{c.complaint.tracking_number}",
            }
        )
    return rows


@transaction.atomic
def request_extension(complaint_id: int, user, days: int, reason: str) -> ExtensionRequest:
    complaint = lock(complaint_id, None)
    if not complaint.is_open:
        raise ServiceError("transition_not_allowed", "已办结的投诉不能申请延期", 409)
    if not reason.strip():
        raise ServiceError("reason_required", "延期需要填写理由，理由将告知投诉人")
    if complaint.statutory_max_due is None:
        raise ServiceError("extension_not_allowed", "该期限规则不允许延期")
    if days < 1 or complaint.statutory_due + dt.timedelta(days=days) > complaint.statutory_max_due:
        raise ServiceError("extension_too_long", f"延期后不得晚于最长期限 {complaint.statutory_max_due:%Y-%m-%d}")
    if complaint.extensions.filter(decision=ExtensionRequest.Decision.PENDING).exists():
        raise ServiceError("extension_pending", "已有待审批的延期申请")
    request = ExtensionRequest.objects.create(complaint=complaint, requested_by=user, reason=reason, days=days)
    record_event(
        complaint, Kind.EXTENSION_REQUESTED, user=user, body=f"申请延期 {days} 天：{reason}", request=request.pk
    )
    return request


@transaction.atomic
def decide_extension(request_id: int, user, approve: bool, note: str = "") -> ExtensionRequest:
    """Only the complaint-handling head (supervisor or compliance) decides; the reason goes to the complainant."""
    request = ExtensionRequest.objects.select_for_update().get(pk=request_id)
    if getattr(getattr(user, "staff", None), "role", None) not in (Role.SUPERVISOR, Role.COMPLIANCE):
        raise ServiceError("forbidden", f"延期须由{KB.company.complaint_head_role}审批", 403)
    if request.decision != ExtensionRequest.Decision.PENDING:
        raise ServiceError("already_decided", "该延期申请已审批")
    complaint = lock(request.complaint_id, None)
    request.decision = ExtensionRequest.Decision.APPROVED if approve else ExtensionRequest.Decision.REJECTED
    request.decided_by, request.decided_at = user, timezone.now()
    request.save()
    if approve:
        complaint.statutory_due += dt.timedelta(days=request.days)
        complaint.extended = True
        complaint.warned_at = None
        _save(complaint, "statutory_due", "extended", "warned_at")
        due = complaint.statutory_due.astimezone(deadlines.CHINA)
        body = f"处理期限延长 {request.days} 天至 {due:%Y-%m-%d}，理由：{request.reason}"
        record_event(complaint, Kind.EXTENSION_DECIDED, user=user, public=True, body=body, approved=True)
        notify_complainant(complaint, f"您的投诉 {complaint.tracking_number} {body}")
    else:
        record_event(complaint, Kind.EXTENSION_DECIDED, user=user, body=f"驳回延期申请。{note}", approved=False)
    return request


@transaction.atomic
def book_visit(complaint_id: int, user, scheduled_for: dt.date, address: str, technician: str) -> TechnicianVisit:
    complaint = lock(complaint_id, None)
    if not (address.strip() and technician.strip()):
        raise ServiceError("visit_incomplete", "请填写上门地址和技术员")
    visit = TechnicianVisit.objects.create(
        complaint=complaint, scheduled_for=scheduled_for, address=address, technician=technician
    )
    record_event(
        complaint,
        Kind.VISIT,
        user=user,
        public=True,
        body=f"已预约技术员 {technician} 于 {scheduled_for:%Y-%m-%d} 上门服务",
        visit=visit.pk,
    )
    return visit


@transaction.atomic
def record_visit_outcome(visit_id: int, user, outcome: str) -> TechnicianVisit:
    visit = TechnicianVisit.objects.select_for_update().get(pk=visit_id)
    if not outcome.strip():
        raise ServiceError("body_required", "请填写上门结果")
    visit.outcome = outcome.strip()
    visit.save(update_fields=["outcome"])
    record_event(
        visit.complaint, Kind.VISIT, user=user, public=True, body=f"上门服务结果：{visit.outcome}", visit=visit.pk
    )
    return visit


@transaction.atomic
def request_partner(complaint_id: int, user, partner: Partner, body: str) -> ComplaintEvent:
    """Name the channel partner on the complaint and ask it to respond."""
    complaint = lock(complaint_id, None)
    complaint.partner = partner
    _save(complaint, "partner")
    if not complaint.shares.filter(department="channel").exists() and complaint.department != "channel":
        ComplaintShare.objects.create(complaint=complaint, department="channel", reason=f"渠道方：{partner.name}")
    if partner.contact_email:
        _outbox(Outbox.Channel.EMAIL, partner.contact_email, f"请回应投诉 {complaint.tracking_number}", body, complaint)
    return record_event(
        complaint, Kind.PARTNER_REQUESTED, user=user, body=f"请{partner.name}回应：{body}", partner=partner.pk
    )


@transaction.atomic
def partner_reply(complaint_id: int, user, body: str) -> ComplaintEvent:
    complaint = lock(complaint_id, None)
    if complaint.partner is None:
        raise ServiceError("no_partner", "此投诉未关联渠道方")
    return record_event(complaint, Kind.PARTNER_REPLY, user=user, label=complaint.partner.name, body=body.strip())


@transaction.atomic
def rate(complaint_id: int, score: int, comment: str = "") -> Complaint:
    complaint = lock(complaint_id, None)
    _check(complaint, "rate")
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise ServiceError("rating_invalid", "评分须为 1 到 5 的整数")
    if complaint.rating is not None:
        raise ServiceError("already_rated", "已评价过，感谢您的反馈", 409)
    complaint.rating, complaint.rating_comment = score, mask(comment.strip())
    _save(complaint, "rating", "rating_comment")
    record_event(complaint, Kind.RATED, label=COMPLAINANT, public=True, body=comment.strip(), score=score)
    return complaint


@transaction.atomic
def record_regulator_reply(complaint_id: int, user, body: str) -> Complaint:
    complaint = lock(complaint_id, None)
    if complaint.intake != "regulator":
        raise ServiceError("not_regulator_case", "只有监管转办的投诉需要答复监管")
    if not body.strip():
        raise ServiceError("body_required", "请填写对监管的答复")
    complaint.regulator_reply = mask(body.strip())
    _save(complaint, "regulator_reply")
    record_event(complaint, Kind.REGULATOR_REPLY, user=user, body=body.strip())
    return complaint


# ---------------------------------------------------------------------------- access codes


def _phone_digits(phone: str) -> str:
    """Digits only, without China's country code: "+86 138-1234-5678" and "13812345678" compare equal."""
    digits = re.sub(r"\D", "", phone)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits.removeprefix(prefix)
    return digits


def contact_matches(complaint: Complaint, contact: str) -> bool:
    """Whether ``contact`` is the phone number or the e-mail address recorded on the complaint."""
    contact = contact.strip()
    if "@" in contact:
        return bool(complaint.contact_email) and contact.casefold() == complaint.contact_email.strip().casefold()
    digits = _phone_digits(contact)
    return len(digits) >= 7 and digits == _phone_digits(complaint.contact_phone)


@transaction.atomic
def recover_access_code(tracking_number: str, contact: str) -> bool:
    """A complainant lost the access code: a new one is sent to the contacts recorded on the complaint.

    ``contact`` must be the phone number or e-mail address recorded at submission; the code goes only
    to what is recorded, never back to the caller, and the old code stops working. Returns False, and
    changes nothing, when nothing matches: callers answer the same either way, so the form tells a
    stranger nothing about whose complaint it is.
    """
    if "\x00" in tracking_number:  # no such number, and PostgreSQL cannot even compare it
        return False
    complaint = Complaint.objects.select_for_update().filter(tracking_number=tracking_number).first()
    if complaint is None or not contact_matches(complaint, contact):
        return False
    _replace_access_code(complaint, label=COMPLAINANT, why="投诉人凭受理编号和登记的联系方式找回查询码")
    return True


@transaction.atomic
def reset_access_code(complaint_id: int, user, reason: str, *, version: int | None = None) -> Complaint:
    """Staff reset the access code for a complainant on the phone; the new code goes to the recorded contacts."""
    complaint = lock(complaint_id, version)
    _require_role(user, RESET_CODE_ROLES, "只有一线客服和投诉主管可以重置查询码")
    if not reason.strip():
        raise ServiceError("reason_required", "重置查询码需要填写理由")
    if not (complaint.contact_phone or complaint.contact_email):
        raise ServiceError("no_contact_on_file", "该投诉没有登记手机号或邮箱，新的查询码无法送达，不能重置", 409)
    _replace_access_code(complaint, user=user, why=f"应投诉人要求重置查询码（{reason.strip()}）")
    return complaint


def _replace_access_code(complaint: Complaint, *, why: str, user=None, label: str | None = None) -> None:
    """A new access code, sent to every contact recorded; the old one stops working. No event holds the code."""
    code = _new_access_code()
    complaint.access_code_hash = hash_access_code(code)
    _save(complaint, "access_code_hash")
    message = (
        f"您的投诉 {complaint.tracking_number} 的新查询码为 {code}，原查询码已失效。"
        f"如非本人操作，请致电客服热线 {KB.company.hotline}。"
    )
    routes = [
        (Outbox.Channel.SMS, complaint.contact_phone, "", "手机"),
        (Outbox.Channel.EMAIL, complaint.contact_email, f"新的查询码 {complaint.tracking_number}", "邮箱"),
    ]
    routes = [route for route in routes if route[1]]
    Outbox.objects.bulk_create(  # secret: the worker forgets the body once it is sent
        Outbox(channel=channel, recipient=to, subject=subject, body=message, complaint=complaint, secret=True)
        for channel, to, subject, _ in routes
    )
    body = f"{why}。原查询码已作废，新的查询码已发送至登记的{'和'.join(name for *_, name in routes)}"
    channels = [channel for channel, *_ in routes]
    record_event(complaint, Kind.ACCESS_CODE_RESET, user=user, label=label, public=True, body=body, channels=channels)


# ---------------------------------------------------------------------------- deadlines


def sweep_deadlines(now: dt.datetime | None = None) -> dict[str, int]:
    """Warn before the statutory deadline and escalate on breach, each exactly once per complaint.

    Safe with any number of workers: each complaint is claimed with a conditional UPDATE
    (``warned_at IS NULL`` / ``breached_at IS NULL``), so only one worker's claim succeeds.
    """
    now = now or timezone.now()
    warn_before = dt.timedelta(hours=settings.TOUSU_WARN_HOURS)
    counts = {"warned": 0, "breached": 0}
    open_complaints = Complaint.objects.filter(status__in=OPEN_STATUSES)
    for pk in open_complaints.filter(breached_at__isnull=True, statutory_due__lt=now).values_list("pk", flat=True):
        with transaction.atomic():
            claim = Complaint.objects.filter(pk=pk, breached_at__isnull=True, status__in=OPEN_STATUSES)
            if claim.update(breached_at=now) != 1:
                continue
            complaint = Complaint.objects.get(pk=pk)
            complaint.escalation_level = max(complaint.escalation_level, 1) + 1
            _save(complaint, "escalation_level")
            record_event(
                complaint,
                Kind.DEADLINE_BREACHED,
                body=f"已超过法定处理期限，自动升级至{_internal_step(complaint.escalation_level)}",
                due=complaint.statutory_due.isoformat(),
            )
            _notify_staff(complaint, f"投诉 {complaint.tracking_number} 已超期，请立即处理", roles=[Role.COMPLIANCE])
            counts["breached"] += 1
    soon = open_complaints.filter(warned_at__isnull=True, breached_at__isnull=True, statutory_due__lt=now + warn_before)
    for pk in soon.values_list("pk", flat=True):
        with transaction.atomic():
            claim = Complaint.objects.filter(pk=pk, warned_at__isnull=True, status__in=OPEN_STATUSES)
            if claim.update(warned_at=now) != 1:
                continue
            complaint = Complaint.objects.get(pk=pk)
            record_event(
                complaint,
                Kind.DEADLINE_WARNING,
                body="距法定处理期限不足预警时间",
                due=complaint.statutory_due.isoformat(),
            )
            _notify_staff(complaint, f"投诉 {complaint.tracking_number} 即将到期", roles=[Role.SUPERVISOR])
            counts["warned"] += 1
    return counts


# ---------------------------------------------------------------------------- notifications


def _outbox(channel, recipient, subject, body, complaint=None) -> Outbox:
    return Outbox.objects.create(channel=channel, recipient=recipient, subject=subject, body=body, complaint=complaint)


def notify_complainant(complaint: Complaint, message: str) -> None:
    Outbox.objects.bulk_create(_complainant_messages(complaint, message))


def _complainant_messages(complaint: Complaint, message: str) -> list[Outbox]:
    """Unsaved outbox items telling the complainant ``message``: by e-mail and by SMS, as far as given."""
    contacts = [
        (Outbox.Channel.EMAIL, complaint.contact_email, f"投诉进展 {complaint.tracking_number}"),
        (Outbox.Channel.SMS, complaint.contact_phone, ""),
    ]
    return [
        Outbox(channel=channel, recipient=recipient, subject=subject, body=message, complaint=complaint)
        for channel, recipient, subject in contacts
        if recipient
    ]


def _notify_staff(complaint: Complaint, message: str, roles=(Role.SUPERVISOR,)) -> None:
    recipients = set()
    if complaint.assignee and complaint.assignee.email:
        recipients.add(complaint.assignee.email)
    for profile in StaffProfile.objects.filter(role__in=roles).select_related("user"):
        if profile.user.email:
            recipients.add(profile.user.email)
    for email in sorted(recipients):
        _outbox(Outbox.Channel.EMAIL, email, message, message, complaint)
