"""End to end in Chromium: a merchant's fee complaint through the portal and the staff console.

Real pages, real JavaScript (the live triage preview), a live server and the test database; the
database is only read at the end, to check what the clicks did.
"""

import re

import pytest
from playwright.sync_api import expect

from tousu_web.complaints.models import Complaint, ComplaintEvent, Role, Status

from .browser import BROWSER_TESTS, has_horizontal_scroll, missing_glyphs, screenshot
from .conftest import FEE_TEXT, make_staff

pytest_plugins = ["tests.web.conftest_browser"]
pytestmark = BROWSER_TESTS

Kind = ComplaintEvent.Kind
PASSWORD = "pw-for-tests-2026"  # make_staff's
REPLY = "您好，已收到您的投诉，正在核对上月的交易流水和费率设置。"
PROPOSAL = "经核实费率设置有误，退还多扣的手续费 126 元，并将费率恢复为 0.38%。"
RATING_COMMENT = "处理及时，问题解决了"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # a quick staff login


def submit_fee_complaint(page):
    """Type the complaint, wait for the live preview, submit; return the tracking number and access code."""
    page.goto("/")
    expect(page).to_have_title(re.compile("我要投诉"))
    heading = page.get_by_role("heading", level=1, name="我要投诉")
    expect(heading).to_be_visible()
    assert missing_glyphs(heading) == [], "Chinese drawn as empty boxes: is a CJK font installed?"
    page.get_by_label("投诉内容").press_sequentially(FEE_TEXT)
    preview = page.locator("#triage-preview")
    expect(preview).to_be_visible()
    expect(preview.locator("#preview-department")).to_contain_text("财务部")
    expect(preview.locator("#preview-category")).not_to_be_empty()
    expect(preview.locator("#preview-evidence li").first).to_be_visible()
    page.get_by_label("商户", exact=True).check()
    page.get_by_role("button", name="提交投诉").click()

    heading = page.get_by_role("heading", level=1, name="投诉已受理")
    expect(heading).to_be_visible()
    assert missing_glyphs(heading) == []
    assert missing_glyphs(page.locator("#handling")) == []
    expect(page.locator("#department")).to_have_text("财务部")
    expect(page.locator("#evidence-needed li").first).to_be_visible()
    tracking = page.locator("#tracking-number").inner_text().strip()
    code = page.locator("#access-code").inner_text().strip()
    assert re.fullmatch(r"TS\d{14}", tracking), tracking
    assert re.fullmatch(r"[A-Z2-9]{8}", code), code
    return tracking, code


def test_a_merchant_fee_complaint_from_submission_to_rating(new_context):
    handler = make_staff("fin1", Role.HANDLER, "finance")

    # The merchant submits on the portal and keeps the tracking number and access code.
    merchant = new_context().new_page()
    tracking, code = submit_fee_complaint(merchant)
    screenshot(merchant, "portal-result")

    # Routed to finance: the finance handler finds it in the console queue.
    staff = new_context().new_page()
    staff.goto("/console/")
    expect(staff.get_by_role("heading", name="员工登录")).to_be_visible()
    staff.get_by_label("用户名").fill(handler.username)
    staff.get_by_label("密码").fill(PASSWORD)
    staff.get_by_role("button", name="登录").click()
    expect(staff.get_by_role("heading", level=1, name="投诉队列")).to_be_visible()
    row = staff.get_by_test_id("queue-row").filter(has_text=tracking)
    expect(row).to_contain_text("财务部")
    expect(row).to_contain_text(handler.username)
    row.get_by_test_id("queue-link").click()

    # The handler replies, then proposes a resolution.
    expect(staff.locator("#tracking-number")).to_have_text(tracking)
    expect(staff.locator("#complaint-department")).to_have_text("财务部")
    staff.locator("#reply-body").fill(REPLY)
    staff.get_by_role("button", name="发送答复").click()
    expect(staff.get_by_test_id("event").and_(staff.locator("[data-kind=reply]"))).to_contain_text(REPLY)
    staff.locator("#propose-body").fill(PROPOSAL)
    staff.get_by_role("button", name="提出方案").click()
    expect(staff.locator("#complaint-status")).to_have_text(Status.RESOLUTION_PROPOSED.label)

    # The merchant, in a new session, opens the tracking page with the number and code.
    merchant = new_context().new_page()
    merchant.goto("/track/")
    merchant.get_by_label("受理编号").fill(tracking)
    merchant.get_by_label("查询码").fill(code)
    merchant.get_by_role("button", name="查询").click()
    expect(merchant.get_by_role("heading", level=1, name="投诉进度")).to_be_visible()
    timeline = merchant.locator("#timeline")
    expect(timeline.locator("[data-kind=reply]")).to_contain_text(REPLY)
    expect(timeline.locator("[data-kind=resolution_proposed]")).to_contain_text(PROPOSAL)
    expect(timeline).not_to_contain_text(handler.username)  # staff names stay inside the company
    expect(merchant.locator("#proposal-text")).to_have_text(PROPOSAL)

    # Accepts, then rates it 5 with a comment.
    merchant.get_by_role("button", name="接受方案").click()
    expect(merchant.locator("#status-name")).to_have_text(Status.RESOLVED.label)
    merchant.get_by_role("radio", name="5 分").check()
    merchant.get_by_label("评价（选填）").fill(RATING_COMMENT)
    merchant.get_by_role("button", name="提交评价").click()
    expect(merchant.locator("#rating-done")).to_contain_text("5 分")
    expect(timeline.locator("[data-kind=rated]")).to_contain_text(RATING_COMMENT)

    complaint = Complaint.objects.get(tracking_number=tracking)
    assert complaint.status == Status.RESOLVED
    assert complaint.rating == 5
    assert complaint.rating_comment == RATING_COMMENT
    assert complaint.department == "finance"
    assert complaint.assignee == handler
    assert complaint.complainant_type == "merchant"
    assert complaint.first_response_at is not None
    kinds = list(complaint.events.order_by("created_at", "id").values_list("kind", flat=True))
    assert kinds == [
        Kind.SUBMITTED,
        Kind.CLASSIFIED,
        Kind.SHARED,  # a third-party machine: channel management assists
        Kind.ASSIGNED,
        Kind.REPLY,
        Kind.RESOLUTION_PROPOSED,
        Kind.RESOLUTION_ACCEPTED,
        Kind.RATED,
    ]


def test_on_a_phone_the_form_fits_and_an_empty_submission_keeps_what_was_typed(new_context):
    page = new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True).new_page()
    page.goto("/")
    expect(page.get_by_role("heading", level=1, name="我要投诉")).to_be_visible()
    assert not has_horizontal_scroll(page), "the submission form scrolls sideways on a 375 px screen"

    page.get_by_label("联系人").fill("张先生")
    page.get_by_label("手机号码").fill("13812345678")
    page.get_by_label("商户号").fill("822100000000001")
    page.get_by_label("商户", exact=True).check()
    page.get_by_role("button", name="提交投诉").click()

    expect(page.locator("#text-error")).to_have_text("请填写投诉内容")
    expect(page.locator("#form-error")).to_be_visible()
    expect(page.get_by_label("联系人")).to_have_value("张先生")
    expect(page.get_by_label("手机号码")).to_have_value("13812345678")
    expect(page.get_by_label("商户号")).to_have_value("822100000000001")
    expect(page.get_by_label("商户", exact=True)).to_be_checked()
    assert not has_horizontal_scroll(page)

    page.get_by_label("投诉内容").fill(FEE_TEXT)
    page.get_by_role("button", name="提交投诉").click()
    expect(page.get_by_role("heading", level=1, name="投诉已受理")).to_be_visible()
    expect(page.locator("#access-code")).to_have_text(re.compile(r"^[A-Z2-9]{8}$"))
    assert not has_horizontal_scroll(page), "the result page scrolls sideways on a 375 px screen"
    complaint = Complaint.objects.get()
    assert (complaint.contact_name, complaint.merchant_number) == ("张先生", "822100000000001")
