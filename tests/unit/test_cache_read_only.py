"""Issue 25: a read-only cache folder that is already filled serves its hits and computes misses in memory
(one notice that nothing will be saved); ``use_cache=False`` never touches the cache folder.

Root can write into a chmod 0o555 folder, so besides the real ``chmod`` test (skipped as root) a fixture
simulates a read-only mount: every attempt to create, write, rename or delete a path inside the folder fails
with ``EROFS``, as the kernel answers on a read-only file system.
"""

import builtins
import errno
import io
import os

import numpy as np
import pytest

from sbert_lessons import cache


class CountingModel:
    device = "cpu"
    max_seq_length = 16
    _sbert_lessons_fingerprint = "fake-model@ro"

    def __init__(self):
        self.calls = 0

    def encode(self, texts, **kw):
        self.calls += 1
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def _make_read_only(monkeypatch, root):
    """From now on, writing anywhere under ``root`` fails with EROFS (a read-only file system)."""
    root = os.path.realpath(root)
    attempts = []

    def inside(path):
        try:
            p = os.path.realpath(os.fspath(path))
        except TypeError:  # a file descriptor
            return False
        return p == root or p.startswith(root + os.sep)

    def deny(path):
        attempts.append(os.fspath(path))
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    real = {name: getattr(os, name) for name in ("open", "mkdir", "rename", "replace", "unlink", "remove", "rmdir")}
    real_open = builtins.open

    def os_open(path, flags, *a, **k):
        if flags & writes and inside(path):
            deny(path)
        return real["open"](path, flags, *a, **k)

    def one_path(name):
        def f(path, *a, **k):
            if inside(path):
                deny(path)
            return real[name](path, *a, **k)
        return f

    def two_paths(name):
        def f(src, dst, *a, **k):
            if inside(src) or inside(dst):
                deny(dst)
            return real[name](src, dst, *a, **k)
        return f

    def py_open(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+") and inside(file):
            deny(file)
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr(os, "open", os_open)
    for name in ("mkdir", "unlink", "remove", "rmdir"):
        monkeypatch.setattr(os, name, one_path(name))
    for name in ("rename", "replace"):
        monkeypatch.setattr(os, name, two_paths(name))
    monkeypatch.setattr(builtins, "open", py_open)
    monkeypatch.setattr(io, "open", py_open)
    return attempts


def _listing(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


def _forget_folder_checks(monkeypatch):
    """A new process: the write check has not run yet."""
    monkeypatch.setattr(cache, "_WRITABLE", set())
    monkeypatch.setattr(cache, "_READ_ONLY", set(), raising=False)
    monkeypatch.setattr(cache, "_NOTICES", set(), raising=False)


def test_filled_read_only_cache_serves_hits_and_computes_misses(monkeypatch, capsys):
    m = CountingModel()
    filled = cache.encode(m, ["one", "three"])
    trained = []
    key = {"recipe": "prepared by the teacher"}
    folder = cache.cached_model("toy", key, lambda f: (trained.append(f), (f / "w.bin").write_bytes(b"w")))
    root = cache.cache_root()
    before = _listing(root)
    _forget_folder_checks(monkeypatch)
    _make_read_only(monkeypatch, root)
    capsys.readouterr()

    hit = cache.encode(m, ["one", "three"])                     # used to raise CacheFolderError
    assert m.calls == 1 and np.array_equal(hit, filled)
    assert cache.cache_is_read_only()
    miss = cache.encode(m, ["two"])
    again = cache.encode(m, ["four", "five"])
    assert m.calls == 3 and miss.tolist() == [[3.0, 1.0]] and again.shape == (2, 2)
    err = capsys.readouterr().err
    assert err.count("read-only") == 1 and "nothing will be saved" in err      # one notice, not one per call

    assert cache.cached_model("toy", key, lambda f: trained.append(f)) == folder   # a hit: served
    assert len(trained) == 1
    fresh = []

    def train(f):
        fresh.append(f)
        (f / "w.bin").write_bytes(b"new")

    other = cache.cached_model("toy", {"recipe": "new"}, train)            # a miss: trained outside
    assert (other / "w.bin").read_bytes() == b"new" and not str(other).startswith(str(root))
    assert cache.cached_model("toy", {"recipe": "new"}, train) == other and len(fresh) == 1
    assert _listing(root) == before                                      # nothing was written
    assert capsys.readouterr().err == ""


def test_read_only_cache_refuses_a_new_folder_by_name(monkeypatch):
    root = cache.cache_root()
    _forget_folder_checks(monkeypatch)
    _make_read_only(monkeypatch, root)
    target = root / "models" / "hub" / "some-model"
    with pytest.raises(cache.CacheFolderError, match="cannot write some-model .*Read-only"), \
            cache.atomic_dir(target):
        pass
    with pytest.raises(cache.CacheFolderError, match="some-model"), cache.dir_lock(target):
        pass


def test_a_failed_save_keeps_the_result_with_one_notice(monkeypatch, capsys):
    m = CountingModel()
    cache.cache_root()  # writable: the check passed

    def full_disk(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache, "_save_npy", full_disk)
    assert cache.encode(m, ["a"]).shape == (1, 2)
    assert cache.encode(m, ["b"]).shape == (1, 2)
    err = capsys.readouterr().err
    assert err.count("could not save") == 1


def test_real_read_only_folder(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere (the simulated read-only folder above covers this case)")
    m = CountingModel()
    filled = cache.encode(m, ["x"])
    root = cache.cache_root()
    _forget_folder_checks(monkeypatch)
    for p in [root, *root.rglob("*")]:
        if p.is_dir():
            p.chmod(0o555)
    try:
        assert np.array_equal(cache.encode(m, ["x"]), filled) and m.calls == 1
        assert cache.encode(m, ["y"]).shape == (1, 2) and m.calls == 2
    finally:
        for p in [root, *root.rglob("*")]:
            if p.is_dir():
                p.chmod(0o755)


def test_use_cache_false_never_touches_the_cache_folder(tmp_path, monkeypatch):
    m = CountingModel()
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("SBERT_LESSONS_CACHE", str(tmp_path / "a-file" / "cache"))   # cannot even be created
    assert cache.encode(m, ["a", "bb"], use_cache=False).shape == (2, 2)        # used to raise CacheFolderError
    monkeypatch.setenv("SBERT_LESSONS_CACHE", str(tmp_path / "missing"))
    cache.encode(m, ["a"], use_cache=False)
    assert not (tmp_path / "missing").exists()                                 # no mkdir
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setenv("SBERT_LESSONS_CACHE", str(ro))
    attempts = _make_read_only(monkeypatch, ro)
    cache.encode(m, ["a"], use_cache=False)
    assert attempts == [] and list(ro.iterdir()) == []                         # no write check either


def test_a_stub_without_fingerprint_encodes_without_the_cache():
    class Stub:
        def encode(self, texts, **kw):
            return np.ones((len(texts), 3), dtype=np.float32)

    assert cache.encode(Stub(), ["a"], use_cache=False).shape == (1, 3)  # no key is computed
    with pytest.raises(TypeError, match="fingerprint"):
        cache.encode(Stub(), ["a"])
