import numpy as np
import pytest

from sbert_lessons import choosing as CH


def test_mean_random_cosine_isotropic_vs_shifted():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 64))
    assert abs(CH.mean_random_cosine(x)) < 0.02
    shifted = x + 3.0  # a common offset: every pair looks similar
    assert CH.mean_random_cosine(shifted) > 0.8
    assert abs(CH.mean_random_cosine(CH.centre(shifted))) < 0.02


def test_mean_random_cosine_never_pairs_a_row_with_itself():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert CH.mean_random_cosine(x, n_pairs=100) == pytest.approx(0.0)


def test_centre_with_a_given_mean():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert np.allclose(CH.centre(x), [[-1, -1], [1, 1]])
    assert np.allclose(CH.centre(x, mean=[1.0, 2.0]), [[0, 0], [2, 2]])
    with pytest.raises(ValueError, match="mean has shape"):
        CH.centre(x, mean=[1.0])


def test_score_agreement_dot_prefers_long_vectors():
    q = np.array([1.0, 0.0])
    cands = np.array([[0.9, 0.1], [3.0, 3.0]])  # the first points the same way, the second is long
    r = CH.score_agreement(q, cands)
    assert r["top_cosine"] == 0 and r["top_dot"] == 1 and not r["same_top"]
    unit = cands / np.linalg.norm(cands, axis=1, keepdims=True)
    assert CH.score_agreement(q, unit)["same_top"]


def test_size_on_disk(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 1000)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"y" * 500)
    assert CH.size_on_disk_mb(tmp_path / "a", tmp_path / "d") == pytest.approx(0.0015)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CH.size_on_disk_mb(tmp_path / "nope")
    with pytest.raises(ValueError, match="at least one"):
        CH.size_on_disk_mb()


def test_bad_input():
    with pytest.raises(ValueError, match="at least 2 rows"):
        CH.mean_random_cosine(np.ones((1, 3)))
    with pytest.raises(ValueError, match="zero-length"):
        CH.mean_random_cosine(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n_pairs"):
        CH.mean_random_cosine(np.ones((3, 3)), n_pairs=0)
    with pytest.raises(ValueError, match="non-empty"):
        CH.centre(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="candidates"):
        CH.score_agreement(np.ones(3), np.ones((2, 4)))
    with pytest.raises(ValueError, match="kind"):
        CH.peak_memory_mb("x", "tensorflow", ["a"])
    with pytest.raises(ValueError, match="non-empty list"):
        CH.peak_memory_mb("x", "onnx", [])


def test_peak_memory_failure_is_reported():
    with pytest.raises(RuntimeError, match="measuring process failed"):
        CH.peak_memory_mb("no/such-model", "onnx", ["a"], timeout=300)


def test_peak_memory_of_a_static_folder_that_is_not_one_says_so(tmp_path):
    with pytest.raises(RuntimeError, match="no saved Model2Vec model"):
        CH.peak_memory_mb(str(tmp_path), "static", ["a"], timeout=300)


def test_peak_memory_is_not_inherited_from_a_large_parent():
    ballast = bytearray(400 * 1024 * 1024)  # a parent far larger than the measured child
    ballast[::4096] = b"x" * len(ballast[::4096])
    peak = CH._run_rss("x = bytearray(50 * 1024 * 1024); x[::4096] = b'y' * len(x[::4096])", timeout=300)
    base = CH._run_rss("pass", timeout=300)
    assert 40 < peak - base < 120 and peak < 300
    del ballast
