"""langchain-tests' standard VectorStore suite, unmodified, on a real compressed Lance table.

Run twice: with the 8-bit codec fitted from the very first write (``fit_rows=1``), and with the
table's default small-table policy (a provisional SQ code until 1000 rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_lance_spiral import LanceSpiralVectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests


class TestLanceSpiralStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:  # type: ignore[override]
        store = LanceSpiralVectorStore(self.get_embeddings(), tmp_path / "standard.lance",
                                       codec="sq:bits=8", table_kwargs={"fit_rows": 1})
        try:
            yield store
        finally:
            if store.table is not None and store.table.count_rows() > 0:
                assert store.table.codec.spec.startswith("sq:bits=8")
            store.delete(None)


class TestLanceSpiralStandardSmallTablePolicy(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:  # type: ignore[override]
        store = LanceSpiralVectorStore(self.get_embeddings(), tmp_path / "standard.lance")
        try:
            yield store
        finally:
            store.delete(None)
