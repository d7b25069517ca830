"""Saving and loading models as plain arrays plus a JSON manifest; never pickle.

A model folder holds ``manifest.json`` (taxonomy, thresholds, metrics, training-data hash and the
SHA-256 of every other file), ``features.json`` (the feature strings) and ``arrays.npz`` (loaded
with ``allow_pickle=False``). Loading checks the format version and every hash, so a tampered,
truncated or incompatible folder is refused with a message that says which.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from triage.engine import Thresholds, TriageModel
from triage.features import TfidfFeaturizer
from triage.linear import LinearModel
from triage.priority import PriorityRules
from triage.segment import Segmenter
from triage.taxonomy import Taxonomy

FORMAT = "triage-desk-model"
FORMAT_VERSION = 1
ENGINE_VERSION = "0.1.0"
MANIFEST = "manifest.json"
FEATURES = "features.json"
ARRAYS = "arrays.npz"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "default"


class ModelLoadError(RuntimeError):
    """The model folder cannot be used; the message says why and what to do."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_model(model: TriageModel, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "idf": model.featurizer.idf_,
        "intent_coef": model.intent_model.coef,
        "intent_intercept": model.intent_model.intercept,
    }
    if model.faq_model is not None:
        arrays["faq_coef"] = model.faq_model.coef
        arrays["faq_intercept"] = model.faq_model.intercept
    np.savez_compressed(out_dir / ARRAYS, **arrays)
    (out_dir / FEATURES).write_text(json.dumps(model.featurizer.features(), ensure_ascii=False), encoding="utf-8")
    files = {name: _sha256(out_dir / name) for name in (ARRAYS, FEATURES)}
    version = hashlib.sha256("".join(files.values()).encode()).hexdigest()[:12]
    manifest = {
        **model.manifest,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "engine_version": ENGINE_VERSION,
        "model_version": version,
        "taxonomy": model.taxonomy.to_dict(),
        "intent_classes": list(model.intent_model.classes),
        "faq_classes": list(model.faq_model.classes) if model.faq_model else None,
        "thresholds": asdict(model.thresholds),
        "priority_rules": asdict(model.priority_rules),
        "segmenter": {
            "backend": model.featurizer.segmenter.backend,
            "user_words": model.featurizer.segmenter.user_words,
        },
        "files": files,
    }
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    model.manifest = manifest
    model.version = version
    return out_dir


def load_model(path: Path | str | None = None) -> TriageModel:
    """Load a model folder (the shipped default when ``path`` is None), verifying its integrity."""
    folder = Path(path) if path is not None else DEFAULT_MODEL_DIR
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ModelLoadError(f"{folder}: no {MANIFEST}; train one with `triage train --data FILE --out {folder}`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{manifest_path}: not a readable manifest ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ModelLoadError(f"{manifest_path}: not a model manifest (expected a JSON object)")
    if manifest.get("format") != FORMAT:
        raise ModelLoadError(f"{folder}: not a Triage Desk model (format {manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(
            f"{folder}: model format {manifest.get('format_version')} is not supported by engine "
            f"{ENGINE_VERSION} (needs {FORMAT_VERSION}); retrain it with `triage train`"
        )
    for name, expected in manifest.get("files", {}).items():
        file = folder / name
        if not file.is_file() or _sha256(file) != expected:
            raise ModelLoadError(f"{file}: missing or modified since the model was saved (checksum mismatch)")
    if set(manifest.get("files", {})) != {ARRAYS, FEATURES}:
        raise ModelLoadError(f"{folder}: manifest does not list the model files")
    try:
        with np.load(folder / ARRAYS, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        features = json.loads((folder / FEATURES).read_text(encoding="utf-8"))
        segmenter_info = manifest["segmenter"]
        segmenter = Segmenter(
            [(str(w), int(f)) for w, f in segmenter_info["user_words"]], backend=segmenter_info["backend"]
        )
        featurizer = TfidfFeaturizer(segmenter).restore(features, arrays["idf"])
        intent_model = LinearModel(tuple(manifest["intent_classes"]), arrays["intent_coef"], arrays["intent_intercept"])
        faq_model = None
        if manifest.get("faq_classes"):
            faq_model = LinearModel(tuple(manifest["faq_classes"]), arrays["faq_coef"], arrays["faq_intercept"])
        model = TriageModel(
            featurizer=featurizer,
            intent_model=intent_model,
            faq_model=faq_model,
            taxonomy=Taxonomy.from_dict(manifest["taxonomy"]),
            thresholds=Thresholds(**manifest["thresholds"]),
            priority_rules=PriorityRules.from_dict(manifest["priority_rules"]),
            manifest=manifest,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{folder}: model files are inconsistent with the manifest ({exc})") from exc
    if model.featurizer.n_features != intent_model.coef.shape[0]:
        raise ModelLoadError(f"{folder}: feature count does not match the weights")
    for name, linear in (("intent", intent_model), ("faq", faq_model)):
        if linear is not None and (
            linear.coef.shape[1] != len(linear.classes) or linear.intercept.shape != (len(linear.classes),)
        ):
            raise ModelLoadError(f"{folder}: the {name} classes in the manifest do not match the weights")
    if manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise ModelLoadError(f"{manifest_path}: modified since the model was saved (checksum mismatch)")
    return model


def _manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest without its own checksum field (canonical JSON)."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
