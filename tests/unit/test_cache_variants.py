"""The embedding cache never returns vectors that the model would not compute now (issue 9, property 1).

For every model variant the course builds, ``cache.encode(m, t)`` must equal ``m.encode(t)`` computed
right now, whatever was cached before for a sibling variant (same weights, other settings) or for the
same object before its weights changed.
"""

import numpy as np
import pytest
import torch

from sbert_lessons import cache

TEXTS = ["A man is playing a guitar.", "Stocks FELL sharply on Monday.", "Ein Hund läuft.", "ok"]


def assert_cache_is_fresh(model, texts=TEXTS, **kw):
    """Encode through the cache (which may hit an entry written earlier) and compare with a fresh encode."""
    got = cache.encode(model, texts, **kw)
    normalize = kw.pop("normalize", False)
    want = np.asarray(model.encode(list(texts), normalize_embeddings=normalize, convert_to_numpy=True,
                                   show_progress_bar=False, **kw), dtype=np.float32)
    assert got.shape == want.shape, f"cache returned shape {got.shape}, the model computes {want.shape}"
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
    return got


@pytest.fixture(scope="module")
def minilm():
    from sbert_lessons import models

    try:
        return models.load_sentence_model(models.MINILM, device="cpu")
    except models.ModelUnavailableError as exc:  # pragma: no cover - the wheel is a dependency
        pytest.skip(str(exc))


def test_truncate_dim_is_part_of_the_key(minilm):
    """Reproduction from the issue: a 128-d model got the 384-d vectors cached for its full-size twin."""
    from sbert_lessons import models

    full = assert_cache_is_fresh(minilm)
    m128 = models.load_sentence_model(models.MINILM, device="cpu", truncate_dim=128)
    short = assert_cache_is_fresh(m128)
    assert full.shape[1] == 384 and short.shape[1] == 128
    minilm.truncate_dim = 64          # set on the object after loading, too
    try:
        assert assert_cache_is_fresh(minilm).shape[1] == 64
    finally:
        minilm.truncate_dim = None
    assert cache.encode(minilm, TEXTS, truncate_dim=32).shape[1] == 32   # and as an encode() keyword


def test_prompts_and_default_prompt_are_part_of_the_key(minilm):
    plain = assert_cache_is_fresh(minilm)
    saved = dict(minilm.prompts), minilm.default_prompt_name
    try:
        minilm.prompts = {**minilm.prompts, "query": "query: "}
        minilm.default_prompt_name = "query"
        prompted = assert_cache_is_fresh(minilm)
        assert not np.allclose(plain, prompted)
        minilm.prompts = {**minilm.prompts, "query": "search for: "}   # same name, other prompt text
        assert not np.allclose(prompted, assert_cache_is_fresh(minilm))
        minilm.default_prompt_name = None
        assert_cache_is_fresh(minilm, prompt_name="query")
        assert_cache_is_fresh(minilm, prompt="passage: ")
    finally:
        minilm.prompts, minilm.default_prompt_name = saved
    np.testing.assert_allclose(assert_cache_is_fresh(minilm), plain, atol=1e-6)


def test_normalize_is_part_of_the_key(minilm):
    raw = assert_cache_is_fresh(minilm, normalize=False)
    unit = assert_cache_is_fresh(minilm, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    assert raw.shape == unit.shape


def test_tokenizer_is_part_of_the_key(minilm):
    """Same weights, a tokenizer that no longer lower-cases: other token ids, other vectors."""
    from tokenizers import normalizers

    tok = minilm.tokenizer.backend_tokenizer
    before = assert_cache_is_fresh(minilm)
    saved = tok.normalizer
    try:
        tok.normalizer = normalizers.Sequence([])
        after = assert_cache_is_fresh(minilm)
        assert not np.allclose(before, after)
    finally:
        tok.normalizer = saved
    np.testing.assert_allclose(assert_cache_is_fresh(minilm), before, atol=1e-6)


def test_weights_swapped_in_place_are_seen(minilm):
    """A declared fingerprint (the registry's) must lapse however the weights change."""
    from sbert_lessons import models

    m = minilm
    base = assert_cache_is_fresh(m)
    w = m[0].auto_model.embeddings.word_embeddings.weight
    original = w.data
    try:
        w.data = original * 1.5                  # swapped tensor (id and version counter unchanged)
        swapped = assert_cache_is_fresh(m)
        assert not np.allclose(base, swapped)
        w.data.mul_(1.2)                         # in place through .data: no version bump
        assert not np.allclose(swapped, assert_cache_is_fresh(m))
    finally:
        w.data = original                        # back to the base weights: the base entry is valid again
    np.testing.assert_allclose(assert_cache_is_fresh(m), base, atol=1e-6)
    assert cache.model_fingerprint(m).startswith(f"{models.MINILM}@{models.REGISTRY[models.MINILM].sha256}|tensors:")


def test_fine_tuned_copy_and_other_pooling(minilm):
    import copy

    from sentence_transformers import SentenceTransformer

    base = assert_cache_is_fresh(minilm)
    tuned = copy.deepcopy(minilm)                # carries the base's declared fingerprint along
    layer = tuned[0].auto_model.encoder.layer[-1].output.dense
    opt = torch.optim.SGD(layer.parameters(), lr=0.05)
    for p in layer.parameters():
        p.grad = torch.ones_like(p)
    opt.step()                                   # one optimizer step, as training does
    assert not np.allclose(base, assert_cache_is_fresh(tuned))
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling
    except ImportError:  # sentence-transformers < 6.2
        from sentence_transformers.models import Pooling
    cls = SentenceTransformer(modules=[minilm[0], Pooling(384, pooling_mode="cls")], device="cpu")
    assert not np.allclose(base, assert_cache_is_fresh(cls))


def test_glove_encoder_variants():
    from sbert_lessons import encoders as E

    words = ["a", "cat", "dog", "man", "runs", "sleeps", "the", "woman", "."]
    vecs = np.random.default_rng(0).normal(size=(len(words), 5)).astype(np.float32)
    texts = ["a cat runs .", "the woman sleeps", "a dog"]
    m = E.fingerprint(E.GloveEncoder(words, vecs, arch="mean", out_dim=4))
    base = assert_cache_is_fresh(m, texts)
    m.dense.weight.data = m.dense.weight.data * 2.0
    assert not np.allclose(base, assert_cache_is_fresh(m, texts))
    other_vocab = E.fingerprint(E.GloveEncoder(list(reversed(words)), vecs, arch="mean", out_dim=4))
    assert_cache_is_fresh(other_vocab, texts)
    avg = E.fingerprint(E.GloveEncoder(words, vecs, arch="avg"))
    assert_cache_is_fresh(avg, texts)
    assert_cache_is_fresh(avg, texts, normalize=True)


def test_pooled_views_follow_their_model(minilm):
    """A PooledEncoder view computed its fingerprint once and memoised pooled vectors by the texts only:
    after the base model's weights changed, it kept answering with the old vectors."""
    import copy

    from sbert_lessons import pooling

    model = copy.deepcopy(minilm)
    view = pooling.PooledEncoder(model, modes=("mean", "cls")).view("mean")

    def fresh():
        x, mask = next(pooling.token_embeddings_batches(model, TEXTS, batch_size=len(TEXTS)))
        return pooling.mean_pool(x, mask).numpy()

    before = cache.encode(view, TEXTS)
    np.testing.assert_allclose(before, fresh(), atol=1e-5)
    w = model[0].auto_model.embeddings.word_embeddings.weight
    w.data = w.data * 1.5
    after = cache.encode(view, TEXTS)
    np.testing.assert_allclose(after, fresh(), atol=1e-5)
    assert not np.allclose(before, after)
