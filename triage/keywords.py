"""Top keywords of a set of messages (e.g. complaints): what customers keep writing about."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from triage.normalize import normalize

# Words that are everywhere in support messages and say nothing about the problem.
# fmt: off
STOPWORDS = frozenset((
    "你们", "我们", "客服", "这个", "那个", "什么", "怎么", "为什么", "还是", "就是", "已经", "没有", "一个",
    "现在", "问题", "东西", "时候", "可以", "不是", "知道", "一下", "你好", "谢谢", "麻烦", "请问", "投诉",
    "我要", "一直", "怎么回事", "到底", "真的", "xorder", "xnum", "xmoney", "xphone", "xurl", "xemail", "xemoji",
))
# fmt: on
_lock = threading.Lock()
_extractor: Any = None


def _tfidf() -> Any:
    global _extractor
    with _lock:
        if _extractor is None:
            import logging

            import jieba
            import jieba.analyse

            jieba.setLogLevel(logging.WARNING)
            _extractor = jieba.analyse.TFIDF()
            _extractor.stop_words = set(_extractor.stop_words) | STOPWORDS
        return _extractor


def top_keywords(texts: Sequence[str], k: int = 10) -> list[dict[str, Any]]:
    """The ``k`` most characteristic words (jieba TF-IDF) with how many messages mention each."""
    normalized = [normalize(t) for t in texts if t.strip()]
    if not normalized:
        return []
    tags = _tfidf().extract_tags("\n".join(normalized), topK=k * 2, withWeight=True)
    result = []
    for word, weight in tags:
        if word in STOPWORDS or len(word) < 2:
            continue
        result.append(
            {"keyword": word, "weight": round(float(weight), 4), "messages": sum(word in t for t in normalized)}
        )
        if len(result) == k:
            break
    return sorted(result, key=lambda r: (-r["messages"], -r["weight"]))
