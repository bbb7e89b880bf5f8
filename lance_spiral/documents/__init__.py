"""The document store the framework adapters share: id, text, JSON metadata, compressed vector."""

from lance_spiral.documents.store import DocumentStore

__all__ = ["DocumentStore"]
