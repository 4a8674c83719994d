"""Exact vs GA: the MILPs and the DEAP GAs on the same decision spaces, one evaluator.

For every decision space (:data:`SPACES`) :func:`compare` solves the exact formulation
with HiGHS and runs the GA of :mod:`monet_opt.ga` with several seeds under the same
budget, scores every answer with :func:`~monet_opt.schedule.evaluator.evaluate`, and
reports the GA's gap to the MILP optimum and to the MILP bound, the GA's best over time
and evaluations, and (optionally) the MILP re-solved warm-started from the best GA
answer.  A Pareto comparison pits the exact ε-constraint front of checkpointing
(activation footprint vs recompute cycles or energy) against NSGA-II fronts (MONET's
preset) with the hypervolume ratio.

=====================  ==============================  ====================================
space                  GA genome                       exact counterpart (scope)
=====================  ==============================  ====================================
``allocation``         core per layer (Stream)         allocation MILP (same space ⊂ MILP)
``allocation_magma``   core + priority key per node    allocation MILP for the default π;
                       (MAGMA)                         the GA also reorders π, so only the
                                                       order-free lower bound holds for it
``fusion``             cut bit per π position          fusion MILP (same space)
``checkpointing``      drop bit per activation         checkpointing MILP under the budget
``joint``              layer cores + cuts + drops      iterated exact blocks; global bound
=====================  ==============================  ====================================

The fusion and checkpointing spaces use the allocation MILP's allocation (both methods
get the same one).  Gaps: ``gap_to_milp = (ga - milp) / milp`` (negative when the GA
beats a non-proven or narrower-scope MILP answer) and ``gap_to_bound = (ga - bound) /
ga``.  "Equal wall time": the GA's best-so-far at the MILP's wall time, read from its
history.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from monet_opt.formulations.allocation import SolveResult, solve_allocation
from monet_opt.formulations.bounds import lower_bounds
from monet_opt.formulations.checkpointing import (
    exact_front,
    min_feasible_budget,
    solve_checkpointing,
    store_all_footprint,
)
from monet_opt.formulations.fusion import solve_fusion
from monet_opt.formulations.joint import solve_joint
from monet_opt.ga.engine import SearchResult, run_search
from monet_opt.ga.spaces import (
    AllocationSpace,
    CheckpointSpace,
    FusionSpace,
    JointSpace,
    Space,
)
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.types import Decision, Schedule

__all__ = [
    "SPACES",
    "CompareSettings",
    "SpaceComparison",
    "Comparison",
    "compare",
    "relative_gap",
    "best_at",
]

SPACES: tuple[str, ...] = ("allocation", "allocation_magma", "fusion", "checkpointing", "joint")

TITLES = {
    "allocation": "Core allocation, Stream-style genome (a core per layer)",
    "allocation_magma": "Core allocation + program order, MAGMA-style genome",
    "fusion": "Layer fusion (cut bit per program-order position)",
    "checkpointing": "Activation checkpointing (MONET bit vector) under the budget",
    "joint": "Joint: allocation + fusion + checkpointing",
}

#: ``progress(message)`` called as the comparison advances.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class CompareSettings:
    """What :func:`compare` runs.

    Parameters
    ----------
    objective
        ``"latency"`` (makespan, cycles) or ``"energy"`` (pJ).  The checkpointing space
        uses the checkpointing MILP's objectives: serial recompute cycles (latency) or
        step energy.
    seeds
        GA seeds (≥ 1; report statistics over them).
    budget_evals, budget_seconds
        GA budget per run in distinct evaluations and seconds.  Both ``None``: equal
        wall time, ``max(MILP wall time of the space, min_seconds)``.
    min_seconds
        Floor of the equal-wall-time budget (a 0.05 s MILP would leave the GA one
        population).
    processes
        GA fitness worker processes.
    time_limit, mip_gap, threads
        HiGHS settings per MILP solve.
    budget_bits
        Activation-footprint budget of the checkpointing and joint spaces (``None``:
        ``budget_fraction`` of the store-all footprint, raised to the minimum feasible).
    max_stack
        Longest fused stack (both methods).
    spaces
        Subset of :data:`SPACES`, in display order.
    pareto
        Also compare the checkpointing fronts (exact ε-constraint vs NSGA-II).
    pareto_points
        Cap on the exact front's points.
    warm_start
        Re-solve each MILP warm-started from the best GA answer.
    """

    objective: str = "latency"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    budget_evals: int | None = None
    budget_seconds: float | None = None
    min_seconds: float = 2.0
    processes: int = 1
    time_limit: float = 60.0
    mip_gap: float = 1e-4
    threads: int | None = None
    budget_bits: float | None = None
    budget_fraction: float = 0.5
    max_stack: int = 8
    spaces: tuple[str, ...] = SPACES
    pareto: bool = True
    pareto_points: int = 60
    warm_start: bool = True

    def __post_init__(self) -> None:
        if self.objective not in ("latency", "energy"):
            raise ValueError(f"objective must be 'latency' or 'energy', got {self.objective!r}")
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        bad = [s for s in self.spaces if s not in SPACES]
        if bad:
            raise ValueError(f"unknown spaces {bad}; allowed: {', '.join(SPACES)}")
        if self.budget_evals is not None and self.budget_evals < 1:
            raise ValueError(f"budget_evals must be >= 1, got {self.budget_evals}")
        if self.budget_seconds is not None and self.budget_seconds <= 0:
            raise ValueError(f"budget_seconds must be > 0, got {self.budget_seconds}")


@dataclass(frozen=True)
class SpaceComparison:
    """MILP and GA results on one decision space (all values re-simulated).

    ``milp`` is the exact solve (``milp_seconds`` its wall time incl. build),
    ``runs`` one :class:`SearchResult` per seed, ``warm`` the warm-started re-solve.
    """

    space: str
    metric: str
    unit: str
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
            "gap": _num(relative_gap_bound(self.milp_value, self.bound)),
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
                    "gap_to_milp": _num(relative_gap(best, self.milp_value)),
                    "history": [[int(e), float(s), _num(b)] for e, s, b in r.history],
                    "decision": _decision_summary(r.decision),
                }
            )
        return {
            "space": self.space,
            "title": TITLES[self.space],
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
                gap_to_bound_median=_num(relative_gap_bound(float(np.median(bests)), self.bound)),
            )
        out["at_milp_time_median"] = _num(float(np.median(eq_arr))) if len(eq_arr) else None
        out["at_milp_time_runs"] = int(len(eq_arr))
        out["gap_to_milp_at_milp_time_median"] = (
            _num(relative_gap(float(np.median(eq_arr)), self.milp_value)) if len(eq_arr) else None
        )
        return out


@dataclass(frozen=True)
class Comparison:
    """Everything :func:`compare` measured; :meth:`as_dict` is ``compare.json``."""

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
                "evals": st.budget_evals,
                "seconds": st.budget_seconds,
                "equal_wall_time": st.budget_evals is None and st.budget_seconds is None,
                "min_seconds": st.min_seconds,
            },
            "seeds": list(st.seeds),
            "processes": st.processes,
            "footprint_budget_bits": self.budget_bits,
            "store_all_footprint_bits": self.store_all_bits,
            "spaces": [s.as_dict() for s in self.spaces],
            "pareto": self.pareto,
            "wall_seconds": self.wall_seconds,
        }


# -- helpers ------------------------------------------------------------------------------
def relative_gap(value: float, reference: float) -> float:
    """``(value - reference) / |reference|`` (``inf`` when undefined)."""
    if not (math.isfinite(value) and math.isfinite(reference)) or reference == 0:
        return 0.0 if value == reference and math.isfinite(value) else math.inf
    return (value - reference) / abs(reference)


def relative_gap_bound(value: float, bound: float) -> float:
    """MIP-style gap ``(value - bound) / |value|`` (``inf`` when undefined)."""
    if not (math.isfinite(value) and math.isfinite(bound)) or value == 0:
        return 0.0 if value == bound and math.isfinite(value) else math.inf
    return max(0.0, (value - bound) / abs(value))


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


def _value(metric: str, sched: Schedule) -> float:
    if metric == "latency":
        return float(sched.latency)
    if metric == "energy":
        return float(sched.energy.total)
    return float(sched.stats.get("recompute_cycles", 0.0))


# -- the comparison -----------------------------------------------------------------------
def compare(
    problem: Problem,
    settings: CompareSettings = CompareSettings(),
    *,
    progress: Progress | None = None,
    meta: dict[str, Any] | None = None,
) -> Comparison:
    """Run the MILPs and the GAs on every space of ``settings`` (module docstring).

    Raises
    ------
    ValueError
        When the footprint budget is below the minimum feasible footprint.
    """
    say = progress or (lambda _m: None)
    t_start = time.perf_counter()
    st = settings
    store_all = store_all_footprint(problem)
    fmin = min_feasible_budget(problem)
    budget = st.budget_bits if st.budget_bits is not None else st.budget_fraction * store_all
    if budget < fmin * (1 - 1e-12):
        raise ValueError(
            f"footprint budget {budget / 8 / 2**20:.4g} MiB is below the minimum feasible "
            f"{fmin / 8 / 2**20:.4g} MiB (store-all {store_all / 8 / 2**20:.4g} MiB)"
        )
    kw = {"time_limit": st.time_limit, "threads": st.threads}
    obj = st.objective

    say("allocation MILP")
    t0 = time.perf_counter()
    alloc_res = solve_allocation(problem, obj, mip_gap=st.mip_gap, **kw)
    alloc_secs = time.perf_counter() - t0
    alloc_ref = alloc_res.decision.allocation
    out: list[SpaceComparison] = []

    for name in st.spaces:
        if name in ("allocation", "allocation_magma"):
            style = "layer" if name == "allocation" else "magma"
            space: Space = AllocationSpace(problem, style)
            metric, milp, secs = obj, alloc_res, alloc_secs
            proven = alloc_res.status == "optimal"
            bound, scope = alloc_res.bound, None
            if style == "magma" and obj == "latency":
                bound = lower_bounds(problem)["max"]
                proven = False
                scope = (
                    "the MILP fixes the program order π; the MAGMA genome also reorders π, "
                    "so the MILP value is a reference and the bound is the order-free "
                    "lower bound (critical path / DRAM port / work)"
                )
            budget_ga = None
        elif name == "fusion":
            space = FusionSpace(problem, alloc_ref, max_stack=st.max_stack)
            metric, budget_ga = obj, None
            say("fusion MILP")
            t0 = time.perf_counter()
            milp = solve_fusion(
                problem,
                allocation=alloc_ref,
                objective=obj,
                max_stack=st.max_stack,
                mip_gap=st.mip_gap,
                **kw,
            )
            secs = time.perf_counter() - t0
            proven, bound, scope = milp.status == "optimal", milp.bound, None
        elif name == "checkpointing":
            space = CheckpointSpace(problem, alloc_ref)
            metric = "recompute" if obj == "latency" else "energy"
            budget_ga = budget
            say("checkpointing MILP")
            t0 = time.perf_counter()
            milp = solve_checkpointing(
                problem, budget_bits=budget, objective=obj, allocation=alloc_ref, **kw
            )
            secs = time.perf_counter() - t0
            proven, bound, scope = milp.status == "optimal", milp.bound, None
        else:
            space = JointSpace(problem, max_stack=st.max_stack)
            metric, budget_ga = obj, budget
            say("joint MILP (iterated exact blocks)")
            t0 = time.perf_counter()
            jr = solve_joint(
                problem,
                objective=obj,
                fusion="optimal",
                max_stack=st.max_stack,
                checkpointing="optimal",
                budget_bits=budget,
                mip_gap=st.mip_gap,
                **kw,
            )
            secs = time.perf_counter() - t0
            milp = jr.final
            proven, bound = False, jr.final.bound
            scope = (
                "allocation, checkpointing and fusion MILPs iterated (each block exact); "
                "the bound is the global bound over all three decisions"
            )
        unit = "pJ" if metric == "energy" else "cycles"
        preset = "stream" if name == "allocation" else "default"
        seconds = st.budget_seconds
        if st.budget_evals is None and seconds is None:
            seconds = max(secs, st.min_seconds)
        runs = []
        for seed in st.seeds:
            say(f"GA {name} seed {seed}")
            runs.append(
                run_search(
                    space,
                    (metric,),
                    preset=preset,
                    seed=seed,
                    processes=st.processes,
                    max_evals=st.budget_evals,
                    time_limit=seconds,
                    budget_bits=budget_ga,
                )
            )
        sc = SpaceComparison(
            space=name,
            metric=metric,
            unit=unit,
            milp=milp,
            milp_seconds=secs,
            proven_optimal=proven,
            bound=float(bound),
            scope=scope,
            runs=tuple(runs),
            ga_schedule=None,
            ga_preset=preset,
        )
        best = sc.best_run()
        sc = replace(sc, ga_schedule=evaluate(problem, best.decision))
        if st.warm_start and best.feasible and name != "joint":
            say(f"{name} MILP warm-started from the best GA answer")
            sc = _warm(problem, sc, best.decision, alloc_ref, budget, st)
        out.append(sc)

    pareto = None
    if st.pareto:
        say("checkpointing fronts: exact ε-constraint and NSGA-II")
        pareto = _pareto(problem, alloc_ref, st)
    return Comparison(
        settings=st,
        spaces=tuple(out),
        pareto=pareto,
        budget_bits=budget,
        store_all_bits=store_all,
        wall_seconds=time.perf_counter() - t_start,
        meta=dict(meta or {}),
    )


def _warm(
    problem: Problem,
    sc: SpaceComparison,
    ga: Decision,
    alloc_ref: tuple[int, ...],
    budget: float,
    st: CompareSettings,
) -> SpaceComparison:
    """Re-solve the space's MILP with the best GA decision as HiGHS start."""
    kw = {"time_limit": st.time_limit, "threads": st.threads}
    t0 = time.perf_counter()
    if sc.space in ("allocation", "allocation_magma"):
        res = solve_allocation(
            problem, st.objective, mip_gap=st.mip_gap, warm_start=Decision(ga.allocation), **kw
        )
    elif sc.space == "fusion":
        res = solve_fusion(
            problem,
            allocation=alloc_ref,
            objective=st.objective,
            max_stack=st.max_stack,
            mip_gap=st.mip_gap,
            warm_start=ga.stacks,
            **kw,
        )
    else:
        res = solve_checkpointing(
            problem,
            budget_bits=budget,
            objective=st.objective,
            allocation=alloc_ref,
            warm_start=ga.checkpoints,
            **kw,
        )
    return replace(sc, warm=res, warm_seconds=time.perf_counter() - t0)


def _pareto(problem: Problem, alloc_ref: tuple[int, ...], st: CompareSettings) -> dict[str, Any]:
    """Exact checkpointing front (every point proven optimal) vs NSGA-II fronts."""
    y_metric = "recompute" if st.objective == "latency" else "energy"
    t0 = time.perf_counter()
    front = exact_front(
        problem,
        objective=st.objective,
        allocation=alloc_ref,
        max_points=st.pareto_points,
        time_limit=st.time_limit,
    )
    exact_secs = time.perf_counter() - t0
    exact = [
        [float(r.extra["peak_footprint_bits"]), float(_value(y_metric, r.schedule))] for r in front
    ]
    space = CheckpointSpace(problem, alloc_ref)
    ga_fronts = []
    for seed in st.seeds:
        r = run_search(
            space,
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
    from monet_opt.report.compare import pareto_summary  # matplotlib: import when needed

    data["summary"] = pareto_summary(data)
    data["reference"] = data["summary"].get("reference")
    return data
