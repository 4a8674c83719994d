r"""Exact layer-fusion partitioning (MILP, HiGHS) and the fusion baselines.

The semantics of a fused layer stack are those of :mod:`monet_opt.schedule.realize`:
nodes consecutive in program order π, tensors passed inside a stack move tile by tile
(no DRAM round trip, a :math:`b/\text{tiles}` buffer, pipelined start and end), and
the stack's weights and tile buffers must fit the on-chip memory of its cores.  The
allocation and π are inputs (from the allocation MILP or greedy; the joint solver
iterates, :mod:`monet_opt.formulations.joint`), and so is the checkpoint set: the model
is built on the realized problem of the checkpoint decision, so recompute copies are
scheduled exactly as the evaluator schedules them.

The model has no memory capacities (:mod:`monet_opt.schedule.memory`): under them its
answer is a candidate, and :mod:`monet_opt.formulations.fusion_capacity` decides the
stacks exactly (it evaluates this model's answer among its first candidates).

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
[0,1]` DMA task :math:`k` still non-empty; start :math:`S_i`, end :math:`E_i` (the fetch
end :math:`\Phi_i` is an expression in them, ``_Times.phi``); DMA starts :math:`s_k`;
makespan :math:`T`.

Constraints
-----------
Each family is added by the private function named on its left.

``_stack_length_rows``
    :math:`\sum_{k=j}^{j+L-1} u_k \le L - 1`.
``_edge_inside_rows``
    :math:`z_e \le u_k\ (p \le k < q)` and
    :math:`z_e \ge \textstyle\sum_{k=p}^{q-1} u_k - (q-p-1)` for every fusable :math:`e`.
``_capacity_window_rows``
    :math:`\sum_{k=s}^{t-1} u_k \le t - s - 1` for every minimal window :math:`[s,t]`
    whose stack would overflow a core.
``_time_rows``
    :math:`E_i \ge \Phi_i + d_i` with :math:`\Phi_i = S_i + \phi_i + \sum_{e \to i
    \text{ via DRAM}} \theta_e z_e` (``_fetch_terms``), and :math:`T \ge E_i`.
``_pipelined_rows``
    :math:`S_q \ge E_p - M z_e,\ S_q \ge \Phi_p + d_p/\tau,\ E_q \ge E_p + d_q/\tau` for
    a fusable :math:`e`; ``_edge_rows`` adds :math:`S_q \ge E_p` for the other edges.
``_core_order_rows``
    :math:`S_i \ge E_{i'}` with :math:`i'` the previous node on the core of :math:`i`.
``_dram_task_rows``
    per DMA task in queue order: :math:`\omega_t \ge 1 - z_e` for the DRAM consumers
    :math:`e` of :math:`t` and :math:`a_k \ge \omega_t` for a write :math:`W_i`
    (``_write_duration``), :math:`a_k \ge 1 - z_e` for a read :math:`R_i`
    (``_read_duration``), and ``_queue_rows``:

    .. math::

       s_{k+1} \ge s_k + \mathrm{dur}_k(z, \omega), \quad
       T \ge s_k + \mathrm{dur}_k, \quad
       s_{R_i} \ge E_{\text{gate}(i)} - M(1 - a_{R_i}),

       S_i \ge s_{R_i} + \mathrm{dur}_{R_i} - M(1 - a_{R_i}), \quad
       s_{W_i} \ge E_i - M(1 - a_{W_i})

    (without the :math:`M` terms for a task that cannot vanish).
makespan bound (``build_fusion_model``)
    :math:`T \le M`.

``_objective``: ``latency`` :math:`T`; ``energy`` the step energy (constant minus DRAM
bits saved plus link energy of edges moved on chip, linear in :math:`z, \omega`);
``mix`` :math:`w\,T/T_0 + (1-w)\,E/E_0` with :math:`T_0, E_0` the layer-by-layer values
(``_fusion_inputs``).

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

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from monet_opt.formulations._builder import Affine, ModelBuilder, solve_model
from monet_opt.formulations.options import SolverOptions
from monet_opt.formulations.result import SolveResult
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.heuristics.stacks import greedy_stacks
from monet_opt.models.ir import TensorRole
from monet_opt.schedule.evaluator import evaluate, simulate_times
from monet_opt.schedule.memory import memory_model
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
    names: tuple[str, ...] = ()

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
    return stacks_of_cuts(model.realization, on)


def stacks_of_cuts(real: Realization, on: set[int] | frozenset[int]) -> tuple[tuple[int, ...], ...]:
    """Stacks (base node indices) of the cut vector whose fused pairs ``k`` (the
    ``k``-th and ``k+1``-th original node of π in ``real``) are ``on``."""
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


@dataclass(frozen=True, eq=False)
class _Inputs:
    """Fixed data of the fusion model: the realized problem under the fixed allocation.

    ``core`` and ``lat`` are per derived node (core index, latency on it); ``base`` the
    derived positions of original nodes (fusable in this order) and ``rank`` their
    index in ``base``; ``t_lbl``/``e_lbl`` the layer-by-layer makespan and energy.
    """

    problem: Problem
    real: Realization
    core: tuple[int, ...]
    lat: np.ndarray
    base: tuple[int, ...]
    rank: dict[int, int]
    t_lbl: float
    e_lbl: float


@dataclass(frozen=True, eq=False)
class _Times:
    """Time columns :math:`S_i, E_i, T` and the fetch phase :math:`\\phi_i + \\sum \\theta_e
    z_e` of every derived node."""

    S: list[int]
    E: list[int]
    T: int
    fetch: list[Affine]

    def phi(self, i: int) -> Affine:
        """:math:`\\Phi_i = S_i + \\phi_i + \\sum_{e \\to i} \\theta_e z_e` (fetch end)."""
        return Affine.of(self.S[i]) + self.fetch[i]


def _fusion_inputs(
    problem: Problem,
    alloc: tuple[int, ...],
    priority: tuple[float, ...] | None,
    checkpoints: frozenset[str] | None,
) -> _Inputs:
    """Realize the checkpoints (no stacks) and simulate the layer-by-layer reference."""
    dec = Decision(alloc, priority, (), checkpoints)
    real = realize(problem, dec)
    pb = real.problem
    c = pb.costs
    ids = {cid: k for k, cid in enumerate(c.core_ids)}
    core = tuple(ids[int(alloc[o])] for o in real.origin)
    lat = np.array([float(c.latency[i, core[i]]) for i in range(pb.n_nodes)])
    # fusable pairs: consecutive *original* nodes (recompute copies between them are
    # not part of the stack; realize.py validates stacks in base program order)
    base = tuple(d for d in range(pb.n_nodes) if real.recompute_for[d] is None)
    _, _, end0, _, writes0 = simulate_times(pb, list(core), None)
    t_lbl = float(max(end0.max(), max((w[1] for w in writes0.values()), default=0.0)))
    e_lbl = evaluate(problem, dec).energy.total
    return _Inputs(pb, real, core, lat, base, {d: k for k, d in enumerate(base)}, t_lbl, e_lbl)


def _stack_length_rows(mb: ModelBuilder, u: dict[int, int], max_stack: int) -> None:
    """:math:`\\sum_{k=j}^{j+L-1} u_k \\le L - 1`: at most ``max_stack`` nodes per stack."""
    for j in range(len(u) + 1 - max_stack):
        mb.le(Affine.total(Affine.of(u[k]) for k in range(j, j + max_stack)), max_stack - 1)


def _edge_inside_rows(
    mb: ModelBuilder, inp: _Inputs, u: dict[int, int], max_stack: int
) -> dict[tuple[int, int], int]:
    """One :math:`z_e` per fusable pair :math:`(p, q)` (original nodes less than ``max_stack``
    apart) with :math:`z_e \\le u_k\\ (p \\le k < q)` and
    :math:`z_e \\ge \\sum_{k=p}^{q-1} u_k - (q - p - 1)`."""
    rank = inp.rank
    pairs: dict[tuple[int, int], None] = {}
    for e in inp.problem.edges:
        if e.src in rank and e.dst in rank and 0 < rank[e.dst] - rank[e.src] < max_stack:
            pairs[e.src, e.dst] = None
    z: dict[tuple[int, int], int] = {}
    for p, q in pairs:
        zc = z[p, q] = mb.var(f"z[{p},{q}]", 0.0, 1.0)
        ks = range(rank[p], rank[q])
        for k in ks:
            mb.le(Affine.of(zc), Affine.of(u[k]))
        mb.ge(Affine.of(zc), Affine.total(Affine.of(u[k]) for k in ks) - (len(ks) - 1))
    return z


def _capacity_window_rows(
    mb: ModelBuilder,
    inp: _Inputs,
    u: dict[int, int],
    problem: Problem,
    alloc: tuple[int, ...],
    max_stack: int,
) -> None:
    """:math:`\\sum_{k=s}^{t-1} u_k \\le t - s - 1` for every minimal window
    :math:`[s, t]` (in base order) whose stack would overflow a core's on-chip memory
    (and, under memory capacities, whose members' working sets do not fit their
    memories together: :meth:`~monet_opt.schedule.memory.MemoryModel.group_fits`)."""
    acc = problem.accelerator
    nb = len(inp.base)
    mm = memory_model(problem) if problem.memory == "capacity" else None
    cidx = [problem.core_ids.index(int(a)) for a in alloc]
    for s0 in range(nb - 1):
        for t in range(s0 + 1, min(nb, s0 + max_stack)):
            members = [inp.real.origin[inp.base[j]] for j in range(s0, t + 1)]
            need = stack_memory_bits(problem, members, alloc)
            over = any(b > acc.core(cc).onchip_bits + 1e-6 for cc, b in need.items())
            if over or (mm is not None and not mm.group_fits(members, cidx)):
                mb.le(Affine.total(Affine.of(u[k]) for k in range(s0, t)), t - s0 - 1)
                break


def _fetch_terms(inp: _Inputs, z: dict[tuple[int, int], int]) -> tuple[list[Affine], Affine, float]:
    """Per node the fetch phase :math:`\\phi_i + \\sum_{e \\to i} \\theta_e z_e` (an edge
    via DRAM is fetched on chip only when fused), the link-energy change of fusing
    (link energy minus the DRAM read saved), and the most fusion adds to fetches."""
    pb = inp.problem
    xc, xe = pb.costs.xfer_cycles, pb.costs.xfer_energy
    r_pj = pb.costs.dram_read_pj_per_bit
    const = [0.0] * pb.n_nodes
    terms: list[dict[int, float]] = [{} for _ in range(pb.n_nodes)]
    energy: dict[int, float] = {}
    extra = 0.0
    for e in pb.edges:
        cyc = e.bits * float(xc[inp.core[e.src], inp.core[e.dst]])
        if not e.via_dram:
            const[e.dst] += cyc
        elif (e.src, e.dst) in z:
            zc = z[e.src, e.dst]
            terms[e.dst][zc] = terms[e.dst].get(zc, 0.0) + cyc
            extra += cyc
            de = e.bits * (float(xe[inp.core[e.src], inp.core[e.dst]]) - r_pj)
            energy[zc] = energy.get(zc, 0.0) + de
    fetch = [Affine(terms[i], const[i]) for i in range(pb.n_nodes)]
    return fetch, Affine(energy), extra


def _time_rows(mb: ModelBuilder, inp: _Inputs, v: _Times) -> None:
    """:math:`E_i \\ge \\Phi_i + d_i` and :math:`T \\ge E_i` for every node."""
    for i in range(inp.problem.n_nodes):
        mb.ge(Affine.of(v.E[i]), v.phi(i) + inp.lat[i])
        mb.ge(Affine.of(v.T), Affine.of(v.E[i]))


def _pipelined_rows(
    mb: ModelBuilder, inp: _Inputs, v: _Times, p: int, q: int, zc: int, big_m: float
) -> None:
    """Fusable :math:`e = (p \\to q)`: :math:`S_q \\ge E_p - M z_e`,
    :math:`S_q \\ge \\Phi_p + d_p/\\tau` and :math:`E_q \\ge E_p + d_q/\\tau`."""
    tiles = float(inp.problem.tiles)
    mb.ge(Affine.of(v.S[q]), Affine.of(v.E[p]) - big_m * Affine.of(zc))
    mb.ge(Affine.of(v.S[q]), v.phi(p) + inp.lat[p] / tiles)
    mb.ge(Affine.of(v.E[q]), Affine.of(v.E[p]) + inp.lat[q] / tiles)


def _edge_rows(
    mb: ModelBuilder, inp: _Inputs, v: _Times, z: dict[tuple[int, int], int], big_m: float
) -> None:
    """Per data-connected pair: :func:`_pipelined_rows` when fusable, else
    :math:`S_q \\ge E_p`."""
    seen: set[tuple[int, int]] = set()
    for e in inp.problem.edges:
        p, q = e.src, e.dst
        if (p, q) in seen:
            continue
        seen.add((p, q))
        if (p, q) in z:
            _pipelined_rows(mb, inp, v, p, q, z[p, q], big_m)
        else:
            mb.ge(Affine.of(v.S[q]), Affine.of(v.E[p]))


def _core_order_rows(mb: ModelBuilder, inp: _Inputs, v: _Times) -> None:
    """:math:`S_i \\ge E_{i'}` with :math:`i'` the node before :math:`i` on its core."""
    last_on: dict[int, int] = {}
    for i, cc in enumerate(inp.core):
        if cc in last_on:
            mb.ge(Affine.of(v.S[i]), Affine.of(v.E[last_on[cc]]))
        last_on[cc] = i


def _read_duration(
    inp: _Inputs, i: int, z: dict[tuple[int, int], int], src_of: list[dict[str, int]]
) -> tuple[Affine, list[Affine] | None]:
    """Duration of the DRAM read :math:`R_i` (a tensor fetched on chip when its edge is
    fused reads nothing) and the lower bounds :math:`1 - z_e` of its activity
    :math:`a_k` (``None`` when some tensor is always read: the task cannot vanish)."""
    pb = inp.problem
    dcyc = pb.costs.dram_cycles_per_bit
    dur = Affine()
    lbs: list[Affine] | None = []
    for t in pb.dram_read_tensors[i]:
        cyc = float(pb.graph.tensors[t].bits) * dcyc
        zc = z.get((src_of[i][t], i)) if t in src_of[i] else None
        if zc is None:
            dur = dur + cyc
            lbs = None
        else:
            dur = dur + cyc * (1 - Affine.of(zc))
            if lbs is not None:
                lbs.append(1 - Affine.of(zc))
    return dur, lbs


def _write_duration(
    mb: ModelBuilder,
    inp: _Inputs,
    i: int,
    z: dict[tuple[int, int], int],
    consumers: dict[tuple[int, str], list[int]],
) -> tuple[Affine, list[Affine] | None, Affine]:
    """Duration of the DRAM write :math:`W_i`, the activity lower bounds
    :math:`\\omega_t` (``None``: the task cannot vanish) and the write energy
    :math:`\\sum_t b_t\\, w_{pJ}\\, \\omega_t`.

    A tensor is still written (:math:`\\omega_t \\ge 1 - z_e` for each DRAM consumer
    :math:`e`) unless every consumer is fused; weights, optimizer state, graph outputs
    and tensors with a non-fusable consumer are always written.
    """
    pb = inp.problem
    g = pb.graph
    dcyc, w_pj = pb.costs.dram_cycles_per_bit, pb.costs.dram_write_pj_per_bit
    dur = Affine()
    energy = Affine()
    lbs: list[Affine] | None = []
    for t in pb.dram_write_tensors[i]:
        bits = float(g.tensors[t].bits)
        cons = consumers.get((i, t), [])
        fused = [
            z[p, q] for p, q in ((pb.edges[k].src, pb.edges[k].dst) for k in cons) if (p, q) in z
        ]
        if (
            g.tensors[t].role in (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE)
            or not cons
            or len(fused) < len(cons)
        ):
            dur = dur + bits * dcyc
            lbs = None
            continue
        om = mb.var(f"w[{i},{t}]", 0.0, 1.0)
        for f in fused:
            mb.ge(Affine.of(om), 1 - Affine.of(f))
        dur = dur + bits * dcyc * Affine.of(om)
        energy = energy + bits * w_pj * Affine.of(om)
        if lbs is not None:
            lbs.append(Affine.of(om))
    return dur, lbs, energy


def _queue_rows(
    mb: ModelBuilder,
    inp: _Inputs,
    v: _Times,
    task: tuple[int, int],
    gate: int,
    s: int,
    a: int | None,
    end: Affine,
    prev_end: Affine | None,
    big_m: float,
) -> None:
    """DMA task ``task = (kind, i)`` starting at column ``s`` and ending at ``end``:
    :math:`s_{k+1} \\ge s_k + \\mathrm{dur}_k`, :math:`T \\ge s_k + \\mathrm{dur}_k` and
    the gating rows (``gate``: the node a read waits for, or -1), relaxed by
    :math:`M (1 - a_k)` when the task may vanish."""
    kind, i = task
    if prev_end is not None:
        mb.ge(Affine.of(s), prev_end)
    mb.ge(Affine.of(v.T), end)
    slack: Affine | float = big_m * (1 - Affine.of(a)) if a is not None else 0.0
    if kind == 0:
        if gate >= 0:
            mb.ge(Affine.of(s), Affine.of(v.E[gate]) - slack)
        mb.ge(Affine.of(v.S[i]), end - slack)
    else:
        mb.ge(Affine.of(s), Affine.of(v.E[i]) - slack)


def _dram_task_rows(
    mb: ModelBuilder, inp: _Inputs, v: _Times, z: dict[tuple[int, int], int], big_m: float
) -> Affine:
    """DMA tasks in the evaluator's queue order: :math:`\\omega_t`, activity :math:`a_k
    \\ge` its lower bounds, start :math:`s_k` and :func:`_queue_rows`.

    Returns the write energy :math:`\\sum_t b_t w_{pJ} \\omega_t`.
    """
    pb = inp.problem
    consumers: dict[tuple[int, str], list[int]] = {}
    src_of: list[dict[str, int]] = [{} for _ in range(pb.n_nodes)]
    for k, e in enumerate(pb.edges):
        if e.via_dram:
            consumers.setdefault((e.src, e.tensor), []).append(k)
        src_of[e.dst][e.tensor] = e.src
    energy = Affine()
    prev_end: Affine | None = None
    order = pb.program_order()
    gate = pb.read_gate(order)
    for kind, i in pb.event_sequence(order):
        if kind == 1:
            continue
        if kind == 0:
            dur, lbs = _read_duration(inp, i, z, src_of)
        else:
            dur, lbs, w_energy = _write_duration(mb, inp, i, z, consumers)
            energy = energy + w_energy
        s = mb.var(f"s[{kind},{i}]")
        a = None
        if lbs:  # the task vanishes when all its tensors stay on chip
            a = mb.var(f"a[{kind},{i}]", 0.0, 1.0)
            for lb in lbs:
                mb.ge(Affine.of(a), lb)
        end = Affine.of(s) + dur
        _queue_rows(mb, inp, v, (kind, i), gate[i], s, a, end, prev_end, big_m)
        prev_end = end
    return energy


def _objective(
    mb: ModelBuilder, inp: _Inputs, T: int, energy: Affine, objective: str, weight: float
) -> tuple[float, float]:
    """Minimize :math:`T`, the step energy, or :math:`w T / T_0 + (1 - w) E / E_0`.

    Returns the (latency, energy) weights of the objective.
    """
    if objective == "latency":
        mb.minimize(Affine.of(T))
        return (1.0, 0.0)
    if objective == "energy":
        mb.minimize(energy)
        return (0.0, 1.0)
    scale = (weight / inp.t_lbl, (1.0 - weight) / inp.e_lbl)
    mb.minimize(scale[0] * Affine.of(T) + scale[1] * energy)
    return scale


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
    alloc = tuple(allocation) if allocation is not None else greedy_decision(problem).allocation
    # the model is built without memory capacities (SolveResult says so under them)
    inp = _fusion_inputs(problem.unbounded, alloc, _tuple(priority), checkpoints)
    n = inp.problem.n_nodes

    mb = ModelBuilder()
    u = {k: mb.binary(f"u[{k}]") for k in range(len(inp.base) - 1)}
    _stack_length_rows(mb, u, max_stack)
    z = _edge_inside_rows(mb, inp, u, max_stack)
    _capacity_window_rows(mb, inp, u, problem, alloc, max_stack)
    fetch, link_energy, extra_fetch = _fetch_terms(inp, z)
    big_m = inp.t_lbl + extra_fetch + 1.0
    S = [mb.var(f"S[{i}]") for i in range(n)]
    E = [mb.var(f"E[{i}]") for i in range(n)]
    v = _Times(S, E, mb.var("T"), fetch)
    _time_rows(mb, inp, v)
    _edge_rows(mb, inp, v, z, big_m)
    _core_order_rows(mb, inp, v)
    write_energy = _dram_task_rows(mb, inp, v, z, big_m)
    mb.le(Affine.of(v.T), big_m)
    # energy = E_lbl + link and write terms - (write energy of the omega at 1)
    energy = link_energy + write_energy + (inp.e_lbl - sum(write_energy.terms.values()))
    scale = _objective(mb, inp, v.T, energy, objective, weight)
    h = mb.to_highs(options)
    return FusionModel(
        base=problem,
        realization=inp.real,
        allocation=alloc,
        priority=_tuple(priority),
        checkpoints=checkpoints,
        objective=objective,
        u=u,
        makespan=v.T,
        n_vars=mb.n_vars,
        n_cons=mb.n_cons,
        n_binaries=len(u),
        build_seconds=time.perf_counter() - t0,
        highs=h,
        scale=scale,
        names=tuple(mb.names),
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
    greedy: bool = True,
) -> dict[str, dict[str, object]]:
    """Layer-by-layer, greedy (cut when the weights overflow; skipped when ``greedy`` is
    false, e.g. when the time limit has passed) and a fixed stack list, each evaluated by
    the evaluator: latency, energy, stacks, capacity violations."""
    cases: dict[str, tuple[tuple[int, ...], ...]] = {"layer_by_layer": ()}
    if greedy:
        cases["greedy"] = greedy_stacks(problem, allocation, priority, max_stack, checkpoints)
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
    fixed: Decision | None = None,
    objective: str = "latency",
    options: SolverOptions | None = None,
    warm_start: Decision | None = None,
    *,
    weight: float = 0.5,
    max_stack: int = 8,
) -> SolveResult:
    """Optimal layer stacks for a fixed allocation, π and checkpoint set.

    Parameters
    ----------
    problem
        The base problem.
    fixed
        ``allocation`` (empty: the greedy allocation), ``priority`` (π) and
        ``checkpoints`` (``None``: store-all) are fixed; ``stacks`` is ignored.
    objective
        ``"latency"`` (makespan, cycles), ``"energy"`` (pJ) or ``"mix"``
        (``weight·T/T0 + (1-weight)·E/E0`` against layer by layer).
    options
        HiGHS options (``time_limit`` for this call).
    warm_start
        A decision whose ``stacks`` (e.g. the best GA answer) fix the fusion binaries of
        a start that HiGHS completes (``setSolution``).
    weight, max_stack
        Weight of the ``mix`` objective; most nodes in one stack.

    Returns
    -------
    SolveResult
        The decision carries the stacks; ``simulated`` is the evaluator's value of the
        objective; the latency bound also uses the load of the busiest core, which no
        stacking changes; ``extra`` holds the stack names and overflow count.
    """
    opts = options or SolverOptions()
    fixed = fixed or Decision(())
    alloc = fixed.allocation or greedy_decision(problem).allocation
    model = build_fusion_model(
        problem,
        allocation=alloc,
        priority=fixed.priority,
        checkpoints=fixed.checkpoints,
        objective=objective,
        weight=weight,
        max_stack=max_stack,
        options=opts.highs(),
    )
    partial = model.start(warm_start.stacks) if warm_start is not None else None
    st = solve_model(model.highs, partial=partial)  # type: ignore[arg-type]
    stacks = model.decode(st.values) if st.has_solution else ()
    dec = Decision(model.allocation, model.priority, stacks, fixed.checkpoints)
    extra_bounds = {}
    if objective == "latency":
        extra_bounds["core_load"] = _core_load(problem, dec)
    res = SolveResult.build(
        problem,
        formulation="fusion",
        objective_name=objective,
        decision=dec,
        simulated_of=lambda s: _objective_value(objective, model.scale, s.latency, s.energy.total),
        milp_objective=st.objective if st.has_solution else None,
        milp_bound=st.bound,
        solver_status=st.status,
        mip_gap=opts.mip_gap,
        scope="layer stacks for the fixed allocation, program order π and checkpoints",
        n_vars=model.n_vars,
        n_cons=model.n_cons,
        n_binaries=model.n_binaries,
        build_seconds=model.build_seconds,
        solve_seconds=st.seconds,
        extra_bounds=extra_bounds,
        extra={"tiles": problem.tiles, "max_stack": max_stack},
    )
    sched = res.schedule
    res = replace(
        res,
        extra={
            **res.extra,
            "stacks": stack_names(problem, stacks),
            "stack_overflow": int(sched.stats["stack_overflow"]),
        },
    )
    opts.report("fusion MILP", res.simulated, res.bound)
    return res


def _core_load(problem: Problem, dec: Decision) -> float:
    """Cycles of the busiest core under the decision's allocation and checkpoints (a
    makespan lower bound no stacking changes: in-order cores run each node whole)."""
    real = realize(problem, Decision(dec.allocation, dec.priority, (), dec.checkpoints))
    pb = real.problem
    ids = {cid: k for k, cid in enumerate(pb.core_ids)}
    load: dict[int, float] = {}
    for d, cid in enumerate(real.expand(dec.allocation)):
        k = ids[int(cid)]
        load[k] = load.get(k, 0.0) + float(pb.costs.latency[d, k])
    return max(load.values(), default=0.0)
