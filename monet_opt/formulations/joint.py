r"""Fusion, checkpointing and core allocation together: iterated exact blocks.

A single MILP over all three decisions couples the allocation binaries :math:`x_{ic}`
with the fusion pair binaries :math:`u_k`, the recompute copies of the checkpointing
model and their timing, which multiplies the big-M pair rows of the allocation model by
the copies; it is not tractable beyond toy sizes with HiGHS.  This module therefore
runs **block coordinate descent with exact blocks** and reports a valid global bound:

1. allocation MILP on the layer-by-layer, store-all problem
   (:mod:`monet_opt.formulations.allocation`);
2. checkpointing MILP for that allocation and the current stacks
   (:mod:`monet_opt.formulations.checkpointing`, exact for its objective and budget);
3. fusion MILP for that allocation and checkpoint set
   (:mod:`monet_opt.formulations.fusion`, exact makespan or energy; under memory
   capacities :mod:`monet_opt.formulations.fusion_capacity`, which evaluates that
   MILP's answer among its first candidates), started from the greedy DeFiNES/Stream
   stacks, which are also offered as an incumbent;
4. allocation MILP on the realized problem of the chosen stacks and checkpoints
   (pipelined edges and recompute copies tied to their originals' cores), mapped back
   with :meth:`~monet_opt.schedule.realize.Realization.invert`;

repeating 2–4 while the simulated objective improves; then, under memory capacities
and when the answer fuses nothing,

5. placement MILP for the answer's allocation and checkpoints
   (:mod:`monet_opt.formulations.placement`: which tensors stay on chip and which are
   spilled, exact for the default policy's windows) or, with optimal checkpointing,
   the keep / DRAM / recompute decision by makespan or energy
   (:mod:`monet_opt.formulations.remat_placement`: keep set and spill set together,
   under the budget), and the capacity allocation MILP for that placement
   (:mod:`monet_opt.formulations.allocation_memory`), alternating while the simulated
   objective improves.

and finally, with the time left,

6. a local search around the incumbent scored by the evaluator
   (:mod:`monet_opt.heuristics.local_search`: one node to another core, two independent
   nodes consecutive in π swapped, one keep bit flipped with optimal checkpointing, one
   stack cut flipped with optimal fusion), until
   a full pass finds nothing better: the blocks are each optimal for the others fixed,
   and a move across blocks can still improve their combination.

Every step is decoded and
re-simulated; the incumbent is replaced only by a decision whose simulated objective is
better, whose stacks fit on chip and whose footprint meets the budget, so the answer
never gets worse with more time.  The first incumbent is the best of the warm start
(if it meets the budget), the baseline (greedy allocation, layer by layer, store-all),
the store-all decision of step 1 (if it meets the budget) and the same allocation with
every activation recomputed (which always meets a feasible budget); with ``fusion:
optimal`` the whole iteration with the greedy stacks runs first (a third of the time)
and its answer is offered too, so ``optimal`` never ends worse than ``greedy``.

Time.  ``options.time_limit`` is the limit of the whole call: the blocks of a pass share
the time left equally, keeping one share for the passes after it, and the iteration
stops on time with its incumbent, bound and gap.

Global bound: :func:`~monet_opt.formulations.joint_bound.joint_lower_bound`, the maximum
of the work, critical-path and compulsory DRAM-port bounds and the dual bound of a
relaxation MILP, each valid for every allocation, program order, stack set, checkpoint
set and placement (its module docstring says why).  Its relaxation MILP gets a tenth of
the time limit (at most 10 s); the parts are reported in ``extra["bounds"]``.

The result is a :class:`~monet_opt.formulations.result.SolveResult` with ``method
"milp-iterated"``; ``status`` is ``optimal`` only when the gap to the global bound is at
most the requested MIP gap, else ``feasible``.  ``extra`` holds ``mode``,
``iterations``, ``parts`` (the last exact solve of each block), ``blocks_optimal``,
``history`` and the fusion ``baselines``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.checkpointing import (
    min_feasible_budget,
    solve_checkpointing,
    store_all_footprint,
)
from monet_opt.formulations.fusion import (
    fusion_baselines,
    solve_fusion,
    stack_names,
    stacks_from_names,
)
from monet_opt.formulations.fusion_capacity import solve_fusion_capacity
from monet_opt.formulations.joint_bound import (
    RELAXATION_CAP_S,
    RELAXATION_SHARE,
    JointBound,
    joint_lower_bound,
)
from monet_opt.formulations.options import Deadline, SolverOptions
from monet_opt.formulations.placement import solve_placement
from monet_opt.formulations.remat_placement import solve_remat_placement
from monet_opt.formulations.result import SolveResult
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.heuristics.local_search import improve_decision
from monet_opt.heuristics.stacks import greedy_stacks
from monet_opt.schedule.evaluator import evaluate_metrics
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import stack_overflow
from monet_opt.schedule.types import Decision
from monet_opt.units import MIB_BITS, within

__all__ = ["solve_joint", "global_bound", "FUSION_MODES", "CHECKPOINT_MODES"]

FUSION_MODES = ("none", "greedy", "fixed", "optimal")
CHECKPOINT_MODES = ("store-all", "optimal")

#: What the joint bound and status refer to.
JOINT_SCOPE = (
    "core allocation, program order π, layer stacks, kept checkpoints and placement "
    "(bound and gap over this whole space; the blocks use the default π, the final local "
    "search also reorders it)"
)


def global_bound(
    problem: Problem,
    objective: str,
    fusion: str = "optimal",
    options: SolverOptions | None = None,
) -> JointBound:
    """Lower bound valid for every allocation, program order, stack set, checkpoint set
    and placement (:mod:`monet_opt.formulations.joint_bound`); ``fusion="none"`` leaves
    stacks out of the space (a stronger bound)."""
    return joint_lower_bound(problem, objective, fusion=fusion != "none", options=options)


class _Incumbent:
    """The best complete decision so far; replaced only by a strictly better one that
    meets the budget and fits on chip.  Under the capacity semantics a decision whose
    memories overflow is offered only while no decision fits (a fitting one replaces
    it whatever their objectives)."""

    def __init__(
        self,
        problem: Problem,
        objective: str,
        budget: float | None,
        stacks: tuple[tuple[int, ...], ...] | None = None,
    ) -> None:
        """``stacks``: the only stacks a decision may have (``fusion: fixed``)."""
        self.problem, self.objective, self.budget = problem, objective, budget
        self.stacks = None if stacks is None else _canonical(stacks)
        self.decision: Decision | None = None
        self.value = math.inf
        self.overflows = False

    def offer(self, dec: Decision, check_fit: bool = True) -> bool:
        if self.stacks is not None and _canonical(dec.stacks) != self.stacks:
            return False
        m = evaluate_metrics(self.problem, dec)
        if self.budget is not None and not within(m.peak_footprint_bits, self.budget):
            return False
        if check_fit and m.stack_overflow:
            return False
        overflows = m.memory_overflow > 0
        if overflows and self.decision is not None and not self.overflows:
            return False
        val = m.value(self.objective)
        better = val < self.value * (1 - 1e-9) or (self.overflows and not overflows)
        if self.decision is None or better:
            self.decision, self.value, self.overflows = dec, val, overflows
            return True
        return False


def _canonical(stacks: Sequence[Sequence[int]]) -> frozenset[frozenset[int]]:
    return frozenset(frozenset(int(i) for i in st) for st in stacks if len(st) > 1)


def _step(name: str, r: SolveResult, t: float) -> dict[str, object]:
    return {
        "step": name,
        "status": r.status,
        "objective": r.objective,
        "simulated": r.simulated,
        "gap": r.gap,
        "latency": r.schedule.latency,
        "energy_pj": r.schedule.energy.total,
        "n_vars": r.n_vars,
        "n_cons": r.n_cons,
        "seconds": round(t, 3),
    }


def solve_joint(
    problem: Problem,
    fixed: Decision | None = None,
    objective: str = "latency",
    options: SolverOptions | None = None,
    warm_start: Decision | None = None,
    *,
    fusion: str = "none",
    fixed_stacks: Sequence[Sequence[str]] | None = None,
    max_stack: int = 8,
    checkpointing: str = "store-all",
    budget_bits: float | None = None,
    max_iterations: int = 3,
) -> SolveResult:
    """Optimize allocation, fusion and checkpointing (module docstring).

    Parameters
    ----------
    problem
        The base problem.
    fixed
        Ignored: the joint solver decides every part of the decision, for the default
        program order π (kept for the common solve contract).
    objective
        ``"latency"`` (makespan, cycles) or ``"energy"`` (pJ).
    options
        HiGHS options; ``options.time_limit`` is the limit of the whole call.
    warm_start
        A complete decision (e.g. the GA's best): the first incumbent when it meets the
        budget and its stacks fit on chip.
    fusion
        ``"none"`` (layer by layer), ``"greedy"`` (cut when weights overflow),
        ``"fixed"`` (``fixed_stacks``, node names) or ``"optimal"`` (fusion MILP).
    checkpointing
        ``"store-all"`` or ``"optimal"`` (checkpointing MILP under ``budget_bits``).
    budget_bits
        Activation footprint budget in bits (required for optimal checkpointing).

    Returns
    -------
    SolveResult
        ``formulation="joint"``; below the minimum feasible budget ``status`` is
        ``infeasible`` and ``extra["min_feasible_budget_bits"]`` says what is feasible.

    Raises
    ------
    ValueError
        On unknown modes/objective, a missing budget or stack list, or unknown names.
    """
    if objective not in ("latency", "energy"):
        raise ValueError(f"objective must be 'latency' or 'energy', got {objective!r}")
    if fusion not in FUSION_MODES:
        raise ValueError(f"fusion must be one of {FUSION_MODES}, got {fusion!r}")
    if checkpointing not in CHECKPOINT_MODES:
        raise ValueError(f"checkpointing must be one of {CHECKPOINT_MODES}, got {checkpointing!r}")
    if checkpointing == "optimal" and budget_bits is None:
        raise ValueError("checkpointing='optimal' needs budget_bits")
    if fusion == "fixed" and not fixed_stacks:
        raise ValueError("fusion='fixed' needs fixed_stacks (lists of node names)")
    opts = options or SolverOptions()
    deadline = Deadline(opts.time_limit)
    relax_s = min(RELAXATION_CAP_S, RELAXATION_SHARE * opts.time_limit)
    stacked = fusion != "none" or bool(warm_start is not None and warm_start.stacks)
    bound = global_bound(problem, objective, "optimal" if stacked else "none",
                         opts.with_time(relax_s))  # fmt: skip
    fixed_idx = stacks_from_names(problem, fixed_stacks) if fusion == "fixed" else ()
    budget = budget_bits if checkpointing == "optimal" else None
    info = {
        "min_feasible_budget_bits": min_feasible_budget(problem),
        "store_all_footprint_bits": store_all_footprint(problem),
    }
    t0 = time.perf_counter()
    history: list[dict[str, object]] = []

    def note(stage: str) -> None:
        """Progress: the incumbent and the certified bound after each block."""
        opts.report(f"joint: {stage}", best.value if best.decision else None, bound.value)

    parts: dict[str, SolveResult] = {}
    in_pass = 4  # blocks left in the current pass (first: allocation + the three below)

    def block_opts() -> SolverOptions:
        """The next block's share of the time left: the blocks of the current pass
        share it, with one share kept for the passes after it (a block that proves
        its optimum early leaves its time to the next)."""
        nonlocal in_pass
        share = deadline.share(in_pass + 1)
        in_pass = in_pass - 1 if in_pass > 1 else 3
        return opts.with_time(share)

    if budget is not None and not within(info["min_feasible_budget_bits"], budget):
        return _infeasible(problem, objective, opts, budget, info)
    best = _Incumbent(problem, objective, budget, fixed_idx if fusion == "fixed" else None)
    if warm_start is not None:
        best.offer(warm_start, check_fit=fusion not in ("fixed", "none"))
    best.offer(greedy_decision(problem), check_fit=False)  # the baseline
    if fusion == "optimal":  # never worse than the greedy stacking's own iteration
        g = solve_joint(
            problem, None, objective, opts.with_time(deadline.share(3)), warm_start,
            fusion="greedy", max_stack=max_stack, checkpointing=checkpointing,
            budget_bits=budget_bits, max_iterations=max_iterations,
        )  # fmt: skip
        if g.status != "infeasible":
            best.offer(g.decision)
            if warm_start is None or best.decision is g.decision:
                warm_start = g.decision
    ar = solve_allocation(problem, None, objective, block_opts(), warm_start)
    parts["allocation"] = ar
    history.append(_step("allocation", ar, time.perf_counter() - t0))
    note("allocation")
    alloc = ar.decision.allocation
    stacks: tuple[tuple[int, ...], ...] = fixed_idx
    kept: frozenset[str] | None = None
    best.offer(Decision(alloc, None, stacks, None), check_fit=False)
    if budget is not None:  # every activation recomputed: always within the budget
        best.offer(Decision(alloc, None, stacks, frozenset()), check_fit=False)
    iterations = 0
    for it in range(max_iterations):
        if deadline.expired:
            break
        iterations = it + 1
        if checkpointing == "optimal":
            ck = solve_checkpointing(
                problem, Decision(alloc, None, stacks), objective, block_opts(),
                budget_bits=budget,
            )  # fmt: skip
            parts["checkpointing"] = ck
            history.append(_step("checkpointing", ck, time.perf_counter() - t0))
            note("checkpointing")
            if ck.status == "infeasible":
                return _infeasible(problem, objective, opts, budget, info)
            kept = ck.decision.checkpoints
            best.offer(Decision(alloc, None, stacks, kept), check_fit=fusion != "fixed")
        if fusion == "optimal":
            gs = greedy_stacks(problem, alloc, max_stack=max_stack, checkpoints=kept)
            greedy = Decision(alloc, None, gs, kept)
            best.offer(greedy)  # the DeFiNES/Stream baseline: also the MILP's start
            exact = solve_fusion_capacity if problem.memory == "capacity" else solve_fusion
            fu = exact(
                problem, Decision(alloc, None, (), kept), objective, block_opts(), greedy,
                max_stack=max_stack,
            )  # fmt: skip
            parts["fusion"] = fu
            history.append(_step("fusion", fu, time.perf_counter() - t0))
            note("fusion")
            stacks = fu.decision.stacks
        elif fusion == "greedy":
            stacks = greedy_stacks(problem, alloc, max_stack=max_stack, checkpoints=kept)
        dec = Decision(alloc, None, stacks, kept)
        best.offer(dec, check_fit=fusion != "fixed")
        if not stacks and kept is None:
            break
        if deadline.expired:
            break
        ar2 = solve_allocation(problem, Decision((), None, stacks, kept), objective,
                               block_opts(), dec)  # fmt: skip
        history.append(_step("allocation", ar2, time.perf_counter() - t0))
        note("allocation")
        new_alloc = ar2.decision.allocation
        fits = (
            fusion in ("fixed", "none")
            or problem.memory == "capacity"  # the incumbent checks the memories
            or not stack_overflow(problem, stacks, new_alloc)
        )
        if fits and best.offer(ar2.decision, check_fit=fusion != "fixed"):
            parts["allocation"] = ar2
            if new_alloc == alloc:
                break
            alloc = new_alloc
            continue
        break
    assert best.decision is not None
    if problem.memory == "capacity" and not (fusion == "fixed" and best.decision.stacks):
        _placement_rounds(problem, objective, opts, deadline, best, parts, history, t0, budget,
                          note)  # fmt: skip
    polished = _polish(problem, best, deadline, fusion, budget, max_stack, note)
    info["polish_evaluations"] = polished
    return _final(problem, objective, opts, best.decision, parts, history, iterations,
                  fusion, fixed_idx, max_stack, budget, info, t0, bound,
                  greedy_baseline=not deadline.expired)  # fmt: skip


def _polish(
    problem: Problem,
    best: _Incumbent,
    deadline: Deadline,
    fusion: str,
    budget: float | None,
    max_stack: int,
    note: Callable[[str], None],
) -> int:
    """Step 6: the evaluator-scored local search of
    :mod:`monet_opt.heuristics.local_search` around the incumbent with the time left
    (core moves; keep bits with optimal checkpointing; stack cuts with optimal fusion).
    Returns the neighbours evaluated."""
    if deadline.expired or best.decision is None:
        return 0

    def accept(dec: Decision) -> bool:
        ok = best.offer(dec, check_fit=fusion != "fixed")
        if ok:
            note("local search")
        return ok

    return improve_decision(
        problem,
        lambda: best.decision,
        accept,
        time.perf_counter() + deadline.remaining(),
        keep=budget is not None,
        cuts=fusion == "optimal",
        max_stack=max_stack,
    )


def _placement_rounds(
    problem: Problem,
    objective: str,
    opts: SolverOptions,
    deadline: Deadline,
    best: _Incumbent,
    parts: dict[str, SolveResult],
    history: list[dict[str, object]],
    t0: float,
    budget: float | None,
    note: Callable[[str], None] | None = None,
    rounds: int = 2,
) -> None:
    """Step 5 of the module docstring: placement for the incumbent's allocation (with
    optimal checkpointing, ``budget`` not ``None``: the keep set too), then the
    allocation for that placement, while the chain improves.  The chain starts from the
    incumbent, or, when the incumbent fuses, from its allocation and keep set layer by
    layer (the placement MILPs model layer-by-layer execution); every link is offered to
    the incumbent."""
    dec = best.decision
    assert dec is not None
    cur = Decision(dec.allocation, dec.priority, (), dec.checkpoints) if dec.stacks else dec
    m = evaluate_metrics(problem, cur)
    cur_val = m.value(objective) if m.memory_overflow == 0 else math.inf

    def improves(d: Decision) -> bool:
        nonlocal cur, cur_val
        m = evaluate_metrics(problem, d)
        if m.memory_overflow > 0 or m.value(objective) >= cur_val * (1 - 1e-9):
            return False
        cur, cur_val = d, m.value(objective)
        best.offer(d)
        return True

    for _ in range(rounds):
        if deadline.expired:
            return
        popts = opts.with_time(deadline.share(3))
        if budget is None:
            pr = solve_placement(problem, cur, objective, popts)
        else:
            pr = solve_remat_placement(problem, cur, objective, popts, cur, budget_bits=budget)
        parts["placement"] = pr
        history.append(_step("placement", pr, time.perf_counter() - t0))
        if note is not None:
            note("placement")
        if not improves(pr.decision) or deadline.expired:
            return
        fixed = Decision((), cur.priority, (), cur.checkpoints, cur.placement)
        ar = solve_allocation(problem, fixed, objective, opts.with_time(deadline.share(2)), cur)
        history.append(_step("allocation", ar, time.perf_counter() - t0))
        if note is not None:
            note("allocation")
        if not improves(ar.decision):
            return
        parts["allocation"] = ar


def _final(
    problem: Problem,
    objective: str,
    opts: SolverOptions,
    dec: Decision,
    parts: dict[str, SolveResult],
    history: list[dict[str, object]],
    iterations: int,
    fusion: str,
    fixed_idx: tuple[tuple[int, ...], ...],
    max_stack: int,
    budget: float | None,
    info: dict[str, float],
    t0: float,
    bound: JointBound,
    *,
    greedy_baseline: bool = True,
) -> SolveResult:
    """The joint result (``greedy_baseline``: also evaluate the greedy stacking for the
    fusion baselines; skipped once the time limit has passed)."""
    cands = problem.checkpoint_tensors
    extra: dict[str, object] = dict(info)
    extra.update(
        mode="iterated",
        iterations=iterations,
        parts=parts,
        history=history,
        blocks_optimal=all(p.status == "optimal" for p in parts.values()),
        budget_bits=budget,
        stacks=stack_names(problem, dec.stacks),
        kept=sorted(dec.checkpoints) if dec.checkpoints is not None else list(cands),
        recomputed=[a for a in cands if a not in (dec.checkpoints or cands)],
        wall_seconds=time.perf_counter() - t0,
        bounds=dict(bound.parts),
        bound_relaxation_status=bound.relaxation_status,
    )
    res = SolveResult.build(
        problem,
        formulation="joint",
        objective_name=objective,
        decision=dec,
        simulated_of=objective,
        milp_objective=evaluate_metrics(problem, dec).value(objective),
        milp_bound=None,
        solver_status="iterated",
        mip_gap=opts.mip_gap,
        scope=JOINT_SCOPE,
        n_vars=sum(p.n_vars for p in parts.values()),
        n_cons=sum(p.n_cons for p in parts.values()),
        n_binaries=sum(p.n_binaries for p in parts.values()),
        build_seconds=sum(p.build_seconds for p in parts.values()),
        solve_seconds=sum(p.solve_seconds for p in parts.values()),
        extra_bounds=dict(bound.parts),
        extra=extra,
        method="milp-iterated",
    )
    baselines = fusion_baselines(
        problem,
        dec.allocation,
        checkpoints=dec.checkpoints,
        fixed=fixed_idx if fusion == "fixed" else None,
        max_stack=max_stack,
        greedy=greedy_baseline,
    )
    if fusion == "optimal":
        sch = res.schedule
        baselines["optimal"] = {
            "latency": sch.latency,
            "energy_pj": sch.energy.total,
            "n_stacks": len(dec.stacks),
            "stacks": stack_names(problem, dec.stacks),
            "stack_overflow": int(sch.stats["stack_overflow"]),
        }
    return _with_extra(res, baselines=baselines)


def _with_extra(res: SolveResult, **more: object) -> SolveResult:
    from dataclasses import replace

    return replace(res, extra={**res.extra, **more})


def _infeasible(
    problem: Problem,
    objective: str,
    opts: SolverOptions,
    budget: float | None,
    info: dict[str, float],
) -> SolveResult:
    fmin = info["min_feasible_budget_bits"]
    extra: dict[str, object] = dict(info)
    extra.update(
        mode="iterated",
        iterations=0,
        parts={},
        history=[],
        baselines={},
        blocks_optimal=True,
        budget_bits=budget,
        stacks=[],
        kept=[],
        recomputed=list(problem.checkpoint_tensors),
        message=f"the budget {0.0 if budget is None else budget / MIB_BITS:.6g} MiB is below "
        f"the minimum feasible activation footprint {fmin / MIB_BITS:.6g} MiB",
    )
    return SolveResult.build(
        problem,
        formulation="joint",
        objective_name=objective,
        decision=Decision(tuple(problem.allowed[i][0] for i in range(problem.n_nodes))),
        simulated_of=objective,
        milp_objective=None,
        milp_bound=None,
        solver_status="infeasible",
        mip_gap=opts.mip_gap,
        scope=JOINT_SCOPE,
        infeasible=True,
        extra=extra,
        method="milp-iterated",
    )
