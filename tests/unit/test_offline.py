"""Loading models and data must open no network socket."""

import socket

import numpy as np
import pytest

from sbert_lessons import data, models


@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(self, address, *a, **k):
        if self.family == socket.AF_UNIX:
            return _real_connect(self, address, *a, **k)
        attempts.append(address)
        raise OSError(f"network access attempted: {address}")

    _real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection",
                        lambda address, *a, **k: attempts.append(address) or (_ for _ in ()).throw(
                            OSError(f"network access attempted: {address}")))
    yield attempts
    assert attempts == [], f"sockets were opened: {attempts}"


def test_models_and_data_load_without_network(no_network):
    m = models.load_sentence_model(models.MINILM, device="cpu")
    emb = m.encode(["A man is eating pasta."], show_progress_bar=False)
    assert emb.shape == (1, 384) and np.isfinite(emb).all()
    models.load_glove()
    data.load_stsb("test")
    data.load_snli("validation")
