"""Metrics for intent classification and FAQ auto-replies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from triage.dataset import Example
    from triage.engine import TriageModel

CONFUSED_PAIRS = 10


def intent_scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 (over labels in truth or predictions, as scikit-learn), per label, confusions."""
    if len(truth) != len(predicted) or not truth:
        raise ValueError("need the same, non-zero number of true and predicted labels")
    labels = sorted(set(truth) | set(predicted))
    per_label: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p == label)
        n_pred = sum(1 for p in predicted if p == label)
        n_true = sum(1 for t in truth if t == label)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_true if n_true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": n_true}
    confusions = Counter((t, p) for t, p in zip(truth, predicted, strict=True) if t != p)
    return {
        "n": len(truth),
        "accuracy": sum(1 for t, p in zip(truth, predicted, strict=True) if t == p) / len(truth),
        "macro_f1": sum(s["f1"] for s in per_label.values()) / len(per_label),
        "per_label": per_label,
        "confused_pairs": [
            {"true": t, "predicted": p, "count": n} for (t, p), n in confusions.most_common(CONFUSED_PAIRS)
        ],
    }


def auto_reply_scores(expected: Sequence[str | None], replied: Sequence[str | None]) -> dict[str, Any]:
    """Precision: share of auto-replies whose FAQ is the expected one (a reply where none was
    expected is wrong). Coverage: share of messages expecting an FAQ that got exactly that FAQ."""
    pairs = list(zip(expected, replied, strict=True))
    n_replied = sum(1 for _, r in pairs if r is not None)
    n_expected = sum(1 for e, _ in pairs if e is not None)
    correct = sum(1 for e, r in pairs if r is not None and r == e)
    return {
        "auto_replies": n_replied,
        "expected_auto_replies": n_expected,
        "correct_auto_replies": correct,
        "precision": correct / n_replied if n_replied else 1.0,
        "coverage": correct / n_expected if n_expected else 0.0,
        "auto_reply_rate": n_replied / len(pairs) if pairs else 0.0,
    }


def evaluate(model: TriageModel, examples: Sequence[Example]) -> dict[str, Any]:
    decisions = model.classify_many([ex.text for ex in examples])
    result = intent_scores([ex.label for ex in examples], [d.intent for d in decisions])
    if any(ex.faq for ex in examples):
        result["auto_reply"] = auto_reply_scores(
            [ex.faq for ex in examples], [d.faq_id if d.auto_reply else None for d in decisions]
        )
    return result
