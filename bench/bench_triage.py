"""Speed and memory of the triage core (``make bench``). Prints figures; asserts nothing.

- batch: 10,000 corpus complaints classified in one process on one core (complaints/s)
- single: one complaint at a time, warm, p50 and p99 latency (classification, and the full verdict)
- cli: process start to first verdict of ``tousu classify``
- memory: peak RSS of the batch process
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N = 10_000


def complaints(n: int) -> list[str]:
    texts = []
    for path in sorted((ROOT / "corpus" / "stories").glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [texts[i % len(texts)] for i in range(n)]


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_batch(texts: list[str]) -> dict:
    from tousu.triage import classify_many

    classify_many(texts[:10])  # load the model
    start = time.perf_counter()
    classify_many(texts)
    elapsed = time.perf_counter() - start
    return {
        "batch_complaints": len(texts),
        "batch_seconds": round(elapsed, 3),
        "batch_per_s": round(len(texts) / elapsed),
    }


def bench_single(texts: list[str]) -> dict:
    from tousu.triage import classify_many, triage

    classify_many(texts[:10])
    quick, full = [], []
    for text in texts[:2000]:
        start = time.perf_counter()
        classify_many([text])
        quick.append((time.perf_counter() - start) * 1000)
    for text in texts[:500]:
        start = time.perf_counter()
        triage(text)
        full.append((time.perf_counter() - start) * 1000)
    return {
        "single_classify_p50_ms": round(statistics.median(quick), 3),
        "single_classify_p99_ms": round(percentile(quick, 0.99), 3),
        "single_verdict_p50_ms": round(statistics.median(full), 3),
        "single_verdict_p99_ms": round(percentile(full, 0.99), 3),
    }


def bench_cli() -> dict:
    tousu = ROOT / ".venv" / "bin" / "tousu"
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([str(tousu), "classify", "刷卡三天了钱还没到账"], check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    return {
        "cli_first_verdict_s_best": round(min(runs), 3),
        "cli_first_verdict_s_median": round(statistics.median(runs), 3),
    }


def main() -> None:
    pin_to_one_core()
    texts = complaints(N)
    figures = {}
    figures.update(bench_batch(texts))
    figures.update(bench_single(texts))
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures.update(bench_cli())
    targets = {
        "batch_per_s": ">= 3000",
        "single_classify_p99_ms": "<= 5",
        "cli_first_verdict_s_best": "<= 1.5",
        "peak_rss_mb": "<= 300",
    }
    for key, value in figures.items():
        target = f"   (target {targets[key]})" if key in targets else ""
        print(f"{key:32} {value}{target}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
