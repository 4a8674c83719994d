"""``compare``: the exact formulations and the DEAP GAs on the same decision spaces.

For every decision space of :data:`SPACES` the exact formulation is solved with HiGHS
and the GA of :mod:`monet_opt.ga` runs with several seeds; every answer is re-simulated
by the one evaluator.  The report gives the GA's gap to the MILP value and to the MILP
bound, the GA's best over evaluations and over time, and the MILP re-solved
warm-started from the best GA answer.  A Pareto comparison pits the exact ε-constraint
front of checkpointing (activation footprint against recompute cycles or energy)
against NSGA-II fronts (MONET's preset), with the hypervolume ratio.

Each space is one row of the table :data:`SPACES` (a :class:`Space`): its GA genome,
its exact formulation (one function with the common solve contract, which also takes
the warm start), the metric it is scored on and the scope of the exact answer.

Budgets.  By default each GA run gets :data:`DEFAULT_EVALS` distinct evaluations: the
same seed then gives the same answer on any machine and any load.  ``budget_seconds``
(or ``equal_time``: the MILP's wall time on the same space) gives wall-time budgets,
which are *not* reproducible (the report says so).  The GA's best at the MILP's wall
time is read from its history in every case.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from monet_opt import __version__
from monet_opt.api.inputs import Inputs, load
from monet_opt.api.solve import solver_options
from monet_opt.config import Config
from monet_opt.errors import InputError
from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.allocation_order import solve_allocation_order
from monet_opt.formulations.checkpointing import (
    exact_front,
    min_feasible_budget,
    solve_checkpointing,
    store_all_footprint,
)
from monet_opt.formulations.fusion import solve_fusion
from monet_opt.formulations.fusion_capacity import solve_fusion_capacity
from monet_opt.formulations.joint import solve_joint
from monet_opt.formulations.options import ProgressCallback, SolverOptions
from monet_opt.formulations.result import SolveResult, metric_value, relative_gap
from monet_opt.ga.engine import SearchResult, run_search
from monet_opt.ga.spaces import AllocationSpace, CheckpointSpace, FusionSpace, JointSpace
from monet_opt.ga.spaces import Space as Genome
from monet_opt.indicators import pareto_summary
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.types import Decision, Schedule

__all__ = [
    "SPACES",
    "SPACE_NAMES",
    "DEFAULT_EVALS",
    "Space",
    "CompareSettings",
    "SpaceComparison",
    "Comparison",
    "compare",
    "compare_problem",
    "best_at",
    "gap_to",
]

#: Default GA budget per run, distinct evaluations (reproducible).
DEFAULT_EVALS = 2000


# -- the decision spaces --------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """What every space of one comparison shares."""

    problem: Problem
    objective: str
    reference: SolveResult  # the allocation MILP's answer: the fixed allocation of
    # the fusion and checkpointing spaces, for both methods
    budget_bits: float | None
    max_stack: int


@dataclass(frozen=True)
class Space:
    """One decision space of :func:`compare`: a GA genome and its exact counterpart.

    Attributes
    ----------
    name, title
        Key and human title.
    genome
        ``genome(ctx)``: the GA search space (:mod:`monet_opt.ga.spaces`).
    exact
        ``exact(ctx, options, warm_start)``: the exact formulation under the common
        solve contract (``warm_start`` a complete :class:`Decision` or ``None``).
    metric
        ``metric(objective)``: what both methods are scored on (``latency``,
        ``energy`` or ``recompute``).
    preset
        GA preset (:data:`monet_opt.ga.engine.PRESETS`).
    uses_budget
        The activation-footprint budget constrains this space.
    scope
        ``scope(ctx, result)``: ``None`` when the exact answer covers the GA's whole
        space, else why not; the comparison then reports the valid bound only.
    bound
        ``bound(ctx, result)``: the lower bound valid for the GA's space.
    """

    name: str
    title: str
    genome: Callable[[Context], Genome]
    exact: Callable[[Context, SolverOptions, Decision | None], SolveResult]
    metric: Callable[[str], str]
    preset: str = "default"
    uses_budget: bool = False
    scope: Callable[[Context, SolveResult], str | None] = lambda ctx, r: None
    bound: Callable[[Context, SolveResult], float] = lambda ctx, r: float(r.bound)


def _same(objective: str) -> str:
    return objective


def _reference_allocation(ctx: Context) -> Decision:
    return Decision(ctx.reference.decision.allocation)


def _exact_allocation(ctx: Context, opts: SolverOptions, warm: Decision | None) -> SolveResult:
    if warm is None:
        return ctx.reference
    return solve_allocation(ctx.problem, None, ctx.objective, opts, Decision(warm.allocation))


def _exact_allocation_order(
    ctx: Context, opts: SolverOptions, warm: Decision | None
) -> SolveResult:
    """The MAGMA space's exact counterpart: allocation and program order π
    (:mod:`monet_opt.formulations.allocation_order`, latency); energy does not depend
    on π under the unbounded semantics, so the fixed-π MILP stands for it."""
    if ctx.objective != "latency":
        return _exact_allocation(ctx, opts, warm)
    start = Decision(ctx.reference.decision.allocation) if warm is None else warm
    return solve_allocation_order(ctx.problem, None, "latency", opts, start)


def _magma_scope(ctx: Context, r: SolveResult) -> str | None:
    if ctx.objective == "latency":
        return None
    return (
        "the energy MILP fixes the program order π; the MAGMA genome also reorders π (under "
        "memory capacities π changes the placement and so the energy)"
    )


def _exact_fusion(ctx: Context, opts: SolverOptions, warm: Decision | None) -> SolveResult:
    capacity = ctx.problem.memory == "capacity" and ctx.objective in ("latency", "energy")
    exact = solve_fusion_capacity if capacity else solve_fusion
    return exact(
        ctx.problem, _reference_allocation(ctx), ctx.objective, opts, warm, max_stack=ctx.max_stack
    )


def _exact_checkpointing(ctx: Context, opts: SolverOptions, warm: Decision | None) -> SolveResult:
    return solve_checkpointing(
        ctx.problem,
        _reference_allocation(ctx),
        ctx.objective,
        opts,
        warm,
        budget_bits=ctx.budget_bits,
    )


def _exact_joint(ctx: Context, opts: SolverOptions, warm: Decision | None) -> SolveResult:
    return solve_joint(
        ctx.problem,
        None,
        ctx.objective,
        opts,
        warm,
        fusion="optimal",
        max_stack=ctx.max_stack,
        checkpointing="optimal",
        budget_bits=ctx.budget_bits,
    )


def _joint_scope(ctx: Context, r: SolveResult) -> str | None:
    return (
        "allocation, checkpointing and fusion MILPs iterated (each block exact); the bound "
        "is the global bound over all three decisions"
    )


#: The decision spaces, in display order.
SPACES: Mapping[str, Space] = {
    s.name: s
    for s in (
        Space(
            "allocation",
            "Core allocation, Stream-style genome (a core per layer)",
            lambda ctx: AllocationSpace(ctx.problem, "layer"),
            _exact_allocation,
            _same,
            preset="stream",
        ),
        Space(
            "allocation_magma",
            "Core allocation + program order, MAGMA-style genome",
            lambda ctx: AllocationSpace(ctx.problem, "magma"),
            _exact_allocation_order,
            _same,
            scope=_magma_scope,
        ),
        Space(
            "fusion",
            "Layer fusion (cut bit per program-order position)",
            lambda ctx: FusionSpace(
                ctx.problem, ctx.reference.decision.allocation, max_stack=ctx.max_stack
            ),
            _exact_fusion,
            _same,
        ),
        Space(
            "checkpointing",
            "Activation checkpointing (MONET bit vector) under the budget",
            lambda ctx: CheckpointSpace(ctx.problem, ctx.reference.decision.allocation),
            _exact_checkpointing,
            lambda obj: "recompute" if obj == "latency" else "energy",
            uses_budget=True,
        ),
        Space(
            "joint",
            "Joint: allocation + fusion + checkpointing",
            lambda ctx: JointSpace(ctx.problem, max_stack=ctx.max_stack),
            _exact_joint,
            _same,
            uses_budget=True,
            scope=_joint_scope,
        ),
    )
}
#: Names of :data:`SPACES`.
SPACE_NAMES: tuple[str, ...] = tuple(SPACES)


# -- settings and results -------------------------------------------------------------
@dataclass(frozen=True)
class CompareSettings:
    """What :func:`compare_problem` runs.

    Parameters
    ----------
    objective
        ``"latency"`` (makespan, cycles) or ``"energy"`` (pJ).  The checkpointing space
        is scored on serial recompute cycles (latency) or step energy.
    seeds
        GA seeds (statistics over them).
    budget_evals
        GA budget per run, distinct evaluations (default :data:`DEFAULT_EVALS` unless a
        wall-time budget is given).
    budget_seconds
        GA budget per run, seconds (not reproducible).
    equal_time
        Give each GA run the MILP's wall time on its space, at least ``min_seconds``
        (not reproducible).
    min_seconds
        Floor of the equal-time budget.
    processes
        GA fitness worker processes (the result does not depend on it).
    options
        HiGHS options (time limit per exact solve).
    budget_bits
        Activation-footprint budget of the checkpointing and joint spaces (``None``:
        ``budget_fraction`` of the store-all footprint, raised to the minimum feasible).
    max_stack
        Longest fused stack (both methods).
    spaces
        Subset of :data:`SPACE_NAMES`, in display order.
    pareto
        Also compare the checkpointing fronts (exact ε-constraint vs NSGA-II).
    pareto_points
        Cap on the exact front's points.
    warm_start
        Re-solve each MILP warm-started from the best GA answer.

    Raises
    ------
    ValueError
        On an unknown objective or space, no seeds, or a non-positive budget.
    """

    objective: str = "latency"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    budget_evals: int | None = None
    budget_seconds: float | None = None
    equal_time: bool = False
    min_seconds: float = 2.0
    processes: int = 1
    options: SolverOptions = field(default_factory=SolverOptions)
    budget_bits: float | None = None
    budget_fraction: float = 0.5
    max_stack: int = 8
    spaces: tuple[str, ...] = SPACE_NAMES
    pareto: bool = True
    pareto_points: int = 60
    warm_start: bool = True

    def __post_init__(self) -> None:
        if self.objective not in ("latency", "energy"):
            raise ValueError(f"objective must be 'latency' or 'energy', got {self.objective!r}")
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        bad = [s for s in self.spaces if s not in SPACES]
        if bad or not self.spaces:
            raise ValueError(f"unknown spaces {bad}; allowed: {', '.join(SPACE_NAMES)}")
        if self.budget_evals is not None and self.budget_evals < 1:
            raise ValueError(f"budget_evals must be >= 1, got {self.budget_evals}")
        for name in ("budget_seconds", "min_seconds"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
        if self.budget_seconds is not None and self.budget_seconds <= 0:
            raise ValueError(f"budget_seconds must be > 0, got {self.budget_seconds}")

    @property
    def reproducible(self) -> bool:
        """The GA budget is in evaluations only (same seed, same answer anywhere)."""
        return self.budget_seconds is None and not self.equal_time

    @property
    def evals(self) -> int | None:
        """Evaluations per GA run (``None``: wall-time budget only)."""
        if self.budget_evals is not None:
            return self.budget_evals
        return DEFAULT_EVALS if self.reproducible else None


def gap_to(value: float, reference: float) -> float:
    """``(value - reference) / |reference|`` (``inf`` when undefined)."""
    if not (math.isfinite(value) and math.isfinite(reference)) or reference == 0:
        return 0.0 if value == reference and math.isfinite(value) else math.inf
    return (value - reference) / abs(reference)


def best_at(history: Sequence[Sequence[float]], seconds: float) -> float:
    """Best-so-far of a GA history ``(evals, seconds, best)`` at a wall time (``inf``
    before the first record)."""
    val = math.inf
    for _, s, b in history:
        if s <= seconds + 1e-12:
            val = b
        else:
            break
    return float(val)


def _num(v: float | None) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


@dataclass(frozen=True)
class SpaceComparison:
    """MILP and GA results on one decision space (all values re-simulated).

    ``milp`` is the exact solve (``milp_seconds`` its wall time incl. build),
    ``runs`` one :class:`SearchResult` per seed, ``warm`` the warm-started re-solve.
    """

    space: str
    metric: str
    milp: SolveResult
    milp_seconds: float
    proven_optimal: bool
    bound: float
    scope: str | None
    runs: tuple[SearchResult, ...]
    ga_schedule: Schedule | None
    warm: SolveResult | None = None
    warm_seconds: float | None = None
    ga_preset: str = "default"
    #: The exact solve's progress: ``(seconds, incumbent, bound)`` at each report of its
    #: blocks (``None`` where a report had no value), for the convergence plot.
    milp_trace: tuple[tuple[float, float | None, float | None], ...] = ()

    @property
    def unit(self) -> str:
        return "pJ" if self.metric == "energy" else "cycles"

    @property
    def milp_value(self) -> float:
        return float(self.milp.simulated)

    def best_run(self) -> SearchResult:
        return min(self.runs, key=lambda r: (not r.feasible, r.best))

    def as_dict(self) -> dict[str, Any]:
        """The ``spaces[]`` entry of ``compare.json`` (:mod:`monet_opt.report.compare`)."""
        m = self.milp
        milp = {
            "status": m.status,
            "objective": _num(m.objective),
            "simulated": _num(m.simulated),
            "bound": _num(self.bound),
            "gap": _num(relative_gap(self.milp_value, self.bound)),
            "seconds": self.milp_seconds,
            "proven_optimal": self.proven_optimal,
            "scope": self.scope,
            "warm_started": None
            if self.warm is None
            else {
                "seconds": self.warm_seconds,
                "objective": _num(self.warm.simulated),
                "status": self.warm.status,
            },
            "decision": _decision_summary(m.decision),
            "trace": [[float(t), _num(b), _num(lb)] for t, b, lb in self.milp_trace],
        }
        runs = []
        for r in self.runs:
            best = r.best if r.feasible else math.inf
            runs.append(
                {
                    "seed": r.seed,
                    "best": _num(best),
                    "simulated": _num(best),
                    "evaluations": r.evaluations,
                    "seconds": r.seconds,
                    "generations": r.generations,
                    "stop_reason": r.stop_reason,
                    "feasible": r.feasible,
                    "at_milp_time": _num(best_at(r.history, self.milp_seconds)),
                    "gap_to_milp": _num(gap_to(best, self.milp_value)),
                    "history": [[int(e), float(s), _num(b)] for e, s, b in r.history],
                    "decision": _decision_summary(r.decision),
                }
            )
        return {
            "space": self.space,
            "title": SPACES[self.space].title,
            "metric": self.metric,
            "unit": self.unit,
            "metric_label": _metric_label(self.metric, self.unit),
            "milp": milp,
            "ga": {
                "algorithm": self.runs[0].algorithm if self.runs else None,
                "preset": self.ga_preset,
                "params": _jsonable_params(self.runs[0].params) if self.runs else {},
                "runs": runs,
                "summary": self.summary(),
            },
        }

    def summary(self) -> dict[str, Any]:
        """Median, quartiles and range over seeds of the GA's best and its gaps."""
        bests = np.array([r.best for r in self.runs if r.feasible and math.isfinite(r.best)])
        eq = [best_at(r.history, self.milp_seconds) for r in self.runs]
        eq_arr = np.array([v for v in eq if math.isfinite(v)])
        out: dict[str, Any] = {
            "feasible_runs": int(len(bests)),
            "runs": len(self.runs),
            "seconds_median": float(np.median([r.seconds for r in self.runs])),
            "evaluations_median": float(np.median([r.evaluations for r in self.runs])),
        }
        if len(bests):
            gaps = (bests - self.milp_value) / abs(self.milp_value) if self.milp_value else None
            out.update(
                median=float(np.median(bests)),
                min=float(bests.min()),
                max=float(bests.max()),
                q1=float(np.percentile(bests, 25)),
                q3=float(np.percentile(bests, 75)),
                gap_to_milp_median=_num(float(np.median(gaps))) if gaps is not None else None,
                gap_to_milp_min=_num(float(gaps.min())) if gaps is not None else None,
                gap_to_milp_max=_num(float(gaps.max())) if gaps is not None else None,
                gap_to_bound_median=_num(relative_gap(float(np.median(bests)), self.bound)),
            )
        out["at_milp_time_median"] = _num(float(np.median(eq_arr))) if len(eq_arr) else None
        out["at_milp_time_runs"] = int(len(eq_arr))
        out["gap_to_milp_at_milp_time_median"] = (
            _num(gap_to(float(np.median(eq_arr)), self.milp_value)) if len(eq_arr) else None
        )
        return out


@dataclass(frozen=True)
class Comparison:
    """Everything :func:`compare` measured; :meth:`as_dict` is ``compare.json``."""

    problem: Problem
    settings: CompareSettings
    spaces: tuple[SpaceComparison, ...]
    pareto: dict[str, Any] | None
    budget_bits: float | None
    store_all_bits: float
    wall_seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    def space(self, name: str) -> SpaceComparison:
        for s in self.spaces:
            if s.space == name:
                return s
        raise KeyError(f"space {name!r} not compared; compared: {[s.space for s in self.spaces]}")

    def as_dict(self) -> dict[str, Any]:
        st = self.settings
        return {
            **self.meta,
            "objective": st.objective,
            "budget": {
                "evals": st.evals,
                "seconds": st.budget_seconds,
                "equal_wall_time": st.equal_time,
                "min_seconds": st.min_seconds,
                "reproducible": st.reproducible,
                "note": None
                if st.reproducible
                else "wall-time GA budgets are not reproducible: the number of "
                "evaluations a run gets depends on the machine and its load; use "
                "--budget-evals for a reproducible comparison",
            },
            "seeds": list(st.seeds),
            "processes": st.processes,
            "footprint_budget_bits": self.budget_bits,
            "store_all_footprint_bits": self.store_all_bits,
            "spaces": [s.as_dict() for s in self.spaces],
            "pareto": self.pareto,
            "wall_seconds": self.wall_seconds,
        }


def _metric_label(metric: str, unit: str) -> str:
    return {
        "latency": "makespan (cycles)",
        "energy": "step energy (pJ)",
        "recompute": "recompute (serial cycles)",
    }.get(metric, f"{metric} ({unit})")


def _jsonable_params(p: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in p.items() if isinstance(v, str | int | float | bool) or v is None}


def _decision_summary(d: Decision) -> dict[str, Any]:
    return {
        "allocation": list(d.allocation),
        "program_order_changed": d.priority is not None,
        "stacks": len(d.stacks),
        "fused_nodes": int(sum(len(s) for s in d.stacks)),
        "kept": None if d.checkpoints is None else len(d.checkpoints),
    }


# -- the comparison -------------------------------------------------------------------
def _budget(problem: Problem, st: CompareSettings, needed: bool) -> tuple[float | None, float]:
    """``(budget bits or None, store-all bits)``; the default budget is raised to the
    minimum feasible one; a given budget below it is an error."""
    store_all = store_all_footprint(problem)
    if not needed or not problem.checkpoint_tensors:
        return None, store_all
    fmin = min_feasible_budget(problem)
    if st.budget_bits is None:
        return max(st.budget_fraction * store_all, fmin), store_all
    from monet_opt.units import MIB_BITS, within

    if not within(fmin, st.budget_bits):
        raise ValueError(
            f"footprint budget {st.budget_bits / MIB_BITS:.6g} MiB is below the minimum "
            f"feasible {fmin / MIB_BITS:.6g} MiB (store-all {store_all / MIB_BITS:.6g} MiB)"
        )
    return max(st.budget_bits, fmin), store_all


def compare_problem(
    problem: Problem,
    settings: CompareSettings = CompareSettings(),
    *,
    progress: ProgressCallback | None = None,
    meta: dict[str, Any] | None = None,
) -> Comparison:
    """Run the exact formulations and the GAs on every space of ``settings``.

    Raises
    ------
    ValueError
        When a given footprint budget is below the minimum feasible footprint.
    """
    st = settings
    t_start = time.perf_counter()
    opts = replace(st.options, progress=progress or st.options.progress)
    needs_budget = any(SPACES[s].uses_budget for s in st.spaces)
    budget, store_all = _budget(problem, st, needs_budget)
    opts.report("allocation MILP")
    t0 = time.perf_counter()
    reference = solve_allocation(problem, None, st.objective, opts)
    ref_seconds = time.perf_counter() - t0
    ctx = Context(problem, st.objective, reference, budget, st.max_stack)
    out: list[SpaceComparison] = []
    for name in st.spaces:
        space = SPACES[name]
        if space.uses_budget and budget is None:
            continue  # no activation to checkpoint
        opts.report(f"{name}: exact")
        t0 = time.perf_counter()
        trace: list[tuple[float, float | None, float | None]] = []
        milp = space.exact(ctx, _tracing(opts, trace, t0, TRACE_STAGES.get(name, "")), None)
        secs = ref_seconds if milp is reference else time.perf_counter() - t0
        if milp is reference:
            trace = [(ref_seconds, float(milp.simulated), float(milp.bound))]
        trace.append((secs, float(milp.simulated), float(space.bound(ctx, milp))))
        scope = space.scope(ctx, milp)
        metric = space.metric(st.objective)
        seconds = st.budget_seconds
        if st.equal_time:
            seconds = max(secs, st.min_seconds)
        genome = space.genome(ctx)
        runs = []
        for seed in st.seeds:
            opts.report(f"{name}: GA seed {seed}", milp.simulated, milp.bound)
            runs.append(
                run_search(
                    genome,
                    (metric,),
                    preset=space.preset,
                    seed=seed,
                    processes=st.processes,
                    max_evals=st.evals,
                    time_limit=seconds,
                    budget_bits=budget if space.uses_budget else None,
                )
            )
        sc = SpaceComparison(
            milp_trace=tuple(trace),
            space=name,
            metric=metric,
            milp=milp,
            milp_seconds=secs,
            proven_optimal=milp.proven_optimal and scope is None,
            bound=float(space.bound(ctx, milp)),
            scope=scope,
            runs=tuple(runs),
            ga_schedule=None,
            ga_preset=space.preset,
        )
        best = sc.best_run()
        sc = replace(sc, ga_schedule=evaluate(problem, best.decision))
        if st.warm_start and best.feasible and name != "joint":
            opts.report(f"{name}: exact, warm-started from the best GA answer")
            t0 = time.perf_counter()
            warm = space.exact(ctx, opts, best.decision)
            sc = replace(sc, warm=warm, warm_seconds=time.perf_counter() - t0)
        out.append(sc)
    pareto = None
    if st.pareto and problem.checkpoint_tensors:
        opts.report("checkpointing fronts: exact ε-constraint and NSGA-II")
        pareto = _pareto(ctx, st, opts)
    return Comparison(
        problem=problem,
        settings=st,
        spaces=tuple(out),
        pareto=pareto,
        budget_bits=budget,
        store_all_bits=store_all,
        wall_seconds=time.perf_counter() - t_start,
        meta=dict(meta or {}),
    )


#: Per space, the progress stages (a prefix) whose values are the space's own incumbent
#: and whole-space bound (the inner blocks of a joint or order search report theirs).
TRACE_STAGES: Mapping[str, str] = {
    "joint": "joint:",
    "allocation_magma": "allocation and program order",
}


def _tracing(
    opts: SolverOptions,
    trace: list[tuple[float, float | None, float | None]],
    t0: float,
    prefix: str = "",
) -> SolverOptions:
    """``opts`` whose progress callback also records ``(seconds since t0, incumbent,
    bound)`` of every report of a stage starting with ``prefix`` that carries a value."""
    outer = opts.progress

    def record(stage: str, best: float | None = None, bound: float | None = None) -> None:
        if stage.startswith(prefix) and (best is not None or bound is not None):
            trace.append((time.perf_counter() - t0, best, bound))
        if outer is not None:
            outer(stage, best, bound)

    return replace(opts, progress=record)


def _pareto(ctx: Context, st: CompareSettings, opts: SolverOptions) -> dict[str, Any]:
    """Exact checkpointing front (every point proven optimal) vs NSGA-II fronts."""
    y_metric = "recompute" if st.objective == "latency" else "energy"
    t0 = time.perf_counter()
    front = exact_front(
        ctx.problem,
        _reference_allocation(ctx),
        st.objective,
        opts,
        max_points=st.pareto_points,
    )
    exact_secs = time.perf_counter() - t0
    exact = [
        [float(r.extra["peak_footprint_bits"]), metric_value(y_metric, r.schedule)] for r in front
    ]
    genome = CheckpointSpace(ctx.problem, ctx.reference.decision.allocation)
    ga_fronts = []
    for seed in st.seeds:
        r = run_search(
            genome,
            ("memory", y_metric),
            preset="monet",
            seed=seed,
            processes=st.processes,
            max_evals=st.budget_evals,
        )
        ga_fronts.append(
            {
                "seed": seed,
                "points": [list(v) for v, _ in r.front],
                "evaluations": r.evaluations,
                "seconds": r.seconds,
                "generations": r.generations,
            }
        )
    data: dict[str, Any] = {
        "space": "checkpointing",
        "x": {"name": "peak activation footprint", "unit": "bits"},
        "y": {
            "name": "recompute" if y_metric == "recompute" else "step energy",
            "unit": "cycles" if y_metric == "recompute" else "pJ",
        },
        "exact": exact,
        "exact_seconds": exact_secs,
        "exact_all_optimal": all(r.status == "optimal" for r in front),
        "ga_fronts": ga_fronts,
        "ga_preset": "monet",
        "reference": None,
    }
    data["summary"] = pareto_summary(data)
    data["reference"] = data["summary"].get("reference")
    return data


def compare(
    config: str | Path | Mapping[str, Any] | Config | Inputs,
    *,
    seeds: int = 5,
    budget_evals: int | None = None,
    budget_seconds: float | None = None,
    equal_time: bool = False,
    min_seconds: float = 2.0,
    spaces: Sequence[str] = SPACE_NAMES,
    pareto: bool = True,
    warm_start: bool = True,
    time_limit: float | None = None,
    progress: ProgressCallback | None = None,
) -> Comparison:
    """Exact (HiGHS MILP) vs GA (DEAP) on the decision spaces of a config.

    Parameters
    ----------
    config
        A config file, mapping, :class:`~monet_opt.config.Config` or
        :class:`~monet_opt.api.inputs.Inputs`.  The objective is the config's
        (``edp`` falls back to latency: the spaces support latency and energy).
    seeds
        GA seeds per space: ``ga.seed``, ``ga.seed + 1``, ...
    budget_evals, budget_seconds, equal_time, min_seconds
        GA budget per run (module docstring); default :data:`DEFAULT_EVALS`
        evaluations.
    spaces
        Subset of :data:`SPACE_NAMES`.
    pareto, warm_start
        Also compare the checkpointing fronts; re-solve each MILP from the GA's best.
    time_limit
        Seconds per exact solve (default ``solver.time_limit_s``).
    progress
        ``progress(stage, best, bound)``.

    Raises
    ------
    InputError
        On invalid input, an unknown space, or a configured footprint budget below the
        minimum feasible one.
    """
    inputs = config if isinstance(config, Inputs) else load(config)
    cfg = inputs.config
    objective = cfg.objective if cfg.objective in ("latency", "energy") else "latency"
    chosen = tuple(spaces)
    bad = [s for s in chosen if s not in SPACES]
    if bad or not chosen:
        raise InputError(
            None, "--spaces", f"unknown spaces {bad}; allowed: {', '.join(SPACE_NAMES)}"
        )
    if seeds < 1:
        raise InputError(None, "--seeds", f"invalid value {seeds}; allowed: an integer >= 1")
    budget_bits = None
    if cfg.checkpointing.mode == "optimal" and any(SPACES[s].uses_budget for s in chosen):
        from monet_opt.api.inputs import footprint_budget

        budget_bits = footprint_budget(inputs).bits
    settings = CompareSettings(
        objective=objective,
        seeds=tuple(cfg.ga.seed + k for k in range(seeds)),
        budget_evals=budget_evals,
        budget_seconds=budget_seconds,
        equal_time=equal_time,
        min_seconds=min_seconds,
        processes=cfg.ga.processes,
        options=solver_options(cfg, time_limit),
        budget_bits=budget_bits,
        max_stack=cfg.fusion.max_stack,
        spaces=chosen,
        pareto=pareto,
        warm_start=warm_start,
    )
    meta = {
        "config": str(cfg.source) if cfg.source is not None else None,
        "workload": inputs.graph.name,
        "accelerator": inputs.accelerator.name,
        "n_nodes": inputs.problem.n_nodes,
        "version": __version__,
    }
    return compare_problem(inputs.problem, settings, progress=progress, meta=meta)
