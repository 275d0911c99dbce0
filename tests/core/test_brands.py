import pytest

from tousu.brands import detect


@pytest.mark.parametrize(
    "text, brand",
    [
        ("拉卡拉的机器乱扣费", "lakala"),
        ("考拉超收的客服不回电话", "lakala"),
        ("用的是汇付天下的POS", "huifu"),
        ("去年在乐刷办的机器，后来又换了拉卡拉，拉卡拉也扣费", "lakala"),
        ("我在银行门口办的POS机", "unknown"),
        ("LAKALA app crashed", "lakala"),
        ("杉德风控把账户限额了", "shande"),
        ("中金支付官网申请的大POS", "zhongjin"),
        ("星驿付的电签一直签到失败", "xingyifu"),
    ],
)
def test_it_names_the_payment_company(text, brand):
    assert detect(text)[0] == brand


def test_it_returns_the_phrase_it_matched():
    assert detect("海科融通的机器") == ("haike", "海科融通")
    assert detect("没说是哪家") == ("unknown", None)
