"""Allocation and program order π: equal to brute force over allocations × topological
orders on random small instances; the bound is valid; never worse than a warm start."""

import itertools
import math

import pytest

from monet_opt.formulations.allocation_order import (
    SCOPE,
    order_priority,
    solve_allocation_order,
)
from monet_opt.formulations.options import SolverOptions
from monet_opt.schedule.evaluator import evaluate_fast
from monet_opt.schedule.problem import build_problem
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
    g = random_graph(seed, n_ops=5 if seed % 2 else 6)
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
