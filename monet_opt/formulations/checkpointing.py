r"""Exact memory-constrained activation checkpointing (MILP, HiGHS).

The decision is MONET's bit vector (Morlier et al., "MONET: Modeling and Optimization
of neural NEtwork Training from Edge to Data Centers", arXiv:2603.15002, 2026): for
every forward activation :math:`a \in A` read by the backward pass, keep it (checkpoint,
stored in DRAM) or drop it and recompute it from the nearest kept tensors just before
its first backward reader.
The semantics (recompute sets :math:`R_K(a)`, per-activation copies, the activation
footprint :math:`F(K)`) are defined once, in :mod:`monet_opt.schedule.realize`, and the
evaluator realizes exactly them.

Sets and parameters
-------------------
* :math:`A` checkpoint candidates, :math:`b_a` bits; :math:`f_a, l_a` positions (in π) of
  the first and last backward reader; :math:`P = \{f_a\}` window starts.
* :math:`\Phi` forward nodes; :math:`\mathrm{anc}(a) \subseteq \Phi` the producer of
  :math:`a` and its forward ancestors; forward edges :math:`(p \to o, t)`.
* Per copy :math:`(a, o)`, :math:`o \in \mathrm{anc}(a)`: cost :math:`c_o` (its latency
  plus DRAM cycles of its weight reads on the core of :math:`o`, or its energy plus link
  energy of its on-chip inputs), and :math:`d_t` the extra cost of reading a kept input
  :math:`t` from DRAM instead.  :math:`\kappa_a` the energy of keeping :math:`a` (its DRAM
  write unless it is stored anyway, its backward reads, minus the link energy of serving
  the readers from the copy).

Variables
---------
:math:`k_a \in \{0,1\}` keep; :math:`y_{ao} \in [0,1]` copy :math:`(a,o)` runs;
:math:`w_{aot} \in [0,1]` copy :math:`(a,o)` reads kept :math:`t`; :math:`F` peak footprint.

Model
-----
Each part is added by the private function named on its left.

``_objective``
    :math:`\min\ \sum_{a,o} c_o\, y_{ao} + \sum_{a,o,t} d_t\, w_{aot}
    \;(+ \sum_a \kappa_a k_a + \text{const for energy})`.
``_producer_row``
    :math:`y_{a,\mathrm{prod}(a)} + k_a \ge 1`.
``_closure_rows``
    :math:`y_{ap} \ge y_{ao} - k_t \quad \forall (p \to o, t),\ t \in A`, and
    :math:`y_{ap} \ge y_{ao}` when :math:`t \notin A`.
``_kept_read_rows``
    :math:`w_{aot} \ge y_{ao} + k_t - 1` when :math:`d_t > 0`;
    :math:`w_{aot} \le y_{ao},\ w_{aot} \le k_t` when :math:`d_t < 0`; no column when
    :math:`d_t = 0`.
``_footprint_rows``
    :math:`\sum_{a:\ f_a \le p \le l_a} b_a + \sum_{a:\ p < f_a} b_a k_a \le F
    \quad \forall p \in P`, with the column bound :math:`F \le B`.

The parameters come from ``_ancestors`` (:math:`\mathrm{anc}(a)`), ``_copy_costs``
(:math:`c_o, d_t`) and ``_keep_energy`` (:math:`\kappa_a`).

Why it is exact
---------------
For binary :math:`k`, the closure rows say exactly that a copy of :math:`o` runs for
:math:`a` when some copy consuming a non-kept output of :math:`o` runs — the definition
of :math:`R_K(a)`.  The least solution of this monotone system is the indicator of
:math:`R_K(a)`; the costs are non-negative, so the LP over :math:`y, w` attains it, and
the continuous :math:`y, w` need no integrality.  The footprint rows are :math:`F(K)` of
:mod:`monet_opt.schedule.realize` written per window start (the maximum of a sum of
window indicators is attained at a window start; a kept activation is live at every
backward position up to :math:`l_a`).  The latency objective equals the evaluator's
``recompute_cycles`` and the energy objective its total step energy, which tests check
against brute-force enumeration of :math:`2^{|A|}` keep sets on 50+ random graphs.

Structure exploited: only :math:`|A|` binaries (the MILP of Checkmate, Jain et al.,
MLSys 2020, has :math:`O(n^2)` binaries over all nodes and stages,
:mod:`monet_opt.formulations.checkmate`); the :math:`O(|A| \cdot |\Phi|)` closure
variables are continuous; one footprint row per window start.  The minimum feasible
budget is :math:`F(\emptyset)`: dropping an activation never enlarges its window, so
:func:`min_feasible_budget` is exact.

Relation to Revolve
-------------------
Revolve: Griewank and Walther, "Algorithm 799: Revolve: an implementation of
checkpointing for the reverse or adjoint mode of computational differentiation", ACM
Transactions on Mathematical Software 26(1), 2000.

Take a homogeneous chain of :math:`L` equal linear layers whose loss reads the last
output (so Revolve reverses :math:`l = L + 1` steps), unit activation size, DRAM time
negligible, budget :math:`s` activations (the network input, Revolve's :math:`x_0`, is
not counted).  A keep set :math:`K` with per-activation copies is a Revolve schedule with
:math:`|K| + 1` snapshots, so the forward executions :math:`L + \#	ext{copies} \ge
T(L+1, s)`: never below Revolve.  Equality holds where Revolve's optimum is
single-level — one snapshot (:math:`s = 1`: :math:`T(l,1) = l(l-1)/2`) and
:math:`s \ge L/2` — and our count is higher in between, where Revolve's optimum stores
recomputed values as new snapshots (multi-level), which MONET's bit vector cannot
express.  ``tests/formulations/test_checkpointing.py`` checks both on :math:`L = 6, 10`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from math import comb

import numpy as np

from monet_opt.formulations._builder import Affine, MipStatus, ModelBuilder, solve_model
from monet_opt.formulations.options import Deadline, SolverOptions
from monet_opt.formulations.result import SolveResult
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.heuristics.checkpoints import greedy_keep_set
from monet_opt.models.ir import Phase
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import footprint_profile, reader_positions
from monet_opt.schedule.types import Decision
from monet_opt.units import MIB_BITS, within

__all__ = [
    "CheckpointModel",
    "KeepSetColumns",
    "build_checkpoint_model",
    "keep_set_rows",
    "solve_checkpointing",
    "checkpoint_front",
    "exact_front",
    "min_feasible_budget",
    "store_all_footprint",
    "revolve_steps",
]

OBJECTIVES = ("latency", "energy")


def revolve_steps(l: int, s: int) -> int:  # noqa: E741 - Griewank's notation
    """Revolve's minimal number of forward steps :math:`T(l, s)` (Griewank & Walther).

    :math:`\\beta(s, r) = \\binom{s+r}{s}`, :math:`r = \\min\\{r : \\beta(s, r) \\ge l\\}`,
    :math:`T(l, s) = r l - \\beta(s + 1, r - 1)`; ``s`` snapshots, the input included.

    Raises
    ------
    ValueError
        If ``l < 1`` or ``s < 1``.
    """
    if l < 1 or s < 1:
        raise ValueError(f"need l >= 1 and s >= 1, got l={l}, s={s}")
    r = 0
    while comb(s + r, s) < l:
        r += 1
    return r * l - comb(s + 1 + r - 1, s + 1) if r > 0 else 0


def _windows(problem: Problem, order: Sequence[int]) -> dict[str, tuple[int, int, int]]:
    return reader_positions(problem, order)


def store_all_footprint(problem: Problem, priority: Sequence[float] | None = None) -> float:
    """Peak activation footprint (bits) when every candidate is kept."""
    return _footprint(problem, priority, set(problem.checkpoint_tensors))


def min_feasible_budget(problem: Problem, priority: Sequence[float] | None = None) -> float:
    """Smallest footprint budget any keep set meets: :math:`F(\\emptyset)` (bits).

    Exact: dropping an activation shrinks its window ``[production, l_a]`` to
    ``[f_a, l_a]`` and changes no other window, so the empty keep set minimizes the
    footprint at every position.
    """
    return _footprint(problem, priority, set())


def _footprint(problem: Problem, priority: Sequence[float] | None, kept: set[str]) -> float:
    prof, _ = footprint_profile(problem, problem.program_order(priority), kept)
    return float(prof.max()) if len(prof) else 0.0


@dataclass(frozen=True, eq=False)
class CheckpointModel:
    """A built checkpointing MILP and the maps to decode it.

    ``highs`` holds the model; ``keep[a]`` is the column of :math:`k_a`; ``peak`` the
    column of :math:`F` (its upper bound is the budget; change it with
    :meth:`set_budget` to sweep a front without rebuilding).
    """

    problem: Problem
    allocation: tuple[int, ...]
    priority: tuple[float, ...] | None
    stacks: tuple[tuple[int, ...], ...]
    objective: str
    keep: dict[str, int]
    y: dict[tuple[str, int], int]
    w: dict[tuple[str, int, str], int]
    peak: int
    n_vars: int
    n_cons: int
    n_binaries: int
    build_seconds: float
    highs: object
    names: tuple[str, ...] = ()

    def set_budget(self, budget_bits: float) -> None:
        """Change the footprint budget :math:`B` in place (the upper bound of :math:`F`)."""
        self.highs.changeColBounds(self.peak, 0.0, float(budget_bits))  # type: ignore[attr-defined]

    def decode(self, values: np.ndarray) -> frozenset[str]:
        """Kept checkpoint tensors of a solution vector."""
        return frozenset(a for a, c in self.keep.items() if values[c] > 0.5)

    def vector(self, kept: frozenset[str] | set[str]) -> np.ndarray:
        """A feasible solution vector for a keep set (for warm starts)."""
        return _vector(self, kept)


@dataclass(frozen=True)
class _Data:
    """Inputs of the checkpointing MILP (module docstring, *Sets and parameters*)."""

    cands: tuple[str, ...]
    bits: dict[str, float]
    win: dict[str, tuple[int, int, int]]
    prod: dict[str, int]
    anc: dict[str, tuple[int, ...]]
    fwd_in: tuple[tuple[tuple[int, str], ...], ...]
    y_cost: dict[tuple[str, int], float]
    w_cost: dict[tuple[int, str], float]
    kappa: dict[str, float]


def _forward_inputs(problem: Problem) -> tuple[list[list[tuple[int, str]]], list[set[str]]]:
    """Per node its forward inputs ``(producer, tensor)`` (the edges :math:`p \\to o, t`)
    and the tensors it receives over data edges."""
    nodes = problem.nodes
    fwd_in: list[list[tuple[int, str]]] = [[] for _ in nodes]
    edge_tensors: list[set[str]] = [set() for _ in nodes]
    for e in problem.edges:
        edge_tensors[e.dst].add(e.tensor)
        if nodes[e.src].phase == Phase.FORWARD and (e.src, e.tensor) not in fwd_in[e.dst]:
            fwd_in[e.dst].append((e.src, e.tensor))
    return fwd_in, edge_tensors


def _ancestors(
    cands: Sequence[str], prod: dict[str, int], fwd_in: Sequence[Sequence[tuple[int, str]]]
) -> dict[str, tuple[int, ...]]:
    """:math:`\\mathrm{anc}(a)`: the producer of ``a`` and its forward ancestors, sorted."""
    anc: dict[str, tuple[int, ...]] = {}
    for a in cands:
        seen = {prod[a]}
        stack = [prod[a]]
        while stack:
            o = stack.pop()
            for p, _ in fwd_in[o]:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        anc[a] = tuple(sorted(seen))
    return anc


def _copy_costs(
    problem: Problem,
    core: Sequence[int],
    anc: dict[str, tuple[int, ...]],
    fwd_in: Sequence[Sequence[tuple[int, str]]],
    edge_tensors: Sequence[set[str]],
    bits: dict[str, float],
    objective: str,
) -> tuple[dict[tuple[str, int], float], dict[tuple[int, str], float]]:
    """Cost :math:`c_o` of each copy :math:`(a, o)` and the extra cost :math:`d_t` of a
    copy of :math:`o` reading a kept :math:`t` from DRAM (cycles or pJ)."""
    c = problem.costs
    cand_set = set(problem.checkpoint_tensors)
    g = problem.graph
    xe = c.xfer_energy
    r_pj, dcyc = c.dram_read_pj_per_bit, c.dram_cycles_per_bit
    w_cost: dict[tuple[int, str], float] = {}
    base_cost: dict[int, float] = {}
    for o in {o for a in anc for o in anc[a]}:
        wread = sum(
            g.tensors[t].bits for t in problem.dram_read_tensors[o] if t not in edge_tensors[o]
        )
        if objective == "latency":
            base_cost[o] = float(c.latency[o, core[o]]) + wread * dcyc
            for _p, t in fwd_in[o]:
                if t in cand_set:
                    w_cost[(o, t)] = bits[t] * dcyc
        else:
            link = 0.0
            for p, t in fwd_in[o]:
                lk = bits[t] * float(xe[core[p], core[o]])
                link += lk
                if t in cand_set:
                    w_cost[(o, t)] = bits[t] * r_pj - lk
            base_cost[o] = float(c.energy[o, core[o]]) + wread * r_pj + link
    y_cost = {(a, o): base_cost[o] for a in anc for o in anc[a]}
    return y_cost, w_cost


def _keep_energy(
    problem: Problem,
    core: Sequence[int],
    prod: dict[str, int],
    bits: dict[str, float],
    stacks: Sequence[Sequence[int]],
) -> dict[str, float]:
    """:math:`\\kappa_a`: its DRAM write unless stored anyway, plus its backward reads,
    minus the link energy of serving the readers from the copy (pJ)."""
    c = problem.costs
    xe = c.xfer_energy
    r_pj, w_pj = c.dram_read_pj_per_bit, c.dram_write_pj_per_bit
    nodes = problem.nodes
    stack_of = {i: k for k, st in enumerate(stacks) for i in st}
    kappa: dict[str, float] = {}
    for a in problem.checkpoint_tensors:
        p = prod[a]
        other = False  # written anyway (a forward consumer reads it from DRAM)
        outside = False  # some backward reader is outside the producer's stack
        k = 0.0
        for e in problem.edges:
            if e.tensor != a or e.src != p:
                continue
            internal = p in stack_of and stack_of[p] == stack_of.get(e.dst, -1)
            if nodes[e.dst].phase == Phase.FORWARD:
                other |= e.via_dram and not internal
            elif not internal:  # in-stack readers get it on chip either way
                outside = True
                k += bits[a] * (r_pj - float(xe[core[p], core[e.dst]]))
        if outside and not other:
            k += bits[a] * w_pj
        kappa[a] = k
    return kappa


def _data(
    problem: Problem,
    allocation: Sequence[int],
    order: Sequence[int],
    stacks: Sequence[Sequence[int]],
    objective: str,
) -> _Data:
    """Gather the model inputs for a fixed allocation, program order and stacks."""
    cid = {cc: k for k, cc in enumerate(problem.costs.core_ids)}
    core = [cid[int(allocation[i])] for i in range(problem.n_nodes)]
    cands = problem.checkpoint_tensors
    bits = {e.tensor: e.bits for e in problem.edges}
    prod = {e.tensor: e.src for e in problem.edges}
    fwd_in, edge_tensors = _forward_inputs(problem)
    anc = _ancestors(cands, prod, fwd_in)
    y_cost, w_cost = _copy_costs(problem, core, anc, fwd_in, edge_tensors, bits, objective)
    kappa = _keep_energy(problem, core, prod, bits, stacks) if objective == "energy" else {}
    return _Data(
        cands,
        bits,
        _windows(problem, order),
        prod,
        anc,
        tuple(tuple(v) for v in fwd_in),
        y_cost,
        w_cost,
        kappa,
    )


def _producer_row(
    mb: ModelBuilder, d: _Data, keep: dict[str, int], y: dict[tuple[str, int], int], a: str
) -> None:
    """:math:`y_{a,\\mathrm{prod}(a)} + k_a \\ge 1`: a dropped activation is recomputed."""
    mb.ge(Affine.of(y[(a, d.prod[a])]) + Affine.of(keep[a]), 1.0)


def _kept_read_rows(
    mb: ModelBuilder,
    d: _Data,
    keep: dict[str, int],
    y: dict[tuple[str, int], int],
    w: dict[tuple[str, int, str], int],
    a: str,
    o: int,
    t: str,
) -> None:
    """:math:`w_{aot} \\ge y_{ao} + k_t - 1` when reading kept :math:`t` costs more
    (:math:`d_t > 0`); :math:`w_{aot} \\le y_{ao}`, :math:`w_{aot} \\le k_t` when it saves
    (:math:`d_t < 0`); no column when :math:`d_t = 0`."""
    cw = d.w_cost[(o, t)]
    if cw == 0:
        return
    wc = w[(a, o, t)] = mb.var(f"w[{a},{o},{t}]", 0.0, 1.0)
    if cw > 0:
        mb.ge(Affine.of(wc), Affine.of(y[(a, o)]) + Affine.of(keep[t]) - 1.0)
    else:
        mb.le(Affine.of(wc), Affine.of(y[(a, o)]))
        mb.le(Affine.of(wc), Affine.of(keep[t]))


def _closure_rows(
    mb: ModelBuilder,
    d: _Data,
    keep: dict[str, int],
    y: dict[tuple[str, int], int],
    w: dict[tuple[str, int, str], int],
    a: str,
) -> None:
    """:math:`y_{ap} \\ge y_{ao} - k_t` for every forward edge :math:`(p \\to o, t)` inside
    :math:`\\mathrm{anc}(a)` with :math:`t \\in A` (then :func:`_kept_read_rows`), and
    :math:`y_{ap} \\ge y_{ao}` for :math:`t \\notin A`."""
    cand = set(d.cands)
    for o in d.anc[a]:
        for p, t in d.fwd_in[o]:
            if t in cand:
                mb.ge(Affine.of(y[(a, p)]) - Affine.of(y[(a, o)]) + Affine.of(keep[t]), 0.0)
                _kept_read_rows(mb, d, keep, y, w, a, o, t)
            else:
                mb.ge(Affine.of(y[(a, p)]), Affine.of(y[(a, o)]))


def _footprint_rows(mb: ModelBuilder, d: _Data, keep: dict[str, int], peak: int) -> None:
    """:math:`\\sum_{a:\\ f_a \\le p \\le l_a} b_a + \\sum_{a:\\ p < f_a} b_a k_a \\le F`
    for every window start :math:`p`."""
    for p in sorted({f for (_, f, _) in d.win.values()}):
        const = sum(d.bits[a] for a, (_, f, last) in d.win.items() if f <= p <= last)
        kept = Affine.total(
            Affine.of(keep[a], d.bits[a]) for a, (_, f, _) in d.win.items() if p < f
        )
        mb.le(kept - Affine.of(peak), -const)


def _objective(
    mb: ModelBuilder,
    d: _Data,
    keep: dict[str, int],
    y: dict[tuple[str, int], int],
    w: dict[tuple[str, int, str], int],
    const: float,
) -> None:
    """:math:`\\sum c_o y_{ao} + \\sum d_t w_{aot} + \\sum \\kappa_a k_a` + ``const``."""
    mb.minimize(
        Affine.total(
            [
                *(Affine.of(keep[a], d.kappa.get(a, 0.0)) for a in d.cands),
                *(Affine.of(col, d.y_cost[ao]) for ao, col in y.items()),
                *(Affine.of(col, d.w_cost[(o, t)]) for (_, o, t), col in w.items()),
                const,
            ]
        )
    )


@dataclass(frozen=True)
class KeepSetColumns:
    """The columns of :func:`keep_set_rows`: :math:`k_a` (``keep``), :math:`y_{ao}`,
    :math:`w_{aot}`, the footprint :math:`F` (``peak``) and the model inputs."""

    data: _Data
    keep: dict[str, int]
    y: dict[tuple[str, int], int]
    w: dict[tuple[str, int, str], int]
    peak: int


def keep_set_rows(
    mb: ModelBuilder,
    problem: Problem,
    allocation: Sequence[int],
    priority: Sequence[float] | None,
    stacks: Sequence[Sequence[int]],
    objective: str,
    budget_bits: float,
) -> KeepSetColumns:
    r"""Add the keep-set columns and rows of the module docstring (producer, closure,
    kept-read and footprint rows; no objective) to ``mb``.

    For binary :math:`k` the least :math:`y` is the indicator of the recompute sets
    :math:`R_K(a)` and :math:`F \le B` is the footprint budget, so other formulations
    (:mod:`monet_opt.formulations.remat_placement`) reuse the keep set as a decision.
    """
    d = _data(problem, allocation, problem.program_order(priority), stacks, objective)
    keep = {a: mb.binary(f"k[{a}]") for a in d.cands}
    y = {(a, o): mb.var(f"y[{a},{o}]", 0.0, 1.0) for (a, o) in d.y_cost}
    w: dict[tuple[str, int, str], int] = {}
    for a in d.cands:
        _producer_row(mb, d, keep, y, a)
        _closure_rows(mb, d, keep, y, w, a)
    peak = mb.var("F", 0.0, budget_bits)
    _footprint_rows(mb, d, keep, peak)
    return KeepSetColumns(d, keep, y, w, peak)


def build_checkpoint_model(
    problem: Problem,
    *,
    allocation: Sequence[int] | None = None,
    priority: Sequence[float] | None = None,
    stacks: Sequence[Sequence[int]] = (),
    objective: str = "latency",
    budget_bits: float = math.inf,
    options: dict[str, object] | None = None,
) -> CheckpointModel:
    """Build the checkpointing MILP (module docstring) for a fixed allocation and π.

    Parameters
    ----------
    allocation
        Core id per node (default: the greedy allocation); recompute copies run on the
        core of their original.
    priority
        Program-order priority (default: the problem's).
    stacks
        Fused stacks (fixed); they change which DRAM writes keeping an activation adds.
    objective
        ``"latency"``: recompute cycles (serial work of the copies, DRAM reads
        included); ``"energy"``: total step energy in pJ.
    budget_bits
        Activation footprint budget :math:`B` in bits.

    Raises
    ------
    ValueError
        On an unknown objective.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    t0 = time.perf_counter()
    alloc = tuple(allocation) if allocation is not None else greedy_decision(problem).allocation
    real, problem = problem, problem.unbounded  # the model has no memory capacities
    mb = ModelBuilder()
    cols = keep_set_rows(mb, problem, alloc, priority, stacks, objective, budget_bits)
    d, keep, y, w, peak = cols.data, cols.keep, cols.y, cols.w, cols.peak
    const = 0.0
    if objective == "energy":  # the step energy when everything is kept, minus Σ κ
        full = evaluate(problem, Decision(alloc, _tuple(priority), tuple(map(tuple, stacks))))
        const = full.energy.total - sum(d.kappa.values())
    _objective(mb, d, keep, y, w, const)
    h = mb.to_highs(options)
    return CheckpointModel(
        problem=real,
        allocation=alloc,
        priority=_tuple(priority),
        stacks=tuple(tuple(s) for s in stacks),
        objective=objective,
        keep=keep,
        y=y,
        w=w,
        peak=peak,
        n_vars=mb.n_vars,
        n_cons=mb.n_cons,
        n_binaries=len(keep),
        build_seconds=time.perf_counter() - t0,
        highs=h,
        names=tuple(mb.names),
    )


def _tuple(v: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if v is None else tuple(float(x) for x in v)


def _vector(model: CheckpointModel, kept: frozenset[str] | set[str]) -> np.ndarray:
    """Feasible column values for a keep set: the closure indicator and the AND terms."""
    from monet_opt.schedule.realize import recompute_set

    pb = model.problem
    vals = np.zeros(model.n_vars)
    for a, c in model.keep.items():
        vals[c] = 1.0 if a in kept else 0.0
    closure = {a: set(recompute_set(pb, a, kept)) for a in model.keep if a not in kept}
    for (a, o), c in model.y.items():
        vals[c] = 1.0 if a in closure and o in closure[a] else 0.0
    for (a, o, t), c in model.w.items():
        vals[c] = 1.0 if a in closure and o in closure[a] and t in kept else 0.0
    vals[model.peak] = _footprint(pb, model.priority, set(kept))
    return vals


def _result(
    model: CheckpointModel,
    status: MipStatus | None,
    budget_bits: float,
    info: dict[str, object],
    mip_gap: float,
) -> SolveResult:
    """The :class:`SolveResult` of one solve (``status`` ``None``: proven infeasible
    without a solve, the budget being below the minimum feasible footprint)."""
    pb = model.problem
    infeasible = status is None or status.status == "infeasible"
    has = status is not None and status.has_solution
    kept = model.decode(status.values) if has else frozenset(pb.checkpoint_tensors)
    dec = Decision(model.allocation, model.priority, model.stacks, kept)
    res = SolveResult.build(
        pb,
        formulation="checkpointing",
        objective_name="recompute" if model.objective == "latency" else "energy",
        decision=dec,
        simulated_of="recompute" if model.objective == "latency" else "energy",
        milp_objective=status.objective if has else None,
        milp_bound=status.bound if status is not None else None,
        solver_status="infeasible" if status is None else status.status,
        mip_gap=mip_gap,
        scope=(
            "kept checkpoints for the fixed allocation, program order π and stacks "
            "(single-level recomputation: each dropped activation recomputed once from kept "
            "tensors; multi-level schedules, remat_multilevel, can need less)"
        ),
        n_vars=model.n_vars,
        n_cons=model.n_cons,
        n_binaries=model.n_binaries,
        build_seconds=model.build_seconds,
        solve_seconds=0.0 if status is None else status.seconds,
        extra_bounds={"zero": 0.0} if model.objective == "latency" else None,
        infeasible=infeasible,
        # the recompute work (cost tables, DRAM read cycles) and the activation footprint
        # do not depend on on-chip capacities: that objective is exact under both
        models_capacity=model.objective == "latency",
    )
    sched = res.schedule
    extra = dict(info)
    extra.update(
        budget_bits=budget_bits,
        peak_footprint_bits=sched.stats["peak_footprint_bits"],
        kept=sorted(kept),
        recomputed=[a for a in pb.checkpoint_tensors if a not in kept],
        recompute_cycles=sched.stats["recompute_cycles"],
        recompute_energy_pj=sched.stats["recompute_energy_pj"],
        makespan=sched.latency,
        energy_pj=sched.energy.total,
    )
    if infeasible:
        fmin = float(info["min_feasible_budget_bits"])
        extra["message"] = (
            f"budget {budget_bits / MIB_BITS:.6g} MiB is below the minimum feasible "
            f"activation footprint {fmin / MIB_BITS:.6g} MiB"
        )
    return replace(res, extra=extra)


def _fixed_parts(
    problem: Problem, fixed: Decision | None
) -> tuple[tuple[int, ...], tuple[float, ...] | None, tuple[tuple[int, ...], ...]]:
    """(allocation, priority, stacks) of a ``fixed`` decision (greedy allocation when
    it has none)."""
    fixed = fixed or Decision(())
    alloc = fixed.allocation or greedy_decision(problem).allocation
    return tuple(alloc), _tuple(fixed.priority), tuple(tuple(s) for s in fixed.stacks)


def solve_checkpointing(
    problem: Problem,
    fixed: Decision | None = None,
    objective: str = "latency",
    options: SolverOptions | None = None,
    warm_start: Decision | None = None,
    *,
    budget_bits: float | None = None,
) -> SolveResult:
    """Optimal keep set under an activation-footprint budget (module docstring).

    Parameters
    ----------
    problem
        The base problem.
    fixed
        ``allocation`` (empty: greedy), ``priority`` (π) and ``stacks`` are fixed;
        ``checkpoints`` is ignored.
    objective
        ``"latency"``: recompute cycles (serial work of the copies, DRAM reads
        included); ``"energy"``: total step energy in pJ.
    options
        HiGHS options (``time_limit`` for this call).
    warm_start
        A decision whose keep set (e.g. the best GA answer) starts HiGHS when it fits
        the budget; else store-all when it fits, else the greedy keep set of
        :func:`monet_opt.heuristics.checkpoints.greedy_keep_set` (so HiGHS always has an
        incumbent, also at a short time limit).
    budget_bits
        Footprint budget in bits (``None``: no limit).  Below
        :func:`min_feasible_budget` (with the relative tolerance
        :data:`monet_opt.units.REL_TOL`) the result is ``infeasible`` and
        ``extra["min_feasible_budget_bits"]`` says what budget would be feasible.

    Returns
    -------
    SolveResult
        Decoded and re-simulated: ``objective`` (MILP), ``simulated`` (the evaluator's
        ``recompute_cycles`` or total energy), bound, gap; ``extra`` holds the kept and
        recomputed tensors, the peak footprint, the makespan and the minimum budget.
    """
    opts = options or SolverOptions()
    alloc, priority, stacks = _fixed_parts(problem, fixed)
    budget = math.inf if budget_bits is None else float(budget_bits)
    model, info = _sweep_model(problem, objective, alloc, priority, stacks, opts)
    fmin = float(info["min_feasible_budget_bits"])
    fall = float(info["store_all_footprint_bits"])
    if not within(fmin, budget):
        return _result(model, None, budget, info, opts.mip_gap)
    model.set_budget(max(budget, fmin))
    if within(fall, budget):
        start = frozenset(problem.checkpoint_tensors)
    else:  # a keep set within the budget always exists: the greedy one
        start = greedy_keep_set(problem, budget, priority)
    if warm_start is not None and warm_start.checkpoints is not None:
        if within(_footprint(problem, priority, set(warm_start.checkpoints)), budget):
            start = frozenset(warm_start.checkpoints)
    warm = model.vector(start)
    st = solve_model(model.highs, warm)  # type: ignore[arg-type]
    res = _result(model, st, budget, info, opts.mip_gap)
    opts.report("checkpointing MILP", res.simulated, res.bound)
    return res


def _sweep_model(
    problem: Problem,
    objective: str,
    allocation: Sequence[int],
    priority: Sequence[float] | None,
    stacks: Sequence[Sequence[int]],
    opts: SolverOptions,
) -> tuple[CheckpointModel, dict[str, object]]:
    """The model without a budget (set it with ``set_budget``) and the footprint
    extremes ``min_feasible_budget_bits`` / ``store_all_footprint_bits``."""
    info: dict[str, object] = {
        "min_feasible_budget_bits": min_feasible_budget(problem, priority),
        "store_all_footprint_bits": store_all_footprint(problem, priority),
    }
    model = build_checkpoint_model(
        problem,
        allocation=allocation,
        priority=priority,
        stacks=stacks,
        objective=objective,
        options=opts.highs(),
    )
    return model, info


def checkpoint_front(
    problem: Problem,
    budgets_bits: Sequence[float],
    fixed: Decision | None = None,
    objective: str = "latency",
    options: SolverOptions | None = None,
) -> list[SolveResult]:
    """ε-constraint sweep: optimal objective per footprint budget, one HiGHS model.

    The model is built once; each point changes the bound of :math:`F` and warm-starts
    from the previous point's keep set when it is still feasible (budgets are visited
    from the largest down, so the previous solution is the natural incumbent when the
    budget allows it).  Budgets below :func:`min_feasible_budget` give ``"infeasible"``
    points.  ``fixed`` as for :func:`solve_checkpointing`; ``options.time_limit`` is
    shared by all points (each gets an equal share of the time left).
    """
    opts = options or SolverOptions()
    deadline = Deadline(opts.time_limit)
    alloc, priority, stacks = _fixed_parts(problem, fixed)
    model, info = _sweep_model(problem, objective, alloc, priority, stacks, opts)
    fmin = float(info["min_feasible_budget_bits"])
    results: dict[int, SolveResult] = {}
    prev: frozenset[str] | None = frozenset(problem.checkpoint_tensors)
    order = sorted(range(len(budgets_bits)), key=lambda k: -budgets_bits[k])
    for n_done, k in enumerate(order):
        b = float(budgets_bits[k])
        if not within(fmin, b):
            results[k] = _result(model, None, b, info, opts.mip_gap)
            continue
        model.set_budget(max(b, fmin))
        model.highs.setOptionValue("time_limit", deadline.share(len(order) - n_done))  # type: ignore[attr-defined]
        warm = None
        if prev is not None and within(_footprint(problem, priority, set(prev)), b):
            warm = model.vector(prev)
        st = solve_model(model.highs, warm)  # type: ignore[arg-type]
        results[k] = _result(model, st, b, info, opts.mip_gap)
        if st.has_solution:
            prev = model.decode(st.values)
    return [results[k] for k in range(len(budgets_bits))]


def exact_front(
    problem: Problem,
    fixed: Decision | None = None,
    objective: str = "latency",
    options: SolverOptions | None = None,
    *,
    max_points: int = 60,
) -> list[SolveResult]:
    """The whole Pareto front of (peak footprint, objective) by the ε-constraint method.

    Starting from the store-all budget, each step solves for the optimal objective under
    the budget and then tightens the budget to just below the peak footprint of the
    answer, until the budget falls under :func:`min_feasible_budget` (Haimes, Lasdon and
    Wismer, IEEE Trans. SMC 1(3), 1971; Miettinen, *Nonlinear Multiobjective
    Optimization*, Kluwer 1999, §4.1).  When every solve is optimal the returned points
    are exactly the non-dominated (footprint, objective) pairs, sorted by decreasing
    footprint; at most ``max_points`` are computed.  ``fixed`` as for
    :func:`solve_checkpointing`; ``options.time_limit`` is per solve.
    """
    opts = options or SolverOptions()
    alloc, priority, stacks = _fixed_parts(problem, fixed)
    model, info = _sweep_model(problem, objective, alloc, priority, stacks, opts)
    fmin = float(info["min_feasible_budget_bits"])
    fall = float(info["store_all_footprint_bits"])
    bits = {e.tensor: e.bits for e in problem.edges}
    # footprints are sums of activation sizes: distinct values differ by >= their gcd
    unit = float(np.gcd.reduce([int(round(bits[a])) for a in problem.checkpoint_tensors] or [1]))
    out: list[SolveResult] = []
    budget = fall
    prev: frozenset[str] | None = frozenset(problem.checkpoint_tensors)
    while within(fmin, budget) and len(out) < max_points:
        model.set_budget(max(budget, fmin))
        warm = None
        if prev is not None and within(_footprint(problem, priority, set(prev)), budget):
            warm = model.vector(prev)
        st = solve_model(model.highs, warm)  # type: ignore[arg-type]
        if not st.has_solution:
            break
        res = _result(model, st, budget, info, opts.mip_gap)
        prev = model.decode(st.values)
        peak = float(res.extra["peak_footprint_bits"])
        if peak > budget + 1e-9:  # within HiGHS' feasibility tolerance only: tighten
            budget -= unit
            continue
        if out and peak >= float(out[-1].extra["peak_footprint_bits"]) - 1e-9:
            break  # no progress (cannot happen with exact solves; guards time limits)
        if out and res.objective >= out[-1].objective * (1 + 1e-12) + 1e-9 or not out:
            out.append(res)
        else:  # same objective with less memory: the previous point was dominated
            out[-1] = res
        budget = peak - unit / 2
    return out
