r"""Core allocation **and** program order π, optimized together (latency).

:mod:`monet_opt.formulations.allocation` is exact for a *fixed* program order π; the
MAGMA genome (:class:`monet_opt.ga.spaces.AllocationSpace`, ``style="magma"``) searches
every topological order π (through random-key priorities) × every allocation.  This
module searches that same space, under the evaluator's semantics
(:mod:`monet_opt.schedule.problem`, and :mod:`monet_opt.schedule.memory` under
capacities), and reports a bound valid over the whole space.

Model
-----
The space is :math:`\Pi \times X`: every topological order :math:`\pi` of the nodes
and every allocation :math:`x`.  Its optimum is :math:`\min_\pi V(\pi)` with
:math:`V(\pi) = \min_x \mathrm{makespan}(x, \pi)`, which the fixed-π allocation MILP
computes exactly (the *subproblem*, :func:`~monet_opt.formulations.allocation.solve_allocation`
with ``fixed=Decision((), priority)``; the priority :math:`n - \mathrm{pos}_\pi(i)`
reproduces π exactly through :meth:`~monet_opt.schedule.problem.Problem.program_order`).

**Master (π-free relaxation, valid for every π).**  Columns :math:`x_{ic}`, starts and
ends :math:`S_i, E_i`, fetch times :math:`\tau_{pj}`, makespan :math:`T` (minimized),
with the rows of the fixed-π model that do not depend on π (``assignment_rows``,
``fetch_time_rows``, ``end_time_row``, ``precedence_rows``, ``pipelined_rows``,
``core_load_cut`` of :mod:`monet_opt.formulations.allocation_rows`) and relaxations of
the DRAM port: a node starts after its own read
(:math:`S_j \ge \rho_j`, and :math:`S_j \ge E_w + \omega_w + \rho_j` for a read queued
after the write of :math:`w`), ends before its write (:math:`T \ge E_i + \omega_i`),
and the port carries all DMA tasks (:math:`T \ge \sum \rho + \sum \omega`) and
every node's compulsory DRAM traffic on its core, in-node streams included
(:math:`T \ge \sum_{ic} \pi_{ic} x_{ic}`, the tables of
:func:`~monet_opt.formulations.joint_bound.node_tables` for layer-by-layer spaces).  The
in-order core rows and the DMA queue order are left out: any schedule the evaluator
produces for any π satisfies every row, so the master's optimum bounds the whole space.
Under memory capacities a node may stream its DRAM operands and a spilled tensor makes
no link transfer, so the capacity master keeps only what still holds there: node
durations at least :math:`\max(d_{ic}, \sigma_{ic})` (its in-node DRAM stream),
precedence, core load and DRAM-port load.  The certified bound of
:func:`~monet_opt.formulations.joint_bound.joint_lower_bound` (``fusion=False``; its
space contains this one) is taken too.

**Order binaries (small graphs).**  When the graph has at most
:data:`ORDER_MASTER_MAX_PAIRS` pairs of nodes not ordered by a path (and at most
:data:`ORDER_MASTER_MAX_NODES` nodes), the master also has
a binary :math:`o_{ij}` (i before j in π) per such pair, the 3-cycle rows
:math:`1 \le o_{ij} + o_{jk} + o_{ki} \le 2` (with the path-ordered pairs as constants
they make :math:`o` exactly the linear extensions of the DAG, i.e. the topological
orders), and the in-order core rows
:math:`S_j \ge E_i - M(3 - o_{ij} - x_{ic} - x_{jc})`.  Then a **logic-based Benders**
loop (:mod:`monet_opt.formulations.benders`, Hooker and Ottosson 2003) adds, for every
π the master proposes, the no-good cut :math:`T \ge \lambda_\pi (1 - H(o))` where
:math:`\lambda_\pi \le V(\pi)` is the subproblem MILP's bound (its value when solved
to optimality).  The loop ends when the master's bound reaches the incumbent within the
MIP gap, or proposes an order already evaluated (its cut then holds with equality).
The orders are finitely many, so the loop ends, and its bound is valid over every π:
this is exact under the unbounded semantics, where the fixed-π MILP is exact.

**Anytime improvement (every graph).**  From the best fixed-π answer (default π, the
HEFT upward-rank π, and the warm start's decision with its priority, e.g. a MAGMA GA
answer): an iterated local search over moves of one node to its best position of π
between its producers and consumers and over core changes of one node, scored by the
evaluator's timing (makespan, then the sum of node ends to cross plateaus); π
re-derived from the schedule's start times; the fixed-π MILP on the improved π,
warm-started from the improved allocation; and random kicks from the incumbent when
neither improves.  The best re-simulated answer is always kept, so the answer is never
worse than the warm start nor than the fixed-π answer.

Why it is exact
---------------
Under the unbounded semantics with order binaries, every π the master can propose is a
topological order, every evaluated π gets the exact :math:`V(\pi)` (or a valid bound
of it), and the master with its cuts is a relaxation of
:math:`\min_\pi V(\pi)`: so its bound is valid, and when it meets the incumbent the
incumbent is optimal over (allocation × π).  Without order binaries (large graphs) or
under memory capacities (where the fixed-π MILP is exact only for the placement of its
start) the bound is the master's (π-free relaxation) and the global critical-path /
DRAM-port / work bounds, valid over the whole space but usually not tight; the status
is then ``optimal`` only when the incumbent meets that bound.  Results are checked
against brute-force enumeration of allocations × topological orders on small instances
(tests).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from monet_opt.formulations._builder import Affine, ModelBuilder, solve_model, too_large
from monet_opt.formulations.allocation import serial_upper_bound, solve_allocation
from monet_opt.formulations.allocation_rows import (
    Cols,
    assignment_columns,
    assignment_rows,
    end_time_row,
    fetch_time_rows,
    fixed_cores,
    link_columns,
    pipelined_rows,
    precedence_rows,
    tie_rows,
)
from monet_opt.formulations.benders import run_benders
from monet_opt.formulations.bounds import lower_bounds
from monet_opt.formulations.joint_bound import joint_lower_bound, node_tables
from monet_opt.formulations.options import Deadline, SolverOptions
from monet_opt.formulations.result import SolveResult
from monet_opt.schedule.evaluator import evaluate, evaluate_fast, simulate_times
from monet_opt.schedule.problem import Problem, heft_rank
from monet_opt.schedule.types import Decision

__all__ = [
    "SCOPE",
    "ORDER_MASTER_MAX_PAIRS",
    "OrderMaster",
    "build_order_master",
    "order_priority",
    "heft_priority",
    "solve_allocation_order",
]

#: What the bound and status of :func:`solve_allocation_order` refer to.
SCOPE = "core allocation and program order π"
#: Pairs of nodes not ordered by a path above which the master has no order binaries
#: (their 3-cycle rows grow with the cube of the nodes).
ORDER_MASTER_MAX_PAIRS = 300
#: Positions a local-search move may shift a node by.
MOVE_WINDOW = 128
#: Kicks of the iterated local search without a better incumbent after which it stops.
STALL_KICKS = 40


@dataclass
class OrderMaster:
    """The master MILP of the module docstring with its column maps."""

    builder: ModelBuilder
    x: dict[tuple[int, int], int]
    S: list[int]
    E: list[int]
    T: int
    #: Order binaries ``(i, j) -> column`` (``i < j``; 1: i before j in π); empty when
    #: the master is π-free.
    o: dict[tuple[int, int], int] = field(default_factory=dict)
    #: No pair of nodes is unordered by a path: π is unique.
    single_order: bool = False


#: Nodes above which the order binaries are not considered (no n × n reachability).
ORDER_MASTER_MAX_NODES = 400


def _free_pairs(problem: Problem) -> list[tuple[int, int]] | None:
    """Pairs ``i < j`` of nodes no path orders (``None``: more than
    :data:`ORDER_MASTER_MAX_PAIRS`, or more than :data:`ORDER_MASTER_MAX_NODES` nodes)."""
    n = problem.n_nodes
    if n > ORDER_MASTER_MAX_NODES:
        return None
    reach = problem.reachability
    free = np.triu(~(reach | reach.T), k=1)
    if int(free.sum()) > ORDER_MASTER_MAX_PAIRS:
        return None
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(free), strict=True)]


def build_order_master(
    problem: Problem, upper_bound: float, *, order_binaries: bool | None = None
) -> OrderMaster:
    """Build the master of the module docstring (minimizes :math:`T`).

    Parameters
    ----------
    upper_bound
        Makespan upper bound :math:`\\bar T` (also the big-M).
    order_binaries
        Add the order binaries and in-order rows (default: when the graph has at most
        :data:`ORDER_MASTER_MAX_NODES` nodes and :data:`ORDER_MASTER_MAX_PAIRS` pairs
        not ordered by a path; ``False``: never).
    """
    n = problem.n_nodes
    M = float(upper_bound)
    capacity = problem.memory == "capacity"
    mb = ModelBuilder()
    fixed = fixed_cores(problem, problem.program_order(), True)
    x = assignment_columns(mb, problem, fixed)
    port = float(problem.dram_read_cycles.sum() + problem.dram_write_cycles.sum())
    T = mb.var("T", min(port, M), M)
    S = [mb.var(f"S[{i}]", 0.0, M) for i in range(n)]
    E = [mb.var(f"E[{i}]", 0.0, M) for i in range(n)]
    tau, eta = ({}, {}) if capacity else link_columns(mb, problem)
    v = Cols(problem, x, S, E, T, tau, eta)
    assignment_rows(mb, v)
    tie_rows(mb, v)
    dur, port_c = node_tables(problem, fusion=False)

    def work(i: int) -> Affine:
        return Affine.total(dur[i, c] * v.xv(i, c) for c in problem.allowed_idx[i])

    if not capacity:
        fetch_time_rows(mb, v)
    rc, wc = problem.dram_read_cycles, problem.dram_write_cycles
    for j in range(n):
        if capacity:
            mb.ge(Affine.of(E[j]) - Affine.of(S[j]) - work(j), 0.0)
        else:
            end_time_row(mb, v, j)
        precedence_rows(mb, v, j)
        pipelined_rows(mb, v, j)
        if not capacity and rc[j] > 0:
            mb.ge(Affine.of(S[j]), float(rc[j]))
            for w in problem.dram_deps[j]:  # R_j is queued after W_w
                mb.ge(Affine.of(S[j]) - Affine.of(E[w]), float(wc[w] + rc[j]))
        tail = 0.0 if capacity else float(wc[j])
        if tail > 0 or not problem.succs[j]:
            mb.ge(Affine.of(T) - Affine.of(E[j]), tail)
    for c in range(problem.costs.latency.shape[1]):
        on_c = [i for i in range(n) if c in problem.allowed_idx[i]]
        mb.ge(Affine.of(T), Affine.total(dur[i, c] * v.xv(i, c) for i in on_c))
    # compulsory DRAM port cycles of each node on its core (in-node streams included)
    mb.ge(
        Affine.of(T),
        Affine.total(port_c[i, c] * v.xv(i, c) for i in range(n) for c in problem.allowed_idx[i]),
    )
    use_o = order_binaries is not False
    pairs = _free_pairs(problem) if use_o else None
    o: dict[tuple[int, int], int] = {}
    if pairs:
        for i, j in pairs:
            o[i, j] = mb.binary(f"o[{i},{j}]")
        _order_rows(mb, problem, v, o, M)
    mb.minimize(Affine.of(T))
    return OrderMaster(mb, x, S, E, T, o, pairs == [])


def _order_rows(
    mb: ModelBuilder, problem: Problem, v: Cols, o: dict[tuple[int, int], int], M: float
) -> None:
    """3-cycle rows (``o`` is a topological order) and in-order core rows."""
    reach = problem.reachability

    def before(i: int, j: int) -> Affine:
        if (i, j) in o:
            return Affine.of(o[i, j])
        if (j, i) in o:
            return 1.0 - Affine.of(o[j, i])
        return Affine(const=1.0 if reach[i, j] else 0.0)

    nodes = sorted({k for p in o for k in p})
    free = set(o)
    for a, i in enumerate(nodes):
        for b in range(a + 1, len(nodes)):
            j = nodes[b]
            for k in nodes[b + 1 :]:
                if (i, j) in free or (j, k) in free or (i, k) in free:
                    cyc = before(i, j) + before(j, k) + before(k, i)
                    mb.add(cyc, 1.0, 2.0)
    allowed = problem.allowed_idx
    for i, j in o:
        for c in set(allowed[i]) & set(allowed[j]):
            xi, xj = v.xv(i, c), v.xv(j, c)
            oij = Affine.of(o[i, j])
            # S_j >= E_i - M (3 - o_ij - x_ic - x_jc); S_i >= E_j - M (2 + o_ij - x_ic - x_jc)
            mb.ge(Affine.of(v.S[j]) - Affine.of(v.E[i]) - M * (oij + xi + xj), -3 * M)
            mb.ge(Affine.of(v.S[i]) - Affine.of(v.E[j]) + M * oij - M * (xi + xj), -2 * M)


def heft_priority(problem: Problem) -> tuple[float, ...]:
    """HEFT upward rank with core-averaged costs (Topcuoglu et al., IEEE TPDS 2002), as
    :func:`~monet_opt.schedule.problem.build_problem` computes it for ``order="heft"``:
    a second start when the problem's default π is another (e.g. layer-wise)."""
    return heft_rank(problem.costs, problem.edges, problem.dram_read_bits, problem.dram_write_bits)


def order_priority(order: Sequence[int]) -> tuple[float, ...]:
    """Priorities that make :meth:`Problem.program_order` return ``order`` (a
    topological order): ``n - position``."""
    n = len(order)
    prio = [0.0] * n
    for p, i in enumerate(order):
        prio[i] = float(n - p)
    return tuple(prio)


def _order_of(master: OrderMaster, problem: Problem, on: frozenset) -> tuple[int, ...]:
    """The topological order whose free pairs before each other are ``on``."""
    n = problem.n_nodes
    reach = problem.reachability
    ahead = reach.sum(axis=0).astype(int)  # nodes ordered before j by a path
    for i, j in master.o:
        if (i, j) in on:
            ahead[j] += 1
        else:
            ahead[i] += 1
    return tuple(sorted(range(n), key=lambda k: ahead[k]))


@dataclass
class _Best:
    """The incumbent: a decision, its re-simulated makespan, and its allocation / π."""

    decision: Decision | None = None
    value: float = math.inf
    alloc: tuple[int, ...] = ()
    order: tuple[int, ...] = ()
    fixed_pi: float = math.inf  # the fixed-π answer (default or given π)
    milp_solves: int = 0
    evaluations: int = 0
    source: str = ""
    #: Options whose progress callback hears of every new incumbent (``None``: silent).
    options: SolverOptions | None = None

    def offer(self, decision: Decision, value: float, order: Sequence[int], source: str) -> bool:
        if value < self.value * (1 - 1e-12):
            self.decision, self.value = decision, float(value)
            self.alloc = tuple(int(a) for a in decision.allocation)
            self.order = tuple(order)
            self.source = source
            if self.options is not None:
                self.options.report(f"allocation and program order: {source}", self.value)
            return True
        return False


def _fixed_pi(
    problem: Problem,
    order: Sequence[int],
    alloc: Sequence[int] | None,
    opts: SolverOptions,
    best: _Best,
    source: str,
) -> SolveResult:
    """The fixed-π allocation MILP on ``order`` (warm-started from ``alloc``)."""
    prio = order_priority(order)
    warm = None if alloc is None else Decision(tuple(alloc), prio)
    r = solve_allocation(problem, Decision((), prio), "latency", opts, warm)
    best.milp_solves += 1
    best.offer(r.decision, r.simulated, order, source)
    return r


def _score(problem: Problem, alloc: Sequence[int], order: Sequence[int]) -> tuple[float, float]:
    """(makespan, Σ node ends) of an allocation (core ids) and π, by the evaluator's
    timing (:func:`simulate_times`, the default placement): the makespan is the
    objective, the sum of ends breaks ties so that the descent crosses plateaus."""
    index = {cid: k for k, cid in enumerate(problem.core_ids)}
    _, _, end, reads, writes = simulate_times(problem, [index[a] for a in alloc], order)
    mk = float(end.max()) if len(end) else 0.0
    for d in (reads, writes):
        if d:
            mk = max(mk, max(v[1] for v in d.values()))
    return mk, float(end.sum())


def _better(a: tuple[float, float], b: tuple[float, float]) -> bool:
    if a[0] < b[0] * (1 - 1e-12):
        return True
    return a[0] <= b[0] * (1 + 1e-12) and a[1] < b[1] * (1 - 1e-12)


def _local_search(
    problem: Problem,
    alloc: list[int],
    order: list[int],
    deadline: Deadline,
    best: _Best,
    rng: random.Random,
) -> tuple[list[int], list[int], float]:
    """Descent over node moves in π (each node to its best position between its
    producers and consumers) and core changes, nodes in a random order, scored by
    :func:`_score`; returns the local optimum (or the point reached at the deadline)
    and its makespan."""
    n = problem.n_nodes
    preds, succs = problem.preds, problem.succs
    flexible = problem.flexible

    def ev(a: Sequence[int], pi: Sequence[int]) -> tuple[float, float]:
        best.evaluations += 1
        return _score(problem, a, pi)

    value = ev(alloc, order)
    improved = True
    while improved and not deadline.expired:
        improved = False
        # π from the schedule's start times (ties: current position)
        index = {cid: k for k, cid in enumerate(problem.core_ids)}
        start = simulate_times(problem, [index[a] for a in alloc], order)[0]
        pos = {k: p for p, k in enumerate(order)}
        cand = sorted(range(n), key=lambda k: (start[k], pos[k]))
        if cand != order:
            val = ev(alloc, cand)
            if _better(val, value):
                order, value, improved = cand, val, True
        for node in rng.sample(range(n), n):
            if deadline.expired:
                break
            p = order.index(node)
            lo, hi = _move_window(order, p, preds, succs)
            rest = order[:p] + order[p + 1 :]
            moved = None  # the best position of the node
            for q in [*range(lo, p), *range(p + 1, hi + 1)]:
                cand = rest[:q] + [node] + rest[q:]
                val = ev(alloc, cand)
                if _better(val, value):
                    moved, value = cand, val
            if moved is not None:
                order, improved = moved, True
        for i in rng.sample(flexible, len(flexible)):
            if deadline.expired:
                break
            for cid in problem.allowed[i]:
                if cid == alloc[i]:
                    continue
                cand_a = list(alloc)
                cand_a[i] = cid
                val = ev(cand_a, order)
                if _better(val, value):
                    alloc, value, improved = cand_a, val, True
    best.offer(Decision(tuple(alloc), order_priority(order)), value[0], order, "local search")
    return alloc, order, value[0]


def _move_window(
    order: Sequence[int],
    p: int,
    preds: Sequence[Sequence[int]],
    succs: Sequence[Sequence[int]],
) -> tuple[int, int]:
    """The positions ``[lo, hi]`` the node at position ``p`` of π may move to (at most
    :data:`MOVE_WINDOW` away) without passing one of its producers or consumers."""
    node, n = order[p], len(order)
    lo = p
    while lo > 0 and p - lo < MOVE_WINDOW and order[lo - 1] not in preds[node]:
        lo -= 1
    hi = p
    while hi < n - 1 and hi - p < MOVE_WINDOW and order[hi + 1] not in succs[node]:
        hi += 1
    return lo, hi


def _perturb(
    problem: Problem, alloc: list[int], order: list[int], rng: random.Random
) -> tuple[list[int], list[int]]:
    """A few random moves of nodes in π (between their producers and consumers) and
    core changes: the kick of the iterated local search."""
    n = problem.n_nodes
    preds, succs = problem.preds, problem.succs
    order = list(order)
    alloc = list(alloc)
    for _ in range(rng.randint(2, 6)):
        p = rng.randrange(n)
        node = order[p]
        lo, hi = _move_window(order, p, preds, succs)
        q = rng.randint(lo, hi)
        order.pop(p)
        order.insert(q, node)
    if problem.flexible:
        for _ in range(rng.randint(0, 2)):
            i = rng.choice(problem.flexible)
            alloc[i] = rng.choice(problem.allowed[i])
    return alloc, order


def _improve(
    problem: Problem, best: _Best, deadline: Deadline, opts: SolverOptions, kicks: bool = True
) -> None:
    """Iterated local search: descent, then the fixed-π MILP on its π (warm-started from
    its allocation); when neither improves, a random kick from the incumbent
    (:func:`_perturb`, seeded by ``opts.seed``), until the deadline or
    :data:`STALL_KICKS` kicks in a row without a better incumbent."""
    rng = random.Random(opts.seed)
    alloc, order = list(best.alloc), list(best.order)
    stall, last = 0, best.value
    while not deadline.expired:
        alloc, order, value = _local_search(problem, alloc, order, deadline, best, rng)
        if deadline.expired:
            return
        r = _fixed_pi(
            problem, order, alloc, opts.with_time(deadline.share(2)), best, "fixed-π MILP"
        )
        new = tuple(int(a) for a in r.decision.allocation)
        v2 = evaluate_fast(problem, new, order_priority(order))[0]
        if v2 < value * (1 - 1e-12):
            alloc, value = list(new), v2
            continue
        if not kicks:
            return
        stall = stall + 1 if best.value >= last * (1 - 1e-12) else 0
        last = best.value
        if stall >= STALL_KICKS:
            return
        alloc, order = _perturb(problem, list(best.alloc), list(best.order), rng)


def solve_allocation_order(
    problem: Problem,
    fixed: Decision | None = None,
    objective: str = "latency",
    options: SolverOptions | None = None,
    warm_start: Decision | None = None,
    *,
    improve: bool = True,
) -> SolveResult:
    """Optimize the core allocation and the program order π (module docstring).

    Parameters
    ----------
    problem
        The base scheduling problem (layer by layer, store-all).
    fixed
        Only ``fixed.priority`` is read: the π the search starts from (default: the
        problem's).  Stacks and checkpoints are not supported here.
    objective
        ``"latency"`` (makespan, cycles).
    options
        HiGHS options; ``options.time_limit`` is the limit of the whole call.
    warm_start
        A decision (allocation and optional priority, e.g. the MAGMA GA's best) the
        search starts from; the answer is never worse.
    improve
        Run the anytime local search (module docstring).

    Returns
    -------
    SolveResult
        Formulation ``allocation_order``; ``bound`` valid over every allocation and
        every π; ``extra``: the fixed-π value, the master's size and kind, Benders
        iterations.

    Raises
    ------
    ValueError
        On an objective other than latency, or a ``fixed`` decision with stacks or
        checkpoints.
    """
    if objective != "latency":
        raise ValueError(
            f"the program-order search supports the objective 'latency', got {objective!r}"
        )
    if fixed is not None and (fixed.stacks or fixed.checkpoints is not None):
        raise ValueError("the program-order search takes no fixed stacks or checkpoints")
    opts = options or SolverOptions()
    deadline = Deadline(opts.time_limit)
    best = _Best(options=opts)
    start_prio = None if fixed is None else fixed.priority
    start_order = problem.program_order(start_prio)
    # 1. the fixed-π answer (the fast mode) and the warm start
    warm_alloc = None
    if warm_start is not None and len(warm_start.allocation) == problem.n_nodes:
        warm_alloc = tuple(int(a) for a in warm_start.allocation)
        w_order = problem.program_order(warm_start.priority)
        w_dec = Decision(warm_alloc, order_priority(w_order))
        best.offer(w_dec, evaluate(problem, w_dec).latency, w_order, "warm start")
    base = _fixed_pi(
        problem, start_order, warm_alloc, opts.with_time(deadline.share(4)), best, "fixed-π MILP"
    )
    best.fixed_pi = float(base.simulated)
    if warm_start is not None and warm_start.priority is not None and not deadline.expired:
        _fixed_pi(
            problem, best.order, best.alloc, opts.with_time(deadline.share(4)), best, "fixed-π MILP"
        )
    heft = problem.program_order(heft_priority(problem))
    if improve and heft != tuple(start_order) and not deadline.expired:
        _fixed_pi(
            problem, heft, None, opts.with_time(deadline.share(8)), best, "fixed-π MILP (HEFT π)"
        )
    # 2. the certified bound of the layer-by-layer joint space, then the master
    jb = joint_lower_bound(
        problem, "latency", fusion=False, options=opts.with_time(min(5.0, deadline.share(10)))
    )
    t0 = time.perf_counter()
    ub = best.value * (1 + 1e-9) + 1.0 if math.isfinite(best.value) else None
    upper = ub if ub is not None else serial_upper_bound(problem) * (1 + 1e-9) + 1.0
    master = build_order_master(problem, upper)
    build = time.perf_counter() - t0
    mb = master.builder
    exact_sub = problem.memory != "capacity"
    benders = bool(master.o) and exact_sub
    bound = -math.inf
    iterations = 0
    master_status = "not_solved"
    if benders:
        if improve:
            _improve(
                problem, best, Deadline(min(deadline.remaining() * 0.1, 5.0)), opts, kicks=False
            )
        orders: dict[frozenset, tuple[int, ...]] = {}

        def point(order: Sequence[int]) -> frozenset:
            pos = {k: p for p, k in enumerate(order)}
            return frozenset((i, j) for i, j in master.o if pos[i] < pos[j])

        def evaluate_point(on: frozenset) -> tuple[float, float]:
            order = orders.get(on) or _order_of(master, problem, on)
            r = _fixed_pi(
                problem,
                order,
                best.alloc or None,
                opts.with_time(max(deadline.remaining(), 1e-3)),
                best,
                "Benders subproblem",
            )
            return float(r.simulated), min(float(r.bound), float(r.simulated))

        starts = []
        for order in (start_order, best.order):
            on = point(order)
            orders[on] = tuple(order)
            starts.append(on)
        run = run_benders(mb, master.T, master.o, evaluate_point, starts, opts, deadline)
        iterations = run.master_solves
        bound = run.bound
        master_status = "benders"
    else:
        st = too_large(mb)
        if st is None:
            share = deadline.remaining() * (0.5 if improve else 1.0)
            st = solve_model(mb.to_highs(opts.highs(max(share, 1e-3))))
        master_status = st.status
        if math.isfinite(st.bound):
            bound = float(st.bound)
        solved = master.single_order and exact_sub and base.status == "optimal"
        if improve and not deadline.expired and not solved:
            _improve(problem, best, deadline, opts)
    assert best.decision is not None
    lbs = lower_bounds(problem)
    scope = SCOPE
    if master.single_order and exact_sub:  # one topological order: the fixed-π MILP is exact
        bound = max(bound, min(float(base.bound), float(base.simulated)))
        scope += " (the graph has one topological order)"
    elif not benders:
        why = (
            "memory capacities (the fixed-π MILP is exact for its start's placement only)"
            if not exact_sub
            else f"more than {ORDER_MASTER_MAX_PAIRS} pairs of nodes not ordered by a path "
            f"or more than {ORDER_MASTER_MAX_NODES} nodes"
        )
        scope += (
            f" (bound: the π-free relaxation MILP and the critical-path / DRAM-port / work "
            f"bounds; no order binaries: {why})"
        )
    res = SolveResult.build(
        problem,
        formulation="allocation_order",
        objective_name="latency",
        decision=best.decision,
        simulated_of="latency",
        milp_objective=best.value,
        milp_bound=bound if math.isfinite(bound) else None,
        solver_status=master_status,
        mip_gap=opts.mip_gap,
        scope=scope,
        n_vars=mb.n_vars,
        n_cons=mb.n_cons,
        n_binaries=sum(mb.integer),
        build_seconds=build,
        solve_seconds=deadline.elapsed,
        extra_bounds={"global": lbs["max"], "joint": jb.value},
        extra={
            "fixed_order_value": best.fixed_pi,
            "order_binaries": len(master.o),
            "benders_iterations": iterations,
            "fixed_order_milps": best.milp_solves,
            "evaluations": best.evaluations,
            "found_by": best.source,
        },
        method="benders" if benders else "milp+search",
        models_capacity=True,
    )
    opts.report("allocation and program order", res.simulated, res.bound)
    return res
