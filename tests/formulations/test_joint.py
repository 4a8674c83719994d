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
    assert r.bound >= global_bound(p, "latency").value * (1 - 1e-12)
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


def _capacity_instance(seed: int, kib: float):  # noqa: ANN202
    """A random training graph under memory capacity with small SRAMs."""
    import random

    from monet_opt.models.training import derive_training_graph
    from monet_opt.schedule.problem import build_problem
    from tests.factories import accelerator
    from tests.factories import random_forward_graph as forward_graph

    rng = random.Random(seed)
    g = derive_training_graph(forward_graph(seed), optimizer="sgd", loss="mse")
    acc = accelerator(n=rng.choice([1, 2, 3]), seed=seed, sram_bits=kib * 8 * 1024,
                      split=seed % 2 == 0)  # fmt: skip
    return build_problem(g, acc, memory="capacity", order=rng.choice(["heft", "layerwise"]),
                         tiles=rng.choice([2, 4, 8]))  # fmt: skip


@pytest.mark.parametrize("seed", range(8))
def test_joint_under_capacity_ends_within_capacity(seed) -> None:
    """Under memory capacities the joint answer fits every memory whenever the baseline
    does (stacks whose members do not fit together are never the answer), and it is
    never worse than the baseline."""
    from monet_opt.heuristics.allocation import greedy_decision

    p = _capacity_instance(seed, kib=[1.0, 2.0, 4.0, 16.0][seed % 4])
    base = evaluate_metrics(p, greedy_decision(p))
    res = solve_joint(p, fusion="optimal", options=SolverOptions(time_limit=4))
    m = evaluate_metrics(p, res.decision)
    if base.memory_overflow == 0:
        assert m.memory_overflow == 0 and m.stack_overflow == 0
        assert m.latency <= base.latency * (1 + 1e-9)


@pytest.mark.parametrize("seed", range(12))
def test_greedy_stacks_fit_under_capacity(seed) -> None:
    """Under memory capacities the greedy (DeFiNES/Stream) stacks fit with the default
    placement: no stack's position overflows."""
    import random

    from monet_opt.heuristics.stacks import greedy_stacks
    from monet_opt.schedule.evaluator import stacks_over_capacity

    p = _capacity_instance(seed, kib=[2.0, 4.0, 16.0][seed % 3])
    rng = random.Random(seed)
    alloc = tuple(rng.choice(a) for a in p.allowed)
    stacks = greedy_stacks(p, alloc, max_stack=6)
    assert stacks_over_capacity(p, Decision(alloc, None, stacks)) == ()


@pytest.mark.parametrize("seed", range(6))
def test_fit_stacks_splits_until_every_stack_fits(seed) -> None:
    """Under memory capacities, splitting the stacks that overflow ends with stacks that
    all fit (a stack of one node is layer by layer)."""
    import random

    from monet_opt.heuristics.stacks import fit_stacks
    from monet_opt.schedule.evaluator import stacks_over_capacity
    from tests.schedule.test_memory import _random_stacks

    p = _capacity_instance(seed, kib=[2.0, 4.0, 8.0][seed % 3])
    rng = random.Random(seed)
    alloc = tuple(rng.choice(a) for a in p.allowed)
    dec = Decision(alloc, None, _random_stacks(p, rng, max_stack=8))
    over = stacks_over_capacity(p, dec)
    out = fit_stacks(p, dec)
    assert stacks_over_capacity(p, out) == ()
    members = {i for st in out.stacks for i in st}
    assert members <= {i for st in dec.stacks for i in st}
    if seed == 3:  # the case is not trivial: here random stacks overflow and are split
        assert over and out.stacks != dec.stacks


@pytest.mark.parametrize("seed", range(4))
def test_fixed_stacks_are_kept(seed) -> None:
    """``fusion: fixed`` answers with the user's stacks even when layer by layer would be
    faster (the baseline is not in the fixed space)."""
    from monet_opt.formulations.joint import _canonical

    p = _instance(seed)
    order = p.program_order()
    fixed = [[p.nodes[order[0]].name, p.nodes[order[1]].name]]
    res = solve_joint(p, fusion="fixed", fixed_stacks=fixed, options=SolverOptions(time_limit=10))
    assert _canonical(res.decision.stacks) == _canonical([(order[0], order[1])])


@pytest.mark.parametrize("fusion", ["none", "optimal"])
@pytest.mark.parametrize("seed", range(6))
def test_joint_keep_dram_recompute_under_capacity(seed, fusion) -> None:
    """Under capacities with optimal checkpointing the joint decides keep / DRAM /
    recompute with the placement (remat_placement); its answer meets the budget, fits
    every memory and is never worse than a warm start it is given (here: the greedy
    allocation with every activation recomputed, which meets any feasible budget)."""
    from monet_opt.formulations.checkpointing import min_feasible_budget
    from monet_opt.heuristics.allocation import greedy_decision

    p = _capacity_instance(seed, kib=[2.0, 4.0, 16.0][seed % 3])
    budget = 0.5 * (min_feasible_budget(p) + store_all_footprint(p))
    warm = Decision(greedy_decision(p).allocation, None, (), frozenset())
    w = evaluate_metrics(p, warm)
    res = solve_joint(p, None, "latency", SolverOptions(time_limit=4), warm, fusion=fusion,
                      checkpointing="optimal", budget_bits=budget)  # fmt: skip
    m = evaluate_metrics(p, res.decision)
    assert m.peak_footprint_bits <= budget * (1 + 1e-9)
    if w.memory_overflow == 0:
        assert m.memory_overflow == 0
        assert m.latency <= w.latency * (1 + 1e-9)
    assert res.extra["parts"]["placement"].formulation == "remat_placement"


@pytest.mark.parametrize("seed", range(3))
def test_joint_never_worse_than_a_ga_answer_it_is_given(seed) -> None:
    """Issue 12: warm-started from the best answer of the joint GA, the joint solve ends
    at or below it, whatever its time limit, under capacities and the budget."""
    from monet_opt.ga.engine import run_search
    from monet_opt.ga.spaces import JointSpace

    p = _capacity_instance(seed, kib=[2.0, 4.0, 16.0][seed])
    budget = 0.7 * store_all_footprint(p)
    ga = run_search(JointSpace(p, max_stack=4), ("latency",), seed=seed, max_evals=300,
                    budget_bits=budget)  # fmt: skip
    if not ga.feasible:
        pytest.skip("no feasible GA answer on this instance")
    for limit in (0.001, 5.0):
        r = solve_joint(p, None, "latency", SolverOptions(time_limit=limit), ga.decision,
                        fusion="optimal", checkpointing="optimal", budget_bits=budget,
                        max_stack=4)  # fmt: skip
        assert r.simulated <= ga.best * (1 + 1e-9)
        assert r.bound <= r.simulated * (1 + 1e-9)
