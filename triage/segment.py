"""Word segmentation: rjieba (jieba-rs) by default, the Python jieba as the reference.

Both share jieba's dictionary and HMM and give the same tokens on our data (see
``benchmarks/bench_speed.py``); rjieba segments about 25 times faster and loads in milliseconds.
A domain user dictionary (``userdict.txt``: ``word [freq [tag]]`` a line) keeps store terms such as
七天无理由 or 运费险 whole.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, Protocol

Backend = Literal["rjieba", "jieba"]
DEFAULT_FREQ = 2000


class _Cutter(Protocol):
    def cut(self, text: str) -> list[str]: ...


def read_user_dict(path: Path) -> list[tuple[str, int]]:
    """Parse a jieba user dictionary into ``(word, freq)`` pairs; a malformed line is an error."""
    words: list[tuple[str, int]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        freq = DEFAULT_FREQ
        if len(parts) > 1:
            try:
                freq = int(parts[1])
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: frequency {parts[1]!r} is not a whole number") from exc
        words.append((parts[0], freq))
    return words


class _RJieba:
    def __init__(self, words: Iterable[tuple[str, int]]) -> None:
        import rjieba

        self._jieba = rjieba.Jieba()
        for word, freq in words:
            self._jieba.add_word(word, freq, None)

    def cut(self, text: str) -> list[str]:
        return list(self._jieba.cut(text, True))


class _PyJieba:
    def __init__(self, words: Iterable[tuple[str, int]]) -> None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        for word, freq in words:
            self._tokenizer.add_word(word, freq)

    def cut(self, text: str) -> list[str]:
        return self._tokenizer.lcut(text, HMM=True)


class Segmenter:
    """Thread-safe, lazily initialised word segmenter with a domain dictionary."""

    def __init__(self, user_words: Sequence[tuple[str, int]] = (), backend: Backend = "rjieba") -> None:
        self.user_words = tuple(user_words)
        self.backend = backend
        self._cutter: _Cutter | None = None
        self._lock = threading.Lock()

    def _load(self) -> _Cutter:
        with self._lock:
            if self._cutter is None:
                self._cutter = _RJieba(self.user_words) if self.backend == "rjieba" else _PyJieba(self.user_words)
            return self._cutter

    def cut(self, text: str) -> list[str]:
        cutter = self._cutter or self._load()
        return [token for token in cutter.cut(text) if not token.isspace()]
