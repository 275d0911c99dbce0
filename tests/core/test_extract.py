from __future__ import annotations

import datetime as dt
import json

from tousu.extract import KINDS, Fact, Facts, extract_facts

TODAY = dt.date(2025, 11, 20)
NEW_YEAR = dt.date(2026, 1, 5)  # a Monday, just after a year boundary


def facts(text: str, today: dt.date = TODAY) -> Facts:
    return extract_facts(text, today=today)


def only(found: Facts, kind: str) -> Fact:
    matches = getattr(found, kind)
    assert len(matches) == 1, matches
    return matches[0]


# --- amounts -------------------------------------------------------------------------------


def test_it_reads_yuan_amounts_with_units():
    found = facts("办机器交了押金299元，后来又扣了181.44元，一共损失2600元。")
    assert found.values("amount") == ["299", "181.44", "2600"]


def test_it_reads_wan_as_ten_thousand():
    found = facts("我这个月刷了1.2万，被多扣了3万元的说法不成立。")
    assert found.values("amount") == ["12000", "30000"]


def test_it_reads_chinese_numeral_amounts():
    found = facts("业务员收了五百块，又扣了一千二百元，前后差不多两万。")
    assert found.values("amount") == ["500", "1200", "20000"]


def test_it_marks_an_approximate_amount():
    amount = only(facts("这半年累计被扣了两千多元手续费。"), "amount")
    assert (amount.value, amount.note, amount.text) == ("2000", "约", "两千多元")


def test_it_reads_currency_signs_and_colloquial_units():
    found = facts("激活收了￥299，会员费RMB 99，流量费99块钱。")
    assert found.values("amount") == ["299", "99", "99"]
    assert [f.text for f in found.amount] == ["￥299", "RMB 99", "99块钱"]


def test_it_reads_a_bare_number_after_a_money_word():
    amount = only(facts("押金299至今没有退回"), "amount")
    assert (amount.value, amount.text) == ("299", "299")


def test_it_does_not_take_counts_dates_or_phones_for_amounts():
    found = facts("上周刷了1.2万笔，2025年3月办的机，电话13812345678，万一出问题找谁。")
    assert found.amount == ()


# --- rates ---------------------------------------------------------------------------------


def test_it_reads_a_bare_number_after_feilv_as_a_rate_not_an_amount():
    found = facts("业务员说费率0.38，结果每笔都按0.6%扣。")
    assert found.values("rate") == ["0.38", "0.6"]
    assert found.amount == ()


def test_it_reads_rates_written_as_fractions_and_points():
    found = facts("说好千分之六，实际万分之三十八加上0.55个点的服务费。")
    assert found.values("rate") == ["0.6", "0.38", "0.55"]


def test_it_splits_a_per_transaction_fee_from_its_rate():
    found = facts("现在费率是2.9%+3元/笔，太黑了。")
    rate = only(found, "rate")
    assert (rate.value, rate.note, rate.text) == ("2.9", "+3元/笔", "2.9%")
    assert found.values("per_txn_fee") == ["3"]
    assert found.amount == ()


def test_it_reads_both_rates_in_a_rate_change():
    found = facts("费率从0.38涨到0.6，没人通知我")
    assert found.values("rate") == ["0.38", "0.6"]


def test_it_stops_a_rate_cue_at_the_end_of_its_clause():
    found = facts("费率没变，扣了26")
    assert found.rate == ()
    assert found.values("amount") == ["26"]


# --- dates ---------------------------------------------------------------------------------


def test_it_reads_absolute_dates_in_several_formats():
    text = "2025年10月3日办理，2025-10-04激活，2025/10/5第一笔，10.6号到账"
    found = facts(text)
    assert found.values("date") == ["2025-10-03", "2025-10-04", "2025-10-05", "2025-10-06"]
    assert {f.note for f in found.date} == {"日"}


def test_it_gives_a_date_without_a_year_the_latest_year_not_after_today():
    found = facts("3月11日中午办的，12月1日开始扣费", today=TODAY)
    assert found.values("date") == ["2025-03-11", "2024-12-01"]


def test_it_resolves_last_month_across_a_year_boundary():
    date = only(facts("上个月突然多扣了钱", today=NEW_YEAR), "date")
    assert (date.value, date.note) == ("2025-12-01", "月")


def test_it_resolves_relative_days_and_weeks():
    found = facts("昨天、前天、上周都被扣过，三天前又扣", today=NEW_YEAR)
    assert found.values("date") == ["2026-01-04", "2026-01-03", "2025-12-29", "2026-01-02"]
    assert [f.note for f in found.date] == ["日", "日", "周", "日"]


def test_it_marks_vague_relative_dates_as_approximate():
    date = only(facts("前几天机器就不能用了", today=NEW_YEAR), "date")
    assert (date.value, date.note) == ("2026-01-02", "约")


def test_it_resolves_last_years_double_eleven_and_months_ago():
    found = facts("去年双十一办的卡，两个月前开始扣年费", today=NEW_YEAR)
    assert found.values("date") == ["2025-11-11", "2025-11-01"]
    assert [f.note for f in found.date] == ["日", "月"]


# --- devices and labelled numbers ----------------------------------------------------------


def test_it_reads_device_types_and_model_codes():
    found = facts("先给我一台Q50，又换成LKL-A8智能POS，后来是电签版，现在用拉卡拉考拉超收和MPOS")
    assert found.values("device_model") == ["Q50", "LKL-A8", "智能POS", "电签版", "拉卡拉考拉超收", "MPOS"]


def test_it_does_not_take_settlement_cycles_for_models():
    found = facts("说好的T1到账变成了D0要收费")
    assert found.device_model == ()


def test_it_reads_serial_merchant_terminal_and_reference_numbers():
    text = "SN：00001234567，商户编号822290054110001，终端号12345678，参考号：202510031234"
    found = facts(text)
    assert found.values("serial_number") == ["00001234567"]
    assert found.values("merchant_number") == ["822290054110001"]
    assert found.values("terminal_number") == ["12345678"]
    ref = only(found, "transaction_ref")
    assert (ref.value, ref.note) == ("202510031234", "参考号")


def test_it_never_takes_a_merchant_number_for_a_bank_card():
    found = facts("我的商户号是822290054110001，请核实")
    assert found.values("merchant_number") == ["822290054110001"]
    assert found.bank_card == ()


# --- personal numbers and hotlines ---------------------------------------------------------


def test_it_reads_mobile_and_landline_phones():
    found = facts("手机+86 138-1234-5678，座机0755-26543210")
    assert found.values("phone") == ["13812345678", "0755-26543210"]
    assert [f.note for f in found.phone] == ["手机", "固话"]


def test_it_reads_hotlines_as_hotlines_not_phones():
    found = facts("打了95016和12363，还有400-123-4567都没用")
    assert found.values("hotline") == ["95016", "12363", "4001234567"]
    assert found.phone == ()


def test_it_reads_a_valid_id_number_and_bank_card():
    found = facts("身份证110101199003071233，结算卡6217 0000 1000 1230 120")
    assert found.values("id_number") == ["110101199003071233"]
    assert found.values("bank_card") == ["6217000010001230120"]


def test_it_leaves_an_id_number_with_a_wrong_check_digit_alone():
    found = facts("身份证110101199003071234")
    assert found.id_number == ()
    assert found.bank_card == ()


def test_it_ignores_a_card_number_that_fails_luhn():
    assert facts("卡号6217000010001230121").bank_card == ()


# --- whole texts ---------------------------------------------------------------------------


def test_it_reads_traditional_characters_and_full_width_digits():
    found = facts("上個月費率０．６％，扣了兩萬元，電話１３８１２３４５６７８", today=NEW_YEAR)
    assert found.values("date") == ["2025-12-01"]
    assert found.values("rate") == ["0.6"]
    assert found.values("amount") == ["20000"]
    assert found.values("phone") == ["13812345678"]
    assert found.amount[0].text == "兩萬元"


def test_it_finds_nothing_in_a_text_without_facts():
    found = facts("您好，我想咨询一下怎么注销账户，谢谢。")
    assert found.all() == []
    assert all(group == [] for group in found.to_dict().values())


def test_it_gives_positions_into_the_original_text():
    text = "押金２９９元没退"
    amount = only(facts(text), "amount")
    assert text[amount.start : amount.end] == amount.text == "２９９元"


def test_it_serialises_every_kind_to_json():
    found = facts("2025年10月3日被扣了299元，费率0.6%")
    data = json.loads(json.dumps(found.to_dict(), ensure_ascii=False))
    assert set(data) == set(KINDS)
    assert data["amount"] == [{"value": "299", "text": "299元", "start": 13, "end": 17, "note": None}]
    assert data["date"][0]["value"] == "2025-10-03"


def test_adversarial_runs_give_well_formed_facts():
    # Inputs that make backtracking regexes go quadratic; their speed is measured in bench/bench_extract.py.
    pieces = ["1", "1 ", "1,", "1.", "一", "一点", "1月", "费率1", "1%", "1元", "2025年", "A1", "1X"]
    for piece in pieces:
        text = piece * (10_000 // len(piece))
        for fact in extract_facts(text, today=TODAY).all():
            assert text[fact.start : fact.end] == fact.text, piece
