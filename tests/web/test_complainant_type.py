"""Correcting the complainant type (consumer or merchant) from the console: the outside bodies follow.

The knowledge base's escalation ladder decides which bodies take which complainant: 12315 (market
regulation) and the card-issuing bank take consumers only, so a deposit complaint from a merchant has
neither, and gets them back once a handler corrects the type to consumer.
"""

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from tousu_web.complaints import letters, services
from tousu_web.complaints.models import Complaint, ComplaintEvent, Role

from .conftest import make_staff

Kind = ComplaintEvent.Kind
DEPOSIT_TEXT = "押金299元说好刷满3万就退，我都刷了5万了，客服一直说在审核，要求退押金。"
CONSUMER_ONLY = "samr_12315"


@pytest.fixture(autouse=True)
def fresh_rate_limits(db):
    cache.clear()  # rate counts live in the database cache, which a transactional test leaves behind


def submit(complainant_type):
    complaint, code = services.submit(DEPOSIT_TEXT, complainant_type=complainant_type, contact_phone="13812345678")
    assert complaint.category == "deposit_refund"
    return complaint, code


def bodies(complaint) -> list[str]:
    complaint.refresh_from_db()
    return [b["id"] for b in letters.outside_bodies(complaint)]


def console(user):
    client = Client()
    client.force_login(user)
    return client


def correct(client, complaint, complainant_type, reason="来电核实为个体消费者，非商户", version=None):
    complaint.refresh_from_db()
    data = {"complainant_type": complainant_type, "reason": reason, "version": version or complaint.version}
    return client.post(f"/console/c/{complaint.tracking_number}/do/complainant_type/", data)


def overdue(complaint):
    Complaint.objects.filter(pk=complaint.pk).update(statutory_due=timezone.now() - dt.timedelta(days=1))


def test_a_merchant_corrected_to_a_consumer_gets_the_consumer_bodies_back(staff):
    complaint, code = submit("merchant")
    assert CONSUMER_ONLY not in bodies(complaint)
    client = console(staff["finance"])
    page = client.get(f"/console/c/{complaint.tracking_number}/").content.decode()
    assert 'id="action-complainant_type"' in page
    response = correct(client, complaint, "consumer")
    assert response.status_code == 302
    complaint.refresh_from_db()
    assert complaint.complainant_type == "consumer"
    assert bodies(complaint) == ["pboc", "pcac", "samr_12315", "mediation", "court"]
    event = complaint.events.get(kind=Kind.COMPLAINANT_CORRECTED)
    assert event.actor == staff["finance"] and event.public
    assert event.data == {"old": "merchant", "new": "consumer"}
    assert "由「商户」更正为「个人消费者」" in event.body and "来电核实为个体消费者" in event.body

    # The complainant sees the corrected bodies: on the portal once the deadline passed, and in the API.
    overdue(complaint)
    portal = Client()
    portal.post("/track/", {"tracking_number": complaint.tracking_number, "access_code": code})
    assert "12315" in portal.get(f"/c/{complaint.tracking_number}/").content.decode()
    assert portal.get(f"/c/{complaint.tracking_number}/letter/?to={CONSUMER_ONLY}").status_code == 200
    api = Client().get(f"/api/v1/complaints/{complaint.tracking_number}", headers={"X-Access-Code": code})
    assert CONSUMER_ONLY in [step["id"] for step in api.json()["next_steps"]]
    assert api.json()["timeline"][-1]["kind"] == Kind.COMPLAINANT_CORRECTED


def test_a_consumer_corrected_to_a_merchant_loses_the_consumer_only_bodies(staff):
    complaint, code = submit("consumer")
    assert CONSUMER_ONLY in bodies(complaint)
    assert correct(console(staff["supervisor"]), complaint, "merchant", reason="营业执照显示为商户").status_code == 302
    assert bodies(complaint) == ["pboc", "pcac", "mediation", "court"]
    overdue(complaint)
    portal = Client()
    portal.post("/track/", {"tracking_number": complaint.tracking_number, "access_code": code})
    assert portal.get(f"/c/{complaint.tracking_number}/letter/?to={CONSUMER_ONLY}").status_code == 404


def test_compliance_may_correct_and_an_agent_may_not(staff):
    complaint, _ = submit("merchant")
    agent = console(make_staff("agent1", Role.AGENT, "finance"))
    assert 'id="action-complainant_type"' not in agent.get(f"/console/c/{complaint.tracking_number}/").content.decode()
    refused = correct(agent, complaint, "consumer")
    assert refused.status_code == 403
    assert "只有部门处理人、投诉主管和合规专员可以更正投诉人类型" in refused.content.decode()
    assert Complaint.objects.get(pk=complaint.pk).complainant_type == "merchant"
    assert correct(console(staff["compliance"]), complaint, "consumer").status_code == 302


@pytest.mark.parametrize(
    "complainant_type, reason, status, message",
    [
        ("merchant", "再次确认", 400, "投诉人类型已是「商户」"),
        ("consumer", "   ", 400, "更正投诉人类型需要填写理由"),
        ("unknown", "不清楚", 400, "投诉人类型：选择一个有效的选项"),  # the console offers consumer and merchant
        ("robot", "试试", 400, "投诉人类型：选择一个有效的选项"),
    ],
)
def test_a_refused_correction_is_a_400_with_its_message_and_changes_nothing(
    staff, complainant_type, reason, status, message
):
    complaint, _ = submit("merchant")
    response = correct(console(staff["finance"]), complaint, complainant_type, reason=reason)
    assert response.status_code == status
    assert message in re.search(r'id="action-error"[^>]*>([^<]*)<', response.content.decode()).group(1)
    assert Complaint.objects.get(pk=complaint.pk).complainant_type == "merchant"
    assert not complaint.events.filter(kind=Kind.COMPLAINANT_CORRECTED).exists()


def test_the_service_refuses_with_stable_codes(staff):
    complaint, _ = submit("merchant")
    cases = [
        (staff["finance"], "unknown", "理由", "complainant_type_invalid"),
        (staff["finance"], "merchant", "理由", "complainant_type_unchanged"),
        (staff["finance"], "consumer", "", "reason_required"),
        (make_staff("agent1", Role.AGENT, "finance"), "consumer", "理由", "forbidden"),
    ]
    for user, complainant_type, reason, code in cases:
        with pytest.raises(services.ServiceError) as error:
            services.correct_complainant_type(complaint.pk, user, complainant_type, reason)
        assert error.value.code == code and 400 <= error.value.status < 500
        assert re.search(r"[\u4e00-\u9fff]", error.value.message)


def test_a_stale_page_cannot_correct_the_type(staff):
    complaint, _ = submit("merchant")
    seen = complaint.version
    services.add_note(complaint.pk, staff["finance"], "已致电")
    services.reply(complaint.pk, staff["finance"], "正在核实")
    response = correct(console(staff["finance"]), complaint, "consumer", version=seen)
    assert response.status_code == 409
    assert Complaint.objects.get(pk=complaint.pk).complainant_type == "merchant"
