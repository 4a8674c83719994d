r"""Where every byte lives: on-chip memories with capacity, placement and its default policy.

This module defines the memory semantics that the evaluator, the formulations and the GA
share (:mod:`monet_opt.schedule.evaluator` enforces the timing side of it).

Memories
--------
Each compute core :math:`c` holds operand :math:`X \in \{I1, I2, O\}` of the ZigZag
convention in its **top on-chip memory for X**, :math:`M(c, X)` (the last level of
``core.memories_for(X)``; a TPU-like core keeps weights (I2) in its ``W`` SRAM and
activations and outputs (I1, O) in its ``A`` SRAM; operands that share a memory share
its capacity).  Every memory has a hard capacity in bits; so has DRAM.

Positions
---------
The nodes of a (derived) problem run in program order :math:`\pi`; the *position*
:math:`p` of a node is its index in :math:`\pi`.  Demand is computed per memory at every
position; the evaluator's gates (below) make the occupancy of a memory at every moment
of the real schedule at most its demand at some position, so **demand ≤ capacity at
every position implies occupancy ≤ capacity at every moment**.

Demand of memory :math:`m` of core :math:`c` at position :math:`p`
-------------------------------------------------------------------
1. **Working set** of the node :math:`i` at :math:`p` if it runs on :math:`c`: the bits
   its mapping holds in :math:`m` (``OpCost.held``: whole operands when they fit, tile
   buffers when they are streamed from DRAM), except inputs read in place from a tensor
   that is already live on :math:`c`.
2. **Live tensors** on :math:`c`: a tensor produced on :math:`c` and kept on chip
   (neither spilled nor streamed) occupies its producer's O-memory from its production
   to its last on-chip consumer (positions :math:`(a, \ell]`, without the positions
   where it is part of a same-core consumer's working set).  A tensor inside a fused
   stack moves tile by tile: :math:`b/\text{tiles}` bits.
3. **Prefetch buffers**: the DRAM reads of a node :math:`j` on :math:`c` (weights,
   optimizer state, inputs and spilled tensors; not the streamed operands) occupy
   their memories from position :math:`\mathrm{pos}(j) - w_j` to :math:`\mathrm{pos}(j)`
   exclusive (the read window :math:`w_j \le` ``prefetch_depth``).
4. **Write-back buffers**: outputs of a node :math:`i` on :math:`c` written to DRAM
   (by a DMA task after the node) stay until written: positions
   :math:`(\mathrm{pos}(i), \mathrm{pos}(i) + w'_i]` (the write window).
5. **Resident training state** (:mod:`monet_opt.schedule.resident`): the weights and
   optimizer state kept on :math:`c` across steps occupy its I2 memory at every position
   (``MemoryModel.permanent``); a node reading one in place from that memory holds no
   copy of it in its working set.

Gates (in the evaluator)
------------------------
* **G1 (free before reuse).** A node :math:`i` starts only after every on-chip tensor of
  its core whose last consumer :math:`j` comes earlier in :math:`\pi` has been fetched
  by :math:`j` (same core: :math:`j` has ended).
* **G2 (prefetch by room).** The DRAM read of :math:`j` starts only after every node at
  a position before :math:`\mathrm{pos}(j) - w_j` has ended.
* **G3 (write-back drain).** A node :math:`k` starts only after every write of a node
  :math:`i` with :math:`\mathrm{pos}(i) + w'_i < \mathrm{pos}(k)` has ended.

Why demand bounds occupancy: at a moment :math:`\tau` let :math:`i` be the node of
:math:`c` running or last started, and :math:`j^*` the occupied prefetch buffer of
:math:`c` with the largest :math:`\mathrm{pos}(j) - w_j`.  Take
:math:`p = \max(\mathrm{pos}(i), \mathrm{pos}(j^*) - w_{j^*})`.  Every tensor still live
has its last consumer at or after :math:`p` (G1 at :math:`i`; G2: the nodes before
:math:`\mathrm{pos}(j^*) - w_{j^*}` have ended, so they have fetched); every occupied
prefetch buffer belongs to a node that has not ended, hence at or after
:math:`\mathrm{pos}(j^*) - w_{j^*}` (G2) and after :math:`i`, and its window covers
:math:`p`; every write still in progress has a window reaching :math:`p` (G3 for
:math:`i`, and the DRAM port serves the queue in order, so a read keyed after a write
starts after it).  So everything occupying :math:`m` at :math:`\tau` is counted at
:math:`p`.

Fused stacks
------------
Inside a fused layer stack the nodes joined by pipelined edges (a *fused group*) run
tile by tile, all at once (DeFiNES, Mei et al., HPCA 2023; Stream, Symons et al., IEEE
Trans. Computers 74(1), 2025).  Positions account for that: the span of a group in
:math:`\pi` (its first to its last member, and everything between; overlapping spans
merged) is **one position**, so the working sets of all members are co-resident and
every tensor a member reads stays until the span ends.  The gates count from the next
position on (G1 and G2 never make a member wait for another member of its position); a
DMA read that must follow a DMA write of its own position (a spilled tensor produced in
the span) is queued right before its node.  Within a group:

* a *tile tensor* (all its on-chip edges inside the group) leaves the working sets of its
  producer and consumers and occupies one tile, :math:`b/\text{tiles}` bits, on its
  producer's O memory over the position (a consumer on another core or memory holds a
  copy of one tile); it is never spilled.  A tensor also read outside the group is held
  whole;
* when the members' working sets on a memory exceed its capacity, the largest weights
  of that memory (held whole, or streamed by the node's mapping through a buffer larger
  than the one below) are **re-streamed** once per tile: ``tiles`` × their bits of
  in-node DRAM reads on top of the node's own traffic (conservative) through a double
  buffer of :math:`2/\text{tiles}` of them, in decreasing size until the working sets
  fit or no weight is left.  Activations are not re-tiled: a group whose activations
  alone do not fit overflows, and the evaluator reports it.

Placement and its default policy
--------------------------------
A :class:`Placement` lists the **spilled** tensors (written to DRAM by their producer and
read back by their consumers over the DRAM port) and the read / write windows.  Tensors
an operand's mapping streams (an output too large for its memory, an input a consumer
streams) live in DRAM whatever the placement (*forced* spills).  Spills are named: a
name spills every on-chip tensor of that name (a recompute copy's output shares the name
of the activation it recomputes).  :func:`default_placement` is Stream's rule, made
deterministic: sweep the positions; where a memory would overflow, first spill the live
tensors whose last use is furthest (as few as the excess needs; Belady's rule, "A study
of replacement algorithms for a virtual-storage computer", IBM Syst. J. 5(2), 1966, with
the last use for the next; Stream's ``scheduler_candidate_selection="memory"`` evicts to
DRAM), then shorten the prefetch windows that cover the position, then the write-back
windows.  A spill adds a prefetch buffer before each consumer (on the consumer's core)
and a write-back buffer after the producer; the consumers' windows are shortened so
that their buffers never reach a position already made to fit.  The producer's
write-back buffer and the input its same-core consumers no longer read in place can
still raise the demand at positions the sweep has passed: those positions are swept
again (a further pass, from the earliest one) until no overflow is left that a spill or
a window could remove.  Where every node's working set fits (the cost model tiles it),
the placement is within capacity.

The sweep is incremental: the demand is updated by the exact change of each spill or
window (the live interval of the tensor, the in-place reads of its consumers, their
prefetch buffers and the producer's write-back buffer), and the returned demand is
recomputed from scratch (:meth:`MemoryModel.bits`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import compress

import numpy as np

from monet_opt.models.ir import TensorRole
from monet_opt.schedule.problem import Problem
from monet_opt.units import REL_TOL

__all__ = [
    "Placement",
    "MemoryKey",
    "Demand",
    "MemoryModel",
    "memory_model",
    "demand",
    "default_placement",
]

#: ``(core index, memory name)`` of an on-chip memory.
MemoryKey = tuple[int, str]
_OPERANDS = ("I1", "I2", "O")
#: Bit counts that are multiples of ``1 / _GRAIN`` add up exactly in floating point.
_GRAIN = 1024.0


@dataclass(frozen=True)
class Placement:
    """Where tensors live: the spilled ones, and the prefetch / write-back windows.

    Attributes
    ----------
    spills
        Tensors (names as in :attr:`Problem.edges`) written to DRAM by their producer
        and read back by their consumers; ``None`` lets :func:`default_placement`
        choose (forced spills are added in every case).
    read_window, write_window
        Per node of the (derived) problem: how many positions its DRAM reads may run
        ahead / its DRAM writes may lag; empty: ``prefetch_depth`` for every node.
    """

    spills: frozenset[str] | None = None
    read_window: tuple[int, ...] = ()
    write_window: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class Demand:
    """Demand of every on-chip memory at every position (module docstring).

    Attributes
    ----------
    keys, labels
        Memory keys ``(core index, memory name)`` and printable names, in row order.
    capacity
        ``(n_memories,)`` capacities in bits.
    bits
        ``(n_memories, n_positions)`` demand in bits.
    placement
        The placement (spills incl. forced ones, windows) the demand is for.
    """

    keys: tuple[MemoryKey, ...]
    labels: tuple[str, ...]
    capacity: np.ndarray
    bits: np.ndarray
    placement: Placement

    def overflow(self) -> list[tuple[str, int, float, float]]:
        """``(memory label, position, demand bits, capacity bits)`` over capacity."""
        over = self.bits > self.capacity[:, None] * (1 + REL_TOL) + 1e-6
        return [
            (self.labels[m], int(p), float(self.bits[m, p]), float(self.capacity[m]))
            for m, p in zip(*np.nonzero(over), strict=True)
        ]

    @property
    def peak(self) -> np.ndarray:
        """``(n_memories,)`` peak demand in bits."""
        return self.bits.max(axis=1) if self.bits.size else np.zeros(len(self.keys))


def _held(problem: Problem, i: int, c: int) -> dict[str, float]:
    """Bits node ``i`` holds per operand while running on core index ``c`` (the cost
    model's ``held``; whole operands when it gives none)."""
    oc = problem.costs.details[i][c]
    held = dict(getattr(oc, "held", ()) or ())
    if held:
        return held
    op = problem.nodes[i]
    g = problem.graph
    ins = [float(g.tensors[t].bits) for t in op.inputs if t in g.tensors]
    out = sum(float(g.tensors[t].bits) for t in op.outputs if t in g.tensors)
    return {"I1": ins[0] if ins else 0.0, "I2": float(sum(ins[1:])), "O": out}


class MemoryModel:
    """The memory semantics of one (derived) problem, precomputed for fast evaluation.

    Every per-(node, core) quantity is an array, so the demand of a placement is a few
    numpy operations (the GA evaluates thousands of decisions a second).

    Attributes
    ----------
    keys, labels, capacity
        On-chip memories (rows), as in :class:`Demand`.
    slot_row
        ``(n_cores, 3)`` memory row of operand I1 / I2 / O on each core (-1: none).
    work
        ``(n, n_cores, 3)`` bits held per operand slot while the node runs.
    streamed
        ``(n, n_cores, 3)`` bool: the operand is streamed from/to DRAM in-node.
    reads
        ``(n, 3)`` DRAM-read bits per operand of each node (weights, state, inputs from
        DRAM), before subtracting streamed operands.
    writes
        ``(n,)`` DRAM-write bits of each node (written back after it).
    tensors, t_src, t_bits, t_tile_bits
        On-chip tensors (spill candidates and those that cannot be spilled), their
        producer and bits (whole / per tile inside a fused stack).
    e_tensor, e_dst, e_operand, e_bits
        On-chip edges: tensor index, consumer, consumer operand slot, bits moved.
    edge_tensor
        ``(len(problem.edges),)`` tensor index of every edge of the problem (-1: an edge
        via DRAM).
    t_edges
        Per tensor: its on-chip edges (indices into ``e_*``).
    t_twins
        Per tensor: the other tensors of the same name (a :class:`Placement` spills by
        name), or ``None`` when every name is unique.
    spillable
        ``(n_tensors,)`` bool: the tensor may be spilled (activations, gradients; not a
        tile of a fused stack).
    t_pipe, e_pipe
        Tile tensors (every on-chip edge inside a fused stack) and their edges.
    groups
        Fused groups: nodes joined by pipelined edges (module docstring).
    restreamable
        ``(n,)`` bool: the node's I2 is read from DRAM and has no on-chip input, so a
        fused group may re-stream it per tile.
    dep_dst, dep_src
        A node's DRAM read follows the DRAM write of another (``problem.dram_deps``).
    exact
        Every bit count is a multiple of 1/1024 and their total is below 2**40: sums of
        them are exact in any order (the policy's running demand is then the demand).
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self._last_view: _OrderView | None = None
        self._last_alloc: tuple[bytes, _Alloc] | None = None
        self._init_memories(problem)
        self._init_nodes(problem)
        self._init_tensors(problem)
        self._init_resident(problem)
        parts = (self.work, self.reads, self.writes, self.t_bits, self.t_tile_bits, self.e_bits)
        scaled = [x * _GRAIN for x in parts]
        self.exact = all(bool(np.all(s == np.round(s))) for s in scaled) and (
            sum(float(np.abs(s).sum()) for s in scaled) < 2.0**50
        )
        pairs = [(i, w) for i in range(problem.n_nodes) for w in problem.dram_deps[i]]
        self.dep_dst = np.asarray([a for a, _ in pairs], dtype=int)
        self.dep_src = np.asarray([b for _, b in pairs], dtype=int)

    def _init_memories(self, problem: Problem) -> None:
        """Memory rows: ``keys``, ``labels``, ``capacity``, ``slot_row``."""
        keys: list[MemoryKey] = []
        caps: list[float] = []
        labels: list[str] = []
        slot_row = np.full((len(problem.core_ids), 3), -1, dtype=int)
        for c, cid in enumerate(problem.core_ids):
            core = problem.accelerator.core(cid)
            for k, x in enumerate(_OPERANDS):
                mem = core.top_memory(x)
                if mem is None:
                    continue
                key = (c, mem.name)
                if key not in keys:
                    keys.append(key)
                    caps.append(float(mem.size_bits) * core.tile_count)  # all tiles
                    labels.append(f"core {cid} ({core.name}): {mem.name}")
                slot_row[c, k] = keys.index(key)
        self.keys, self.labels = tuple(keys), tuple(labels)
        self.capacity = np.asarray(caps, dtype=float)
        self.slot_row = slot_row

    def _init_resident(self, problem: Problem) -> None:
        """Training state resident across steps (:mod:`monet_opt.schedule.resident`):
        ``permanent`` ``(n_memories,)`` bits held all step in the I2 memory of the
        group's core; a node reading (or, the optimizer, updating) a resident tensor in
        place from that memory holds no copy of it in its working set."""
        self.permanent = np.zeros(len(self.keys))
        if not problem.resident:
            return
        g = problem.graph
        produced = {t for op in problem.nodes for t in op.outputs}
        where = dict(problem.resident)
        i2 = _OPERANDS.index("I2")
        for t, c in problem.resident:
            row = self.slot_row[c, i2]
            if row < 0:
                raise ValueError(f"resident: core {problem.core_ids[c]} has no weight memory")
            if t not in produced:
                self.permanent[row] += float(g.tensors[t].bits)
        operands = problem.input_operands
        work = self.work.copy()
        for i, op in enumerate(problem.nodes):
            uses = [(t, operands[i].get(t, "I2") if operands else "I2") for t in op.inputs]
            uses += [(t, "O") for t in op.outputs]
            for t, x in dict.fromkeys(uses):
                c = where.get(t)
                k = _OPERANDS.index(x)
                if c is None or self.slot_row[c, k] != self.slot_row[c, i2]:
                    continue
                work[i, c, k] = max(0.0, work[i, c, k] - float(g.tensors[t].bits))
        self.work = work

    def _init_nodes(self, problem: Problem) -> None:
        """Per node (and core): ``work``, ``streamed``, ``reads``, ``writes``."""
        n = problem.n_nodes
        nc = len(problem.core_ids)
        work = np.zeros((n, nc, 3))
        streamed = np.zeros((n, nc, 3), dtype=bool)
        allowed = problem.costs.allowed
        for i in range(n):
            for c in range(nc):
                if not allowed[i, c]:
                    continue
                held = _held(problem, i, c)
                oc = problem.costs.details[i][c]
                st = frozenset(getattr(oc, "streamed", ()) or ())
                for k, x in enumerate(_OPERANDS):
                    work[i, c, k] = float(held.get(x, 0.0))
                    streamed[i, c, k] = x in st
        self.work, self.streamed = work, streamed
        g = problem.graph
        operands = problem.input_operands
        reads = np.zeros((n, 3))
        for i in range(n):
            for t in problem.dram_read_tensors[i]:
                x = operands[i].get(t, "I2") if operands else "I2"
                reads[i, _OPERANDS.index(x)] += float(g.tensors[t].bits)
        self.reads = reads
        self.writes = np.asarray(
            [sum(float(g.tensors[t].bits) for t in problem.dram_write_tensors[i]) for i in range(n)]
        )

    def _init_tensors(self, problem: Problem) -> None:
        """On-chip tensors and edges (``tensors``, ``t_*``, ``e_*``, ``edge_tensor``)."""
        operands = problem.input_operands
        tensors: list[str] = []
        t_index: dict[tuple[int, str], int] = {}
        t_src: list[int] = []
        t_bits: list[float] = []
        t_tile: list[float] = []
        e_t: list[int] = []
        e_dst: list[int] = []
        e_op: list[int] = []
        e_bits: list[float] = []
        edge_tensor: list[int] = []
        for e in problem.edges:
            if e.via_dram:
                edge_tensor.append(-1)
                continue
            key2 = (e.src, e.tensor)
            if key2 not in t_index:
                t_index[key2] = len(tensors)
                tensors.append(e.tensor)
                t_src.append(e.src)
                t_bits.append(float(e.bits))
                t_tile.append(float(e.bits))
            t = t_index[key2]
            b = e.bits / problem.tiles if e.pipelined else e.bits
            t_tile[t] = min(t_tile[t], b) if e.pipelined else t_tile[t]
            x = operands[e.dst].get(e.tensor, "I2") if operands else "I1"
            edge_tensor.append(t)
            e_t.append(t)
            e_dst.append(e.dst)
            e_op.append(_OPERANDS.index(x))
            e_bits.append(float(b))
        self.tensors = tuple(tensors)
        self.t_src = np.asarray(t_src, dtype=int)
        self.t_bits = np.asarray(t_bits)
        piped = np.ones(len(tensors), dtype=bool)
        for t, e in zip(edge_tensor, problem.edges, strict=True):
            if t >= 0 and not e.pipelined:
                piped[t] = False
        self.t_pipe = piped
        # a tensor also read outside its stack is assembled whole
        self.t_tile_bits = np.where(piped, np.asarray(t_tile), self.t_bits)
        self.e_tensor = np.asarray(e_t, dtype=int)
        self.e_dst = np.asarray(e_dst, dtype=int)
        self.e_operand = np.asarray(e_op, dtype=int)
        self.e_bits = np.asarray(e_bits)
        self.edge_tensor = np.asarray(edge_tensor, dtype=int)
        g = problem.graph
        role = [g.tensors[t].role for t in tensors]
        self.spillable = (
            np.asarray(
                [r not in (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE) for r in role],
                dtype=bool,
            )
            & ~self.t_pipe
        )
        self.e_pipe = self.t_pipe[self.e_tensor] if len(e_t) else np.zeros(0, dtype=bool)
        t_edges: list[list[int]] = [[] for _ in tensors]
        for k, t in enumerate(e_t):
            t_edges[t].append(k)
        self.t_edges = tuple(tuple(v) for v in t_edges)
        by_name: dict[str, list[int]] = {}
        for t, name in enumerate(tensors):
            if not piped[t]:  # a tile tensor stays on chip whatever its name
                by_name.setdefault(name, []).append(t)
        self._by_name = {k: np.asarray(v, dtype=int) for k, v in by_name.items()}
        twins = any(len(v) > 1 for v in by_name.values())
        self.t_twins = (
            tuple(
                tuple(u for u in by_name.get(name, ()) if u != t) for t, name in enumerate(tensors)
            )
            if twins
            else None
        )
        self._init_groups(problem)

    def _init_groups(self, problem: Problem) -> None:
        """Fused groups (``groups``) and what weight re-streaming needs."""
        n = problem.n_nodes
        parent = list(range(n))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for e in problem.edges:
            if e.pipelined and not e.via_dram:
                a, b = find(e.src), find(e.dst)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        members: dict[int, list[int]] = {}
        for i in range(n):
            members.setdefault(find(i), []).append(i)
        self.groups = tuple(tuple(v) for v in members.values() if len(v) > 1)
        i2_edge = np.zeros(n, dtype=bool)
        if len(self.e_dst):
            i2_edge[self.e_dst[self.e_operand == 1]] = True
        #: weights a fused member may re-stream per tile (DRAM-read I2, no on-chip I2 input)
        self.restreamable = (self.reads[:, 1] > 0) & ~i2_edge

    @cached_property
    def lists(self) -> _Lists:
        """Per-tensor and per-edge arrays as lists (for the policy's sweep)."""
        return _Lists(
            self.t_src.tolist(), self.t_bits.tolist(), self.t_tile_bits.tolist(),
            self.e_dst.tolist(), self.e_operand.tolist(), self.e_bits.tolist(),
        )  # fmt: skip

    # -- program order ---------------------------------------------------------------
    @cached_property
    def default_order(self) -> tuple[int, ...]:
        """The problem's default program order π."""
        return self.problem.program_order()

    @cached_property
    def _default_view(self) -> _OrderView:
        return _OrderView.build(self, self.default_order)

    def view(self, order: Sequence[int] | None = None) -> _OrderView:
        """Order-dependent indices (:class:`_OrderView`); cached for the default order
        and the last other order."""
        if order is None:
            return self._default_view
        key = tuple(order)
        if key == self.default_order:
            return self._default_view
        last = self._last_view
        if last is None or last.order != key:
            last = self._last_view = _OrderView.build(self, key)
        return last

    # -- placement -------------------------------------------------------------------
    def forced(self, cidx: np.ndarray) -> np.ndarray:
        """``(n_tensors,)`` bool: tensors a mapping streams (they must live in DRAM)."""
        out = self.streamed[self.t_src, cidx[self.t_src], 2]
        if len(self.e_tensor):
            by_edge = self.streamed[self.e_dst, cidx[self.e_dst], self.e_operand]
            np.logical_or.at(out, self.e_tensor, by_edge)
        out &= ~self.t_pipe  # a tile of a fused stack stays on chip
        return out

    def spill_mask(self, names: Iterable[str]) -> np.ndarray:
        """``(n_tensors,)`` bool: the tensors of the given names."""
        out = np.zeros(len(self.tensors), dtype=bool)
        for name in names:
            idx = self._by_name.get(name)
            if idx is not None:
                out[idx] = True
        return out  # tile tensors are not in ``_by_name``: they stay on chip

    def close(self, spilled: np.ndarray) -> np.ndarray:
        """``spilled`` with every tensor that shares a spilled tensor's name (in place)."""
        if self.t_twins is not None:
            for t in np.flatnonzero(spilled):
                spilled[list(self.t_twins[t])] = True
        return spilled

    def names(self, spilled: np.ndarray | Sequence[bool]) -> frozenset[str]:
        """Names of the spilled tensors."""
        return frozenset(compress(self.tensors, spilled))

    def windows(
        self, pos: np.ndarray, spilled: np.ndarray, rw: np.ndarray, ww: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Windows clipped to the program (and a read after the writes it needs; a read
        after a write of its own position is queued at the node)."""
        n = int(pos.max()) + 1 if len(pos) else 0
        rw = np.minimum(np.maximum(rw, 0), pos)
        ww = np.minimum(np.maximum(ww, 0), n - 1 - pos)
        lim = rw.copy()
        if len(self.dep_dst):
            gap = np.maximum(pos[self.dep_dst] - pos[self.dep_src] - 1, 0)
            np.minimum.at(lim, self.dep_dst, gap)
        return self._clip_spilled(pos, spilled, lim), ww

    def _clip_spilled(self, pos: np.ndarray, spilled: np.ndarray, rw: np.ndarray) -> np.ndarray:
        """A consumer reads a spilled input after its producer has run (in place)."""
        if spilled.any():
            sp = spilled[self.e_tensor]
            src = self.t_src[self.e_tensor[sp]]
            dst = self.e_dst[sp]
            np.minimum.at(rw, dst, np.maximum(pos[dst] - pos[src] - 1, 0))
        return rw

    def bits(
        self,
        cidx: np.ndarray,
        pos: np.ndarray,
        spilled: np.ndarray,
        rw: np.ndarray,
        ww: np.ndarray,
    ) -> np.ndarray:
        """``(n_memories, n)`` demand of a placement (module docstring, points 1–4).

        The terms are summed in a fixed order (live tensors, in-place reads, working
        sets, prefetch buffers, write-back buffers), so equal placements give equal bits.
        """
        last = np.full(len(self.tensors), -1)
        if len(self.e_tensor):
            np.maximum.at(last, self.e_tensor, pos[self.e_dst])
        return self._bits(self.alloc(np.asarray(cidx, dtype=int)), pos, last, spilled, rw, ww)

    def alloc(self, cidx: np.ndarray) -> _Alloc:
        """What the demand needs of an allocation (core index per node); the last one
        is cached (placement and timing of one evaluation share it)."""
        key = np.asarray(cidx, dtype=int).tobytes()
        last = self._last_alloc
        if last is not None and last[0] == key:
            return last[1]
        al = self._alloc(np.asarray(cidx, dtype=int))
        self._last_alloc = (key, al)
        return al

    def _alloc(self, cidx: np.ndarray) -> _Alloc:
        n = len(cidx)
        nodes = np.arange(n)
        rows = self.slot_row[cidx]  # (n, 3)
        strm = self.streamed[nodes, cidx]  # (n, 3)
        work = self.work[nodes, cidx]  # (n, 3)
        orow = rows[self.t_src, 2]
        if len(self.e_tensor):
            # a same-core consumer whose operand shares the producer's memory reads the
            # live tensor in place: its working set holds no copy of it
            src = self.t_src[self.e_tensor]
            rc = rows[self.e_dst, self.e_operand]
            inplace = (
                (cidx[src] == cidx[self.e_dst])
                & (rc >= 0)
                & (rc == rows[src, 2])
                & ~strm[self.e_dst, self.e_operand]
            )
        else:
            rc = np.zeros(0, dtype=int)
            inplace = np.zeros(0, dtype=bool)
        restream = np.zeros(n)
        if self.groups:
            work, strm, restream = self._group_work(
                self.groups, self.t_pipe, self.e_pipe, self.e_bits, (rows, work, strm, inplace)
            )
            inplace = inplace & ~self.e_pipe
        return _Alloc(
            cidx, rows, strm, work, orow, rc, inplace, rows.T, rows.T >= 0, work.T, restream
        )

    def _group_work(
        self,
        groups: Sequence[Sequence[int]],
        t_pipe: np.ndarray,
        e_pipe: np.ndarray,
        e_tile: np.ndarray,
        alloc: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Working sets of fused members (module docstring, "Fused stacks") for given
        groups, tile tensors / edges and tile bits per edge (``alloc``: memory rows,
        working sets, streamed flags, in-place reads): a tile tensor leaves its
        producer's and consumers' working sets (it is counted as a live tile; a consumer
        that cannot read it in place holds a copy of one tile); then, in every group
        whose members' working sets exceed a memory, the largest weights of that memory
        are re-streamed once per tile until they fit.  Returns the working sets,
        streamed flags and the re-streamed bits per node."""
        rows, work, strm, inplace = alloc
        work = work.copy()
        strm = strm.copy()
        tiles = self.problem.tiles
        for t in np.flatnonzero(t_pipe).tolist():
            a = int(self.t_src[t])
            work[a, 2] -= min(work[a, 2], float(self.t_bits[t]))
        for e in np.flatnonzero(e_pipe).tolist():
            j, k = int(self.e_dst[e]), int(self.e_operand[e])
            work[j, k] -= min(work[j, k], float(self.t_bits[self.e_tensor[e]]))
            if not inplace[e]:
                work[j, k] += float(e_tile[e])
        restream = np.zeros(len(work))
        cap = self.capacity - self.permanent  # resident training state holds its share
        ok = self.restreamable
        for group in groups:
            for r, total in _group_need(group, rows, work).items():
                if total <= cap[r] * (1 + REL_TOL):
                    continue
                cand = sorted(
                    (
                        i
                        for i in group
                        if rows[i, 1] == r and ok[i] and work[i, 1] > 2.0 * self.reads[i, 1] / tiles
                    ),
                    key=lambda i: (-float(self.reads[i, 1]), i),
                )
                for i in cand:
                    if total <= cap[r] * (1 + REL_TOL):
                        break
                    w = float(self.reads[i, 1])
                    new = 2.0 * w / tiles
                    total -= float(work[i, 1]) - new
                    work[i, 1] = new
                    strm[i, 1] = True
                    restream[i] = w * tiles
        return work, strm, restream

    def group_fits(self, members: Sequence[int], cidx: Sequence[int]) -> bool:
        """Whether nodes of this (layer-by-layer) problem, fused into one stack, have
        working sets that fit every memory together (module docstring, "Fused stacks":
        tiles of the tensors passed inside, weights re-streamed per tile where needed).
        A necessary condition for the stack to fit: the tensors live around it and the
        prefetch buffers come on top (:func:`monet_opt.schedule.evaluator.stacks_over_capacity`
        checks the whole placement)."""
        c = np.asarray(cidx, dtype=int)
        al = self.alloc(c)
        inside = np.zeros(self.problem.n_nodes, dtype=bool)
        inside[list(members)] = True
        t_pipe = np.zeros(len(self.tensors), dtype=bool)
        for t in np.flatnonzero(inside[self.t_src]).tolist():
            edges = self.t_edges[t]
            t_pipe[t] = bool(edges) and all(inside[self.e_dst[e]] for e in edges)
        e_pipe = t_pipe[self.e_tensor] if len(self.e_tensor) else np.zeros(0, dtype=bool)
        e_tile = self.e_bits / self.problem.tiles
        work, _strm, _re = self._group_work(
            [list(members)], t_pipe, e_pipe, e_tile, (al.rows, al.work, al.strm, al.inplace)
        )
        need = _group_need(members, al.rows, work)
        room = self.capacity - self.permanent
        return all(total <= room[r] * (1 + REL_TOL) for r, total in need.items())

    def _bits(
        self,
        al: _Alloc,
        pos: np.ndarray,
        last: np.ndarray,
        spilled: np.ndarray,
        rw: np.ndarray,
        ww: np.ndarray,
        reads: np.ndarray | None = None,
        wb: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`bits` for an allocation context and the tensors' last-use positions
        (``reads``, ``wb``: :meth:`prefetch_bits` and :meth:`writeback_bits`, if known)."""
        n = int(pos.max()) + 1 if len(pos) else 0
        w = n + 1
        idx: list[np.ndarray] = []
        val: list[np.ndarray] = []
        kept = ~spilled
        # live tensors: (pos(src), last consumer] on the producer's O memory; a tile of a
        # fused stack from its producer's position on
        tt = np.flatnonzero(kept & (al.orow >= 0))
        base = al.orow[tt] * w
        b = self.t_tile_bits[tt]
        idx += [base + pos[self.t_src[tt]] + 1 - self.t_pipe[tt], base + last[tt] + 1]
        val += [b, -b]
        # in-place reads of same-core consumers
        if len(self.e_tensor):
            ok = al.inplace & kept[self.e_tensor]
            at = al.e_row[ok] * w + pos[self.e_dst[ok]]
            eb = self.e_bits[ok]
            idx += [at, at + 1]
            val += [-eb, eb]
        # working sets at their own position
        at = al.rows_t * w + pos  # (3, n)
        _interleave(idx, val, al.has_row & (al.work_t > 0), at, at + 1, al.work_t)
        # prefetch buffers: DRAM reads (and spilled inputs) of resident operands
        if reads is None:
            reads = self.prefetch_bits(spilled, al.strm)
        reads_t = reads.T
        ok = al.has_row & (reads_t > 0) & (rw > 0)
        _interleave(idx, val, ok, at - rw, at, reads_t)
        # write-back buffers on the O memory
        if wb is None:
            wb = self.writeback_bits(spilled)
        r = al.rows[:, 2]
        ok = (r >= 0) & (wb > 0) & (ww > 0) & ~al.strm[:, 2]
        base = r[ok] * w
        idx += [base + pos[ok] + 1, base + (pos + ww)[ok] + 1]
        val += [wb[ok], -wb[ok]]
        n_mem = len(self.keys)
        diff = np.bincount(
            np.concatenate(idx), weights=np.concatenate(val), minlength=n_mem * w
        ).reshape(n_mem, w)
        out = np.cumsum(diff, axis=1)[:, :n]
        out[np.abs(out) < 1e-6] = 0.0
        if self.permanent.any():  # resident training state: the whole step
            out += self.permanent[:, None]
        return out

    def prefetch_bits(self, spilled: np.ndarray, strm: np.ndarray) -> np.ndarray:
        """``(n, 3)`` bits of each node's prefetch buffers per operand: its DRAM reads
        and spilled inputs, without the streamed operands (``strm``, ``(n, 3)``)."""
        reads = self.reads * ~strm
        if spilled.any() and len(self.e_tensor):
            sp = spilled[self.e_tensor]
            extra = np.zeros_like(reads)
            np.add.at(extra, (self.e_dst[sp], self.e_operand[sp]), self.e_bits[sp])
            reads = reads + extra * ~strm
        return reads

    def writeback_bits(self, spilled: np.ndarray) -> np.ndarray:
        """``(n,)`` bits each node writes back to DRAM (outputs and spilled tensors)."""
        wb = self.writes.copy()
        if spilled.any():
            np.add.at(wb, self.t_src[spilled], self.t_bits[spilled])
        return wb


def _group_need(group: Sequence[int], rows: np.ndarray, work: np.ndarray) -> dict[int, float]:
    """Memory row -> bits of the group's working sets there."""
    need: dict[int, float] = {}
    for i in group:
        for k in range(3):
            r = int(rows[i, k])
            if r >= 0:
                need[r] = need.get(r, 0.0) + float(work[i, k])
    return need


def _interleave(
    idx: list[np.ndarray],
    val: list[np.ndarray],
    ok: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    bits_t: np.ndarray,
) -> None:
    """Append, operand by operand, ``+bits`` at ``start`` and ``-bits`` at ``stop`` of
    every node where ``ok`` (arrays ``(3, n)``; the order ``np.add.at`` was called in)."""
    three, n = ok.shape
    mask = np.empty((three, 2, n), dtype=bool)
    mask[:, 0] = ok
    mask[:, 1] = ok
    at = np.empty((three, 2, n), dtype=start.dtype)
    at[:, 0] = start
    at[:, 1] = stop
    v = np.empty((three, 2, n))
    v[:, 0] = bits_t
    np.negative(bits_t, out=v[:, 1])
    idx.append(at[mask])
    val.append(v[mask])


@dataclass(frozen=True, eq=False)
class _Lists:
    """:class:`MemoryModel` arrays as lists (``tile``: ``t_tile_bits``, ``e_op``:
    ``e_operand``)."""

    t_src: list[int]
    t_bits: list[float]
    tile: list[float]
    e_dst: list[int]
    e_op: list[int]
    e_bits: list[float]


@dataclass(frozen=True, eq=False)
class _Alloc:
    """What the demand needs of an allocation (:meth:`MemoryModel.alloc`).

    Attributes
    ----------
    c
        ``(n,)`` core index per node.
    rows, strm, work
        ``(n, 3)`` memory row, streamed flag and held bits of each node's operands.
    orow
        ``(n_tensors,)`` memory row of each tensor's producer output (-1: none).
    e_row, inplace
        ``(n_edges,)`` memory row of each on-chip edge's consumer operand, and whether
        the consumer reads the tensor in place (same core, same memory, not streamed).
    rows_t, has_row, work_t
        ``(3, n)``: ``rows``, ``rows >= 0`` and ``work`` by operand.
    restream
        ``(n,)`` bits of weights a fused member re-streams from DRAM (once per tile).
    """

    c: np.ndarray
    rows: np.ndarray
    strm: np.ndarray
    work: np.ndarray
    orow: np.ndarray
    e_row: np.ndarray
    inplace: np.ndarray
    rows_t: np.ndarray
    has_row: np.ndarray
    work_t: np.ndarray
    restream: np.ndarray


@dataclass(frozen=True, eq=False)
class _OrderView:
    """What depends on the program order only (cached for the default order).

    Attributes
    ----------
    order, pos
        Program order and ``(n,)`` position (slot) of each node: the nodes of a fused
        group share the slots of their span (module docstring, "Fused stacks").
    pos_l, nodes_at
        The positions as a list, and the nodes at each position (in program order).
    n_pos
        Number of positions.
    last, last_node, last_l
        ``(n_tensors,)`` position of each tensor's last consumer (also as a list), and
        that consumer.
    src_pos_l
        Position of each tensor's producer.
    freed_by
        Per node: the tensors it is the last consumer of.
    ranked
        Spillable tensors, furthest last use first (then larger first, then by index).
    rw0, ww0
        Windows of an empty placement: ``prefetch_depth`` clipped to the program and
        after the DRAM writes a read needs.
    """

    order: tuple[int, ...]
    pos: np.ndarray
    pos_l: list[int]
    nodes_at: tuple[tuple[int, ...], ...]
    last: np.ndarray
    last_node: np.ndarray
    ranked: list[int]
    rw0: np.ndarray
    ww0: np.ndarray
    last_l: list[int]
    src_pos_l: list[int]
    freed_by: tuple[tuple[int, ...], ...]

    @property
    def n_pos(self) -> int:
        return len(self.nodes_at)

    @staticmethod
    def build(mm: MemoryModel, order: Sequence[int]) -> _OrderView:
        n = mm.problem.n_nodes
        pos = _slots(mm.groups, order, n)
        nodes_at: list[list[int]] = [[] for _ in range(int(pos.max()) + 1 if n else 0)]
        for i in order:
            nodes_at[pos[i]].append(int(i))
        n_t = len(mm.tensors)
        last = np.full(n_t, -1)
        last_node = np.full(n_t, -1)
        if n_t:
            np.maximum.at(last, mm.e_tensor, pos[mm.e_dst])
            hit = pos[mm.e_dst] == last[mm.e_tensor]
            last_node[mm.e_tensor[hit]] = mm.e_dst[hit]
        sp = np.flatnonzero(mm.spillable)
        ranked = sp[np.lexsort((-mm.t_bits[sp], -last[sp]))].tolist()
        d = np.full(n, mm.problem.prefetch_depth)
        empty = np.zeros(n_t, dtype=bool)
        rw0, ww0 = mm.windows(pos, empty, d, d)
        return _OrderView(
            tuple(int(i) for i in order), pos, pos.tolist(), tuple(tuple(v) for v in nodes_at),
            last, last_node, ranked, rw0, ww0, last.tolist(), pos[mm.t_src].tolist(),
            _freed_by(last_node, n),
        )  # fmt: skip


def _slots(groups: Sequence[Sequence[int]], order: Sequence[int], n: int) -> np.ndarray:
    """``(n,)`` position of each node: its index in ``order``, with the span (first to
    last member in ``order``) of every fused group, and spans that overlap, merged into
    one position."""
    raw = np.empty(n, dtype=int)
    raw[np.asarray(order, dtype=int)] = np.arange(n)
    if not groups:
        return raw
    starts = np.zeros(n + 1, dtype=int)  # +1 where a merged span opens, -1 after it
    for g in groups:
        p = raw[list(g)]
        starts[p.min() + 1] += 1
        starts[p.max() + 1] -= 1
    inside = np.cumsum(starts)[:n] > 0  # position k is merged with position k - 1
    return (np.cumsum(~inside) - 1)[raw]


def _freed_by(last_node: np.ndarray, n: int) -> tuple[tuple[int, ...], ...]:
    out: list[list[int]] = [[] for _ in range(n)]
    for t, j in enumerate(last_node.tolist()):
        if j >= 0:
            out[j].append(t)
    return tuple(tuple(v) for v in out)


@lru_cache(maxsize=32)
def memory_model(problem: Problem) -> MemoryModel:
    """The cached :class:`MemoryModel` of a problem."""
    return MemoryModel(problem)


class _Resolved:
    """A placement resolved to what the timing needs, with its demand (built on first
    use: the GA's fitness needs the overflow count only).

    Attributes
    ----------
    pos
        ``(n,)`` position of each node.
    spilled
        ``(n_tensors,)`` bool, forced spills and same-name tensors included.
    rw, ww
        Clipped read / write windows per node (arrays or lists).
    """

    def __init__(
        self,
        mm: MemoryModel,
        view: _OrderView,
        spilled: np.ndarray,
        windows: tuple[np.ndarray | list[int], np.ndarray | list[int]],
        bits: np.ndarray | None = None,
        sweep: _Sweep | None = None,
    ) -> None:
        """``bits``: the demand, or ``None`` when an exact ``sweep`` holds it."""
        self.mm, self.view, self.pos = mm, view, view.pos
        self.spilled = spilled
        self.rw, self.ww = windows
        self._bits, self._sweep = bits, sweep

    @cached_property
    def bits(self) -> np.ndarray:
        """``(n_memories, n)`` demand."""
        if self._bits is not None:
            return self._bits
        assert self._sweep is not None
        out = np.asarray(self._sweep.bits)
        out[np.abs(out) < 1e-6] = 0.0
        return out

    @cached_property
    def demand(self) -> Demand:
        """The placement (names, window tuples) and its demand."""
        mm = self.mm
        rw, ww = (x.tolist() if isinstance(x, np.ndarray) else x for x in (self.rw, self.ww))
        pl = Placement(mm.names(self.spilled), tuple(rw), tuple(ww))
        return Demand(mm.keys, mm.labels, mm.capacity, self.bits, pl)

    @cached_property
    def n_overflow(self) -> int:
        """Number of (memory, position) cells over capacity (``len(demand.overflow())``)."""
        if self._bits is None:
            assert self._sweep is not None
            return self._sweep.n_overflow()
        limit = self.mm.capacity * (1 + REL_TOL) + 1e-6
        return int(np.count_nonzero(self._bits > limit[:, None]))


def demand(
    problem: Problem,
    cidx: Sequence[int],
    placement: Placement | None = None,
    order: Sequence[int] | None = None,
) -> Demand:
    """Demand of every on-chip memory at every position for a placement (its spills and
    windows, plus the forced spills)."""
    return _resolve(problem, cidx, placement, order).demand


def _resolve(
    problem: Problem,
    cidx: Sequence[int],
    placement: Placement | None = None,
    order: Sequence[int] | None = None,
) -> _Resolved:
    """:func:`demand`, with the placement's arrays (spill mask, clipped windows)."""
    mm = memory_model(problem)
    c = np.asarray(cidx, dtype=int)
    view = mm.view(order)
    pos = view.pos
    placement = placement or Placement(frozenset())
    spilled = mm.close(mm.spill_mask(placement.spills or ()) | mm.forced(c))
    n = problem.n_nodes
    d = problem.prefetch_depth
    rw = np.asarray(placement.read_window or [d] * n, dtype=int)
    ww = np.asarray(placement.write_window or [d] * n, dtype=int)
    rw, ww = mm.windows(pos, spilled, rw, ww)
    bits = mm._bits(mm.alloc(c), pos, view.last, spilled, rw, ww)
    return _Resolved(mm, view, spilled, (rw, ww), bits)


def default_placement(
    problem: Problem,
    cidx: Sequence[int],
    order: Sequence[int] | None = None,
    spills: Iterable[str] | None = None,
) -> Demand:
    """Stream's policy (module docstring): spill what does not fit, furthest last use
    first, then shorten the windows that cover an overflowing position.

    Parameters
    ----------
    problem
        A (derived) problem.
    cidx
        Core index per node.
    order
        Program order (default: the problem's).
    spills
        Tensors spilled in any case (e.g. a decision's); others are added only where a
        memory would overflow.

    Returns
    -------
    Demand
        The placement found and its demand (within capacity wherever the cost model's
        working sets fit, which it guarantees).
    """
    return _place(problem, cidx, order, spills).demand


def _place(
    problem: Problem,
    cidx: Sequence[int],
    order: Sequence[int] | None = None,
    spills: Iterable[str] | None = None,
) -> _Resolved:
    """:func:`default_placement`, with the placement's arrays."""
    mm = memory_model(problem)
    c = np.asarray(cidx, dtype=int)
    view = mm.view(order)
    spilled = mm.close(mm.spill_mask(spills or ()) | mm.forced(c))
    rw = mm._clip_spilled(view.pos, spilled, view.rw0.copy())
    ww = view.ww0.copy()
    al = mm.alloc(c)
    reads = mm.prefetch_bits(spilled, al.strm)
    wb = mm.writeback_bits(spilled)
    bits = mm._bits(al, view.pos, view.last, spilled, rw, ww, reads, wb)
    limit = mm.capacity * (1 + REL_TOL) + 1e-6
    over = bits > limit[:, None]
    if over.any():
        sweep = _Sweep(mm, al, view, (spilled, rw, ww, reads, wb), bits, limit)
        if sweep.run(over):
            spilled = np.asarray(sweep.spilled, dtype=bool)
            if mm.exact:  # the sweep's sums are exact: they are the demand
                return _Resolved(mm, view, spilled, (sweep.rw, sweep.ww), None, sweep)
            rw = np.asarray(sweep.rw, dtype=int)
            ww = np.asarray(sweep.ww, dtype=int)
            bits = mm._bits(al, view.pos, view.last, spilled, rw, ww)
    return _Resolved(mm, view, spilled, (rw, ww), bits)


class _Sweep:
    """The default policy's sweep over the positions, with the demand kept up to date
    by the exact change of every spill and window (module docstring).

    Overflowing cells ``(position, memory row)`` are relieved in position order, then
    row order; a change that raises the demand at a position already passed queues
    that cell for a further pass.
    """

    def __init__(
        self,
        mm: MemoryModel,
        al: _Alloc,
        view: _OrderView,
        state: tuple[np.ndarray, ...],
        bits: np.ndarray,
        limit: np.ndarray,
    ) -> None:
        """``state``: spill mask, read and write windows, prefetch and write-back bits
        (:meth:`MemoryModel.prefetch_bits`, :meth:`MemoryModel.writeback_bits`)."""
        spilled, rw, ww, reads, wb = state
        self.mm, self.view, self.n = mm, view, view.n_pos
        self.c = al.c.tolist()
        self.pos = view.pos_l
        self.rows = al.rows.tolist()
        self.strm = al.strm.tolist()
        self.spilled = spilled.tolist()
        self.rw, self.ww = rw.tolist(), ww.tolist()
        self.reads = reads.tolist()
        self.wb = wb.tolist()
        self.lim = limit.tolist()
        self.bits = bits.tolist()
        self.orow = al.orow.tolist()
        self.lists = mm.lists
        self.depth = max(max(self.rw, default=0), max(self.ww, default=0))
        self.ranked: dict[int, list[int]] = {}
        self.heap: list[tuple[int, int]] = []
        self.behind: list[tuple[int, int]] = []
        self.stuck: set[tuple[int, int]] = set()
        self.p = 0

    # -- the sweep ---------------------------------------------------------------------
    def run(self, over: np.ndarray) -> bool:
        """Sweep until no overflow is left that a change could remove (``over``: the
        cells over capacity at the start); ``True`` if the placement changed."""
        q, m = np.nonzero(over.T)
        cells = list(zip(q.tolist(), m.tolist(), strict=True))  # by position, then row
        changed = False
        while cells:
            changed |= self._pass(cells)
            cells = sorted({(q, m) for q, m in self.behind if self._over(m, q)})
            self.behind = []
        return changed

    def _pass(self, cells: list[tuple[int, int]]) -> bool:
        """Relieve ``cells`` (sorted) and the cells that changes push over capacity at or
        after the current position, in order."""
        heap = self.heap = []
        bits, lim, stuck = self.bits, self.lim, self.stuck
        changed = False
        i, n_cells = 0, len(cells)
        while True:
            if heap and (i == n_cells or heap[0] < cells[i]):
                q, m = heapq.heappop(heap)
            elif i < n_cells:
                q, m = cells[i]
                i += 1
            else:
                return changed
            if bits[m][q] > lim[m] and not (stuck and (m, q) in stuck):
                self.p = q
                changed |= self._resolve(m, q)

    def _over(self, m: int, q: int) -> bool:
        return self.bits[m][q] > self.lim[m] and (m, q) not in self.stuck

    def n_overflow(self) -> int:
        """Cells over capacity after :meth:`run` (each of them is stuck)."""
        return sum(1 for m, q in self.stuck if self.bits[m][q] > self.lim[m])

    def _resolve(self, m: int, p: int) -> bool:
        """Relieve memory row ``m`` at position ``p`` until it fits or nothing helps."""
        row, lim = self.bits[m], self.lim[m]
        changed = False
        while row[p] > lim:
            if not self._relieve(m, p, row[p] - lim):
                self.stuck.add((m, p))
                break
            changed = True
        return changed

    def _relieve(self, m: int, p: int, excess: float) -> bool:
        """Spill the live tensors of row ``m`` used furthest in the future (as many as
        ``excess`` bits need), else shorten the prefetch windows covering ``p``, else
        the write windows."""
        victims = self._victims(m, p, excess)
        if victims:
            for t in victims:
                self._spill(t, p)
            return True
        return self._shorten_reads(m, p) or self._shorten_writes(m, p)

    def _victims(self, m: int, p: int, excess: float) -> list[int]:
        ranked = self.ranked.get(m)
        if ranked is None:
            orow = self.orow
            ranked = self.ranked[m] = [t for t in self.view.ranked if orow[t] == m]
        out: list[int] = []
        freed = 0.0
        sp, tile = self.spilled, self.lists.tile
        last, src_pos = self.view.last_l, self.view.src_pos_l
        pruned = False
        for t in ranked:
            if last[t] < p:
                break
            if sp[t]:
                pruned = True
            elif src_pos[t] < p:
                out.append(t)
                freed += tile[t]
                if freed >= excess:
                    break
        if pruned:  # spilled tensors never come back
            self.ranked[m] = [t for t in ranked if not sp[t]]
        return out

    # -- changes -----------------------------------------------------------------------
    def _spill(self, t: int, p: int) -> None:
        self._spill_one(t, p)
        twins = self.mm.t_twins
        if twins is not None:
            for u in twins[t]:
                if not self.spilled[u]:
                    self._spill_one(u, p)

    def _spill_one(self, t: int, p: int) -> None:
        """Spill tensor ``t`` at position ``p``: its live interval and in-place reads
        go, its consumers read it from DRAM (windows starting after ``p``) and its
        producer writes it back."""
        self.spilled[t] = True
        ls = self.lists
        a = ls.t_src[t]
        row = self.orow[t]
        pa = self.pos[a]
        if row >= 0:
            self._lower(row, pa + 1, self.view.last_l[t] + 1, ls.tile[t])
        ca = self.c[a]
        pos, rows, strm, cores, rw = self.pos, self.rows, self.strm, self.c, self.rw
        e_dst, e_op, e_bits = ls.e_dst, ls.e_op, ls.e_bits
        for e in self.mm.t_edges[t]:  # the consumers read it from DRAM
            j, k, b = e_dst[e], e_op[e], e_bits[e]
            pj = pos[j]
            rj = rows[j][k]
            streamed = strm[j][k]
            if cores[j] == ca and rj >= 0 and rj == row and not streamed:
                self._raise(rj, pj, pj + 1, b)  # no longer read in place
            new = min(pj - p - 1, pj - pa - 1)
            if new < rw[j]:
                self._shorten_read(j, max(new, 0))
            if not streamed:
                self.reads[j][k] += b
                w = rw[j]
                if rj >= 0 and w > 0:
                    self._raise(rj, pj - w, pj, b)
        self.wb[a] += ls.t_bits[t]
        w = self.ww[a]
        if row >= 0 and w > 0 and not strm[a][2]:
            self._raise(row, pa + 1, pa + w + 1, ls.t_bits[t])

    def _shorten_reads(self, m: int, p: int) -> bool:
        """Shorten every prefetch window into row ``m`` covering ``p`` to start after it."""
        found = False
        rw, rows, nodes_at = self.rw, self.rows, self.view.nodes_at
        for q in range(p + 1, min(p + self.depth, self.n - 1) + 1):
            for j in nodes_at[q]:
                w = rw[j]
                if w > 0 and q - w <= p and m in rows[j]:
                    self._shorten_read(j, q - p - 1)
                    found = True
        return found

    def _shorten_writes(self, m: int, p: int) -> bool:
        """Shorten every write window of row ``m`` covering ``p`` to end before it."""
        found = False
        ww, rows, nodes_at = self.ww, self.rows, self.view.nodes_at
        for q in range(max(p - self.depth, 0), p):
            for j in nodes_at[q]:
                w = ww[j]
                if w > 0 and q + w >= p and rows[j][2] == m:
                    self._shorten_write(j, p - q - 1)
                    found = True
        return found

    def _shorten_read(self, j: int, new: int) -> None:
        old = self.rw[j]
        self.rw[j] = new
        pj = self.pos[j]
        for r, b in zip(self.rows[j], self.reads[j], strict=True):
            if r >= 0 and b > 0:
                self._lower(r, pj - old, pj - new, b)

    def _shorten_write(self, j: int, new: int) -> None:
        old = self.ww[j]
        self.ww[j] = new
        r = self.rows[j][2]
        b = self.wb[j]
        if r >= 0 and b > 0 and not self.strm[j][2]:
            pj = self.pos[j]
            self._lower(r, pj + new + 1, pj + old + 1, b)

    def _lower(self, r: int, a: int, b: int, v: float) -> None:
        """Remove ``v`` bits from row ``r`` at positions ``[a, b)``."""
        row = self.bits[r]
        if b - a == 1:
            row[a] -= v
        elif b > a:
            row[a:b] = [x - v for x in row[a:b]]

    def _raise(self, r: int, a: int, b: int, v: float) -> None:
        """Add ``v`` bits to row ``r`` at positions ``[a, b)``; queue the cells that
        overflow (a cell already passed waits for the next pass)."""
        row = self.bits[r]
        lim = self.lim[r]
        stuck = self.stuck
        for q in range(a, b):
            row[q] += v
            if stuck:
                stuck.discard((r, q))
            if row[q] > lim:
                if q >= self.p:
                    heapq.heappush(self.heap, (q, r))
                else:
                    self.behind.append((q, r))
