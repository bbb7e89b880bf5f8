"""The bundled real sample: 3,000 WordNet 3.0 glosses, 100 queries, and their embeddings.

The files ship inside the package (``lance_spiral/data``, see its NOTICE.md for the source and
licence), so the demo, the README's snippets and the tests run with no other data.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lance_spiral._io import read_jsonl
from lance_spiral.errors import CorruptDataError, NotFoundError

__all__ = ["load_sample"]

_SAMPLE_FILES = ("wordnet_texts.jsonl", "wordnet_emb_f16.npy", "wordnet_queries.jsonl",
                 "wordnet_query_emb.npy")


def load_sample(
    data_dir: str | Path | None = None,
) -> tuple[list[dict[str, str]], npt.NDArray[np.float32], list[dict[str, str]],
           npt.NDArray[np.float32]]:
    """Load the bundled WordNet sample: ``(docs, doc_vectors, queries, query_vectors)``.

    Args:
        data_dir: Folder holding the sample files (default: the package's ``data/``).

    Returns:
        Doc records (``id``, ``title``, ``text``), float32 doc embeddings, query records
        (``id``, ``text``) and float32 query embeddings.

    Raises:
        NotFoundError: A sample file is missing.
        CorruptDataError: Texts and embeddings disagree in count.
    """
    folder = Path(str(resources.files("lance_spiral") / "data")) if data_dir is None \
        else Path(data_dir)
    for name in _SAMPLE_FILES:
        if not (folder / name).is_file():
            raise NotFoundError(
                f"demo sample file {name} missing in {folder} (run scripts/make_demo_sample.py)"
            )
    docs = read_jsonl(folder / "wordnet_texts.jsonl")
    queries = read_jsonl(folder / "wordnet_queries.jsonl")
    vecs = np.load(folder / "wordnet_emb_f16.npy").astype(np.float32)
    qvecs = np.load(folder / "wordnet_query_emb.npy").astype(np.float32)
    if len(docs) != len(vecs) or len(queries) != len(qvecs):
        raise CorruptDataError(
            f"demo sample is inconsistent: {len(docs)} texts vs {len(vecs)} vectors,"
            f" {len(queries)} queries vs {len(qvecs)} query vectors"
        )
    return docs, vecs, queries, qvecs
