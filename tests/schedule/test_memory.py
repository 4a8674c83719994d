"""monet_opt.schedule.memory: demand, placement, and occupancy ≤ capacity at every moment."""

from __future__ import annotations

import random

import numpy as np
import pytest

from monet_opt.models.training import derive_training_graph
from monet_opt.schedule.evaluator import evaluate, evaluate_metrics
from monet_opt.schedule.memory import (
    Placement,
    default_placement,
    demand,
    memory_model,
)
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.types import Decision
from tests.factories import accelerator
from tests.factories import random_forward_graph as forward_graph


def _instance(seed: int, sram_kib: float, split: bool):
    g = derive_training_graph(forward_graph(seed), optimizer="sgd", loss="mse")
    acc = accelerator(n=3, seed=seed, sram_bits=sram_kib * 8 * 1024, split=split)
    rng = random.Random(seed)
    p = build_problem(
        g,
        acc,
        memory="capacity",
        prefetch_depth=rng.choice([0, 1, 2, 3]),
        order=rng.choice(["heft", "layerwise"]),
    )
    alloc = tuple(rng.choice(a) for a in p.allowed)
    return p, alloc, rng


def _working_sets_fit(p, cidx) -> bool:
    mm = memory_model(p)
    n = p.n_nodes
    work = mm.work[np.arange(n), cidx]  # (n, 3)
    rows = mm.slot_row[cidx]
    for i in range(n):
        per: dict[int, float] = {}
        for k in range(3):
            if rows[i, k] >= 0:
                per[rows[i, k]] = per.get(rows[i, k], 0.0) + work[i, k]
        if any(b > mm.capacity[r] for r, b in per.items()):
            return False
    return True


@pytest.mark.parametrize("seed", range(40))
def test_occupancy_never_exceeds_the_demand_of_some_position(seed):
    """The theorem of the module docstring: with the gates of the evaluator, the
    occupancy of every memory at every moment is at most its demand at some position
    (so a placement within capacity keeps every memory within capacity)."""
    p, alloc, rng = _instance(seed, sram_kib=rng_kib(seed), split=seed % 2 == 0)
    stacks = ()
    ck = None
    if rng.random() < 0.4 and p.checkpoint_tensors:
        ck = frozenset(a for a in p.checkpoint_tensors if rng.random() < 0.5)
    dec = Decision(alloc, None, stacks, ck)
    s = evaluate(p, dec)
    m = evaluate_metrics(p, dec)
    assert s.latency == pytest.approx(m.latency) and s.energy.total == pytest.approx(m.energy)
    from monet_opt.schedule.evaluator import _run

    r = _run(p, dec)
    dem = r.demand
    assert dem is not None
    peak_demand = dict(zip(dem.labels, dem.peak, strict=True))
    for label, tr in s.memory.items():
        if label == "DRAM":
            continue
        assert tr.peak_bits <= peak_demand[label] * (1 + 1e-9) + 1e-6, label
    if not dem.overflow():
        for label, tr in s.memory.items():
            assert tr.peak_bits <= tr.capacity_bits * (1 + 1e-9) + 1e-6, label
    assert s.stats["memory_overflow"] == len(dem.overflow())


def rng_kib(seed: int) -> float:
    return random.Random(1000 + seed).choice([2.0, 4.0, 8.0, 32.0, 256.0])


@pytest.mark.parametrize("seed", range(20))
def test_default_policy_fits_whenever_the_working_sets_fit(seed):
    p, alloc, _ = _instance(seed, sram_kib=rng_kib(seed), split=seed % 3 == 0)
    cidx = [p.core_ids.index(a) for a in alloc]
    dem = default_placement(p, cidx)
    if _working_sets_fit(p, cidx):
        assert dem.overflow() == []
    # spilling everything the policy spilled again changes nothing
    again = demand(p, cidx, dem.placement)
    assert np.allclose(again.bits, dem.bits)


def test_spilling_moves_traffic_to_dram():
    p, alloc, _ = _instance(3, sram_kib=256.0, split=False)
    cidx = [p.core_ids.index(a) for a in alloc]
    base = demand(p, cidx, Placement(frozenset()))
    mm = memory_model(p)
    spillable = [t for t, ok in zip(mm.tensors, mm.spillable, strict=True) if ok]
    assert spillable
    one = demand(p, cidx, Placement(frozenset(spillable[:1])))
    mm_src = mm.t_src[list(mm.tensors).index(spillable[0])]
    row = mm.slot_row[cidx[mm_src], 2]
    assert one.bits[row].sum() < base.bits[row].sum()  # the producer's memory is relieved
    s0 = evaluate(p, Decision(alloc, placement=Placement(frozenset())))
    s1 = evaluate(p, Decision(alloc, placement=Placement(frozenset(spillable[:1]))))
    assert s1.stats["dram_traffic_bits"]["spill"] > 0 == s0.stats["dram_traffic_bits"]["spill"]
    assert s1.energy.dram > s0.energy.dram
