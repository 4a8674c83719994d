"""Joint fusion + checkpointing solver (monet_opt.formulations.joint)."""

from __future__ import annotations

import pytest

from monet_opt.formulations.checkpointing import store_all_footprint
from monet_opt.formulations.joint import global_bound, solve_joint
from monet_opt.schedule.evaluator import evaluate
from tests.formulations.test_fusion import _instance


def test_joint_respects_budget_and_bound() -> None:
    p = _instance(3)
    budget = 0.6 * store_all_footprint(p)
    r = solve_joint(p, fusion="optimal", checkpointing="optimal", budget_bits=budget)
    d = r.as_dict()
    assert d["mode"] == "iterated"
    assert d["within_budget"] is True
    assert r.final.bound <= r.final.objective * (1 + 1e-9)
    assert r.final.bound == pytest.approx(global_bound(p, "latency"))
    assert r.final.simulated == pytest.approx(evaluate(p, r.final.decision).latency)
    low = solve_joint(p, checkpointing="optimal", budget_bits=1.0)
    assert low.final.status == "infeasible"
    assert low.as_dict()["min_feasible_budget_bits"] > 1.0
