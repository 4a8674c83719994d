"""Capacity allocation MILP: equal to brute force over every allocation the placement
allows, with capacities that bind (monet_opt.formulations.allocation_memory)."""

from __future__ import annotations

import itertools

import pytest

from monet_opt.formulations._builder import solve_model
from monet_opt.formulations.allocation import serial_upper_bound
from monet_opt.formulations.allocation_memory import build_capacity_model
from monet_opt.heuristics.allocation import greedy_allocation
from monet_opt.schedule.memory import default_placement, demand, memory_model
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.timing import simulate
from tests.factories import accelerator, random_graph


def _instance(seed: int):
    g = random_graph(seed, n_ops=6)
    kib = [1.0, 2.0, 4.0, 16.0][seed % 4]
    acc = accelerator(3, seed=seed, hetero=seed % 3 != 0, sram_bits=kib * 8192, split=seed % 2 == 1)
    p = build_problem(g, acc, memory="capacity", prefetch_depth=seed % 3)
    ids = p.core_ids
    warm = greedy_allocation(p)
    cidx = [ids.index(a) for a in warm]
    placement = default_placement(p, cidx).placement
    return p, placement


def _allowed(p, placement, cidx) -> bool:
    mm = memory_model(p)
    kept = ~mm.spill_mask(placement.spills or ())
    for t, k in enumerate(kept):
        if k and mm.streamed[mm.t_src[t], cidx[mm.t_src[t]], 2]:
            return False
    for k in range(len(mm.e_tensor)):
        if kept[mm.e_tensor[k]] and mm.streamed[mm.e_dst[k], cidx[mm.e_dst[k]], mm.e_operand[k]]:
            return False
    return not demand(p, cidx, placement).overflow()


@pytest.mark.parametrize("seed", range(30))
def test_capacity_milp_equals_brute_force(seed):
    p, placement = _instance(seed)
    best = None
    for cidx in itertools.product(*p.allowed_idx):
        if not _allowed(p, placement, list(cidx)):
            continue
        mk = simulate(p, list(cidx), None, placement).makespan
        best = mk if best is None else min(best, mk)
    assert best is not None  # the greedy allocation itself is allowed
    model = build_capacity_model(p, placement, serial_upper_bound(p) * 2 + 1.0)
    h = model.builder.to_highs({"mip_rel_gap": 1e-9, "mip_abs_gap": 1e-9})
    st = solve_model(h)
    assert st.status == "optimal"
    assert st.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
    from monet_opt.formulations.allocation_rows import decode_allocation

    alloc = decode_allocation(p, model, st.values)
    cidx = [p.core_ids.index(a) for a in alloc]
    assert _allowed(p, placement, cidx)
    assert simulate(p, cidx, None, placement).makespan == pytest.approx(st.objective, rel=1e-6)


@pytest.mark.parametrize("seed", range(0, 30, 2))
def test_capacity_milp_with_in_order_chain_equals_brute_force(seed, monkeypatch):
    """The in-order rows as prefix maxima (above ``PAIR_ROWS_LIMIT``) keep the capacity
    MILP exact."""
    from monet_opt.formulations import allocation_rows

    monkeypatch.setattr(allocation_rows, "PAIR_ROWS_LIMIT", 0)
    p, placement = _instance(seed)
    best = min(
        simulate(p, list(cidx), None, placement).makespan
        for cidx in itertools.product(*p.allowed_idx)
        if _allowed(p, placement, list(cidx))
    )
    model = build_capacity_model(p, placement, serial_upper_bound(p) * 2 + 1.0)
    assert any(name.startswith("R[") for name in model.builder.names)
    st = solve_model(model.builder.to_highs({"mip_rel_gap": 1e-9, "mip_abs_gap": 1e-9}))
    assert st.status == "optimal"
    assert st.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
