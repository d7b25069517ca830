"""Intents, queues and FAQ answers: what the engine can decide between."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FALLBACK_QUEUE = "general"


@dataclass(frozen=True)
class Queue:
    id: str
    name: str


@dataclass(frozen=True)
class Intent:
    id: str
    name: str
    queue: str


@dataclass(frozen=True)
class Faq:
    id: str
    intent: str
    question: str
    answer: str


@dataclass(frozen=True)
class Taxonomy:
    intents: dict[str, Intent]
    queues: dict[str, Queue]
    faqs: dict[str, Faq] = field(default_factory=dict)

    def queue_of(self, intent: str) -> str:
        found = self.intents.get(intent)
        return found.queue if found else FALLBACK_QUEUE

    def with_faqs(self, faqs: list[Faq]) -> Taxonomy:
        for faq in faqs:
            if faq.intent not in self.intents:
                raise ValueError(f"FAQ {faq.id!r} names intent {faq.intent!r}, which is not in the taxonomy")
        return Taxonomy(self.intents, self.queues, {faq.id: faq for faq in faqs})

    @classmethod
    def from_labels(cls, labels: list[str]) -> Taxonomy:
        """A taxonomy for user data without one: each label is an intent with a queue of its own name."""
        return cls(
            intents={label: Intent(label, label, label) for label in labels},
            queues={label: Queue(label, label) for label in labels},
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Taxonomy:
        try:
            queues = {q["id"]: Queue(q["id"], q.get("name", q["id"])) for q in data.get("queues", [])}
            intents = {
                i["id"]: Intent(i["id"], i.get("name", i["id"]), i.get("queue", i["id"])) for i in data["intents"]
            }
            faqs = [Faq(f["id"], f["intent"], f.get("question", ""), f.get("answer", "")) for f in data.get("faqs", [])]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"taxonomy is missing a field: {exc}") from exc
        for intent in intents.values():
            if intent.queue not in queues:
                queues[intent.queue] = Queue(intent.queue, intent.queue)
        return cls(intents, queues).with_faqs(faqs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "queues": [asdict(q) for q in self.queues.values()],
            "intents": [asdict(i) for i in self.intents.values()],
            "faqs": [asdict(f) for f in self.faqs.values()],
        }


def load_taxonomy(path: Path) -> Taxonomy:
    return Taxonomy.from_dict(json.loads(path.read_text(encoding="utf-8")))


def load_faqs(path: Path) -> list[Faq]:
    """FAQ answers from a JSON array or JSONL of ``{"id", "intent", "question"?, "answer"}``."""
    text = path.read_text(encoding="utf-8")
    rows = (
        json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]
    )
    faqs = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not row.get("id") or not row.get("intent") or not row.get("answer"):
            raise ValueError(f"{path}: FAQ entry {number} needs non-empty 'id', 'intent' and 'answer'")
        faqs.append(Faq(str(row["id"]), str(row["intent"]), str(row.get("question", "")), str(row["answer"])))
    return faqs
