"""The document store the framework adapters share: id, text, JSON metadata, compressed vector.

Also where its table lives (a table URI, or a database folder plus a table name), metadata
filter dicts and Chroma's ``where_document`` text filters compiled to SQL, and full-text and
hybrid search over the text.
"""

from lance_spiral.documents.fulltext import fuse
from lance_spiral.documents.location import resolve_location, table_uri
from lance_spiral.documents.metadata_filter import filter_to_sql
from lance_spiral.documents.store import DEFAULT_CODEC, DocumentStore
from lance_spiral.documents.text_filter import where_document_sql

__all__ = ["DEFAULT_CODEC", "DocumentStore", "filter_to_sql", "fuse", "resolve_location",
           "table_uri", "where_document_sql"]
