"""Evaluator-scored local search (monet_opt.heuristics.local_search)."""

from __future__ import annotations

import time

from monet_opt.heuristics.allocation import greedy_decision
from monet_opt.heuristics.local_search import _cuts, _stacks, improve_decision, neighbours
from monet_opt.models.training import derive_training_graph
from monet_opt.schedule.evaluator import evaluate_metrics
from monet_opt.schedule.problem import build_problem
from monet_opt.schedule.types import Decision
from tests.factories import accelerator
from tests.factories import random_forward_graph as forward_graph


def _problem(seed: int):  # noqa: ANN202
    g = derive_training_graph(forward_graph(seed), optimizer="sgd", loss="mse")
    return build_problem(g, accelerator(n=3, seed=seed), memory="capacity", tiles=4)


def test_cut_vector_round_trip() -> None:
    order = (4, 0, 2, 1, 3, 5)
    stacks = ((0, 2, 1), (3, 5))
    cuts = _cuts(order, stacks)
    assert cuts == [True, False, False, True, False]
    assert _stacks(order, cuts) == stacks


def test_search_never_worsens_and_reaches_a_local_optimum() -> None:
    for seed in range(4):
        p = _problem(seed)
        start = greedy_decision(p)
        best = {"dec": start, "val": evaluate_metrics(p, start).latency}

        def accept(dec: Decision, p=p, best=best) -> bool:
            m = evaluate_metrics(p, dec)
            if m.memory_overflow > 0 or m.stack_overflow > 0:
                return False
            if m.latency < best["val"] * (1 - 1e-9):
                best.update(dec=dec, val=m.latency)
                return True
            return False

        n = improve_decision(p, lambda best=best: best["dec"], accept, time.perf_counter() + 30)
        assert n > 0
        assert best["val"] <= evaluate_metrics(p, start).latency
        # a local optimum: no single move improves it any more
        dec = best["dec"]
        order = p.program_order(dec.priority)
        from monet_opt.heuristics.local_search import _apply

        for mv in neighbours(p, dec, keep=False):
            cand = _apply(p, dec, mv, order, 8)
            if cand is not None:
                assert not accept(cand)


def test_moves_respect_the_stack_limit_and_allowed_cores() -> None:
    p = _problem(1)
    dec = greedy_decision(p)
    from monet_opt.heuristics.local_search import _apply

    order = p.program_order(None)
    for mv in neighbours(p, dec):
        cand = _apply(p, dec, mv, order, 2)
        if cand is None:
            continue
        assert all(len(st) <= 2 for st in cand.stacks)
        assert all(c in p.allowed[i] for i, c in enumerate(cand.allocation))
