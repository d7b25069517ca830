"""Finding likely mislabelled examples in agent-labelled data (confident learning, simplified).

Each example is scored by a model that did not see it (K-fold). An example is suspicious when
another label is predicted and the probability of its own label is below the average confidence
the model has in that label's examples: the per-class threshold of Northcutt et al.'s confident
learning, which adapts to classes that are naturally hard. It is also flagged only when the model
is reasonably sure of the label it suggests instead (``min_suggested_probability``, 0.5 by default):
an example the model merely finds ambiguous between several labels is not worth an agent's review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from triage.dataset import Example
from triage.features import TfidfFeaturizer
from triage.segment import Segmenter
from triage.train import out_of_fold_proba


@dataclass(frozen=True)
class Suspect:
    example: Example
    given_probability: float
    suggested: str
    suggested_probability: float


def find_label_issues(
    examples: Sequence[Example],
    *,
    user_words: Sequence[tuple[str, int]] = (),
    c: float = 10.0,
    folds: int = 5,
    min_suggested_probability: float = 0.5,
) -> list[Suspect]:
    """Suspicious examples, most suspicious first.

    An example is flagged when its out-of-fold prediction is another label, the probability of its
    own label is below that label's average, and the suggested label's out-of-fold probability is at
    least ``min_suggested_probability`` (0.5 by default; 0 flags every disagreement below threshold).
    """
    featurizer = TfidfFeaturizer(Segmenter(user_words), min_df=2).fit([ex.text for ex in examples])
    matrix = featurizer.transform([ex.text for ex in examples])
    labels = [ex.label for ex in examples]
    proba, classes = out_of_fold_proba(matrix, labels, c, folds)
    index = {label: i for i, label in enumerate(classes)}
    given = np.array([proba[row, index[label]] for row, label in enumerate(labels)])
    class_threshold = {
        label: float(np.mean([given[r] for r, lab in enumerate(labels) if lab == label])) for label in classes
    }
    suspects = []
    for row, ex in enumerate(examples):
        top = int(proba[row].argmax())
        if (
            classes[top] != ex.label
            and given[row] < class_threshold[ex.label]
            and proba[row, top] >= min_suggested_probability
        ):
            suspects.append(Suspect(ex, float(given[row]), classes[top], float(proba[row, top])))
    suspects.sort(key=lambda s: s.given_probability - s.suggested_probability)
    return suspects
