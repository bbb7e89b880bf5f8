"""The L3 disk tier under several processes, SIGKILL and damaged files, on real folders.

Children are real Python processes sharing one folder; vectors are real SciFact embeddings.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from lance_spiral.embed import TieredCache
from lance_spiral.errors import DimensionError

ROOT = Path(__file__).resolve().parents[3]
N_PROCS, ROWS, ROUNDS = 3, 300, 3

# A child: buffers its own rows for ROUNDS fresh folders, says it is ready, and flushes round r
# at the start time the parent writes to ``go`` plus 0.4 s * r, so that the processes' first
# flushes (the table's creation) collide.
FLUSHER = """
import json, pathlib, sys, time
import numpy as np
from lance_spiral.embed import TieredCache
folders, who, rows, go = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), \\
    pathlib.Path(sys.argv[4])
emb = np.load(sys.argv[5])[who * rows:(who + 1) * rows]
caches = [TieredCache("minilm", l3_dir=f, l3_flush_rows=10**9) for f in folders]
for r, cache in enumerate(caches):
    cache.put_many([f"p{who} r{r} t{i}" for i in range(rows)], emb)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
start = float(go.read_text())
written = []
for r, cache in enumerate(caches):
    while time.time() < start + 0.4 * r:
        time.sleep(0.0005)
    written.append(cache.flush())
print(json.dumps(written))
"""

# A child that makes one large first flush and reports when it starts it.
BIG_FLUSH = """
import sys
import numpy as np
from lance_spiral.embed import TieredCache
cache = TieredCache("minilm", l3_dir=sys.argv[1], l3_flush_rows=10**9, l1_bytes=0, l2_bytes=0)
n = 60000
cache.put_many([f"big {i}" for i in range(n)], np.ones((n, 384), np.float32))
print("flushing", flush=True)
cache.flush()
print("done", flush=True)
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def emb_file(scifact_corpus_emb: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("emb") / "emb.npy"
    np.save(path, scifact_corpus_emb[: N_PROCS * ROWS])
    return path


def test_concurrent_first_flushes_keep_every_entry(
    tmp_path: Path, emb_file: Path, scifact_corpus_emb: np.ndarray
) -> None:
    folders = [str(tmp_path / f"round{r}") for r in range(ROUNDS)]
    go = tmp_path / "go"
    procs = [subprocess.Popen(
        [sys.executable, "-c", FLUSHER, json.dumps(folders), str(who), str(ROWS), str(go),
         str(emb_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_child_env()) for who in range(N_PROCS)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    (tmp_path / "go.tmp").write_text(str(time.time() + 0.3))
    (tmp_path / "go.tmp").replace(go)  # appears whole
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert json.loads(out) == [ROWS] * ROUNDS  # each flush reports the rows it wrote
    for r, folder in enumerate(folders):
        cache = TieredCache("minilm", l3_dir=folder, l1_bytes=0, l2_bytes=0)
        texts = [f"p{w} r{r} t{i}" for w in range(N_PROCS) for i in range(ROWS)]
        vecs, missing = cache.get_many(texts)
        assert missing.size == 0, f"round {r}: {missing.size} entries lost"
        np.testing.assert_array_equal(vecs, scifact_corpus_emb[: N_PROCS * ROWS])
        import lance

        assert lance.dataset(cache.l3_uri).count_rows() == N_PROCS * ROWS


def _kill_mid_first_flush(folder: Path) -> None:
    """Start a large first flush in a child and SIGKILL it once its data files appear."""
    child = subprocess.Popen([sys.executable, "-c", BIG_FLUSH, str(folder)],
                             stdout=subprocess.PIPE, text=True, env=_child_env())
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "flushing"
        deadline = time.time() + 120
        while time.time() < deadline and not any(folder.glob("*.lance/data/*")):
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)


def test_kill_during_the_first_flush_leaves_a_working_cache(
    tmp_path: Path, scifact_corpus_emb: np.ndarray
) -> None:
    for attempt in range(3):  # the kill must land inside the write (it nearly always does)
        folder = tmp_path / f"try{attempt}"
        _kill_mid_first_flush(folder)
        table = next(folder.glob("*.lance"))
        if not list((table / "_versions").glob("*.manifest")):
            break
    else:
        pytest.fail("the child committed before every kill: no half-written L3 to recover")
    assert any((table / "data").iterdir())  # the half-written state: data files, no version
    texts = [f"big {i}" for i in range(5)] + [f"new {i}" for i in range(200)]
    with pytest.warns(RuntimeWarning, match="first flush was interrupted"):
        cache = TieredCache("minilm", l3_dir=folder)
    assert cache.dim is None
    _, missing = cache.get_many(texts[:5])
    assert missing.tolist() == list(range(5))  # a miss, not an error
    cache.put_many(texts[5:], scifact_corpus_emb[:200])
    assert cache.flush() == 200
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt: the next start is silent
        again = TieredCache("minilm", l3_dir=folder, l1_bytes=0, l2_bytes=0)
        vecs, missing = again.get_many(texts[5:])
    assert missing.size == 0
    np.testing.assert_array_equal(vecs, scifact_corpus_emb[:200])


@pytest.mark.parametrize("damage", ["manifest", "data"])
def test_an_unreadable_table_is_moved_aside_and_rebuilt(
    tmp_path: Path, scifact_corpus_emb: np.ndarray, damage: str
) -> None:
    texts = [f"t{i}" for i in range(50)]
    with TieredCache("minilm", l3_dir=tmp_path) as c:
        c.put_many(texts, scifact_corpus_emb[:50])
    table = Path(str(c.l3_uri))
    victims = (table / "_versions").glob("*.manifest") if damage == "manifest" else (
        table / "data").glob("*.lance")
    for f in victims:
        f.write_bytes(f.read_bytes()[:40])
    with pytest.warns(RuntimeWarning, match="moved aside"):
        cache = TieredCache("minilm", l3_dir=tmp_path, l1_bytes=0, l2_bytes=0)
        _, missing = cache.get_many(texts)
    assert missing.size == 50
    assert len(list(tmp_path.glob("*.lance.broken-*"))) == 1  # kept, not deleted
    cache.put_many(texts, scifact_corpus_emb[:50])
    assert cache.flush() == 50
    vecs, missing = TieredCache("minilm", l3_dir=tmp_path).get_many(texts)
    assert missing.size == 0
    np.testing.assert_array_equal(vecs, scifact_corpus_emb[:50])


def test_a_table_of_another_width_is_refused(
    tmp_path: Path, scifact_corpus_emb: np.ndarray
) -> None:
    early = TieredCache("minilm", l3_dir=tmp_path)  # opened before the table exists
    with TieredCache("minilm", l3_dir=tmp_path) as other:
        other.put_many(["a"], scifact_corpus_emb[:1, :16])
    early.put_many(["b"], scifact_corpus_emb[:1])
    with pytest.raises(DimensionError, match="L3 table"):
        early.flush()
