"""Node and DMA times of an allocation under a placement: the timing side of the
memory semantics of :mod:`monet_opt.schedule.memory`.

With ``problem.memory == "capacity"`` a node on core :math:`c` is scheduled by the rules
of :mod:`monet_opt.schedule.problem` plus:

* **in-node streaming.**  Operands the node's mapping streams (``OpCost.streamed``) move
  over the DRAM port *during* the node: the node takes the port when it starts, holds it
  for ``stream_bits × dram_cycles_per_bit`` cycles, and lasts at least that long; those
  operands are not prefetched nor written back by DMA tasks;
* **spills.**  A spilled tensor is written by a DMA task after its producer and read by a
  DMA task before each consumer (it is not fetched over the interconnect);
* **windows and gates.**  A node's DMA read is queued ``read_window`` positions ahead
  (G2: it starts once every node before that position has ended); a node waits until
  the on-chip tensors of its core that earlier nodes consumed for the last time have
  been fetched (G1) and until the writes whose ``write_window`` has passed are done
  (G3).

With ``problem.memory == "unbounded"`` the rules are those of
:mod:`monet_opt.schedule.problem` alone (no capacity, every operand prefetched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monet_opt.schedule.memory import Placement, memory_model
from monet_opt.schedule.problem import Problem

__all__ = ["Times", "simulate", "dma_bits"]


@dataclass(frozen=True, eq=False)
class Times:
    """Times of one simulation (cycles).

    Attributes
    ----------
    start, fetch_end, end
        ``(n,)`` node start, end of its input fetch, end.
    reads, writes
        Node -> (start, end) of its DMA read / write task.
    streams
        Node -> (start, end) of its in-node DRAM stream (port held).
    read_bits, write_bits, stream_read_bits, stream_write_bits
        ``(n,)`` bits of each node's DMA read, DMA write and in-node streams.
    """

    start: np.ndarray
    fetch_end: np.ndarray
    end: np.ndarray
    reads: dict[int, tuple[float, float]]
    writes: dict[int, tuple[float, float]]
    streams: dict[int, tuple[float, float]]
    read_bits: np.ndarray
    write_bits: np.ndarray
    stream_read_bits: np.ndarray
    stream_write_bits: np.ndarray

    @property
    def makespan(self) -> float:
        mk = float(self.end.max()) if len(self.end) else 0.0
        for d in (self.writes, self.reads, self.streams):
            if d:
                mk = max(mk, max(v[1] for v in d.values()))
        return mk


def _stream_bits(problem: Problem, cidx: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    n = problem.n_nodes
    r = np.zeros(n)
    w = np.zeros(n)
    det = problem.costs.details
    for i in range(n):
        oc = det[i][cidx[i]]
        r[i] = float(getattr(oc, "dram_read_bits", 0.0) or 0.0)
        w[i] = float(getattr(oc, "dram_write_bits", 0.0) or 0.0)
    return r, w


def dma_bits(
    problem: Problem, cidx: Sequence[int], spilled: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(read bits, write bits)`` of each node's DMA tasks under the capacity semantics:
    DRAM operands that are not streamed, plus spilled inputs / outputs."""
    mm = memory_model(problem)
    c = np.asarray(cidx, dtype=int)
    n = problem.n_nodes
    strm = mm.streamed[np.arange(n), c]  # (n, 3)
    rd = (mm.reads * ~strm).sum(axis=1)
    wr = np.where(strm[:, 2], 0.0, mm.writes)
    if spilled is not None and spilled.any() and len(mm.e_tensor):
        sp = spilled[mm.e_tensor]
        dst = mm.e_dst[sp]
        ok = ~strm[dst, mm.e_operand[sp]]
        np.add.at(rd, dst[ok], mm.e_bits[sp][ok])
        src = mm.t_src[spilled]
        ok = ~strm[src, 2]
        np.add.at(wr, src[ok], mm.t_bits[spilled][ok])
    return rd, wr


def simulate(
    problem: Problem,
    cidx: Sequence[int],
    order: Sequence[int] | None = None,
    placement: Placement | None = None,
) -> Times:
    """Simulate an allocation (core index per node) under a placement (module docstring).

    ``placement`` must be complete for the capacity semantics (spills including the
    forced ones, windows; :func:`monet_opt.schedule.memory.default_placement` gives
    one); it is ignored by the unbounded semantics.
    """
    if order is None:
        order = problem.program_order()
    if problem.memory != "capacity":
        return _simulate_unbounded(problem, cidx, order)
    return _simulate_capacity(problem, cidx, order, placement or Placement(frozenset()))


def _simulate_unbounded(problem: Problem, cidx: Sequence[int], order: Sequence[int]) -> Times:
    n = problem.n_nodes
    lat = problem.costs.latency
    xc = problem.costs.xfer_cycles
    edges = problem.edges
    in_edges = problem.in_edges
    preds = problem.hard_preds
    pipe = problem.pipe_preds
    tiles = problem.tiles
    rcyc = problem.dram_read_cycles
    wcyc = problem.dram_write_cycles
    start = np.zeros(n)
    fend = np.zeros(n)
    end = np.zeros(n)
    core_free = [0.0] * lat.shape[1]
    read_end = [0.0] * n
    port = 0.0
    reads: dict[int, tuple[float, float]] = {}
    writes: dict[int, tuple[float, float]] = {}
    gate = problem.read_gate(order)
    for kind, i in problem.event_sequence(order):
        if kind == 0:
            g = gate[i]
            s = port if g < 0 or end[g] < port else end[g]
            port = s + rcyc[i]
            read_end[i] = port
            reads[i] = (s, port)
        elif kind == 1:
            c = cidx[i]
            s = max(core_free[c], read_end[i])
            for p in preds[i]:
                if end[p] > s:
                    s = end[p]
            for p in pipe[i]:  # fused: wait for the producer's first tile only
                first = fend[p] + lat[p, cidx[p]] / tiles
                if first > s:
                    s = first
            f = 0.0
            for k in in_edges[i]:
                e = edges[k]
                f += e.bits * xc[cidx[e.src], c]
            start[i] = s
            fend[i] = s + f
            e_i = s + f + lat[i, c]
            for p in pipe[i]:  # ... and its last tile follows the producer's last tile
                last = end[p] + lat[i, c] / tiles
                if last > e_i:
                    e_i = last
            end[i] = e_i
            core_free[c] = e_i
        else:
            s = max(port, end[i])
            port = s + wcyc[i]
            writes[i] = (s, port)
    z = np.zeros(n)
    return Times(
        start, fend, end, reads, writes, {}, problem.dram_read_bits.copy(),
        problem.dram_write_bits.copy(), z, z.copy(),
    )  # fmt: skip


def _simulate_capacity(
    problem: Problem, cidx: Sequence[int], order: Sequence[int], placement: Placement
) -> Times:
    mm = memory_model(problem)
    n = problem.n_nodes
    c_arr = np.asarray(cidx, dtype=int)
    spilled = mm.spill_mask(placement.spills or ()) | mm.forced(c_arr)
    d = problem.prefetch_depth
    pos = np.empty(n, dtype=int)
    pos[np.asarray(order, dtype=int)] = np.arange(n)
    rw = np.asarray(placement.read_window or [d] * n, dtype=int)
    ww = np.asarray(placement.write_window or [d] * n, dtype=int)
    rw, ww = mm.windows(pos, spilled, rw, ww)
    rbits, wbits = dma_bits(problem, cidx, spilled)
    sr, sw = _stream_bits(problem, cidx)
    dcyc = problem.costs.dram_cycles_per_bit
    lat = problem.costs.latency
    xc = problem.costs.xfer_cycles
    tiles = problem.tiles
    spilled_names = {t for t, s in zip(mm.tensors, spilled, strict=True) if s}
    # on-chip inputs fetched over the interconnect, hard and pipelined predecessors
    fetch_edges: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    hard: list[set[int]] = [set() for _ in range(n)]
    pipe: list[set[int]] = [set() for _ in range(n)]
    dram_pred: list[set[int]] = [set() for _ in range(n)]
    last_of: dict[tuple[int, str], int] = {}
    for e in problem.edges:
        spill = e.tensor in spilled_names and not e.via_dram
        if e.via_dram or spill:
            hard[e.dst].add(e.src)
            dram_pred[e.dst].add(e.src)
            continue
        fetch_edges[e.dst].append((e.src, e.bits))
        if e.pipelined:
            pipe[e.dst].add(e.src)
        else:
            hard[e.dst].add(e.src)
        key = (e.src, e.tensor)
        j = last_of.get(key)
        if j is None or pos[e.dst] > pos[j]:
            last_of[key] = e.dst
    for j in range(n):
        pipe[j] -= hard[j]
    frees: list[list[int]] = [[] for _ in range(n)]  # consumer -> producers it frees
    for (a, _t), j in last_of.items():
        frees[j].append(a)
    # event keys: (position, kind): reads at pos - window, node, write
    keys: list[tuple[int, int, int]] = []
    for i in range(n):
        p = int(pos[i])
        if rbits[i] > 0:
            keys.append((p - int(rw[i]), 0, i))
        keys.append((p, 1, i))
        if wbits[i] > 0:
            keys.append((p, 2, i))
    keys.sort()
    start = np.zeros(n)
    fend = np.zeros(n)
    end = np.zeros(n)
    core_free = [0.0] * lat.shape[1]
    last_on = [-1] * lat.shape[1]
    freed = [0.0] * lat.shape[1]  # G1: per core, latest free of a tensor already consumed
    read_end = np.zeros(n)
    port = 0.0
    ended_max = 0.0  # G2: latest end of the nodes processed so far
    drain = np.zeros(n + 1)  # G3: write end by deadline position
    drain_max = 0.0
    drained_upto = 0
    reads: dict[int, tuple[float, float]] = {}
    writes: dict[int, tuple[float, float]] = {}
    streams: dict[int, tuple[float, float]] = {}
    for _p, kind, i in keys:
        if kind == 0:
            s = max(port, ended_max)
            port = s + rbits[i] * dcyc
            read_end[i] = port
            reads[i] = (s, port)
        elif kind == 1:
            c = int(cidx[i])
            p = int(pos[i])
            while drained_upto < p:
                drain_max = max(drain_max, drain[drained_upto])
                drained_upto += 1
            prev = last_on[c]
            # a fused producer on the same core interleaves with it tile by tile
            busy = core_free[c] if prev < 0 or prev not in pipe[i] else 0.0
            s = max(busy, read_end[i], freed[c], drain_max)
            for q in hard[i]:
                if end[q] > s:
                    s = end[q]
            for q in pipe[i]:
                first = fend[q] + lat[q, cidx[q]] / tiles
                if first > s:
                    s = first
            stream = (sr[i] + sw[i]) * dcyc
            if stream > 0:
                s = max(s, port)
                port = s + stream
                streams[i] = (s, port)
            f = 0.0
            for q, b in fetch_edges[i]:
                f += b * xc[cidx[q], c]
            start[i] = s
            fend[i] = s + f
            e_i = s + max(f + lat[i, c], stream)
            for q in pipe[i]:
                last = end[q] + lat[i, c] / tiles
                if last > e_i:
                    e_i = last
                if cidx[q] == c:  # same core: the two interleave tile by tile
                    e_i = max(e_i, fend[q] + lat[q, c] + lat[i, c])
            end[i] = e_i
            core_free[c] = e_i
            last_on[c] = i
            ended_max = max(ended_max, e_i)
            for a in frees[i]:
                ca = int(cidx[a])
                t_free = e_i if ca == c else fend[i]
                if t_free > freed[ca]:
                    freed[ca] = t_free
        else:
            s = max(port, end[i])
            port = s + wbits[i] * dcyc
            writes[i] = (s, port)
            dl = min(int(pos[i] + ww[i]), n)
            drain[dl] = max(drain[dl], port)
    return Times(start, fend, end, reads, writes, streams, rbits, wbits, sr, sw)
