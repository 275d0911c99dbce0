import json
import subprocess
import sys

import pytest

from tousu.cli import main

REQUIRED = {"id", "category", "department", "channel", "brand", "confidence", "needs_review"}


def run(args, stdin: bytes = b""):
    return subprocess.run([sys.executable, "-m", "tousu", *args], input=stdin, capture_output=True, timeout=60)


def test_jsonl_reports_bad_lines_by_number_and_still_classifies_the_rest(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b'{"id": "a", "text": "\xe5\x88\xb7\xe5\x8d\xa1\xe4\xb8\x89\xe5\xa4\xa9\xe6\xb2\xa1\xe5\x88\xb0\xe8\xb4\xa6"}\n'
        b"not json\n"
        b"\n"
        b'{"id": "c", "text": ""}\n'
        b'{"id": "d", "text": "\xff\xfe broken bytes"}\n'
        b'{"id": 5, "text": "\xe6\x8a\xbc\xe9\x87\x91\xe4\xb8\x8d\xe9\x80\x80"}\n'
    )
    result = run(["classify", "--jsonl", str(source)])
    assert result.returncode == 1
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r.get("id") for r in rows if "error" not in r] == ["a", "5"]
    assert all(REQUIRED <= set(r) for r in rows if "error" not in r)
    errors = {r["line"]: r["error"]["code"] for r in rows if "error" in r}
    assert errors == {2: "line_not_json", 4: "text_empty", 5: "line_not_utf8"}
    assert "第 2 行" in result.stderr.decode()


def test_jsonl_from_stdin_exits_zero_when_every_line_is_good():
    lines = "".join(
        json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(["机器坏了", "费率涨了"])
    )
    result = run(["classify", "--jsonl", "-"], lines.encode())
    assert result.returncode == 0
    assert len(result.stdout.decode().splitlines()) == 2


def test_a_single_verdict_is_readable_chinese():
    result = run(["classify", "我的POS机刷卡三天了钱还没到账"])
    assert result.returncode == 0
    out = result.stdout.decode()
    assert "处理部门" in out and "请准备以下材料" in out and "如未在期限内解决" in out


def test_the_json_verdict_carries_deadline_and_escalation():
    result = run(["classify", "--json", "--complainant", "consumer", "有人冒用我的身份证开了商户"])
    verdict = json.loads(result.stdout)
    assert verdict["deadline"]["certainty"] in ("VERIFIED", "PARTIAL", "UNVERIFIED")
    assert verdict["escalation"][0]["level"] == "internal"


@pytest.mark.parametrize("args", [["classify", "   "], ["classify"], ["classify", "--jsonl", "/no/such/file"]])
def test_bad_invocations_are_errors_not_tracebacks(args, capsys):
    assert main(args) == 2
    assert "错误" in capsys.readouterr().err


def test_kb_check_validates_the_packaged_knowledge_base(capsys):
    assert main(["kb", "check"]) == 0
    assert "16 个分类" in capsys.readouterr().out


def test_an_argument_cut_inside_a_character_is_an_error_not_a_traceback():
    text = "费率从0.38调到了0.6没通知".encode()[:-1]  # the last character's bytes cut short, as `head -c` does
    result = run(["classify", text])
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr
    assert "text_not_utf8" in result.stderr.decode() + result.stdout.decode()
    jsonl = run(["classify", "--jsonl", "-"], stdin=b'{"id": "x", "text": "\\ud800\\u8d39\\u7387"}\n')
    assert jsonl.returncode == 1 and b"Traceback" not in jsonl.stderr
    assert json.loads(jsonl.stdout)["error"]["code"] == "text_not_utf8"
