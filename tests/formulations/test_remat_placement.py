"""monet_opt.formulations.remat_placement: keep / DRAM / recompute equals brute force."""

from __future__ import annotations

import itertools
import random

import pytest

from monet_opt.formulations.checkpointing import min_feasible_budget, store_all_footprint
from monet_opt.formulations.options import SolverOptions
from monet_opt.formulations.placement import build_placement_model, free_names
from monet_opt.formulations.remat_placement import master_lower_bound, solve_remat_placement
from monet_opt.schedule.evaluator import evaluate_metrics, placement_for
from monet_opt.schedule.memory import Placement
from monet_opt.schedule.realize import realize
from monet_opt.schedule.types import Decision
from monet_opt.units import within
from tests.schedule.test_memory import _instance

OPTS = SolverOptions(time_limit=60.0, mip_gap=1e-9)


def _case(seed: int):  # noqa: ANN202
    """A random capacity instance (small SRAMs), a random allocation and a footprint
    budget between the minimum feasible one and store-all (or none)."""
    rng = random.Random(seed)
    kib = rng.choice([2.0, 4.0, 8.0])
    p, alloc, _ = _instance(seed, sram_kib=kib, split=seed % 2 == 0)
    lo, hi = min_feasible_budget(p), store_all_footprint(p)
    budget = None if seed % 3 == 0 else lo + rng.random() * (hi - lo)
    return p, alloc, budget


def _keep_sets(p, alloc, budget):  # noqa: ANN001, ANN202
    cands = p.checkpoint_tensors
    for k in range(len(cands) + 1):
        for sub in itertools.combinations(cands, k):
            kept = frozenset(sub)
            m = evaluate_metrics(p, Decision(alloc, None, (), kept))
            if budget is None or within(m.peak_footprint_bits, budget):
                yield kept


def _value(p, alloc, kept, objective):  # noqa: ANN001, ANN202
    """V(K): the best simulated objective over the placement space of keep set K (on
    its derived problem; store-all is simulated on the base problem itself)."""
    target, talloc = p, alloc
    if kept != frozenset(p.checkpoint_tensors):
        real = realize(p, Decision(alloc, None, (), kept))
        target, talloc = real.problem, real.expand(alloc)
    cidx = [target.core_ids.index(int(a)) for a in talloc]
    base = placement_for(target, cidx, None, None).placement
    model = build_placement_model(target, cidx, base, objective=objective)
    free = tuple(model.s)
    best = float("inf")
    for k in range(len(free) + 1):
        for sub in itertools.combinations(free, k):
            pl = Placement(model.fixed_spills | frozenset(sub), base.read_window,
                           base.write_window)  # fmt: skip
            m = evaluate_metrics(target, Decision(tuple(talloc), placement=pl))
            if m.memory_overflow == 0:
                best = min(best, m.value(objective))
    return best


def _free(p, alloc, kept) -> int:  # noqa: ANN001
    target, talloc = p, alloc
    if kept != frozenset(p.checkpoint_tensors):
        real = realize(p, Decision(alloc, None, (), kept))
        target, talloc = real.problem, real.expand(alloc)
    cidx = [target.core_ids.index(int(a)) for a in talloc]
    return len(free_names(target, cidx, placement_for(target, cidx, None, None).placement))


def _seeds(n: int, max_work: int = 1500) -> list[int]:
    """Seeds whose brute force (Σ over keep sets of 2^free names) stays small."""
    out = []
    for seed in range(400):
        p, alloc, budget = _case(seed)
        if not 2 <= len(p.checkpoint_tensors) <= 5:
            continue
        work = sum(2 ** _free(p, alloc, k) for k in _keep_sets(p, alloc, budget))
        if work <= max_work:
            out.append(seed)
        if len(out) == n:
            break
    return out


SEEDS = _seeds(30)


@pytest.mark.parametrize("seed", SEEDS)
def test_equals_brute_force_latency(seed: int) -> None:
    """Over every keep set within the budget × every spill set of its placement space,
    the answer is the best simulated makespan that fits; it re-simulates to its
    objective, meets the budget, fits every memory, and its bound is below it."""
    p, alloc, budget = _case(seed)
    sets = list(_keep_sets(p, alloc, budget))
    best = min(_value(p, alloc, k, "latency") for k in sets)
    res = solve_remat_placement(p, Decision(alloc), "latency", OPTS, budget_bits=budget)
    m = evaluate_metrics(p, res.decision)
    assert res.status == "optimal"
    assert res.simulated == pytest.approx(best, rel=1e-6)
    assert m.latency == pytest.approx(res.simulated, rel=1e-9)
    assert m.memory_overflow == 0
    assert budget is None or within(m.peak_footprint_bits, budget)
    assert res.bound <= res.simulated * (1 + 1e-9)


@pytest.mark.parametrize("seed", SEEDS[:10])
def test_equals_brute_force_energy(seed: int) -> None:
    p, alloc, budget = _case(seed)
    sets = list(_keep_sets(p, alloc, budget))
    best = min(_value(p, alloc, k, "energy") for k in sets)
    res = solve_remat_placement(p, Decision(alloc), "energy", OPTS, budget_bits=budget)
    assert res.status == "optimal"
    assert res.simulated == pytest.approx(best, rel=1e-6)
    assert evaluate_metrics(p, res.decision).memory_overflow == 0


@pytest.mark.parametrize("objective", ["latency", "energy"])
@pytest.mark.parametrize("seed", SEEDS[:12])
def test_master_bound_is_valid(seed: int, objective: str) -> None:
    """The master's rows never exceed the simulated value of any placement of a keep
    set (here the default policy's and the best one)."""
    p, alloc, _ = _case(seed)
    for kept in _keep_sets(p, alloc, None):
        m = evaluate_metrics(p, Decision(alloc, None, (), kept))
        lb = master_lower_bound(p, alloc, kept, objective)
        if m.memory_overflow == 0:
            assert lb <= m.value(objective) * (1 + 1e-9) + 1e-6
        assert lb <= _value(p, alloc, kept, objective) * (1 + 1e-9) + 1e-6


def test_never_worse_than_its_start_and_rejects_bad_input() -> None:
    p, alloc, budget = _case(SEEDS[0])
    start = Decision(alloc, None, (), frozenset(p.checkpoint_tensors))
    res = solve_remat_placement(p, Decision(alloc), "latency", OPTS, start, budget_bits=None)
    assert res.simulated <= evaluate_metrics(p, start).latency * (1 + 1e-9)
    with pytest.raises(ValueError, match="capacity"):
        solve_remat_placement(p.unbounded, Decision(alloc))
    with pytest.raises(ValueError, match="objective"):
        solve_remat_placement(p, Decision(alloc), "edp")


def test_no_fitting_keep_set_is_reported_not_raised(monkeypatch) -> None:
    """When no keep set's placement fits, the result says infeasible (every keep set
    cut) instead of raising, so the joint solver goes on with its incumbent."""
    import dataclasses

    from monet_opt.formulations import remat_placement as rp

    real = rp.solve_placement

    def never_fits(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        return dataclasses.replace(real(*args, **kw), solver_status="infeasible")

    monkeypatch.setattr(rp, "solve_placement", never_fits)
    p, alloc, _ = _case(SEEDS[0])
    res = solve_remat_placement(p, Decision(alloc), "latency", OPTS)
    assert res.status == "infeasible" and res.simulated == float("inf")
