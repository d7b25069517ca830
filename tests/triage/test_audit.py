"""audit-data: a deliberately flipped label among otherwise consistent data is the top suspect."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from tickets.cli import app
from triage import Example
from triage.audit import find_label_issues

FLIPS = [("怎么开发票", "logistics"), ("退款多久能到账", "invoice")]


def flipped(examples: tuple[Example, ...], text: str, wrong: str) -> list[Example]:
    """The examples with ``text`` relabelled as ``wrong`` (and its FAQ dropped)."""
    assert any(ex.text == text for ex in examples)
    return [dataclasses.replace(ex, label=wrong, faq=None) if ex.text == text else ex for ex in examples]


class TestFindLabelIssues:
    @pytest.mark.parametrize(("text", "wrong"), FLIPS)
    def test_flipped_label_is_the_top_suspect(self, tiny_examples, text, wrong):
        original = next(ex.label for ex in tiny_examples if ex.text == text)
        suspects = find_label_issues(flipped(tiny_examples, text, wrong))
        top = suspects[0]
        assert top.example.text == text
        assert top.example.label == wrong
        assert top.suggested == original
        assert top.given_probability < top.suggested_probability

    def test_correctly_labelled_they_are_not_suspected(self, tiny_examples):
        suspected = {s.example.text for s in find_label_issues(tiny_examples)}
        assert not suspected & {text for text, _ in FLIPS}

    def test_suspects_are_sorted_most_suspicious_first(self, tiny_examples):
        suspects = find_label_issues(flipped(tiny_examples, *FLIPS[0]))
        margins = [s.given_probability - s.suggested_probability for s in suspects]
        assert margins == sorted(margins)
        assert all(s.suggested != s.example.label for s in suspects)


class TestAuditDataCommand:
    def test_json_lists_the_flipped_example_first(self, tiny_examples, tmp_path):
        rows = [{"text": ex.text, "intent": ex.label} for ex in flipped(tiny_examples, *FLIPS[0])]
        path = tmp_path / "labels.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        line = 1 + next(n for n, r in enumerate(rows) if r["text"] == FLIPS[0][0])

        result = CliRunner().invoke(app, ["audit-data", str(path), "--json", "--limit", "3"])

        assert result.exit_code == 0, result.output
        listed = [json.loads(x) for x in result.stdout.splitlines()]
        assert 1 <= len(listed) <= 3
        assert listed[0]["source"] == f"{path}:{line}"
        assert (listed[0]["label"], listed[0]["suggested"]) == ("logistics", "invoice")
