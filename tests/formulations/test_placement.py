"""monet_opt.formulations.placement: the exact spill set equals brute force."""

from __future__ import annotations

import itertools
import random

import pytest

from monet_opt.formulations.options import SolverOptions
from monet_opt.formulations.placement import (
    build_placement_model,
    free_names,
    solve_placement,
    solve_placement_model,
)
from monet_opt.schedule.evaluator import evaluate_metrics
from monet_opt.schedule.memory import Placement, default_placement
from monet_opt.schedule.types import Decision
from tests.schedule.test_memory import _instance

OPTS = {"time_limit": 30.0, "mip_rel_gap": 1e-9}


def _case(seed: int):  # noqa: ANN202
    """A random capacity instance with small SRAMs (capacity binds), a random
    allocation and the default policy's placement."""
    kib = random.Random(seed).choice([2.0, 4.0, 8.0])
    p, alloc, _ = _instance(seed, sram_kib=kib, split=seed % 2 == 0)
    cidx = [p.core_ids.index(a) for a in alloc]
    return p, alloc, cidx, default_placement(p, cidx).placement


def _brute(p, alloc, base, fixed, free, objective):  # noqa: ANN001, ANN202
    """Best simulated objective over every spill set of the space that fits."""
    best = float("inf")
    for k in range(len(free) + 1):
        for sub in itertools.combinations(free, k):
            pl = Placement(fixed | frozenset(sub), base.read_window, base.write_window)
            m = evaluate_metrics(p, Decision(alloc, placement=pl))
            if m.memory_overflow == 0:
                best = min(best, m.value(objective))
    return best


def _seeds(n: int, max_free: int) -> list[int]:
    out = []
    for seed in range(200):
        p, _alloc, cidx, base = _case(seed)
        if 0 < len(free_names(p, cidx, base)) <= max_free:
            out.append(seed)
        if len(out) == n:
            return out
    return out


LATENCY_SEEDS = _seeds(30, 9)


@pytest.mark.parametrize("seed", LATENCY_SEEDS)
def test_placement_milp_equals_brute_force_latency(seed) -> None:
    """Over every spill set of the space (free names 2^k), the MILP's optimum is the best
    simulated makespan among the placements that fit, and its answer re-simulates to it;
    it is never worse than the default policy's placement."""
    p, alloc, cidx, base = _case(seed)
    model = build_placement_model(p, cidx, base)
    st, pl = solve_placement_model(model, OPTS)
    assert st.status == "optimal"
    free = tuple(model.s)
    best = _brute(p, alloc, base, model.fixed_spills, free, "latency")
    sim = evaluate_metrics(p, Decision(alloc, placement=pl))
    assert st.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
    assert sim.latency == pytest.approx(st.objective, rel=1e-6, abs=1e-6)
    assert sim.memory_overflow == 0
    assert sim.latency <= evaluate_metrics(p, Decision(alloc)).latency * (1 + 1e-9)


@pytest.mark.parametrize("seed", _seeds(10, 8))
def test_placement_milp_equals_brute_force_energy(seed) -> None:
    p, alloc, cidx, base = _case(seed)
    model = build_placement_model(p, cidx, base, objective="energy")
    st, pl = solve_placement_model(model, OPTS)
    best = _brute(p, alloc, base, model.fixed_spills, tuple(model.s), "energy")
    assert st.objective == pytest.approx(best, rel=1e-6)
    assert evaluate_metrics(p, Decision(alloc, placement=pl)).energy == pytest.approx(
        st.objective, rel=1e-6
    )


def test_capacity_binds_and_the_milp_beats_the_policy_somewhere() -> None:
    """The brute-force instances are not trivial: on some the policy's own spill set is
    not the best one and the MILP is strictly faster."""
    gains = 0
    for seed in LATENCY_SEEDS[:12]:
        p, alloc, cidx, base = _case(seed)
        r = solve_placement(p, Decision(alloc), options=SolverOptions(time_limit=20))
        gains += r.simulated < evaluate_metrics(p, Decision(alloc)).latency * (1 - 1e-9)
    assert gains >= 2


def test_solve_placement_on_dropped_checkpoints() -> None:
    """With dropped activations the MILP runs on the derived problem (recompute copies
    whose outputs share their activation's name) and its placement re-simulates."""
    p, alloc, _cidx, _base = _case(LATENCY_SEEDS[0])
    ck = frozenset(list(p.checkpoint_tensors)[:1])
    dec = Decision(alloc, None, (), ck)
    r = solve_placement(p, dec, options=SolverOptions(time_limit=20))
    assert r.status == "optimal" and r.decision.checkpoints == ck
    assert r.decision.placement is not None and r.decision.placement.read_window
    assert r.simulated <= evaluate_metrics(p, dec).latency * (1 + 1e-9)
    assert evaluate_metrics(p, r.decision).latency == pytest.approx(r.simulated)


def test_placement_errors() -> None:
    from monet_opt.models.training import derive_training_graph
    from monet_opt.schedule.problem import build_problem
    from tests.factories import accelerator
    from tests.factories import random_forward_graph as forward_graph

    g = derive_training_graph(forward_graph(1), optimizer="sgd", loss="mse")
    p = build_problem(g, accelerator(n=2, seed=1), memory="unbounded")
    with pytest.raises(ValueError, match="capacity"):
        solve_placement(p, Decision(tuple(a[0] for a in p.allowed)))
    q, alloc, _c, _b = _case(LATENCY_SEEDS[0])
    with pytest.raises(ValueError, match="objective"):
        solve_placement(q, Decision(alloc), objective="edp")
    order = q.program_order()
    with pytest.raises(ValueError, match="stacks"):
        solve_placement(q, Decision(alloc, None, ((order[0], order[1]),)))
