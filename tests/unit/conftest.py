import pytest


@pytest.fixture(autouse=True)
def _private_cache_and_metrics(tmp_path, monkeypatch):
    """Unit tests never touch the user's cache or the book's metrics file."""
    monkeypatch.setenv("SBERT_LESSONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SBERT_LESSONS_METRICS", str(tmp_path / "metrics.json"))
