import pytest

from tousu.acquisition import detect


@pytest.mark.parametrize(
    "text, channel",
    [
        ("去年通过代理商小王办理的POS机，押金一直没退", "third_party"),
        ("业务员上门推销说费率0.38终身不变", "third_party"),
        ("在拼多多上买的刷卡机，用了一个月就坏了", "third_party"),
        ("我是在官网申请的电签机，费率被上调了", "official"),
        ("当时打客服热线办理的，说押金可退", "official"),
        ("机器是代理商办的，后来客服说费率调了", "third_party"),
    ],
)
def test_it_reads_the_channel_the_complaint_states(text, channel):
    assert detect(text)[0] == channel


@pytest.mark.parametrize(
    "text",
    [
        "刷卡三天没到账，客服一直不回电话",  # customer service named, but not as the seller
        "拉卡拉App显示已处理，但钱还没到",
        "机器开不了机",
    ],
)
def test_it_says_nothing_when_the_complaint_does_not(text):
    assert detect(text) == (None, None)


def test_it_returns_the_phrase_as_evidence():
    channel, phrase = detect("我通过朋友介绍办了一台机器")
    assert channel == "third_party"
    assert phrase in "我通过朋友介绍办了一台机器" and "朋友" in phrase
