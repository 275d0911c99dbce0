"""Bad input gets a clear error and loses nothing.

Two halves: property-based fuzzing of every operation in the API's own OpenAPI document
(schemathesis, driving the Django app in-process through WSGI), and hand-written requests
that a schema-driven fuzzer rarely sends (broken bodies, odd content types, oversize uploads,
hostile path segments and headers). Every refusal must be a 4xx with
``{"error": {"code", "message"}}`` (a stable code, a Chinese message), never a 500, and must
leave no Complaint, ComplaintEvent, Evidence or IdempotencyRecord behind.
"""

import datetime as dt
import json
import os
import re
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.cache import cache
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, assume
from hypothesis import settings as hypothesis_settings
from schemathesis.config import SchemathesisConfig

from tousu_web.complaints import api as api_module
from tousu_web.complaints.api import hash_token
from tousu_web.complaints.models import Complaint, ComplaintEvent, Evidence, IdempotencyRecord, IntegrationToken
from tousu_web.wsgi import application

from .conftest import FEE_TEXT

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CODE = re.compile(r"[a-z][a-z0-9_]*")


@pytest.fixture(autouse=True)
def unlimited(db, settings, tmp_path):
    """Fuzzing sends hundreds of requests from one address: lift the rate limits, keep uploads out of var/."""
    settings.TOUSU_SUBMIT_RATE = settings.TOUSU_RECOVER_RATE = 1_000_000
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    yield
    cache.clear()


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def rows() -> dict[str, int]:
    return {
        "complaints": Complaint.objects.count(),
        "events": ComplaintEvent.objects.count(),
        "evidence": Evidence.objects.count(),
        "idempotency": IdempotencyRecord.objects.count(),
    }


@contextmanager
def nothing_written():
    before = rows()
    yield
    assert rows() == before, "a refused request wrote rows"


def error_of(response, status: int) -> dict:
    """The error body of a refusal, after checking the status, the JSON shape and the Chinese message."""
    body = response.content.decode()
    assert response.status_code == status, body[:500]
    assert response["Content-Type"].startswith("application/json"), body[:500]
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message"}
    assert CODE.fullmatch(error["code"]), error
    assert has_chinese(error["message"]), error
    return error


def refused(response, status: int, code: str) -> dict:
    error = error_of(response, status)
    assert error["code"] == code, error
    return error


# ---------------------------------------------------------------------------- property-based fuzzing

# Business rules the schema cannot express (an all-blank text, a closed complaint, a file that is not an
# image) are refused with a documented 400 and a stable code; anything else a schema-valid request gets
# must be a success or one of the documented refusals.
CONFIG = SchemathesisConfig.from_str(
    """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]
"""
)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG)
FUZZ = hypothesis_settings(
    max_examples=50,
    deadline=dt.timedelta(seconds=10),
    database=None,  # nothing written to .hypothesis/ in the work tree
    derandomize="CI" in os.environ,  # the same examples on every CI run; fresh ones on a developer's machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)


def check_fuzzed(case, response, before: dict[str, int]) -> None:
    """What every generated request must get, beyond schemathesis' own checks."""
    status = response.status_code
    assert status < 500, response.text[:500]
    if 400 <= status < 500:
        assert response.headers["content-type"][0].startswith("application/json"), response.text[:500]
        error = response.json()["error"]
        assert set(error) == {"code", "message"}
        assert CODE.fullmatch(error["code"]), error
        assert has_chinese(error["message"]), error
        assert rows() == before, f"{case.method} {case.path} refused with {status} but wrote rows"
    elif case.method == "GET" or case.path == "/api/v1/triage":
        assert rows() == before, f"{case.method} {case.path} only reads but wrote rows"
    elif case.path == "/api/v1/complaints":
        after = rows()
        replayed = bool((case.headers or {}).get("Idempotency-Key")) and after["idempotency"] == before["idempotency"]
        if replayed:  # a key already used for this complaint: the first result again, nothing new
            assert after == before, "a replayed Idempotency-Key must write nothing"
        else:
            assert after["complaints"] == before["complaints"] + 1, "a 201 must create exactly one complaint"


def skip_empty_files(case) -> None:
    """Werkzeug's multipart encoder drops the CRLF before the boundary after an empty file, so Django reads no file:
    a transport artefact, not the API's answer. Empty files are covered by hand below (file_empty)."""
    files = case.body.get("files") if isinstance(case.body, dict) else None
    if isinstance(files, list):
        assume(all(getattr(f, "data", f) not in (b"", "") for f in files))


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@FUZZ
def test_fuzzed_requests_from_a_stranger_get_a_documented_answer(case):
    """Generated requests as sent: unknown tracking numbers, no access code."""
    skip_empty_files(case)
    before = rows()
    response = case.call_and_validate()
    check_fuzzed(case, response, before)


@pytest.fixture
def holder(db):
    """A complaint and its access code, so fuzzed replies and uploads reach the service layer."""
    response = Client().post("/api/v1/complaints", data={"text": FEE_TEXT}, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db(transaction=True)
@schema.include(path_regex=r"\{tracking_number\}").parametrize()
@FUZZ
def test_fuzzed_requests_from_the_complainant_get_a_documented_answer(case, holder):
    """Generated bodies and methods, sent with a real tracking number and its access code."""
    case.path_parameters = {**(case.path_parameters or {}), "tracking_number": holder["tracking_number"]}
    case.headers = {**(case.headers or {}), "X-Access-Code": holder["access_code"]}
    skip_empty_files(case)
    before = rows()
    response = case.call_and_validate()
    check_fuzzed(case, response, before)


# ---------------------------------------------------------------------------- hand-written: JSON bodies


@pytest.fixture
def client():
    return Client()


def send(client, path, body, content_type="application/json", **headers):
    data = body if isinstance(body, bytes) else body.encode()
    return client.generic("POST", path, data=data, content_type=content_type, headers=headers)


JSON_PATHS = ["/api/v1/complaints", "/api/v1/triage"]


@pytest.mark.parametrize("path", JSON_PATHS)
@pytest.mark.parametrize("body", ['"费率涨了"', "42", "null", "true", "[]", '[{"text": "费率涨了"}]'])
def test_a_json_body_that_is_not_an_object_is_a_validation_error(client, db, path, body):
    with nothing_written():
        refused(send(client, path, body), 422, "validation_failed")


@pytest.mark.parametrize("path", JSON_PATHS)
@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "\xe8\xb4\xb9\xe7\x8e\x87\xff\xfe"}',  # invalid UTF-8
        b"\xff\xfe\x00\x00garbage",
        b'{"text": "' + b"\xc3\x28" * 10 + b'"}',
        b"[" * 100_000,  # nested past the recursion limit
        b'{"text": 1' + b"0" * 5000 + b"}",  # an integer longer than Python will parse
        b'{"text": "unterminated',
    ],
    ids=["bad-utf8-in-string", "bad-utf8-bom", "bad-utf8-pairs", "deep-nesting", "huge-integer", "unterminated"],
)
def test_a_body_that_is_not_json_is_unparsable(client, db, path, body):
    with nothing_written():
        refused(send(client, path, body), 400, "body_unparsable")


@pytest.mark.parametrize("path", JSON_PATHS)
@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/x-www-form-urlencoded", "text=%E8%B4%B9%E7%8E%87%E6%B6%A8%E4%BA%86"),
        ("application/x-www-form-urlencoded", json.dumps({"text": FEE_TEXT})),
        ("text/plain", json.dumps({"text": FEE_TEXT})),
        ("text/plain", "费率涨了"),
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="text"\r\n\r\n费率\r\n--x--\r\n',
        ),
        ("", json.dumps({"text": FEE_TEXT})),
    ],
    ids=["form", "form-with-json", "text-with-json", "text", "multipart", "none"],
)
def test_a_body_that_is_not_declared_json_is_refused(client, db, path, content_type, body):
    """Only application/json is read as JSON: a text/plain or form POST is what a cross-site page can send."""
    with nothing_written():
        refused(send(client, path, body, content_type=content_type), 415, "unsupported_media_type")


def test_json_with_a_charset_or_a_json_suffix_is_accepted(client, db):
    body = json.dumps({"text": FEE_TEXT})
    assert send(client, "/api/v1/triage", body, content_type="application/json; charset=utf-8").status_code == 200
    assert send(client, "/api/v1/triage", body, content_type="Application/JSON").status_code == 200
    assert send(client, "/api/v1/triage", body, content_type="application/merge-patch+json").status_code == 200


@pytest.mark.parametrize("path", JSON_PATHS)
def test_a_body_over_the_upload_limit_is_413_not_a_500(client, db, settings, path):
    body = json.dumps({"text": "费率" * (3 * 1024 * 1024 // 6 + 10)}, ensure_ascii=False).encode()
    assert len(body) > 3 * 1024 * 1024 > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    with nothing_written():
        refused(send(client, path, body), 413, "body_too_large")


@pytest.mark.parametrize(
    "field, value, status, code",
    [
        ("text", "费率从0.38调到0.6，\u0000没通知", 400, "null_character"),
        ("contact_name", "张\u0000三", 400, "null_character"),
        ("merchant_number", "\u0000", 400, "null_character"),
        ("text", "费率从0.38调到0.6，\ud800没通知", 422, "validation_failed"),
        ("text", "费率从0.38调到0.6，没通知\udfff", 422, "validation_failed"),
        ("brand", "拉卡拉\ud83d", 422, "validation_failed"),
    ],
    ids=["nul-in-text", "nul-in-name", "nul-only", "lone-high-surrogate", "lone-low-surrogate", "surrogate-in-brand"],
)
def test_nul_bytes_and_lone_surrogates_are_refused_not_stored(client, db, field, value, status, code):
    """PostgreSQL text cannot hold NUL (a 500 at the INSERT) and UTF-8 cannot hold a lone surrogate."""
    payload = {"text": FEE_TEXT, field: value}
    body = json.dumps(payload)  # ensure_ascii: NUL and the surrogate travel as the escapes "\\u0000", "\\ud800"
    assert "\\u" in body
    with nothing_written():
        error = refused(send(client, "/api/v1/complaints", body), status, code)
    assert field in error["message"]


@pytest.mark.parametrize(
    "value, status, code", [("\u0000", 400, "null_character"), ("\ud800", 422, "validation_failed")]
)
def test_a_nul_or_a_lone_surrogate_in_a_preview_is_refused(client, db, value, status, code):
    refused(send(client, "/api/v1/triage", json.dumps({"text": FEE_TEXT + value})), status, code)


def test_mostly_binary_text_keeps_its_own_code(client, db):
    with nothing_written():
        refused(
            send(client, "/api/v1/complaints", json.dumps({"text": "\x00\x01\x02\x03\x04\x05"})), 400, "text_binary"
        )


def test_complainant_type_null_is_a_validation_error(client, db):
    body = json.dumps({"text": FEE_TEXT, "complainant_type": None})
    with nothing_written():
        error = refused(send(client, "/api/v1/complaints", body), 422, "validation_failed")
    assert "complainant_type" in error["message"]


@pytest.mark.parametrize("field", ["text", "brand", "contact_phone"])
@pytest.mark.parametrize("value", [None, 5, ["费率"], {"text": "费率"}, True])
def test_a_field_of_the_wrong_type_is_a_validation_error(client, db, field, value):
    payload = {"text": FEE_TEXT, field: value}
    with nothing_written():
        error = refused(send(client, "/api/v1/complaints", json.dumps(payload)), 422, "validation_failed")
    assert field in error["message"]


def test_unknown_fields_are_ignored_and_cannot_set_what_the_server_decides(client, db):
    """Unknown fields are dropped everywhere, never written: no tracking number, department or status."""
    injected = {
        "text": FEE_TEXT,
        "tracking_number": "TS20200101000001",
        "department": "compliance",
        "status": "closed",
        "access_code": "AAAAAAAA",
        "id": 1,
        "priority": "urgent",
    }
    response = send(client, "/api/v1/complaints", json.dumps(injected), **{"Idempotency-Key": "extra-1"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert "priority" not in body
    complaint = Complaint.objects.get()
    assert complaint.tracking_number == body["tracking_number"] != injected["tracking_number"]
    assert (complaint.department, complaint.status) == ("finance", "new")  # routed by the text; nobody on duty
    assert body["access_code"] != "AAAAAAAA"
    # The same complaint without the unknown fields is the same request: the retry replays it.
    retry = send(client, "/api/v1/complaints", json.dumps({"text": FEE_TEXT}), **{"Idempotency-Key": "extra-1"})
    assert retry.status_code == 201
    assert retry.json()["tracking_number"] == body["tracking_number"]
    assert Complaint.objects.count() == 1
    preview = send(client, "/api/v1/triage", json.dumps(injected))
    assert preview.status_code == 200 and "tracking_number" not in preview.json()
    reply = send(
        client,
        f"/api/v1/complaints/{body['tracking_number']}/replies",
        json.dumps({"body": "补充说明", "kind": "closed", "public": False}),
        **{"X-Access-Code": body["access_code"]},
    )
    assert reply.status_code == 201
    assert reply.json()["status"] == "new"
    assert reply.json()["timeline"][-1]["kind"] == "complainant_reply"  # public, whatever the body claimed


# ---------------------------------------------------------------------------- hand-written: headers


def test_an_idempotency_key_of_500_characters_is_refused(client, db):
    with nothing_written():
        refused(
            send(client, "/api/v1/complaints", json.dumps({"text": FEE_TEXT}), **{"Idempotency-Key": "k" * 500}),
            400,
            "idempotency_key_too_long",
        )


@pytest.mark.parametrize("key", ["retry\x00one", "retry\x01", "re\x1btry", "retry\x7f", "a\tb"])
def test_an_idempotency_key_with_control_characters_is_refused(client, db, key):
    with nothing_written():
        refused(
            send(client, "/api/v1/complaints", json.dumps({"text": FEE_TEXT}), **{"Idempotency-Key": key}),
            400,
            "idempotency_key_invalid",
        )


def test_an_idempotency_key_of_200_printable_characters_is_kept(client, db):
    key = "投诉-" + "k" * 197
    first = send(client, "/api/v1/complaints", json.dumps({"text": FEE_TEXT}), **{"Idempotency-Key": key})
    again = send(client, "/api/v1/complaints", json.dumps({"text": FEE_TEXT}), **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert first.json()["tracking_number"] == again.json()["tracking_number"]
    assert again.json()["access_code"] == first.json()["access_code"]
    record = IdempotencyRecord.objects.get()
    assert key not in record.key  # only a hash of the client's key is stored
    assert first.json()["access_code"] not in json.dumps(record.response)  # and the code only sealed


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer secret hotline",
        "Bearer  ",
        "Bearer 令牌",
        "Bearer secret-hotline\u00e9",
        "Basic secret-hotline",
        "Bearer",
    ],
    ids=["spaces", "blank", "chinese", "latin1", "basic", "no-token"],
)
def test_a_malformed_or_unknown_bearer_token_is_401(client, db, authorization):
    IntegrationToken.objects.create(
        name="hotline", token_hash=hash_token("secret-hotline"), scopes=["complaints:write", "complaints:read"]
    )
    with nothing_written():
        refused(
            send(client, "/api/v1/complaints", json.dumps({"text": FEE_TEXT}), Authorization=authorization),
            401,
            "unauthorized",
        )
    # the real token still works
    ok = send(client, "/api/v1/complaints", json.dumps({"text": FEE_TEXT}), Authorization="Bearer secret-hotline")
    assert ok.status_code == 201


# ---------------------------------------------------------------------------- hand-written: reading


@pytest.fixture
def created(client, db):
    response = send(client, "/api/v1/complaints", json.dumps({"text": FEE_TEXT}))
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize(
    "tracking",
    [
        "TS" + "9" * 5000,
        "..",
        "%2E%2E",
        "..%2F..%2Fetc%2Fpasswd",
        "../../../etc/passwd",
        "投诉编号",
        "%E6%8A%95%E8%AF%89",
        "TS2026%00",
        "%00",
        "TS%0D%0AX-Injected:1",
        "%ED%A0%80",  # the UTF-8 form of a lone surrogate
        "%FF%FE",
    ],
)
def test_a_hostile_tracking_number_is_a_json_404(client, created, tracking):
    with nothing_written():
        refused(
            client.get(f"/api/v1/complaints/{tracking}", headers={"X-Access-Code": created["access_code"]}),
            404,
            "not_found",
        )
    with nothing_written():
        refused(client.get(f"/api/v1/complaints/{tracking}?code=%00"), 404, "not_found")


@pytest.mark.parametrize("code", ["\x00", "码" * 8, "A" * 5000, "%00"])
def test_a_hostile_access_code_is_a_json_404(client, created, code):
    url = f"/api/v1/complaints/{created['tracking_number']}"
    with nothing_written():
        refused(client.get(url, headers={"X-Access-Code": code}), 404, "not_found")
    with nothing_written():
        refused(client.get(url, {"code": code}), 404, "not_found")


# ---------------------------------------------------------------------------- hand-written: replies


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"body": ""}, 422, "validation_failed"),
        ({"body": "   "}, 400, "body_required"),
        ({"body": "字" * 5001}, 422, "validation_failed"),
        ({"body": "补充\u0000说明"}, 400, "null_character"),
        ({"body": "补充\ud800说明"}, 422, "validation_failed"),
        ({"body": None}, 422, "validation_failed"),
        ({}, 422, "validation_failed"),
    ],
    ids=["empty", "blank", "too-long", "nul", "surrogate", "null", "missing"],
)
def test_a_bad_reply_is_refused_and_adds_no_event(client, created, body, status, code):
    url = f"/api/v1/complaints/{created['tracking_number']}/replies"
    with nothing_written():
        refused(send(client, url, json.dumps(body), **{"X-Access-Code": created["access_code"]}), status, code)


# ---------------------------------------------------------------------------- hand-written: evidence


def upload(client, created, files, **extra):
    url = f"/api/v1/complaints/{created['tracking_number']}/evidence"
    return client.post(url, data={"files": files, **extra}, headers={"X-Access-Code": created["access_code"]})


def stored_files(settings) -> list:
    return [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()] if settings.MEDIA_ROOT.exists() else []


def test_an_upload_without_files_is_refused(client, created, settings):
    url = f"/api/v1/complaints/{created['tracking_number']}/evidence"
    with nothing_written():
        refused(
            client.post(url, data={"note": "没有文件"}, headers={"X-Access-Code": created["access_code"]}),
            422,
            "validation_failed",
        )
    with nothing_written():
        refused(client.post(url, headers={"X-Access-Code": created["access_code"]}), 422, "validation_failed")
    assert stored_files(settings) == []


def test_eleven_files_are_refused_and_none_is_stored(client, created, settings):
    files = [SimpleUploadedFile(f"截图{i}.png", PNG, content_type="image/png") for i in range(11)]
    with nothing_written():
        refused(upload(client, created, files), 400, "too_many_files")
    assert stored_files(settings) == []


def test_a_file_over_the_size_limit_is_refused(client, created, settings):
    settings.TOUSU_MAX_UPLOAD_BYTES = 1024 * 1024  # the 10 MB rule, scaled down so the test stays fast
    big = SimpleUploadedFile("大图.png", PNG + b"\x00" * (1024 * 1024 + 1 - len(PNG)), content_type="image/png")
    exact = SimpleUploadedFile("刚好.png", PNG + b"\x00" * (1024 * 1024 - len(PNG)), content_type="image/png")
    with nothing_written():
        refused(upload(client, created, [exact, big]), 400, "file_too_large")
    assert stored_files(settings) == []
    exact.seek(0)
    assert upload(client, created, [exact]).status_code == 201
    assert Evidence.objects.get().size == 1024 * 1024


@pytest.mark.parametrize(
    "name, content, code",
    [
        ("截图.png", b"\x89PNG\r\n", "file_type_not_allowed"),  # truncated signature
        ("截图.png", b"\x89PN", "file_type_not_allowed"),
        ("空.png", b"", "file_empty"),
        ("程序.jpg", b"MZ\x90\x00" + b"\x00" * 64, "file_type_not_allowed"),
        ("页面.png", b"<html><script>alert(1)</script></html>", "file_type_not_allowed"),
    ],
    ids=["truncated-png", "four-bytes", "zero-bytes", "executable", "html"],
)
def test_a_file_that_is_not_an_image_or_pdf_is_refused_with_the_rest(client, created, settings, name, content, code):
    """One bad file in a batch stores none of the batch."""
    good = SimpleUploadedFile("好.png", PNG, content_type="image/png")
    bad = SimpleUploadedFile(name, content, content_type="image/png")
    with nothing_written():
        refused(upload(client, created, [good, bad]), 400, code)
    assert stored_files(settings) == []


def test_a_pdf_named_jpg_is_stored_as_a_pdf(client, created, settings):
    response = upload(client, created, [SimpleUploadedFile("收据.jpg", PDF, content_type="image/jpeg")])
    assert response.status_code == 201, response.content
    evidence = Evidence.objects.get()
    assert evidence.content_type == "application/pdf"
    assert evidence.file.name.endswith(".pdf")
    assert evidence.original_name == "收据.jpg"


def test_a_file_name_with_control_characters_and_a_path_is_stored_clean(client, created, settings):
    name = "../../etc/截图\x00\x07.png"
    response = upload(client, created, [SimpleUploadedFile(name, PNG, content_type="image/png")])
    assert response.status_code == 201, response.content
    evidence = Evidence.objects.get()
    assert evidence.original_name == "截图.png"
    assert all(settings.MEDIA_ROOT in p.parents for p in stored_files(settings))


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\x00"],
    ids=["no-boundary", "empty-boundary", "nul-boundary"],
)
def test_a_multipart_body_without_a_usable_boundary_is_unparsable(client, created, settings, content_type):
    url = f"/api/v1/complaints/{created['tracking_number']}/evidence"
    body = b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n' + PNG + b"\r\n--x--\r\n"
    with nothing_written():
        response = client.generic(
            "POST", url, data=body, content_type=content_type, headers={"X-Access-Code": created["access_code"]}
        )
        refused(response, 400, "body_unparsable")
    assert stored_files(settings) == []


def test_a_truncated_multipart_body_stores_nothing(client, created, settings):
    url = f"/api/v1/complaints/{created['tracking_number']}/evidence"
    body = b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n' + PNG  # no closing line
    with nothing_written():
        response = client.generic(
            "POST",
            url,
            data=body,
            content_type="multipart/form-data; boundary=x",
            headers={"X-Access-Code": created["access_code"]},
        )
        assert 400 <= response.status_code < 500
        error_of(response, response.status_code)
    assert stored_files(settings) == []


@pytest.mark.parametrize(
    "content_type, body, status, code",
    [
        ("application/json", b'{"files": ["iVBORw0KGgo="]}', 422, "validation_failed"),
        ("application/x-www-form-urlencoded; charset=latin-1", b"files=a.png", 400, "body_unparsable"),
        ("text/plain", PNG, 422, "validation_failed"),
    ],
    ids=["json", "form-not-utf8", "raw-bytes"],
)
def test_an_upload_that_is_not_multipart_is_refused(client, created, settings, content_type, body, status, code):
    url = f"/api/v1/complaints/{created['tracking_number']}/evidence"
    with nothing_written():
        response = client.generic(
            "POST", url, data=body, content_type=content_type, headers={"X-Access-Code": created["access_code"]}
        )
        refused(response, status, code)
    assert stored_files(settings) == []


def test_more_files_than_django_parses_is_a_json_refusal(client, created, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = [SimpleUploadedFile(f"截图{i}.png", PNG, content_type="image/png") for i in range(4)]
    with nothing_written():
        refused(upload(client, created, files), 400, "too_many_files")


def test_more_query_parameters_than_django_parses_is_a_json_refusal(client, created, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    query = "&".join(f"p{i}=1" for i in range(11))
    with nothing_written():
        refused(client.get(f"/api/v1/complaints/{created['tracking_number']}?{query}"), 400, "too_many_fields")


def test_evidence_for_someone_elses_complaint_is_a_404(client, created, settings):
    url = f"/api/v1/complaints/{created['tracking_number']}/evidence"
    files = [SimpleUploadedFile("截图.png", PNG, content_type="image/png")]
    with nothing_written():
        refused(client.post(url, data={"files": files}, headers={"X-Access-Code": "WRONG123"}), 404, "not_found")
    assert stored_files(settings) == []


# ---------------------------------------------------------------------------- Django's own answers under /api/v1


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/nothing-here"),
        ("POST", "/api/v1/nothing-here"),
        ("GET", "/api/v1/complaints/"),
        ("GET", "/api/v1/complaints/TS1/timeline"),
        ("DELETE", "/api/v1/complaints/TS1/replies/3"),
        ("GET", "/api/v1/"),
    ],
)
def test_an_unknown_api_path_is_a_json_404(client, db, method, path):
    with nothing_written():
        refused(client.generic(method, path, data=b"{}", content_type="application/json"), 404, "not_found")


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("GET", "/api/v1/complaints", "POST"),
        ("PUT", "/api/v1/complaints", "POST"),
        ("DELETE", "/api/v1/complaints/TS1", "GET"),
        ("GET", "/api/v1/triage", "POST"),
        ("PATCH", "/api/v1/complaints/TS1/replies", "POST"),
    ],
)
def test_a_wrong_method_is_a_json_405_with_allow(client, db, method, path, allowed):
    with nothing_written():
        response = client.generic(method, path, data=b"{}", content_type="application/json")
        refused(response, 405, "method_not_allowed")
    assert response["Allow"] == allowed


def test_an_unexpected_failure_answers_json_and_writes_nothing(db, monkeypatch, caplog):
    """The last line of defence: a bug still answers the error shape (a 500), rolled back, and logged."""

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(api_module.services, "submit", broken)
    with nothing_written():
        response = send(Client(raise_request_exception=False), "/api/v1/complaints", json.dumps({"text": FEE_TEXT}))
        refused(response, 500, "internal_error")
    assert "boom" not in response.content.decode()
    assert any(r.levelname == "ERROR" and r.exc_info for r in caplog.records)


def test_a_suspicious_operation_deep_inside_is_a_json_400(db, monkeypatch):
    def suspicious(*args, **kwargs):
        raise SuspiciousFileOperation("path escapes the media root")

    monkeypatch.setattr(api_module.services, "submit", suspicious)
    with nothing_written():
        refused(send(Client(), "/api/v1/complaints", json.dumps({"text": FEE_TEXT})), 400, "bad_request")


def test_the_openapi_document_lists_the_new_refusals(client):
    document = client.get("/api/v1/openapi.json").json()
    responses = document["paths"]["/api/v1/complaints"]["post"]["responses"]
    assert {"413", "415"} <= set(responses)
