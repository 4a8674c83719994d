"""Columns and constraint families shared by the allocation MILPs.

:mod:`monet_opt.formulations.allocation` (the model without memory capacities) and
:mod:`monet_opt.formulations.allocation_memory` (with them) build on these: the
assignment binaries :math:`x_{ic}`, the fetch-time columns :math:`\tau_{pj}`, and the
rows that both models share (assignment, ties, fetch times, precedence, pipelined
edges, in-order cores, core-load cut).  Each row family is documented in
:mod:`monet_opt.formulations.allocation`'s docstring under its function name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from monet_opt.formulations._builder import Affine, ModelBuilder
from monet_opt.schedule.problem import Problem

__all__ = [
    "Cols",
    "core_orbits",
    "fixed_cores",
    "assignment_columns",
    "link_columns",
    "assignment_rows",
    "tie_rows",
    "fetch_time_rows",
    "end_time_row",
    "precedence_rows",
    "pipelined_rows",
    "in_order_core_rows",
    "core_load_cut",
    "decode_allocation",
]


def core_orbits(problem: Problem) -> list[set[int]]:
    """Orbits of compute-core indices under accelerator automorphisms."""
    acc = problem.accelerator
    ids = problem.core_ids
    g = nx.Graph()
    lat = problem.costs.latency
    for k in range(len(ids)):
        col = lat[:, k]
        mems = tuple(float(m.size_bits) for m in acc.core(ids[k]).memories)
        g.add_node(k, sig=(tuple(np.where(np.isfinite(col), col, -1.0).round(6)), mems))
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


@dataclass(frozen=True)
class Cols:
    """Columns of the allocation MILP that the constraint families share."""

    problem: Problem
    x: dict[tuple[int, int], int]
    S: list[int]
    E: list[int]
    T: int
    tau: dict[int, int]
    eta: dict[int, int]

    def xv(self, i: int, c: int) -> Affine:
        """:math:`x_{ic}`: its column, or the constant 1/0 of a node with one allowed core."""
        if (i, c) in self.x:
            return Affine.of(self.x[i, c])
        return Affine(const=1.0 if self.problem.allowed_idx[i] == (c,) else 0.0)

    def work(self, i: int, tiles: float = 1.0) -> Affine:
        """:math:`\\sum_c d_{ic} x_{ic} / \\text{tiles}`: latency of node ``i`` on its core."""
        lat = self.problem.costs.latency
        return Affine.total(lat[i, c] / tiles * self.xv(i, c) for c in self.problem.allowed_idx[i])

    def fetch(self, j: int) -> Affine:
        """:math:`\\sum_{(p,j)} \\tau_{pj}`: input-fetch time of node ``j``."""
        return Affine.total(
            Affine.of(self.tau[k]) for k in self.problem.in_edges[j] if k in self.tau
        )


def fixed_cores(problem: Problem, pi: Sequence[int], symmetry_breaking: bool) -> dict[int, int]:
    """Nodes with one allowed core, plus the symmetry fix of the first flexible node in π
    when its allowed cores lie in one orbit of the accelerator's automorphisms."""
    allowed = problem.allowed_idx
    fixed = {i: a[0] for i, a in enumerate(allowed) if len(a) == 1}
    if symmetry_breaking:
        flex_in_order = [i for i in pi if i not in fixed]
        if flex_in_order:
            first = flex_in_order[0]
            for orb in core_orbits(problem):
                if set(allowed[first]) <= orb:
                    fixed[first] = min(allowed[first])
                    break
    return fixed


def assignment_columns(
    mb: ModelBuilder, problem: Problem, fixed: dict[int, int]
) -> dict[tuple[int, int], int]:
    """Binaries :math:`x_{ic}` of flexible nodes (the symmetry-fixed node's are fixed by
    their bounds); nodes with one allowed core get no column."""
    x: dict[tuple[int, int], int] = {}
    for i, cores in enumerate(problem.allowed_idx):
        if len(cores) == 1:
            continue
        for c in cores:
            if i in fixed:
                one = 1.0 if c == fixed[i] else 0.0
                x[i, c] = mb.var(f"x[{i},{c}]", one, one, integer=True)
            else:
                x[i, c] = mb.binary(f"x[{i},{c}]")
    return x


def link_columns(
    mb: ModelBuilder, problem: Problem, exclude: frozenset[int] = frozenset()
) -> tuple[dict[int, int], dict[int, int]]:
    """Fetch time :math:`\\tau_{pj}` and link energy :math:`\\eta_{pj}` per core-to-core
    edge, where some pair of allowed cores has a non-zero transfer cost (edges in
    ``exclude``, e.g. spilled tensors read from DRAM, move no data over links)."""
    allowed = problem.allowed_idx
    tau: dict[int, int] = {}
    eta: dict[int, int] = {}
    for k, e in enumerate(problem.edges):
        if e.via_dram or k in exclude:
            continue
        for table, store, label in (
            (problem.costs.xfer_cycles, tau, "tau"),
            (problem.costs.xfer_energy, eta, "eta"),
        ):
            if np.any(table[np.ix_(allowed[e.src], allowed[e.dst])] != 0):
                store[k] = mb.var(f"{label}[{k}]", 0.0, math.inf)
    return tau, eta


def assignment_rows(mb: ModelBuilder, v: Cols) -> None:
    """:math:`\\sum_{c \\in A_i} x_{ic} = 1` for every flexible node."""
    for i, cores in enumerate(v.problem.allowed_idx):
        if len(cores) > 1:
            mb.eq(Affine.total(v.xv(i, c) for c in cores), 1.0)


def tie_rows(mb: ModelBuilder, v: Cols) -> None:
    """:math:`x_{ic} = x_{oc}`: a recompute copy :math:`i` runs on its original's core."""
    for i, o in enumerate(v.problem.ties):
        if o >= 0:
            for c in v.problem.allowed_idx[i]:
                if (i, c) in v.x or (o, c) in v.x:
                    mb.eq(v.xv(i, c), v.xv(o, c))


def fetch_time_rows(mb: ModelBuilder, v: Cols) -> None:
    """:math:`\\tau_{pj} \\ge b_{pj} \\sum_b \\theta_{ab} x_{jb} - b_{pj} \\max_b
    \\theta_{ab} (1 - x_{pa})` for every :math:`a \\in A_p`, and :math:`\\eta_{pj}` alike
    with the link energy :math:`\\epsilon_{ab}`."""
    pb = v.problem
    allowed = pb.allowed_idx
    for k, e in enumerate(pb.edges):
        for table, cols in ((pb.costs.xfer_cycles, v.tau), (pb.costs.xfer_energy, v.eta)):
            if k not in cols:
                continue
            p, j = e.src, e.dst
            for a in allowed[p]:
                big = e.bits * max(table[a, b] for b in allowed[j])
                moved = Affine.total(e.bits * table[a, b] * v.xv(j, b) for b in allowed[j])
                mb.ge(Affine.of(cols[k]) - moved - big * v.xv(p, a), -big)


def end_time_row(mb: ModelBuilder, v: Cols, j: int) -> None:
    """:math:`E_j = S_j + \\sum_{(p,j)} \\tau_{pj} + \\sum_c d_{jc} x_{jc}`."""
    mb.eq(Affine.of(v.E[j]), Affine.of(v.S[j]) + v.fetch(j) + v.work(j))


def precedence_rows(mb: ModelBuilder, v: Cols, j: int) -> None:
    """:math:`S_j \\ge E_p` for every data predecessor :math:`p` not pipelined with ``j``."""
    for p in v.problem.hard_preds[j]:
        mb.ge(Affine.of(v.S[j]), Affine.of(v.E[p]))


def pipelined_rows(mb: ModelBuilder, v: Cols, j: int) -> None:
    """Fused producer :math:`p` (first / last tile, :mod:`monet_opt.schedule.realize`):
    :math:`S_j \\ge S_p + \\sum \\tau_{\\cdot p} + d_p(x)/\\text{tiles}` and
    :math:`E_j \\ge E_p + d_j(x)/\\text{tiles}`."""
    tiles = float(v.problem.tiles)
    for p in v.problem.pipe_preds[j]:
        mb.ge(Affine.of(v.S[j]) - Affine.of(v.S[p]) - v.fetch(p) - v.work(p, tiles), 0.0)
        mb.ge(Affine.of(v.E[j]) - Affine.of(v.E[p]) - v.work(j, tiles), 0.0)


def in_order_core_rows(
    mb: ModelBuilder, v: Cols, on_c: Sequence[int], c: int, fixed: dict[int, int], big_m: float
) -> None:
    """:math:`S_j \\ge E_i - M (2 - x_{ic} - x_{jc})` for :math:`i \\prec_\\pi j` on core
    ``c``, unless a path orders them or a node fixed on ``c`` separates them."""
    reach = v.problem.hard_reachability  # pipelined paths do not order end → start
    m_x = {i: big_m * v.xv(i, c) for i in on_c}
    for a_pos, i in enumerate(on_c):
        ends_i = -(Affine.of(v.E[i]) + m_x[i])  # hoisted: -E_i - M x_ic
        for j in on_c[a_pos + 1 :]:
            if not reach[i, j]:  # S_j - E_i - M x_ic - M x_jc >= -2M
                mb.ge(Affine.of(v.S[j]) + ends_i - m_x[j], -2 * big_m)
            if fixed.get(j) == c:
                break  # later nodes on c are ordered after i through j


def core_load_cut(mb: ModelBuilder, v: Cols, on_c: Sequence[int], c: int) -> None:
    """:math:`T \\ge \\sum_i d_{ic} x_{ic}`: the work on core ``c`` (a valid cut)."""
    lat = v.problem.costs.latency
    mb.ge(Affine.of(v.T), Affine.total(lat[i, c] * v.xv(i, c) for i in on_c))


def decode_allocation(problem: Problem, model: Any, values: np.ndarray) -> tuple[int, ...]:
    """Core id per node of a solution vector (the largest of each node's :math:`x_{ic}`)."""
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
