"""Reading labelled inquiries from JSONL or CSV, with errors that name the line."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, line and problem."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    faq: str | None = None
    source: str = ""


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".csv"))
        if not files:
            raise DataError(f"{path}: no .jsonl or .csv files in this folder")
        return files
    if not path.exists():
        raise DataError(f"{path}: no such file")
    return [path]


def read_text(path: Path) -> str:
    """A data file's text; bytes that are not UTF-8 are an error naming the line and file offset."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _rows(path: Path) -> Iterator[tuple[int, object]]:
    text = read_text(path)
    if path.suffix == ".csv":
        for number, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=2):
            yield number, row
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc


def read_examples(path: Path, *, require_label: bool = True) -> list[Example]:
    """Examples from a file or a folder of files. Each needs ``text`` and ``label`` (or ``intent``)."""
    examples: list[Example] = []
    for file in _files(path):
        for number, row in _rows(file):
            examples.append(_example(row, f"{file}:{number}", require_label))
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def _example(row: object, where: str, require_label: bool) -> Example:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object with 'text' and 'label', got {type(row).__name__}")
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: 'text' is missing or empty")
    label = row.get("label", row.get("intent"))
    if require_label and (not isinstance(label, str) or not label.strip()):
        raise DataError(f"{where}: 'label' (or 'intent') is missing or empty")
    faq = row.get("faq") or None
    if faq is not None and not isinstance(faq, str):
        raise DataError(f"{where}: 'faq' must be a string or null")
    return Example(text=text, label=str(label or ""), faq=faq, source=where)


def fingerprint(examples: Iterable[Example]) -> str:
    """SHA-256 over the examples' content, recorded in the model manifest."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps([ex.text, ex.label, ex.faq], ensure_ascii=False).encode())
    return digest.hexdigest()


def deduplicate(examples: list[Example]) -> tuple[list[Example], list[tuple[Example, Example]]]:
    """Drop exact repeats (same text after trimming); conflicting labels on one text are reported."""
    seen: dict[str, Example] = {}
    conflicts: list[tuple[Example, Example]] = []
    kept: list[Example] = []
    for ex in examples:
        key = ex.text.strip()
        first = seen.get(key)
        if first is None:
            seen[key] = ex
            kept.append(ex)
        elif (first.label, first.faq) != (ex.label, ex.faq):
            conflicts.append((first, ex))
    return kept, conflicts
