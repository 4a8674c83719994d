"""Lower bounds on the makespan of a :class:`~monet_opt.schedule.problem.Problem`.

All are valid for every allocation under the semantics of
:mod:`monet_opt.schedule.problem`; they are the classical bounds of multiprocessor
scheduling, critical path and work per core (Graham, "Bounds on multiprocessing timing
anomalies", SIAM Journal on Applied Mathematics 17(2), 1969), plus the DRAM port:

* ``critical_path``: longest path through the DAG with every node at its fastest core,
  free core-to-core transfers, each node no earlier than its own DRAM read time and
  followed by its own DRAM write time; inside a fused stack only the pipelined
  first-tile / last-tile constraints apply.
* ``dram_port``: the DRAM port serves its DMA tasks one at a time: Σ read + write cycles.
* ``work``: for every set of cores A that is the allowed set of some node, the nodes
  that can run only inside A need Σ min-latency / |A| cycles of A's time.

Under the capacity semantics (:mod:`monet_opt.schedule.memory`) a node may stream its
DRAM operands during its execution instead of waiting for a read, so the critical path
leaves the DRAM reads and writes out (every node still lasts at least its fastest
on-chip latency); the DRAM port still carries at least the compulsory traffic (spills
and re-fetch only add to it), and the work bound is unchanged.
"""

from __future__ import annotations

import numpy as np

from monet_opt.models.ir import TensorRole
from monet_opt.schedule.problem import Problem

__all__ = ["lower_bounds", "unavoidable_dram_bits", "unavoidable_node_dram_bits"]


def lower_bounds(problem: Problem) -> dict[str, float]:
    """Makespan lower bounds in cycles: ``critical_path``, ``dram_port``, ``work``, ``max``."""
    lat = problem.costs.latency
    dmin = np.where(np.isfinite(lat), lat, np.inf).min(axis=1)
    rc, wc = problem.dram_read_cycles, problem.dram_write_cycles
    port = float(rc.sum() + wc.sum())
    if problem.memory == "capacity":  # DRAM traffic may be streamed in-node
        rc, wc = np.zeros_like(rc), np.zeros_like(wc)
    n = problem.n_nodes
    end = np.zeros(n)
    start = np.zeros(n)
    tiles = problem.tiles
    cp = 0.0
    for j in range(n):  # nodes are in a topological order
        head = max([rc[j]] + [end[p] for p in problem.hard_preds[j]])
        for p in problem.pipe_preds[j]:  # fused: first tile of the producer
            head = max(head, start[p] + dmin[p] / tiles)
        start[j] = head
        end[j] = head + dmin[j]
        for p in problem.pipe_preds[j]:
            end[j] = max(end[j], end[p] + dmin[j] / tiles)
        cp = max(cp, end[j] + wc[j])
    work = 0.0
    sets = {frozenset(a) for a in problem.allowed_idx}
    for group in sets:
        load = sum(dmin[i] for i in range(n) if set(problem.allowed_idx[i]) <= group)
        work = max(work, load / len(group))
    out = {"critical_path": float(cp), "dram_port": port, "work": float(work)}
    out["max"] = max(out.values())
    return out


def unavoidable_node_dram_bits(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Per node, ``(n,)`` arrays of DRAM bits (read, written) that no allocation, program
    order, stacking, checkpoint set or placement removes: the node's reads of tensors no
    data edge delivers (weights, optimizer state, network inputs) and its writes of
    weights, optimizer state and tensors no node consumes (graph outputs)."""
    g = problem.graph
    n = problem.n_nodes
    delivered: list[set[str]] = [set() for _ in range(n)]
    consumed: set[tuple[int, str]] = set()
    for e in problem.edges:
        delivered[e.dst].add(e.tensor)
        consumed.add((e.src, e.tensor))
    reads = np.zeros(n)
    writes = np.zeros(n)
    kept_roles = (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE)
    for i in range(n):
        reads[i] = sum(
            g.tensors[t].bits for t in problem.dram_read_tensors[i] if t not in delivered[i]
        )
        writes[i] = sum(
            g.tensors[t].bits
            for t in problem.dram_write_tensors[i]
            if g.tensors[t].role in kept_roles or (i, t) not in consumed
        )
    return reads, writes


def unavoidable_dram_bits(problem: Problem) -> tuple[float, float]:
    """DRAM bits (read, written) that no allocation, stacking, checkpoint set or
    placement removes: the sums of :func:`unavoidable_node_dram_bits`."""
    reads, writes = unavoidable_node_dram_bits(problem)
    return float(reads.sum()), float(writes.sum())
