"""Reading labelled inquiries from JSONL and CSV, and errors that name the file, line and problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage import DataError, Example, read_examples
from triage.dataset import deduplicate, fingerprint


def jsonl(path: Path, *rows: object) -> Path:
    """Write rows (dicts are JSON-encoded, strings written as they are) one a line."""
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def csv_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


GOOD = {"text": "退款多久到账", "intent": "refund", "faq": "refund_timeline"}


class TestReadJsonl:
    def test_rows_become_examples_with_their_source(self, tmp_path):
        path = jsonl(tmp_path / "a.jsonl", GOOD, {"text": "发票开错了", "label": "invoice", "faq": None})
        assert read_examples(path) == [
            Example("退款多久到账", "refund", "refund_timeline", f"{path}:1"),
            Example("发票开错了", "invoice", None, f"{path}:2"),
        ]

    def test_blank_lines_are_skipped_but_counted(self, tmp_path):
        path = jsonl(tmp_path / "a.jsonl", GOOD, "", "   ", {"text": "快递到哪了", "intent": "logistics"})
        assert [ex.source for ex in read_examples(path)] == [f"{path}:1", f"{path}:4"]

    def test_empty_faq_is_none(self, tmp_path):
        path = jsonl(tmp_path / "a.jsonl", {"text": "快递到哪了", "intent": "logistics", "faq": ""})
        assert read_examples(path)[0].faq is None

    def test_byte_order_mark_is_ignored(self, tmp_path):
        path = tmp_path / "bom.jsonl"
        path.write_bytes("\ufeff".encode() + json.dumps(GOOD, ensure_ascii=False).encode())
        assert read_examples(path)[0].text == "退款多久到账"

    def test_labels_are_optional_when_not_required(self, tmp_path):
        path = jsonl(tmp_path / "a.jsonl", {"text": "快递到哪了"})
        assert read_examples(path, require_label=False)[0].label == ""


class TestReadCsv:
    def test_rows_and_line_numbers(self, tmp_path):
        path = csv_file(
            tmp_path / "a.csv", "text,label,faq\n退款多久到账,refund,refund_timeline\n发票开错了,invoice,\n"
        )
        assert read_examples(path) == [
            Example("退款多久到账", "refund", "refund_timeline", f"{path}:2"),
            Example("发票开错了", "invoice", None, f"{path}:3"),
        ]

    def test_quoted_commas_and_intent_column(self, tmp_path):
        path = csv_file(tmp_path / "a.csv", 'text,intent\n"你好,在吗",chitchat\n')
        assert read_examples(path)[0] == Example("你好,在吗", "chitchat", None, f"{path}:2")


class TestReadFolder:
    def test_jsonl_and_csv_files_in_name_order(self, tmp_path):
        jsonl(tmp_path / "b.jsonl", GOOD)
        csv_file(tmp_path / "a.csv", "text,label\n发票开错了,invoice\n")
        (tmp_path / "notes.txt").write_text("not data", encoding="utf-8")
        assert [ex.label for ex in read_examples(tmp_path)] == ["invoice", "refund"]

    def test_folder_without_data_files(self, tmp_path):
        (tmp_path / "notes.txt").write_text("not data", encoding="utf-8")
        with pytest.raises(DataError, match=r"no \.jsonl or \.csv files"):
            read_examples(tmp_path)

    def test_missing_path(self, tmp_path):
        with pytest.raises(DataError, match="no such file"):
            read_examples(tmp_path / "missing.jsonl")

    def test_file_without_examples(self, tmp_path):
        (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
        with pytest.raises(DataError, match="no examples"):
            read_examples(tmp_path / "empty.jsonl")


class TestMalformedData:
    def test_bad_json_names_the_line(self, tmp_path):
        path = jsonl(tmp_path / "bad.jsonl", GOOD, GOOD, '{"text": "退款", "intent": "refund"')
        with pytest.raises(DataError, match=r"bad\.jsonl:3: not valid JSON"):
            read_examples(path)

    def test_missing_label_names_the_line(self, tmp_path):
        path = jsonl(tmp_path / "bad.jsonl", GOOD, {"text": "退款多久到账"})
        with pytest.raises(DataError, match=r"bad\.jsonl:2: 'label' \(or 'intent'\) is missing"):
            read_examples(path)

    def test_missing_label_in_csv_names_the_line(self, tmp_path):
        path = csv_file(tmp_path / "bad.csv", "text,label\n退款,refund\n发票,\n")
        with pytest.raises(DataError, match=r"bad\.csv:3: 'label' \(or 'intent'\) is missing"):
            read_examples(path)

    @pytest.mark.parametrize("text", [None, "", "   ", 42])
    def test_missing_or_empty_text_names_the_line(self, tmp_path, text):
        path = jsonl(tmp_path / "bad.jsonl", {"text": text, "intent": "refund"})
        with pytest.raises(DataError, match=r"bad\.jsonl:1: 'text' is missing or empty"):
            read_examples(path)

    def test_row_that_is_not_an_object(self, tmp_path):
        path = jsonl(tmp_path / "bad.jsonl", ["退款", "refund"])
        with pytest.raises(DataError, match=r"bad\.jsonl:1: expected an object .* got list"):
            read_examples(path)

    def test_faq_that_is_not_a_string(self, tmp_path):
        path = jsonl(tmp_path / "bad.jsonl", {"text": "退款", "intent": "refund", "faq": 3})
        with pytest.raises(DataError, match=r"bad\.jsonl:1: 'faq' must be a string"):
            read_examples(path)

    @pytest.mark.parametrize("name", ["bad.jsonl", "bad.csv"])
    def test_non_utf8_bytes_are_refused(self, tmp_path, name):
        path = tmp_path / name
        path.write_bytes(non_utf8_on_line_3(name))
        with pytest.raises(DataError, match=rf"{name}:\d+: not UTF-8 text"):
            read_examples(path)

    @pytest.mark.parametrize("name", ["bad.jsonl", "bad.csv"])
    def test_non_utf8_bytes_name_the_line(self, tmp_path, name):
        path = tmp_path / name
        path.write_bytes(non_utf8_on_line_3(name))
        with pytest.raises(DataError, match=rf"{name}:3\b"):
            read_examples(path)

    def test_non_utf8_byte_offset_is_the_files(self, tmp_path):
        good = "".join(json.dumps({"text": f"退款多久到账 {i}", "intent": "refund"}) + "\n" for i in range(500))
        data = good.encode() + b'{"text": "\xff", "intent": "refund"}\n'
        path = tmp_path / "big.jsonl"
        path.write_bytes(data)
        offset = data.index(b"\xff")
        assert offset > 16_384  # beyond the first chunk the decoder reads
        with pytest.raises(DataError, match=rf"at byte {offset}\)"):
            read_examples(path)


def non_utf8_on_line_3(name: str) -> bytes:
    if name.endswith(".csv"):
        return "text,label\n退款,refund\n".encode() + b"\xff\xfe,refund\n"
    good = json.dumps(GOOD, ensure_ascii=False).encode()
    return good + b"\n" + good + b'\n{"text": "\xff\xfe", "intent": "refund"}\n'


class TestDeduplicate:
    def test_repeats_are_dropped_and_conflicts_reported(self):
        a = Example("退款多久到账", "refund", None, "f:1")
        repeat = Example(" 退款多久到账 ", "refund", None, "f:2")
        conflict = Example("退款多久到账", "refund", "refund_timeline", "f:3")
        other = Example("发票", "invoice", None, "f:4")
        kept, conflicts = deduplicate([a, repeat, conflict, other])
        assert kept == [a, other]
        assert conflicts == [(a, conflict)]


class TestFingerprint:
    def test_changes_with_content_not_with_source(self):
        a = [Example("退款", "refund", None, "x:1"), Example("发票", "invoice", None, "x:2")]
        same = [Example("退款", "refund", None, "y:9"), Example("发票", "invoice", None, "y:8")]
        relabelled = [Example("退款", "refund", None, "x:1"), Example("发票", "refund", None, "x:2")]
        assert fingerprint(a) == fingerprint(same)
        assert fingerprint(a) != fingerprint(relabelled)
        assert len(fingerprint(a)) == 64
