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
    normalized: str = ""
    """``normalize(text)``, kept so that callers do not normalise the same text twice."""


def analyze(text: str, segmenter: Segmenter) -> Analysis:
    """Normalise, segment and list the feature strings of ``text`` (prefixed with their block)."""
    normalized = normalize(text)
    words = segmenter.cut(normalized)
    features = [WORD + w for w in words]
    padded = ["^", *words, "$"]
    features.extend(BIGRAM + a + "\u2502" + b for a, b in itertools.pairwise(padded))
    chars = "".join(_PLACEHOLDER_SYMBOLS.get(w, w) for w in words)
    for n in CHAR_NGRAMS:
        features.extend(CHAR + chars[i : i + n] for i in range(len(chars) - n + 1))
    return Analysis(words=words, features=features, normalized=normalized)


# Placeholders as an agent reads them, by word (``xorder``) and by symbol in the character stream.
_DISPLAY_NAMES = {sym: f"#{name[1:]}" for name, sym in _PLACEHOLDER_SYMBOLS.items()} | {
    name: f"#{name[1:]}" for name in _PLACEHOLDER_SYMBOLS
}


_BLOCK_WEIGHT_ARRAY = np.array([BLOCK_WEIGHTS[b] for b in BLOCKS], dtype=np.float32)


def display_term(feature: str) -> str:
    """What an agent reads for a feature: the word, ``退款 到账`` for a bigram, ``#订单号`` for placeholders."""
    body = feature[1:]
    names = _DISPLAY_NAMES
    if feature[0] == CHAR:
        parts = ["".join(names.get(ch, ch) for ch in body)]
    else:
        parts = [names.get(p, p) for p in body.split("\u2502")]
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
        indices, values, analysis = self.vectorize_one(text)
        return indices, values, analysis.words

    def vectorize_one(self, text: str) -> tuple[IndexArray, FloatArray, Analysis]:
        """Sparse vector of one text as (indices, values), plus its analysis (words, normalised text)."""
        analysis = analyze(text, self.segmenter)
        lookup = self.vocabulary_.get
        # Counter counts an iterable in C; keys keep the order of first occurrence either way.
        counts = Counter(index for index in map(lookup, analysis.features) if index is not None)
        if not counts:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32), analysis
        indices = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf_[indices]
        blocks = self.block_of_[indices]
        # One bincount gives the three block norms; empty blocks keep a scale of 1.
        norms = np.sqrt(np.bincount(blocks, weights=values * values, minlength=len(BLOCKS))).astype(np.float32)
        scale = np.divide(_BLOCK_WEIGHT_ARRAY, norms, out=np.ones(len(BLOCKS), dtype=np.float32), where=norms > 0)
        values = values * scale[blocks]
        total = float(np.sqrt(np.dot(values, values)))
        if total > 0:
            values /= total
        return indices, values.astype(np.float32), analysis

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        return self.transform_analyzed(texts)[0]

    def transform_analyzed(self, texts: Iterable[str]) -> tuple[sparse.csr_matrix, list[Analysis]]:
        """The rows of ``texts`` as one CSR matrix, plus each text's analysis.

        Only the feature strings are built in Python; counting, weighting and the block and row
        norms are done for all texts at once. Each row lists its features in order of first
        occurrence, as ``vectorize_one`` does, and holds the same values (up to float rounding).
        """
        lookup = self.vocabulary_.get
        n_features = self.n_features
        analyses: list[Analysis] = []
        flat: list[int] = []
        lengths: list[int] = []
        for text in texts:
            analysis = analyze(text, self.segmenter)
            analyses.append(analysis)
            ids = [index for index in map(lookup, analysis.features) if index is not None]
            flat.extend(ids)
            lengths.append(len(ids))
        n = len(analyses)
        row_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
        keys = row_of * max(n_features, 1) + np.asarray(flat, dtype=np.int64)
        unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")  # back to first-occurrence order within each row
        unique, counts = unique[order], counts[order]
        rows = unique // max(n_features, 1)
        cols = (unique % max(n_features, 1)).astype(np.int32)
        values = (1.0 + np.log(counts.astype(np.float32))) * self.idf_[cols]
        blocks = self.block_of_[cols].astype(np.int64)
        n_blocks = len(BLOCKS)
        norms = np.sqrt(np.bincount(rows * n_blocks + blocks, weights=values * values, minlength=n_blocks * n)).reshape(
            n, n_blocks
        )
        scale = np.divide(_BLOCK_WEIGHT_ARRAY[None, :], norms, out=np.ones((n, n_blocks)), where=norms > 0).astype(
            np.float32
        )
        values = values * scale[rows, blocks]
        total = np.sqrt(np.bincount(rows, weights=values * values, minlength=n)).astype(np.float32)
        values = (values / np.where(total > 0, total, 1)[rows]).astype(np.float32)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        matrix = sparse.csr_matrix((values, cols, indptr), shape=(n, n_features))
        return matrix, analyses
