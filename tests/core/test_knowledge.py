import shutil

import pytest

from tousu import knowledge
from tousu.errors import KnowledgeError

GUIDELINE_ROUTING = {
    "fee_rate": "finance",
    "hidden_charge": "finance",
    "deposit_refund": "finance",
    "refund": "finance",
    "settlement": "settlement_ops",
    "risk_freeze": "risk",
    "fraud": "risk",
    "technical": "tech_support",
    "device_quality": "quality",
    "after_sales": "after_sales",
    "agent_misconduct": "channel",
    "privacy": "compliance",
    "operation": "customer_service",
    "service_quality": "customer_service",
    "cancellation": "customer_service",
    "other": "customer_service",
}


@pytest.fixture
def kb_copy(tmp_path):
    target = tmp_path / "kb"
    shutil.copytree(knowledge.DEFAULT_DIR, target)
    return target


def test_it_routes_every_category_as_the_guideline_says():
    kb = knowledge.default()
    assert {c: kb.categories[c].department for c in kb.categories} == GUIDELINE_ROUTING


def test_it_keeps_the_guideline_priority_order():
    kb = knowledge.default()
    assert list(kb.categories)[:3] == ["fraud", "privacy", "risk_freeze"]
    assert list(kb.categories)[-1] == "other"


def test_it_adds_channel_management_for_third_party_machines():
    kb = knowledge.default()
    assert kb.route("fee_rate", "third_party") == ["finance", "channel"]
    assert kb.route("fee_rate", "official") == ["finance"]
    assert kb.route("agent_misconduct", "third_party") == ["channel"]


def test_every_deadline_and_body_names_its_source_and_certainty():
    kb = knowledge.default()
    for item in [*kb.rules.values(), *kb.bodies.values()]:
        assert item.source
        assert item.certainty in knowledge.CERTAINTIES


def test_consumer_only_bodies_are_left_out_for_merchants():
    kb = knowledge.default()
    merchant = [b.id for b in kb.ladder("hidden_charge", "merchant")]
    consumer = [b.id for b in kb.ladder("hidden_charge", "consumer")]
    assert "samr_12315" not in merchant
    assert "samr_12315" in consumer
    assert merchant[0] == "pboc"


def test_it_names_the_file_and_entry_of_a_dangling_department(kb_copy):
    path = kb_copy / "categories.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('department = "quality"', 'department = "nowhere"'))
    with pytest.raises(KnowledgeError, match=r"categories.toml \[device_quality\].*nowhere"):
        knowledge.load(kb_copy)


def test_it_refuses_an_unknown_certainty(kb_copy):
    path = kb_copy / "deadlines.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('certainty = "PARTIAL"', 'certainty = "SURE"', 1))
    with pytest.raises(KnowledgeError, match="certainty"):
        knowledge.load(kb_copy)


def test_it_refuses_broken_toml(kb_copy):
    (kb_copy / "bodies.toml").write_text("[[body]\nid=", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="TOML"):
        knowledge.load(kb_copy)


def test_a_company_profile_renames_departments_without_code(kb_copy):
    path = kb_copy / "company.toml"
    text = path.read_text(encoding="utf-8").replace(
        "[department_names]", '[department_names]\nfinance = "资金财务中心"'
    )
    path.write_text(text, encoding="utf-8")
    kb = knowledge.load(kb_copy)
    assert kb.department_name("finance") == "资金财务中心"
