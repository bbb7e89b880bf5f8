"""`lance-spiral serve --db s3://...` against a real S3-compatible server (moto, 127.0.0.1):
collections, rows, search, stats and drop in the bucket; the secret never in the server's output."""

from __future__ import annotations

from pathlib import Path

import httpx

from lance_spiral.server.launch import ServerProcess
from tests.server.conftest import Sample, seed
from tests.support.s3 import S3Server, s3, s3_server  # noqa: F401  (fixtures)


def test_serve_a_bucket(s3: tuple[str, dict[str, str]], s3_server: S3Server,  # noqa: F811
                        sample: Sample, tmp_path: Path) -> None:
    prefix, opts = s3
    secret = opts["aws_secret_access_key"]
    # keys through the environment (never on a command line), the rest as storage options
    args = [f"--storage-option={k}={opts[k]}" for k in ("aws_endpoint", "allow_http",
                                                        "aws_region")]
    # disk memory with a local code cache: the mode meant for tables on object storage
    args += ["--memory", "disk", "--cache-dir", str(tmp_path / "codes")]
    env = {"AWS_ACCESS_KEY_ID": opts["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": secret}
    log = tmp_path / "server.log"
    with ServerProcess(f"{prefix}/db", args=args, env=env, log=log) as srv, \
            httpx.Client(base_url=srv.url, timeout=120) as c:
        seed(c, "remote", sample, 400)
        assert [x["name"] for x in c.get("/collections").json()["collections"]] == ["remote"]
        hits = c.post("/collections/remote/search", json={
            "vector": sample.vectors[17].tolist(), "k": 3}).json()["results"]
        assert hits[0]["id"] == sample.ids[17]
        stats = c.get("/collections/remote/quantization/stats").json()
        assert stats["rows"] == 400 and stats["disk_bytes"] > 400 * stats["code_bytes"]
        assert 0.97 <= stats["recall_at_10_estimate"] <= 1
        assert stats["resident_bytes"] / stats["rows"] < 100  # 1-bit codes only (ram: ~430)
        assert any((tmp_path / "codes").iterdir())  # re-rank codes served from the cache
        assert c.get("/").status_code == 200
        keys = {o["Key"] for o in s3_server.client().list_objects_v2(
            Bucket=s3_server.bucket, Prefix=prefix.split("/", 3)[3])["Contents"]}
        assert any("/db/remote.lance/" in k for k in keys)
        assert any("/db/_lance_spiral_server/remote__reference.lance/" in k for k in keys)
        assert c.delete("/collections/remote").status_code == 200
        listed = c.get("/collections")
        assert listed.status_code == 200, listed.text
        assert listed.json()["collections"] == []
        bad = c.post("/collections/nope/search", json={"vector": [0.0] * 384})
        assert bad.status_code == 404 and secret not in bad.text
    assert secret not in log.read_text()
