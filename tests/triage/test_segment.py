"""Word segmentation with both backends, the user dictionary, and classification from many threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import triage.segment
from triage import TriageModel
from triage.features import TfidfFeaturizer
from triage.segment import Segmenter, read_user_dict

BACKENDS = ("rjieba", "jieba")
SHIPPED_USER_DICT = Path(__file__).resolve().parents[2] / "training_data" / "userdict.txt"


def segmenter(backend: str, words: tuple[tuple[str, int], ...] = ()) -> Segmenter:
    return Segmenter(words, backend=backend)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def plain() -> dict[str, Segmenter]:
    """One segmenter per backend without a user dictionary (python jieba takes a second to load)."""
    return {backend: segmenter(backend) for backend in BACKENDS}


@pytest.fixture(scope="module")
def shipped() -> dict[str, Segmenter]:
    """One segmenter per backend with the shipped user dictionary."""
    words = tuple(read_user_dict(SHIPPED_USER_DICT))
    return {backend: segmenter(backend, words) for backend in BACKENDS}


def with_segmenter(model: TriageModel, cutter: Segmenter) -> TriageModel:
    """A copy of ``model`` (same weights and features) that segments with ``cutter``."""
    featurizer = TfidfFeaturizer(cutter).restore(model.featurizer.features(), model.featurizer.idf_)
    return TriageModel(
        featurizer=featurizer,
        intent_model=model.intent_model,
        faq_model=model.faq_model,
        taxonomy=model.taxonomy,
        thresholds=model.thresholds,
        priority_rules=model.priority_rules,
        manifest=model.manifest,
    )


@pytest.mark.parametrize("backend", BACKENDS)
class TestUserDictionary:
    @pytest.mark.parametrize("word", ["运费险", "七天无理由", "退差价", "花呗分期", "转人工"])
    def test_user_word_is_kept_whole(self, backend, word, plain, shipped):
        sentence = f"我想问{word}的事情"
        assert word not in plain[backend].cut(sentence)  # split without the dictionary...
        assert word in shipped[backend].cut(sentence)  # ...whole with it

    def test_longer_dictionary_words_win(self, backend, shipped):
        cut = shipped[backend].cut("支持七天无理由退货吗 有没有运费险 能以旧换新吗")
        assert {"七天无理由退货", "运费险", "以旧换新"} <= set(cut)

    def test_placeholders_are_kept_whole(self, backend, plain):
        cut = plain[backend].cut("订单 xorder 电话 xphone 花了 xmoney 链接 xurl xemail xnum xemoji")
        assert {"xorder", "xphone", "xmoney", "xurl", "xemail", "xnum", "xemoji"} <= set(cut)

    def test_whitespace_is_not_a_token(self, backend, plain):
        assert plain[backend].cut("退款  多久 \t 发票") == ["退款", "多久", "发票"]


class TestBackendsAgree:
    @pytest.mark.parametrize(
        "text",
        ["我的退款5天了还没到账", "请问怎么开增值税专用发票", "快递三天没动了 帮我催一下", "七天无理由退货运费谁出"],
    )
    def test_both_backends_give_the_same_words(self, text, shipped):
        assert shipped["rjieba"].cut(text) == shipped["jieba"].cut(text)


class TestReadUserDict:
    def test_words_frequencies_and_comments(self, tmp_path):
        path = tmp_path / "dict.txt"
        path.write_text("# store words\n运费险 3000 n\n\n价保\n", encoding="utf-8")
        assert read_user_dict(path) == [("运费险", 3000), ("价保", 2000)]

    def test_bad_frequency_names_the_line(self, tmp_path):
        path = tmp_path / "dict.txt"
        path.write_text("运费险 3000\n价保 lots\n", encoding="utf-8")
        with pytest.raises(ValueError, match=r"dict\.txt:2: frequency 'lots'"):
            read_user_dict(path)


@pytest.mark.parametrize("backend", BACKENDS)
class TestThreadSafety:
    def test_concurrent_classification_matches_serial(self, backend, plain, tiny_model, tiny_examples, probes):
        assert not tiny_model.featurizer.segmenter.user_words  # so ``plain`` segments as it was trained
        texts = [*probes, *(ex.text for ex in tiny_examples)]
        reference = with_segmenter(tiny_model, plain[backend])
        serial = [reference.classify(text).to_dict() for text in texts]
        shared = with_segmenter(tiny_model, segmenter(backend))  # not loaded: the threads race to load it
        threads = 8
        start = threading.Barrier(threads)

        def work(offset: int) -> list[tuple[int, dict]]:
            start.wait()
            order = texts[offset:] + texts[:offset]  # every thread in a different order
            return [((offset + i) % len(texts), shared.classify(t).to_dict()) for i, t in enumerate(order * 3)]

        with ThreadPoolExecutor(threads) as pool:
            results = [row for rows in pool.map(work, range(threads)) for row in rows]
        assert len(results) == threads * 3 * len(texts)
        for index, decision in results:
            assert decision == serial[index], texts[index]

    def test_concurrent_segmenter_loads_once_and_cuts_alike(self, backend, monkeypatch):
        name = {"rjieba": "_RJieba", "jieba": "_PyJieba"}[backend]
        real = getattr(triage.segment, name)
        loads = []

        def counting(words):
            loads.append(1)
            return real(words)

        monkeypatch.setattr(triage.segment, name, counting)
        shared = segmenter(backend, (("运费险", 3000),))
        threads = 8
        start = threading.Barrier(threads)

        def work(_: int) -> list[str]:
            start.wait()
            return shared.cut("有没有运费险")

        with ThreadPoolExecutor(threads) as pool:
            cuts = list(pool.map(work, range(threads)))
        assert len(loads) == 1
        assert "运费险" in cuts[0]
        assert all(cut == cuts[0] for cut in cuts)
