"""Priority from intent and tone: complaints open high; anger and escalation words raise it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from triage.normalize import fold
from triage.segment import Segmenter

PRIORITIES = ("low", "normal", "high", "urgent")
_SEGMENTER = Segmenter()
_MAX_RUN = 4


def _word_runs(words: list[str]) -> set[str]:
    """Every run of up to four consecutive words, joined: 消 + 协 finds 消协, 退一 + 赔 + 三 finds 退一赔三."""
    words = [w for w in words if not w.isspace()]
    return {"".join(words[i : i + n]) for n in range(1, _MAX_RUN + 1) for i in range(len(words) - n + 1)}


@dataclass(frozen=True)
class PriorityRules:
    """Configurable; ``from_file`` reads the same fields from JSON."""

    intent_base: dict[str, str] = field(default_factory=lambda: {"complaint": "high", "chitchat": "low"})
    default: str = "normal"
    # Each hit raises priority by one level (at most ``max_raise`` levels).
    anger_words: tuple[str, ...] = (
        "投诉",
        "差评",
        "骗子",
        "垃圾",
        "坑人",
        "黑店",
        "忽悠",
        "气死",
        "恶心",
        "欺骗",
        "太差",
        "不要脸",
        "什么破",
        "态度差",
        "无语",
        "滚",
        "赔偿",
        "退一赔三",
    )
    # Any hit makes the ticket at least ``escalation_floor``: the customer is taking it outside.
    # fmt: off
    escalation_words: tuple[str, ...] = (
        "12315", "12345", "消协", "消费者协会", "工商局", "工商", "市场监管", "市场监督管理局", "律师", "起诉",
        "法院", "报警", "曝光", "媒体", "记者", "发微博", "黑猫投诉",
    )
    # fmt: on
    escalation_floor: str = "high"
    max_raise: int = 2

    def __post_init__(self) -> None:
        for value in (self.default, self.escalation_floor, *self.intent_base.values()):
            if value not in PRIORITIES:
                raise ValueError(f"unknown priority {value!r}; use one of {', '.join(PRIORITIES)}")
        # Configured words are folded like the text (case, width, Traditional) so that both meet.
        object.__setattr__(self, "_anger", tuple((w, fold(w)) for w in self.anger_words))
        object.__setattr__(self, "_escalation", tuple((w, fold(w)) for w in self.escalation_words))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriorityRules:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown priority rule settings: {', '.join(sorted(unknown))}")
        return cls(
            intent_base=dict(data.get("intent_base", cls().intent_base)),
            default=str(data.get("default", cls.default)),
            anger_words=tuple(data.get("anger_words", cls().anger_words)),
            escalation_words=tuple(data.get("escalation_words", cls().escalation_words)),
            escalation_floor=str(data.get("escalation_floor", cls.escalation_floor)),
            max_raise=int(data.get("max_raise", cls.max_raise)),
        )

    @classmethod
    def from_file(cls, path: Path) -> PriorityRules:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def decide(self, intent: str, text: str, words: Sequence[str] | None = None) -> tuple[str, list[str]]:
        """Return the priority and the configured words that raised it.

        Words match whole segmented words or runs of them (垃圾 is not found in 垃圾桶, 12315 not
        in an order number), after the same folding the model's input gets (律師 -> 律师, １２３１５ -> 12315).
        ``words`` are the message's words if the caller has segmented it already (the engine has).
        """
        level = PRIORITIES.index(self.intent_base.get(intent, self.default))
        tokens = list(words) if words is not None else _SEGMENTER.cut(fold(text))
        joined = "".join(tokens)
        # A word absent from the joined text cannot be a run of its words: most messages stop here.
        anger_candidates = [(w, f) for w, f in self._anger if f in joined]  # type: ignore[attr-defined]
        escalation_candidates = [(w, f) for w, f in self._escalation if f in joined]  # type: ignore[attr-defined]
        if not anger_candidates and not escalation_candidates:
            return PRIORITIES[level], []
        present = _word_runs(tokens)
        anger = [w for w, folded in anger_candidates if folded in present]
        escalation = [w for w, folded in escalation_candidates if folded in present]
        level += min(len(anger) + len(escalation), self.max_raise)
        if escalation:
            level = max(level, PRIORITIES.index(self.escalation_floor))
        return PRIORITIES[min(level, len(PRIORITIES) - 1)], anger + escalation
