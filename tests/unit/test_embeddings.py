"""Unit tests of sbert_lessons.embeddings (chapters 1 and 2), on tiny hand-made vocabularies."""

import math

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath
from sklearn.metrics.pairwise import cosine_similarity

from sbert_lessons import embeddings as E
from sbert_lessons.models import GloVe


def make_wv(words, vectors):
    vectors = np.asarray(vectors, dtype=np.float32)
    return GloVe(words=list(words), vectors=vectors, index={w: i for i, w in enumerate(words)})


@pytest.fixture()
def toy():
    # man->king and woman->queen share the offset (0, 0, 1); "zero" has no direction
    words = ["man", "woman", "king", "queen", "apple", "the", "zero"]
    vecs = [[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1], [-1, -1, 0.2], [0.1, 0.1, 0.1], [0, 0, 0]]
    return make_wv(words, vecs)


# ------------------------------------------------------------------------------ tokenize / cosine
def test_tokenize_lowercases_and_splits_punctuation():
    assert E.tokenize("The Dog bit the man.") == ["the", "dog", "bit", "the", "man", "."]
    assert E.tokenize("") == []
    with pytest.raises(TypeError, match="string"):
        E.tokenize(["a list"])


@pytest.mark.parametrize("seed", range(3))
def test_cosine_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=(2, 17))
    assert E.cosine(u, v) == pytest.approx(cosine_similarity(u[None], v[None])[0, 0], abs=1e-12)
    assert E.cosine(u, 3 * u) == pytest.approx(1.0)
    assert E.cosine(u, -u) == pytest.approx(-1.0)


@pytest.mark.parametrize("u,v,match", [
    ([1.0, 2.0], [1.0, 2.0, 3.0], "one length"),
    ([0.0, 0.0], [1.0, 2.0], "zero vector"),
    ([], [], "non-empty"),
    ([1.0, np.nan], [1.0, 2.0], "NaN"),
])
def test_cosine_bad_input(u, v, match):
    with pytest.raises(ValueError, match=match):
        E.cosine(u, v)


# ------------------------------------------------------------------------------ nearest / analogy
def test_nearest_excludes_query_and_sorts(toy):
    out = E.nearest(toy, "king", k=3)
    assert "king" not in [w for w, _ in out]
    sims = [s for _, s in out]
    assert sims == sorted(sims, reverse=True)
    # cos(king, the) = 2/sqrt(6) > cos(king, man) = 1/sqrt(2) > cos(king, queen) = 1/2
    assert [w for w, _ in out] == ["the", "man", "queen"]
    assert out[0][1] == pytest.approx(2 / math.sqrt(6), abs=1e-6)
    assert out[1][1] == pytest.approx(1 / math.sqrt(2), abs=1e-6)


def test_nearest_bad_input(toy):
    with pytest.raises(KeyError, match="not in the vocabulary"):
        E.nearest(toy, "unicorn")
    with pytest.raises(ValueError, match="dimensions"):
        E.nearest(toy, np.ones(5))
    with pytest.raises(ValueError, match="zero"):
        E.nearest(toy, "zero")
    with pytest.raises(ValueError, match="at least 1"):
        E.nearest(toy, "king", k=0)


def test_analogy_3cosadd_excludes_query_words(toy):
    assert E.analogy(toy, "man", "king", "woman")[0][0] == "queen"
    words = [w for w, _ in E.analogy(toy, "man", "king", "woman", k=4)]
    assert not {"man", "king", "woman"} & set(words)
    with pytest.raises(KeyError, match="unicorn"):
        E.analogy(toy, "man", "king", "unicorn")


def test_analogy_accuracy_and_coverage(tmp_path, toy):
    path = tmp_path / "q.txt"
    path.write_text(": family\nman king woman queen\nMan King Woman Apple\n"
                    ": gram-test\nman king unicorn queen\n")
    df = E.evaluate_analogies(toy, path)
    assert df.loc["family", "questions"] == 2 and df.loc["family", "covered"] == 2
    assert df.loc["family", "accuracy"] == pytest.approx(0.5)
    assert df.loc["gram-test", "covered"] == 0 and np.isnan(df.loc["gram-test", "accuracy"])
    assert df.loc["total", "coverage"] == pytest.approx(2 / 3)
    assert df.loc["syntactic", "questions"] == 1
    # the first four words cover the first question only; fewer than four words are refused
    assert E.evaluate_analogies(toy, path, restrict_vocab=4).loc["total", "covered"] == 1
    with pytest.raises(ValueError, match="at least 4 words"):
        E.evaluate_analogies(toy, path, restrict_vocab=3)


def test_analogy_file_errors(tmp_path, toy):
    bad = tmp_path / "bad.txt"
    bad.write_text(": s\nman king woman\n")
    with pytest.raises(ValueError, match="malformed"):
        E.evaluate_analogies(toy, bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="no analogy"):
        E.load_analogies(empty)


def test_analogy_accuracy_equals_gensim(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    wv = make_wv(words, rng.normal(size=(60, 8)))
    qs = [" ".join(rng.choice(words, 4, replace=False)) for _ in range(40)]
    qs += [f"{a} {b} {c} {d}" for a, b, c, d in (words[0:4], words[4:8])]
    path = tmp_path / "q.txt"
    path.write_text(": random\n" + "\n".join(qs) + "\n")
    kv = KeyedVectors(8)
    kv.add_vectors(words, wv.vectors)
    ours = E.evaluate_analogies(wv, path).loc["total", "accuracy"]
    theirs, _ = kv.evaluate_word_analogies(str(path), restrict_vocab=60, case_insensitive=False)
    assert ours == pytest.approx(theirs)


# ------------------------------------------------------------------------------ word similarity
def test_word_pairs_spearman_and_coverage(tmp_path, toy):
    path = tmp_path / "sim.tsv"
    path.write_text("# header\nman\tking\t8\nwoman\tqueen\t7\nman\tapple\t1\nman\tunicorn\t5\n")
    out = E.evaluate_word_pairs(toy, path)
    assert out["pairs"] == 4 and out["covered"] == 3 and out["coverage"] == pytest.approx(0.75)
    assert -100 <= out["spearman"] <= 100 and np.isfinite(out["spearman"])


def test_word_pairs_all_oov_raises(tmp_path, toy):
    path = tmp_path / "sim.tsv"
    path.write_text("cat\tdog\t8\nfoo\tbar\t1\n")
    with pytest.raises(ValueError, match="in the vocabulary"):
        E.evaluate_word_pairs(toy, path)


def test_word_pairs_equal_gensim_on_shipped_file():
    rng = np.random.default_rng(1)
    pairs = E.load_word_pairs(datapath("wordsim353.tsv"))
    words = sorted({w for a, b, _ in pairs for w in (a, b)})
    wv = make_wv(words, rng.normal(size=(len(words), 10)))
    kv = KeyedVectors(10)
    kv.add_vectors(words, wv.vectors)
    _, rho, _ = kv.evaluate_word_pairs(datapath("wordsim353.tsv"))
    assert E.evaluate_word_pairs(wv, datapath("wordsim353.tsv"))["spearman"] == pytest.approx(
        100 * rho.statistic, abs=1e-6)


def test_from_keyed_vectors_and_stable_hash():
    kv = KeyedVectors(3)
    kv.add_vectors(["a", "b"], np.eye(2, 3, dtype=np.float32))
    wv = E.from_keyed_vectors(kv)
    assert wv.words == ["a", "b"] and wv.index["b"] == 1 and wv.dim == 3
    assert E.stable_hash("king") == E.stable_hash("king") != E.stable_hash("queen")


# ------------------------------------------------------------------------------ sentence averages
def test_average_ignores_order_and_oov(toy):
    a, b = E.average_vectors([["man", "king", "unicorn"], ["king", "man"]], toy)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(a, [1.0, 0.0, 0.5])


def test_average_bad_input(toy):
    with pytest.raises(ValueError, match="sentence 1 is empty"):
        E.average_vectors([["man"], []], toy)
    with pytest.raises(ValueError, match="no word in the vocabulary"):
        E.average_vectors([["unicorn", "dragon"]], toy)
    with pytest.raises(TypeError, match="token lists"):
        E.average_vectors(["man king"], toy)
    with pytest.raises(ValueError, match="empty must be"):
        E.average_vectors([["man"]], toy, empty="nan")
    with pytest.raises(ValueError, match="weights"):
        E.average_vectors([["man"]], toy, weights={"man": 0.0})


def test_average_documented_zero_vector(toy):
    out = E.average_vectors([["unicorn"], [], ["man"]], toy, empty="zero")
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], 0)
    np.testing.assert_array_equal(out[1], 0)


def test_weighted_average(toy):
    (v,) = E.average_vectors([["man", "woman"]], toy, weights={"man": 3.0, "woman": 1.0})
    np.testing.assert_allclose(v, [0.75, 0.25, 0.0])


def test_content_tokens_drops_stop_words_and_punctuation():
    stop = E.stop_words()
    assert {"the", "not", "all"} <= stop
    assert E.content_tokens(E.tokenize("The dog bit the man.")) == ["dog", "bit", "man"]
    assert E.content_tokens(["the", "."], stop) == []


def test_sif_weights_and_frequencies():
    freqs = E.word_frequencies([["the", "the", "cat"], ["the"]])
    assert freqs == {"the": 0.75, "cat": 0.25}
    w = E.sif_weights(freqs, a=0.25)
    assert w["cat"] == pytest.approx(0.5) and w["the"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="positive"):
        E.sif_weights(freqs, a=0)
    with pytest.raises(ValueError, match="no tokens"):
        E.word_frequencies([[], []])


def test_component_removal_matches_sklearn():
    from sklearn.decomposition import TruncatedSVD

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) + np.array([5, 0, 0, 0, 0, 1.0])  # a strong common direction
    pc = E.first_principal_component(x)
    assert np.linalg.norm(pc) == pytest.approx(1.0)
    u = TruncatedSVD(1, n_iter=10, random_state=0).fit(x).components_[0]
    assert abs(pc @ u) == pytest.approx(1.0, abs=1e-6)
    out = E.remove_component(x, pc)
    np.testing.assert_allclose(out @ pc, 0, atol=1e-4)


def test_component_bad_input():
    with pytest.raises(ValueError, match="two rows"):
        E.first_principal_component(np.ones((1, 3)))
    with pytest.raises(ValueError, match="all zeros"):
        E.first_principal_component(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        E.first_principal_component(np.array([[1.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="shapes"):
        E.remove_component(np.ones((3, 3)), np.ones(2))
    with pytest.raises(ValueError, match="zero"):
        E.remove_component(np.ones((3, 2)), np.zeros(2))
