r"""Exact core allocation under memory capacities, for a fixed placement (MILP, HiGHS).

The allocation MILP of :mod:`monet_opt.formulations.allocation` extended to the capacity
semantics of :mod:`monet_opt.schedule.memory` and :mod:`monet_opt.schedule.timing`, for a
fixed :class:`~monet_opt.schedule.memory.Placement` :math:`P` (spilled tensors, prefetch
windows :math:`w_j`, write-back windows :math:`w'_i`).  With the allocation :math:`x`
every per-node quantity is linear in :math:`x`: for node :math:`i` on core :math:`c`,
:math:`d_{ic}` on-chip latency, :math:`\sigma_{ic}` in-node stream cycles,
:math:`\rho_{ic}, \omega_{ic}` DMA read / write cycles (DRAM operands not streamed,
plus spilled inputs / outputs), :math:`h_{ic}^{m}` bits of its working set in memory
:math:`m`, and the activity flags of its DMA tasks and stream.

Variables (besides those of the allocation MILP)
-------------------------------------------------
Port chain :math:`p_k` for every port event :math:`k` (read, node, write) in queue order;
write starts :math:`s^W_i`; prefix maxima :math:`PE_q` (latest end of the nodes before
position :math:`q`), :math:`DR_q` (latest end of the writes whose window ends before
:math:`q`), :math:`FR_{c,q}` (latest free of a tensor of core :math:`c` whose last
consumer is before :math:`q`); same-core flags :math:`y_{ajc} \le x_{ac}, x_{jc}`.

Constraints (``_port_rows``, ``_gate_rows``, ``_capacity_rows``; each is the evaluator's
rule written with ≥, inactive tasks relaxed by big-M on their activity :math:`a(x)`)
-----------------------------------------------------------------------------------
.. math::

   E_i \ge S_i + \tau_i + d_i(x), \qquad E_i \ge S_i + \sigma_i(x)

   p_{k+1} \ge p_k + \mathrm{dur}_k(x) \text{ (active reads and writes)},\quad
   p_{k+1} \ge S_i + \sigma_i(x) - M(1 - a^\sigma_i),\quad
   S_i \ge p_k - M(1 - a^\sigma_i) \text{ (streaming node)}

   p_{R_j} \ge PE_{\mathrm{pos}(j) - w_j} - M(1 - a^R_j),\qquad
   S_j \ge p_{R_j} + \rho_j(x) - M(1 - a^R_j) \quad (G2)

   s^W_i \ge E_i,\ s^W_i \ge p_k,\ p_{k+1} \ge s^W_i + \omega_i(x) - M(1 - a^W_i),\quad
   DR_{\mathrm{pos}(i) + w'_i + 1} \ge s^W_i + \omega_i(x) - M(1 - a^W_i),\quad
   S_k \ge DR_{\mathrm{pos}(k)} \quad (G3)

   FR_{c,q+1} \ge F_j - M(1 - x_{ac}) \text{ for a live tensor of } a
   \text{ last consumed by } j \text{ at } q,\quad S_i \ge FR_{c,\mathrm{pos}(i)} -
   M(1 - x_{ic}) \quad (G1)

   \sum \text{live}_t\, x_{a c} - \sum b_t\, y_{ajc} + \sum h^m_{ic} x_{ic}
   + \text{prefetch and write-back buffers} \le \mathrm{cap}_m
   \quad \forall m, q \quad (\text{capacity})

and the allocation rows of the base model (assignment, ties, fetch times, precedence,
in-order cores, core-load cut).  Allocations for which the placement would have to
spill a tensor it does not (a node streaming a live tensor) are excluded.

Why it is exact
---------------
For a fixed allocation the rows are the evaluator's recurrences of
:mod:`monet_opt.schedule.timing` with ≥ (the prefix maxima are monotone and the minimal
solution takes the maxima exactly; a task with no bits at the chosen core has activity
0 and neither waits for nor holds the port), and the capacity rows are
:func:`monet_opt.schedule.memory.demand` of the placement at every position, linear in
:math:`x` (:math:`y_{ajc}` equals :math:`x_{ac} x_{jc}` because its coefficient in a ≤
row is negative).  So the MILP optimum is the evaluator's best makespan over the
allocations the placement allows (tests: brute force).  Scope: the program order π, the
placement and layer-by-layer execution (no fused stacks) are inputs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monet_opt.formulations._builder import (
    Affine,
    MipStatus,
    ModelBuilder,
    solve_model,
    too_large,
)
from monet_opt.formulations.allocation_rows import (
    Cols,
    assignment_columns,
    assignment_rows,
    core_load_cut,
    decode_allocation,
    fetch_time_rows,
    fixed_cores,
    in_order_core_rows,
    link_columns,
    precedence_rows,
    tie_rows,
)
from monet_opt.schedule.memory import Placement, demand, memory_model
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.timing import simulate

__all__ = ["CapacityAllocationModel", "build_capacity_model", "solve_capacity_allocation"]


@dataclass
class CapacityAllocationModel:
    """A built capacity allocation MILP with the columns needed to decode and warm it."""

    builder: ModelBuilder
    x: dict[tuple[int, int], int]
    S: list[int]
    E: list[int]
    T: int
    tau: dict[int, int]
    eta: dict[int, int]
    port: dict[tuple[int, int], int]  # (kind, node) -> port column at that event
    write: dict[int, int]
    fixed: dict[int, int]
    order: tuple[int, ...]
    placement: Placement
    forbidden: frozenset[tuple[int, int]]


def _node_tables(problem: Problem, placement: Placement):  # noqa: ANN202 - internal bundle
    """Per (node, core index): latency, stream cycles, DMA read / write cycles (the
    placement's spills included), working sets per memory row, buffer bits."""
    mm = memory_model(problem)
    n = problem.n_nodes
    nc = len(problem.core_ids)
    c = problem.costs
    dcyc = c.dram_cycles_per_bit
    spilled = mm.spill_mask(placement.spills or ())
    sp_in = np.zeros((n, 3))  # spilled input bits per operand
    if spilled.any() and len(mm.e_tensor):
        sp = spilled[mm.e_tensor]
        np.add.at(sp_in, (mm.e_dst[sp], mm.e_operand[sp]), mm.e_bits[sp])
    sp_out = np.zeros(n)
    if spilled.any():
        np.add.at(sp_out, mm.t_src[spilled], mm.t_bits[spilled])
    stream = np.zeros((n, nc))
    rd = np.zeros((n, nc))
    wr = np.zeros((n, nc))
    rbuf = np.zeros((n, nc, 3))  # prefetch buffer bits per operand slot
    for i in range(n):
        for k in problem.allowed_idx[i]:
            oc = c.details[i][k]
            strm = mm.streamed[i, k]
            stream[i, k] = (
                float(getattr(oc, "dram_read_bits", 0.0) or 0.0)
                + float(getattr(oc, "dram_write_bits", 0.0) or 0.0)
            ) * dcyc
            rbuf[i, k] = (mm.reads[i] + sp_in[i]) * ~strm
            rd[i, k] = rbuf[i, k].sum() * dcyc
            wr[i, k] = 0.0 if strm[2] else (mm.writes[i] + sp_out[i]) * dcyc
    return mm, spilled, stream, rd, wr, rbuf


def build_capacity_model(
    problem: Problem,
    placement: Placement,
    upper_bound: float,
    *,
    order: Sequence[int] | None = None,
    objective: str = "latency",
    symmetry_breaking: bool = True,
) -> CapacityAllocationModel:
    """Build the MILP of the module docstring for a complete placement (spills incl. the
    forced ones, windows).

    Raises
    ------
    ValueError
        If the problem has fused stacks (pipelined edges) or the placement is incomplete.
    """
    if any(e.pipelined for e in problem.edges):
        raise ValueError("the capacity allocation MILP handles layer-by-layer problems only")
    if placement.spills is None or not placement.read_window:
        raise ValueError("the capacity allocation MILP needs a complete placement")
    pi = tuple(order) if order is not None else problem.program_order()
    n = problem.n_nodes
    pos = np.empty(n, dtype=int)
    pos[np.asarray(pi, dtype=int)] = np.arange(n)
    M = float(upper_bound)
    mm, spilled, stream, rd, wr, rbuf = _node_tables(problem, placement)
    rw = np.asarray(placement.read_window, dtype=int)
    ww = np.asarray(placement.write_window, dtype=int)
    mb = ModelBuilder()
    fixed = fixed_cores(problem, pi, symmetry_breaking)
    x = assignment_columns(mb, problem, fixed)
    T = mb.var("T", 0.0, M if objective == "latency" else math.inf)
    S = [mb.var(f"S[{i}]", 0.0, M) for i in range(n)]
    E = [mb.var(f"E[{i}]", 0.0, M) for i in range(n)]
    tau, eta = link_columns(mb, problem, exclude=spilled_edges(problem, mm, spilled))
    v = Cols(problem, x, S, E, T, tau, eta)
    assignment_rows(mb, v)
    tie_rows(mb, v)
    fetch_time_rows(mb, v)
    forbidden = _forbid_forced(mb, v, mm, spilled)

    def lin(table: np.ndarray, i: int) -> Affine:
        return Affine.total(float(table[i, c]) * v.xv(i, c) for c in problem.allowed_idx[i])

    def active(table: np.ndarray, i: int) -> Affine:
        return Affine.total(v.xv(i, c) for c in problem.allowed_idx[i] if table[i, c] > 0)

    dram_preds = _dram_preds(problem, mm, spilled)
    for j in range(n):  # durations
        mb.ge(Affine.of(E[j]) - Affine.of(S[j]) - v.fetch(j) - v.work(j), 0.0)
        mb.ge(Affine.of(E[j]) - Affine.of(S[j]) - lin(stream, j), 0.0)
        precedence_rows(mb, v, j)
        for q in dram_preds[j]:  # a spilled input: its producer
            mb.ge(Affine.of(S[j]), Affine.of(E[q]))
    port, write = _port_rows(mb, v, pi, pos, rw, ww, rd, wr, stream, lin, active, M)
    _gate_rows(mb, v, pi, pos, mm, spilled, M)
    for c in range(problem.costs.latency.shape[1]):
        on_c = [i for i in pi if c in problem.allowed_idx[i]]
        in_order_core_rows(mb, v, on_c, c, fixed, M)
        core_load_cut(mb, v, on_c, c)
    for i in range(n):
        if not problem.succs[i]:
            mb.ge(Affine.of(T), Affine.of(E[i]))
    _capacity_rows(mb, v, pos, mm, spilled, rbuf, rw, ww, wr)
    if objective == "latency":
        mb.minimize(Affine.of(T))
    else:
        mb.minimize(_energy(v, rd, wr, stream))
    return CapacityAllocationModel(
        mb, x, S, E, T, tau, eta, port, write, fixed, pi, placement, forbidden
    )


def spilled_edges(problem: Problem, mm, spilled: np.ndarray) -> frozenset[int]:  # noqa: ANN001
    """Indices of on-chip edges whose tensor is spilled (no core-to-core fetch)."""
    names = {t for t, s in zip(mm.tensors, spilled, strict=True) if s}
    return frozenset(k for k, e in enumerate(problem.edges) if not e.via_dram and e.tensor in names)


def _dram_preds(problem: Problem, mm, spilled: np.ndarray) -> list[list[int]]:  # noqa: ANN001
    """Per node, the producers of its on-chip inputs that the placement spills (one pass
    over the edges, in edge order)."""
    names = {t for t, s in zip(mm.tensors, spilled, strict=True) if s}
    out: list[list[int]] = [[] for _ in range(problem.n_nodes)]
    for e in problem.edges:
        if e.tensor in names and not e.via_dram:
            out[e.dst].append(e.src)
    return out


def _forbid_forced(mb: ModelBuilder, v: Cols, mm, spilled: np.ndarray) -> frozenset:  # noqa: ANN001
    """:math:`x_{ic} = 0` where node ``i`` on core ``c`` would stream a tensor the placement
    keeps on chip (the placement would have to spill it)."""
    pb = v.problem
    out: set[tuple[int, int]] = set()
    kept = ~spilled
    for t in np.flatnonzero(kept):
        a = int(mm.t_src[t])
        for c in pb.allowed_idx[a]:
            if mm.streamed[a, c, 2]:
                out.add((a, c))
    for k in range(len(mm.e_tensor)):
        if kept[mm.e_tensor[k]]:
            j, op = int(mm.e_dst[k]), int(mm.e_operand[k])
            for c in pb.allowed_idx[j]:
                if mm.streamed[j, c, op]:
                    out.add((j, c))
    for i, c in out:
        mb.eq(v.xv(i, c), 0.0)
    return frozenset(out)


def _port_rows(mb, v, pi, pos, rw, ww, rd, wr, stream, lin, active, M):  # noqa: ANN001, ANN202
    """The DRAM port in queue order (reads, streaming nodes, writes) and G2."""
    pb = v.problem
    n = pb.n_nodes
    keys: list[tuple[int, int, int]] = []
    for i in range(n):
        p = int(pos[i])
        if rd[i].max() > 0:
            keys.append((p - int(rw[i]), 0, i))
        if stream[i].max() > 0:
            keys.append((p, 1, i))
        if wr[i].max() > 0:
            keys.append((p, 2, i))
    keys.sort(key=lambda k: (k[0], k[1], int(pos[k[2]])))  # program order within a slot
    PE = [mb.var(f"PE[{q}]", 0.0, M) for q in range(n + 1)]  # latest end before position q
    for q in range(n):
        mb.ge(Affine.of(PE[q + 1]), Affine.of(PE[q]))
        mb.ge(Affine.of(PE[q + 1]), Affine.of(v.E[pi[q]]))
    port: dict[tuple[int, int], int] = {}
    write: dict[int, int] = {}
    prev_end: Affine | None = None  # port free time after the previous event
    for _p, kind, i in keys:
        pk = port[kind, i] = mb.var(f"port[{kind},{i}]", 0.0, M)
        if prev_end is not None:
            mb.ge(Affine.of(pk), prev_end)
        if kind == 0:
            a = active(rd, i)
            q = int(pos[i] - rw[i])
            mb.ge(Affine.of(pk) - Affine.of(PE[q]) - M * a, -M)
            mb.ge(Affine.of(v.S[i]) - Affine.of(pk) - lin(rd, i) - M * a, -M)
            prev_end = Affine.of(pk) + lin(rd, i)
        elif kind == 1:
            a = active(stream, i)
            mb.ge(Affine.of(v.S[i]) - Affine.of(pk) - M * a, -M)
            end = mb.var(f"streamend[{i}]", 0.0, M)
            mb.ge(Affine.of(end), Affine.of(pk))
            mb.ge(Affine.of(end) - Affine.of(v.S[i]) - lin(stream, i) - M * a, -M)
            prev_end = Affine.of(end)
        else:
            a = active(wr, i)
            sw = write[i] = mb.var(f"W[{i}]", 0.0, M)
            mb.ge(Affine.of(sw), Affine.of(pk))
            mb.ge(Affine.of(sw) - Affine.of(v.E[i]) - M * a, -M)
            end = mb.var(f"writeend[{i}]", 0.0, M)
            mb.ge(Affine.of(end), Affine.of(pk))
            mb.ge(Affine.of(end) - Affine.of(sw) - lin(wr, i) - M * a, -M)
            mb.ge(Affine.of(v.T), Affine.of(end))
            prev_end = Affine.of(end)
    if prev_end is not None:
        mb.ge(Affine.of(v.T), prev_end)
    # G3: a node waits for the writes whose window ended before its position
    DR = [mb.var(f"DR[{q}]", 0.0, M) for q in range(n + 1)]
    for q in range(n):
        mb.ge(Affine.of(DR[q + 1]), Affine.of(DR[q]))
    for i, sw in write.items():
        dl = min(int(pos[i] + ww[i]) + 1, n)
        end = Affine.of(sw) + lin(wr, i)
        mb.ge(Affine.of(DR[dl]) - end - M * active(wr, i), -M)
    for i in range(n):
        mb.ge(Affine.of(v.S[i]), Affine.of(DR[int(pos[i])]))
    return port, write


def _gate_rows(mb, v, pi, pos, mm, spilled, M) -> None:  # noqa: ANN001
    """G1: a node waits until the live tensors of its core consumed for the last time
    before its position have been fetched (same core: the consumer ended)."""
    pb = v.problem
    n = pb.n_nodes
    nc = pb.costs.latency.shape[1]
    last: dict[int, int] = {}
    for k in range(len(mm.e_tensor)):
        t = int(mm.e_tensor[k])
        if spilled[t]:
            continue
        j = int(mm.e_dst[k])
        if t not in last or pos[j] > pos[last[t]]:
            last[t] = j
    by_pos: dict[int, list[tuple[int, int]]] = {}
    for t, j in last.items():
        by_pos.setdefault(int(pos[j]), []).append((int(mm.t_src[t]), j))
    for c in range(nc):
        if not any(c in pb.allowed_idx[a] for lst in by_pos.values() for a, _ in lst):
            continue
        FR = [mb.var(f"FR[{c},{q}]", 0.0, M) for q in range(n + 1)]
        for q in range(n):
            mb.ge(Affine.of(FR[q + 1]), Affine.of(FR[q]))
            for a, j in by_pos.get(q, ()):
                if c in pb.allowed_idx[a]:
                    fetched = Affine.of(v.S[j]) + v.fetch(j)
                    mb.ge(Affine.of(FR[q + 1]) - fetched - M * v.xv(a, c), -M)
        for i in range(n):
            if c in pb.allowed_idx[i]:
                mb.ge(Affine.of(v.S[i]) - Affine.of(FR[int(pos[i])]) - M * v.xv(i, c), -M)


def _capacity_rows(mb, v, pos, mm, spilled, rbuf, rw, ww, wr) -> None:  # noqa: ANN001
    """Demand of every memory at every position ≤ its capacity (linear in x)."""
    pb = v.problem
    n = pb.n_nodes
    rows_of = mm.slot_row  # (n_cores, 3)
    terms: dict[tuple[int, int], list[Affine]] = {}  # (memory row, position) -> terms
    cap_max: dict[tuple[int, int], float] = {}

    def add(row: int, lo: int, hi: int, term: Affine, worst: float) -> None:
        for q in range(max(lo, 0), min(hi, n - 1) + 1):
            terms.setdefault((row, q), []).append(term)
            cap_max[(row, q)] = cap_max.get((row, q), 0.0) + max(worst, 0.0)

    kept = ~spilled
    last = np.full(len(mm.tensors), -1)
    if len(mm.e_tensor):
        ek = kept[mm.e_tensor]
        np.maximum.at(last, mm.e_tensor[ek], pos[mm.e_dst[ek]])
    for t in np.flatnonzero(kept & (last >= 0)):
        a = int(mm.t_src[t])
        for c in pb.allowed_idx[a]:
            row = int(rows_of[c, 2])
            if row >= 0:
                b = float(mm.t_tile_bits[t])
                add(row, int(pos[a]) + 1, int(last[t]), b * v.xv(a, c), b)
    for k in range(len(mm.e_tensor)):  # in-place reads of same-core, same-memory consumers
        t = int(mm.e_tensor[k])
        if not kept[t]:
            continue
        a, j, op = int(mm.t_src[t]), int(mm.e_dst[k]), int(mm.e_operand[k])
        for c in set(pb.allowed_idx[a]) & set(pb.allowed_idx[j]):
            row = int(rows_of[c, op])
            if row < 0 or row != rows_of[c, 2] or mm.streamed[j, c, op]:
                continue
            y = mb.var(f"y[{k},{c}]", 0.0, 1.0)
            mb.le(Affine.of(y), v.xv(a, c))
            mb.le(Affine.of(y), v.xv(j, c))
            add(row, int(pos[j]), int(pos[j]), -float(mm.e_bits[k]) * Affine.of(y), 0.0)
    for i in range(n):
        for c in pb.allowed_idx[i]:
            for op in range(3):
                row = int(rows_of[c, op])
                if row < 0:
                    continue
                w = float(mm.work[i, c, op])
                if w > 0:
                    add(row, int(pos[i]), int(pos[i]), w * v.xv(i, c), w)
                b = float(rbuf[i, c, op])
                if b > 0 and rw[i] > 0:
                    add(row, int(pos[i] - rw[i]), int(pos[i]) - 1, b * v.xv(i, c), b)
            row = int(rows_of[c, 2])
            bw = wr[i, c] / max(pb.costs.dram_cycles_per_bit, 1e-300)
            if row >= 0 and bw > 0 and ww[i] > 0:
                add(row, int(pos[i]) + 1, int(pos[i] + ww[i]), bw * v.xv(i, c), bw)
    for (row, _q), ts in terms.items():
        if cap_max[(row, _q)] <= mm.capacity[row] * (1 + 1e-9):
            continue  # can never overflow
        mb.le(Affine.total(ts), float(mm.capacity[row]) * (1 + 1e-9) + 1e-6)


def _energy(v: Cols, rd: np.ndarray, wr: np.ndarray, stream: np.ndarray) -> Affine:
    pb = v.problem
    c = pb.costs
    dcyc = max(c.dram_cycles_per_bit, 1e-300)
    terms = [Affine.of(col) for col in v.eta.values()]
    for i in range(pb.n_nodes):
        for k in pb.allowed_idx[i]:
            oc = c.details[i][k]
            dram = float(getattr(oc, "dram_energy", 0.0) or 0.0)
            pj = (
                c.energy[i, k]
                + rd[i, k] / dcyc * c.dram_read_pj_per_bit
                + wr[i, k] / dcyc * c.dram_write_pj_per_bit
                + dram
            )
            terms.append(float(pj) * v.xv(i, k))
    return Affine.total(terms)


def warm_vector(
    problem: Problem, model: CapacityAllocationModel, allocation: Sequence[int]
) -> np.ndarray | None:
    """A full start vector of an allocation (its simulated times), or ``None`` when the
    allocation is excluded by the placement."""
    ids = problem.core_ids
    cidx = [ids.index(int(a)) for a in allocation]
    if any((i, c) in model.forbidden for i, c in enumerate(cidx)):
        return None
    t = simulate(problem, cidx, model.order, model.placement)
    vals = np.zeros(model.builder.n_vars)
    names = model.builder.names
    for (i, c), col in model.x.items():
        vals[col] = 1.0 if cidx[i] == c else 0.0
    for i in range(problem.n_nodes):
        vals[model.S[i]] = t.start[i]
        vals[model.E[i]] = t.end[i]
    xc, xe = problem.costs.xfer_cycles, problem.costs.xfer_energy
    for k, col in model.tau.items():
        e = problem.edges[k]
        vals[col] = e.bits * xc[cidx[e.src], cidx[e.dst]]
    for k, col in model.eta.items():
        e = problem.edges[k]
        vals[col] = e.bits * xe[cidx[e.src], cidx[e.dst]]
    vals[model.T] = t.makespan
    # the remaining columns (port chain, prefix maxima, flags) are left to HiGHS: it
    # completes a start from the fixed allocation columns
    del names
    return vals


def solve_capacity_allocation(
    problem: Problem,
    placement: Placement,
    objective: str,
    options: dict[str, object],
    warm: Sequence[int],
    upper_bound: float,
    order: Sequence[int] | None = None,
) -> tuple[MipStatus, CapacityAllocationModel, tuple[int, ...], float]:
    """Build and solve the model; returns (status, model, allocation, build seconds)."""
    t0 = time.perf_counter()
    model = build_capacity_model(problem, placement, upper_bound, order=order, objective=objective)
    build = time.perf_counter() - t0
    skipped = too_large(model.builder)
    if skipped is not None:  # the start stands (the caller re-simulates it)
        return skipped, model, tuple(warm), build
    h = model.builder.to_highs(options)
    partial = None
    ids = problem.core_ids
    cidx = [ids.index(int(a)) for a in warm]
    if not any((i, c) in model.forbidden for i, c in enumerate(cidx)):
        partial = {col: (1.0 if cidx[i] == c else 0.0) for (i, c), col in model.x.items()}
        if any(cidx[i] != c for i, c in model.fixed.items() if (i, c) in model.x):
            partial = None
    st = solve_model(h, partial=partial)
    alloc = decode_allocation(problem, model, st.values) if st.values is not None else tuple(warm)  # type: ignore[arg-type]
    return st, model, alloc, build


def placement_demand_fits(problem: Problem, cidx: Sequence[int], placement: Placement) -> bool:
    """Whether a placement keeps every memory within capacity for an allocation."""
    return not demand(problem, cidx, placement).overflow()


def capacity_upper_bound(problem: Problem, placement: Placement) -> float:
    """A makespan no allocation exceeds under the placement: every node, fetch, stream
    and DMA task serialized at its slowest (the big-M of the model)."""
    _mm, _sp, stream, rd, wr, _rb = _node_tables(problem, placement)
    lat = problem.costs.latency
    worst = np.where(np.isfinite(lat), lat, 0.0).max(axis=1).sum()
    xmax = float(problem.costs.xfer_cycles.max()) if problem.costs.xfer_cycles.size else 0.0
    fetch = sum(e.bits * xmax for e in problem.edges if not e.via_dram)
    return (
        float(
            worst + fetch + stream.max(axis=1).sum() + rd.max(axis=1).sum() + wr.max(axis=1).sum()
        )
        * (1 + 1e-9)
        + 1.0
    )
