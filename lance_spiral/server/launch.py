"""Start ``lance-spiral serve`` in a child process on a free 127.0.0.1 port, and stop it.

For benchmarks, tests and notebooks that need a real server: the child is the same command a
user runs, so what is measured or tested is what is shipped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from lance_spiral.errors import LanceSpiralError

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``lance-spiral serve --db DB`` as a child process.

    Args:
        db: Database folder.
        api_key: Passed through ``LANCE_SPIRAL_API_KEY`` (never on the command line).
        args: More ``serve`` arguments.
        env: More environment variables.
        log: File that receives the child's stdout and stderr (default: discarded).
        startup_timeout: Seconds to wait for ``/health``.
    """

    def __init__(self, db: str | Path, *, api_key: str | None = None,
                 args: list[str] | None = None, env: dict[str, str] | None = None,
                 log: str | Path | None = None, startup_timeout: float = 120.0) -> None:
        self.db = str(db)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        self._args = list(args or [])
        self._env = dict(env or {})
        self._log = Path(log) if log is not None else None
        self._timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        """Start the child and wait until ``/health`` answers.

        Raises:
            LanceSpiralError: The child exited or did not answer in time (its log is quoted).
        """
        env = {**os.environ, **self._env}
        env.pop("LANCE_SPIRAL_API_KEY", None)
        if self.api_key:
            env["LANCE_SPIRAL_API_KEY"] = self.api_key
        cmd = [sys.executable, "-m", "lance_spiral.cli", "serve", "--db", self.db,
               "--port", str(self.port), *self._args]
        out = open(self._log, "ab") if self._log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        finally:
            if self._log is not None:
                out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LanceSpiralError(f"server exited with {self.proc.returncode}:"
                                       f" {self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.kill()
        raise LanceSpiralError(f"server did not answer /health in {self._timeout} s:"
                               f" {self._tail()}")

    def _tail(self) -> str:
        if self._log is None or not self._log.exists():
            return "(no log)"
        return self._log.read_text(errors="replace")[-2000:]

    def health(self) -> dict[str, Any]:
        """``GET /health`` as a dict."""
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
            data: dict[str, Any] = json.loads(r.read())
            return data

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int | None:
        """SIGKILL (no shutdown at all, as a crash); returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
