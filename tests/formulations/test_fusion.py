"""Fusion MILP: equal to brute force over all cut vectors; baselines."""

from __future__ import annotations

import itertools
import random

import pytest

from monet_opt.formulations.fusion import (
    fusion_baselines,
    solve_fusion,
    stacks_from_names,
)
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.heuristics.stacks import greedy_stacks
from monet_opt.models.builder import GraphBuilder
from monet_opt.models.training import derive_training_graph
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.realize import stack_overflow
from monet_opt.schedule.types import Decision
from tests.factories import accelerator


def _net(seed: int, layers: int) -> object:
    rng = random.Random(seed)
    gb = GraphBuilder("n", 16)
    x = gb.input("input", (4, 32))
    prev = [x]
    for i in range(layers):
        y = gb.gemm(f"fc{i}", x, gb.weight(f"w{i}", (32, 32)))
        if rng.random() < 0.5:
            y = gb.elementwise(f"r{i}", "Relu", (y,))
        if rng.random() < 0.3 and len(prev) > 1:
            y = gb.elementwise(f"add{i}", "Add", (y, prev[-2]))
        prev.append(y)
        x = y
    return gb.build()


def _instance(seed: int):  # noqa: ANN202
    rng = random.Random(seed)
    g = derive_training_graph(_net(seed, 2), optimizer="sgd", loss="mse")
    return build_problem(
        g,
        accelerator(n=rng.choice([1, 2, 3]), seed=seed),
        layer_io=rng.choice(["dram", "onchip"]),
        order=rng.choice(["heft", "layerwise"]),
        tiles=rng.choice([1, 4]),
    )


def _brute(problem, alloc, checkpoints, objective, max_stack):  # noqa: ANN001, ANN202
    order = problem.program_order()
    n = len(order)
    best = float("inf")
    for bits in itertools.product([0, 1], repeat=n - 1):
        stacks, cur = [], [order[0]]
        for k in range(n - 1):
            if bits[k]:
                cur.append(order[k + 1])
            else:
                if len(cur) > 1:
                    stacks.append(tuple(cur))
                cur = [order[k + 1]]
        if len(cur) > 1:
            stacks.append(tuple(cur))
        if any(len(s) > max_stack for s in stacks) or stack_overflow(problem, stacks, alloc):
            continue
        s = evaluate(problem, Decision(alloc, None, tuple(stacks), checkpoints))
        best = min(best, s.latency if objective == "latency" else s.energy.total)
    return best


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_fusion_equals_brute_force(seed: int, objective: str) -> None:
    p = _instance(seed)
    alloc = greedy_decision(p).allocation
    rng = random.Random(seed)
    cands = p.checkpoint_tensors
    checkpoints = None
    if seed % 2 and cands:  # drop some activations: recompute copies are inserted
        checkpoints = frozenset(a for a in cands if rng.random() < 0.5)
    r = solve_fusion(p, Decision(alloc, None, (), checkpoints), objective, max_stack=4)
    assert r.status == "optimal"
    best = _brute(p, alloc, checkpoints, objective, 4)
    assert r.objective == pytest.approx(best, rel=1e-6)
    assert r.simulated == pytest.approx(r.objective, rel=1e-6)
    assert r.extra["stack_overflow"] == 0


def test_mix_objective_between_extremes() -> None:
    p = _instance(2)
    alloc = greedy_decision(p).allocation
    lat = solve_fusion(p, Decision(alloc), "latency")
    en = solve_fusion(p, Decision(alloc), "energy")
    mix = solve_fusion(p, Decision(alloc), "mix", weight=0.5)
    assert mix.status == "optimal"
    assert mix.simulated == pytest.approx(mix.objective, rel=1e-6)
    assert lat.schedule.latency <= mix.schedule.latency + 1e-6
    assert en.schedule.energy.total <= mix.schedule.energy.total + 1e-3


def test_greedy_and_fixed_baselines() -> None:
    p = _instance(1)
    alloc = greedy_decision(p).allocation
    greedy = greedy_stacks(p, alloc, max_stack=3)
    assert all(2 <= len(s) <= 3 for s in greedy)
    assert not stack_overflow(p, greedy, alloc)
    order = p.program_order()
    names = [[p.nodes[order[0]].name, p.nodes[order[1]].name]]
    fixed = stacks_from_names(p, names)
    base = fusion_baselines(p, alloc, fixed=fixed)
    assert set(base) == {"layer_by_layer", "greedy", "fixed"}
    assert base["fixed"]["stacks"] == names
    assert base["layer_by_layer"]["stack_overflow"] == 0 and base["greedy"]["stack_overflow"] == 0
    assert base["fixed"]["stack_overflow"] == len(stack_overflow(p, fixed, alloc))
    opt = solve_fusion(p, Decision(alloc), max_stack=8)
    assert opt.status == "optimal" and opt.extra["stack_overflow"] == 0
    for name, v in base.items():
        # the optimum is no slower than any baseline that fits on chip; one that does not
        # fit is infeasible for the MILP (it overflows on-chip capacity)
        assert v["stack_overflow"] or opt.objective <= v["latency"] * (1 + 1e-6), name
    with pytest.raises(ValueError, match="unknown node 'nope'"):
        stacks_from_names(p, [["nope"]])
