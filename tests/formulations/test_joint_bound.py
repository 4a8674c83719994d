"""Certified joint bound (monet_opt.formulations.joint_bound): never above the optimum of
the whole space (allocation × program order × stacks × checkpoints × placement), checked
by enumeration on small instances."""

from __future__ import annotations

import itertools
import math

import pytest

from monet_opt.formulations.joint import solve_joint
from monet_opt.formulations.joint_bound import joint_lower_bound, node_tables
from monet_opt.formulations.options import SolverOptions
from monet_opt.schedule.evaluator import evaluate_metrics
from monet_opt.schedule.memory import Placement
from monet_opt.schedule.problem import Problem, build_problem
from monet_opt.schedule.types import Decision
from tests.factories import accelerator, random_graph


def _problem(seed: int, memory: str) -> Problem:
    g = random_graph(seed, n_ops=4)
    kib = [0.25, 0.5, 1.0, 4.0][seed % 4]
    acc = accelerator(n=2, seed=seed, sram_bits=kib * 8 * 1024, split=seed % 2 == 1)
    return build_problem(g, acc, memory=memory, tiles=2, prefetch_depth=seed % 2)


def _topological_orders(problem: Problem) -> list[tuple[int, ...]]:
    preds = [set(p) for p in problem.preds]
    out: list[tuple[int, ...]] = []

    def extend(prefix: list[int], left: set[int]) -> None:
        if not left:
            out.append(tuple(prefix))
            return
        for i in sorted(left):
            if preds[i] <= set(prefix):
                extend([*prefix, i], left - {i})

    extend([], set(range(problem.n_nodes)))
    return out


def _runs(order: tuple[int, ...]) -> list[tuple[tuple[int, ...], ...]]:
    """Every split of ``order`` into consecutive runs: the stackings of that order."""
    n = len(order)
    out = []
    for cuts in itertools.product((False, True), repeat=n - 1):
        stacks, cur = [], [order[0]]
        for k, cut in enumerate(cuts):
            if cut:
                stacks.append(tuple(cur))
                cur = []
            cur.append(order[k + 1])
        stacks.append(tuple(cur))
        out.append(tuple(s for s in stacks if len(s) > 1))
    return out


def _optimum(problem: Problem, fused: bool) -> float:
    """The best latency over every allocation, program order, keep set and (layer by
    layer) spill set, or over every stacking too (``fused``), with the default windows;
    decisions whose memories overflow are not feasible."""
    cands = sorted(problem.checkpoint_tensors)
    keeps = [frozenset(k) for r in range(len(cands) + 1) for k in itertools.combinations(cands, r)]
    spill_names = sorted({t for i in range(problem.n_nodes) for t in problem.nodes[i].outputs})
    best = math.inf
    for order in _topological_orders(problem):
        prio = tuple(float(problem.n_nodes - order.index(i)) for i in range(problem.n_nodes))
        for alloc in itertools.product(*problem.allowed):
            for keep in keeps:
                stackings = _runs(order) if fused else [()]
                for stacks in stackings:
                    placements: list[Placement | None] = [None]
                    if not stacks and problem.memory == "capacity" and not keep ^ set(cands):
                        placements += [
                            Placement(frozenset(s))
                            for r in range(1, len(spill_names) + 1)
                            for s in itertools.combinations(spill_names, r)
                        ]
                    for pl in placements:
                        dec = Decision(tuple(alloc), prio, stacks, keep, pl)
                        try:
                            m = evaluate_metrics(problem, dec)
                        except ValueError:
                            continue
                        if m.memory_overflow > 0 or m.stack_overflow > 0:
                            continue
                        best = min(best, m.latency)
    return best


@pytest.mark.parametrize("memory", ["capacity", "unbounded"])
@pytest.mark.parametrize("seed", range(6))
def test_bound_is_below_the_optimum_of_the_whole_space(seed: int, memory: str) -> None:
    p = _problem(seed, memory)
    for fused in (False, True):
        opt = _optimum(p, fused)
        if not math.isfinite(opt):
            continue
        b = joint_lower_bound(p, fusion=fused, options=SolverOptions(time_limit=5))
        assert b.value == max(b.parts.values())
        assert set(b.parts) >= {"work", "critical_path", "dram_port", "relaxation"}
        assert b.value <= opt * (1 + 1e-9), (fused, dict(b.parts), opt)


def test_forced_spills_strengthen_the_layer_by_layer_bound() -> None:
    """A tensor its producer streams on every core is read back from DRAM by each
    consumer: the layer-by-layer port table counts it, the fused one may not."""
    for seed in range(12):
        p = _problem(seed, "capacity")
        _, port_fused = node_tables(p, fusion=True)
        _, port_none = node_tables(p, fusion=False)
        assert (port_none >= port_fused - 1e-9).all()
        if (port_none > port_fused + 1e-9).any():
            return
    pytest.fail("no instance with a forced spill")


def test_joint_reports_every_bound_and_is_optimal_only_within_the_gap() -> None:
    p = _problem(2, "capacity")
    opts = SolverOptions(time_limit=10, mip_gap=1e-4)
    r = solve_joint(p, fusion="optimal", options=opts)
    bounds = r.extra["bounds"]
    assert r.bound == pytest.approx(max(bounds.values()))
    assert r.bound <= r.simulated * (1 + 1e-9)
    assert (r.status == "optimal") == (r.gap <= opts.mip_gap + 1e-9)
    assert "program order π" in r.scope
    loose = solve_joint(p, fusion="optimal", options=SolverOptions(time_limit=10, mip_gap=0.99))
    assert loose.status == "optimal"  # a 99 % gap is proven by any answer within it


def test_bad_objective() -> None:
    with pytest.raises(ValueError, match="objective"):
        joint_lower_bound(_problem(0, "capacity"), "edp")
