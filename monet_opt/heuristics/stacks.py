"""Greedy layer stacking: the fusion rule of DeFiNES and Stream.

DeFiNES (Mei et al., "DeFiNES: Enabling Fast Exploration of the Depth-first Scheduling
Space for DNN Accelerators through Analytical Modeling", HPCA 2023) and Stream (Symons
et al., "Stream: Design Space Exploration of Layer-Fused DNNs on Heterogeneous Dataflow
Accelerators", IEEE Transactions on Computers, 2025) fuse consecutive layers into a
depth-first stack as long as the stack's weights and tile buffers fit on chip.
:func:`greedy_stacks` applies that rule along the program order π; it is a baseline
and warm start for the exact fusion MILP (:mod:`monet_opt.formulations.fusion`) and a
seed of the GA's fusion space (:mod:`monet_opt.ga.spaces`).
"""

from __future__ import annotations

from collections.abc import Sequence

from monet_opt.schedule.evaluator import stacks_over_capacity
from monet_opt.schedule.memory import memory_model
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import stack_memory_bits
from monet_opt.schedule.types import Decision

__all__ = ["fit_stacks", "greedy_stacks"]


def greedy_stacks(
    problem: Problem,
    allocation: Sequence[int],
    priority: Sequence[float] | None = None,
    max_stack: int = 8,
    checkpoints: frozenset[str] | None = None,
) -> tuple[tuple[int, ...], ...]:
    """Stacks grown greedily along π, cut when the next node would not fit.

    A stack grows while the next node of π consumes a tensor of the stack, the stack has
    fewer than ``max_stack`` nodes, and its weights and tile buffers
    (:func:`~monet_opt.schedule.realize.stack_memory_bits`) still fit every core it
    uses; under ``schedule.memory: capacity`` the working sets of its members must fit
    their memories together (:meth:`~monet_opt.schedule.memory.MemoryModel.group_fits`:
    tiles inside, weights re-streamed per tile where needed).  Otherwise the stack is
    cut and a new one starts at that node.  Under capacities the stacks found are then
    split by :func:`fit_stacks` until they fit with the tensors live around them and
    the prefetch buffers (the default placement).

    Parameters
    ----------
    problem
        The scheduling problem.
    allocation
        Core id per node.
    priority
        Program-order priority (default: the problem's).
    max_stack
        Maximum number of nodes per stack.
    checkpoints
        Kept checkpoints the capacity check assumes (``None``: store-all).

    Returns
    -------
    tuple of tuple of int
        Stacks of ≥ 2 base node indices, each consecutive in π.
    """
    order = problem.program_order(priority)
    acc = problem.accelerator
    capacity = problem.memory == "capacity"
    prio = None if priority is None else tuple(priority)
    mm = memory_model(problem) if capacity else None
    cidx = [problem.core_ids.index(int(a)) for a in allocation]
    stacks: list[tuple[int, ...]] = []
    cur: list[int] = []
    for i in order:
        ok = False
        if cur and len(cur) < max_stack and any(p in cur for p in problem.preds[i]):
            need = stack_memory_bits(problem, cur + [i], allocation)
            ok = all(b <= acc.core(c).onchip_bits for c, b in need.items())
            if ok and mm is not None:  # the members' working sets together
                ok = mm.group_fits([*cur, i], cidx)
        if ok:
            cur.append(i)
        else:
            if len(cur) > 1:
                stacks.append(tuple(cur))
            cur = [i]
    if len(cur) > 1:
        stacks.append(tuple(cur))
    if not capacity or not stacks:
        return tuple(stacks)
    # with the tensors live around them and the prefetch buffers: split what overflows
    return fit_stacks(problem, Decision(tuple(allocation), prio, tuple(stacks), checkpoints)).stacks


def fit_stacks(problem: Problem, decision: Decision) -> Decision:
    """The decision with every stack over capacity split in two halves (in program
    order; a half of one node runs layer by layer) until no stack overflows
    (:func:`~monet_opt.schedule.evaluator.stacks_over_capacity`).  The fusion MILP does
    not model memory capacities; this turns its answer into a candidate that fits."""
    dec = decision
    while True:
        over = set(stacks_over_capacity(problem, dec))
        if not over:
            return dec
        order = {i: k for k, i in enumerate(problem.program_order(dec.priority))}
        out: list[tuple[int, ...]] = []
        for st in dec.stacks:
            nodes = tuple(sorted(st, key=order.__getitem__))
            if nodes not in over:
                out.append(tuple(st))
                continue
            half = len(nodes) // 2
            out += [h for h in (nodes[:half], nodes[half:]) if len(h) > 1]
        # a placement refers to the derived problem of the old stacks: the policy re-places
        dec = Decision(dec.allocation, dec.priority, tuple(out), dec.checkpoints)
