r"""Exact core allocation and scheduling of a training graph (MILP, HiGHS).

The schedule semantics are those of :mod:`monet_opt.schedule.problem`: in-order cores
following a program order π, a node's input-fetch phase over the interconnect, and a
single DRAM port serving DMA tasks in a fixed queue order.  Because π and the DMA queue
order are fixed, the only combinatorial decision is the **core allocation**, and the
start times follow from longest-path constraints.  This removes the pairwise ordering
binaries of the disjunctive model (Manne, "On the job-shop scheduling problem",
Operations Research 8(2), 1960), which HiGHS 1.15 left at an 11–14 % gap after 60 s on
60 ops and 4 heterogeneous cores in our runs, while keeping concurrency: nodes on
different cores overlap freely.

Sets
----
* :math:`N` nodes (in π order), :math:`C` compute cores, :math:`A_i \subseteq C` cores
  allowed for node :math:`i`, :math:`F = \{i : |A_i| > 1\}` flexible nodes.
* :math:`P` data edges :math:`(p, j)` with :math:`b_{pj}` bits moved core-to-core.
* :math:`D` DMA tasks (DRAM reads :math:`R_j`, writes :math:`W_i`) in queue order.

Parameters
----------
:math:`d_{ic}` node latency (cycles) on core :math:`c`; :math:`\theta_{ab}` transfer
cycles per bit from core :math:`a` to :math:`b`; :math:`\rho_j, \omega_i` DMA read/write
durations; :math:`e_{ic}` node energy, :math:`\epsilon_{ab}` link pJ/bit;
:math:`\bar T` an upper bound on the makespan (the greedy heuristic's), :math:`M=\bar T`.

Variables
---------
:math:`x_{ic} \in \{0,1\}` (node :math:`i` on core :math:`c`, ``assignment_columns``;
a constant when :math:`|A_i| = 1`, fixed by its bounds for the symmetry-broken node,
``fixed_cores``), start :math:`S_i \ge 0`, end :math:`E_i`, fetch time
:math:`\tau_{pj} \ge 0` and link energy :math:`\eta_{pj} \ge 0` per core-to-core edge
(``link_columns``), DMA start :math:`s_k \ge 0` per DMA task, makespan :math:`T`.

Constraints
-----------
Each family is added by the private function named on its left.

``assignment_rows``
    :math:`\sum_{c \in A_i} x_{ic} = 1 \quad \forall i \in F`.
``tie_rows``
    :math:`x_{ic} = x_{oc}` for a recompute copy :math:`i` of node :math:`o` (realized
    problems: a copy runs on its original's core).
``fetch_time_rows``
    .. math::

       \tau_{pj} \ge b_{pj} \sum_{b} \theta_{ab} x_{jb}
          - b_{pj} \max_b \theta_{ab} (1 - x_{pa}) \quad \forall a \in A_p

    (exact when :math:`p` or :math:`j` is fixed); the link energy :math:`\eta_{pj}` is
    linearized alike with :math:`\epsilon_{ab}`.
``end_time_row``
    :math:`E_j = S_j + \sum_{(p,j)} \tau_{pj} + \sum_c d_{jc} x_{jc}`.
``precedence_rows``
    :math:`S_j \ge E_p \quad \forall (p, j) \in P` not pipelined.
``pipelined_rows``
    :math:`S_j \ge S_p + \sum_{(q,p)} \tau_{qp} + \sum_c d_{pc} x_{pc} / \text{tiles}` and
    :math:`E_j \ge E_p + \sum_c d_{jc} x_{jc} / \text{tiles}` for an edge inside a fused
    stack (first and last tile, :mod:`monet_opt.schedule.realize`).
``_dma_queue_rows``
    :math:`s_{k+1} \ge s_k + \mathrm{dur}_k` (DMA queue order),
    :math:`S_j \ge s_{R_j} + \rho_j`, :math:`s_{R_j} \ge E_{\pi(\mathrm{pos}_j - \delta - 1)}`,
    :math:`s_{W_i} \ge E_i`.
``_makespan_rows``
    :math:`T \ge E_i` for every sink, :math:`T \ge s_{\text{last}} + \mathrm{dur}_{\text{last}}`;
    with the column bound :math:`T \le \bar T` (latency objective).
``in_order_core_rows``
    :math:`S_j \ge E_i - M (2 - x_{ic} - x_{jc})` for every core :math:`c` and
    :math:`i \prec_\pi j` not connected by a path and not separated by a node fixed on
    :math:`c`.
``core_load_cut``
    :math:`T \ge \sum_{i} d_{ic} x_{ic}\ \forall c` (core load, a valid cut).
energy cap (ε constraint)
    ``_energy_terms`` :math:`\le` the cap, when one is given.

Objective: ``latency`` minimizes :math:`T`; ``energy`` minimizes ``_energy_terms``:
:math:`\sum e_{ic} x_{ic} + \sum_{(p,j)} \eta_{pj}` + DRAM energy (a constant), then the
latency at that energy; ``edp`` runs an ε-constraint sweep over energy and returns the
best EDP point found, with the bound :math:`T^* \cdot E^*` (product of the two
single-objective optima).

Why it is exact
---------------
For a fixed allocation the constraints are the longest-path recurrences the evaluator
computes, with ≥ instead of =; minimizing :math:`T` makes the MILP optimum equal the
evaluator's makespan of the optimal allocation (reported as ``objective`` and
``simulated``; they are checked equal after every solve).  The pair constraints are
needed only between nodes that can share a core and are neither ordered by a path nor
separated on that core by a fixed node (transitivity gives the rest).  Symmetry: when
the allowed cores of the first flexible node in π form one orbit of the accelerator's
automorphism group (same core type, same link pattern), that node is fixed to one of
them, which keeps at least one optimal solution.

The restriction is the one stated in the semantics: the program order π is an input
(default HEFT upward rank, or a priority the GA evolves).  Results are verified against
brute-force enumeration of all allocations on small instances (tests).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from monet_opt.formulations._builder import (
    MAX_NONZEROS,
    Affine,
    ModelBuilder,
    solve_model,
    too_large,
)
from monet_opt.formulations.allocation_rows import (
    Cols,
    assignment_columns,
    assignment_rows,
    chain_start_values,
    core_load_cut,
    decode_allocation,
    end_time_row,
    fetch_time_rows,
    fixed_cores,
    in_order_core_rows,
    link_columns,
    pipelined_rows,
    precedence_rows,
    tie_rows,
)
from monet_opt.formulations.bounds import lower_bounds
from monet_opt.formulations.options import Deadline, SolverOptions
from monet_opt.formulations.result import SolveResult
from monet_opt.heuristics.allocation import greedy_allocation
from monet_opt.schedule.evaluator import evaluate_fast, placement_for, simulate_times
from monet_opt.schedule.memory import Placement
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import realize
from monet_opt.schedule.types import Decision

__all__ = [
    "SolveResult",
    "solve_allocation",
    "build_allocation_model",
    "AllocationModel",
    "energy_lower_bound",
]

OBJECTIVES = ("latency", "energy", "edp")


@dataclass
class AllocationModel:
    """A built allocation MILP with its column maps (for decoding and warm starts)."""

    builder: ModelBuilder
    x: dict[tuple[int, int], int]
    S: list[int]
    E: list[int]
    tau: dict[int, int]
    eta: dict[int, int]
    dma: dict[tuple[int, int], int]
    T: int
    energy_cols: dict[int, float]
    energy_const: float
    fixed: dict[int, int]
    order: tuple[int, ...]
    #: Per core index: the prefix-maximum columns of ``in_order_core_rows`` (empty
    #: where the core has pair rows).
    chains: dict[int, list[tuple[int, int]]] = field(default_factory=dict)


def _dma_queue_rows(
    mb: ModelBuilder, v: Cols, pi: Sequence[int], upper: float
) -> tuple[dict[tuple[int, int], int], tuple[int, float] | None]:
    """DMA starts :math:`s_k` in queue order: :math:`s_{k+1} \\ge s_k + \\mathrm{dur}_k`,
    :math:`S_j \\ge s_{R_j} + \\rho_j`, :math:`s_{R_j} \\ge E_{\\text{gate}(j)}`,
    :math:`s_{W_i} \\ge E_i`.

    Returns the DMA columns by ``(kind, node)`` and the last task's (column, duration).
    """
    pb = v.problem
    dma: dict[tuple[int, int], int] = {}
    prev: tuple[int, float] | None = None
    gate = pb.read_gate(pi)
    for kind, i in pb.event_sequence(pi):
        if kind == 1:
            continue
        dur = pb.dram_read_cycles[i] if kind == 0 else pb.dram_write_cycles[i]
        s = dma[kind, i] = mb.var(f"dma[{kind},{i}]", 0.0, upper)
        if prev is not None:
            mb.ge(Affine.of(s) - Affine.of(prev[0]), prev[1])
        if kind == 0:
            mb.ge(Affine.of(v.S[i]) - Affine.of(s), dur)
            if gate[i] >= 0:
                mb.ge(Affine.of(s), Affine.of(v.E[gate[i]]))
        else:
            mb.ge(Affine.of(s), Affine.of(v.E[i]))
        prev = (s, dur)
    return dma, prev


def _makespan_rows(mb: ModelBuilder, v: Cols, last: tuple[int, float] | None) -> None:
    """:math:`T \\ge s_{\\text{last}} + \\mathrm{dur}_{\\text{last}}` and :math:`T \\ge E_i`
    for every sink (the other ends precede a sink's)."""
    if last is not None:
        mb.ge(Affine.of(v.T) - Affine.of(last[0]), last[1])
    for i in range(v.problem.n_nodes):
        if not v.problem.succs[i]:
            mb.ge(Affine.of(v.T), Affine.of(v.E[i]))


def _energy_terms(v: Cols) -> Affine:
    """Step energy :math:`\\sum_{(p,j)} \\eta_{pj} + \\sum e_{ic} x_{ic}` + DRAM energy."""
    pb = v.problem
    en = pb.costs.energy
    return Affine.total(
        [
            pb.dram_energy,
            *(Affine.of(col) for col in v.eta.values()),
            *(en[i, c] * v.xv(i, c) for i in range(pb.n_nodes) for c in pb.allowed_idx[i]),
        ]
    )


def build_allocation_model(
    problem: Problem,
    objective: str,
    upper_bound: float,
    *,
    order: Sequence[int] | None = None,
    energy_cap: float | None = None,
    symmetry_breaking: bool = True,
) -> AllocationModel:
    """Build the MILP of the module docstring.

    Parameters
    ----------
    objective
        ``"latency"`` or ``"energy"``.
    upper_bound
        Makespan upper bound :math:`\\bar T` in cycles (also the big-M).
    order
        Program order π (default: the problem's).
    energy_cap
        Optional ε constraint: total energy ≤ ``energy_cap`` pJ.
    """
    if objective not in ("latency", "energy"):
        raise ValueError(f"objective must be 'latency' or 'energy', got {objective!r}")
    pi = tuple(order) if order is not None else problem.program_order()
    n = problem.n_nodes
    M = float(upper_bound)
    mb = ModelBuilder()
    fixed = fixed_cores(problem, pi, symmetry_breaking)
    x = assignment_columns(mb, problem, fixed)
    T = mb.var("T", 0.0, M if objective == "latency" else math.inf)
    S = [mb.var(f"S[{i}]", 0.0, M) for i in range(n)]
    E = [mb.var(f"E[{i}]", 0.0, M) for i in range(n)]
    tau, eta = link_columns(mb, problem)
    v = Cols(problem, x, S, E, T, tau, eta)

    assignment_rows(mb, v)
    tie_rows(mb, v)
    fetch_time_rows(mb, v)
    for j in range(n):
        end_time_row(mb, v, j)
        precedence_rows(mb, v, j)
        pipelined_rows(mb, v, j)
    dma, last = _dma_queue_rows(mb, v, pi, M)
    _makespan_rows(mb, v, last)
    chains: dict[int, list[tuple[int, int]]] = {}
    for c in range(problem.costs.latency.shape[1]):
        on_c = [i for i in pi if c in problem.allowed_idx[i]]
        chains[c] = in_order_core_rows(mb, v, on_c, c, fixed, M)
        core_load_cut(mb, v, on_c, c)
    energy = _energy_terms(v)
    if energy_cap is not None:
        mb.le(energy, energy_cap)
    mb.minimize(Affine.of(T) if objective == "latency" else energy)
    return AllocationModel(
        mb, x, S, E, tau, eta, dma, T, dict(energy.terms), energy.const, fixed, pi, chains
    )


def serial_upper_bound(problem: Problem) -> float:
    """A makespan no allocation exceeds: everything serialized at its slowest.

    Every event of the evaluator starts no later than the sum of all durations before
    it, so Σ (max node latency + max fetch) + Σ DMA durations bounds any makespan.
    """
    lat = problem.costs.latency
    worst = np.where(np.isfinite(lat), lat, 0.0).max(axis=1).sum()
    xmax = float(problem.costs.xfer_cycles.max()) if problem.costs.xfer_cycles.size else 0.0
    fetch = sum(e.bits * xmax for e in problem.edges if not e.via_dram)
    return float(worst + fetch + problem.dram_read_cycles.sum() + problem.dram_write_cycles.sum())


def _warm_vector(problem: Problem, model: AllocationModel, allocation: Sequence[int]) -> np.ndarray:
    """Full MILP solution vector of an allocation, from the evaluator's times."""
    ids = problem.core_ids
    cidx = [ids.index(int(a)) for a in allocation]
    start, fend, end, reads, writes = simulate_times(problem, cidx, model.order)
    v = np.zeros(model.builder.n_vars)
    for (i, c), col in model.x.items():
        v[col] = 1.0 if cidx[i] == c else 0.0
    for i in range(problem.n_nodes):
        v[model.S[i]] = start[i]
        v[model.E[i]] = end[i]
    xc, xe = problem.costs.xfer_cycles, problem.costs.xfer_energy
    for k, col in model.tau.items():
        e = problem.edges[k]
        v[col] = e.bits * xc[cidx[e.src], cidx[e.dst]]
    for k, col in model.eta.items():
        e = problem.edges[k]
        v[col] = e.bits * xe[cidx[e.src], cidx[e.dst]]
    for (kind, i), col in model.dma.items():
        v[col] = reads[i][0] if kind == 0 else writes[i][0]
    for c, chain in model.chains.items():
        for col, val in chain_start_values(chain, c, cidx, end).items():
            v[col] = val
    mk = float(end.max())
    if writes:
        mk = max(mk, max(w[1] for w in writes.values()))
    v[model.T] = mk
    return v


def _remap_symmetric(
    problem: Problem,
    model: AllocationModel,
    alloc: tuple[int, ...],
    priority: Sequence[float] | None = None,
) -> tuple[int, ...]:
    """Warm starts must respect the symmetry-breaking fix: permute cores if needed."""
    ids = problem.core_ids
    for i, c in model.fixed.items():
        if len(problem.allowed_idx[i]) > 1:
            cur = ids.index(alloc[i])
            if cur != c:
                swap = {ids[cur]: ids[c], ids[c]: ids[cur]}
                cand = tuple(swap.get(a, a) for a in alloc)
                ok = all(ids.index(a) in problem.allowed_idx[k] for k, a in enumerate(cand))
                lat = evaluate_fast(problem, alloc, priority)[0]
                if ok and abs(evaluate_fast(problem, cand, priority)[0] - lat) < 1e-6:
                    return cand
                return ()
    return alloc


@dataclass(frozen=True)
class _Outcome:
    """What one or more allocation MILPs found (before re-simulation)."""

    allocation: tuple[int, ...]
    objective: float | None
    bound: float | None
    solver_status: str
    n_vars: int
    n_cons: int
    n_binaries: int
    build_seconds: float
    solve_seconds: float
    extra: dict[str, object] = field(default_factory=dict)


def _solve_single(
    problem: Problem,
    objective: str,
    opts: SolverOptions,
    time_limit: float,
    warm: tuple[int, ...],
    priority: Sequence[float] | None,
    energy_cap: float | None = None,
) -> _Outcome:
    """One allocation MILP (latency or energy, optionally under an energy cap)."""
    lat_warm, e_warm = evaluate_fast(problem, warm, priority)
    if objective == "latency" and energy_cap is None:
        ub = lat_warm * (1 + 1e-9) + 1.0  # the warm start is feasible: T <= its latency
    else:
        ub = serial_upper_bound(problem) * (1 + 1e-9) + 1.0
    order = problem.program_order(priority)
    t0 = time.perf_counter()
    model = build_allocation_model(
        problem, objective, upper_bound=ub, order=order, energy_cap=energy_cap
    )
    build = time.perf_counter() - t0
    st = too_large(model.builder)  # then the start stands (the caller re-simulates it)
    if st is None:
        h = model.builder.to_highs(opts.highs(time_limit))
        warm_ok = _remap_symmetric(problem, model, warm, priority)
        wv = None
        if warm_ok and (energy_cap is None or e_warm <= energy_cap + 1e-6):
            wv = _warm_vector(problem, model, warm_ok)
        st = solve_model(h, wv)
    alloc = decode_allocation(problem, model, st.values) if st.values is not None else warm
    return _Outcome(
        alloc,
        st.objective if st.has_solution else None,
        st.bound,
        st.status,
        model.builder.n_vars,
        model.builder.n_cons,
        sum(model.builder.integer),
        build,
        st.seconds,
        _skip_note(model.builder, st.status),
    )


def _skip_note(builder: ModelBuilder, status: str) -> dict[str, object]:
    """``extra`` of an outcome: why a model too large for HiGHS was not solved."""
    if status != "model_too_large":
        return {}
    return {
        "note": f"allocation MILP not solved: {builder.n_nonzeros:,} nonzeros "
        f"({builder.n_cons:,} rows) exceed the limit of {MAX_NONZEROS:,}; the start "
        "allocation is kept"
    }


def energy_lower_bound(problem: Problem) -> float:
    """Step energy no allocation beats (pJ): every node on its cheapest core, links
    free, plus the DRAM energy (fixed for a given problem)."""
    en = problem.costs.energy
    emin = np.where(np.isfinite(en), en, np.inf).min(axis=1)
    return float(emin.sum() + problem.dram_energy)


def _solve_on(
    problem: Problem,
    priority: Sequence[float] | None,
    objective: str,
    opts: SolverOptions,
    warm: tuple[int, ...],
    edp_points: int,
) -> tuple[_Outcome, dict[str, float]]:
    """Solve ``problem`` (base or derived) for ``objective`` within ``opts.time_limit``;
    returns the outcome and the other valid bounds of the objective."""
    deadline = Deadline(opts.time_limit)
    lat_lb = lower_bounds(problem)["max"]
    if objective == "latency":
        out = _solve_single(problem, "latency", opts, deadline.remaining(), warm, priority)
        return out, {"lower_bounds": lat_lb}
    e_lb = energy_lower_bound(problem)
    if objective == "energy":
        first = _solve_single(problem, "energy", opts, deadline.share(2), warm, priority)
        out = first
        if first.objective is not None:  # lexicographic: best latency at that energy
            cap = first.objective * (1 + 1e-9) + 1e-6
            second = _solve_single(
                problem, "latency", opts, deadline.remaining(), first.allocation, priority, cap
            )
            out = replace(
                first,
                allocation=second.allocation if second.objective is not None else first.allocation,
                n_vars=first.n_vars + second.n_vars,
                n_cons=first.n_cons + second.n_cons,
                build_seconds=first.build_seconds + second.build_seconds,
                solve_seconds=first.solve_seconds + second.solve_seconds,
            )
        return out, {"energy_lower_bound": e_lb}
    return _solve_edp(problem, priority, opts, deadline, warm, edp_points, lat_lb, e_lb)


def _solve_edp(
    problem: Problem,
    priority: Sequence[float] | None,
    opts: SolverOptions,
    deadline: Deadline,
    warm: tuple[int, ...],
    points: int,
    lat_lb: float,
    e_lb: float,
) -> tuple[_Outcome, dict[str, float]]:
    """ε-constraint sweep over energy; the best EDP point, with the bound T*·E* (the
    product of the latency and energy lower bounds, both valid for every allocation)."""
    runs = points

    def edp(alloc: tuple[int, ...]) -> float:
        lat, en = evaluate_fast(problem, alloc, priority)
        return lat * en

    lat = _solve_single(problem, "latency", opts, deadline.share(runs), warm, priority)
    en = _solve_single(problem, "energy", opts, deadline.share(runs - 1), warm, priority)
    t_lb = max(lat_lb, lat.bound if lat.bound is not None else -math.inf)
    e_lb2 = max(e_lb, en.bound if en.bound is not None else -math.inf)
    cands = [lat.allocation, en.allocation]
    statuses = [lat.solver_status, en.solver_status]
    total = [lat, en]
    e_hi = evaluate_fast(problem, lat.allocation, priority)[1]
    e_lo = evaluate_fast(problem, en.allocation, priority)[1]
    if e_hi - e_lo > 1e-9 * max(e_hi, 1.0):
        for k in range(1, points - 1):
            if deadline.expired:
                break
            cap = e_hi - (e_hi - e_lo) * k / (points - 1)
            o = _solve_single(
                problem, "latency", opts, deadline.share(points - 1 - k), en.allocation,
                priority, energy_cap=cap,
            )  # fmt: skip
            total.append(o)
            statuses.append(o.solver_status)
            if o.objective is not None:
                cands.append(o.allocation)
    best = min(cands, key=edp)
    out = _Outcome(
        best,
        edp(best),
        t_lb * e_lb2,
        "optimal" if all(s == "optimal" for s in statuses) else "time_limit",
        lat.n_vars,
        lat.n_cons,
        lat.n_binaries,
        sum(o.build_seconds for o in total),
        sum(o.solve_seconds for o in total),
        {"edp_sweep_statuses": statuses, "edp_points": len(cands)},
    )
    return out, {"global": lat_lb * e_lb}


def _scope(fixed: Decision | None) -> str:
    what = (
        "core allocation for the fixed program order π (exact for this π only; "
        "allocation_order searches π too)"
    )
    if fixed is not None and (fixed.stacks or fixed.checkpoints is not None):
        what += " and the fixed layer stacks and checkpoints"
    return what


def solve_allocation(
    problem: Problem,
    fixed: Decision | None = None,
    objective: str = "latency",
    options: SolverOptions | None = None,
    warm_start: Decision | None = None,
    *,
    edp_points: int = 6,
) -> SolveResult:
    """Solve the allocation MILP, decode it and re-simulate it with the evaluator.

    Parameters
    ----------
    problem
        The base scheduling problem.
    fixed
        The parts of the decision that are not chosen: ``priority`` (program order π),
        ``stacks`` and ``checkpoints``.  With stacks or a checkpoint set the MILP is
        built on the realized problem (pipelined edges, recompute copies tied to their
        original's core) and its answer mapped back with
        :meth:`~monet_opt.schedule.realize.Realization.invert`.  ``fixed.allocation``
        is ignored.  ``None``: default π, layer by layer, store-all.
    objective
        ``"latency"`` (makespan, cycles), ``"energy"`` (pJ; then the best latency at
        that energy) or ``"edp"`` (pJ·cycles, ε-constraint sweep of ``edp_points``).
    options
        HiGHS options; ``options.time_limit`` is the limit of the whole call.
    warm_start
        A decision whose allocation is handed to HiGHS as incumbent (e.g. the GA's
        best); the greedy HEFT-like allocation is used when it is better or absent.
    edp_points
        ε-constraint points for the EDP objective.

    Returns
    -------
    SolveResult
        Status, MILP objective, simulated value, bound (max of the MILP bound and the
        critical-path / DRAM-port / work bounds, or the energy lower bound), gap.

    Raises
    ------
    ValueError
        On an unknown objective.
    RuntimeError
        If the decoded answer does not re-simulate to the MILP's makespan (an internal
        consistency failure, reported, never hidden).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    opts = options or SolverOptions()
    priority = None if fixed is None else fixed.priority
    target, real = problem, None
    if fixed is not None and (fixed.stacks or fixed.checkpoints is not None):
        real = realize(problem, Decision((), priority, fixed.stacks, fixed.checkpoints))
        target, priority = real.problem, None
    greedy = greedy_allocation(target)
    warm = greedy
    if warm_start is not None and len(warm_start.allocation) == problem.n_nodes:
        cand = real.expand(warm_start.allocation) if real is not None else warm_start.allocation
        if _better(target, cand, greedy, objective, priority):
            warm = tuple(int(a) for a in cand)
    placement = _capacity_placement(target, fixed, priority, objective, warm)
    scope = _scope(fixed)
    if placement is not None:  # exact under the capacity semantics, for this placement
        out = _solve_capacity(target, priority, objective, opts, warm, placement)
        extra_bounds = {"global": _global_bound(target, objective)}
        scope += " and the placement (spilled tensors, DMA windows) of the starting allocation"
    else:
        out, extra_bounds = _solve_on(target.unbounded, priority, objective, opts, warm, edp_points)
        if target.memory == "capacity":  # bounds of the capacity semantics, not the model's
            extra_bounds = {"global": _global_bound(target, objective)}
    derived = Decision(out.allocation, priority, placement=placement)
    decision = real.invert(derived) if real is not None else derived
    res = SolveResult.build(
        problem,
        formulation="allocation",
        objective_name=objective,
        decision=decision,
        simulated_of=objective,
        milp_objective=out.objective,
        milp_bound=out.bound,
        solver_status=out.solver_status,
        mip_gap=opts.mip_gap,
        scope=scope,
        n_vars=out.n_vars,
        n_cons=out.n_cons,
        n_binaries=out.n_binaries,
        build_seconds=out.build_seconds,
        solve_seconds=out.solve_seconds,
        extra_bounds=extra_bounds,
        extra=out.extra,
        models_capacity=placement is not None,
    )
    if (
        objective == "latency"
        and (target.memory != "capacity" or placement is not None)
        and out.objective is not None
        and res.simulated > out.objective * (1 + 1e-6) + 1e-6
    ):
        raise RuntimeError(
            f"internal: re-simulated latency {res.simulated} exceeds the MILP objective "
            f"{out.objective}"
        )
    opts.report("allocation MILP", res.simulated, res.bound)
    return res


def _global_bound(problem: Problem, objective: str) -> float:
    """The valid global bound of an objective (critical path / DRAM port / work for the
    makespan, the cheapest-core energy for energy, their product for EDP)."""
    lat_lb, e_lb = lower_bounds(problem)["max"], energy_lower_bound(problem)
    return {"latency": lat_lb, "energy": e_lb}.get(objective, lat_lb * e_lb)


def _capacity_placement(
    problem: Problem,
    fixed: Decision | None,
    priority: Sequence[float] | None,
    objective: str,
    warm: Sequence[int],
) -> Placement | None:
    """The placement the capacity MILP is exact for (``None``: no capacity MILP applies:
    unbounded semantics, fused stacks, or the EDP objective)."""
    if problem.memory != "capacity" or objective == "edp":
        return None
    if any(e.pipelined for e in problem.edges):
        return None
    given = None if fixed is None else fixed.placement
    if given is not None and given.spills is not None and given.read_window:
        return given
    ids = problem.core_ids
    order = problem.program_order(priority)
    dem = placement_for(problem, [ids.index(int(a)) for a in warm], order, given)
    return None if dem is None else dem.placement


def _solve_capacity(
    problem: Problem,
    priority: Sequence[float] | None,
    objective: str,
    opts: SolverOptions,
    warm: tuple[int, ...],
    placement: Placement,
) -> _Outcome:
    from monet_opt.formulations.allocation_memory import (
        capacity_upper_bound,
        solve_capacity_allocation,
    )

    ub = capacity_upper_bound(problem, placement)
    st, model, alloc, build = solve_capacity_allocation(
        problem,
        placement,
        objective,
        opts.highs(),
        warm,
        ub,
        order=problem.program_order(priority),
    )
    return _Outcome(
        alloc,
        st.objective if st.has_solution else None,
        st.bound,
        st.status,
        model.builder.n_vars,
        model.builder.n_cons,
        sum(model.builder.integer),
        build,
        st.seconds,
        _skip_note(model.builder, st.status),
    )


def _better(
    problem: Problem,
    a: Sequence[int],
    b: Sequence[int],
    objective: str,
    priority: Sequence[float] | None,
) -> bool:
    """Whether allocation ``a`` is no worse than ``b`` for ``objective``."""
    try:
        la, ea = evaluate_fast(problem, a, priority)
    except ValueError:
        return False
    lb, eb = evaluate_fast(problem, b, priority)
    va = {"latency": la, "energy": ea}.get(objective, la * ea)
    vb = {"latency": lb, "energy": eb}.get(objective, lb * eb)
    return va <= vb
