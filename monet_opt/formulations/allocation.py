r"""Exact core allocation and scheduling of a training graph (MILP, HiGHS).

The schedule semantics are those of :mod:`monet_opt.schedule.problem`: in-order cores
following a program order π, a node's input-fetch phase over the interconnect, and a
single DRAM port serving DMA tasks in a fixed queue order.  Because π and the DMA queue
order are fixed, the only combinatorial decision is the **core allocation**, and the
start times follow from longest-path constraints.  This removes the pairwise ordering
binaries of the naive disjunctive model (REFERENCE §5: 11–14 % gap at 60 ops) while
keeping concurrency: nodes on different cores overlap freely.

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
:math:`x_{ic} \in \{0,1\}` (node :math:`i` on core :math:`c`; fixed to 1 when
:math:`|A_i| = 1`), start :math:`S_i \ge 0`, end :math:`E_i`, fetch time
:math:`\tau_{pj} \ge 0` per edge, DMA start :math:`s_k \ge 0` per DMA task, makespan
:math:`T`.

Constraints
-----------
.. math::

   \sum_{c \in A_i} x_{ic} = 1 \quad \forall i

   E_j = S_j + \sum_{(p,j)} \tau_{pj} + \sum_c d_{jc} x_{jc}

   \tau_{pj} \ge b_{pj} \sum_{b} \theta_{ab} x_{jb}
      - b_{pj} \max_b \theta_{ab} (1 - x_{pa}) \quad \forall a \in A_p
      \qquad \text{(exact when } p \text{ or } j \text{ is fixed)}

   S_j \ge E_p \quad \forall (p, j) \in P

   s_{k+1} \ge s_k + \mathrm{dur}_k \quad \text{(DMA queue order)},\qquad
   S_j \ge s_{R_j} + \rho_j,\qquad s_{R_j} \ge E_{\pi(\mathrm{pos}_j - \delta - 1)},
   \qquad s_{W_i} \ge E_i

   S_j \ge E_i - M (2 - x_{ic} - x_{jc}) \quad
      \forall c,\ i \prec_\pi j \text{ not connected by a path}
      \text{ and not separated by a node fixed on } c

   T \ge E_i,\quad T \ge s_{\text{last}} + \mathrm{dur}_{\text{last}},\quad
   T \ge \sum_{i} d_{ic} x_{ic}\ \forall c \ (\text{core load, a valid cut}),\quad
   T \le \bar T

Objective: ``latency`` minimizes :math:`T`; ``energy`` minimizes
:math:`\sum e_{ic} x_{ic} + \sum_{(p,j)} \eta_{pj}` (link energy linearized like
:math:`\tau`) + DRAM energy (a constant), then the latency at that energy;
``edp`` runs an ε-constraint sweep over energy and returns the best EDP point found,
with the bound :math:`T^* \cdot E^*` (product of the two single-objective optima).

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
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from monet_opt.formulations._builder import MipStatus, ModelBuilder, solve_model
from monet_opt.formulations.bounds import lower_bounds
from monet_opt.schedule.evaluator import evaluate, evaluate_fast, simulate_times
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.types import Decision, Schedule

__all__ = ["SolveResult", "solve_allocation", "build_allocation_model", "AllocationModel"]

OBJECTIVES = ("latency", "energy", "edp")


@dataclass(frozen=True)
class SolveResult:
    """Outcome of an exact solve, decoded and re-simulated.

    ``objective`` is the MILP objective (cycles for latency, pJ for energy,
    pJ·cycles for EDP), ``simulated`` the same quantity re-computed by the evaluator
    from the decoded decision, ``bound`` the best proven lower bound and ``gap`` the
    relative gap ``(objective - bound) / objective``.
    """

    method: str
    objective_name: str
    decision: Decision
    schedule: Schedule
    status: str
    objective: float
    bound: float
    gap: float
    simulated: float
    lower_bounds: dict[str, float]
    n_vars: int
    n_cons: int
    build_seconds: float
    solve_seconds: float
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly summary (no schedule)."""
        return {
            "method": self.method,
            "objective_name": self.objective_name,
            "status": self.status,
            "objective": self.objective,
            "simulated": self.simulated,
            "bound": self.bound,
            "gap": self.gap,
            "lower_bounds": dict(self.lower_bounds),
            "n_vars": self.n_vars,
            "n_cons": self.n_cons,
            "build_seconds": self.build_seconds,
            "solve_seconds": self.solve_seconds,
            "allocation": list(self.decision.allocation),
            **{k: v for k, v in self.extra.items()},
        }


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


def _core_orbits(problem: Problem) -> list[set[int]]:
    """Orbits of compute-core indices under accelerator automorphisms."""
    acc = problem.accelerator
    ids = problem.core_ids
    g = nx.Graph()
    lat = problem.costs.latency
    for k in range(len(ids)):
        col = lat[:, k]
        g.add_node(k, sig=tuple(np.where(np.isfinite(col), col, -1.0).round(6)))
    xc = problem.costs.xfer_cycles
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            g.add_edge(a, b, w=(round(float(xc[a, b]), 12), round(float(xc[b, a]), 12)))
    del acc
    gm = nx.algorithms.isomorphism.GraphMatcher(
        g, g, node_match=lambda u, v: u["sig"] == v["sig"], edge_match=lambda u, v: u["w"] == v["w"]
    )
    parent = list(range(len(ids)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for count, mapping in enumerate(gm.isomorphisms_iter()):
        for a, b in mapping.items():
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[ra] = rb
        if count > 2000:
            break
    groups: dict[int, set[int]] = {}
    for k in range(len(ids)):
        groups.setdefault(find(k), set()).add(k)
    return list(groups.values())


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
    tiles = float(problem.tiles)
    lat = problem.costs.latency
    en = problem.costs.energy
    xc = problem.costs.xfer_cycles
    xe = problem.costs.xfer_energy
    allowed = problem.allowed_idx
    reach = problem.hard_reachability  # pipelined paths do not order end → start
    mb = ModelBuilder()
    M = float(upper_bound)

    fixed: dict[int, int] = {i: a[0] for i, a in enumerate(allowed) if len(a) == 1}
    if symmetry_breaking:
        flex_in_order = [i for i in pi if i not in fixed]
        if flex_in_order:
            first = flex_in_order[0]
            for orb in _core_orbits(problem):
                if set(allowed[first]) <= orb:
                    fixed[first] = min(allowed[first])
                    break
    x: dict[tuple[int, int], int] = {}
    for i in range(n):
        if i in fixed and len(allowed[i]) == 1:
            continue
        for c in allowed[i]:
            if i in fixed:
                x[i, c] = mb.var(
                    f"x[{i},{c}]",
                    1.0 if c == fixed[i] else 0.0,
                    1.0 if c == fixed[i] else 0.0,
                    integer=True,
                )
            else:
                x[i, c] = mb.binary(f"x[{i},{c}]")
        mb.row({x[i, c]: 1.0 for c in allowed[i]}, 1.0, 1.0)

    for i, o in enumerate(problem.ties):  # recompute copies share their original's core
        if o >= 0:
            for c in allowed[i]:
                ci = {x[i, c]: 1.0} if (i, c) in x else {}
                co = {x[o, c]: -1.0} if (o, c) in x else {}
                if ci or co:
                    mb.row({**ci, **co}, 0.0, 0.0)

    def xterm(i: int, c: int) -> tuple[dict[int, float], float]:
        """(coefficients, constant) of x_ic."""
        if (i, c) in x:
            return {x[i, c]: 1.0}, 0.0
        return {}, (1.0 if allowed[i] == (c,) else 0.0)

    T = mb.var(
        "T",
        0.0,
        M if objective == "latency" else math.inf,
        cost=1.0 if objective == "latency" else 0.0,
    )
    S = [mb.var(f"S[{i}]", 0.0, M) for i in range(n)]
    E = [mb.var(f"E[{i}]", 0.0, M) for i in range(n)]
    # fetch time per core-to-core edge
    tau: dict[int, int] = {}
    eta: dict[int, int] = {}
    energy_cols: dict[int, float] = {}
    for k, e in enumerate(problem.edges):
        if e.via_dram:
            continue
        p, j = e.src, e.dst
        if np.all(xc[np.ix_(allowed[p], allowed[j])] == 0) and np.all(
            xe[np.ix_(allowed[p], allowed[j])] == 0
        ):
            continue
        for table, store, label in ((xc, tau, "tau"), (xe, eta, "eta")):
            sub = table[np.ix_(allowed[p], allowed[j])]
            if np.all(sub == 0):
                continue
            col = mb.var(f"{label}[{k}]", 0.0, math.inf)
            store[k] = col
            for a in allowed[p]:
                big = e.bits * max(table[a, b] for b in allowed[j])
                coeffs: dict[int, float] = {col: 1.0}
                const = 0.0
                for b in allowed[j]:
                    cb, kb = xterm(j, b)
                    for cc, v in cb.items():
                        coeffs[cc] = coeffs.get(cc, 0.0) - e.bits * table[a, b] * v
                    const += e.bits * table[a, b] * kb
                ca, ka = xterm(p, a)
                # tau >= Σ_b w_ab x_jb - big (1 - x_pa)
                for cc, v in ca.items():
                    coeffs[cc] = coeffs.get(cc, 0.0) - big * v
                mb.row(coeffs, const - big + big * ka, math.inf)
            if label == "eta":
                energy_cols[col] = 1.0
    # node end times
    for j in range(n):
        coeffs = {E[j]: 1.0, S[j]: -1.0}
        const = 0.0
        for k in problem.in_edges[j]:
            if k in tau:
                coeffs[tau[k]] = -1.0
        for c in allowed[j]:
            cb, kb = xterm(j, c)
            for cc, v in cb.items():
                coeffs[cc] = coeffs.get(cc, 0.0) - lat[j, c] * v
            const += lat[j, c] * kb
        mb.row(coeffs, const, const)
        for p in problem.hard_preds[j]:
            mb.row({S[j]: 1.0, E[p]: -1.0}, 0.0)
        for p in problem.pipe_preds[j]:  # fused stack: first / last tile (realize.py)
            # S_j >= S_p + Σ tau_p + lat_p(x) / tiles
            coeffs = {S[j]: 1.0, S[p]: -1.0}
            const = 0.0
            for k in problem.in_edges[p]:
                if k in tau:
                    coeffs[tau[k]] = coeffs.get(tau[k], 0.0) - 1.0
            for c in allowed[p]:
                cb, kb = xterm(p, c)
                for cc, v in cb.items():
                    coeffs[cc] = coeffs.get(cc, 0.0) - lat[p, c] / tiles * v
                const += lat[p, c] / tiles * kb
            mb.row(coeffs, const)
            # E_j >= E_p + lat_j(x) / tiles
            coeffs = {E[j]: 1.0, E[p]: -1.0}
            const = 0.0
            for c in allowed[j]:
                cb, kb = xterm(j, c)
                for cc, v in cb.items():
                    coeffs[cc] = coeffs.get(cc, 0.0) - lat[j, c] / tiles * v
                const += lat[j, c] / tiles * kb
            mb.row(coeffs, const)
    # DMA queue
    dma: dict[tuple[int, int], int] = {}
    prev: tuple[int, float] | None = None
    rcyc, wcyc = problem.dram_read_cycles, problem.dram_write_cycles
    gate = problem.read_gate(pi)
    for kind, i in problem.event_sequence(pi):
        if kind == 1:
            continue
        dur = rcyc[i] if kind == 0 else wcyc[i]
        col = mb.var(f"dma[{kind},{i}]", 0.0, M)
        dma[kind, i] = col
        if prev is not None:
            mb.row({col: 1.0, prev[0]: -1.0}, prev[1])
        if kind == 0:
            mb.row({S[i]: 1.0, col: -1.0}, dur)
            if gate[i] >= 0:
                mb.row({col: 1.0, E[gate[i]]: -1.0}, 0.0)
        else:
            mb.row({col: 1.0, E[i]: -1.0}, 0.0)
        prev = (col, dur)
    if prev is not None:
        mb.row({T: 1.0, prev[0]: -1.0}, prev[1])
    for i in range(n):
        if not problem.succs[i]:
            mb.row({T: 1.0, E[i]: -1.0}, 0.0)
    # in-order cores
    ncores = lat.shape[1]
    for c in range(ncores):
        on_c = [i for i in pi if c in allowed[i]]
        for a_pos, i in enumerate(on_c):
            for j in on_c[a_pos + 1 :]:
                if not reach[i, j]:
                    ci, ki = xterm(i, c)
                    cj, kj = xterm(j, c)
                    # S_j - E_i + M (2 - x_ic - x_jc) >= 0
                    coeffs = {S[j]: 1.0, E[i]: -1.0}
                    for cc, v in ci.items():
                        coeffs[cc] = coeffs.get(cc, 0.0) - M * v
                    for cc, v in cj.items():
                        coeffs[cc] = coeffs.get(cc, 0.0) - M * v
                    mb.row(coeffs, -(2 * M - M * ki - M * kj))
                if fixed.get(j) == c:
                    break  # later nodes on c are ordered after i through j
        # core load cut
        coeffs = {T: 1.0}
        const = 0.0
        for i in on_c:
            cb, kb = xterm(i, c)
            for cc, v in cb.items():
                coeffs[cc] = coeffs.get(cc, 0.0) - lat[i, c] * v
            const += lat[i, c] * kb
        mb.row(coeffs, const)
    # energy
    energy_const = problem.dram_energy
    for i in range(n):
        for c in allowed[i]:
            cb, kb = xterm(i, c)
            for cc, v in cb.items():
                energy_cols[cc] = energy_cols.get(cc, 0.0) + en[i, c] * v
            energy_const += en[i, c] * kb
    if objective == "energy":
        for cc, v in energy_cols.items():
            mb.cost[cc] += v
        mb.offset = energy_const
        # keep T meaningful: T >= all ends already; no upper bound needed
    if energy_cap is not None:
        mb.row(energy_cols, -math.inf, energy_cap - energy_const)
    return AllocationModel(mb, x, S, E, tau, eta, dma, T, energy_cols, energy_const, fixed, pi)


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
    mk = float(end.max())
    if writes:
        mk = max(mk, max(w[1] for w in writes.values()))
    v[model.T] = mk
    return v


def _decode(problem: Problem, model: AllocationModel, values: np.ndarray) -> tuple[int, ...]:
    ids = problem.core_ids
    alloc = []
    for i in range(problem.n_nodes):
        opts = problem.allowed_idx[i]
        if len(opts) == 1:
            alloc.append(ids[opts[0]])
            continue
        best = max(opts, key=lambda c: values[model.x[i, c]])
        alloc.append(ids[best])
    return tuple(alloc)


def _remap_symmetric(
    problem: Problem, model: AllocationModel, alloc: tuple[int, ...]
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
                if (
                    ok
                    and abs(evaluate_fast(problem, cand)[0] - evaluate_fast(problem, alloc)[0])
                    < 1e-6
                ):
                    return cand
                return ()
    return alloc


def _options(
    time_limit: float, mip_gap: float, threads: int | None, seed: int
) -> dict[str, object]:
    opts: dict[str, object] = {
        "time_limit": float(time_limit),
        "mip_rel_gap": float(mip_gap),
        "mip_abs_gap": 1e-6,
        "random_seed": int(seed),
    }
    if threads is not None:
        opts["threads"] = int(threads)
    return opts


def _solve_single(
    problem: Problem,
    objective: str,
    time_limit: float,
    mip_gap: float,
    threads: int | None,
    warm: tuple[int, ...],
    energy_cap: float | None = None,
    seed: int = 0,
) -> tuple[MipStatus, AllocationModel, tuple[int, ...], float]:
    ub_lat = evaluate_fast(problem, warm)[0]
    if objective == "latency" and energy_cap is None:
        ub = ub_lat * (1 + 1e-9) + 1.0  # the warm start is feasible: T <= its latency
    else:
        ub = serial_upper_bound(problem) * (1 + 1e-9) + 1.0
    t0 = time.perf_counter()
    model = build_allocation_model(problem, objective, upper_bound=ub, energy_cap=energy_cap)
    build = time.perf_counter() - t0
    h = model.builder.to_highs(_options(time_limit, mip_gap, threads, seed))
    warm_ok = _remap_symmetric(problem, model, warm)
    wv = None
    if warm_ok:
        wv = _warm_vector(problem, model, warm_ok)
        if energy_cap is not None:
            e_warm = evaluate_fast(problem, warm_ok)[1]
            if e_warm > energy_cap + 1e-6:
                wv = None
    st = solve_model(h, wv)
    alloc = _decode(problem, model, st.values) if st.values is not None else warm
    return st, model, alloc, build


def solve_allocation(
    problem: Problem,
    objective: str = "latency",
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    warm_start: Decision | None = None,
    seed: int = 0,
    edp_points: int = 6,
) -> SolveResult:
    """Solve the allocation MILP, decode it and re-simulate it with the evaluator.

    Parameters
    ----------
    problem
        The scheduling problem.
    objective
        ``"latency"`` (cycles), ``"energy"`` (pJ) or ``"edp"`` (pJ·cycles).
    time_limit
        Seconds for HiGHS (per MILP solve; EDP runs several).
    mip_gap
        Relative MIP gap at which HiGHS stops (1e-4 by default).
    threads
        HiGHS threads (set once per process).
    warm_start
        A decision handed to HiGHS as the incumbent (e.g. the GA's best); default:
        the greedy HEFT-like allocation.
    seed
        HiGHS random seed.
    edp_points
        ε-constraint points for the EDP objective.

    Returns
    -------
    SolveResult

    Raises
    ------
    ValueError
        On an unknown objective, or if the decoded solution does not re-simulate to the
        MILP objective (an internal consistency failure, reported, never hidden).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    greedy = problem.default_decision().allocation
    warm = tuple(warm_start.allocation) if warm_start is not None else greedy
    if (
        evaluate_fast(problem, greedy)[0] < evaluate_fast(problem, warm)[0]
        and objective == "latency"
    ):
        warm = greedy
    lbs = lower_bounds(problem)
    if objective in ("latency", "energy"):
        st, model, alloc, build = _solve_single(
            problem, objective, time_limit, mip_gap, threads, warm, seed=seed
        )
        if objective == "energy" and st.values is not None:
            # lexicographic: best latency at (within 1e-9 of) the optimal energy
            st2, model2, alloc2, b2 = _solve_single(
                problem, "latency", time_limit, mip_gap, threads, alloc,
                energy_cap=st.objective * (1 + 1e-9) + 1e-6, seed=seed,
            )  # fmt: skip
            if st2.values is not None:
                alloc = alloc2
            build += b2
        dec = Decision(allocation=alloc)
        sched = evaluate(problem, dec)
        simulated = sched.latency if objective == "latency" else sched.energy.total
        obj = st.objective if st.values is not None else simulated
        if objective == "latency" and st.values is not None and simulated > obj * (1 + 1e-6) + 1e-6:
            raise ValueError(
                f"internal: re-simulated latency {simulated} exceeds the MILP objective {obj}"
            )
        bound = st.bound
        if objective == "latency":
            bound = max(bound, lbs["max"]) if math.isfinite(bound) else lbs["max"]
        gap = (obj - bound) / obj if obj > 0 and math.isfinite(bound) else math.inf
        return SolveResult(
            method="milp",
            objective_name=objective,
            decision=dec,
            schedule=sched,
            status=st.status,
            objective=obj,
            bound=bound,
            gap=max(gap, 0.0),
            simulated=simulated,
            lower_bounds=lbs,
            n_vars=model.builder.n_vars,
            n_cons=model.builder.n_cons,
            build_seconds=build,
            solve_seconds=st.seconds,
        )
    return _solve_edp(problem, time_limit, mip_gap, threads, warm, seed, edp_points, lbs)


def _solve_edp(
    problem: Problem,
    time_limit: float,
    mip_gap: float,
    threads: int | None,
    warm: tuple[int, ...],
    seed: int,
    points: int,
    lbs: dict[str, float],
) -> SolveResult:
    lat_res = solve_allocation(
        problem, "latency", time_limit, mip_gap, threads, Decision(warm), seed
    )
    en_res = solve_allocation(problem, "energy", time_limit, mip_gap, threads, Decision(warm), seed)
    cands = [lat_res, en_res]
    e_hi = lat_res.schedule.energy.total
    e_lo = en_res.schedule.energy.total
    total_build = lat_res.build_seconds + en_res.build_seconds
    total_solve = lat_res.solve_seconds + en_res.solve_seconds
    statuses = [lat_res.status, en_res.status]
    if e_hi - e_lo > 1e-9 * max(e_hi, 1.0):
        for k in range(1, points - 1):
            cap = e_hi - (e_hi - e_lo) * k / (points - 1)
            st, model, alloc, b = _solve_single(
                problem,
                "latency",
                time_limit,
                mip_gap,
                threads,
                en_res.decision.allocation,
                energy_cap=cap,
                seed=seed,
            )
            total_build += b
            total_solve += st.seconds
            statuses.append(st.status)
            if st.values is not None:
                dec = Decision(alloc)
                sched = evaluate(problem, dec)
                cands.append(
                    SolveResult(
                        "milp",
                        "edp",
                        dec,
                        sched,
                        st.status,
                        sched.edp,
                        0.0,
                        0.0,
                        sched.edp,
                        lbs,
                        model.builder.n_vars,
                        model.builder.n_cons,
                        b,
                        st.seconds,
                    )
                )
    best = min(cands, key=lambda r: r.schedule.edp)
    bound = lat_res.bound * en_res.bound
    edp = best.schedule.edp
    gap = (edp - bound) / edp if edp > 0 else 0.0
    status = "optimal" if gap <= 1e-4 else "feasible"
    return SolveResult(
        method="milp",
        objective_name="edp",
        decision=best.decision,
        schedule=best.schedule,
        status=status,
        objective=edp,
        bound=bound,
        gap=max(gap, 0.0),
        simulated=edp,
        lower_bounds=lbs,
        n_vars=lat_res.n_vars,
        n_cons=lat_res.n_cons,
        build_seconds=total_build,
        solve_seconds=total_solve,
        extra={"edp_sweep_statuses": statuses, "edp_points": len(cands)},
    )
