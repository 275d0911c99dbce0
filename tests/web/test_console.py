import datetime as dt
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tousu_web.complaints import console, evidence, services
from tousu_web.complaints.models import (
    CategoryCorrection,
    Complaint,
    ComplaintEvent,
    ComplaintShare,
    ExtensionRequest,
    Partner,
    ReplyTemplate,
    Role,
    Status,
)

from .conftest import FEE_TEXT, make_staff

Kind = ComplaintEvent.Kind
PASSWORD = "pw-for-tests-2026"
FREEZE_TEXT = "我的商户账户突然被冻结了，说是风控审核，资金一直不给结算，已经三天了"
DEPOSIT_TEXT = "押金299元说好刷满3万就退，我都刷了5万了，客服一直说在审核，要求退押金"
CONFLICT = "该投诉已被他人更新，请刷新页面后再操作"


@pytest.fixture(autouse=True)
def fresh_cache(db):
    cache.clear()  # rate counts live in the database cache, which a transactional test leaves behind


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Autouse fixtures run first, so the ``staff`` users are hashed cheaply too."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def partner(db):
    return Partner.objects.create(name="星河支付服务有限公司", contact_email="partner@example.com", region="华东")


def submit(text=FEE_TEXT, **kwargs):
    complaint, _ = services.submit(text, **kwargs)
    return complaint


def as_user(client, user):
    client.force_login(user)
    return client


def url(complaint, suffix=""):
    return f"/console/c/{complaint.tracking_number}/{suffix}"


def act(client, complaint, action, **data):
    complaint.refresh_from_db()
    data.setdefault("version", complaint.version)
    return client.post(url(complaint, f"do/{action}/"), data)


def rows(response) -> list[str]:
    return re.findall(r'data-testid="queue-row" data-tracking="([^"]+)"', response.content.decode())


def set_due(complaint, due):
    Complaint.objects.filter(pk=complaint.pk).update(statutory_due=due)


# ---------------------------------------------------------------------------- login


def test_every_page_needs_a_login(client, staff):
    complaint = submit()
    for path in ("/console/", url(complaint), "/console/partners/", "/console/feedback.jsonl"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/?next=")
    response = client.post(url(complaint, "do/note/"), {"body": "x", "version": 1})
    assert response.status_code == 302
    assert not complaint.events.filter(kind=Kind.NOTE).exists()


def test_staff_log_in_and_out(client, staff):
    response = client.post("/console/login/", {"username": "fin1", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    assert client.get("/console/logout/").status_code == 405  # logging out is a POST
    assert client.post("/console/logout/").status_code == 302
    assert client.get("/console/").status_code == 302


def test_a_user_without_a_staff_profile_is_refused(client, staff):
    outsider = get_user_model().objects.create_user("outsider", password=PASSWORD)
    response = client.post("/console/login/", {"username": "outsider", "password": PASSWORD})
    assert response.status_code == 200
    assert "不是投诉处理人员" in response.content.decode()
    assert "_auth_user_id" not in client.session
    client.force_login(outsider)  # e.g. signed in elsewhere
    response = client.get("/console/")
    assert response.status_code == 403
    assert "仅限投诉处理人员" in response.content.decode()


def test_login_is_throttled_per_address_after_too_many_failures(client, staff, settings):
    settings.TOUSU_LOGIN_RATE = 3
    for _ in range(3):
        assert client.post("/console/login/", {"username": "fin1", "password": "wrong"}).status_code == 200
    refused = client.post("/console/login/", {"username": "fin1", "password": PASSWORD})
    assert refused.status_code == 429
    assert "登录失败次数过多" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    other = client.post("/console/login/", {"username": "fin1", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 302


# ---------------------------------------------------------------------------- visibility


def test_a_handler_sees_their_department_and_shared_complaints_only(client, staff):
    fee = submit()  # finance, shared with channel management (third-party machine)
    freeze = submit(FREEZE_TEXT)  # risk
    assert (fee.department, freeze.department) == ("finance", "risk")

    as_user(client, staff["finance"])
    assert rows(client.get("/console/")) == [fee.tracking_number]
    assert client.get(url(fee)).status_code == 200
    assert client.get(url(freeze)).status_code == 404
    assert act(client, freeze, "note", body="猜编号").status_code == 404
    assert not freeze.events.filter(kind=Kind.NOTE).exists()

    as_user(client, staff["channel"])
    assert rows(client.get("/console/")) == [fee.tracking_number]
    assert client.get(url(fee)).status_code == 200

    as_user(client, staff["risk"])
    assert rows(client.get("/console/")) == [freeze.tracking_number]
    assert client.get(url(fee)).status_code == 404
    assert client.get(url(fee).replace(fee.tracking_number, "TS20260101000000")).status_code == 404


def test_supervisors_and_compliance_see_everything(client, staff):
    fee, freeze = submit(), submit(FREEZE_TEXT)
    for who in ("supervisor", "compliance"):
        as_user(client, staff[who])
        assert sorted(rows(client.get("/console/"))) == sorted([fee.tracking_number, freeze.tracking_number])
        assert client.get(url(freeze)).status_code == 200


# ---------------------------------------------------------------------------- queue


def test_the_queue_is_sorted_by_statutory_deadline_with_time_left(client, staff):
    now = timezone.now()
    later, overdue, soon = submit(), submit(), submit()
    set_due(later, now + dt.timedelta(days=10, hours=1))
    set_due(overdue, now - dt.timedelta(days=2, hours=1))
    set_due(soon, now + dt.timedelta(hours=30))
    response = as_user(client, staff["supervisor"]).get("/console/")
    assert rows(response) == [overdue.tracking_number, soon.tracking_number, later.tracking_number]
    html = response.content.decode()
    assert "已超期 2 天" in html and "剩余 1 天" in html and "剩余 10 天" in html
    assert html.count('class="left urgent"') == 2


def test_time_left_is_red_under_48_hours_and_counts_overdue_days():
    now = timezone.now()
    assert console.time_left(now + dt.timedelta(days=3, hours=2), now, True) == ("剩余 3 天", False)
    assert console.time_left(now + dt.timedelta(hours=47), now, True) == ("剩余 1 天", True)
    assert console.time_left(now + dt.timedelta(hours=5), now, True) == ("剩余 5 小时", True)
    assert console.time_left(now - dt.timedelta(days=2, hours=3), now, True) == ("已超期 2 天", True)
    assert console.time_left(now - dt.timedelta(days=2), now, False) == ("已办结", False)


@pytest.mark.parametrize(
    "query, expected",
    [
        (lambda c: c["target"].tracking_number, "target"),
        (lambda c: c["target"].tracking_number.lower(), "target"),
        (lambda c: "822100000000042", "target"),
        (lambda c: "13812345678", "target"),
        (lambda c: "138-1234-5678", "target"),
        (lambda c: "押金", "deposit"),
        (lambda c: "风控审核", "freeze"),
    ],
    ids=["tracking", "tracking-lowercase", "merchant", "phone", "phone-with-dashes", "text", "text-2"],
)
def test_search_finds_by_tracking_merchant_phone_and_chinese_text(client, staff, query, expected):
    found = {
        "target": submit(merchant_number="822100000000042", contact_phone="13812345678"),
        "deposit": submit(DEPOSIT_TEXT, contact_phone="13900000000"),
        "freeze": submit(FREEZE_TEXT, merchant_number="822100000000777"),
    }
    response = as_user(client, staff["supervisor"]).get("/console/", {"q": query(found)})
    assert rows(response) == [found[expected].tracking_number]


def test_a_partial_phone_number_finds_nothing(client, staff):
    submit(contact_phone="13812345678")
    assert rows(as_user(client, staff["supervisor"]).get("/console/", {"q": "1381234"})) == []


def test_queue_filters(client, staff):
    now = timezone.now()
    mine = submit(merchant_number="822100000000001")  # assigned to fin1 (lowest id, no load)
    repeat = submit(merchant_number="822100000000001")  # fin2, linked as a repeat of ``mine``
    freeze = submit(FREEZE_TEXT)
    closed = submit(DEPOSIT_TEXT)
    services.close(closed.pk, staff["supervisor"], "已退押金")
    Complaint.objects.filter(pk=freeze.pk).update(needs_review=True, statutory_due=now - dt.timedelta(days=1))
    assert mine.assignee == staff["finance"] and repeat.repeat_of == mine

    client = as_user(client, staff["finance"])
    assert set(rows(client.get("/console/", {"mine": "on"}))) == {mine.tracking_number}
    client = as_user(client, staff["supervisor"])

    def tracked(**params):
        return set(rows(client.get("/console/", params)))

    assert tracked() == {mine.tracking_number, repeat.tracking_number, freeze.tracking_number}
    assert tracked(department="risk") == {freeze.tracking_number}
    assert tracked(category="risk_freeze") == {freeze.tracking_number}
    assert tracked(needs_review="on") == {freeze.tracking_number}
    assert tracked(overdue="on") == {freeze.tracking_number}
    assert tracked(repeat="on") == {repeat.tracking_number}
    assert tracked(status="closed") == {closed.tracking_number}
    assert closed.tracking_number in tracked(status="all")
    assert tracked(q=closed.tracking_number) == {closed.tracking_number}  # a search also finds closed ones
    assert tracked(mine="on") == set()  # nothing is assigned to the supervisor


def make_many(count, staff, partner):
    now = timezone.now()
    departments = ["finance", "risk", "channel"]
    complaints = Complaint.objects.bulk_create(
        Complaint(
            tracking_number=f"TS20260101{i:06d}",
            access_code_hash="x",
            text=f"第{i}件投诉，费率被上调",
            text_masked=f"第{i}件投诉，费率被上调",
            category="fee_rate",
            predicted_category="fee_rate",
            department=departments[i % 3],
            assignee=staff["finance"] if i % 3 == 0 else staff["risk"],
            partner=partner if i % 2 else None,
            status=Status.ASSIGNED,
            received_at=now,
            statutory_due=now + dt.timedelta(hours=i),
            statutory_rule="direct_complaint",
        )
        for i in range(count)
    )
    ComplaintShare.objects.bulk_create(
        ComplaintShare(complaint=c, department="finance") for c in complaints if c.department == "risk"
    )


def test_the_queue_makes_a_bounded_number_of_queries(client, staff, partner, django_assert_max_num_queries):
    make_many(150, staff, partner)
    for who, expected in (("finance", 100), ("supervisor", 150)):
        as_user(client, staff[who])
        with django_assert_max_num_queries(8):
            response = client.get("/console/")
        assert len(rows(response)) == 50
        assert f"共 {expected} 件" in response.content.decode()
        with django_assert_max_num_queries(8):
            assert len(rows(client.get("/console/", {"page": 2}))) == 50


# ---------------------------------------------------------------------------- complaint page


def test_the_page_shows_classification_deadlines_and_the_whole_timeline(client, staff, partner):
    complaint = submit(partner=partner)
    services.add_note(complaint.pk, staff["finance"], "内部：先查合同")
    html = as_user(client, staff["finance"]).get(url(complaint)).content.decode()
    assert "费率/手续费" in html and "置信度" in html
    assert "按路由表" in html  # the reasons
    assert "0.38" in html  # an extracted fact
    assert "渠道管理部" in html  # the share
    assert partner.name in html
    assert "法定期限" in html and "内部目标" in html
    assert "内部：先查合同" in html and "内部</span>" in html
    assert html.count('data-testid="event"') == complaint.events.count()


def test_the_text_is_masked_by_default_and_revealing_it_is_recorded(client, staff):
    text = FEE_TEXT + "，我的电话13812345678，身份证110101199003074514"
    complaint = submit(text, contact_phone="13912345678")
    services.complainant_reply(complaint.pk, "新号码13700001111")
    verdict = complaint.verdict  # as stored by an older triage that kept facts and cues unmasked
    verdict["facts"]["phone"] = [{"value": "13812345678", "text": "13812345678"}]
    verdict["cues"].append("电话13812345678")
    Complaint.objects.filter(pk=complaint.pk).update(verdict=verdict)
    for who in ("finance", "supervisor"):
        response = as_user(client, staff[who]).get(url(complaint))
        assert "no-store" in response["Cache-Control"]  # personal data stays out of browser caches
        html = response.content.decode()
        for secret in ("13812345678", "110101199003074514", "13912345678", "13700001111"):
            assert secret not in html
        assert "138****5678" in html
    assert 'id="reveal-button"' in html  # the supervisor may reveal

    as_user(client, staff["finance"])
    assert 'id="reveal-button"' not in client.get(url(complaint)).content.decode()
    assert client.post(url(complaint, "reveal/")).status_code == 403
    assert not complaint.events.filter(kind=Kind.NOTE).exists()

    revealed = as_user(client, staff["supervisor"]).post(url(complaint, "reveal/"))
    assert revealed.status_code == 200
    assert "13812345678" in revealed.content.decode()
    assert complaint.events.filter(kind=Kind.TEXT_REVEALED, actor=staff["supervisor"], body__contains="原文").exists()


def test_evidence_is_listed_and_downloadable_by_staff_who_see_the_complaint(client, staff, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    complaint = submit()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    [item] = evidence.add_evidence(complaint, [SimpleUploadedFile("账单.png", png)], "投诉人")
    html = as_user(client, staff["finance"]).get(url(complaint)).content.decode()
    assert "账单.png" in html and item.sha256 in html
    download = client.get(url(complaint, f"evidence/{item.pk}/"))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == png
    assert as_user(client, staff["risk"]).get(url(complaint, f"evidence/{item.pk}/")).status_code == 404


def test_reply_templates_are_offered_for_the_category(client, staff):
    ReplyTemplate.objects.create(title="费率核实", category="fee_rate", body="您好，已核实费率")
    ReplyTemplate.objects.create(title="补充材料", category="", body="请补充交易明细")
    ReplyTemplate.objects.create(title="押金退还", category="deposit_refund", body="押金将退回")
    html = as_user(client, staff["finance"]).get(url(submit())).content.decode()
    assert 'data-body="您好，已核实费率"' in html and "补充材料" in html
    assert "押金退还" not in html
    assert 'id="reply-template" data-fills="reply-body"' in html


# ---------------------------------------------------------------------------- actions


def regulator_case(staff, partner):
    return submit(intake="regulator", regulator_reference="银转〔2026〕1号")


def closed(staff, partner):
    complaint = submit()
    services.close(complaint.pk, staff["finance"], "已处理")
    return complaint


def with_extension(staff, partner):
    complaint = submit()
    services.request_extension(complaint.pk, staff["finance"], 5, "需调取银行流水")
    return complaint


def with_visit(staff, partner):
    complaint = submit()
    services.book_visit(complaint.pk, staff["finance"], dt.date(2026, 12, 1), "上海市某路1号", "刘师傅")
    return complaint


def with_partner(staff, partner):
    complaint = submit()
    services.request_partner(complaint.pk, staff["finance"], partner, "请说明费率承诺")
    return complaint


def fee(staff, partner):
    return submit()


ACTION_CASES = [
    ("assign", fee, "finance", lambda s, c, p: {"assignee": s["finance2"].pk}, Kind.ASSIGNED),
    ("transfer", fee, "finance", lambda s, c, p: {"department": "risk", "reason": "涉及风控"}, Kind.TRANSFERRED),
    ("share", fee, "finance", lambda s, c, p: {"department": "risk", "reason": "核查交易"}, Kind.SHARED),
    ("note", fee, "finance", lambda s, c, p: {"body": "已致电商户"}, Kind.NOTE),
    ("reply", fee, "finance", lambda s, c, p: {"body": "已收到，正在核实"}, Kind.REPLY),
    ("request_info", fee, "finance", lambda s, c, p: {"body": "请补充交易明细"}, Kind.INFO_REQUESTED),
    ("propose", fee, "finance", lambda s, c, p: {"body": "退还多扣手续费126元"}, Kind.RESOLUTION_PROPOSED),
    ("close", fee, "finance", lambda s, c, p: {"body": "已退款"}, Kind.CLOSED),
    ("reopen", closed, "finance", lambda s, c, p: {"reason": "商户称未到账"}, Kind.REOPENED),
    ("escalate", fee, "finance", lambda s, c, p: {"reason": "金额较大"}, Kind.ESCALATED),
    (
        "correct",
        fee,
        "finance",
        lambda s, c, p: {"category": "hidden_charge", "reason": "是隐性扣费"},
        Kind.CATEGORY_CORRECTED,
    ),
    ("extension", fee, "finance", lambda s, c, p: {"days": 5, "reason": "需调取银行流水"}, Kind.EXTENSION_REQUESTED),
    (
        "decide_extension",
        with_extension,
        "supervisor",
        lambda s, c, p: {"request": c.extensions.get().pk, "decision": "approve"},
        Kind.EXTENSION_DECIDED,
    ),
    (
        "visit",
        fee,
        "finance",
        lambda s, c, p: {"scheduled_for": "2026-12-01", "address": "上海市某路1号", "technician": "刘师傅"},
        Kind.VISIT,
    ),
    (
        "visit_outcome",
        with_visit,
        "finance",
        lambda s, c, p: {"visit": c.visits.get().pk, "outcome": "已换机"},
        Kind.VISIT,
    ),
    ("partner_request", fee, "finance", lambda s, c, p: {"partner": p.pk, "body": "请说明"}, Kind.PARTNER_REQUESTED),
    ("partner_reply", with_partner, "finance", lambda s, c, p: {"body": "业务员已离职"}, Kind.PARTNER_REPLY),
    ("regulator_reply", regulator_case, "compliance", lambda s, c, p: {"body": "已答复人民银行"}, Kind.REGULATOR_REPLY),
]


@pytest.mark.parametrize("action, make, who, data, kind", ACTION_CASES, ids=[case[0] for case in ACTION_CASES])
def test_each_action_works_through_the_page_and_writes_its_event(client, staff, partner, action, make, who, data, kind):
    complaint = make(staff, partner)
    user = staff[who]
    page = as_user(client, user).get(url(complaint)).content.decode()
    assert f'id="action-{action}' in page  # the page offers the form
    before = complaint.events.filter(kind=kind, actor=user).count()
    response = act(client, complaint, action, **data(staff, complaint, partner))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert complaint.events.filter(kind=kind, actor=user).count() == before + 1


def test_a_transfer_out_of_the_department_returns_to_the_queue(client, staff):
    complaint = submit()
    response = act(as_user(client, staff["finance"]), complaint, "transfer", department="risk", reason="风控冻结")
    assert response.status_code == 302 and response["Location"] == "/console/"
    complaint.refresh_from_db()
    assert complaint.department == "risk" and complaint.assignee == staff["risk"]


def test_an_illegal_transition_is_a_409_with_its_message(client, staff):
    complaint = submit()
    response = act(as_user(client, staff["finance"]), complaint, "reopen", reason="再看看")
    assert response.status_code == 409
    assert "不能执行此操作" in response.content.decode()
    assert not complaint.events.filter(kind=Kind.REOPENED).exists()


def test_a_refused_change_shows_the_services_message_with_a_400(client, staff):
    complaint = submit()
    client = as_user(client, staff["finance"])
    response = act(client, complaint, "transfer", department="risk", reason="  ")
    assert response.status_code == 400
    assert "转办需要填写理由" in response.content.decode()
    response = act(client, complaint, "extension", days="很多", reason="需调取银行流水")
    assert response.status_code == 400
    assert "延长天数" in response.content.decode()
    assert act(client, complaint, "no_such_action", body="x").status_code == 404
    complaint.refresh_from_db()
    assert complaint.department == "finance"


def test_a_stale_page_cannot_overwrite_a_newer_change(client, staff):
    complaint = submit()
    seen = complaint.version
    first = as_user(client, staff["finance"])
    assert act(first, complaint, "reply", body="第一位处理人的答复", version=seen).status_code == 302

    from django.test import Client

    second = as_user(Client(), staff["finance2"])
    response = act(second, complaint, "propose", body="基于旧页面的方案", version=seen)
    assert response.status_code == 409
    html = response.content.decode()
    assert CONFLICT in html
    assert "基于旧页面的方案" in html  # the draft is kept for a second try
    response = act(second, complaint, "correct", category="hidden_charge", version=seen)
    assert response.status_code == 409
    complaint.refresh_from_db()
    assert complaint.status == Status.IN_PROGRESS and complaint.category == "fee_rate"
    assert not complaint.events.filter(kind=Kind.RESOLUTION_PROPOSED).exists()
    assert not CategoryCorrection.objects.exists()


def test_only_the_complaint_head_approves_an_extension(client, staff):
    complaint = submit()
    due = complaint.statutory_due
    client = as_user(client, staff["finance"])
    assert act(client, complaint, "extension", days=5, reason="需调取银行流水").status_code == 302
    request = complaint.extensions.get()
    assert 'id="action-decide_extension' not in client.get(url(complaint)).content.decode()
    refused = act(client, complaint, "decide_extension", request=request.pk, decision="approve")
    assert refused.status_code == 403
    request.refresh_from_db()
    assert request.decision == ExtensionRequest.Decision.PENDING

    client = as_user(client, staff["supervisor"])
    assert f'id="action-decide_extension-{request.pk}-approve"' in client.get(url(complaint)).content.decode()
    assert act(client, complaint, "decide_extension", request=request.pk, decision="approve").status_code == 302
    complaint.refresh_from_db()
    assert complaint.statutory_due == due + dt.timedelta(days=5)
    assert complaint.events.filter(kind=Kind.EXTENSION_DECIDED, public=True).exists()


def test_a_correction_through_the_page_is_exported_as_training_feedback(client, staff):
    complaint = submit()
    client = as_user(client, staff["supervisor"])
    response = act(
        client, complaint, "correct", category="agent_misconduct", channel="third_party", reason="转给业务员"
    )
    assert response.status_code == 302
    complaint.refresh_from_db()
    assert complaint.department == "channel"  # routing follows the corrected category
    export = client.get("/console/feedback.jsonl")
    assert export.status_code == 200
    assert export["Content-Type"].startswith("application/x-ndjson")
    [line] = export.content.decode().splitlines()
    row = json.loads(line)
    assert row["category"] == "agent_misconduct" and row["channel"] == "third_party"
    assert row["text"] == complaint.text_masked
    assert row["source"] == f"correction:{complaint.tracking_number}"
    assert as_user(client, staff["finance"]).get("/console/feedback.jsonl").status_code == 403


# ---------------------------------------------------------------------------- partners


def test_partners_list_counts_and_partner_page(client, staff, partner):
    open_one = submit(partner=partner)
    done = submit(partner=partner)
    submit(FREEZE_TEXT, partner=partner)  # risk: invisible to a finance handler
    services.close(done.pk, staff["supervisor"], "已处理")
    Partner.objects.create(name="顺达商务代理")

    def counts(html):
        return re.findall(r'data-testid="partner-open">(\d+)<.*?data-testid="partner-total">(\d+)<', html, re.S)

    client = as_user(client, staff["supervisor"])
    assert counts(client.get("/console/partners/").content.decode()) == [("2", "3"), ("0", "0")]
    page = client.get(f"/console/partners/{partner.pk}/")
    assert len(rows(page)) == 3
    client = as_user(client, staff["finance"])
    assert counts(client.get("/console/partners/").content.decode()) == [("1", "2"), ("0", "0")]
    assert set(rows(client.get(f"/console/partners/{partner.pk}/"))) == {open_one.tracking_number, done.tracking_number}


def test_an_agent_sees_their_department_queue(client, staff):
    agent = make_staff("agent1", Role.AGENT, "finance")
    complaint = submit()
    assert rows(as_user(client, agent).get("/console/")) == [complaint.tracking_number]


def test_staff_enter_a_regulator_transfer_that_goes_to_compliance_on_the_regulators_date(client, staff):
    as_user(client, staff["compliance"])
    data = {
        "intake": "regulator",
        "text": "商户反映代理商承诺费率0.38，实际被扣0.6%，人民银行转办",
        "complainant_type": "merchant",
        "regulator_reference": "银转〔2026〕88号",
        "regulator_due": "2026-12-05",
    }
    missing = client.post("/console/new/", {**data, "regulator_reference": ""})
    assert missing.status_code == 400
    assert "转办文号" in missing.content.decode()
    response = client.post("/console/new/", data)
    assert response.status_code == 302
    from tousu_web.complaints.models import Complaint

    complaint = Complaint.objects.get()
    assert complaint.intake == "regulator" and complaint.department == "compliance"
    assert complaint.regulator_reference == "银转〔2026〕88号"
    assert complaint.statutory_due.astimezone(timezone.get_current_timezone()).date() == dt.date(2026, 12, 5)


def test_a_hotline_complaint_is_triaged_and_routed_like_any_other(client, staff):
    as_user(client, staff["supervisor"])
    response = client.post("/console/new/", {"intake": "hotline", "text": FEE_TEXT, "complainant_type": "merchant"})
    assert response.status_code == 302
    from tousu_web.complaints.models import Complaint

    assert Complaint.objects.get().department == "finance"
