r"""Multi-level rematerialization: the problem, the schedule operations, their replay.

Problem (the abstract data of :mod:`monet_opt.formulations.checkmate`)
---------------------------------------------------------------------
Nodes :math:`v_0, \dots, v_{n-1}` in topological order (forward then backward), compute
cost :math:`C_i` (any additive unit, e.g. cycles), output size :math:`M_i` (bits, or any
memory unit shared with the budget), predecessors :math:`\mathrm{DEPS}[i] \subseteq
\{0, \dots, i-1\}`, memory budget :math:`B`.  A **schedule** is a sequence of operations
``compute i`` / ``free i`` on the set :math:`\mathcal R` of resident values:

* ``compute i`` needs :math:`\mathrm{DEPS}[i] \subseteq \mathcal R` and
  :math:`i \notin \mathcal R`, costs :math:`C_i` and adds :math:`i` to
  :math:`\mathcal R`; the memory in use at that moment,
  :math:`\sum_{j \in \mathcal R} M_j + M_i` (every resident value, including the inputs
  of :math:`i`, plus its output), must be :math:`\le B`;
* ``free i`` removes :math:`i` from :math:`\mathcal R` at no cost;
* every node is computed at least once.

A value may be computed, freed and computed again from values that were themselves
recomputed (multi-level recomputation, as in Revolve and Checkmate).  The objective is
the total compute cost :math:`\sum_i C_i \cdot (\text{number of computations of } i)`.

Memory accounting.  It is Checkmate's (Jain et al. 2020, section 4; the :math:`U_{t,k}`
rows of :mod:`~monet_opt.formulations.checkmate`): while node :math:`k` is evaluated,
the values retained into the stage, the values computed earlier in the stage and not
yet freed, and the output of :math:`k` are counted, and a value is freed right after
its last use in the stage.  Freeing a value right after its last use before its next
computation is optimal in both models, so both give the same peak to every schedule
both can express.  Checkmate's frontier-advancing schedules (stage :math:`t` computes
node :math:`t` last and recomputes earlier nodes in index order, each at most once) are
schedules here, so the optimum here is never above Checkmate's; it is below when a
better schedule recomputes values in another order, or first computes nodes in
another topological order (the tests have a graph where no frontier-advancing schedule
fits and a schedule exists).  Gradients are
ordinary nodes: a backward value counts from its computation to its last use.

Every solver returns a :class:`RematResult` whose schedule was replayed by
:func:`validate_schedule` (which checks memory at every computation, inputs resident,
every node computed, and returns the cost).  Memory is compared exactly: sizes and
budgets become integers (divided by the gcd of the data) or fractions
(:func:`exact_memory`), so a schedule at the budget passes and no solver discretizes
memory.

The solvers: :mod:`~monet_opt.formulations.remat_chain` (chain DP),
:mod:`~monet_opt.formulations.remat_search` (A* search),
:mod:`~monet_opt.formulations.remat_blocks` (block DP), dispatched by
:mod:`~monet_opt.formulations.remat_multilevel`.

References
----------
* P. Jain, A. Jain, A. Nrusimha, A. Gholami, P. Abbeel, K. Keutzer, I. Stoica and
  J. E. Gonzalez, "Checkmate: Breaking the memory wall with optimal tensor
  rematerialization", Proc. MLSys 2020 (arXiv:1910.02653).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import reduce

from monet_opt.formulations.checkmate import check_remat_data

__all__ = [
    "COMPUTE",
    "FREE",
    "ExactMemory",
    "Op",
    "RematResult",
    "ScheduleCheck",
    "checked_result",
    "elapsed",
    "exact_memory",
    "infeasible_result",
    "validate_schedule",
]

COMPUTE = "compute"
FREE = "free"

#: An exact memory amount: an integer (data divided by its gcd) or a fraction.
ExactMemory = int | Fraction


@dataclass(frozen=True)
class Op:
    """One schedule operation: ``kind`` is ``"compute"`` or ``"free"``, ``node`` its index."""

    kind: str
    node: int


@dataclass(frozen=True)
class RematResult:
    """Outcome of an exact rematerialization solve.

    Attributes
    ----------
    status
        ``"optimal"`` or ``"infeasible"`` (no schedule fits the budget).
    method
        ``"chain_dp"``, ``"search"`` or ``"block_dp"``.
    space
        The schedule space the optimum is over: ``"full"`` (search) or ``"nested"``
        (chain DP; module docstring).
    objective
        Total compute cost of the schedule (units of ``cost``); ``inf`` if infeasible.
    recompute_cost
        ``objective - sum(cost)``: the work spent on recomputation.
    recomputations
        Number of computations beyond one per node; ``-1`` if infeasible.
    peak_memory
        Largest memory in use at a computation (units of ``mem``); ``nan`` if infeasible.
    schedule
        The operations, in order; empty if infeasible.
    seconds
        Wall time of the solve.
    states
        DP subproblems evaluated (chain DP) or states expanded (search).
    """

    status: str
    method: str
    space: str
    objective: float
    recompute_cost: float
    recomputations: int
    peak_memory: float
    schedule: tuple[Op, ...]
    seconds: float
    states: int


@dataclass(frozen=True)
class ScheduleCheck:
    """Replay of a valid schedule: total cost, peak memory, computations per node."""

    objective: float
    peak_memory: float
    computations: tuple[int, ...]


def exact_memory(mem: Sequence[float], budget: float) -> tuple[list, ExactMemory]:
    """Memory values as ints (integral data, divided by their gcd) or Fractions (exact)."""
    vals = [*mem, budget]
    if all(float(v).is_integer() for v in vals):
        g = reduce(math.gcd, (int(v) for v in vals if v), 0) or 1
        return [int(v) // g for v in mem], int(budget) // g if budget >= 0 else -1
    return [Fraction(float(v)) for v in mem], Fraction(float(budget))


def validate_schedule(
    schedule: Sequence[Op],
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
) -> ScheduleCheck:
    """Replay ``schedule`` and check it.

    Checks, at every ``compute i``: its predecessors are resident, ``i`` is not, and the
    resident sizes plus :math:`M_i` are at most ``budget``; ``free`` only of resident
    values; every node computed at least once.  Memory is compared exactly (integers or
    fractions), so a schedule at the budget passes.

    Parameters
    ----------
    schedule
        Operations in order.
    cost, mem, preds, budget
        As in :func:`~monet_opt.formulations.remat_multilevel.solve_remat`.

    Returns
    -------
    ScheduleCheck
        Total cost (units of ``cost``), peak memory (units of ``mem``) and computation
        counts.

    Raises
    ------
    ValueError
        On the first violated condition.
    """
    check_remat_data(cost, mem, preds, budget)
    n = len(cost)
    m, cap = exact_memory(mem, budget)
    scale = float(budget) / float(cap) if cap else 1.0
    resident: set[int] = set()
    used = 0
    peak = 0
    count = [0] * n
    total = 0.0
    for pos, op in enumerate(schedule):
        i = op.node
        if not 0 <= i < n:
            raise ValueError(f"op {pos}: node {i} out of range")
        if op.kind == COMPUTE:
            if i in resident:
                raise ValueError(f"op {pos}: node {i} is already resident")
            missing = [p for p in preds[i] if p not in resident]
            if missing:
                raise ValueError(f"op {pos}: node {i} computed without inputs {missing}")
            used += m[i]
            if used > cap:
                raise ValueError(f"op {pos}: memory {float(used)} over the budget {float(cap)}")
            peak = max(peak, used)
            resident.add(i)
            count[i] += 1
            total += float(cost[i])
        elif op.kind == FREE:
            if i not in resident:
                raise ValueError(f"op {pos}: node {i} freed but not resident")
            resident.remove(i)
            used -= m[i]
        else:
            raise ValueError(f"op {pos}: unknown kind {op.kind!r}")
    never = [i for i in range(n) if not count[i]]
    if never:
        raise ValueError(f"nodes never computed: {never}")
    peak_mem = float(peak) * scale if isinstance(cap, int) else float(peak)
    return ScheduleCheck(total, peak_mem, tuple(count))


def elapsed(t0: float) -> float:
    """Seconds since ``t0`` (a :func:`time.perf_counter` value)."""
    return time.perf_counter() - t0


def infeasible_result(method: str, space: str, t0: float, states: int) -> RematResult:
    """The :class:`RematResult` of a solve that found no schedule within the budget."""
    return RematResult(
        "infeasible", method, space, math.inf, math.inf, -1, math.nan, (), elapsed(t0), states
    )


def checked_result(
    method: str,
    space: str,
    ops: list[Op],
    cost: Sequence[float],
    mem: Sequence[float],
    preds: Sequence[Sequence[int]],
    budget: float,
    t0: float,
    states: int,
) -> RematResult:
    """The :class:`RematResult` of schedule ``ops``, replayed by :func:`validate_schedule`."""
    chk = validate_schedule(ops, cost, mem, preds, budget)
    return RematResult(
        "optimal",
        method,
        space,
        chk.objective,
        chk.objective - float(sum(cost)),
        sum(chk.computations) - len(cost),
        chk.peak_memory,
        tuple(ops),
        elapsed(t0),
        states,
    )
