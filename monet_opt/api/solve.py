"""``solve``: the exact optimum (HiGHS) and/or the GA baseline for one config.

With ``fusion.mode`` other than ``none`` or ``checkpointing.mode: optimal`` the MILP
decides the core allocation, the layer stacks and the kept activations together
(:mod:`monet_opt.formulations.joint`); otherwise it decides the core allocation
(:mod:`monet_opt.formulations.allocation`), and with ``solver.order: optimal`` the
allocation and the program order π together
(:mod:`monet_opt.formulations.allocation_order`).  The GA searches the same decisions
(:mod:`monet_opt.ga`).  The time limit is the limit of the whole run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from monet_opt.api.inputs import Budget, Inputs, fixed_stacks, footprint_budget, load
from monet_opt.config import JOINT_OBJECTIVES, Config
from monet_opt.errors import InputError
from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.allocation_order import solve_allocation_order
from monet_opt.formulations.joint import solve_joint
from monet_opt.formulations.options import Deadline, ProgressCallback, SolverOptions
from monet_opt.formulations.remat_levels import as_schedule, solve_multilevel
from monet_opt.formulations.resident_state import solve_resident_state
from monet_opt.formulations.result import SolveResult
from monet_opt.ga import GAResult, run_ga
from monet_opt.ga.engine import run_search
from monet_opt.ga.spaces import JointSpace
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.schedule.evaluator import evaluate, stacks_over_capacity
from monet_opt.schedule.types import Decision
from monet_opt.units import MIB_BITS, within

__all__ = ["METHODS", "SolveRun", "solve", "baseline", "check_objective", "solver_options"]

#: ``solve`` methods.
METHODS = ("milp", "ga", "both")


@dataclass(frozen=True, eq=False)
class SolveRun:
    """What :func:`solve` found; every answer re-simulated by the evaluator.

    Attributes
    ----------
    inputs
        The run's inputs (config, graph, accelerator, problem).
    objective
        ``"latency"`` (cycles), ``"energy"`` (pJ) or ``"edp"`` (pJ·cycles).
    method
        ``"milp"``, ``"ga"`` or ``"both"``.
    milp
        The exact answer (the joint solver's ``final`` when fusion or checkpointing is
        decided), or ``None``.
    ga
        The GA's best answer, or ``None``.
    joint
        The joint solver's result when fusion or checkpointing is decided (the same
        object as ``milp``; its ``extra`` holds the per-block solves and baselines),
        or ``None``.
    budget
        The activation-footprint budget, or ``None`` when checkpointing is store-all.
    stacks
        The fixed stacks (node names) of ``fusion.mode: fixed``, or ``None``.
    wall_seconds
        Wall time per step (``build_inputs``, ``build_problem``, ``milp``, ``ga``).
    overrides
        Settings that differ from the config (``time_limit``, ``seed``, ``objective``).
    notes
        Remarks on what was (not) searched, for the user.
    baseline
        The baseline decision's metrics (:func:`baseline`): latency (cycles), energy
        (pJ), EDP, and the best answer's improvement over it in % per metric.
    """

    inputs: Inputs
    objective: str
    method: str
    milp: SolveResult | None
    ga: GAResult | None
    joint: SolveResult | None
    budget: Budget | None
    stacks: list[list[str]] | None
    wall_seconds: Mapping[str, float]
    overrides: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    baseline: Mapping[str, Any] = field(default_factory=dict)

    @property
    def infeasible(self) -> bool:
        """True when the exact solver proved that no decision meets the budget."""
        return self.milp is not None and self.milp.status == "infeasible"

    def best(self) -> tuple[str, Any]:
        """``(method, result)`` with the best re-simulated objective value (the joint MILP
        when fusion or checkpointing is decided; ties go to the MILP)."""
        if self.joint is not None and self.milp is not None and self.ga is None:
            return "milp", self.milp
        cands = [(n, r) for n, r in (("milp", self.milp), ("ga", self.ga)) if r is not None]
        if not cands:
            raise ValueError("no method ran")
        feasible = [
            c
            for c in cands
            if getattr(c[1], "status", "") not in ("infeasible", "no_solution") and self._fits(c[1])
        ]
        return min(feasible or cands, key=lambda c: _value(c[1], self.objective))

    def _fits(self, res: Any) -> bool:
        """Whether an answer meets the multi-level budget (always true otherwise: the
        single-level formulations and the GA enforce their own)."""
        b = self.budget
        if b is None or b.multilevel_bits is None or res is self.milp:
            return True
        return within(float(res.schedule.stats.get("peak_footprint_bits", 0.0)), b.multilevel_bits)


def _value(res: Any, objective: str) -> float:
    s = res.schedule
    if objective == "energy":
        return float(s.energy.total)
    if objective == "edp":
        return float(s.edp)
    return float(s.latency)


def check_objective(cfg: Config, objective: str | None, field_name: str = "--objective") -> str:
    """The objective of a run: ``objective`` or the config's; fusion and checkpointing
    support latency and energy only.

    Raises
    ------
    InputError
        Naming ``field_name`` and the allowed values.
    """
    obj = objective or cfg.objective
    if cfg.uses_joint and obj not in JOINT_OBJECTIVES:
        raise InputError(
            cfg.source,
            field_name if objective else "objective",
            f"{obj!r} is not supported with fusion or checkpointing; allowed values: "
            f"{', '.join(JOINT_OBJECTIVES)}",
        )
    return obj


def solver_options(
    cfg: Config, time_limit: float | None = None, progress: ProgressCallback | None = None
) -> SolverOptions:
    """The :class:`SolverOptions` of a config (``solver.*``), with an optional time
    limit override (seconds for the whole run)."""
    s = cfg.solver
    return SolverOptions(
        time_limit=time_limit if time_limit is not None else s.time_limit_s,
        mip_gap=s.mip_gap,
        threads=s.threads,
        progress=progress,
    )


def solve(
    config: str | Path | Mapping[str, Any] | Config | Inputs,
    *,
    method: str = "milp",
    objective: str | None = None,
    time_limit: float | None = None,
    seed: int | None = None,
    progress: ProgressCallback | None = None,
) -> SolveRun:
    """Optimize one config.

    Parameters
    ----------
    config
        A config file, mapping, :class:`~monet_opt.config.Config` or already built
        :class:`~monet_opt.api.inputs.Inputs`.
    method
        ``"milp"`` (exact, HiGHS), ``"ga"`` (DEAP GA) or ``"both"``.
    objective
        Overrides the config's objective.
    time_limit
        Seconds for the whole run (default ``solver.time_limit_s``); the GA also stops
        at ``ga.time_limit_s``.
    seed
        GA seed (default ``ga.seed``).
    progress
        ``progress(stage, best, bound)`` as the run advances.

    Returns
    -------
    SolveRun

    Raises
    ------
    InputError
        On invalid input (naming the file and field), an objective the decisions do not
        support, or a footprint budget below the minimum feasible one.
    """
    if method not in METHODS:
        raise InputError(None, "--method", f"invalid value {method!r}; allowed: {METHODS}")
    inputs = config if isinstance(config, Inputs) else load(config)
    cfg = inputs.config
    obj = check_objective(cfg, objective)
    if cfg.solver.order == "optimal" and obj != "latency":
        raise InputError(
            cfg.source,
            "--objective",
            f"{obj!r} is not supported with solver.order: optimal; allowed values: latency",
        )
    budget = stacks = None
    if cfg.uses_joint:  # input errors before any solve
        budget = footprint_budget(inputs) if cfg.checkpointing.mode == "optimal" else None
        stacks = fixed_stacks(inputs)
    deadline = Deadline(time_limit if time_limit is not None else cfg.solver.time_limit_s)
    wall = dict(inputs.seconds)
    milp = joint = ga = None
    if method in ("milp", "both"):
        t0 = time.perf_counter()
        multi = cfg.checkpointing.mode == "optimal" and cfg.checkpointing.levels == "multi"
        # the multi-level step after the joint gets a share of the time
        opts = solver_options(cfg, deadline.remaining() * (0.85 if multi else 1.0), progress)
        # under memory capacities the placement is decided too (joint step 5)
        capacity = cfg.schedule.memory == "capacity" and obj in ("latency", "energy")
        if cfg.solver.order == "optimal":  # allocation and program order π
            opts.report("allocation and program order")
            milp = solve_allocation_order(inputs.problem, None, obj, opts)
        elif cfg.uses_joint or capacity:
            opts.report("joint: allocation, fusion, checkpointing, placement")
            joint = solve_joint(
                inputs.problem,
                None,
                obj,
                fusion=cfg.fusion.mode,
                fixed_stacks=stacks,
                max_stack=cfg.fusion.max_stack,
                checkpointing=cfg.checkpointing.mode,
                budget_bits=None if budget is None else budget.bits,
                options=opts,
            )
            milp = joint
            if multi and joint.status != "infeasible":
                assert budget is not None and budget.multilevel_bits is not None
                milp = solve_multilevel(
                    inputs.problem,
                    joint,
                    obj,
                    solver_options(cfg, deadline.remaining(), progress),
                    budget_bits=budget.multilevel_bits,
                )
        else:
            opts.report("allocation MILP")
            milp = solve_allocation(inputs.problem, None, obj, opts)
        if cfg.schedule.resident_state == "optimal" and milp.status in ("optimal", "feasible"):
            # training state kept on chip across steps, for the final decision
            opts.report("resident training state")
            milp = solve_resident_state(
                inputs.problem, milp, obj, solver_options(cfg, deadline.remaining(), progress)
            )
        opts.report("MILP done", milp.simulated, milp.bound)
        wall["milp"] = time.perf_counter() - t0
    notes: list[str] = []
    if milp is not None and stacks:
        over = stacks_over_capacity(inputs.problem, milp.decision)
        names = inputs.problem.node_names
        for st in over:  # the user's stacks, which solve does not change
            notes.append(
                f"fusion.stacks: the stack {names[st[0]]}..{names[st[-1]]} does not fit its "
                "cores' memories for the chosen allocation (the memory table shows the "
                "overflow): this step is not achievable as given; split the stack or use "
                "fusion.mode: optimal"
            )
    if method in ("ga", "both"):
        ga = _run_ga(inputs, obj, deadline, seed, budget, progress)
        wall["ga"] = ga.seconds
        if budget is not None and budget.multilevel_bits is not None:
            ga, note = _ga_as_schedule(inputs, ga, budget.multilevel_bits)
            notes += [note] if note else []
        searched = cfg.fusion.mode == "optimal" or cfg.checkpointing.mode == "optimal"
        if cfg.uses_joint and not searched:
            notes.append(
                "the GA optimizes the core allocation only (layer by layer, store-all); it "
                "searches fusion / checkpointing when their mode is 'optimal'"
            )
    return SolveRun(
        inputs=inputs,
        objective=obj,
        method=method,
        milp=milp,
        ga=ga,
        joint=joint,
        budget=budget,
        stacks=stacks,
        wall_seconds=wall,
        overrides={"time_limit": time_limit, "seed": seed, "objective": objective},
        notes=(*inputs.notes, *notes),  # the workload's (sparse layers, SNN, ONNX) first
        baseline=_compare_baseline(inputs, milp, ga, obj, budget),
    )


def baseline(inputs: Inputs) -> Decision:
    """The baseline decision a run is compared with: layer by layer, the greedy
    earliest-finish allocation, every activation kept (store-all), default placement
    (spill what does not fit)."""
    return greedy_decision(inputs.problem)


def _ga_as_schedule(inputs: Inputs, ga: GAResult, budget_bits: float) -> tuple[GAResult, str]:
    """With ``checkpointing.levels: multi``: the GA's single-level answer written as a
    schedule (:func:`~monet_opt.formulations.remat_levels.as_schedule`), so that its
    footprint is in the multi-level accounting, and a note when it is over the
    multi-level budget (it is then no candidate of :meth:`SolveRun.best`)."""
    dec, sched = as_schedule(inputs.problem, ga.decision)
    ga = replace(ga, decision=dec, schedule=sched)
    peak = float(sched.stats["peak_footprint_bits"])
    if within(peak, budget_bits):
        return ga, ""
    return ga, (
        f"the GA searches single-level checkpointing under MONET's footprint; its answer's "
        f"multi-level footprint {peak / MIB_BITS:.4g} MiB is over the multi-level budget "
        f"{budget_bits / MIB_BITS:.4g} MiB, so it is not a candidate"
    )


def _compare_baseline(
    inputs: Inputs,
    milp: SolveResult | None,
    ga: GAResult | None,
    objective: str,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Baseline metrics and the improvement of the best answer over them (%); with an
    activation budget, whether the baseline (store-all) meets it (in the multi-level
    accounting with ``checkpointing.levels: multi``)."""
    sched = evaluate(inputs.problem, baseline(inputs))
    base: dict[str, Any] = {"latency": float(sched.latency), "energy": float(sched.energy.total)}
    base["edp"] = base["latency"] * base["energy"]
    peak = float(sched.stats["peak_footprint_bits"])
    budget_bits = None if budget is None else budget.bits
    if budget is not None and budget.multilevel_bits is not None:
        assert budget.multilevel_store_all_bits is not None
        peak, budget_bits = budget.multilevel_store_all_bits, budget.multilevel_bits
    if ga is not None and budget_bits is not None and budget is not None:
        if budget.multilevel_bits is not None and not within(
            float(ga.schedule.stats["peak_footprint_bits"]), budget_bits
        ):
            ga = None  # over the budget: not an answer
    extra: dict[str, Any] = {"peak_footprint_bits": peak}
    if budget_bits is not None:
        extra.update(budget_bits=budget_bits, within_budget=within(peak, budget_bits))
    answers = [r for r in (milp, ga) if r is not None and getattr(r, "status", "") != "infeasible"]
    if not answers:
        return {"decision": "layer by layer, greedy allocation, store-all", **base, **extra}
    best = min(answers, key=lambda r: _value(r, objective))
    got = {
        "latency": float(best.schedule.latency),
        "energy": float(best.schedule.energy.total),
    }
    got["edp"] = got["latency"] * got["energy"]
    return {
        "decision": "layer by layer, greedy allocation, store-all, default placement",
        **base,
        **extra,
        "improvement_pct": {
            k: (100.0 * (base[k] - got[k]) / base[k] if base[k] else 0.0) for k in base
        },
    }


def _run_ga(
    inputs: Inputs,
    objective: str,
    deadline: Deadline,
    seed: int | None,
    budget: Budget | None,
    progress: ProgressCallback | None,
) -> GAResult:
    """The GA of ``solve``: the joint genome when fusion or checkpointing is optimal,
    else the allocation genome."""
    cfg = inputs.config
    g = cfg.ga
    problem = inputs.problem
    limits = [t for t in (g.time_limit_s, max(deadline.remaining(), 0.05)) if t is not None]

    def callback(gen: int, evals: int, seconds: float, best: float) -> None:
        if progress is not None:
            progress(f"GA generation {gen}/{g.generations} ({evals} evaluations)", best, None)

    fusion = cfg.fusion.mode == "optimal"
    checkpointing = cfg.checkpointing.mode == "optimal"
    if fusion or checkpointing:  # layer cores + cut bits + drop bits
        space = JointSpace(
            problem, max_stack=cfg.fusion.max_stack, fusion=fusion, checkpointing=checkpointing
        )
        r = run_search(
            space,
            (objective,),
            algorithm="ga",
            population=g.population,
            generations=g.generations,
            cx_prob=g.cx_prob,
            mut_prob=g.mut_prob,
            crossover=g.crossover,
            budget_bits=None if budget is None else budget.bits,
            seed=g.seed if seed is None else seed,
            processes=g.processes,
            max_evals=g.max_evals,
            time_limit=min(limits),
            callback=callback,
        )
        return GAResult.from_search(problem, objective, r)
    return run_ga(
        problem,
        objective,
        population=g.population,
        generations=g.generations,
        cx_prob=g.cx_prob,
        mut_prob=g.mut_prob,
        seed=g.seed if seed is None else seed,
        processes=g.processes,
        max_evals=g.max_evals,
        time_limit=min(limits),
        crossover=g.crossover,
        callback=callback,
    )
