"""Saving and loading models: same decisions after a round trip, refusal of damaged folders, no pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from triage import ModelLoadError, load_model, save_model
from triage.artifact import ARRAYS, FEATURES, MANIFEST, _sha256


def copy_of(source: Path, tmp_path: Path) -> Path:
    """A private copy of a saved model folder that the test may damage."""
    return Path(shutil.copytree(source, tmp_path / "model"))


def edit_manifest(folder: Path, **changes: object) -> None:
    path = folder / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(changes)
    path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def replace_arrays(folder: Path, **arrays: np.ndarray) -> None:
    """Rewrite arrays.npz with some arrays replaced and re-sign it in the manifest, as a forger would."""
    with np.load(folder / ARRAYS, allow_pickle=False) as npz:
        current = {key: npz[key] for key in npz.files}
    current.update(arrays)
    np.savez(folder / ARRAYS, **current)
    files = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    edit_manifest(folder, files={**files, ARRAYS: _sha256(folder / ARRAYS)})


class TestRoundTrip:
    def test_reloaded_model_decides_the_same(self, tiny_model, tiny_model_dir, probes, tiny_examples):
        texts = [*probes, *(ex.text for ex in tiny_examples)]
        reloaded = load_model(tiny_model_dir)
        assert [d.to_dict() for d in reloaded.classify_many(texts)] == [
            d.to_dict() for d in tiny_model.classify_many(texts)
        ]

    def test_reloaded_model_keeps_thresholds_taxonomy_and_version(self, tiny_model, tiny_model_dir):
        reloaded = load_model(tiny_model_dir)
        assert reloaded.thresholds == tiny_model.thresholds
        assert reloaded.taxonomy == tiny_model.taxonomy
        assert reloaded.priority_rules == tiny_model.priority_rules
        assert reloaded.version == tiny_model.version != "unsaved"
        assert reloaded.featurizer.segmenter.backend == tiny_model.featurizer.segmenter.backend

    def test_user_dictionary_survives(self, tiny_model, tmp_path):
        from triage import TriageModel
        from triage.features import TfidfFeaturizer
        from triage.segment import Segmenter

        words = (("运费险", 3000), ("七天无理由", 3000))
        featurizer = TfidfFeaturizer(Segmenter(words)).restore(
            tiny_model.featurizer.features(), tiny_model.featurizer.idf_
        )
        model = TriageModel(
            featurizer,
            tiny_model.intent_model,
            tiny_model.faq_model,
            tiny_model.taxonomy,
            tiny_model.thresholds,
            tiny_model.priority_rules,
            dict(tiny_model.manifest),
        )
        reloaded = load_model(save_model(model, tmp_path / "with_words"))
        assert reloaded.featurizer.segmenter.user_words == words

    def test_folder_holds_only_json_and_npz(self, tiny_model_dir):
        assert sorted(p.name for p in tiny_model_dir.iterdir()) == sorted([ARRAYS, FEATURES, MANIFEST])


class TestDamagedFolderIsRefused:
    def test_one_changed_byte_in_arrays(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        data = bytearray((folder / ARRAYS).read_bytes())
        data[len(data) // 2] ^= 0x01
        (folder / ARRAYS).write_bytes(bytes(data))
        with pytest.raises(ModelLoadError, match=r"arrays\.npz: missing or modified .*checksum"):
            load_model(folder)

    def test_edited_features(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        features = json.loads((folder / FEATURES).read_text(encoding="utf-8"))
        features[0] = "w退款"
        (folder / FEATURES).write_text(json.dumps(features, ensure_ascii=False), encoding="utf-8")
        with pytest.raises(ModelLoadError, match=r"features\.json: missing or modified .*checksum"):
            load_model(folder)

    def test_missing_arrays(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        (folder / ARRAYS).unlink()
        with pytest.raises(ModelLoadError, match=r"arrays\.npz: missing or modified"):
            load_model(folder)

    @pytest.mark.parametrize("version", [2, 0, "1", None])
    def test_wrong_format_version(self, tiny_model_dir, tmp_path, version):
        folder = copy_of(tiny_model_dir, tmp_path)
        edit_manifest(folder, format_version=version)
        with pytest.raises(ModelLoadError, match=rf"model format {version} is not supported .*retrain"):
            load_model(folder)

    def test_not_a_triage_model(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        edit_manifest(folder, format="someone-elses-model")
        with pytest.raises(ModelLoadError, match="not a Triage Desk model"):
            load_model(folder)

    def test_missing_manifest(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        (folder / MANIFEST).unlink()
        with pytest.raises(ModelLoadError, match=r"no manifest\.json.*triage train"):
            load_model(folder)

    def test_missing_folder(self, tmp_path):
        with pytest.raises(ModelLoadError, match=r"no manifest\.json"):
            load_model(tmp_path / "nowhere")

    def test_unreadable_manifest(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        (folder / MANIFEST).write_text('{"format": ', encoding="utf-8")
        with pytest.raises(ModelLoadError, match="not a readable manifest"):
            load_model(folder)

    def test_manifest_that_lists_no_files(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        edit_manifest(folder, files={})
        with pytest.raises(ModelLoadError, match="manifest does not list the model files"):
            load_model(folder)

    def test_weights_for_other_features(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        with np.load(folder / ARRAYS, allow_pickle=False) as npz:
            coef = npz["intent_coef"]
        replace_arrays(folder, intent_coef=coef[:-1])
        with pytest.raises(ModelLoadError, match="feature count does not match the weights"):
            load_model(folder)

    def test_missing_array(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        with np.load(folder / ARRAYS, allow_pickle=False) as npz:
            kept = {key: npz[key] for key in npz.files if key != "faq_coef"}
        np.savez(folder / ARRAYS, **kept)
        edit_manifest(folder, files={ARRAYS: _sha256(folder / ARRAYS), FEATURES: _sha256(folder / FEATURES)})
        with pytest.raises(ModelLoadError, match=r"inconsistent with the manifest.*faq_coef"):
            load_model(folder)

    @pytest.mark.parametrize("content", ["[]", '"model"', "null"])
    def test_manifest_that_is_not_an_object(self, tiny_model_dir, tmp_path, content):
        folder = copy_of(tiny_model_dir, tmp_path)
        (folder / MANIFEST).write_text(content, encoding="utf-8")
        with pytest.raises(ModelLoadError, match="manifest"):
            load_model(folder)

    def test_class_list_that_does_not_match_the_weights(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        classes = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["intent_classes"]
        edit_manifest(folder, intent_classes=classes[:-1])
        with pytest.raises(ModelLoadError, match="class"):
            load_model(folder)


class _OpensAFileWhenUnpickled:
    """Unpickling this calls ``open(path, "w")``: proof that pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class TestNoPickle:
    def test_object_array_is_refused_without_unpickling(self, tiny_model_dir, tmp_path):
        folder = copy_of(tiny_model_dir, tmp_path)
        proof = tmp_path / "pickle-ran"
        payload = np.empty(1, dtype=object)
        payload[0] = _OpensAFileWhenUnpickled(proof)
        replace_arrays(folder, idf=payload)  # checksums match: only np.load can catch it
        with pytest.raises(ModelLoadError, match="Object arrays cannot be loaded"):
            load_model(folder)
        assert not proof.exists()

    def test_np_load_is_never_asked_to_unpickle(self, tiny_model_dir, monkeypatch):
        calls = []
        real_load = np.load

        def spy(*args, **kwargs):
            calls.append(kwargs.get("allow_pickle", "default"))
            return real_load(*args, **kwargs)

        monkeypatch.setattr(np, "load", spy)
        load_model(tiny_model_dir)
        assert calls == [False]
