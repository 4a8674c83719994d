"""GA genomes: encode/decode round trips, layer groups, MAGMA keys, fusion runs."""

from __future__ import annotations

import random

import pytest

from monet_opt.ga.spaces import (
    AllocationSpace,
    CheckpointSpace,
    FusionSpace,
    JointSpace,
    layer_groups,
)
from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.models.training import derive_training_graph
from monet_opt.schedule.evaluator import evaluate_metrics
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.realize import validate_stacks
from tests.factories import accelerator
from tests.factories import random_forward_graph as forward_graph


def problem(seed: int = 0, n: int = 3):
    g = derive_training_graph(forward_graph(seed), optimizer="sgd", loss="mse")
    return build_problem(g, accelerator(n=n, seed=seed, hetero=True), layer_io="onchip")


def test_layer_groups_share_a_core_and_cover_flexible_nodes():
    p = problem()
    groups = layer_groups(p)
    covered = sorted(i for g in groups for i in g)
    assert covered == sorted(p.flexible)
    assert any(len(g) > 1 for g in groups), "dX/dW should join their forward layer"
    sp = AllocationSpace(p, "layer")
    for gene in range(3):
        genome = [min(gene, n - 1) for n in sp.choices]
        alloc = sp.decode(genome).allocation
        for g in groups:
            assert len({alloc[i] for i in g}) == 1
            assert all(alloc[i] in p.allowed[i] for i in g)


@pytest.mark.parametrize("style", ["layer", "node", "magma"])
def test_allocation_round_trip(style):
    p = problem(1)
    sp = AllocationSpace(p, style)
    random.seed(3)
    for _ in range(20):
        g = sp.random_genome()
        d = sp.decode(g)
        assert sp.decode(sp.encode(d)).allocation == d.allocation
        if style == "magma":
            assert p.program_order(sp.decode(sp.encode(d)).priority) == p.program_order(d.priority)


def test_magma_seed_keeps_default_order():
    p = problem(2)
    sp = AllocationSpace(p, "magma")
    d = sp.decode(sp.seeds()[0])
    assert p.program_order(d.priority) == p.program_order()
    assert d.allocation == greedy_decision(p).allocation
    assert sp.n_keys == p.n_nodes


def test_unknown_style():
    with pytest.raises(ValueError, match="allocation style"):
        AllocationSpace(problem(), "random")


def test_fusion_runs_are_consecutive_and_bounded():
    p = problem(4)
    sp = FusionSpace(p, max_stack=3)
    order = p.program_order()
    random.seed(0)
    for _ in range(30):
        g = sp.random_genome()
        d = sp.decode(g)
        validate_stacks(p, d.stacks, order)  # raises if not consecutive
        assert all(2 <= len(s) <= 3 for s in d.stacks)
    everything = [1] * len(sp.choices)
    assert all(len(s) == 3 for s in sp.decode(everything).stacks[:-1])
    d = sp.decode([1, 1] + [0] * (len(sp.choices) - 2))
    assert sp.encode(d)[:3] == [1, 1, 0]


def test_checkpoint_bits_are_monet_drop_bits():
    p = problem(5)
    sp = CheckpointSpace(p)
    n = len(p.checkpoint_tensors)
    assert sp.decode([0] * n).checkpoints == frozenset(p.checkpoint_tensors)
    assert sp.decode([1] * n).checkpoints == frozenset()
    store_all, drop_all = sp.seeds()
    m_all = evaluate_metrics(p, sp.decode(store_all))
    m_none = evaluate_metrics(p, sp.decode(drop_all))
    assert m_none.peak_footprint_bits <= m_all.peak_footprint_bits
    assert m_none.recompute_cycles >= m_all.recompute_cycles == 0


def test_joint_concatenates_parts():
    p = problem(6)
    sp = JointSpace(p, max_stack=4)
    a, f, c = sp.parts
    assert sp.n_genes == len(a.choices) + len(f.choices) + len(c.choices)
    random.seed(1)
    g = sp.random_genome()
    d = sp.decode(g)
    assert sp.decode(sp.encode(d)) == d
    assert len(sp.seeds()) == 4
