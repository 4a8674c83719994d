"""monet_opt.schedule.memory: demand, placement, and occupancy ≤ capacity at every moment."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from monet_opt.api.inputs import load
from monet_opt.config import config_from_dict
from monet_opt.heuristics import greedy_decision
from monet_opt.models.training import derive_training_graph
from monet_opt.schedule.evaluator import evaluate, evaluate_metrics
from monet_opt.schedule.memory import (
    Placement,
    default_placement,
    demand,
    memory_model,
)
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.realize import realize
from monet_opt.schedule.types import Decision
from monet_opt.units import REL_TOL
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


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_occupancy_never_exceeds_the_demand_of_some_position(seed, fused):
    """The theorem of the module docstring: with the gates of the evaluator, the
    occupancy of every memory at every moment is at most its demand at some position
    (so a placement within capacity keeps every memory within capacity); layer by layer
    and with random fused stacks (whose tiles' producer and consumer share a position),
    random checkpoints and SRAM sizes.  The DRAM split accounts for every bit the port
    moves."""
    from monet_opt.schedule.evaluator import _run

    p, alloc, rng = _instance(seed, sram_kib=rng_kib(seed), split=seed % 2 == 0)
    stacks = _random_stacks(p, rng) if fused else ()
    ck = None
    if rng.random() < 0.4 and p.checkpoint_tensors:
        ck = frozenset(a for a in p.checkpoint_tensors if rng.random() < 0.5)
    dec = Decision(alloc, None, stacks, ck)
    s = evaluate(p, dec)
    m = evaluate_metrics(p, dec)
    assert s.latency == pytest.approx(m.latency) and s.energy.total == pytest.approx(m.energy)
    r = _run(p, dec)
    dem = r.demand
    assert dem is not None
    peak_demand = dict(zip(dem.labels, dem.peak, strict=True))
    for label, tr in s.memory.items():
        if label != "DRAM":
            assert tr.peak_bits <= peak_demand[label] * (1 + 1e-9) + 1e-6, label
            if not dem.overflow():
                assert tr.peak_bits <= tr.capacity_bits * (1 + 1e-9) + 1e-6, label
    assert s.stats["memory_overflow"] == len(dem.overflow())
    t = r.times
    moved = t.read_bits.sum() + t.write_bits.sum() + t.stream_read_bits.sum()
    moved += t.stream_write_bits.sum()
    assert sum(s.stats["dram_traffic_bits"].values()) == pytest.approx(moved)
    view = memory_model(r.problem).view(None)
    for e in r.problem.edges:
        if e.pipelined:
            assert view.pos[e.src] == view.pos[e.dst]


def _random_stacks(p, rng, max_stack=5):
    from monet_opt.ga.spaces import _runs

    order = p.program_order()
    bits = [int(rng.random() < 0.6) for _ in range(len(order) - 1)]
    return _runs(order, bits, max_stack)


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
    kind = "activation" if spillable[0] in p.checkpoint_tensors else "spill"
    assert s1.stats["dram_traffic_bits"][kind] > s0.stats["dram_traffic_bits"][kind]
    assert s0.stats["dram_traffic_bits"]["spill"] == 0
    assert s1.energy.dram > s0.energy.dram
    assert s0.stats["activation_placement"].get(spillable[0], "on_chip") == "on_chip"
    if kind == "activation":
        assert s1.stats["activation_placement"][spillable[0]] == "dram"


# -- the default policy: incremental sweep, straightforward definition, completeness ----


def _derived(p, alloc, rng):
    """A derived problem of ``alloc`` with about half the checkpoints dropped (recompute
    copies: tensors of the same name on two producers), and its core indices."""
    ck = frozenset(a for a in p.checkpoint_tensors if rng.random() < 0.5)
    real = realize(p, Decision(alloc, None, (), ck))
    pb = real.problem
    return pb, [pb.core_ids.index(a) for a in real.expand(alloc)]


def _cases(seeds, kib=None):
    """(problem, core indices): base problems of random instances and derived ones."""
    for seed in seeds:
        sram = rng_kib(seed) if kib is None else kib
        p, alloc, rng = _instance(seed, sram_kib=sram, split=seed % 2 == 0)
        yield p, [p.core_ids.index(a) for a in alloc]
        other = tuple(rng.choice(a) for a in p.allowed)
        yield p, [p.core_ids.index(a) for a in other]
        if p.checkpoint_tensors:
            yield _derived(p, other, rng)


def _straightforward(p, cidx):
    """The policy by its definition, without incremental bookkeeping: recompute the
    demand after every change; one sweep over the positions (a change that raises the
    demand at a position already passed is not revisited)."""
    mm = memory_model(p)
    c = np.asarray(cidx)
    n = p.n_nodes
    d = p.prefetch_depth
    pos = np.empty(n, dtype=int)
    pos[list(p.program_order())] = np.arange(n)
    spilled = mm.close(mm.forced(c))
    rw, ww = mm.windows(pos, spilled, np.full(n, d), np.full(n, d))
    limit = mm.capacity * (1 + REL_TOL) + 1e-6
    last = np.full(len(mm.tensors), -1)
    np.maximum.at(last, mm.e_tensor, pos[mm.e_dst])
    rows = mm.slot_row[c]
    stuck: set[tuple[int, int]] = set()
    start = 0
    while True:
        bits = mm.bits(c, pos, spilled, rw, ww)
        over = [
            (int(q), int(m))
            for m, q in zip(*np.nonzero(bits > limit[:, None]), strict=True)
            if q >= start and (m, q) not in stuck
        ]
        if not over:
            return spilled, rw, ww, bits
        q, m = min(over)
        start = q
        src = mm.t_src
        cand = np.flatnonzero(
            ~spilled & mm.spillable & (rows[src, 2] == m) & (pos[src] < q) & (last >= q)
        )
        if len(cand):  # furthest last use first, as many as the excess needs
            ranked = cand[np.lexsort((-mm.t_bits[cand], -last[cand]))]
            k = int(np.searchsorted(np.cumsum(mm.t_tile_bits[ranked]), bits[m, q] - limit[m]))
            new = np.zeros_like(spilled)
            new[ranked[: k + 1]] = True
            new = mm.close(new) & ~spilled
            on = new[mm.e_tensor]
            dst, a = mm.e_dst[on], src[mm.e_tensor[on]]
            gap = np.maximum(np.minimum(pos[dst] - q - 1, pos[dst] - pos[a] - 1), 0)
            np.minimum.at(rw, dst, gap)
            spilled |= new
            continue
        cover = (rw > 0) & (pos - rw <= q) & (pos > q) & (rows == m).any(axis=1)
        if cover.any():
            rw[cover] = pos[cover] - q - 1
            continue
        cover = (ww > 0) & (pos < q) & (pos + ww >= q) & (rows[:, 2] == m)
        if cover.any():
            ww[cover] = q - pos[cover] - 1
            continue
        stuck.add((m, q))


def _single_changes(p, cidx, placement):
    """Demand after each single change of a placement: one more tensor spilled (with
    its namesakes), or one read / write window shortened to nothing."""
    mm = memory_model(p)
    c = np.asarray(cidx)
    pos = np.empty(p.n_nodes, dtype=int)
    pos[list(p.program_order())] = np.arange(p.n_nodes)
    spilled = mm.spill_mask(placement.spills)
    rw = np.asarray(placement.read_window)
    ww = np.asarray(placement.write_window)
    for t in np.flatnonzero(~spilled & mm.spillable):
        sp = spilled.copy()
        sp[t] = True
        sp = mm.close(sp)
        yield mm.bits(c, pos, sp, *mm.windows(pos, sp, rw, ww))
    for j in range(p.n_nodes):
        for r, w in ((rw, ww), (ww, rw)):
            if r[j] > 0:
                r2 = r.copy()
                r2[j] = 0
                yield mm.bits(c, pos, spilled, *((r2, w) if r is rw else (w, r2)))


@pytest.mark.parametrize("seed", range(30))
def test_policy_demand_is_the_demand_of_its_placement(seed):
    """The incremental sweep returns the demand a from-scratch computation gives for the
    placement it returns (twins by name included), and that placement is complete."""
    for p, cidx in _cases([seed]):
        dem = default_placement(p, cidx)
        again = demand(p, cidx, dem.placement)
        if memory_model(p).exact:
            np.testing.assert_array_equal(again.bits, dem.bits)
        else:
            np.testing.assert_allclose(again.bits, dem.bits, rtol=1e-12, atol=1e-6)
        assert again.placement == dem.placement


def test_sweep_keeps_its_running_demand_exact(monkeypatch):
    """After every change, the sweep's running demand is the demand of its state."""
    from monet_opt.schedule import memory as mem

    relieve = mem._Sweep._relieve
    checked = []

    def checking(self, m, p, excess):
        done = relieve(self, m, p, excess)
        c = np.asarray(self.c)
        sp = np.asarray(self.spilled)
        ref = self.mm.bits(c, self.view.pos, sp, np.asarray(self.rw), np.asarray(self.ww))
        np.testing.assert_allclose(np.asarray(self.bits), ref, rtol=1e-12, atol=1e-6)
        checked.append(done)
        return done

    monkeypatch.setattr(mem._Sweep, "_relieve", checking)
    for p, cidx in _cases(range(24)):
        default_placement(p, cidx)
    assert any(checked)  # spills and shortened windows were checked


@pytest.mark.parametrize("seed", range(40))
def test_policy_is_the_straightforward_sweep(seed):
    """Where one straightforward sweep (recomputing the demand after every change) leaves
    no overflow, the incremental policy finds exactly its placement and demand."""
    for p, cidx in _cases([seed]):
        spilled, rw, ww, bits = _straightforward(p, cidx)
        if (bits > memory_model(p).capacity[:, None] * (1 + REL_TOL) + 1e-6).any():
            continue  # the policy sweeps the passed positions again (next test)
        dem = default_placement(p, cidx)
        assert dem.placement.spills == memory_model(p).names(spilled)
        assert dem.placement.read_window == tuple(rw.tolist())
        assert dem.placement.write_window == tuple(ww.tolist())
        np.testing.assert_allclose(dem.bits, bits, rtol=1e-12, atol=1e-6)


def test_a_spill_that_raises_a_passed_position_is_swept_again():
    """A spill's write-back buffer raises the demand at a position the sweep has passed
    (here core 1 at position 1): one straightforward sweep leaves that overflow, the
    policy sweeps the position again and fits."""
    p, _, rng = _instance(92, sram_kib=2.0, split=False)
    cidx = [p.core_ids.index(rng.choice(a)) for a in p.allowed]
    assert _working_sets_fit(p, cidx)
    assert default_placement(p, cidx).overflow() == []


@pytest.mark.parametrize("seed", range(24))
def test_policy_leaves_no_overflow_a_change_could_remove(seed):
    """At every (memory, position) over capacity after the policy, no single further
    change (a spill, a window shortened) lowers the demand."""
    for kib in (2.0, rng_kib(seed)):
        for p, cidx in _cases([seed], kib=kib):
            dem = default_placement(p, cidx)
            over = dem.bits > dem.capacity[:, None] * (1 + REL_TOL) + 1e-6
            cells = list(zip(*np.nonzero(over), strict=True))
            if not cells:
                continue
            for bits in _single_changes(p, cidx, dem.placement):
                for m, q in cells:
                    assert bits[m, q] >= dem.bits[m, q] - 1e-6


@pytest.fixture(scope="module")
def resnet_edge():
    """The edge example (ResNet-18 CIFAR training, TPU-like quad core) under capacity."""
    root = Path(__file__).resolve().parents[2] / "examples"
    data = yaml.safe_load((root / "resnet18_cifar_edge.yaml").read_text())
    data["schedule"]["memory"] = "capacity"
    return load(config_from_dict(data, base_dir=root)).problem


def test_policy_fits_the_resnet_edge_example(resnet_edge):
    """ResNet-18 on the quad core: every working set fits, so every placement does
    (random allocations need passed positions swept again; dropped checkpoints give
    recompute copies that share their activation's name)."""
    p = resnet_edge
    rng = random.Random(6)
    decisions = [greedy_decision(p)]
    for k in range(30):
        alloc = tuple(rng.choice(a) for a in p.allowed)
        ck = frozenset(a for a in p.checkpoint_tensors if rng.random() < 0.5)
        decisions.append(Decision(alloc, None, (), ck if k % 3 == 2 else None))
    for dec in decisions:
        pb, cidx = p, [p.core_ids.index(a) for a in dec.allocation]
        if dec.checkpoints is not None:
            real = realize(p, dec)
            pb, cidx = (
                real.problem,
                [real.problem.core_ids.index(a) for a in real.expand(dec.allocation)],
            )
        assert _working_sets_fit(pb, cidx)
        dem = default_placement(pb, cidx)
        assert dem.overflow() == []
        np.testing.assert_array_equal(demand(pb, cidx, dem.placement).bits, dem.bits)
        assert evaluate_metrics(p, dec).memory_overflow == 0


# -- fused stacks under capacity ------------------------------------------------------


def test_weights_that_do_not_fit_a_stack_are_restreamed_per_tile():
    """A stack of two dense layers whose weight buffers fit one at a time but not
    together: both weights (the larger first) are re-streamed once per tile (tiles x
    their bits of DRAM reads, double buffers of 2/tiles of them), the weight SRAM fits,
    and the DRAM re-fetch traffic grows by exactly that."""
    from monet_opt.models.builder import GraphBuilder
    from monet_opt.schedule.evaluator import _run

    b = GraphBuilder("two")
    x = b.input("x", (4, 64))
    y = b.gemm("fc0", x, b.weight("w0", (64, 64)))
    b.gemm("fc1", y, b.weight("w1", (64, 48)))
    g = derive_training_graph(b.build(), optimizer="sgd", loss="mse")
    w_bits = 64 * (64 + 48) * 16  # both weights (16-bit)
    acc = accelerator(n=1, seed=0, hetero=False, sram_bits=40960, split=True)
    p = build_problem(g, acc, memory="capacity", tiles=8)
    alloc = tuple(a[0] for a in p.allowed)
    order = p.program_order()
    fwd = [i for i in order if p.nodes[i].name in ("fc0", "fc1")]
    assert len(fwd) == 2 and abs(order.index(fwd[0]) - order.index(fwd[1])) == 1
    lbl = _run(p, Decision(alloc))
    fused = _run(p, Decision(alloc, None, (tuple(fwd),)))
    assert lbl.n_overflow == 0 and fused.n_overflow == 0
    re = fused.times.restream_bits
    assert re is not None and re.sum() == pytest.approx(8 * w_bits)
    m0 = evaluate(p, Decision(alloc)).stats["dram_traffic_bits"]
    m1 = evaluate(p, Decision(alloc, None, (tuple(fwd),))).stats["dram_traffic_bits"]
    assert m1["refetch"] - m0["refetch"] == pytest.approx(8 * w_bits)


@pytest.mark.parametrize("seed", range(40))
def test_schedule_does_not_depend_on_node_numbering(seed):
    """The base problem (nodes not in program order) and its store-all realization
    (nodes renumbered in program order) simulate to the same makespan and energy: DMA
    reads queued at one position go in program order, not by node index."""
    p, alloc, _ = _instance(seed, sram_kib=random.Random(seed).choice([2.0, 8.0]), split=False)
    real = realize(p, Decision(alloc, None, (), frozenset(p.checkpoint_tensors)))
    a = evaluate_metrics(p, Decision(alloc))
    b = evaluate_metrics(real.problem, Decision(tuple(real.expand(alloc))))
    assert a.latency == pytest.approx(b.latency, rel=1e-12)
    assert a.energy == pytest.approx(b.energy, rel=1e-12)
