"""The JSON API (/api/v1), typed and documented with OpenAPI at /api/v1/openapi.json.

Anonymous callers (the portal, a complainant's own script) may submit and read
with the access code; integrations (hotline, CRM, app) use a Bearer token with
scopes. Every error is ``{"error": {"code": ..., "message": ...}}`` with a 4xx.
"""

from __future__ import annotations

import functools
import hashlib
import logging

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.signals import got_request_exception
from django.http import Http404, HttpRequest, HttpResponseNotAllowed
from django.http.multipartparser import MultiPartParserError
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import File, NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.files import UploadedFile
from ninja.parser import Parser
from ninja.renderers import JSONRenderer
from pydantic import Field

from tousu import knowledge
from tousu.errors import InputError
from tousu.triage import check_text
from tousu.triage import triage as triage_text

from . import access, evidence, services
from .models import Complaint, ComplaintEvent, IntegrationToken
from .services import ServiceError

KB = knowledge.default()
logger = logging.getLogger(__name__)


class ChineseJSONRenderer(JSONRenderer):
    json_dumps_params = {"ensure_ascii": False}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


class JSONOnlyParser(Parser):
    """Reads a body as JSON only when it says it is JSON.

    A form or text/plain POST is what any web page can send cross-site without a preflight,
    and a client that mislabels its body gets a clear 415 instead of a guess.
    """

    def parse_body(self, request: HttpRequest):
        content_type = (request.content_type or "").lower()
        if content_type != "application/json" and not (
            content_type.startswith("application/") and content_type.endswith("+json")
        ):
            raise ApiError(
                415,
                "unsupported_media_type",
                "请求体须为 JSON，请设置 Content-Type: application/json（上传文件时用 multipart/form-data）",
            )
        return super().parse_body(request)


class TousuAPI(NinjaAPI):
    """NinjaAPI whose answers outside the views are the error shape too.

    Django ninja answers a wrong method with an empty 405 and leaves unknown paths under the
    prefix to Django's HTML 404; here both are ``{"error": {"code", "message"}}``.
    """

    @property
    def urls(self):
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                pattern.callback = _json_refusals(pattern.callback)
        patterns.append(re_path(r"^.*$", _unknown_path, name="unknown-path"))
        return patterns, app_name, namespace


def _json_refusals(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except Http404:  # raised outside an operation (the API root), so no exception handler saw it
            return _unknown_path(request)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = _error(request, 405, "method_not_allowed", f"该接口不支持此请求方法，可用的方法：{allowed}")
            response["Allow"] = allowed
        return response

    return wrapper


@csrf_exempt
def _unknown_path(request, *args, **kwargs):
    return _error(request, 404, "not_found", "没有这个接口地址，接口说明见 /api/v1/docs")


api = TousuAPI(
    title="tousu 投诉 API",
    version="1.0.0",
    description="POS 机投诉受理、分诊与进度查询接口。错误统一返回 {error: {code, message}}。",
    urls_namespace="api",
    renderer=ChineseJSONRenderer(),
    parser=JSONOnlyParser(),
)


# ---------------------------------------------------------------------------- errors


def _error(request, status: int, code: str, message: str):
    return api.create_response(request, {"error": {"code": code, "message": message}}, status=status)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return _error(request, exc.status, exc.code, exc.message)


@api.exception_handler(ServiceError)
def _service_error(request, exc: ServiceError):
    return _error(request, exc.status, exc.code, exc.message)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    fields = sorted({".".join(str(p) for p in e.get("loc", ())[2:]) or "请求体" for e in exc.errors})
    return _error(request, 422, "validation_failed", f"请求内容不符合要求：{', '.join(fields)}")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, "not_found", "找不到该投诉，或受理编号与查询码不匹配")


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return _error(request, 401, "unauthorized", "令牌无效或已停用")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, ApiError):  # refused by JSONOnlyParser; ninja wraps every parser error in a 400
        return _api_error(request, exc.__cause__)
    if exc.status_code == 400:
        return _error(
            request, 400, "body_unparsable", "请求体无法解析，请发送 JSON（或上传文件时用 multipart/form-data）"
        )
    return _error(request, exc.status_code, "bad_request", str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
    return _error(
        request, 413, "body_too_large", f"请求体过大（JSON 不超过 {limit} MB；证据文件请用 multipart/form-data 上传）"
    )


@api.exception_handler(TooManyFilesSent)
def _too_many_files(request, exc):
    return _error(
        request, 400, "too_many_files", f"一次上传的文件过多，每件投诉最多上传 {settings.TOUSU_MAX_UPLOADS} 个文件"
    )


@api.exception_handler(TooManyFieldsSent)
def _too_many_fields(request, exc):
    return _error(request, 400, "too_many_fields", "请求中的字段过多")


@api.exception_handler(MultiPartParserError)
@api.exception_handler(BadRequest)
def _unparsable(request, exc):
    return _error(request, 400, "body_unparsable", "请求体无法解析，请发送 JSON（或上传文件时用 multipart/form-data）")


@api.exception_handler(SuspiciousOperation)
def _suspicious(request, exc):
    logging.getLogger(f"django.security.{type(exc).__name__}").error(str(exc))
    return _error(request, 400, "bad_request", "请求无效")


@api.exception_handler(Exception)
def _unexpected(request, exc):
    """A bug: still the error shape, logged with its traceback like any Django 500 (the test client re-raises it)."""
    got_request_exception.send(sender=None, request=request)
    logger.error("Internal Server Error: %s", request.path, exc_info=exc)
    return _error(request, 500, "internal_error", "服务器内部错误，请稍后重试")


# ---------------------------------------------------------------------------- auth and limits


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _integration(request: HttpRequest) -> IntegrationToken | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "Authorization 头应为 Bearer <令牌>")
    found = IntegrationToken.objects.filter(token_hash=hash_token(token.strip()), active=True).first()
    if found is None:
        raise ApiError(401, "unauthorized", "令牌无效或已停用")
    return found


def _require_scope(integration: IntegrationToken, scope: str) -> None:
    if scope not in integration.scopes:
        raise ApiError(403, "forbidden", f"该令牌没有 {scope} 权限")


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "unknown")


def check_rate(request: HttpRequest, bucket: str, limit: int, window: int = 3600) -> None:
    """Fixed-window count per client address; over the limit is a 429."""
    if access.count_attempt(f"rate:{bucket}:{client_address(request)}", window) > limit:
        raise ApiError(429, "rate_limited", "提交过于频繁，请稍后再试")


# ---------------------------------------------------------------------------- schemas


class ComplaintIn(Schema):
    text: str = Field(..., description="投诉内容（简体或繁体中文）", max_length=20000)
    complainant_type: str = Field("unknown", pattern="^(consumer|merchant|unknown)$", description="个人消费者/商户")
    brand: str = Field("", max_length=50)
    device_model: str = Field("", max_length=50)
    merchant_number: str = Field("", max_length=30)
    terminal_number: str = Field("", max_length=30)
    contact_name: str = Field("", max_length=50)
    contact_phone: str = Field("", max_length=30)
    contact_email: str = Field("", max_length=254)


class PreviewIn(Schema):
    text: str = Field(..., max_length=20000)
    complainant_type: str = Field("unknown", pattern="^(consumer|merchant|unknown)$")


class DeadlineOut(Schema):
    name: str
    due: str
    certainty: str
    provisional: bool
    warning: str | None = None


class StepOut(Schema):
    level: str
    id: str
    name: str
    contact: str | None = None
    certainty: str | None = None
    note: str | None = None


class TriageOut(Schema):
    category: str
    category_name: str
    confidence: float
    needs_review: bool
    department: str
    departments: list[str]
    department_names: list[str]
    reasons: list[str]
    evidence: list[str]
    self_help: list[str]
    deadline: DeadlineOut
    next_steps: list[StepOut]


class ComplaintCreated(TriageOut):
    tracking_number: str
    access_code: str = Field(..., description="查询码：只在此时返回一次，请妥善保存")


class EventOut(Schema):
    kind: str
    kind_name: str
    actor: str
    body: str
    at: str


class ComplaintStatus(Schema):
    tracking_number: str
    status: str
    status_name: str
    category: str
    category_name: str
    department: str
    department_name: str
    statutory_due: str
    deadline_provisional: bool
    received_at: str
    timeline: list[EventOut]
    next_steps: list[StepOut]


class MessageIn(Schema):
    body: str = Field(..., min_length=1, max_length=5000)


class ErrorBody(Schema):
    code: str
    message: str


class ErrorOut(Schema):
    error: ErrorBody


ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    415: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
}


def _check_input(payload: Schema) -> None:
    """Refuse what cannot be stored: the core's verdict on the text first, then NUL anywhere.

    PostgreSQL text cannot hold NUL (U+0000); letting it through is a 500 at the INSERT.
    """
    if isinstance(getattr(payload, "text", None), str):
        try:
            check_text(payload.text)
        except InputError as e:
            raise ApiError(400, e.code, e.message) from None
    fields = sorted(name for name, value in payload.dict().items() if isinstance(value, str) and "\x00" in value)
    if fields:
        raise ApiError(400, "null_character", f"{', '.join(fields)} 不能含有空字符（U+0000）")


# ---------------------------------------------------------------------------- views


def _triage_payload(verdict: dict) -> dict:
    return {
        **{k: verdict[k] for k in ("category", "category_name", "confidence", "needs_review", "department")},
        **{k: verdict[k] for k in ("departments", "department_names", "reasons", "evidence", "self_help")},
        "deadline": verdict["deadline"],
        "next_steps": verdict["escalation"],
    }


@api.post("/triage", response={200: TriageOut, **ERRORS}, summary="预判：不保存，返回处理部门、材料与期限")
def preview(request, payload: PreviewIn):
    check_rate(request, "preview", settings.TOUSU_SUBMIT_RATE * 20)
    _check_input(payload)
    try:
        verdict = triage_text(payload.text, complainant=payload.complainant_type)
    except InputError as e:
        raise ApiError(400, e.code, e.message) from None
    return _triage_payload(verdict.to_dict())


# Headers read by the views themselves, declared so the OpenAPI document says how to call the API.
IDEMPOTENCY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "同一键的重试返回首次提交的结果，不会重复受理（最长 200 个字符，不含控制字符）",
    "schema": {"type": "string", "maxLength": 200, "pattern": "^[\\x20-\\x7e]*$"},
}
AUTH_HEADER = {
    "in": "header",
    "name": "Authorization",
    "required": False,
    "description": "系统对接令牌：Bearer <令牌>；匿名调用可省略",
    "schema": {"type": "string", "pattern": "^(Bearer [A-Za-z0-9._~+/=-]+)?$"},
}
ACCESS_CODE_HEADER = {
    "in": "header",
    "name": "X-Access-Code",
    "required": False,
    "description": "受理时返回的查询码（或用系统对接令牌）",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{0,20}$"},
}


@api.post(
    "/complaints",
    response={201: ComplaintCreated, **ERRORS},
    summary="提交投诉",
    openapi_extra={"parameters": [IDEMPOTENCY_HEADER, AUTH_HEADER]},
)
def create_complaint(request, payload: ComplaintIn):
    """Submit a complaint. A retry with the same ``Idempotency-Key`` header returns the first result."""
    integration = _integration(request)
    if integration is not None:
        _require_scope(integration, "complaints:write")
    else:
        check_rate(request, "submit", settings.TOUSU_SUBMIT_RATE)
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 200:
        raise ApiError(400, "idempotency_key_too_long", "Idempotency-Key 不能超过 200 个字符")
    if any(ch < " " or ch == "\x7f" for ch in key):
        raise ApiError(400, "idempotency_key_invalid", "Idempotency-Key 不能含有控制字符")
    _check_input(payload)
    scope = integration.name if integration else "anonymous"
    fields = {k: v for k, v in payload.dict().items() if k != "text"}
    fields["intake"] = "api" if integration else "portal"
    if key:
        complaint, code = services.submit_once(scope, key, payload.text, **fields)
    else:
        complaint, code = services.submit(payload.text, **fields)
    return Status(201, _created(complaint, code))


def _created(complaint: Complaint, code: str) -> dict:
    return {
        "tracking_number": complaint.tracking_number,
        "access_code": code,
        **_triage_payload(complaint.verdict),
        "department": complaint.department,
    }


TRACKING_MAX = Complaint._meta.get_field("tracking_number").max_length


def _complaint_for(request, tracking_number: str) -> Complaint:
    """The complaint, if the caller holds its access code or a token with read scope; 404 otherwise."""
    storable = len(tracking_number) <= TRACKING_MAX and "\x00" not in tracking_number
    complaint = Complaint.objects.filter(tracking_number=tracking_number).first() if storable else None
    integration = _integration(request)
    if integration is not None:
        _require_scope(integration, "complaints:read")
        if complaint is not None:
            return complaint
        raise Http404
    check_rate(request, "lookup", settings.TOUSU_SUBMIT_RATE * 10)
    code = request.headers.get("X-Access-Code") or request.GET.get("code", "")
    if complaint is None or not services.check_access_code(complaint, code):
        raise Http404
    return complaint


def status_payload(complaint: Complaint) -> dict:
    events = complaint.events.filter(public=True).order_by("created_at", "id")
    return {
        "tracking_number": complaint.tracking_number,
        "status": complaint.status,
        "status_name": complaint.get_status_display(),
        "category": complaint.category,
        "category_name": KB.categories[complaint.category].name,
        "department": complaint.department,
        "department_name": KB.department_name(complaint.department),
        "statutory_due": complaint.statutory_due.isoformat(),
        "deadline_provisional": complaint.deadline_provisional,
        "received_at": complaint.received_at.isoformat(),
        "timeline": [
            {
                "kind": e.kind,
                "kind_name": ComplaintEvent.Kind(e.kind).label,
                "actor": e.actor_label if e.actor_id is None else "客服人员",
                "body": e.body,
                "at": e.created_at.isoformat(),
            }
            for e in events
        ],
        "next_steps": complaint.verdict.get("escalation", []),
    }


@api.get(
    "/complaints/{tracking_number}",
    response={200: ComplaintStatus, **ERRORS},
    summary="查询投诉进度",
    openapi_extra={"parameters": [ACCESS_CODE_HEADER, AUTH_HEADER]},
)
def read_complaint(request, tracking_number: str):
    """Needs the access code (``X-Access-Code`` header or ``?code=``) or a token with complaints:read."""
    return status_payload(_complaint_for(request, tracking_number))


@api.post(
    "/complaints/{tracking_number}/replies",
    response={201: ComplaintStatus, **ERRORS},
    summary="投诉人留言",
    openapi_extra={"parameters": [ACCESS_CODE_HEADER, AUTH_HEADER]},
)
def post_reply(request, tracking_number: str, payload: MessageIn):
    _check_input(payload)
    complaint = _complaint_for(request, tracking_number)
    services.complainant_reply(complaint.pk, payload.body)
    complaint.refresh_from_db()
    return Status(201, status_payload(complaint))


@api.post(
    "/complaints/{tracking_number}/evidence",
    response={201: ComplaintStatus, **ERRORS},
    summary="上传证据（图片或 PDF，每件投诉最多 10 个、每个不超过 10 MB）",
    openapi_extra={"parameters": [ACCESS_CODE_HEADER, AUTH_HEADER]},
)
def post_evidence(request, tracking_number: str, files: list[UploadedFile] = File(..., min_length=1)):
    complaint = _complaint_for(request, tracking_number)
    evidence.add_evidence(complaint, files, "投诉人")
    return Status(201, status_payload(complaint))


class RecoverIn(Schema):
    contact: str = Field(..., min_length=1, max_length=254, description="投诉时登记的手机号码或电子邮箱")


class RecoverOut(Schema):
    message: str


RECOVER_SENT = "如果受理编号和联系方式与投诉时登记的一致，新的查询码已发送到登记的手机或邮箱，原查询码随即失效。"


def request_new_code(request, tracking_number: str, contact: str) -> None:
    """A lost access code (API and portal alike): both limits, then the service, which sends or does nothing.

    Counted per address (across the API and the portal) and per tracking number, whether or not it matches.
    """
    check_rate(request, "recover", settings.TOUSU_RECOVER_RATE)
    if access.recovery_blocked(tracking_number):
        raise ApiError(429, "recovery_limited", "该受理编号今天找回查询码的次数已达上限，请明天再试或致电客服热线")
    services.recover_access_code(tracking_number, contact)


@api.post(
    "/complaints/{tracking_number}/access-code",
    response={202: RecoverOut, **ERRORS},
    summary="找回查询码：新的查询码发送到投诉时登记的手机或邮箱，原查询码作废",
)
def recover_access_code(request, tracking_number: str, payload: RecoverIn):
    """The answer is the same whether or not the number and the contact match, and never holds the code."""
    _check_input(payload)
    request_new_code(request, tracking_number, payload.contact)
    return Status(202, {"message": RECOVER_SENT})
