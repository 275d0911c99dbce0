"""The complainant portal (Simplified Chinese, works on a phone).

Views stay thin: every change goes through ``services`` (and ``evidence.add_evidence``); the helpers
below only validate forms and prepare what the templates show. A complainant sees one complaint at a
time, the one they just submitted or whose access code they gave, remembered in the session; any
other complaint is a 404. Phone numbers and e-mail addresses are shown masked only.
"""

from __future__ import annotations

import functools
import re
import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from tousu import knowledge
from tousu.knowledge import CERTAINTY_LABELS
from tousu.privacy import mask
from tousu.text import MAX_CHARS

from . import evidence, letters, services
from .api import RECOVER_SENT, ApiError, check_rate, request_new_code
from .models import Complaint, ComplaintEvent, Status
from .services import ServiceError

app_name = "portal"
KB = knowledge.default()
Kind = ComplaintEvent.Kind
SESSION_KEY = "portal_complaint"
CODE_KEY = "portal_code"  # which access code let this browser in: a new code shuts the old ones out
SCOPE = "portal"
NOT_FOUND = "受理编号或查询码不正确，请核对后重试"
STALE_FORM = "表单已失效，请检查内容后再次点击提交"
# Shown as typed, through mask() all the same: a card number typed into the wrong box is still hidden.
SHOWN_AS_GIVEN = ("brand_given", "device_model", "merchant_number", "terminal_number", "contact_name")
CONTENT_TYPES = "image/jpeg,image/png,image/gif,image/webp,application/pdf"


# ---------------------------------------------------------------------------- forms


def _messages(label: str, max_length: int | None = None, **extra) -> dict:
    found = {
        "required": f"请填写{label}",
        "invalid": f"{label}格式不正确",
        "null_characters_not_allowed": f"{label}含有无法识别的字符，疑似二进制数据",
        **extra,
    }
    if max_length:
        found["max_length"] = f"{label}不能超过 {max_length} 个字"
    return found


def _text(label: str, max_length: int, required: bool = False, **attrs) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        error_messages=_messages(label, max_length),
        widget=forms.TextInput(attrs={"maxlength": max_length, **attrs}),
    )


class _Form(forms.Form):
    """A form whose element ids carry its own prefix, so several forms can share one page."""

    ids = "id_%s"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", self.ids)
        super().__init__(*args, **kwargs)


class SubmitForm(forms.Form):
    token = forms.UUIDField(widget=forms.HiddenInput, error_messages={"required": STALE_FORM, "invalid": STALE_FORM})
    text = forms.CharField(
        label="投诉内容",
        max_length=MAX_CHARS,
        error_messages=_messages("投诉内容", MAX_CHARS),
        widget=forms.Textarea(attrs={"rows": 8, "maxlength": MAX_CHARS}),
    )
    complainant_type = forms.ChoiceField(
        label="您的身份",
        required=False,
        initial="unknown",
        choices=[("unknown", "不确定/不愿说明"), ("consumer", "个人消费者"), ("merchant", "商户")],
        error_messages={"invalid_choice": "请选择有效的身份"},
        widget=forms.RadioSelect,
    )
    brand = _text("支付品牌", 50, list="brands", placeholder="如：拉卡拉")
    device_model = _text("机具型号", 50)
    merchant_number = _text("商户号", 30, inputmode="numeric", autocomplete="off")
    terminal_number = _text("终端号", 30, inputmode="numeric", autocomplete="off")
    contact_name = _text("联系人", 50, autocomplete="name")
    contact_phone = _text("手机号码", 30, inputmode="tel", autocomplete="tel")
    contact_email = forms.EmailField(
        label="电子邮箱",
        required=False,
        max_length=254,
        error_messages=_messages("电子邮箱", 254, invalid="请填写正确的电子邮箱地址"),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def clean_complainant_type(self) -> str:
        return self.cleaned_data["complainant_type"] or "unknown"

    def clean_contact_phone(self) -> str:
        phone = self.cleaned_data["contact_phone"]
        digits = re.sub(r"\D", "", phone)
        if phone and (not re.fullmatch(r"[0-9+\-() ]+", phone) or not 7 <= len(digits) <= 15):
            raise forms.ValidationError("请填写正确的电话号码（手机号或带区号的座机号）")
        return phone


class TrackForm(_Form):
    ids = "track_%s"
    tracking_number = _text("受理编号", 24, required=True, autocomplete="off", autocapitalize="characters")
    access_code = _text("查询码", 16, required=True, autocomplete="off", autocapitalize="characters")


class RecoverForm(_Form):
    ids = "recover_%s"
    tracking_number = _text("受理编号", 24, required=True, autocomplete="off", autocapitalize="characters")
    contact = _text("手机号码或电子邮箱", 254, required=True, autocomplete="off")


class ReplyForm(_Form):
    ids = "reply_%s"
    body = forms.CharField(
        label="给处理人员留言",
        max_length=5000,
        error_messages=_messages("留言内容", 5000),
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class ResolutionForm(_Form):
    ids = "resolution_%s"
    decision = forms.ChoiceField(
        choices=[("accept", "接受"), ("reject", "不接受")],
        error_messages={"required": "请选择接受或不接受", "invalid_choice": "请选择接受或不接受"},
    )
    comment = forms.CharField(
        label="您的意见",
        required=False,
        max_length=2000,
        error_messages=_messages("意见", 2000),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class RatingForm(_Form):
    ids = "rating_%s"
    score = forms.TypedChoiceField(
        label="评分",
        coerce=int,
        choices=[
            ("1", "1 分 很不满意"),
            ("2", "2 分 不满意"),
            ("3", "3 分 一般"),
            ("4", "4 分 满意"),
            ("5", "5 分 很满意"),
        ],
        error_messages={"required": "请选择 1 到 5 分", "invalid_choice": "请选择 1 到 5 分"},
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label="评价（选填）",
        required=False,
        max_length=2000,
        error_messages=_messages("评价", 2000),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


# ---------------------------------------------------------------------------- submission, once per token


def submit_once(request, data: dict) -> tuple[Complaint, str]:
    """Submit a complaint unless this form's token already did: then the first complaint and code again."""
    token = str(data["token"])
    fields = {k: v for k, v in data.items() if k != "token"}
    text = fields.pop("text")
    replay = services.find_replay(SCOPE, token, services.request_digest({"text": text, **fields, "intake": "portal"}))
    if replay is not None:
        return replay
    check_rate(request, "submit", settings.TOUSU_SUBMIT_RATE)
    return services.submit_once(SCOPE, token, text, **fields, intake="portal")


# ---------------------------------------------------------------------------- what the pages show


def _deadline(complaint: Complaint, now) -> dict:
    rule = KB.rules.get(complaint.statutory_rule)
    certainty = rule.certainty if rule else complaint.verdict.get("deadline", {}).get("certainty", "UNVERIFIED")
    left = complaint.statutory_due - now
    if left.total_seconds() < 0:
        left_text = f"已超过期限 {(-left).days} 天" if (-left).days else "已超过期限"
    else:
        left_text = (
            f"还剩 {left.days} 天 {left.seconds // 3600} 小时" if left.days else f"还剩 {left.seconds // 3600} 小时"
        )
    return {
        "due": complaint.statutory_due,
        "name": rule.name if rule else "处理期限",
        "certainty": certainty,
        "certainty_label": CERTAINTY_LABELS.get(certainty, "未核实"),
        "settled": certainty == "VERIFIED" and not complaint.deadline_provisional,
        "provisional": complaint.deadline_provisional,
        "extended": complaint.extended,
        "left": left_text if complaint.is_open else "",
        "overdue": complaint.is_open and left.total_seconds() < 0,
    }


def _public_event(event: ComplaintEvent) -> dict:
    own = event.actor_id is None and event.actor_label in (services.COMPLAINANT, services.SYSTEM)
    return {
        "kind": event.kind,
        "kind_name": Kind(event.kind).label,
        "actor": event.actor_label if own else "客服人员",  # never a staff member's name
        "body": mask(event.body),
        "score": event.data.get("score") if event.kind == Kind.RATED else None,
        "at": event.created_at,
    }


def _complaint_context(complaint: Complaint, now) -> dict:
    verdict = complaint.verdict
    return {
        "complaint": complaint,
        "category_name": KB.categories[complaint.category].name,
        "department_name": KB.department_name(complaint.department),
        "co_departments": [KB.department_name(s.department) for s in complaint.shares.all()],
        "rerouted": complaint.department != verdict.get("department"),
        "reasons": [mask(r) for r in verdict.get("reasons", [])],
        "evidence_needed": verdict.get("evidence", []),
        "self_help": verdict.get("self_help", []),
        "deadline": _deadline(complaint, now),
        "internal_steps": [name for _, name in KB.company.internal_steps],
        "bodies": [letters.describe_body(b) for b in letters.outside_bodies(complaint)],
        "contact": {
            **{field: mask(getattr(complaint, field)) for field in SHOWN_AS_GIVEN},
            "phone": letters.masked_phone(complaint.contact_phone),
            "email": letters.masked_email(complaint.contact_email) if complaint.contact_email else "",
        },
        "evidence_files": list(complaint.evidence.order_by("received_at", "id")),
        "upload_limits": {"files": settings.TOUSU_MAX_UPLOADS, "mb": settings.TOUSU_MAX_UPLOAD_BYTES // 2**20},
        "accept_types": CONTENT_TYPES,
    }


def _status_context(complaint: Complaint, now) -> dict:
    events = list(complaint.events.filter(public=True).order_by("created_at", "id"))
    reason = letters.where_next_reason(complaint, events, now)
    step = letters.body_for(complaint) if reason else None
    latest = {e.kind: e for e in events}
    proposed = complaint.status == Status.RESOLUTION_PROPOSED
    return {
        **_complaint_context(complaint, now),
        "timeline": [_public_event(e) for e in events],
        "can_reply": complaint.status in services.ALLOWED["complainant_reply"],
        "can_upload": complaint.is_open,
        "can_rate": complaint.status in services.ALLOWED["rate"] and complaint.rating is None,
        "proposal": mask(latest[Kind.RESOLUTION_PROPOSED].body) if proposed else "",
        "info_request": mask(latest[Kind.INFO_REQUESTED].body)
        if complaint.status == Status.AWAITING_COMPLAINANT and Kind.INFO_REQUESTED in latest
        else "",
        "where_next": _where_next(complaint, reason, step) if step else None,
    }


def _where_next(complaint: Complaint, reason: str, step: dict) -> dict:
    others = [letters.describe_body(b) for b in letters.outside_bodies(complaint) if b["id"] != step["id"]]
    return {"reason": reason, "body": letters.describe_body(step), "others": others}


def _page(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    company = KB.company
    base = {
        "company": company,
        "hotline_certainty": CERTAINTY_LABELS.get(company.hotline_certainty, "未核实"),
        "certainty_labels": CERTAINTY_LABELS,
    }
    return render(request, f"complaints/portal/{template}", {**base, **context}, status=status)


def _render_status(request, complaint: Complaint, status: int = 200, **forms_and_errors) -> HttpResponse:
    blank = {"reply_form": ReplyForm(), "resolution_form": ResolutionForm(), "rating_form": RatingForm()}
    context = {**_status_context(complaint, timezone.now()), **blank, **forms_and_errors}
    return _page(request, "status.html", context, status)


def _submit_page(request, form: SubmitForm, status: int = 200) -> HttpResponse:
    brands = [b.name for b in KB.brands.values()]
    return _page(request, "submit.html", {"form": form, "brands": brands}, status)


def _code_seen(complaint: Complaint) -> str:
    return complaint.access_code_hash[:16]


def _remember(request, complaint: Complaint) -> None:
    """Remember this one complaint (and only it) for this browser; a new session key against fixation."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = complaint.tracking_number
    request.session[CODE_KEY] = _code_seen(complaint)


def _owned(view):
    """Give the view the complaint this session may see, or answer 404 for any other.

    The session holds the complaint only while its access code is the one it was opened with: once
    the code is replaced (a lost code recovered), every browser let in with the old one is out.
    """

    @functools.wraps(view)
    def wrapper(request, tracking_number: str):
        complaint = None
        if request.session.get(SESSION_KEY) == tracking_number:
            complaint = Complaint.objects.filter(tracking_number=tracking_number).first()
        if complaint is not None and request.session.get(CODE_KEY) != _code_seen(complaint):
            complaint = None
        if complaint is None:
            return _page(request, "not_found.html", {}, status=404)
        return view(request, complaint)

    return wrapper


def _error_status(exc: ServiceError | ApiError) -> int:
    return exc.status if 400 <= exc.status < 500 else 400


def _with_new_token(request, message: str) -> SubmitForm:
    """The form as typed, under a fresh one-time token, with ``message`` on top."""
    form = SubmitForm({**request.POST.dict(), "token": str(uuid.uuid4())})
    form.is_valid()
    form.add_error(None, message)
    return form


# ---------------------------------------------------------------------------- views


@never_cache
@require_http_methods(["GET", "POST"])
def submit(request):
    if request.method == "GET":
        return _submit_page(request, SubmitForm(initial={"token": uuid.uuid4()}))
    form = SubmitForm(request.POST)
    if not form.is_valid():
        return _submit_page(request, _with_new_token(request, STALE_FORM) if "token" in form.errors else form, 400)
    try:
        complaint, code = submit_once(request, form.cleaned_data)
    except services.KeyReused as e:  # before ServiceError, its base
        message = f"此表单已提交过（受理编号 {e.tracking_number}），内容已改动。如需另行投诉，请再次点击提交。"
        return _submit_page(request, _with_new_token(request, message), 409)
    except (ServiceError, ApiError) as e:
        form.add_error(None, e.message)
        return _submit_page(request, form, _error_status(e))
    _remember(request, complaint)
    context = {**_complaint_context(complaint, timezone.now()), "access_code": code}
    return _page(request, "result.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def track(request):
    if request.method == "GET":
        return _page(request, "track.html", {"form": TrackForm()})
    form = TrackForm(request.POST)
    try:
        check_rate(request, "portal-track", settings.TOUSU_SUBMIT_RATE)
    except ApiError as e:
        form.add_error(None, e.message)
        return _page(request, "track.html", {"form": form}, status=e.status)
    if not form.is_valid():
        return _page(request, "track.html", {"form": form}, status=400)
    number, code = (_compact(form.cleaned_data[f]) for f in ("tracking_number", "access_code"))
    complaint = Complaint.objects.filter(tracking_number=number).first()
    if complaint is None:
        services.hash_access_code(code)  # the same work as a wrong code: no timing difference to probe
    elif services.check_access_code(complaint, code):
        _remember(request, complaint)
        return redirect("portal:status", complaint.tracking_number)
    form.add_error(None, NOT_FOUND)
    return _page(request, "track.html", {"form": form}, status=400)


def _compact(typed: str) -> str:
    """A tracking number or access code as stored: no spaces or hyphens, upper case."""
    return re.sub(r"[\s-]", "", typed).upper()


@never_cache
@require_http_methods(["GET", "POST"])
def recover(request):
    """A lost access code: a new one goes to the contact recorded on the complaint, never onto this page."""
    if request.method == "GET":
        return _page(request, "recover.html", {"form": RecoverForm()})
    form = RecoverForm(request.POST)
    if not form.is_valid():
        return _page(request, "recover.html", {"form": form}, status=400)
    try:
        request_new_code(request, _compact(form.cleaned_data["tracking_number"]), form.cleaned_data["contact"])
    except ApiError as e:
        form.add_error(None, e.message)
        return _page(request, "recover.html", {"form": form}, status=e.status)
    messages.success(request, RECOVER_SENT)
    return redirect("portal:track")


@require_POST
def forget(request):
    request.session.flush()
    messages.info(request, "已退出。再次查看需输入受理编号和查询码。")
    return redirect("portal:track")


@never_cache
@require_http_methods(["GET"])
@_owned
def status(request, complaint):
    return _render_status(request, complaint)


def _act(request, complaint, form, key: str, action, done: str) -> HttpResponse:
    """Run ``action`` with the valid form's data; on an error re-render the page with the message, as typed."""
    if not form.is_valid():
        return _render_status(request, complaint, 400, **{f"{key}_form": form})
    try:
        action(form.cleaned_data)
    except ServiceError as e:
        context = {f"{key}_form": form, "action_error": e.message}
        return _render_status(request, complaint, _error_status(e), **context)
    messages.success(request, done)
    return redirect("portal:status", complaint.tracking_number)


@require_POST
@_owned
def reply(request, complaint):
    def action(data):
        services.complainant_reply(complaint.pk, data["body"])

    return _act(request, complaint, ReplyForm(request.POST), "reply", action, "留言已发送，处理人员会尽快查看。")


@require_POST
@_owned
def resolution(request, complaint):
    def action(data):
        services.respond_to_resolution(complaint.pk, data["decision"] == "accept", data["comment"])

    return _act(request, complaint, ResolutionForm(request.POST), "resolution", action, "已记录您的意见。")


@require_POST
@_owned
def rate(request, complaint):
    def action(data):
        services.rate(complaint.pk, data["score"], data["comment"])

    return _act(request, complaint, RatingForm(request.POST), "rating", action, "感谢您的评价。")


@require_POST
@_owned
def upload(request, complaint):
    files = request.FILES.getlist("files")
    try:
        stored = evidence.add_evidence(complaint, files, services.COMPLAINANT)
    except ServiceError as e:
        return _render_status(request, complaint, _error_status(e), evidence_error=e.message)
    messages.success(request, f"已上传 {len(stored)} 个文件。")
    return redirect("portal:status", complaint.tracking_number)


def _letter(request, complaint):
    step = letters.body_for(complaint, request.GET.get("to") or None)
    if step is None:
        return None, None
    events = complaint.events.filter(public=True).order_by("created_at", "id")
    names = complaint.evidence.order_by("received_at", "id").values_list("original_name", flat=True)
    today = timezone.localdate()
    return step, letters.build_letter(complaint, step, events=events, evidence_names=names, today=today)


@never_cache
@require_http_methods(["GET"])
@_owned
def letter(request, complaint):
    step, text = _letter(request, complaint)
    if step is None:
        return _page(request, "not_found.html", {}, status=404)
    download = reverse("portal:letter_txt", args=[complaint.tracking_number]) + f"?to={step['id']}"
    context = {"complaint": complaint, "body": letters.describe_body(step), "letter": text, "download": download}
    return _page(request, "letter.html", context)


@never_cache
@require_http_methods(["GET"])
@_owned
def letter_txt(request, complaint):
    step, text = _letter(request, complaint)
    if step is None:
        return _page(request, "not_found.html", {}, status=404)
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    name = f"tousu-{complaint.tracking_number}-{step['id']}.txt"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


urlpatterns = [
    path("", submit, name="submit"),
    path("track/", track, name="track"),
    path("track/forget/", forget, name="forget"),
    path("track/recover/", recover, name="recover"),
    path("c/<str:tracking_number>/", status, name="status"),
    path("c/<str:tracking_number>/reply/", reply, name="reply"),
    path("c/<str:tracking_number>/resolution/", resolution, name="resolution"),
    path("c/<str:tracking_number>/rate/", rate, name="rate"),
    path("c/<str:tracking_number>/evidence/", upload, name="evidence"),
    path("c/<str:tracking_number>/letter/", letter, name="letter"),
    path("c/<str:tracking_number>/letter.txt", letter_txt, name="letter_txt"),
]
