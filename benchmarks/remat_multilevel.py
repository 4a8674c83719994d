"""Benchmark: exact multi-level rematerialization against the Checkmate MILP and single level.

Run ``python benchmarks/remat_multilevel.py [--quick] [--checkmate-time-limit S]`` from
the repository root.  Prints two tables.

1. Multi-level (:mod:`monet_opt.formulations.remat_multilevel`: chain DP or A* search)
   against Checkmate's MILP (:mod:`monet_opt.formulations.checkmate`, HiGHS) on the same
   abstract instances: instance, nodes, budget, multi-level seconds and optimum,
   Checkmate seconds, status and optimum, speedup (Checkmate / multi-level wall time),
   and the single-level optimum (MONET's bit vector,
   :mod:`monet_opt.formulations.checkpointing`, budget ``s`` activations) where an
   equivalent instance exists, counted like the multi-level optimum: ``L + 1`` plus its
   extra forward steps.
   Instances: Revolve chains of L = 10, 20, 40 layers (``revolve_chain(L + 1)``, budget
   ``s + 2`` for ``s`` snapshots; the optimum is the total number of forward
   computations, ``T(L + 1, s) + 1``) and random training DAGs
   (:func:`~monet_opt.formulations.remat_instances.random_training_dag`).  A Checkmate
   time is a lower bound when its status is ``time_limit``.
2. The recompute work of single-level and multi-level checkpointing on the homogeneous
   chains (extra forward steps over one forward pass, budget of ``s`` activations for
   the single-level model), L up to 60.
3. With ``--models resnet18,gpt2`` (only these tables run): real training graphs
   (``examples/resnet18_cifar_edge.yaml``, ``examples/gpt2_mini_datacenter.yaml``,
   greedy allocation), abstract data from
   :func:`~monet_opt.formulations.remat_multilevel.from_problem`, one accounting for
   both models: every resident activation and gradient counts (module docstring).
   Multi-level: the block DP (:func:`solve_blocks`, exact over block-nested
   schedules) and its minimum feasible budget.  Single level: MONET keep sets realized
   as schedules (:func:`single_level_schedule`) and replayed; the keep sets tried are
   the empty one, the full one and the optimal keep sets of
   :func:`~monet_opt.formulations.checkpointing.checkpoint_front` at 24 footprint
   budgets (optimal for MONET's footprint, not for this accounting: the single-level
   column is an upper bound here).  Also MONET's own minimum footprint
   (:func:`~monet_opt.formulations.checkpointing.min_feasible_budget`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monet_opt.formulations.checkmate import solve_checkmate  # noqa: E402
from monet_opt.formulations.checkpointing import (  # noqa: E402
    checkpoint_front,
    min_feasible_budget,
    revolve_steps,
    solve_checkpointing,
    store_all_footprint,
)
from monet_opt.formulations.remat_instances import random_training_dag  # noqa: E402
from monet_opt.formulations.remat_multilevel import (  # noqa: E402
    from_problem,
    min_budget_blocks,
    revolve_chain,
    single_level_schedule,
    solve_blocks,
    solve_remat,
    validate_schedule,
)
from monet_opt.hardware.yaml_io import load_monet_accelerator  # noqa: E402
from monet_opt.models.builder import GraphBuilder  # noqa: E402
from monet_opt.models.training import derive_training_graph  # noqa: E402
from monet_opt.schedule.problem import Problem, build_problem  # noqa: E402

QUAD = ROOT / "examples" / "hardware" / "tpu_like_quad_core.yaml"


def chain_problem(layers: int) -> tuple[Problem, float]:
    """``layers`` equal 64x64 Gemms (batch 4, MSE loss, SGD) on the TPU-like quad core
    (identical MAC cores, so every copy costs the same) and one activation's bits."""
    b = GraphBuilder(f"chain{layers}")
    x = b.input("x", (4, 64))
    for k in range(layers):
        x = b.gemm(f"fc{k}", x, b.weight(f"w{k}", (64, 64)))
    g = derive_training_graph(b.build(), optimizer="sgd", loss="mse")
    p = build_problem(g, load_monet_accelerator(QUAD), order="layerwise")
    return p, g.tensors["fc0.out"].bits


def single_level_extra(layers: int, snapshots: int) -> int:
    """Extra forward steps of the single-level optimum, budget ``snapshots`` activations
    (its recompute copies: every copy costs the same, so least cycles is least copies)."""
    p, unit = chain_problem(layers)
    r = solve_checkpointing(p, budget_bits=snapshots * unit)
    return int(r.schedule.stats["recompute_nodes"])


def fmt(x: float) -> str:
    return "inf" if x == float("inf") else f"{x:g}"


def speed_table(console: Console, quick: bool, limit: float) -> None:
    t = Table(title="Multi-level rematerialization (exact) vs Checkmate MILP, same instances")
    for c in ("instance", "n", "budget", "multi s", "multi opt", "method", "Checkmate s",
              "Checkmate status", "Checkmate opt", "speedup", "single-level opt"):  # fmt: skip
        t.add_column(c)
    cases = []
    chains = ((10, (2, 4)), (20, (4,))) if quick else ((10, (2, 4)), (20, (4,)), (40, (4,)))
    for layers, ss in chains:
        for s in ss:
            g = revolve_chain(layers + 1)
            single = layers + 1 + single_level_extra(layers, s)
            cases.append((f"Revolve chain L={layers}, s={s}", g, float(s + 2), single))
    dags = ((6, (0, 1, 5)), (8, (2,))) if quick else ((6, (0, 1, 5)), (8, (2, 3)), (10, (4,)))
    for n_fwd, seeds in dags:
        for seed in seeds:
            g = random_training_dag(n_fwd, seed=seed)
            cost, mem, preds = g
            need = max(mem[i] + sum(mem[p] for p in preds[i]) for i in range(len(mem)))
            b = float(need + (sum(mem) - need) // 3)
            cases.append((f"training DAG seed={seed}, {n_fwd} fwd", g, b, None))
    speedups = []
    for name, (cost, mem, preds), b, single in cases:
        w = time.perf_counter()
        r = solve_remat(cost, mem, preds, b)
        ms = time.perf_counter() - w
        if r.status == "optimal":
            validate_schedule(r.schedule, cost, mem, preds, b)
        w = time.perf_counter()
        cm = solve_checkmate(cost, mem, preds, b, time_limit=limit)
        cs = time.perf_counter() - w
        speedups.append(cs / ms)
        t.add_row(
            name, str(len(cost)), fmt(b), f"{ms:.4f}", fmt(r.objective), r.method, f"{cs:.2f}",
            cm.status, fmt(cm.objective), f"{cs / ms:,.0f}x", "" if single is None else str(single),
        )  # fmt: skip
        console.print(f"  done: {name}", style="dim")
    console.print(t)
    console.print(f"smallest speedup: {min(speedups):,.0f}x")


def gap_table(console: Console, quick: bool) -> None:
    t = Table(title="Recompute work (extra forward steps) on homogeneous chains of L layers")
    for c in ("L", "s", "single-level", "multi-level = Revolve", "ratio", "multi-level s"):
        t.add_column(c)
    for layers in (10, 20, 40) if quick else (10, 20, 40, 60):
        for s in (2, 4, 8):
            single = single_level_extra(layers, s)
            w = time.perf_counter()
            r = solve_remat(*revolve_chain(layers + 1), s + 2)
            ms = time.perf_counter() - w
            multi = round(r.recompute_cost)
            assert multi == revolve_steps(layers + 1, s) - layers
            t.add_row(str(layers), str(s), str(single), str(multi), f"{single / multi:.2f}",
                      f"{ms:.3f}")  # fmt: skip
    console.print(t)


MODELS = {
    "resnet18": ("ResNet-18 CIFAR training", "examples/resnet18_cifar_edge.yaml"),
    "gpt2": ("GPT-2-style mini LM training", "examples/gpt2_mini_datacenter.yaml"),
}


def single_level_points(problem, tg, alloc) -> list[tuple[float, float]]:
    """(peak bits, recompute cycles) of single-level schedules, under one accounting."""
    from monet_opt.schedule.types import Decision

    prod = {}
    for e in problem.edges:
        prod[e.tensor] = e.src
    loc = {v: k for k, v in enumerate(tg.nodes)}
    lo, hi = min_feasible_budget(problem), store_all_footprint(problem)
    front = checkpoint_front(
        problem, [lo + (hi - lo) * k / 23 for k in range(24)], fixed=Decision(tuple(alloc))
    )
    keeps = [set(), {i for i in range(len(tg.cost)) if tg.is_forward[i]}]
    for r in front:
        if r.status != "infeasible":
            keeps.append({loc[prod[a]] for a in r.extra["kept"]})
    big = float(sum(tg.mem))
    out = []
    for kept in keeps:
        ops = single_level_schedule(tg.preds, tg.is_forward, kept)
        chk = validate_schedule(ops, tg.cost, tg.mem, tg.preds, big)
        out.append((chk.peak_memory, chk.objective - sum(tg.cost)))
    return out


def models_table(console: Console, names: list[str]) -> None:
    from monet_opt.api import load
    from monet_opt.heuristics.allocation import greedy_decision
    from monet_opt.units import MIB_BITS

    for name in names:
        title, path = MODELS[name]
        problem = load(str(ROOT / path)).problem
        alloc = greedy_decision(problem).allocation
        tg = from_problem(problem, alloc)
        bc = tg.blocks()
        w = time.perf_counter()
        mb = min_budget_blocks(tg.cost, tg.mem, tg.preds, bc)
        mb_s = time.perf_counter() - w
        pts = single_level_points(problem, tg, alloc)
        sl_min = min(p for p, _ in pts)
        store = max(p for p, _ in pts)
        largest = max(len(f) + len(b) for f, b in zip(bc.forward, bc.backward, strict=True))
        console.print(
            f"[bold]{title}[/]: {len(tg.cost)} nodes, {bc.n_blocks} blocks (largest "
            f"{largest} nodes), "
            f"one pass {sum(tg.cost):,.0f} cycles; MONET footprint min "
            f"{min_feasible_budget(problem) / MIB_BITS:g} MiB (store-all "
            f"{store_all_footprint(problem) / MIB_BITS:g}); all values counted: min feasible "
            f"budget single-level {sl_min / MIB_BITS:g} MiB, multi-level {mb / MIB_BITS:g} MiB "
            f"({mb_s:.1f} s), store-all {store / MIB_BITS:g} MiB"
        )
        t = Table(title=f"{title}: recompute cycles at equal budgets (all values counted)")
        for c in ("budget MiB", "single-level", "multi-level", "ratio", "multi s", "states"):
            t.add_column(c)
        budgets = sorted({mb, sl_min, *(mb + (store - mb) * f for f in (0.25, 0.5, 0.75)), store})
        for b in budgets:
            single = min((r for p, r in pts if p <= b), default=float("inf"))
            w = time.perf_counter()
            r = solve_blocks(tg.cost, tg.mem, tg.preds, b, bc)
            sec = time.perf_counter() - w
            multi = r.recompute_cost
            ratio = "" if single == float("inf") or not multi else f"{single / multi:.2f}"
            if single != float("inf") and multi == 0:
                ratio = "–" if single == 0 else "∞"
            t.add_row(f"{b / MIB_BITS:.4g}", fmt(single), fmt(multi), ratio, f"{sec:.2f}",
                      str(r.states))  # fmt: skip
        console.print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller instances")
    ap.add_argument("--checkmate-time-limit", type=float, default=600.0)
    ap.add_argument(
        "--models", default="", help="comma-separated: resnet18,gpt2 (only these tables)"
    )
    args = ap.parse_args()
    console = Console(width=200)
    if args.models:
        models_table(console, [m.strip() for m in args.models.split(",") if m.strip()])
        return
    gap_table(console, args.quick)
    speed_table(console, args.quick, args.checkmate_time_limit)


if __name__ == "__main__":
    main()
