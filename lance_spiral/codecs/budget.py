"""Byte budgets for target-sized codecs: residual stage layouts that fit a limit *all-in*.

A compression target ``r`` allows ``(1 - r) * 4 * dim`` bytes per vector, and every byte counts:
the per-vector code (anchor id, stage codes, norm) *and* the parameters (anchors, codebooks,
plane) divided by the rows the codec is fitted on. Parameters are a fixed cost, so the layout
depends on ``n``: a 384-d 8-bit codebook is 196,608 bytes (float16), 9.8 bytes per vector at
20,000 rows but 98 at 2,000. :func:`plan_layout` picks, for a given ``n``, the residual stages
that fit; :func:`min_rows` is the smallest ``n`` at which any layout fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lance_spiral.errors import InvalidParameterError

__all__ = ["EIGHT_BIT_WEIGHT", "Layout", "min_rows", "plan_layout", "stage_code_bytes",
           "stage_param_bytes", "stages_for_budget"]

PARAM_ITEMSIZE = 2  # float16 parameters in target-sized codecs
EIGHT_BIT_WEIGHT = 1.15
"""How much more one bit of an 8-bit stage is worth than one of a 4-bit stage when layouts are
compared (8-bit sub-quantisers code more dimensions per bit well); set from the measured
comparison of forced 8- and 4-bit layouts in docs/codecs.md."""


@dataclass(frozen=True)
class Layout:
    """Residual stages chosen for a byte limit."""

    bits: int
    """Bits per sub-vector code (8 or 4), the same in every stage."""
    stages: tuple[int, ...]
    """Sub-vectors of each stage."""
    stage_bytes: int
    """Code bytes of all stages, per vector."""
    stage_params: int
    """Codebook bytes of all stages."""

    @property
    def code_bits(self) -> int:
        """Bits of stage codes per vector (what the layout spends on the residual)."""
        return sum(self.stages) * self.bits

    @property
    def worth(self) -> float:
        """Code bits, an 8-bit stage's weighted by :data:`EIGHT_BIT_WEIGHT`."""
        return self.code_bits * (EIGHT_BIT_WEIGHT if self.bits == 8 else 1.0)


def stage_code_bytes(m: int, bits: int) -> int:
    """Code bytes of one stage of ``m`` sub-vectors: ``m`` (8-bit) or ``ceil(m/2)`` (4-bit)."""
    return m if bits == 8 else (m + 1) // 2


def stage_param_bytes(dim: int, m: int, bits: int, itemsize: int = PARAM_ITEMSIZE) -> int:
    """Codebook bytes of one stage: ``m * 2**bits * ceil(dim/m)`` values."""
    return m * (1 << bits) * -(-dim // m) * itemsize


def _largest_stage(dim: int, bits: int, avail: float, n: int, itemsize: int) -> int | None:
    """The most sub-vectors of a stage whose codes plus amortised codebook fit ``avail``."""
    dsub = 1
    while dsub <= dim:
        m = -(-dim // dsub)
        if stage_code_bytes(m, bits) + stage_param_bytes(dim, m, bits, itemsize) / n <= avail:
            return m
        dsub = -(-dim // (m - 1)) if m > 1 else dim + 1  # next dsub giving fewer sub-vectors
    return None


def plan_layout(dim: int, n: int, limit: float, *, fixed_code: int, fixed_params: int,
                bits: int | None = None, max_stages: int = 2,
                itemsize: int = PARAM_ITEMSIZE) -> Layout | None:
    """Residual stages that keep ``fixed + stages`` within ``limit`` bytes per vector, all-in.

    Each stage is the largest (fewest dimensions per sub-vector) that still fits what is left;
    stages are added while one fits, up to ``max_stages``. Without ``bits`` both 8- and 4-bit
    layouts are planned and the one worth more wins (:attr:`Layout.worth`: code bits, 8-bit ones
    weighted); a ``bits`` layout needs at least ``2**bits`` training rows (its k-means).

    Args:
        dim: Vector dimension.
        n: Rows the codec is fitted on (parameters are amortised over them).
        limit: Bytes per vector allowed, all-in.
        fixed_code: Per-vector bytes besides the stages (anchor id, norm).
        fixed_params: Parameter bytes besides the codebooks (anchors, plane...).
        bits: Force 8- or 4-bit stages.
        max_stages: Most residual stages.
        itemsize: Bytes per stored codebook value.

    Returns:
        The layout, or None when not even one stage fits.
    """
    best: Layout | None = None
    for b in (8, 4) if bits is None else (bits,):
        if n < (1 << b):
            continue
        avail = limit - fixed_code - fixed_params / n
        stages: list[int] = []
        while len(stages) < max_stages:
            m = _largest_stage(dim, b, avail, n, itemsize)
            if m is None:
                break
            stages.append(m)
            avail -= stage_code_bytes(m, b) + stage_param_bytes(dim, m, b, itemsize) / n
        if not stages:
            continue
        layout = Layout(b, tuple(stages), sum(stage_code_bytes(m, b) for m in stages),
                        sum(stage_param_bytes(dim, m, b, itemsize) for m in stages))
        if best is None or layout.worth > best.worth:
            best = layout
    return best


def min_rows(dim: int, limit: float, fixed_code: int, fixed_params_at: Callable[[int], int],
             bits: int | None = None, itemsize: int = PARAM_ITEMSIZE) -> int | None:
    """Smallest ``n`` for which :func:`plan_layout` finds a layout (None: no ``n`` does).

    ``fixed_params_at`` gives the fixed parameter bytes at ``n`` rows (anchors grow with ``n``).
    """

    def fits(n: int) -> bool:
        return plan_layout(dim, n, limit, fixed_code=fixed_code,
                           fixed_params=int(fixed_params_at(n)), bits=bits,
                           itemsize=itemsize) is not None

    hi = 1 << 16
    while not fits(hi):
        hi *= 4
        if hi > 1 << 40:
            return None
    lo = 1
    while lo < hi:  # the per-vector share of parameters shrinks as n grows: fits is monotone
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def stages_for_budget(dim: int, budget: int, max_stages: int = 2) -> list[int]:
    """Sub-vector counts of 8-bit PQ stages filling ``budget`` code bytes (greedy, big first).

    Parameters are not counted here (see :func:`plan_layout` for the all-in layout). Each stage
    uses ``dsub = ceil(dim / budget_left)`` and the fewest sub-vectors for that ``dsub``.

    Raises:
        InvalidParameterError: When not even one byte is left.
    """
    if budget < 1:
        raise InvalidParameterError(
            f"compression target leaves {budget} bytes per vector for the residual codes"
        )
    stages: list[int] = []
    left = budget
    while left >= 1 and len(stages) < max_stages:
        dsub = -(-dim // left)
        m = -(-dim // dsub)
        stages.append(m)
        left -= m
    return stages
