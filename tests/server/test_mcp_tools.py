"""MCP tools through the official SDK's own client: `lance-spiral mcp` over stdio (real child
processes, read-write and --read-only) and the tools the REST server serves at /mcp."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.server.conftest import API_KEY, SEED_ROWS, SHIPPED_MODEL, Running, Sample

ALL_TOOLS = {"list_collections", "search", "collection_stats", "add_documents",
             "create_collection", "quantize"}


def _params(db: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "lance_spiral.cli", "mcp", "--db", str(db), *extra],
        env={**SHIPPED_MODEL, "HF_HUB_OFFLINE": "1"})


def _data(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def _read_write(db: Path, sample: Sample) -> None:
    async with Client(_params(db)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == ALL_TOOLS
        made = _data(await client.call_tool("create_collection", {"collection": "docs"}))
        assert made["dim"] == 384 and made["rows"] == 0
        texts = sample.texts[:400]
        meta = [{"pos": m["pos"], "lemmas": m["lemmas"]} for m in sample.metadata[:400]]
        added = _data(await client.call_tool("add_documents", {
            "collection": "docs", "texts": texts, "metadata": meta, "ids": sample.ids[:400]}))
        assert added["added"] == 400
        listed = _data(await client.call_tool("list_collections", {}))["collections"]
        assert [(c["name"], c["rows"]) for c in listed] == [("docs", 400)]
        found = _data(await client.call_tool("search", {
            "collection": "docs", "query": texts[11], "k": 5}))["results"]
        assert sample.ids[11] in [h["id"] for h in found]
        assert found[0]["text"] in texts
        few = _data(await client.call_tool("search", {
            "collection": "docs", "query": texts[11], "k": 5,
            "filter": {"lemmas": {"$gte": 3}}}))["results"]
        assert few and all(h["metadata"]["lemmas"] >= 3 for h in few)
        stats = _data(await client.call_tool("collection_stats", {"collection": "docs"}))
        assert stats["rows"] == 400 and stats["recall_at_10_estimate"] is not None
        switched = _data(await client.call_tool("quantize", {
            "collection": "docs", "codec": "sq:bits=4"}))
        assert switched["codec"].startswith("sq:bits=4")
        assert switched["stats"]["code_bytes"] == 192 < stats["code_bytes"]
        bad = await client.call_tool("search", {"collection": "nope", "query": "x"})
        assert bad.is_error and "nope" in bad.content[0].text
        bad = await client.call_tool("search", {"collection": "docs", "query": "x",
                                                "filter": {"lemmas": {"$near": 1}}})
        assert bad.is_error and "$near" in bad.content[0].text
        bad = await client.call_tool("quantize", {"collection": "docs", "codec": "zz:1"})
        assert bad.is_error and "zz" in bad.content[0].text


async def _read_only(db: Path, sample: Sample) -> None:
    async with Client(_params(db, "--read-only")) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"list_collections", "search", "collection_stats"}
        found = _data(await client.call_tool("search", {
            "collection": "wordnet", "query": sample.texts[11], "k": 3}))["results"]
        assert sample.ids[11] in [h["id"] for h in found]
        refused = await client.call_tool("add_documents", {"collection": "wordnet",
                                                           "texts": ["x"]})
        assert refused.is_error
        listed = _data(await client.call_tool("list_collections", {}))["collections"]
        assert {c["name"]: c["rows"] for c in listed}["wordnet"] == SEED_ROWS


async def _both(db: Path, served_db: Path, sample: Sample) -> None:
    await asyncio.gather(_read_write(db, sample), _read_only(served_db, sample))


def test_stdio_tools_read_write_and_read_only(tmp_path: Path, running: Running,
                                              sample: Sample) -> None:
    """A read-write server on a new database, and a --read-only one on the REST server's."""
    asyncio.run(_both(tmp_path / "db", running.db, sample))


async def _over_http(url: str, sample: Sample) -> None:
    headers = {"authorization": f"Bearer {API_KEY}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
            Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == ALL_TOOLS
        found = _data(await client.call_tool("search", {
            "collection": "wordnet", "query": sample.texts[3], "k": 5}))["results"]
        assert sample.ids[3] in [h["id"] for h in found]
    async with httpx2.AsyncClient(timeout=30) as anon:
        r = await anon.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert r.status_code == 401


def test_streamable_http_tools_behind_the_key(running: Running, sample: Sample) -> None:
    asyncio.run(_over_http(running.server.url, sample))
