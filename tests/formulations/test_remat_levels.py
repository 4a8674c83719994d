"""checkpointing.levels: multi (monet_opt.formulations.remat_levels)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from monet_opt import api
from monet_opt.formulations.remat_levels import multilevel_store_all_bits, remat_schedule
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.schedule.evaluator import evaluate_metrics
from monet_opt.schedule.realize_remat import remat_footprint, single_level_sequence
from monet_opt.schedule.types import Decision
from monet_opt.units import within
from tests.schedule.test_realize_remat import instance

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _mlp(fraction: float, levels: str, seconds: float = 3.0) -> dict:
    return {
        "workload": {"model": "mlp", "options": {"batch": 16, "sizes": [512] * 9}},
        "accelerator": str(EXAMPLES / "hardware" / "tpu_like_quad_core.yaml"),
        "schedule": {"memory": "capacity"},
        "solver": {"time_limit_s": seconds},
        "checkpointing": {"mode": "optimal", "budget_fraction": fraction, "levels": levels},
    }


def test_multi_level_meets_budgets_single_level_cannot():
    """An 8-layer MLP: MONET's single level needs 0.875 of its store-all footprint; the
    multi-level schedule runs at 0.4 of the store-all peak of its own accounting, and
    the answer is re-simulated within that budget and every capacity."""
    with pytest.raises(api.InputError, match="budget_fraction"):
        api.footprint_budget(api.load(_mlp(0.4, "single")))
    run = api.solve(_mlp(0.4, "multi"))
    m = run.milp
    assert m.formulation == "multilevel"
    assert m.status in ("feasible", "optimal")
    assert m.extra["chosen"] == "multi_level"
    cands = m.extra["candidates"]
    assert not cands["single_level"]["fits"]  # its keep set is over this budget
    budget = run.budget.multilevel_bits
    assert budget == pytest.approx(0.4 * run.budget.multilevel_store_all_bits)
    peak = m.schedule.stats["peak_footprint_bits"]
    assert within(peak, budget)
    assert peak == pytest.approx(remat_footprint(run.inputs.problem, m.decision.remat).max())
    assert m.schedule.stats["memory_overflow"] == 0
    assert m.schedule.stats["recompute_nodes"] > 0
    assert m.simulated == pytest.approx(m.schedule.latency)
    assert m.bound <= m.simulated
    # the answer is the best candidate that fits
    fits = [c["value"] for c in cands.values() if c["fits"]]
    assert m.simulated == pytest.approx(min(fits))


@pytest.mark.parametrize("seed", range(10))
def test_multi_level_work_never_above_single_level(seed):
    """On small graphs the schedule is exact over all schedules (A*): its recompute work
    is at most that of any single-level keep set whose schedule fits the same budget."""
    p = instance(seed)
    dec = greedy_decision(p)
    cands = p.checkpoint_tensors
    rng = random.Random(seed)
    checked = 0
    for _ in range(3):
        kept = frozenset(a for a in cands if rng.random() < 0.4)
        seq = single_level_sequence(p, kept)
        budget = float(remat_footprint(p, seq).max())
        single = evaluate_metrics(p, Decision(dec.allocation, None, (), kept))
        got, r = remat_schedule(p, dec, budget, search_nodes=18)
        if r.method != "search":
            pytest.skip("kept to graphs the full search solves")
        assert got is not None and r.status == "optimal"
        assert float(remat_footprint(p, got).max()) <= budget * (1 + 1e-12)
        # single.recompute_cycles adds the copies' DRAM read cycles to their latency
        assert r.recompute_cost <= single.recompute_cycles + 1e-6
        checked += 1
    assert checked == 3


def test_levels_config_errors():
    cfg = _mlp(0.4, "multi")
    cfg["checkpointing"] = {"mode": "store-all", "levels": "multi"}
    with pytest.raises(api.InputError, match="levels"):
        api.load(cfg)
    cfg = _mlp(0.4, "many")
    with pytest.raises(api.InputError, match="levels"):
        api.load(cfg)
    with pytest.raises(api.InputError, match="largest single step"):
        api.footprint_budget(api.load(_mlp(0.01, "multi")))


def test_ga_answer_is_judged_in_the_multi_level_accounting():
    """The GA searches single-level keep sets under MONET's footprint; with levels: multi
    its answer is written as a schedule and is no candidate when it is over the
    multi-level budget, and the baseline is judged in that accounting too."""
    run = api.solve(_mlp(0.4, "multi", 2.0), method="both")
    assert run.ga.decision.remat is not None
    peak = run.ga.schedule.stats["peak_footprint_bits"]
    assert not within(peak, run.budget.multilevel_bits)
    assert any("not a candidate" in n for n in run.notes)
    name, best = run.best()
    assert name == "milp"
    assert within(best.schedule.stats["peak_footprint_bits"], run.budget.multilevel_bits)
    assert run.baseline["peak_footprint_bits"] == run.budget.multilevel_store_all_bits
    assert run.baseline["within_budget"] is False


def test_pareto_sweeps_multi_level_schedules():
    """pareto with levels: multi: budgets from the largest single step to the store-all
    peak of the multi-level accounting; every point meets its budget, its bound (the
    schedule solver's least work) is below its re-simulated recompute cycles and does
    not grow with the budget, and store-all recomputes nothing."""
    run = api.pareto(_mlp(0.9, "multi", 20.0), points=5, objective="latency")
    problem = run.inputs.problem
    assert run.store_all_bits == pytest.approx(multilevel_store_all_bits(problem))
    front = run.fronts["latency"]
    assert len(front) == 5
    bounds = []
    for b, r in zip(run.budgets_bits, front, strict=True):
        assert r.formulation == "multilevel_front"
        assert r.status in ("optimal", "feasible")
        assert within(r.schedule.stats["peak_footprint_bits"], b)
        assert r.bound <= r.simulated + 1e-6
        assert r.simulated == pytest.approx(r.schedule.stats["recompute_cycles"])
        bounds.append(r.bound)
    assert bounds == sorted(bounds, reverse=True)
    assert bounds[0] > 0 and front[-1].simulated == 0
