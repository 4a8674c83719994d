r"""Realizing layer-fusion and checkpointing decisions as a derived scheduling problem.

A :class:`~monet_opt.schedule.types.Decision` may fuse nodes into **layer stacks** and
may keep only some forward activations as **checkpoints**.  :func:`realize` turns such a
decision into an ordinary :class:`~monet_opt.schedule.problem.Problem` (the *derived*
problem) that the evaluator simulates with the unchanged semantics of
:mod:`monet_opt.schedule.problem`, so the evaluator, the MILPs and the GA share one
definition.

Checkpointing (MONET's bit vector)
----------------------------------
MONET (Morlier et al., "MONET: Modeling and Optimization of neural NEtwork Training from
Edge to Data Centers", arXiv:2603.15002, 2026) decides one bit per activation: keep it
or recompute it.  Here the decision is the set :math:`K \subseteq A` of *kept*
activations, where :math:`A` (:attr:`Problem.checkpoint_tensors`) are the forward
activations read by backward nodes.

* A kept activation :math:`a` is written to DRAM by its producer and read back by its
  backward readers (store-all behaviour).
* A dropped activation is not stored.  Just before its first backward reader
  :math:`j_a` (in program order π), the subgraph producing it is **copied back to the
  nearest stored tensors**: the recompute set

  .. math:: R_K(a) = \{\mathrm{prod}(a)\} \cup \bigcup_{t \in \mathrm{in}(o),\ o \in R_K(a),\
            t \notin K,\ t \text{ produced by a forward node}} \{\mathrm{prod}(t)\}

  is re-executed (each copy on the core of its original, in topological order), reading
  kept tensors, weights and network inputs from DRAM.  Its intermediates are transient;
  the recomputed :math:`a` is held on chip until its last backward reader.  Copies are
  per dropped activation, as in MONET, so overlapping recompute sets are recomputed once
  per activation (this is what makes a chain with only the input stored cost
  :math:`l(l-1)/2`, Revolve's :math:`T(l,1)`, see :mod:`monet_opt.formulations.checkpointing`).

* **Activation footprint** (the memory the budget limits), in program order: a kept
  :math:`a` occupies :math:`b_a` bits from its production to its last backward reader, a
  dropped one from its recomputation to its last backward reader.  Working state (the
  tensors of the op being executed, recompute intermediates, gradients) is not counted,
  as in Revolve.  Because every backward node follows every forward node, the peak is

  .. math:: F(K) = \max_{p \in B}\ \Big[\sum_{a:\ f_a \le p \le l_a} b_a
            + \sum_{a \in K:\ p < f_a} b_a\Big]

  over backward positions :math:`p`, with :math:`f_a, l_a` the positions of the first and
  last backward readers of :math:`a`.

Fusion (layer stacks)
---------------------
A stack is a set of ≥ 2 nodes that are **consecutive in program order** π.  Inside a
stack (the depth-first execution of DeFiNES, Mei et al., HPCA 2023, and of Stream,
Symons et al., IEEE Transactions on Computers 74(1), 2025):

* a tensor passed between two nodes of the stack moves tile by tile (``problem.tiles``
  tiles): no DRAM round trip even when ``layer_io="dram"``, an on-chip buffer of
  :math:`b/\text{tiles}` bits, and **pipelining**: the consumer may start when the
  producer's first tile is done (``fetch_end_p + d_p / tiles``) and ends no earlier than
  ``end_p + d_q / tiles``;
* a forward activation that backward needs and that lives only inside a stack is either
  *spilled* (kept: written to DRAM tile by tile) or *recomputed* (dropped): the
  checkpoint decision above;
* the stack's weights and tile buffers must fit the on-chip memory of the cores running
  it (:func:`stack_overflow` reports violations; the formulations forbid them).

DMA tasks keep their base queue keys (a read stays queued after the writes it depended
on in the base problem), and a task whose bits drop to zero disappears; so fusion and
checkpointing change task *durations* and remove tasks but never reorder the queue.

Construction
------------
:func:`realize` runs one private step per part of the derived problem:
``_kept_and_dropped`` (:math:`K` and the dropped activations), ``_derived_nodes`` (the
copies :math:`R_K(a)` inserted before the first backward reader of :math:`a`),
``_derived_edges``, ``_dram_traffic`` (DMA reads, writes and queue dependencies),
``_tile_tensors``, ``_derived_costs`` and ``_footprint_positions`` (:math:`F(K)` per
derived position).

Errors
------
:func:`realize` raises :class:`ValueError` naming the offending node or tensor when a
stack is not consecutive in π, overlaps another, or a checkpoint is not a candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache

import numpy as np

from monet_opt.cost.tables import CostTables
from monet_opt.models.ir import Graph, Op, Phase, TensorRole
from monet_opt.schedule.memory import Placement
from monet_opt.schedule.problem import Edge, Problem
from monet_opt.schedule.types import Decision
from monet_opt.units import fmt_bits

__all__ = [
    "Realization",
    "realize",
    "recompute_set",
    "reader_positions",
    "footprint_profile",
    "stack_memory_bits",
    "stack_overflow",
    "validate_stacks",
]


def reader_positions(problem: Problem, order: Sequence[int]) -> dict[str, tuple[int, int, int]]:
    """Per checkpoint tensor: (producer, first, last backward reader) positions in ``order``."""
    pos = {i: p for p, i in enumerate(order)}
    out: dict[str, tuple[int, int, int]] = {}
    for e in problem.edges:
        if problem.nodes[e.src].phase != Phase.FORWARD:
            continue
        if problem.nodes[e.dst].phase == Phase.FORWARD:
            continue
        q = pos[e.dst]
        prev = out.get(e.tensor)
        if prev is None:
            out[e.tensor] = (pos[e.src], q, q)
        else:
            out[e.tensor] = (prev[0], min(prev[1], q), max(prev[2], q))
    return out


def recompute_set(problem: Problem, tensor: str, kept: Iterable[str]) -> tuple[int, ...]:
    """Forward nodes re-executed to recompute ``tensor`` when it is dropped.

    The closure :math:`R_K(a)` of the module docstring: the producer of ``tensor`` and,
    recursively, the producers of their inputs that are neither kept nor free of a
    producer (weights, network inputs).  Returned in topological order.
    """
    kept = set(kept)
    prod = _producers(problem)
    if tensor not in prod:
        raise ValueError(f"tensor {tensor!r} has no producing computation node")
    fwd_in = _fwd_in_edges(problem)
    seen: set[int] = set()
    stack = [prod[tensor]]
    while stack:
        o = stack.pop()
        if o in seen:
            continue
        seen.add(o)
        for k in fwd_in[o]:
            e = problem.edges[k]
            if e.tensor not in kept:
                stack.append(e.src)
    return tuple(sorted(seen))


@lru_cache(maxsize=16)
def _producers(problem: Problem) -> dict[str, int]:
    return {e.tensor: e.src for e in problem.edges}


@lru_cache(maxsize=16)
def _fwd_in_edges(problem: Problem) -> tuple[tuple[int, ...], ...]:
    out: list[list[int]] = [[] for _ in problem.nodes]
    for k, e in enumerate(problem.edges):
        if problem.nodes[e.src].phase == Phase.FORWARD:
            out[e.dst].append(k)
    return tuple(tuple(v) for v in out)


def footprint_profile(
    problem: Problem, order: Sequence[int], kept: Iterable[str]
) -> tuple[np.ndarray, dict[str, tuple[int, int, int]]]:
    """Activation footprint (bits) at every position of ``order`` (module docstring).

    Returns the per-position footprint and the reader positions used.
    """
    kept = set(kept)
    win = reader_positions(problem, order)
    bits = {e.tensor: e.bits for e in problem.edges}
    n = len(order)
    diff = np.zeros(n + 1)
    for a, (p0, f, last) in win.items():
        s = p0 if a in kept else f
        diff[s] += bits[a]
        diff[last + 1] -= bits[a]
    return np.cumsum(diff)[:n], win


def validate_stacks(
    problem: Problem, stacks: Sequence[Sequence[int]], order: Sequence[int]
) -> tuple[tuple[int, ...], ...]:
    """Check that stacks are disjoint runs of ≥ 2 nodes consecutive in ``order``.

    Returns the stacks as sorted-by-position tuples.  Raises :class:`ValueError`.
    """
    pos = {i: p for p, i in enumerate(order)}
    used: dict[int, int] = {}
    out = []
    for k, st in enumerate(stacks):
        nodes = sorted({int(i) for i in st}, key=lambda i: pos.get(i, -1))
        for i in nodes:
            if not 0 <= i < problem.n_nodes:
                raise ValueError(f"stack {k}: node index {i} out of range 0..{problem.n_nodes - 1}")
            if i in used:
                raise ValueError(
                    f"stack {k}: node {problem.nodes[i].name!r} is already in stack {used[i]}"
                )
            used[i] = k
        if len(nodes) < 2:
            continue  # a single node is layer by layer
        ps = [pos[i] for i in nodes]
        if ps[-1] - ps[0] != len(ps) - 1:
            gap = next(order[p] for p in range(ps[0], ps[-1]) if p not in set(ps))
            raise ValueError(
                f"stack {k} is not consecutive in program order: node "
                f"{problem.nodes[gap].name!r} runs between its nodes"
            )
        out.append(tuple(nodes))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class Realization:
    """A decision's derived problem and the bookkeeping to read it back.

    Attributes
    ----------
    base
        The problem the decision refers to.
    problem
        Derived problem: nodes in program order (recompute copies inserted), its default
        program order is exactly that order.
    origin
        Base node index of every derived node.
    recompute_for
        Activation a derived node recomputes (``None`` for original nodes).
    kept, dropped
        Checkpoint tensors kept / dropped.
    stacks
        Fused stacks in base node indices, each consecutive in π.
    footprint
        Activation footprint (bits) per derived position.
    priority
        The base program-order priority of the decision (``None``: the default).
    remat
        The multi-level schedule realized (:mod:`monet_opt.schedule.realize_remat`), or
        ``None`` for a single-level decision.
    """

    base: Problem
    problem: Problem
    origin: tuple[int, ...]
    recompute_for: tuple[str | None, ...]
    kept: frozenset[str]
    dropped: tuple[str, ...]
    stacks: tuple[tuple[int, ...], ...]
    footprint: np.ndarray
    priority: tuple[float, ...] | None = None
    remat: tuple[int, ...] | None = None

    @property
    def peak_footprint_bits(self) -> float:
        return float(self.footprint.max()) if len(self.footprint) else 0.0

    @cached_property
    def recompute_nodes(self) -> tuple[int, ...]:
        return tuple(i for i, a in enumerate(self.recompute_for) if a is not None)

    def expand(self, allocation: Sequence[int]) -> tuple[int, ...]:
        """Per derived node, the core id of its base node (copies run on its core)."""
        if len(allocation) != self.base.n_nodes:
            raise ValueError(
                f"allocation has {len(allocation)} entries, expected {self.base.n_nodes}"
            )
        return tuple(int(allocation[o]) for o in self.origin)

    def invert(self, derived: Decision) -> Decision:
        """The base-problem decision of a decision on the derived problem.

        The inverse of :func:`realize` (in the style of cvxpy's apply/invert): a
        formulation solved on :attr:`problem` maps its answer back here.  Original
        nodes keep the core the derived decision gives them; recompute copies run on
        their original's core, so they carry no decision of their own.  The stacks and
        the kept checkpoints are this realization's; a placement is kept as it is (it
        refers to the derived problem, which the evaluator simulates).  The derived program order is
        this realization's base order, so the base priority is kept.

        Parameters
        ----------
        derived
            A decision on :attr:`problem` (``allocation`` has one core id per derived
            node; ``priority``, ``stacks`` and ``checkpoints`` must be the defaults).

        Raises
        ------
        ValueError
            If the allocation has the wrong length, a recompute copy sits on another
            core than its original, or the derived decision fuses or drops anything.
        """
        alloc = tuple(int(a) for a in derived.allocation)
        n = len(self.origin)
        if len(alloc) != n:
            raise ValueError(f"derived allocation has {len(alloc)} entries, expected {n}")
        if derived.stacks or derived.checkpoints is not None or derived.priority is not None:
            raise ValueError("a derived decision carries only an allocation")
        base = [0] * self.base.n_nodes
        for d, o in enumerate(self.origin):
            if self.recompute_for[d] is None:
                base[o] = alloc[d]
        for d, o in enumerate(self.origin):
            if self.recompute_for[d] is not None and alloc[d] != base[o]:
                raise ValueError(
                    f"recompute copy {self.problem.nodes[d].name!r} runs on core {alloc[d]}, "
                    f"its original on core {base[o]}"
                )
        if self.remat is not None:
            return Decision(tuple(base), None, self.stacks, None, derived.placement, self.remat)
        kept = None if self.kept == frozenset(self.base.checkpoint_tensors) else self.kept
        placement = derived.placement
        if placement is not None and kept is None and not any(len(s) > 1 for s in self.stacks):
            placement = self._base_windows(placement)
        return Decision(tuple(base), self.priority, self.stacks, kept, placement)

    def _base_windows(self, placement: Placement) -> Placement:
        """A placement of a trivial realization (store-all, layer by layer) with its
        per-node windows in base numbering: the evaluator simulates such a decision on
        the base problem itself, whose nodes are not in program order."""

        def back(w: tuple[int, ...]) -> tuple[int, ...]:
            if not w:
                return w
            out = [0] * self.base.n_nodes
            for d, o in enumerate(self.origin):
                out[o] = int(w[d])
            return tuple(out)

        return replace(
            placement,
            read_window=back(placement.read_window),
            write_window=back(placement.write_window),
        )

    def recompute_cost(self, allocation: Sequence[int]) -> tuple[float, float]:
        """Cycles and pJ of all recompute copies on their cores, DRAM reads included.

        This is the quantity the checkpointing formulation minimizes (serial recompute
        work: Σ over copies of latency + DRAM read cycles; energy: compute + on-chip
        memory + DRAM read energy).
        """
        pb = self.problem
        c = pb.costs
        ids = {cid: k for k, cid in enumerate(c.core_ids)}
        cyc = 0.0
        pj = 0.0
        for i in self.recompute_nodes:
            k = ids[int(allocation[self.origin[i]])]
            cyc += float(c.latency[i, k]) + float(pb.dram_read_cycles[i])
            pj += float(c.energy[i, k]) + float(pb.dram_read_bits[i]) * c.dram_read_pj_per_bit
        return cyc, pj


@dataclass(frozen=True)
class _Layout:
    """The derived node list of a realization.

    ``origin`` is the base node of every derived node, ``rfor`` the activation a copy
    recomputes (``None`` for original nodes), ``dmap`` the derived index of every base
    node and ``cmap`` that of every copy ``(activation, base node)``.
    """

    origin: tuple[int, ...]
    rfor: tuple[str | None, ...]
    dmap: dict[int, int]
    cmap: dict[tuple[str, int], int]


@dataclass(frozen=True)
class _DramTraffic:
    """Per derived node: DRAM read / write bits and tensors, and DMA queue dependencies."""

    read_bits: np.ndarray
    write_bits: np.ndarray
    read_tensors: tuple[tuple[str, ...], ...]
    write_tensors: tuple[tuple[str, ...], ...]
    deps: tuple[tuple[int, ...], ...]


def _kept_and_dropped(
    problem: Problem, checkpoints: Iterable[str] | None
) -> tuple[frozenset[str], tuple[str, ...]]:
    """Kept checkpoint tensors (``None``: all) and the dropped ones by producer index.

    Raises
    ------
    ValueError
        When a checkpoint is not a candidate.
    """
    cands = problem.checkpoint_tensors
    if checkpoints is None:
        kept = frozenset(cands)
    else:
        unknown = sorted(set(checkpoints) - set(cands))
        if unknown:
            raise ValueError(
                f"checkpoints {unknown[:3]} are not checkpoint candidates; allowed: "
                f"{list(cands)[:6]}{'...' if len(cands) > 6 else ''}"
            )
        kept = frozenset(checkpoints)
    prod = _producers(problem)
    dropped = tuple(sorted((a for a in cands if a not in kept), key=lambda a: prod[a]))
    return kept, dropped


def _derived_nodes(
    problem: Problem,
    order: Sequence[int],
    win: dict[str, tuple[int, int, int]],
    kept: frozenset[str],
    dropped: Sequence[str],
) -> tuple[_Layout, tuple[Op, ...]]:
    """Base nodes in program order, each preceded by the recompute copies
    :math:`R_K(a)` of the dropped activations it is the first backward reader of."""
    groups: dict[int, list[tuple[str, tuple[int, ...]]]] = {}
    for a in dropped:
        first = order[win[a][1]]
        groups.setdefault(first, []).append((a, recompute_set(problem, a, kept)))
    origin: list[int] = []
    rfor: list[str | None] = []
    dmap: dict[int, int] = {}
    cmap: dict[tuple[str, int], int] = {}
    for i in order:
        for a, rset in groups.get(i, []):
            for o in rset:
                cmap[(a, o)] = len(origin)
                origin.append(o)
                rfor.append(a)
        dmap[i] = len(origin)
        origin.append(i)
        rfor.append(None)
    base = problem.nodes
    nodes = tuple(
        base[o] if a is None else replace(base[o], name=f"{base[o].name}@recompute[{a}]")
        for o, a in zip(origin, rfor, strict=True)
    )
    return _Layout(tuple(origin), tuple(rfor), dmap, cmap), nodes


def _derived_edges(
    problem: Problem,
    layout: _Layout,
    dropped: Sequence[str],
    stacks: Sequence[Sequence[int]],
) -> list[Edge]:
    """Edges of the derived problem, sorted by (consumer, producer).

    A dropped activation reaches its backward readers from its recompute copy, on chip;
    an edge inside a stack is pipelined and never goes through DRAM; a copy reads the
    copies of its inputs on chip and kept tensors back from DRAM.
    """
    base = problem.nodes
    dmap, cmap = layout.dmap, layout.cmap
    stack_of = {i: k for k, st in enumerate(stacks) for i in st}
    edges: list[Edge] = []
    for e in problem.edges:
        src_fwd = base[e.src].phase == Phase.FORWARD
        dst_fwd = base[e.dst].phase == Phase.FORWARD
        if e.tensor in dropped and src_fwd and not dst_fwd:
            edges.append(Edge(cmap[(e.tensor, e.src)], dmap[e.dst], e.tensor, e.bits, False))
            continue
        same = e.src in stack_of and stack_of[e.src] == stack_of.get(e.dst, -1)
        edges.append(
            Edge(dmap[e.src], dmap[e.dst], e.tensor, e.bits, e.via_dram and not same, same)
        )
    fwd_in = _fwd_in_edges(problem)
    for (a, o), d in cmap.items():
        for k in fwd_in[o]:
            e = problem.edges[k]
            if (a, e.src) in cmap:
                edges.append(Edge(cmap[(a, e.src)], d, e.tensor, e.bits, False))
            else:  # a kept tensor: read back from DRAM
                edges.append(Edge(dmap[e.src], d, e.tensor, e.bits, True))
    edges.sort(key=lambda e: (e.dst, e.src))
    return edges


def _dram_traffic(
    problem: Problem, layout: _Layout, edges: Sequence[Edge], *, write_unread: bool = True
) -> _DramTraffic:
    """DRAM reads (weights and other non-edge inputs of the base node, plus edges via
    DRAM) and writes (weights, optimizer state, outputs nobody reads on chip, and tensors
    some consumer reads from DRAM; copies write nothing) of every derived node.  Original
    nodes keep their base DMA queue dependencies (module docstring).  With
    ``write_unread=False`` an output that base nodes read but no derived node reads
    (every reader reads a recomputed copy) is discarded, not written."""
    g = problem.graph
    n = len(layout.origin)
    into: list[dict[str, Edge]] = [{} for _ in range(n)]
    out_via: set[tuple[int, str]] = set()
    consumed: set[tuple[int, str]] = set()
    for e in edges:
        into[e.dst][e.tensor] = e
        consumed.add((e.src, e.tensor))
        if e.via_dram:
            out_via.add((e.src, e.tensor))
    base_edge_tensors: list[set[str]] = [set() for _ in problem.nodes]
    base_read: set[tuple[int, str]] = set()
    for e in problem.edges:
        base_edge_tensors[e.dst].add(e.tensor)
        base_read.add((e.src, e.tensor))
    rt: list[tuple[str, ...]] = []
    wt: list[tuple[str, ...]] = []
    deps: list[tuple[int, ...]] = []
    for d, o in enumerate(layout.origin):
        reads = [t for t in problem.dram_read_tensors[o] if t not in base_edge_tensors[o]]
        reads += [t for t, e in into[d].items() if e.via_dram]
        rt.append(tuple(reads))
        dep = {e.src for e in into[d].values() if e.via_dram}
        if layout.rfor[d] is None:
            dep |= {layout.dmap[q] for q in problem.dram_deps[o]}
            wt.append(
                tuple(
                    t
                    for t in problem.dram_write_tensors[o]
                    if g.tensors[t].role in (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE)
                    or ((d, t) not in consumed and (write_unread or (o, t) not in base_read))
                    or (d, t) in out_via
                )
            )
        else:
            wt.append(())
        deps.append(tuple(sorted(dep)))
    return _DramTraffic(
        read_bits=_bits_of(g, rt),
        write_bits=_bits_of(g, wt),
        read_tensors=tuple(rt),
        write_tensors=tuple(wt),
        deps=tuple(deps),
    )


def _bits_of(g: Graph, tensors: Sequence[Sequence[str]]) -> np.ndarray:
    """Total bits of each tuple of tensor names."""
    out = np.zeros(len(tensors))
    for d, ts in enumerate(tensors):
        out[d] = sum(g.tensors[t].bits for t in ts)
    return out


def _tile_tensors(edges: Sequence[Edge]) -> frozenset[str]:
    """Tensors moved tile by tile: every on-chip edge of one (producer, tensor) is
    pipelined (inside a stack)."""
    onchip: dict[tuple[int, str], list[Edge]] = {}
    for e in edges:
        if not e.via_dram:
            onchip.setdefault((e.src, e.tensor), []).append(e)
    return frozenset(es[0].tensor for es in onchip.values() if all(e.pipelined for e in es))


def _derived_costs(problem: Problem, layout: _Layout, nodes: Sequence[Op]) -> CostTables:
    """Cost tables of the derived nodes: the rows of their base nodes."""
    c = problem.costs
    idx = np.asarray(layout.origin, dtype=int)
    return replace(
        c,
        node_names=tuple(op.name for op in nodes),
        latency=c.latency[idx],
        energy=c.energy[idx],
        details=tuple(c.details[o] for o in layout.origin),
    )


def _footprint_positions(
    problem: Problem,
    order: Sequence[int],
    win: dict[str, tuple[int, int, int]],
    kept: frozenset[str],
    layout: _Layout,
) -> np.ndarray:
    """Activation footprint :math:`F(K)` (bits) at every derived position: a kept
    activation is live from its producer, a dropped one from its recompute copy, to its
    last backward reader."""
    prod = _producers(problem)
    bits = {e.tensor: e.bits for e in problem.edges}
    n = len(layout.origin)
    diff = np.zeros(n + 1)
    for a, (p0, _f, last) in win.items():
        start = layout.dmap[order[p0]] if a in kept else layout.cmap[(a, prod[a])]
        diff[start] += bits[a]
        diff[layout.dmap[order[last]] + 1] -= bits[a]
    return np.cumsum(diff)[:n]


def _derived_problem(
    problem: Problem,
    layout: _Layout,
    nodes: Sequence[Op],
    edges: Sequence[Edge],
    *,
    write_unread: bool = True,
) -> Problem:
    """The derived :class:`Problem` of a layout and its edges: DMA traffic, costs, tile
    tensors, the layout order as the default program order, copies tied to the core of
    their original (``write_unread`` as in :func:`_dram_traffic`)."""
    dram = _dram_traffic(problem, layout, edges, write_unread=write_unread)
    n = len(layout.origin)
    return Problem(
        graph=problem.graph,
        accelerator=problem.accelerator,
        nodes=tuple(nodes),
        edges=tuple(edges),
        costs=_derived_costs(problem, layout, nodes),
        dram_read_bits=dram.read_bits,
        dram_write_bits=dram.write_bits,
        dram_read_tensors=dram.read_tensors,
        dram_write_tensors=dram.write_tensors,
        dram_deps=dram.deps,
        prefetch_depth=problem.prefetch_depth,
        layer_io=problem.layer_io,
        memory=problem.memory,
        default_priority=tuple(float(n - k) for k in range(n)),
        tiles=problem.tiles,
        tile_tensors=_tile_tensors(edges),
        ties=tuple(
            -1 if a is None else layout.dmap[o]
            for o, a in zip(layout.origin, layout.rfor, strict=True)
        ),
        input_operands=tuple(problem.input_operands[o] for o in layout.origin)
        if problem.input_operands
        else (),
    )


def realize(problem: Problem, decision: Decision) -> Realization:
    """Derived problem of a decision's stacks and checkpoints (module docstring).

    Parameters
    ----------
    problem
        Base problem (layer by layer, store-all).
    decision
        ``stacks`` (base node indices) and ``checkpoints`` (kept tensor names, ``None`` =
        all) are realized; ``priority`` fixes the program order π of the base nodes.

    Raises
    ------
    ValueError
        On invalid stacks or unknown checkpoint names, or a decision with a multi-level
        schedule (realize it with :func:`monet_opt.schedule.realize_remat.realize_remat`).
    """
    if decision.remat is not None:
        raise ValueError("a decision with a multi-level schedule is realized by realize_remat")
    order = problem.program_order(decision.priority)
    kept, dropped = _kept_and_dropped(problem, decision.checkpoints)
    stacks = validate_stacks(problem, decision.stacks, order)
    win = reader_positions(problem, order)
    layout, nodes = _derived_nodes(problem, order, win, kept, dropped)
    edges = _derived_edges(problem, layout, dropped, stacks)
    derived = _derived_problem(problem, layout, nodes, edges)
    return Realization(
        base=problem,
        problem=derived,
        origin=layout.origin,
        recompute_for=layout.rfor,
        kept=kept,
        dropped=dropped,
        stacks=stacks,
        footprint=_footprint_positions(problem, order, win, kept, layout),
    )


def stack_memory_bits(
    problem: Problem, stack: Sequence[int], allocation: Sequence[int]
) -> dict[int, float]:
    """On-chip bits a fused stack needs per core id: its weights (and optimizer state)
    plus a :math:`b/\\text{tiles}` buffer per tensor passed inside the stack (charged to
    the consumer's core).  ``stack`` and ``allocation`` are in base node indices / ids."""
    g = problem.graph
    members = set(stack)
    need: dict[int, float] = {}
    for i in stack:
        core = int(allocation[i])
        for t in problem.dram_read_tensors[i]:
            if g.tensors[t].role in (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE):
                need[core] = need.get(core, 0.0) + g.tensors[t].bits
    for e in problem.edges:
        if e.src in members and e.dst in members:
            core = int(allocation[e.dst])
            need[core] = need.get(core, 0.0) + e.bits / problem.tiles
    return need


def stack_overflow(
    problem: Problem, stacks: Sequence[Sequence[int]], allocation: Sequence[int]
) -> list[str]:
    """Human-readable capacity violations of fused stacks (empty when all fit)."""
    acc = problem.accelerator
    out = []
    for k, st in enumerate(stacks):
        if len(st) < 2:
            continue
        for core, bits in stack_memory_bits(problem, st, allocation).items():
            cap = acc.core(core).onchip_bits
            if bits > cap + 1e-6:
                out.append(
                    f"stack {k} ({problem.nodes[st[0]].name}..{problem.nodes[st[-1]].name}) "
                    f"needs {fmt_bits(bits)} on core {core}, capacity {fmt_bits(cap)}"
                )
    return out
