"""Training: the auto-reply threshold, label checks and what the training report promises."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage import DataError, Example, Faq
from triage.train import MIN_AUTO_REPLIES_FOR_THRESHOLD, choose_threshold, train

MIN = MIN_AUTO_REPLIES_FOR_THRESHOLD


def descending(n: int, top: float = 0.99, step: float = 0.001) -> list[float]:
    """``n`` distinct confidences, highest first."""
    return [round(top - step * i, 6) for i in range(n)]


def precision_at(threshold: float, confidence: list[float], correct: list[bool]) -> tuple[int, float]:
    replied = [ok for conf, ok in zip(confidence, correct, strict=True) if conf >= threshold]
    return len(replied), (sum(replied) / len(replied) if replied else 1.0)


def reference_threshold(confidence: list[float], correct: list[bool], target: float) -> float:
    """The rule written plainly: walk the distinct confidences downwards; stop at the first one whose
    replies (at least MIN of them) miss the target; the last one passed is the threshold."""
    threshold = 1.0
    for level in sorted(set(confidence), reverse=True):
        count, precision = precision_at(level, confidence, correct)
        if count >= MIN and precision < target:
            break
        if count >= MIN:
            threshold = level
    return threshold


class TestChooseThreshold:
    def test_all_correct_gives_the_lowest_confidence(self):
        confidence = descending(60)
        threshold, _ = choose_threshold(confidence, [True] * 60, 0.97)
        assert threshold == min(confidence)

    def test_threshold_meets_the_target_precision(self):
        rng = np.random.default_rng(7)
        confidence = sorted(rng.uniform(0.2, 1.0, 400).round(6).tolist(), reverse=True)
        correct = [bool(rng.random() < conf) for conf in confidence]  # higher confidence, more often right
        threshold, _ = choose_threshold(confidence, correct, 0.9)
        count, precision = precision_at(threshold, confidence, correct)
        assert threshold < 1.0
        assert count >= MIN
        assert precision >= 0.9

    def test_picks_the_lowest_threshold_that_meets_the_target(self):
        confidence = descending(44)
        correct = [True] * 40 + [False] * 4  # 40/44 = 0.909; one more wrong would be 40/45 = 0.889
        threshold, _ = choose_threshold([*confidence, 0.5], [*correct, False], 0.9)
        assert threshold == confidence[-1]
        assert precision_at(threshold, confidence, correct)[1] >= 0.9

    def test_lucky_pocket_below_does_not_lower_it(self):
        top, wrong, pocket = descending(40, 0.99), descending(10, 0.70), descending(300, 0.50)
        confidence = top + wrong + pocket
        correct = [True] * 40 + [False] * 10 + [True] * 300
        # Over everything, precision is 340/350 = 0.971 >= 0.95: only the pocket makes it look good.
        assert precision_at(min(confidence), confidence, correct)[1] >= 0.95
        threshold, _ = choose_threshold(confidence, correct, 0.95)
        # Down the list: 40/41 = 0.976, 40/42 = 0.952, then 40/43 = 0.930 misses; the pocket never counts.
        assert threshold == wrong[1]
        assert threshold > max(pocket)

    def test_unreachable_target_means_no_auto_replies(self):
        threshold, _ = choose_threshold(descending(50), [True, False] * 25, 0.97)
        assert threshold == 1.0

    def test_too_few_replies_means_no_auto_replies(self):
        threshold, _ = choose_threshold(descending(MIN - 1), [True] * (MIN - 1), 0.97)
        assert threshold == 1.0

    def test_no_candidates(self):
        assert choose_threshold([], [], 0.97)[0] == 1.0

    def test_input_order_does_not_matter(self):
        rng = np.random.default_rng(3)
        confidence = rng.uniform(0, 1, 200).round(6).tolist()
        correct = [bool(rng.random() < c) for c in confidence]
        shuffled = rng.permutation(200)
        assert (
            choose_threshold(confidence, correct, 0.8)[0]
            == choose_threshold([confidence[i] for i in shuffled], [correct[i] for i in shuffled], 0.8)[0]
        )

    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(
        st.lists(
            st.tuples(st.integers(0, 10_000), st.booleans()),
            min_size=0,
            max_size=120,
            unique_by=lambda pair: pair[0],
        ),
        st.sampled_from([0.5, 0.8, 0.9, 0.97]),
    )
    def test_matches_the_rule_for_distinct_confidences(self, pairs, target):
        confidence = [value / 10_000 for value, _ in pairs]
        correct = [ok for _, ok in pairs]
        assert choose_threshold(confidence, correct, target)[0] == reference_threshold(confidence, correct, target)

    def test_tied_confidences_give_one_threshold(self):
        # 25 right at 0.9, then 20 at 0.8 with one wrong: at 0.8 precision is 44/45 = 0.978 >= 0.97.
        confidence = [0.9] * 25 + [0.8] * 20
        wrong_first = [True] * 25 + [False] + [True] * 19
        wrong_last = [True] * 25 + [True] * 19 + [False]
        assert choose_threshold(confidence, wrong_first, 0.97)[0] == 0.8
        assert choose_threshold(confidence, wrong_last, 0.97)[0] == 0.8


def example(text: str, label: str, faq: str | None = None, source: str = "") -> Example:
    return Example(text, label, faq, source or f"test:{text}")


TWO_INTENTS = [example(f"退款{i}号问题", "refund") for i in range(4)] + [
    example(f"发票{i}号问题", "invoice") for i in range(4)
]


class TestTrainingData:
    def test_same_text_with_two_labels_is_refused(self):
        data = [
            *TWO_INTENTS,
            example("退款多久到账", "refund", source="a.jsonl:1"),
            example("退款多久到账", "invoice", source="b.jsonl:7"),
        ]
        with pytest.raises(DataError, match=r"b\.jsonl:7: same text as a\.jsonl:1"):
            train(data, c_grid=(10.0,), folds=2)

    def test_exact_repeats_are_dropped(self):
        data = [*TWO_INTENTS, example("退款多久到账", "refund"), example(" 退款多久到账 ", "refund")]
        _, report = train(data, c_grid=(10.0,), folds=2)
        assert (report.examples, report.duplicates_dropped) == (9, 1)

    def test_faq_without_an_answer_is_refused(self):
        data = [*TWO_INTENTS, example("退款多久到账", "refund", "refund_timeline", "x.jsonl:9")]
        with pytest.raises(DataError, match=r"x\.jsonl:9: faq 'refund_timeline' has no answer"):
            train(data, c_grid=(10.0,), folds=2)

    def test_faq_of_another_intent_is_refused(self):
        faqs = [Faq("refund_timeline", "refund", "退款多久到账", "1-3 天")]
        data = [*TWO_INTENTS, example("发票多久开", "invoice", "refund_timeline", "x.jsonl:4")]
        with pytest.raises(DataError, match=r"x\.jsonl:4: faq 'refund_timeline' belongs to intent 'refund'"):
            train(data, faqs=faqs, c_grid=(10.0,), folds=2)

    def test_one_label_is_refused(self):
        with pytest.raises(ValueError, match="at least two different labels"):
            train([example(f"退款{i}", "refund") for i in range(6)], c_grid=(10.0,), folds=2)


class TestTrainReport:
    def test_threshold_is_the_one_validated(self, tiny_trained):
        model, report = tiny_trained
        assert report.auto_reply_metrics is not None
        assert report.auto_reply_metrics["threshold"] == model.thresholds.auto_reply
        assert model.thresholds.auto_reply < 1.0  # the tiny data is enough for auto-replies
        assert report.auto_reply_metrics["precision"] >= model.thresholds.target_precision

    def test_report_counts_the_data(self, tiny_trained, tiny_examples):
        _, report = tiny_trained
        assert report.examples == len(tiny_examples)
        assert report.intent_metrics["n"] == len(tiny_examples)
        assert report.auto_reply_metrics["expected_auto_replies"] == sum(1 for ex in tiny_examples if ex.faq)
        assert "out-of-fold" in report.validation

    def test_manifest_records_training(self, tiny_model, tiny_examples):
        training = tiny_model.manifest["training"]
        assert training["examples"] == len(tiny_examples)
        assert len(training["data_sha256"]) == 64

    def test_given_validation_set_is_used(self, tiny_examples, tiny_faqs):
        validation = [
            example("退款几天能到账", "refund", "refund_timeline"),
            example("快递到哪了", "logistics"),
            example("电子发票怎么开", "invoice", "invoice_how"),
        ]
        _, report = train(tiny_examples, faqs=tiny_faqs, validation=validation, c_grid=(10.0,))
        assert report.validation == "given validation set"
        assert report.intent_metrics["n"] == len(validation)
