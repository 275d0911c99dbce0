import datetime as dt

import pytest

from tousu import deadlines
from tousu.errors import InputError
from tousu.triage import classify_many, escalation, triage

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=deadlines.CHINA)
FEE = "业务员办的拉卡拉机器，说好费率0.38终身不变，上个月起每笔扣0.6%，联系电话13812345678，要求退还多扣的手续费"


@pytest.fixture(scope="module")
def verdict(tiny_model):
    from tousu.classifier import Classifier

    return triage(FEE, received_at=NOW, complainant="merchant", model=Classifier.load(tiny_model[0]))


def test_it_routes_with_reasons_a_person_can_check(verdict):
    assert verdict.category == "fee_rate"
    assert verdict.department == "finance"
    assert verdict.reasons[0].startswith("归为「费率/手续费」")
    assert any("财务部" in r for r in verdict.reasons)
    assert all(cue in verdict.masked_text for cue in verdict.cues)  # quoted from the masked text


def test_it_tells_the_complainant_what_to_prepare_and_by_when(verdict):
    assert any("费率" in e for e in verdict.evidence)
    assert verdict.deadline["due"].startswith("2026-12-10")
    assert verdict.deadline["certainty"] == "UNVERIFIED"
    external = [s["id"] for s in verdict.escalation if s["level"] == "external"]
    assert external[0] == "pboc"
    assert "samr_12315" not in external  # a merchant's business use is not 生活消费


def external(category, complainant):
    return [s["id"] for s in escalation(category, complainant) if s["level"] == "external"]


def test_the_ladder_for_a_complainant_type_is_the_one_a_verdict_carries(verdict):
    assert escalation(verdict.category, "merchant") == verdict.escalation
    assert external("deposit_refund", "merchant") == ["pboc", "pcac", "mediation", "court"]
    assert external("deposit_refund", "consumer") == ["pboc", "pcac", "samr_12315", "mediation", "court"]
    assert external("deposit_refund", "unknown") == external("deposit_refund", "consumer")


def test_it_masks_personal_data_and_extracts_facts(verdict):
    assert "13812345678" not in verdict.masked_text
    assert "138****5678" in verdict.masked_text
    assert verdict.brand == "lakala"
    assert verdict.facts["phone"][0]["value"] == "138****5678"
    assert "13812345678" not in str(verdict.to_dict())


def test_a_regulator_transfer_runs_on_the_regulator_clock(tiny_model):
    from tousu.classifier import Classifier

    result = triage(FEE, received_at=NOW, intake="regulator", model=Classifier.load(tiny_model[0]))
    assert result.deadline["rule"] == "pboc_transfer"
    assert result.deadline["max_due"].startswith("2027-01-24")


@pytest.mark.parametrize(
    "text, code",
    [("", "text_empty"), ("   \n ", "text_empty"), ("字" * 20_001, "text_too_long"), (None, "text_not_string")],
)
def test_bad_input_is_a_clear_error(text, code):
    with pytest.raises(InputError) as error:
        triage(text)
    assert error.value.code == code


def test_binary_junk_is_refused():
    with pytest.raises(InputError) as error:
        triage("\x00\x01\x02\x03\x04\x05POS\x06\x07")
    assert error.value.code == "text_binary"


def test_text_without_chinese_is_a_low_confidence_other(tiny_model):
    from tousu.classifier import Classifier

    [result] = classify_many(["hello world 12345"], model=Classifier.load(tiny_model[0]))
    assert result["category"] == "other"
    assert result["confidence"] == 0.0
    assert result["needs_review"] is True


def test_a_priority_decision_is_flagged_for_review_with_a_reason_a_person_can_check():
    from .test_classifier import fixed_model

    model = fixed_model({"fee_rate": 0.5, "settlement": 0.4, "other": 0.1}, margin=0.6)
    verdict = triage("上个月刷卡的钱一直没到账，费率也比说好的高", model=model)
    assert verdict.category == "settlement" and verdict.needs_review
    assert any("「费率/手续费」也相符" in r and "优先顺序" in r for r in verdict.reasons), verdict.reasons
    [row] = classify_many(["上个月刷卡的钱一直没到账，费率也比说好的高"], model=model)
    assert row["needs_review"] is True
