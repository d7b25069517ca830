"""The engine's commands: train, classify, evaluate, audit-data.

They are registered on the ``triage`` root command (``tickets/cli.py``), which adds the server
commands; this module never imports the ticket system.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from triage.artifact import ModelLoadError, load_model, save_model
from triage.dataset import DataError, read_examples
from triage.engine import EmptyTextError, TriageModel
from triage.evaluate import evaluate as evaluate_model
from triage.segment import read_user_dict
from triage.taxonomy import load_faqs, load_taxonomy

BATCH_SIZE = 2048
err = Console(stderr=True)
out = Console()

ModelOption = Annotated[Path | None, typer.Option("--model", "-m", help="Model folder (default: the shipped model).")]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=2)


def _load(model_dir: Path | None) -> TriageModel:
    try:
        return load_model(model_dir)
    except ModelLoadError as exc:
        raise _fail(str(exc)) from exc


def train(
    data: Annotated[Path, typer.Option("--data", help="JSONL/CSV file or folder: text, label (or intent), faq?")],
    faq: Annotated[Path | None, typer.Option(help="FAQ answers: JSON array or JSONL of id, intent, answer")] = None,
    taxonomy: Annotated[Path | None, typer.Option(help="Taxonomy JSON (intents, queues, faqs)")] = None,
    user_dict: Annotated[Path | None, typer.Option("--user-dict", help="jieba user dictionary")] = None,
    validation: Annotated[Path | None, typer.Option(help="Validation set; default: 5-fold cross-validation")] = None,
    target_precision: Annotated[float, typer.Option(min=0.5, max=1.0, help="Auto-reply precision to meet")] = 0.97,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the model to")] = Path("models/custom"),
) -> None:
    """Train a model on labelled inquiries and print its validation metrics."""
    from triage.train import train as train_model

    try:
        examples = read_examples(data)
        val = read_examples(validation) if validation else None
        tax = load_taxonomy(taxonomy) if taxonomy else None
        faqs = load_faqs(faq) if faq else list(tax.faqs.values()) if tax else []
        words = read_user_dict(user_dict) if user_dict else []
        with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("training")
            model, report = train_model(
                examples,
                taxonomy=tax,
                faqs=faqs,
                validation=val,
                user_words=words,
                target_precision=target_precision,
                progress=lambda msg: bar.update(task, description=msg),
            )
    except (DataError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from exc
    save_model(model, out_dir)
    table = Table(title=f"validation ({report.validation})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("examples (after dropping duplicates)", f"{report.examples} (-{report.duplicates_dropped})")
    table.add_row("intent accuracy", f"{report.intent_metrics['accuracy']:.2%}")
    table.add_row("intent macro-F1", f"{report.intent_metrics['macro_f1']:.2%}")
    if report.auto_reply_metrics:
        auto = report.auto_reply_metrics
        table.add_row("auto-reply threshold", f"{auto['threshold']:.3f}")
        table.add_row("auto-reply precision", f"{auto['precision']:.2%}")
        table.add_row("auto-reply coverage", f"{auto['coverage']:.2%}")
    out.print(table)
    out.print(f"model {model.version} written to {out_dir}")


def _read_texts(source: TextIO, where: str) -> Iterator[str]:
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(f"{where}:{number}: not valid JSON ({exc.msg})") from exc
        text = row.get("text") if isinstance(row, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise _fail(f"{where}:{number}: needs a non-empty 'text' field")
        yield text


def _public(decision: Any) -> dict[str, Any]:
    keys = ("intent", "queue", "priority", "confidence", "faq_id", "auto_reply", "explanation", "reason")
    return {key: getattr(decision, key) for key in keys}


def classify(
    text: Annotated[str | None, typer.Argument(help="A message to classify")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="JSONL with a 'text' field per line; '-' for stdin")
    ] = None,
    model_dir: ModelOption = None,
) -> None:
    """Classify one text or a JSONL file; prints one JSON object per input."""
    if (text is None) == (input_file is None):
        raise _fail("give either a TEXT argument or --input FILE (not both)")
    model = _load(model_dir)
    if text is not None:
        try:
            sys.stdout.write(json.dumps(_public(model.classify(text)), ensure_ascii=False) + "\n")
        except EmptyTextError as exc:
            raise _fail(str(exc)) from exc
        return
    assert input_file is not None
    where = "stdin" if str(input_file) == "-" else str(input_file)
    try:
        handle = sys.stdin if where == "stdin" else input_file.open(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{input_file}: cannot read ({exc.strerror})") from exc
    try:
        batch: list[str] = []
        for item in _read_texts(handle, where):
            batch.append(item)
            if len(batch) == BATCH_SIZE:
                _write_batch(model, batch)
                batch = []
        if batch:
            _write_batch(model, batch)
    except UnicodeDecodeError as exc:
        raise _fail(f"{where}: not UTF-8 text ({exc.reason}); convert it to UTF-8 first") from exc
    finally:
        if handle is not sys.stdin:
            handle.close()


def _write_batch(model: TriageModel, texts: list[str]) -> None:
    lines = [json.dumps(_public(d), ensure_ascii=False) for d in model.classify_many(texts)]
    sys.stdout.write("\n".join(lines) + "\n")


def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Labelled JSONL/CSV file or folder")],
    model_dir: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON")] = False,
) -> None:
    """Accuracy, macro-F1, per-label scores, confusions and auto-reply precision/coverage."""
    model = _load(model_dir)
    try:
        examples = read_examples(data)
    except (DataError, OSError) as exc:
        raise _fail(str(exc)) from exc
    result = evaluate_model(model, examples)
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=1) + "\n")
        return
    out.print(f"examples: {result['n']}  accuracy: {result['accuracy']:.2%}  macro-F1: {result['macro_f1']:.2%}")
    table = Table("label", "precision", "recall", "F1", "support")
    for label, s in result["per_label"].items():
        table.add_row(label, f"{s['precision']:.2%}", f"{s['recall']:.2%}", f"{s['f1']:.2%}", str(s["support"]))
    out.print(table)
    if result["confused_pairs"]:
        confused = Table("true", "predicted", "count", title="most confused")
        for pair in result["confused_pairs"]:
            confused.add_row(pair["true"], pair["predicted"], str(pair["count"]))
        out.print(confused)
    if "auto_reply" in result:
        auto = result["auto_reply"]
        out.print(
            f"auto-reply precision: {auto['precision']:.2%} ({auto['correct_auto_replies']}/{auto['auto_replies']})"
            f"  coverage: {auto['coverage']:.2%} of {auto['expected_auto_replies']} expected"
        )


def audit_data(
    data: Annotated[Path, typer.Argument(help="Labelled JSONL/CSV file or folder")],
    limit: Annotated[int, typer.Option(min=1, help="How many suspects to list")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per suspect")] = False,
) -> None:
    """List examples whose label looks wrong, most suspicious first."""
    from triage.audit import find_label_issues

    try:
        examples = read_examples(data)
    except (DataError, OSError) as exc:
        raise _fail(str(exc)) from exc
    with Progress(TextColumn("cross-validating"), BarColumn(), MofNCompleteColumn(), console=err, transient=True):
        suspects = find_label_issues(examples)
    if as_json:
        for s in suspects[:limit]:
            row = {
                "source": s.example.source,
                "text": s.example.text,
                "label": s.example.label,
                "label_probability": round(s.given_probability, 4),
                "suggested": s.suggested,
                "suggested_probability": round(s.suggested_probability, 4),
            }
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    table = Table("where", "text", "label", "p(label)", "suggested", "p", title=f"{len(suspects)} suspicious labels")
    for s in suspects[:limit]:
        table.add_row(
            s.example.source,
            s.example.text[:40],
            s.example.label,
            f"{s.given_probability:.2f}",
            s.suggested,
            f"{s.suggested_probability:.2f}",
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(classify)
    app.command()(evaluate)
    app.command("audit-data")(audit_data)
