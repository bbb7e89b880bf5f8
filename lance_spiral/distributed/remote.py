"""Errors raised inside Ray workers, brought back as the library's own."""

from __future__ import annotations

from lance_spiral.errors import LanceSpiralError

__all__ = ["spiral_cause"]


def spiral_cause(exc: BaseException) -> LanceSpiralError | None:
    """The :class:`LanceSpiralError` behind a Ray task/actor failure, if there is one.

    Ray wraps a worker's exception (``RayTaskError`` with ``cause``, Ray Data's user-code
    wrappers with ``__cause__``); the chain is walked until one of ours is found.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, LanceSpiralError):
            return cur
        seen.add(id(cur))
        nxt = cur.__cause__ or cur.__context__ or getattr(cur, "cause", None)
        cur = nxt if isinstance(nxt, BaseException) else None
    return None
