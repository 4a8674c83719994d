"""DEAP engine: determinism per seed, budgets, presets, constraints, NSGA-II fronts, and
consistency with the exact MILPs (a GA never beats a proven optimum)."""

from __future__ import annotations

import importlib
import itertools
import math

import pytest
from deap import creator

from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.checkpointing import (
    exact_front,
    min_feasible_budget,
    solve_checkpointing,
    store_all_footprint,
)
from monet_opt.formulations.fusion import solve_fusion
from monet_opt.formulations.options import SolverOptions
from monet_opt.ga.engine import PRESETS, pareto_front, run_search
from monet_opt.ga.spaces import AllocationSpace, CheckpointSpace, FusionSpace, JointSpace
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.schedule.evaluator import evaluate, evaluate_metrics
from monet_opt.schedule.types import Decision
from tests.ga.test_spaces import problem


@pytest.mark.parametrize("preset", ["default", "stream", "monet"])
def test_same_seed_same_result(preset):
    p = problem(0)
    sp = AllocationSpace(p, "magma")
    objs = ("latency", "energy") if preset == "monet" else ("latency",)
    a = run_search(sp, objs, preset=preset, seed=7, max_evals=120)
    b = run_search(sp, objs, preset=preset, seed=7, max_evals=120)
    assert a.decision == b.decision and a.history[-1][::2] == b.history[-1][::2]
    assert [v for v, _ in a.front] == [v for v, _ in b.front]
    c = run_search(sp, objs, preset=preset, seed=8, max_evals=120)
    assert c.evaluations == a.evaluations == 120


def test_parallel_equals_serial():
    p = problem(1)
    sp = JointSpace(p)
    a = run_search(sp, ("latency",), seed=3, max_evals=80)
    b = run_search(sp, ("latency",), seed=3, max_evals=80, processes=2)
    assert a.decision == b.decision and a.values == b.values


def test_budgets_and_stop_reasons():
    p = problem(2)
    sp = AllocationSpace(p, "node")
    r = run_search(sp, seed=0, max_evals=50)
    assert r.stop_reason == "max_evals" and r.evaluations == 50
    r = run_search(sp, seed=0, generations=3)
    assert r.stop_reason == "generations" and r.generations == 3
    r = run_search(sp, seed=0, time_limit=0.2)
    assert r.stop_reason == "time_limit"  # no generation or evaluation limit was given
    assert r.seconds >= 0.2
    r = run_search(sp, seed=0, generations=0)
    assert r.generations == 0 and r.evaluations <= PRESETS["default"]["population"]
    with pytest.raises(ValueError, match="population"):
        run_search(sp, population=1, generations=1)
    with pytest.raises(ValueError, match="objectives"):
        run_search(sp, ("speed",), generations=1)
    with pytest.raises(ValueError, match="single-objective"):
        run_search(sp, ("latency", "energy"), algorithm="ga", generations=1)


def test_history_is_monotone_and_value_is_simulated():
    p = problem(3)
    sp = AllocationSpace(p, "layer")
    r = run_search(sp, ("energy",), preset="stream", seed=1, max_evals=200)
    bests = [h[2] for h in r.history]
    assert all(b2 <= b1 for b1, b2 in zip(bests, bests[1:], strict=False))
    assert r.best == pytest.approx(evaluate(p, r.decision).energy.total)
    assert r.best <= r.initial[0]


def test_monet_preset():
    assert PRESETS["monet"] == {
        "algorithm": "nsga2",
        "population": 20,
        "generations": 6,
        "cx_prob": 0.9,
        "mut_prob": 1.0,
        "indpb": 0.1,
    }
    p = problem(4)
    r = run_search(JointSpace(p), ("latency", "energy", "memory"), preset="monet", seed=0)
    assert r.generations == 6 and r.evaluations <= 20 + 6 * 20
    pts = [v for v, _ in r.front]
    assert len(pts) >= 2
    assert pareto_front(pts) == list(range(len(pts)))  # all non-dominated, sorted
    for v, d in r.front:
        m = evaluate_metrics(p, d)
        assert (m.latency, m.energy, m.peak_footprint_bits) == pytest.approx(v)
    small = run_search(CheckpointSpace(p), ("memory", "recompute"), preset="monet", seed=0)
    assert small.stop_reason in ("generations", "exhausted")


def test_budget_is_a_constraint():
    p = problem(5)
    lo, hi = min_feasible_budget(p), store_all_footprint(p)
    budget = (lo + hi) / 2
    r = run_search(CheckpointSpace(p), ("recompute",), budget_bits=budget, seed=0, max_evals=60)
    assert r.feasible
    assert evaluate(p, r.decision).stats["peak_footprint_bits"] <= budget + 1e-6


def test_creator_classes_created_once():
    import monet_opt.ga.engine as mod

    ind, fit = creator.Genome1, creator.FitnessMin1
    importlib.reload(mod)
    assert creator.Genome1 is ind and creator.FitnessMin1 is fit


def test_pareto_front_helper():
    pts = [(1, 3), (2, 2), (3, 1), (2, 3), (1, 3)]
    assert pareto_front(pts) == [0, 1, 2]


# -- consistency with the exact formulations ----------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_ga_never_beats_proven_allocation_optimum(seed):
    p = problem(seed)
    for obj in ("latency", "energy"):
        milp = solve_allocation(p, None, obj, SolverOptions(mip_gap=1e-9))
        assert milp.status == "optimal"
        for style in ("layer", "node"):
            for s in range(2):
                r = run_search(AllocationSpace(p, style), (obj,), seed=s, max_evals=150)
                assert r.best >= milp.simulated * (1 - 1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_ga_never_beats_proven_fusion_optimum(seed):
    p = problem(seed, n=2)
    alloc = greedy_decision(p).allocation
    milp = solve_fusion(p, Decision(alloc), "latency", SolverOptions(mip_gap=1e-9), max_stack=4)
    assert milp.status == "optimal"
    for s in range(3):
        r = run_search(FusionSpace(p, alloc, max_stack=4), seed=s, max_evals=150)
        assert r.best >= milp.simulated * (1 - 1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_ga_never_beats_proven_checkpoint_optimum(seed):
    p = problem(seed)
    lo, hi = min_feasible_budget(p), store_all_footprint(p)
    budget = lo + 0.4 * (hi - lo)
    milp = solve_checkpointing(p, None, "latency", SolverOptions(mip_gap=1e-9), budget_bits=budget)
    assert milp.status == "optimal"
    for s in range(3):
        r = run_search(
            CheckpointSpace(p), ("recompute",), budget_bits=budget, seed=s, max_evals=100
        )
        assert r.feasible and r.best >= milp.simulated - 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_exact_front_equals_brute_force_pareto_set(seed):
    p = problem(seed)
    alloc = greedy_decision(p).allocation
    front = exact_front(p, Decision(alloc))
    assert all(r.status == "optimal" for r in front)
    got = sorted(
        (r.extra["peak_footprint_bits"], round(r.extra["recompute_cycles"], 6)) for r in front
    )
    cands = p.checkpoint_tensors
    pts = []
    for k in range(len(cands) + 1):
        for kept in itertools.combinations(cands, k):
            m = evaluate_metrics(p, Decision(alloc, None, (), frozenset(kept)))
            pts.append((m.peak_footprint_bits, round(m.recompute_cycles, 6)))
    want = sorted({pts[i] for i in pareto_front(pts)})
    assert got == want
    # NSGA-II's front never dominates a point of the exact front
    r = run_search(CheckpointSpace(p, alloc), ("memory", "recompute"), seed=0, max_evals=150)
    assert r.front
    for v, _ in r.front:
        for x, y in want:
            assert not (v[0] <= x and v[1] <= y and (v[0] < x or v[1] < y - 1e-6))
    assert math.isfinite(r.values[0])
