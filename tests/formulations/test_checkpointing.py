"""Checkpointing MILP: equal to brute force over all keep sets; Revolve; fronts; ResNet-18."""

import itertools
import random
from pathlib import Path

import pytest

from monet_opt.formulations.checkpointing import (
    build_checkpoint_model,
    checkpoint_front,
    min_feasible_budget,
    revolve_steps,
    solve_checkpointing,
    store_all_footprint,
)
from monet_opt.hardware import load_accelerator
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.models.builder import GraphBuilder
from monet_opt.models.ir import Phase
from monet_opt.models.training import derive_training_graph
from monet_opt.models.zoo import resnet18
from monet_opt.schedule.evaluator import evaluate
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.types import Decision
from tests.factories import accelerator
from tests.factories import random_forward_graph as forward_graph

ROOT = Path(__file__).parents[2]
MAX_CANDIDATES = 7


def instance(seed: int):
    """A training problem mixing core counts, orders and layer_io across seeds."""
    g = derive_training_graph(forward_graph(seed), optimizer="sgd", loss="mse")
    acc = accelerator(n=1 + seed % 3, seed=seed, hetero=seed % 2 == 0, dram_bw=(16, 64)[seed % 2])
    p = build_problem(
        g,
        acc,
        prefetch_depth=seed % 3,
        layer_io=("onchip", "dram")[seed % 2],
        order=("heft", "layerwise")[(seed // 2) % 2],
    )
    assert 1 <= len(p.checkpoint_tensors) <= MAX_CANDIDATES
    return p


def keep_sets(p):
    cands = p.checkpoint_tensors
    for r in range(len(cands) + 1):
        yield from (frozenset(k) for k in itertools.combinations(cands, r))


def brute_force(p, dec: Decision):
    """(peak footprint, recompute cycles, total energy) of every keep set."""
    out = []
    for kept in keep_sets(p):
        s = evaluate(p, Decision(dec.allocation, dec.priority, dec.stacks, kept))
        out.append((s.stats["peak_footprint_bits"], s.stats["recompute_cycles"], s.energy.total))
    return out


def random_budget(p, seed: int, priority=None) -> float:
    lo, hi = min_feasible_budget(p, priority), store_all_footprint(p, priority)
    if seed % 10 == 0:
        return lo  # the boundary itself is feasible
    return random.Random(seed).uniform(lo, hi)


def check_optimal(r, best: float, budget: float):
    assert r.status == "optimal"
    assert r.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
    assert r.simulated == pytest.approx(r.objective, rel=1e-6, abs=1e-6)
    assert r.extra["peak_footprint_bits"] <= budget + 1e-6


def test_instances_cover_layer_io_and_candidate_counts():
    problems = [instance(s) for s in range(50)]
    assert {p.layer_io for p in problems} == {"onchip", "dram"}
    assert {len(p.checkpoint_tensors) for p in problems} >= {2, 3, 4, 5, 6}
    assert {len(p.core_ids) for p in problems} == {1, 2, 3}


@pytest.mark.parametrize("seed", range(50))
def test_milp_equals_brute_force(seed):
    p = instance(seed)
    alloc = greedy_decision(p).allocation
    budget = random_budget(p, seed)
    table = brute_force(p, Decision(alloc))
    feasible = [row for row in table if row[0] <= budget]
    assert feasible
    objectives = ("latency", "energy") if seed % 2 == 0 else ("latency",)
    for obj in objectives:
        col = 1 if obj == "latency" else 2
        r = solve_checkpointing(p, Decision(alloc), obj, budget_bits=budget)
        check_optimal(r, min(row[col] for row in feasible), budget)
        assert set(r.extra["kept"]) | set(r.extra["recomputed"]) == set(p.checkpoint_tensors)


@pytest.mark.parametrize("seed", range(100, 116))
def test_milp_equals_brute_force_with_priority_and_stacks(seed):
    """A random allocation, a random priority and a fused forward stack (which changes
    which DRAM writes keeping an activation adds, so the energy objective)."""
    p = instance(seed)
    rng = random.Random(seed)
    alloc = tuple(rng.choice(a) for a in p.allowed)
    prio = tuple(rng.random() for _ in range(p.n_nodes)) if seed % 2 else None
    order = p.program_order(prio)
    fwd = [k for k, i in enumerate(order) if p.nodes[i].phase == Phase.FORWARD]
    k = rng.choice(fwd[:-1])
    stacks = (tuple(order[k : k + rng.randint(2, 3)]),)
    budget = random_budget(p, seed, prio)
    table = brute_force(p, Decision(alloc, prio, stacks))
    feasible = [row for row in table if row[0] <= budget]
    for obj, col in (("latency", 1), ("energy", 2)):
        r = solve_checkpointing(p, Decision(alloc, prio, stacks), obj, budget_bits=budget)
        check_optimal(r, min(row[col] for row in feasible), budget)
        assert r.decision.stacks == stacks


def test_energy_with_stack_spanning_forward_and_backward():
    p, _ = chain_problem(3, dram_bw=64)
    names = p.node_names
    stack = tuple(names.index(n) for n in ("fc1", "fc2", "loss", "loss.grad", "fc2.dX", "fc2.dW"))
    alloc = greedy_decision(p).allocation
    budget = min_feasible_budget(p)  # forces fc1.out (read by fc2.dW inside the stack) out
    r = solve_checkpointing(p, Decision((), None, (stack,)), "energy", budget_bits=budget)
    assert "fc1.out" in r.extra["recomputed"]
    feasible = [row for row in brute_force(p, Decision(alloc, None, (stack,))) if row[0] <= budget]
    check_optimal(r, min(row[2] for row in feasible), budget)


@pytest.mark.parametrize("seed", [0, 3, 6, 11])
def test_infeasible_budget_reports_min_budget(seed):
    p = instance(seed)
    fmin = min(row[0] for row in brute_force(p, greedy_decision(p)))
    assert min_feasible_budget(p) == pytest.approx(fmin)
    r = solve_checkpointing(p, budget_bits=0.99 * fmin)
    assert r.status == "infeasible"
    assert r.extra["min_feasible_budget_bits"] == pytest.approx(fmin)
    assert r.extra["store_all_footprint_bits"] == pytest.approx(store_all_footprint(p))
    ok = solve_checkpointing(p, budget_bits=fmin)
    assert ok.status == "optimal"


def test_revolve_steps():
    assert revolve_steps(10, 2) == 20
    assert revolve_steps(16, 3) == 33
    assert revolve_steps(100, 4) == 374
    for length in (1, 2, 3, 7, 10, 25):
        assert revolve_steps(length, 1) == length * (length - 1) // 2
        for s in (length, length + 1, 3 * length):
            assert revolve_steps(length, s) == length - 1
    for bad in ((0, 1), (5, 0), (-1, 3), (3, -2)):
        with pytest.raises(ValueError, match="l >= 1 and s >= 1"):
            revolve_steps(*bad)


def chain_problem(layers: int, dram_bw: float = 1e12):
    """``layers`` equal 64x64 Gemms (batch 4, MSE loss) on one core (free DRAM by default)."""
    b = GraphBuilder(f"chain{layers}")
    x = b.input("x", (4, 64))
    for k in range(layers):
        x = b.gemm(f"fc{k}", x, b.weight(f"w{k}", (64, 64)))
    g = derive_training_graph(b.build(), optimizer="sgd", loss="mse")
    p = build_problem(g, accelerator(n=1, hetero=False, dram_bw=dram_bw), order="layerwise")
    return p, g.tensors["fc0.out"].bits


@pytest.mark.parametrize("layers", [6, 10])
def test_revolve_relation_on_homogeneous_chain(layers):
    """Recompute count with a budget of ``s`` activations against Revolve's T(l, s).

    Single-level copies with ``K`` kept are a Revolve schedule whose initial sweep is our
    forward pass, so the count is never below Revolve: ``count + L >= T(L, s) + 1``, with
    equality at ``s = L`` (store-all, ``r = 1``).  The MSE loss reads the last output, so
    the chain Revolve reverses has ``L + 1`` steps and the tight form is
    ``count + L >= T(L + 1, s)``.  It is an equality at ``s = 1`` (only the input is a
    snapshot; the single-level schedule is then Revolve-optimal: ``count = L (L - 1) / 2``,
    which is also ``T(L, 1)``) and for ``s >= L / 2``; in between Revolve's optimum stores
    recomputed values as new snapshots (multi-level), which the bit vector cannot express,
    so our count is higher.  For ``L = 10`` the counts at ``s = 1, 2`` are 45 and 20,
    numerically ``T(10, 1)`` and ``T(10, 2)``; Revolve's ``T(11, 2) - 10`` is 14.
    """
    p, unit = chain_problem(layers)
    fwd = [i for i, op in enumerate(p.nodes) if op.op_type == "Gemm" and op.phase == Phase.FORWARD]
    assert len(fwd) == layers and len(p.checkpoint_tensors) == layers
    lat = float(p.costs.latency[fwd[0], 0])
    assert all(float(p.costs.latency[i, 0]) == lat for i in fwd)
    assert min_feasible_budget(p) == unit
    assert store_all_footprint(p) == layers * unit
    counts = {}
    for s in range(1, layers + 1):
        r = solve_checkpointing(p, budget_bits=s * unit)
        assert r.status == "optimal"
        assert r.simulated == pytest.approx(r.objective, rel=1e-6, abs=1e-6)
        count = round(r.objective / lat)
        assert r.objective == pytest.approx(count * lat, rel=1e-6, abs=1e-3)
        assert r.schedule.stats["recompute_nodes"] == count
        assert count + layers >= revolve_steps(layers, s) + 1
        assert count + layers >= revolve_steps(layers + 1, s)
        counts[s] = count
    assert counts[layers] + layers == revolve_steps(layers, layers) + 1
    assert counts[layers] == 0
    assert counts[1] + layers == revolve_steps(layers + 1, 1)
    assert counts[1] == revolve_steps(layers, 1)
    for s in range(layers // 2, layers + 1):
        assert counts[s] + layers == revolve_steps(layers + 1, s)
    assert all(counts[s] >= counts[s + 1] for s in range(1, layers))
    if layers == 10:
        assert counts[1] == 45 == revolve_steps(10, 1)
        assert counts[2] == 20 == revolve_steps(10, 2)
        assert revolve_steps(11, 2) - 10 == 14  # multi-level Revolve does better


def test_front_is_monotone_and_matches_single_solves():
    p = instance(6)
    alloc = greedy_decision(p).allocation
    lo, hi = min_feasible_budget(p), store_all_footprint(p)
    budgets = [lo + (hi - lo) * k / 5 for k in (3, 0, 5, 1, 4, 2)]  # unsorted on purpose
    front = checkpoint_front(p, budgets, Decision(alloc))
    assert len(front) == len(budgets)
    for b, r in zip(budgets, front, strict=True):
        assert r.status == "optimal"
        assert r.extra["budget_bits"] == b
        assert r.extra["peak_footprint_bits"] <= b + 1e-6
        assert r.simulated == pytest.approx(r.objective, rel=1e-6, abs=1e-6)
        single = solve_checkpointing(p, Decision(alloc), budget_bits=b)
        assert r.objective == pytest.approx(single.objective, rel=1e-6, abs=1e-6)
    ranked = sorted(zip(budgets, front, strict=True), key=lambda br: br[0])
    for (_, a), (_, b) in itertools.pairwise(ranked):
        assert b.objective <= a.objective + 1e-6
    assert ranked[-1][1].objective == pytest.approx(0.0, abs=1e-6)  # store-all fits
    assert ranked[0][1].objective > 0.0
    bad = checkpoint_front(p, [0.5 * lo], Decision(alloc))
    assert bad[0].status == "infeasible"


def test_model_size_and_errors():
    p = instance(6)
    m = build_checkpoint_model(p)
    assert m.n_binaries == len(p.checkpoint_tensors) == len(m.keep)
    assert set(m.decode(m.vector(frozenset(p.checkpoint_tensors)))) == set(p.checkpoint_tensors)
    assert m.decode(m.vector(frozenset())) == frozenset()
    with pytest.raises(ValueError, match="objective"):
        build_checkpoint_model(p, objective="edp")
    with pytest.raises(ValueError, match="objective"):
        solve_checkpointing(p, None, "throughput")


def test_resnet18_cifar_half_budget():
    g = derive_training_graph(resnet18(batch=1, stem="cifar"))
    acc = load_accelerator(ROOT / "examples" / "hardware" / "tpu_like_quad_core.yaml")
    p = build_problem(g, acc, order="layerwise")
    budget = 0.5 * store_all_footprint(p)
    assert min_feasible_budget(p) < budget
    for obj in ("latency", "energy"):
        r = solve_checkpointing(p, None, obj, budget_bits=budget)
        assert r.status == "optimal"
        assert r.simulated == pytest.approx(r.objective, rel=1e-6)
        assert r.extra["peak_footprint_bits"] <= budget
        assert r.extra["recomputed"]  # half the footprint forces recomputation
