r"""Exact multi-level rematerialization of any small DAG: A* over (resident, computed) sets.

The problem and the memory accounting are those of
:mod:`~monet_opt.formulations.remat_core`.

Method 2: best-first search over states (:func:`solve_search`)
--------------------------------------------------------------
Any DAG.  States :math:`(\mathcal R, D)`: the resident set and the set of nodes computed
at least once; start :math:`(\emptyset, \emptyset)`, goal :math:`D = V`.  Two
normalizations lose no optimal schedule: (i) a value with no descendant outside
:math:`D` can never be used again and is freed at once, and a node of :math:`D` is
recomputed only if it still has such a descendant; (ii) frees are postponed until a
computation does not fit, and the set freed just before it is inclusion-minimal (any
other free can move later, past computations that still fit; if it moves past a
recomputation of the same value, that recomputation is dropped, which only helps).
So an edge computes node :math:`i` (cost :math:`C_i`) after freeing a minimal set of
non-inputs that makes it fit.  A* uses the heuristic

.. math:: h(\mathcal R, D) = \sum_{i \notin D} C_i + \sum_{j \in N} C_j,

where :math:`N` is the smallest set containing every input of a node outside :math:`D`
that is computed but not resident, closed under adding non-resident inputs of its
members: every node outside :math:`D` still runs, and every :math:`j \in N` must run
again before its reader.  It is admissible and consistent (a member leaves :math:`N`
only by being computed, since the inputs of a computed node are resident), so the first
goal reached is an optimal schedule over the full multi-level space; no path means no
schedule fits.  The state space is exponential: this is for small graphs (tens of
nodes); :attr:`RematResult.states` reports the expanded states.

Sub-problems.  :func:`astar` also solves a part of a larger schedule (the block DP of
:mod:`~monet_opt.formulations.remat_blocks`): some values are resident at the start and
cannot be computed (the part's inputs), some were computed before, and some must be
resident at the end.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence

from monet_opt.formulations.checkmate import check_remat_data
from monet_opt.formulations.remat_core import (
    COMPUTE,
    FREE,
    Op,
    RematResult,
    checked_result,
    exact_memory,
    infeasible_result,
)

__all__ = ["astar", "solve_search"]


def solve_search(
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    *,
    max_states: int = 1_000_000,
) -> RematResult:
    """Solve any DAG exactly by A* over (resident set, computed set) states.

    Parameters
    ----------
    cost, mem, preds, budget
        As in :func:`~monet_opt.formulations.remat_multilevel.solve_remat`.
    max_states
        Stop with ``RuntimeError`` after expanding this many states (each costs a few
        hundred bytes of bookkeeping).

    Returns
    -------
    RematResult
        ``method == "search"``; optimal over all schedules (module docstring).

    Raises
    ------
    RuntimeError
        If the state budget ``max_states`` is exhausted.
    """
    t0 = time.perf_counter()
    check_remat_data(cost, mem, preds, budget)
    ms, cap = exact_memory(mem, budget)
    out = astar([float(x) for x in cost], ms, cap, preds, max_states=max_states)
    if out is None:
        return infeasible_result("search", "full", t0, 0)
    _, ops, expanded = out
    return checked_result("search", "full", ops, cost, mem, preds, budget, t0, expanded)


def astar(
    c: Sequence[float],
    ms: Sequence,
    cap,
    preds: Sequence[Sequence[int]],
    *,
    fixed: int = 0,
    predone: int = 0,
    resident: int = 0,
    final: int = 0,
    max_states: int = 1_000_000,
    counter: list[int] | None = None,
) -> tuple[float, list[Op], int] | None:
    """A* of :func:`solve_search`, generalized to a sub-problem of a larger schedule.

    ``fixed`` (bitmask): values resident at the start that cannot be computed here (the
    block's inputs: their cost is not counted, a freed one is lost); ``predone``: nodes
    already computed earlier, not resident unless in ``resident`` (computed again only
    if a node still needs them); ``resident``: further values resident at the start
    (must be in ``predone``); ``final``: values that must be resident at the end
    (never dropped as useless).  Memory ``ms`` and ``cap`` are exact (ints/Fractions);
    the values resident at the start count from the start.  Returns ``(cost, ops,
    expanded)`` (``ops`` from the start state, frees of useless start values first) or
    ``None`` if no schedule fits.
    """
    n = len(c)
    pmask = [sum(1 << p for p in ps) for ps in preds]
    users: list[list[int]] = [[] for _ in range(n)]
    for k, ps in enumerate(preds):
        for i in ps:
            users[i].append(k)
    desc = [0] * n  # strict descendants
    for i in range(n - 1, -1, -1):
        for k in users[i]:
            desc[i] |= (1 << k) | desc[k]
    full = (1 << n) - 1
    zero = ms[0] * 0 if n else 0
    for i in range(n):
        if not fixed >> i & 1 and ms[i] + sum(ms[p] for p in preds[i]) > cap:
            return None
    res0 = fixed | resident
    done0 = fixed | predone | resident
    used0 = sum((ms[i] for i in range(n) if res0 >> i & 1), zero)

    def useless(res: int, notdone: int) -> int:
        drop = 0
        x = res & ~final
        while x:
            low = x & -x
            x ^= low
            if not desc[low.bit_length() - 1] & notdone:
                drop |= low
        return drop

    drop0 = useless(res0, full & ~done0)
    res0 &= ~drop0
    used0 -= sum((ms[i] for i in range(n) if drop0 >> i & 1), zero)
    if used0 > cap:
        return None

    def rest(done: int) -> float:
        return sum(c[i] for i in range(n) if not done >> i & 1)

    def again(res: int, notdone: int) -> float:
        """Cost of values that must be computed again (``inf`` if a lost input is)."""
        need = final & ~res
        x = notdone
        while x:
            low = x & -x
            x ^= low
            need |= pmask[low.bit_length() - 1]
        need &= ~res & ~notdone
        if need & fixed:
            return math.inf
        todo, total = need, 0.0
        while todo:
            low = todo & -todo
            todo ^= low
            j = low.bit_length() - 1
            total += c[j]
            more = pmask[j] & ~res & ~need
            if more & fixed:
                return math.inf
            need |= more
            todo |= more
        return total

    start = (res0, done0)
    best: dict[tuple[int, int], float] = {start: 0.0}
    parent: dict[tuple[int, int], tuple[tuple[int, int], int, int, int]] = {}
    h0 = rest(done0) + again(res0, full & ~done0)
    if h0 == math.inf:
        return None
    heap: list[tuple[float, float, int, int, int, object]] = [(h0, 0.0, 0, res0, done0, used0)]
    tie = 0
    expanded = 0
    hcache: dict[int, float] = {}
    while heap:
        f, g, _, res, done, used = heapq.heappop(heap)
        if best.get((res, done), math.inf) < g:
            continue
        if done == full and res & final == final:
            if counter is not None:
                counter[0] += expanded
            return g, _astar_ops(parent, (res, done), drop0), expanded
        expanded += 1
        if expanded > max_states:
            raise RuntimeError(f"search exceeded {max_states} states")
        notdone = full & ~done
        for i in range(n):
            bit = 1 << i
            if fixed & bit or res & bit or (pmask[i] & res) != pmask[i]:
                continue
            if done & bit and not desc[i] & notdone and not final & bit:
                continue  # already computed and useless
            over = used + ms[i] - cap
            if over > 0:
                frees = _minimal_frees(res & ~pmask[i], ms, over)
            else:
                frees = [(0, zero)]
            nd = done | bit
            nnot = full & ~nd
            ng = g + c[i]
            h = hcache.get(nd)
            if h is None:
                h = hcache[nd] = rest(nd)
            for before, size in frees:
                nres = (res & ~before) | bit
                nused = used - size + ms[i]
                after = useless(nres, nnot)  # values that can never be used again
                if after:
                    nused -= sum(ms[j] for j in range(n) if after >> j & 1)
                nres &= ~after
                key = (nres, nd)
                if ng < best.get(key, math.inf):
                    hr = again(nres, nnot)
                    if hr == math.inf:
                        continue
                    best[key] = ng
                    parent[key] = ((res, done), before, i, after)
                    tie += 1
                    heapq.heappush(heap, (ng + h + hr, ng, -tie, nres, nd, nused))
    if counter is not None:
        counter[0] += expanded
    return None


def _astar_ops(parent, goal, drop0: int) -> list[Op]:
    steps = []
    key = goal
    while key in parent:
        prev, before, i, after = parent[key]
        steps.append((before, i, after))
        key = prev
    ops: list[Op] = []

    def frees(mask: int) -> None:
        while mask:
            low = mask & -mask
            ops.append(Op(FREE, low.bit_length() - 1))
            mask ^= low

    frees(drop0)
    for before, i, after in reversed(steps):
        frees(before)
        ops.append(Op(COMPUTE, i))
        frees(after)
    return ops


def _minimal_frees(cands: int, ms: Sequence, over) -> list[tuple[int, object]]:
    """Inclusion-minimal subsets of ``cands`` (bitmask) whose sizes sum to ``>= over``."""
    items = []
    x = cands
    while x:
        low = x & -x
        x ^= low
        j = low.bit_length() - 1
        if ms[j] > 0:
            items.append((ms[j], low))
    items.sort(reverse=True)
    suffix = [0] * (len(items) + 1)
    for k in range(len(items) - 1, -1, -1):
        suffix[k] = suffix[k + 1] + items[k][0]
    out: list[tuple[int, object]] = []

    def rec(k: int, mask: int, total, smallest) -> None:
        if total >= over:
            if total - smallest < over:  # items are in decreasing size: smallest is last
                out.append((mask, total))
            return
        if k == len(items) or total + suffix[k] < over:
            return
        size, bit = items[k]
        rec(k + 1, mask | bit, total + size, size)
        rec(k + 1, mask, total, smallest)

    rec(0, 0, 0, 0)
    return out
