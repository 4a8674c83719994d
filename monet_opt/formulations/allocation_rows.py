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
    "pair_row_bound",
    "chain_start_values",
    "PAIR_ROWS_LIMIT",
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
        core = acc.core(ids[k])
        mems = (core.tile_count, *(float(m.size_bits) for m in core.memories))
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


#: Pair rows of :func:`in_order_core_rows` on one core above which the in-order rule is
#: written as a chain of prefix maxima (rows linear in the nodes that may run on the
#: core) instead of one row per pair.  Both are exact; the pair rows, pruned by paths,
#: are kept where they are few (every shipped example), the chain bounds the model of a
#: derived problem whose recompute copies make the pairs run into the millions (a
#: 12-layer decoder's greedy keep set: 15,689 nodes, 3,534 flexible, 25 M pair rows).
PAIR_ROWS_LIMIT = 150_000
#: Problems above this many nodes do not prune the pair rows by reachability (an n × n
#: boolean matrix, :attr:`~monet_opt.schedule.problem.Problem.hard_reachability`).
REACH_MAX_NODES = 8_000


def pair_row_bound(on_c: Sequence[int], c: int, fixed: dict[int, int]) -> int:
    """Pair rows :func:`in_order_core_rows` writes on core ``c`` before path pruning: for
    each node, the later nodes up to (and including) the next node fixed on ``c``."""
    total, nxt = 0, len(on_c) - 1  # index of the next node fixed on c (or the last)
    for a in range(len(on_c) - 1, -1, -1):
        total += nxt - a
        if fixed.get(on_c[a]) == c:
            nxt = a
    return total


def in_order_core_rows(
    mb: ModelBuilder,
    v: Cols,
    on_c: Sequence[int],
    c: int,
    fixed: dict[int, int],
    big_m: float,
    *,
    pair_limit: int | None = None,
) -> list[tuple[int, int]]:
    """:math:`S_j \\ge E_i - M (2 - x_{ic} - x_{jc})` for :math:`i \\prec_\\pi j` on core
    ``c``, unless a path orders them or a node fixed on ``c`` separates them.

    Above ``pair_limit`` (default :data:`PAIR_ROWS_LIMIT`) such rows the same rule is
    written with prefix maxima :math:`R_{c,k}` (latest end of the first :math:`k` nodes
    of ``on_c`` that run on ``c``), as the gates of
    :mod:`monet_opt.formulations.allocation_memory` are:
    :math:`R_{c,k} \\ge R_{c,k-1}`, :math:`R_{c,k} \\ge E_{i_k} - M (1 - x_{i_k c})` and
    :math:`S_{i_k} \\ge R_{c,k-1} - M (1 - x_{i_k c})`.  For a fixed allocation the
    least :math:`R_{c,k}` is that maximum, so the chain allows exactly the start times
    the pair rows allow, with :math:`3|on_c|` rows instead of :math:`O(|on_c|^2)`.

    Returns
    -------
    list[tuple[int, int]]
        The chain's ``(column, node)`` pairs in order (``R`` after ``node``; empty with
        pair rows), for warm starts (:func:`chain_start_values`).
    """
    limit = PAIR_ROWS_LIMIT if pair_limit is None else pair_limit
    if pair_row_bound(on_c, c, fixed) > limit:
        return _in_order_chain(mb, v, on_c, c, big_m)
    pb = v.problem
    # pipelined paths do not order end → start; a large problem skips the n × n matrix
    reach = pb.hard_reachability if pb.n_nodes <= REACH_MAX_NODES else None
    m_x = {i: big_m * v.xv(i, c) for i in on_c}
    for a_pos, i in enumerate(on_c):
        ends_i = -(Affine.of(v.E[i]) + m_x[i])  # hoisted: -E_i - M x_ic
        for j in on_c[a_pos + 1 :]:
            if reach is None or not reach[i, j]:  # S_j - E_i - M x_ic - M x_jc >= -2M
                mb.ge(Affine.of(v.S[j]) + ends_i - m_x[j], -2 * big_m)
            if fixed.get(j) == c:
                break  # later nodes on c are ordered after i through j
    return []


def _in_order_chain(
    mb: ModelBuilder, v: Cols, on_c: Sequence[int], c: int, big_m: float
) -> list[tuple[int, int]]:
    """The prefix-maximum form of :func:`in_order_core_rows` (its docstring)."""
    chain: list[tuple[int, int]] = []
    prev: int | None = None  # R after the previous node of on_c
    for k, i in enumerate(on_c):
        m_x = big_m * v.xv(i, c)
        if prev is not None:  # S_i - R_prev - M x_ic >= -M
            mb.ge(Affine.of(v.S[i]) - Affine.of(prev) - m_x, -big_m)
        if k == len(on_c) - 1:
            break
        r = mb.var(f"R[{c},{k}]", 0.0, big_m)
        if prev is not None:
            mb.ge(Affine.of(r), Affine.of(prev))
        mb.ge(Affine.of(r) - Affine.of(v.E[i]) - m_x, -big_m)  # R >= E_i - M(1 - x_ic)
        chain.append((r, i))
        prev = r
    return chain


def chain_start_values(
    chain: Sequence[tuple[int, int]], c: int, cidx: Sequence[int], end: Sequence[float]
) -> dict[int, float]:
    """Values of a chain's columns (:func:`in_order_core_rows`) for an allocation
    (core index per node) and its end times: the running maximum end on core ``c``."""
    out: dict[int, float] = {}
    run = 0.0
    for col, i in chain:
        if cidx[i] == c:
            run = max(run, float(end[i]))
        out[col] = run
    return out


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
