"""The approximator as a LanceDB embedding function: ``"lance-spiral-approx"`` in the registry.

Plain LanceDB users get automatic embedding of a ``SourceField`` into a ``VectorField``, with the
approximator shipped in the package (``create(model_dir=DIR)`` for another one)::

    import tempfile

    import lancedb
    from lancedb.embeddings import get_registry
    from lancedb.pydantic import LanceModel, Vector

    import lance_spiral.embed.lancedb_function  # registers "lance-spiral-approx"

    func = get_registry().get("lance-spiral-approx").create()

    class Doc(LanceModel):
        text: str = func.SourceField()
        vector: Vector(func.ndims()) = func.VectorField()

    db = lancedb.connect(tempfile.mkdtemp())
    table = db.create_table("docs", schema=Doc)
    table.add([{"text": "a claim about proteins"}])      # embedded on add
    table.search("protein folding").limit(5).to_list()   # query embedded too

Reopening such a table: LanceDB stores only the alias ``"lance-spiral-approx"`` and the function's
arguments with the table; it has no plugin discovery. A new process must **import this module
before** ``db.open_table(...)`` (``import lance_spiral.embed.lancedb_function``); without it,
reading and vector search by an explicit vector still work, but ``add`` and text search raise
``KeyError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lancedb.embeddings import TextEmbeddingFunction, register

from lance_spiral.embed.approximator import Approximator, shared_approximator
from lance_spiral.embed.protocol import check_texts

__all__ = ["ALIAS", "ApproximatorEmbeddingFunction"]

ALIAS = "lance-spiral-approx"


@register(ALIAS)
class ApproximatorEmbeddingFunction(TextEmbeddingFunction):  # type: ignore[misc]
    """LanceDB ``TextEmbeddingFunction`` backed by a lance-spiral :class:`Approximator`.

    Attributes:
        model_dir: Folder of a saved approximator; the default model folder when None.
        batch_size: Texts per inference batch.
    """

    model_dir: str | None = None
    batch_size: int = 256

    def _approximator(self) -> Approximator:
        return shared_approximator(self.model_dir)

    def ndims(self) -> int:
        """Embedding width of the model."""
        return int(self._approximator().dim)

    def generate_embeddings(self, texts: Any, *args: Any, **kwargs: Any) -> list[Any]:
        """Embed texts (list or array of str) into unit-norm float32 rows.

        Raises:
            DTypeError: If an item is not a string.
        """
        items = check_texts(list(texts), allow_empty=True)
        if not items:
            return []
        model = self._approximator()
        step = max(1, int(self.batch_size))
        out = np.concatenate(
            [model.embed(items[i : i + step]) for i in range(0, len(items), step)], axis=0
        )
        return list(out.astype(np.float32))
