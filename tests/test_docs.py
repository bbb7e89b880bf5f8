"""Every ```python block of the user-facing markdown runs as written, against the shipped model.

Files: README.md, docs/*.md, integrations/README.md, integrations/*/README.md, examples/README.md.
Each block runs in a fresh temporary working directory, in a fresh namespace -- unless it uses
names it does not define itself, in which case it continues the previous block of its file (as a
reader pasting the blocks in order would), in that block's namespace.

A block that cannot run here is marked in the markdown, on the line before its fence:
``<!-- docs-test: skip: REASON -->``; the test is skipped with that reason. Keep those rare: AWS
calls go to a real local server speaking the Bedrock protocol (tests/support/bedrock_server.py),
reached through ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``. A block that takes more than a few seconds
is marked ``<!-- docs-test: slow -->`` and runs with the ``slow`` tests.

Test ids name the file, the block's number and its first line in the file: ``docs/tables.md#2-L40``.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^```python\s*$")
_END = re.compile(r"^```\s*$")
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip:\s*(.+?)\s*-->")
_SLOW = re.compile(r"<!--\s*docs-test:\s*slow\s*-->")


@dataclass(frozen=True)
class Block:
    """One ```python block: its file (relative), number in the file (1-based), first code line."""

    file: str
    number: int
    line: int
    code: str
    skip: str | None
    slow: bool = False

    @property
    def id(self) -> str:
        return f"{self.file}#{self.number}-L{self.line}"


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             ROOT / "integrations" / "README.md",
             *sorted((ROOT / "integrations").glob("*/README.md")),
             ROOT / "examples" / "README.md"]
    return [f for f in files if f.is_file()]


def parse_blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """The ```python blocks of a markdown file, with their skip/slow markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        if _FENCE.match(lines[i]):
            before = next((x for x in reversed(lines[:i]) if x.strip()), "")
            skip = _SKIP.search(before)
            j = i + 1
            while j < len(lines) and not _END.match(lines[j]):
                j += 1
            out.append(Block(str(path.relative_to(root)), len(out) + 1, i + 2,
                             "\n".join(lines[i + 1 : j]) + "\n",
                             skip.group(1) if skip else None, bool(_SLOW.search(before))))
            i = j
        i += 1
    return out


def free_names(code: str) -> set[str]:
    """Names a block reads but never binds (nor are builtins): what it needs from before."""
    tree = ast.parse(code)
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound - set(dir(builtins))


ALL_BLOCKS = [b for f in doc_files() for b in parse_blocks(f)]
_NAMESPACES: dict[str, dict[str, Any]] = {}


def previous(block: Block) -> Block | None:
    same = [b for b in ALL_BLOCKS if b.file == block.file and b.number == block.number - 1]
    return same[0] if same else None


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The environment of a user with the package installed: the shipped model, AWS reachable."""
    from tests.support.bedrock_server import BedrockServer

    saved = dict(os.environ)
    with BedrockServer() as server:
        os.environ.pop("LANCE_SPIRAL_APPROXIMATOR", None)
        os.environ.update({
            "HF_HUB_OFFLINE": "1",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": server.endpoint_url,
            "AWS_ACCESS_KEY_ID": "docs-test-key", "AWS_SECRET_ACCESS_KEY": "docs-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        })
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def run_block(block: Block, workdir: Path, workdirs: pytest.TempPathFactory) -> dict[str, Any]:
    """Execute ``block`` in ``workdir`` (after the blocks it continues); returns its namespace."""
    need = free_names(block.code)
    if need:
        prior = previous(block)
        if prior is None:
            raise AssertionError(f"{block.id} uses {sorted(need)} and no block comes before it")
        ns = _NAMESPACES.get(prior.id)
        if ns is None:
            ns = run_block(prior, workdirs.mktemp("docs"), workdirs)
        missing = need - set(ns)
        if missing:
            raise AssertionError(f"{block.id} uses {sorted(missing)}, defined by no earlier block")
        ns = dict(ns)
    else:
        ns = {"__name__": "__main__"}
    # Line numbers of tracebacks are the markdown file's; no compiler flags inherited from this
    # module (its `from __future__ import annotations` would turn a block's annotations, such as
    # LanceDB's `Vector(func.ndims())`, into strings).
    code = compile("\n" * (block.line - 1) + block.code, str(ROOT / block.file), "exec",
                   dont_inherit=True)
    old = Path.cwd()
    os.chdir(workdir)
    try:
        exec(code, ns)
    finally:
        os.chdir(old)
        _end_of_script()
    _NAMESPACES[block.id] = ns
    return ns


def _end_of_script() -> None:
    """What the end of a user's script releases: a Ray runtime a block started (ray.init)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def test_blocks_are_found() -> None:
    files = {b.file for b in ALL_BLOCKS}
    assert {"README.md", "docs/embedder.md"} <= files
    assert len(ALL_BLOCKS) >= 10


def test_markers_and_continuations_are_read(tmp_path: Path) -> None:
    md = tmp_path / "x.md"
    md.write_text("# t\n\n```python\nimport os\nx = os.sep\n```\n\n"
                  "<!-- docs-test: skip: needs a GPU -->\n"
                  "```python\nprint(x, len([y for y in 'ab']))\n```\n<!-- docs-test: slow -->\n\n"
                  "```python\ndef f(a):\n    return a\n```\n```bash\nls\n```\n")
    a, b, c = parse_blocks(md, tmp_path)
    assert (a.number, a.line, a.skip, a.slow) == (1, 4, None, False)
    assert (b.skip, b.line) == ("needs a GPU", 10) and c.slow and c.id == "x.md#3-L15"
    assert free_names(a.code) == set() and free_names(b.code) == {"x"}
    assert free_names(c.code) == set()


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id, marks=[pytest.mark.slow] if b.slow
                                                else []) for b in ALL_BLOCKS])
def test_doc_block_runs(block: Block, docs_env: None, tmp_path: Path,
                        tmp_path_factory: pytest.TempPathFactory,
                        capsys: pytest.CaptureFixture[str]) -> None:
    if block.skip:
        pytest.skip(f"{block.id}: {block.skip}")
    run_block(block, tmp_path, tmp_path_factory)
    out = capsys.readouterr().out
    print(f"--- {block.id} printed:\n{out}")
