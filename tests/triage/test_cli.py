"""The ``triage`` command end to end: train, classify, evaluate; and what it says about bad input."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sysconfig
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tickets.cli import app
from triage import load_model, read_examples
from triage.evaluate import evaluate

DECISION_KEYS = {"intent", "queue", "priority", "confidence", "faq_id", "auto_reply", "explanation", "reason"}


def run(*args: object, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], input=stdin)


def said(result: Result) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


def decisions(result: Result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def write_jsonl(path: Path, rows: list[dict] | tuple[dict, ...]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_rows, tiny_faqs) -> dict[str, Path]:
    """The tiny data as JSONL and CSV, and its FAQ answers."""
    folder = tmp_path_factory.mktemp("cli")
    with (folder / "tiny.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "intent", "faq"])
        writer.writeheader()
        writer.writerows({**row, "faq": row["faq"] or ""} for row in tiny_rows)
    faq = folder / "faq.json"
    faq.write_text(json.dumps([dataclasses.asdict(f) for f in tiny_faqs], ensure_ascii=False), encoding="utf-8")
    return {
        "jsonl": write_jsonl(folder / "tiny.jsonl", tiny_rows),
        "csv": folder / "tiny.csv",
        "faq": faq,
        "folder": folder,
    }


@pytest.fixture(scope="module")
def trained(files) -> dict[str, tuple[Result, Path]]:
    """``triage train`` run once on the JSONL file and once on the CSV file."""
    out = {}
    for kind in ("jsonl", "csv"):
        model_dir = files["folder"] / f"model_{kind}"
        out[kind] = (run("train", "--data", files[kind], "--faq", files["faq"], "--out", model_dir), model_dir)
    return out


@pytest.fixture(scope="module")
def model_dir(trained) -> Path:
    return trained["jsonl"][1]


class TestTrain:
    @pytest.mark.parametrize("kind", ["jsonl", "csv"])
    def test_writes_a_loadable_model_and_reports_validation(self, trained, kind, tiny_rows):
        result, folder = trained[kind]
        assert result.exit_code == 0, result.output
        assert "intent accuracy" in result.stdout
        assert "auto-reply threshold" in result.stdout
        assert f"{len(tiny_rows)} (-0)" in result.stdout
        model = load_model(folder)
        assert set(model.intent_model.classes) == {"refund", "invoice", "logistics"}
        assert model.classify("退款多久能到账？").faq_id == "refund_timeline"

    def test_jsonl_and_csv_give_the_same_model(self, trained):
        (_, from_jsonl), (_, from_csv) = trained["jsonl"], trained["csv"]
        assert (from_jsonl / "features.json").read_bytes() == (from_csv / "features.json").read_bytes()
        manifests = [json.loads((d / "manifest.json").read_text(encoding="utf-8")) for d in (from_jsonl, from_csv)]
        assert manifests[0]["training"]["data_sha256"] == manifests[1]["training"]["data_sha256"]
        assert manifests[0]["thresholds"] == manifests[1]["thresholds"]

    def test_conflicting_labels_are_refused(self, files, tmp_path):
        data = write_jsonl(
            tmp_path / "x.jsonl", [{"text": "退款", "intent": "refund"}, {"text": "退款", "intent": "invoice"}]
        )
        result = run("train", "--data", data, "--out", tmp_path / "m")
        assert result.exit_code == 2
        assert "same text as" in said(result)
        assert not (tmp_path / "m").exists()


class TestClassify:
    def test_one_text(self, model_dir):
        result = run("classify", "退款多久能到账？", "--model", model_dir)
        assert result.exit_code == 0, result.output
        [decision] = decisions(result)
        assert set(decision) == DECISION_KEYS
        assert (decision["intent"], decision["faq_id"], decision["auto_reply"]) == ("refund", "refund_timeline", True)

    def test_input_file_gives_one_line_per_text_in_order(self, model_dir, tmp_path):
        texts = ["退款多久能到账？", "快递三天没更新了", "请问怎么开电子发票", "我的退款还没到账 订单2024119876"]
        path = write_jsonl(tmp_path / "in.jsonl", [{"text": t, "id": n} for n, t in enumerate(texts)])
        result = run("classify", "--input", path, "--model", model_dir)
        assert result.exit_code == 0, result.output
        assert [d["intent"] for d in decisions(result)] == ["refund", "logistics", "invoice", "refund"]
        assert [d["auto_reply"] for d in decisions(result)] == [True, False, True, False]

    def test_stdin_matches_file(self, model_dir, tmp_path):
        lines = '{"text": "退款多久能到账？"}\n\n{"text": "快递三天没更新了"}\n'
        (tmp_path / "in.jsonl").write_text(lines, encoding="utf-8")
        from_stdin = run("classify", "--input", "-", "--model", model_dir, stdin=lines)
        from_file = run("classify", "--input", tmp_path / "in.jsonl", "--model", model_dir)
        assert from_stdin.exit_code == 0, from_stdin.output
        assert len(decisions(from_stdin)) == 2
        assert from_stdin.stdout == from_file.stdout

    @pytest.mark.parametrize(
        "text", ["😂😂😂", "مرحبا، أين طلبي؟", "Здравствуйте, где мой заказ?", "\x00\x07\u202e\u200b", "？？？"]
    )
    def test_odd_text_is_classified_without_a_crash(self, model_dir, text):
        result = run("classify", text, "--model", model_dir)
        assert result.exit_code == 0, result.output
        [decision] = decisions(result)
        assert (decision["reason"], decision["auto_reply"]) == ("no_chinese_text", False)

    def test_odd_texts_through_stdin(self, model_dir):
        texts = ["😂😂😂", "مرحبا", "Привет", "\x00\x01", "退款\u202e多久到账"]
        stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts)
        result = run("classify", "--input", "-", "--model", model_dir, stdin=stdin)
        assert result.exit_code == 0, result.output
        assert [d["reason"] == "no_chinese_text" for d in decisions(result)] == [True, True, True, True, False]


class TestClassifyRefusesBadInput:
    @pytest.mark.parametrize("text", ["", "   ", "\u3000\n"])
    def test_empty_text_is_exit_code_2(self, model_dir, text):
        result = run("classify", text, "--model", model_dir)
        assert result.exit_code == 2
        assert "text is empty" in said(result)
        assert result.stdout == ""

    def test_empty_text_in_input_names_the_line(self, model_dir):
        result = run("classify", "--input", "-", "--model", model_dir, stdin='{"text": "退款"}\n{"text": "  "}\n')
        assert result.exit_code == 2
        assert "stdin:2: needs a non-empty 'text' field" in said(result)

    def test_bad_json_in_input_names_the_line(self, model_dir, tmp_path):
        path = tmp_path / "in.jsonl"
        path.write_text('{"text": "退款"}\n{"text": "发票"}\n{"text": \n', encoding="utf-8")
        result = run("classify", "--input", path, "--model", model_dir)
        assert result.exit_code == 2
        assert f"{path.name}:3: not valid JSON" in said(result)

    @pytest.mark.parametrize("args", [(), ("退款", "--input", "-")])
    def test_text_or_input_but_not_both(self, model_dir, args):
        result = run("classify", *args, "--model", model_dir)
        assert result.exit_code == 2
        assert "give either a TEXT argument or --input FILE" in said(result)

    def test_missing_model_is_exit_code_2(self, tmp_path):
        result = run("classify", "退款", "--model", tmp_path / "none")
        assert result.exit_code == 2
        assert "no manifest.json" in said(result)

    def test_missing_input_file_is_exit_code_2(self, model_dir, tmp_path):
        result = run("classify", "--input", tmp_path / "missing.jsonl", "--model", model_dir)
        assert result.exit_code == 2
        assert "missing.jsonl" in said(result)

    def test_non_utf8_input_file_is_exit_code_2(self, model_dir, tmp_path):
        path = tmp_path / "in.jsonl"
        path.write_bytes(b'{"text": "\xff\xfe"}\n')
        result = run("classify", "--input", path, "--model", model_dir)
        assert result.exit_code == 2
        assert "not UTF-8" in said(result)


class TestTrainRefusesBadData:
    def test_bad_json_on_line_3(self, files, tmp_path):
        good = files["jsonl"].read_text(encoding="utf-8").splitlines()[:2]
        data = tmp_path / "bad.jsonl"
        data.write_text("\n".join([*good, '{"text": "退款", "intent"']) + "\n", encoding="utf-8")
        result = run("train", "--data", data, "--faq", files["faq"], "--out", tmp_path / "m")
        assert result.exit_code == 2
        assert "bad.jsonl:3: not valid JSON" in said(result)

    def test_missing_label(self, files, tmp_path):
        data = write_jsonl(tmp_path / "bad.jsonl", [{"text": "退款多久到账", "intent": "refund"}, {"text": "发票"}])
        result = run("train", "--data", data, "--out", tmp_path / "m")
        assert result.exit_code == 2
        assert "bad.jsonl:2: 'label' (or 'intent') is missing or empty" in said(result)

    def test_missing_label_in_csv(self, tmp_path):
        data = tmp_path / "bad.csv"
        data.write_text("text,intent\n退款多久到账,refund\n发票怎么开,\n", encoding="utf-8")
        result = run("train", "--data", data, "--out", tmp_path / "m")
        assert result.exit_code == 2
        assert "bad.csv:3: 'label' (or 'intent') is missing or empty" in said(result)

    def test_non_utf8_bytes(self, tmp_path):
        data = tmp_path / "bad.jsonl"
        data.write_bytes('{"text": "退款", "intent": "refund"}\n'.encode() + b'{"text": "\xb9\xfe", "intent": "x"}\n')
        result = run("train", "--data", data, "--out", tmp_path / "m")
        assert result.exit_code == 2
        assert "bad.jsonl:2: not UTF-8 text" in said(result)

    def test_unknown_faq(self, files, tmp_path):
        data = write_jsonl(
            tmp_path / "x.jsonl",
            [
                {"text": "退款多久到账", "intent": "refund", "faq": "refund_speed"},
                {"text": "发票", "intent": "invoice"},
            ],
        )
        result = run("train", "--data", data, "--faq", files["faq"], "--out", tmp_path / "m")
        assert result.exit_code == 2
        assert "x.jsonl:1: faq 'refund_speed' has no answer in the FAQ file" in said(result)

    def test_missing_faq_file_is_exit_code_2(self, files, tmp_path):
        result = run("train", "--data", files["jsonl"], "--faq", tmp_path / "nofaq.json", "--out", tmp_path / "m")
        assert result.exit_code == 2
        assert "nofaq.json" in said(result)


class TestEvaluate:
    def test_json_matches_the_library(self, model_dir, files):
        result = run("evaluate", "--data", files["jsonl"], "--model", model_dir, "--json")
        assert result.exit_code == 0, result.output
        printed = json.loads(result.stdout)
        expected = evaluate(load_model(model_dir), read_examples(files["jsonl"]))
        assert printed == json.loads(json.dumps(expected))
        assert printed["n"] == len(read_examples(files["jsonl"]))
        assert 0.0 <= printed["auto_reply"]["precision"] <= 1.0

    def test_table_output(self, model_dir, files):
        result = run("evaluate", "--data", files["csv"], "--model", model_dir)
        assert result.exit_code == 0, result.output
        assert "accuracy" in result.stdout
        assert "auto-reply precision" in result.stdout

    def test_bad_data_names_the_line(self, model_dir, tmp_path):
        data = write_jsonl(tmp_path / "bad.jsonl", [{"text": "退款", "intent": "refund"}, {"text": "发票"}])
        result = run("evaluate", "--data", data, "--model", model_dir, "--json")
        assert result.exit_code == 2
        assert "bad.jsonl:2: 'label' (or 'intent') is missing" in said(result)


class TestInstalledCommand:
    def test_real_process_classifies_stdin(self, model_dir):
        command = Path(sysconfig.get_path("scripts")) / "triage"
        if not command.exists():
            pytest.skip(f"{command} is not installed (pip install -e .)")
        texts = ["退款多久能到账？", "مرحبا", "快递三天没更新了 单号SF9988776655"]
        completed = subprocess.run(
            [str(command), "classify", "--input", "-", "--model", str(model_dir)],
            input="".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        lines = [json.loads(line) for line in completed.stdout.splitlines()]
        assert (lines[0]["intent"], lines[2]["intent"]) == ("refund", "logistics")
        assert [d["reason"] for d in lines] == ["faq_auto_reply", "no_chinese_text", "needs_person"]
