"""The evaluator: the one source of truth that turns a decision into a schedule.

It implements the semantics documented in :mod:`monet_opt.schedule.problem` as a
single pass over the merged event sequence (DRAM reads, nodes, DRAM writes), so one
evaluation is O(nodes + edges).  The MILPs re-simulate their answers with
:func:`evaluate`; the GA uses :func:`evaluate_fast` as its fitness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import (
    footprint_profile,
    realize,
    stack_overflow,
    validate_stacks,
)
from monet_opt.schedule.types import Decision, EnergyBreakdown, MemoryTrace, Schedule, Transfer

__all__ = [
    "Metrics",
    "evaluate",
    "evaluate_fast",
    "evaluate_metrics",
    "simulate_times",
]


def _core_indices(problem: Problem, allocation: Sequence[int]) -> list[int]:
    if len(allocation) != problem.n_nodes:
        raise ValueError(f"allocation has {len(allocation)} entries, expected {problem.n_nodes}")
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


def simulate_times(
    problem: Problem, cidx: Sequence[int], order: Sequence[int] | None = None
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

    Returns
    -------
    start, fetch_end, end, reads, writes
        Arrays in cycles; ``reads[i]``/``writes[i]`` = (start, end) of node i's DMA tasks.
    """
    if order is None:
        order = problem.program_order()
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
    return start, fend, end, reads, writes


def _energy(problem: Problem, cidx: Sequence[int]) -> EnergyBreakdown:
    comp = 0.0
    mem = 0.0
    det = problem.costs.details
    for i, c in enumerate(cidx):
        oc = det[i][c]
        assert oc is not None
        comp += oc.compute_energy
        mem += oc.memory_energy
    xe = problem.costs.xfer_energy
    links = 0.0
    for e in problem.edges:
        if not e.via_dram:
            links += e.bits * xe[cidx[e.src], cidx[e.dst]]
    return EnergyBreakdown(compute=comp, onchip_memory=mem, dram=problem.dram_energy, links=links)


def evaluate_fast(
    problem: Problem,
    allocation: Sequence[int],
    priority: Sequence[float] | None = None,
    stacks: Sequence[Sequence[int]] = (),
    checkpoints: frozenset[str] | None = None,
) -> tuple[float, float]:
    """Latency (cycles) and energy (pJ) of an allocation, without building a Schedule.

    Same semantics and numbers as :func:`evaluate`; used as the GA fitness.
    """
    cidx = _core_indices(problem, allocation)
    if stacks or checkpoints is not None:
        dec = Decision(
            tuple(allocation),
            None if priority is None else tuple(priority),
            tuple(tuple(s) for s in stacks),
            checkpoints,
        )
        if not _is_trivial(problem, dec):
            real = realize(problem, dec)
            problem = real.problem
            cidx = _core_indices(problem, real.expand(allocation))
            priority = None
    order = None if priority is None else problem.program_order(priority)
    return _fast(problem, cidx, order)


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
        Number of fused stacks whose weights and tile buffers exceed on-chip capacity.
    """

    latency: float
    energy: float
    peak_footprint_bits: float
    recompute_cycles: float = 0.0
    recompute_energy_pj: float = 0.0
    stack_overflow: int = 0

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
    cidx = _core_indices(problem, decision.allocation)
    if _is_trivial(problem, decision):
        if decision.priority is None:
            return Metrics(*_fast(problem, cidx, None), _store_all_peak(problem))
        order = problem.program_order(decision.priority)
        fp, _ = footprint_profile(problem, order, problem.checkpoint_tensors)
        lat, en = _fast(problem, cidx, order)
        return Metrics(lat, en, float(fp.max()) if len(fp) else 0.0)
    real = realize(problem, decision)
    alloc = real.expand(decision.allocation)
    lat, en = _fast(real.problem, _core_indices(real.problem, alloc), None)
    cyc, pj = real.recompute_cost(decision.allocation)
    over = len(stack_overflow(problem, real.stacks, decision.allocation))
    return Metrics(lat, en, real.peak_footprint_bits, cyc, pj, over)


@lru_cache(maxsize=16)
def _store_all_peak(problem: Problem) -> float:
    """Peak store-all footprint in the default program order (bits)."""
    fp, _ = footprint_profile(problem, problem.program_order(), problem.checkpoint_tensors)
    return float(fp.max()) if len(fp) else 0.0


def _fast(
    problem: Problem, cidx: Sequence[int], order: Sequence[int] | None
) -> tuple[float, float]:
    _, _, end, _, writes = simulate_times(problem, cidx, order)
    lat = float(end.max()) if len(end) else 0.0
    if writes:
        lat = max(lat, max(float(w[1]) for w in writes.values()))
    return lat, float(_energy(problem, cidx).total)


def _memory_traces(
    problem: Problem,
    cidx: Sequence[int],
    start: np.ndarray,
    end: np.ndarray,
    reads: dict[int, tuple[float, float]],
    writes: dict[int, tuple[float, float]],
    makespan: float,
) -> dict[str, MemoryTrace]:
    """Occupancy over time of each core's on-chip memory and of DRAM.

    On-chip: a node's DRAM-read operands occupy its core from the read start to the node
    end; its outputs occupy its core from its start until its last on-chip consumer has
    ended and its DRAM write (if any) is done.  DRAM: weights and optimizer state all
    step long, plus stored activations from their write to their last read.
    """
    g = problem.graph
    acc = problem.accelerator
    events: dict[int, list[tuple[float, float]]] = {c: [] for c in range(len(problem.core_ids))}
    last_use: dict[int, float] = {}
    for e in problem.edges:
        if not e.via_dram:
            last_use[e.src] = max(last_use.get(e.src, 0.0), float(end[e.dst]))
    for i, op in enumerate(problem.nodes):
        c = cidx[i]
        rb = problem.dram_read_bits[i]
        if rb > 0:
            t0 = reads[i][0]
            events[c] += [(t0, rb), (float(end[i]), -rb)]
        out_bits = sum(
            g.tensors[t].bits / (problem.tiles if t in problem.tile_tensors else 1)
            for t in op.outputs
        )
        if out_bits:
            t1 = max(float(end[i]), last_use.get(i, 0.0), writes.get(i, (0.0, 0.0))[1])
            events[c] += [(float(start[i]), out_bits), (t1, -out_bits)]
    traces: dict[str, MemoryTrace] = {}
    for c, evs in events.items():
        core = acc.core(problem.core_ids[c])
        cap = core.onchip_bits
        label = f"core {core.id} ({core.name})"
        traces[label] = _trace(label, core.id, cap, evs, makespan)
    # DRAM
    const = sum(t.bits for t in g.tensors.values() if t.is_constant and t.name not in g.producer)
    dram_ev: list[tuple[float, float]] = [(0.0, float(const))]
    for i in writes:
        ws, we = writes[i]
        for t in problem.dram_write_tensors[i]:
            tensor = g.tensors[t]
            if tensor.is_constant:
                continue  # updated in place of the old copy
            readers = [
                reads[j][1]
                for j in range(problem.n_nodes)
                if t in problem.dram_read_tensors[j] and j in reads
            ]
            t_end = max(readers) if readers else makespan
            dram_ev += [(ws, float(tensor.bits)), (t_end, -float(tensor.bits))]
    dram = acc.dram
    if dram is not None and acc.offchip_core_id is not None:
        traces["DRAM"] = _trace("DRAM", acc.offchip_core_id, dram.size_bits, dram_ev, makespan)
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
    for t, d in evs:
        cur += d
        if t == times[-1]:
            vals[-1] = cur
        else:
            times.append(t)
            vals.append(cur)
    vals = [max(v, 0.0) if abs(v) < 1e-6 else v for v in vals]
    return MemoryTrace(label, core, cap, np.array(times), np.array(vals))


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
        Allocation (core ids, one per node), optional priority, fused stacks and kept
        checkpoints.  Stacks and dropped checkpoints are realized as a derived problem
        (:func:`monet_opt.schedule.realize.realize`); the schedule's nodes are then the
        derived nodes in program order, recompute copies included.

    Raises
    ------
    ValueError
        On a wrong-length allocation, a disallowed core, or invalid stacks/checkpoints.
    """
    cidx = _core_indices(problem, decision.allocation)
    if _is_trivial(problem, decision):
        order = None if decision.priority is None else problem.program_order(decision.priority)
        sched = _simulate(problem, cidx, order)
        fp, _ = footprint_profile(
            problem, order or problem.program_order(), problem.checkpoint_tensors
        )
        stats = {
            "recompute_cycles": 0.0,
            "recompute_energy_pj": 0.0,
            "recompute_nodes": 0,
            "peak_footprint_bits": float(fp.max()) if len(fp) else 0.0,
            "stack_overflow": 0,
        }
        return replace(sched, footprint=fp, stats=stats)
    real = realize(problem, decision)
    alloc = real.expand(decision.allocation)
    sched = _simulate(real.problem, _core_indices(real.problem, alloc), None)
    cyc, pj = real.recompute_cost(decision.allocation)
    stats = {
        "recompute_cycles": cyc,
        "recompute_energy_pj": pj,
        "recompute_nodes": len(real.recompute_nodes),
        "peak_footprint_bits": real.peak_footprint_bits,
        "stack_overflow": len(stack_overflow(problem, real.stacks, decision.allocation)),
    }
    return replace(sched, footprint=real.footprint, stats=stats)


def _simulate(problem: Problem, cidx: Sequence[int], order: Sequence[int] | None) -> Schedule:
    start, fend, end, reads, writes = simulate_times(problem, cidx, order)
    makespan = float(end.max()) if len(end) else 0.0
    if writes:
        makespan = max(makespan, max(w[1] for w in writes.values()))
    off = problem.accelerator.offchip_core_id
    off = -1 if off is None else off
    ids = problem.core_ids
    transfers: list[Transfer] = []
    for i, (s, e) in reads.items():
        transfers.append(
            Transfer(
                "+".join(problem.dram_read_tensors[i]),
                off,
                ids[cidx[i]],
                "dram",
                s,
                e,
                float(problem.dram_read_bits[i]),
            )
        )
    for i, (s, e) in writes.items():
        transfers.append(
            Transfer(
                "+".join(problem.dram_write_tensors[i]),
                ids[cidx[i]],
                off,
                "dram",
                s,
                e,
                float(problem.dram_write_bits[i]),
            )
        )
    xc = problem.costs.xfer_cycles
    for j in range(problem.n_nodes):
        t = float(start[j])
        for k in problem.in_edges[j]:
            ed = problem.edges[k]
            a, b = cidx[ed.src], cidx[j]
            dur = ed.bits * xc[a, b]
            if a != b and dur > 0:
                transfers.append(
                    Transfer(
                        ed.tensor, ids[a], ids[b], problem.costs.routes[a][b], t, t + dur, ed.bits
                    )
                )
                t += dur
    transfers.sort(key=lambda tr: (tr.start, tr.channel))
    return Schedule(
        node_names=problem.node_names,
        core=np.array([ids[c] for c in cidx]),
        start=start,
        end=end,
        fetch_end=fend,
        transfers=tuple(transfers),
        latency=makespan,
        energy=_energy(problem, cidx),
        memory=_memory_traces(problem, cidx, start, end, reads, writes, makespan),
    )
