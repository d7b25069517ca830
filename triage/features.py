"""TF-IDF features over jieba words, word bigrams and character n-grams.

Written out rather than taken from scikit-learn's ``TfidfVectorizer`` because the request path
classifies one message at a time: a dictionary lookup per feature costs a few microseconds, while
the vectorizer's per-call overhead is in the hundreds. Training and classification share this code,
so the two cannot drift apart.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import sparse

from triage.normalize import normalize
from triage.segment import Segmenter

WORD, BIGRAM, CHAR = "w", "b", "c"
BLOCKS = (WORD, BIGRAM, CHAR)
# Bigrams are weighted below unigrams and characters: they are sparse and over-fit small data.
BLOCK_WEIGHTS = {WORD: 1.0, BIGRAM: 0.6, CHAR: 1.0}
CHAR_NGRAMS = (1, 2, 3)

# Placeholders become one symbol each inside the character stream, so ``xorder`` does not
# produce the character n-grams of the English letters it is spelled with.
_PLACEHOLDER_SYMBOLS = {
    "xorder": "\u2460",
    "xphone": "\u2461",
    "xmoney": "\u2462",
    "xurl": "\u2463",
    "xemail": "\u2464",
    "xnum": "\u2465",
    "xemoji": "\u2466",
}

FloatArray = npt.NDArray[np.float32]
IndexArray = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Analysis:
    """The features of one message, before weighting."""

    words: list[str]
    features: list[str]


def analyze(text: str, segmenter: Segmenter) -> Analysis:
    """Normalise, segment and list the feature strings of ``text`` (prefixed with their block)."""
    words = segmenter.cut(normalize(text))
    features = [WORD + w for w in words]
    padded = ["^", *words, "$"]
    features.extend(BIGRAM + a + "\u2502" + b for a, b in itertools.pairwise(padded))
    chars = "".join(_PLACEHOLDER_SYMBOLS.get(w, w) for w in words)
    for n in CHAR_NGRAMS:
        features.extend(CHAR + chars[i : i + n] for i in range(len(chars) - n + 1))
    return Analysis(words=words, features=features)


# Placeholders as an agent reads them, by word (``xorder``) and by symbol in the character stream.
_DISPLAY_NAMES = {sym: f"#{name[1:]}" for name, sym in _PLACEHOLDER_SYMBOLS.items()} | {
    name: f"#{name[1:]}" for name in _PLACEHOLDER_SYMBOLS
}


def display_term(feature: str) -> str:
    """What an agent reads for a feature: the word, ``退款 到账`` for a bigram, ``#订单号`` for placeholders."""
    body = feature[1:]
    names = _DISPLAY_NAMES
    parts = [names.get(p, p) for p in body.split("\u2502")]
    if feature[0] == CHAR:
        parts = ["".join(names.get(ch, ch) for ch in body)]
    return " ".join(p for p in parts if p not in ("^", "$"))


@dataclass
class TfidfFeaturizer:
    """Sublinear TF-IDF, L2-normalised per block, then weighted and normalised as a whole."""

    segmenter: Segmenter
    min_df: int = 1
    vocabulary_: dict[str, int] = field(default_factory=dict)
    idf_: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    block_of_: npt.NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, dtype=np.int8))

    @property
    def n_features(self) -> int:
        return len(self.vocabulary_)

    def fit(self, texts: Sequence[str]) -> TfidfFeaturizer:
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(analyze(text, self.segmenter).features))
        kept = sorted(f for f, count in df.items() if count >= self.min_df or f[0] == WORD)
        self.vocabulary_ = {f: i for i, f in enumerate(kept)}
        n_docs = len(texts)
        self.idf_ = np.array([math.log((1 + n_docs) / (1 + df[f])) + 1.0 for f in kept], dtype=np.float32)
        self.block_of_ = np.array([BLOCKS.index(f[0]) for f in kept], dtype=np.int8)
        return self

    def restore(self, features: Sequence[str], idf: FloatArray) -> TfidfFeaturizer:
        self.vocabulary_ = {f: i for i, f in enumerate(features)}
        self.idf_ = idf.astype(np.float32)
        self.block_of_ = np.array([BLOCKS.index(f[0]) for f in features], dtype=np.int8)
        return self

    def features(self) -> list[str]:
        return sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)

    def transform_one(self, text: str) -> tuple[IndexArray, FloatArray, list[str]]:
        """Sparse vector of one text as (indices, values), plus its segmented words."""
        analysis = analyze(text, self.segmenter)
        lookup = self.vocabulary_.get
        # Counter counts an iterable in C; keys keep the order of first occurrence either way.
        counts = Counter(index for feature in analysis.features if (index := lookup(feature)) is not None)
        if not counts:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32), analysis.words
        indices = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf_[indices]
        blocks = self.block_of_[indices]
        for block, name in enumerate(BLOCKS):
            mask = blocks == block
            norm = float(np.sqrt(np.dot(values[mask], values[mask])))
            if norm > 0:
                values[mask] *= BLOCK_WEIGHTS[name] / norm
        total = float(np.sqrt(np.dot(values, values)))
        if total > 0:
            values /= total
        return indices, values.astype(np.float32), analysis.words

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        indptr = [0]
        all_indices: list[IndexArray] = []
        all_values: list[FloatArray] = []
        for text in texts:
            indices, values, _ = self.transform_one(text)
            all_indices.append(indices)
            all_values.append(values)
            indptr.append(indptr[-1] + len(indices))
        data = np.concatenate(all_values) if all_values else np.zeros(0, dtype=np.float32)
        cols = np.concatenate(all_indices) if all_indices else np.zeros(0, dtype=np.int32)
        return sparse.csr_matrix(
            (data, cols, np.array(indptr, dtype=np.int64)), shape=(len(indptr) - 1, self.n_features)
        )
