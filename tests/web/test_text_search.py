"""The console's text search. On SQLite it reads a full-text index of character pairs (migration 0004),
which must find exactly the complaints LIKE finds, whatever the query; PostgreSQL searches with LIKE."""

import importlib
import random
import re

import pytest
from django.db import connection
from django.utils import timezone

from tousu_web.complaints import console, services
from tousu_web.complaints.models import Complaint, Status

from .conftest import FEE_TEXT

TEXTS = [
    FEE_TEXT,
    "POS机刷卡后资金未到账，客服说系统升级，一直不处理",
    "pos机押金299元说好退，现在不退",
    'Pos 机显示"交易失败"，却扣款 -100 元*，要求退款',
    "商户说：(费率) OR 退款 NEAR 审核，a OR b，^开头",
    "退",
    "款退",
    "哈哈哈哈",
    "ＰＯＳ机全角字母",
    "😀表情😀",
    "100%_退款\\说明'单引号",
    "Ab",
]
QUERIES = [
    *("退", "款", "哈", "😀", "a", "A", "%", "_", "\\", "'", '"', "*", "-", "(", ")", ":", "：", "^"),
    *("退款", "费率", "哈哈", "ab", "Ab", "OR", "or", "元*", "-1", "3元", "表情", "单引"),
    *("哈哈哈", "哈哈哈哈哈", "0.38", "0.6%", "299", "POS", "pos", "Pos机", "ＰＯＳ", "ｐｏｓ", "未到账"),
    *('"交易失败"', "(费率)", "a OR b", "NEAR", "NEAR(退款", "退款 NEAR 审核", "^开头", "表情😀", "款退"),
    *("退款*", "-退款", "费率 OR 押金", "NEAR(费率 押金)", "不存在的文字", FEE_TEXT, FEE_TEXT + "。"),
]


def make(text: str, i: int) -> Complaint:
    now = timezone.now()
    return Complaint.objects.create(
        tracking_number=f"TS20260101{i:06d}",
        access_code_hash="x",
        text=text,
        text_masked=text,
        category="fee_rate",
        predicted_category="fee_rate",
        department="finance",
        status=Status.CLOSED if i % 2 else Status.ASSIGNED,
        received_at=now,
        statutory_due=now,
        statutory_rule="direct_complaint",
    )


def contains(q: str) -> set[int]:
    return set(Complaint.objects.filter(text_masked__contains=q).values_list("pk", flat=True))


def searched(q: str) -> set[int]:
    return set(console.search(Complaint.objects.all(), q).values_list("pk", flat=True))


def indexed(q: str) -> set[int]:
    """The rows the index itself names, without the join to the complaints that would hide stale entries."""
    with connection.cursor() as cursor:
        sql = "SELECT rowid FROM complaints_text_search WHERE complaints_text_search MATCH %s"
        cursor.execute(sql, [console.pairs_query(q)])
        return {row[0] for row in cursor.fetchall()}


def needs_the_index():
    if connection.vendor != "sqlite":
        pytest.skip("the index is SQLite's; PostgreSQL searches with LIKE")


@pytest.fixture
def complaints(db):
    return [make(text, i) for i, text in enumerate(TEXTS)]


def test_the_search_finds_exactly_what_like_finds(complaints):
    assert {q: searched(q) for q in QUERIES} == {q: contains(q) for q in QUERIES}
    assert contains("退") and contains("款退") and not contains("不存在的文字")


def test_random_texts_and_queries_agree_with_like(db):
    rng = random.Random(3)
    alphabet = '退款费率的了aAbB0 -*"()：，😀Ｐ'

    def scribble(longest: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, longest)))

    texts = [scribble(30) for _ in range(200)]
    for i, text in enumerate(texts):
        make(text, i)
    queries = [scribble(4) for _ in range(150)]
    for text in rng.sample(texts, 150):
        start = rng.randrange(len(text))
        queries.append(text[start : start + rng.randint(1, 6)])
    assert {q: searched(q) for q in queries} == {q: contains(q) for q in queries}


def test_fts_syntax_in_a_search_is_matched_literally_on_the_page(client, staff, complaints):
    client.force_login(staff["supervisor"])
    for q in ('"', "*", "-", "OR", "NEAR", "(", ")", '"交易失败"', "a OR b", "NEAR(退款", "退款*", "-退款", "^开头"):
        response = client.get("/console/", {"q": q})
        assert response.status_code == 200, q
        shown = re.findall(r'data-testid="queue-row" data-tracking="([^"]+)"', response.content.decode())
        assert set(shown) == {c.tracking_number for c in complaints if c.pk in contains(q)}, q


def test_the_index_follows_every_write_to_the_masked_text(staff):
    needs_the_index()
    complaint, _ = services.submit(FEE_TEXT, contact_phone="13812345678")
    assert indexed("终身不变") == {complaint.pk}
    Complaint.objects.filter(pk=complaint.pk).update(text_masked="押金一直不退")
    assert indexed("终身不变") == set() and indexed("押金") == {complaint.pk}
    complaint.text_masked = "机具坏了"
    complaint.save()
    assert indexed("押金") == set() and indexed("机具") == {complaint.pk}
    Complaint.objects.filter(pk=complaint.pk).update(status=Status.IN_PROGRESS)  # other columns leave it be
    assert indexed("机具") == {complaint.pk}
    bare = make("机具坏了", 1)  # complaints are never deleted, but the test runner empties the table
    bare.delete()
    assert indexed("机具") == {complaint.pk} and indexed("坏") == {complaint.pk}


def test_every_migration_leaves_the_triggers_in_place(db):
    needs_the_index()
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'complaints_complaint'")
        triggers = {row[0] for row in cursor.fetchall()}
    assert {f"complaints_text_search_{event}" for event in ("insert", "update", "delete")} <= triggers


def test_the_migration_indexes_the_complaints_already_there(complaints):
    needs_the_index()
    migration = importlib.import_module("tousu_web.complaints.migrations.0004_text_search")
    with connection.cursor() as cursor:  # inside the test's transaction, like a migration
        for statement in migration.BACKWARD + migration.FORWARD:
            cursor.execute(statement)
    assert {q: indexed(q) for q in QUERIES} == {q: contains(q) for q in QUERIES}
