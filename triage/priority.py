"""Priority from intent and tone: complaints open high; anger and escalation words raise it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PRIORITIES = ("low", "normal", "high", "urgent")


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
    escalation_words: tuple[str, ...] = (
        "12315",
        "消协",
        "消费者协会",
        "工商",
        "律师",
        "起诉",
        "法院",
        "报警",
        "曝光",
        "媒体",
        "记者",
        "微博",
        "黑猫投诉",
        "市场监管",
    )
    escalation_floor: str = "high"
    max_raise: int = 2

    def __post_init__(self) -> None:
        for value in (self.default, self.escalation_floor, *self.intent_base.values()):
            if value not in PRIORITIES:
                raise ValueError(f"unknown priority {value!r}; use one of {', '.join(PRIORITIES)}")

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

    def decide(self, intent: str, text: str) -> tuple[str, list[str]]:
        """Return the priority and the words that raised it (searched in the raw text)."""
        level = PRIORITIES.index(self.intent_base.get(intent, self.default))
        lowered = text.lower()
        anger = [w for w in self.anger_words if w in lowered]
        escalation = [w for w in self.escalation_words if w in lowered]
        level += min(len(anger) + len(escalation), self.max_raise)
        if escalation:
            level = max(level, PRIORITIES.index(self.escalation_floor))
        return PRIORITIES[min(level, len(PRIORITIES) - 1)], anger + escalation
