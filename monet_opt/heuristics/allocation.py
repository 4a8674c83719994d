"""Greedy earliest-finish core allocation (HEFT-like), the MILPs' first incumbent.

Topcuoglu, Hariri and Wu, "Performance-effective and low-complexity task scheduling for
heterogeneous computing", IEEE TPDS 13(3), 2002: in program order, each node goes to
the core where it would finish earliest given the nodes already placed.  Finish times
follow the schedule semantics of :mod:`monet_opt.schedule.problem` (in-order cores,
input fetch, the DRAM port's DMA queue), so the result is feasible for every
formulation.
"""

from __future__ import annotations

import numpy as np

from monet_opt.schedule.problem import Problem
from monet_opt.schedule.types import Decision

__all__ = ["greedy_allocation", "greedy_decision"]


def greedy_allocation(problem: Problem) -> tuple[int, ...]:
    """HEFT-style greedy allocation: in program order, each node to the core where it
    would finish earliest given the nodes already placed (same semantics as
    :func:`simulate_times`).  Returns core ids."""
    n = problem.n_nodes
    lat = problem.costs.latency
    xc = problem.costs.xfer_cycles
    cidx = [a[0] for a in problem.allowed_idx]
    order = problem.program_order()
    end = np.zeros(n)
    core_free = [0.0] * lat.shape[1]
    read_end = [0.0] * n
    port = 0.0
    rcyc, wcyc = problem.dram_read_cycles, problem.dram_write_cycles
    gate = problem.read_gate(order)
    for kind, i in problem.event_sequence(order):
        if kind == 0:
            g = gate[i]
            port = (port if g < 0 else max(port, end[g])) + rcyc[i]
            read_end[i] = port
        elif kind == 1:
            ready = max([read_end[i]] + [end[p] for p in problem.preds[i]])
            best = (np.inf, cidx[i])
            tie = problem.ties[i] if problem.ties else -1
            for c in problem.allowed_idx[i] if tie < 0 else (cidx[tie],):
                f = sum(
                    problem.edges[k].bits * xc[cidx[problem.edges[k].src], c]
                    for k in problem.in_edges[i]
                )
                fin = max(core_free[c], ready) + f + lat[i, c]
                if fin < best[0] - 1e-9:
                    best = (fin, c)
            end[i], cidx[i] = best
            core_free[cidx[i]] = end[i]
        else:
            port = max(port, end[i]) + wcyc[i]
    return tuple(problem.core_ids[c] for c in cidx)


def greedy_decision(problem: Problem) -> Decision:
    """The greedy allocation as a layer-by-layer, store-all :class:`Decision`."""
    return Decision(allocation=greedy_allocation(problem))
