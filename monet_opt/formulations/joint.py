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
   (:mod:`monet_opt.formulations.fusion`, exact makespan or energy);
4. allocation MILP on the realized problem of the chosen stacks and checkpoints
   (pipelined edges and recompute copies tied to their originals' cores);

repeating 2–4 while the simulated objective improves.  Every step is decoded and
re-simulated; a step is accepted only if the full decision's simulated objective does
not get worse and its stacks still fit on chip.

Global bound (valid for every allocation, stack set and checkpoint set):

* latency: ``max(work, dram_port_min)`` where *work* is the core-work bound of the base
  problem (fusion does not change work, recomputation only adds) and *dram_port_min*
  the DRAM cycles of traffic no decision removes (weights, optimizer state, network
  inputs and graph outputs);
* energy: Σ over nodes of the cheapest core's energy plus the energy of that
  unavoidable DRAM traffic.

``mode`` in the result is ``"iterated"``; ``bound`` and ``gap`` refer to the global
bound, and each block's own MILP gap is in ``parts``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from monet_opt.formulations.allocation import SolveResult, solve_allocation
from monet_opt.formulations.bounds import lower_bounds
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
from monet_opt.heuristics.stacks import greedy_stacks
from monet_opt.models.ir import TensorRole
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.realize import realize, stack_overflow
from monet_opt.schedule.types import Decision

__all__ = ["JointResult", "solve_joint", "global_bound"]

FUSION_MODES = ("none", "greedy", "fixed", "optimal")
CHECKPOINT_MODES = ("store-all", "optimal")


@dataclass(frozen=True)
class JointResult:
    """Outcome of :func:`solve_joint`.

    ``final`` is the decision with its re-simulated schedule; ``objective`` and
    ``simulated`` there are the evaluator's value, ``bound``/``gap`` the global bound.
    ``parts`` holds the last exact solve of each block, ``baselines`` the fusion
    baselines evaluated with the final allocation and checkpoints.
    """

    final: SolveResult
    parts: dict[str, SolveResult]
    mode: str
    iterations: int
    history: list[dict[str, object]]
    baselines: dict[str, dict[str, object]] = field(default_factory=dict)
    budget_bits: float | None = None

    def as_dict(self) -> dict[str, object]:
        f = self.final
        sch = f.schedule
        dec = f.decision
        peak = float(sch.stats.get("peak_footprint_bits", 0.0))
        out: dict[str, object] = {
            "mode": self.mode,
            "iterations": self.iterations,
            "objective_name": f.objective_name,
            "status": f.status,
            "objective": f.objective,
            "simulated": f.simulated,
            "bound": f.bound,
            "gap": f.gap,
            "stacks": f.extra.get("stacks", []),
            "checkpoints_kept": sorted(dec.checkpoints) if dec.checkpoints is not None else "all",
            "checkpoints_recomputed": f.extra.get("recomputed", []),
            "peak_footprint_bits": peak,
            "peak_footprint_mib": peak / 8 / 2**20,
            "budget_bits": self.budget_bits,
            "budget_mib": None if self.budget_bits is None else self.budget_bits / 8 / 2**20,
            "within_budget": None if self.budget_bits is None else peak <= self.budget_bits + 1e-6,
            "recompute_cycles": float(sch.stats.get("recompute_cycles", 0.0)),
            "latency_cycles": sch.latency,
            "energy_pj": sch.energy.total,
            "parts": {k: _part_dict(v) for k, v in self.parts.items()},
            "baselines": self.baselines,
            "history": self.history,
            "min_feasible_budget_bits": f.extra.get("min_feasible_budget_bits"),
            "store_all_footprint_bits": f.extra.get("store_all_footprint_bits"),
        }
        return out


def _part_dict(r: SolveResult) -> dict[str, object]:
    d = r.as_dict()
    keep = ("kept", "recomputed", "stacks", "peak_footprint_bits", "budget_bits", "n_binaries")
    for k in keep:
        if k in r.extra:
            d[k] = r.extra[k]
    return d


def global_bound(problem: Problem, objective: str) -> float:
    """Lower bound valid for every allocation, stack set and checkpoint set (module doc)."""
    g = problem.graph
    c = problem.costs
    unavoid_r = 0.0
    for i in range(problem.n_nodes):
        edge_t = {e.tensor for e in problem.edges if e.dst == i}
        unavoid_r += sum(g.tensors[t].bits for t in problem.dram_read_tensors[i] if t not in edge_t)
    unavoid_w = 0.0
    consumed = {(e.src, e.tensor) for e in problem.edges}
    for i in range(problem.n_nodes):
        for t in problem.dram_write_tensors[i]:
            role = g.tensors[t].role
            if role in (TensorRole.WEIGHT, TensorRole.OPTIMIZER_STATE) or (i, t) not in consumed:
                unavoid_w += g.tensors[t].bits
    if objective == "latency":
        lbs = lower_bounds(problem)
        port = (unavoid_r + unavoid_w) * c.dram_cycles_per_bit
        return float(max(lbs["work"], port))
    emin = np.where(np.isfinite(c.energy), c.energy, np.inf).min(axis=1).sum()
    return float(emin + unavoid_r * c.dram_read_pj_per_bit + unavoid_w * c.dram_write_pj_per_bit)


def _value(objective: str, sched) -> float:  # noqa: ANN001
    return sched.latency if objective == "latency" else sched.energy.total


def solve_joint(
    problem: Problem,
    *,
    objective: str = "latency",
    fusion: str = "none",
    fixed_stacks: Sequence[Sequence[str]] | None = None,
    max_stack: int = 8,
    checkpointing: str = "store-all",
    budget_bits: float | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    max_iterations: int = 3,
) -> JointResult:
    """Optimize allocation, fusion and checkpointing (module docstring).

    Parameters
    ----------
    objective
        ``"latency"`` (makespan, cycles) or ``"energy"`` (pJ).
    fusion
        ``"none"`` (layer by layer), ``"greedy"`` (cut when weights overflow),
        ``"fixed"`` (``fixed_stacks``, node names) or ``"optimal"`` (fusion MILP).
    checkpointing
        ``"store-all"`` or ``"optimal"`` (checkpointing MILP under ``budget_bits``).
    budget_bits
        Activation footprint budget in bits (required for optimal checkpointing).
    time_limit
        Seconds per MILP solve.

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
    fixed_idx = stacks_from_names(problem, fixed_stacks) if fusion == "fixed" else ()
    kw = {"time_limit": time_limit, "threads": threads}
    t0 = time.perf_counter()
    history: list[dict[str, object]] = []
    parts: dict[str, SolveResult] = {}

    ar = solve_allocation(problem, objective, mip_gap=mip_gap, **kw)
    parts["allocation"] = ar
    alloc = ar.decision.allocation
    history.append(_step("allocation", ar, time.perf_counter() - t0))
    stacks: tuple[tuple[int, ...], ...] = ()
    kept: frozenset[str] | None = None
    # store-all may break the budget: the first complete decision is always accepted
    best_dec = Decision(alloc)
    best_val = _value(objective, ar.schedule) if checkpointing == "store-all" else math.inf
    info = {
        "min_feasible_budget_bits": min_feasible_budget(problem),
        "store_all_footprint_bits": store_all_footprint(problem),
    }
    iterations = 0
    for it in range(max_iterations):
        iterations = it + 1
        if checkpointing == "optimal":
            ck = solve_checkpointing(
                problem,
                budget_bits=budget_bits,
                objective=objective,
                allocation=alloc,
                stacks=stacks,
                mip_gap=min(mip_gap, 1e-6),
                **kw,
            )
            parts["checkpointing"] = ck
            history.append(_step("checkpointing", ck, time.perf_counter() - t0))
            if ck.status == "infeasible":
                return _infeasible(problem, ck, parts, history, budget_bits, info, objective)
            kept = ck.decision.checkpoints
        if fusion == "optimal":
            fu = solve_fusion(
                problem,
                allocation=alloc,
                checkpoints=kept,
                objective=objective,
                max_stack=max_stack,
                mip_gap=mip_gap,
                **kw,
            )
            parts["fusion"] = fu
            history.append(_step("fusion", fu, time.perf_counter() - t0))
            stacks = fu.decision.stacks
        elif fusion == "greedy":
            stacks = greedy_stacks(problem, alloc, max_stack=max_stack)
        elif fusion == "fixed":
            stacks = fixed_idx
        dec = Decision(alloc, None, stacks, kept)
        val = _value(objective, evaluate(problem, dec))
        if val <= best_val * (1 + 1e-12):
            best_dec, best_val = dec, val
        # re-allocate for the realized stacks and checkpoints
        real = realize(problem, dec)
        if real.problem is problem or (not stacks and kept is None):
            break
        ar2 = solve_allocation(
            real.problem,
            objective,
            mip_gap=mip_gap,
            warm_start=Decision(real.expand(alloc)),
            **kw,
        )
        history.append(_step("allocation", ar2, time.perf_counter() - t0))
        new = list(alloc)
        for d, o in enumerate(real.origin):
            if real.recompute_for[d] is None:
                new[o] = int(ar2.decision.allocation[d])
        new_alloc = tuple(new)
        if fusion in ("fixed", "none") or not stack_overflow(problem, stacks, new_alloc):
            dec2 = Decision(new_alloc, None, stacks, kept)
            val2 = _value(objective, evaluate(problem, dec2))
            if val2 < best_val * (1 - 1e-9):
                parts["allocation"] = ar2
                best_dec, best_val = dec2, val2
                if new_alloc == alloc:
                    break
                alloc = new_alloc
                continue
        break
    sched = evaluate(problem, best_dec)
    bound = global_bound(problem, objective)
    val = _value(objective, sched)
    status = "feasible"
    if all(p.status == "optimal" for p in parts.values()):
        status = "block_optimal"
    extra = dict(info)
    extra.update(
        stacks=stack_names(problem, best_dec.stacks),
        recomputed=[
            a
            for a in problem.checkpoint_tensors
            if a not in (best_dec.checkpoints or problem.checkpoint_tensors)
        ],
        wall_seconds=time.perf_counter() - t0,
    )
    final = SolveResult(
        method="milp-iterated",
        objective_name=objective,
        decision=best_dec,
        schedule=sched,
        status=status,
        objective=val,
        bound=bound,
        gap=max((val - bound) / val, 0.0) if val > 0 else 0.0,
        simulated=val,
        lower_bounds=lower_bounds(problem),
        n_vars=sum(p.n_vars for p in parts.values()),
        n_cons=sum(p.n_cons for p in parts.values()),
        build_seconds=sum(p.build_seconds for p in parts.values()),
        solve_seconds=sum(p.solve_seconds for p in parts.values()),
        extra=extra,
    )
    baselines = fusion_baselines(
        problem,
        best_dec.allocation,
        checkpoints=best_dec.checkpoints,
        fixed=fixed_idx if fusion == "fixed" else None,
        max_stack=max_stack,
    )
    if fusion == "optimal":
        baselines["optimal"] = {
            "latency": sched.latency,
            "energy_pj": sched.energy.total,
            "n_stacks": len(best_dec.stacks),
            "stacks": stack_names(problem, best_dec.stacks),
            "stack_overflow": int(sched.stats["stack_overflow"]),
        }
    return JointResult(final, parts, "iterated", iterations, history, baselines, budget_bits)


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


def _infeasible(
    problem: Problem,
    ck: SolveResult,
    parts: dict[str, SolveResult],
    history: list[dict[str, object]],
    budget_bits: float | None,
    info: dict[str, float],
    objective: str,
) -> JointResult:
    extra = dict(info)
    extra.update(stacks=[], recomputed=[])
    final = SolveResult(
        method="milp-iterated",
        objective_name=objective,
        decision=ck.decision,
        schedule=ck.schedule,
        status="infeasible",
        objective=math.inf,
        bound=math.inf,
        gap=math.inf,
        simulated=math.inf,
        lower_bounds=ck.lower_bounds,
        n_vars=ck.n_vars,
        n_cons=ck.n_cons,
        build_seconds=ck.build_seconds,
        solve_seconds=ck.solve_seconds,
        extra=extra,
    )
    return JointResult(final, parts, "iterated", 1, history, {}, budget_bits)
