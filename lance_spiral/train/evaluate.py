"""Retrieval evaluation of teacher vs student (vs Model2Vec) on a BEIR set, with a held-out split.

Documents are split by a hash of their id (:func:`lance_spiral.train.corpus.in_heldout`) into A
(training may see) and B (never seen). "heldout" rows: test queries whose relevant documents are
all in B, searched over B only. "full" rows: all test queries over the whole corpus.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lance_spiral._io import read_jsonl
from lance_spiral.errors import InvalidInputError, NotFoundError
from lance_spiral.train.corpus import in_heldout
from lance_spiral.train.teacher import DEFAULT_TEACHER, resolve_teacher_dir

__all__ = ["evaluate_embedder", "load_beir", "ndcg_recall", "spearman"]


def load_beir(folder: str | Path) -> dict[str, Any]:
    """Read a BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` (test split), ``qrels.tsv``.

    Returns:
        Dict with ``doc_ids``, ``doc_titles``, ``doc_texts`` (title and text joined),
        ``query_rows`` (line numbers of the kept queries), ``query_ids``, ``query_texts``,
        ``qrels`` ({query id: {doc id: score}}).

    Raises:
        NotFoundError: If a file is missing.
    """
    d = Path(folder)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels.tsv"):
        if not (d / name).is_file():
            raise NotFoundError(f"BEIR file {d / name} not found")
    docs = read_jsonl(d / "corpus.jsonl")
    queries = read_jsonl(d / "queries.jsonl")
    qrels: dict[str, dict[str, float]] = {}
    for line in (d / "qrels.tsv").read_text().splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 3 and float(parts[2]) > 0:
            qrels.setdefault(parts[0], {})[parts[1]] = float(parts[2])
    rows = [
        i
        for i, q in enumerate(queries)
        if q.get("split", "test") == "test" and str(q["id"]) in qrels
    ]
    return {
        "doc_ids": [str(r.get("_id", r.get("id"))) for r in docs],
        "doc_titles": [r.get("title", "") or "" for r in docs],
        "doc_texts": [
            f"{r.get('title', '') or ''} {r.get('text', '') or ''}".strip() for r in docs
        ],
        "query_rows": rows,
        "query_ids": [str(queries[i]["id"]) for i in rows],
        "query_texts": [queries[i]["text"] for i in rows],
        "qrels": qrels,
    }


def ndcg_recall(
    q_emb: np.ndarray,
    d_emb: np.ndarray,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    qrels: dict[str, dict[str, float]],
) -> tuple[float, float]:
    """nDCG@10 and recall@100 of exact inner-product search.

    Returns:
        ``(ndcg_at_10, recall_at_100)`` averaged over the queries.

    Raises:
        InvalidInputError: On mismatched shapes or no queries.
    """
    if len(query_ids) == 0 or q_emb.shape[0] != len(query_ids) or d_emb.shape[0] != len(doc_ids):
        raise InvalidInputError("embeddings and ids must match and there must be queries")
    k = min(100, len(doc_ids))
    scores = q_emb @ d_emb.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    top = np.take_along_axis(top, order, axis=1)
    discount = 1.0 / np.log2(np.arange(2, 12))
    ndcgs, recalls = [], []
    for qi, qid in enumerate(query_ids):
        rel = qrels.get(qid, {})
        gains = np.array([rel.get(doc_ids[j], 0.0) for j in top[qi, :10]])
        ideal = np.sort(np.array(list(rel.values())))[::-1][:10]
        dcg = float(((2**gains - 1) * discount[: len(gains)]).sum())
        idcg = float(((2**ideal - 1) * discount[: len(ideal)]).sum())
        ndcgs.append(dcg / idcg if idcg > 0 else 0.0)
        hits = sum(1 for j in top[qi] if doc_ids[j] in rel)
        recalls.append(hits / max(len(rel), 1))
    return float(np.mean(ndcgs)), float(np.mean(recalls))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equally long vectors (ties broken by order)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise InvalidInputError("spearman needs two vectors of the same length >= 2")
    ra = np.empty_like(a)
    rb = np.empty_like(b)
    ra[a.argsort()] = np.arange(a.size)
    rb[b.argsort()] = np.arange(b.size)
    return float(np.corrcoef(ra, rb)[0, 1])


def _throughput(
    fn: Callable[[list[str]], Any], texts: list[str], min_seconds: float = 2.0
) -> float:
    """Texts per second of ``fn`` over ``texts``, repeated until ``min_seconds`` have passed.

    A fast model embeds the probe in a few milliseconds; repeating it keeps timer noise and
    one-off stalls out of the rate (the slow teacher runs once).
    """
    fn(texts[: min(8, len(texts))])
    reps, t0 = 0, time.perf_counter()
    while True:
        fn(texts)
        reps += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return reps * len(texts) / max(elapsed, 1e-9)


def _tokens_per_s(tokenizer: Any, texts: list[str], min_seconds: float) -> dict[str, float]:
    """Tokeniser speed on ``texts``: the per-text reference and the numba batch path."""
    n = int(tokenizer.tokenize_batch(texts)[0].shape[0])
    rates = {}
    for name, fn in (
        ("reference", lambda b: [tokenizer.tokenize(t) for t in b]),
        ("batch", tokenizer.tokenize_batch),
    ):
        rates[name] = _throughput(fn, texts, min_seconds) * n / len(texts)
    return rates


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def evaluate_embedder(
    model_dir: str | Path | None,
    beir_dir: str | Path,
    *,
    teacher: str = DEFAULT_TEACHER,
    model2vec: bool = False,
    out_dir: str | Path | None = None,
    throughput_n: int = 200,
    throughput_seconds: float = 2.0,
    threads: int = 2,
    progress: bool = True,
) -> dict[str, Any]:
    """Score teacher, student, student-query (and Model2Vec) on a BEIR set in one run.

    Teacher embeddings come from ``corpus_emb.npy``/``query_emb.npy`` beside the BEIR files when the
    teacher is the default package (they were made by it); otherwise the teacher embeds everything.
    Throughput is measured here for every model on the same texts with ``threads`` threads; the
    teacher runs in float32 (sentence-transformers' default), and where the CPU runs bfloat16
    natively also under bfloat16 autocast (``teacher-bfloat16``, its faster setting), with the
    student's speed-up against both.

    Args:
        model_dir: Approximator directory (None: the default, normally the shipped model).
        beir_dir: BEIR folder.
        teacher: Teacher model dir or package.
        model2vec: Also distil Model2Vec from the teacher (offline) and score it.
        out_dir: Where ``results.json`` goes (None: not written).
        throughput_n: Texts per throughput probe (short = queries, long = passages).
        throughput_seconds: Each throughput probe repeats until this many seconds have passed.
        threads: Threads for every model.
        progress: Progress output.

    Returns:
        The results dict (``rows`` plus agreement and throughput details).
    """
    from lance_spiral.embed.approximator.runtime import Approximator
    from lance_spiral.train.teacher import Teacher, bf16_supported

    data = load_beir(beir_dir)
    bdir = Path(beir_dir)
    teacher_dir = resolve_teacher_dir(teacher)
    student = Approximator.load(model_dir, threads=threads, cache_size=0)
    tm = Teacher(teacher_dir, batch_size=64, threads=threads)
    docs, qtexts = data["doc_texts"], data["query_texts"]
    pre = teacher_dir == resolve_teacher_dir(DEFAULT_TEACHER)
    if pre and (bdir / "corpus_emb.npy").is_file() and (bdir / "query_emb.npy").is_file():
        t_docs = np.load(bdir / "corpus_emb.npy").astype(np.float32)
        t_q = np.load(bdir / "query_emb.npy").astype(np.float32)[data["query_rows"]]
        teacher_source = "precomputed by the same teacher"
    else:
        t_docs = tm.embed(docs, progress=progress)
        t_q = tm.embed(qtexts, progress=progress)
        teacher_source = "embedded in this run"
    s_docs = student.embed(docs)
    s_q = student.embed(qtexts)
    doc_ids, qids, qrels = data["doc_ids"], data["query_ids"], data["qrels"]
    in_b = np.array([in_heldout(i) for i in doc_ids], dtype=bool)
    b_set = {d for d, b in zip(doc_ids, in_b, strict=False) if b}
    hq = np.array([all(d in b_set for d in qrels[q]) for q in qids], dtype=bool)
    b_ids = [d for d, b in zip(doc_ids, in_b, strict=False) if b]
    hq_ids = [q for q, h in zip(qids, hq, strict=False) if h]

    rng = np.random.default_rng(0)
    long_texts = [
        docs[i] for i in rng.choice(len(docs), min(throughput_n, len(docs)), replace=False)
    ]
    short_texts = [qtexts[i % len(qtexts)] for i in range(min(throughput_n, 4 * len(qtexts)))]
    speed = {
        "teacher": {
            "long": _throughput(tm.embed, long_texts, throughput_seconds),
            "short": _throughput(tm.embed, short_texts, throughput_seconds),
        },
        "student": {
            "long": _throughput(student.embed, long_texts, throughput_seconds),
            "short": _throughput(student.embed, short_texts, throughput_seconds),
        },
    }
    if bf16_supported():
        fast_teacher = Teacher(teacher_dir, batch_size=64, threads=threads, precision="bfloat16")
        speed["teacher-bfloat16"] = {
            "long": _throughput(fast_teacher.embed, long_texts, throughput_seconds),
            "short": _throughput(fast_teacher.embed, short_texts, throughput_seconds),
        }
        del fast_teacher
    tokens = _tokens_per_s(student.tokenizer, long_texts, throughput_seconds / 2)
    sizes = {"teacher": _dir_mb(teacher_dir), "student": student.size_mb}
    models: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "teacher": (t_q, t_docs),
        "student": (s_q, s_docs),
        "student-query": (s_q, t_docs),
    }
    notes: dict[str, Any] = {"teacher_embeddings": teacher_source}
    if model2vec:
        try:
            m2v_q, m2v_d, m2v_speed, m2v_mb = _model2vec(
                teacher_dir, docs, qtexts, long_texts, short_texts
            )
            models["model2vec"] = (m2v_q, m2v_d)
            speed["model2vec"] = m2v_speed
            sizes["model2vec"] = m2v_mb
        except Exception as exc:
            notes["model2vec_error"] = f"{type(exc).__name__}: {exc}"
    # Row names say which model: the student's config name or folder ("(shipped)" for the
    # package's own model), the teacher's package or folder.
    labels = {
        "teacher": f"teacher {Path(str(teacher)).name}",
        "student": f"approximator {student.name}",
        "student-query": f"approximator {student.name} queries x teacher docs",
        "model2vec": "model2vec (distilled from the teacher, 256-d PCA)",
    }
    rows = []
    for name, (q, d) in models.items():
        base = "student" if name == "student-query" else name
        tps = speed[base]["short" if name == "student-query" else "long"]
        for split in ("heldout", "full"):
            if split == "heldout":
                nd, rc = ndcg_recall(q[hq], d[in_b], hq_ids, b_ids, qrels)
            else:
                nd, rc = ndcg_recall(q, d, qids, doc_ids, qrels)
            rows.append(
                {
                    "model": name,
                    "name": labels[name],
                    "split": split,
                    "ndcg_at_10": nd,
                    "recall_at_100": rc,
                    "texts_per_s": tps,
                    "size_mb": sizes[base],
                }
            )
    pair_t = (t_q[hq] @ t_docs[in_b].T).ravel()
    pair_s = (s_q[hq] @ s_docs[in_b].T).ravel()
    in_a = ~in_b
    agreement = {
        "mean_cosine_docs_heldout": float((s_docs[in_b] * t_docs[in_b]).sum(1).mean()),
        "mean_cosine_queries": float((s_q * t_q).sum(1).mean()),
        "spearman_pairwise_heldout": spearman(pair_t, pair_s),
        # Split A, which training may see: the figures of the intended use (distil on your own
        # corpus), all test queries against the A documents.
        "mean_cosine_docs_A": float((s_docs[in_a] * t_docs[in_a]).sum(1).mean()),
        "spearman_pairwise_A": spearman(
            (t_q @ t_docs[in_a].T).ravel(), (s_q @ s_docs[in_a].T).ravel()
        ),
    }
    ratio = {k: speed["student"][k] / speed["teacher"][k] for k in ("long", "short")}
    results = {
        "models": {
            "student": {"name": student.name, "directory": str(student.directory)},
            "teacher": {"name": Path(str(teacher)).name, "directory": str(teacher_dir)},
        },
        "rows": rows,
        "agreement": agreement,
        "throughput_texts_per_s": speed,
        "student_speedup_vs_teacher": ratio,
        "tokenizer_tokens_per_s_long": tokens,
        "threads": threads,
        "split": {
            "docs_heldout_B": int(in_b.sum()),
            "docs_A": int((~in_b).sum()),
            "queries_heldout": int(hq.sum()),
            "queries_full": len(qids),
        },
        "notes": notes,
        "cpu_count": os.cpu_count(),
    }
    if "teacher-bfloat16" in speed:
        results["student_speedup_vs_teacher_bfloat16"] = {
            k: speed["student"][k] / speed["teacher-bfloat16"][k] for k in ("long", "short")
        }
    if (Path(student.directory) / "head.int8.onnx").is_file():
        # The int8 head (Approximator(quantized=True)): its speed and what it costs in quality.
        q8 = Approximator.load(model_dir, threads=threads, cache_size=0, quantized=True)
        q_docs, q_q = q8.embed(docs), q8.embed(qtexts)
        q_speed = {
            "long": _throughput(q8.embed, long_texts, throughput_seconds),
            "short": _throughput(q8.embed, short_texts, throughput_seconds),
        }
        int8_head: dict[str, Any] = {
            "texts_per_s": q_speed,
            "ndcg_at_10_heldout": ndcg_recall(q_q[hq], q_docs[in_b], hq_ids, b_ids, qrels)[0],
            "mean_cosine_docs_heldout": float((q_docs[in_b] * t_docs[in_b]).sum(1).mean()),
            "mean_cosine_queries": float((q_q * t_q).sum(1).mean()),
            "cosine_to_float32_head_docs": float((q_docs * s_docs).sum(1).mean()),
            "speedup_vs_teacher": {k: q_speed[k] / speed["teacher"][k] for k in q_speed},
        }
        if "teacher-bfloat16" in speed:
            int8_head["speedup_vs_teacher_bfloat16"] = {
                k: q_speed[k] / speed["teacher-bfloat16"][k] for k in q_speed
            }
        results["student_int8_head"] = int8_head
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


def _model2vec(
    teacher_dir: Path,
    docs: list[str],
    queries: list[str],
    long_texts: list[str],
    short_texts: list[str],
) -> tuple[np.ndarray, np.ndarray, dict[str, float], float]:
    import tempfile

    from model2vec.distill import distill

    m = distill(model_name=str(teacher_dir), pca_dims=256)

    def enc(texts: list[str]) -> np.ndarray:
        e = np.asarray(m.encode(texts), dtype=np.float32)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    speed = {"long": _throughput(enc, long_texts), "short": _throughput(enc, short_texts)}
    with tempfile.TemporaryDirectory() as tmp:
        m.save_pretrained(tmp)
        mb = _dir_mb(Path(tmp))
    return enc(queries), enc(docs), speed, mb
