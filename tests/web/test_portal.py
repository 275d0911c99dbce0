"""The complainant portal, through the Django test client: submit, track, respond, escalate."""

import datetime as dt
import re
import threading
import uuid

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone

from tousu import knowledge
from tousu_web.complaints import services
from tousu_web.complaints.models import Complaint, ComplaintEvent, Evidence, IdempotencyRecord, Status

from .conftest import FEE_TEXT

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DEPOSIT_TEXT = "押金299元说好刷满3万就退，我都刷了5万了，客服一直说在审核，要求退押金。"
COMPANY = knowledge.default().company.name


@pytest.fixture(autouse=True)
def fresh_rate_limits(db):
    cache.clear()  # rate counts live in the database cache, which a transactional test leaves behind


@pytest.fixture(autouse=True)
def fast_test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # uploads land in a temporary folder
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the staff fixture, quickly


@pytest.fixture
def client():
    return Client()


def form(**fields):
    return {"token": str(uuid.uuid4()), "text": FEE_TEXT, "complainant_type": "merchant", **fields}


def page(response) -> str:
    return response.content.decode()


def submit(client, **fields):
    response = client.post("/", form(**fields))
    assert response.status_code == 200, page(response)
    return Complaint.objects.get(tracking_number=response.context["complaint"].tracking_number), response


def tracked(client, **fields):
    """A complaint submitted through the portal by this client (so its session holds it)."""
    complaint, _ = submit(client, **fields)
    return complaint


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


# ---------------------------------------------------------------------------- submit


def test_the_form_has_a_one_time_token_csrf_and_the_preview_script(client, staff):
    response = client.get("/")
    html = page(response)
    assert response.status_code == 200
    assert 'name="token"' in html and 'name="csrfmiddlewaretoken"' in html
    assert "complaints/portal.js" in html
    assert 'data-preview-url="/api/v1/triage"' in html
    assert 'id="triage-preview"' in html and 'id="submit-button"' in html
    assert 'lang="zh-hans"' in html and 'name="viewport"' in html
    assert client.get("/").context["form"]["token"].value() != response.context["form"]["token"].value()


def test_a_submission_shows_the_tracking_number_code_routing_and_deadline_certainty(client, staff):
    complaint, response = submit(client, contact_phone="13812345678", contact_email="zhang.san@example.com")
    html = page(response)
    assert f'id="tracking-number">{complaint.tracking_number}<' in html
    code = response.context["access_code"]
    assert f'id="access-code">{code}<' in html
    assert services.check_access_code(complaint, code)
    assert "只在此页显示这一次" in html
    assert "财务部" in html  # the department, with the reasons
    assert "按路由表" in html
    assert "未核实" in html  # the statutory deadline here is UNVERIFIED: never shown as settled
    assert "实际扣费的交易明细" in html  # evidence to prepare
    assert 'id="evidence-form"' in html
    assert "13812345678" not in html and "138****5678" in html
    assert "zhang.san@example.com" not in html
    assert complaint.intake == "portal" and complaint.complainant_type == "merchant"
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_one_time_token_makes_a_resubmission_show_the_same_result(client, staff):
    data = form()
    first = client.post("/", data)
    second = Client().post("/", data)  # a browser retry, even without the first response's cookie
    assert first.status_code == second.status_code == 200
    assert Complaint.objects.count() == 1
    assert second.context["complaint"].tracking_number == first.context["complaint"].tracking_number
    assert second.context["access_code"] == first.context["access_code"]
    record = IdempotencyRecord.objects.get(scope="portal")
    assert data["token"] not in record.key and first.context["access_code"] not in str(record.response)


@pytest.mark.django_db(transaction=True)
def test_a_double_click_racing_itself_makes_one_complaint():
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:memorydb"):
        pytest.skip("in-memory SQLite is one connection; the PostgreSQL run covers concurrent requests")
    data, numbers = form(), []

    def click():
        numbers.append(Client().post("/", data).context["complaint"].tracking_number)
        connection.close()

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Complaint.objects.count() == 1
    assert set(numbers) == {Complaint.objects.get().tracking_number}


def test_the_same_token_with_changed_text_creates_nothing_and_offers_a_fresh_token(client, staff):
    data = form()
    client.post("/", data)
    response = client.post("/", {**data, "text": DEPOSIT_TEXT})
    assert response.status_code == 409
    assert "此表单已提交过" in page(response)
    assert response.context["form"]["token"].value() != data["token"]
    assert DEPOSIT_TEXT in page(response)
    assert Complaint.objects.count() == 1


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"text": ""}, "请填写投诉内容"),
        ({"text": "   "}, "请填写投诉内容"),
        ({"text": FEE_TEXT, "contact_phone": "abc"}, "请填写正确的电话号码"),
        ({"text": FEE_TEXT, "contact_email": "not-an-email"}, "请填写正确的电子邮箱地址"),
        ({"text": FEE_TEXT, "complainant_type": "robot"}, "请选择有效的身份"),
        ({"text": FEE_TEXT, "token": "not-a-uuid"}, "表单已失效"),
        ({"text": "\x00\x01\x02\x03\x04\x05\x06"}, "疑似二进制数据"),
        ({"text": "\x01\x02\x03\x04\x05\x06\x07"}, "疑似二进制数据"),  # a ServiceError, shown as it is
    ],
)
def test_bad_input_re_renders_the_form_with_400_keeping_what_was_typed(client, staff, fields, message):
    response = client.post("/", form(contact_name="王小明", **fields))
    assert response.status_code == 400
    html = page(response)
    assert message in html
    assert 'value="王小明"' in html
    assert Complaint.objects.count() == 0
    assert ComplaintEvent.objects.count() == 0


def test_submissions_are_rate_limited_per_address(client, staff, settings):
    settings.TOUSU_SUBMIT_RATE = 1
    assert client.post("/", form()).status_code == 200
    response = client.post("/", form())
    assert response.status_code == 429
    assert "提交过于频繁" in page(response)
    assert Complaint.objects.count() == 1


def test_forms_need_the_csrf_token(staff):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/", form()).status_code == 403
    assert strict.post("/track/", {"tracking_number": "TS1", "access_code": "X"}).status_code == 403
    assert Complaint.objects.count() == 0


# ---------------------------------------------------------------------------- track


def test_tracking_with_the_code_opens_the_status_page(staff):
    complaint, code = services.submit(FEE_TEXT)
    client = Client()
    assert client.get(f"/c/{complaint.tracking_number}/").status_code == 404
    response = client.post("/track/", {"tracking_number": complaint.tracking_number.lower(), "access_code": code})
    assert response.status_code == 302 and response["Location"] == f"/c/{complaint.tracking_number}/"
    status = client.get(response["Location"])
    assert status.status_code == 200
    assert 'id="timeline"' in page(status)


def test_a_wrong_code_and_an_unknown_number_get_the_same_answer(client, staff):
    complaint, _ = services.submit(FEE_TEXT)
    unknown = "TS20990101000000"
    wrong = client.post("/track/", {"tracking_number": complaint.tracking_number, "access_code": "WRONG234"})
    missing = client.post("/track/", {"tracking_number": unknown, "access_code": "WRONG234"})
    assert wrong.status_code == missing.status_code == 400
    assert "受理编号或查询码不正确" in page(wrong)
    assert without_csrf(page(wrong)).replace(complaint.tracking_number, unknown) == without_csrf(page(missing))
    assert client.get(f"/c/{complaint.tracking_number}/").status_code == 404


def test_tracking_is_rate_limited_per_address(client, staff, settings):
    settings.TOUSU_SUBMIT_RATE = 2
    complaint, code = services.submit(FEE_TEXT)
    for _ in range(2):
        client.post("/track/", {"tracking_number": complaint.tracking_number, "access_code": "WRONG234"})
    response = client.post("/track/", {"tracking_number": complaint.tracking_number, "access_code": code})
    assert response.status_code == 429
    assert client.get(f"/c/{complaint.tracking_number}/").status_code == 404


def test_a_complainant_cannot_open_another_complaint(client, staff):
    mine = tracked(client)
    other, _ = services.submit(DEPOSIT_TEXT)
    assert client.get(f"/c/{mine.tracking_number}/").status_code == 200
    for url in ("", "letter/", "letter.txt"):
        assert client.get(f"/c/{other.tracking_number}/{url}").status_code == 404
    assert client.post(f"/c/{other.tracking_number}/reply/", {"body": "我来捣乱"}).status_code == 404
    assert not other.events.filter(kind=ComplaintEvent.Kind.COMPLAINANT_REPLY).exists()


def test_the_session_remembers_only_the_last_complaint_and_forgets_on_request(client, staff):
    first = tracked(client)
    second = tracked(client, text=DEPOSIT_TEXT)
    assert client.get(f"/c/{first.tracking_number}/").status_code == 404
    assert client.get(f"/c/{second.tracking_number}/").status_code == 200
    client.post("/track/forget/")
    assert client.get(f"/c/{second.tracking_number}/").status_code == 404


# ---------------------------------------------------------------------------- status page


def test_the_timeline_hides_internal_notes_and_staff_names(client, staff):
    complaint = tracked(client, contact_phone="13812345678")
    services.add_note(complaint.pk, staff["finance"], "内部：此商户疑似套现，先别回复")
    services.reply(complaint.pk, staff["finance"], "您好，已核实您的费率执行情况，正在处理。")
    html = page(client.get(f"/c/{complaint.tracking_number}/"))
    assert "已核实您的费率执行情况" in html
    assert "客服人员" in html
    assert "疑似套现" not in html
    assert "fin1" not in html  # the handler's user name (the assignee too)
    assert "13812345678" not in html
    assert "处理中" in html


def test_the_complainant_replies(client, staff):
    complaint = tracked(client)
    response = client.post(f"/c/{complaint.tracking_number}/reply/", {"body": "补充：合同照片稍后上传"})
    assert response.status_code == 302
    event = complaint.events.get(kind=ComplaintEvent.Kind.COMPLAINANT_REPLY)
    assert event.public and event.body == "补充：合同照片稍后上传"
    assert "补充：合同照片稍后上传" in page(client.get(response["Location"]))


def test_a_request_for_more_information_is_shown_and_a_reply_answers_it(client, staff):
    complaint = tracked(client)
    services.request_info(complaint.pk, staff["finance"], "请补充近三个月的交易明细截图")
    url = f"/c/{complaint.tracking_number}/"
    html = page(client.get(url))
    assert 'id="info-request"' in html and "请补充近三个月的交易明细截图" in html
    client.post(url + "reply/", {"body": "已补充，请查收"})
    complaint.refresh_from_db()
    assert complaint.status == Status.IN_PROGRESS
    assert 'id="info-request"' not in page(client.get(url))


def test_markup_in_a_complaint_is_shown_as_text(client, staff):
    complaint, response = submit(client, text="<script>alert(1)</script>费率被上调到0.6%，要求恢复原费率")
    for html in (page(response), page(client.get(f"/c/{complaint.tracking_number}/"))):
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_an_empty_reply_is_a_400_with_a_message(client, staff):
    complaint = tracked(client)
    response = client.post(f"/c/{complaint.tracking_number}/reply/", {"body": "  "})
    assert response.status_code == 400
    assert "请填写留言内容" in page(response)
    assert not complaint.events.filter(kind=ComplaintEvent.Kind.COMPLAINANT_REPLY).exists()


def test_accepting_a_resolution_then_rating(client, staff):
    complaint = tracked(client)
    url = f"/c/{complaint.tracking_number}/"
    services.propose_resolution(complaint.pk, staff["finance"], "退还多扣手续费 126 元，三个工作日内到账。")
    html = page(client.get(url))
    assert "退还多扣手续费 126 元" in html
    assert 'id="accept-button"' in html and 'id="reject-button"' in html
    assert 'id="rating-form"' not in html
    response = client.post(url + "resolution/", {"decision": "accept", "comment": "可以"})
    assert response.status_code == 302
    complaint.refresh_from_db()
    assert complaint.status == Status.RESOLVED
    html = page(client.get(url))
    assert 'id="rating-form"' in html and 'id="accept-button"' not in html
    assert client.post(url + "rate/", {"score": "5", "comment": "处理很快"}).status_code == 302
    complaint.refresh_from_db()
    assert (complaint.rating, complaint.rating_comment) == (5, "处理很快")
    again = client.post(url + "rate/", {"score": "1"})
    assert again.status_code == 409 and "已评价过" in page(again)


def test_a_rating_out_of_range_is_refused(client, staff):
    complaint = tracked(client)
    services.close(complaint.pk, staff["finance"], "已退还。")
    response = client.post(f"/c/{complaint.tracking_number}/rate/", {"score": "9"})
    assert response.status_code == 400
    assert "请选择 1 到 5 分" in page(response)
    complaint.refresh_from_db()
    assert complaint.rating is None


def test_uploading_a_real_image_works_and_a_fake_one_is_refused(client, staff):
    complaint = tracked(client)
    url = f"/c/{complaint.tracking_number}/evidence/"
    good = client.post(url, {"files": [SimpleUploadedFile("截图.png", PNG, content_type="image/png")]})
    assert good.status_code == 302
    fake = SimpleUploadedFile("photo.png", b"MZ\x90\x00 this is an executable", content_type="image/png")
    response = client.post(url, {"files": [fake]})
    assert response.status_code == 400
    assert "不是图片或 PDF" in page(response)
    assert list(Evidence.objects.values_list("original_name", flat=True)) == ["截图.png"]


# ---------------------------------------------------------------------------- where next, the letter


def breach(complaint):
    Complaint.objects.filter(pk=complaint.pk).update(statutory_due=timezone.now() - dt.timedelta(days=1))


def test_before_the_deadline_no_outside_body_is_pushed(client, staff):
    complaint = tracked(client)
    assert 'id="where-next"' not in page(client.get(f"/c/{complaint.tracking_number}/"))


def test_after_a_breach_the_page_names_the_next_body_and_the_letter_is_ready(client, staff):
    complaint = tracked(client, contact_phone="13812345678")
    services.reply(complaint.pk, staff["finance"], "正在核实。")
    breach(complaint)
    url = f"/c/{complaint.tracking_number}/"
    html = page(client.get(url))
    assert 'id="where-next"' in html
    assert "12363" in html  # 人民银行分支机构 for a fee-rate complaint
    assert "部分核实" in html  # its deadline rule's certainty
    assert f'href="{url}letter/?to=pboc"' in html
    letter = page(client.get(url + "letter/?to=pboc"))
    assert complaint.tracking_number in letter and COMPANY in letter
    assert 'id="copy-letter"' in letter and 'id="download-letter"' in letter
    text = client.get(url + "letter.txt?to=pboc")
    assert text["Content-Type"] == "text/plain; charset=utf-8"
    assert "attachment" in text["Content-Disposition"]
    body = text.content.decode()
    assert complaint.tracking_number in body and COMPANY in body
    assert "正在核实" in body  # what the company answered
    assert "0.6%" in body  # an extracted rate
    assert "要求退还多扣的手续费" in body  # what the complainant asks for
    assert "13812345678" not in body and "138****5678" in body


def test_rejecting_the_resolution_shows_where_next(client, staff):
    complaint = tracked(client)
    services.propose_resolution(complaint.pk, staff["finance"], "按0.38%重新计费，不退差额。")
    url = f"/c/{complaint.tracking_number}/"
    client.post(url + "resolution/", {"decision": "reject", "comment": "要退差额"})
    complaint.refresh_from_db()
    assert complaint.status == Status.IN_PROGRESS
    html = page(client.get(url))
    assert 'id="where-next"' in html and "不接受" in html
    letter = page(client.get(url + "letter.txt"))
    assert "本人不接受该方案：要退差额" in letter


def test_a_merchant_is_never_shown_a_consumer_only_body(client, staff):
    # Triaged as unknown (12315 on the ladder), later known to be a merchant: the stored ladder still
    # holds 12315, the portal must filter it out.
    complaint = tracked(client, text=DEPOSIT_TEXT, complainant_type="unknown")
    assert "samr_12315" in [s["id"] for s in complaint.verdict["escalation"]]
    breach(complaint)
    url = f"/c/{complaint.tracking_number}/"
    assert "12315" in page(client.get(url))
    assert client.get(url + "letter/?to=samr_12315").status_code == 200
    Complaint.objects.filter(pk=complaint.pk).update(complainant_type="merchant")
    html = page(client.get(url))
    assert 'id="where-next"' in html
    assert "12315" not in html
    assert client.get(url + "letter/?to=samr_12315").status_code == 404
    assert client.get(url + "letter.txt?to=samr_12315").status_code == 404
