"""``pareto``: exact fronts of activation-footprint budget against recompute cost.

Sweeps ``points`` budgets evenly from the minimum feasible activation footprint (every
activation recomputed) to the store-all footprint and solves the exact checkpointing
MILP at each (:func:`monet_opt.formulations.checkpointing.checkpoint_front`, one HiGHS
model per objective), layer by layer, for the latency-optimal allocation or the greedy
one.  With ``checkpointing.levels: multi`` the budgets are in the multi-level accounting
(from the largest single step to the store-all peak) and each point is the least-work
multi-level schedule (:func:`monet_opt.formulations.remat_levels.multilevel_front`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monet_opt.api.inputs import Inputs, load
from monet_opt.api.solve import solver_options
from monet_opt.config import Config
from monet_opt.errors import InputError
from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.checkpointing import (
    checkpoint_front,
    min_feasible_budget,
    store_all_footprint,
)
from monet_opt.formulations.options import Deadline, ProgressCallback
from monet_opt.formulations.remat_levels import multilevel_front, multilevel_store_all_bits
from monet_opt.formulations.result import SolveResult
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.schedule.realize_remat import resident_bits, value_preds
from monet_opt.schedule.types import Decision

__all__ = ["ALLOCATIONS", "FRONT_OBJECTIVES", "ParetoRun", "pareto"]

#: Allocations the fronts can be computed for.
ALLOCATIONS = ("milp", "greedy")
#: ``pareto.objective`` values.
FRONT_OBJECTIVES = ("latency", "energy", "both")


@dataclass(frozen=True, eq=False)
class ParetoRun:
    """The exact checkpointing fronts of one config.

    Attributes
    ----------
    inputs
        The run's inputs.
    budgets_bits
        The swept budgets, bits (ascending).
    fronts
        Objective (``"latency"``: recompute cycles, ``"energy"``: step energy in pJ) ->
        one :class:`~monet_opt.formulations.result.SolveResult` per budget.
    allocation_mode
        ``"milp"`` (latency-optimal allocation) or ``"greedy"``.
    allocation
        The allocation result (``None`` for greedy).
    min_feasible_bits, store_all_bits
        Smallest feasible budget and store-all footprint, bits.
    seconds
        Wall time per objective and in total.
    """

    inputs: Inputs
    budgets_bits: tuple[float, ...]
    fronts: Mapping[str, tuple[SolveResult, ...]]
    allocation_mode: str
    allocation: SolveResult | None
    min_feasible_bits: float
    store_all_bits: float
    seconds: Mapping[str, float]

    @property
    def n_optimal(self) -> int:
        return sum(r.status == "optimal" for rs in self.fronts.values() for r in rs)

    @property
    def n_points(self) -> int:
        return sum(len(rs) for rs in self.fronts.values())


def pareto(
    config: str | Path | Mapping[str, Any] | Config | Inputs,
    *,
    points: int | None = None,
    objective: str | None = None,
    allocation: str = "milp",
    time_limit: float | None = None,
    progress: ProgressCallback | None = None,
) -> ParetoRun:
    """Compute the exact checkpointing fronts of a config.

    Parameters
    ----------
    config
        A config file, mapping, :class:`~monet_opt.config.Config` or
        :class:`~monet_opt.api.inputs.Inputs`.
    points
        Budgets per front (default ``pareto.points``).
    objective
        ``"latency"``, ``"energy"`` or ``"both"`` (default ``pareto.objective``).
    allocation
        ``"milp"`` or ``"greedy"`` (see :data:`ALLOCATIONS`).
    time_limit
        Seconds for the whole run (default ``solver.time_limit_s``).
    progress
        ``progress(stage, best, bound)``.

    Raises
    ------
    InputError
        On invalid input, or a workload with no checkpoint candidate.
    """
    inputs = config if isinstance(config, Inputs) else load(config)
    cfg = inputs.config
    problem = inputs.problem
    if allocation not in ALLOCATIONS:
        raise InputError(
            None, "--allocation", f"invalid value {allocation!r}; allowed: milp, greedy"
        )
    which = objective or cfg.pareto.objective
    if which not in FRONT_OBJECTIVES:
        raise InputError(
            None, "--objective", f"invalid value {which!r}; allowed: latency, energy, both"
        )
    n_points = points if points is not None else cfg.pareto.points
    if not problem.checkpoint_tensors:
        raise InputError(cfg.source, "workload", "no forward activation is read by the backward")
    objectives = ["latency", "energy"] if which == "both" else [which]
    deadline = Deadline(time_limit if time_limit is not None else cfg.solver.time_limit_s)
    t_all = time.perf_counter()
    alloc_res = None
    if allocation == "milp":
        opts = solver_options(cfg, deadline.share(len(objectives) + 1), progress)
        opts.report("allocation MILP (latency)")
        alloc_res = solve_allocation(problem, None, "latency", opts)
        alloc = alloc_res.decision.allocation
    else:
        alloc = greedy_decision(problem).allocation
    multi = cfg.checkpointing.levels == "multi"
    if multi:  # the multi-level accounting: from the largest single step to store-all
        rb, vp = resident_bits(problem), value_preds(problem)
        fmin = max(float(rb[i] + sum(rb[p] for p in vp[i])) for i in range(problem.n_nodes))
        fall = multilevel_store_all_bits(problem)
    else:
        fmin = min_feasible_budget(problem)
        fall = store_all_footprint(problem)
    budgets = tuple(float(b) for b in np.linspace(fmin, fall, n_points))
    fronts: dict[str, tuple[SolveResult, ...]] = {}
    seconds: dict[str, float] = {}
    for k, obj in enumerate(objectives):
        t0 = time.perf_counter()
        opts = solver_options(cfg, deadline.share(len(objectives) - k), progress)
        opts.report(f"checkpointing front ({obj}, {n_points} budgets)")
        front = multilevel_front if multi else checkpoint_front
        fronts[obj] = tuple(front(problem, budgets, Decision(alloc), obj, opts))
        seconds[obj] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_all
    return ParetoRun(
        inputs=inputs,
        budgets_bits=budgets,
        fronts=fronts,
        allocation_mode=allocation,
        allocation=alloc_res,
        min_feasible_bits=fmin,
        store_all_bits=fall,
        seconds=seconds,
    )
