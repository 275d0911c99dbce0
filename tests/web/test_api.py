import json
import threading

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from tousu_web.complaints.api import hash_token
from tousu_web.complaints.models import Complaint, IntegrationToken

from .conftest import FEE_TEXT

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def fresh_rate_limits(db):
    cache.clear()  # rate counts live in the database cache, which a transactional test leaves behind


@pytest.fixture
def client():
    return Client()


def post(client, payload, **headers):
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return client.post("/api/v1/complaints", data=body, content_type="application/json", headers=headers)


def token(name="hotline", scopes=("complaints:write", "complaints:read")):
    IntegrationToken.objects.create(name=name, token_hash=hash_token(f"secret-{name}"), scopes=list(scopes))
    return {"Authorization": f"Bearer secret-{name}"}


def test_a_submission_answers_201_with_tracking_routing_and_next_steps(client, staff):
    response = post(client, {"text": FEE_TEXT, "complainant_type": "merchant", "contact_phone": "13812345678"})
    assert response.status_code == 201
    body = response.json()
    assert body["tracking_number"].startswith("TS")
    assert len(body["access_code"]) == 8
    assert body["category"] == "fee_rate"
    assert body["department"] == "finance"
    assert body["departments"] == ["finance", "channel"]
    assert body["deadline"]["due"] and body["deadline"]["certainty"]
    assert any(step["level"] == "external" for step in body["next_steps"])
    assert "13812345678" not in response.content.decode()


def test_a_retry_with_the_same_key_never_makes_a_duplicate(client, staff):
    first = post(client, {"text": FEE_TEXT}, **{"Idempotency-Key": "retry-1"})
    second = post(client, {"text": FEE_TEXT}, **{"Idempotency-Key": "retry-1"})
    assert second.status_code == 201
    assert second.json()["tracking_number"] == first.json()["tracking_number"]
    assert Complaint.objects.count() == 1


def test_the_same_key_with_another_complaint_is_a_conflict(client, staff):
    post(client, {"text": FEE_TEXT}, **{"Idempotency-Key": "k"})
    response = post(client, {"text": "机器坏了开不了机"}, **{"Idempotency-Key": "k"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Complaint.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_make_one_complaint():
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:memorydb"):
        pytest.skip("in-memory SQLite is one connection; the PostgreSQL run covers concurrent requests")
    results = []

    def submit():
        results.append(post(Client(), {"text": FEE_TEXT}, **{"Idempotency-Key": "race"}).json())
        connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Complaint.objects.count() == 1
    assert {r["tracking_number"] for r in results} == {Complaint.objects.get().tracking_number}


@pytest.mark.parametrize(
    "payload, status, code",
    [
        ({"text": ""}, 400, "text_empty"),
        ({"text": "   "}, 400, "text_empty"),
        ({"text": 5}, 422, "validation_failed"),
        ({}, 422, "validation_failed"),
        ({"text": "字" * 20001}, 422, "validation_failed"),
        ({"text": "费率涨了", "complainant_type": "robot"}, 422, "validation_failed"),
        ('{"text": ', 400, "body_unparsable"),
        ("[1, 2]", 422, "validation_failed"),
        ({"text": "\x00\x01\x02\x03\x04\x05\x06"}, 400, "text_binary"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_code_and_a_chinese_message(client, staff, payload, status, code):
    response = post(client, payload)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])
    assert Complaint.objects.count() == 0


def test_script_in_a_complaint_is_stored_as_text_not_markup(client, staff):
    response = post(client, {"text": "<script>alert(1)</script>费率被上调到0.6%"})
    assert response.status_code == 201
    assert response["Content-Type"].startswith("application/json")


def test_reading_needs_the_access_code(client, staff):
    created = post(client, {"text": FEE_TEXT}).json()
    url = f"/api/v1/complaints/{created['tracking_number']}"
    assert client.get(url).status_code == 404
    assert client.get(url, headers={"X-Access-Code": "WRONGONE"}).status_code == 404
    response = client.get(url, headers={"X-Access-Code": created["access_code"]})
    assert response.status_code == 200
    assert response.json()["timeline"][0]["kind"] == "submitted"


def test_a_token_reads_any_complaint_only_with_the_read_scope(client, staff):
    created = post(client, {"text": FEE_TEXT}).json()
    url = f"/api/v1/complaints/{created['tracking_number']}"
    assert client.get(url, headers=token("crm", ["complaints:read"])).status_code == 200
    assert client.get(url, headers=token("writer", ["complaints:write"])).status_code == 403
    assert client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_integrations_submit_with_their_token(client, staff):
    response = post(client, {"text": FEE_TEXT}, **token())
    assert response.status_code == 201
    assert Complaint.objects.get().intake == "api"


def test_anonymous_submissions_are_rate_limited(client, staff, settings):
    settings.TOUSU_SUBMIT_RATE = 2
    statuses = [post(client, {"text": FEE_TEXT}).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]


def test_the_complainant_replies_and_uploads_evidence(client, staff):
    created = post(client, {"text": FEE_TEXT}).json()
    base = f"/api/v1/complaints/{created['tracking_number']}"
    code = {"X-Access-Code": created["access_code"]}
    reply = client.post(
        f"{base}/replies", data={"body": "补充：已上传截图"}, content_type="application/json", headers=code
    )
    assert reply.status_code == 201
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("截图.png", PNG, content_type="image/png")
    response = client.post(f"{base}/evidence", data={"files": [upload]}, headers=code)
    assert response.status_code == 201
    evidence = Complaint.objects.get().evidence.get()
    assert evidence.content_type == "image/png"
    assert len(evidence.sha256) == 64


def test_a_file_that_only_claims_to_be_an_image_is_refused(client, staff):
    created = post(client, {"text": FEE_TEXT}).json()
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("photo.png", b"MZ\x90\x00 this is an executable", content_type="image/png")
    response = client.post(
        f"/api/v1/complaints/{created['tracking_number']}/evidence",
        data={"files": [fake]},
        headers={"X-Access-Code": created["access_code"]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_type_not_allowed"
    assert Complaint.objects.get().evidence.count() == 0


def test_the_preview_routes_without_saving(client, staff):
    response = client.post("/api/v1/triage", data={"text": FEE_TEXT}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["department"] == "finance"
    assert Complaint.objects.count() == 0


def test_the_openapi_document_describes_the_endpoints(client):
    document = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/complaints" in document["paths"]
    assert "201" in document["paths"]["/api/v1/complaints"]["post"]["responses"]
    assert "/api/v1/complaints/{tracking_number}" in document["paths"]
