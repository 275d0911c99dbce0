import datetime as dt

import pytest
from django.utils import timezone

from tousu_web.complaints import services
from tousu_web.complaints.models import AppendOnlyError, ComplaintEvent, Outbox, Status, Webhook
from tousu_web.complaints.services import ServiceError

from .conftest import FEE_TEXT

Kind = ComplaintEvent.Kind


def submit(**kwargs):
    return services.submit(kwargs.pop("text", FEE_TEXT), **kwargs)


def kinds(complaint):
    return list(complaint.events.values_list("kind", flat=True))


def test_a_submission_is_routed_assigned_and_recorded(staff):
    complaint, code = submit(contact_phone="13812345678", complainant_type="merchant")
    assert complaint.category == "fee_rate"
    assert complaint.department == "finance"
    assert complaint.assignee == staff["finance"]
    assert complaint.status == Status.ASSIGNED
    assert services.check_access_code(complaint, code) is True
    assert services.check_access_code(complaint, "WRONG123") is False
    assert kinds(complaint)[:2] == [Kind.SUBMITTED, Kind.CLASSIFIED]
    assert "13812345678" not in complaint.text_masked
    assert Outbox.objects.filter(complaint=complaint, channel="sms").count() == 1


def test_third_party_machines_are_shared_with_channel_management(staff):
    complaint, _ = submit()
    assert complaint.channel == "third_party"
    assert list(complaint.shares.values_list("department", flat=True)) == ["channel"]


def test_assignment_balances_load_and_skips_absent_staff(staff):
    first, _ = submit()
    second, _ = submit()
    assert {first.assignee, second.assignee} == {staff["finance"], staff["finance2"]}
    staff["finance2"].staff.absent = True
    staff["finance2"].staff.save()
    third, _ = submit()
    assert third.assignee == staff["finance"]


def test_a_repeat_complaint_is_linked_to_the_open_one(staff):
    first, _ = submit(merchant_number="822100000000001")
    second, _ = submit(merchant_number="822100000000001")
    other, _ = submit(merchant_number="822100000000999")
    assert second.repeat_of == first
    assert other.repeat_of is None
    assert Kind.REPEAT_LINKED in kinds(second)


def test_a_submission_takes_one_statement_per_table(staff, django_assert_max_num_queries):
    # The hottest path (bench/bench_http.py). Here: the key's lookup, then in a savepoint the earlier
    # complaint, the assignee, the complaint, its share, its events, the webhooks, the outbox, the key's record.
    first, _ = submit(merchant_number="822100000000001")
    Webhook.objects.create(url="https://example.com/hook", secret="s")
    fields = {"merchant_number": "822100000000001", "contact_phone": "13812345678", "contact_email": "z@example.com"}
    with django_assert_max_num_queries(11):
        complaint, _ = services.submit_once("anonymous", "k", FEE_TEXT, **fields)
    assert complaint.repeat_of == first
    assert complaint.assignee == staff["finance2"]  # finance holds the first complaint
    assert kinds(complaint) == [Kind.SUBMITTED, Kind.CLASSIFIED, Kind.SHARED, Kind.REPEAT_LINKED, Kind.ASSIGNED]
    channels = Outbox.objects.filter(complaint=complaint).values_list("channel", flat=True)
    assert sorted(channels) == ["email", "sms", "webhook"]
    assert services.submit_once("anonymous", "k", FEE_TEXT, **fields)[0] == complaint


def test_the_happy_path_from_reply_to_rating(staff):
    complaint, _ = submit()
    handler = complaint.assignee
    services.reply(complaint.pk, handler, "已收到，正在核实")
    services.propose_resolution(complaint.pk, handler, "退还多扣手续费 126 元")
    services.respond_to_resolution(complaint.pk, accept=True)
    services.close(complaint.pk, handler, "已退款")
    services.rate(complaint.pk, 5, "满意")
    complaint.refresh_from_db()
    assert complaint.status == Status.CLOSED
    assert complaint.rating == 5
    assert complaint.first_response_at is not None
    with pytest.raises(ServiceError) as error:
        services.rate(complaint.pk, 4)
    assert error.value.code == "already_rated"


def test_illegal_transitions_are_refused_with_a_message(staff):
    complaint, _ = submit()
    with pytest.raises(ServiceError) as error:
        services.respond_to_resolution(complaint.pk, accept=True)
    assert error.value.code == "transition_not_allowed"
    assert error.value.status == 409
    assert "不能执行" in error.value.message


def test_a_stale_version_cannot_overwrite_a_newer_change(staff):
    complaint, _ = submit()
    seen = complaint.version
    services.reply(complaint.pk, staff["finance"], "第一位处理人的答复", version=seen)
    with pytest.raises(ServiceError) as error:
        services.propose_resolution(complaint.pk, staff["finance2"], "基于旧页面的方案", version=seen)
    assert error.value.code == "version_conflict"


def test_waiting_for_the_complainant_pauses_internal_targets_not_the_statutory_clock(staff):
    complaint, _ = submit()
    statutory, target = complaint.statutory_due, complaint.resolution_target_due
    services.request_info(complaint.pk, complaint.assignee, "请补充交易明细")
    complaint.refresh_from_db()
    complaint.paused_at -= dt.timedelta(days=2)  # as if the complainant took two days
    complaint.save(update_fields=["paused_at"])
    services.complainant_reply(complaint.pk, "明细已上传")
    complaint.refresh_from_db()
    assert complaint.statutory_due == statutory
    assert complaint.resolution_target_due - target >= dt.timedelta(days=2)
    assert complaint.status == Status.IN_PROGRESS


def test_events_are_append_only(staff):
    complaint, _ = submit()
    event = complaint.events.first()
    event.body = "改写历史"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


def test_the_sweep_warns_and_escalates_exactly_once(staff):
    complaint, _ = submit()
    later = complaint.statutory_due + dt.timedelta(hours=1)
    first = services.sweep_deadlines(now=later)
    second = services.sweep_deadlines(now=later + dt.timedelta(hours=1))
    assert first["breached"] == 1 and second["breached"] == 0
    assert kinds(complaint).count(Kind.DEADLINE_BREACHED) == 1


def test_an_extension_needs_the_heads_approval_and_tells_the_complainant(staff):
    complaint, _ = submit(contact_phone="13812345678")
    request = services.request_extension(complaint.pk, complaint.assignee, 10, "需调取银行流水")
    with pytest.raises(ServiceError) as error:
        services.decide_extension(request.pk, staff["finance"], approve=True)
    assert error.value.status == 403
    due = complaint.statutory_due
    services.decide_extension(request.pk, staff["supervisor"], approve=True)
    complaint.refresh_from_db()
    assert complaint.statutory_due == due + dt.timedelta(days=10)
    assert complaint.events.filter(kind=Kind.EXTENSION_DECIDED, public=True).exists()
    assert Outbox.objects.filter(complaint=complaint, body__contains="需调取银行流水").exists()


def test_an_extension_beyond_the_maximum_is_refused(staff):
    complaint, _ = submit()
    with pytest.raises(ServiceError) as error:
        services.request_extension(complaint.pk, complaint.assignee, 90, "太复杂")
    assert error.value.code == "extension_too_long"


def test_a_correction_reroutes_and_is_kept_as_training_feedback(staff):
    complaint, _ = submit()
    services.correct_category(complaint.pk, staff["supervisor"], "agent_misconduct", "钱是转给业务员个人的")
    complaint.refresh_from_db()
    assert complaint.department == "channel"
    assert complaint.assignee == staff["channel"]
    [row] = services.training_feedback()
    assert row["category"] == "agent_misconduct"
    assert row["text"] == complaint.text_masked


def test_a_corrected_category_brings_its_own_evidence_list_and_outside_bodies(staff):
    from tousu import knowledge

    kb = knowledge.default()
    complaint, _ = submit()
    due, first_evidence = complaint.statutory_due, complaint.verdict["evidence"]
    services.correct_category(complaint.pk, staff["supervisor"], "fraud", "卡被复制后在外地盗刷")
    complaint.refresh_from_db()
    verdict = complaint.verdict
    assert verdict["category"] == "fraud"
    assert verdict["category_name"] == kb.categories["fraud"].name
    assert verdict["department"] == "risk"
    assert verdict["evidence"] == list(kb.categories["fraud"].evidence) != first_evidence
    outside = [step["id"] for step in verdict["escalation"] if step["level"] == "external"]
    assert outside == [body.id for body in kb.ladder("fraud", complaint.complainant_type)]
    assert complaint.statutory_due == due  # a running clock does not move with a correction


def test_a_regulator_transfer_goes_to_compliance_on_the_regulators_clock(staff):
    due = timezone.now() + dt.timedelta(days=7)
    complaint, _ = submit(intake="regulator", regulator_reference="银转〔2026〕1号", regulator_due=due)
    assert complaint.department == "compliance"
    assert complaint.assignee == staff["compliance"]
    assert complaint.statutory_due == due
    services.record_regulator_reply(complaint.pk, staff["compliance"], "已答复人民银行")
    complaint.refresh_from_db()
    assert complaint.regulator_reply == "已答复人民银行"


def test_empty_text_is_refused_and_nothing_is_written(staff):
    with pytest.raises(ServiceError) as error:
        services.submit("   ")
    assert error.value.code == "text_empty"
    assert ComplaintEvent.objects.count() == 0


def test_every_event_text_is_stored_masked(staff):
    complaint, _ = submit()
    services.complainant_reply(complaint.pk, "我的电话是13812345678，请回电")
    services.add_note(complaint.pk, staff["finance"], "已致电 13812345678")
    bodies = list(complaint.events.values_list("body", flat=True))
    assert not any("13812345678" in b for b in bodies)
    assert sum("138****5678" in b for b in bodies) == 2


def test_a_nul_character_in_any_field_is_refused_before_anything_is_written(staff):
    with pytest.raises(ServiceError) as error:
        services.submit(FEE_TEXT, contact_name="张\x00三")
    assert error.value.code == "null_character"
    complaint, _ = submit()
    with pytest.raises(ServiceError):
        services.add_note(complaint.pk, staff["finance"], "备注\x00")
    assert ComplaintEvent.objects.filter(kind=Kind.NOTE).count() == 0


def test_evidence_cannot_be_added_to_a_closed_complaint(staff):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tousu_web.complaints.evidence import add_evidence

    complaint, _ = submit()
    services.close(complaint.pk, complaint.assignee, "已处理")
    complaint.refresh_from_db()
    png = SimpleUploadedFile("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    with pytest.raises(ServiceError) as error:
        add_evidence(complaint, [png], "投诉人")
    assert error.value.code == "complaint_closed"
