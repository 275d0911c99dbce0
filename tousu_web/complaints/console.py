"""The staff console (/console/, Simplified Chinese): queues, the complaint page and its actions.

Views are thin: each loads what the user may see through ``access`` (once), validates a small form
and calls one ``services`` function, which checks the transition, bumps ``version`` and writes the
event. Every action form carries the ``version`` the page showed; a stale page gets a 409.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import string

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.db.models import Count, F, Q
from django.db.models.expressions import RawSQL
from django.db.models.lookups import In
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from tousu import knowledge
from tousu.privacy import mask

from . import access, services
from .models import (
    CATEGORY_CHOICES,
    CHANNEL_CHOICES,
    DEPARTMENT_CHOICES,
    OPEN_STATUSES,
    ComplainantType,
    ExtensionRequest,
    Partner,
    ReplyTemplate,
    Status,
    TechnicianVisit,
)
from .services import ServiceError

KB = knowledge.default()
PAGE_SIZE = 50
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
DETAIL = "complaints/console/detail.html"
LOGIN_REFUSED = "登录失败次数过多，请 15 分钟后再试"
FACT_LABELS = {
    "amount": "金额",
    "rate": "费率",
    "per_txn_fee": "单笔手续费",
    "date": "日期",
    "device_model": "机具型号",
    "serial_number": "机具序列号",
    "merchant_number": "商户号",
    "terminal_number": "终端号",
    "transaction_ref": "交易参考号",
    "phone": "电话",
    "hotline": "客服热线",
    "id_number": "身份证号",
    "bank_card": "银行卡号",
}


def _plain(text: str) -> str:
    return text


def mask_name(name: str) -> str:
    return name[:1] + "*" * (len(name) - 1) if name else ""


def mask_email(email: str) -> str:
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}" if email else ""


def time_left(due: dt.datetime, now: dt.datetime, is_open: bool) -> tuple[str, bool]:
    """("剩余 3 天" / "已超期 2 天", urgent): urgent when less than TOUSU_WARN_HOURS are left."""
    if not is_open:
        return "已办结", False
    seconds = (due - now).total_seconds()
    days, hours = int(abs(seconds) // 86400), int(abs(seconds) // 3600)
    amount = f"{days} 天" if days else (f"{hours} 小时" if hours else "不足 1 小时")
    label = f"剩余 {amount}" if seconds >= 0 else f"已超期 {amount}"
    return label, seconds < settings.TOUSU_WARN_HOURS * 3600


# ---------------------------------------------------------------------------- login


class StaffAuthenticationForm(AuthenticationForm):
    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if access.staff_profile(user) is None:
            raise ValidationError("此账号不是投诉处理人员，不能登录工作台", code="not_staff")


class LoginView(auth_views.LoginView):
    """Django's login, refused with a 429 after TOUSU_LOGIN_RATE failures from one address in 15 minutes."""

    template_name = "complaints/console/login.html"
    form_class = StaffAuthenticationForm

    def post(self, request, *args, **kwargs):
        if access.login_blocked(request):
            context = self.get_context_data(form=self.get_form_class()(request), refused=LOGIN_REFUSED)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        access.record_login_failure(self.request)
        return super().form_invalid(form)


# ---------------------------------------------------------------------------- queue


class QueueFilter(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="搜索")
    department = forms.ChoiceField(required=False, choices=[("", "全部部门"), *DEPARTMENT_CHOICES], label="部门")
    status = forms.ChoiceField(
        required=False, choices=[("", "未办结（搜索时含全部）"), ("all", "全部状态"), *Status.choices], label="状态"
    )
    category = forms.ChoiceField(required=False, choices=[("", "全部分类"), *CATEGORY_CHOICES], label="分类")
    needs_review = forms.BooleanField(required=False, label="待复核")
    mine = forms.BooleanField(required=False, label="分派给我")
    overdue = forms.BooleanField(required=False, label="已超期")
    repeat = forms.BooleanField(required=False, label="重复投诉")

    def apply(self, complaints, user, now):
        self.is_valid()  # invalid fields are simply left out of cleaned_data
        d = self.cleaned_data
        status, q = d.get("status", ""), d.get("q", "").strip()
        if status == "":  # the default queue is the open work; a search also finds closed ones
            complaints = complaints if q else complaints.filter(status__in=OPEN_STATUSES)
        elif status != "all":
            complaints = complaints.filter(status=status)
        for field in ("department", "category"):
            if d.get(field):
                complaints = complaints.filter(**{field: d[field]})
        if d.get("needs_review"):
            complaints = complaints.filter(needs_review=True)
        if d.get("mine"):
            complaints = complaints.filter(assignee=user)
        if d.get("overdue"):
            complaints = complaints.filter(statutory_due__lt=now, status__in=OPEN_STATUSES)
        if d.get("repeat"):
            complaints = complaints.filter(repeat_of__isnull=False)
        return search(complaints, q) if q else complaints


def search(complaints, q: str):
    """Tracking, merchant or terminal number or phone (exact, indexed); otherwise any text in the masked complaint."""
    compact = q.replace(" ", "").replace("-", "")
    sqlite = connections[complaints.db].vendor == "sqlite"
    text = indexed_text(q) if sqlite else Q(text_masked__contains=q)
    if not compact:  # "-" is no number: it would find every complaint without a merchant number
        return complaints.filter(text)
    exact = [
        Q(tracking_number=compact.upper()),
        Q(merchant_number=compact),
        Q(terminal_number=compact),
        Q(contact_phone__in={q, compact}),
    ]
    # One indexed lookup per field (a single OR would make the database scan every row).
    branches = [complaints.filter(lookup).order_by().values_list("pk", flat=True) for lookup in exact]
    numbers = branches[0].union(*branches[1:])
    if compact.isascii() and compact.isalnum():
        found = list(numbers[: PAGE_SIZE * 10])
        if found:
            return complaints.filter(pk__in=found)
    if sqlite:  # ids alone: SQLite checks them in the deadline index and reads only the rows that match
        return complaints.filter(Q(pk__in=numbers) | text)
    return complaints.filter(functools.reduce(operator.or_, exact, text))


def indexed_text(q: str) -> Q:
    """Complaints whose masked text contains ``q``, found in SQLite's full-text index (migration 0004)."""
    found = RawSQL("SELECT rowid FROM complaints_text_search WHERE complaints_text_search MATCH %s", [pairs_query(q)])
    # "+ 0" keeps SQLite from starting at this list, which it guesses is short: for a common word it would
    # fetch and sort most of the table. It checks each id it meets against the list instead, walking the
    # deadline index and stopping after a page unless another condition is narrower.
    return Q(In(F("pk") + 0, found))


def pairs_query(q: str) -> str:
    """The FTS5 query for the pairs of ``q``: a phrase of them, or for one character a prefix, which finds
    the pairs it starts and a text's last character (indexed alone).

    Each pair is the hex of its UTF-8 bytes, so no character of ``q`` is FTS syntax.
    """
    text = q.translate(ASCII_LOWER)  # as LIKE and SQLite's lower(): other letters keep their case
    if len(text) == 1:
        return f'"{text.encode().hex()}" *'
    return '"' + " ".join(text[i : i + 2].encode().hex() for i in range(len(text) - 1)) + '"'


ROW_FIELDS = [
    *("tracking_number", "text_masked", "category", "department", "status", "statutory_due", "needs_review"),
    *("repeat_of", "intake", "escalation_level", "extended", "assignee__username"),
    *("assignee__first_name", "assignee__last_name"),
]


def queue_page(request, complaints, now):
    """One page of queue rows (deadline order, no per-row queries), each with its time left."""
    rows = complaints.select_related("assignee").only(*ROW_FIELDS).order_by("statutory_due", "id")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for complaint in page:
        complaint.time_left, complaint.urgent = time_left(complaint.statutory_due, now, complaint.is_open)
    return page


@access.staff_required
def queue(request):
    now = timezone.now()
    visible = access.visible_complaints(request.user)
    filters = QueueFilter(request.GET)
    page = queue_page(request, filters.apply(visible, request.user, now), now)
    counts = dict(visible.filter(status__in=OPEN_STATUSES).values_list("department").annotate(n=Count("pk")).order_by())
    departments = [(key, name, counts[key]) for key, name in DEPARTMENT_CHOICES if key in counts]
    context = {"filters": filters, "page": page, "departments": departments, "now": now}
    return render(request, "complaints/console/queue.html", context)


# ---------------------------------------------------------------------------- actions


class ActionForm(forms.Form):
    """One action of the complaint page. ``run`` calls exactly one service function."""

    label = ""
    version = forms.IntegerField(min_value=1, label="版本")

    def __init__(self, data, complaint):
        super().__init__(data)
        self.complaint = complaint

    def error_message(self) -> str:
        return "；".join(
            f"{self.fields[name].label if name in self.fields else ''}：{errors[0]}"
            for name, errors in self.errors.items()
        )

    def run(self, user):
        raise NotImplementedError


def text_field(label, required=False):
    return forms.CharField(required=required, label=label, max_length=5000, widget=forms.Textarea)


class AssignForm(ActionForm):
    label = "分派"
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.filter(staff__isnull=False), label="处理人")

    def run(self, user):
        d = self.cleaned_data
        services.assign(self.complaint.pk, user, d["assignee"], version=d["version"])


class TransferForm(ActionForm):
    label = "转办"
    department = forms.ChoiceField(choices=DEPARTMENT_CHOICES, label="转至部门")
    reason = text_field("转办理由")

    def run(self, user):
        d = self.cleaned_data
        services.transfer(self.complaint.pk, user, d["department"], d["reason"], version=d["version"])


class ShareForm(ActionForm):
    label = "增加协办部门"
    department = forms.ChoiceField(choices=DEPARTMENT_CHOICES, label="协办部门")
    reason = forms.CharField(required=False, max_length=200, label="理由")

    def run(self, user):
        services.share(self.complaint.pk, user, self.cleaned_data["department"], self.cleaned_data["reason"])


class NoteForm(ActionForm):
    label = "内部备注"
    body = text_field("备注")

    def run(self, user):
        services.add_note(self.complaint.pk, user, self.cleaned_data["body"])


class ReplyForm(ActionForm):
    label = "公开答复"
    body = text_field("答复内容")

    def run(self, user):
        services.reply(self.complaint.pk, user, self.cleaned_data["body"], version=self.cleaned_data["version"])


class RequestInfoForm(ActionForm):
    label = "请投诉人补充材料"
    body = text_field("需要补充的内容")

    def run(self, user):
        services.request_info(self.complaint.pk, user, self.cleaned_data["body"], version=self.cleaned_data["version"])


class ProposeForm(ActionForm):
    label = "提出解决方案"
    body = text_field("解决方案")

    def run(self, user):
        d = self.cleaned_data
        services.propose_resolution(self.complaint.pk, user, d["body"], version=d["version"])


class CloseForm(ActionForm):
    label = "办结"
    body = text_field("办结说明")

    def run(self, user):
        services.close(self.complaint.pk, user, self.cleaned_data["body"], version=self.cleaned_data["version"])


class ReopenForm(ActionForm):
    label = "重新打开"
    reason = text_field("理由")

    def run(self, user):
        services.reopen(self.complaint.pk, user, self.cleaned_data["reason"], version=self.cleaned_data["version"])


class EscalateForm(ActionForm):
    label = "升级"
    reason = text_field("升级理由")

    def run(self, user):
        services.escalate(self.complaint.pk, user, self.cleaned_data["reason"])


class CorrectForm(ActionForm):
    label = "更正分类"
    category = forms.ChoiceField(choices=CATEGORY_CHOICES, label="正确分类")
    channel = forms.ChoiceField(required=False, choices=[("", "不变"), *CHANNEL_CHOICES], label="办理渠道")
    reason = text_field("理由")

    def run(self, user):
        d = self.cleaned_data
        services.correct_category(self.complaint.pk, user, d["category"], d["reason"], d["channel"])


COMPLAINANT_TYPES = [(t.value, t.label) for t in (ComplainantType.CONSUMER, ComplainantType.MERCHANT)]


class ComplainantTypeForm(ActionForm):
    label = "更正投诉人类型"
    complainant_type = forms.ChoiceField(choices=COMPLAINANT_TYPES, label="投诉人类型")
    reason = text_field("理由")

    def run(self, user):
        d = self.cleaned_data
        services.correct_complainant_type(
            self.complaint.pk, user, d["complainant_type"], d["reason"], version=d["version"]
        )


class ResetCodeForm(ActionForm):
    label = "重置查询码"
    reason = text_field("理由")

    def run(self, user):
        d = self.cleaned_data
        services.reset_access_code(self.complaint.pk, user, d["reason"], version=d["version"])


class ExtensionForm(ActionForm):
    label = "申请延期"
    days = forms.IntegerField(min_value=1, max_value=365, label="延长天数")
    reason = text_field("延期理由")

    def run(self, user):
        services.request_extension(self.complaint.pk, user, self.cleaned_data["days"], self.cleaned_data["reason"])


class DecideExtensionForm(ActionForm):
    label = "延期审批"
    request = forms.ModelChoiceField(queryset=ExtensionRequest.objects.none(), label="延期申请")
    decision = forms.ChoiceField(choices=[("approve", "批准"), ("reject", "驳回")], label="审批意见")
    note = forms.CharField(required=False, max_length=500, label="说明")

    def __init__(self, data, complaint):
        super().__init__(data, complaint)
        self.fields["request"].queryset = complaint.extensions.all()

    def run(self, user):
        d = self.cleaned_data
        services.decide_extension(d["request"].pk, user, approve=d["decision"] == "approve", note=d["note"])


class VisitForm(ActionForm):
    label = "预约上门"
    scheduled_for = forms.DateField(label="预约日期")
    address = forms.CharField(required=False, max_length=200, label="地址")
    technician = forms.CharField(required=False, max_length=50, label="技术员")

    def run(self, user):
        d = self.cleaned_data
        services.book_visit(self.complaint.pk, user, d["scheduled_for"], d["address"], d["technician"])


class VisitOutcomeForm(ActionForm):
    label = "记录上门结果"
    visit = forms.ModelChoiceField(queryset=TechnicianVisit.objects.none(), label="上门服务")
    outcome = text_field("上门结果")

    def __init__(self, data, complaint):
        super().__init__(data, complaint)
        self.fields["visit"].queryset = complaint.visits.all()

    def run(self, user):
        services.record_visit_outcome(self.cleaned_data["visit"].pk, user, self.cleaned_data["outcome"])


class PartnerRequestForm(ActionForm):
    label = "请渠道方回应"
    partner = forms.ModelChoiceField(queryset=Partner.objects.filter(active=True), label="渠道方")
    body = text_field("需要回应的内容", required=True)

    def run(self, user):
        services.request_partner(self.complaint.pk, user, self.cleaned_data["partner"], self.cleaned_data["body"])


class PartnerReplyForm(ActionForm):
    label = "记录渠道方回应"
    body = text_field("渠道方回应", required=True)

    def run(self, user):
        services.partner_reply(self.complaint.pk, user, self.cleaned_data["body"])


class RegulatorReplyForm(ActionForm):
    label = "答复监管"
    body = text_field("对监管的答复")

    def run(self, user):
        services.record_regulator_reply(self.complaint.pk, user, self.cleaned_data["body"])


ACTIONS: dict[str, type[ActionForm]] = {
    "assign": AssignForm,
    "transfer": TransferForm,
    "share": ShareForm,
    "note": NoteForm,
    "reply": ReplyForm,
    "request_info": RequestInfoForm,
    "propose": ProposeForm,
    "close": CloseForm,
    "reopen": ReopenForm,
    "escalate": EscalateForm,
    "correct": CorrectForm,
    "complainant_type": ComplainantTypeForm,
    "reset_code": ResetCodeForm,
    "extension": ExtensionForm,
    "decide_extension": DecideExtensionForm,
    "visit": VisitForm,
    "visit_outcome": VisitOutcomeForm,
    "partner_request": PartnerRequestForm,
    "partner_reply": PartnerReplyForm,
    "regulator_reply": RegulatorReplyForm,
}


def perform(form: ActionForm, user) -> None:
    """Run the action only if the complaint is still at the version the page showed.

    The row stays locked from the check to the end of the service call, so nobody can slip a
    change in between. (Services that take ``version`` check it again, harmlessly.)
    """
    with transaction.atomic():
        services.lock(form.complaint.pk, form.cleaned_data["version"])
        form.run(user)


def available_actions(complaint, user) -> set[str]:
    """Which action forms the page offers; the services still refuse anything not allowed."""
    status, is_open = complaint.status, complaint.is_open
    offered = {"note", "correct"}
    offered |= {
        name for name in ("reply", "request_info", "propose", "close", "reopen") if status in services.ALLOWED[name]
    }
    if status in services.ALLOWED["assign"]:
        offered |= {"assign", "transfer"}
    if is_open:
        offered |= {"share", "escalate", "visit", "partner_request"}
    if is_open and complaint.statutory_max_due is not None:
        offered.add("extension")
    if access.can_decide_extensions(user):
        offered.add("decide_extension")
    if access.has_role(user, services.CORRECT_TYPE_ROLES):
        offered.add("complainant_type")
    if access.has_role(user, services.RESET_CODE_ROLES):
        offered.add("reset_code")
    if complaint.partner_id is not None:
        offered.add("partner_reply")
    if complaint.intake == "regulator":
        offered.add("regulator_reply")
    return offered


# ---------------------------------------------------------------------------- complaint page


def classification(complaint, show) -> dict:
    verdict = complaint.verdict or {}
    return {
        "category": complaint.get_category_display(),
        "predicted": KB.categories[complaint.predicted_category].name
        if complaint.predicted_category in KB.categories
        else complaint.predicted_category,
        "corrected": complaint.category != complaint.predicted_category,
        "confidence": round(complaint.confidence * 100),
        "alternatives": [
            {"name": a.get("name", a.get("category")), "confidence": round(a.get("confidence", 0) * 100)}
            for a in verdict.get("alternatives", [])
        ],
        "cues": [show(c) for c in verdict.get("cues", [])],
        "channel": complaint.get_channel_display(),
        "channel_confidence": round(verdict.get("channel_confidence", 0) * 100),
        "channel_cues": [show(c) for c in verdict.get("channel_cues", [])],
        "reasons": [show(r) for r in verdict.get("reasons", [])],
        "brand": complaint.brand,
        "service_class": verdict.get("service_class", ""),
        "cause": verdict.get("cause", ""),
        "major": verdict.get("major", False),
        "warnings": verdict.get("warnings", []),
    }


def facts(complaint, show) -> list[dict]:
    found = []
    for kind, items in (complaint.verdict or {}).get("facts", {}).items():
        if items:
            values = []
            for item in items:
                text, value = show(str(item.get("text", ""))), show(str(item.get("value", "")))
                values.append(text if value in ("", text) else f"{text}（{value}）")
            found.append({"label": FACT_LABELS.get(kind, kind), "values": values})
    return found


def deadline_rows(complaint, now) -> list[dict]:
    """The statutory deadline and the company's internal targets, each with its certainty and time left."""
    finished = complaint.resolved_at or complaint.closed_at
    specs = [
        (complaint.statutory_rule, "法定期限：", complaint.statutory_due, finished, True),
        (complaint.statutory_rule, "最长期限（含延期）：", complaint.statutory_max_due, None, False),
        ("handover", "内部目标：", complaint.handover_due, None, False),
        ("first_response", "内部目标：", complaint.first_response_due, complaint.first_response_at, True),
        ("department_resolution", "内部目标：", complaint.resolution_target_due, finished, True),
    ]
    rows = []
    for rule_id, prefix, due, done, counting in specs:
        if due is None:
            continue
        rule = KB.rules.get(rule_id)
        left, urgent = time_left(due, now, complaint.is_open and done is None) if counting else ("", False)
        rows.append(
            {
                "name": prefix + (rule.name if rule else rule_id),
                "certainty": rule.certainty_label if rule else "",
                "due": due,
                "done": done,
                "left": left,
                "urgent": urgent,
            }
        )
    return rows


def timeline(complaint, show) -> list[dict]:
    return [
        {
            "kind": e.kind,
            "label": e.get_kind_display(),
            "actor": e.actor_label,
            "internal": not e.public,
            "body": show(e.body),
            "at": e.created_at,
        }
        for e in complaint.events.all()
    ]


def detail_context(request, complaint, *, reveal=False, error=None, draft=None) -> dict:
    """Everything the complaint page shows; personal data masked unless ``reveal``."""
    show, now = (_plain if reveal else mask), timezone.now()
    verdict = complaint.verdict or {}
    visits = list(complaint.visits.order_by("scheduled_for", "id"))
    extensions = list(complaint.extensions.select_related("requested_by", "decided_by").order_by("-created_at"))
    complaint.time_left, complaint.urgent = time_left(complaint.statutory_due, now, complaint.is_open)
    return {
        "complaint": complaint,
        "reveal": reveal,
        "can_reveal": access.can_reveal(request.user),
        "text": complaint.text if reveal else complaint.text_masked,
        "contact": {
            "name": complaint.contact_name if reveal else mask_name(complaint.contact_name),
            "phone": show(complaint.contact_phone),
            "email": complaint.contact_email if reveal else mask_email(complaint.contact_email),
        },
        "classification": classification(complaint, show),
        "facts": facts(complaint, show),
        "deadline": verdict.get("deadline", {}),
        "deadlines": deadline_rows(complaint, now),
        "events": timeline(complaint, show),
        "evidence": complaint.evidence.order_by("received_at", "id"),
        "visits": visits,
        "open_visits": [v for v in visits if not v.outcome],
        "shares": [(s, KB.department_name(s.department)) for s in complaint.shares.order_by("created_at", "id")],
        "extensions": extensions,
        "pending_extensions": [x for x in extensions if x.decision == ExtensionRequest.Decision.PENDING],
        "corrections": [
            (k, KB.categories[k.old_category].name if k.old_category in KB.categories else k.old_category)
            for k in complaint.corrections.select_related("corrected_by").order_by("created_at")
        ],
        "repeats": complaint.repeats.order_by("received_at").only("tracking_number", "status", "received_at"),
        "available": available_actions(complaint, request.user),
        "assignees": get_user_model()
        .objects.filter(staff__department=complaint.department, is_active=True)
        .select_related("staff")
        .order_by("username"),
        "departments": [(key, name) for key, name in DEPARTMENT_CHOICES if key != complaint.department],
        "categories": CATEGORY_CHOICES,
        "channels": CHANNEL_CHOICES,
        "complainant_types": COMPLAINANT_TYPES,
        "partners": Partner.objects.filter(active=True).order_by("name"),
        "templates": ReplyTemplate.objects.filter(Q(category=complaint.category) | Q(category="")).order_by("title"),
        "error": error,
        "draft": draft or {},
    }


@access.staff_required
def detail(request, tracking):
    complaint = access.get_complaint_or_404(request.user, tracking)
    return render(request, DETAIL, detail_context(request, complaint))


@require_POST
@access.staff_required
def reveal(request, tracking):
    """Show the unmasked text to supervisors and compliance; every look is recorded on the complaint."""
    complaint = access.get_complaint_or_404(request.user, tracking)
    if not access.can_reveal(request.user):
        return access.forbidden(request, "只有投诉主管和合规专员可以查看原文")
    services.reveal_text(complaint.pk, request.user)
    return render(request, DETAIL, detail_context(request, complaint, reveal=True))


@require_POST
@access.staff_required
def act(request, tracking, action):
    complaint = access.get_complaint_or_404(request.user, tracking)
    if action not in ACTIONS:
        raise Http404("没有这个操作")
    form = ACTIONS[action](request.POST, complaint)
    try:
        if not form.is_valid():
            raise ServiceError("invalid_form", form.error_message(), 400)
        perform(form, request.user)
    except ServiceError as e:
        complaint = access.get_complaint_or_404(request.user, tracking)
        context = detail_context(request, complaint, error=e.message, draft={action: request.POST})
        return render(request, DETAIL, context, status=e.status)
    messages.success(request, f"{form.label}：已完成")
    if not access.visible_complaints(request.user).filter(pk=complaint.pk).exists():
        messages.info(request, f"投诉 {tracking} 已转出您的部门")
        return redirect("console:queue")
    return redirect("console:detail", tracking=tracking)


@access.staff_required
def evidence_file(request, tracking, pk):
    complaint = access.get_complaint_or_404(request.user, tracking)
    item = get_object_or_404(complaint.evidence, pk=pk)
    try:
        handle = item.file.open("rb")
    except OSError:
        raise Http404("证据文件不存在") from None
    return FileResponse(handle, as_attachment=True, filename=item.original_name, content_type=item.content_type)


# ---------------------------------------------------------------------------- partners and feedback


class IntakeForm(forms.Form):
    """A complaint taken by staff: on the hotline, or transferred by a regulator (转办)."""

    intake = forms.ChoiceField(label="受理渠道", choices=[("hotline", "热线录入"), ("regulator", "监管转办")])
    text = forms.CharField(label="投诉内容", max_length=20000, widget=forms.Textarea(attrs={"rows": 8}))
    complainant_type = forms.ChoiceField(
        label="投诉人类型", choices=[("unknown", "未说明"), ("merchant", "商户"), ("consumer", "个人消费者")]
    )
    contact_name = forms.CharField(label="联系人", max_length=50, required=False)
    contact_phone = forms.CharField(label="联系电话", max_length=30, required=False)
    merchant_number = forms.CharField(label="商户号", max_length=30, required=False)
    terminal_number = forms.CharField(label="终端号", max_length=30, required=False)
    partner = forms.ModelChoiceField(label="渠道方", queryset=Partner.objects.filter(active=True), required=False)
    regulator_reference = forms.CharField(label="转办文号", max_length=60, required=False)
    regulator_due = forms.DateField(
        label="监管要求答复日期", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if data.get("intake") == "regulator" and not (data.get("regulator_reference") and data.get("regulator_due")):
            raise ValidationError("监管转办须填写转办文号和监管要求的答复日期")
        return data


@access.staff_required
def intake(request):
    """Enter a complaint taken on the hotline or transferred by a regulator; it is triaged like any other."""
    form = IntakeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        due = data.pop("regulator_due")
        if due is not None:
            data["regulator_due"] = dt.datetime.combine(
                due, dt.time(23, 59, 59), tzinfo=timezone.get_current_timezone()
            )
        text = data.pop("text")
        try:
            complaint, _ = services.submit(text, **data)
        except ServiceError as e:
            form.add_error(None, e.message)
        else:
            messages.success(request, f"已受理，受理编号 {complaint.tracking_number}")
            if access.visible_complaints(request.user).filter(pk=complaint.pk).exists():
                return redirect("console:detail", tracking=complaint.tracking_number)
            return redirect("console:queue")
    status = 400 if request.method == "POST" else 200
    return render(request, "complaints/console/intake.html", {"form": form}, status=status)


@access.staff_required
def partners(request):
    visible = access.visible_complaints(request.user).filter(partner__isnull=False)
    counts = {
        row["partner"]: row
        for row in visible.values("partner")
        .annotate(total=Count("pk"), open=Count("pk", filter=Q(status__in=OPEN_STATUSES)))
        .order_by()
    }
    rows = [
        (p, counts.get(p.pk, {}).get("open", 0), counts.get(p.pk, {}).get("total", 0)) for p in Partner.objects.all()
    ]
    rows.sort(key=lambda row: (-row[1], -row[2], row[0].name))  # most open complaints first
    return render(request, "complaints/console/partners.html", {"rows": rows})


@access.staff_required
def partner_detail(request, pk):
    partner = get_object_or_404(Partner, pk=pk)
    now = timezone.now()
    complaints = access.visible_complaints(request.user).filter(partner=partner)
    filters = QueueFilter({"status": request.GET.get("status", "all")})
    page = queue_page(request, filters.apply(complaints, request.user, now), now)
    return render(request, "complaints/console/partner.html", {"partner": partner, "page": page, "now": now})


@access.staff_required
def feedback(request):
    """Category corrections as JSON lines, ready to drop into corpus/stories for ``tousu train``."""
    if not access.can_export_feedback(request.user):
        return access.forbidden(request, "只有投诉主管、合规专员和系统管理员可以导出训练反馈")
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in services.training_feedback())
    response = HttpResponse(lines, content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="feedback.jsonl"'
    return response


app_name = "console"
urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="console:login"), name="logout"),
    path("", queue, name="queue"),
    path("c/<str:tracking>/", detail, name="detail"),
    path("c/<str:tracking>/reveal/", reveal, name="reveal"),
    path("c/<str:tracking>/do/<slug:action>/", act, name="act"),
    path("c/<str:tracking>/evidence/<int:pk>/", evidence_file, name="evidence"),
    path("new/", intake, name="intake"),
    path("partners/", partners, name="partners"),
    path("partners/<int:pk>/", partner_detail, name="partner"),
    path("feedback.jsonl", feedback, name="feedback"),
]
