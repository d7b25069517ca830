"""Recognising acknowledgement-only messages (谢谢, 好的, 收到): they ask nothing of anyone."""

from __future__ import annotations

import re

from triage.normalize import normalize

# fmt: off
ACKNOWLEDGEMENTS = frozenset(
    (
        "谢谢", "谢谢你", "谢谢您", "谢了", "谢啦", "多谢", "感谢", "非常感谢", "感谢感谢", "辛苦了", "辛苦", "麻烦了",
        "好的", "好", "好滴", "好哒", "好嘞", "好吧", "好的呢", "嗯", "嗯嗯", "恩", "恩恩", "行", "行的", "可以",
        "收到", "收到了", "知道了", "明白", "明白了", "了解", "了解了", "懂了", "好的谢谢", "好的收到",
        "ok", "okay", "thanks", "thx",
    )
)
# fmt: on
_SEPARATORS = re.compile(r"[\s,，。.!！~～、?？]+")
_MAX_ACK_CHARS = 12


# Normalisation turns every emoji into one placeholder, so the friendly ones are removed first
# and any emoji still left (😡, 👎, [抓狂]) means the message is not a plain thank-you.
_FRIENDLY = re.compile(
    "[\U0001f44d\U0001f44c\U0001f64f\U0001f60a\U0001f642\U0001f600\U0001f603\U0001f604\U0001f601"
    "\U0001f917\U0001f339\U0001f496\u2764\u263a\ufe0f\U0001f3fb-\U0001f3ff]"
    "|\\[(?:微笑|谢谢|感谢|抱拳|OK|ok|好的|赞|玫瑰|爱心|握手|愉快|可爱)\\]"
)


def is_acknowledgement(text: str) -> bool:
    """True when every part of a short message is a thanks/okay phrase (or a friendly emoji)."""
    normalized = normalize(_FRIENDLY.sub(" ", text))
    if not normalized and _FRIENDLY.search(text):
        return True
    if not normalized or len(normalized) > _MAX_ACK_CHARS + 8:
        return False
    parts = [p for p in _SEPARATORS.split(normalized) if p]
    if not parts:
        return False
    return all(p in ACKNOWLEDGEMENTS or _is_repeated_ack(p) for p in parts)


def _is_repeated_ack(part: str) -> bool:
    # "谢谢谢谢", "好的好的", "嗯嗯嗯"
    for ack in ("谢谢", "好的", "嗯", "收到", "好"):
        if part.replace(ack, "") == "":
            return True
    return part.startswith("谢谢") and part.removeprefix("谢谢") in ACKNOWLEDGEMENTS
