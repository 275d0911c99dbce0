"""Training the classifier from the project's own labelled corpus (``tousu train``).

The corpus is ``corpus/stories/*.jsonl``. One fifth of it, chosen by a hash of
the text (so the split never changes when stories are added elsewhere), is
held back: the model never sees it in training, and ``tousu eval`` measures on
it. Fitting uses scikit-learn, imported here only; the result is exported as
plain arrays for :mod:`tousu.classifier`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
from pathlib import Path

import numpy as np

from tousu import knowledge
from tousu.classifier import MODEL_DIR, TASKS, Classifier
from tousu.errors import TousuError
from tousu.evaluation import score
from tousu.text import char_ngrams, normalize

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus" / "stories"
# Written independently of the training stories, in the style of news reports and complaint
# platforms; used to calibrate confidence and the review threshold, never to fit weights.
CALIBRATION_DIR = Path(__file__).resolve().parent.parent / "corpus" / "shift"
NGRAM_RANGE = (1, 3)
C = 10.0
HELD_OUT_SHARE = 5  # one story in five
REVIEW_TARGET = 0.97  # department accuracy wanted among complaints not sent to review
# The guideline decides between categories that both fit by its priority list. A category "fits"
# when its probability is at least this share of the top one. Fixed, not fitted on the training
# data: on the written calibration set the best share is 1.0 (argmax) because its stories are tidy.
# On 111 real complaints quoted in public pages (kept outside the repository; see the issue
# notes) department accuracy was 0.694 at 1.0, 0.748-0.757 between 0.55 and 0.65, 0.721 at 0.4;
# held-out accuracy is flat (0.966-0.971). 0.6 is the middle of that plateau.
PRIORITY_MARGIN = 0.6
# The category model also learns from altered copies of each training story (see ``augmented``).
AUGMENT_COPIES = 2
AUGMENT_DROP = 0.35  # chance that a sentence is left out of a copy
AUGMENT_SEED = 2026
# The category model is fitted this many times, each on copies made with another seed, and the
# weights are averaged: which sentences a single round happens to leave out moved department
# accuracy on real complaints by up to four points from seed to seed; the average does not depend
# on one draw. Logistic regression is linear, so the averaged model costs no more to run.
AUGMENT_ROUNDS = 3
# Words for the machine itself. Writers of the corpus used "POS机" more often in some categories
# (other, fraud, privacy) than in others, so the word had come to point to those categories; real
# complaints name the machine in any of these ways whatever their grievance.
DEVICE_WORDS = (
    "POS机",
    "pos机",
    "POS",
    "pos",
    "刷卡机",
    "机器",
    "机子",
    "机具",
    "电签机",
    "POS终端",
    "刷卡器",
    "收款机",
)
_DEVICE = re.compile("|".join(re.escape(w) for w in sorted(DEVICE_WORDS, key=len, reverse=True)))
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])")


def _analyzer(text: str) -> list[str]:
    return char_ngrams(normalize(text), *NGRAM_RANGE)


def is_held_out(text: str) -> bool:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return digest[0] % HELD_OUT_SHARE == 0


def load_corpus(directory: Path | str = CORPUS_DIR) -> list[dict]:
    """Read and check every story; raises :class:`TousuError` naming the file and line."""
    kb = knowledge.default()
    valid = {"category": kb.categories, "channel": kb.channels}
    stories, seen = [], set()
    files = sorted(Path(directory).glob("*.jsonl"))
    if not files:
        raise TousuError(f"语料目录 {directory} 中没有 .jsonl 文件", "corpus_missing")
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                story = json.loads(line)
            except json.JSONDecodeError as e:
                raise TousuError(f"{path}:{number}: 不是有效的 JSON: {e}", "corpus_invalid") from None
            for field, ids in valid.items():
                if story.get(field) not in ids:
                    raise TousuError(f"{path}:{number}: 未知的 {field}: {story.get(field)!r}", "corpus_invalid")
            if story["text"] in seen:
                continue
            seen.add(story["text"])
            stories.append(story)
    return stories


def augmented(stories: list[dict], copies: int = AUGMENT_COPIES, seed: int = AUGMENT_SEED) -> list[dict]:
    """Altered copies of ``stories`` for training the category model, with the same labels.

    In each copy the words for the machine are drawn afresh from ``DEVICE_WORDS`` and, in a story
    of three sentences or more, each sentence is left out with chance ``AUGMENT_DROP`` (one is
    always kept). Real complaints tell the grievance among other details and often without the
    phrase a writer would put first; copies with parts missing make the model use every cue of a
    category rather than its strongest one. The same seed gives the same copies.
    """
    rng = random.Random(seed)
    copies_out = []
    for story in stories:
        for _ in range(copies):
            text = _DEVICE.sub(lambda _m: rng.choice(DEVICE_WORDS), story["text"])
            sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
            if len(sentences) >= 3:
                kept = [s for s in sentences if rng.random() >= AUGMENT_DROP]
                text = "".join(kept) if kept else rng.choice(sentences)
            if text != story["text"]:
                copies_out.append({**story, "text": text})
    return copies_out


def split(stories: list[dict]) -> tuple[list[dict], list[dict]]:
    train = [s for s in stories if not is_held_out(s["text"])]
    held = [s for s in stories if is_held_out(s["text"])]
    return train, held


def _fit_temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    """The softmax temperature that minimises the held-out negative log-likelihood."""
    best, best_nll = 1.0, float("inf")
    for temperature in np.arange(0.2, 4.01, 0.05):
        z = logits / temperature
        z -= z.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -log_probs[np.arange(len(gold)), gold].mean()
        if nll < best_nll:
            best, best_nll = float(temperature), float(nll)
    return round(best, 2)


def _review_threshold(confidence: np.ndarray, correct: np.ndarray, flagged: np.ndarray | None = None) -> float:
    """The lowest confidence above which held-out department accuracy reaches REVIEW_TARGET among
    the complaints not ``flagged`` for review on other grounds."""
    flagged = np.zeros(len(confidence), dtype=bool) if flagged is None else flagged
    for threshold in np.arange(0.0, 1.0, 0.01):
        kept = (confidence >= threshold) & ~flagged
        if kept.sum() and correct[kept].mean() >= REVIEW_TARGET:
            return round(float(threshold), 2)
    return 0.99


def train(
    corpus_dir: Path | str = CORPUS_DIR,
    out_dir: Path | str = MODEL_DIR,
    calibration_dir: Path | str | None = CALIBRATION_DIR,
) -> dict:
    """Fit, calibrate and export the model; returns the metadata written to ``meta.json``.

    Parameters
    ----------
    corpus_dir:
        Folder of labelled ``*.jsonl`` stories; four fifths train the weights.
    out_dir:
        Where ``triage.npz`` and ``meta.json`` are written.
    calibration_dir:
        Folder of independently written labelled complaints. The softmax temperature and the
        review threshold are chosen on it (on the held-back fifth when it is missing or empty).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    kb = knowledge.default()
    stories = load_corpus(corpus_dir)
    train_set, held = split(stories)
    calibration = calibration_set(calibration_dir) or held
    vectorizer = TfidfVectorizer(analyzer=_analyzer, sublinear_tf=True, min_df=2, dtype=np.float64)
    x_train = vectorizer.fit_transform([s["text"] for s in train_set])
    x_cal = vectorizer.transform([s["text"] for s in calibration])
    arrays = {"vocabulary": np.array(vectorizer.get_feature_names_out(), dtype=str), "idf": vectorizer.idf_}
    meta_tasks = {}
    for task in TASKS:
        if task == "category":
            classes, coef, intercept = _fit_on_copies(train_set, x_train, vectorizer)
        else:
            # Only the category model learns from the copies: a left-out sentence may be the one
            # that says how the machine was obtained, which would make a copy's channel label wrong.
            model = LogisticRegression(C=C, max_iter=5000).fit(x_train, [s[task] for s in train_set])
            classes, coef, intercept = [str(c) for c in model.classes_], model.coef_, model.intercept_
        gold = np.array([classes.index(s[task]) for s in calibration])
        temperature = _fit_temperature(np.asarray(x_cal @ coef.T) + intercept, gold)
        arrays[f"{task}_coef"] = coef
        arrays[f"{task}_intercept"] = intercept
        meta_tasks[task] = {"classes": classes, "temperature": temperature}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / "triage.npz", **arrays)
    meta = {
        "trained": dt.date.today().isoformat(),
        "ngram_range": list(NGRAM_RANGE),
        "C": C,
        "augment": {"copies": AUGMENT_COPIES, "drop": AUGMENT_DROP, "seed": AUGMENT_SEED, "rounds": AUGMENT_ROUNDS},
        "corpus": {
            "stories": len(stories),
            "train": len(train_set),
            "held_out": len(held),
            "calibration": len(calibration) if calibration is not held else "held_out",
        },
        "tasks": meta_tasks,
        "priority": list(kb.categories),
        "priority_margin": PRIORITY_MARGIN,
        "review_threshold": 0.0,
    }
    _write_meta(out_dir, meta)
    classifier = Classifier.load(out_dir)
    predictions = classifier.predict([s["text"] for s in calibration], explain=())
    confidence = np.array([p["category"].confidence for p in predictions])
    correct = np.array(
        [
            kb.categories[p["category"].label].department == kb.categories[s["category"]].department
            for p, s in zip(predictions, calibration, strict=True)
        ]
    )
    passed_over = np.array([p["category"].passed_over is not None for p in predictions])
    meta["review_threshold"] = classifier.review_threshold = _review_threshold(confidence, correct, passed_over)
    held_predictions = classifier.predict([s["text"] for s in held], ())
    meta["held_out"] = score(_with_department(held, kb), _rows(held_predictions, kb, classifier))
    if calibration is not held:
        meta["calibration"] = score(_with_department(calibration, kb), _rows(predictions, kb, classifier))
    _write_meta(out_dir, meta)
    return meta


def _fit_on_copies(train_set: list[dict], x_train, vectorizer) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The category model: the stories and their altered copies, fitted ``AUGMENT_ROUNDS`` times
    with copies from different seeds; returns the classes and the averaged weights."""
    import scipy.sparse
    from sklearn.linear_model import LogisticRegression

    coefs, intercepts, classes = [], [], None
    for round_ in range(AUGMENT_ROUNDS):
        copies = augmented(train_set, seed=AUGMENT_SEED + round_)
        x = scipy.sparse.vstack([x_train, vectorizer.transform([s["text"] for s in copies])])
        model = LogisticRegression(C=C, max_iter=5000).fit(x, [s["category"] for s in train_set + copies])
        if classes is not None and classes != [str(c) for c in model.classes_]:
            raise TousuError("各轮训练的类别不一致", "training_inconsistent")
        classes = [str(c) for c in model.classes_]
        coefs.append(model.coef_)
        intercepts.append(model.intercept_)
    return classes, np.mean(coefs, axis=0), np.mean(intercepts, axis=0)


def calibration_set(directory: Path | str | None = CALIBRATION_DIR) -> list[dict]:
    if directory is None or not Path(directory).is_dir() or not any(Path(directory).glob("*.jsonl")):
        return []
    return load_corpus(directory)


def _with_department(rows: list[dict], kb) -> list[dict]:
    return [{**r, "department": kb.categories[r["category"]].department} for r in rows]


def _rows(predictions, kb, classifier: Classifier) -> list[dict]:
    return [
        {
            "category": p["category"].label,
            "department": kb.categories[p["category"].label].department,
            "channel": p["channel"].label,
            "needs_review": classifier.needs_review(p["category"]),
        }
        for p in predictions
    ]


def _write_meta(out_dir: Path, meta: dict) -> None:
    text = json.dumps(meta, ensure_ascii=False, indent=2)
    (out_dir / "meta.json").write_text(text + "\n", encoding="utf-8")
