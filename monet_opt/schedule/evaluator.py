"""The evaluator: the one source of truth that turns a decision into a schedule.

It implements the semantics of :mod:`monet_opt.schedule.problem` (cores, program order,
input fetch, the DRAM port), :mod:`monet_opt.schedule.realize` (fused stacks,
recomputed activations) and :mod:`monet_opt.schedule.memory` (capacities, placement,
spills, in-node streaming; timing in :mod:`monet_opt.schedule.timing`) as a single pass
over the merged event sequence, so one evaluation is O(nodes + edges) plus the
placement policy.  The MILPs re-simulate their answers with :func:`evaluate`; the GA
uses :func:`evaluate_metrics` as its fitness.

Placement.  Under the capacity semantics every evaluation needs a placement (spilled
tensors, prefetch and write-back windows).  A decision may give one
(:attr:`Decision.placement`); otherwise — and for the spills it leaves open —
:func:`monet_opt.schedule.memory.default_placement` (Stream's policy) chooses it.  The
placement used is reported in the schedule's ``stats``; the demand at every position
stays within every memory's capacity, and so does the occupancy at every moment (the
theorem of :mod:`monet_opt.schedule.memory`).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from monet_opt.schedule.memory import (
    Demand,
    Placement,
    _place,
    _resolve,
    _Resolved,
    memory_model,
)
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import (
    Realization,
    footprint_profile,
    realize,
    stack_overflow,
    validate_stacks,
)
from monet_opt.schedule.realize_remat import realize_remat
from monet_opt.schedule.resident import make_resident
from monet_opt.schedule.timing import Times, _simulate_placed, simulate
from monet_opt.schedule.types import Decision, EnergyBreakdown, MemoryTrace, Schedule, Transfer

__all__ = [
    "Metrics",
    "evaluate",
    "evaluate_fast",
    "evaluate_metrics",
    "simulate_times",
    "placement_for",
    "stacks_over_capacity",
]


def _core_indices(problem: Problem, allocation: Sequence[int]) -> list[int]:
    if len(allocation) != problem.n_nodes:
        raise ValueError(f"allocation has {len(allocation)} entries, expected {problem.n_nodes}")
    table = _core_table(problem.core_ids)
    a = np.asarray(allocation)
    if a.dtype.kind in "iu" and (not len(a) or (a.min() >= 0 and a.max() < len(table))):
        k = table[a]
        if (k >= 0).all() and problem.costs.allowed[np.arange(len(a)), k].all():
            return k.tolist()
    return _core_indices_checked(problem, allocation)


@lru_cache(maxsize=32)
def _core_table(ids: tuple[int, ...]) -> np.ndarray:
    """Core index by core id (-1: no such core)."""
    table = np.full(max(ids, default=-1) + 1, -1, dtype=int)
    table[list(ids)] = np.arange(len(ids))
    return table


def _core_indices_checked(problem: Problem, allocation: Sequence[int]) -> list[int]:
    """:func:`_core_indices` node by node, raising on the first node at fault."""
    ids = problem.core_ids
    lookup = {cid: k for k, cid in enumerate(ids)}
    out = []
    for i, cid in enumerate(allocation):
        k = lookup.get(int(cid))
        if k is None or k not in problem.allowed_idx[i]:
            raise ValueError(
                f"node {problem.nodes[i].name!r} cannot run on core {cid}; "
                f"allowed: {list(problem.allowed[i])}"
            )
        out.append(k)
    return out


def placement_for(
    problem: Problem,
    cidx: Sequence[int],
    order: Sequence[int] | None = None,
    given: Placement | None = None,
) -> Demand | None:
    """The placement of an allocation and its demand (``None`` for the unbounded
    semantics): ``given`` when it is complete (spills and windows), else the default
    policy, keeping the spills ``given`` names."""
    placed = _placed(problem, cidx, order, given)
    return None if placed is None else placed.demand


def _placed(
    problem: Problem,
    cidx: Sequence[int],
    order: Sequence[int] | None = None,
    given: Placement | None = None,
) -> _Resolved | None:
    """:func:`placement_for`, resolved to the arrays the timing needs."""
    if problem.memory != "capacity":
        return None
    if given is not None and given.spills is not None and given.read_window:
        return _resolve(problem, cidx, given, order)
    spills = None if given is None else given.spills
    return _place(problem, cidx, order, spills)


def simulate_times(
    problem: Problem,
    cidx: Sequence[int],
    order: Sequence[int] | None = None,
    placement: Placement | None = None,
) -> tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    dict[int, tuple[float, float]],
    dict[int, tuple[float, float]],
]:
    """Start, fetch-end and end times per node, and DRAM read/write task windows.

    Parameters
    ----------
    cidx
        Core *index* per node.
    order
        Program order π (default: the problem's default order).
    placement
        Under the capacity semantics: the placement (default: the policy's).

    Returns
    -------
    start, fetch_end, end, reads, writes
        Arrays in cycles; ``reads[i]``/``writes[i]`` = (start, end) of node i's DMA tasks.
    """
    t = _simulate(problem, cidx, order, _placed(problem, cidx, order, placement))
    return t.start, t.fetch_end, t.end, t.reads, t.writes


def _simulate(
    problem: Problem, cidx: Sequence[int], order: Sequence[int] | None, placed: _Resolved | None
) -> Times:
    if placed is None:
        return simulate(problem, cidx, order)
    return _simulate_placed(problem, cidx, order, placed.spilled, placed.rw, placed.ww)


def _energy(
    problem: Problem, cidx: Sequence[int], times: Times, spilled: np.ndarray | None = None
) -> EnergyBreakdown:
    """Step energy; ``spilled``: bool over :attr:`MemoryModel.tensors` (capacity
    semantics; spilled tensors move through DRAM, not over the links)."""
    comp, mem, stream_pj, links = _node_and_link_energy(problem, cidx, spilled)
    costs = problem.costs
    if problem.memory == "capacity":
        sr, sw = times.stream_read_bits, times.stream_write_bits
        if not stream_pj:
            stream_pj = float(
                sr.sum() * costs.dram_read_pj_per_bit + sw.sum() * costs.dram_write_pj_per_bit
            )
        elif times.restream_bits is not None and times.restream_bits.any():
            # weights fused members re-stream per tile (not in the nodes' costs)
            stream_pj += float(times.restream_bits.sum()) * costs.dram_read_pj_per_bit
        dram = float(
            times.read_bits.sum() * costs.dram_read_pj_per_bit
            + times.write_bits.sum() * costs.dram_write_pj_per_bit
            + stream_pj
        )
    else:
        dram = problem.dram_energy
    return EnergyBreakdown(compute=comp, onchip_memory=mem, dram=dram, links=links)


def _node_and_link_energy(
    problem: Problem, cidx: Sequence[int], spilled: np.ndarray | None
) -> tuple[float, float, float, float]:
    """Compute, on-chip memory and in-node DRAM energy of the nodes, and link energy,
    each summed in node / edge order.  The tables are built from a problem's second
    evaluation on (a derived problem is often evaluated once)."""
    slot = _energy_slot(problem)
    slot.calls += 1
    if slot.tables is None and slot.calls < 2:
        return _energy_loop(problem, cidx, spilled)
    if slot.tables is None:
        slot.tables = _energy_tables(problem)
    tab = slot.tables
    c = np.asarray(cidx, dtype=int)
    nodes = np.arange(problem.n_nodes)
    per_node = [_serial_sum(x[nodes, c]) for x in (tab.compute, tab.memory, tab.dram)]
    on = tab.onchip
    if spilled is not None and spilled.any():
        on = on.copy()
        on[tab.onchip_idx] = ~spilled[tab.onchip_tensor]
    links = _serial_sum(tab.bits[on] * problem.costs.xfer_energy[c[tab.src[on]], c[tab.dst[on]]])
    return per_node[0], per_node[1], per_node[2], links


def _energy_loop(
    problem: Problem, cidx: Sequence[int], spilled: np.ndarray | None
) -> tuple[float, float, float, float]:
    """:func:`_node_and_link_energy` without tables."""
    comp = mem = stream_pj = 0.0
    det = problem.costs.details
    for i, c in enumerate(cidx):
        oc = det[i][c]
        assert oc is not None
        comp += oc.compute_energy
        mem += oc.memory_energy
        stream_pj += float(getattr(oc, "dram_energy", 0.0) or 0.0)
    out = frozenset()
    if spilled is not None and spilled.any():
        out = memory_model(problem).names(spilled)
    xe = problem.costs.xfer_energy
    links = 0.0
    for e in problem.edges:
        if not e.via_dram and e.tensor not in out:
            links += e.bits * xe[cidx[e.src], cidx[e.dst]]
    return float(comp), float(mem), stream_pj, float(links)


@dataclass(eq=False)
class _EnergySlot:
    """How often a problem's energy was computed, and its tables once built."""

    calls: int = 0
    tables: _EnergyTables | None = None


#: Per live problem (a derived problem is dropped with it).
_ENERGY_SLOTS: weakref.WeakKeyDictionary[Problem, _EnergySlot] = weakref.WeakKeyDictionary()


def _energy_slot(problem: Problem) -> _EnergySlot:
    slot = _ENERGY_SLOTS.get(problem)
    if slot is None:
        slot = _ENERGY_SLOTS[problem] = _EnergySlot()
    return slot


def _serial_sum(x: np.ndarray) -> float:
    """``x[0] + x[1] + ...`` in order (as a Python loop sums; ``np.sum`` pairs them)."""
    return float(np.cumsum(x)[-1]) if len(x) else 0.0


@dataclass(frozen=True, eq=False)
class _EnergyTables:
    """Per problem: energies per (node, core) and the edges (for the link energy).

    Attributes
    ----------
    compute, memory, dram
        ``(n, n_cores)`` compute, on-chip memory and in-node DRAM energy, pJ.
    src, dst, bits, onchip
        Per edge of the problem: endpoints, bits, not via DRAM.
    onchip_idx, onchip_tensor
        Indices of the on-chip edges and their tensor (capacity semantics:
        :attr:`MemoryModel.tensors`; empty otherwise).
    """

    compute: np.ndarray
    memory: np.ndarray
    dram: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    bits: np.ndarray
    onchip: np.ndarray
    onchip_idx: np.ndarray
    onchip_tensor: np.ndarray


def _energy_tables(problem: Problem) -> _EnergyTables:
    n = problem.n_nodes
    nc = len(problem.core_ids)
    tabs = np.zeros((3, n, nc))
    det = problem.costs.details
    for i in range(n):
        for c in range(nc):
            oc = det[i][c]
            if oc is not None:
                tabs[0, i, c] = oc.compute_energy
                tabs[1, i, c] = oc.memory_energy
                tabs[2, i, c] = float(getattr(oc, "dram_energy", 0.0) or 0.0)
    edges = problem.edges
    onchip = np.asarray([not e.via_dram for e in edges], dtype=bool)
    idx = np.flatnonzero(onchip)
    if problem.memory == "capacity":
        tensor = memory_model(problem).edge_tensor[idx]
    else:
        idx = tensor = np.zeros(0, dtype=int)
    return _EnergyTables(
        tabs[0], tabs[1], tabs[2],
        np.asarray([e.src for e in edges], dtype=int),
        np.asarray([e.dst for e in edges], dtype=int),
        np.asarray([e.bits for e in edges], dtype=float),
        onchip, idx, tensor,
    )  # fmt: skip


@dataclass(frozen=True, eq=False)
class _Run:
    """One evaluation: the problem simulated, its allocation, placement and times."""

    problem: Problem
    cidx: list[int]
    order: tuple[int, ...] | None
    real: Realization | None
    placed: _Resolved | None
    times: Times

    @property
    def demand(self) -> Demand | None:
        return None if self.placed is None else self.placed.demand

    @property
    def spilled(self) -> frozenset[str]:
        if self.placed is None:
            return frozenset()
        return memory_model(self.problem).names(self.placed.spilled)

    @property
    def spilled_mask(self) -> np.ndarray | None:
        return None if self.placed is None else self.placed.spilled

    @property
    def n_overflow(self) -> int:
        return 0 if self.placed is None else self.placed.n_overflow

    def energy(self) -> EnergyBreakdown:
        return _energy(self.problem, self.cidx, self.times, self.spilled_mask)


def _run(problem: Problem, decision: Decision) -> _Run:
    cidx = _core_indices(problem, decision.allocation)
    if decision.remat is None and _is_trivial(problem, decision):
        order = None if decision.priority is None else problem.program_order(decision.priority)
        pb, real = problem, None
    else:
        real = (
            realize(problem, decision)
            if decision.remat is None
            else realize_remat(problem, decision)
        )
        pb = real.problem
        cidx = _core_indices(pb, real.expand(decision.allocation))
        order = None
    if decision.resident is not None:  # training state kept on chip across steps
        pb = make_resident(pb, decision.resident, cidx)
    placed = _placed(pb, cidx, order, decision.placement)
    times = _simulate(pb, cidx, order, placed)
    return _Run(pb, cidx, None if order is None else tuple(order), real, placed, times)


def evaluate_fast(
    problem: Problem,
    allocation: Sequence[int],
    priority: Sequence[float] | None = None,
    stacks: Sequence[Sequence[int]] = (),
    checkpoints: frozenset[str] | None = None,
) -> tuple[float, float]:
    """Latency (cycles) and energy (pJ) of an allocation, without building a Schedule.

    Same semantics and numbers as :func:`evaluate` (the default placement).
    """
    dec = Decision(
        tuple(allocation),
        None if priority is None else tuple(priority),
        tuple(tuple(s) for s in stacks),
        checkpoints,
    )
    r = _run(problem, dec)
    return r.times.makespan, r.energy().total


@dataclass(frozen=True)
class Metrics:
    """Scalar figures of one evaluated decision (what the GA objectives read).

    Attributes
    ----------
    latency
        Makespan, cycles.
    energy
        Step energy, pJ.
    peak_footprint_bits
        Peak activation footprint, bits (:mod:`monet_opt.schedule.realize`).
    recompute_cycles, recompute_energy_pj
        Serial cycles and pJ of the recompute copies (the checkpointing MILP's
        objective, :meth:`Realization.recompute_cost`).
    stack_overflow
        Number of fused stacks over capacity: under the capacity semantics, stacks whose
        position has a memory over capacity; otherwise stacks whose weights and tile
        buffers exceed their cores' on-chip bits.
    memory_overflow
        Number of (memory, position) pairs over capacity (0 for every placement the
        default policy finds; a given placement may overflow).
    """

    latency: float
    energy: float
    peak_footprint_bits: float
    recompute_cycles: float = 0.0
    recompute_energy_pj: float = 0.0
    stack_overflow: int = 0
    memory_overflow: int = 0

    def value(self, name: str) -> float:
        """``latency``, ``energy``, ``edp``, ``memory`` (peak footprint) or ``recompute``."""
        if name == "latency":
            return self.latency
        if name == "energy":
            return self.energy
        if name == "edp":
            return self.latency * self.energy
        if name == "memory":
            return self.peak_footprint_bits
        if name == "recompute":
            return self.recompute_cycles
        raise ValueError(
            f"unknown metric {name!r}; allowed: latency, energy, edp, memory, recompute"
        )


def evaluate_metrics(problem: Problem, decision: Decision) -> Metrics:
    """:class:`Metrics` of a decision without building a :class:`Schedule`.

    The same numbers as :func:`evaluate` (latency, energy, ``stats``), with one
    realization of the decision; this is the fitness of the GAs in :mod:`monet_opt.ga`.

    Raises
    ------
    ValueError
        As :func:`evaluate`.
    """
    r = _run(problem, decision)
    lat = r.times.makespan
    en = r.energy().total
    over = r.n_overflow
    if r.real is None:
        if decision.priority is None:
            peak = _store_all_peak(problem)
        else:
            order = problem.program_order(decision.priority)
            fp, _ = footprint_profile(problem, order, problem.checkpoint_tensors)
            peak = float(fp.max()) if len(fp) else 0.0
        return Metrics(lat, en, peak, memory_overflow=over)
    real = r.real
    cyc, pj = real.recompute_cost(decision.allocation)
    stk = _stacks_over(r, decision)
    return Metrics(lat, en, real.peak_footprint_bits, cyc, pj, stk, over)


def _stacks_over(r: _Run, decision: Decision) -> int:
    return len(_over_stacks(r, decision))


def _over_stacks(r: _Run, decision: Decision) -> tuple[tuple[int, ...], ...]:
    """Fused stacks over capacity: under the capacity semantics, those whose position
    has a memory over capacity (the demand of the placement); otherwise those whose
    weights and tile buffers exceed their cores' on-chip bits
    (:func:`~monet_opt.schedule.realize.stack_overflow`)."""
    real = r.real
    if real is None or not real.stacks:
        return ()
    if r.problem.memory != "capacity":
        return tuple(
            st for st in real.stacks if stack_overflow(real.base, (st,), decision.allocation)
        )
    if not r.n_overflow:
        return ()
    assert r.placed is not None
    over = {q for _, q, _, _ in r.placed.demand.overflow()}
    derived = {o: d for d, (o, a) in enumerate(zip(real.origin, real.recompute_for, strict=True))
               if a is None}  # fmt: skip
    pos = r.placed.pos
    return tuple(st for st in real.stacks if any(int(pos[derived[i]]) in over for i in st))


def stacks_over_capacity(problem: Problem, decision: Decision) -> tuple[tuple[int, ...], ...]:
    """The decision's fused stacks (base node indices, in program order) that do not fit:
    under ``schedule.memory: capacity``, stacks whose position has a memory over
    capacity after the decision's placement (or the default one); otherwise stacks
    whose weights and tile buffers exceed their cores' on-chip bits.

    Raises
    ------
    ValueError
        As :func:`evaluate`.
    """
    return _over_stacks(_run(problem, decision), decision)


@lru_cache(maxsize=16)
def _store_all_peak(problem: Problem) -> float:
    """Peak store-all footprint in the default program order (bits)."""
    fp, _ = footprint_profile(problem, problem.program_order(), problem.checkpoint_tensors)
    return float(fp.max()) if len(fp) else 0.0


def _is_trivial(problem: Problem, decision: Decision) -> bool:
    """True when the decision is layer by layer and store-all (after validating it)."""
    if any(len(st) > 1 for st in decision.stacks):
        return False
    ck = decision.checkpoints
    if decision.stacks:
        validate_stacks(problem, decision.stacks, problem.program_order(decision.priority))
    if ck is not None:
        unknown = sorted(set(ck) - set(problem.checkpoint_tensors))
        if unknown:
            raise ValueError(f"checkpoints {unknown[:3]} are not checkpoint candidates")
    return ck is None or set(ck) >= set(problem.checkpoint_tensors)


def evaluate(problem: Problem, decision: Decision) -> Schedule:
    """Full schedule of a decision: node times, transfers, energy, memory over time.

    Parameters
    ----------
    problem
        From :func:`monet_opt.schedule.problem.build_problem`.
    decision
        Allocation (core ids, one per node), optional priority, fused stacks, kept
        checkpoints and placement.  Stacks and dropped checkpoints are realized as a
        derived problem (:func:`monet_opt.schedule.realize.realize`); the schedule's nodes
        are then the derived nodes in program order, recompute copies included.

    Raises
    ------
    ValueError
        On a wrong-length allocation, a disallowed core, or invalid stacks/checkpoints.
    """
    r = _run(problem, decision)
    sched = _schedule(r)
    if r.real is None:
        order = r.order or problem.program_order()
        fp, _ = footprint_profile(problem, order, problem.checkpoint_tensors)
        stats = {
            "recompute_cycles": 0.0,
            "recompute_energy_pj": 0.0,
            "recompute_nodes": 0,
            "peak_footprint_bits": float(fp.max()) if len(fp) else 0.0,
            "stack_overflow": 0,
        }
    else:
        real = r.real
        cyc, pj = real.recompute_cost(decision.allocation)
        fp = real.footprint
        stats = {
            "recompute_cycles": cyc,
            "recompute_energy_pj": pj,
            "recompute_nodes": len(real.recompute_nodes),
            "peak_footprint_bits": real.peak_footprint_bits,
            "stack_overflow": _stacks_over(r, decision),
        }
    stats.update(_memory_stats(r))
    return replace(sched, footprint=fp, stats=stats)


def _memory_stats(r: _Run) -> dict[str, object]:
    """Placement, overflow and the DRAM traffic split of a run.

    ``dram_traffic_bits`` / ``_cycles`` / ``_pj`` split the DRAM traffic into
    ``compulsory`` (weights, optimizer state, inputs, outputs, and tensors a
    ``layer_io: dram`` round trip moves), ``activation`` (checkpoint activations stored
    for the backward pass and read back), ``recompute_inputs`` (what recompute copies
    read), ``spill`` (other tensors spilled for room) and ``refetch`` (in-node streaming
    beyond one pass: operands that do not fit, weights a fused stack re-streams per
    tile).  ``activation_placement`` says where each checkpoint activation lives:
    ``on_chip``, ``dram`` or ``recompute``.
    """
    t = r.times
    pb = r.problem
    c = pb.costs
    out: dict[str, object] = {"memory_model": pb.memory}
    out["memory_overflow"] = r.n_overflow
    spilled = r.spilled
    out["spilled"] = tuple(sorted(spilled))
    g = pb.graph
    base = r.real.base if r.real is not None else pb
    acts = frozenset(base.checkpoint_tensors)
    rfor = r.real.recompute_for if r.real is not None else (None,) * pb.n_nodes
    reads = {"compulsory": 0.0, "activation": 0.0, "recompute_inputs": 0.0, "spill": 0.0}
    writes = dict.fromkeys(reads, 0.0)
    for i in range(pb.n_nodes):
        for name in pb.dram_read_tensors[i]:
            kind = "recompute_inputs" if rfor[i] is not None else None
            kind = kind or ("activation" if name in acts else "compulsory")
            reads[kind] += float(g.tensors[name].bits)
        for name in pb.dram_write_tensors[i]:
            writes["activation" if name in acts else "compulsory"] += float(g.tensors[name].bits)
    mm = memory_model(pb) if pb.memory == "capacity" else None
    sp = r.spilled_mask
    if mm is not None and sp is not None and sp.any():
        for ti in np.flatnonzero(sp).tolist():
            kind = "activation" if mm.tensors[ti] in acts else "spill"
            writes[kind] += float(mm.t_bits[ti])
            for e in mm.t_edges[ti]:
                dst = int(mm.e_dst[e])
                k2 = "recompute_inputs" if rfor[dst] is not None else kind
                reads[k2] += float(mm.e_bits[e])
    stream = float(t.stream_read_bits.sum() + t.stream_write_bits.sum())
    dma = float(t.read_bits.sum() + t.write_bits.sum())
    # in-node streams carry operands that were compulsory DMA otherwise, plus re-fetch
    moved = sum(reads.values()) + sum(writes.values())
    refetch = max(stream + dma - moved, 0.0)
    split = {k: reads[k] + writes[k] for k in reads}
    split["refetch"] = refetch
    out["dram_traffic_bits"] = split
    out["dram_traffic_cycles"] = {k: v * c.dram_cycles_per_bit for k, v in split.items()}
    pj = {k: reads[k] * c.dram_read_pj_per_bit + writes[k] * c.dram_write_pj_per_bit for k in reads}
    pj["refetch"] = refetch * c.dram_read_pj_per_bit
    out["dram_traffic_pj"] = pj
    dropped = set(r.real.dropped) if r.real is not None else set()
    on_chip = pb.memory == "capacity"
    out["activation_placement"] = {
        a: "recompute" if a in dropped else ("on_chip" if on_chip and a not in spilled else "dram")
        for a in base.checkpoint_tensors
    }
    return out


def _memory_traces(r: _Run, makespan: float) -> dict[str, MemoryTrace]:
    """Occupancy over time of every on-chip memory and of DRAM (real time).

    Capacity semantics: each memory of each core, from the demand items (working sets
    while a node runs, live tensors from production to the last fetch, prefetch buffers
    from the read start to the node end, write-back buffers until written).  Unbounded
    semantics: one trace per core (all its memories together), as before issue 10.
    """
    pb = r.problem
    t = r.times
    if pb.memory != "capacity":
        return _traces_unbounded(pb, r.cidx, t, makespan)
    mm = memory_model(pb)
    n = pb.n_nodes
    c = np.asarray(r.cidx, dtype=int)
    al = mm.alloc(c)
    rows = al.rows
    events: list[list[tuple[float, float]]] = [[] for _ in mm.keys]
    spilled = r.spilled_mask
    assert spilled is not None
    strm, work = al.strm, al.work
    in_place: dict[tuple[int, int], float] = {}
    last_free: dict[int, float] = {}
    for k in range(len(mm.e_tensor)):
        ti = int(mm.e_tensor[k])
        if spilled[ti]:
            continue
        j = int(mm.e_dst[k])
        a = int(mm.t_src[ti])
        free = t.end[j] if c[j] == c[a] else t.fetch_end[j]
        last_free[ti] = max(last_free.get(ti, 0.0), float(free))
        if al.inplace[k]:
            key = (j, int(mm.e_operand[k]))
            in_place[key] = in_place.get(key, 0.0) + float(mm.e_bits[k])
    produced: dict[int, float] = {}  # bits of a node's output counted as a live tensor
    for ti, free in last_free.items():
        a = int(mm.t_src[ti])
        row = rows[a, 2]
        if row >= 0:
            b = float(mm.t_tile_bits[ti])
            events[row] += [(float(t.start[a]), b), (free, -b)]
            if not mm.t_pipe[ti]:  # a tile already left the producer's working set
                produced[a] = produced.get(a, 0.0) + b
    for i in range(n):
        for k in range(3):
            row = rows[i, k]
            b = float(work[i, k])
            if k == 2:
                b -= produced.get(i, 0.0)
            b -= in_place.get((i, k), 0.0)
            if row >= 0 and b > 0:
                events[row] += [(float(t.start[i]), b), (float(t.end[i]), -b)]
        if i in t.reads and t.read_bits[i] > 0:
            s0 = t.reads[i][0]
            for k in range(3):
                row = rows[i, k]
                b = float(mm.reads[i, k]) * (not strm[i, k])
                if row >= 0 and b > 0:
                    events[row] += [(s0, b), (float(t.start[i]), -b)]
        if i in t.writes and t.write_bits[i] > 0 and rows[i, 2] >= 0:
            b = float(t.write_bits[i])
            events[rows[i, 2]] += [(float(t.end[i]), b), (t.writes[i][1], -b)]
    for row in np.flatnonzero(mm.permanent):  # resident training state: all step
        events[row].append((0.0, float(mm.permanent[row])))
    traces: dict[str, MemoryTrace] = {}
    for row, key in enumerate(mm.keys):
        cid = pb.core_ids[key[0]]
        traces[mm.labels[row]] = _trace(
            mm.labels[row], cid, float(mm.capacity[row]), events[row], makespan
        )
    dram = _dram_trace(pb, t, makespan)
    if dram is not None:
        traces["DRAM"] = dram
    return traces


def _dram_trace(pb: Problem, t: Times, makespan: float) -> MemoryTrace | None:
    g = pb.graph
    acc = pb.accelerator
    dram = acc.dram
    if dram is None or acc.offchip_core_id is None:
        return None
    on_chip = {name for name, _ in pb.resident}  # resident training state: not in DRAM
    const = sum(
        tt.bits
        for tt in g.tensors.values()
        if tt.is_constant and tt.name not in g.producer and tt.name not in on_chip
    )
    ev: list[tuple[float, float]] = [(0.0, float(const))]
    for i, (ws, _we) in t.writes.items():
        for name in pb.dram_write_tensors[i]:
            tensor = g.tensors[name]
            if tensor.is_constant:
                continue  # updated in place of the old copy
            readers = [
                t.reads[j][1]
                for j in range(pb.n_nodes)
                if name in pb.dram_read_tensors[j] and j in t.reads
            ]
            t_end = max(readers) if readers else makespan
            ev += [(ws, float(tensor.bits)), (t_end, -float(tensor.bits))]
    return _trace("DRAM", acc.offchip_core_id, dram.size_bits, ev, makespan)


def _traces_unbounded(
    problem: Problem, cidx: Sequence[int], t: Times, makespan: float
) -> dict[str, MemoryTrace]:
    g = problem.graph
    acc = problem.accelerator
    start, end, reads, writes = t.start, t.end, t.reads, t.writes
    events: dict[int, list[tuple[float, float]]] = {c: [] for c in range(len(problem.core_ids))}
    last_use: dict[int, float] = {}
    for e in problem.edges:
        if not e.via_dram:
            last_use[e.src] = max(last_use.get(e.src, 0.0), float(end[e.dst]))
    for i, op in enumerate(problem.nodes):
        c = cidx[i]
        rb = problem.dram_read_bits[i]
        if rb > 0:
            events[c] += [(reads[i][0], rb), (float(end[i]), -rb)]
        out_bits = sum(
            g.tensors[name].bits / (problem.tiles if name in problem.tile_tensors else 1)
            for name in op.outputs
        )
        if out_bits:
            t1 = max(float(end[i]), last_use.get(i, 0.0), writes.get(i, (0.0, 0.0))[1])
            events[c] += [(float(start[i]), out_bits), (t1, -out_bits)]
    traces: dict[str, MemoryTrace] = {}
    for c, evs in events.items():
        core = acc.core(problem.core_ids[c])
        label = f"core {core.id} ({core.name})"
        traces[label] = _trace(label, core.id, core.onchip_bits, evs, makespan)
    dram = _dram_trace(problem, t, makespan)
    if dram is not None:
        traces["DRAM"] = dram
    return traces


def _trace(
    label: str, core: int, cap: float, evs: list[tuple[float, float]], makespan: float
) -> MemoryTrace:
    if not evs:
        return MemoryTrace(label, core, cap, np.array([0.0, makespan]), np.array([0.0, 0.0]))
    evs = sorted(evs, key=lambda e: (e[0], e[1]))
    times = [0.0]
    vals = [0.0]
    cur = 0.0
    for tt, d in evs:
        cur += d
        if tt == times[-1]:
            vals[-1] = cur
        else:
            times.append(tt)
            vals.append(cur)
    vals = [max(v, 0.0) if abs(v) < 1e-6 else v for v in vals]
    return MemoryTrace(label, core, cap, np.array(times), np.array(vals))


def _schedule(r: _Run) -> Schedule:
    pb = r.problem
    cidx = r.cidx
    t = r.times
    makespan = t.makespan
    off = pb.accelerator.offchip_core_id
    off = -1 if off is None else off
    ids = pb.core_ids
    transfers: list[Transfer] = []
    for i, (s, e) in t.reads.items():
        transfers.append(
            Transfer(
                "+".join(pb.dram_read_tensors[i]) or "spilled inputs",
                off, ids[cidx[i]], "dram", s, e, float(t.read_bits[i]),
            )
        )  # fmt: skip
    for i, (s, e) in t.writes.items():
        transfers.append(
            Transfer(
                "+".join(pb.dram_write_tensors[i]) or "spilled outputs",
                ids[cidx[i]], off, "dram", s, e, float(t.write_bits[i]),
            )
        )  # fmt: skip
    for i, (s, e) in t.streams.items():
        transfers.append(
            Transfer(
                f"{pb.nodes[i].name} (streamed)", off, ids[cidx[i]], "dram", s, e,
                float(t.stream_read_bits[i] + t.stream_write_bits[i]),
            )
        )  # fmt: skip
    xc = pb.costs.xfer_cycles
    spilled = r.spilled
    for j in range(pb.n_nodes):
        tt = float(t.start[j])
        for k in pb.in_edges[j]:
            ed = pb.edges[k]
            if ed.tensor in spilled:
                continue
            a, b = cidx[ed.src], cidx[j]
            dur = ed.bits * xc[a, b]
            if a != b and dur > 0:
                transfers.append(
                    Transfer(
                        ed.tensor, ids[a], ids[b], pb.costs.routes[a][b], tt, tt + dur, ed.bits
                    )
                )
                tt += dur
    transfers.sort(key=lambda tr: (tr.start, tr.channel))
    return Schedule(
        node_names=pb.node_names,
        core=np.array([ids[c] for c in cidx]),
        start=t.start,
        end=t.end,
        fetch_end=t.fetch_end,
        transfers=tuple(transfers),
        latency=makespan,
        energy=r.energy(),
        memory=_memory_traces(r, makespan),
    )
