"""Benchmark: evaluations per second of the evaluator (the GA's fitness) on ResNet-18 CIFAR.

Run ``python benchmarks/evaluator_speed.py`` (``--allocations N``, ``--repeats R``).

The problem is ``examples/resnet18_cifar_edge.yaml`` (one AdamW training step of the
CIFAR ResNet-18, batch 4, on the TPU-like quad core) under both memory models
(``schedule.memory: unbounded`` as in the file, and ``capacity``).  The decisions are
``N`` random allocations (a uniformly random allowed core per node) and the greedy one
(:func:`monet_opt.heuristics.greedy_decision`), layer by layer and store-all, as the
allocation GA scores them.  For each memory model the table gives the evaluations per
second (best of ``R`` passes over the decisions) of

* ``evaluate_fast`` (latency and energy),
* ``evaluate_metrics`` (the GA's fitness: latency, energy, footprint, overflow count),
* ``evaluate`` (the full schedule: transfers, memory traces, statistics),

and, under the capacity semantics, the default placement policy
(:func:`monet_opt.schedule.memory.default_placement`) alone: its time per call and the
number of tensors it spills (mean over the decisions; forced spills included), and for
the greedy allocation.  Target: at least 1,000 ``evaluate_metrics`` per second under the
capacity semantics.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from monet_opt.api.inputs import load
from monet_opt.config import config_from_dict
from monet_opt.heuristics import greedy_decision
from monet_opt.schedule.evaluator import evaluate, evaluate_fast, evaluate_metrics
from monet_opt.schedule.memory import default_placement
from monet_opt.schedule.problem import Problem
from monet_opt.schedule.types import Decision

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CONFIG = EXAMPLES / "resnet18_cifar_edge.yaml"
TARGET = 1000.0  # evaluate_metrics per second under the capacity semantics


def build(memory: str) -> Problem:
    """The edge example's problem with ``schedule.memory`` set to ``memory``."""
    data = yaml.safe_load(CONFIG.read_text())
    data["schedule"]["memory"] = memory
    return load(config_from_dict(data, base_dir=EXAMPLES, source=CONFIG)).problem


def decisions(problem: Problem, n: int, seed: int = 0) -> list[Decision]:
    """The greedy decision and ``n`` random allocations."""
    rng = random.Random(seed)
    out = [greedy_decision(problem)]
    out += [Decision(tuple(rng.choice(a) for a in problem.allowed)) for _ in range(n)]
    return out


def rate(fn: Callable[[Decision], object], decs: Sequence[Decision], repeats: int) -> float:
    """Calls per second of ``fn`` over ``decs`` (best of ``repeats`` passes)."""
    fn(decs[0])  # warm the per-problem caches
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for d in decs:
            fn(d)
        best = min(best, time.perf_counter() - t)
    return len(decs) / best


def policy(problem: Problem, decs: Sequence[Decision], repeats: int) -> tuple[float, float, int]:
    """Default placement: time per call (ms, best pass), mean spills, greedy's spills."""
    ids = problem.core_ids
    cidx = [[ids.index(c) for c in d.allocation] for d in decs]
    spills = [len(default_placement(problem, c).placement.spills or ()) for c in cidx]
    per_call = 1e3 / rate(lambda c: default_placement(problem, c), cidx, repeats)
    return per_call, statistics.fmean(spills), spills[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--allocations", type=int, default=200, help="random allocations")
    ap.add_argument("--repeats", type=int, default=5, help="passes (best is reported)")
    args = ap.parse_args()
    console = Console(width=130)
    table = Table(title="Evaluations per second, ResNet-18 CIFAR training (edge example)")
    for col in ("memory", "nodes", "evaluate_fast", "evaluate_metrics", "evaluate",
                "policy ms/call", "spills mean", "spills greedy"):  # fmt: skip
        table.add_column(col, justify="left" if col == "memory" else "right")
    metrics_capacity = 0.0
    for memory in ("unbounded", "capacity"):
        pb = build(memory)
        decs = decisions(pb, args.allocations)
        fast = rate(lambda d, pb=pb: evaluate_fast(pb, d.allocation), decs, args.repeats)
        met = rate(lambda d, pb=pb: evaluate_metrics(pb, d), decs, args.repeats)
        full = rate(lambda d, pb=pb: evaluate(pb, d), decs[: max(len(decs) // 4, 1)], 2)
        cells = ["-", "-", "-"]
        if memory == "capacity":
            ms, mean, greedy = policy(pb, decs, args.repeats)
            cells = [f"{ms:.3f}", f"{mean:.1f}", str(greedy)]
            metrics_capacity = met
        table.add_row(
            memory, str(pb.n_nodes), f"{fast:,.0f}", f"{met:,.0f}", f"{full:,.0f}", *cells
        )
    console.print(table)
    ok = "meets" if metrics_capacity >= TARGET else "MISSES"
    console.print(
        f"evaluate_metrics under capacity: {metrics_capacity:,.0f}/s, {ok} the target of "
        f"{TARGET:,.0f}/s ({args.allocations} random allocations + greedy, best of "
        f"{args.repeats} passes)"
    )


if __name__ == "__main__":
    main()
