r"""Exact layer-fusion partitioning (MILP, HiGHS) and the fusion baselines.

The semantics of a fused layer stack are those of :mod:`monet_opt.schedule.realize`:
nodes consecutive in program order π, tensors passed inside a stack move tile by tile
(no DRAM round trip, a :math:`b/\text{tiles}` buffer, pipelined start and end), and
the stack's weights and tile buffers must fit the on-chip memory of its cores.  The
allocation and π are inputs (from the allocation MILP or greedy; the joint solver
iterates, :mod:`monet_opt.formulations.joint`), and so is the checkpoint set: the model
is built on the realized problem of the checkpoint decision, so recompute copies are
scheduled exactly as the evaluator schedules them.

Sets and parameters
-------------------
* Original nodes in program order π (recompute copies of the realized problem are
  never fused; a stack may span their insertion point, as in
  :mod:`monet_opt.schedule.realize`); :math:`u_k` fuses the :math:`k`-th and
  :math:`(k+1)`-th; :math:`L` the maximum stack length.
* Data edges :math:`e = (p \to q)` between original nodes less than :math:`L` apart:
  *fusable* edges, with bits :math:`b_e`.
* :math:`d_i` latency of node :math:`i` on its core, :math:`\theta_e` fetch cycles of
  :math:`e` on chip, :math:`\delta` DRAM cycles per bit, :math:`\tau` tiles.
* DMA tasks in the fixed queue order of the evaluator; the read :math:`R_i` gated by the
  node at position :math:`i - \text{depth} - 1`.

Variables
---------
:math:`u_k \in \{0,1\}` fuse positions :math:`k, k+1`; :math:`z_e \in [0,1]` edge inside a
stack; :math:`\omega_t \in [0,1]` tensor :math:`t` still written to DRAM; :math:`a_k \in
[0,1]` DMA task :math:`k` still non-empty; start :math:`S_i`, fetch end :math:`\Phi_i`,
end :math:`E_i`; DMA starts :math:`s_k`; makespan :math:`T`.

Constraints
-----------
.. math::

   z_e \le u_k\ (p \le k < q), \qquad z_e \ge \textstyle\sum_{k=p}^{q-1} u_k - (q-p-1),
   \qquad \sum_{k=j}^{j+L-1} u_k \le L - 1

   \sum_{k=s}^{t-1} u_k \le t - s - 1
   \quad \text{for every minimal window } [s,t] \text{ whose stack would overflow a core}

   \Phi_i = S_i + \phi_i + \sum_{e \to i \text{ via DRAM}} \theta_e z_e, \qquad
   E_i \ge \Phi_i + d_i

   S_q \ge E_p - M z_e, \qquad S_q \ge \Phi_p + d_p/\tau, \qquad E_q \ge E_p + d_q/\tau
   \qquad (\text{fusable } e)

   S_q \ge E_p \ (\text{other edges}), \qquad S_i \ge E_{i'} \ (i' \text{ previous on its core})

   \omega_t \ge 1 - z_e \ (\text{DRAM consumers } e \text{ of } t), \qquad
   a_k \ge \omega_t \ (W_i),\ a_k \ge 1 - z_e\ (R_i)

   s_{k+1} \ge s_k + \mathrm{dur}_k(z, \omega), \quad
   s_{R_i} \ge E_{\text{gate}(i)} - M(1 - a_{R_i}), \quad
   S_i \ge s_{R_i} + \mathrm{dur}_{R_i} - M(1 - a_{R_i}), \quad
   s_{W_i} \ge E_i - M(1 - a_{W_i})

   T \ge E_i, \qquad T \ge s_k + \mathrm{dur}_k

Objectives: ``latency`` :math:`T`; ``energy`` the step energy (constant minus DRAM bits
saved plus link energy of edges moved on chip, linear in :math:`z, \omega`); ``mix``
:math:`w\,T/T_0 + (1-w)\,E/E_0` with :math:`T_0, E_0` the layer-by-layer values.

Why it is exact
---------------
For binary :math:`u` the edge variables :math:`z` equal the indicator "inside one stack"
(both bounds), :math:`\omega` and :math:`a` are pushed to their least values, which are
the evaluator's "still written" and "task still present" (a task with zero bits does
not exist in the evaluator; its gating rows are relaxed by big-M), and the time rows are
the evaluator's max-plus recurrences with ≥.  The pipelined rows :math:`S_q \ge \Phi_p +
d_p/\tau` and :math:`E_q \ge E_p + d_q/\tau` are implied when :math:`e` is not fused, so
they need no big-M.  :math:`M` is the layer-by-layer makespan plus every fetch fusion
could add (times are monotone in the right-hand sides).  Capacity is exact because the
need of a window only grows with the window.  Tests compare against brute force over
all :math:`2^{|U|}` cut vectors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monet_opt.formulations._builder import MipStatus, ModelBuilder, solve_model
from monet_opt.formulations.allocation import SolveResult
from monet_opt.formulations.bounds import lower_bounds
from monet_opt.heuristics.stacks import greedy_stacks
from monet_opt.models.ir import TensorRole
from monet_opt.schedule.evaluator import evaluate, simulate_times
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import Realization, realize, stack_memory_bits
from monet_opt.schedule.types import Decision

__all__ = [
    "FusionModel",
    "build_fusion_model",
    "solve_fusion",
    "stacks_from_names",
    "stack_names",
    "fusion_baselines",
]

OBJECTIVES = ("latency", "energy", "mix")


def stacks_from_names(
    problem: Problem, names: Sequence[Sequence[str]]
) -> tuple[tuple[int, ...], ...]:
    """Stacks given as node names (as Stream users write them) → node indices.

    Raises
    ------
    ValueError
        Naming an unknown node and some allowed names.
    """
    idx = {op.name: i for i, op in enumerate(problem.nodes)}
    out = []
    for k, st in enumerate(names):
        row = []
        for nm in st:
            if nm not in idx:
                some = ", ".join(list(idx)[:8])
                raise ValueError(
                    f"stack {k}: unknown node {nm!r}; computation nodes are e.g. {some}, ..."
                )
            row.append(idx[nm])
        out.append(tuple(row))
    return tuple(out)


def stack_names(problem: Problem, stacks: Sequence[Sequence[int]]) -> list[list[str]]:
    """Node names of stacks (base node indices)."""
    return [[problem.nodes[i].name for i in st] for st in stacks]


@dataclass(frozen=True, eq=False)
class FusionModel:
    """A built fusion MILP with the maps to decode it."""

    base: Problem
    realization: Realization
    allocation: tuple[int, ...]
    priority: tuple[float, ...] | None
    checkpoints: frozenset[str] | None
    objective: str
    u: dict[int, int]
    makespan: int
    n_vars: int
    n_cons: int
    n_binaries: int
    build_seconds: float
    highs: object
    scale: tuple[float, float]

    def decode(self, values: np.ndarray) -> tuple[tuple[int, ...], ...]:
        """Stacks (base node indices) of a solution vector: maximal runs of ``u = 1``."""
        return _runs(self, {k for k, c in self.u.items() if values[c] > 0.5})

    def start(self, stacks: Sequence[Sequence[int]]) -> dict[int, float]:
        """Values of the fusion binaries ``u`` for ``stacks`` (base node indices)."""
        real = self.realization
        base = [real.origin[d] for d in range(len(real.origin)) if real.recompute_for[d] is None]
        rank = {i: k for k, i in enumerate(base)}
        on: set[int] = set()
        for st in stacks:
            ks = sorted(rank[int(i)] for i in st)
            on.update(ks[:-1])
        return {c: (1.0 if k in on else 0.0) for k, c in self.u.items()}


def _runs(model: FusionModel, on: set[int]) -> tuple[tuple[int, ...], ...]:
    real = model.realization
    base = [real.origin[d] for d in range(len(real.origin)) if real.recompute_for[d] is None]
    out = []
    cur = [base[0]] if base else []
    for k in range(len(base) - 1):
        if k in on:
            cur.append(base[k + 1])
        else:
            if len(cur) > 1:
                out.append(tuple(cur))
            cur = [base[k + 1]]
    if len(cur) > 1:
        out.append(tuple(cur))
    return tuple(out)


def build_fusion_model(
    problem: Problem,
    *,
    allocation: Sequence[int] | None = None,
    priority: Sequence[float] | None = None,
    checkpoints: frozenset[str] | None = None,
    objective: str = "latency",
    weight: float = 0.5,
    max_stack: int = 8,
    options: dict[str, object] | None = None,
) -> FusionModel:
    """Build the fusion MILP (module docstring) for a fixed allocation, π and checkpoints.

    Raises
    ------
    ValueError
        On an unknown objective, ``max_stack < 2`` or ``weight`` outside [0, 1].
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if max_stack < 2:
        raise ValueError(f"max_stack must be >= 2, got {max_stack}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    t0 = time.perf_counter()
    alloc = tuple(allocation) if allocation is not None else problem.default_decision().allocation
    real = realize(problem, Decision(alloc, _tuple(priority), (), checkpoints))
    pb = real.problem
    n = pb.n_nodes
    c = pb.costs
    ids = {cid: k for k, cid in enumerate(c.core_ids)}
    core = [ids[int(alloc[o])] for o in real.origin]
    lat = np.array([float(c.latency[i, core[i]]) for i in range(n)])
    xc, xe = c.xfer_cycles, c.xfer_energy
    dcyc = c.dram_cycles_per_bit
    r_pj, w_pj = c.dram_read_pj_per_bit, c.dram_write_pj_per_bit
    tiles = float(pb.tiles)
    g = pb.graph
    acc = pb.accelerator
    # fusable pairs: consecutive *original* nodes (recompute copies between them are
    # not part of the stack; realize.py validates stacks in base program order)
    base_pos = [d for d in range(n) if real.recompute_for[d] is None]
    rank = {d: k for k, d in enumerate(base_pos)}
    nb = len(base_pos)
    # layer-by-layer reference schedule (for M and the mix normalization)
    _, _, end0, _, writes0 = simulate_times(pb, core, None)
    t_lbl = float(max(end0.max(), max((w[1] for w in writes0.values()), default=0.0)))
    e_lbl = evaluate(problem, Decision(alloc, _tuple(priority), (), checkpoints)).energy.total

    mb = ModelBuilder()
    u: dict[int, int] = {k: mb.binary(f"u[{k}]") for k in range(nb - 1)}
    for j in range(nb - max_stack):  # at most max_stack nodes per stack
        mb.row({u[k]: 1.0 for k in range(j, j + max_stack)}, ub=max_stack - 1)

    # fusable edges, one z per (p, q) pair of original nodes
    pair_edges: dict[tuple[int, int], list[int]] = {}
    for k, e in enumerate(pb.edges):
        if e.src in rank and e.dst in rank and 0 < rank[e.dst] - rank[e.src] < max_stack:
            pair_edges.setdefault((e.src, e.dst), []).append(k)
    z: dict[tuple[int, int], int] = {}
    for p, q in pair_edges:
        zc = mb.var(f"z[{p},{q}]", 0.0, 1.0)
        z[(p, q)] = zc
        ks = range(rank[p], rank[q])
        for k in ks:
            mb.row({zc: 1.0, u[k]: -1.0}, ub=0.0)
        row = {zc: 1.0}
        for k in ks:
            row[u[k]] = row.get(u[k], 0.0) - 1.0
        mb.row(row, lb=-(len(ks) - 1))
    # capacity windows (minimal violating windows, in base order)
    for s0 in range(nb - 1):
        for t in range(s0 + 1, min(nb, s0 + max_stack)):
            members = [real.origin[base_pos[j]] for j in range(s0, t + 1)]
            need = stack_memory_bits(problem, members, alloc)
            if any(b > acc.core(cc).onchip_bits + 1e-6 for cc, b in need.items()):
                mb.row({u[k]: 1.0 for k in range(s0, t)}, ub=t - s0 - 1)
                break
    # fetch times, energy terms of fusable edges
    extra_fetch = 0.0
    fetch_const = np.zeros(n)
    fetch_var: list[dict[int, float]] = [{} for _ in range(n)]
    energy_terms: dict[int, float] = {}
    for e in pb.edges:
        cyc = e.bits * float(xc[core[e.src], core[e.dst]])
        if not e.via_dram:
            fetch_const[e.dst] += cyc
        elif (e.src, e.dst) in z:
            zc = z[(e.src, e.dst)]
            fetch_var[e.dst][zc] = fetch_var[e.dst].get(zc, 0.0) + cyc
            extra_fetch += cyc
            de = e.bits * (float(xe[core[e.src], core[e.dst]]) - r_pj)
            energy_terms[zc] = energy_terms.get(zc, 0.0) + de
    big_m = t_lbl + extra_fetch + 1.0

    S = [mb.var(f"S[{i}]") for i in range(n)]
    E = [mb.var(f"E[{i}]") for i in range(n)]
    T = mb.var("T")
    for i in range(n):
        row = {E[i]: 1.0, S[i]: -1.0}
        for zc, v in fetch_var[i].items():
            row[zc] = row.get(zc, 0.0) - v
        mb.row(row, lb=fetch_const[i] + lat[i])
        mb.row({T: 1.0, E[i]: -1.0}, lb=0.0)

    def phi(i: int) -> tuple[dict[int, float], float]:
        """Φ_i = S_i + const + Σ θ z as (coeffs, constant)."""
        row = {S[i]: 1.0}
        for zc, v in fetch_var[i].items():
            row[zc] = row.get(zc, 0.0) + v
        return row, float(fetch_const[i])

    seen_pairs: set[tuple[int, int]] = set()
    for e in pb.edges:
        p, q = e.src, e.dst
        if (p, q) in seen_pairs:
            continue
        seen_pairs.add((p, q))
        if (p, q) in z:
            zc = z[(p, q)]
            mb.row({S[q]: 1.0, E[p]: -1.0, zc: big_m}, lb=0.0)
            prow, pconst = phi(p)
            row = {S[q]: 1.0}
            for col, v in prow.items():
                row[col] = row.get(col, 0.0) - v
            mb.row(row, lb=pconst + lat[p] / tiles)
            mb.row({E[q]: 1.0, E[p]: -1.0}, lb=lat[q] / tiles)
        else:
            mb.row({S[q]: 1.0, E[p]: -1.0}, lb=0.0)
    last_on: dict[int, int] = {}
    for i in range(n):
        cc = core[i]
        if cc in last_on:
            mb.row({S[i]: 1.0, E[last_on[cc]]: -1.0}, lb=0.0)
        last_on[cc] = i

    # DMA tasks
    consumers_via: dict[tuple[int, str], list[int]] = {}
    for k, e in enumerate(pb.edges):
        if e.via_dram:
            consumers_via.setdefault((e.src, e.tensor), []).append(k)
    edge_src: list[dict[str, int]] = [{} for _ in range(n)]
    for e in pb.edges:
        edge_src[e.dst][e.tensor] = e.src
    omega: dict[tuple[int, str], int] = {}
    prev_end: tuple[dict[int, float], float] | None = None
    gate = pb.read_gate(pb.program_order())
    for kind, i in pb.event_sequence(pb.program_order()):
        if kind == 1:
            continue
        dur: dict[int, float] = {}
        dconst = 0.0
        may_vanish = True
        act_lbs: list[dict[int, float] | None] = []  # rows a >= 1 - z (None: constant 1)
        if kind == 0:
            for t in pb.dram_read_tensors[i]:
                bits = float(g.tensors[t].bits)
                zc = None
                if t in edge_src[i]:
                    zc = z.get((edge_src[i][t], i))
                if zc is None:
                    dconst += bits * dcyc
                    may_vanish = False
                else:
                    dconst += bits * dcyc
                    dur[zc] = dur.get(zc, 0.0) - bits * dcyc
                    act_lbs.append({zc: -1.0})
        else:
            for t in pb.dram_write_tensors[i]:
                bits = float(g.tensors[t].bits)
                role = g.tensors[t].role
                cons = consumers_via.get((i, t), [])
                fus = [z.get((pb.edges[k].src, pb.edges[k].dst)) for k in cons]
                const = (
                    role in (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE)
                    or not cons
                    or any(f is None for f in fus)
                )
                if const:
                    dconst += bits * dcyc
                    may_vanish = False
                    continue
                om = mb.var(f"w[{i},{t}]", 0.0, 1.0)
                omega[(i, t)] = om
                for f in fus:
                    mb.row({om: 1.0, f: 1.0}, lb=1.0)
                dur[om] = dur.get(om, 0.0) + bits * dcyc
                energy_terms[om] = energy_terms.get(om, 0.0) + bits * w_pj
                act_lbs.append({om: 1.0})
        s = mb.var(f"s[{kind},{i}]")
        a = None
        if may_vanish and act_lbs:
            a = mb.var(f"a[{kind},{i}]", 0.0, 1.0)
            for lb_row in act_lbs:
                if kind == 0:  # a >= 1 - z
                    ((zc, _),) = lb_row.items()
                    mb.row({a: 1.0, zc: 1.0}, lb=1.0)
                else:  # a >= omega
                    ((om, _),) = lb_row.items()
                    mb.row({a: 1.0, om: -1.0}, lb=0.0)
        if prev_end is not None:
            row = {s: 1.0}
            for col, v in prev_end[0].items():
                row[col] = row.get(col, 0.0) - v
            mb.row(row, lb=prev_end[1])
        end_row = {s: 1.0}
        for col, v in dur.items():
            end_row[col] = end_row.get(col, 0.0) + v
        prev_end = (end_row, dconst)
        row = {T: 1.0}
        for col, v in end_row.items():
            row[col] = row.get(col, 0.0) - v
        mb.row(row, lb=dconst)
        mcoef = big_m if a is not None else 0.0
        if kind == 0:
            gnode = gate[i]
            if gnode >= 0:
                row = {s: 1.0, E[gnode]: -1.0}
                if a is not None:
                    row[a] = -mcoef
                mb.row(row, lb=-mcoef)
            row = {S[i]: 1.0}
            for col, v in end_row.items():
                row[col] = row.get(col, 0.0) - v
            if a is not None:
                row[a] = row.get(a, 0.0) - mcoef
            mb.row(row, lb=dconst - mcoef)
        else:
            row = {s: 1.0, E[i]: -1.0}
            if a is not None:
                row[a] = -mcoef
            mb.row(row, lb=-mcoef)
    mb.row({T: 1.0}, ub=big_m)

    # objective
    if objective == "latency":
        mb.cost[T] = 1.0
        scale = (1.0, 0.0)
    else:
        # energy = E_lbl + Σ energy_terms·var - (Σ write bits·w_pj for the omega at 1)
        w_const = sum(energy_terms[om] for om in omega.values())
        if objective == "energy":
            scale = (0.0, 1.0)
        else:
            scale = (weight / t_lbl, (1.0 - weight) / e_lbl)
            mb.cost[T] = scale[0]
        for col, v in energy_terms.items():
            mb.cost[col] += scale[1] * v
        mb.offset = scale[1] * (e_lbl - w_const)
    h = mb.to_highs(options)
    return FusionModel(
        base=problem,
        realization=real,
        allocation=alloc,
        priority=_tuple(priority),
        checkpoints=checkpoints,
        objective=objective,
        u=u,
        makespan=T,
        n_vars=mb.n_vars,
        n_cons=mb.n_cons,
        n_binaries=len(u),
        build_seconds=time.perf_counter() - t0,
        highs=h,
        scale=scale,
    )


def _tuple(v: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if v is None else tuple(float(x) for x in v)


def _objective_value(objective: str, scale: tuple[float, float], lat: float, en: float) -> float:
    if objective == "latency":
        return lat
    if objective == "energy":
        return en
    return scale[0] * lat + scale[1] * en


def fusion_baselines(
    problem: Problem,
    allocation: Sequence[int],
    *,
    priority: Sequence[float] | None = None,
    checkpoints: frozenset[str] | None = None,
    fixed: Sequence[Sequence[int]] | None = None,
    max_stack: int = 8,
) -> dict[str, dict[str, object]]:
    """Layer-by-layer, greedy (cut when the weights overflow) and a fixed stack list,
    each evaluated by the evaluator: latency, energy, stacks, capacity violations."""
    cases: dict[str, tuple[tuple[int, ...], ...]] = {
        "layer_by_layer": (),
        "greedy": greedy_stacks(problem, allocation, priority, max_stack),
    }
    if fixed is not None:
        cases["fixed"] = tuple(tuple(s) for s in fixed)
    out: dict[str, dict[str, object]] = {}
    for name, stacks in cases.items():
        dec = Decision(tuple(allocation), _tuple(priority), stacks, checkpoints)
        sch = evaluate(problem, dec)
        out[name] = {
            "latency": sch.latency,
            "energy_pj": sch.energy.total,
            "n_stacks": len(stacks),
            "stacks": stack_names(problem, stacks),
            "stack_overflow": int(sch.stats["stack_overflow"]),
        }
    return out


def solve_fusion(
    problem: Problem,
    *,
    allocation: Sequence[int] | None = None,
    priority: Sequence[float] | None = None,
    checkpoints: frozenset[str] | None = None,
    objective: str = "latency",
    weight: float = 0.5,
    max_stack: int = 8,
    time_limit: float = 60.0,
    mip_gap: float = 1e-6,
    threads: int | None = None,
    warm_start: Sequence[Sequence[int]] | None = None,
) -> SolveResult:
    """Optimal layer stacks for a fixed allocation, π and checkpoint set.

    ``warm_start`` (stacks in base node indices, e.g. the best GA answer) fixes the
    fusion binaries of a starting solution that HiGHS completes (``setSolution``).

    Returns a :class:`SolveResult` whose decision carries the stacks; ``simulated`` is
    the evaluator's value of the same objective; ``extra`` holds the stack names and
    the layer-by-layer reference.
    """
    opts: dict[str, object] = {"time_limit": float(time_limit), "mip_rel_gap": float(mip_gap)}
    if threads:
        opts["threads"] = int(threads)
    model = build_fusion_model(
        problem,
        allocation=allocation,
        priority=priority,
        checkpoints=checkpoints,
        objective=objective,
        weight=weight,
        max_stack=max_stack,
        options=opts,
    )
    partial = model.start(warm_start) if warm_start is not None else None
    st = solve_model(model.highs, partial=partial)  # type: ignore[arg-type]
    stacks = model.decode(st.values) if st.has_solution else ()
    dec = Decision(model.allocation, model.priority, stacks, checkpoints)
    sched = evaluate(problem, dec)
    sim = _objective_value(objective, model.scale, sched.latency, sched.energy.total)
    if not st.has_solution:
        st = MipStatus(st.status, math.inf, st.bound, math.inf, st.seconds, None)
    return SolveResult(
        method="milp",
        objective_name=f"fusion_{objective}",
        decision=dec,
        schedule=sched,
        status=st.status,
        objective=st.objective,
        bound=st.bound,
        gap=st.gap,
        simulated=float(sim),
        lower_bounds=lower_bounds(problem),
        n_vars=model.n_vars,
        n_cons=model.n_cons,
        build_seconds=model.build_seconds,
        solve_seconds=st.seconds,
        extra={
            "stacks": stack_names(problem, stacks),
            "n_binaries": model.n_binaries,
            "stack_overflow": int(sched.stats["stack_overflow"]),
            "tiles": problem.tiles,
            "max_stack": max_stack,
        },
    )
