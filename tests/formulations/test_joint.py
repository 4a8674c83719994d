"""Joint fusion + checkpointing solver (monet_opt.formulations.joint)."""

from __future__ import annotations

import pytest

from monet_opt.formulations.checkpointing import store_all_footprint
from monet_opt.formulations.joint import global_bound, solve_joint
from monet_opt.formulations.options import SolverOptions
from monet_opt.report.result_json import joint_dict
from monet_opt.schedule.evaluator import evaluate, evaluate_metrics
from monet_opt.schedule.types import Decision
from tests.formulations.test_fusion import _instance


def test_joint_respects_budget_and_bound() -> None:
    p = _instance(3)
    budget = 0.6 * store_all_footprint(p)
    r = solve_joint(p, fusion="optimal", checkpointing="optimal", budget_bits=budget)
    d = joint_dict(r)
    assert d["mode"] == "iterated" and r.formulation == "joint"
    assert d["within_budget"] is True
    assert r.bound <= r.simulated * (1 + 1e-9)
    assert r.bound >= global_bound(p, "latency") * (1 - 1e-12)
    assert r.simulated == pytest.approx(evaluate(p, r.decision).latency)
    assert r.status in ("optimal", "feasible")
    assert (r.status == "optimal") == (r.gap <= 1e-4 + 1e-9)
    low = solve_joint(p, checkpointing="optimal", budget_bits=1.0)
    assert low.status == "infeasible"
    assert low.extra["min_feasible_budget_bits"] > 1.0
    assert "below the minimum feasible" in low.extra["message"]


def test_joint_never_worse_than_its_warm_start() -> None:
    p = _instance(4)
    budget = 0.8 * store_all_footprint(p)
    base = solve_joint(p, fusion="optimal", checkpointing="optimal", budget_bits=budget)
    warm = base.decision
    again = solve_joint(
        p,
        None,
        "latency",
        SolverOptions(time_limit=0.001),  # no time for the blocks: the warm start stands
        warm,
        fusion="optimal",
        checkpointing="optimal",
        budget_bits=budget,
    )
    assert again.simulated <= base.simulated * (1 + 1e-9)
    m = evaluate_metrics(p, again.decision)
    assert m.peak_footprint_bits <= budget * (1 + 1e-9)


def test_joint_time_limit_is_monotone() -> None:
    p = _instance(5)
    budget = 0.7 * store_all_footprint(p)
    kw = {"fusion": "optimal", "checkpointing": "optimal", "budget_bits": budget}
    short = solve_joint(p, None, "latency", SolverOptions(time_limit=0.001), **kw)
    long = solve_joint(p, None, "latency", SolverOptions(time_limit=30), **kw)
    assert long.simulated <= short.simulated * (1 + 1e-9)
    assert short.status in ("optimal", "feasible") and short.gap >= long.gap - 1e-12
    assert Decision(short.decision.allocation) is not None


@pytest.mark.parametrize("seed", range(8))
def test_joint_is_never_worse_than_its_baselines(seed) -> None:
    """Issue 10: the joint mode starts from the best baseline and accepts a block's answer
    only when the re-simulated objective improves, so ``fusion: optimal`` never ends
    worse than ``fusion: greedy`` nor than layer by layer with the greedy allocation."""
    from monet_opt.heuristics.allocation import greedy_decision
    from monet_opt.schedule.evaluator import evaluate

    p = _instance(seed)
    opt = solve_joint(p, fusion="optimal")
    greedy = solve_joint(p, fusion="greedy")
    none = solve_joint(p, fusion="none")
    base = evaluate(p, greedy_decision(p)).latency
    assert opt.simulated <= greedy.simulated * (1 + 1e-9)
    assert opt.simulated <= none.simulated * (1 + 1e-9)
    assert opt.simulated <= base * (1 + 1e-9)
    assert opt.simulated == pytest.approx(evaluate(p, opt.decision).latency)
