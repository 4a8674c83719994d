r"""A certified lower bound for the joint problem: every valid bound, and their maximum.

The joint problem of :mod:`monet_opt.formulations.joint` chooses the core allocation, the
program order π, the fused layer stacks, the checkpoint set (keep / recompute) and the
placement (on chip / spill).  A lower bound is *certified* when it holds for every such
decision under the evaluator's semantics (:mod:`monet_opt.schedule.problem`,
:mod:`monet_opt.schedule.memory`, :mod:`monet_opt.schedule.timing`); the gap of an answer
to it is then a gap to the optimum of the whole space, not of one block.  This module
computes several and reports their maximum.

Per (node :math:`i`, allowed core :math:`c`) tables, invariant under all decisions
-------------------------------------------------------------------------------
* duration :math:`\delta_{ic}`: the on-chip latency :math:`d_{ic}`; under the capacity
  semantics :math:`\max(d_{ic}, \sigma_{ic})`, where :math:`\sigma_{ic}` are the cycles of
  the node's in-node DRAM stream (operands its mapping streams; the node holds the port
  and lasts at least that long, :mod:`monet_opt.schedule.timing`);
* compulsory port cycles :math:`\pi_{ic}`: the node's unavoidable DRAM bits
  :math:`u^r_i, u^w_i` (:func:`~monet_opt.formulations.bounds.unavoidable_node_dram_bits`:
  weights, optimizer state, network inputs, graph outputs), and under the capacity
  semantics at least its stream bits :math:`s^r_{ic}, s^w_{ic}` (an operand too large
  for the core's memory moves through DRAM whatever the placement):
  :math:`\pi_{ic} = (\max(u^r_i, s^r_{ic}) + \max(u^w_i, s^w_{ic}))\,\kappa` with
  :math:`\kappa` the DRAM port's cycles per bit.  Without fusion the unavoidable reads
  also count every input whose producer's mapping streams it on every core it may run
  on: that tensor lives in DRAM whatever the placement (a *forced* spill,
  :mod:`monet_opt.schedule.memory`), so each consumer reads it from there.  (In a fused
  stack such a tensor may move tile by tile and stay on chip, so this term is left out
  when fusion is allowed.)

Why these are invariant: node costs come from the node's mapping on its core
(:mod:`monet_opt.cost.tables`), which no stacking, order, checkpoint set or placement
changes (derived problems copy the rows of their base nodes); fused members re-stream
weights per tile and spills and recompute copies add DMA traffic and nodes, which only
add to both tables.

Bounds (latency, cycles)
------------------------
``work``
    For every set :math:`A` of cores that is some node's allowed set:
    :math:`\sum_{i: A_i \subseteq A} \min_c \delta_{ic} / |A|` (Graham, SIAM J. Appl.
    Math. 17(2), 1969).
``critical_path``
    The longest path with every node at its shortest duration; with fusion allowed
    every on-chip edge is relaxed to the pipelined first-tile / last-tile rules of a
    fused stack (:mod:`monet_opt.schedule.realize`), which any stacking satisfies;
    under the unbounded semantics each node waits for its unavoidable reads and is
    followed by its unavoidable writes.
``dram_port``
    The single DRAM port serves one task or stream at a time:
    :math:`\sum_i \min_c \pi_{ic}`.
``relaxation``
    The dual bound of a relaxation MILP that couples the three through the
    allocation :math:`x_{ic}`:

    .. math::

       \min T \quad\text{s.t.}\quad \sum_{c \in A_i} x_{ic} = 1,\quad
       E_i \ge S_i + \sum_c \delta_{ic} x_{ic},\quad
       T \ge E_i,\quad T \ge \sum_{i,c} \pi_{ic} x_{ic},\quad
       T \ge \sum_i \delta_{ic} x_{ic}\ \forall c,

    with the edge rules of ``critical_path`` on :math:`S, E`.  Every decision of the
    joint space gives a feasible point (its allocation, its start and end times) with
    :math:`T` at most its makespan, so the MILP optimum, and any dual bound of it, is a
    lower bound.  It drops the in-order cores, the DMA queue order, the gates and the
    capacities, which is where the remaining gap lies.

Bound (energy, pJ)
------------------
Σ over nodes of the cheapest core's energy plus the energy of the unavoidable DRAM
traffic (every decision runs each node once on some core and moves that traffic).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from monet_opt.formulations._builder import Affine, ModelBuilder, solve_model, too_large
from monet_opt.formulations.bounds import (
    longest_path,
    unavoidable_dram_bits,
    unavoidable_node_dram_bits,
    work_bound,
)
from monet_opt.formulations.options import SolverOptions
from monet_opt.schedule.problem import Problem

__all__ = ["JointBound", "closed_form_bound", "joint_lower_bound", "node_tables"]

#: Wall-time share of a joint solve spent on the relaxation MILP, and its cap (seconds).
RELAXATION_SHARE = 0.1
RELAXATION_CAP_S = 10.0


@dataclass(frozen=True)
class JointBound:
    """A lower bound valid over the whole joint decision space (module docstring).

    Attributes
    ----------
    value
        The maximum of :attr:`parts` (cycles for latency, pJ for energy).
    parts
        Every bound computed, by name (``work``, ``critical_path``, ``dram_port``,
        ``relaxation``; ``energy`` for the energy objective).
    relaxation_status
        HiGHS status of the relaxation MILP (``optimal``, ``time_limit``,
        ``skipped``...).
    seconds
        Wall time of the whole computation.
    """

    value: float
    parts: Mapping[str, float] = field(default_factory=dict)
    relaxation_status: str = "skipped"
    seconds: float = 0.0


def _forced_input_bits(problem: Problem) -> np.ndarray:
    """Per node: bits of its on-chip inputs whose producer streams them to DRAM on every
    core it may run on (forced spills, read back by every consumer)."""
    det = problem.costs.details
    out = np.zeros(problem.n_nodes)
    for e in problem.edges:
        if e.via_dram:
            continue
        cores = problem.allowed_idx[e.src]
        if all("O" in getattr(det[e.src][c], "streamed", ()) for c in cores):
            out[e.dst] += e.bits
    return out


def node_tables(problem: Problem, fusion: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per (node, core index): duration :math:`\\delta_{ic}` and compulsory DRAM port
    cycles :math:`\\pi_{ic}` (module docstring), shape ``(n, n_cores)``, ``inf`` where
    the core may not run the node; ``fusion``: whether stacks are in the space."""
    c = problem.costs
    lat = np.asarray(c.latency, dtype=float)
    ur, uw = unavoidable_node_dram_bits(problem)
    if problem.memory == "capacity" and not fusion:
        ur = ur + _forced_input_bits(problem)
    kappa = float(c.dram_cycles_per_bit)
    if problem.memory == "capacity":
        sr = np.asarray(c.stream_read_bits, dtype=float)
        sw = np.asarray(c.stream_write_bits, dtype=float)
        dur = np.maximum(lat, (sr + sw) * kappa)
        port = (np.maximum(ur[:, None], sr) + np.maximum(uw[:, None], sw)) * kappa
    else:
        dur = lat.copy()
        port = np.repeat(((ur + uw) * kappa)[:, None], lat.shape[1], axis=1)
    allowed = np.isfinite(lat)
    return np.where(allowed, dur, np.inf), np.where(allowed, port, np.inf)


def _edge_rules(problem: Problem, fusion: bool) -> tuple[list[list[int]], list[list[int]]]:
    """Per node: producers it waits for completely, and producers it may follow tile by
    tile (every on-chip edge when fusion is allowed)."""
    hard: list[list[int]] = [[] for _ in range(problem.n_nodes)]
    pipe: list[list[int]] = [[] for _ in range(problem.n_nodes)]
    for e in problem.edges:
        relaxed = e.pipelined or (fusion and not e.via_dram)
        target = pipe if relaxed else hard
        if e.src not in target[e.dst]:
            target[e.dst].append(e.src)
    return hard, pipe


def _head_tail(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Cycles before a node may start and after it ends that no decision removes: its
    unavoidable DMA read and write under the unbounded semantics, none under capacity
    (operands may stream during the node)."""
    if problem.memory == "capacity":
        z = np.zeros(problem.n_nodes)
        return z, z.copy()
    ur, uw = unavoidable_node_dram_bits(problem)
    kappa = float(problem.costs.dram_cycles_per_bit)
    return ur * kappa, uw * kappa


def _critical_path(problem: Problem, dmin: np.ndarray, fusion: bool) -> float:
    hard, pipe = _edge_rules(problem, fusion)
    head, tail = _head_tail(problem)
    return longest_path(problem, dmin, hard, pipe, head, tail)


def _relaxation(
    problem: Problem, dur: np.ndarray, port: np.ndarray, fusion: bool, options: SolverOptions
) -> tuple[float, str]:
    """Dual bound and HiGHS status of the relaxation MILP (module docstring)."""
    n = problem.n_nodes
    hard, pipe = _edge_rules(problem, fusion)
    head, tail = _head_tail(problem)
    tiles = problem.tiles
    upper = float(np.nansum(np.where(np.isfinite(dur), dur, 0).max(axis=1)))
    upper += float(np.where(np.isfinite(port), port, 0).max(axis=1).sum()) + 1.0
    mb = ModelBuilder()
    T = mb.var("T", 0.0, upper, cost=1.0)
    d_expr: list[Affine] = []
    p_expr: list[Affine] = []
    core_load: dict[int, Affine] = {}
    for i in range(n):
        cores = problem.allowed_idx[i]
        if len(cores) == 1:
            c = cores[0]
            d, p = Affine() + float(dur[i, c]), Affine() + float(port[i, c])
            core_load[c] = core_load.get(c, Affine()) + float(dur[i, c])
        else:
            cols = {c: mb.binary(f"x[{i},{c}]") for c in cores}
            mb.eq(Affine.total(Affine.of(col) for col in cols.values()), 1.0)
            d = Affine.total(Affine.of(col, float(dur[i, c])) for c, col in cols.items())
            p = Affine.total(Affine.of(col, float(port[i, c])) for c, col in cols.items())
            for c, col in cols.items():
                core_load[c] = core_load.get(c, Affine()) + Affine.of(col, float(dur[i, c]))
        d_expr.append(d)
        p_expr.append(p)
    S = [mb.var(f"S[{i}]", float(head[i]), upper) for i in range(n)]
    E = [mb.var(f"E[{i}]", 0.0, upper) for i in range(n)]
    for j in range(n):
        mb.ge(Affine.of(E[j]) - Affine.of(S[j]), d_expr[j])
        mb.ge(Affine.of(T) - Affine.of(E[j]), float(tail[j]))
        for p in hard[j]:
            mb.ge(Affine.of(S[j]) - Affine.of(E[p]), 0.0)
        for p in pipe[j]:
            mb.ge(Affine.of(S[j]) - Affine.of(S[p]) - d_expr[p] * (1.0 / tiles), 0.0)
            mb.ge(Affine.of(E[j]) - Affine.of(E[p]) - d_expr[j] * (1.0 / tiles), 0.0)
    mb.ge(Affine.of(T), Affine.total(p_expr))
    for load in core_load.values():
        mb.ge(Affine.of(T), load)
    if too_large(mb) is not None:
        return -math.inf, "model_too_large"
    st = solve_model(mb.to_highs(options.highs()))
    return float(st.bound), st.status


def _closed_form(
    problem: Problem, dur: np.ndarray, port: np.ndarray, fusion: bool
) -> dict[str, float]:
    dmin = dur.min(axis=1)
    return {
        "work": work_bound(problem, dmin),
        "critical_path": _critical_path(problem, dmin, fusion),
        "dram_port": float(port.min(axis=1).sum()),
    }


def closed_form_bound(problem: Problem, fusion: bool = True) -> float:
    """The largest of the ``work``, ``critical_path`` and ``dram_port`` bounds of the
    module docstring (cycles), without the relaxation MILP: valid for every decision of
    the joint space (of its layer-by-layer part when ``fusion`` is ``False``)."""
    dur, port = node_tables(problem, fusion)
    return max(_closed_form(problem, dur, port, fusion).values())


def joint_lower_bound(
    problem: Problem,
    objective: str = "latency",
    *,
    fusion: bool = True,
    options: SolverOptions | None = None,
) -> JointBound:
    """Lower bound of ``objective`` over every allocation, program order, stacking,
    checkpoint set and placement of ``problem`` (module docstring).

    Parameters
    ----------
    problem
        The base problem (layer by layer, store-all).
    objective
        ``"latency"`` (cycles) or ``"energy"`` (pJ).
    fusion
        Whether the space contains fused stacks (relaxes every on-chip edge to the
        pipelined rules); ``False`` gives a stronger bound for layer-by-layer spaces.
    options
        Options of the relaxation MILP (its ``time_limit``; ``None``: 5 s).  Its dual
        bound is valid at any time limit.

    Raises
    ------
    ValueError
        On an unknown objective.
    """
    t0 = time.perf_counter()
    if objective == "energy":
        c = problem.costs
        ur, uw = unavoidable_dram_bits(problem)
        emin = np.where(np.isfinite(c.energy), c.energy, np.inf).min(axis=1).sum()
        val = float(emin + ur * c.dram_read_pj_per_bit + uw * c.dram_write_pj_per_bit)
        parts = MappingProxyType({"energy": val})
        return JointBound(val, parts, "skipped", time.perf_counter() - t0)
    if objective != "latency":
        raise ValueError(f"objective must be 'latency' or 'energy', got {objective!r}")
    dur, port = node_tables(problem, fusion)
    parts = _closed_form(problem, dur, port, fusion)
    opts = options or SolverOptions(time_limit=5.0)
    relax, status = _relaxation(problem, dur, port, fusion, opts)
    if math.isfinite(relax):
        parts["relaxation"] = relax
    value = max(parts.values())
    return JointBound(value, MappingProxyType(parts), status, time.perf_counter() - t0)
