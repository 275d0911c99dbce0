"""The ``tousu`` command. Its options and JSON output are stable: other tools depend on them.

tousu classify "文本"              readable verdict (--json for the full JSON)
tousu classify --jsonl FILE|-      one JSON line per {"id","text"} line
tousu train                        fit the classifier on corpus/stories
tousu eval [GOLD.jsonl]            accuracy on a gold file, or on the held-back split
tousu kb check [DIR]               validate the knowledge base
tousu calendar check FILE          validate an official holiday notice file
tousu demo                         type complaints, read verdicts
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from tousu.errors import InputError, TousuError


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def render(verdict) -> str:
    """The verdict as a person reads it, in Chinese."""
    v = verdict
    lines = [
        f"分类：{v.category_name}（{v.category}），置信度 {v.confidence:.0%}"
        + ("  ⚠ 需人工复核" if v.needs_review else ""),
        "备选：" + "；".join(f"{a['name']} {a['confidence']:.0%}" for a in v.alternatives[1:]),
        "处理部门：" + "、".join(v.department_names) + ("（含协办）" if len(v.departments) > 1 else ""),
        f"办理渠道：{v.channel}　品牌：{v.brand}　类型：{v.service_class}　原因：{v.cause}",
        "判断依据：",
        *[f"  - {r}" for r in v.reasons],
        f"处理期限：{v.deadline['due'][:10]} 前（{v.deadline['name']}，{_certainty(v.deadline['certainty'])}）",
    ]
    lines += [f"  ⚠ {w}" for w in v.warnings]
    lines.append("请准备以下材料：")
    lines += [f"  {i}. {e}" for i, e in enumerate(v.evidence, 1)]
    if v.self_help:
        lines.append("可先自助尝试：")
        lines += [f"  - {s}" for s in v.self_help]
    lines.append("如未在期限内解决，可依次：")
    for i, step in enumerate(v.escalation, 1):
        if step["level"] == "internal":
            lines.append(f"  {i}. {step['name']}")
            continue
        extra = f"；{step['deadline']['name']} {step['deadline']['days']}" if step["deadline"] else ""
        unit = {"working": "个工作日", "calendar": "日", "hours": "小时"}
        if step["deadline"]:
            extra += unit[step["deadline"]["unit"]]
        lines.append(f"  {i}. {step['name']}：{step['contact']}（{_certainty(step['certainty'])}{extra}）")
    return "\n".join(lines)


def _certainty(code: str) -> str:
    from tousu.knowledge import CERTAINTY_LABELS

    return CERTAINTY_LABELS.get(code, code)


def _read_lines(path: str):
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115 closed below
    try:
        yield from enumerate(stream, 1)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _parse_line(raw: bytes) -> tuple[str | None, str]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("该行不是有效的 UTF-8 文本", "line_not_utf8") from None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"该行不是有效的 JSON：{e.msg}", "line_not_json") from None
    if not isinstance(row, dict) or "text" not in row:
        raise InputError('该行需要是含有 "text" 字段的 JSON 对象', "line_no_text")
    from tousu.triage import check_text

    row_id = row.get("id")
    return (None if row_id is None else str(row_id)), check_text(row["text"])


def classify_jsonl(path: str) -> int:
    """Classify a JSONL file; one output line per non-blank input line. Returns the exit status."""
    from tousu.triage import classify_many

    failed = 0
    pending: list[tuple[str | None, str]] = []

    def flush() -> None:
        for (row_id, _), result in zip(pending, classify_many([t for _, t in pending]), strict=True):
            _print_json({"id": row_id, **result})
        pending.clear()

    for number, raw in _read_lines(path):
        if not raw.strip():
            continue
        try:
            pending.append(_parse_line(raw))
        except InputError as e:
            flush()
            failed += 1
            _print_json({"line": number, "error": {"code": e.code, "message": e.message}})
            print(f"第 {number} 行：{e.message}", file=sys.stderr)
            continue
        if len(pending) >= 512:
            flush()
    flush()
    return 1 if failed else 0


def cmd_classify(args) -> int:
    if args.jsonl:
        return classify_jsonl(args.jsonl)
    if args.text is None:
        raise InputError("请提供投诉文本，或用 --jsonl 指定文件", "text_missing")
    from tousu.triage import triage

    received = dt.datetime.fromisoformat(args.received) if args.received else None
    if received is not None and received.tzinfo is None:
        from tousu.deadlines import CHINA

        received = received.replace(tzinfo=CHINA)
    verdict = triage(args.text, received_at=received, complainant=args.complainant, intake=args.intake)
    if args.json:
        _print_json(verdict.to_dict())
    else:
        print(render(verdict))
    return 0


def cmd_train(args) -> int:
    from tousu import training

    meta = training.train(args.corpus or training.CORPUS_DIR, args.out or training.MODEL_DIR)
    held = meta["held_out"]
    from tousu.evaluation import summary_line

    print(f"训练完成：{meta['corpus']['train']} 条训练，{meta['corpus']['held_out']} 条留出")
    print(f"复核阈值：{meta['review_threshold']}")
    print(f"留出集：{summary_line(held)}")
    return 0


def _gold_sets(path: str | None) -> list[tuple[str, list[dict]]]:
    """The gold file; or, without one, the held-back fifth of the corpus and the independent calibration set."""
    from tousu import knowledge, training

    if path is not None:
        return [(path, _read_gold(path))]
    kb = knowledge.default()
    _, held = training.split(training.load_corpus())
    sets = [("留出集（语料中未参与训练的五分之一）", held)]
    calibration = training.calibration_set()
    if calibration:
        sets.append(("独立校准集（另行撰写；用于选择温度、优先级边界与复核阈值）", calibration))
    return [(name, [{**r, "department": kb.categories[r["category"]].department} for r in rows]) for name, rows in sets]


def _read_gold(path: str) -> list[dict]:
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{number}: 不是有效的 JSON: {e.msg}", "line_not_json") from None
    return rows


def cmd_eval(args) -> int:
    from tousu.evaluation import score, summary_line
    from tousu.triage import check_text, classify_many

    results = {}
    for name, gold in _gold_sets(args.gold):
        predicted = classify_many([check_text(g["text"]) for g in gold])
        result = results[name] = score(gold, predicted)
        if args.json:
            continue
        print(f"== {name}")
        for pair, count in result.get("category_confusions", []):
            print(f"confusion {pair}: {count}")
        print(
            f"needs_review={result['needs_review_share']:.3f} "
            f"department_not_reviewed={result.get('department_not_reviewed', 0):.3f}"
        )
        print(summary_line(result))
    if args.json:
        _print_json(results if len(results) > 1 else next(iter(results.values())))
    return 0


def cmd_kb(args) -> int:
    from tousu import knowledge

    kb = knowledge.load(args.dir)
    print(
        f"知识库有效：{len(kb.categories)} 个分类，{len(kb.departments)} 个部门，"
        f"{len(kb.bodies)} 个外部机构，{len(kb.rules)} 条期限规则"
    )
    return 0


def cmd_calendar(args) -> int:
    from tousu.deadlines import load_holiday_notice

    notice = load_holiday_notice(args.file)
    print(f"{notice.year} 年节假日通知有效：{len(notice.holidays)} 天假日，{len(notice.workdays)} 天调休上班")
    return 0


def cmd_demo(args) -> int:
    from tousu.triage import triage

    print("tousu 投诉分诊演示：输入一条投诉（回车提交，空行或 Ctrl-D 退出）")
    for line in sys.stdin:
        if not line.strip():
            break
        try:
            print(render(triage(line)))
        except InputError as e:
            print(f"输入有误：{e.message}")
        print("-" * 40)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tousu", description="POS 机投诉分诊")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("classify", help="分类一条投诉或一个 JSONL 文件")
    p.add_argument("text", nargs="?")
    p.add_argument("--jsonl", metavar="FILE", help='每行 {"id","text"}；- 表示标准输入')
    p.add_argument("--json", action="store_true", help="输出完整 JSON")
    p.add_argument("--complainant", choices=("consumer", "merchant", "unknown"), default="unknown")
    p.add_argument("--intake", choices=("direct", "regulator"), default="direct")
    p.add_argument("--received", help="受理时间（ISO 8601），默认现在")
    p.set_defaults(func=cmd_classify)
    p = sub.add_parser("train", help="用 corpus/stories 训练分类器")
    p.add_argument("--corpus", default=None)
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="评估准确率")
    p.add_argument("gold", nargs="?", help="含标注的 JSONL；缺省为语料留出集")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("kb", help="知识库")
    p.add_argument("action", choices=("check",))
    p.add_argument("dir", nargs="?")
    p.set_defaults(func=cmd_kb)
    p = sub.add_parser("calendar", help="节假日通知")
    p.add_argument("action", choices=("check",))
    p.add_argument("file")
    p.set_defaults(func=cmd_calendar)
    p = sub.add_parser("demo", help="交互式演示")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TousuError as e:
        print(f"错误（{e.code}）：{e.message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as e:
        print(f"错误（file_error）：无法读取文件 {e.filename}：{e.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
