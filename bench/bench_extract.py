"""Throughput of fact extraction plus masking on synthetic complaints.

Builds 10,000 texts of about 200 characters from phrase fragments with random numbers, runs
``extract_facts`` and ``mask`` on each, and prints complaints per second and the p99 latency of one
text. A benchmark, not a test: run it with ``.venv/bin/python bench/bench_extract.py``.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time

from stdnum import luhn
from stdnum.cn import ric

from tousu.extract import extract_facts
from tousu.privacy import mask

TODAY = dt.date(2026, 1, 5)
COUNT = 10_000
TARGET_LENGTH = 200
FACT_SHARE = 0.6  # share of fragments that carry facts; the rest is narrative


def _card(rng: random.Random) -> str:
    body = "6217" + "".join(rng.choice("0123456789") for _ in range(14))
    return body + luhn.calc_check_digit(body)


def _id_number(rng: random.Random) -> str:
    first17 = (
        f"110105{rng.randint(1960, 2003)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    )
    return first17 + ric.calc_check_digit(first17 + "0")


FRAGMENTS = (
    lambda r: f"我是{r.choice('广州深圳杭州成都郑州')}的个体商户，",
    lambda r: f"{r.randint(2023, 2025)}年{r.randint(1, 12)}月{r.randint(1, 28)}日在拉卡拉办了一台电签版POS，",
    lambda r: f"业务员说费率0.{r.randint(30, 60)}，",
    lambda r: f"实际每笔扣了0.{r.randint(50, 99)}%，",
    lambda r: f"还有{r.randint(1, 5)}元/笔的手续费，",
    lambda r: f"上个月被扣了{r.randint(99, 399)}元服务费，",
    lambda r: f"押金{r.randint(99, 599)}元至今没退，",
    lambda r: f"一共损失了{r.choice(('两千多元', '五百块', '一千二百元'))}，",
    lambda r: f"商户号822{r.randint(10**11, 10**12 - 1)}，",
    lambda r: f"终端号{r.randint(10**7, 10**8 - 1)}，",
    lambda r: f"联系电话1{r.choice('3589')}{r.randint(10**8, 10**9 - 1)}，",
    lambda r: f"结算卡号{_card(r)}，",
    lambda r: f"身份证号{_id_number(r)}，",
    lambda r: f"我叫{r.choice('张王李赵刘陈')}{r.choice('伟芳娜敏静强')}{r.choice(('', '明', '华'))}，",
    lambda r: "打95016客服电话一直没人处理，",
    lambda r: f"前天机器突然不能用了，SN：N{r.randint(10**8, 10**9 - 1)}，",
    lambda r: f"参考号{r.randint(10**11, 10**12 - 1)}的交易{r.randint(1, 9)}.{r.randint(10, 99)}万没有到账，",
    lambda r: "客服李女士说要等审核，",
    lambda r: "要求退还全部费用并解除绑定。",
)
# Narrative without facts, as real complaints have between their numbers.
NARRATIVE = (
    "当时业务员承诺没有任何额外费用，",
    "后来发现每次刷卡都被多扣钱，",
    "联系客服一直推脱说是系统问题，",
    "让我耐心等待却始终没有结果，",
    "我觉得这是严重侵害消费者权益的行为，",
    "希望有关部门能够尽快核实处理，",
    "代理商现在电话也打不通了，",
    "机器是朋友介绍的一个代理办理的，",
)


def synthetic_texts(count: int, seed: int = 20260105) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts: list[str] = []
        while sum(map(len, parts)) < TARGET_LENGTH:
            parts.append(rng.choice(FRAGMENTS)(rng) if rng.random() < FACT_SHARE else rng.choice(NARRATIVE))
        texts.append("".join(parts))
    return texts


def main() -> None:
    texts = synthetic_texts(COUNT)
    latencies = []
    fact_count = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for text in texts:
        t0 = time.perf_counter()
        fact_count += len(extract_facts(text, today=TODAY).all())
        mask(text)
        latencies.append(time.perf_counter() - t0)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    p99 = statistics.quantiles(latencies, n=100)[98]
    mean_length = statistics.fmean(map(len, texts))
    print(f"{COUNT} texts, mean length {mean_length:.0f} characters, {fact_count / COUNT:.1f} facts per text")
    # CPU time as well: on a shared machine the wall clock also counts other processes' turns.
    print(f"extraction + masking: {elapsed:.2f} s wall ({cpu:.2f} s CPU), {COUNT / elapsed:,.0f} complaints/s")
    print(f"p99 latency per text: {p99 * 1e6:.0f} µs")


ADVERSARIAL = [
    "1",
    "1 ",
    "1,",
    "1.",
    "一",
    "一点",
    "1月",
    "费率1",
    "1%",
    "1元",
    "2025年",
    "A1",
    "1X",
    "12-",
    "我叫张",
    "+86",
]


def adversarial() -> None:
    """Worst-case inputs for backtracking regexes: 10,000 characters of one repeated piece."""
    worst = 0.0
    for piece in ADVERSARIAL:
        text = piece * (10_000 // len(piece))
        started = time.perf_counter()
        extract_facts(text, today=dt.date(2026, 1, 5))
        mask(text)
        worst = max(worst, time.perf_counter() - started)
    print(f"adversarial 10,000-character inputs: slowest {worst * 1000:.0f} ms (extraction + masking)")


if __name__ == "__main__":
    main()
    adversarial()
