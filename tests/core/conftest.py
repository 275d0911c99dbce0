import json

import pytest

# A tiny labelled corpus written for the tests: three categories, all three channels.
STORIES = [
    ("上个月业务员说费率0.38终身不变，现在每笔扣0.6%，还加3元一笔", "fee_rate", "third_party"),
    ("拉卡拉偷偷把费率从0.55调到0.63，没有任何通知", "fee_rate", "unknown"),
    ("官网申请的机器，费率突然上调到千分之六，客服说是市场调整", "fee_rate", "official"),
    ("手续费比签约时承诺的高了一倍，刷一万扣了一百多", "fee_rate", "unknown"),
    ("代理商推销时说费率最低，结果秒到费每笔另收2元", "fee_rate", "third_party"),
    ("费率被调高了，要求恢复原来的0.38", "fee_rate", "unknown"),
    ("刷了5000元两天了还没到账，T+1变成了T+3", "settlement", "unknown"),
    ("昨天的货款一直没到账，客服说系统延迟请耐心等待", "settlement", "unknown"),
    ("官方APP办理的，秒到变成了隔天到，资金没到", "settlement", "official"),
    ("业务员办的机器，结算款到账少了300元", "settlement", "third_party"),
    ("结算卡换了以后钱还是打到旧卡上，至今没到账", "settlement", "unknown"),
    ("三笔交易的钱都没有结算到我的银行卡", "settlement", "unknown"),
    ("机器开不了机，买来才一周屏幕就黑了", "device_quality", "unknown"),
    ("朋友介绍买的POS机电池鼓包，充不进电", "device_quality", "third_party"),
    ("官方商城买的智能POS按键失灵，打印机卡纸", "device_quality", "official"),
    ("新机器外壳裂了，质量太差", "device_quality", "unknown"),
    ("淘宝买的机器屏幕一直闪，用不了", "device_quality", "third_party"),
    ("POS机一插电就发烫然后自动关机", "device_quality", "unknown"),
]


def write_corpus(directory, stories=STORIES, repeat=3):
    """Write the stories (each with a few harmless variants, so min_df keeps n-grams) as a corpus folder."""
    directory.mkdir(parents=True, exist_ok=True)
    by_category = {}
    for text, category, channel in stories:
        for i in range(repeat):
            variant = text + ("" if i == 0 else "。" * i)
            row = {"text": variant, "category": category, "channel": channel, "brand": "unknown"}
            by_category.setdefault(category, []).append(json.dumps(row, ensure_ascii=False))
    for category, lines in by_category.items():
        (directory / f"{category}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from tousu import training

    root = tmp_path_factory.mktemp("tiny")
    corpus = write_corpus(root / "corpus")
    meta = training.train(corpus, root / "model", calibration_dir=None)
    return root / "model", meta
