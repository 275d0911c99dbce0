"""A lost access code: recovered on the portal or through the API, or reset by staff for a caller.

The new code only ever goes to the phone or e-mail recorded on the complaint (through the outbox,
which forgets it once sent), never onto a page or into an answer; the old code, and every browser
let in with it, stops working; no event holds the code; attempts are limited per address and per
tracking number.
"""

import datetime as dt
import json
import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from tousu_web.complaints import notify, services
from tousu_web.complaints.api import RECOVER_SENT
from tousu_web.complaints.models import Complaint, ComplaintEvent, Outbox, Role

from .conftest import FEE_TEXT, make_staff

Kind = ComplaintEvent.Kind
PHONE = "138 1234 5678"
EMAIL = "Wang.Xiaoming@Example.com"
CODE = re.compile(r"新查询码为 ([A-Z2-9]{8})")


@pytest.fixture(autouse=True)
def fresh_rate_limits(db):
    cache.clear()  # rate counts live in the database cache, which a transactional test leaves behind


def submit(**contacts):
    return services.submit(FEE_TEXT, **contacts)


def sent_codes(complaint) -> list[str]:
    """The codes queued for the complainant, read from the outbox as the worker will send them."""
    return [
        CODE.search(body).group(1) for body in complaint.outbox_set.filter(secret=True).values_list("body", flat=True)
    ]


def everything_recorded(complaint) -> str:
    """The complaint's events (bodies and data), as one text to search."""
    return json.dumps(list(complaint.events.values("body", "data")), ensure_ascii=False)


def recover(client, tracking_number, contact, **extra):
    return client.post("/track/recover/", {"tracking_number": tracking_number, "contact": contact}, **extra)


def recover_api(client, tracking_number, contact, **extra):
    body = json.dumps({"contact": contact}, ensure_ascii=False)
    url = f"/api/v1/complaints/{tracking_number}/access-code"
    return client.post(url, data=body, content_type="application/json", **extra)


# ---------------------------------------------------------------------------- the service


def test_a_recovered_code_replaces_the_old_one_and_goes_only_to_the_recorded_contacts(staff):
    complaint, old = submit(contact_phone=PHONE, contact_email=EMAIL)
    version = complaint.version
    assert services.recover_access_code(complaint.tracking_number, "+86 138-1234-5678") is True
    complaint.refresh_from_db()
    items = complaint.outbox_set.filter(secret=True).order_by("channel")
    assert [(i.channel, i.recipient) for i in items] == [("email", EMAIL), ("sms", PHONE)]
    [new] = set(sent_codes(complaint))
    assert services.check_access_code(complaint, new) is True
    assert services.check_access_code(complaint, old) is False
    assert complaint.version == version + 1
    event = complaint.events.get(kind=Kind.ACCESS_CODE_RESET)
    assert event.public and event.actor is None and event.actor_label == "投诉人"
    assert "原查询码已作废" in event.body and "手机和邮箱" in event.body
    assert new not in everything_recorded(complaint) and old not in everything_recorded(complaint)


@pytest.mark.parametrize(
    "contact", ["13812345678", "+86 13812345678", "0086-138-1234-5678", " wang.xiaoming@example.com "]
)
def test_the_recorded_phone_or_email_is_recognised_however_it_is_written(staff, contact):
    complaint, _ = submit(contact_phone=PHONE, contact_email=EMAIL)
    assert services.recover_access_code(complaint.tracking_number, contact) is True


@pytest.mark.parametrize("contact", ["13812345679", "5678", "wang.xiaoming@example.org", "", "   "])
def test_a_wrong_contact_or_an_unknown_number_changes_nothing(staff, contact):
    complaint, old = submit(contact_phone=PHONE, contact_email=EMAIL)
    assert services.recover_access_code(complaint.tracking_number, contact) is False
    assert services.recover_access_code("TS20990101000000", PHONE) is False
    assert services.recover_access_code("TS\x00", PHONE) is False
    complaint.refresh_from_db()
    assert services.check_access_code(complaint, old) is True
    assert not complaint.events.filter(kind=Kind.ACCESS_CODE_RESET).exists()
    assert not Outbox.objects.filter(secret=True).exists()


def test_a_complaint_without_contacts_cannot_be_recovered(staff):
    complaint, old = submit()
    assert services.recover_access_code(complaint.tracking_number, "") is False
    complaint.refresh_from_db()
    assert services.check_access_code(complaint, old) is True


# ---------------------------------------------------------------------------- the outbox forgets the code


def test_the_code_is_delivered_then_no_longer_kept(staff, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    complaint, _ = submit(contact_phone=PHONE, contact_email=EMAIL)
    services.recover_access_code(complaint.tracking_number, PHONE)
    [new] = set(sent_codes(complaint))
    notify.deliver_pending()
    [message] = [m for m in mail.outbox if m.subject.startswith("新的查询码")]
    assert message.to == [EMAIL] and new in message.body
    kept = complaint.outbox_set.filter(secret=True).values_list("body", "sent_at")
    assert {(body, sent_at is not None) for body, sent_at in kept} == {(notify.REDACTED, True)}
    assert not Outbox.objects.filter(body__contains=new).exists()


class BrokenSms:
    def send(self, phone: str, message: str) -> None:
        raise OSError("短信网关不可用")


def test_a_code_that_could_not_be_delivered_is_not_kept_either(staff, settings):
    settings.TOUSU_SMS_BACKEND = "tests.web.test_access_codes.BrokenSms"
    complaint, _ = submit(contact_phone=PHONE)
    services.recover_access_code(complaint.tracking_number, PHONE)
    [new] = sent_codes(complaint)
    now = timezone.now()
    for hour in range(notify.MAX_ATTEMPTS):
        notify.deliver_pending(now=now + dt.timedelta(hours=hour))
    item = complaint.outbox_set.get(secret=True)
    assert item.attempts == notify.MAX_ATTEMPTS and item.sent_at is None
    assert item.body == notify.REDACTED and not Outbox.objects.filter(body__contains=new).exists()


# ---------------------------------------------------------------------------- the portal


def test_the_track_page_offers_recovery_and_the_form_asks_for_the_recorded_contact(client, staff):
    assert 'href="/track/recover/"' in client.get("/track/").content.decode()
    response = client.get("/track/recover/")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="recover-form"' in html
    assert "不会显示在本页" in html and 'name="contact"' in html


def test_the_portal_answers_a_match_and_a_miss_alike_and_never_shows_the_code(staff):
    complaint, old = submit(contact_phone=PHONE)
    answers = []
    for number, contact in [
        (complaint.tracking_number, "13800000000"),
        ("TS20990101000000", PHONE),
        (complaint.tracking_number.lower(), PHONE),  # typed in lower case: still the complaint
    ]:
        client = Client()
        response = recover(client, number, contact)
        assert response.status_code == 302 and response["Location"] == "/track/"
        page = client.get(response["Location"]).content.decode()
        assert RECOVER_SENT in page
        answers.append(re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page))
    assert answers[0] == answers[1] == answers[2]
    [new] = sent_codes(complaint)
    assert new not in "".join(answers)
    client = Client()
    wrong = client.post("/track/", {"tracking_number": complaint.tracking_number, "access_code": old})
    assert wrong.status_code == 400
    right = client.post("/track/", {"tracking_number": complaint.tracking_number, "access_code": new})
    assert right.status_code == 302


def test_a_browser_let_in_with_the_old_code_is_shut_out(staff):
    complaint, old = submit(contact_phone=PHONE)
    before = Client()
    before.post("/track/", {"tracking_number": complaint.tracking_number, "access_code": old})
    assert before.get(f"/c/{complaint.tracking_number}/").status_code == 200
    recover(Client(), complaint.tracking_number, PHONE)
    assert before.get(f"/c/{complaint.tracking_number}/").status_code == 404
    assert before.post(f"/c/{complaint.tracking_number}/reply/", {"body": "我还在"}).status_code == 404
    assert not complaint.events.filter(kind=Kind.COMPLAINANT_REPLY).exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"tracking_number": "", "contact": PHONE}, "请填写受理编号"),
        ({"tracking_number": "TS20260101000001", "contact": ""}, "请填写手机号码或电子邮箱"),
        ({"tracking_number": "TS20260101000001", "contact": "138\x00"}, "含有无法识别的字符"),
    ],
)
def test_an_incomplete_recovery_form_is_a_400_with_a_message(client, staff, data, message):
    response = client.post("/track/recover/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Outbox.objects.filter(secret=True).exists()


def test_recovery_is_limited_per_address(client, staff, settings):
    settings.TOUSU_RECOVER_RATE = 2
    complaint, old = submit(contact_phone=PHONE)
    for _ in range(2):
        assert recover(client, "TS20990101000000", PHONE).status_code == 302
    refused = recover(client, complaint.tracking_number, PHONE)
    assert refused.status_code == 429
    assert "提交过于频繁" in refused.content.decode()
    complaint.refresh_from_db()
    assert services.check_access_code(complaint, old) is True


def test_recovery_is_limited_per_tracking_number_from_any_address(client, staff, settings):
    settings.TOUSU_RECOVER_RATE = 2
    complaint, _ = submit(contact_phone=PHONE)
    for address in ("10.0.0.1", "10.0.0.2"):
        assert recover(client, complaint.tracking_number, "13800000000", REMOTE_ADDR=address).status_code == 302
    refused = recover(client, complaint.tracking_number, PHONE, REMOTE_ADDR="10.0.0.3")
    assert refused.status_code == 429
    assert "次数已达上限" in refused.content.decode()
    assert not complaint.events.filter(kind=Kind.ACCESS_CODE_RESET).exists()
    other, _ = submit(contact_phone="13900000000", merchant_number="822100000000777")
    assert recover(client, other.tracking_number, "13900000000", REMOTE_ADDR="10.0.0.3").status_code == 302


# ---------------------------------------------------------------------------- the API


def test_the_api_answers_202_alike_and_never_returns_the_code(client, staff):
    complaint, _ = submit(contact_email=EMAIL)
    miss = recover_api(client, complaint.tracking_number, "someone@example.com")
    hit = recover_api(client, complaint.tracking_number, EMAIL.upper())
    assert miss.status_code == hit.status_code == 202
    assert miss.json() == hit.json() == {"message": RECOVER_SENT}
    [new] = sent_codes(complaint)
    assert new not in hit.content.decode()
    assert complaint.events.filter(kind=Kind.ACCESS_CODE_RESET).count() == 1
    reading = client.get(f"/api/v1/complaints/{complaint.tracking_number}", headers={"X-Access-Code": new})
    assert reading.status_code == 200
    assert reading.json()["timeline"][-1]["kind"] == Kind.ACCESS_CODE_RESET


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({}, 422, "validation_failed"),
        ({"contact": ""}, 422, "validation_failed"),
        ({"contact": "x" * 255}, 422, "validation_failed"),
        ({"contact": "138\u0000"}, 400, "null_character"),
    ],
)
def test_a_bad_api_request_is_a_4xx_with_a_code_and_a_chinese_message(client, staff, body, status, code):
    complaint, _ = submit(contact_phone=PHONE)
    url = f"/api/v1/complaints/{complaint.tracking_number}/access-code"
    response = client.post(url, data=json.dumps(body), content_type="application/json")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and re.search(r"[\u4e00-\u9fff]", error["message"])
    assert not Outbox.objects.filter(secret=True).exists()


def test_a_nul_in_the_tracking_number_is_no_500(client, staff):
    response = client.post(
        "/api/v1/complaints/TS%00/access-code", data='{"contact": "1"}', content_type="application/json"
    )
    assert response.status_code == 202  # like any unknown number


def test_the_api_and_the_portal_share_the_limits(client, staff, settings):
    settings.TOUSU_RECOVER_RATE = 1
    complaint, _ = submit(contact_phone=PHONE)
    assert recover(client, "TS20990101000000", PHONE).status_code == 302
    refused = recover_api(client, "TS20990101000001", PHONE)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    again = recover_api(Client(), "TS20990101000000", PHONE, REMOTE_ADDR="10.0.0.9")
    assert again.status_code == 429 and again.json()["error"]["code"] == "recovery_limited"


# ---------------------------------------------------------------------------- staff, for a caller


def console(user):
    client = Client()
    client.force_login(user)
    return client


def action_error(response) -> str:
    return re.search(r'id="action-error"[^>]*>([^<]*)<', response.content.decode()).group(1)


def reset(client, complaint, reason="来电称查询码遗失，已核对商户号", version=None):
    complaint.refresh_from_db()
    data = {"reason": reason, "version": version or complaint.version}
    return client.post(f"/console/c/{complaint.tracking_number}/do/reset_code/", data)


def test_an_agent_resets_the_code_for_a_caller_and_never_sees_it(staff):
    agent = make_staff("agent1", Role.AGENT, "finance")
    complaint, old = submit(contact_phone=PHONE, contact_email=EMAIL)
    client = console(agent)
    assert 'id="action-reset_code"' in client.get(f"/console/c/{complaint.tracking_number}/").content.decode()
    response = reset(client, complaint)
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    [new] = set(sent_codes(complaint))
    assert new not in page
    complaint.refresh_from_db()
    assert services.check_access_code(complaint, old) is False and services.check_access_code(complaint, new)
    event = complaint.events.get(kind=Kind.ACCESS_CODE_RESET)
    assert event.actor == agent and event.public
    assert "来电称查询码遗失" in event.body and new not in everything_recorded(complaint)


def test_a_supervisor_may_reset_a_code_and_a_handler_may_not(staff):
    complaint, old = submit(contact_phone=PHONE)
    handler = console(staff["finance"])
    assert 'id="action-reset_code' not in handler.get(f"/console/c/{complaint.tracking_number}/").content.decode()
    refused = reset(handler, complaint)
    assert refused.status_code == 403
    assert action_error(refused) == "只有一线客服和投诉主管可以重置查询码"
    complaint.refresh_from_db()
    assert services.check_access_code(complaint, old) is True
    assert reset(console(staff["supervisor"]), complaint).status_code == 302


def test_a_reset_needs_a_reason_a_contact_to_send_to_and_the_current_page(staff):
    supervisor = console(staff["supervisor"])
    complaint, old = submit(contact_phone=PHONE)
    blank = reset(supervisor, complaint, reason="  ")
    assert blank.status_code == 400 and action_error(blank) == "重置查询码需要填写理由"
    stale = reset(supervisor, complaint, version=complaint.version + 1)
    assert stale.status_code == 409
    anonymous, _ = submit()
    page = supervisor.get(f"/console/c/{anonymous.tracking_number}/").content.decode()
    assert 'id="reset_code-no-contact"' in page and 'id="action-reset_code"' not in page
    refused = reset(supervisor, anonymous)
    assert refused.status_code == 409 and "没有登记手机号或邮箱" in action_error(refused)
    with pytest.raises(services.ServiceError) as error:
        services.reset_access_code(anonymous.pk, staff["supervisor"], "来电")
    assert error.value.code == "no_contact_on_file"
    complaint.refresh_from_db()
    assert services.check_access_code(complaint, old) is True
    assert not Complaint.objects.filter(events__kind=Kind.ACCESS_CODE_RESET).exists()
