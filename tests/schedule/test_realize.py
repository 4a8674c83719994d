"""Realized decisions: store-all identity, recompute copies, footprint, fused stacks."""

import itertools
import random

import numpy as np
import pytest

from monet_opt.formulations.checkpointing import min_feasible_budget, store_all_footprint
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.models.builder import GraphBuilder
from monet_opt.models.ir import Phase
from monet_opt.models.training import derive_training_graph
from monet_opt.schedule.evaluator import evaluate, evaluate_fast
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.realize import (
    footprint_profile,
    realize,
    recompute_set,
    stack_memory_bits,
    stack_overflow,
    validate_stacks,
)
from monet_opt.schedule.types import Decision
from tests.factories import accelerator
from tests.factories import random_forward_graph as forward_graph


def instance(seed: int, layer_io: str | None = None, n: int | None = None):
    g = derive_training_graph(forward_graph(seed), optimizer="sgd", loss="mse")
    acc = accelerator(n=n or 1 + seed % 3, seed=seed, hetero=seed % 2 == 0)
    return build_problem(
        g,
        acc,
        prefetch_depth=seed % 3,
        layer_io=layer_io or ("onchip", "dram")[seed % 2],
        order=("heft", "layerwise")[(seed // 2) % 2],
    )


def random_alloc(p, rng: random.Random) -> tuple[int, ...]:
    return tuple(rng.choice(a) for a in p.allowed)


def derived_index(real, node: int) -> int:
    """Derived index of an original (not recomputed) base node."""
    return next(d for d, o in enumerate(real.origin) if o == node and real.recompute_for[d] is None)


def chain(layers: int, batch: int = 4, width: int = 64, training: bool = True):
    b = GraphBuilder(f"chain{layers}")
    x = b.input("x", (batch, width))
    for k in range(layers):
        x = b.gemm(f"fc{k}", x, b.weight(f"w{k}", (width, width)))
    g = b.build()
    return derive_training_graph(g, optimizer="sgd", loss="mse") if training else g


def node(p, name: str) -> int:
    return p.node_names.index(name)


# -- checkpointing ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_store_all_is_the_base_problem(seed):
    p = instance(seed)
    rng = random.Random(seed)
    alloc = random_alloc(p, rng)
    prio = tuple(rng.random() for _ in range(p.n_nodes)) if seed % 2 else None
    base = evaluate(p, Decision(alloc, prio))
    for ck in (None, frozenset(p.checkpoint_tensors)):
        s = evaluate(p, Decision(alloc, prio, (), ck))
        assert s.latency == pytest.approx(base.latency, rel=1e-12)
        assert s.energy.total == pytest.approx(base.energy.total, rel=1e-12)
        assert s.stats["recompute_cycles"] == 0.0 and s.stats["recompute_nodes"] == 0
    # the derived problem of store-all is the base problem in program order
    real = realize(p, Decision(alloc, prio, (), frozenset(p.checkpoint_tensors)))
    order = p.program_order(prio)
    assert real.origin == order and not real.recompute_nodes and not real.dropped
    assert real.problem.node_names == tuple(p.node_names[i] for i in order)
    d = evaluate(real.problem, Decision(real.expand(alloc)))
    assert d.latency == pytest.approx(base.latency, rel=1e-12)
    assert d.energy.total == pytest.approx(base.energy.total, rel=1e-12)
    assert np.allclose(np.sort(d.end), np.sort(base.end))


def base_recompute_cycles(p, rset, alloc) -> float:
    """Σ over copies of latency + DRAM reads (weights, inputs, kept activations), from
    the base problem (``layer_io="onchip"``)."""
    c = p.costs
    ids = {cid: k for k, cid in enumerate(c.core_ids)}
    members = set(rset)
    cyc = 0.0
    for o in rset:
        bits = sum(p.graph.tensors[t].bits for t in p.dram_read_tensors[o])
        bits += sum(e.bits for e in p.edges if e.dst == o and e.src not in members)
        cyc += float(c.latency[o, ids[alloc[o]]]) + bits * c.dram_cycles_per_bit
    return cyc


@pytest.mark.parametrize("seed", range(6))
def test_dropping_one_activation(seed):
    p = instance(seed, layer_io="onchip", n=3)
    rng = random.Random(seed)
    alloc = random_alloc(p, rng)
    cands = p.checkpoint_tensors
    assert cands
    for a in cands:
        kept = frozenset(cands) - {a}
        rset = recompute_set(p, a, kept)
        real = realize(p, Decision(alloc, checkpoints=kept))
        pd = real.problem
        assert real.dropped == (a,) and real.kept == kept
        # exactly the copies of R_K(a), named after the activation, topologically ordered
        copies = real.recompute_nodes
        assert tuple(real.origin[d] for d in copies) == rset
        assert all(real.recompute_for[d] == a for d in copies)
        assert [pd.nodes[d].name for d in copies] == [
            f"{p.nodes[o].name}@recompute[{a}]" for o in rset
        ]
        assert pd.n_nodes == p.n_nodes + len(rset)
        # copies run on the core of their original
        sched = evaluate(p, Decision(alloc, checkpoints=kept))
        assert sched.node_names == pd.node_names
        for d in copies:
            assert sched.core[d] == alloc[real.origin[d]]
        # the producer no longer writes a; the backward readers read it on chip
        prod = next(e.src for e in p.edges if e.tensor == a)
        assert a in p.dram_write_tensors[prod]
        assert a not in pd.dram_write_tensors[derived_index(real, prod)]
        prod_copy = next(d for d in copies if real.origin[d] == prod)
        readers = {
            e.dst for e in p.edges if e.tensor == a and p.nodes[e.dst].phase != Phase.FORWARD
        }
        assert readers
        for j in readers:
            dj = derived_index(real, j)
            assert a in p.dram_read_tensors[j]
            assert a not in pd.dram_read_tensors[dj]
            (e,) = [e for e in pd.edges if e.dst == dj and e.tensor == a]
            assert e.src == prod_copy and not e.via_dram
            assert prod_copy < dj  # recomputed before its first reader
        assert pd.dram_write_bits.sum() == pytest.approx(
            p.dram_write_bits.sum() - p.graph.tensors[a].bits
        )
        # recompute cost: copy latencies + their DRAM reads
        ids = {cid: k for k, cid in enumerate(pd.core_ids)}
        expect = sum(
            float(pd.costs.latency[d, ids[alloc[real.origin[d]]]]) + float(pd.dram_read_cycles[d])
            for d in copies
        )
        assert sched.stats["recompute_cycles"] == pytest.approx(expect, rel=1e-12)
        assert sched.stats["recompute_cycles"] == pytest.approx(
            base_recompute_cycles(p, rset, alloc), rel=1e-12
        )
        assert sched.stats["recompute_nodes"] == len(rset)
        assert sched.stats["recompute_energy_pj"] > 0


def test_recompute_sets_follow_dropped_inputs():
    """Closures stop at kept tensors; dropping every activation of a 4-layer chain
    recomputes each one from the network input, once per activation: 1 + 2 + 3 + 4 copies."""
    p = build_problem(chain(4), accelerator(2, seed=1), order="layerwise")
    fc = [node(p, f"fc{k}") for k in range(4)]
    assert recompute_set(p, "fc2.out", frozenset()) == tuple(fc[:3])
    assert recompute_set(p, "fc2.out", {"fc0.out"}) == tuple(fc[1:3])
    assert recompute_set(p, "fc2.out", {"fc1.out"}) == (fc[2],)
    with pytest.raises(ValueError, match="no producing"):
        recompute_set(p, "x", frozenset())
    real = realize(p, Decision(greedy_decision(p).allocation, checkpoints=frozenset()))
    assert len(real.recompute_nodes) == 1 + 2 + 3 + 4
    with pytest.raises(ValueError, match="not checkpoint candidates"):
        realize(p, Decision(greedy_decision(p).allocation, checkpoints=frozenset({"x"})))


@pytest.mark.parametrize("seed", range(10))
def test_footprint(seed):
    p = instance(seed)
    rng = random.Random(seed)
    alloc = random_alloc(p, rng)
    prio = tuple(rng.random() for _ in range(p.n_nodes)) if seed % 3 == 0 else None
    order = p.program_order(prio)
    cands = p.checkpoint_tensors
    peaks = {}
    for r in range(len(cands) + 1):
        for kept in map(frozenset, itertools.combinations(cands, r)):
            prof, win = footprint_profile(p, order, kept)
            s = evaluate(p, Decision(alloc, prio, (), kept))
            assert prof.max() == pytest.approx(s.stats["peak_footprint_bits"], rel=1e-12)
            assert s.footprint.max() == pytest.approx(prof.max(), rel=1e-12)
            assert set(win) == set(cands)
            peaks[kept] = prof.max()
    # dropping an activation never increases the peak
    for kept, peak in peaks.items():
        for a in kept:
            assert peaks[kept - {a}] <= peak + 1e-9
    assert peaks[frozenset()] == pytest.approx(min_feasible_budget(p, prio))
    assert peaks[frozenset(cands)] == pytest.approx(store_all_footprint(p, prio))
    assert min(peaks.values()) == peaks[frozenset()]


def test_footprint_windows_on_a_chain():
    """Kept: from production to the last backward reader; dropped: from the first."""
    p = build_problem(chain(3), accelerator(1, hetero=False), order="layerwise")
    order = p.program_order()
    unit = p.graph.tensors["fc0.out"].bits
    prof, win = footprint_profile(p, order, p.checkpoint_tensors)
    pos = {i: k for k, i in enumerate(order)}
    assert win["fc0.out"][0] == pos[node(p, "fc0")]
    assert win["fc0.out"][1] == win["fc0.out"][2] == pos[node(p, "fc1.dW")]
    assert prof.max() == 3 * unit
    prof0, _ = footprint_profile(p, order, ())
    assert prof0.max() == unit
    assert prof0[: pos[node(p, "loss.grad")]].max() == 0.0


# -- fused stacks ----------------------------------------------------------------------


def test_validate_stacks_errors_name_the_node():
    p = build_problem(chain(3), accelerator(2, seed=0), order="layerwise")
    order = p.program_order()
    fc0, fc1, fc2 = (node(p, f"fc{k}") for k in range(3))
    assert validate_stacks(p, [(fc1, fc0), (fc2,)], order) == ((fc0, fc1),)
    with pytest.raises(ValueError, match="not consecutive in program order: node 'fc1'"):
        validate_stacks(p, [(fc0, fc2)], order)
    with pytest.raises(ValueError, match="node 'fc1' is already in stack 0"):
        validate_stacks(p, [(fc0, fc1), (fc1, fc2)], order)
    with pytest.raises(ValueError, match="node index 99 out of range"):
        validate_stacks(p, [(fc0, 99)], order)
    alloc = greedy_decision(p).allocation
    with pytest.raises(ValueError, match="not consecutive"):
        evaluate(p, Decision(alloc, stacks=((fc0, fc2),)))
    with pytest.raises(ValueError, match="already in stack"):
        evaluate_fast(p, alloc, stacks=((fc0, fc1), (fc1, fc2)))


@pytest.mark.parametrize(
    "bad",
    [
        {"stacks": ((99,),)},
        {"stacks": ((0,), (0,))},
        {"checkpoints": "all+bogus"},
    ],
    ids=["out-of-range", "repeated", "unknown-checkpoint"],
)
def test_trivial_decisions_are_validated(bad):
    p = build_problem(chain(3), accelerator(1), order="layerwise")
    alloc = greedy_decision(p).allocation
    if bad.get("checkpoints") == "all+bogus":
        bad = {"checkpoints": frozenset(p.checkpoint_tensors) | {"bogus"}}
    dec = Decision(alloc, **bad)
    with pytest.raises(ValueError):
        realize(p, dec)
    with pytest.raises(ValueError):
        evaluate(p, dec)


def test_stack_pipelines_across_cores():
    p = build_problem(
        chain(3), accelerator(2, hetero=False, dram_bw=1e12), order="layerwise", tiles=8
    )
    fc0, fc1 = node(p, "fc0"), node(p, "fc1")
    alloc = list(greedy_decision(p).allocation)
    alloc[fc0], alloc[fc1] = p.core_ids[0], p.core_ids[1]
    alloc = tuple(alloc)
    plain = evaluate(p, Decision(alloc))
    assert plain.start[fc1] >= plain.end[fc0]
    dec = Decision(alloc, stacks=((fc0, fc1),))
    real = realize(p, dec)
    d0, d1 = derived_index(real, fc0), derived_index(real, fc1)
    (e,) = [e for e in real.problem.edges if e.src == d0 and e.dst == d1]
    assert e.pipelined and not e.via_dram
    assert real.problem.pipe_preds[d1] == (d0,)
    assert "fc0.out" in real.problem.tile_tensors
    s = evaluate(p, dec)
    assert s.start[d1] < s.end[d0]  # the consumer starts on the producer's first tile
    lat0 = float(p.costs.latency[fc0, 0])
    assert s.start[d1] == pytest.approx(s.fetch_end[d0] + lat0 / 8)
    assert s.end[d1] >= s.end[d0] + float(p.costs.latency[fc1, 1]) / 8 - 1e-9
    assert s.stats["stack_overflow"] == 0
    one = build_problem(
        chain(3), accelerator(2, hetero=False, dram_bw=1e12), order="layerwise", tiles=1
    )
    s1 = evaluate(one, Decision(alloc, stacks=((fc0, fc1),)))
    r1 = realize(one, Decision(alloc, stacks=((fc0, fc1),)))
    assert s1.start[derived_index(r1, fc1)] >= s1.end[derived_index(r1, fc0)] - 1e-9


def test_stack_with_dram_layer_io_skips_the_round_trip():
    # forward only: the internal tensor is neither written nor read back
    p = build_problem(chain(3, training=False), accelerator(1), layer_io="dram")
    fc0, fc1 = node(p, "fc0"), node(p, "fc1")
    alloc = greedy_decision(p).allocation
    bits = p.graph.tensors["fc0.out"].bits
    real = realize(p, Decision(alloc, stacks=((fc0, fc1),)))
    pd = real.problem
    d0, d1 = derived_index(real, fc0), derived_index(real, fc1)
    assert "fc0.out" in p.dram_write_tensors[fc0] and "fc0.out" in p.dram_read_tensors[fc1]
    assert "fc0.out" not in pd.dram_write_tensors[d0]
    assert "fc0.out" not in pd.dram_read_tensors[d1]
    assert pd.dram_write_bits[d0] == pytest.approx(p.dram_write_bits[fc0] - bits)
    assert pd.dram_read_bits[d1] == pytest.approx(p.dram_read_bits[fc1] - bits)
    assert pd.dram_energy < p.dram_energy
    # training: a kept activation is spilled (still written), a dropped one is not
    p = build_problem(chain(3), accelerator(1), layer_io="dram", order="layerwise")
    fc0, fc1 = node(p, "fc0"), node(p, "fc1")
    alloc = greedy_decision(p).allocation
    for ck, written in ((None, True), (frozenset(p.checkpoint_tensors) - {"fc0.out"}, False)):
        real = realize(p, Decision(alloc, stacks=((fc0, fc1),), checkpoints=ck))
        pd = real.problem
        d0, d1 = derived_index(real, fc0), derived_index(real, fc1)
        assert ("fc0.out" in pd.dram_write_tensors[d0]) == written
        assert "fc0.out" not in pd.dram_read_tensors[d1]
        assert pd.dram_read_bits[d1] == pytest.approx(p.dram_read_bits[fc1] - bits)
        expect_w = p.dram_write_bits[fc0] - (0 if written else bits)
        assert pd.dram_write_bits[d0] == pytest.approx(expect_w)


def test_stack_overflow_reports_weights_over_capacity():
    # two 256x256 16-bit weights (128 KiB each) against 256 KiB cores
    g = chain(2, batch=1, width=256, training=False)
    p = build_problem(g, accelerator(2, hetero=False))
    fc0, fc1 = node(p, "fc0"), node(p, "fc1")
    stack = (fc0, fc1)
    wbits = p.graph.tensors["w0"].bits
    assert wbits == 256 * 256 * 16
    same = tuple(p.core_ids[0] for _ in range(p.n_nodes))
    need = stack_memory_bits(p, stack, same)
    tile = p.graph.tensors["fc0.out"].bits / p.tiles
    assert need == {p.core_ids[0]: pytest.approx(2 * wbits + tile)}
    cap = p.accelerator.core(p.core_ids[0]).onchip_bits
    assert 2 * wbits + tile > cap > wbits + tile
    (msg,) = stack_overflow(p, [stack], same)
    assert "stack 0 (fc0..fc1)" in msg and f"on core {p.core_ids[0]}" in msg
    assert evaluate(p, Decision(same, stacks=(stack,))).stats["stack_overflow"] == 1
    split = list(same)
    split[fc1] = p.core_ids[1]
    assert stack_overflow(p, [stack], split) == []
    assert evaluate(p, Decision(tuple(split), stacks=(stack,))).stats["stack_overflow"] == 0
    assert stack_overflow(p, [(fc0,)], same) == []  # a single node is not a stack


# -- evaluate_fast ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_evaluate_fast_matches_evaluate(seed):
    p = instance(seed)
    rng = random.Random(seed)
    order_prio = tuple(rng.random() for _ in range(p.n_nodes)) if seed % 2 else None
    order = p.program_order(order_prio)
    cands = p.checkpoint_tensors
    fwd = [k for k, i in enumerate(order) if p.nodes[i].phase == Phase.FORWARD]
    for _ in range(4):
        alloc = random_alloc(p, rng)
        k = rng.choice(fwd[:-1])
        stacks = (tuple(order[k : k + rng.randint(2, 3)]),) if rng.random() < 0.7 else ()
        ck = frozenset(a for a in cands if rng.random() < 0.5) if rng.random() < 0.8 else None
        s = evaluate(p, Decision(alloc, order_prio, stacks, ck))
        lat, en = evaluate_fast(p, alloc, order_prio, stacks, ck)
        assert lat == pytest.approx(s.latency, rel=1e-12)
        assert en == pytest.approx(s.energy.total, rel=1e-12)
