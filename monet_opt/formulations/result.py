"""The one result type of every formulation: decoded, re-simulated, bounded.

Every ``solve_*`` function of :mod:`monet_opt.formulations` follows one contract::

    solve_x(problem, fixed, objective, options, warm_start, **formulation_parameters)
        -> SolveResult

* ``problem``: the base :class:`~monet_opt.schedule.problem.Problem` (layer by layer,
  store-all);
* ``fixed``: a :class:`~monet_opt.schedule.types.Decision` holding the parts of the
  decision the formulation does not choose (each formulation documents which fields it
  reads; ``None`` means defaults: greedy allocation, default program order, layer by
  layer, store-all);
* ``objective``: what is minimized;
* ``options``: one :class:`~monet_opt.formulations.options.SolverOptions`;
* ``warm_start``: an optional complete :class:`Decision` handed to HiGHS as incumbent.

The answer is always a decision of the *base* problem (a formulation built on a derived
problem maps its answer back with :meth:`monet_opt.schedule.realize.Realization.invert`),
re-simulated by the evaluator (:func:`monet_opt.schedule.evaluator.evaluate`), and
reported with the MILP objective, the simulated value, the best valid lower bound and
the gap, built by :meth:`SolveResult.build`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monet_opt.formulations.bounds import lower_bounds
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.types import Decision, Schedule

__all__ = ["SolveResult", "STATUSES", "metric_value", "relative_gap"]

#: Statuses of a :class:`SolveResult`.
STATUSES = ("optimal", "feasible", "infeasible", "no_solution")


def metric_value(metric: str, schedule: Schedule) -> float:
    """Value of a metric of a re-simulated schedule.

    ``latency`` (makespan, cycles), ``energy`` (pJ), ``edp`` (pJ·cycles), ``recompute``
    (serial cycles of the recompute copies) or ``recompute_energy`` (pJ).
    """
    if metric == "latency":
        return float(schedule.latency)
    if metric == "energy":
        return float(schedule.energy.total)
    if metric == "edp":
        return float(schedule.edp)
    if metric == "recompute":
        return float(schedule.stats.get("recompute_cycles", 0.0))
    if metric == "recompute_energy":
        return float(schedule.stats.get("recompute_energy_pj", 0.0))
    raise ValueError(
        f"unknown metric {metric!r}; allowed: latency, energy, edp, recompute, recompute_energy"
    )


def relative_gap(value: float, bound: float, abs_tol: float = 1e-6) -> float:
    """MIP gap ``(value - bound) / |value|``, clipped at 0; 0 when the two differ by at
    most ``abs_tol`` (HiGHS' ``mip_abs_gap``), ``inf`` when undefined."""
    if not (math.isfinite(value) and math.isfinite(bound)):
        return math.inf
    if value - bound <= abs_tol:
        return 0.0
    if value == 0:
        return math.inf
    return max(0.0, (value - bound) / abs(value))


@dataclass(frozen=True)
class SolveResult:
    """Outcome of an exact solve, decoded into base-problem terms and re-simulated.

    Attributes
    ----------
    formulation
        ``"allocation"``, ``"fusion"``, ``"checkpointing"``, ``"joint"``, ...
    objective_name
        What was minimized: ``latency`` (cycles), ``energy`` (pJ), ``edp`` (pJ·cycles),
        ``recompute`` (serial recompute cycles), ``mix`` (normalized weighted sum).
    decision
        The answer, in the base problem's terms.
    schedule
        The evaluator's schedule of ``decision``.
    status
        ``optimal`` (gap ≤ the requested MIP gap over :attr:`scope`), ``feasible``
        (an answer with a larger gap, e.g. at the time limit), ``infeasible`` (proven:
        no decision meets the constraints) or ``no_solution`` (no answer found in time).
    objective
        The MILP objective value of the answer (``inf`` without an answer).
    simulated
        The same quantity re-computed by the evaluator from :attr:`schedule`.
    bound
        The best valid lower bound: the max of the MILP dual bound and every other
        valid bound the formulation knows (critical path, DRAM port, work).
    gap
        ``(simulated - bound) / simulated``.
    scope
        The decision space the bound and status refer to (e.g. "core allocation for
        the fixed program order π").
    lower_bounds
        Makespan lower bounds of the problem (cycles): ``critical_path``,
        ``dram_port``, ``work``, ``max``.
    n_vars, n_cons, n_binaries
        MILP size (summed over the MILPs of the call).
    build_seconds, solve_seconds
        Model build and HiGHS time, seconds.
    solver_status
        HiGHS' own model status of the last solve (``time_limit``, ...).
    extra
        Formulation-specific details (stacks, kept/recomputed tensors, budgets...).
    method
        ``"milp"`` (one model), ``"milp-iterated"`` (exact blocks) ...
    """

    formulation: str
    objective_name: str
    decision: Decision
    schedule: Schedule
    status: str
    objective: float
    simulated: float
    bound: float
    gap: float
    scope: str
    lower_bounds: Mapping[str, float]
    n_vars: int
    n_cons: int
    n_binaries: int
    build_seconds: float
    solve_seconds: float
    solver_status: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    method: str = "milp"

    @classmethod
    def build(
        cls,
        problem: Problem,
        *,
        formulation: str,
        objective_name: str,
        decision: Decision,
        simulated_of: Callable[[Schedule], float] | str,
        milp_objective: float | None,
        milp_bound: float | None,
        solver_status: str,
        mip_gap: float,
        scope: str,
        n_vars: int = 0,
        n_cons: int = 0,
        n_binaries: int = 0,
        build_seconds: float = 0.0,
        solve_seconds: float = 0.0,
        extra_bounds: Mapping[str, float] | None = None,
        infeasible: bool = False,
        schedule: Schedule | None = None,
        extra: Mapping[str, Any] | None = None,
        method: str = "milp",
        models_capacity: bool = False,
    ) -> SolveResult:
        """The one constructor: re-simulate, combine bounds, compute gap and status.

        Parameters
        ----------
        problem
            The base problem ``decision`` refers to.
        formulation, objective_name, scope, method
            See the attributes.
        decision
            The decoded answer (or the best known decision when the solve failed).
        simulated_of
            A metric name for :func:`metric_value` or a function of the schedule: the
            evaluator's value of the objective.
        milp_objective, milp_bound
            HiGHS' objective and dual bound (``None`` when there is none).
        solver_status
            HiGHS' model status.
        mip_gap
            The requested relative gap: ``optimal`` means gap ≤ it (+1e-9).
        extra_bounds
            Other valid lower bounds of the same objective over :attr:`scope`; the
            reported bound is the max of all.
        infeasible
            The constraints are proven infeasible (the decision is then only the
            reference the caller reports, ``simulated`` is ``inf``).
        schedule
            The evaluator's schedule of ``decision`` if the caller has it already.
        models_capacity
            The MILP models the capacity semantics of :mod:`monet_opt.schedule.memory`.
            When the problem uses them and the MILP does not, its answer is only a
            candidate: its dual bound is dropped (it bounds another model), the bound
            is the valid global bounds alone and the scope says so.

        Returns
        -------
        SolveResult
        """
        sched = schedule if schedule is not None else evaluate(problem, decision)
        lbs = lower_bounds(problem)
        if problem.memory == "capacity" and not models_capacity:
            milp_bound = None
            scope += (
                " (the MILP does not model memory capacities yet: its answer is a candidate "
                "re-simulated with them, bounded by the global bounds only)"
            )
        fn = (
            (lambda s: metric_value(simulated_of, s))
            if isinstance(simulated_of, str)
            else simulated_of
        )
        bounds = [b for b in (extra_bounds or {}).values() if b is not None and math.isfinite(b)]
        if milp_bound is not None and math.isfinite(milp_bound):
            bounds.append(float(milp_bound))
        if infeasible:
            return cls(
                formulation, objective_name, decision, sched, "infeasible", math.inf,
                math.inf, math.inf, math.inf, scope, lbs, n_vars, n_cons, n_binaries,
                build_seconds, solve_seconds, solver_status, dict(extra or {}), method,
            )  # fmt: skip
        simulated = float(fn(sched))
        bound = max(bounds) if bounds else -math.inf
        has_answer = milp_objective is not None and math.isfinite(milp_objective)
        obj = float(milp_objective) if has_answer else simulated
        gap = relative_gap(simulated, bound)
        if not has_answer and solver_status not in ("optimal",):
            status = "no_solution" if not math.isfinite(simulated) else "feasible"
        else:
            status = "optimal" if gap <= mip_gap + 1e-9 else "feasible"
        return cls(
            formulation, objective_name, decision, sched, status, obj, simulated, bound,
            gap, scope, lbs, n_vars, n_cons, n_binaries, build_seconds, solve_seconds,
            solver_status, dict(extra or {}), method,
        )  # fmt: skip

    @property
    def proven_optimal(self) -> bool:
        return self.status == "optimal"

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly summary (no schedule; a joint result's ``parts`` and ``history``
        are left out: :func:`monet_opt.report.result_json.joint_dict` reports them)."""
        return {
            "formulation": self.formulation,
            "method": self.method,
            "objective_name": self.objective_name,
            "status": self.status,
            "solver_status": self.solver_status,
            "scope": self.scope,
            "objective": self.objective,
            "simulated": self.simulated,
            "bound": self.bound,
            "gap": self.gap,
            "lower_bounds": dict(self.lower_bounds),
            "n_vars": self.n_vars,
            "n_cons": self.n_cons,
            "n_binaries": self.n_binaries,
            "build_seconds": self.build_seconds,
            "solve_seconds": self.solve_seconds,
            "allocation": list(self.decision.allocation),
            **{k: v for k, v in self.extra.items() if k not in ("parts", "history")},
        }
