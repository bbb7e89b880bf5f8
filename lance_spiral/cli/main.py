"""Wiring of the ``lance-spiral`` command line.

Each sub-command lives in the module that owns its feature; that module provides
``add_arguments(parser)`` and ``run(args) -> int`` (names below). This file only wires them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from lance_spiral.errors import LanceSpiralError

__all__ = ["main"]

# (words, module, add-arguments function, run function, help)
_COMMANDS: list[tuple[tuple[str, ...], str, str, str, str]] = [
    (("bench", "codecs"), "lance_spiral.bench.codecs", "add_arguments", "run",
     "benchmark codecs on .npy embeddings (recall, cosine, bytes, speed; faiss alongside)"),
    (("bench", "tables"), "lance_spiral.bench.tables", "add_arguments", "run",
     "benchmark compressed tables against LanceDB native indexes"),
    (("bench", "scale"), "lance_spiral.bench.scale", "add_arguments", "run",
     "scale benchmark: millions of rows, RAM/disk/sharded modes vs LanceDB native indexes"),
    (("compress",), "lance_spiral.table.compress", "add_arguments", "run",
     "compress an existing Lance/LanceDB table in place (code columns added, floats optional)"),
    (("demo",), "lance_spiral.cli.demo", "add_arguments", "run",
     "run the end-to-end demo on the bundled WordNet sample"),
    (("distill",), "lance_spiral.cli.embedder", "add_distill_arguments", "run_distill",
     "distil an approximator embedder from a teacher model"),
    (("embed",), "lance_spiral.cli.embedder", "add_embed_arguments", "run_embed",
     "embed texts (one per line on stdin) with an approximator into a .npy file"),
    (("eval-embedder",), "lance_spiral.cli.embedder", "add_eval_arguments", "run_eval",
     "evaluate an approximator against its teacher on a BEIR retrieval set"),
    (("mcp",), "lance_spiral.server.cli", "add_mcp_arguments", "run_mcp",
     "serve MCP tools (search, add, stats, quantize) over stdio or streamable HTTP"),
    (("serve",), "lance_spiral.server.cli", "add_serve_arguments", "run_serve",
     "serve the REST API, the dashboard and the MCP tools over HTTP ([server] extra)"),
]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lance-spiral", description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    top = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for words, module, add_name, run_name, help_text in _COMMANDS:
        if len(words) == 1:
            sub = top.add_parser(words[0], help=help_text, description=help_text)
        else:
            if words[0] not in groups:
                grp = top.add_parser(words[0], help=f"{words[0]} sub-commands")
                groups[words[0]] = grp.add_subparsers(dest="subcommand", required=True)
            sub = groups[words[0]].add_parser(words[1], help=help_text, description=help_text)
        mod = importlib.import_module(module)
        getattr(mod, add_name)(sub)
        sub.set_defaults(_run=(module, run_name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lance-spiral``; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    module, run_name = args._run
    try:
        return int(getattr(importlib.import_module(module), run_name)(args) or 0)
    except LanceSpiralError as exc:
        print(f"lance-spiral: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
