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
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import stack_memory_bits
from monet_opt.schedule.types import Decision

__all__ = ["greedy_stacks"]


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
    uses; under ``schedule.memory: capacity`` the grown stack must also fit its cores'
    memories with the placement of the default policy
    (:func:`~monet_opt.schedule.evaluator.stacks_over_capacity`: the working sets of
    its members together, the tensors live around them, weights re-streamed per tile
    where they do not fit).  Otherwise the stack is cut and a new one starts at that
    node.

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
    stacks: list[tuple[int, ...]] = []
    cur: list[int] = []
    for i in order:
        ok = False
        if cur and len(cur) < max_stack and any(p in cur for p in problem.preds[i]):
            need = stack_memory_bits(problem, cur + [i], allocation)
            ok = all(b <= acc.core(c).onchip_bits for c, b in need.items())
            if ok and capacity:
                grown = (*stacks, (*cur, i))
                dec = Decision(tuple(allocation), prio, grown, checkpoints)
                ok = not stacks_over_capacity(problem, dec)
        if ok:
            cur.append(i)
        else:
            if len(cur) > 1:
                stacks.append(tuple(cur))
            cur = [i]
    if len(cur) > 1:
        stacks.append(tuple(cur))
    return tuple(stacks)
