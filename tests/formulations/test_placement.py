"""monet_opt.formulations.placement: the exact spill set equals brute force."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from monet_opt.formulations import placement as placement_mod
from monet_opt.formulations._builder import MipStatus
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


def _shift_incumbent(monkeypatch, shift: float, bound_factor: float = 1.0) -> list:  # noqa: ANN001
    """Make every placement solve return HiGHS' optimum with the makespan column moved
    by ``shift`` (relative) and the status ``time_limit``: for ``shift > 0`` a feasible
    point of the MILP above the least schedule of its spill set, as HiGHS' feasibility
    jump returns when the time limit stops the search before the root LP improves it
    (ResNet-18 dynamo, tpu_like_quad_core, 10 s and 30 s); for ``shift < 0`` a value
    below the simulated one, as a model error would give.  Returns the log of
    (reported objective, bound) per solve."""
    real = placement_mod.solve_placement_model
    log: list[tuple[float, float]] = []

    def shifted(model, options):  # noqa: ANN001, ANN202
        st, _pl = real(model, options)
        assert st.status == "optimal" and st.values is not None
        values = np.array(st.values, dtype=float)
        delta = shift * st.objective
        values[model.T] += delta
        assert values[model.T] <= model.builder.ub[model.T]  # still within the column
        out = MipStatus(
            "time_limit", st.objective + delta, st.bound * bound_factor, st.gap, st.seconds,
            values,
        )  # fmt: skip
        log.append((out.objective, out.bound))
        return out, model.decode(values)

    monkeypatch.setattr(placement_mod, "solve_placement_model", shifted)
    return log


def test_time_limited_incumbent_above_its_schedule_is_reported_as_simulated(
    monkeypatch,
) -> None:
    """Regression (``api.solve`` of ResNet-18 raised "internal: the placement
    re-simulates to 52130474.5, the MILP says 52243242.5"): an incumbent whose makespan
    column sits above the least schedule of its spill set is a feasible point, not an
    error; the answer is reported at its simulated value, with HiGHS' bound and a
    status that says what the bound proves."""
    p, alloc, _cidx, _base = _case(LATENCY_SEEDS[0])
    exact = solve_placement(p, Decision(alloc), options=SolverOptions(time_limit=20))
    log = _shift_incumbent(monkeypatch, 0.05, bound_factor=0.9)
    r = solve_placement(p, Decision(alloc), options=SolverOptions(time_limit=20))
    ((highs_obj, highs_bound),) = log
    sim = evaluate_metrics(p, r.decision).latency
    assert r.simulated == pytest.approx(sim) == pytest.approx(exact.simulated)
    assert r.objective == r.simulated < highs_obj
    assert r.extra["highs_incumbent"] == highs_obj
    assert r.bound == pytest.approx(highs_bound) and r.bound <= r.simulated
    assert r.solver_status == "time_limit" and r.status == "feasible"
    assert r.gap == pytest.approx((sim - highs_bound) / sim)


def test_time_limited_incumbent_inside_remat_placement(monkeypatch) -> None:
    """The same incumbents inside the keep / DRAM / recompute decomposition (the path
    of the crash): it finishes with the simulated values."""
    from monet_opt.formulations.remat_placement import solve_remat_placement

    p, alloc, _cidx, _base = _case(LATENCY_SEEDS[0])
    _shift_incumbent(monkeypatch, 0.05)
    r = solve_remat_placement(p, Decision(alloc), options=SolverOptions(time_limit=20))
    assert r.simulated == pytest.approx(evaluate_metrics(p, r.decision).latency)
    assert r.bound <= r.simulated * (1 + 1e-9)


def test_milp_below_its_simulated_answer_is_reported_not_raised(monkeypatch) -> None:
    """A MILP value below the simulated one (rows that under-estimate, never seen) is
    no crash either: the simulated value is reported, bounded by the global bounds
    only, with a note."""
    from monet_opt.formulations.bounds import lower_bounds

    p, alloc, _cidx, _base = _case(LATENCY_SEEDS[0])
    log = _shift_incumbent(monkeypatch, -0.05)
    r = solve_placement(p, Decision(alloc), options=SolverOptions(time_limit=20))
    sim = evaluate_metrics(p, r.decision).latency
    assert r.simulated == pytest.approx(sim) and r.objective == log[0][0] < sim
    assert "inconsistency" in r.extra
    assert r.bound == pytest.approx(lower_bounds(p)["max"]) and r.bound <= sim
