"""The triage decision: intent, queue, priority, FAQ auto-reply or human, and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from triage.features import CHAR, TfidfFeaturizer, display_term
from triage.linear import FloatArray, LinearModel
from triage.normalize import MAX_CLASSIFY_CHARS, has_cjk, normalize
from triage.priority import PriorityRules
from triage.taxonomy import FALLBACK_QUEUE, Taxonomy

NO_FAQ = "__none__"
EXPLANATION_TERMS = 5


class EmptyTextError(ValueError):
    """Raised for an empty or whitespace-only text: there is nothing to triage."""

    def __init__(self) -> None:
        super().__init__("text is empty: send the customer's message in 'text' (at least one visible character)")


@dataclass(frozen=True)
class Thresholds:
    auto_reply: float = 0.5
    """Minimum FAQ probability for an auto-reply; chosen on validation data to meet ``target_precision``."""
    target_precision: float = 0.97
    low_confidence: float = 0.25
    """Below this intent confidence the ticket goes to the general queue for a person to sort."""


@dataclass(frozen=True)
class Decision:
    intent: str
    intent_name: str
    queue: str
    priority: str
    confidence: float
    faq_id: str | None
    faq_confidence: float
    auto_reply: bool
    answer: str | None
    explanation: list[str]
    reason: str
    model_version: str
    priority_terms: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TriageModel:
    """A loaded model. ``classify`` is safe to call from many threads at once."""

    def __init__(
        self,
        featurizer: TfidfFeaturizer,
        intent_model: LinearModel,
        faq_model: LinearModel | None,
        taxonomy: Taxonomy,
        thresholds: Thresholds,
        priority_rules: PriorityRules,
        manifest: dict[str, Any],
    ) -> None:
        self.featurizer = featurizer
        self.intent_model = intent_model
        self.faq_model = faq_model
        self.taxonomy = taxonomy
        self.thresholds = thresholds
        self.priority_rules = priority_rules
        self.manifest = manifest
        self.version = str(manifest.get("model_version", "unsaved"))
        self._features = featurizer.features()
        self._is_char = np.array([f[0] == CHAR for f in self._features], dtype=bool)
        # Display terms by feature index, filled as explanations need them (a dict write is atomic).
        self._display: dict[int, str] = {}

    def classify(self, text: str) -> Decision:
        if not isinstance(text, str) or not text.strip():
            raise EmptyTextError()
        text = text[:MAX_CLASSIFY_CHARS]
        indices, values, analysis = self.featurizer.vectorize_one(text)
        intent_p = self.intent_model.proba_one(indices, values)
        faq_p = self.faq_model.proba_one(indices, values) if self.faq_model else None
        return self._decide(text, indices, values, intent_p, faq_p, analysis.words, analysis.normalized)

    def classify_many(self, texts: Sequence[str]) -> list[Decision]:
        """Batch classification: one matrix product per model instead of one per message.

        Gives the same decisions as ``classify`` on each text (confidences up to float rounding).
        """
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise EmptyTextError()
        texts = [t[:MAX_CLASSIFY_CHARS] for t in texts]
        matrix, analyses = self.featurizer.transform_analyzed(texts)
        intent_p = self.intent_model.proba(matrix)
        faq_p = self.faq_model.proba(matrix) if self.faq_model else None
        decisions = []
        for row, text in enumerate(texts):
            start, end = matrix.indptr[row], matrix.indptr[row + 1]
            decisions.append(
                self._decide(
                    text,
                    matrix.indices[start:end],
                    matrix.data[start:end],
                    intent_p[row],
                    faq_p[row] if faq_p is not None else None,
                    analyses[row].words,
                    analyses[row].normalized,
                )
            )
        return decisions

    def _decide(
        self,
        text: str,
        indices: npt.NDArray[np.int32],
        values: FloatArray,
        intent_p: FloatArray,
        faq_p: FloatArray | None,
        words: list[str] | None = None,
        normalized: str | None = None,
    ) -> Decision:
        """``words`` and ``normalized`` are the segmented and normalised ``text``, if already computed."""
        best = int(np.argmax(intent_p))
        intent = self.intent_model.classes[best]
        confidence = float(intent_p[best])
        faq_id, faq_confidence, faq_index = None, 0.0, -1
        if faq_p is not None and self.faq_model is not None:
            faq_index = int(np.argmax(faq_p))
            candidate = self.faq_model.classes[faq_index]
            faq_confidence = float(faq_p[faq_index])
            faq = self.taxonomy.faqs.get(candidate)
            # The FAQ must belong to the predicted intent: two models agreeing guards precision.
            if faq is not None and faq.intent == intent:
                faq_id = candidate
            else:
                faq_confidence = 0.0

        queue = self.taxonomy.queue_of(intent)
        # "[微笑]" is an emoji code, not Chinese: look at the text with emoji replaced.
        if not (has_cjk(text) and has_cjk(normalize(text) if normalized is None else normalized)):
            confidence = min(confidence, self.thresholds.low_confidence / 2)
            reason = "no_chinese_text"
        elif faq_id is not None and faq_confidence >= self.thresholds.auto_reply:
            reason = "faq_auto_reply"
        elif faq_id is not None:
            reason = "faq_below_threshold"
        else:
            reason = "needs_person"
        if confidence < self.thresholds.low_confidence:
            queue = FALLBACK_QUEUE if FALLBACK_QUEUE in self.taxonomy.queues else queue
            if reason != "no_chinese_text":
                reason = "low_confidence"
        auto_reply = reason == "faq_auto_reply"
        if auto_reply and self.faq_model is not None:
            terms = self._explain(indices, values, self.faq_model, faq_index)
        else:
            terms = self._explain(indices, values, self.intent_model, best)
        priority, priority_terms = self.priority_rules.decide(intent, text, words)
        return Decision(
            intent=intent,
            intent_name=self.taxonomy.intents[intent].name if intent in self.taxonomy.intents else intent,
            queue=queue,
            priority=priority,
            confidence=round(confidence, 4),
            faq_id=faq_id,
            faq_confidence=round(faq_confidence, 4),
            auto_reply=auto_reply,
            answer=self.taxonomy.faqs[faq_id].answer if auto_reply and faq_id else None,
            explanation=terms,
            reason=reason,
            model_version=self.version,
            priority_terms=priority_terms,
        )

    def _explain(
        self, indices: npt.NDArray[np.int32], values: FloatArray, model: LinearModel, class_index: int
    ) -> list[str]:
        if not len(indices):
            return []
        weights = model.contributions(indices, values, class_index)
        # Whole words read better to an agent than character n-grams; those only fill up.
        is_char = self._is_char[indices]
        order = np.lexsort((-weights, is_char)).tolist()
        # Plain lists: indexing a numpy array element by element is several times slower.
        weight, index = weights.tolist(), indices.tolist()
        cache, features = self._display, self._features
        terms: list[str] = []
        for position in order:
            if len(terms) >= EXPLANATION_TERMS:
                break
            if weight[position] <= 0:
                continue
            feature_index = index[position]
            term = cache.get(feature_index)
            if term is None:
                term = cache[feature_index] = display_term(features[feature_index])
            if term and not any(term in t for t in terms):
                terms = [t for t in terms if t not in term]
                terms.append(term)
        return terms
