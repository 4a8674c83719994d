r"""Multi-level recomputation as the recompute decision of a solve.

``checkpointing.levels: multi`` widens MONET's keep / recompute bit vector (single level:
a dropped activation is recomputed once, from kept tensors) to multi-level
rematerialization: a value may be recomputed from recomputed values, freed and
recomputed again (Revolve, Griewank and Walther 2000; Checkmate, Jain et al. 2020).
The decision is then a schedule (:attr:`Decision.remat
<monet_opt.schedule.types.Decision.remat>`), realized by
:func:`~monet_opt.schedule.realize_remat.realize_remat` and simulated by the evaluator.

Budget.  The footprint of a schedule counts every resident activation, activation
gradient and loss value (Checkmate's accounting,
:mod:`~monet_opt.schedule.realize_remat`), which is stricter than MONET's footprint
:math:`F(K)` of single-level checkpointing; :func:`multilevel_store_all_bits` is the
store-all peak in it, and ``budget_fraction`` refers to that.

Method (:func:`solve_multilevel`), given the joint solver's answer (allocation :math:`a`,
program order π, stacks :math:`S`, keep set :math:`K`):

1. **Single-level candidate.** :math:`K`'s schedule in π
   (:func:`~monet_opt.schedule.realize_remat.single_level_sequence`), with :math:`S`.
2. **Multi-level candidate.** The training graph under :math:`a`, indexed in π
   (:func:`~monet_opt.formulations.remat_multilevel.from_problem`), solved for the least
   total work under the budget (each computation's latency and the weight reads it
   repeats): the chain DP on uniform chains, the exact A\*
   search over all schedules when the graph is small (≤ ``search_nodes`` nodes), else
   the block DP over block-nested schedules (exact in that space,
   :func:`~monet_opt.formulations.remat_multilevel.solve_blocks`).  Realized with
   the stacks of :math:`S`, their members' first computations gathered where that stays
   valid and within the budget (:func:`gather_stacks`; the others run layer by layer),
   and the default placement policy.
3. Both are re-simulated; an answer must meet the budget and every memory capacity.
   The one with the better simulated objective is returned.

Exactness and bound.  Step 2 minimizes recompute *work* exactly over its schedule
space; the latency of a step also depends on overlap, which the schedule does not see,
so the answer is labelled ``feasible`` unless its gap closes.  The bound is the joint
solver's certified bound: each of its parts holds for every schedule that computes every
node at least once on some core (recompute copies only add nodes and DRAM traffic, and
copies run after their original on its core), so it bounds the multi-level space too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from monet_opt.formulations.options import SolverOptions
from monet_opt.formulations.remat_multilevel import (
    COMPUTE,
    RematResult,
    chain_spec,
    from_problem,
    solve_blocks,
    solve_chain,
    solve_search,
    uniform_sizes,
)
from monet_opt.formulations.result import SolveResult, metric_value
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize_remat import (
    own_read_cycles,
    remat_footprint,
    single_level_sequence,
    stacks_in_schedule,
    with_optimizer_nodes,
)
from monet_opt.schedule.types import Decision, Schedule
from monet_opt.units import within

__all__ = [
    "MULTILEVEL_SCOPE",
    "as_schedule",
    "gather_stacks",
    "multilevel_front",
    "multilevel_store_all_bits",
    "solve_multilevel",
    "remat_schedule",
]

#: What the status and bound of :func:`solve_multilevel` refer to.
MULTILEVEL_SCOPE = (
    "allocation, program order, fusion and placement of the joint answer, recomputation "
    "over multi-level schedules (recompute work minimal over the schedule space named in "
    "extra['remat_space']; latency re-simulated); bound: the joint certified bound, valid "
    "for every schedule computing each node at least once"
)


@dataclass(frozen=True)
class _Candidate:
    name: str
    decision: Decision
    schedule: Schedule
    peak_bits: float
    value: float
    fits: bool


def multilevel_store_all_bits(problem: Problem, priority: Sequence[float] | None = None) -> float:
    """Peak footprint (bits) of store-all in the multi-level accounting: every forward
    value kept from its computation to its last reader, program order π of
    ``priority``."""
    fp = remat_footprint(problem, single_level_sequence(problem, None, priority))
    return float(fp.max()) if len(fp) else 0.0


def remat_schedule(
    problem: Problem,
    decision: Decision,
    budget_bits: float,
    *,
    search_nodes: int = 24,
    max_states: int = 1_000_000,
) -> tuple[tuple[int, ...] | None, RematResult]:
    """Least-work multi-level schedule under ``budget_bits`` for the decision's
    allocation and program order (step 2 of the module docstring).

    The work of a computation is its latency on its core plus the DRAM port cycles of
    the reads it repeats (:func:`~monet_opt.schedule.realize_remat.own_read_cycles`:
    weights, optimizer state, network inputs), so the recompute work minimized is the
    evaluator's recompute cycles less the reads of stored inputs, which depend on the
    schedule.

    Returns
    -------
    (sequence, result)
        ``sequence`` in base node indices (``None`` when no schedule of the space fits)
        and the solver's :class:`~monet_opt.formulations.remat_multilevel.RematResult`.
    """
    order = problem.program_order(decision.priority)
    tg = from_problem(problem, decision.allocation, order)
    reads = own_read_cycles(problem)
    cost = [c + float(reads[v]) for c, v in zip(tg.cost, tg.nodes, strict=True)]
    spec = chain_spec(tg.preds)
    if spec is not None and uniform_sizes(tg.mem, spec):
        r = solve_chain(cost, tg.mem, tg.preds, budget_bits, spec)
    elif len(cost) <= search_nodes:
        r = solve_search(cost, tg.mem, tg.preds, budget_bits, max_states=max_states)
    else:
        r = solve_blocks(cost, tg.mem, tg.preds, budget_bits, tg.blocks(), max_states=max_states)
    if r.status != "optimal":
        return None, r
    return tuple(tg.nodes[op.node] for op in r.schedule if op.kind == COMPUTE), r


def gather_stacks(
    problem: Problem,
    stacks: Sequence[Sequence[int]],
    remat: Sequence[int],
    budget_bits: float,
) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """Move the originals of each stack next to each other where that stays valid.

    For each stack, in turn, whose originals are not consecutive in the schedule, its
    later members' first computations are moved right after its first member's, in
    program order, when every input they read is then already computed and the
    footprint peak (:func:`~monet_opt.schedule.realize_remat.remat_footprint`) stays
    within ``budget_bits``.  Moving a first computation earlier changes no value, only
    which computation of an input it reads and how long values stay resident, both
    re-checked.

    Returns
    -------
    (remat, stacks)
        The schedule and the stacks consecutive in it (the others dropped).
    """
    seq = list(with_optimizer_nodes(problem, remat))
    rank = {o: k for k, o in enumerate(problem.program_order())}
    for st in stacks:
        members = sorted((int(i) for i in st), key=rank.__getitem__)
        if len(members) < 2 or stacks_in_schedule(problem, [members], seq):
            continue
        first = {o: seq.index(o) for o in members}
        head = min(first.values())
        moved = sorted((o for o in members if first[o] != head), key=first.__getitem__)
        trial = [o for p, o in enumerate(seq) if not (o in first and p == first[o] and p != head)]
        at = trial.index(seq[head]) + 1
        trial[at:at] = moved
        try:
            peak = remat_footprint(problem, trial).max(initial=0.0)
        except ValueError:  # an input is not computed yet at the new place
            continue
        if within(float(peak), budget_bits) and stacks_in_schedule(problem, [members], trial):
            seq = trial
    return tuple(seq), stacks_in_schedule(problem, stacks, seq)


def as_schedule(problem: Problem, decision: Decision) -> tuple[Decision, Schedule]:
    """A single-level decision written as a multi-level schedule, and its simulation.

    :func:`~monet_opt.schedule.realize_remat.single_level_sequence` of its keep set and
    π, with its stacks.  The schedule has the derived nodes of the decision's own
    realization, in its order, so its placement (spill set, windows per derived node)
    carries over; when it does not, the default placement policy is used.  The footprint
    of the answer is then in the multi-level accounting.
    """
    seq = single_level_sequence(problem, decision.checkpoints, decision.priority)
    d = decision
    try:
        dec = Decision(d.allocation, None, d.stacks, None, d.placement, seq)
        return dec, evaluate(problem, dec)
    except ValueError:
        if d.placement is None:
            raise
        dec = Decision(d.allocation, None, d.stacks, None, None, seq)
        return dec, evaluate(problem, dec)


def _candidate(
    name: str, decision: Decision, sched: Schedule, objective: str, budget_bits: float
) -> _Candidate:
    peak = float(sched.stats["peak_footprint_bits"])
    fits = within(peak, budget_bits) and not int(sched.stats.get("memory_overflow", 0))
    return _Candidate(name, decision, sched, peak, metric_value(objective, sched), fits)


def solve_multilevel(
    problem: Problem,
    joint: SolveResult,
    objective: str,
    options: SolverOptions,
    *,
    budget_bits: float,
    search_nodes: int = 24,
) -> SolveResult:
    r"""Multi-level recomputation for the joint answer (module docstring).

    Parameters
    ----------
    problem
        The base problem.
    joint
        The joint solver's result (:func:`monet_opt.formulations.joint.solve_joint`):
        its decision gives the allocation, π, stacks and keep set; its bound is reused.
    objective
        ``latency``, ``energy`` or ``edp``.
    options
        ``mip_gap`` for the status; progress reports.
    budget_bits
        Footprint budget in the multi-level accounting (bits).
    search_nodes
        Largest training graph (forward and backward nodes) solved by the full A\*
        search; larger ones use the block DP.

    Returns
    -------
    SolveResult
        ``formulation == "multilevel"``; ``extra`` has ``remat_space``, ``remat_method``,
        ``candidates`` (name → simulated value, peak bits, fits), ``chosen``,
        ``budget_bits``, ``recompute_work_cycles`` of the multi-level schedule and its
        solve seconds.  Status ``no_solution`` when neither candidate fits.
    """
    t0 = time.perf_counter()
    base = joint.decision
    options.report("multi-level recomputation")
    cands = [_candidate("single_level", *as_schedule(problem, base), objective, budget_bits)]
    seq, r = remat_schedule(problem, base, budget_bits, search_nodes=search_nodes)
    if seq is not None:  # the joint's stacks, gathered where the budget allows
        seq, stacks = gather_stacks(problem, base.stacks, seq, budget_bits)
        dec = Decision(base.allocation, None, stacks, None, None, seq)
        cands.append(_candidate("multi_level", dec, evaluate(problem, dec), objective, budget_bits))
    fitting = [c for c in cands if c.fits]
    best = min(fitting, key=lambda c: c.value) if fitting else cands[0]
    extra = {
        "remat_space": r.space if seq is not None else f"{r.space} (no schedule fits)",
        "remat_method": r.method,
        "remat_seconds": r.seconds,
        "recompute_work_cycles": r.recompute_cost,
        "budget_bits": budget_bits,
        "chosen": best.name if fitting else None,
        "candidates": {
            c.name: {
                "value": c.value,
                "peak_footprint_bits": c.peak_bits,
                "fits": c.fits,
                "stacks": len(c.decision.stacks),
            }
            for c in cands
        },
    }
    bounds = {"joint": joint.bound} if math.isfinite(joint.bound) else {}
    res = SolveResult.build(
        problem,
        formulation="multilevel",
        objective_name=objective,
        decision=best.decision,
        simulated_of=objective,
        milp_objective=best.value if fitting else None,
        milp_bound=None,
        solver_status="solved" if fitting else "no_solution",
        mip_gap=options.mip_gap,
        scope=MULTILEVEL_SCOPE,
        schedule=best.schedule,
        extra_bounds=bounds,
        extra=extra,
        method="multilevel",
        models_capacity=True,
        n_vars=joint.n_vars,
        n_cons=joint.n_cons,
        n_binaries=joint.n_binaries,
        solve_seconds=time.perf_counter() - t0,
    )
    if not fitting:  # no answer meets the budget and the capacities
        res = replace(res, status="no_solution", objective=math.inf)
    options.report("multi-level done", res.simulated, res.bound)
    return res


def multilevel_front(
    problem: Problem,
    budgets_bits: Sequence[float],
    fixed: Decision,
    objective: str = "latency",
    options: SolverOptions | None = None,
    *,
    search_nodes: int = 24,
) -> list[SolveResult]:
    r"""The multi-level recompute front: one schedule per footprint budget.

    For each budget (bits, the multi-level accounting), the least-work schedule of
    :func:`remat_schedule` for ``fixed``'s allocation and program order, layer by layer,
    realized and re-simulated.

    Parameters
    ----------
    problem
        The base problem.
    budgets_bits
        Footprint budgets, bits.
    fixed
        The allocation and priority.
    objective
        ``"latency"``: the serial recompute cycles of the copies (their latency and DRAM
        reads, the quantity of MONET's front); ``"energy"``: the step energy, pJ.
    options
        ``mip_gap`` for the status.

    Returns
    -------
    list[SolveResult]
        One per budget, in order; ``formulation == "multilevel_front"``.  For
        ``latency`` the bound is the schedule solver's optimum of the recompute work
        (latency and repeated weight reads, without the reads of stored inputs), valid
        over the schedule space named in
        ``extra["remat_space"]`` (``full`` for the A\* search); ``energy`` has no bound.
        A budget no schedule of that space meets gives ``infeasible`` when the space is
        the full one, else ``no_solution``.
    """
    opts = options or SolverOptions()
    metric = {"latency": "recompute", "energy": "energy"}[objective]
    out = []
    for b in budgets_bits:
        t0 = time.perf_counter()
        seq, r = remat_schedule(problem, fixed, float(b), search_nodes=search_nodes)
        dec = Decision(fixed.allocation, None, (), None, None, seq) if seq else fixed
        extra = {
            "remat_space": r.space,
            "remat_method": r.method,
            "budget_bits": float(b),
            "recompute_work_cycles": r.recompute_cost,
            "recomputations": r.recomputations,
        }
        res = SolveResult.build(
            problem,
            formulation="multilevel_front",
            objective_name=objective,
            decision=dec,
            simulated_of=metric,
            milp_objective=None,
            milp_bound=r.recompute_cost if objective == "latency" and seq else None,
            solver_status="optimal" if seq else "no_solution",  # its space, its work
            mip_gap=opts.mip_gap,
            scope=f"multi-level schedules ({r.space} space), layer by layer, for the fixed "
            "allocation and program order",
            infeasible=seq is None and r.space == "full",
            extra=extra,
            method="multilevel",
            models_capacity=True,
            solve_seconds=time.perf_counter() - t0,
        )
        if seq is None and r.space != "full":
            res = replace(res, status="no_solution", objective=math.inf)
        out.append(res)
        opts.report(f"multi-level front: {len(out)}/{len(budgets_bits)}", res.simulated, None)
    return out
