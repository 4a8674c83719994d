"""Greedy keep set under an activation-footprint budget: the checkpointing MILP's start.

Starting from "recompute everything" (the minimum footprint, :math:`F(\\emptyset)`, which
meets every feasible budget), checkpoint candidates are kept one by one, deepest producer
first (dropping a deep activation recomputes the longest forward chain), and a keep that
would push the footprint over the budget is undone.  The result always meets the budget
when any keep set does, so the exact formulation always has an incumbent.  The
footprint is :func:`monet_opt.schedule.realize.footprint_profile`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import footprint_profile
from monet_opt.units import within

__all__ = ["greedy_keep_set"]


def _peak(problem: Problem, order: Sequence[int], kept: set[str]) -> float:
    prof, _ = footprint_profile(problem, order, kept)
    return float(prof.max()) if len(prof) else 0.0


def greedy_keep_set(
    problem: Problem, budget_bits: float, priority: Sequence[float] | None = None
) -> frozenset[str]:
    """A keep set whose peak activation footprint is within ``budget_bits``.

    Parameters
    ----------
    problem
        The base problem (its :attr:`~monet_opt.schedule.problem.Problem.checkpoint_tensors`
        are the candidates).
    budget_bits
        Footprint budget, bits.
    priority
        Program-order priority (``None``: the default order).

    Returns
    -------
    frozenset[str]
        The kept tensors (empty when even one keep breaks the budget).
    """
    order = problem.program_order(priority)
    pos = {i: p for p, i in enumerate(order)}
    producer = {e.tensor: e.src for e in problem.edges}
    cands = sorted(problem.checkpoint_tensors, key=lambda a: -pos[producer[a]])
    kept: set[str] = set()
    for a in cands:
        kept.add(a)
        if not within(_peak(problem, order, kept), budget_bits):
            kept.discard(a)
    return frozenset(kept)
