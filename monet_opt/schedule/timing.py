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
from functools import lru_cache

import numpy as np

from monet_opt.schedule.memory import MemoryModel, Placement, _Alloc, _OrderView, memory_model
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
    port_end
        When the DRAM port finished its last task, if the simulation knows it (the
        port serves its tasks in order, so it is the latest end of ``reads``,
        ``writes`` and ``streams``); ``None``: computed from them.
    restream_bits
        ``(n,)`` part of ``stream_read_bits`` that fused members re-stream (weights
        read once per tile), or ``None``.
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
    port_end: float | None = None
    restream_bits: np.ndarray | None = None

    @property
    def makespan(self) -> float:
        mk = float(self.end.max()) if len(self.end) else 0.0
        if self.port_end is not None:
            return max(mk, self.port_end)
        for d in (self.writes, self.reads, self.streams):
            if d:
                mk = max(mk, max(v[1] for v in d.values()))
        return mk


def _stream_bits(problem: Problem, al: _Alloc) -> tuple[np.ndarray, np.ndarray]:
    """In-node stream read / write bits per node (weights a fused member re-streams
    per tile included)."""
    st = _static(problem)
    nodes = np.arange(problem.n_nodes)
    sr = st.stream_read[nodes, al.c]
    if al.restream.any():
        sr = sr + al.restream
    return sr, st.stream_write[nodes, al.c]


def dma_bits(
    problem: Problem, cidx: Sequence[int], spilled: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(read bits, write bits)`` of each node's DMA tasks under the capacity semantics:
    DRAM operands that are not streamed, plus spilled inputs / outputs."""
    mm = memory_model(problem)
    return _dma_bits(mm, mm.alloc(np.asarray(cidx, dtype=int)), spilled)


def _dma_bits(
    mm: MemoryModel, al: _Alloc, spilled: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    strm = al.strm  # (n, 3)
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
    c = np.asarray(cidx, dtype=int)
    spilled = mm.close(mm.spill_mask(placement.spills or ()) | mm.forced(c))
    d = problem.prefetch_depth
    n = problem.n_nodes
    view = mm.view(order)
    rw = np.asarray(placement.read_window or [d] * n, dtype=int)
    ww = np.asarray(placement.write_window or [d] * n, dtype=int)
    rw, ww = mm.windows(view.pos, spilled, rw, ww)
    return _simulate_placed(problem, c, order, spilled, rw, ww)


def _simulate_placed(
    problem: Problem,
    cidx: np.ndarray,
    order: Sequence[int] | None,
    spilled: np.ndarray,
    rw: np.ndarray | Sequence[int],
    ww: np.ndarray | Sequence[int],
) -> Times:
    """:func:`simulate` under the capacity semantics for a placement given as arrays:
    ``spilled`` (``(n_tensors,)`` bool over :attr:`MemoryModel.tensors`, forced spills
    and same-name tensors included) and clipped windows ``rw``, ``ww`` (as
    :meth:`MemoryModel.windows` returns them)."""
    mm = memory_model(problem)
    view = mm.view(order)
    c = np.asarray(cidx, dtype=int)
    al = mm.alloc(c)
    rbits, wbits = _dma_bits(mm, al, spilled)
    sr, sw = _stream_bits(problem, al)
    late = _late_reads(mm, view, spilled)
    start, fend, end, reads, writes, streams, port = _events(
        problem, view, c.tolist(), _as_list(spilled), (_as_list(rw), _as_list(ww)),
        (rbits.tolist(), wbits.tolist(), sr.tolist(), sw.tolist()), late,
    )  # fmt: skip
    return Times(
        np.asarray(start), np.asarray(fend), np.asarray(end), reads, writes, streams,
        rbits, wbits, sr, sw, port, al.restream,
    )  # fmt: skip


def _late_reads(mm: MemoryModel, view: _OrderView, spilled: np.ndarray) -> list[bool]:
    """Per node: its DMA read must follow a DMA write of a node at the same position
    (a fused group's span), so it is queued right before the node, not at the start of
    the position."""
    n = len(view.pos)
    if view.n_pos == n:
        return []
    pos = view.pos
    late = np.zeros(n, dtype=bool)
    same = pos[mm.dep_dst] == pos[mm.dep_src]
    late[mm.dep_dst[same]] = True
    if spilled.any() and len(mm.e_tensor):
        sp = np.asarray(spilled, dtype=bool)[mm.e_tensor]
        dst = mm.e_dst[sp]
        src = mm.t_src[mm.e_tensor[sp]]
        late[dst[pos[dst] == pos[src]]] = True
    return late.tolist()


def _as_list(x: np.ndarray | Sequence) -> list:
    return x.tolist() if isinstance(x, np.ndarray) else list(x)


@dataclass(frozen=True, eq=False)
class _Static:
    """What the capacity timing needs of a problem, independent of the decision.

    Attributes
    ----------
    lat, xc
        ``costs.latency`` and ``costs.xfer_cycles`` as lists.
    fetch
        Per node: ``(producer, bits, tensor index)`` of its on-chip input edges, in edge
        order (fetched over the interconnect unless the tensor is spilled).
    hard
        Per node: producers it waits for completely whatever the placement (edges via
        DRAM and on-chip edges that are not pipelined).
    pipe
        Per node: ``(producer, tensor index)`` of its pipelined edges (waited for
        completely when the tensor is spilled).
    stream_read, stream_write
        ``(n, n_cores)`` bits each node streams from / to DRAM in-node on each core.
    """

    lat: list[list[float]]
    xc: list[list[float]]
    fetch: tuple[tuple[tuple[int, float, int], ...], ...]
    hard: tuple[tuple[int, ...], ...]
    pipe: tuple[tuple[tuple[int, int], ...], ...]
    stream_read: np.ndarray
    stream_write: np.ndarray


@lru_cache(maxsize=32)
def _static(problem: Problem) -> _Static:
    mm = memory_model(problem)
    n = problem.n_nodes
    fetch: list[list[tuple[int, float, int]]] = [[] for _ in range(n)]
    hard: list[dict[int, None]] = [{} for _ in range(n)]
    pipe: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for e, t in zip(problem.edges, mm.edge_tensor.tolist(), strict=True):
        if e.via_dram:
            hard[e.dst][e.src] = None
            continue
        fetch[e.dst].append((e.src, e.bits, t))
        if e.pipelined:
            pipe[e.dst].append((e.src, t))
        else:
            hard[e.dst][e.src] = None
    nc = len(problem.core_ids)
    sr = np.zeros((n, nc))
    sw = np.zeros((n, nc))
    det = problem.costs.details
    for i in range(n):
        for c in range(nc):
            oc = det[i][c]
            if oc is not None:
                sr[i, c] = float(getattr(oc, "dram_read_bits", 0.0) or 0.0)
                sw[i, c] = float(getattr(oc, "dram_write_bits", 0.0) or 0.0)
    return _Static(
        problem.costs.latency.tolist(), problem.costs.xfer_cycles.tolist(),
        tuple(tuple(v) for v in fetch), tuple(tuple(v) for v in hard),
        tuple(tuple(v) for v in pipe), sr, sw,
    )  # fmt: skip


def _preds(
    st: _Static, spilled: list[bool]
) -> tuple[Sequence[Sequence[int]], Sequence[Sequence[int]]]:
    """Per node: producers waited for completely, and fused producers (pipelined edges
    of tensors kept on chip) waited for tile by tile."""
    if not any(st.pipe):
        return st.hard, st.pipe
    hard: list[Sequence[int]] = list(st.hard)
    pipe: list[Sequence[int]] = [()] * len(st.hard)
    for j, edges in enumerate(st.pipe):
        if not edges:
            continue
        h = dict.fromkeys(st.hard[j])
        h.update((a, None) for a, t in edges if spilled[t])
        hard[j] = tuple(h)
        pipe[j] = tuple(dict.fromkeys(a for a, t in edges if not spilled[t] and a not in h))
    return hard, pipe


def _read_slots(
    view: _OrderView, rbits: list[float], rw: list[int], late: list[bool]
) -> list[list[int]]:
    """Per position: the nodes whose DMA read is queued at its start (in program order,
    so the queue does not depend on how nodes are numbered; not the ``late`` ones)."""
    slots: list[list[int]] = [[] for _ in range(view.n_pos)]
    pos = view.pos_l
    for i in view.order:
        i = int(i)
        if rbits[i] > 0 and not (late and late[i]):
            slots[pos[i] - rw[i]].append(i)
    return slots


def _events(
    problem: Problem,
    view: _OrderView,
    cidx: list[int],
    spilled: list[bool],
    windows: tuple[list[int], list[int]],
    bits: tuple[list[float], list[float], list[float], list[float]],
    late: list[bool],
) -> tuple[list[float], list[float], list[float], dict[int, tuple[float, float]], ...]:
    """The merged event sequence: at each position, the DMA reads queued there, then its
    nodes in program order, each preceded by its ``late`` read (:func:`_late_reads`) and
    followed by its DMA write (module docstring).  The gates see the positions: G1
    frees and G2 ends count from the next position on (the nodes of a fused group's
    span run together).  ``bits``: DMA read / write and stream read / write bits per
    node.  Returns start, fetch end, end, reads, writes, streams and when the DRAM port
    is free at the end."""
    st = _static(problem)
    rw, ww = windows
    rbits, wbits, sr, sw = bits
    n = len(cidx)
    n_pos = view.n_pos
    nc = len(st.xc)
    dcyc = problem.costs.dram_cycles_per_bit
    tiles = problem.tiles
    lat, xc, fetch = st.lat, st.xc, st.fetch
    hard, pipe = _preds(st, spilled)
    freed_by = view.freed_by
    t_src = memory_model(problem).lists.t_src
    start = [0.0] * n
    fend = [0.0] * n
    end = [0.0] * n
    read_end = [0.0] * n
    core_free = [0.0] * nc
    last_on = [-1] * nc
    freed = [0.0] * nc  # G1: per core, latest free of a tensor already consumed
    port = 0.0
    ended_max = 0.0  # G2: latest end of the nodes of the positions processed so far
    drain = [0.0] * (n_pos + 1)  # G3: write end by deadline position
    drain_max = 0.0
    reads: dict[int, tuple[float, float]] = {}
    writes: dict[int, tuple[float, float]] = {}
    streams: dict[int, tuple[float, float]] = {}
    for p, (slot, nodes) in enumerate(
        zip(_read_slots(view, rbits, rw, late), view.nodes_at, strict=True)
    ):
        for j in slot:  # DMA reads queued at p (G2: after every node before p)
            s = port if port > ended_max else ended_max
            port = s + rbits[j] * dcyc
            read_end[j] = port
            reads[j] = (s, port)
        if p and drain[p - 1] > drain_max:  # G3: the writes due before p
            drain_max = drain[p - 1]
        ended_before = ended_max
        frees: list[tuple[int, float]] = []
        for i in nodes:
            if late and late[i] and rbits[i] > 0:  # after a write of this position
                s = port if port > ended_before else ended_before
                port = s + rbits[i] * dcyc
                read_end[i] = port
                reads[i] = (s, port)
            c = cidx[i]
            prev = last_on[c]
            pipe_i = pipe[i]
            # a fused producer on the same core interleaves with it tile by tile
            s = core_free[c] if prev < 0 or prev not in pipe_i else 0.0
            for x in (read_end[i], freed[c], drain_max):
                if x > s:
                    s = x
            for q in hard[i]:
                if end[q] > s:
                    s = end[q]
            for q in pipe_i:
                first = fend[q] + lat[q][cidx[q]] / tiles
                if first > s:
                    s = first
            stream = (sr[i] + sw[i]) * dcyc
            if stream > 0:
                if port > s:
                    s = port
                port = s + stream
                streams[i] = (s, port)
            f = 0.0
            for q, b, t in fetch[i]:
                if not spilled[t]:
                    f += b * xc[cidx[q]][c]
            start[i] = s
            fend[i] = s + f
            run = f + lat[i][c]
            e_i = s + (run if run > stream else stream)
            for q in pipe_i:
                last = end[q] + lat[i][c] / tiles
                if last > e_i:
                    e_i = last
                if cidx[q] == c:  # same core: the two interleave tile by tile
                    both = fend[q] + lat[q][c] + lat[i][c]
                    if both > e_i:
                        e_i = both
            end[i] = e_i
            core_free[c] = e_i
            last_on[c] = i
            if e_i > ended_max:
                ended_max = e_i
            for t in freed_by[i]:  # G1: the tensors i was the last consumer of
                if not spilled[t]:
                    ca = cidx[t_src[t]]
                    frees.append((ca, e_i if ca == c else fend[i]))
            if wbits[i] > 0:  # its DMA write
                s = port if port > e_i else e_i
                port = s + wbits[i] * dcyc
                writes[i] = (s, port)
                dl = p + ww[i]
                if dl > n_pos:
                    dl = n_pos
                if port > drain[dl]:
                    drain[dl] = port
        for ca, t_free in frees:
            if t_free > freed[ca]:
                freed[ca] = t_free
    return start, fend, end, reads, writes, streams, port
