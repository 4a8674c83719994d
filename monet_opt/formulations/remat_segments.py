r"""The nested segment DP shared by the chain DP and the block DP.

Both :mod:`~monet_opt.formulations.remat_chain` (steps are nodes) and
:mod:`~monet_opt.formulations.remat_blocks` (steps are blocks) solve Revolve's nested
recurrence over a chain of :math:`l` steps.  Step :math:`k` advances the boundary value
:math:`f_{k-1} \to f_k` (size :math:`a_k`, :math:`a_0 = 0`: the network input, not
counted) and is reversed by a backward part ending with the gradient :math:`b_k` (size
:math:`g_k`, :math:`g_{l+1} = 0`) handed to step :math:`k - 1`.  What differs between
the two DPs is given to :func:`solve_segments` as a :class:`SegmentModel`:

* the **advance** :math:`A_j(c)`: the least cost of computing :math:`f_j` from a
  resident :math:`f_{j-1}` when capacity :math:`c` is left for :math:`f_{j-1}`, the
  values computed and :math:`f_j` (``inf`` if it does not fit); for a chain
  :math:`A_j(c) = u_j` if :math:`a_{j-1} + a_j \le c`;
* the **leaf** :math:`R_t(m, h)`: the least cost of reversing step :math:`t` from
  :math:`f_{t-1}, b_{t+1}` (and :math:`f_t` if :math:`h`) resident, ending with
  :math:`f_{t-1}, b_t` resident, within :math:`m`;
* optional **recorded advances** through step :math:`k` (:class:`Recorded`): advance
  keeping extra values of size :math:`|T|`, hold them across the right segment, reverse
  step :math:`k` with them resident (the block DP's :math:`F_{all}` options).

State :math:`\mathrm{Seg}(s, t, m, h)`, :math:`0 \le s < t \le l`: the least cost to
run the backward parts :math:`t, \dots, s+1` when :math:`f_s` and :math:`b_{t+1}` are
resident, :math:`f_t` is resident iff :math:`h = 1`, and :math:`m` memory is left for
these values and everything the segment computes.  With :math:`\mathrm{held} = g_{t+1} +
h\,a_t` (kept across the advance),

.. math::

   \mathrm{Seg}(t-1, t, m, h) = R_t(m, h),

   \mathrm{Seg}(s, t, m, h) = \min\Big(
     \min_{s < j < t,\ h' \in \{0, \kappa_j\}} \sum_{k=s+1}^{j} A_k(c_k)
       + \mathrm{Seg}(j, t, m - a_s, h) + \mathrm{Seg}(s, j, m, h'),\
     \min_{T,\ h' \in \{0, \kappa_{s+1}\}} \mathrm{rec}_{s+1,T}(m - \mathrm{held})
       + \mathrm{Seg}(s+1, t, m - a_s - |T|, h) + R^{T}_{s+1}(m, h')\Big),

with :math:`c_k = m - \mathrm{held} - [k-1 > s]\,a_s` (while :math:`f_k` is computed,
:math:`f_s` stays stored unless it is the input :math:`f_{k-1}`, which the advance
counts itself) and :math:`\kappa_j`: :math:`f_j` may stay resident for the reversal of
step :math:`j` (its backward reads it).  An advance that does not fit stops the scan
over :math:`j` (no later :math:`f_j` is reachable).  The chain DP's test
:math:`a_s + g_{t+1} + h\,a_t + [j-1>s]\,a_{j-1} + a_j \le m` is :math:`A_j(c_j) <
\infty` with the chain's :math:`A_j`, since :math:`a_{j-1} = a_s` when :math:`j - 1 =
s`.

The optimum is :math:`\mathrm{Seg}(0, l, B, 0)`.  ``m`` takes the exact values
:math:`B - \sum` (sizes of stored values), integers or fractions
(:data:`~monet_opt.formulations.remat_core.ExactMemory`), memoized: no discretization.
Ties keep the first option found (plain advances in increasing :math:`j`, :math:`h' = 0`
first, then recorded ones in the model's order).  The schedule is rebuilt from the
recorded choices: the advances' operations, a free of :math:`f_{k-1}` after each
advance past :math:`f_s`, the right segment, a free of :math:`f_j` unless :math:`h'`,
the left segment.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monet_opt.formulations.remat_core import FREE, ExactMemory, Op

__all__ = ["Recorded", "SegmentModel", "SegmentSolution", "solve_segments"]

#: A sub-problem's least cost and its operations at a capacity: ``(inf, ())`` if none fits.
Priced = tuple[float, Sequence[Op]]


@dataclass(frozen=True)
class Recorded:
    """A recorded advance through one step and the reversal of that step.

    Attributes
    ----------
    size
        Memory of the extra values kept from the advance to the reversal, :math:`|T|`.
    advance
        Capacity ``c`` (memory left besides the held values) ``->`` cost and operations
        of the advance that ends with the extra values and :math:`f_k` resident.
    reverse
        ``(m, h')`` ``->`` cost and operations of the reversal with the extra values
        resident (and :math:`f_k` if ``h'``).
    """

    size: ExactMemory
    advance: Callable[[ExactMemory], Priced]
    reverse: Callable[[ExactMemory, int], Priced]


@dataclass(frozen=True)
class SegmentModel:
    """The step-specific parts of the segment DP (module docstring).

    Attributes
    ----------
    a
        ``a[k]``: exact size of :math:`f_k`, ``k = 0..l`` (``a[0]`` zero).
    g
        ``g[k]``: exact size of :math:`b_k`, ``k = 0..l+1`` (``g[l + 1]`` zero).
    keeps
        ``keeps[j]``: :math:`f_j` may stay resident for the reversal of step ``j``.
    boundary
        ``boundary[j]``: node index of :math:`f_j` (freed by the DP's schedule).
    leaf
        ``(t, m, h)`` ``->`` :math:`R_t(m, h)` and its operations.
    advance
        ``(j, c)`` ``->`` :math:`A_j(c)` and its operations.
    recorded
        ``recorded[k]``: the recorded advances through step ``k`` (empty: none).
    """

    a: Sequence[ExactMemory]
    g: Sequence[ExactMemory]
    keeps: Sequence[bool]
    boundary: Sequence[int]
    leaf: Callable[[int, ExactMemory, int], Priced]
    advance: Callable[[int, ExactMemory], Priced]
    recorded: Sequence[Sequence[Recorded]] = ()

    @property
    def steps(self) -> int:
        """:math:`l`."""
        return len(self.a) - 1


@dataclass(frozen=True)
class SegmentSolution:
    """:math:`\\mathrm{Seg}(0, l, B, 0)`, its schedule (``None`` if infinite), DP states."""

    cost: float
    ops: list[Op] | None
    states: int


Choice = tuple[int, int, int]  # (j, h', index of the recorded advance or -1)


def solve_segments(model: SegmentModel, budget: ExactMemory) -> SegmentSolution:
    """Solve the segment DP for the whole chain within ``budget`` and rebuild its schedule.

    Parameters
    ----------
    model
        The chain's sizes and sub-problem costs.
    budget
        Exact memory budget (:func:`~monet_opt.formulations.remat_core.exact_memory`).

    Returns
    -------
    SegmentSolution
        The least cost over nested schedules, the operations (the DP's part: what
        follows the last reversal is the caller's) and the number of memoized states.
    """
    l = model.steps  # noqa: E741 - Griewank's notation
    memo: dict[tuple, tuple[float, Choice | tuple[()]]] = {}
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * l + 1000))
    total = _segment_cost(model, memo)(0, l, budget, 0)
    if total == math.inf:
        return SegmentSolution(total, None, len(memo))
    ops: list[Op] = []
    _emit(model, memo, ops, 0, l, budget, 0)
    return SegmentSolution(total, ops, len(memo))


def _segment_cost(model: SegmentModel, memo: dict) -> Callable[..., float]:
    """The memoized recurrence ``seg(s, t, m, h)``; ``memo[key] = (cost, choice)``."""
    a, g, keeps, leaf, advance = model.a, model.g, model.keeps, model.leaf, model.advance
    recorded = model.recorded
    zero = a[0] * 0
    inf = math.inf

    def seg(s: int, t: int, m: ExactMemory, h: int) -> float:
        key = (s, t, m, h)
        hit = memo.get(key)
        if hit is not None:
            return hit[0]
        if t == s + 1:
            val = leaf(t, m, h)[0]
            memo[key] = (val, ())
            return val
        best_val, best_choice = inf, ()
        held = g[t + 1] + (a[t] if h else zero)
        adv_cost = 0.0
        for j in range(s + 1, t):
            cj = advance(j, m - held - (a[s] if j - 1 > s else zero))[0]
            if cj == inf:
                break  # f_j cannot be computed, so nothing beyond it
            adv_cost += cj
            right = seg(j, t, m - a[s], h)
            if right == inf:
                continue
            for hp in (0, 1) if keeps[j] else (0,):
                val = adv_cost + right + seg(s, j, m, hp)
                if val < best_val:
                    best_val, best_choice = val, (j, hp, -1)
        k = s + 1  # recorded advance through step s + 1, then its reversal directly
        for r, rec in enumerate(recorded[k] if recorded else ()):
            ck = rec.advance(m - held)[0]
            right = seg(k, t, m - a[s] - rec.size, h) if ck < inf else inf
            if right < inf:
                for hp in (0, 1) if keeps[k] else (0,):
                    val = ck + right + rec.reverse(m, hp)[0]
                    if val < best_val:
                        best_val, best_choice = val, (k, hp, r)
        memo[key] = (best_val, best_choice)
        return best_val

    return seg


def _emit(
    model: SegmentModel, memo: dict, ops: list[Op], s: int, t: int, m: ExactMemory, h: int
) -> None:
    """Append the operations of the optimal ``Seg(s, t, m, h)`` (memoized) to ``ops``."""
    a, x = model.a, model.boundary
    if t == s + 1:
        ops.extend(model.leaf(t, m, h)[1])
        return
    j, hp, r = memo[(s, t, m, h)][1]
    held = model.g[t + 1] + (a[t] if h else a[0] * 0)
    if r >= 0:
        rec = model.recorded[j][r]
        ops.extend(rec.advance(m - held)[1])
        _emit(model, memo, ops, j, t, m - a[s] - rec.size, h)
        if not hp:
            ops.append(Op(FREE, x[j]))
        ops.extend(rec.reverse(m, hp)[1])
        return
    for k in range(s + 1, j + 1):
        ops.extend(model.advance(k, m - held - (a[s] if k - 1 > s else a[0] * 0))[1])
        if k - 1 > s:
            ops.append(Op(FREE, x[k - 1]))
    _emit(model, memo, ops, j, t, m - a[s], h)
    if not hp:
        ops.append(Op(FREE, x[j]))
    _emit(model, memo, ops, s, j, m, hp)
