"""LangChain metadata filters: dicts in Chroma's language, compiled to Lance SQL.

The grammar and the compiler live in :mod:`lance_spiral.documents.metadata_filter` (shared with
the LlamaIndex store's ``where=``); this module keeps the LangChain package's public name.
"""

from lance_spiral.documents.metadata_filter import OPERATORS, filter_to_sql

__all__ = ["OPERATORS", "filter_to_sql"]
