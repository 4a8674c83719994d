"""Multi-level schedules realized as derived problems (monet_opt.schedule.realize_remat)."""

import random

import numpy as np
import pytest

from monet_opt.formulations.remat_multilevel import (
    COMPUTE,
    from_problem,
    solve_search,
    validate_schedule,
)
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.models.ir import Phase
from monet_opt.models.training import derive_training_graph
from monet_opt.schedule.evaluator import evaluate, evaluate_metrics
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.realize import realize
from monet_opt.schedule.realize_remat import (
    realize_remat,
    remat_footprint,
    single_level_sequence,
    stacks_in_schedule,
    with_optimizer_nodes,
)
from monet_opt.schedule.types import Decision
from tests.factories import accelerator
from tests.factories import random_forward_graph as forward_graph


def instance(seed: int, memory: str = "unbounded"):
    g = derive_training_graph(forward_graph(seed), optimizer="sgd", loss="mse")
    acc = accelerator(n=1 + seed % 3, seed=seed, hetero=seed % 2 == 0)
    return build_problem(
        g,
        acc,
        prefetch_depth=seed % 3,
        layer_io=("onchip", "dram")[seed % 2],
        order=("heft", "layerwise")[(seed // 2) % 2],
        memory=memory,
    )


def remat_decision(alloc, seq, stacks=()):
    return Decision(tuple(alloc), None, tuple(stacks), None, None, tuple(seq))


@pytest.mark.parametrize("seed", range(8))
def test_single_level_sequence_is_realize(seed):
    """MONET's keep set written as a schedule gives realize's derived nodes, DRAM traffic
    and simulated latency and energy."""
    p = instance(seed, memory=("unbounded", "capacity")[seed % 2])
    alloc = greedy_decision(p).allocation
    rng = random.Random(seed)
    cands = p.checkpoint_tensors
    order = p.program_order()
    phases = [p.nodes[i].phase for i in order if p.nodes[i].phase != Phase.OPTIMIZER]
    split = phases.index(Phase.BACKWARD)
    fwd_first = Phase.FORWARD not in phases[split:]
    for _ in range(4):
        kept = frozenset(a for a in cands if rng.random() < 0.5)
        a = realize(p, Decision(alloc, None, (), kept))
        seq = single_level_sequence(p, kept)
        b = realize_remat(p, remat_decision(alloc, seq))
        assert a.origin == b.origin
        assert set(a.dropped) == set(b.dropped)
        ma = evaluate_metrics(p, Decision(alloc, None, (), kept))
        mb = evaluate_metrics(p, remat_decision(alloc, seq))
        assert mb.recompute_cycles == pytest.approx(ma.recompute_cycles, rel=1e-12)
        if not fwd_first:  # the loss reads a copy here, the original there
            continue
        ea = sorted((e.src, e.dst, e.tensor, e.via_dram, e.pipelined) for e in a.problem.edges)
        eb = sorted((e.src, e.dst, e.tensor, e.via_dram, e.pipelined) for e in b.problem.edges)
        assert ea == eb
        np.testing.assert_array_equal(a.problem.dram_read_bits, b.problem.dram_read_bits)
        np.testing.assert_array_equal(a.problem.dram_write_bits, b.problem.dram_write_bits)
        assert a.problem.dram_deps == b.problem.dram_deps
        assert mb.latency == pytest.approx(ma.latency, rel=1e-12)
        assert mb.energy == pytest.approx(ma.energy, rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_store_all_schedule_is_the_base_problem(seed):
    """The schedule computing every node once in program order simulates like the
    store-all, layer-by-layer decision (same latency, energy, memory)."""
    p = instance(seed, memory="capacity")
    dec = greedy_decision(p)
    seq = p.program_order()
    base = evaluate(p, dec)
    got = evaluate(p, remat_decision(dec.allocation, seq))
    assert got.latency == pytest.approx(base.latency, rel=1e-12)
    assert got.energy.total == pytest.approx(base.energy.total, rel=1e-12)
    assert got.stats["recompute_nodes"] == 0
    assert got.stats["memory_overflow"] == base.stats["memory_overflow"]


@pytest.mark.parametrize("seed", range(6))
def test_footprint_is_the_solvers_peak(seed):
    """The footprint of a realized optimal schedule is within the budget and at most the
    peak the rematerialization solver replays (validate_schedule)."""
    p = instance(seed)
    alloc = greedy_decision(p).allocation
    order = p.program_order()
    tg = from_problem(p, alloc, order)
    if len(tg.cost) > 18:
        pytest.skip("kept small for the full search")
    store = float(remat_footprint(p, single_level_sequence(p, None)).max())
    for frac in (1.0, 0.8, 0.6):
        r = solve_search(tg.cost, tg.mem, tg.preds, frac * store)
        if r.status != "optimal":
            continue
        seq = [tg.nodes[op.node] for op in r.schedule if op.kind == COMPUTE]
        chk = validate_schedule(r.schedule, tg.cost, tg.mem, tg.preds, frac * store)
        fp = remat_footprint(p, seq)
        # values are freed after their last reader here, maybe later in the solver's ops
        assert fp.max() <= chk.peak_memory + 1e-9
        assert fp.max() <= frac * store + 1e-9
        real = realize_remat(p, remat_decision(alloc, seq))
        assert real.peak_footprint_bits == pytest.approx(fp.max())
        m = evaluate_metrics(p, remat_decision(alloc, seq))
        assert m.recompute_cycles >= r.recompute_cost - 1e-9  # plus the copies' DRAM reads


def chain_problem(layers: int = 6):
    from tests.schedule.test_realize import chain

    return build_problem(chain(layers), accelerator(n=2, seed=1), order="layerwise")


def test_multi_level_copies_feed_copies():
    """A value recomputed from a recomputed value: copy -> copy edges stay on chip, copy
    -> original reads keep their routes, an original read by a copy comes from DRAM."""
    p = chain_problem(4)
    alloc = greedy_decision(p).allocation
    fwd = [i for i in p.program_order() if p.nodes[i].phase == Phase.FORWARD]
    bwd = [i for i in p.program_order() if p.nodes[i].phase != Phase.FORWARD]
    # forward once, then before the backward recompute fc0..fc3 again (fc1 from fc0's copy)
    seq = fwd + fwd[:-1] + bwd
    real = realize_remat(p, remat_decision(alloc, seq))
    copies = real.recompute_nodes
    assert len(copies) == len(fwd) - 1
    edges = {(e.src, e.dst): e for e in real.problem.edges}
    for a, b in zip(copies, copies[1:], strict=False):
        if (a, b) in edges:
            assert not edges[(a, b)].via_dram
    s = evaluate(p, remat_decision(alloc, seq))
    assert s.stats["recompute_nodes"] == len(copies)
    assert s.stats["recompute_cycles"] > 0
    # every backward reader of a forward activation reads a copy: all dropped
    assert set(real.dropped) == set(p.checkpoint_tensors) - {
        e.tensor for e in p.edges if e.src == fwd[-1]
    }


def test_invalid_schedules():
    p = chain_problem(3)
    alloc = greedy_decision(p).allocation
    order = list(p.program_order())
    sched = [i for i in order if p.nodes[i].phase != Phase.OPTIMIZER]
    with pytest.raises(ValueError, match="never computes"):
        realize_remat(p, remat_decision(alloc, sched[1:]))
    with pytest.raises(ValueError, match="before its input"):
        realize_remat(p, remat_decision(alloc, [sched[1], sched[0], *sched[2:]]))
    with pytest.raises(ValueError, match="out of range"):
        realize_remat(p, remat_decision(alloc, [*sched, 999]))
    opt = [i for i in order if p.nodes[i].phase == Phase.OPTIMIZER]
    with pytest.raises(ValueError, match="twice"):
        realize_remat(p, remat_decision(alloc, [*order, opt[0]]))
    with pytest.raises(ValueError, match="checkpoints must be None"):
        realize_remat(p, Decision(alloc, None, (), frozenset(), None, tuple(sched)))
    with pytest.raises(ValueError, match="realize_remat"):
        realize(p, remat_decision(alloc, sched))


def test_optimizer_nodes_follow_their_inputs():
    p = chain_problem(3)
    sched = [i for i in p.program_order() if p.nodes[i].phase != Phase.OPTIMIZER]
    full = with_optimizer_nodes(p, sched)
    pos = {o: k for k, o in enumerate(full)}
    assert len(full) == p.n_nodes
    for e in p.edges:
        assert pos[e.src] < pos[e.dst]


def test_stacks_in_schedule():
    p = chain_problem(4)
    order = p.program_order()
    fwd = [i for i in order if p.nodes[i].phase == Phase.FORWARD]
    st = (tuple(fwd[:2]),)
    seq = [i for i in order if p.nodes[i].phase != Phase.OPTIMIZER]
    assert stacks_in_schedule(p, st, seq) == st
    assert stacks_in_schedule(p, ((fwd[0], fwd[2]), *st), seq) == st  # fwd[1] between
    alloc = greedy_decision(p).allocation
    real = realize_remat(p, remat_decision(alloc, seq, st))
    assert real.stacks == st
    assert any(e.pipelined for e in real.problem.edges)
