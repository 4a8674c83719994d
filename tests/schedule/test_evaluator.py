"""Evaluator invariants: precedence, no overlap on a core, DRAM port serial, memory >= 0."""

import itertools
import random

import numpy as np
import pytest

from monet_opt.heuristics.allocation import greedy_allocation
from monet_opt.models.builder import GraphBuilder
from monet_opt.schedule.evaluator import evaluate, evaluate_fast
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.types import Decision
from tests.factories import accelerator, random_graph


def random_instances(k: int):
    for seed in range(k):
        g = random_graph(seed, n_ops=7)
        acc = accelerator(3, seed=seed, hetero=seed % 2 == 0)
        for layer_io in ("onchip", "dram"):
            pb = build_problem(g, acc, prefetch_depth=seed % 3, layer_io=layer_io)
            rng = random.Random(seed)
            alloc = tuple(rng.choice(a) for a in pb.allowed)
            prio = tuple(rng.random() for _ in range(pb.n_nodes)) if seed % 2 else None
            yield pb, Decision(alloc, prio)


@pytest.mark.parametrize("case", list(random_instances(8)), ids=lambda c: c[0].graph.name)
def test_invariants(case):
    pb, dec = case
    s = evaluate(pb, dec)
    eps = 1e-9
    # precedence: a node starts after its producers end
    for e in pb.edges:
        assert s.start[e.dst] >= s.end[e.src] - eps
    # no overlap on a core (in program order)
    for c in pb.core_ids:
        idx = sorted(np.flatnonzero(s.core == c), key=lambda i: s.start[i])
        for a, b in itertools.pairwise(idx):
            assert s.start[b] >= s.end[a] - eps
    # the DRAM port carries one transfer at a time; reads finish before their node
    dram = sorted((t for t in s.transfers if t.channel == "dram"), key=lambda t: t.start)
    for a, b in itertools.pairwise(dram):
        assert b.start >= a.end - eps
    # memory never negative, latency covers everything
    for tr in s.memory.values():
        assert (tr.bits >= -1e-6).all()
    assert s.latency >= s.end.max() - eps
    assert all(t.end <= s.latency + eps for t in s.transfers)
    # fast path agrees with the full schedule
    lat, en = evaluate_fast(pb, dec.allocation, dec.priority)
    assert lat == pytest.approx(s.latency)
    assert en == pytest.approx(s.energy.total)


def two_independent_gemms():
    """``x`` feeds two GEMMs that share nothing else: no path between the two nodes.

    Each GEMM computes far longer than the DRAM read of the other (64x64x64 MACs on an
    8x8 array against 2 x 64x64 16-bit words at 64 bits per cycle), so the two can overlap.
    """
    b = GraphBuilder("fork")
    x = b.input("x", (64, 64))
    b.gemm("left", x, b.weight("wl", (64, 64)))
    b.gemm("right", x, b.weight("wr", (64, 64)))
    return b.build()


def test_independent_work_overlaps_on_different_cores():
    pb = build_problem(two_independent_gemms(), accelerator(2, hetero=False), layer_io="onchip")
    assert pb.node_names == ("left", "right")
    assert not pb.reachability.any()  # independent: neither waits for the other
    c0, c1 = pb.core_ids[:2]
    assert c0 in pb.allowed[0] and c1 in pb.allowed[1]
    serial = evaluate(pb, Decision((c0, c0)))
    split = evaluate(pb, Decision((c0, c1)))
    assert tuple(split.core) == (c0, c1)
    # the two compute intervals intersect
    assert split.start[0] < split.end[1] and split.start[1] < split.end[0]
    # so the last node ends before the sum of the node durations (the DRAM writes of
    # the two outputs follow), and the makespan is below one core's
    busy = float((split.end - split.start).sum())
    assert float(split.end.max()) < busy
    assert split.latency < serial.latency
    # on one core they run back to back
    assert max(serial.start) >= min(serial.end)


def test_greedy_is_valid_and_errors_are_clear():
    pb = build_problem(random_graph(1), accelerator(3, seed=1))
    alloc = greedy_allocation(pb)
    assert len(alloc) == pb.n_nodes
    with pytest.raises(ValueError, match="expected"):
        evaluate_fast(pb, alloc[:-1])
    with pytest.raises(ValueError, match="cannot run on core"):
        evaluate_fast(pb, (99,) * pb.n_nodes)
    with pytest.raises(ValueError, match="layer_io"):
        build_problem(random_graph(1), accelerator(2), layer_io="cache")
