"""langchain-tests' VectorStoreIntegrationTests against langchain-community's ``LanceDB`` store.

Not part of the project's test suite (it needs packages we do not depend on). Run it in a
separate virtualenv, see integrations/README.md:

    python -m venv /tmp/cmpvenv
    /tmp/cmpvenv/bin/pip install langchain-community langchain-tests lancedb pytest \
        pytest-asyncio pytest-socket llama-index-vector-stores-lancedb
    /tmp/cmpvenv/bin/python -m pytest -q -p no:cacheprovider --rootdir integrations/comparison \
        -c /dev/null -o asyncio_mode=auto integrations/comparison/cmp_langchain_community_lancedb.py
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_community.vectorstores import LanceDB
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests


class TestCommunityLanceDB(VectorStoreIntegrationTests):
    """The standard suite, unmodified, with a fresh LanceDB store per test."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:  # type: ignore[override]
        """A new store on an empty database folder."""
        yield LanceDB(embedding=self.get_embeddings(), uri=str(tmp_path / "db"),
                      table_name="standard")
