"""A pool of writer subprocesses (tests/support/writer_script.py) started at once on a table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("writer_script.py")
N_WRITERS = 3


class Writers:
    """``n`` long-lived worker processes; :meth:`run` starts one command on each, all at once."""

    def __init__(self, n: int, tmp: Path, shared_data: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "RUST_LOG": "error",
               "LANCE_SPIRAL_SHARED_DATA": str(shared_data)}
        self.tmp = tmp
        self.round = 0
        self.procs = [subprocess.Popen([sys.executable, str(SCRIPT), "worker"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                       env=env) for _ in range(n)]

    def run(self, commands: list[dict[str, Any]], timeout: float = 120.0) -> list[Any]:
        """Send one command to each of the first workers, start them together, return results."""
        self.round += 1
        go = self.tmp / f"go-{self.round}"
        procs = self.procs[:len(commands)]
        for proc, cmd in zip(procs, commands, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({**cmd, "go": str(go)}) + "\n")
            proc.stdin.flush()
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == "READY", line
        go.touch()
        deadline = time.monotonic() + timeout
        out = []
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert time.monotonic() < deadline, "a writer took too long"
            res = json.loads(line)
            assert "error" not in res, res["error"]
            out.append(res["ok"])
        return out

    def close(self) -> None:
        """Stop the workers (closing stdin ends their loop)."""
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:  # idle in Lance's runtime shutdown: stop it
                proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)


@pytest.fixture(scope="session")
def writers(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Writers]:
    """``N_WRITERS`` worker processes shared by the session's concurrency tests."""
    pool = Writers(N_WRITERS, tmp_path_factory.mktemp("go"), shared_data)
    yield pool
    pool.close()
