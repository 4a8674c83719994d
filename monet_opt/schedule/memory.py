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

Placement and its default policy
--------------------------------
A :class:`Placement` lists the **spilled** tensors (written to DRAM by their producer and
read back by their consumers over the DRAM port) and the read / write windows.  Tensors
an operand's mapping streams (an output too large for its memory, an input a consumer
streams) live in DRAM whatever the placement (*forced* spills).  :func:`default_placement`
is Stream's rule, made deterministic: sweep the positions; where a memory would overflow,
first spill the live tensors whose next use is furthest (Belady, "A study of replacement
algorithms for a virtual-storage computer", IBM Syst. J. 5(2), 1966; Stream's
``scheduler_candidate_selection="memory"`` evicts to DRAM), then shorten the prefetch and
write-back windows that cover the position.  A spill adds a prefetch buffer before each
consumer (on the consumer's core) and a write-back buffer after the producer; the
consumers' windows are shortened so that these buffers never reach a position already
made to fit, so one sweep over the positions suffices.  The node's own working set
always fits (the cost model tiles it), so the policy always finds a placement within
capacity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

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
    spillable
        ``(n_tensors,)`` bool: the tensor may be spilled (activations, gradients).
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        n = problem.n_nodes
        nc = len(problem.core_ids)
        keys: list[MemoryKey] = []
        caps: list[float] = []
        labels: list[str] = []
        slot_row = np.full((nc, 3), -1, dtype=int)
        for c, cid in enumerate(problem.core_ids):
            core = problem.accelerator.core(cid)
            for k, x in enumerate(_OPERANDS):
                mem = core.top_memory(x)
                if mem is None:
                    continue
                key = (c, mem.name)
                if key not in keys:
                    keys.append(key)
                    caps.append(float(mem.size_bits))
                    labels.append(f"core {cid} ({core.name}): {mem.name}")
                slot_row[c, k] = keys.index(key)
        self.keys, self.labels = tuple(keys), tuple(labels)
        self.capacity = np.asarray(caps, dtype=float)
        self.slot_row = slot_row
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
        tensors: list[str] = []
        t_index: dict[tuple[int, str], int] = {}
        t_src: list[int] = []
        t_bits: list[float] = []
        t_tile: list[float] = []
        e_t: list[int] = []
        e_dst: list[int] = []
        e_op: list[int] = []
        e_bits: list[float] = []
        for e in problem.edges:
            if e.via_dram:
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
            e_t.append(t)
            e_dst.append(e.dst)
            e_op.append(_OPERANDS.index(x))
            e_bits.append(float(b))
        self.tensors = tuple(tensors)
        self.t_src = np.asarray(t_src, dtype=int)
        self.t_bits = np.asarray(t_bits)
        self.t_tile_bits = np.asarray(t_tile)
        self.e_tensor = np.asarray(e_t, dtype=int)
        self.e_dst = np.asarray(e_dst, dtype=int)
        self.e_operand = np.asarray(e_op, dtype=int)
        self.e_bits = np.asarray(e_bits)
        role = [g.tensors[t].role for t in tensors]
        self.spillable = np.asarray(
            [r not in (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE) for r in role], dtype=bool
        )
        pairs = [(i, w) for i in range(n) for w in problem.dram_deps[i]]
        self.dep_dst = np.asarray([a for a, _ in pairs], dtype=int)
        self.dep_src = np.asarray([b for _, b in pairs], dtype=int)

    # -- placement -------------------------------------------------------------------
    def forced(self, cidx: np.ndarray) -> np.ndarray:
        """``(n_tensors,)`` bool: tensors a mapping streams (they must live in DRAM)."""
        out = self.streamed[self.t_src, cidx[self.t_src], 2]
        if len(self.e_tensor):
            by_edge = self.streamed[self.e_dst, cidx[self.e_dst], self.e_operand]
            np.logical_or.at(out, self.e_tensor, by_edge)
        return out

    def spill_mask(self, names: Iterable[str]) -> np.ndarray:
        names = set(names)
        return np.asarray([t in names for t in self.tensors], dtype=bool)

    def windows(
        self, pos: np.ndarray, spilled: np.ndarray, rw: np.ndarray, ww: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Windows clipped to the program (and a read after the writes it needs)."""
        n = len(pos)
        rw = np.minimum(np.maximum(rw, 0), pos)
        ww = np.minimum(np.maximum(ww, 0), n - 1 - pos)
        lim = rw.copy()
        if len(self.dep_dst):
            gap = np.maximum(pos[self.dep_dst] - pos[self.dep_src] - 1, 0)
            np.minimum.at(lim, self.dep_dst, gap)
        if spilled.any():
            sp = spilled[self.e_tensor]
            src = self.t_src[self.e_tensor[sp]]
            dst = self.e_dst[sp]
            np.minimum.at(lim, dst, np.maximum(pos[dst] - pos[src] - 1, 0))
        return lim, ww

    def bits(
        self,
        cidx: np.ndarray,
        pos: np.ndarray,
        spilled: np.ndarray,
        rw: np.ndarray,
        ww: np.ndarray,
    ) -> np.ndarray:
        """``(n_memories, n)`` demand of a placement (module docstring, points 1–4)."""
        n = len(pos)
        n_mem = len(self.keys)
        diff = np.zeros((n_mem, n + 1))
        nodes = np.arange(n)
        rows = self.slot_row[cidx]  # (n, 3)
        work = self.work[nodes, cidx]  # (n, 3)
        strm = self.streamed[nodes, cidx]  # (n, 3)
        # live tensors: (pos(src), last consumer] on the producer's O memory
        kept = ~spilled
        if len(self.e_tensor):
            e_keep = kept[self.e_tensor]
            et = self.e_tensor[e_keep]
            ed = self.e_dst[e_keep]
            last = np.full(len(self.tensors), -1)
            np.maximum.at(last, et, pos[ed])
            tt = np.flatnonzero(kept & (last >= 0))
            src = self.t_src[tt]
            orow = rows[src, 2]
            ok = orow >= 0
            b = self.t_tile_bits[tt][ok]
            np.add.at(diff, (orow[ok], pos[src][ok] + 1), b)
            np.add.at(diff, (orow[ok], last[tt][ok] + 1), -b)
            # a same-core consumer whose operand shares the producer's memory reads the
            # live tensor in place: its working set holds no copy of it
            same = cidx[self.t_src[et]] == cidx[ed]
            eo = self.e_operand[e_keep][same]
            dd = ed[same]
            eb = self.e_bits[e_keep][same]
            rc = rows[dd, eo]
            ro = rows[self.t_src[et][same], 2]
            ok3 = (rc >= 0) & (rc == ro) & ~strm[dd, eo]
            np.add.at(diff, (rc[ok3], pos[dd][ok3]), -eb[ok3])
            np.add.at(diff, (rc[ok3], pos[dd][ok3] + 1), eb[ok3])
        # working sets at their own position
        for k in range(3):
            r = rows[:, k]
            ok = (r >= 0) & (work[:, k] > 0)
            np.add.at(diff, (r[ok], pos[ok]), work[ok, k])
            np.add.at(diff, (r[ok], pos[ok] + 1), -work[ok, k])
        # prefetch buffers: DRAM reads (and spilled inputs) of resident operands
        reads = self.reads * ~strm
        if spilled.any() and len(self.e_tensor):
            sp = spilled[self.e_tensor]
            extra = np.zeros((n, 3))
            np.add.at(extra, (self.e_dst[sp], self.e_operand[sp]), self.e_bits[sp])
            reads = reads + extra * ~strm
        for k in range(3):
            r = rows[:, k]
            ok = (r >= 0) & (reads[:, k] > 0) & (rw > 0)
            np.add.at(diff, (r[ok], (pos - rw)[ok]), reads[ok, k])
            np.add.at(diff, (r[ok], pos[ok]), -reads[ok, k])
        # write-back buffers on the O memory
        wb = self.writes.copy()
        if spilled.any():
            np.add.at(wb, self.t_src[spilled], self.t_bits[spilled])
        r = rows[:, 2]
        ok = (r >= 0) & (wb > 0) & (ww > 0) & ~strm[:, 2]
        np.add.at(diff, (r[ok], pos[ok] + 1), wb[ok])
        np.add.at(diff, (r[ok], (pos + ww)[ok] + 1), -wb[ok])
        out = np.cumsum(diff, axis=1)[:, :n]
        out[np.abs(out) < 1e-6] = 0.0
        return out


@lru_cache(maxsize=32)
def memory_model(problem: Problem) -> MemoryModel:
    """The cached :class:`MemoryModel` of a problem."""
    return MemoryModel(problem)


def _positions(problem: Problem, order: Sequence[int] | None) -> np.ndarray:
    order = problem.program_order() if order is None else order
    pos = np.empty(problem.n_nodes, dtype=int)
    pos[np.asarray(order, dtype=int)] = np.arange(problem.n_nodes)
    return pos


def demand(
    problem: Problem,
    cidx: Sequence[int],
    placement: Placement | None = None,
    order: Sequence[int] | None = None,
) -> Demand:
    """Demand of every on-chip memory at every position for a placement (its spills and
    windows, plus the forced spills)."""
    mm = memory_model(problem)
    c = np.asarray(cidx, dtype=int)
    pos = _positions(problem, order)
    placement = placement or Placement(frozenset())
    spilled = mm.spill_mask(placement.spills or ()) | mm.forced(c)
    n = problem.n_nodes
    d = problem.prefetch_depth
    rw = np.asarray(placement.read_window or [d] * n, dtype=int)
    ww = np.asarray(placement.write_window or [d] * n, dtype=int)
    rw, ww = mm.windows(pos, spilled, rw, ww)
    bits = mm.bits(c, pos, spilled, rw, ww)
    names = frozenset(t for t, s in zip(mm.tensors, spilled, strict=True) if s)
    pl = Placement(names, tuple(int(v) for v in rw), tuple(int(v) for v in ww))
    return Demand(mm.keys, mm.labels, mm.capacity, bits, pl)


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
    mm = memory_model(problem)
    c = np.asarray(cidx, dtype=int)
    pos = _positions(problem, order)
    n = problem.n_nodes
    spilled = mm.spill_mask(spills or ()) | mm.forced(c)
    d = problem.prefetch_depth
    rw, ww = mm.windows(pos, spilled, np.full(n, d), np.full(n, d))
    bits = mm.bits(c, pos, spilled, rw, ww)
    limit = mm.capacity * (1 + REL_TOL) + 1e-6
    node_at = np.empty(n, dtype=int)
    node_at[pos] = np.arange(n)
    stuck = np.zeros_like(bits, dtype=bool)  # overflow of a working set alone
    p = 0
    guard = 0
    while guard < 4 * (len(mm.tensors) + 2 * n):
        guard += 1
        over = (bits > limit[:, None]) & ~stuck
        over[:, :p] = False
        cols = np.flatnonzero(over.any(axis=0))
        if not len(cols):
            break
        p = int(cols[0])
        m = int(np.flatnonzero(over[:, p])[0])
        if _relieve(mm, c, pos, m, p, spilled, rw, ww, float(bits[m, p] - limit[m])):
            rw, ww = mm.windows(pos, spilled, rw, ww)
            bits = mm.bits(c, pos, spilled, rw, ww)
        else:
            stuck[m, p] = True
    bits = mm.bits(c, pos, spilled, rw, ww)
    names = frozenset(t for t, s in zip(mm.tensors, spilled, strict=True) if s)
    pl = Placement(names, tuple(int(v) for v in rw), tuple(int(v) for v in ww))
    return Demand(mm.keys, mm.labels, mm.capacity, bits, pl)


def _relieve(
    mm: MemoryModel,
    cidx: np.ndarray,
    pos: np.ndarray,
    m: int,
    p: int,
    spilled: np.ndarray,
    rw: np.ndarray,
    ww: np.ndarray,
    excess: float = 0.0,
) -> bool:
    """Remove demand of memory row ``m`` at position ``p``: spill the live tensors used
    furthest in the future (as many as the ``excess`` bits need), else shorten a
    prefetch window, else a write window."""
    rows = mm.slot_row[cidx]
    # live tensors of memory m covering p
    if len(mm.e_tensor):
        kept = ~spilled
        e_keep = kept[mm.e_tensor]
        last = np.full(len(mm.tensors), -1)
        np.maximum.at(last, mm.e_tensor[e_keep], pos[mm.e_dst[e_keep]])
        src = mm.t_src
        cand = kept & mm.spillable & (rows[src, 2] == m) & (pos[src] < p) & (last >= p)
        idx = np.flatnonzero(cand)
        if len(idx):
            ranked = idx[np.lexsort((-mm.t_bits[idx], -last[idx]))]
            freed = np.cumsum(mm.t_tile_bits[ranked])
            k = int(np.searchsorted(freed, excess)) + 1
            spilled[ranked[:k]] = True
            # the consumers now read them from DRAM: their prefetch buffers must not
            # reach back to positions already made to fit
            cons = mm.e_dst[np.isin(mm.e_tensor, ranked[:k])]
            rw[cons] = np.minimum(rw[cons], np.maximum(pos[cons] - p - 1, 0))
            return True
    # every prefetch window covering p into m, then every write window
    shrunk = False
    for k in range(3):
        cover = np.flatnonzero((rows[:, k] == m) & (rw > 0) & (pos - rw <= p) & (pos > p))
        if len(cover):
            rw[cover] = np.maximum(pos[cover] - p - 1, 0)
            shrunk = True
    if shrunk:
        return True
    cover = np.flatnonzero((rows[:, 2] == m) & (ww > 0) & (pos < p) & (pos + ww >= p))
    if len(cover):
        ww[cover] = np.maximum(p - pos[cover] - 1, 0)
        return True
    return False
