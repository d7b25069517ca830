"""The decision a model makes for one message, on the tiny model trained in conftest."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from triage import EmptyTextError, TriageModel
from triage.linear import LinearModel
from triage.normalize import MAX_CLASSIFY_CHARS, normalize


def with_thresholds(model: TriageModel, **changes: float) -> TriageModel:
    """The same model with other thresholds (the session's model is left alone)."""
    return TriageModel(
        featurizer=model.featurizer,
        intent_model=model.intent_model,
        faq_model=model.faq_model,
        taxonomy=model.taxonomy,
        thresholds=dataclasses.replace(model.thresholds, **changes),
        priority_rules=model.priority_rules,
        manifest=model.manifest,
    )


def with_faq_classes(model: TriageModel, classes: tuple[str, ...]) -> TriageModel:
    """The same model whose FAQ model names its columns ``classes`` (to make the two models disagree)."""
    assert model.faq_model is not None
    faq_model = LinearModel(classes, model.faq_model.coef, model.faq_model.intercept)
    return TriageModel(
        featurizer=model.featurizer,
        intent_model=model.intent_model,
        faq_model=faq_model,
        taxonomy=model.taxonomy,
        thresholds=model.thresholds,
        priority_rules=model.priority_rules,
        manifest=model.manifest,
    )


def appears_in(term: str, text: str) -> bool:
    spelled = re.sub(r"#(order|phone|money|url|email|num|emoji)", r"x\1", term).replace(" ", "")
    return spelled in normalize(text).replace(" ", "")


class TestEmptyText:
    @pytest.mark.parametrize("text", ["", " ", "\u3000\n\t"])
    def test_empty_or_whitespace_is_refused(self, tiny_model, text):
        with pytest.raises(EmptyTextError, match="text is empty"):
            tiny_model.classify(text)

    def test_non_text_is_refused(self, tiny_model):
        with pytest.raises(EmptyTextError):
            tiny_model.classify(None)

    def test_one_empty_text_in_a_batch_is_refused(self, tiny_model):
        with pytest.raises(EmptyTextError):
            tiny_model.classify_many(["怎么开发票", "  "])

    def test_empty_batch_gives_no_decisions(self, tiny_model):
        assert tiny_model.classify_many([]) == []


class TestOddInputDoesNotCrash:
    @pytest.mark.parametrize(
        "text",
        ["😂😂😂", "🙏👍🏻", "مرحبا، أين طلبي؟", "Привет, где заказ?", "\x00\x01\x02", "\u202e\u200b", "？？？"],
    )
    def test_goes_to_a_person_with_low_confidence(self, tiny_model, text):
        decision = tiny_model.classify(text)
        assert decision.reason == "no_chinese_text"
        assert decision.auto_reply is False
        assert decision.confidence < tiny_model.thresholds.low_confidence

    def test_decision_is_plain_json(self, tiny_model):
        decision = tiny_model.classify("退款多久到账 😡 ¥299")
        assert json.loads(json.dumps(decision.to_dict(), ensure_ascii=False)) == decision.to_dict()


class TestRoute:
    def test_general_question_is_auto_replied(self, tiny_model, tiny_faqs):
        decision = tiny_model.classify("退款多久能到账？")
        assert (decision.intent, decision.faq_id, decision.auto_reply) == ("refund", "refund_timeline", True)
        assert decision.answer == tiny_faqs[0].answer
        assert decision.reason == "faq_auto_reply"

    def test_traditional_question_is_auto_replied(self, tiny_model):
        decision = tiny_model.classify("請問發票怎麼開")
        assert (decision.intent, decision.faq_id, decision.auto_reply) == ("invoice", "invoice_how", True)

    def test_own_case_goes_to_the_intent_queue(self, tiny_model):
        decision = tiny_model.classify("我的退款还没到账 订单2024119876")
        assert decision.intent == "refund"
        assert decision.queue == tiny_model.taxonomy.queue_of("refund")
        assert decision.auto_reply is False
        assert decision.answer is None
        assert decision.reason == "needs_person"

    def test_faq_always_belongs_to_the_intent(self, tiny_model, probes, tiny_examples):
        for decision in tiny_model.classify_many([*probes, *(ex.text for ex in tiny_examples)]):
            if decision.faq_id is not None:
                assert tiny_model.taxonomy.faqs[decision.faq_id].intent == decision.intent

    def test_faq_of_another_intent_is_not_used(self, tiny_model):
        assert tiny_model.faq_model is not None
        assert tiny_model.faq_model.classes == ("__none__", "invoice_how", "refund_timeline")
        swapped = with_faq_classes(tiny_model, ("__none__", "refund_timeline", "invoice_how"))
        decision = swapped.classify("退款多久能到账？")  # intent refund; the FAQ model now says invoice_how
        assert decision.intent == "refund"
        assert (decision.faq_id, decision.auto_reply, decision.answer) == (None, False, None)
        assert decision.reason == "needs_person"

    def test_auto_reply_needs_the_threshold(self, tiny_model):
        strict = with_thresholds(tiny_model, auto_reply=1.01)
        decision = strict.classify("退款多久能到账？")
        assert decision.faq_id == "refund_timeline"
        assert decision.auto_reply is False
        assert decision.answer is None
        assert decision.reason == "faq_below_threshold"

    def test_low_confidence_is_not_auto_replied(self, tiny_model):
        unsure = with_thresholds(tiny_model, low_confidence=1.01)
        decision = unsure.classify("退款多久能到账？")
        assert decision.reason == "low_confidence"
        assert decision.auto_reply is False

    def test_low_confidence_goes_to_the_general_queue(self, default_model):
        unsure = with_thresholds(default_model, low_confidence=1.01)
        decision = unsure.classify("退款多久能到账？")
        assert default_model.classify("退款多久能到账？").queue == "after_sales"
        assert decision.queue == "general"

    def test_decision_names_the_model_version(self, tiny_model):
        assert tiny_model.classify("怎么开发票").model_version == tiny_model.version


class TestBatchMatchesSingle:
    def test_classify_many_decides_as_classify(self, tiny_model, probes):
        for single, batch in zip(
            [tiny_model.classify(t) for t in probes], tiny_model.classify_many(probes), strict=True
        ):
            assert batch.confidence == pytest.approx(single.confidence, abs=1e-4)
            assert batch.faq_confidence == pytest.approx(single.faq_confidence, abs=1e-4)
            assert (batch.intent, batch.faq_id, batch.auto_reply, batch.reason, batch.queue) == (
                single.intent,
                single.faq_id,
                single.auto_reply,
                single.reason,
                single.queue,
            )
            assert batch.explanation == single.explanation


class TestLongText:
    def test_text_after_the_limit_is_ignored(self, tiny_model):
        head = "发票" * (MAX_CLASSIFY_CHARS // 2)
        tail = "快递到哪了 物流不更新 我要投诉 打12315 " * 200
        decision = tiny_model.classify(head + tail)
        assert decision.intent == "invoice"
        assert decision == tiny_model.classify(head)
        assert tiny_model.classify_many([head + tail])[0] == decision
        assert decision.priority_terms == []

    def test_chinese_after_the_limit_does_not_count(self, tiny_model):
        decision = tiny_model.classify("ok " * MAX_CLASSIFY_CHARS + "退款多久能到账")
        assert decision.reason == "no_chinese_text"


class TestExplanation:
    @pytest.mark.parametrize(
        "text", ["退款多久能到账？", "我的退款还没到账 订单2024119876", "快递三天没更新了 单号SF9988776655"]
    )
    def test_terms_come_from_the_text(self, tiny_model, text):
        explanation = tiny_model.classify(text).explanation
        assert 1 <= len(explanation) <= 5
        assert [t for t in explanation if not appears_in(t, text)] == []

    @pytest.mark.parametrize(
        ("text", "intent", "other_word"), [("快递到哪了 发票", "logistics", "发票"), ("退款 快递", "refund", "快递")]
    )
    def test_words_that_speak_against_the_intent_are_left_out(self, tiny_model, text, intent, other_word):
        decision = tiny_model.classify(text)
        assert decision.intent == intent
        assert decision.explanation
        assert not [term for term in decision.explanation if other_word in term]

    def test_no_features_no_explanation(self, tiny_model):
        assert tiny_model.classify("zzzz qqqq").explanation == []
