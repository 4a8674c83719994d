"""Allocation and program order π: equal to brute force over allocations × topological
orders on random small instances; the bound is valid; never worse than a warm start."""

import itertools
import math

import pytest

from monet_opt.formulations import allocation_order
from monet_opt.formulations._builder import solve_model
from monet_opt.formulations.allocation import solve_allocation
from monet_opt.formulations.allocation_order import (
    SCOPE,
    build_order_master,
    order_priority,
    solve_allocation_order,
)
from monet_opt.formulations.options import SolverOptions
from monet_opt.ga.engine import run_search
from monet_opt.ga.spaces import AllocationSpace
from monet_opt.schedule.evaluator import evaluate_fast
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.types import Decision
from tests.factories import accelerator, random_graph

SEEDS = range(24)


def topological_orders(pb):
    """Every topological order of the problem's nodes."""
    n = pb.n_nodes
    preds = [set(p) for p in pb.preds]
    out = []

    def rec(prefix, placed):
        if len(prefix) == n:
            out.append(tuple(prefix))
            return
        for k in range(n):
            if k not in placed and preds[k] <= placed:
                prefix.append(k)
                placed.add(k)
                rec(prefix, placed)
                placed.discard(k)
                prefix.pop()

    rec([], set())
    return out


def brute_force(pb):
    """min over allocations × topological orders of the evaluator's makespan."""
    best = math.inf
    for order in topological_orders(pb):
        prio = order_priority(order)
        assert pb.program_order(prio) == order
        for a in itertools.product(*pb.allowed):
            best = min(best, evaluate_fast(pb, a, prio)[0])
    return best


def instance(seed, memory="unbounded"):
    g = random_graph(seed, n_ops=6 if seed % 8 == 0 and seed != 8 else 5)
    acc = accelerator(2 if seed % 3 == 0 else 3, seed=seed, hetero=seed % 4 != 1)
    return build_problem(
        g,
        acc,
        prefetch_depth=seed % 3,
        layer_io="dram" if seed % 5 == 0 else "onchip",
        memory=memory,
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_equals_brute_force(seed):
    pb = instance(seed)
    r = solve_allocation_order(pb, None, "latency", SolverOptions(time_limit=20))
    best = brute_force(pb)
    assert r.status == "optimal"
    assert r.simulated == pytest.approx(best, rel=1e-6)
    assert r.bound <= best * (1 + 1e-6)
    assert r.simulated <= r.extra["fixed_order_value"] * (1 + 1e-9)
    assert r.scope.startswith(SCOPE)
    assert r.decision.priority is not None
    assert evaluate_fast(pb, r.decision.allocation, r.decision.priority)[0] == pytest.approx(
        r.simulated, rel=1e-9
    )


@pytest.mark.parametrize("seed", range(4))
def test_capacity_bound_valid_and_never_worse_than_fixed_order(seed):
    pb = instance(seed, memory="capacity")
    r = solve_allocation_order(pb, None, "latency", SolverOptions(time_limit=1.5))
    best = brute_force(pb)  # default placement: an upper bound of the space's optimum
    assert r.bound <= best * (1 + 1e-6)
    assert r.simulated <= r.extra["fixed_order_value"] * (1 + 1e-9)
    assert r.simulated <= best * (1 + 1e-9) or r.status == "feasible"
    assert "memory capacities" in r.scope


@pytest.mark.parametrize("seed", range(3))
def test_never_worse_than_a_magma_ga_warm_start(seed):
    pb = instance(seed + 5, memory="capacity" if seed % 2 else "unbounded")
    ga = run_search(AllocationSpace(pb, "magma"), ("latency",), seed=seed, max_evals=60)
    fixed = solve_allocation(pb, None, "latency", SolverOptions(time_limit=5))
    assert "exact for this π only" in fixed.scope
    r = solve_allocation_order(pb, None, "latency", SolverOptions(time_limit=3), ga.decision)
    assert r.simulated <= ga.best * (1 + 1e-9)
    assert r.simulated <= fixed.simulated * (1 + 1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_without_order_binaries_the_bound_stays_valid(seed, monkeypatch):
    monkeypatch.setattr(allocation_order, "ORDER_MASTER_MAX_PAIRS", 0)
    pb = instance(seed)
    r = solve_allocation_order(pb, None, "latency", SolverOptions(time_limit=2))
    best = brute_force(pb)
    assert r.extra["order_binaries"] == 0 and "no order binaries" in r.scope
    assert r.bound <= best * (1 + 1e-6)
    assert r.simulated >= best * (1 - 1e-9)
    master = build_order_master(pb, 10 * best, order_binaries=False)
    st = solve_model(master.builder.to_highs(SolverOptions(time_limit=5).highs()))
    assert st.status == "optimal" and st.objective <= best * (1 + 1e-6)


def test_latency_only_and_no_stacks():
    pb = instance(1)
    with pytest.raises(ValueError, match="latency"):
        solve_allocation_order(pb, None, "energy")
    with pytest.raises(ValueError, match="stacks"):
        solve_allocation_order(pb, Decision((), None, ((0, 1),)), "latency")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"solver": {"order": "best"}}, "allowed values: fixed, optimal"),
        ({"solver": {"order": "optimal"}, "objective": "energy"}, "objective 'energy'"),
        (
            {"solver": {"order": "optimal"}, "fusion": {"mode": "greedy"}},
            "fusion or checkpointing",
        ),
    ],
)
def test_config_solver_order_errors_name_the_field(extra, needle):
    from monet_opt.config import ConfigError, config_from_dict

    base = {"workload": {"model": "mlp"}, "accelerator": "acc.yaml"}
    with pytest.raises(ConfigError) as e:
        config_from_dict({**base, **extra}, check_files=False)
    assert "solver.order" in str(e.value) and needle in str(e.value)
    ok = config_from_dict({**base, "solver": {"order": "optimal"}}, check_files=False)
    assert ok.solver.order == "optimal"


def test_solve_with_solver_order_optimal(tmp_path):
    """``solver.order: optimal`` routes ``solve`` to the allocation-and-order search."""
    import yaml

    from monet_opt import api
    from tests.factories import accelerator_dict

    (tmp_path / "acc.yaml").write_text(yaml.safe_dump(accelerator_dict("ord")))
    cfg = {
        "workload": {"model": "mlp", "options": {"batch": 2, "sizes": [16, 32, 10]}},
        "accelerator": "acc.yaml",
        "schedule": {"memory": "unbounded"},
        "solver": {"time_limit_s": 3, "order": "optimal"},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = api.solve(path)
    fixed = solve_allocation(run.inputs.problem, None, "latency", SolverOptions(time_limit=3))
    assert run.milp.formulation == "allocation_order" and run.milp.scope.startswith(SCOPE)
    assert run.milp.simulated <= fixed.simulated * (1 + 1e-9)
    assert run.milp.bound <= run.milp.simulated * (1 + 1e-9)
    with pytest.raises(api.InputError, match="solver.order"):
        api.solve(path, objective="energy")


def test_a_chain_has_one_order_and_the_fixed_order_milp_is_exact():
    g = random_graph(3, n_ops=1)
    pb = build_problem(g, accelerator(3, seed=3), memory="unbounded")
    assert len(topological_orders(pb)) == 1
    r = solve_allocation_order(pb, None, "latency", SolverOptions(time_limit=5))
    assert r.status == "optimal" and "one topological order" in r.scope
    assert r.simulated == pytest.approx(brute_force(pb), rel=1e-9)


def test_heft_priority_is_build_problems():
    g = random_graph(4, n_ops=6)
    pb = build_problem(g, accelerator(3, seed=4), order="heft")
    assert allocation_order.heft_priority(pb) == pytest.approx(pb.default_priority)


def test_compare_solves_the_magma_space_over_every_order():
    from monet_opt.api.compare import CompareSettings, compare_problem

    pb = instance(7)
    st = CompareSettings(
        seeds=(0,),
        budget_evals=40,
        spaces=("allocation_magma",),
        pareto=False,
        options=SolverOptions(time_limit=10),
    )
    sc = compare_problem(pb, st).space("allocation_magma")
    assert sc.milp.formulation == "allocation_order" and sc.scope is None
    assert sc.milp.status == "optimal" and sc.proven_optimal
    assert sc.milp_value == pytest.approx(brute_force(pb), rel=1e-6)
    assert sc.milp_value <= sc.best_run().best * (1 + 1e-9)
    assert sc.warm is not None and sc.warm.simulated <= sc.best_run().best * (1 + 1e-9)
