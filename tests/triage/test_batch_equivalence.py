"""classify_many gives, text for text, the decisions classify gives (priority included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage import TriageModel

HELDOUT = Path(__file__).resolve().parents[2] / "training_data" / "heldout" / "heldout.jsonl"


def heldout_texts() -> list[str]:
    with HELDOUT.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def rounded(decision_dict: dict) -> dict:
    """Confidences are rounded to 4 places; batch and single scoring may differ in the last one."""
    return {k: v for k, v in decision_dict.items() if k not in ("confidence", "faq_confidence")}


@pytest.fixture(scope="module")
def texts() -> list[str]:
    if not HELDOUT.exists():
        pytest.skip("held-out data not present")
    return heldout_texts()


def test_classify_many_equals_classify_on_heldout(default_model: TriageModel, texts: list[str]) -> None:
    batch = [d.to_dict() for d in default_model.classify_many(texts)]
    single = [default_model.classify(t).to_dict() for t in texts]
    assert [rounded(d) for d in batch] == [rounded(d) for d in single]
    for b, s in zip(batch, single, strict=True):
        assert b["confidence"] == pytest.approx(s["confidence"], abs=2e-4)
        assert b["faq_confidence"] == pytest.approx(s["faq_confidence"], abs=2e-4)


def test_priority_terms_match_for_words_found_inside_longer_words(default_model: TriageModel) -> None:
    text = "已经在黑猫投诉上发了帖子 你们好自为之"
    batch = default_model.classify_many([text])[0]
    single = default_model.classify(text)
    assert (batch.priority, batch.priority_terms) == (single.priority, single.priority_terms)


def test_classify_many_of_nothing_is_empty(default_model: TriageModel) -> None:
    assert default_model.classify_many([]) == []
