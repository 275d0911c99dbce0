import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from tousu import training
from tousu.classifier import Classifier, LinearTextModel
from tousu.errors import ModelError
from tousu.text import normalize

from .conftest import STORIES


def test_numpy_inference_matches_scikit_learn():
    texts = [t for t, _, _ in STORIES]
    labels = [c for _, c, _ in STORIES]
    vectorizer = TfidfVectorizer(analyzer=training._analyzer, sublinear_tf=True)
    x = vectorizer.fit_transform(texts)
    model = LogisticRegression(C=10, max_iter=2000).fit(x, labels)
    ours = LinearTextModel(
        vectorizer.get_feature_names_out().tolist(),
        vectorizer.idf_,
        {"category": (list(model.classes_), model.coef_, model.intercept_, 1.0)},
    )
    probes = ["费率从0.38涨到了0.6", "钱三天没到账", "机器屏幕坏了开不了机", "完全无关的一句话 hello"]
    vectors = [ours.vectorize(normalize(p)) for p in probes]
    expected = model.predict_proba(vectorizer.transform(probes))
    np.testing.assert_allclose(ours.probabilities("category", vectors), expected, rtol=1e-9, atol=1e-12)


def test_training_is_reproducible(tiny_model, tmp_path):
    model_dir, meta = tiny_model
    from .conftest import write_corpus

    again = training.train(write_corpus(tmp_path / "corpus"), tmp_path / "model", calibration_dir=None)
    first = np.load(model_dir / "triage.npz")
    second = np.load(tmp_path / "model" / "triage.npz")
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
    assert again["tasks"] == meta["tasks"]


def test_it_predicts_labels_it_was_trained_on_with_cues(tiny_model):
    model = Classifier.load(tiny_model[0])
    [result] = model.predict(["我的POS机屏幕黑了，开不了机"])
    assert result["category"].label == "device_quality"
    assert result["category"].label in model.model.tasks_["category"][0]
    assert any("机" in cue.phrase or "屏" in cue.phrase for cue in result["category"].cues)
    probabilities = [p for _, p in result["category"].ranking]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-3)
    assert probabilities == sorted(probabilities, reverse=True)


def test_cues_are_phrases_of_the_original_text(tiny_model):
    model = Classifier.load(tiny_model[0])
    text = "費率從0.38漲到0.6，沒有通知"  # Traditional: cues are shown as the complainant wrote them
    [result] = model.predict([text])
    assert result["category"].label == "fee_rate"
    assert result["category"].cues
    assert all(cue.phrase in text for cue in result["category"].cues)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in cue.phrase) for cue in result["category"].cues)


def test_text_with_no_known_ngram_gets_the_prior(tiny_model):
    model = Classifier.load(tiny_model[0])
    [result] = model.predict(["zzzz"])
    assert result["category"].cues == ()
    assert 0 < result["category"].confidence < 1


def test_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="tousu train"):
        Classifier.load(tmp_path)


@pytest.mark.parametrize("text", ["", "费", "费率", "费率涨了😀", "𠀀𠀁𠀂 ok", "\x00测试", "ab c", "拉卡拉拉卡拉"])
def test_keyed_lookup_finds_exactly_the_vocabulary_ngrams_of_the_text(text):
    from tousu.text import char_ngrams

    vocabulary = [
        "a",
        "b",
        "费",
        "率",
        "费率",
        "率涨",
        "涨了",
        "😀",
        "𠀁",
        "𠀀𠀁𠀂",
        "\x00测",
        "测",
        "拉卡",
        "卡拉",
        "拉卡拉",
    ]
    model = LinearTextModel(vocabulary, np.ones(len(vocabulary)), {})
    normalized = normalize(text)
    grams = [g for g in char_ngrams(normalized) if g in vocabulary]
    expected = sorted({vocabulary.index(g): grams.count(g) for g in grams}.items())
    indices, values = model.vectorize(normalized)
    assert [vocabulary[i] for i in indices] == [vocabulary[i] for i, _ in expected]
    if expected:
        weights = 1.0 + np.log([count for _, count in expected])
        np.testing.assert_allclose(values, weights / np.linalg.norm(weights))


def test_augmented_copies_keep_labels_vary_device_words_and_leave_sentences_out():
    story = {
        "text": "上个月业务员上门推销POS机。说押金299刷满就退。现在满了却不退。客服让我找他。我要退押金！",
        "category": "deposit_refund",
        "channel": "third_party",
    }
    copies = training.augmented([story], copies=40, seed=1)
    assert copies and all(c["category"] == "deposit_refund" and c["channel"] == "third_party" for c in copies)
    assert all(c["text"] != story["text"] for c in copies)
    shorter = [c for c in copies if len(c["text"]) < len(story["text"]) - 3]
    assert shorter, "some copies leave sentences out"
    # every copy is made of the story's own sentences (machine words aside), never empty
    for copy in copies:
        text = training._DEVICE.sub("机", copy["text"])
        assert text.strip()
        assert all(part in training._DEVICE.sub("机", story["text"]) for part in text.split("。") if part)
    named = {w for c in copies for w in training.DEVICE_WORDS if w in c["text"]}
    assert len(named) >= 4, named
    assert training.augmented([story], copies=40, seed=1) == copies


def test_augmented_leaves_short_stories_whole_apart_from_the_machine_word():
    story = {"text": "刷卡机屏幕裂了", "category": "device_quality", "channel": "unknown"}
    copies = training.augmented([story], copies=30, seed=3)
    assert copies
    assert {training._DEVICE.sub("X", c["text"]) for c in copies} == {"X屏幕裂了"}
    assert training.augmented([{"text": "屏幕裂了", "category": "device_quality"}], seed=3) == []


def fixed_model(category_probabilities: dict[str, float], margin: float, threshold: float = 0.2) -> Classifier:
    """A classifier that gives every text the same probabilities (zero weights, log-probability intercepts)."""
    from tousu import knowledge

    def task(probabilities):
        classes = list(probabilities)
        return classes, np.zeros((len(classes), 1)), np.log(np.array(list(probabilities.values()))), 1.0

    tasks = {
        "category": task(category_probabilities),
        "channel": task({"official": 0.1, "third_party": 0.1, "unknown": 0.8}),
    }
    meta = {"review_threshold": threshold, "priority_margin": margin, "priority": list(knowledge.default().categories)}
    return Classifier(LinearTextModel(["费"], np.ones(1), tasks, (1, 1)), meta)


def test_a_category_chosen_by_priority_over_a_more_probable_one_goes_to_review():
    probabilities = {"fee_rate": 0.5, "settlement": 0.4, "other": 0.1}
    [close] = fixed_model(probabilities, margin=0.6).predict(["刷卡的钱没到账，费率也高"])
    assert close["category"].label == "settlement"  # priority 4 before fee_rate's 7; 0.4 >= 0.6 * 0.5
    assert close["category"].passed_over == "fee_rate"
    assert fixed_model(probabilities, margin=0.6).needs_review(close["category"])
    [apart] = fixed_model(probabilities, margin=0.9).predict(["刷卡的钱没到账，费率也高"])
    assert apart["category"].label == "fee_rate" and apart["category"].passed_over is None
    assert not fixed_model(probabilities, margin=0.9).needs_review(apart["category"])
    [low] = fixed_model(probabilities, margin=0.9, threshold=0.6).predict(["费率高"])
    assert fixed_model(probabilities, margin=0.9, threshold=0.6).needs_review(low["category"])


def test_review_threshold_is_fitted_on_complaints_not_already_flagged():
    confidence = np.array([0.9, 0.8, 0.3, 0.95])
    correct = np.array([True, True, False, False])
    assert training._review_threshold(confidence, correct) == 0.99  # the confident mistake is never excluded
    flagged = np.array([False, False, False, True])  # e.g. decided by the priority list
    assert training._review_threshold(confidence, correct, flagged) == 0.31
