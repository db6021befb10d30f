import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sbert_lessons import cache, data

MIRROR = Path(os.environ.get("SBERT_LESSONS_DATA", ""))
needs_mirror = pytest.mark.skipif(not (MIRROR / "MANIFEST.json").is_file(),
                                  reason="the offline data mirror (../shared/data) is not beside the checkout")


@pytest.fixture(autouse=True)
def _fresh_manifests():
    data._MANIFESTS.clear()


@needs_mirror
@pytest.mark.parametrize("name,split,rows", [
    ("stsb", "train", 5749), ("stsb", "validation", 1500), ("stsb", "test", 1379),
    ("snli", "train_sample", 5498), ("snli", "validation", 9842), ("snli", "test", 9824),
    ("banking77", "train", 10003), ("banking77", "test", 3080),
    ("clinc150", "all", 23700), ("corpus", "all", 83320),
])
def test_schema_and_row_counts(name, split, rows):
    df = data.LOADERS[name](split)
    assert list(df.columns) == list(data.DATASETS[name].columns)
    assert len(df) == rows
    if name == "stsb":
        assert df["score"].between(0, 5).all() and df["score"].dtype == float
    if name == "snli":
        assert set(df["label"]) == {"entailment", "neutral", "contradiction"}


@needs_mirror
def test_corpus_holds_no_stsb_evaluation_sentence():
    """Chapters 1 and 2 fit on the corpus and score on STS-B: its validation and test sentences stay out."""
    full = data.load_corpus(keep_held_out=True)
    assert len(full) == data.manifest()["corpus/sentences.txt.gz"]["rows"] == 88726
    corpus = data.load_corpus()
    keys = {data.sentence_key(t) for t in corpus["text"]}
    for split in ("validation", "test"):
        df = data.load_stsb(split)
        evaluated = {data.sentence_key(t) for t in [*df["sentence1"], *df["sentence2"]]}
        assert keys.isdisjoint(evaluated), f"STS-B {split} sentences in the course corpus"
        assert evaluated <= {data.sentence_key(t) for t in full["text"]}  # the filter had work to do
        exact = set(df["sentence1"]) | set(df["sentence2"])
        assert exact.isdisjoint(corpus["text"])
    assert corpus.attrs["held_out_removed"] == len(full) - len(corpus) > 5000
    # the key ignores case, punctuation and spacing, nothing else
    assert data.sentence_key("Yes, you  got it.") == data.sentence_key("yes you got it") == "yes you got it"
    assert data.sentence_key("A man is dancing.") != data.sentence_key("A woman is dancing.")
    train = data.load_stsb("train")  # training sentences are not held out (unless also evaluated)
    assert len({*train["sentence1"]} & set(corpus["text"])) > 4000
    smoke = data.load("corpus", "all", profile="smoke")
    assert len(smoke) == data.SMOKE_ROWS[("corpus", "all")] and set(smoke["text"]) <= set(corpus["text"])


@needs_mirror
def test_row_counts_match_manifest():
    man = data.manifest()
    assert len(data.load_stsb("test")) == man["stsb/test.jsonl"]["rows"]
    assert len(data.load_snli("test")) == man["snli/test.jsonl.gz"]["rows"]


@needs_mirror
def test_scifact_and_clinc_splits():
    sf = data.load_scifact("test")
    assert list(sf.corpus.columns) == ["_id", "title", "text"] and len(sf.corpus) == 5183
    assert len(sf.queries) == 300 and set(sf.queries["_id"]) == set(sf.qrels)
    assert sum(len(d) for d in sf.qrels.values()) == 339
    small = data.scifact_subset(sf, "smoke")
    judged = {d for docs in sf.qrels.values() for d in docs}
    assert judged <= set(small.corpus["_id"]) and len(small.corpus) == data.SMOKE_SCIFACT_DOCS
    oos = data.load_clinc150("oos_test")
    assert len(oos) and (oos["intent"] == "oos").all()


@needs_mirror
def test_smoke_subsets_are_seeded_and_tests_stay_whole():
    a = data.load("stsb", "train", profile="smoke")
    b = data.load("stsb", "train", profile="smoke")
    assert len(a) == data.SMOKE_ROWS[("stsb", "train")] and a.equals(b)
    assert len(data.load("stsb", "test", profile="smoke")) == 1379
    assert len(data.load("stsb", "train", profile="full")) == 5749


@needs_mirror
def test_snli_triplets():
    t = data.snli_triplets("validation")
    assert list(t.columns) == ["anchor", "positive", "negative"] and len(t) > 2500
    assert not (t["positive"] == t["negative"]).any()


def test_bad_split_lists_valid_ones():
    with pytest.raises(data.SplitError, match="valid splits: train, validation, test"):
        data.load_stsb("dev")
    with pytest.raises(KeyError, match="known"):
        data.load("msmarco", "train")


def test_missing_folder_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("SBERT_LESSONS_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(data.DataUnavailableError, match="SBERT_LESSONS_DATA"):
        data.load_stsb("test")
    monkeypatch.delenv("SBERT_LESSONS_DATA")
    with pytest.raises(data.DataUnavailableError, match="SBERT_LESSONS_DATA"):
        data.load_corpus()  # derived set: no hub copy exists


@needs_mirror
def test_tampered_file_is_refused(monkeypatch, tmp_path):
    (tmp_path / "stsb").mkdir()
    shutil.copy(MIRROR / "MANIFEST.json", tmp_path / "MANIFEST.json")
    text = (MIRROR / "stsb" / "test.jsonl").read_text().replace("A girl is styling", "A boy is styling", 1)
    (tmp_path / "stsb" / "test.jsonl").write_text(text)
    monkeypatch.setenv("SBERT_LESSONS_DATA", str(tmp_path))
    with pytest.raises(cache.ChecksumError, match="sha256"):
        data.load_stsb("test")


def test_hub_fallback_maps_to_the_same_schema(monkeypatch):
    """Without a mirror the real hub loader is used; its 0-1 STS-B scores become 0-5."""
    monkeypatch.delenv("SBERT_LESSONS_DATA", raising=False)
    calls = []

    class FakeDataset:
        def to_pandas(self):
            return pd.DataFrame({"sentence1": ["a"], "sentence2": ["b"], "score": [0.5]})

    def fake_load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        return FakeDataset()

    import datasets

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    df = data.load_stsb("test")
    assert calls == [(("sentence-transformers/stsb",), {"split": "test"})]
    assert list(df.columns) == list(data.DATASETS["stsb"].columns) and df["score"].tolist() == [2.5]


def test_hub_failure_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("SBERT_LESSONS_DATA", raising=False)
    import datasets

    def offline(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(data.DataUnavailableError, match="SBERT_LESSONS_DATA"):
        data.load_snli("test")


def test_every_dataset_has_license_and_citation():
    for name in data.DATASETS:
        text = data.attribution(name)
        assert "license" in text and "cite" in text


def test_scifact_test_twins_match_by_sentence_key_in_train_order():
    def sf(ids, texts):
        return data.SciFact(corpus=pd.DataFrame({"_id": [], "title": [], "text": []}),
                            queries=pd.DataFrame({"_id": ids, "text": texts}), qrels={})
    train = sf([5, "2", "9"], ["Aspirin lowers fever.", "statins  cause pain", "Vitamin D helps"])
    test = sf(["t1", "t2"], ["STATINS cause pain!", "aspirin lowers fever"])
    assert data.scifact_test_twins(train, test) == ["5", "2"]  # ids as strings, train's order
    assert data.scifact_test_twins(train, sf([], [])) == []
    with pytest.raises(TypeError, match="data.SciFact"):
        data.scifact_test_twins(train, {"queries": []})


@pytest.mark.skipif(not os.environ.get("SBERT_LESSONS_DATA"), reason="needs the offline data mirror")
def test_real_scifact_has_two_train_test_twins():
    assert data.scifact_test_twins(data.load_scifact("train")) == ["871", "1291"]
