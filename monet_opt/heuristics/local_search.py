"""Local search around a complete decision, scored by the evaluator (first improvement).

The exact joint solve (:mod:`monet_opt.formulations.joint`) iterates exact blocks, each
optimal for the others fixed; a block-wise optimum can still be improved by a move that
changes two blocks at once in effect (a core change that makes another stack fit, a
keep bit that frees room for a stack).  This search offers the incumbent's neighbours
to a caller-supplied acceptance test (which re-simulates them and keeps the best) until
a full pass finds nothing better or the time is up.

Moves (one per neighbour):

* ``core``: one flexible node to another allowed core (the placement is kept: the
  derived problem is unchanged);
* ``keep``: one checkpoint candidate kept ↔ recomputed (when a keep set is decided);
* ``cut``: one cut between two nodes consecutive in the program order π flipped (a
  stack split or two runs joined; runs longer than ``max_stack`` are skipped);
* ``swap``: two nodes consecutive in π that no edge joins and no stack holds exchanged
  (π stays a topological order; the decision's priority becomes that order).

Moves are visited in a seeded random order, so the same seed and the same time give the
same answer.  The search is a heuristic: it finds incumbents, never bounds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from monet_opt.schedule.problem import Problem
from monet_opt.schedule.types import Decision

__all__ = ["neighbours", "improve_decision"]

Move = tuple[str, int, int]


def _cuts(order: Sequence[int], stacks: Sequence[Sequence[int]]) -> list[bool]:
    """``cut[p]``: π[p] and π[p + 1] are not in one stack."""
    owner = {i: k for k, st in enumerate(stacks) for i in st}
    return [
        owner.get(order[p], -1) < 0 or owner.get(order[p], -1) != owner.get(order[p + 1], -2)
        for p in range(len(order) - 1)
    ]


def _stacks(order: Sequence[int], cuts: Sequence[bool]) -> tuple[tuple[int, ...], ...]:
    runs: list[list[int]] = [[order[0]]] if order else []
    for p, cut in enumerate(cuts):
        if cut:
            runs.append([])
        runs[-1].append(order[p + 1])
    return tuple(tuple(r) for r in runs if len(r) > 1)


def neighbours(
    problem: Problem,
    decision: Decision,
    *,
    cores: bool = True,
    keep: bool = True,
    cuts: bool = True,
    swaps: bool = True,
) -> list[Move]:
    """Every move of the module docstring from ``decision``: ``("core", node, core id)``,
    ``("keep", candidate index, 0)``, ``("cut", position, 0)``, ``("swap", position,
    0)``."""
    out: list[Move] = []
    if cores:
        for i in problem.flexible:
            out += [("core", i, c) for c in problem.allowed[i] if c != decision.allocation[i]]
    if keep and decision.checkpoints is not None:
        out += [("keep", k, 0) for k in range(len(problem.checkpoint_tensors))]
    if cuts:
        out += [("cut", p, 0) for p in range(problem.n_nodes - 1)]
    if swaps:
        out += [("swap", p, 0) for p in range(problem.n_nodes - 1)]
    return out


def _apply(
    problem: Problem, dec: Decision, move: Move, order: Sequence[int], max_stack: int
) -> Decision | None:
    kind, a, b = move
    if kind == "core":
        if dec.allocation[a] == b:
            return None
        alloc = list(dec.allocation)
        alloc[a] = b
        return replace(dec, allocation=tuple(alloc))
    if kind == "keep":
        cands = sorted(problem.checkpoint_tensors)
        kept = set(cands if dec.checkpoints is None else dec.checkpoints)
        kept ^= {cands[a]}
        return replace(dec, checkpoints=frozenset(kept), placement=None)
    if kind == "swap":
        i, j = order[a], order[a + 1]
        stacked = {k for st in dec.stacks if len(st) > 1 for k in st}
        if i in stacked or j in stacked or j in problem.succs[i]:
            return None
        new = list(order)
        new[a], new[a + 1] = j, i
        n = len(new)
        prio = [0.0] * n
        for p, k in enumerate(new):
            prio[k] = float(n - p)
        return replace(dec, priority=tuple(prio))
    cut = _cuts(order, dec.stacks)
    cut[a] = not cut[a]
    stacks = _stacks(order, cut)
    if any(len(st) > max_stack for st in stacks):
        return None
    return replace(dec, stacks=stacks, placement=None)


def improve_decision(
    problem: Problem,
    current: Callable[[], Decision],
    accept: Callable[[Decision], bool],
    deadline: float,
    *,
    cores: bool = True,
    keep: bool = True,
    cuts: bool = True,
    swaps: bool = True,
    max_stack: int = 8,
    seed: int = 0,
) -> int:
    """First-improvement local search (module docstring).

    Parameters
    ----------
    problem
        The base problem.
    current
        The incumbent now (it changes when ``accept`` takes a neighbour).
    accept
        Re-simulates a neighbour and returns whether it became the incumbent.
    deadline
        ``time.perf_counter()`` value at which to stop.
    cores, keep, cuts, swaps
        Which moves to use.
    max_stack
        Longest stack a ``cut`` move may make.
    seed
        Seed of the visiting order.

    Returns
    -------
    int
        Neighbours evaluated.
    """
    rng = random.Random(seed)
    evaluated = 0
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        dec = current()
        order = problem.program_order(dec.priority)
        moves = neighbours(problem, dec, cores=cores, keep=keep, cuts=cuts, swaps=swaps)
        rng.shuffle(moves)
        for move in moves:
            if time.perf_counter() >= deadline:
                break
            now = current()
            if now is not dec:  # the incumbent moved: moves refer to its order
                dec, order = now, problem.program_order(now.priority)
            cand = _apply(problem, dec, move, order, max_stack)
            if cand is None:
                continue
            evaluated += 1
            improved |= accept(cand)
    return evaluated
