r"""Exact tensor placement (keep on chip / spill to DRAM) for a fixed allocation (MILP).

Under the capacity semantics of :mod:`monet_opt.schedule.memory` a decision says which
tensors are **spilled** (written to DRAM by their producer, read back by each consumer
over the shared DRAM port) and which stay in their producer's memory until their last
consumer has fetched them.  A training activation kept for the backward pass is thus
either kept on chip or stored in DRAM; dropping it (recompute) is the checkpointing
decision of :mod:`monet_opt.formulations.checkpointing`.  This module chooses the spill
set exactly, for a fixed allocation, program order :math:`\pi` and read / write windows.

Space
-----
Let :math:`P_0` be a complete placement (the default policy's, with its windows
:math:`w_j, w'_i`).  A tensor name :math:`n` is *free* when every tensor of that name is
spillable (an activation or gradient, not a tile of a fused stack), not forced (no
mapping streams it) and spilling it keeps the windows (every consumer :math:`j` of it
has :math:`w_j \le \mathrm{pos}(j) - \mathrm{pos}(\mathrm{src}) - 1`, so its read is
queued after the producer has written it).  The space is every spill set that agrees with
:math:`P_0` outside the free names (forced spills always included), with the windows of
:math:`P_0`.  It contains :math:`P_0` (the policy's spills keep its own windows), so the
optimum is never worse than the default policy.

Variables
---------
:math:`s_n \in \{0, 1\}` per free name (1: spilled); node start / end :math:`S_i, E_i`;
the port chain :math:`p_k` over the DMA events in queue order; prefix maxima
:math:`PE_q` (latest end of the nodes before position :math:`q`), :math:`DR_q` (latest
end of the writes due before :math:`q`), :math:`FR_{c,q}` (latest free of a tensor of
core :math:`c` last consumed before :math:`q`); task activities :math:`z \in [0, 1]`;
makespan :math:`T`.

Constraints (the evaluator's rules of :mod:`monet_opt.schedule.timing` with ≥)
------------------------------------------------------------------------------
.. math::

   E_i \ge S_i + f_i(s) + d_i,\quad E_i \ge S_i + \sigma_i,\quad
   f_i(s) = \sum_{e \to i \text{ on chip}} b_e\, \chi_e\, (1 - s_{n(e)})

   S_j \ge E_q \ (q \to j),\qquad S_{\mathrm{next}(i)} \ge E_i \text{ (same core, in } \pi)

   p_{k+1} \ge p_k + \mathrm{dur}_k(s),\quad \mathrm{dur}^R_j(s) = \rho_j + \sum_{e \to j}
   \kappa\, b_e s_{n(e)},\quad \mathrm{dur}^W_i(s) = \omega_i + \sum_{t \text{ of } i}
   \kappa\, b_t s_{n(t)}

   p_{R_j} \ge PE_{\mathrm{pos}(j) - w_j} - M(1 - z^R_j),\quad
   S_j \ge p_{R_j} + \mathrm{dur}^R_j(s) - M(1 - z^R_j),\quad z^R_j \ge s_n \ (n \to j)

   s^W_i \ge E_i - M(1 - z^W_i),\quad DR_{\mathrm{pos}(i) + w'_i + 1} \ge s^W_i +
   \mathrm{dur}^W_i(s) - M(1 - z^W_i),\quad S_k \ge DR_{\mathrm{pos}(k)}
   \quad (G2, G3)

   FR_{c(t), \mathrm{pos}(j) + 1} \ge \mathrm{free}_t - M s_{n(t)},\quad
   S_i \ge FR_{c(i), \mathrm{pos}(i)} \quad (G1)

   D_{m,q}(P_0) + \sum_n s_n\, \Delta_{n,m,q} \le \mathrm{cap}_m \quad \forall m, q
   \quad (\text{capacity})

with :math:`\kappa` DRAM cycles per bit, :math:`\chi_e` the link cycles per bit of edge
:math:`e` and :math:`\Delta_{n,m,q}` the change of the demand
(:func:`monet_opt.schedule.memory.demand`) when name :math:`n` alone is spilled: its live
interval leaves the producer's memory, its same-core consumers no longer read it in
place, and prefetch buffers before its consumers and a write-back buffer after its
producer appear.  These changes add up because each belongs to one tensor and the
windows are fixed.  Objective: :math:`T` (latency), or the step energy, constant plus
:math:`\sum_n s_n` (DRAM write and read-back pJ minus the link pJ the spill saves).

Why it is exact
---------------
For fixed :math:`s` every row is one of the evaluator's recurrences written with ≥ (each
start is the maximum of its terms, the prefix maxima are monotone, a DMA task without
bits has activity 0 and neither waits for nor delays the port, a spilled tensor no
longer gates its core and is not fetched over a link), so the least solution is the
simulated schedule and :math:`T` its makespan; the capacity rows are the demand of the
placement at every position.  Minimizing over :math:`s` therefore gives the best
simulated makespan (or energy) over the spill sets of the space that fit every memory
(tests: equal to brute force over all spill sets on random instances where capacity
binds).  Scope: allocation, π, windows and layer-by-layer execution (no fused stacks)
are inputs.

Incumbents that are not optimal
-------------------------------
Exactness holds at the optimum.  An incumbent HiGHS returns at a time limit (or accepts
within ``mip_rel_gap``) is a feasible point of the rows, so its :math:`T` is *at least*
the simulated makespan of its spill set, but not necessarily equal: a primal heuristic
(HiGHS' feasibility jump, for instance) sets the continuous columns anywhere above the
least solution.  The least solution of that spill set is feasible too, with
:math:`T` = the simulated makespan, so :func:`solve_placement` reports the simulated
value as the answer's objective (HiGHS' own value in ``extra["highs_incumbent"]``) and
keeps the dual bound, which holds for every point.  A simulated value *above* the
MILP's would mean the rows under-estimate the schedule; it is reported as simulated,
with the MILP's bound replaced by the global bounds and a note in ``extra``, never as a
crash.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monet_opt.formulations._builder import Affine, MipStatus, ModelBuilder, solve_model
from monet_opt.formulations.bounds import lower_bounds
from monet_opt.formulations.joint_bound import closed_form_bound
from monet_opt.formulations.options import SolverOptions
from monet_opt.formulations.result import SolveResult, metric_value
from monet_opt.heuristics import greedy_decision
from monet_opt.schedule.evaluator import evaluate, evaluate_metrics, placement_for
from monet_opt.schedule.memory import MemoryModel, Placement, memory_model
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import realize
from monet_opt.schedule.timing import _dma_bits, _stream_bits
from monet_opt.schedule.types import Decision
from monet_opt.units import REL_TOL

__all__ = [
    "PlacementModel",
    "build_placement_model",
    "free_names",
    "solve_placement",
    "solve_placement_model",
]


@dataclass
class PlacementModel:
    """A built placement MILP.

    Attributes
    ----------
    builder
        The model.
    s
        Free tensor name → its spill binary.
    T
        Makespan column.
    base
        The placement the space is built around (:math:`P_0`).
    fixed_spills
        Names spilled in every placement of the space (forced ones and the base's
        spills outside the free names).
    objective
        ``"latency"`` or ``"energy"``.
    energy_const
        Step energy (pJ) with no free name spilled (energy objective).
    """

    builder: ModelBuilder
    s: dict[str, int]
    T: int
    base: Placement
    fixed_spills: frozenset[str]
    objective: str
    energy_const: float = 0.0

    def decode(self, values: np.ndarray) -> Placement:
        """The placement of a solution vector."""
        on = {n for n, col in self.s.items() if values[col] > 0.5}
        return Placement(
            self.fixed_spills | frozenset(on), self.base.read_window, self.base.write_window
        )

    def start(self) -> dict[int, float]:
        """Partial start: the base placement's spill binaries."""
        spills = self.base.spills or frozenset()
        return {col: 1.0 if n in spills else 0.0 for n, col in self.s.items()}


def free_names(
    problem: Problem, cidx: Sequence[int], base: Placement, order: Sequence[int] | None = None
) -> tuple[str, ...]:
    """Tensor names the placement MILP decides (module docstring, "Space"), in tensor
    order."""
    mm = memory_model(problem)
    c = np.asarray(cidx, dtype=int)
    view = mm.view(order)
    pos = view.pos
    rw = np.asarray(base.read_window, dtype=int)
    forced = mm.forced(c)
    ok: dict[str, bool] = {}
    for t, name in enumerate(mm.tensors):
        good = bool(mm.spillable[t]) and not bool(forced[t])
        a = int(mm.t_src[t])
        for e in mm.t_edges[t]:
            j = int(mm.e_dst[e])
            good = good and rw[j] <= pos[j] - pos[a] - 1
        ok[name] = ok.get(name, True) and good
    return tuple(n for n, g in ok.items() if g)


def build_placement_model(
    problem: Problem,
    cidx: Sequence[int],
    base: Placement,
    *,
    order: Sequence[int] | None = None,
    objective: str = "latency",
) -> PlacementModel:
    """Build the MILP of the module docstring around a complete placement ``base``.

    Raises
    ------
    ValueError
        If the problem is not under the capacity semantics, has fused stacks, or
        ``base`` is incomplete.
    """
    if problem.memory != "capacity":
        raise ValueError("the placement MILP needs schedule.memory: capacity")
    if any(e.pipelined for e in problem.edges):
        raise ValueError("the placement MILP handles layer-by-layer problems only")
    if base.spills is None or not base.read_window:
        raise ValueError("the placement MILP needs a complete base placement")
    if objective not in ("latency", "energy"):
        raise ValueError(f"objective must be 'latency' or 'energy', got {objective!r}")
    mm = memory_model(problem)
    c = np.asarray(cidx, dtype=int)
    view = mm.view(order)
    pos, pi, n = view.pos, view.order, problem.n_nodes
    rw = np.asarray(base.read_window, dtype=int)
    ww = np.asarray(base.write_window, dtype=int)
    free = free_names(problem, c, base, order)
    fixed_mask = mm.close(mm.spill_mask(base.spills) | mm.forced(c))
    fixed_mask &= ~mm.spill_mask(free)
    fixed_spills = mm.names(fixed_mask)
    d = _Data.build(problem, mm, c, fixed_mask, free)
    M = d.upper_bound()
    mb = ModelBuilder()
    s = {name: mb.binary(f"s[{name}]") for name in free}
    T = mb.var("T", 0.0, M)
    S = [mb.var(f"S[{i}]", 0.0, M) for i in range(n)]
    E = [mb.var(f"E[{i}]", 0.0, M) for i in range(n)]
    cols = _Cols(mb, s, S, E, T, M)
    f = [d.fetch(i, cols) for i in range(n)]
    _node_rows(cols, d, problem, pi, f)
    _port_rows(cols, d, pi, pos, rw, ww)
    _gate_rows(cols, d, mm, view, f)
    _capacity_rows(cols, mm, c, pos, fixed_mask, rw, ww, free)
    const = 0.0
    if objective == "latency":
        mb.minimize(Affine.of(T))
    else:
        const, obj = _energy(cols, problem, mm, c, fixed_mask, free, order, base)
        mb.minimize(obj)
    return PlacementModel(mb, s, T, base, fixed_spills, objective, const)


def solve_placement_model(
    model: PlacementModel, options: dict[str, object]
) -> tuple[MipStatus, Placement]:
    """Solve a built model (started from its base placement); returns the status and the
    decoded placement (the base one without a solution)."""
    h = model.builder.to_highs(options)
    st = solve_model(h, partial=model.start())
    return st, model.decode(st.values) if st.values is not None else model.base


# -- data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cols:
    mb: ModelBuilder
    s: dict[str, int]
    S: list[int]
    E: list[int]
    T: int
    M: float

    def spill(self, name: str) -> Affine:
        """:math:`s_n` (0 for a name outside the free ones)."""
        col = self.s.get(name)
        return Affine() if col is None else Affine.of(col)


@dataclass(frozen=True)
class _Data:
    """Per node of the fixed allocation: durations and the spill-dependent parts."""

    problem: Problem
    mm: MemoryModel
    c: np.ndarray
    lat: np.ndarray
    stream: np.ndarray
    rd0: np.ndarray
    wr0: np.ndarray
    rd_var: tuple[tuple[tuple[str, float], ...], ...]
    wr_var: tuple[tuple[tuple[str, float], ...], ...]
    fetch_edges: tuple[tuple[tuple[int, float], ...], ...]
    kept_fixed: np.ndarray

    @staticmethod
    def build(
        problem: Problem,
        mm: MemoryModel,
        c: np.ndarray,
        fixed_mask: np.ndarray,
        free: Sequence[str],
    ) -> _Data:
        n = problem.n_nodes
        dcyc = problem.costs.dram_cycles_per_bit
        al = mm.alloc(c)
        rd, wr = _dma_bits(mm, al, fixed_mask)
        sr, sw = _stream_bits(problem, al)
        free_set = set(free)
        rd_var: list[list[tuple[str, float]]] = [[] for _ in range(n)]
        wr_var: list[list[tuple[str, float]]] = [[] for _ in range(n)]
        for t, name in enumerate(mm.tensors):
            if name not in free_set:
                continue
            wr_var[int(mm.t_src[t])].append((name, float(mm.t_bits[t]) * dcyc))
            for e in mm.t_edges[t]:
                rd_var[int(mm.e_dst[e])].append((name, float(mm.e_bits[e]) * dcyc))
        fetch: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        xc = problem.costs.xfer_cycles
        for e, t in zip(problem.edges, mm.edge_tensor.tolist(), strict=True):
            if not e.via_dram and t >= 0:
                fetch[e.dst].append((t, e.bits * float(xc[c[e.src], c[e.dst]])))
        return _Data(
            problem, mm, c, problem.costs.latency[np.arange(n), c], (sr + sw) * dcyc,
            rd * dcyc, wr * dcyc, tuple(map(tuple, rd_var)), tuple(map(tuple, wr_var)),
            tuple(map(tuple, fetch)), ~fixed_mask,
        )  # fmt: skip

    def upper_bound(self) -> float:
        """Every node, fetch, stream and DMA task serialized (big-M)."""
        fetch = sum(b for v in self.fetch_edges for _t, b in v)
        rd = float(self.rd0.sum()) + sum(b for v in self.rd_var for _n, b in v)
        wr = float(self.wr0.sum()) + sum(b for v in self.wr_var for _n, b in v)
        total = float(self.lat.sum()) + fetch + float(self.stream.sum()) + rd + wr
        return total * (1 + 1e-9) + 1.0

    def fetch(self, i: int, v: _Cols) -> Affine:
        """Link fetch time of node ``i``: its on-chip inputs that are not spilled."""
        out = Affine()
        names = self.mm.tensors
        for t, b in self.fetch_edges[i]:
            if not self.kept_fixed[t] or b == 0:
                continue
            out = out + b - b * v.spill(names[t])
        return out

    def read(self, j: int, v: _Cols) -> Affine:
        return Affine.total([float(self.rd0[j])] + [b * v.spill(nm) for nm, b in self.rd_var[j]])

    def write(self, i: int, v: _Cols) -> Affine:
        return Affine.total([float(self.wr0[i])] + [b * v.spill(nm) for nm, b in self.wr_var[i]])


# -- rows -----------------------------------------------------------------------------


def _activity(v: _Cols, const: float, var: Sequence[tuple[str, float]], name: str) -> Affine:
    """1 for a task with bits whatever the spills; else a column :math:`z \\ge s_n` for
    every name that gives it bits (0 when none can)."""
    if const > 0:
        return Affine(const=1.0)
    names = {nm for nm, b in var if b > 0 and nm in v.s}
    if not names:
        return Affine()
    z = v.mb.var(name, 0.0, 1.0)
    for nm in names:
        v.mb.ge(Affine.of(z), v.spill(nm))
    return Affine.of(z)


def _node_rows(v: _Cols, d: _Data, problem: Problem, pi: Sequence[int], f: list[Affine]) -> None:
    mb, S, E = v.mb, v.S, v.E
    last_on: dict[int, int] = {}
    for i in pi:
        mb.ge(Affine.of(E[i]) - Affine.of(S[i]) - f[i], float(d.lat[i]))
        mb.ge(Affine.of(E[i]) - Affine.of(S[i]), float(d.stream[i]))
        for q in problem.hard_preds[i]:
            mb.ge(Affine.of(S[i]), Affine.of(E[q]))
        core = int(d.c[i])
        if core in last_on:
            mb.ge(Affine.of(S[i]), Affine.of(E[last_on[core]]))
        last_on[core] = i
        mb.ge(Affine.of(v.T), Affine.of(E[i]))


def _port_rows(
    v: _Cols, d: _Data, pi: Sequence[int], pos: np.ndarray, rw: np.ndarray, ww: np.ndarray
) -> None:
    """The DRAM port in queue order, G2 and G3 (module docstring)."""
    mb, M, n = v.mb, v.M, len(pi)
    keys: list[tuple[int, int, int]] = []
    z_r: dict[int, Affine] = {}
    z_w: dict[int, Affine] = {}
    for i in range(n):
        p = int(pos[i])
        zr = _activity(v, float(d.rd0[i]), d.rd_var[i], f"zR[{i}]")
        if zr.terms or zr.const:
            z_r[i] = zr
            keys.append((p - int(rw[i]), 0, i))
        if d.stream[i] > 0:
            keys.append((p, 1, i))
        zw = _activity(v, float(d.wr0[i]), d.wr_var[i], f"zW[{i}]")
        if zw.terms or zw.const:
            z_w[i] = zw
            keys.append((p, 2, i))
    keys.sort(key=lambda k: (k[0], k[1], int(pos[k[2]])))  # program order within a slot
    PE = [mb.var(f"PE[{q}]", 0.0, M) for q in range(n + 1)]
    for q in range(n):
        mb.ge(Affine.of(PE[q + 1]), Affine.of(PE[q]))
        mb.ge(Affine.of(PE[q + 1]), Affine.of(v.E[pi[q]]))
    DR = [mb.var(f"DR[{q}]", 0.0, M) for q in range(n + 1)]
    for q in range(n):
        mb.ge(Affine.of(DR[q + 1]), Affine.of(DR[q]))
    prev: Affine | None = None
    for slot, kind, i in keys:
        pk = mb.var(f"port[{kind},{i}]", 0.0, M)
        if prev is not None:
            mb.ge(Affine.of(pk), prev)
        if kind == 0:
            z, dur = z_r[i], d.read(i, v)
            mb.ge(Affine.of(pk) - Affine.of(PE[slot]) - M * z, -M)
            mb.ge(Affine.of(v.S[i]) - Affine.of(pk) - dur - M * z, -M)
            prev = Affine.of(pk) + dur
        elif kind == 1:
            mb.ge(Affine.of(v.S[i]), Affine.of(pk))
            end = mb.var(f"streamend[{i}]", 0.0, M)
            mb.ge(Affine.of(end), Affine.of(pk))
            mb.ge(Affine.of(end) - Affine.of(v.S[i]), float(d.stream[i]))
            prev = Affine.of(end)
        else:
            z, dur = z_w[i], d.write(i, v)
            sw = mb.var(f"W[{i}]", 0.0, M)
            mb.ge(Affine.of(sw), Affine.of(pk))
            mb.ge(Affine.of(sw) - Affine.of(v.E[i]) - M * z, -M)
            end = mb.var(f"writeend[{i}]", 0.0, M)
            mb.ge(Affine.of(end), Affine.of(pk))
            mb.ge(Affine.of(end) - Affine.of(sw) - dur - M * z, -M)
            dl = min(int(pos[i] + ww[i]) + 1, n)
            mb.ge(Affine.of(DR[dl]) - Affine.of(sw) - dur - M * z, -M)
            prev = Affine.of(end)
    if prev is not None:
        mb.ge(Affine.of(v.T), prev)
    for i in range(n):
        mb.ge(Affine.of(v.S[i]), Affine.of(DR[int(pos[i])]))


def _gate_rows(v: _Cols, d: _Data, mm: MemoryModel, view, f: list[Affine]) -> None:  # noqa: ANN001
    """G1: a node waits until the live tensors of its core last consumed before its
    position have been fetched (same core: the consumer ended); a spilled tensor does
    not gate."""
    mb, M = v.mb, v.M
    n = len(view.order)
    by_core: dict[int, list[tuple[int, Affine]]] = {}
    for t, j in enumerate(view.last_node.tolist()):
        if j < 0 or not d.kept_fixed[t]:
            continue
        a = int(mm.t_src[t])
        ca = int(d.c[a])
        free = Affine.of(v.E[j]) if int(d.c[j]) == ca else Affine.of(v.S[j]) + f[j]
        by_core.setdefault(ca, []).append((int(view.pos[j]) + 1, free - M * v.spill(mm.tensors[t])))
    for ca, items in by_core.items():
        FR = [mb.var(f"FR[{ca},{q}]", 0.0, M) for q in range(n + 1)]
        for q in range(n):
            mb.ge(Affine.of(FR[q + 1]), Affine.of(FR[q]))
        for q, term in items:
            mb.ge(Affine.of(FR[q]), term)
        for i in range(n):
            if int(d.c[i]) == ca:
                mb.ge(Affine.of(v.S[i]), Affine.of(FR[int(view.pos[i])]))


def _capacity_rows(
    v: _Cols,
    mm: MemoryModel,
    c: np.ndarray,
    pos: np.ndarray,
    fixed_mask: np.ndarray,
    rw: np.ndarray,
    ww: np.ndarray,
    free: Sequence[str],
) -> None:
    """Demand ≤ capacity at every (memory, position) that some spill set overflows:
    the base demand plus the change of each spilled name (module docstring)."""
    base = mm.bits(c, pos, fixed_mask, rw, ww)
    deltas: list[tuple[int, np.ndarray]] = []
    for name in free:
        col = v.s[name]
        delta = mm.bits(c, pos, fixed_mask | mm.spill_mask((name,)), rw, ww) - base
        delta[np.abs(delta) < 1e-6] = 0.0
        if delta.any():
            deltas.append((col, delta))
    cap = mm.capacity[:, None] * (1 + REL_TOL) + 1e-6
    worst = base + sum((np.maximum(dl, 0.0) for _, dl in deltas), np.zeros_like(base))
    for m, q in zip(*np.nonzero(worst > cap), strict=True):
        row = Affine.total(
            [float(base[m, q])]
            + [float(dl[m, q]) * Affine.of(col) for col, dl in deltas if dl[m, q]]
        )
        v.mb.le(row, float(cap[m, 0]))


def _energy(
    v: _Cols,
    problem: Problem,
    mm: MemoryModel,
    c: np.ndarray,
    fixed_mask: np.ndarray,
    free: Sequence[str],
    order: Sequence[int] | None,
    base: Placement,
) -> tuple[float, Affine]:
    """Step energy: the energy with no free name spilled plus, per spilled name, its
    DRAM write and read-back pJ minus the link pJ it no longer moves."""
    costs = problem.costs
    fixed = Placement(mm.names(fixed_mask), base.read_window, base.write_window)
    ids = problem.core_ids
    prio = None
    if order is not None:
        rank = {i: k for k, i in enumerate(order)}
        prio = tuple(float(len(order) - rank[i]) for i in range(problem.n_nodes))
    alloc = tuple(int(ids[k]) for k in c)
    const = evaluate_metrics(problem, Decision(alloc, prio, placement=fixed)).energy
    xe = costs.xfer_energy
    per: dict[str, float] = {}
    edge_pj: dict[int, float] = {}
    for e, t in zip(problem.edges, mm.edge_tensor.tolist(), strict=True):
        if not e.via_dram and t >= 0:
            edge_pj[t] = edge_pj.get(t, 0.0) + e.bits * float(xe[c[e.src], c[e.dst]])
    free_set = set(free)
    for t, name in enumerate(mm.tensors):
        if name not in free_set:
            continue
        rd = sum(float(mm.e_bits[e]) for e in mm.t_edges[t])
        pj = float(mm.t_bits[t]) * costs.dram_write_pj_per_bit + rd * costs.dram_read_pj_per_bit
        per[name] = per.get(name, 0.0) + pj - edge_pj.get(t, 0.0)
    obj = Affine.total([const] + [b * v.spill(nm) for nm, b in per.items()])
    return const, obj


# -- the solve contract ------------------------------------------------------------------


def solve_placement(
    problem: Problem,
    fixed: Decision | None = None,
    objective: str = "latency",
    options: SolverOptions | None = None,
    warm_start: Decision | None = None,
) -> SolveResult:
    """Optimal spill set for a fixed allocation (module docstring), decoded and
    re-simulated.

    Parameters
    ----------
    problem
        The base problem (``schedule.memory: capacity``).
    fixed
        ``allocation`` (empty: greedy), ``priority`` (π) and ``checkpoints`` are fixed
        (the MILP runs on the derived problem of dropped activations); ``placement``,
        when complete, is the base placement :math:`P_0` (else the default policy's).
    objective
        ``"latency"`` (makespan, cycles) or ``"energy"`` (pJ).
    options
        HiGHS options (``time_limit`` for this call).
    warm_start
        Ignored: the base placement starts HiGHS (kept for the common contract).

    Returns
    -------
    SolveResult
        ``formulation="placement"``; ``decision.placement`` is complete.

    Raises
    ------
    ValueError
        Without the capacity semantics, with fused stacks, or on an unknown objective.

    Notes
    -----
    The answer is always the re-simulated value of the decoded placement: an incumbent
    whose MILP value is above it (a time-limited heuristic incumbent) is reported at
    its simulated value, a MILP value below it without the MILP's bound (module
    docstring, "Incumbents that are not optimal"); ``status`` then says what the
    remaining bound proves.
    """
    del warm_start
    if objective not in ("latency", "energy"):
        raise ValueError(f"objective must be 'latency' or 'energy', got {objective!r}")
    if fixed is not None and fixed.stacks:
        raise ValueError("the placement MILP handles layer-by-layer decisions only (no stacks)")
    opts = options or SolverOptions()
    t0 = time.perf_counter()
    fx = fixed or Decision(())
    alloc = tuple(fx.allocation) or greedy_decision(problem).allocation
    target, real, order = problem, None, problem.program_order(fx.priority)
    if fx.checkpoints is not None and not set(fx.checkpoints) >= set(problem.checkpoint_tensors):
        real = realize(problem, Decision(alloc, fx.priority, (), fx.checkpoints))
        target, order = real.problem, None
    talloc = real.expand(alloc) if real is not None else alloc
    cidx = [target.core_ids.index(int(a)) for a in talloc]
    base = placement_for(target, cidx, order, fx.placement)
    if base is None:
        raise ValueError("the placement MILP needs schedule.memory: capacity")
    model = build_placement_model(target, cidx, base.placement, order=order, objective=objective)
    build = time.perf_counter() - t0
    st, pl = solve_placement_model(model, opts.highs())
    derived = Decision(tuple(talloc), None if real is not None else fx.priority, placement=pl)
    decision = real.invert(derived) if real is not None else derived
    scope = (
        f"spilled tensors ({len(model.s)} free names) for the fixed allocation, program "
        "order π, kept checkpoints and the default policy's DMA windows"
    )
    extra: dict[str, object] = {"spilled": sorted(pl.spills or ()), "free_names": sorted(model.s)}
    sched = evaluate(problem, decision)
    simulated = metric_value(objective, sched)
    milp_obj: float | None = st.objective if st.has_solution else None
    milp_bound: float | None = st.bound
    extra_bounds: dict[str, float] | None = None
    if milp_obj is not None and not _agrees(simulated, milp_obj):
        extra["highs_incumbent"] = milp_obj
        if simulated < milp_obj:
            # a feasible point above the least schedule of its spill set: the least one
            # is feasible too, with T = simulated; the dual bound holds for every point
            milp_obj = simulated
        else:
            # the rows under-estimate this answer: their bound is not trusted
            milp_bound = None
            extra_bounds = {"global": _global_bound(problem, objective)}
            extra["inconsistency"] = (
                f"the placement MILP valued its answer at {st.objective}, the evaluator at "
                f"{simulated}; the answer is reported as simulated, bounded by the global "
                "bounds only"
            )
    res = SolveResult.build(
        problem,
        formulation="placement",
        objective_name=objective,
        decision=decision,
        simulated_of=objective,
        milp_objective=milp_obj,
        milp_bound=milp_bound,
        solver_status=st.status,
        mip_gap=opts.mip_gap,
        scope=scope,
        n_vars=model.builder.n_vars,
        n_cons=model.builder.n_cons,
        n_binaries=len(model.s),
        build_seconds=build,
        solve_seconds=st.seconds,
        extra_bounds=extra_bounds,
        schedule=sched,
        extra=extra,
        models_capacity=True,
    )
    opts.report("placement MILP", res.simulated, res.bound)
    return res


def _agrees(simulated: float, milp: float) -> bool:
    """Whether a re-simulated value equals the MILP's (relative 1e-6, absolute 1e-6)."""
    return abs(simulated - milp) <= 1e-6 * max(1.0, abs(milp)) + 1e-6


def _global_bound(problem: Problem, objective: str) -> float:
    """A lower bound of ``objective`` over every decision (critical path / DRAM port /
    work for the makespan, with the compulsory port traffic and stream durations of
    :func:`~monet_opt.formulations.joint_bound.closed_form_bound`; every node on its
    cheapest core plus the compulsory DRAM energy for energy)."""
    if objective == "latency":
        return max(float(lower_bounds(problem)["max"]), closed_form_bound(problem))
    en = problem.costs.energy
    emin = np.where(np.isfinite(en), en, np.inf).min(axis=1)
    return float(emin.sum() + problem.dram_energy)
