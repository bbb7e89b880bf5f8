"""Reading the line-delimited JSON files the library takes (corpora, queries, samples, logs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lance_spiral.errors import CorruptDataError, NotFoundError

__all__ = ["read_jsonl"]


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Every non-blank line of a JSONL file as a dict.

    Raises:
        NotFoundError: The file does not exist.
        CorruptDataError: A line is not a JSON object (the message names the file and line).
    """
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"file not found: {p}")
    out: list[dict[str, Any]] = []
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise CorruptDataError(f"{p}:{n} is not valid JSON: {exc}") from exc
            if not isinstance(rec, dict):
                raise CorruptDataError(f"{p}:{n} is not a JSON object")
            out.append(rec)
    return out
