"""Accuracy figures, computed the way ``../shared/eval/score.py`` computes them.

Department, category and channel accuracy; category macro-F1 over the gold
labels present; the most common confusions; and, when predictions carry
``needs_review``, the share sent to review and the accuracy of the rest.
"""

from __future__ import annotations

from collections import Counter

FIELDS = ("department", "category", "channel")


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    """Mean F1 over the gold labels; a label never predicted right scores 0."""
    labels = {gold for gold, _ in pairs}
    if not labels:
        return 0.0
    total = 0.0
    for label in labels:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        if not tp:
            continue
        predicted = sum(1 for _, p in pairs if p == label)
        actual = sum(1 for g, _ in pairs if g == label)
        precision, recall = tp / predicted, tp / actual
        total += 2 * precision * recall / (precision + recall)
    return total / len(labels)


def score(gold: list[dict], predicted: list[dict]) -> dict:
    """Score aligned lists of gold and predicted rows (same order, same length)."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted must be aligned")
    result: dict = {"n": len(gold)}
    for field in FIELDS:
        pairs = [(g[field], p.get(field)) for g, p in zip(gold, predicted, strict=True) if field in g]
        if not pairs:
            continue
        result[field] = round(sum(g == p for g, p in pairs) / len(pairs), 4)
        if field == "category":
            result["category_macro_f1"] = round(macro_f1(pairs), 4)
            confusions = Counter(f"{g}->{p}" for g, p in pairs if g != p)
            result["category_confusions"] = confusions.most_common(10)
    if predicted and "needs_review" in predicted[0]:
        kept = [(g, p) for g, p in zip(gold, predicted, strict=True) if not p["needs_review"]]
        result["needs_review_share"] = round(1 - len(kept) / len(gold), 4) if gold else 0.0
        if kept:
            result["department_not_reviewed"] = round(
                sum(g["department"] == p["department"] for g, p in kept) / len(kept), 4
            )
    return result


def summary_line(result: dict) -> str:
    """One line in score.py's format, e.g. ``department=0.912 category=0.871 ... n=120``."""
    keys = ("department", "category", "category_macro_f1", "channel")
    parts = [f"{k}={result[k]:.3f}" for k in keys if k in result]
    return " ".join(parts + [f"n={result['n']}"])
