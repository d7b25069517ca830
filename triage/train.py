"""Training: features, intent and FAQ models, and an auto-reply threshold chosen on validation data.

Validation is either a separate labelled set or, by default, out-of-fold predictions from
stratified K-fold cross-validation over the training data: every example is scored by a model
that did not see it, and those scores choose the regularisation and the auto-reply threshold.
The threshold is the lowest FAQ probability at which auto-replies meet the target precision,
so a user training on their own data gets the same guarantee as the shipped model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from triage.dataset import DataError, Example, deduplicate, fingerprint
from triage.engine import NO_FAQ, Thresholds, TriageModel
from triage.evaluate import auto_reply_scores, intent_scores
from triage.features import TfidfFeaturizer
from triage.linear import FloatArray, LinearModel, fit_logistic
from triage.priority import PriorityRules
from triage.segment import Backend, Segmenter
from triage.taxonomy import Faq, Taxonomy

DEFAULT_C_GRID = (4.0, 10.0, 25.0)
DEFAULT_FOLDS = 5
MIN_AUTO_REPLIES_FOR_THRESHOLD = 20

Progress = Callable[[str], None]


@dataclass
class TrainReport:
    examples: int
    duplicates_dropped: int
    intent_c: float
    faq_c: float | None
    validation: str
    intent_metrics: dict[str, Any]
    auto_reply_metrics: dict[str, Any] | None
    threshold_curve: list[dict[str, float]] = field(default_factory=list)


def _check_labels(examples: Sequence[Example], taxonomy: Taxonomy) -> None:
    for ex in examples:
        if ex.label not in taxonomy.intents:
            raise DataError(f"{ex.source}: intent {ex.label!r} is not in the taxonomy")
        if ex.faq is not None:
            faq = taxonomy.faqs.get(ex.faq)
            if faq is None:
                raise DataError(f"{ex.source}: faq {ex.faq!r} has no answer in the FAQ file")
            if faq.intent != ex.label:
                raise DataError(f"{ex.source}: faq {ex.faq!r} belongs to intent {faq.intent!r}, not {ex.label!r}")


def out_of_fold_proba(
    matrix: sparse.csr_matrix, labels: list[str], c: float, folds: int, seed: int = 13
) -> tuple[FloatArray, tuple[str, ...]]:
    from sklearn.model_selection import StratifiedKFold

    classes = tuple(sorted(set(labels)))
    counts = np.unique(labels, return_counts=True)[1]
    n_splits = max(2, min(folds, int(counts.min()))) if counts.min() >= 2 else 2
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    y = np.array(labels)
    proba = np.zeros((len(labels), len(classes)), dtype=np.float32)
    stratify_on = y if counts.min() >= n_splits else np.zeros(len(y))
    for train_idx, test_idx in splitter.split(np.zeros(len(y)), stratify_on):
        fold_model = fit_logistic(matrix[train_idx], list(y[train_idx]), c)
        fold_p = fold_model.proba(matrix[test_idx])
        for j, cls in enumerate(fold_model.classes):
            proba[test_idx, classes.index(cls)] = fold_p[:, j]
    return proba, classes


def choose_threshold(
    faq_confidence: Sequence[float], correct: Sequence[bool], target_precision: float
) -> tuple[float, list[dict[str, float]]]:
    """Lowest threshold whose auto-replies (confidence >= threshold) reach ``target_precision``.

    Precision is required at the chosen threshold and at every higher one that still has
    at least ``MIN_AUTO_REPLIES_FOR_THRESHOLD`` replies, so a lucky pocket of low-confidence
    answers cannot pull the threshold down. Only whole groups of tied confidences are judged
    (a threshold admits all of them or none), so the order of tied examples does not matter.
    """
    order = np.argsort(-np.asarray(faq_confidence, dtype=np.float64))
    conf = np.asarray(faq_confidence, dtype=np.float64)[order]
    hits = np.cumsum(np.asarray(correct, dtype=np.float64)[order])
    counts = np.arange(1, len(conf) + 1)
    precision = hits / counts
    threshold = 1.0
    curve = []
    ok_so_far = True
    for i in range(len(conf)):
        if i + 1 < len(conf) and conf[i + 1] == conf[i]:
            continue
        if counts[i] >= MIN_AUTO_REPLIES_FOR_THRESHOLD and precision[i] < target_precision:
            ok_so_far = False
        if ok_so_far and counts[i] >= MIN_AUTO_REPLIES_FOR_THRESHOLD:
            threshold = float(conf[i])
        if i % max(1, len(conf) // 20) == 0:
            curve.append({"threshold": float(conf[i]), "replies": int(counts[i]), "precision": float(precision[i])})
    return threshold, curve


def train(
    examples: Sequence[Example],
    *,
    taxonomy: Taxonomy | None = None,
    faqs: Sequence[Faq] = (),
    validation: Sequence[Example] | None = None,
    user_words: Sequence[tuple[str, int]] = (),
    segmenter_backend: Backend = "rjieba",
    target_precision: float = 0.97,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    folds: int = DEFAULT_FOLDS,
    priority_rules: PriorityRules | None = None,
    progress: Progress = lambda _msg: None,
) -> tuple[TriageModel, TrainReport]:
    unique, conflicts = deduplicate(list(examples))
    if conflicts:
        first, second = conflicts[0]
        raise DataError(
            f"{second.source}: same text as {first.source} with a different label "
            f"({second.label}/{second.faq} vs {first.label}/{first.faq}); fix one of them"
        )
    labels_seen = sorted({ex.label for ex in unique})
    taxonomy = (
        (taxonomy or Taxonomy.from_labels(labels_seen)).with_faqs(list(faqs))
        if faqs
        else (taxonomy or Taxonomy.from_labels(labels_seen))
    )
    _check_labels(unique, taxonomy)
    if validation is not None:
        _check_labels(validation, taxonomy)
    has_faq = any(ex.faq for ex in unique) and bool(taxonomy.faqs)

    progress(f"segmenting and weighting {len(unique)} examples")
    segmenter = Segmenter(user_words, backend=segmenter_backend)
    featurizer = TfidfFeaturizer(segmenter, min_df=2).fit([ex.text for ex in unique])
    matrix = featurizer.transform([ex.text for ex in unique])
    intent_labels = [ex.label for ex in unique]
    faq_labels = [ex.faq or NO_FAQ for ex in unique]

    def validation_proba(labels: list[str], c: float) -> tuple[FloatArray, tuple[str, ...]]:
        if validation is None:
            return out_of_fold_proba(matrix, labels, c, folds)
        fitted = fit_logistic(matrix, labels, c)
        return fitted.proba(featurizer.transform([ex.text for ex in validation])), fitted.classes

    val_intents = [ex.label for ex in validation] if validation is not None else intent_labels
    val_faqs = [ex.faq or NO_FAQ for ex in validation] if validation is not None else faq_labels

    best_c, best_acc = c_grid[0], -1.0
    intent_p: FloatArray = np.zeros(0, dtype=np.float32)
    intent_classes: tuple[str, ...] = ()
    for c in c_grid:
        progress(f"intent model: validating C={c:g}")
        proba, classes = validation_proba(intent_labels, c)
        predicted = [classes[i] for i in proba.argmax(axis=1)]
        accuracy = float(np.mean([p == t for p, t in zip(predicted, val_intents, strict=True)]))
        if accuracy > best_acc:
            best_c, best_acc, intent_p, intent_classes = c, accuracy, proba, classes
    predicted_intents = [intent_classes[i] for i in intent_p.argmax(axis=1)]

    faq_c: float | None = None
    thresholds = Thresholds(target_precision=target_precision)
    auto_metrics: dict[str, Any] | None = None
    curve: list[dict[str, float]] = []
    if has_faq:
        best_score = -1.0
        best_faq: tuple[FloatArray, tuple[str, ...]] | None = None
        for c in c_grid:
            progress(f"FAQ model: validating C={c:g}")
            proba, classes = validation_proba(faq_labels, c)
            score = float(np.mean([classes[i] == t for i, t in zip(proba.argmax(axis=1), val_faqs, strict=True)]))
            if score > best_score:
                faq_c, best_score, best_faq = c, score, (proba, classes)
        assert best_faq is not None
        faq_p, faq_classes = best_faq
        candidates: list[int] = []
        confidence: list[float] = []
        correct: list[bool] = []
        for row, intent in enumerate(predicted_intents):
            idx = int(faq_p[row].argmax())
            faq_id = faq_classes[idx]
            faq = taxonomy.faqs.get(faq_id)
            if faq is not None and faq.intent == intent:
                candidates.append(row)
                confidence.append(float(faq_p[row, idx]))
                correct.append(faq_id == val_faqs[row])
        auto_reply, curve = choose_threshold(confidence, correct, target_precision)
        thresholds = Thresholds(auto_reply=auto_reply, target_precision=target_precision)
        replied = [
            faq_classes[int(faq_p[row].argmax())] if conf >= auto_reply else None
            for row, conf in zip(candidates, confidence, strict=True)
        ]
        predicted_faqs: list[str | None] = [None] * len(val_faqs)
        for row, replied_faq in zip(candidates, replied, strict=True):
            predicted_faqs[row] = replied_faq
        auto_metrics = auto_reply_scores([None if f == NO_FAQ else f for f in val_faqs], predicted_faqs)
        auto_metrics["threshold"] = auto_reply

    progress(f"fitting final models (intent C={best_c:g}, FAQ C={faq_c})")
    intent_model = fit_logistic(matrix, intent_labels, best_c)
    faq_model: LinearModel | None = fit_logistic(matrix, faq_labels, faq_c) if has_faq and faq_c else None
    report = TrainReport(
        examples=len(unique),
        duplicates_dropped=len(examples) - len(unique),
        intent_c=best_c,
        faq_c=faq_c,
        validation="given validation set" if validation is not None else f"{folds}-fold out-of-fold predictions",
        intent_metrics=intent_scores(val_intents, predicted_intents),
        auto_reply_metrics=auto_metrics,
        threshold_curve=curve,
    )
    manifest = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "training": {
            "examples": len(unique),
            "data_sha256": fingerprint(unique),
            "validation": report.validation,
            "intent_c": best_c,
            "faq_c": faq_c,
        },
        "metrics": {
            "intent_accuracy": report.intent_metrics["accuracy"],
            "intent_macro_f1": report.intent_metrics["macro_f1"],
            "auto_reply": auto_metrics,
        },
    }
    model = TriageModel(
        featurizer=featurizer,
        intent_model=intent_model,
        faq_model=faq_model,
        taxonomy=taxonomy,
        thresholds=thresholds,
        priority_rules=priority_rules or PriorityRules(),
        manifest=manifest,
    )
    return model, report
