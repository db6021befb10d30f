import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from sbert_lessons import clustering as C


def blobs(n_per=20, k=3, d=8, seed=0, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    x = np.concatenate([c + spread * rng.normal(size=(n_per, d)) for c in centres])
    return x, np.repeat(np.arange(k), n_per)


@pytest.mark.parametrize("seed", range(6))
def test_ari_and_nmi_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, size=300)
    b = np.where(rng.random(300) < 0.6, a, rng.integers(0, 7, size=300))
    assert C.adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert C.normalized_mutual_info(a, b) == pytest.approx(normalized_mutual_info_score(a, b), abs=1e-12)


def test_scores_on_string_labels_and_edge_cases():
    a = ["x", "x", "y", "y"]
    assert C.cluster_scores(a, [1, 1, 0, 0]) == {"ari": 1.0, "nmi": 1.0}
    assert C.adjusted_rand_index(a, [0, 0, 0, 0]) == pytest.approx(adjusted_rand_score(a, [0, 0, 0, 0]))
    assert C.normalized_mutual_info([1, 1], [2, 2]) == 1.0
    assert abs(C.expected_ari_of_random(np.repeat(np.arange(10), 30), 10)) < 0.05


def test_contingency_counts():
    t = C.contingency(["a", "a", "b"], [0, 1, 1])
    assert t.tolist() == [[1, 1], [0, 1]]


@pytest.mark.parametrize("fn", [C.adjusted_rand_index, C.normalized_mutual_info])
def test_score_bad_input(fn):
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(ValueError, match="items"):
        fn([0, 1], [0, 1, 1])
    with pytest.raises(TypeError, match="one string"):
        fn("ab", [0, 1])


def test_kmeans_and_agglomerative_recover_blobs():
    x, y = blobs()
    assert C.adjusted_rand_index(y, C.kmeans(x, 3)) == 1.0
    for linkage in C.LINKAGES:
        assert C.adjusted_rand_index(y, C.agglomerative(x, 3, linkage=linkage)) == 1.0


def test_kmeans_is_deterministic_for_a_seed():
    x, _ = blobs(k=5, spread=1.0)
    assert (C.kmeans(x, 4, seed=1) == C.kmeans(x, 4, seed=1)).all()


@pytest.mark.parametrize("fn", [C.kmeans, C.agglomerative])
def test_clustering_bad_input(fn):
    x, _ = blobs(n_per=2, k=2)
    with pytest.raises(ValueError, match="cannot exceed"):
        fn(x, 5)
    with pytest.raises(ValueError, match="at least 2"):
        fn(x, 1)
    with pytest.raises(TypeError, match="integer"):
        fn(x, 2.0)
    with pytest.raises(ValueError, match="empty"):
        fn(np.zeros((0, 4)), 2)
    with pytest.raises(ValueError, match="2-D"):
        fn(np.ones(4), 2)
    with pytest.raises(ValueError, match="NaN"):
        fn(np.array([[1.0, np.nan], [1.0, 2.0], [0.0, 1.0]]), 2)
    with pytest.raises(ValueError, match="zero-length"):
        fn(np.array([[0.0, 0.0], [1.0, 2.0], [0.0, 1.0]]), 2)


def test_agglomerative_rejects_unknown_linkage():
    x, _ = blobs()
    with pytest.raises(ValueError, match="linkage"):
        C.agglomerative(x, 3, linkage="centroid")


def test_silhouette_sweep_peaks_at_the_true_count():
    x, y = blobs(k=4, spread=0.1)
    sweep = C.silhouette_sweep(x, [2, 3, 4, 6], labels_true=y)
    assert sweep["silhouette"].idxmax() == 4
    assert sweep.loc[4, "ari"] == 1.0
    with pytest.raises(ValueError, match="empty"):
        C.silhouette_sweep(x, [])
    with pytest.raises(ValueError, match="exceed"):
        C.silhouette_sweep(x, [len(x)])
    with pytest.raises(ValueError, match="labels"):
        C.silhouette_sweep(x, [2], labels_true=y[:-1])


def test_communities_find_tight_groups_only():
    x, y = blobs(n_per=12, k=3, spread=0.01)
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(5, x.shape[1]))
    groups = C.communities(np.concatenate([x, noise]), threshold=0.95, min_size=10)
    assert len(groups) == 3
    assert sorted(i for g in groups for i in g) == list(range(36))
    score = C.community_precision(groups, np.concatenate([y, [9] * 5]))
    assert score["precision"] == 1.0 and score["n_groups"] == 3
    assert score["coverage"] == pytest.approx(36 / 41)


def test_community_precision_counts_majorities():
    labels = ["a", "a", "b", "b", "b", "c"]
    s = C.community_precision([[0, 1, 2], [3, 4, 5]], labels)
    assert s["precision"] == pytest.approx(4 / 6)
    assert s["mean_group_precision"] == pytest.approx(2 / 3)
    assert [g["label"] for g in s["per_group"]] == ["a", "b"]


def test_community_bad_input():
    with pytest.raises(ValueError, match="no groups"):
        C.community_precision([], ["a"])
    with pytest.raises(ValueError, match="outside"):
        C.community_precision([[0, 7]], ["a", "b"])
    with pytest.raises(ValueError, match="more than one group"):
        C.community_precision([[0, 1], [1]], ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        C.community_precision([[]], ["a"])
    with pytest.raises(ValueError, match="threshold"):
        C.communities(np.ones((3, 2)), threshold=2.0)
    with pytest.raises(ValueError, match="min_size"):
        C.communities(np.ones((3, 2)), min_size=0)
    with pytest.raises(ValueError, match="empty"):
        C.communities(np.zeros((0, 2)))


def test_community_centre_counts_itself():
    # three points along one direction and one far away: with min_size=3 each of the three has only 2 other
    # neighbours above the threshold, and that is enough (the library's top-k count includes the point itself)
    x = np.array([[1.0, 0.0], [1.0, 0.01], [1.0, -0.01], [0.0, 1.0]])
    groups = C.communities(x, threshold=0.99, min_size=3)
    assert [sorted(g) for g in groups] == [[0, 1, 2]]
    assert C.communities(x, threshold=0.99, min_size=4) == []
