"""Intent and auto-reply metrics against values worked out by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score

from triage import Example
from triage.evaluate import auto_reply_scores, evaluate, intent_scores


class TestIntentScores:
    # truth a a a b b c / predicted a a b b c c
    TRUTH = ("a", "a", "a", "b", "b", "c")
    PREDICTED = ("a", "a", "b", "b", "c", "c")

    def test_accuracy(self):
        assert intent_scores(self.TRUTH, self.PREDICTED)["accuracy"] == pytest.approx(4 / 6)

    def test_per_label(self):
        per_label = intent_scores(self.TRUTH, self.PREDICTED)["per_label"]
        # a: 2 of 2 predicted right, 2 of 3 found; b: 1 of 2, 1 of 2; c: 1 of 2, 1 of 1.
        assert per_label["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
        assert per_label["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
        assert per_label["c"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})

    def test_macro_f1(self):
        assert intent_scores(self.TRUTH, self.PREDICTED)["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)

    def test_confused_pairs(self):
        pairs = intent_scores(["a", "a", "a", "b"], ["b", "b", "a", "a"])["confused_pairs"]
        assert pairs == [{"true": "a", "predicted": "b", "count": 2}, {"true": "b", "predicted": "a", "count": 1}]

    def test_label_only_predicted_counts_in_macro_f1(self):
        result = intent_scores(["a", "a"], ["a", "d"])
        assert result["per_label"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
        assert result["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)

    def test_perfect(self):
        result = intent_scores(["a", "b"], ["a", "b"])
        assert (result["accuracy"], result["macro_f1"], result["confused_pairs"]) == (1.0, 1.0, [])

    @pytest.mark.parametrize(("truth", "predicted"), [([], []), (["a"], ["a", "b"])])
    def test_empty_or_unequal_is_refused(self, truth, predicted):
        with pytest.raises(ValueError, match="same, non-zero number"):
            intent_scores(truth, predicted)

    @settings(max_examples=100, deadline=None, derandomize=True, database=None)
    @given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from("abcde")), min_size=1, max_size=40))
    def test_agrees_with_scikit_learn(self, pairs):
        truth, predicted = [t for t, _ in pairs], [p for _, p in pairs]
        result = intent_scores(truth, predicted)
        assert result["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
        assert result["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0))


class TestAutoReplyScores:
    def test_hand_computed(self):
        expected = ["f1", "f1", None, "f2", None, "f2"]
        replied = ["f1", None, "f1", "f2", None, "f1"]
        # replied 4 times: right at 0 and 3; wrong at 2 (no FAQ was due) and 5 (the other FAQ).
        assert auto_reply_scores(expected, replied) == {
            "auto_replies": 4,
            "expected_auto_replies": 4,
            "correct_auto_replies": 2,
            "precision": 0.5,
            "coverage": 0.5,
            "auto_reply_rate": pytest.approx(4 / 6),
        }

    def test_reply_where_none_was_expected_costs_precision_only(self):
        result = auto_reply_scores(["f1", None], ["f1", "f1"])
        assert (result["precision"], result["coverage"]) == (0.5, 1.0)

    def test_no_replies_is_vacuously_precise_and_covers_nothing(self):
        result = auto_reply_scores(["f1", "f2", None], [None, None, None])
        assert (result["precision"], result["coverage"], result["auto_reply_rate"]) == (1.0, 0.0, 0.0)

    def test_nothing_expected(self):
        result = auto_reply_scores([None, None], ["f1", None])
        assert (result["precision"], result["coverage"]) == (0.0, 0.0)

    def test_unequal_lengths_are_refused(self):
        with pytest.raises(ValueError, match=r"shorter|longer"):
            auto_reply_scores(["f1"], ["f1", None])


class TestEvaluate:
    def test_scores_the_models_own_decisions(self, tiny_model):
        examples = [
            Example("退款多久能到账？", "refund", "refund_timeline"),
            Example("怎么开发票呀", "invoice", "invoice_how"),
            Example("我的退款还没到账 订单2024119876", "refund"),
            Example("快递三天没更新了", "invoice"),  # deliberately wrong label: the model says logistics
        ]
        decisions = tiny_model.classify_many([ex.text for ex in examples])
        assert [d.intent for d in decisions] == ["refund", "invoice", "refund", "logistics"]
        assert [d.auto_reply for d in decisions] == [True, True, False, False]
        result = evaluate(tiny_model, examples)
        assert result["n"] == 4
        assert result["accuracy"] == 0.75
        assert result["confused_pairs"] == [{"true": "invoice", "predicted": "logistics", "count": 1}]
        assert result["auto_reply"]["precision"] == 1.0
        assert result["auto_reply"]["coverage"] == 1.0

    def test_no_auto_reply_section_without_faq_labels(self, tiny_model):
        result = evaluate(tiny_model, [Example("快递到哪了", "logistics"), Example("发票开错了", "invoice")])
        assert "auto_reply" not in result
