r"""Exact multi-level rematerialization of a chain of blocks: block DP, A* inside blocks.

The problem and the memory accounting are those of
:mod:`~monet_opt.formulations.remat_core`; the chain DP and the A* search are those of
:mod:`~monet_opt.formulations.remat_chain` and :mod:`~monet_opt.formulations.remat_search`.

Method 3: chain of blocks (:func:`solve_blocks`)
------------------------------------------------
Training graphs whose forward graph is a sequence of blocks separated by single-tensor
cuts (ResNet basic blocks, transformer layers, MLP layers) and whose backward graph
has the matching structure (:class:`BlockChain`, checked by :func:`make_blocks`, found
by :func:`detect_blocks`): block :math:`k` has forward nodes :math:`F_k`, whose output
:math:`x_k` is the only value read outside the block, and backward nodes :math:`B_k`,
whose gradient :math:`\delta_k` is the only value read by :math:`B_{k-1}`; :math:`F_k`
reads only :math:`x_{k-1}`, :math:`B_k` only :math:`F_k`, :math:`x_{k-1}` and
:math:`\delta_{k+1}`.  The DP is the chain DP
(:mod:`~monet_opt.formulations.remat_chain`) with :math:`f_k := ` block
:math:`k`'s forward and :math:`b_k :=` its backward, and three exact sub-problems per
block, each solved by the A* search
(:func:`~monet_opt.formulations.remat_search.astar`) on the block's subgraph, with the
block's inputs fixed and resident (they cannot be recomputed inside it), nodes already
computed marked so, and the values handed on required resident at the end:

* advance :math:`A_k(c)`: compute :math:`F_k` from :math:`x_{k-1}`, ending with
  :math:`x_{k-1}, x_k` resident and every other value of the block freed;
* reversal :math:`R_t(c, h)`: from :math:`x_{t-1}, \delta_{t+1}` (and :math:`x_t` if
  :math:`h`) resident, compute :math:`B_t` (and any forward values of block :math:`t`
  again), ending with :math:`x_{t-1}, \delta_t`;
* recorded advance and reversal (Rotor's :math:`F_{all}`, generalized): advance
  through block :math:`s+1` keeping a subset :math:`T` of the values :math:`S_{s+1}
  \subseteq F_{s+1}` that :math:`B_{s+1}` reads, hold them across the right segment,
  and reverse block :math:`s+1` with them resident (``record="subsets"``: every
  nonempty :math:`T`; ``"all"``: :math:`T = S_{s+1}`; ``"none"``: never).

:math:`\mathrm{Seg}(s, t, m, h)` is the chain recurrence
(:mod:`~monet_opt.formulations.remat_segments`, :func:`block_model`) with advance costs
:math:`A_k(\cdot)` (capacity: :math:`m` minus the held values outside the block), the
leaf :math:`R_t(m, h)`, and the recorded option :math:`\mathrm{rec}_{s+1,T} +
\mathrm{Seg}(s+1, t, m - a_s - |T|, h) + R^{T}_{s+1}(m, h')`.  Each sub-problem's
least cost is an exact step function of its capacity, filled lazily: a solve at
:math:`c` returning cost :math:`v` with peak :math:`p` fixes the cost to :math:`v` on
:math:`[p, c]`, an infeasible solve fixes infeasibility below :math:`c`
(:class:`_Intervals`); memory stays exact (integers or fractions), no discretization.

Exactness scope: the optimum over **block-nested schedules**, those in which (i) a
block's values other than :math:`x_k, \delta_k` are resident only during an operation on
that block (an advance, a reversal) or, for a recorded subset :math:`T`, from the
recorded advance to the block's reversal; (ii) the operations on blocks nest as in the
chain DP: the stored boundary values form Revolve's persistent (LIFO) structure, each
:math:`B_t` runs in one reversal, in the order :math:`B_K, \dots, B_1`; (iii) an advance
holds its input until its output is computed. Inside each operation the schedule is
arbitrary (full multi-level space, the A*), so the result is never above the nested
chain DP (singleton blocks give exactly it: Revolve's :math:`T(l, s)`, tested) and never
below the full optimum of :func:`~monet_opt.formulations.remat_search.solve_search` (it
is a schedule, checked by :func:`~monet_opt.formulations.remat_core.validate_schedule`).
It is above the full optimum when the best schedule keeps a block's inner value across
other blocks' operations while the block's input boundary is dropped and recomputed
later (a recorded value needs its block's input stored; single-level keep sets can do
that, see the documentation's measured table), or drops a stored boundary early to make
room for a larger gradient (the heterogeneous-size case of the chain DP). Cost: the DP
has :math:`O(K^2)` segments per distinct memory value; each block's sub-searches are
exponential in the block's size only (14 nodes per ResNet-18 basic block, 22 for the
GPT-2 mini attention block).

:func:`min_budget_blocks` bisects the least feasible budget.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from monet_opt.formulations.checkmate import check_remat_data
from monet_opt.formulations.remat_core import (
    COMPUTE,
    ExactMemory,
    Op,
    RematResult,
    checked_result,
    exact_memory,
    infeasible_result,
)
from monet_opt.formulations.remat_search import astar
from monet_opt.formulations.remat_segments import Recorded, SegmentModel, solve_segments

__all__ = [
    "BlockChain",
    "block_model",
    "detect_blocks",
    "make_blocks",
    "min_budget_blocks",
    "record_sets",
    "solve_blocks",
]


@dataclass(frozen=True)
class BlockChain:
    """A training graph cut into a chain of blocks (see :func:`solve_blocks`).

    Attributes
    ----------
    forward, backward
        ``forward[k]``, ``backward[k]``: node indices of :math:`F_{k+1}` and
        :math:`B_{k+1}` (block ``k + 1`` of ``K = len(forward)``).
    outputs
        ``outputs[k]``: :math:`x_{k+1}`, the node of :math:`F_{k+1}` read by the next
        block.
    gradients
        ``gradients[k]``: :math:`\\delta_{k+1}`, the node of :math:`B_{k+1}` read by
        :math:`B_k`, or ``-1`` if none is.
    """

    forward: tuple[tuple[int, ...], ...]
    backward: tuple[tuple[int, ...], ...]
    outputs: tuple[int, ...]
    gradients: tuple[int, ...]

    @property
    def n_blocks(self) -> int:
        """:math:`K`."""
        return len(self.forward)


def make_blocks(
    preds: Sequence[Sequence[int]],
    forward: Sequence[Sequence[int]],
    backward: Sequence[Sequence[int]],
) -> BlockChain:
    """Check a block partition and find its boundary values; ``ValueError`` if invalid.

    Conditions (:math:`x_0` and :math:`\\delta_{K+1}` do not exist): the blocks partition
    the nodes; every input of a node of :math:`F_k` is in :math:`F_k \\cup
    \\{x_{k-1}\\}`; every input of a node of :math:`B_k` is in :math:`F_k \\cup B_k \\cup
    \\{x_{k-1}, \\delta_{k+1}\\}`; :math:`x_k` is the only node of :math:`F_k` read
    outside block :math:`k` and :math:`\\delta_k` the only node of :math:`B_k` read
    outside it; for :math:`k < K` every node of :math:`F_k` is :math:`x_k` or an
    ancestor of it (so advancing through the block computes all of it).
    """
    n = len(preds)
    K = len(forward)
    if K == 0 or len(backward) != K:
        raise ValueError("need as many backward as forward blocks, at least one")
    fb: dict[int, tuple[int, str]] = {}
    for k in range(K):
        for part, nodes in (("f", forward[k]), ("b", backward[k])):
            for i in nodes:
                if not 0 <= i < n or i in fb:
                    raise ValueError(f"node {i} out of range or in two blocks")
                fb[i] = (k, part)
    if len(fb) != n:
        raise ValueError(f"nodes in no block: {sorted(set(range(n)) - set(fb))}")
    outs: list[int] = []
    grads: list[int] = []
    for k in range(K):
        fset = set(forward[k])
        read_f = {p for i in range(n) if fb[i][0] != k for p in preds[i] if p in fset}
        if k < K - 1 and len(read_f) != 1 or len(read_f) > 1:
            raise ValueError(f"block {k + 1}: forward values read outside: {sorted(read_f)}")
        x = read_f.pop() if read_f else max(forward[k]) if forward[k] else -1
        if x < 0:
            raise ValueError(f"block {k + 1} has no forward node")
        outs.append(x)
        bset = set(backward[k])
        read_b = {p for i in range(n) if fb[i][0] != k for p in preds[i] if p in bset}
        if len(read_b) > 1:
            raise ValueError(f"block {k + 1}: backward values read outside: {sorted(read_b)}")
        grads.append(read_b.pop() if read_b else -1)
    for k in range(K):
        xin = {outs[k - 1]} if k else set()
        din = {grads[k + 1]} - {-1} if k + 1 < K else set()
        okf = set(forward[k]) | xin
        okb = okf | set(backward[k]) | din
        for i in forward[k]:
            if not set(preds[i]) <= okf:
                raise ValueError(f"forward node {i} of block {k + 1} reads {preds[i]}")
        for i in backward[k]:
            if not set(preds[i]) <= okb:
                raise ValueError(f"backward node {i} of block {k + 1} reads {preds[i]}")
        if k < K - 1:
            anc = {outs[k]}
            for i in sorted(forward[k], reverse=True):
                if i in anc:
                    anc |= set(preds[i])
            if not set(forward[k]) <= anc:
                raise ValueError(f"block {k + 1}: forward nodes not ancestors of its output")
    return BlockChain(
        tuple(tuple(sorted(f)) for f in forward),
        tuple(tuple(sorted(b)) for b in backward),
        tuple(outs),
        tuple(grads),
    )


def detect_blocks(
    preds: Sequence[Sequence[int]],
    is_forward: Sequence[bool],
    hint: Sequence[int] | None = None,
    *,
    merge: bool = True,
) -> BlockChain:
    """Cut a training graph into a chain of blocks.

    Forward cuts: a forward node :math:`v` (in index order) ends a block when every
    forward edge from a node at or before :math:`v` to one after it leaves :math:`v`
    (a single-tensor cut, an articulation value).  With ``merge``, a block whose output
    no backward node reads is merged with the next one (holding such a boundary value
    as a stored left end costs memory and saves nothing; ResNet's add before the
    block's final ReLU); else the blocks are the finest.  A backward node (in index order)
    goes to the block of its latest forward input that is not a boundary value; else,
    if it reads two or more backward values all of one block (a gradient
    accumulation), to that block; else to the block of ``hint[i]`` (a forward node
    index, e.g. the forward op it differentiates; ``-1``: none) if that block is the
    block of each of its backward inputs or the one below; else to the lowest block of
    its backward inputs; else to the block of its boundary inputs; else to block 1.
    The result is checked by :func:`make_blocks` (``ValueError`` if the graph is not a
    chain of blocks).
    """
    n = len(preds)
    fwd = [i for i in range(n) if is_forward[i]]
    reach = {}  # forward node -> largest forward reader
    for i in fwd:
        for p in preds[i]:
            reach[p] = max(reach.get(p, -1), i)
    blocks: list[list[int]] = [[]]
    cuts: set[int] = set()
    far = -1  # furthest forward reader of a node before the current one
    for pos, v in enumerate(fwd):
        blocks[-1].append(v)
        if far <= v and pos < len(fwd) - 1:
            cuts.add(v)
            blocks.append([])
        far = max(far, reach.get(v, -1))
    if merge:  # a boundary no backward node reads costs memory and buys nothing
        bread = {p for i in range(n) if not is_forward[i] for p in preds[i]}
        merged: list[list[int]] = []
        for b in blocks:
            if merged and merged[-1][-1] in cuts and merged[-1][-1] not in bread:
                cuts.discard(merged[-1][-1])
                merged[-1] += b
            else:
                merged.append(b)
        blocks = merged
    blk = {v: k for k, b in enumerate(blocks) for v in b}
    bwd: list[list[int]] = [[] for _ in blocks]
    bblk: dict[int, int] = {}
    for i in range(n):
        if is_forward[i]:
            continue
        h = hint[i] if hint is not None else -1
        inner = [blk[p] for p in preds[i] if is_forward[p] and p not in cuts]
        back = [bblk[p] for p in preds[i] if not is_forward[p]]
        cut = [blk[p] for p in preds[i] if p in cuts]
        if inner:
            k = max(inner)
        elif len(back) > 1 and len(set(back)) == 1:
            k = back[0]  # accumulates gradients of one block: stays with them
        elif h >= 0 and h in blk and all(b - 1 <= blk[h] <= b for b in back):
            k = blk[h]
        elif back:
            k = min(back)
        elif cut:
            k = max(cut)
        else:
            k = 0
        bblk[i] = k
        bwd[k].append(i)
    return make_blocks(preds, blocks, bwd)


class _Intervals:
    """Exact step function ``capacity -> least cost`` of a sub-problem, filled lazily.

    A solve at capacity ``c`` that returns cost ``v`` with peak ``p`` proves the cost is
    ``v`` on all of ``[p, c]`` (the schedule fits, and the least cost can only grow as
    the capacity shrinks); an infeasible solve proves infeasibility for every capacity
    ``<= c``.
    """

    def __init__(self, solve) -> None:
        self.solve = solve
        self.known: list[tuple[object, object, float, list]] = []  # (lo, hi, cost, ops)
        self.infeasible_upto = None
        self.calls = 0

    def __call__(self, cap) -> tuple[float, list]:
        if self.infeasible_upto is not None and cap <= self.infeasible_upto:
            return math.inf, []
        for lo, hi, v, ops in self.known:
            if lo <= cap <= hi:
                return v, ops
        self.calls += 1
        out = self.solve(cap)
        if out is None:
            if self.infeasible_upto is None or cap > self.infeasible_upto:
                self.infeasible_upto = cap
            return math.inf, []
        v, ops, peak = out
        self.known.append((peak, cap, v, ops))
        return v, ops


def _sub_solver(c, ms, preds, nodes, fixed, predone, resident, final, max_states, counter):
    """An :class:`_Intervals` solver for the sub-problem on ``nodes`` (global ids)."""
    nodes = sorted(nodes)
    loc = {v: k for k, v in enumerate(nodes)}
    src = set(fixed)
    lp = [[loc[p] for p in preds[v]] if v not in src else [] for v in nodes]
    lc = [c[v] for v in nodes]
    lm = [ms[v] for v in nodes]

    def mask(vs) -> int:
        return sum(1 << loc[v] for v in vs)

    fm, pm, rm, em = mask(fixed), mask(predone), mask(resident), mask(final)
    zero = ms[0] * 0

    def solve(cap):
        out = astar(
            lc, lm, cap, lp, fixed=fm, predone=pm, resident=rm, final=em,
            max_states=max_states, counter=counter,
        )  # fmt: skip
        if out is None:
            return None
        v, ops, _ = out
        res = {k for k in range(len(nodes)) if (fm | rm) >> k & 1}
        used = sum((lm[k] for k in res), zero)
        peak = used
        gops = []
        for op in ops:
            if op.kind == COMPUTE:
                used += lm[op.node]
                peak = max(peak, used)
            else:
                used -= lm[op.node]
            gops.append(Op(op.kind, nodes[op.node]))
        return v, gops, peak

    return _Intervals(solve)


def solve_blocks(
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    blocks: BlockChain,
    *,
    record: str = "subsets",
    max_states: int = 1_000_000,
) -> RematResult:
    r"""Optimal block-nested schedule of a chain of blocks (module docstring).

    Parameters
    ----------
    cost, mem, preds, budget
        As in :func:`~monet_opt.formulations.remat_multilevel.solve_remat`.
    blocks
        From :func:`make_blocks` or :func:`detect_blocks`.
    record
        Which recorded advances the DP may use: ``"subsets"`` (keep any nonempty subset
        of the block's values its backward reads: :math:`2^{|S_k|} - 1` options per
        block), ``"all"`` (keep all of them, Rotor's :math:`F_{all}`) or ``"none"``
        (boundary values only, Revolve's space).  The space solved grows with it.
    max_states
        State limit of each sub-search.

    Returns
    -------
    RematResult
        ``method == "block_dp"``, ``space == "block_nested"``; ``states`` counts the DP
        subproblems plus the states expanded by all sub-searches.  Never below the
        full-space optimum; the schedule is checked by :func:`validate_schedule`.
    """
    t0 = time.perf_counter()
    check_remat_data(cost, mem, preds, budget)
    if record not in ("subsets", "all", "none"):
        raise ValueError(f"unknown record option {record!r}")
    ms, cap = exact_memory(mem, budget)
    counter = [0]
    model = block_model(cost, ms, preds, blocks, record, max_states, counter)
    sol = solve_segments(model, cap)
    states = sol.states + counter[0]
    if sol.ops is None:
        return infeasible_result("block_dp", "block_nested", t0, states)
    return checked_result("block_dp", "block_nested", sol.ops, cost, mem, preds, budget, t0, states)


def block_model(
    cost: Sequence[float],
    ms: Sequence[ExactMemory],
    preds: Sequence[Sequence[int]],
    blocks: BlockChain,
    record: str,
    max_states: int,
    counter: list[int],
) -> SegmentModel:
    """The segment DP of a chain of blocks: steps are blocks (module docstring).

    The advance :math:`A_k`, the leaf :math:`R_t(\\cdot, h)` and the recorded options
    (:func:`record_sets`) are lazy :class:`_Intervals` over exact sub-searches; ``ms``
    are exact sizes, ``counter[0]`` accumulates the states the sub-searches expand.
    """
    c = [float(v) for v in cost]
    zero = ms[0] * 0
    K = blocks.n_blocks
    x = [-1, *blocks.outputs]  # x[k], k = 0..K (x[0]: the network input, not a node)
    d = [-1, *blocks.gradients, -1]  # d[k], k = 1..K+1
    F = [(), *blocks.forward]
    B = [(), *blocks.backward]
    reads_x = [False] + [x[k] in {p for i in B[k] for p in preds[i]} for k in range(1, K + 1)]

    def some(*vs: int) -> list[int]:
        return [v for v in vs if v >= 0]

    def advance(k: int, keep: Sequence[int] = ()) -> _Intervals:
        """From x_{k-1}, compute F_k, ending with x_{k-1}, x_k and ``keep`` resident."""
        return _sub_solver(c, ms, preds, {*some(x[k - 1]), *F[k]}, some(x[k - 1]), (), (),
                           {*some(x[k - 1], x[k]), *keep}, max_states, counter)  # fmt: skip

    def reverse(t: int, predone: Sequence[int], resident: Sequence[int]) -> _Intervals:
        """From x_{t-1}, d_{t+1} and ``resident``, compute B_t, ending with x_{t-1}, d_t."""
        return _sub_solver(
            c,
            ms,
            preds,
            {*some(x[t - 1], d[t + 1]), *F[t], *B[t]},
            some(x[t - 1], d[t + 1]),
            predone,
            resident,
            some(x[t - 1], d[t]),
            max_states,
            counter,
        )

    adv = [None] + [advance(k) for k in range(1, K + 1)]
    rev = {
        (t, h): reverse(t, F[t] if t < K else (x[t],) if h else (), (x[t],) if h else ())
        for t in range(1, K + 1)
        for h in ((0, 1) if reads_x[t] else (0,))
    }
    recorded: list[tuple[Recorded, ...]] = [()]
    for k in range(1, K):  # a recorded block is reversed inside a segment: never block K
        S = {p for i in B[k] for p in preds[i] if p in set(F[k])} - {x[k]}
        options = []
        for T in record_sets(tuple(sorted(S)), record):
            hs = (0, 1) if reads_x[k] else (0,)
            rev_T = {h: reverse(k, F[k], (*T, x[k]) if h else T) for h in hs}
            options.append(
                Recorded(
                    sum((ms[v] for v in T), zero),
                    advance(k, T),
                    lambda m, h, rev_T=rev_T: rev_T[h](m),
                )
            )
        recorded.append(tuple(options))
    recorded.append(())
    return SegmentModel(
        [ms[v] if v >= 0 else zero for v in x],
        [ms[v] if v >= 0 else zero for v in d],
        reads_x,
        x,
        lambda t, m, h: rev[(t, h)](m),
        lambda k, cap: adv[k](cap),
        recorded,
    )


def record_sets(S: tuple[int, ...], record: str) -> list[tuple[int, ...]]:
    """The subsets :math:`T` of :math:`S_k` a recorded advance may keep (Rotor's
    :math:`F_{all}`, generalized): every nonempty one (``"subsets"``), :math:`S_k` itself
    if nonempty (``"all"``) or none (``"none"``)."""
    if record == "subsets":
        return [T for r in range(1, len(S) + 1) for T in itertools.combinations(S, r)]
    return [S] if S and record == "all" else []


def min_budget_blocks(
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    blocks: BlockChain,
    *,
    max_states: int = 1_000_000,
) -> float:
    """Smallest budget at which :func:`solve_blocks` finds a schedule (exact).

    Bisection over the integer multiples of the gcd of the sizes (every peak is one),
    between the largest single step (a node, its inputs and its output) and the sum of
    all sizes.  Feasibility is monotone in the budget.  The same for every ``record``
    option, so it bisects with ``record="none"``: a recorded option that fits implies
    the plain one with the same split fits (its right segment has more memory, its
    advance fewer values to hand on, and its reversal can free the recorded values
    first).
    """
    ms, _ = exact_memory(mem, float(sum(mem)))
    if not all(isinstance(v, int) for v in ms):
        raise ValueError("min_budget_blocks needs integral sizes")
    unit = reduce(math.gcd, (int(v) for v in mem if v), 0) or 1
    lo = max(ms[i] + sum(ms[p] for p in preds[i]) for i in range(len(ms))) - 1
    hi = sum(ms)  # feasible: nothing is ever freed
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = solve_blocks(
            cost, mem, preds, float(mid * unit), blocks, record="none", max_states=max_states
        )
        if r.status == "optimal":
            hi = mid
        else:
            lo = mid
    return float(hi * unit)
