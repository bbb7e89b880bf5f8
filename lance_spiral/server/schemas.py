"""Request bodies of the REST API (pydantic; unknown fields are refused, not dropped)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

__all__ = [
    "AddBody",
    "CreateCollectionBody",
    "DeleteRowsBody",
    "ErrorBody",
    "GetRowsBody",
    "OptimizeBody",
    "QuantizeBody",
    "SearchBody",
]

Number = StrictFloat | StrictInt
RowId = StrictStr | StrictInt


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateCollectionBody(_Body):
    """``POST /collections``."""

    name: StrictStr = Field(description="1-64 letters, digits, '_' or '-'")
    dim: StrictInt = Field(ge=1, le=65536, description="vector width")
    metric: StrictStr = Field("cosine", description="cosine, ip or l2")
    codec: StrictStr | None = Field(None, description="codec spec, default sq:bits=8")
    mode: StrictStr | None = Field(None, description="compressed (default) or alongside")


class AddBody(_Body):
    """``POST /collections/{name}/add``: vectors, or texts the server embeds (or both)."""

    ids: list[RowId] | None = Field(None, description="row ids (default: new UUIDs)")
    vectors: list[list[Number]] | None = None
    texts: list[StrictStr] | None = None
    metadata: list[dict[str, Any] | None] | None = Field(
        None, description="one object per row; keys become filterable columns")


class SearchBody(_Body):
    """``POST /collections/{name}/search``: a vector or a text."""

    vector: list[Number] | None = None
    text: StrictStr | None = None
    k: StrictInt = Field(10, ge=1, le=1000)
    filter: dict[str, Any] | None = Field(
        None, description="dict filter, e.g. {\"year\": {\"$gte\": 2000}}")


class GetRowsBody(_Body):
    """``POST /collections/{name}/get``."""

    ids: list[RowId]


class DeleteRowsBody(_Body):
    """``DELETE /collections/{name}/rows``: ids or a dict filter."""

    ids: list[RowId] | None = None
    filter: dict[str, Any] | None = None


class QuantizeBody(_Body):
    """``POST /collections/{name}/quantize``: a codec spec or a recall target."""

    codec: StrictStr | None = Field(None, description="e.g. sq:bits=4, pq:m=48")
    target_recall: Number | None = Field(None, description="recall@10 target in (0, 1]")
    mode: StrictStr | None = Field(None, description="the storage mode (must stay the same)")


class OptimizeBody(_Body):
    """``POST /collections/{name}/quantization/optimize``."""

    target_recall: Number = Field(description="recall@10 target in (0, 1]")
    candidates: list[StrictStr] | None = Field(
        None, description="codec specs to try (default: choose_codec's list)")


class ErrorBody(BaseModel):
    """Every error response: the error class and a message naming the problem."""

    error: str
    detail: str
