"""A ``VectorStoreRetriever`` that also knows ``search_type="hybrid"`` and ``"full_text"``.

LangChain's own retriever accepts only ``similarity``, ``similarity_score_threshold`` and ``mmr``;
``store.as_retriever(search_type="hybrid", search_kwargs={"k": 5})`` returns this subclass, which
sends the two extra types to the store's hybrid and BM25 full-text searches.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStoreRetriever

__all__ = ["EXTRA_SEARCH_TYPES", "LanceSpiralRetriever"]

EXTRA_SEARCH_TYPES = ("hybrid", "full_text")


class LanceSpiralRetriever(VectorStoreRetriever):
    """LangChain's vector-store retriever plus ``hybrid`` and ``full_text`` search types."""

    allowed_search_types: ClassVar[Collection[str]] = (
        "similarity", "similarity_score_threshold", "mmr", *EXTRA_SEARCH_TYPES)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        if self.search_type in EXTRA_SEARCH_TYPES:
            method = getattr(self.vectorstore, f"{self.search_type}_search")
            docs: list[Document] = method(query, **(self.search_kwargs | kwargs))
            return docs
        return super()._get_relevant_documents(query, run_manager=run_manager, **kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        if self.search_type in EXTRA_SEARCH_TYPES:
            method = getattr(self.vectorstore, f"a{self.search_type}_search")
            docs: list[Document] = await method(query, **(self.search_kwargs | kwargs))
            return docs
        return await super()._aget_relevant_documents(query, run_manager=run_manager, **kwargs)
