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

from collections.abc import Sequence

import numpy as np

from monet_opt.models.ir import TensorRole
from monet_opt.schedule.problem import Problem

__all__ = [
    "longest_path",
    "lower_bounds",
    "unavoidable_dram_bits",
    "unavoidable_node_dram_bits",
    "work_bound",
]


def longest_path(
    problem: Problem,
    dmin: np.ndarray,
    hard: Sequence[Sequence[int]],
    pipe: Sequence[Sequence[int]],
    head: np.ndarray,
    tail: np.ndarray,
) -> float:
    """Longest path (cycles) with node durations ``dmin``: a node starts after the end of
    its ``hard`` producers, the first tile of its ``pipe`` (fused) producers and its own
    ``head``; it ends no earlier than a fused producer's end plus one tile of its own;
    ``tail`` follows its end.  Nodes must be in a topological order."""
    n = problem.n_nodes
    end = np.zeros(n)
    start = np.zeros(n)
    tiles = problem.tiles
    cp = 0.0
    for j in range(n):
        s = max([float(head[j])] + [end[p] for p in hard[j]])
        for p in pipe[j]:  # fused: first tile of the producer
            s = max(s, start[p] + dmin[p] / tiles)
        start[j] = s
        end[j] = s + dmin[j]
        for p in pipe[j]:
            end[j] = max(end[j], end[p] + dmin[j] / tiles)
        cp = max(cp, end[j] + tail[j])
    return float(cp)


def work_bound(problem: Problem, dmin: np.ndarray) -> float:
    """For every set of cores that is some node's allowed set, the nodes that can run only
    inside it need Σ ``dmin`` / its size cycles of it (cycles)."""
    work = 0.0
    for group in {frozenset(a) for a in problem.allowed_idx}:
        load = sum(dmin[i] for i in range(problem.n_nodes) if set(problem.allowed_idx[i]) <= group)
        work = max(work, load / len(group))
    return float(work)


def lower_bounds(problem: Problem) -> dict[str, float]:
    """Makespan lower bounds in cycles: ``critical_path``, ``dram_port``, ``work``, ``max``."""
    lat = problem.costs.latency
    dmin = np.where(np.isfinite(lat), lat, np.inf).min(axis=1)
    rc, wc = problem.dram_read_cycles, problem.dram_write_cycles
    port = float(rc.sum() + wc.sum())
    if problem.memory == "capacity":  # DRAM traffic may be streamed in-node
        rc, wc = np.zeros_like(rc), np.zeros_like(wc)
    cp = longest_path(problem, dmin, problem.hard_preds, problem.pipe_preds, rc, wc)
    work = work_bound(problem, dmin)
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
