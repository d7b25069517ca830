"""Priority rules: the intent sets the base, anger words raise it, escalation words set a floor."""

from __future__ import annotations

import json

import pytest

from triage.priority import PriorityRules


def decide(intent: str, text: str, **rules) -> tuple[str, list[str]]:
    return PriorityRules(**rules).decide(intent, text)


class TestBasePriority:
    def test_complaint_opens_high(self):
        assert decide("complaint", "客服一直不回消息") == ("high", [])

    def test_chitchat_opens_low(self):
        assert decide("chitchat", "谢谢") == ("low", [])

    def test_other_intents_open_at_the_default(self):
        assert decide("invoice", "怎么开发票") == ("normal", [])


class TestAngerWords:
    def test_one_anger_word_raises_one_level(self):
        assert decide("refund", "退款还没到 你们就是骗子") == ("high", ["骗子"])

    def test_raise_is_capped_at_max_raise(self):
        priority, terms = decide("chitchat", "垃圾 骗子 黑店 坑人")
        assert len(terms) == 4
        assert priority == "high"  # low + 2, not low + 4

    def test_latin_text_matches_case_insensitively(self):
        assert decide("refund", "退款没到", anger_words=("wtf",)) == ("normal", [])
        assert decide("refund", "退款没到 WTF", anger_words=("wtf",)) == ("high", ["wtf"])

    def test_configured_upper_case_word_matches(self):
        assert decide("refund", "退款没到 WTF", anger_words=("WTF",)) == ("high", ["WTF"])

    def test_urgent_is_the_ceiling(self):
        assert decide("complaint", "骗子 黑店 我要打12315 找律师 曝光")[0] == "urgent"


class TestEscalationWords:
    @pytest.mark.parametrize("word", ["12315", "律师", "曝光", "消协", "起诉"])
    def test_escalation_makes_at_least_high(self, word):
        priority, terms = decide("chitchat", f"再这样我就{word}")
        assert priority == "high"
        assert terms == [word]

    def test_escalation_raises_a_complaint_to_urgent(self):
        assert decide("complaint", "客服不回消息 我要打12315")[0] == "urgent"


class TestConfiguration:
    def test_unknown_priority_is_refused(self):
        with pytest.raises(ValueError, match="unknown priority 'critical'"):
            PriorityRules(intent_base={"complaint": "critical"})

    def test_rules_from_file(self, tmp_path):
        path = tmp_path / "rules.json"
        path.write_text(json.dumps({"intent_base": {"refund": "high"}, "anger_words": ["离谱"]}), encoding="utf-8")
        rules = PriorityRules.from_file(path)
        assert rules.decide("refund", "退款没到") == ("high", [])
        assert rules.decide("invoice", "太离谱了") == ("high", ["离谱"])
        assert rules.decide("invoice", "垃圾") == ("normal", [])  # the default list was replaced


class TestWordsMatchWholeTerms:
    """Substring matching raises ordinary questions: the words sit inside store and bank terms."""

    def test_order_number_containing_12315_is_not_an_escalation(self):
        assert decide("order_status", "订单2024123156到哪了") == ("normal", [])

    def test_paying_with_an_icbc_card_is_not_an_escalation(self):
        assert decide("payment", "用工商银行的卡付款失败了") == ("normal", [])

    def test_weibo_login_is_not_an_escalation(self):
        assert decide("account", "可以用微博账号登录吗") == ("normal", [])

    @pytest.mark.parametrize("text", ["滚筒洗衣机有几种颜色", "垃圾桶还有货吗"])
    def test_product_names_are_not_anger(self, text):
        assert decide("product_inquiry", text) == ("normal", [])


class TestWordsMatchAfterNormalisation:
    """The model sees normalised text (full-width folded, Traditional mapped); the rules see raw text."""

    def test_traditional_escalation_is_found(self):
        assert decide("complaint", "我要找律師 還要投訴你們") == decide("complaint", "我要找律师 还要投诉你们")

    def test_full_width_12315_is_found(self):
        assert decide("refund", "退款不到账 我要打１２３１５") == decide("refund", "退款不到账 我要打12315")
