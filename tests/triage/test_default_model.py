"""The shipped model (models/default): the routing rule, priorities, explanations and held-out accuracy.

Every test here uses the ``default_model`` fixture, which skips, saying why, when models/default
holds no model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from triage import read_examples
from triage.evaluate import evaluate
from triage.normalize import normalize
from triage.priority import PRIORITIES

DATA = Path(__file__).resolve().parents[2] / "training_data"

INTENT_ACCURACY_FLOOR = 0.88
AUTO_REPLY_PRECISION_FLOOR = 0.95
AUTO_REPLY_COVERAGE_FLOOR = 0.65


def shipped_answer(faq_id: str) -> str:
    faqs = json.loads((DATA / "faq.json").read_text(encoding="utf-8"))
    return next(f["answer"] for f in faqs if f["id"] == faq_id)


def rank(priority: str) -> int:
    return PRIORITIES.index(priority)


def appears_in(term: str, text: str) -> bool:
    """Whether an explanation term (words, bigram ``a b``, n-gram, ``#order``...) is read from ``text``."""
    spelled = re.sub(r"#(order|phone|money|url|email|num|emoji)", r"x\1", term).replace(" ", "")
    return spelled in normalize(text).replace(" ", "")


class TestGeneralQuestionsAreAutoReplied:
    @pytest.mark.parametrize(
        ("text", "faq_id", "intent"),
        [
            ("退款多久能到账", "refund_timeline", "refund"),
            ("怎么开发票", "invoice_how", "invoice"),
            ("忘记密码怎么办", "password_reset", "account"),
            ("怎么取消订单", "order_cancel", "order_status"),
            ("支持哪些支付方式", "payment_methods", "payment"),
            ("會員有哪些權益", "vip_benefits", "membership"),
        ],
    )
    def test_auto_reply_with_the_right_faq(self, default_model, text, faq_id, intent):
        decision = default_model.classify(text)
        assert decision.intent == intent
        assert decision.faq_id == faq_id
        assert decision.auto_reply is True
        assert decision.reason == "faq_auto_reply"
        assert decision.faq_confidence >= default_model.thresholds.auto_reply
        assert decision.answer == shipped_answer(faq_id)


class TestOwnCasesGoToAPerson:
    @pytest.mark.parametrize(
        ("text", "intent"),
        [
            ("我的退款5天了还没到账 订单2024112233", "refund"),
            ("我申请的发票一直没收到 订单尾号3321", "invoice"),
            ("帮我把订单取消掉 刚拍错了 订单尾号3321", "order_status"),
            ("我买的耳机左边没声音", "technical_fault"),
        ],
    )
    def test_own_case_is_not_auto_replied(self, default_model, text, intent):
        decision = default_model.classify(text)
        assert decision.intent == intent
        assert decision.auto_reply is False
        assert decision.answer is None
        assert decision.queue == default_model.taxonomy.queue_of(intent)

    def test_own_case_shares_the_faq_words_but_not_the_route(self, default_model):
        general = default_model.classify("退款多久能到账")
        own = default_model.classify("我的退款5天了还没到账 订单2024112233")
        assert general.intent == own.intent == "refund"
        assert (general.auto_reply, own.auto_reply) == (True, False)


class TestComplaintPriority:
    def test_complaint_opens_high(self, default_model):
        decision = default_model.classify("客服一直不回消息 什么服务")
        assert decision.intent == "complaint"
        assert decision.queue == "complaints"
        assert decision.priority == "high"
        assert decision.auto_reply is False

    @pytest.mark.parametrize("threat", ["我要打12315", "我已经找了律师", "我要去网上曝光你们"])
    def test_escalation_words_raise_a_complaint(self, default_model, threat):
        plain = default_model.classify("客服一直不回消息 什么服务")
        escalated = default_model.classify(f"客服一直不回消息 什么服务 {threat}")
        assert escalated.intent == "complaint"
        assert rank(escalated.priority) > rank(plain.priority)
        assert any(term in threat for term in escalated.priority_terms)

    def test_escalation_word_makes_any_intent_at_least_high(self, default_model):
        decision = default_model.classify("退款一个月了还没到账 我已经找律师了")
        assert rank(decision.priority) >= rank("high")
        assert "律师" in decision.priority_terms

    def test_ordinary_question_keeps_normal_priority(self, default_model):
        decision = default_model.classify("怎么开发票")
        assert decision.priority == "normal"
        assert decision.priority_terms == []


class TestNonChineseGoesToAPerson:
    @pytest.mark.parametrize(
        "text",
        [
            "hello where is my refund",
            "Where is my order? 2024112233",
            "مرحبا، أين طلبي؟",
            "Здравствуйте, где мой заказ?",
            "😂😂😂",
            "\x00\x01\u202e",
        ],
    )
    def test_low_confidence_general_queue_no_auto_reply(self, default_model, text):
        decision = default_model.classify(text)
        assert decision.reason == "no_chinese_text"
        assert decision.confidence < default_model.thresholds.low_confidence
        assert decision.queue == "general"
        assert decision.auto_reply is False
        assert decision.answer is None


class TestExplanation:
    @pytest.mark.parametrize(
        "text",
        [
            "退款多久能到账",
            "忘记密码怎么办",
            "我的退款5天了还没到账 订单2024112233",
            "我申请的发票一直没收到 订单尾号3321",
            "客服态度太差了 我要投诉",
            "AirPods 左耳没声音 订单9988",
        ],
    )
    def test_terms_come_from_the_text(self, default_model, text):
        explanation = default_model.classify(text).explanation
        assert 1 <= len(explanation) <= 5
        assert len(set(explanation)) == len(explanation)
        assert [t for t in explanation if not appears_in(t, text)] == []

    def test_explanation_names_the_deciding_word(self, default_model):
        explanation = default_model.classify("怎么开发票").explanation
        assert any("发票" in term for term in explanation)


@pytest.fixture(scope="module")
def heldout(default_model):
    """The default model's scores on training_data/heldout/, which it was never trained on."""
    return evaluate(default_model, read_examples(DATA / "heldout"))


class TestHeldOutAccuracy:
    def test_intent_accuracy(self, heldout):
        assert heldout["n"] >= 100
        assert heldout["accuracy"] >= INTENT_ACCURACY_FLOOR

    def test_auto_reply_precision(self, heldout):
        assert heldout["auto_reply"]["precision"] >= AUTO_REPLY_PRECISION_FLOOR

    def test_auto_reply_coverage(self, heldout):
        assert heldout["auto_reply"]["coverage"] >= AUTO_REPLY_COVERAGE_FLOOR
